//! Fuzzes the dataset CSV reader: `prescale::series::csv::read_samples` on the raw bytes, then,
//! for two or more samples, `dataset_from_samples` (step inference and the grid the models fit
//! on) — what `prescale import`, `train` and `backtest` do with a user's file.
//!
//! Asserts: no panic (nor abort or runaway allocation); accepted samples are finite and sorted
//! by strictly increasing timestamp; a dataset's grid has a positive step, starts at the first
//! sample and holds no more observed steps than there are samples.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use prescale::series::csv::{dataset_from_samples, read_samples};

fuzz_target!(|data: &[u8]| {
    let Ok(samples) = read_samples(Cursor::new(data), "fuzz") else {
        return;
    };
    assert!(samples.iter().all(|s| s.value.is_finite()));
    assert!(samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    if samples.len() < 2 {
        return;
    }
    let (count, first) = (samples.len(), samples[0].timestamp);
    let Ok(dataset) = dataset_from_samples(samples, "fuzz") else {
        return;
    };
    assert!(dataset.step() > 0);
    assert_eq!(dataset.series.start(), first);
    assert!(dataset.series.present() <= count);
    assert!(dataset.series.present() >= 1);
});
