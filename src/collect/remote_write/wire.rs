//! A `WriteRequest` read straight off the protobuf wire: first its series, labels and samples
//! counted without decoding them, so that a request over the limits is refused before it costs
//! any memory; then each series decoded in place, its labels borrowed from the request's bytes.
//!
//! A `WriteRequest`'s field 1 is a `TimeSeries`; a `TimeSeries`' field 1 is a label (`name` 1,
//! `value` 2, strings) and field 2 a sample (`value` 1, a double; `timestamp` 2, an int64).
//! Everything else is skipped, as prost's generated decoder skips unknown fields; a known field
//! of the wrong wire type, a string that is not UTF-8, and framing that does not hold together
//! (a length past the end, a truncated varint) are protobuf errors, as they are there. A field
//! given twice keeps the last value, as protobuf says. Decoding this way allocates nothing per
//! series but the key it builds (prost's decoder allocates every label's two strings and two
//! vectors per series, the better part of the receiver's time on 1,000 series × 1 sample).

use super::{MAX_REQUEST_LABELS, MAX_REQUEST_SAMPLES, MAX_REQUEST_SERIES, RemoteWriteError};

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// Fails when `raw` (a decompressed `WriteRequest`) holds more series, labels or samples than
/// one request may, or when its framing is broken.
pub(super) fn check_counts(raw: &[u8]) -> Result<(), RemoteWriteError> {
    let (mut series, mut labels, mut samples) = (0usize, 0usize, 0usize);
    for timeseries in timeseries(raw) {
        let timeseries = timeseries?;
        series += 1;
        if series > MAX_REQUEST_SERIES {
            return too_many("series", MAX_REQUEST_SERIES);
        }
        for inner in Fields::new(timeseries) {
            match inner? {
                (1, Value::Len(_)) => labels += 1,
                (2, Value::Len(_)) => samples += 1,
                _ => {}
            }
        }
        if labels > MAX_REQUEST_LABELS {
            return too_many("labels", MAX_REQUEST_LABELS);
        }
        if samples > MAX_REQUEST_SAMPLES {
            return too_many("samples", MAX_REQUEST_SAMPLES);
        }
    }
    Ok(())
}

fn too_many(what: &'static str, max: usize) -> Result<(), RemoteWriteError> {
    Err(RemoteWriteError::TooMany { what, max })
}

/// The encoded `TimeSeries` messages of a `WriteRequest`, in order.
pub(super) fn timeseries(raw: &[u8]) -> impl Iterator<Item = Result<&[u8], RemoteWriteError>> {
    Fields::new(raw).filter_map(|field| match field {
        Ok((1, Value::Len(payload))) => Some(Ok(payload)),
        Ok((1, _)) => Some(Err(wrong_type("WriteRequest.timeseries"))),
        Ok(_) => None,
        Err(error) => Some(Err(error)),
    })
}

/// One float sample as sent: a value and a timestamp in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WireSample {
    pub value: f64,
    pub timestamp: i64,
}

