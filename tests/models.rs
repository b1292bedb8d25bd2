//! Every committed model file under `models/` loads, is of the current format, forecasts
//! finite nested intervals, and re-serializes to exactly its own text; and every bundled
//! dataset has one (`scripts/train-models.sh` regenerates them).

use std::path::{Path, PathBuf};

use prescale::forecast::INTERVAL_LEVELS;
use prescale::forecast::{MODEL_FORMAT_VERSION, ModelFile};

fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    out.sort();
    out
}

#[test]
fn every_model_file_loads_predicts_and_round_trips() {
    let models = files("models", "json");
    assert!(!models.is_empty(), "no model files under models/");
    for path in &models {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        // Through the loader `serve` uses (it also makes the model forecast a day).
        let file = prescale::train::read_model_file(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.format_version, MODEL_FORMAT_VERSION, "{name}");
        assert_eq!(file, ModelFile::from_json(&text, &name).unwrap(), "{name}");

        // `model` re-serializes identically, and so does the whole file.
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_value(&file.model).unwrap(),
            raw["model"],
            "{name}: the model does not re-serialize identically"
        );
        assert_eq!(
            file.to_json(),
            text,
            "{name}: the file does not re-serialize identically"
        );

        // A week ahead: finite, nested intervals, on the file's grid.
        let steps = (7 * 86_400 / file.step_seconds) as usize;
        let forecast = file.model.predict(steps, &INTERVAL_LEVELS).unwrap();
        assert_eq!(forecast.len(), steps, "{name}");
        assert_eq!(forecast.start, file.training.to, "{name}");
        assert_eq!(forecast.step, file.step_seconds, "{name}");
        let band = |level| forecast.quantile(level).unwrap();
        let (lo95, lo80, hi80, hi95) = (band(0.025), band(0.1), band(0.9), band(0.975));
        for i in 0..steps {
            let row = [lo95[i], lo80[i], forecast.yhat[i], hi80[i], hi95[i]];
            assert!(
                row.iter().all(|v| v.is_finite()) && row.windows(2).all(|w| w[0] <= w[1]),
                "{name}: step {i}: {row:?}"
            );
        }
    }
}

#[test]
fn every_bundled_dataset_has_a_model() {
    for csv in files("datasets", "csv") {
        let stem = csv.file_stem().unwrap().to_string_lossy().into_owned();
        let model = Path::new("models").join(format!("{stem}.json"));
        assert!(
            model.exists(),
            "{} has no model: run scripts/train-models.sh",
            csv.display()
        );
        let file = prescale::train::read_model_file(&model).unwrap();
        assert_eq!(
            file.dataset,
            csv.file_name().unwrap().to_string_lossy(),
            "{}",
            model.display()
        );
    }
}
