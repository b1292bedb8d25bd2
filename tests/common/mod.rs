//! Shared by the end-to-end tests: start the real `prescale` binary on 127.0.0.1 (a port the
//! OS picks) with a temporary sled directory, find its address in its log, talk HTTP to it.
#![allow(dead_code)]

pub mod pki;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_prescale");

/// A running `prescale serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Every line the server has logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `prescale serve --listen 127.0.0.1:0 --data-dir DIR` plus `extra` arguments and
    /// waits until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start prescale");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if std::env::var_os("PRESCALE_TEST_LOG").is_some() {
                    eprintln!("[server] {line}");
                }
                if !sent && let Some(at) = line.find("listen=") {
                    let address: String = line[at + 7..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = tx.send(address);
                    sent = true;
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("prescale did not report its address within 60 s");
        Server {
            child,
            url: format!("http://{address}"),
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    /// The value of `field=` in the first logged line that has it (e.g. `tls_address`).
    pub fn logged_field(&self, field: &str) -> Option<String> {
        let needle = format!("{field}=");
        self.log.lock().unwrap().iter().find_map(|line| {
            let at = line.find(&needle)? + needle.len();
            Some(
                line[at..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect(),
            )
        })
    }

    /// Waits until a logged line contains every one of `needles`, returning it.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.clone();
            }
            assert!(
                started.elapsed() < timeout,
                "no log line with {needles:?} within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `url` until it answers `200` (or panics after `timeout`), returning the JSON body.
pub async fn wait_for_200(url: &str, timeout: Duration) -> serde_json::Value {
    let client = client();
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return response.json().await.expect("json");
        }
        assert!(
            started.elapsed() < timeout,
            "{url} did not answer 200 within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `n` samples of a daily-cycle load on a 60 s grid ending before `end`.
pub fn daily_samples(end: i64, n: usize) -> Vec<(i64, f64)> {
    let start = end - 60 * n as i64;
    let start = start - start.rem_euclid(60);
    (0..n)
        .map(|i| {
            let t = start + 60 * i as i64;
            let phase = (t.rem_euclid(86_400)) as f64 / 86_400.0 * std::f64::consts::TAU;
            (t, (200.0 + 150.0 * phase.sin()).round())
        })
        .collect()
}

/// The push body for `samples` with unix-second timestamps.
pub fn push_body(samples: &[(i64, f64)]) -> String {
    let items: Vec<String> = samples
        .iter()
        .map(|(t, v)| format!(r#"{{"timestamp":{t},"value":{v}}}"#))
        .collect();
    format!(r#"{{"samples":[{}]}}"#, items.join(","))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}
