//! JSON for the refusals hyper sends by itself, before a request reaches the router.
//!
//! A request line or header block that does not parse (a bad or repeated `Content-Length`, a
//! path with bytes that are not allowed, a URI or header block over hyper's limits) never
//! reaches axum: hyper answers it on its own, with a status (`400`, `414`, `431`, …), the
//! headers `connection: close` and `content-length: 0`, and no body, and then closes the
//! connection. hyper has no hook to change that answer, so [`JsonErrorListener`] wraps each
//! accepted connection in [`JsonErrorIo`], which recognises exactly that answer as hyper writes
//! it and writes a JSON `{"error": …}` one in its place. Everything else passes through
//! untouched: every answer of the router carries a `content-type` (see [`super::error`]), so
//! none looks like hyper's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A [`TcpListener`] whose connections answer hyper's own refusals in JSON.
pub struct JsonErrorListener(pub TcpListener);

impl axum::serve::Listener for JsonErrorListener {
    type Io = JsonErrorIo<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.0).await;
        (JsonErrorIo::new(stream), address)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that rewrites hyper's bodiless refusals into JSON ones (see the module doc).
pub struct JsonErrorIo<S> {
    inner: S,
    /// A rewritten answer still being written, how far, and how many bytes of hyper's own
    /// answer it stands for (reported to hyper once all of it is written).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonErrorIo<S> {
    pub fn new(inner: S) -> JsonErrorIo<S> {
        JsonErrorIo {
            inner,
            pending: None,
        }
    }
}

/// The JSON answer that replaces `head` when `head` is one of hyper's own refusals: a `4xx` or
/// `5xx` status, `connection: close`, `content-length: 0`, and no `content-type`.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    if !rest.is_empty() {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next()?, parts.next()?);
    let reason = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") || !(code.starts_with('4') || code.starts_with('5')) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let has = |name: &str, value: &str| {
        headers.iter().any(|h| {
            h.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case(value)
            })
        })
    };
    let named = |name: &str| {
        headers.iter().any(|h| {
            h.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
    };
    if !has("connection", "close") || !has("content-length", "0") || named("content-type") {
        return None;
    }
    let why = match code {
        "400" => {
            "the request line or headers do not parse (a bad or repeated Content-Length, \
             a path with bytes that are not allowed, a malformed header)"
        }
        "408" => "the request head did not arrive in time",
        "413" => "the request is too large",
        "414" => "the request URI is too long",
        "431" => "the request headers are too large",
        "501" => "the request uses a transfer encoding or method that is not supported",
        "505" => "the HTTP version is not supported",
        _ => "the request could not be read",
    };
    let body = serde_json::json!({ "error": format!("{reason}: {why}") }).to_string();
    let mut out = format!("{status_line}\r\n").into_bytes();
    for header in &headers {
        let name = header.split_once(':').map_or("", |(n, _)| n.trim());
        if !name.eq_ignore_ascii_case("content-length") {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    Some(out)
}

/// Whether `buf` starts with a `4xx` or `5xx` status line (`HTTP/1.x 4..`): the only writes
/// worth [`rewrite`]'s look, so that the router's answers pass with a comparison of bytes.
fn refusal_like(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/1.") && matches!(buf.get(9), Some(b'4' | b'5'))
}

impl<S: AsyncWrite + Unpin> JsonErrorIo<S> {
    /// Writes what is pending; `Ready(Ok(n))` with the length of hyper's answer it replaced,
    /// once all of it is written.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        while let Some((bytes, written, _)) = &mut self.pending {
            if *written == bytes.len() {
                let (_, _, replaced) = self.pending.take().expect("pending");
                return Poll::Ready(Ok(Some(replaced)));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(None))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrorIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none()
            && refusal_like(buf)
            && let Some(json) = rewrite(buf)
        {
            this.pending = Some((json, 0, buf.len()));
        }
        if this.pending.is_some() {
            return match ready!(this.drain(cx))? {
                Some(replaced) => Poll::Ready(Ok(replaced)),
                None => Poll::Ready(Ok(0)),
            };
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = buffers
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        if self.pending.is_some() || refusal_like(first) {
            // Possibly one of hyper's refusals (a head alone): written (or rewritten) by itself.
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_refusals_are_rewritten() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 07:38:14 GMT\r\n\r\n";
        let json = String::from_utf8(rewrite(hyper).unwrap()).unwrap();
        let (head, body) = json.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains("connection: close") && head.contains("date: "),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(!head.contains("content-length: 0"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("URI"), "{body}");
        // The router's answers: a JSON error, a 204, a bodiless 404 that keeps the connection.
        for passed in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n",
        ] {
            assert!(rewrite(passed).is_none(), "{}", String::from_utf8_lossy(passed));
        }
    }

    #[tokio::test]
    async fn a_rewrite_is_written_whole_and_reported_as_hypers_length() {
        let (client, server) = tokio::io::duplex(16);
        let mut io = JsonErrorIo::new(server);
        let hyper = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut out = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut client, &mut out)
                .await
                .unwrap();
            out
        });
        // A duplex of 16 bytes: the rewrite takes many partial writes.
        let n = tokio::io::AsyncWriteExt::write(&mut io, hyper)
            .await
            .unwrap();
        assert_eq!(n, hyper.len());
        tokio::io::AsyncWriteExt::write_all(&mut io, b"HTTP/1.1 200 OK\r\n")
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::shutdown(&mut io).await.unwrap();
        drop(io);
        let out = String::from_utf8(reader.await.unwrap()).unwrap();
        assert!(out.contains("\"error\":\"Bad Request: "), "{out}");
        assert!(out.ends_with("}HTTP/1.1 200 OK\r\n"), "{out}");
    }
}
