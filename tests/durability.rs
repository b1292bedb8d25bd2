//! An acknowledged sample survives `kill -9`: push batches, SIGKILL the server in the middle of
//! the run, restart it on the same directory, and find every batch that got a `204` in full.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Server, client, push_body};

#[tokio::test]
async fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let url = server.url("/api/v1/series/durable/samples");

    // Four writers push 500-sample batches as fast as they can; each remembers which batches
    // were acknowledged.
    let mut writers = Vec::new();
    for writer in 0..4i64 {
        let url = url.clone();
        writers.push(tokio::spawn(async move {
            let client = client();
            let mut acked = Vec::new();
            for batch in 0i64.. {
                let base = 1_700_000_000 + (writer * 1_000_000 + batch * 500) * 60;
                let samples: Vec<(i64, f64)> = (0..500)
                    .map(|i| (base + i * 60, (writer * 7 + batch + i) as f64))
                    .collect();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(push_body(&samples))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 204 => acked.push(samples),
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let mut expected = BTreeMap::new();
    for writer in writers {
        for batch in writer.await.unwrap() {
            expected.extend(batch);
        }
    }
    assert!(
        expected.len() >= 2_000,
        "too few batches were acknowledged to test anything"
    );

    let server = Server::start(&data, &[]);
    // Read back in pages: one read returns at most a million samples (a release build
    // pushes more than that before the kill) and says so with `truncated`.
    let read = server.url("/api/v1/series/durable/samples");
    let mut stored: BTreeMap<i64, f64> = BTreeMap::new();
    let mut from = None;
    loop {
        let url = match from {
            Some(from) => format!("{read}?from={from}"),
            None => read.clone(),
        };
        let body: serde_json::Value = common::get_json(url).await;
        let page: BTreeMap<i64, f64> = common::samples_of(&body);
        from = page.keys().next_back().map(|last| last + 1);
        stored.extend(page);
        if body["truncated"] != serde_json::json!(true) || from.is_none() {
            break;
        }
    }
    let lost: Vec<_> = expected
        .iter()
        .filter(|(t, v)| stored.get(t) != Some(v))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged samples lost after SIGKILL: {lost:?}"
    );
}
