//! The write-ahead log's record format: one record per append call, in the `wal` tree.
//!
//! An append writes its samples once, as one small record keyed by a sequence number
//! (8 bytes, big-endian, so the tree iterates in the order the records were written), instead of
//! rewriting the open block of every series it touched. A checkpoint writes the open blocks and
//! removes the records it covers; opening the store replays whatever records are left (see the
//! store's module doc, "Writing").
//!
//! A record is a format byte (1), `varint(series in it)`, then per series
//! `zigzag-varint(id - previous id) varint(samples)` and per sample
//! `zigzag-varint(timestamp - previous timestamp)` and the value. The previous id and timestamp
//! run on across the series of a record (starting at 0), so the samples Prometheus sends, one
//! per series at one scrape time, take a byte of id and a byte of timestamp each after the
//! first. A value that is exactly `m / 10^e` with `e <= 6` and `|m| < 2^53` (every count and
//! most gauges) is `varint(zigzag(m) << 3 | e)`, any other `varint(7)` and its 8 bytes
//! (little-endian): an integer load below a thousand takes 2 bytes, so a 1,000-series request
//! takes about 5 bytes a sample. No search for the most compact form across samples (the
//! block codec's job, and what the log is there to keep off the ingest path).
//!
//! Decoding is bounds-checked and never panics: a damaged record is an error naming it.

use super::bits::{ByteReader, put_varint, put_zigzag, unzigzag, zigzag};
use super::block::{decimal_base, exact_exponent_within, mantissa};
use super::catalog::SeriesId;
use crate::series::{Sample, Timestamp};

/// The key of record `seq`.
pub(crate) fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number of a record key.
pub(crate) fn parse_key(key: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| format!("log key of {} bytes, expected 8", key.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The most samples in one record. sled 0.34 writes a log message over a quarter of its segment
/// (128 KiB by default) as a file of its own (a "blob"), and the log tree's leaves, up to 16
/// records, are rewritten whole now and then: records of at most 480 samples (about 2.5 KB of
/// counts, 6 KB of raw values; 12 KB only if every sample had its own series, a large id and a
/// far timestamp) keep the leaves under that size in practice. Blob files are slower, and a blob write that meets a full disk
/// leaves sled 0.34 waiting forever on its next flush (seen when dropping the database for a
/// repair).
pub(crate) const MAX_RECORD_SAMPLES: usize = 480;

/// The first byte of every record: its format.
const FORMAT: u8 = 1;

/// The largest decimal exponent of a value written as a mantissa; the tag above it marks a raw
/// value.
const MAX_EXPONENT: u64 = 6;
const RAW: u64 = 7;

/// Encodes the samples of each series as records of at most [`MAX_RECORD_SAMPLES`] samples: a
/// series with more spans several.
pub(crate) fn records<'a>(
    series: impl IntoIterator<Item = (SeriesId, &'a [Sample])>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pending: Vec<(SeriesId, &[Sample])> = Vec::new();
    let mut room = MAX_RECORD_SAMPLES;
    for (id, mut samples) in series {
        while !samples.is_empty() {
            let (now, later) = samples.split_at(samples.len().min(room));
            pending.push((id, now));
            room -= now.len();
            samples = later;
            if room == 0 {
                out.push(encode(pending.drain(..)));
                room = MAX_RECORD_SAMPLES;
            }
        }
    }
    if !pending.is_empty() {
        out.push(encode(pending));
    }
    out
}

/// Encodes one record: the samples of each series, in the order given.
pub(crate) fn encode<'a>(series: impl IntoIterator<Item = (SeriesId, &'a [Sample])>) -> Vec<u8> {
    let series: Vec<(SeriesId, &[Sample])> = series.into_iter().collect();
    let samples: usize = series.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(4 + series.len() * 4 + samples * 6);
    out.push(FORMAT);
    put_varint(&mut out, series.len() as u64);
    let (mut previous_id, mut previous): (i64, Timestamp) = (0, 0);
    for (id, samples) in series {
        put_zigzag(&mut out, i64::from(id) - previous_id);
        previous_id = i64::from(id);
        put_varint(&mut out, samples.len() as u64);
        for sample in samples {
            put_zigzag(&mut out, sample.timestamp.wrapping_sub(previous));
            previous = sample.timestamp;
            put_value(&mut out, sample.value);
        }
    }
    out
}

