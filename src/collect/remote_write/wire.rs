//! Counting a `WriteRequest`'s series, labels and samples on the protobuf wire, without decoding
//! them, so that a request over the limits is refused before it costs any memory.
//!
//! Only the framing is read: each field's key (a varint of field number and wire type) and how
//! far to skip. A `WriteRequest`'s field 1 is a `TimeSeries`; a `TimeSeries`' field 1 is a
//! label and field 2 a sample. Everything else is skipped, as the decoder skips it. Framing that
//! does not hold together (a length past the end, a truncated varint) is a protobuf error here
//! already, with the same meaning as the decoder's.

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
    for field in Fields::new(raw) {
        let (number, payload) = field?;
        if number != 1 {
            continue;
        }
        let Some(timeseries) = payload else { continue };
        series += 1;
        if series > MAX_REQUEST_SERIES {
            return too_many("series", MAX_REQUEST_SERIES);
        }
        for inner in Fields::new(timeseries) {
            match inner? {
                (1, Some(_)) => labels += 1,
                (2, Some(_)) => samples += 1,
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

/// The fields of one message: `(field number, Some(payload))` for a length-delimited field,
/// `(field number, None)` for the others.
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

    fn next_field(&mut self) -> Result<(u64, Option<&'a [u8]>), RemoteWriteError> {
        let key = self.varint()?;
        let (number, wire_type) = (key >> 3, key & 7);
        if number == 0 {
            return Err(broken("field number 0"));
        }
        match wire_type {
            VARINT => self.varint().map(|_| (number, None)),
            FIXED64 => self.skip(8).map(|_| (number, None)),
            FIXED32 => self.skip(4).map(|_| (number, None)),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| broken("length"))?;
                self.skip(len).map(|payload| (number, Some(payload)))
            }
            other => Err(broken(&format!("unsupported wire type {other}"))),
        }
    }

    fn varint(&mut self) -> Result<u64, RemoteWriteError> {
        let mut value = 0u64;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
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
    type Item = Result<(u64, Option<&'a [u8]>), RemoteWriteError>;

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
