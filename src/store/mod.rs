//! Durable history in sled (SKELETON: the store helper replaces this file and adds the block
//! codec; the public API below is the contract the engine, api and CLI code against).

use std::path::Path;

use crate::series::{Sample, SeriesKey, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// What the catalogue knows about one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub key: SeriesKey,
    pub first: Timestamp,
    pub last: Timestamp,
    pub samples: u64,
}

/// A handle on the store; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Store {}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let _ = dir;
        todo!()
    }
    pub fn append(&self, key: &SeriesKey, samples: &[Sample]) -> Result<usize, StoreError> {
        let _ = (key, samples);
        todo!()
    }
    pub fn flush(&self) -> Result<(), StoreError> {
        todo!()
    }
    pub fn read(
        &self,
        key: &SeriesKey,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Sample>, StoreError> {
        let _ = (key, from, to);
        todo!()
    }
    pub fn info(&self, key: &SeriesKey) -> Result<Option<SeriesInfo>, StoreError> {
        let _ = key;
        todo!()
    }
    pub fn list(&self) -> Result<Vec<SeriesInfo>, StoreError> {
        todo!()
    }
    pub fn put_target(&self, name: &str, json: &[u8]) -> Result<(), StoreError> {
        let _ = (name, json);
        todo!()
    }
    pub fn delete_target(&self, name: &str) -> Result<bool, StoreError> {
        let _ = name;
        todo!()
    }
    pub fn targets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        todo!()
    }
    pub fn latest(&self, key: &SeriesKey) -> Result<Option<Sample>, StoreError> {
        let _ = key;
        todo!()
    }
    pub fn append_batch(&self, batch: &[(SeriesKey, Vec<Sample>)]) -> Result<usize, StoreError> {
        let _ = batch;
        todo!()
    }
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        todo!()
    }
}
