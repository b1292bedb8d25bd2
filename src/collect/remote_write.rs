//! Prometheus remote_write 1.0: a snappy-compressed protobuf `WriteRequest` turned into
//! samples per series key.
//!
//! # The wire format
//!
//! The body is the snappy **block** format (not the framed one) of a protobuf `WriteRequest`
//! (`prometheus/prompb/remote.proto` and `types.proto`), read straight off the wire by
//! [`wire`] (labels borrowed from the body, nothing allocated per series but its key); only
//! the fields prescale reads: `timeseries` (labels and float samples). Everything else —
//! metadata, exemplars, native histograms — is skipped as unknown fields, so a newer Prometheus
//! that sends them is still understood. The messages below, prost derives, encode requests for
//! tests and tools, and are the reference the wire decoder is tested against.
//!
//! # Series keys
//!
//! A Prometheus series (metric name plus labels) becomes one prescale series key, its canonical
//! text form: `name{a="1",b="2"}` — the metric name (`__name__`), then the other labels sorted
//! by name, values escaped as in the Prometheus text format (`\\`, `\"`, `\n`); a series
//! without other labels is just `name`. Labels with an empty value are dropped (Prometheus
//! treats them as absent). So `http_requests_total{job="api",instance="a:9100"}` is stored as
//! `http_requests_total{instance="a:9100",job="api"}`; use that exact text as a target's
//! `series` (TOML: `series = 'http_requests_total{instance="a:9100",job="api"}'`).
//!
//! # What is kept
//!
//! - only metrics whose name matches the allow-list (`[remote_write] allow`, `*` wildcards);
//!   with no allow-list nothing is kept, so pointing a full remote_write stream at prescale
//!   never floods the store and the refit loop by accident;
//! - timestamps arrive in milliseconds and are floored to whole seconds (prescale's resolution);
//!   several samples of one series within one second keep the last one sent;
//! - out-of-order and duplicate samples are accepted: the store merges them in place and a
//!   timestamp already stored is overwritten (last write wins), so Prometheus' retries of a
//!   batch create no duplicates;
//! - stale markers (the special NaN Prometheus writes when a series disappears) are skipped,
//!   as are other non-finite values (a gap is a missing sample in prescale, never a NaN): they
//!   are counted, not errors, so one NaN never makes Prometheus drop a whole batch; so are
//!   samples with a value outside `0 ..= 1e15` (`collect::MAX_SAMPLE_VALUE`: loads are never
//!   negative) or a timestamp before the Unix epoch or more than one day after the server's
//!   clock when the body is decoded (`collect::check_live_timestamp`; Prometheus' `int64`
//!   milliseconds of `2^64 − 1` are `-1`, which would otherwise be stored as 1969). They are
//!   counted as `out_of_range`, and the first few are logged naming the series, the sample's
//!   index in it and the bound — the same treatment as a NaN: one bad clock never makes
//!   Prometheus drop the good samples of a batch.
//!
//! A body that is not snappy, not a protobuf `WriteRequest`, or truncated is an error (`400`,
//! which Prometheus does not retry); a series without a metric name or with a key prescale
//! cannot store (control characters, longer than 512 bytes) is skipped and counted.

mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Deserialize;

use crate::series::{Sample, SeriesKey, Timestamp};

/// The largest compressed body accepted; Prometheus sends batches far smaller (its default is
/// 2,000 samples per request, tens of kilobytes). Larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The largest decompressed message accepted (32 MiB, the limit Prometheus puts on its own
/// remote read bodies). Snappy states the decompressed length up front, so a small body
/// claiming a huge message is refused before anything is allocated.
pub const MAX_DECODED_BYTES: usize = 32 * 1024 * 1024;

/// The most series one request may carry. Prometheus sends at most `max_samples_per_send`
/// (default 2,000) samples per request, so at most that many series.
pub const MAX_REQUEST_SERIES: usize = 100_000;

/// The most labels, all series together, one request may carry.
pub const MAX_REQUEST_LABELS: usize = 1_000_000;

/// The most samples one request may carry.
pub const MAX_REQUEST_SAMPLES: usize = 1_000_000;

