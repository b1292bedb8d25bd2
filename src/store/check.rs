//! [`Store::check`]: every stored byte decoded and checked, and the damage reported by series
//! (`prescale check --data-dir D`). Reads decode only the blocks a range needs and stop at the
//! first damaged one; this walks them all, so a damaged store is found before a read fails in
//! service, and its report says which series lost what.
//!
//! Per series: every sealed block is decoded (the decoder checks every length, that timestamps
//! increase and values are finite, and that every byte is used) and must end at its key; the
//! head (the open block) is decoded too, after a checkpoint has written every head; so is
//! every record left in the write-ahead log. Blocks under no catalogue entry are reported as
//! orphans. The targets and planners trees must hold JSON. sled's own checks (its log's CRCs)
//! run when the store is opened.

use std::collections::BTreeSet;

use super::block;
use super::catalog::{SeriesId, block_key, head_key, parse_block_key};
use super::{Store, StoreError, check_block, lock, wal};
use crate::series::{Sample, Timestamp};

/// What [`Store::check`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    pub series: Vec<SeriesCheck>,
    /// Blocks whose series id no catalogue entry names.
    pub orphan_blocks: usize,
    /// Targets and planners checked, and the damaged ones (`name: why`).
    pub targets: usize,
    pub damaged_records: Vec<String>,
}

/// One series' blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesCheck {
    pub series: String,
    pub blocks: usize,
    /// Samples decoded from the blocks that decode.
    pub samples: u64,
    /// One line per damaged block (`block ending at T: why`) or head.
    pub damage: Vec<String>,
}

impl CheckReport {
    /// True when nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.orphan_blocks == 0
            && self.damaged_records.is_empty()
            && self.series.iter().all(|s| s.damage.is_empty())
    }
}

impl Store {
    /// Decodes and checks every block, head, target and planner (see the module doc). Errors
    /// are sled's (the store cannot be read at all); damage is in the report.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let inner = self.inner()?;
        // Every head written first, so that every sample is in a block checked here.
        inner.checkpoint()?;
        let mut report = CheckReport::default();
        let mut ids: BTreeSet<SeriesId> = BTreeSet::new();
        for series in inner.all_series() {
            let state = lock(&series);
            if state.deleted {
                continue;
            }
            ids.insert(state.id);
            let mut check = SeriesCheck {
                series: state.key.as_str().to_string(),
                blocks: 0,
                samples: 0,
                damage: Vec::new(),
            };
            let range = block_key(state.id, Timestamp::MIN)..=block_key(state.id, Timestamp::MAX);
            for item in inner.blocks.range(range) {
                let (key, bytes) = item?;
                let end = match parse_block_key(&key) {
                    Ok((_, end)) => end,
                    Err(error) => {
                        check.damage.push(error.to_string());
                        continue;
                    }
                };
                check.blocks += 1;
                let mut samples: Vec<Sample> = Vec::new();
                let decoded = block::decode_into(&bytes, &mut samples)
                    .map_err(|e| e.to_string())
                    .and_then(|()| check_block(&samples, end).map_err(str::to_string));
                match decoded {
                    Ok(()) => check.samples += samples.len() as u64,
                    Err(why) => check.damage.push(format!(
                        "block ending at {} ({end}): {why}",
                        crate::series::format_timestamp(end)
                    )),
                }
            }
            if let Some(bytes) = inner.blocks.get(head_key(state.id))? {
                match block::decode(&bytes) {
                    Ok(head) => check.samples += head.len() as u64,
                    Err(why) => check.damage.push(format!("newest block (head): {why}")),
                }
            }
            report.series.push(check);
        }
        for item in inner.blocks.iter() {
            let (key, _) = item?;
            let id = key
                .get(..4)
                .map(|b| SeriesId::from_be_bytes([b[0], b[1], b[2], b[3]]));
            if id.is_none_or(|id| !ids.contains(&id)) {
                report.orphan_blocks += 1;
            }
        }
        for item in inner.wal.iter() {
            let (key, bytes) = item?;
            if let Err(why) = wal::parse_key(&key).and_then(|_| wal::decode(&bytes).map(drop)) {
                report
                    .damaged_records
                    .push(format!("log record {key:?}: {why}"));
            }
        }
        for (tree, what) in [(&inner.targets, "target"), (&inner.planners, "planner")] {
            for item in tree.iter() {
                let (name, json) = item?;
                report.targets += usize::from(what == "target");
                if let Err(error) = serde_json::from_slice::<serde_json::Value>(&json) {
                    report.damaged_records.push(format!(
                        "{what} {:?}: not JSON: {error}",
                        String::from_utf8_lossy(&name)
                    ));
                }
            }
        }
        report.series.sort_by(|a, b| a.series.cmp(&b.series));
        Ok(report)
    }
}
