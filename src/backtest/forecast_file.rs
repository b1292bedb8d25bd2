//! `prescale forecast`: forecasts at the origins listed in a file, written in the yardstick's
//! forecast file format, so that `eval/peers.py --score-file` scores prescale next to its peers
//! on the same origins.
//!
//! Format: header `origin,timestamp,yhat,lo80,hi80,lo95,hi95`, one row per forecast step,
//! RFC 3339 UTC; `origin` is the first forecast timestamp, and the model that made the row saw
//! only the train window strictly before it (built as the engine builds a training series).
//! `lo80`/`hi80` are the 0.1/0.9 quantiles, `lo95`/`hi95` the 0.025/0.975 ones.
//!
//! The origins file holds one timestamp per line (RFC 3339 or unix seconds; blank lines and
//! lines starting with `#` are skipped). Every origin must be a step of the dataset's grid
//! after its first step and no later than just after its last one (forecasting the future right
//! after the data is allowed). An origin that is not, or whose train window does not fit, is an
//! error naming the origins file's line, and nothing is written: a forecast file is complete or
//! absent.

use std::io::Write;
use std::path::Path;

use crate::forecast::ModelSpec;
use crate::series::csv::read_dataset;
use crate::series::{Span, Timestamp, format_timestamp, parse_timestamp};

use super::BacktestError;
use super::accuracy::{OriginForecast, forecast_from};
use super::setup::too_short_for_seasons;
use crate::forecast::window::{DEFAULT_TRAIN_WINDOW, usable_seasons};

/// What `prescale forecast` is asked for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub dataset: &'a Path,
    pub origins_file: &'a Path,
    pub horizon: Span,
    /// Model name: `auto`, `seasonal-naive`, `linear-seasonal`, `holt-winters` or `mstl`.
    pub model: &'a str,
    pub seasons: Vec<Span>,
    /// `None`: 14 days.
    pub train_window: Option<Span>,
    pub out: &'a Path,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub origins: usize,
    pub rows: usize,
    pub horizon_steps: usize,
    /// The seasons the model was given (those that fit twice in the window).
    pub seasons: Vec<Span>,
    /// Mean wall time of one fit + predict (as `peers.py` times its peers: the model alone,
    /// not reading the data).
    pub fit_predict_seconds: f64,
}

/// Runs the request: reads, validates, forecasts every origin, then writes the file.
pub fn run(request: &Request<'_>) -> Result<Written, BacktestError> {
    let dataset = read_dataset(request.dataset)?;
    let series = &dataset.series;
    let step = series.step();
    let horizon = ((request.horizon.seconds() / step) as usize).max(1);
    let window_seconds = request
        .train_window
        .unwrap_or(DEFAULT_TRAIN_WINDOW)
        .seconds();
    let win = (window_seconds / step) as usize;
    let seasons = usable_seasons(&request.seasons, step, win)
        .map_err(|e| too_short_for_seasons(e, &format!("{} steps of {step} s", series.len())))?
        .kept;
    let train_window = Span::from_seconds(win.max(1) as i64 * step)
        .map_err(|e| BacktestError::Input(e.to_string()))?;
    let spec = ModelSpec::from_name(request.model, seasons.clone())?;
    let origins = read_origins(request.origins_file, series.start(), series.end(), step)?;

    let mut forecasts: Vec<OriginForecast> = Vec::with_capacity(origins.len());
    for (line, origin) in &origins {
        let forecast = forecast_from(
            &dataset.samples,
            step,
            &spec,
            *origin,
            train_window,
            horizon,
        )
        .map_err(|e| {
            BacktestError::Input(format!(
                "{}:{line}: cannot forecast from {}: {e}",
                request.origins_file.display(),
                format_timestamp(*origin)
            ))
        })?;
        forecasts.push(forecast);
    }
    write(request.out, &forecasts)?;
    Ok(Written {
        origins: forecasts.len(),
        rows: forecasts.iter().map(|f| f.yhat.len()).sum(),
        horizon_steps: horizon,
        seasons,
        fit_predict_seconds: forecasts.iter().map(|f| f.seconds).sum::<f64>()
            / forecasts.len().max(1) as f64,
    })
}

