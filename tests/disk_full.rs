//! A disk that fills and empties, for real: the data directory lives on a small tmpfs (mounted
//! here; the test runs as root, as CI does), a filler file takes the free space, and is then
//! removed. The real binary must
//! - refuse the batch it cannot make durable with a JSON `500`, and say not ready;
//! - never show a refused sample in a read or a count: reads fail clearly while the store is
//!   out of service, and afterwards (and after a restart) show exactly the acked samples, even
//!   though sled wrote part of the refused batch to disk before the error;
//! - accept writes again once space is back, without a restart, keeping every acked sample;
//! - on a start with the disk still full, say that the disk is full.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, client, now, try_push};
use serde_json::Value;

/// A tmpfs mounted for the test's life.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root): {status}"
        );
        Tmpfs { path, _dir: dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system that holds `dir` with `dir/filler`, to the last byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5_u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The last partial chunk, byte by byte.
    while file.write(&[0]).is_ok_and(|n| n == 1) {}
    let _ = file.sync_all();
    path
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: answer is not JSON: {text:?}"));
    (status, body)
}

fn batch(first: i64, n: usize) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| (first + i as i64, (i % 100) as f64))
        .collect()
}

#[tokio::test]
async fn a_disk_that_fills_and_empties_is_survived_without_a_restart() {
    let disk = Tmpfs::mount(48);
    let data = disk.path.join("data");
    let mut server = Server::start(&data, &["--no-tls"]);
    let t0 = now() - 86_400;

    // Acked before the disk fills.
    let acked = batch(t0, 5_000);
    let (status, body) = try_push(&server, "rps", &acked).await;
    assert_eq!(status, 204, "{body}");

    // The disk fills: batches are refused with a JSON 500 until one cannot be made durable.
    let filler = fill(&disk.path);
    let mut refused = None;
    for i in 0..50 {
        let samples = batch(t0 + 10_000 + i * 20_000, 20_000);
        let (status, body) = try_push(&server, "rps", &samples).await;
        match status {
            204 => continue,
            500 => {
                assert!(body["error"].is_string(), "{body}");
                refused = Some((i, samples));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (refused_at, refused) = refused.expect("a full disk refuses a batch");
    let accepted_while_filling = refused_at as usize * 20_000;
    let (status, ready) = get(&server, "/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(ready.to_string().contains("disk is full"), "{ready}");
    let metrics = common::get_text(server.url("/metrics")).await;
    assert!(
        metrics.contains("\nprescale_store_in_service 0.0\n"),
        "{metrics}"
    );
    // Nothing refused shows: reads fail clearly rather than show it.
    let (status, body) = get(&server, "/api/v1/series").await;
    assert!(status >= 500, "{status} {body}");

    // Repairs tried while the disk is still full (after 1 s, then 2 s) fail without harm.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, ready) = get(&server, "/readyz").await;
    assert_eq!(status, 503, "{ready}");
    let (status, body) = try_push(&server, "rps", &refused[..10]).await;
    assert_eq!(status, 500, "{body}");

    // Space comes back: writes succeed again, no restart.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = try_push(&server, "rps", &refused[..10]).await;
        if status == 204 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writes did not recover: {status} {body}; the server logged:\n{}",
            server.log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = get(&server, "/api/v1/series/rps/samples?from=0").await;
    assert_eq!(status, 200, "{body}");
    let stored: std::collections::BTreeMap<i64, f64> = common::samples_of(&body);
    for (t, v) in &acked {
        assert_eq!(stored.get(t), Some(v), "acked sample at {t} lost");
    }
    // Exactly what was acked: the first batch, those accepted while filling, and the 10 resent;
    // nothing of the rest of the refused batch, though sled wrote part of it before the error.
    assert_eq!(
        stored.len(),
        acked.len() + accepted_while_filling + 10,
        "refused samples show in a read"
    );
    assert_eq!(stored.keys().next_back(), Some(&refused[9].0));
    let (_, list) = get(&server, "/api/v1/series").await;
    assert_eq!(list["series"][0]["samples"], stored.len(), "{list}");
    let metrics = common::get_text(server.url("/metrics")).await;
    assert!(
        metrics.contains("\nprescale_store_in_service 1.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nprescale_store_repairs_total 1\n"),
        "{metrics}"
    );

    // A start on a full disk says so.
    server.kill();
    let filler = fill(&disk.path);
    let stderr = common::failed_start(&disk.path, &["--no-tls"]);
    assert!(stderr.contains("the disk is full"), "{stderr}");
    std::fs::remove_file(&filler).unwrap();
    let server = Server::start(&data, &["--no-tls"]);
    let (status, body) = get(&server, "/api/v1/series/rps/samples?from=0").await;
    assert_eq!(status, 200);
    let again: std::collections::BTreeMap<i64, f64> = common::samples_of(&body);
    assert_eq!(again, stored, "what was acked is what a restart finds");
}
