//! Shared by the end-to-end tests: start the real `prescale` binary on 127.0.0.1 (a port the
//! OS picks) with a temporary sled directory, find its address in its log, talk HTTP to it.
#![allow(dead_code)]

pub mod pki;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_prescale");

/// A free port on 127.0.0.1, for a server that must be named before it starts (in another
/// server's configuration) or restarted on the same port. Taken below the kernel's ephemeral
/// range, so neither an outgoing connection nor a `bind(…:0)` elsewhere in the tests can take
/// it between this call and the server's bind; a counter keeps this process's picks apart.
pub fn free_port() -> u16 {
    static PICKED: AtomicU32 = AtomicU32::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let low = ephemeral_start.saturating_sub(12_000).max(1_024);
    let span = ephemeral_start.saturating_sub(low);
    let offset = std::process::id() * 97;
    for _ in 0..span {
        let pick = PICKED.fetch_add(1, Ordering::Relaxed);
        let port = (low + (offset + pick) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // No room below the ephemeral range: let the kernel choose.
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

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
        Server::launch(data_dir, "127.0.0.1:0", extra, &[])
    }

    /// As [`Server::start`], listening on `listen` (a fixed port: to restart on the same one).
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Server {
        Server::launch(data_dir, listen, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, "127.0.0.1:0", extra, env)
    }

    fn launch(data_dir: &Path, listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--data-dir"])
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
        let Ok(address) = rx.recv_timeout(Duration::from_secs(60)) else {
            // The log ends when the server exits (a port taken, a refused configuration):
            // say how it ended and what it said. Never leave a server behind a failed test.
            let ended = match child.try_wait() {
                Ok(Some(status)) => format!("exited ({status})"),
                _ => {
                    let _ = child.kill();
                    "did not report its address within 60 s".to_string()
                }
            };
            let _ = child.wait();
            // The reader thread may still be appending the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "prescale on {listen} {ended}; its log:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
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

/// `method path` with `token` (if any) and `body`: the status, the JSON answer and the
/// `WWW-Authenticate` header.
pub async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut request = client().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        challenge,
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `url` until it answers `200` (or panics after `timeout`), returning the JSON body.
/// `GET url` as JSON (panics on a transport error or a body that is not JSON).
pub async fn get_json(url: impl reqwest::IntoUrl) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET url` as text (panics on a transport error).
pub async fn get_text(url: impl reqwest::IntoUrl) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

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

/// `days` of a 5-minute trace from 2024-01-01 (UTC) as dataset CSV: a daily shape
/// `100 + 40·sin(day)` with some noise, tripled from 14:00 to 14:14 every day (a cron job).
pub fn daily_burst_csv(days: usize) -> String {
    let start = 1_704_067_200_i64;
    let mut text = String::from("timestamp,value\n");
    for i in 0..days * 288 {
        let minute = i % 288 * 5;
        let phase = std::f64::consts::TAU * minute as f64 / 1440.0;
        let level = 100.0 + 40.0 * phase.sin() + (i * 37 % 11) as f64;
        let value = if (840..855).contains(&minute) {
            3.0 * level
        } else {
            level
        };
        text.push_str(&format!("{},{value}\n", start + i as i64 * 300));
    }
    text
}

/// The push body for `samples` with unix-second timestamps.
/// The `samples` of a `GET …/samples` reply as (unix seconds, value), in the reply's order.
pub fn samples_of<C: FromIterator<(i64, f64)>>(body: &serde_json::Value) -> C {
    body["samples"]
        .as_array()
        .expect("a samples array")
        .iter()
        .map(|s| {
            let t = chrono::DateTime::parse_from_rfc3339(s["timestamp"].as_str().unwrap())
                .unwrap()
                .timestamp();
            (t, s["value"].as_f64().unwrap())
        })
        .collect()
}

pub fn push_body(samples: &[(i64, f64)]) -> String {
    let items: Vec<String> = samples
        .iter()
        .map(|(t, v)| format!(r#"{{"timestamp":{t},"value":{v}}}"#))
        .collect();
    format!(r#"{{"samples":[{}]}}"#, items.join(","))
}

/// Pushes `samples` to `series` through the JSON push API and expects `204`.
pub async fn push_samples(server: &Server, series: &str, samples: &[(i64, f64)]) {
    let (status, body) = try_push(server, series, samples).await;
    assert_eq!(status, 204, "{body}");
}

/// Pushes `samples` to `series` through the JSON push API: the status and the JSON answer
/// (`null` when there is none, as for a `204`).
pub async fn try_push(
    server: &Server,
    series: &str,
    samples: &[(i64, f64)],
) -> (u16, serde_json::Value) {
    let response = client()
        .post(server.url(&format!("/api/v1/series/{series}/samples")))
        .header("content-type", "application/json")
        .body(push_body(samples))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends only the head of a `POST` that declares a body of `length` bytes, and reads the
/// answer. A server that refuses oversized bodies must answer without waiting for the body;
/// sending a real 100 MB body instead would race the server's early close against the upload
/// (the client may see a reset rather than the answer).
pub fn post_declaring(base: &str, path: &str, length: u64) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    )
    .expect("send head");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let body_length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + body_length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .expect("status")
                    .parse()
                    .expect("code");
                let body = serde_json::from_slice(&raw[end + 4..end + 4 + body_length])
                    .unwrap_or(serde_json::Value::Null);
                return (status, body);
            }
        }
        let n = stream
            .read(&mut buffer)
            .expect("the server answered an oversized declared body without waiting for it");
        assert!(
            n > 0,
            "connection closed before a full answer: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buffer[..n]);
    }
}

/// Runs `prescale serve` (data in `dir/data`) with `args` and expects it to fail at start within
/// 30 seconds, returning its stderr.
pub fn failed_start(dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("prescale serve {args:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{args:?} should fail:\n{stderr}");
    stderr
}

/// A duration such as `10m` or `7d`, as the CLI and the config take them.
pub fn span(text: &str) -> prescale::series::Span {
    text.parse().expect("a valid duration")
}

/// Asserts that a finished command succeeded, showing its stderr when it did not.
pub fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
