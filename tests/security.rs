//! Secure by default, through the real binary: bearer tokens with roles on the plain port (401,
//! 403, a reloaded file), the refusal to serve beyond loopback without them, the connection
//! bounds (a head that never finishes, an idle connection, the connection limit), and the
//! series and target limits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, call, client, now, push_body};

const ADMIN: &str = "admin-0123456789abcdef";
const WRITER: &str = "writer-0123456789abcdef";
const READER: &str = "reader-0123456789abcdef";

fn tokens_file(dir: &Path, text: &str) -> String {
    let path = dir.join("tokens");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn target_body() -> String {
    r#"{"series":"web","capacity_per_replica":10,"max_replicas":5,"lead_time":"1m"}"#.into()
}

#[tokio::test]
async fn tokens_grant_their_roles_and_the_file_is_reloaded() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(
        dir.path(),
        &format!("# role per token\n{ADMIN} admin\n{WRITER} write\n{READER} read\n"),
    );
    let server = Server::start(&dir.path().join("data"), &["--auth-tokens-file", &file]);
    let push = || Some(push_body(&[(now() - 60, 5.0)]));
    let samples = "/api/v1/series/web/samples";

    // A write without a token: 401, a challenge, and a message naming the role needed.
    let (status, body, challenge) = call(&server, Method::POST, samples, None, push()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"prescale\""));
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("write or admin") && message.contains("no bearer token"),
        "{message}"
    );
    let (status, body, _) = call(
        &server,
        Method::POST,
        samples,
        Some("unknown-0123456789abcdef"),
        push(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("not known"),
        "{body}"
    );
    // The read role may not write; write may push but not change targets; admin may.
    let (status, body, _) = call(&server, Method::POST, samples, Some(READER), push()).await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("role is read"),
        "{body}"
    );
    assert_eq!(
        call(&server, Method::POST, samples, Some(WRITER), push())
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, Method::POST, samples, Some(ADMIN), push())
            .await
            .0,
        204
    );
    let target = "/api/v1/targets/web";
    let put = || Some(target_body());
    let (status, body, _) = call(&server, Method::PUT, target, Some(WRITER), put()).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("needs a token with role admin"),
        "{body}"
    );
    assert_eq!(call(&server, Method::PUT, target, None, put()).await.0, 401);
    assert_eq!(
        call(&server, Method::PUT, target, Some(ADMIN), put())
            .await
            .0,
        201
    );
    assert_eq!(
        call(
            &server,
            Method::DELETE,
            "/api/v1/series/web",
            Some(WRITER),
            None
        )
        .await
        .0,
        403
    );
    // remote_write is a write too.
    assert_eq!(
        call(&server, Method::POST, "/api/v1/write", None, None)
            .await
            .0,
        401
    );
    // Reads and probes stay open.
    for path in [target, "/api/v1/series", "/metrics", "/healthz", "/readyz"] {
        let (status, body, _) = call(&server, Method::GET, path, None, None).await;
        assert!(
            status == 200 || (path == "/readyz" && status == 503),
            "{path}: {status} {body}"
        );
    }

    // The file changes (a rotated admin token): the old one stops working, the new one works.
    let rotated = "rotated-admin-0123456789";
    std::fs::write(&file, format!("{rotated} admin\n{WRITER} write\n")).unwrap();
    let started = Instant::now();
    while call(&server, Method::PUT, target, Some(ADMIN), put())
        .await
        .0
        != 401
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the file was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        call(&server, Method::DELETE, target, Some(rotated), None)
            .await
            .0,
        204
    );
    // A broken change is refused and the tokens in force stay.
    std::fs::write(&file, "short admin\n").unwrap();
    server.wait_for_log(
        &["tokens file is refused", "at least 16"],
        Duration::from_secs(10),
    );
    assert_eq!(
        call(&server, Method::POST, samples, Some(WRITER), push())
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn protected_reads_need_a_token_but_probes_do_not() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(dir.path(), &format!("{READER} read\n"));
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        format!("[auth]\ntokens_file = {file:?}\nprotect_reads = true\n"),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    for path in [
        "/api/v1/series",
        "/metrics",
        "/apis/external.metrics.k8s.io/v1beta1",
    ] {
        assert_eq!(
            call(&server, Method::GET, path, None, None).await.0,
            401,
            "{path}"
        );
        assert_eq!(
            call(&server, Method::GET, path, Some(READER), None).await.0,
            200,
            "{path}"
        );
    }
    assert_eq!(
        call(&server, Method::GET, "/healthz", None, None).await.0,
        200
    );
}

