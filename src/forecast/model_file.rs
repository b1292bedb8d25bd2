//! Model files: a [`FittedModel`] with the metadata a person (or `serve`) needs to trust it —
//! what it was trained on, with which spec, what `auto` chose and why — as the JSON that
//! `prescale train` writes under `models/` and `prescale serve` loads.
//!
//! Pure like the rest of `forecast`: this module turns a file's *text* into a checked
//! [`ModelFile`] and back; reading and writing the bytes happens in `crate::train` and the
//! config loader. Errors name the file (and, for malformed JSON, the line and column).
//!
//! ```json
//! {
//!   "format_version": 2,
//!   "prescale_version": "0.1.0",
//!   "dataset": "nasa-http-1995-1m.csv",
//!   "step_seconds": 60,
//!   "training": { "from": "…", "to": "…", "points": 20160, "observed": 20160 },
//!   "seasons": ["1d", "7d"],
//!   "spec": { "model": "auto", "seasons": ["1d", "7d"] },
//!   "chosen": { "model": "auto(linear-seasonal(1d,1w))", "family": "linear-seasonal", … },
//!   "validation": { "split": …, "scores": [ … ] },
//!   "fitted_at": "…",
//!   "model": { "model": "auto", … }
//! }
//! ```
//!
//! The format version is read first, on its own, so that a file from a newer (or older)
//! prescale gets "format version 3, this prescale reads 2: retrain it" rather than a puzzling
//! complaint about some field deep inside `model`.

use serde::{Deserialize, Serialize};

use super::{FittedModel, MODEL_FORMAT_VERSION, ModelSpec, ModelSummary, Validation};
use crate::series::{Span, Timestamp};

/// Why a model file cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written (built by the callers that do the I/O).
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Written by another version of the format.
    #[error(
        "{path}: model format version {found}, but this prescale ({prescale}) reads version \
         {supported} only: retrain the model with `prescale train`"
    )]
    Version {
        path: String,
        found: u64,
        supported: u32,
        prescale: String,
    },
    /// Not JSON, or not the shape of a model file (`location` is `line L column C`, with the
    /// field path when known).
    #[error("{path}: {location}: {message}")]
    Malformed {
        path: String,
        location: String,
        message: String,
    },
    /// Well-formed, but its parts disagree (e.g. a hand-edited step).
    #[error("{path}: {message}")]
    Inconsistent { path: String, message: String },
}

/// The training data of a model file: `from ..< to` on a grid of `step_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRange {
    /// The first observed training step.
    #[serde(with = "rfc3339")]
    pub from: Timestamp,
    /// The end of the training data (exclusive): the first timestamp the model forecasts.
    #[serde(with = "rfc3339")]
    pub to: Timestamp,
    /// Grid steps from `from` to `to`, gaps included.
    pub points: usize,
    /// Steps that held a value.
    pub observed: usize,
}

/// A fitted model and its metadata, as saved under `models/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// [`MODEL_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The prescale that wrote it (`CARGO_PKG_VERSION`).
    pub prescale_version: String,
    /// The dataset file name the model was trained on.
    pub dataset: String,
    /// The series the model is meant for, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Grid step in seconds.
    pub step_seconds: i64,
    pub training: TrainingRange,
    /// The seasons the spec was given: those asked for that the training window supports.
    pub seasons: Vec<Span>,
    /// What was fitted; `serve` refits the series with it.
    pub spec: ModelSpec,
    /// What the fit did ([`FittedModel::summary`]; its validation is in `validation`).
    pub chosen: ModelSummary,
    /// `auto` only: each candidate's holdout score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// When the model was fitted (passed in: nothing here reads the clock).
    #[serde(with = "rfc3339")]
    pub fitted_at: Timestamp,
    /// The fitted model itself.
    pub model: FittedModel,
}

/// The metadata of a model file that the fitted model cannot tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The dataset file name.
    pub dataset: String,
    pub series: Option<String>,
    pub fitted_at: Timestamp,
}

impl ModelFile {
    /// The file for `model`, fitted from `spec`, described by `provenance`.
    pub fn new(spec: ModelSpec, model: FittedModel, provenance: Provenance) -> ModelFile {
        let mut chosen = model.summary();
        let validation = chosen.validation.take();
        let training = model.training();
        ModelFile {
            format_version: MODEL_FORMAT_VERSION,
            prescale_version: env!("CARGO_PKG_VERSION").to_string(),
            dataset: provenance.dataset,
            series: provenance.series,
            step_seconds: training.step,
            training: TrainingRange {
                from: training.start,
                to: training.origin,
                points: training.points,
                observed: training.observed,
            },
            seasons: spec.seasons().to_vec(),
            spec,
            chosen,
            validation,
            fitted_at: provenance.fitted_at,
            model,
        }
    }

