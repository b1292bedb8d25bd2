//! An acknowledged sample survives `kill -9`: push batches (and remote_write requests), SIGKILL
//! the server in the middle of the run, restart it on the same directory, and find every batch
//! that got a `204` in full.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Server, client, push_body};

/// Pushes `batch(0)`, `batch(1)`, … to `url` until one is not acknowledged (the server was
/// killed); returns the samples of the acknowledged ones.
async fn push_until_refused(
    url: String,
    batch: impl Fn(i64) -> Vec<(i64, f64)>,
) -> Vec<(i64, f64)> {
    let client = client();
    let mut acked = Vec::new();
    for n in 0i64.. {
        let samples = batch(n);
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(push_body(&samples))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 204 => acked.extend(samples),
            _ => break,
        }
    }
    acked
}

/// Every acknowledged sample of `series` is stored with its value (the first few missing are
/// named).
fn assert_none_lost(series: &str, acked: &BTreeMap<i64, f64>, stored: &BTreeMap<i64, f64>) {
    let lost: Vec<_> = acked
        .iter()
        .filter(|(t, v)| stored.get(t) != Some(v))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "{series}: acknowledged samples lost after SIGKILL: {lost:?}"
    );
}

#[tokio::test]
async fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let url = server.url("/api/v1/series/durable/samples");

    // Four writers push 500-sample batches as fast as they can; each remembers which batches
    // were acknowledged.
    let writers: Vec<_> = (0..4i64)
        .map(|writer| {
            tokio::spawn(push_until_refused(url.clone(), move |batch| {
                let base = 1_700_000_000 + (writer * 1_000_000 + batch * 500) * 60;
                (0..500)
                    .map(|i| (base + i * 60, (writer * 7 + batch + i) as f64))
                    .collect()
            }))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let mut expected = BTreeMap::new();
    for writer in writers {
        expected.extend(writer.await.unwrap());
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
    assert_none_lost("durable", &expected, &stored);
}

/// The same through the write-ahead log and around it: two remote_write clients send what a
/// Prometheus server sends (100 series × 1 sample per request: logged), while a third pushes
/// 1,000-sample batches to one series (a block or more: written directly, without a record);
/// SIGKILL, restart, and every acknowledged sample of every series is there with its value.
#[tokio::test]
async fn acknowledged_remote_write_and_bulk_samples_survive_sigkill() {
    use prescale::collect::remote_write::{Label, PromSample, TimeSeries, WriteRequest, encode};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("prescale.toml");
    std::fs::write(&config, "[remote_write]\nallow = [\"rw_durable\"]\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut server = Server::start(&data, &args);
    // Samples a second apart, starting 20 hours ago (remote_write keeps the last day).
    let t0 = common::now() - 20 * 3_600;

    let mut writers = Vec::new();
    for writer in 0..2i64 {
        let url = server.url("/api/v1/write");
        writers.push(tokio::spawn(async move {
            let client = client();
            let mut acked: Vec<(String, i64, f64)> = Vec::new();
            for round in 0i64..60_000 {
                let timeseries: Vec<TimeSeries> = (0..100)
                    .map(|s| TimeSeries {
                        labels: vec![
                            Label {
                                name: "__name__".into(),
                                value: "rw_durable".into(),
                            },
                            Label {
                                name: "instance".into(),
                                value: format!("w{writer}-{s}"),
                            },
                        ],
                        samples: vec![PromSample {
                            value: (round * 100 + s) as f64,
                            timestamp: (t0 + round) * 1_000,
                        }],
                    })
                    .collect();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "snappy")
                    .body(encode(&WriteRequest { timeseries }))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 204 => acked.extend((0..100).map(|s| {
                        (
                            format!("w{writer}-{s}"),
                            t0 + round,
                            (round * 100 + s) as f64,
                        )
                    })),
                    _ => break,
                }
            }
            acked
        }));
    }
    let bulk_url = server.url("/api/v1/series/bulk_durable/samples");
    let bulk = tokio::spawn(push_until_refused(bulk_url, |batch| {
        (0..1_000)
            .map(|i| (1_600_000_000 + (batch * 1_000 + i) * 60, (batch + i) as f64))
            .collect()
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let mut expected: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for writer in writers {
        for (instance, t, v) in writer.await.unwrap() {
            let key = format!("rw_durable{{instance=\"{instance}\"}}");
            expected.entry(key).or_default().insert(t, v);
        }
    }
    let bulk: BTreeMap<i64, f64> = bulk.await.unwrap().into_iter().collect();
    assert!(
        expected.values().map(BTreeMap::len).sum::<usize>() >= 2_000 && bulk.len() >= 2_000,
        "too few samples were acknowledged to test anything"
    );
    expected.insert("bulk_durable".into(), bulk);

    let server = Server::start(&data, &args);
    for (key, samples) in &expected {
        let mut url = reqwest::Url::parse(&server.url).unwrap();
        url.path_segments_mut()
            .unwrap()
            .extend(["api", "v1", "series", key, "samples"]);
        url.set_query(Some("from=0"));
        let body: serde_json::Value = common::get_json(url).await;
        assert_ne!(body["truncated"], serde_json::json!(true), "{key}");
        // A series that is not there at all answers 404 without samples.
        let stored: BTreeMap<i64, f64> = if body["samples"].is_array() {
            common::samples_of(&body)
        } else {
            BTreeMap::new()
        };
        assert_none_lost(key, samples, &stored);
    }
}