/// The bit pattern of Prometheus' stale marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// `prometheus.WriteRequest`: only the fields prescale reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels and float samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PromSample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value and a timestamp in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PromSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("body is not snappy (block format): {0}")]
    Snappy(String),
    #[error("decompressed body of {got} bytes is larger than the limit of {max} bytes")]
    TooLarge { got: usize, max: usize },
    /// More series, labels or samples than one request may hold: counted on the wire, before
    /// any of them is decoded.
    #[error(
        "the request holds more than {max} {what}, the limit per request: \
         lower queue_config.max_samples_per_send"
    )]
    TooMany { what: &'static str, max: usize },
    #[error("body is not a protobuf WriteRequest: {0}")]
    Protobuf(String),
}

/// `[remote_write]` in the config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Metric names to keep; `*` matches any run of characters (`http_*`, `*`). Empty (the
    /// default): keep nothing.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl RemoteWriteConfig {
    /// Checks the patterns: non-empty, no whitespace.
    pub fn check(&self) -> Result<(), String> {
        for (i, pattern) in self.allow.iter().enumerate() {
            if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
                return Err(format!(
                    "allow[{i}]: {pattern:?} is not a metric name pattern"
                ));
            }
        }
        Ok(())
    }

    /// True when `metric` matches one of the patterns.
    pub fn allows(&self, metric: &str) -> bool {
        self.allow.iter().any(|pattern| glob(pattern, metric))
    }
}

/// `*`-wildcard match (no other special characters).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// What one request held, sample by sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Samples kept (to be written).
    pub accepted: u64,
    /// Stale markers skipped.
    pub stale: u64,
    /// Other NaN or infinite values skipped.
    pub non_finite: u64,
    /// Samples of metrics not in the allow-list.
    pub not_allowed: u64,
    /// Samples of series without a metric name or whose key cannot be stored.
    pub invalid_series: u64,
    /// Samples with a value outside `0 ..= 1e15`, or a timestamp before the Unix epoch or more
    /// than a day ahead of the clock.
    pub out_of_range: u64,
}

/// A decoded request: the samples to write per series, and the tally.
#[derive(Debug, Default)]
pub struct Decoded {
    pub batch: Vec<(SeriesKey, Vec<Sample>)>,
    pub tally: Tally,
    /// Up to a few series that were skipped as invalid, with why (for the log).
    pub invalid: Vec<String>,
    /// Up to a few samples skipped as out of range: the series, the sample's index in it and
    /// the bound it broke (for the log).
    pub out_of_range: Vec<String>,
}

/// How many skipped series or samples a [`Decoded`] describes (the rest are only counted).
const EXAMPLES: usize = 3;

/// Decompresses and decodes a remote_write body and keeps what the allow-list allows; `now`
/// (unix seconds, the wall clock) bounds how far ahead a timestamp may be.
pub fn decode(
    body: &[u8],
    config: &RemoteWriteConfig,
    now: Timestamp,
) -> Result<Decoded, RemoteWriteError> {
    let raw = decompress(body)?;
    wire::check_counts(&raw)?;
    to_samples(&raw, config, now)
}

/// Whether `error` is a limit (answered `413`) rather than a malformed body (`400`).
pub fn is_too_large(error: &RemoteWriteError) -> bool {
    matches!(
        error,
        RemoteWriteError::TooLarge { .. } | RemoteWriteError::TooMany { .. }
    )
}

/// The snappy block layer. The decompressed length is checked against [`MAX_DECODED_BYTES`]
/// before decompressing, and the series, labels and samples are then counted on the wire before
/// the message is decoded (`wire::check_counts`): an empty `TimeSeries` takes 2 bytes on the
/// wire and a few dozen in memory, so a body within the byte limit could otherwise decode to
/// gigabytes.
fn decompress(body: &[u8]) -> Result<Vec<u8>, RemoteWriteError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(RemoteWriteError::TooLarge {
            got: len,
            max: MAX_DECODED_BYTES,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))
}

/// Encodes a request as Prometheus sends it (snappy block of the protobuf); for tests and tools.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input below 4 GiB")
}

