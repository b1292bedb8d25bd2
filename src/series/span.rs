//! Human-readable durations (`30s`, `5m`, `1h`, `7d`, `2w`) as used in config files, CLI flags and
//! JSON: a whole, positive number of seconds, at most [`MAX_SPAN`] (ten years).
//!
//! The upper bound is what makes arithmetic on spans safe everywhere: every timestamp prescale
//! accepts lies within 1900–2300 (about ±1.1e10 s), so a timestamp plus or minus a few spans
//! stays far inside `i64`, and no lead time, window or horizon sent by a client can overflow a
//! sum deep in the monitor or the planner.
//!
//! One type serves every place a duration is written by a person (lead time, step, season, train
//! window), so that `5m` means the same thing in a flag, a TOML file and a `PUT` body.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SeriesError;

/// The longest span accepted anywhere: 3650 days (ten years).
pub const MAX_SPAN: Span = Span(3650 * 86_400);

/// A positive whole number of seconds, at most [`MAX_SPAN`], written and read as `90s`, `5m`,
/// `1h`, `7d`, `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

const UNITS: [(char, i64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl Span {
    /// A span of `seconds` known at compile time (the defaults): a non-positive value fails the
    /// build, not the service.
    pub const fn of_seconds(seconds: i64) -> Span {
        assert!(
            seconds > 0 && seconds <= MAX_SPAN.0,
            "a span must be positive and at most ten years"
        );
        Span(seconds)
    }

    /// The span in the largest exact unit up to days (`86400` → `1d`, `1209600` → `14d`: days
    /// read better than weeks in reports and messages).
    pub fn days_text(self) -> String {
        span_text(self.0)
    }

    /// A span of `seconds`; errors when it is not positive or longer than [`MAX_SPAN`].
    pub fn from_seconds(seconds: i64) -> Result<Span, SeriesError> {
        if seconds <= 0 {
            return Err(SeriesError::Duration(format!(
                "{seconds}s: a duration must be positive"
            )));
        }
        if seconds > MAX_SPAN.0 {
            return Err(SeriesError::Duration(format!(
                "{seconds}s: a duration must be at most {MAX_SPAN} (3650 days)"
            )));
        }
        Ok(Span(seconds))
    }

    /// The span in seconds (always > 0).
    pub const fn seconds(self) -> i64 {
        self.0
    }

    /// How many whole steps of `step_seconds` this span covers, rounded up (at least 1).
    pub fn steps_ceil(self, step_seconds: i64) -> usize {
        debug_assert!(step_seconds > 0);
        ((self.0 + step_seconds - 1) / step_seconds).max(1) as usize
    }

    /// How many whole steps of `step_seconds` fit in this span, rounded down (may be 0).
    pub fn steps_floor(self, step_seconds: i64) -> usize {
        debug_assert!(step_seconds > 0);
        (self.0 / step_seconds) as usize
    }
}

/// A number of seconds as [`Span::days_text`] writes it; not positive: `{seconds}s`.
pub fn span_text(seconds: i64) -> String {
    if seconds > 0 && seconds % 86_400 == 0 {
        return format!("{}d", seconds / 86_400);
    }
    Span::from_seconds(seconds).map_or_else(|_| format!("{seconds}s"), |s| s.to_string())
}

impl FromStr for Span {
    type Err = SeriesError;

    /// Parses `<integer><unit>` with unit `s`, `m`, `h`, `d` or `w`; a bare integer means seconds.
    fn from_str(text: &str) -> Result<Span, SeriesError> {
        let text = text.trim();
        let quoted = super::clip(text);
        let bad = || {
            SeriesError::Duration(format!(
                "{quoted:?} is not a duration: use e.g. 30s, 5m, 1h, 7d, 2w"
            ))
        };
        let (digits, unit) = match text.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
            Some(_) => (text, 's'),
            None => return Err(bad()),
        };
        let multiplier = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let too_long = || {
            SeriesError::Duration(format!(
                "{quoted:?} is longer than the longest duration accepted, {MAX_SPAN} (3650 days)"
            ))
        };
        let n: i64 = digits.parse().map_err(|_| too_long())?;
        let seconds = n.checked_mul(multiplier).ok_or_else(too_long)?;
        if seconds > MAX_SPAN.0 {
            return Err(too_long());
        }
        Span::from_seconds(seconds)
    }
}

impl fmt::Display for Span {
    /// Writes the largest unit that divides the span exactly: `300` → `5m`, `90` → `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, multiplier) in UNITS {
            if self.0 % multiplier == 0 {
                return write!(f, "{}{unit}", self.0 / multiplier);
            }
        }
        unreachable!("every span is a whole number of seconds")
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    /// Accepts a string (`"5m"`) or a number of seconds (`300`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Span, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Seconds(i64),
        }
        let parsed = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.parse(),
            Raw::Seconds(seconds) => Span::from_seconds(seconds),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of spans, e.g. `1d,7d`.
