//! Fuzzes the Prometheus remote_write decoder, `prescale::collect::remote_write::decode`: raw
//! bytes as an HTTP body (snappy block, then protobuf `WriteRequest`), with an allow-list of
//! `*` so every series that has a valid key reaches the sample checks.
//!
//! Asserts: no panic (nor abort or runaway allocation); on success, every kept sample is finite
//! and inside `collect::TIMESTAMP_RANGE`, the batch holds each series key once, in order, with
//! at least one sample, and the tally's `accepted` equals the number of samples kept.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use prescale::collect::TIMESTAMP_RANGE;
use prescale::collect::remote_write::{RemoteWriteConfig, decode};

static ALLOW_ALL: LazyLock<RemoteWriteConfig> = LazyLock::new(|| RemoteWriteConfig {
    allow: vec!["*".into()],
});

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode(data, &ALLOW_ALL, 1_767_607_200) else {
        return;
    };
    let mut kept = 0u64;
    for (key, samples) in &decoded.batch {
        assert!(!samples.is_empty(), "{key}: kept with no samples");
        for sample in samples {
            assert!(sample.value.is_finite(), "{key}: kept {sample:?}");
            assert!(
                TIMESTAMP_RANGE.contains(&sample.timestamp),
                "{key}: kept {sample:?}"
            );
        }
        kept += samples.len() as u64;
    }
    assert!(
        decoded.batch.windows(2).all(|w| w[0].0 < w[1].0),
        "series keys not unique and sorted"
    );
    assert_eq!(kept, decoded.tally.accepted);
    assert!(decoded.invalid.len() <= 3);
});
