//! Writes the binary and generated seed inputs under `fuzz/seeds/`: remote_write bodies made
//! with `remote_write::encode`; model files as compact JSON: one of each single family fitted on
//! a small synthetic series (2-5 KB), and one committed `models/` file whose `auto` chose a
//! combination (10 KB). The text seeds (push, target, CSV) are written by hand. Run from
//! `fuzz/`: `cargo run --example make_seeds`.

use std::fs;
use std::path::Path;

use prescale::collect::remote_write::{
    Label, PromSample, STALE_NAN_BITS, TimeSeries, WriteRequest, encode,
};
use prescale::forecast::ModelSpec;
use prescale::forecast::model_file::{ModelFile, Provenance};
use prescale::series::{Series, Span};

const T0_MS: i64 = 1_767_607_200_000;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| PromSample { value, timestamp })
            .collect(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn remote_write_seeds(dir: &Path) {
    let one = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "http_requests_total"), ("job", "api")],
            &[(T0_MS, 1.0), (T0_MS + 15_000, 2.5), (T0_MS + 30_000, 4.0)],
        )],
    };
    write(dir, "one-series", &encode(&one));
    let mixed = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("__name__", "rps"),
                    ("instance", "a:9100"),
                    ("path", "a\"b\\c\nd"),
                ],
                &[
                    (T0_MS, 1.0),
                    (T0_MS + 1_500, f64::from_bits(STALE_NAN_BITS)),
                    (T0_MS + 2_000, f64::NAN),
                    (T0_MS + 3_999, -3.0),
                    (T0_MS + 4_000, f64::INFINITY),
                    (-9_000_000_000_000, 1.0),
                ],
            ),
            series(&[("job", "nameless")], &[(T0_MS, 5.0)]),
            series(&[("__name__", "rps"), ("empty", "")], &[(T0_MS, 7.0)]),
            series(
                &[
                    ("__name__", "rps"),
                    ("instance", "a:9100"),
                    ("path", "a\"b\\c\nd"),
                ],
                &[(T0_MS - 60_000, 0.5)],
            ),
            series(&[("__name__", "bell"), ("l", "\u{7}")], &[(T0_MS, 1.0)]),
        ],
    };
    write(dir, "mixed", &encode(&mixed));
    write(dir, "empty", &encode(&WriteRequest::default()));
}

/// A day of 5-minute steps with an hourly shape, a trend and a gap.
fn training_series() -> Series {
    let values = (0..288)
        .map(|i| {
            if (100..104).contains(&i) {
                f64::NAN
            } else {
                let phase = (i % 12) as f64 / 12.0 * std::f64::consts::TAU;
                100.0 + 0.1 * i as f64 + 20.0 * phase.sin() + ((i * 7) % 5) as f64
            }
        })
        .collect();
    Series::new(1_767_571_200, 300, values).unwrap()
}

fn model_file_seeds(dir: &Path) {
    let training = training_series();
    let hour = Span::from_seconds(3_600).unwrap();
    for name in ["seasonal-naive", "linear-seasonal", "holt-winters"] {
        let spec = ModelSpec::from_name(name, vec![hour]).unwrap();
        let model = spec.fit(&training).unwrap();
        let file = ModelFile::new(
            spec,
            model,
            Provenance {
                dataset: "synthetic-5m.csv".to_string(),
                series: Some("rps".to_string()),
                fitted_at: 1_767_657_600,
            },
        );
        write(dir, &format!("{name}.json"), &compact(&file));
    }
    let name = "nyc-taxi-30m.json";
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    let file = ModelFile::from_json(&fs::read_to_string(path).unwrap(), name).unwrap();
    write(dir, name, &compact(&file));
}

/// A model file without the pretty printing (the seeds stay small; the loader takes any JSON).
fn compact(file: &ModelFile) -> Vec<u8> {
    serde_json::to_vec(file).unwrap()
}

fn main() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    remote_write_seeds(&seeds.join("remote_write"));
    model_file_seeds(&seeds.join("model_file"));
}
