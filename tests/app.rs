//! The service in one process, as mini-redis's tests run its server: `Service::start` on
//! 127.0.0.1 (ports the OS picks) with a temporary data directory, a sample pushed and read
//! back over HTTP, `shutdown`, then a second start on the same directory that still holds the
//! sample — which it can only open if the shutdown awaited every task and released the store.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{client, push_body, samples_of};
use prescale::api::cluster::ClusterOptions;
use prescale::api::k8s::secure::SecureServingOptions;
use prescale::app::{AppError, Options, Running, Service};
use prescale::config::{Config, Overrides};

const SERIES: &str = "app_rps";

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config(data_dir: &Path, listen: SocketAddr) -> Config {
    let overrides = Overrides {
        listen: Some(listen),
        data_dir: Some(data_dir.to_path_buf()),
        ..Overrides::default()
    };
    Config::load(None, overrides).unwrap()
}

/// Every port on: the TLS port and the KEDA scaler too, so that their tasks must stop as well.
fn options() -> Options {
    Options {
        demo: false,
        cluster: ClusterOptions {
            secure: SecureServingOptions {
                tls_listen: Some(loopback()),
                ..SecureServingOptions::default()
            },
            keda_listen: Some(loopback()),
        },
    }
}

async fn stored(running: &Running) -> Vec<(i64, f64)> {
    let url = format!("http://{}/api/v1/series/{SERIES}/samples", running.listen);
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    samples_of(&response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_sample_survives_a_shutdown_and_a_restart_in_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = Service::start(config(&data, loopback()), options())
        .await
        .unwrap();
    assert!(running.cluster.tls.is_some() && running.cluster.keda.is_some());
    let sample = (1_767_607_200, 42.0);
    let response = client()
        .post(format!(
            "http://{}/api/v1/series/{SERIES}/samples",
            running.listen
        ))
        .header("content-type", "application/json")
        .body(push_body(&[sample]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(stored(&running).await, [sample]);
    // The store is held while the service runs: the restart below proves it was let go.
    assert!(matches!(
        prescale::app::open_store(&data),
        Err(AppError::Store { .. })
    ));

    let address = running.listen;
    running.shutdown().await.unwrap();
    assert!(
        client()
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_err(),
        "the plain port still answers after shutdown"
    );

    let again = Service::start(config(&data, loopback()), options())
        .await
        .unwrap();
    assert_eq!(stored(&again).await, [sample]);
    again.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_releases_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind(loopback()).unwrap();
    let busy = taken.local_addr().unwrap();
    let failed = Service::start(config(&data, busy), Options::default()).await;
    assert!(
        matches!(&failed, Err(AppError::Listen { address, .. }) if *address == busy),
        "{:?}",
        failed.err()
    );
    let mut no_tls = Options::default();
    no_tls.cluster.secure.no_tls = true;
    let running = Service::start(config(&data, loopback()), no_tls)
        .await
        .unwrap();
    running.shutdown().await.unwrap();
}
