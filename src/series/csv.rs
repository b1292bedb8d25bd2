//! The dataset CSV format: header `timestamp,value`, one row per step, RFC 3339 UTC timestamps
//! (unix seconds accepted on input). Gaps (missing rows) are allowed; duplicate timestamps and
//! non-finite values are errors that name the line.
//!
//! Errors name the file and the line (`datasets/x.csv:17: ...`) so a user can fix the input
//! without guessing; nothing here panics on bad input.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use super::{Sample, Series, Timestamp, format_timestamp, infer_step, parse_timestamp};

/// A problem with a dataset CSV, naming the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// A dataset read from CSV: the samples as written (sorted) and the same data on its grid.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub samples: Vec<Sample>,
    pub series: Series,
}

impl Dataset {
    /// The step of the grid in seconds.
    pub fn step(&self) -> i64 {
        self.series.step()
    }
}

/// Reads and validates a dataset file, then puts it on its grid (step = most common difference).
pub fn read_dataset(path: &Path) -> Result<Dataset, CsvError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CsvError::Io {
        path: name.clone(),
        source,
    })?;
    let samples = read_samples(BufReader::new(file), &name)?;
    dataset_from_samples(samples, &name)
}

/// Builds a [`Dataset`] from validated samples; `name` is used in error messages.
pub fn dataset_from_samples(samples: Vec<Sample>, name: &str) -> Result<Dataset, CsvError> {
    if samples.len() < 2 {
        return Err(CsvError::File {
            path: name.to_string(),
            message: format!(
                "{} data row(s): at least two are needed to know the step",
                samples.len()
            ),
        });
    }
    // Two distinct timestamps always have a step, unless they lie so far apart that their
    // difference does not fit in 64 bits.
    let step = infer_step(&samples).ok_or_else(|| CsvError::File {
        path: name.to_string(),
        message: "the timestamps lie too far apart to infer a step".to_string(),
    })?;
    let series = Series::from_samples(&samples, step).map_err(|e| CsvError::File {
        path: name.to_string(),
        message: e.to_string(),
    })?;
    Ok(Dataset { samples, series })
}

/// Reads `timestamp,value` rows from `reader`; `name` is used in error messages. Rows may come in
/// any order; they are returned sorted by timestamp.
pub fn read_samples(reader: impl BufRead, name: &str) -> Result<Vec<Sample>, CsvError> {
    let line_error = |line: usize, message: String| CsvError::Line {
        path: name.to_string(),
        line,
        message,
    };
    let mut samples: Vec<(Sample, usize)> = Vec::new();
    let mut seen_header = false;
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|source| CsvError::Io {
            path: name.to_string(),
            source,
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let (first, second) = (fields.next().unwrap_or(""), fields.next());
        if !seen_header {
            let header_ok =
                first.trim_start_matches('\u{feff}') == "timestamp" && second == Some("value");
            if !header_ok {
                return Err(line_error(
                    number,
                    format!("expected the header `timestamp,value`, found `{line}`"),
                ));
            }
            seen_header = true;
            continue;
        }
        let Some(value_text) = second else {
            return Err(line_error(
                number,
                format!("expected `timestamp,value`, found `{line}`"),
            ));
        };
        let timestamp = parse_timestamp(first).map_err(|e| line_error(number, e.to_string()))?;
        let value: f64 = value_text
            .parse()
            .map_err(|_| line_error(number, format!("value `{value_text}` is not a number")))?;
        let sample =
            Sample::new(timestamp, value).map_err(|e| line_error(number, e.to_string()))?;
        samples.push((sample, number));
    }
    if !seen_header {
        return Err(CsvError::File {
            path: name.to_string(),
            message: "empty file: expected the header `timestamp,value`".to_string(),
        });
    }
    samples.sort_by_key(|(sample, _)| sample.timestamp);
    let mut first_line: HashMap<Timestamp, usize> = HashMap::new();
    for pair in samples.windows(2) {
        let ((a, line_a), (b, line_b)) = (pair[0], pair[1]);
        if a.timestamp == b.timestamp {
            let (earlier, later) = (line_a.min(line_b), line_a.max(line_b));
            first_line.entry(a.timestamp).or_insert(earlier);
            return Err(line_error(
                later,
                format!(
                    "duplicate timestamp {} (first on line {})",
                    format_timestamp(a.timestamp),
                    first_line[&a.timestamp]
                ),
            ));
        }
    }
    Ok(samples.into_iter().map(|(sample, _)| sample).collect())
}

/// Writes samples in the dataset format.
pub fn write_samples(mut out: impl Write, samples: &[Sample]) -> std::io::Result<()> {
    writeln!(out, "timestamp,value")?;
    for sample in samples {
        writeln!(
            out,
            "{},{}",
            format_timestamp(sample.timestamp),
            sample.value
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Sample>, CsvError> {
        read_samples(text.as_bytes(), "test.csv")
    }

    #[test]
    fn reads_rfc3339_and_unix_seconds() {
        let samples = read("timestamp,value\n2026-01-05T10:00:00Z,1.5\n1767607260,2\n\n").unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[1].timestamp - samples[0].timestamp, 60);
        assert_eq!(samples[1].value, 2.0);
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("timestamp,value\n2026-01-05T10:00:00Z,1\nnot-a-time,2\n").unwrap_err();
        assert!(err.to_string().starts_with("test.csv:3:"), "{err}");
        let err = read("timestamp,value\n2026-01-05T10:00:00Z,abc\n").unwrap_err();
        assert!(err.to_string().contains("test.csv:2:"), "{err}");
        let err = read("timestamp,value\n2026-01-05T10:00:00Z,NaN\n").unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
        let err = read("timestamp,value\n2026-01-05T10:00:00Z\n").unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
        let err = read("time,val\n").unwrap_err();
        assert!(err.to_string().contains(":1:"), "{err}");
        let err = read("").unwrap_err();
        assert!(err.to_string().contains("empty file"), "{err}");
    }

    #[test]
    fn duplicates_name_both_lines() {
        let err = read("timestamp,value\n1000,1\n1060,2\n1000,3\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(":4:") && text.contains("first on line 2"),
            "{text}"
        );
    }

    #[test]
    fn round_trip_through_writer() {
        let samples = vec![
            Sample::new(1000, 1.0).unwrap(),
            Sample::new(1060, 2.5).unwrap(),
        ];
        let mut out = Vec::new();
        write_samples(&mut out, &samples).unwrap();
        let back = read(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back, samples);
    }

    #[test]
    fn dataset_infers_step_and_keeps_gaps() {
        let samples = read("timestamp,value\n0,1\n60,2\n180,3\n240,4\n").unwrap();
        let dataset = dataset_from_samples(samples, "x").unwrap();
        assert_eq!(dataset.step(), 60);
        assert_eq!(dataset.series.len(), 5);
        assert!(dataset.series.values()[2].is_nan());
        assert!(dataset_from_samples(vec![], "x").is_err());
    }
}