fn put_value(out: &mut Vec<u8>, value: f64) {
    if let Some(exponent) = exact_exponent_within(value, MAX_EXPONENT as usize)
        && let Some(m) = mantissa(value, exponent)
    {
        put_varint(out, (zigzag(m) << 3) | exponent as u64);
    } else {
        put_varint(out, RAW);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Decodes one record into `(series id, samples)` pairs, in the order they were written.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<(SeriesId, Vec<Sample>)>, String> {
    let damaged = |what: &str| format!("damaged log record: {what}");
    let Some((&format, bytes)) = bytes.split_first() else {
        return Err(damaged("empty"));
    };
    if format != FORMAT {
        return Err(format!(
            "log record of format {format}, this build reads {FORMAT}"
        ));
    }
    let mut reader = ByteReader::new(bytes);
    let count = reader.varint().map_err(|_| damaged("series count"))?;
    // Each series takes at least two bytes: a count past that is damage, not an allocation.
    if count > bytes.len() as u64 / 2 {
        return Err(damaged("series count past the record's end"));
    }
    let mut out = Vec::with_capacity(count as usize);
    let (mut previous_id, mut previous): (i64, Timestamp) = (0, 0);
    for _ in 0..count {
        let delta = reader.zigzag().map_err(|_| damaged("series id"))?;
        let id = previous_id.wrapping_add(delta);
        previous_id = id;
        let id = SeriesId::try_from(id).map_err(|_| damaged("series id out of range"))?;
        let n = reader.varint().map_err(|_| damaged("sample count"))?;
        // Each sample takes at least two bytes.
        if n > reader.remaining() as u64 / 2 {
            return Err(damaged("sample count past the record's end"));
        }
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let delta = reader.zigzag().map_err(|_| damaged("timestamp"))?;
            let timestamp = previous.wrapping_add(delta);
            previous = timestamp;
            let tagged = reader.varint().map_err(|_| damaged("value"))?;
            let value = match tagged & 7 {
                RAW => {
                    let raw: [u8; 8] = reader
                        .rest()
                        .get(..8)
                        .and_then(|v| v.try_into().ok())
                        .ok_or_else(|| damaged("value"))?;
                    reader.advance(8).map_err(|_| damaged("value"))?;
                    f64::from_le_bytes(raw)
                }
                exponent if exponent <= MAX_EXPONENT => {
                    decimal_base(unzigzag(tagged >> 3), exponent as usize)
                }
                _ => unreachable!("a 3-bit tag is at most 7"),
            };
            if !value.is_finite() {
                return Err(damaged("a value that is not finite"));
            }
            samples.push(Sample { timestamp, value });
        }
        out.push((id, samples));
    }
    if reader.remaining() != 0 {
        return Err(damaged("bytes after the last series"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(timestamp: i64, value: f64) -> Sample {
        Sample { timestamp, value }
    }

    #[test]
    fn records_round_trip_extreme_timestamps_and_values() {
        let a = [
            s(i64::MIN, -0.0),
            s(-1, f64::MAX),
            s(i64::MAX, f64::MIN_POSITIVE),
        ];
        let b = [s(1_700_000_000_000, 1.5)];
        let record = encode([(7, &a[..]), (u32::MAX, &b[..]), (0, &[][..])]);
        let back = decode(&record).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0].0, 7);
        let bits = |v: &[Sample]| -> Vec<(i64, u64)> {
            v.iter().map(|s| (s.timestamp, s.value.to_bits())).collect()
        };
        assert_eq!(bits(&back[0].1), bits(&a));
        assert_eq!((back[1].0, bits(&back[1].1)), (u32::MAX, bits(&b)));
        assert_eq!((back[2].0, back[2].1.len()), (0, 0));
    }

    #[test]
    fn one_integer_sample_per_series_at_one_time_takes_about_five_bytes() {
        let samples: Vec<[Sample; 1]> = (0..1_000)
            .map(|i| [s(1_700_000_000, (i % 900) as f64)])
            .collect();
        let record = encode(
            samples
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u32 + 7, &s[..])),
        );
        assert!(record.len() < 5_100, "{} bytes", record.len());
        let back = decode(&record).unwrap();
        assert_eq!(back.len(), 1_000);
        assert!(
            back.iter()
                .enumerate()
                .all(|(i, (id, v))| *id == i as u32 + 7 && v[0].value == (i % 900) as f64)
        );
    }

    #[test]
    fn decimals_are_mantissas_and_everything_else_is_raw_bit_for_bit() {
        let values = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            0.1,
            0.000_001,
            0.000_000_1,
            123_456.789,
            1e15,
            9e15,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            std::f64::consts::PI,
            1.0 / 3.0,
        ];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| s(i as i64, v))
            .collect();
        let back = decode(&encode([(1, &samples[..])])).unwrap();
        let bits: Vec<u64> = back[0].1.iter().map(|s| s.value.to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, want);
        // Format, series count, id, sample count, timestamp: 5 bytes; then 0.1 takes one byte
        // of value, 12.5 two, pi nine.
        assert_eq!(encode([(0, &[s(0, 0.1)][..])]).len(), 5 + 1);
        assert_eq!(encode([(0, &[s(0, 12.5)][..])]).len(), 5 + 2);
        assert_eq!(
            encode([(0, &[s(0, std::f64::consts::PI)][..])]).len(),
            5 + 9
        );
    }

    #[test]
    fn large_appends_are_cut_into_records_that_keep_the_order() {
        let a: Vec<Sample> = (0..1_000).map(|t| s(t, t as f64)).collect();
        let b: Vec<Sample> = (0..10).map(|t| s(t, -1.0)).collect();
        let records = records([(1, &a[..]), (2, &b[..]), (3, &[][..])]);
        assert_eq!(records.len(), 3);
        let decoded: Vec<(SeriesId, Vec<Sample>)> =
            records.iter().flat_map(|r| decode(r).unwrap()).collect();
        let sizes: Vec<(SeriesId, usize)> = decoded.iter().map(|(id, s)| (*id, s.len())).collect();
        assert_eq!(sizes, [(1, 480), (1, 480), (1, 40), (2, 10)]);
        let again: Vec<Sample> = decoded[..3].iter().flat_map(|(_, s)| s.clone()).collect();
        assert_eq!(again, a);
        assert!(records.iter().all(|r| r.len() < 6_000 && r[0] == FORMAT));
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let record = encode([(3, &[s(10, 1.0), s(20, 2.0)][..])]);
        for cut in 0..record.len() {
            assert!(decode(&record[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = record.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        // A count that promises more than the bytes hold is refused before allocating.
        assert!(decode(&[FORMAT, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        // Another format, an empty record.
        assert!(decode(&[2, 0]).unwrap_err().contains("format 2"));
        assert!(decode(&[]).is_err());
        // A raw value (pi) turned into NaN.
        let mut nan = encode([(3, &[s(10, std::f64::consts::PI)][..])]);
        let at = nan.len() - 8;
        nan[at..].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(decode(&nan).is_err());
        assert!(parse_key(&[1, 2, 3]).is_err());
        assert_eq!(parse_key(&key(42)).unwrap(), 42);
    }
}