/// Runs `prescale serve ARGS` and expects it to stop at start; its stderr.
fn refused_start(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--no-tls"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} started");
    String::from_utf8(out.stderr).unwrap()
}

#[tokio::test]
async fn beyond_loopback_it_needs_auth_or_says_it_serves_openly() {
    let dir = tempfile::tempdir().unwrap();
    let error = refused_start(dir.path(), &["--listen", "0.0.0.0:0"]);
    assert!(
        error.contains("refusing to serve on 0.0.0.0:0 without authentication")
            && error.contains("--auth-tokens-file")
            && error.contains("--allow-unauthenticated"),
        "{error}"
    );
    // A tokens file that does not parse names its line.
    let file = tokens_file(dir.path(), &format!("{ADMIN} admin\n{READER} sudo\n"));
    let error = refused_start(
        dir.path(),
        &["--listen", "0.0.0.0:0", "--auth-tokens-file", &file],
    );
    assert!(
        error.contains(&format!("{file}:2: unknown role")),
        "{error}"
    );

    // With tokens, or with the explicit waiver (said loudly), it serves.
    std::fs::write(&file, format!("{ADMIN} admin\n")).unwrap();
    let open = Server::start_on(
        &dir.path().join("open"),
        "0.0.0.0:0",
        &["--allow-unauthenticated", "--no-tls"],
    );
    open.wait_for_log(&["WITHOUT authentication"], Duration::from_secs(5));
    let secured = Server::start_on(
        &dir.path().join("secured"),
        "0.0.0.0:0",
        &["--auth-tokens-file", &file, "--no-tls"],
    );
    let port = secured.url.rsplit(':').next().unwrap().to_string();
    let push = client()
        .post(format!("http://127.0.0.1:{port}/api/v1/series/web/samples"))
        .header("content-type", "application/json")
        .body(push_body(&[(now(), 1.0)]))
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 401);
}

/// Seconds until the server closes `stream` (a read returns end of file or an error), at most
/// `limit`.
fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<f64> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed().as_secs_f64()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed().as_secs_f64()),
        }
    }
    None
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.url.trim_start_matches("http://")).unwrap()
}

#[test]
fn slow_heads_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--idle-timeout", "3s"]);

    // A connection that says nothing is closed after the idle timeout.
    let mut silent = connect(&server);
    let closed =
        closed_after(&mut silent, Duration::from_secs(15)).expect("silent connection held");
    assert!((2.5..8.0).contains(&closed), "closed after {closed} s");

    // A head trickled one byte a second (each byte is progress, so the idle timeout never
    // fires) is closed 10 s after its first byte.
    let mut slow = connect(&server);
    slow.set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let started = Instant::now();
    let mut closed_at = None;
    for byte in head {
        if slow.write_all(&[*byte]).is_err() {
            closed_at = Some(started.elapsed().as_secs_f64());
            break;
        }
        if let Some(after) = closed_after(&mut slow, Duration::from_millis(1000)) {
            closed_at = Some(started.elapsed().as_secs_f64() - 1.0 + after);
            break;
        }
    }
    let closed = closed_at.expect("a head trickled for a minute was never cut off");
    assert!((9.0..14.0).contains(&closed), "closed after {closed} s");

    // A keep-alive connection serves a request, then is closed once idle.
    let mut alive = connect(&server);
    alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 512];
    let n = alive.read(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    let closed = closed_after(&mut alive, Duration::from_secs(15)).expect("idle keep-alive held");
    assert!((2.5..8.0).contains(&closed), "closed after {closed} s");
}