    /// The file's text: pretty JSON ending in a newline. Fitted models keep their numbers
    /// JSON-exact, so [`ModelFile::from_json`] of this text gives back an equal `ModelFile`,
    /// and writing that again gives the same text.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a model file always serializes");
        text.push('\n');
        text
    }

    /// Parses and checks the text of the file `path` (used in error messages only).
    pub fn from_json(text: &str, path: &str) -> Result<ModelFile, ModelFileError> {
        let malformed = |error: &serde_json::Error, field: Option<String>| {
            let mut location = format!("line {} column {}", error.line(), error.column());
            if let Some(field) = field.filter(|f| !f.is_empty() && f != ".") {
                location.push_str(&format!(", at {field}"));
            }
            // serde_json appends " at line L column C" to its messages: said once, above.
            let message = error.to_string();
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_string(),
                None => message,
            };
            ModelFileError::Malformed {
                path: path.to_string(),
                location,
                message,
            }
        };
        // The version first, alone: a file of another version may differ anywhere else.
        #[derive(Deserialize)]
        struct Head {
            format_version: Option<serde_json::Value>,
        }
        let head: Head = serde_json::from_str(text).map_err(|e| malformed(&e, None))?;
        let found = match head.format_version {
            None => {
                return Err(ModelFileError::Inconsistent {
                    path: path.to_string(),
                    message: "no `format_version`: not a prescale model file".to_string(),
                });
            }
            Some(value) => value.as_u64().ok_or_else(|| ModelFileError::Inconsistent {
                path: path.to_string(),
                message: format!("`format_version` is {value}, expected a whole number"),
            })?,
        };
        if found != u64::from(MODEL_FORMAT_VERSION) {
            return Err(ModelFileError::Version {
                path: path.to_string(),
                found,
                supported: MODEL_FORMAT_VERSION,
                prescale: env!("CARGO_PKG_VERSION").to_string(),
            });
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: ModelFile = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| malformed(e.inner(), Some(e.path().to_string())))?;
        deserializer.end().map_err(|e| malformed(&e, None))?;
        file.check()
            .map_err(|message| ModelFileError::Inconsistent {
                path: path.to_string(),
                message,
            })?;
        Ok(file)
    }

    /// The parts agree with each other and with the fitted model.
    fn check(&self) -> Result<(), String> {
        self.spec.check().map_err(|e| format!("spec: {e}"))?;
        let training = self.model.training();
        if self.step_seconds <= 0 || training.step != self.step_seconds {
            return Err(format!(
                "step_seconds is {}, but the model's grid step is {} s",
                self.step_seconds, training.step
            ));
        }
        if (training.start, training.origin) != (self.training.from, self.training.to) {
            return Err(
                "training.from/to differ from the fitted model's training range".to_string(),
            );
        }
        if training.origin <= training.start || training.points == 0 {
            return Err("the fitted model's training range is empty".to_string());
        }
        if self.spec.name() != self.chosen.model.split('(').next().unwrap_or_default() {
            return Err(format!(
                "spec is {:?} but the fitted model is {:?}",
                self.spec.name(),
                self.chosen.model
            ));
        }
        if self.model.name() != self.chosen.model {
            return Err(format!(
                "chosen.model is {:?} but the fitted model is {:?}",
                self.chosen.model,
                self.model.name()
            ));
        }
        Ok(())
    }
}

/// RFC 3339 UTC text for timestamps (`2026-01-05T10:00:00Z`), as everywhere else in prescale.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::series::{Timestamp, format_timestamp, parse_timestamp};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_timestamp(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        parse_timestamp(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Series;

    fn file(spec: &str) -> ModelFile {
        let season: Span = "1d".parse().unwrap();
        let values: Vec<f64> = (0..3 * 288)
            .map(|i| 100.0 + 50.0 * (i as f64 / 288.0 * std::f64::consts::TAU).sin())
            .collect();
        let series = Series::new(1_767_225_600, 300, values).unwrap();
        let spec = ModelSpec::from_name(spec, vec![season]).unwrap();
        let model = spec.fit(&series).unwrap();
        ModelFile::new(
            spec,
            model,
            Provenance {
                dataset: "sine.csv".into(),
                series: Some("web".into()),
                fitted_at: 1_767_312_000,
            },
        )
    }

    #[test]
    fn round_trips_exactly() {
        for spec in ["auto", "seasonal-naive", "linear-seasonal"] {
            let file = file(spec);
            let text = file.to_json();
            let back = ModelFile::from_json(&text, "m.json").unwrap();
            assert_eq!(back, file, "{spec}");
            assert_eq!(back.to_json(), text, "{spec}");
            assert!(
                text.contains("\"fitted_at\": \"2026-01-02T00:00:00Z\""),
                "{text}"
            );
        }
        let auto = file("auto");
        assert!(auto.validation.is_some() && auto.chosen.validation.is_none());
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let good = file("auto").to_json();
        let err = |text: &str| ModelFile::from_json(text, "models/x.json").unwrap_err();

        let (current, next) = (MODEL_FORMAT_VERSION, MODEL_FORMAT_VERSION + 1);
        let e = err(&good.replacen(
            &format!("\"format_version\": {current}"),
            &format!("\"format_version\": {next}"),
            1,
        ));
        assert!(
            matches!(e, ModelFileError::Version { found, .. } if found == u64::from(next)),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("models/x.json: model format version {next}"))
        );

        let e = err(&format!("{{\"format_version\": {current},\n \"dataset\": ")).to_string();
        assert!(e.starts_with("models/x.json: line 2"), "{e}");
        let e = err("[1, 2]").to_string();
        assert!(e.starts_with("models/x.json:"), "{e}");
        let e = err("{}").to_string();
        assert!(e.contains("not a prescale model file"), "{e}");
        let e = err("{\"format_version\": \"one\"}").to_string();
        assert!(e.contains("whole number"), "{e}");

        let e = err(&good.replacen("\"step_seconds\": 300", "\"step_seconds\": \"x\"", 1));
        assert!(e.to_string().contains("step_seconds"), "{e}");
        let e = err(&good.replacen("\"step_seconds\": 300", "\"step_seconds\": 60", 1));
        assert!(matches!(e, ModelFileError::Inconsistent { .. }), "{e}");
        let e = err(&good.replacen("\"dataset\"", "\"datasett\"", 1));
        assert!(e.to_string().contains("datasett"), "{e}");
        let e = err(&format!("{good} trailing")).to_string();
        assert!(e.starts_with("models/x.json: line"), "{e}");
    }
}
