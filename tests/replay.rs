//! `prescale replay`, the docker-compose demo's workload, through its real interfaces: its
//! `/metrics` as Prometheus scrapes it, and its history push into a running prescale.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{BIN, Server, now};

struct Replay(Child, String);

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_replay(args: &[&str]) -> Replay {
    let mut child = Command::new(BIN)
        .args(["replay", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prescale replay");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listen=") {
                let address: String = line[at + 7..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(address);
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("replay did not report its address");
    Replay(child, format!("http://{address}"))
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn replay_serves_a_live_counter_and_pushes_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // Speed 60: one trace minute per wall second; a day of history pushed to `hist`.
    let replay = start_replay(&[
        "--speed",
        "60",
        "--metric",
        "demo_requests",
        "--history",
        "1d",
        "--push-history",
        &server.url,
        "--history-series",
        "hist",
    ]);
    let scrape = || async { common::get_text(format!("{}/metrics", replay.1)).await };
    let first = scrape().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = scrape().await;
    assert!(
        value(&second, "demo_requests_total") > value(&first, "demo_requests_total"),
        "the counter grows:\n{first}\n{second}"
    );
    assert!(value(&second, "demo_requests_per_second") > 0.0);
    assert!(
        value(&second, "prescale_replay_trace_timestamp_seconds")
            > value(&first, "prescale_replay_trace_timestamp_seconds")
    );
    assert!(second.contains("# TYPE demo_requests_total counter"));

    // The history: 1440 rates, 1 s apart, ending just before the replay started.
    let body = common::wait_for_200(
        &server.url("/api/v1/series/hist/samples"),
        Duration::from_secs(30),
    )
    .await;
    let samples = body["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1440, "{}", samples.len());
    let last = chrono::DateTime::parse_from_rfc3339(samples[1439]["timestamp"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!((now() - last).abs() < 30, "history ends near now: {last}");

    // A bad speed is a clear error.
    let out = Command::new(BIN)
        .args(["replay", "--speed", "7", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--speed 7"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
