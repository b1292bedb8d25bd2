//! The reference for `benches/http.sh`: an axum server on the same runtime settings as prescale
//! that answers every GET with the bytes of one file (`application/json`), so that an
//! endpoint's throughput can be compared with the best any server could do with its answer.
//!
//! `cargo run --release --example static_bytes -- FILE 127.0.0.1:PORT`

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: static_bytes FILE ADDR");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file)?);
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let answer = move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body) }
    };
    let app = Router::new().fallback(get(answer));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