/// The origins of `path` with their line numbers, checked against the grid `start + k·step`
/// (`start < origin ≤ end`).
pub fn read_origins(
    path: &Path,
    start: Timestamp,
    end: Timestamp,
    step: i64,
) -> Result<Vec<(usize, Timestamp)>, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|source| BacktestError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path.display();
    let mut origins = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = parse_timestamp(line)
            .map_err(|e| BacktestError::Input(format!("{name}:{number}: {e}")))?;
        if origin <= start || origin > end {
            return Err(BacktestError::Input(format!(
                "{name}:{number}: origin {} is outside the data: origins must lie after the \
                 first step ({}) and no later than just after the last one ({})",
                format_timestamp(origin),
                format_timestamp(start),
                format_timestamp(end)
            )));
        }
        if (origin - start) % step != 0 {
            return Err(BacktestError::Input(format!(
                "{name}:{number}: origin {} is not on the dataset's grid ({} + k × {step} s)",
                format_timestamp(origin),
                format_timestamp(start)
            )));
        }
        origins.push((number, origin));
    }
    if origins.is_empty() {
        return Err(BacktestError::Input(format!(
            "{name}: no origin in this file"
        )));
    }
    Ok(origins)
}

/// Writes the forecast file.
pub fn write(path: &Path, forecasts: &[OriginForecast]) -> Result<(), BacktestError> {
    let io = |source| BacktestError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(out, "origin,timestamp,yhat,lo80,hi80,lo95,hi95").map_err(io)?;
    for f in forecasts {
        let origin = format_timestamp(f.origin);
        for i in 0..f.yhat.len() {
            writeln!(
                out,
                "{origin},{},{},{},{},{},{}",
                format_timestamp(f.origin + i as i64 * f.step),
                f.yhat[i],
                f.lo80[i],
                f.hi80[i],
                f.lo95[i],
                f.hi95[i]
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn origins_are_checked_and_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = file(
            dir.path(),
            "ok.txt",
            "# origins\n120\n\n1970-01-01T00:03:00Z\n",
        );
        assert_eq!(
            read_origins(&ok, 0, 600, 60).unwrap(),
            vec![(2, 120), (4, 180)]
        );
        let cases = [
            ("60\n0\n", ":2:", "outside the data"),
            ("660\n", ":1:", "outside the data"),
            ("90\n", ":1:", "not on the dataset's grid"),
            ("soon\n", ":1:", "invalid timestamp"),
            ("\n# nothing\n", "", "no origin"),
        ];
        for (text, line, what) in cases {
            let path = file(dir.path(), "bad.txt", text);
            let err = read_origins(&path, 0, 600, 60).unwrap_err().to_string();
            assert!(err.contains(line) && err.contains(what), "{text:?}: {err}");
        }
    }

    #[test]
    fn writes_one_row_per_step_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        // Ten days of a 1-day cycle at 1 hour.
        let mut csv = String::from("timestamp,value\n");
        for i in 0..240 {
            csv.push_str(&format!("{},{}\n", i * 3600, 10 + i % 24));
        }
        let dataset = file(dir.path(), "d.csv", &csv);
        let origins = file(
            dir.path(),
            "o.txt",
            "1970-01-09T00:00:00Z\n691200\n864000\n",
        );
        let out = dir.path().join("f.csv");
        let request = Request {
            dataset: &dataset,
            origins_file: &origins,
            horizon: "3h".parse().unwrap(),
            model: "seasonal-naive",
            seasons: vec!["1d".parse().unwrap(), "7d".parse().unwrap()],
            train_window: Some("7d".parse().unwrap()),
            out: &out,
        };
        let written = run(&request).unwrap();
        assert_eq!(
            (written.origins, written.rows, written.horizon_steps),
            (3, 9, 3)
        );
        // 7d does not fit twice in a 7-day window: only 1d is used.
        assert_eq!(written.seasons, vec!["1d".parse::<Span>().unwrap()]);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "origin,timestamp,yhat,lo80,hi80,lo95,hi95");
        assert_eq!(lines.len(), 10);
        assert!(lines[1].starts_with("1970-01-09T00:00:00Z,1970-01-09T00:00:00Z,10,"));
        assert!(lines[3].starts_with("1970-01-09T00:00:00Z,1970-01-09T02:00:00Z,12,"));
        // The last origin is just after the data: a forecast of the future.
        assert!(lines[9].starts_with("1970-01-11T00:00:00Z,1970-01-11T02:00:00Z,12,"));

        // An origin without history names its line, and no file is left behind.
        let early = file(dir.path(), "early.txt", "691200\n3600\n");
        let out2 = dir.path().join("g.csv");
        let err = run(&Request {
            origins_file: &early,
            out: &out2,
            ..request.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("early.txt:2:"), "{err}");
        assert!(!out2.exists());
    }
}