/// Decodes one `TimeSeries` into `labels` (name, value; borrowed from `message`) and
/// `samples`, both cleared first.
pub(super) fn decode_series<'a>(
    message: &'a [u8],
    labels: &mut Vec<(&'a str, &'a str)>,
    samples: &mut Vec<WireSample>,
) -> Result<(), RemoteWriteError> {
    labels.clear();
    samples.clear();
    for field in Fields::new(message) {
        match field? {
            (1, Value::Len(label)) => {
                let (mut name, mut value) = ("", "");
                for field in Fields::new(label) {
                    match field? {
                        (1, Value::Len(bytes)) => name = utf8(bytes)?,
                        (2, Value::Len(bytes)) => value = utf8(bytes)?,
                        (1 | 2, _) => return Err(wrong_type("Label")),
                        _ => {}
                    }
                }
                labels.push((name, value));
            }
            (2, Value::Len(sample)) => {
                let mut decoded = WireSample {
                    value: 0.0,
                    timestamp: 0,
                };
                for field in Fields::new(sample) {
                    match field? {
                        (1, Value::Fixed64(bits)) => decoded.value = f64::from_bits(bits),
                        // int64 on the wire: two's complement in a varint.
                        (2, Value::Varint(v)) => decoded.timestamp = v as i64,
                        (1 | 2, _) => return Err(wrong_type("Sample")),
                        _ => {}
                    }
                }
                samples.push(decoded);
            }
            (1 | 2, _) => return Err(wrong_type("TimeSeries")),
            _ => {}
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<&str, RemoteWriteError> {
    std::str::from_utf8(bytes)
        .map_err(|_| RemoteWriteError::Protobuf("a label is not valid UTF-8".into()))
}

fn wrong_type(message: &str) -> RemoteWriteError {
    RemoteWriteError::Protobuf(format!("a field of {message} has the wrong wire type"))
}

/// A field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Len(&'a [u8]),
}

/// The fields of one message, `(field number, value)`.
struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Fields<'a> {
        Fields {
            rest: message,
            failed: false,
        }
    }

    fn next_field(&mut self) -> Result<(u64, Value<'a>), RemoteWriteError> {
        let key = self.varint()?;
        let (number, wire_type) = (key >> 3, key & 7);
        if number == 0 {
            return Err(broken("field number 0"));
        }
        let value = match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => {
                let bytes = self.skip(8)?;
                let mut le = [0u8; 8];
                le.copy_from_slice(bytes);
                Value::Fixed64(u64::from_le_bytes(le))
            }
            FIXED32 => self.skip(4).map(|_| Value::Fixed32)?,
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| broken("length"))?;
                Value::Len(self.skip(len)?)
            }
            other => return Err(broken(&format!("unsupported wire type {other}"))),
        };
        Ok((number, value))
    }

    fn varint(&mut self) -> Result<u64, RemoteWriteError> {
        let mut value = 0u64;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
            // The 10th byte may only carry the one bit left of a u64 (prost's rule too).
            if i == 9 && *byte > 1 {
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(broken("truncated or overlong varint"))
    }

    fn skip(&mut self, len: usize) -> Result<&'a [u8], RemoteWriteError> {
        if len > self.rest.len() {
            return Err(broken("a field runs past the end of its message"));
        }
        let (payload, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(payload)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), RemoteWriteError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let field = self.next_field();
        self.failed = field.is_err();
        Some(field)
    }
}

fn broken(what: &str) -> RemoteWriteError {
    RemoteWriteError::Protobuf(format!("broken framing: {what}"))
}

#[cfg(test)]
mod tests {
    use super::super::{Label, PromSample, TimeSeries, WriteRequest};
    use super::*;

    fn request(series: usize, labels: usize, samples: usize) -> Vec<u8> {
        let one = TimeSeries {
            labels: vec![Label::default(); labels],
            samples: vec![PromSample::default(); samples],
        };
        prost::Message::encode_to_vec(&WriteRequest {
            timeseries: vec![one; series],
        })
    }

    #[test]
    fn counts_what_the_decoder_would_allocate() {
        assert!(check_counts(&request(10, 3, 2)).is_ok());
        assert!(check_counts(&request(MAX_REQUEST_SERIES, 0, 0)).is_ok());
        let over = |e: Result<(), RemoteWriteError>| match e {
            Err(RemoteWriteError::TooMany { what, .. }) => what,
            other => panic!("expected TooMany, got {other:?}"),
        };
        assert_eq!(
            over(check_counts(&request(MAX_REQUEST_SERIES + 1, 0, 0))),
            "series"
        );
        assert_eq!(
            over(check_counts(&request(2, MAX_REQUEST_LABELS / 2 + 1, 0))),
            "labels"
        );
        assert_eq!(
            over(check_counts(&request(1, 0, MAX_REQUEST_SAMPLES + 1))),
            "samples"
        );
    }

    #[test]
    fn broken_framing_is_a_protobuf_error() {
        let good = request(3, 2, 2);
        for cut in 1..good.len() {
            if let Err(e) = check_counts(&good[..cut]) {
                assert!(matches!(e, RemoteWriteError::Protobuf(_)), "{e}");
            }
        }
        // A length far past the end, a varint that never ends, field number 0, a group.
        for bad in [
            &[0x0a, 0xff, 0xff, 0x03][..],
            &[0x0a; 12],
            &[0x02, 0x00],
            &[0x0b],
        ] {
            assert!(
                matches!(check_counts(bad), Err(RemoteWriteError::Protobuf(_))),
                "{bad:?}"
            );
        }
    }
}
