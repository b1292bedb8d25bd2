//! Key layout of the data blocks and the catalogue entry format.
//!
//! - **Block key** (tree `blocks`): 4-byte big-endian series id, then the block's last
//!   timestamp as 8 big-endian bytes with the sign bit flipped. Flipping the sign bit makes the
//!   byte order of keys equal to the numeric order of timestamps, negative ones included, so one
//!   series' blocks are contiguous and in time order: a time-range read is one forward range
//!   scan, and "the block holding `t`" is the first key `>= (id, t)` (why the end and not the
//!   start: see the store's module doc).
//! - **Head key**: the series id, eight `0xff` bytes and one `0x00`: 13 bytes, so it sorts after
//!   every block key of the series (a block at `i64::MAX` included) and before the next series.
//!   The newest, still growing block lives there, under a key that does not move as it grows.
//! - **Catalogue entry** (tree `catalog`, keyed by the series name as UTF-8): format byte,
//!   id (u32), first and last timestamp (i64), number of samples (u64), then a flag byte and
//!   the end of the last sealed block (i64), all big-endian: 38 fixed bytes, one entry per
//!   series. Ids are small so that the 12-byte block keys stay short; sled also
//!   prefix-compresses the shared id within a node.

use super::StoreError;
use crate::series::Timestamp;

/// Identifies a series inside the blocks tree.
pub(crate) type SeriesId = u32;

pub(crate) const BLOCK_KEY_LEN: usize = 12;

const ENTRY_VERSION: u8 = 1;
const ENTRY_LEN: usize = 38;

/// Where the head (the open block) of a series is stored.
pub(crate) fn head_key(id: SeriesId) -> [u8; BLOCK_KEY_LEN + 1] {
    let mut key = [0xffu8; BLOCK_KEY_LEN + 1];
    key[..4].copy_from_slice(&id.to_be_bytes());
    key[BLOCK_KEY_LEN] = 0;
    key
}

pub(crate) fn block_key(id: SeriesId, end: Timestamp) -> [u8; BLOCK_KEY_LEN] {
    let mut key = [0u8; BLOCK_KEY_LEN];
    key[..4].copy_from_slice(&id.to_be_bytes());
    key[4..].copy_from_slice(&((end as u64) ^ (1 << 63)).to_be_bytes());
    key
}

/// The series id and end timestamp of a block key.
pub(crate) fn parse_block_key(key: &[u8]) -> Result<(SeriesId, Timestamp), StoreError> {
    let key: &[u8; BLOCK_KEY_LEN] = key.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "block key of {} bytes, expected {BLOCK_KEY_LEN}",
            key.len()
        ))
    })?;
    let mut id = [0u8; 4];
    id.copy_from_slice(&key[..4]);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&key[4..]);
    Ok((
        SeriesId::from_be_bytes(id),
        (u64::from_be_bytes(ts) ^ (1 << 63)) as i64,
    ))
}

/// What the catalogue stores for one series. `first` and `last` mean nothing while `samples`
/// is zero (a series is entered before its first block is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: SeriesId,
    pub first: Timestamp,
    pub last: Timestamp,
    pub samples: u64,
    /// The key of the last sealed block, if any.
    pub sealed_end: Option<Timestamp>,
}

impl Entry {
    pub(crate) fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0] = ENTRY_VERSION;
        out[1..5].copy_from_slice(&self.id.to_be_bytes());
        out[5..13].copy_from_slice(&self.first.to_be_bytes());
        out[13..21].copy_from_slice(&self.last.to_be_bytes());
        out[21..29].copy_from_slice(&self.samples.to_be_bytes());
        out[29] = u8::from(self.sealed_end.is_some());
        out[30..38].copy_from_slice(&self.sealed_end.unwrap_or(0).to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Entry, String> {
        if bytes.len() != ENTRY_LEN || bytes[0] != ENTRY_VERSION {
            return Err(format!(
                "catalogue entry of {} bytes with format byte {:?}",
                bytes.len(),
                bytes.first()
            ));
        }
        let word = |range: std::ops::Range<usize>| {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(&bytes[range]);
            buf
        };
        let mut id = [0u8; 4];
        id.copy_from_slice(&bytes[1..5]);
        let entry = Entry {
            id: SeriesId::from_be_bytes(id),
            first: i64::from_be_bytes(word(5..13)),
            last: i64::from_be_bytes(word(13..21)),
            samples: u64::from_be_bytes(word(21..29)),
            sealed_end: match bytes[29] {
                0 => None,
                1 => Some(i64::from_be_bytes(word(30..38))),
                flag => return Err(format!("catalogue entry with flag byte {flag}")),
            },
        };
        if entry.samples > 0 && entry.first > entry.last {
            return Err(format!("inconsistent catalogue entry {entry:?}"));
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_keys_sort_like_timestamps() {
        let times = [i64::MIN, -86_400, -1, 0, 1, 1_700_000_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(block_key(7, pair[0]) < block_key(7, pair[1]));
        }
        // Series are contiguous: every key of id 7 sorts before any key of id 8, and the head
        // comes after the blocks.
        assert!(block_key(7, i64::MAX) < block_key(8, i64::MIN));
        assert!(block_key(7, i64::MAX)[..] < head_key(7)[..]);
        assert!(head_key(7)[..] < block_key(8, i64::MIN)[..]);
        assert!(parse_block_key(&head_key(7)).is_err());
        for t in times {
            assert_eq!(parse_block_key(&block_key(7, t)).unwrap(), (7, t));
        }
        assert!(parse_block_key(&[1, 2, 3]).is_err());
    }

    #[test]
    fn entries_round_trip_and_refuse_damage() {
        let entry = Entry {
            id: 42,
            first: -5,
            last: 1_700_000_000,
            samples: 123_456,
            sealed_end: Some(1_600_000_000),
        };
        assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
        let fresh = Entry {
            samples: 0,
            sealed_end: None,
            ..entry
        };
        assert_eq!(Entry::decode(&fresh.encode()), Ok(fresh));
        assert!(Entry::decode(&entry.encode()[..37]).is_err());
        let mut bad = entry.encode();
        bad[0] = 9;
        assert!(Entry::decode(&bad).is_err());
        let mut bad = entry.encode();
        bad[29] = 7;
        assert!(Entry::decode(&bad).is_err());
        let backwards = Entry {
            first: 10,
            last: 5,
            ..entry
        };
        assert!(Entry::decode(&backwards.encode()).is_err());
    }
}
