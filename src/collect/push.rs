//! The JSON push format: `{"samples":[{"timestamp":"2026-01-05T10:00:00Z","value":1234.5}, …]}`,
//! timestamps as RFC 3339 strings or unix seconds (numbers or numeric strings).
//!
//! Samples are live: a timestamp before the Unix epoch or more than a day after the server's
//! clock (`now`, read when the body is decoded) refuses the batch, naming the sample
//! ([`super::check_live_timestamp`]).
//!
//! Parsing goes through `serde_path_to_error`, so a type error names its place
//! (`samples[3].value: invalid type: string "x", expected f64`) instead of a byte offset.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{CollectError, MAX_BATCH_SAMPLES, check_live_timestamp, check_timestamp, check_value};
use crate::series::{Sample, Timestamp, clip, parse_timestamp};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    samples: Vec<PushSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushSample {
    #[serde(deserialize_with = "timestamp")]
    timestamp: Timestamp,
    value: f64,
}

fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    match Raw::deserialize(deserializer)
        .map_err(|_| de::Error::custom("expected an RFC 3339 string or unix seconds"))?
    {
        Raw::Int(seconds) => Ok(seconds),
        Raw::Float(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
            Ok(seconds.floor() as i64)
        }
        Raw::Float(seconds) => Err(de::Error::custom(format!(
            "timestamp {seconds} is out of range"
        ))),
        Raw::Text(text) => parse_timestamp(&text).map_err(de::Error::custom),
    }
}

/// A JSON error as a user can act on it: syntax errors say where in the body, data errors name
/// the field (`samples[3].value: ...`). serde quotes the body (`unknown field "…"`, `invalid
/// type: string "…"`), and a path can hold the body's map keys: both are [`clip`]ped.
pub fn describe_json_error(error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = clip(&error.path().to_string());
    let error = error.into_inner();
    let inner = clip(&error.to_string());
    if path == "." {
        format!("invalid JSON body: {inner}")
    } else if error.is_syntax() || error.is_eof() {
        format!("invalid JSON body at {path}: {inner}")
    } else {
        format!("{path}: {inner}")
    }
}

