//! The write-ahead log's record format: one record per append call, in the `wal` tree.
//!
//! An append writes its samples once, as one small record keyed by a sequence number
//! (8 bytes, big-endian, so the tree iterates in the order the records were written), instead of
//! rewriting the open block of every series it touched. A checkpoint writes the open blocks and
//! removes the records it covers; opening the store replays whatever records are left (see the
//! store's module doc, "Writing").
//!
//! A record is `varint(series in it)`, then per series `varint(id) varint(samples)` and per
//! sample `zigzag-varint(timestamp - previous timestamp) ‖ value (f64, 8 bytes little-endian)`.
//! The previous timestamp runs on across the series of a record (starting at 0), so the
//! samples Prometheus sends, one per series at one scrape time, take one byte of timestamp
//! each after the first: about 12 bytes a sample in all. Values are kept raw: the log is
//! short-lived, and the codec's search for a compact form is what the log is there to avoid on
//! the ingest path.
//!
//! Decoding is bounds-checked and never panics: a damaged record is an error naming it.

use super::bits::{ByteReader, put_varint, put_zigzag};
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
/// records, are rewritten whole now and then: records of at most 480 samples (about 6 KB) keep
/// every leaf under that size. Blob files are slower, and a blob write that meets a full disk
/// leaves sled 0.34 waiting forever on its next flush (seen when dropping the database for a
/// repair).
pub(crate) const MAX_RECORD_SAMPLES: usize = 480;

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
    let mut out = Vec::with_capacity(4 + series.len() * 4 + samples * 10);
    put_varint(&mut out, series.len() as u64);
    let mut previous: Timestamp = 0;
    for (id, samples) in series {
        put_varint(&mut out, u64::from(id));
        put_varint(&mut out, samples.len() as u64);
        for sample in samples {
            put_zigzag(&mut out, sample.timestamp.wrapping_sub(previous));
            previous = sample.timestamp;
            out.extend_from_slice(&sample.value.to_le_bytes());
        }
    }
    out
}

/// Decodes one record into `(series id, samples)` pairs, in the order they were written.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<(SeriesId, Vec<Sample>)>, String> {
    let mut reader = ByteReader::new(bytes);
    let damaged = |what: &str| format!("damaged log record: {what}");
    let count = reader.varint().map_err(|_| damaged("series count"))?;
    // Each series takes at least two bytes: a count past that is damage, not an allocation.
    if count > bytes.len() as u64 / 2 {
        return Err(damaged("series count past the record's end"));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut previous: Timestamp = 0;
    for _ in 0..count {
        let id = reader.varint().map_err(|_| damaged("series id"))?;
        let id = SeriesId::try_from(id).map_err(|_| damaged("series id out of range"))?;
        let n = reader.varint().map_err(|_| damaged("sample count"))?;
        // Each sample takes at least nine bytes.
        if n > reader.remaining() as u64 / 9 {
            return Err(damaged("sample count past the record's end"));
        }
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let delta = reader.zigzag().map_err(|_| damaged("timestamp"))?;
            let timestamp = previous.wrapping_add(delta);
            previous = timestamp;
            let value: [u8; 8] = reader
                .rest()
                .get(..8)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| damaged("value"))?;
            reader.advance(8).map_err(|_| damaged("value"))?;
            let value = f64::from_le_bytes(value);
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
    fn one_sample_per_series_at_one_time_takes_about_twelve_bytes() {
        let samples: Vec<[Sample; 1]> = (0..1_000)
            .map(|i| [s(1_700_000_000_000, i as f64)])
            .collect();
        let record = encode(samples.iter().enumerate().map(|(i, s)| (i as u32, &s[..])));
        assert!(record.len() < 12_100, "{} bytes", record.len());
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
        assert!(records.iter().all(|r| r.len() < 6_000));
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
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        let mut nan = encode([(3, &[s(10, 1.0)][..])]);
        let at = nan.len() - 8;
        nan[at..].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(decode(&nan).is_err());
        assert!(parse_key(&[1, 2, 3]).is_err());
        assert_eq!(parse_key(&key(42)).unwrap(), 42);
    }
}