pub fn parse_span_list(text: &str) -> Result<Vec<Span>, SeriesError> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// `text` parsed as a span, for tests (panics on a bad literal).
#[cfg(test)]
pub(crate) fn test_span(text: &str) -> Span {
    text.parse().expect("a valid span literal")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!("30s".parse::<Span>().unwrap().seconds(), 30);
        assert_eq!("5m".parse::<Span>().unwrap().seconds(), 300);
        assert_eq!("1h".parse::<Span>().unwrap().seconds(), 3600);
        assert_eq!("7d".parse::<Span>().unwrap().seconds(), 604_800);
        assert_eq!("2w".parse::<Span>().unwrap().seconds(), 1_209_600);
        assert_eq!("45".parse::<Span>().unwrap().seconds(), 45);
    }

    #[test]
    fn rejects_nonsense() {
        for text in [
            "",
            "m",
            "5x",
            "-5m",
            "0s",
            "1.5h",
            "5 m",
            "99999999999999999999w",
        ] {
            assert!(text.parse::<Span>().is_err(), "{text:?} should not parse");
        }
    }

    #[test]
    fn spans_are_bounded_at_ten_years() {
        assert_eq!("3650d".parse::<Span>().unwrap(), MAX_SPAN);
        assert_eq!(Span::from_seconds(MAX_SPAN.seconds()).unwrap(), MAX_SPAN);
        for text in [
            "3651d",
            "9223372036854775807s",
            "99999999999999999999s",
            "522w",
        ] {
            let error = text.parse::<Span>().unwrap_err().to_string();
            assert!(error.contains("longest duration"), "{text}: {error}");
        }
        assert!(Span::from_seconds(MAX_SPAN.seconds() + 1).is_err());
        assert!(serde_json::from_str::<Span>("9223372036854775807").is_err());
        assert!(serde_json::from_str::<Span>("\"9223372036854775807s\"").is_err());
    }

    #[test]
    fn too_large_is_not_garbage() {
        for text in [
            "99999999999999999999d",
            "9223372036854775807d",
            "9223372036854775807w",
        ] {
            let error = text.parse::<Span>().unwrap_err().to_string();
            assert!(error.contains("longer than the longest"), "{text}: {error}");
            assert!(
                error.contains("3650d") && !error.contains("not a duration"),
                "{error}"
            );
        }
        for text in ["5x", "d", "1.5h", "abc"] {
            let error = text.parse::<Span>().unwrap_err().to_string();
            assert!(error.contains("is not a duration"), "{text}: {error}");
        }
    }

    #[test]
    fn errors_quote_at_most_200_bytes_of_the_text() {
        for text in ["x".repeat(10_000), "9".repeat(10_000) + "d"] {
            let error = text.parse::<Span>().unwrap_err().to_string();
            assert!(error.len() < 400, "{} bytes", error.len());
        }
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(Span::from_seconds(300).unwrap().to_string(), "5m");
        assert_eq!(Span::from_seconds(90).unwrap().to_string(), "90s");
        assert_eq!(Span::from_seconds(86_400).unwrap().to_string(), "1d");
        assert_eq!(Span::from_seconds(604_800).unwrap().to_string(), "1w");
    }

    #[test]
    fn serde_round_trip_and_numbers() {
        let span: Span = serde_json::from_str("\"3m\"").unwrap();
        assert_eq!(span.seconds(), 180);
        let span: Span = serde_json::from_str("120").unwrap();
        assert_eq!(serde_json::to_string(&span).unwrap(), "\"2m\"");
        assert!(serde_json::from_str::<Span>("\"soon\"").is_err());
    }

    #[test]
    fn step_counts() {
        let span: Span = "5m".parse().unwrap();
        assert_eq!(span.steps_ceil(60), 5);
        assert_eq!(span.steps_ceil(120), 3);
        assert_eq!(span.steps_floor(120), 2);
        assert_eq!(span.steps_ceil(3600), 1);
    }

    #[test]
    fn lists() {
        let spans = parse_span_list("1d,7d").unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].seconds(), 604_800);
    }
}
