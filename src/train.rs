//! `prescale train` and model files on disk: fit a model on the newest train window of a
//! dataset, and read or write the [`ModelFile`] that `prescale serve` starts a series from.
//!
//! The window and the seasons follow the offline tools' rules, so a trained model is the one
//! the backtest would have fitted at the end of the trace: the training series is built and
//! the seasons that do not fit twice in it are dropped by [`crate::forecast::window`], as the
//! service's live cycle does.
//!
//! The file I/O lives here rather than in `forecast`, which stays pure: `forecast::model_file`
//! only turns text into a checked model file and back.

use std::path::Path;

use crate::forecast::model_file::Provenance;
use crate::forecast::window::{DEFAULT_TRAIN_WINDOW, training_series, usable_seasons};
use crate::forecast::{ForecastError, INTERVAL_LEVELS, ModelFile, ModelFileError, ModelSpec};
use crate::series::csv::{CsvError, read_dataset};
use crate::series::{Span, Timestamp, span_text};

/// Why a model could not be trained or saved.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Dataset(#[from] CsvError),
    /// A bad request: an unknown model, a window shorter than the dataset's step.
    #[error("{0}")]
    Input(String),
    /// (`error` is part of the message, not a `source`: a chain would print it twice.)
    #[error("{path}: {error}")]
    Forecast { path: String, error: ForecastError },
    #[error(transparent)]
    File(#[from] ModelFileError),
}

/// What `prescale train` is asked for.
#[derive(Debug, Clone)]
pub struct TrainRequest<'a> {
    pub dataset: &'a Path,
    /// `auto`, `seasonal-naive`, `linear-seasonal`, `holt-winters` or `mstl`.
    pub model: &'a str,
    /// Seasons asked for; those the training window cannot hold twice are dropped.
    pub seasons: Vec<Span>,
    /// `None`: 14 days (the engine's default). A dataset shorter than the window is used
    /// whole.
    pub train_window: Option<Span>,
    /// The series the model is meant for (recorded in the file).
    pub series: Option<String>,
    /// Recorded as the file's `fitted_at`.
    pub fitted_at: Timestamp,
}

/// A trained model file and what was adjusted on the way.
#[derive(Debug, Clone)]
pub struct Trained {
    pub file: ModelFile,
    /// e.g. seasons dropped, a dataset shorter than the window.
    pub notes: Vec<String>,
}

/// Fits the requested model on the newest train window of the dataset.
pub fn train(request: &TrainRequest<'_>) -> Result<Trained, TrainError> {
    let name = request.dataset.display().to_string();
    let dataset = read_dataset(request.dataset)?;
    let step = dataset.step();
    let window_seconds = request
        .train_window
        .unwrap_or(DEFAULT_TRAIN_WINDOW)
        .seconds();
    if window_seconds < step {
        return Err(TrainError::Input(format!(
            "the train window {} is shorter than the dataset's step ({})",
            span_text(window_seconds),
            span_text(step)
        )));
    }
    let window = Span::from_seconds(window_seconds / step * step)
        .map_err(|e| TrainError::Input(e.to_string()))?;
    let last = dataset.samples.last().map_or(0, |s| s.timestamp);
    // As the backtest fits at an origin: the window before it, the origin just after the data.
    let origin = last + step;
    let in_file = |error| TrainError::Forecast {
        path: name.clone(),
        error,
    };
    let training = training_series(&dataset.samples, origin, window).map_err(in_file)?;
    let mut notes = Vec::new();
    let steps = training.len();
    let history = span_text(steps as i64 * step);
    if (steps as i64) * step < window.seconds() {
        notes.push(format!(
            "the dataset holds {history} of history, less than the train window of {}: trained \
             on all of it",
            span_text(window.seconds())
        ));
    }
    let usable = usable_seasons(&request.seasons, step, steps).map_err(in_file)?;
    notes.extend(usable.dropped_note(&format!("{history} of history")));
    let spec = ModelSpec::from_name(request.model, usable.kept)
        .map_err(|e| TrainError::Input(e.to_string()))?;
    let model = spec.fit(&training).map_err(in_file)?;
    let dataset_name = request
        .dataset
        .file_name()
        .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
    let file = ModelFile::new(
        spec,
        model,
        Provenance {
            dataset: dataset_name,
            series: request.series.clone(),
            fitted_at: request.fitted_at,
        },
    );
    Ok(Trained { file, notes })
}