/// Parses and validates a push body. Every sample is checked before any is returned: the error
/// names the first bad one, and a batch is either accepted whole or not at all. `now` is the
/// wall clock (unix seconds) that bounds how far ahead a timestamp may be.
pub fn parse_push(body: &[u8], now: Timestamp) -> Result<Vec<Sample>, CollectError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed: PushBody = serde_path_to_error::deserialize(&mut json)
        .map_err(|e| CollectError::Invalid(describe_json_error(e)))?;
    json.end()
        .map_err(|e| CollectError::Invalid(format!("invalid JSON body: {e}")))?;
    if parsed.samples.len() > MAX_BATCH_SAMPLES {
        return Err(CollectError::TooLarge {
            got: parsed.samples.len(),
            max: MAX_BATCH_SAMPLES,
        });
    }
    parsed
        .samples
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            check_timestamp(raw.timestamp)
                .and_then(|()| check_live_timestamp(raw.timestamp, now))
                .map_err(|e| CollectError::Invalid(format!("samples[{i}].timestamp: {e}")))?;
            Sample::new(raw.timestamp, raw.value)
                .map_err(|e| e.to_string())
                .and_then(|sample| check_value(sample.value).map(|()| sample))
                .map_err(|e| CollectError::Invalid(format!("samples[{i}].value: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::MAX_FUTURE_SECONDS;

    fn err(body: &str) -> String {
        parse_push(body.as_bytes(), NOW).unwrap_err().to_string()
    }

    /// 2026-01-05T10:00:00Z, the clock the tests decode at.
    const NOW: Timestamp = 1_767_607_200;

    #[test]
    fn timestamps_before_the_epoch_or_a_day_ahead_are_refused() {
        let error = err(r#"{"samples":[{"timestamp":1,"value":1},{"timestamp":-1,"value":1}]}"#);
        assert!(error.contains("samples[1].timestamp"), "{error}");
        assert!(error.contains("Unix epoch"), "{error}");
        let error = err(r#"{"samples":[{"timestamp":"1969-12-31T23:59:59Z","value":1}]}"#);
        assert!(error.contains("samples[0].timestamp"), "{error}");
        let ahead = NOW + MAX_FUTURE_SECONDS + 1;
        let error = err(&format!(
            r#"{{"samples":[{{"timestamp":{NOW},"value":1}},{{"timestamp":{ahead},"value":1}}]}}"#
        ));
        assert!(error.contains("samples[1].timestamp"), "{error}");
        assert!(error.contains("one day"), "{error}");
        // The bounds themselves are accepted.
        let edge = NOW + MAX_FUTURE_SECONDS;
        let body = format!(
            r#"{{"samples":[{{"timestamp":0,"value":1}},{{"timestamp":{edge},"value":1}}]}}"#
        );
        assert_eq!(parse_push(body.as_bytes(), NOW).unwrap().len(), 2);
    }

    #[test]
    fn accepts_both_timestamp_forms() {
        let samples = parse_push(
            br#"{"samples":[{"timestamp":"2026-01-05T10:00:00Z","value":1234.5},
                             {"timestamp":1767607260,"value":1},
                             {"timestamp":1767607320.5,"value":2},
                             {"timestamp":"1767607380","value":3}]}"#,
            NOW,
        )
        .unwrap();
        let times: Vec<_> = samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [1767607200, 1767607260, 1767607320, 1767607380]);
        assert_eq!(samples[0].value, 1234.5);
    }

    #[test]
    fn errors_name_the_sample() {
        assert!(
            err(r#"{"samples":[{"timestamp":1,"value":1},{"timestamp":2}]}"#)
                .contains("samples[1]")
        );
        assert!(
            err(r#"{"samples":[{"timestamp":"soon","value":1}]}"#).contains("samples[0].timestamp")
        );
        assert!(err(r#"{"samples":[{"timestamp":1,"value":"x"}]}"#).contains("samples[0].value"));
        assert!(err(r#"{"samples":[{"timestamp":1,"value":1e999}]}"#).contains("samples[0].value"));
        assert!(
            err(r#"{"samples":[{"timestamp":1767607200000,"value":1}]}"#).contains("milliseconds")
        );
        assert!(err(r#"{"samples":[{"timestamp":1,"value":1,"extra":2}]}"#).contains("extra"));
        assert!(err(r#"{"samples":[{"timestamp":1,"value":1}]"#).contains("invalid JSON"));
        assert!(err(r#"{}"#).contains("samples"));
        assert!(err(r#"{"samples":[]} x"#).contains("invalid JSON"));
        assert!(err("").contains("invalid JSON"));
        let long = "x".repeat(10_000);
        let error = err(&format!(
            r#"{{"samples":[{{"timestamp":1,"value":"{long}"}}]}}"#
        ));
        assert!(error.len() < 500, "{} bytes: {error}", error.len());
        let error = err(&format!(r#"{{"samples":[{{"timestamp":1,"{long}":1}}]}}"#));
        assert!(error.len() < 500, "{} bytes: {error}", error.len());
    }

    #[test]
    fn too_many_samples_is_its_own_error() {
        let one = r#"{"timestamp":1,"value":1}"#;
        let body = format!(
            r#"{{"samples":[{}]}}"#,
            vec![one; MAX_BATCH_SAMPLES + 1].join(",")
        );
        assert!(matches!(
            parse_push(body.as_bytes(), NOW),
            Err(CollectError::TooLarge { .. })
        ));
    }

    #[test]
    fn empty_batch_is_fine() {
        assert!(parse_push(br#"{"samples":[]}"#, NOW).unwrap().is_empty());
    }
}
