//! A series' head in memory: the samples after its last sealed block, kept mostly encoded.
//!
//! A decoded sample takes 16 bytes, and a head holds up to `block_samples` of them (720 by
//! default) plus a vector's spare capacity: 2,000 series fed one sample at a time by
//! remote_write kept about 33 MB of heads, which a restart does not have (heads are read on
//! first use). So a head keeps its samples as **chunks** of [`CHUNK`] samples encoded as the
//! write-ahead log encodes them ([`wal::encode`]: varint timestamp deltas, decimal mantissas;
//! 2–4 bytes a sample for scraped metrics, and cheap, unlike the block codec, which tries
//! several encodings per block), plus a decoded **tail** of the newest samples, fewer than
//! [`CHUNK`] once [`Head::compact`] has run. The store compacts heads only when it has
//! enough series for their decoded size to matter (`Inner::compact_heads`). Appending after the newest sample pushes onto the
//! tail; anything else (late data inside the head, sealing, writing the head, a repair)
//! decodes the head, works on the samples and builds it again, which happens once per sealed
//! block and checkpoint, or for out-of-order data.
//!
//! Every value in a head went through the log's codec already (an append writes its record
//! first), so a chunk holds nothing that codec refuses.

use super::wal;
use crate::series::Sample;

/// Samples per encoded chunk: the decoded tail stays under 1 KiB, and a chunk's fixed cost (a
/// few bytes of header, an allocation) is a small part of it.
pub(crate) const CHUNK: usize = 64;

/// The samples of a head, sorted by strictly increasing timestamp.
#[derive(Debug, Default)]
pub(crate) struct Head {
    /// Full chunks, oldest first, each [`CHUNK`] samples encoded by [`wal::encode`].
    chunks: Vec<Box<[u8]>>,
    /// The newest samples, after every chunk's.
    tail: Vec<Sample>,
    /// The newest sample, wherever it is.
    last: Option<Sample>,
}

impl Head {
    /// A head holding `samples` (sorted, distinct timestamps), decoded.
    pub(crate) fn from_samples(samples: Vec<Sample>) -> Head {
        Head {
            chunks: Vec::new(),
            last: samples.last().copied(),
            tail: samples,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks.len() * CHUNK + self.tail.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The newest sample.
    pub(crate) fn last(&self) -> Option<Sample> {
        self.last
    }

    /// How many samples are encoded.
    #[cfg(test)]
    pub(crate) fn encoded_len(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// Every sample, decoded. Fails only if a chunk does not decode, which would be a codec
    /// bug: chunks never leave memory.
    pub(crate) fn samples(&self) -> Result<Vec<Sample>, String> {
        let mut out = Vec::with_capacity(self.len());
        for chunk in &self.chunks {
            for (_, samples) in wal::decode(chunk)? {
                out.extend_from_slice(&samples);
            }
        }
        out.extend_from_slice(&self.tail);
        Ok(out)
    }

    /// Appends samples that all come after the newest one (the common case of an append);
    /// returns false, changing nothing, if they do not.
    pub(crate) fn push_after(&mut self, new: &[Sample]) -> bool {
        let (Some(first), Some(last)) = (new.first(), new.last()) else {
            return true;
        };
        if self.last.is_some_and(|l| l.timestamp >= first.timestamp) {
            return false;
        }
        self.tail.extend_from_slice(new);
        self.last = Some(*last);
        true
    }

    /// Encodes every full chunk off the front of the tail, and gives back the memory a large
    /// append left in it.
    pub(crate) fn compact(&mut self) {
        let full = self.tail.len() / CHUNK * CHUNK;
        if full > 0 {
            for chunk in self.tail[..full].chunks_exact(CHUNK) {
                self.chunks
                    .push(wal::encode(std::iter::once((0, chunk))).into_boxed_slice());
            }
            self.tail.drain(..full);
        }
        if self.tail.capacity() > CHUNK {
            self.tail.shrink_to(CHUNK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(range: std::ops::Range<i64>) -> Vec<Sample> {
        range
            .map(|t| Sample {
                timestamp: 1_700_000_000_000 + t * 10_000,
                value: (t % 7) as f64 * 1.5,
            })
            .collect()
    }

    #[test]
    fn pushes_encode_full_chunks_and_read_back_every_sample() {
        let mut head = Head::default();
        assert!(head.is_empty() && head.last().is_none());
        let all = samples(0..300);
        for one in all.chunks(1) {
            assert!(head.push_after(one));
            head.compact();
            assert!(head.tail.len() < CHUNK);
        }
        assert_eq!(head.len(), 300);
        assert_eq!(head.chunks.len(), 300 / CHUNK);
        assert_eq!(head.last(), all.last().copied());
        assert_eq!(head.samples().unwrap(), all);
        // A few bytes a sample (a 10 s step in milliseconds, one decimal), not 16.
        let bytes: usize = head.chunks.iter().map(|c| c.len()).sum();
        assert!(bytes < head.chunks.len() * CHUNK * 6, "{bytes} bytes");
    }

    #[test]
    fn a_push_at_or_before_the_newest_sample_changes_nothing() {
        let mut head = Head::from_samples(samples(0..100));
        head.compact();
        assert!(!head.push_after(&samples(99..101)));
        assert!(!head.push_after(&samples(50..51)));
        assert!(head.push_after(&[]));
        assert_eq!(head.samples().unwrap(), samples(0..100));
        assert!(head.push_after(&samples(100..101)));
        assert_eq!(head.samples().unwrap(), samples(0..101));
    }

    #[test]
    fn a_large_append_is_encoded_and_its_memory_given_back() {
        let mut head = Head::default();
        assert!(head.push_after(&samples(0..10_000)));
        head.compact();
        assert!(head.tail.capacity() <= CHUNK);
        assert_eq!(head.len(), 10_000);
        assert_eq!(head.samples().unwrap(), samples(0..10_000));
        assert!(Head::from_samples(Vec::new()).is_empty());
    }

    #[test]
    fn extreme_values_round_trip_bit_for_bit() {
        let odd = [
            f64::MIN_POSITIVE,
            -0.0,
            f64::MAX,
            -1e-300,
            0.1 + 0.2,
            123.456,
        ];
        let all: Vec<Sample> = (0..200)
            .map(|i| Sample {
                timestamp: i64::MIN + i * 1_000_003_000_007,
                value: odd[i as usize % odd.len()],
            })
            .collect();
        let mut head = Head::from_samples(all.clone());
        head.compact();
        assert_eq!(head.chunks.len(), 200 / CHUNK);
        let back = head.samples().unwrap();
        assert_eq!(back.len(), all.len());
        for (a, b) in back.iter().zip(&all) {
            assert_eq!(a.timestamp, b.timestamp);
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
    }
}