/// The canonical key of a label set, `(name, value)` pairs (see the module doc), and its
/// metric name; or why it has none. Of a label name given twice, the last value counts.
pub fn series_key<'a>(labels: &[(&'a str, &'a str)]) -> Result<(&'a str, SeriesKey), String> {
    let name = metric_name(labels).ok_or("the series has no metric name (__name__ label)")?;
    // Prometheus sends labels sorted by name: then this is one pass and no sort.
    let mut others: Vec<(&str, &str)> = labels
        .iter()
        .filter(|(label, _)| *label != "__name__")
        .copied()
        .collect();
    if !others.is_sorted_by(|a, b| a.0 < b.0) {
        // Stable: of equal names the last stays last, and is the one kept below.
        others.sort_by(|a, b| a.0.cmp(b.0));
    }
    let mut key = String::with_capacity(
        name.len()
            + others
                .iter()
                .map(|(l, v)| l.len() + v.len() + 4)
                .sum::<usize>()
            + 2,
    );
    key.push_str(name);
    let mut first = true;
    for (i, &(label, value)) in others.iter().enumerate() {
        let overridden = others.get(i + 1).is_some_and(|next| next.0 == label);
        if value.is_empty() || overridden {
            continue;
        }
        key.push(if first { '{' } else { ',' });
        first = false;
        key.push_str(label);
        key.push_str("=\"");
        escape_into(&mut key, value);
        key.push('"');
    }
    if !first {
        key.push('}');
    }
    let key = SeriesKey::new(key).map_err(|e| e.to_string())?;
    Ok((name, key))
}

/// The metric name (the last `__name__` label), unless it is missing or empty.
fn metric_name<'a>(labels: &[(&str, &'a str)]) -> Option<&'a str> {
    labels
        .iter()
        .rev()
        .find(|(label, _)| *label == "__name__")
        .map(|&(_, value)| value)
        .filter(|name| !name.is_empty())
}

/// Appends a label value escaped as the Prometheus text format does.
fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Decodes the series of a `WriteRequest` (`raw`, counted already) and keeps what `config`
/// allows, in arrival order: a series sent twice is appended twice, and the store keeps the
/// last of equal timestamps.
fn to_samples(
    raw: &[u8],
    config: &RemoteWriteConfig,
    now: Timestamp,
) -> Result<Decoded, RemoteWriteError> {
    let mut out = Decoded::default();
    let (mut labels, mut wire_samples) = (Vec::new(), Vec::new());
    for message in wire::timeseries(raw) {
        wire::decode_series(message?, &mut labels, &mut wire_samples)?;
        let count = wire_samples.len() as u64;
        // The allow-list first: a series it drops costs no key (a full Prometheus stream
        // is mostly such series).
        if metric_name(&labels).is_some_and(|name| !config.allows(name)) {
            out.tally.not_allowed += count;
            continue;
        }
        let key = match series_key(&labels) {
            Ok((_, key)) => key,
            Err(why) => {
                out.tally.invalid_series += count;
                if out.invalid.len() < EXAMPLES {
                    out.invalid.push(why);
                }
                continue;
            }
        };
        let mut samples = Vec::with_capacity(wire_samples.len());
        for (index, sample) in wire_samples.iter().enumerate() {
            if sample.value.to_bits() == STALE_NAN_BITS {
                out.tally.stale += 1;
                continue;
            }
            if !sample.value.is_finite() {
                out.tally.non_finite += 1;
                continue;
            }
            let timestamp: Timestamp = sample.timestamp.div_euclid(1000);
            let checked = super::check_live_timestamp(timestamp, now)
                .and_then(|()| super::check_value(sample.value));
            if let Err(why) = checked {
                out.tally.out_of_range += 1;
                if out.out_of_range.len() < EXAMPLES {
                    let series = crate::series::clip(key.as_str());
                    out.out_of_range
                        .push(format!("{series} sample {index}: {why}"));
                }
                continue;
            }
            out.tally.accepted += 1;
            // In arrival order: the store keeps the last of equal timestamps.
            samples.push(Sample {
                timestamp,
                value: sample.value,
            });
        }
        if !samples.is_empty() {
            out.batch.push((key, samples));
        }
    }
    Ok(out)
}