/// Reads and checks the model file at `path`, then makes it forecast a day as a smoke test:
/// a file that parses but cannot predict (e.g. hand-edited arrays) is refused here, at start,
/// rather than failing at the first request.
pub fn read_model_file(path: &Path) -> Result<ModelFile, ModelFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Io {
        path: name.clone(),
        source,
    })?;
    let file = ModelFile::from_json(&text, &name)?;
    try_predict(&file).map_err(|message| ModelFileError::Inconsistent {
        path: name,
        message,
    })?;
    Ok(file)
}

/// Writes `file` to `path` (through a temporary file and a rename, so a reader never sees half
/// a model), creating the parent directory.
pub fn write_model_file(path: &Path, file: &ModelFile) -> Result<(), ModelFileError> {
    let io = |source| ModelFileError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, file.to_json()).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Forecasts a day (at least 2 steps) and checks the result is finite and nested. The fitted
/// models trust their own fields; a hand-edited file could break that trust and panic inside
/// predict, so the trial runs under `catch_unwind` (the error says what happened).
fn try_predict(file: &ModelFile) -> Result<(), String> {
    let steps = (86_400 / file.step_seconds.max(1)).clamp(2, 10_000) as usize;
    // The panic hook is left alone: it is global, and silencing it here would also silence a
    // panic on another thread at that moment.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        file.model.predict(steps, &INTERVAL_LEVELS)
    }));
    let forecast = match outcome {
        Ok(Ok(forecast)) => forecast,
        Ok(Err(e)) => return Err(format!("the model cannot forecast: {e}")),
        Err(_) => return Err("the model is inconsistent: it fails to forecast".to_string()),
    };
    let band = |level: f64| forecast.quantile(level).unwrap_or(&[]);
    let (lo95, lo80, hi80, hi95) = (band(0.025), band(0.1), band(0.9), band(0.975));
    for i in 0..forecast.len() {
        let row = [
            lo95.get(i),
            lo80.get(i),
            Some(&forecast.yhat[i]),
            hi80.get(i),
            hi95.get(i),
        ];
        let Some(row) = row.into_iter().collect::<Option<Vec<&f64>>>() else {
            return Err("the model's forecast lacks an interval".to_string());
        };
        if row.iter().any(|v| !v.is_finite()) || row.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!(
                "the model's forecast is not finite and nested at step {i}: {row:?}"
            ));
        }
    }
    Ok(())
}

/// A few lines for people: the model chosen, the training range, the validation scores.
pub fn describe(file: &ModelFile) -> String {
    use crate::series::format_timestamp;
    let seasons: Vec<String> = file.seasons.iter().map(|s| s.days_text()).collect();
    let mut out = format!(
        "model:      {} (spec {}, seasons {})\ntraining:   {} .. {} ({} steps of {}, {} observed)\n",
        file.chosen.model,
        file.spec.name(),
        seasons.join(","),
        format_timestamp(file.training.from),
        format_timestamp(file.training.to),
        file.training.points,
        span_text(file.step_seconds),
        file.training.observed,
    );
    if let Some(validation) = &file.validation {
        out.push_str(&format!(
            "validation: MAE 1 to {} steps ahead over the newest {} steps from {} origins; chose {}\n",
            validation.scored_steps,
            validation.holdout_steps,
            validation.origins,
            validation.chosen
        ));
        for score in &validation.scores {
            let value = match (&score.mae, &score.error) {
                (Some(mae), _) => format!("{mae:.4}"),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "not scored".to_string(),
            };
            out.push_str(&format!("  {:<28} {value}\n", score.model));
        }
    }
    for fallback in &file.chosen.fallbacks {
        out.push_str(&format!("fallback:   {fallback}\n"));
    }
    out
}