#[test]
fn a_silent_connection_to_the_keda_port_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--keda-listen", "127.0.0.1:0", "--idle-timeout", "2s"],
    );
    let address = server.logged_field("grpc_address").expect("the KEDA port");
    let mut silent = TcpStream::connect(address).unwrap();
    let closed = closed_after(&mut silent, Duration::from_secs(15)).expect("held");
    assert!((1.5..8.0).contains(&closed), "closed after {closed} s");
}

#[tokio::test]
async fn past_the_connection_limit_new_connections_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--max-connections", "2", "--idle-timeout", "30s"],
    );
    let first = connect(&server);
    let second = connect(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    assert!(
        quick.get(server.url("/healthz")).send().await.is_err(),
        "a third connection was served past --max-connections 2"
    );
    drop(first);
    let answer = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    server.wait_for_log(&["connection limit reached"], Duration::from_secs(5));
    drop(second);
}

#[tokio::test]
async fn series_and_targets_past_their_limits_are_refused() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--max-series", "2", "--max-targets", "1"],
    );
    let body = || Some(push_body(&[(now() - 60, 1.0)]));
    for series in ["a", "b", "a"] {
        let path = format!("/api/v1/series/{series}/samples");
        assert_eq!(
            call(&server, Method::POST, &path, None, body()).await.0,
            204
        );
    }
    let (status, answer, _) = call(
        &server,
        Method::POST,
        "/api/v1/series/c/samples",
        None,
        body(),
    )
    .await;
    assert_eq!(status, 422);
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("max_series") && message.contains("--max-series"),
        "{message}"
    );
    assert_eq!(
        call(&server, Method::GET, "/api/v1/series/c/samples", None, None)
            .await
            .0,
        404
    );

    let put = |name: &str| {
        let path = format!("/api/v1/targets/{name}");
        let server = &server;
        async move { call(server, Method::PUT, &path, None, Some(target_body())).await }
    };
    assert_eq!(put("one").await.0, 201);
    let (status, answer, _) = put("two").await;
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().contains("max_targets"),
        "{answer}"
    );
    assert_eq!(put("one").await.0, 200, "a stored target may still change");
    let listed = common::get_json(server.url("/api/v1/targets")).await;
    assert_eq!(
        listed["targets"].as_object().map(|t| t.len()),
        Some(1),
        "{listed}"
    );
}

/// 1,500 series that no target uses: `/metrics` serves the per-series families of 1,000 and
/// counts the rest, so a scrape stays bounded.
#[tokio::test]
async fn metrics_stay_bounded_with_many_series() {
    use prescale::collect::remote_write::{Label, PromSample, TimeSeries, WriteRequest, encode};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prescale.toml");
    std::fs::write(
        &config,
        "replan_interval = \"1s\"\n[remote_write]\nallow = [\"many\"]\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let t = (now() - 60) * 1000;
    let timeseries = (0..1500)
        .map(|i| TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "many".into(),
                },
                Label {
                    name: "i".into(),
                    value: i.to_string(),
                },
            ],
            samples: vec![PromSample {
                value: 1.0,
                timestamp: t,
            }],
        })
        .collect();
    let response = client()
        .post(server.url("/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(encode(&WriteRequest { timeseries }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let started = Instant::now();
    let page = loop {
        let page = common::get_text(server.url("/metrics")).await;
        if page.contains("prescale_metrics_series_omitted 500") {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no prescale_metrics_series_omitted 500"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let shown = page
        .lines()
        .filter(|line| line.starts_with("prescale_series_last_value{"))
        .count();
    assert_eq!(shown, 1000);
}