/// Counters for `/metrics`, shared by the handler.
#[derive(Debug, Default)]
pub struct RemoteWriteCounters {
    pub requests_accepted: AtomicU64,
    pub requests_rejected: AtomicU64,
    pub accepted: AtomicU64,
    pub stale: AtomicU64,
    pub non_finite: AtomicU64,
    pub not_allowed: AtomicU64,
    pub invalid_series: AtomicU64,
    pub out_of_range: AtomicU64,
    /// Set once the first sample has been dropped for the allow-list (logged once).
    pub warned_not_allowed: AtomicBool,
}

impl RemoteWriteCounters {
    /// Adds a request's tally.
    pub fn add(&self, tally: &Tally) {
        let add = |counter: &AtomicU64, n: u64| {
            counter.fetch_add(n, Ordering::Relaxed);
        };
        add(&self.accepted, tally.accepted);
        add(&self.stale, tally.stale);
        add(&self.non_finite, tally.non_finite);
        add(&self.not_allowed, tally.not_allowed);
        add(&self.invalid_series, tally.invalid_series);
        add(&self.out_of_range, tally.out_of_range);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05T10:00:00Z, the clock the tests decode at.
    const NOW: Timestamp = 1_767_607_200;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| PromSample { value, timestamp })
                .collect(),
        }
    }

    fn allow(patterns: &[&str]) -> RemoteWriteConfig {
        RemoteWriteConfig {
            allow: patterns.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn keys_are_canonical() {
        let (name, key) = series_key(&[
            ("job", "api"),
            ("__name__", "http_requests_total"),
            ("instance", "a:9100"),
            ("empty", ""),
        ])
        .unwrap();
        assert_eq!(name, "http_requests_total");
        assert_eq!(
            key.as_str(),
            r#"http_requests_total{instance="a:9100",job="api"}"#
        );
        let (_, key) = series_key(&[("__name__", "up")]).unwrap();
        assert_eq!(key.as_str(), "up");
        let (_, key) = series_key(&[("__name__", "x"), ("path", "a\"b\\c\nd")]).unwrap();
        assert_eq!(key.as_str(), r#"x{path="a\"b\\c\nd"}"#);
        // A name given twice: the last value counts, wherever the two stand.
        let (_, key) =
            series_key(&[("b", "1"), ("__name__", "x"), ("a", "2"), ("b", "3")]).unwrap();
        assert_eq!(key.as_str(), r#"x{a="2",b="3"}"#);
        let (_, key) = series_key(&[("__name__", "x"), ("b", "1"), ("b", "")]).unwrap();
        assert_eq!(key.as_str(), "x", "an empty last value drops the label");
        assert!(series_key(&[("job", "api")]).is_err());
        assert!(series_key(&[("__name__", "x"), ("l", "\u{7}")]).is_err());
        let long = "x".repeat(10_000);
        let error = series_key(&[("__name__", &long)]).unwrap_err();
        assert!(error.len() < 400, "{} bytes: {error}", error.len());
    }

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("http_*", "http_requests_total"));
        assert!(glob("*_total", "http_requests_total"));
        assert!(glob("http_*_total", "http_requests_total"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXcYYb"));
        assert!(!glob("http_*", "grpc_requests"));
        assert!(!glob("up", "upx"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn round_trip_keeps_allowed_finite_samples() {
        let request = WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "rps"), ("job", "api")],
                    &[
                        (1_767_607_200_000, 1.0),
                        (1_767_607_201_500, f64::from_bits(STALE_NAN_BITS)),
                        (1_767_607_202_000, f64::NAN),
                        (1_767_607_203_999, 3.0),
                        (1_767_607_203_000, 2.5),
                        (1_767_607_204_000, f64::INFINITY),
                        (-9_000_000_000_000, 1.0),
                    ],
                ),
                series(&[("__name__", "other")], &[(1_767_607_200_000, 5.0)]),
                series(&[("job", "nameless")], &[(1_767_607_200_000, 5.0)]),
            ],
        };
        let decoded = decode(&encode(&request), &allow(&["rps"]), NOW).unwrap();
        assert_eq!(
            decoded.tally,
            Tally {
                accepted: 3,
                stale: 1,
                non_finite: 2,
                not_allowed: 1,
                invalid_series: 1,
                out_of_range: 1,
            }
        );
        assert_eq!(decoded.batch.len(), 1);
        let (key, samples) = &decoded.batch[0];
        assert_eq!(key.as_str(), r#"rps{job="api"}"#);
        let got: Vec<(i64, f64)> = samples.iter().map(|s| (s.timestamp, s.value)).collect();
        // Floored to seconds, in arrival order (the store keeps the last of equal timestamps).
        assert_eq!(
            got,
            [
                (1_767_607_200, 1.0),
                (1_767_607_203, 3.0),
                (1_767_607_203, 2.5)
            ]
        );
        assert_eq!(decoded.invalid.len(), 1);
    }

    #[test]
    fn timestamps_before_the_epoch_or_a_day_ahead_are_skipped_and_counted() {
        let day_ms = super::super::MAX_FUTURE_SECONDS * 1000;
        let now_ms = NOW * 1000;
        let request = WriteRequest {
            timeseries: vec![series(
                &[("__name__", "rps")],
                &[
                    (now_ms, 1.0),
                    // 2^64 - 1 milliseconds as Prometheus' int64: -1, not 1969.
                    (u64::MAX as i64, 2.0),
                    (-1_000, 3.0),
                    (now_ms + day_ms + 1_000, 4.0),
                    (now_ms + day_ms, 5.0),
                    (0, 6.0),
                ],
            )],
        };
        let decoded = decode(&encode(&request), &allow(&["rps"]), NOW).unwrap();
        assert_eq!(decoded.tally.accepted, 3);
        assert_eq!(decoded.tally.out_of_range, 3);
        let kept: Vec<f64> = decoded.batch[0].1.iter().map(|s| s.value).collect();
        assert_eq!(kept, [1.0, 5.0, 6.0]);
        assert_eq!(decoded.out_of_range.len(), 3);
        assert!(
            decoded.out_of_range[0].starts_with("rps sample 1: ")
                && decoded.out_of_range[0].contains("Unix epoch"),
            "{:?}",
            decoded.out_of_range
        );
        assert!(
            decoded.out_of_range[2].starts_with("rps sample 3: ")
                && decoded.out_of_range[2].contains("one day"),
            "{:?}",
            decoded.out_of_range
        );
    }

    #[test]
    fn a_series_the_allow_list_drops_is_counted_as_such_before_its_key_is_built() {
        let request = WriteRequest {
            timeseries: vec![
                // Not allowed, and its key could not be stored either (a control character).
                series(&[("__name__", "other"), ("l", "\u{7}")], &[(1_000, 1.0)]),
                // Allowed, and its key cannot be stored.
                series(&[("__name__", "rps"), ("l", "\u{7}")], &[(1_000, 1.0)]),
            ],
        };
        let decoded = decode(&encode(&request), &allow(&["rps"]), NOW).unwrap();
        assert_eq!(
            (decoded.tally.not_allowed, decoded.tally.invalid_series),
            (1, 1)
        );
        assert_eq!(decoded.invalid.len(), 1);
    }

    #[test]
    fn nothing_is_kept_without_an_allow_list() {
        let request = WriteRequest {
            timeseries: vec![series(&[("__name__", "rps")], &[(1_000, 1.0)])],
        };
        let decoded = decode(&encode(&request), &RemoteWriteConfig::default(), NOW).unwrap();
        assert!(decoded.batch.is_empty());
        assert_eq!(decoded.tally.not_allowed, 1);
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        let good = encode(&WriteRequest {
            timeseries: vec![series(&[("__name__", "rps")], &[(1_000, 1.0)])],
        });
        // Not snappy at all.
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\xff\xff", &allow(&["*"]), NOW),
            Err(RemoteWriteError::Snappy(_))
        ));
        // Snappy, but not a protobuf message.
        let text = snap::raw::Encoder::new()
            .compress_vec(b"hello, this is not protobuf")
            .unwrap();
        assert!(matches!(
            decode(&text, &allow(&["*"]), NOW),
            Err(RemoteWriteError::Protobuf(_))
        ));
        // Truncated at every length: never a panic, never a silent success with data.
        for cut in 0..good.len() {
            if let Ok(decoded) = decode(&good[..cut], &allow(&["*"]), NOW) {
                assert!(decoded.batch.is_empty(), "cut at {cut}");
            }
        }
        // A header claiming a huge message.
        let mut huge = Vec::new();
        let mut n = (MAX_DECODED_BYTES + 1) as u64;
        while n >= 0x80 {
            huge.push((n as u8) | 0x80);
            n >>= 7;
        }
        huge.push(n as u8);
        huge.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decode(&huge, &allow(&["*"]), NOW),
            Err(RemoteWriteError::TooLarge { .. })
        ));
        // Truncated protobuf inside valid snappy.
        let raw = prost::Message::encode_to_vec(&WriteRequest {
            timeseries: vec![series(&[("__name__", "rps")], &[(1_000, 1.0)])],
        });
        let cut = snap::raw::Encoder::new()
            .compress_vec(&raw[..raw.len() - 3])
            .unwrap();
        assert!(matches!(
            decode(&cut, &allow(&["*"]), NOW),
            Err(RemoteWriteError::Protobuf(_))
        ));
    }

    /// The wire decoder against prost's generated one, on a request and on every cut and
    /// single-byte change of it: both accept or both refuse, and what is accepted is the same.
    #[test]
    fn the_wire_decoder_reads_what_prost_reads() {
        let request = WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "rps"), ("job", "api"), ("path", "/a\"b")],
                    &[(1_767_607_200_000, 1.5), (1_767_607_201_000, -2.0)],
                ),
                series(&[("__name__", "up"), ("instance", "é:9100")], &[(-5, 0.0)]),
                series(&[], &[]),
            ],
        };
        let raw = prost::Message::encode_to_vec(&request);
        type Series = (Vec<(String, String)>, Vec<(i64, u64)>);
        let ours = |raw: &[u8]| -> Result<Vec<Series>, RemoteWriteError> {
            let (mut labels, mut samples) = (Vec::new(), Vec::new());
            let mut out = Vec::new();
            for message in wire::timeseries(raw) {
                wire::decode_series(message?, &mut labels, &mut samples)?;
                out.push((
                    labels
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                    samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                ));
            }
            Ok(out)
        };
        let theirs = |raw: &[u8]| {
            <WriteRequest as prost::Message>::decode(raw).map(|r| {
                r.timeseries
                    .into_iter()
                    .map(|ts| {
                        (
                            ts.labels
                                .into_iter()
                                .map(|l| (l.name, l.value))
                                .collect::<Vec<_>>(),
                            ts.samples
                                .iter()
                                .map(|s| (s.timestamp, s.value.to_bits()))
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        let compare = |raw: &[u8], what: &str| match (ours(raw), theirs(raw)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
            (Err(_), Err(_)) => {}
            // Groups (wire types 3 and 4) are the one thing prost skips and this refuses.
            (Err(e), Ok(_))
                if e.to_string().contains("wire type 3")
                    || e.to_string().contains("wire type 4") => {}
            (a, b) => panic!("{what}: ours {a:?}, prost {b:?}"),
        };
        compare(&raw, "the request");
        for cut in 0..raw.len() {
            compare(&raw[..cut], &format!("cut at {cut}"));
        }
        for at in 0..raw.len() {
            for byte in [0x00, 0x01, 0x08, 0x0a, 0x10, 0x12, 0x7f, 0x80, 0xc3, 0xff] {
                let mut changed = raw.clone();
                changed[at] = byte;
                compare(&changed, &format!("byte {at} = {byte:#x}"));
            }
        }
    }

    #[test]
    fn config_patterns_are_checked() {
        assert!(allow(&["http_*"]).check().is_ok());
        assert!(allow(&[""]).check().unwrap_err().contains("allow[0]"));
        assert!(allow(&["a b"]).check().is_err());
    }
}
