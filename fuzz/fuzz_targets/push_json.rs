//! Fuzzes the JSON push body parser, `prescale::collect::push::parse_push` (the body of
//! `POST /api/v1/series/{series}/samples`).
//!
//! Asserts: no panic; an accepted batch holds at most `collect::MAX_BATCH_SAMPLES` samples, each
//! with a finite value and a timestamp inside `collect::TIMESTAMP_RANGE` (decoded at a fixed
//! clock, 2026-01-05, so that a crash replays the same way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescale::collect::push::parse_push;
use prescale::collect::{MAX_BATCH_SAMPLES, TIMESTAMP_RANGE};

fuzz_target!(|data: &[u8]| {
    let Ok(samples) = parse_push(data, 1_767_607_200) else {
        return;
    };
    assert!(samples.len() <= MAX_BATCH_SAMPLES);
    for sample in &samples {
        assert!(sample.value.is_finite(), "accepted {sample:?}");
        assert!(
            TIMESTAMP_RANGE.contains(&sample.timestamp),
            "accepted {sample:?}"
        );
    }
});
