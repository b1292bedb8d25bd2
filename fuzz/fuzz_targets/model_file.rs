//! Fuzzes the model file loader, `prescale::forecast::ModelFile::from_json` (what `prescale
//! serve` reads from `models/`), on inputs that are UTF-8; a file that loads then predicts a
//! short horizon with the published interval levels, as the service does.
//!
//! Asserts: no panic (nor abort or runaway allocation); a loaded file writes back with
//! `to_json` and loads again equal; its forecast has the horizon asked for and one band per
//! level.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescale::forecast::{INTERVAL_LEVELS, ModelFile};

const HORIZON: usize = 24;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ModelFile::from_json(text, "fuzz") else {
        return;
    };
    let written = file.to_json();
    match ModelFile::from_json(&written, "fuzz") {
        Ok(again) => assert_eq!(again, file, "round trip through {written}"),
        Err(e) => panic!("a loaded model file does not load again: {e}\n{written}"),
    }
    let Ok(forecast) = file.model.predict(HORIZON, &INTERVAL_LEVELS) else {
        return;
    };
    assert_eq!(forecast.len(), HORIZON);
    assert_eq!(forecast.bands.len(), INTERVAL_LEVELS.len());
    assert!(forecast.bands.iter().all(|b| b.values.len() == HORIZON));
});
