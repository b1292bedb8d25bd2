//! The training window: what a fit at `now` is trained on, which seasons such a window can
//! hold, and the one default window length.
//!
//! The service's live cycle, the backtest and `prescale train` all build training series here,
//! so a model trained offline or replayed in a backtest saw exactly what the service would have
//! fitted on at that moment.

use crate::series::{Sample, Series, Span, Timestamp, infer_step, span_text};

use super::ForecastError;

/// The history a fit sees unless told otherwise: two weeks (two weekly seasons).
pub const DEFAULT_TRAIN_WINDOW: Span = Span::of_seconds(14 * 86_400);

/// The most steps a training window may hold: 200,000 (the default 14 days at a step of 7 s or
/// more). A fit's memory and time grow with the grid (a 1.2 M-step grid, 14 days at 1 s, took
/// about 200 MB), so on a finer step a fit sees only the newest 200,000 steps of the window
/// (2.3 days at 1 s), whatever the samples' spacing: a few samples with a 1 s gap among them
/// can never make a grid of millions of steps.
pub const MAX_TRAIN_STEPS: usize = 200_000;

/// The series a fit at `now` is trained on: the samples in `now - train_window ..= now`, put on
/// their grid (step = their most common difference, phase = the first sample's), so leading
/// and trailing gaps are trimmed away. `samples` must be sorted; those outside the window are
/// ignored. On a step so fine that the window would hold more than [`MAX_TRAIN_STEPS`] steps,
/// only the newest `MAX_TRAIN_STEPS` steps are kept; fewer than two samples there is an error
/// that says so.
pub fn training_series(
    samples: &[Sample],
    now: Timestamp,
    train_window: Span,
) -> Result<Series, ForecastError> {
    let from = now - train_window.seconds();
    let begin = samples.partition_point(|s| s.timestamp < from);
    let end = samples.partition_point(|s| s.timestamp <= now);
    let mut window = &samples[begin..end.max(begin)];
    if window.len() < 2
        && let Some(why) = outside_window(samples, begin, end, now, train_window)
    {
        return Err(ForecastError::OutsideWindow(why));
    }
    let step = infer_step(window).ok_or(ForecastError::TooShort {
        needed: 2,
        have: window.len(),
    })?;
    let longest = step.saturating_mul(MAX_TRAIN_STEPS as i64);
    if train_window.seconds() > longest {
        // From `now - longest + step`: at most MAX_TRAIN_STEPS steps up to `now`.
        let from = now - longest + step;
        window = &window[window.partition_point(|s| s.timestamp < from)..];
        if window.len() < 2 {
            return Err(ForecastError::Grid(format!(
                "the samples' most common spacing is {step}s, so a fit sees at most the newest \
                 {MAX_TRAIN_STEPS} steps ({}), and they hold {} sample(s): send samples at a \
                 regular interval",
                span_text(longest),
                window.len()
            )));
        }
    }
    Series::from_samples_within(window, step, MAX_TRAIN_STEPS)
        .map_err(|e| ForecastError::Grid(e.to_string()))
}

/// Why a window holding fewer than two samples is empty when the series is not: its samples
/// are older than the window (`begin` of them), or later than `now`.
fn outside_window(
    samples: &[Sample],
    begin: usize,
    end: usize,
    now: Timestamp,
    train_window: Span,
) -> Option<String> {
    if begin > 0 {
        return Some(too_old(samples[begin - 1].timestamp, now, train_window));
    }
    (end < samples.len() && end == begin).then(|| {
        format!(
            "every sample is later than now ({}): the first is at {}",
            crate::series::format_timestamp(now),
            crate::series::format_timestamp(samples[end].timestamp)
        )
    })
}

/// Why a series whose newest sample is at `newest`, before the window ending at `now`, cannot
/// be fitted.
pub fn too_old(newest: Timestamp, now: Timestamp, train_window: Span) -> String {
    format!(
        "the newest sample is {} old (at {}) and the training window is {}: a fit sees only the \
         samples of the last {}; push recent samples (or `prescale import --shift-to-now` a \
         recorded trace)",
        age_text(now.saturating_sub(newest)),
        crate::series::format_timestamp(newest),
        train_window,
        train_window
    )
}

/// An age in the largest whole unit that reads well: `3987 days`, `5 hours`, `12 minutes`.
fn age_text(seconds: i64) -> String {
    match seconds {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3_600 => format!("{} hours", s / 3_600),
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

/// The seasons a window of `window_steps` steps of `step` seconds can be fitted with.
#[derive(Debug, Clone, PartialEq)]
pub struct UsableSeasons {
    /// The seasons kept, as given.
    pub kept: Vec<Span>,
    /// The seasons kept, in steps.
    pub kept_steps: Vec<usize>,
    /// The seasons asked for and not kept.
    pub dropped: Vec<Span>,
}

impl UsableSeasons {
    /// A note for a report when seasons were dropped (`window` names the window, e.g. "the
    /// train window of 7d"); `None` when every season was kept.
    pub fn dropped_note(&self, window: &str) -> Option<String> {
        if self.dropped.is_empty() {
            return None;
        }
        let names: Vec<String> = self.dropped.iter().map(|s| s.days_text()).collect();
        Some(format!(
            "season(s) {} dropped: they do not fit twice in {window} or are shorter than 2 steps",
            names.join(",")
        ))
    }
}

/// The seasons kept for a window of `window_steps` (the evaluation yardstick's rule): at least
/// 2 steps long, fitting twice in the window, each step count once. None kept is an error
/// naming the seasons and the window.
pub fn usable_seasons(
    seasons: &[Span],
    step: i64,
    window_steps: usize,
) -> Result<UsableSeasons, ForecastError> {
    let mut usable = UsableSeasons {
        kept: Vec::new(),
        kept_steps: Vec::new(),
        dropped: Vec::new(),
    };
    for season in seasons {
        let s = (season.seconds() / step) as usize;
        if usable.kept_steps.contains(&s) {
            continue; // the same season again
        }
        if s >= 2 && 2 * s <= window_steps {
            usable.kept.push(*season);
            usable.kept_steps.push(s);
        } else {
            usable.dropped.push(*season);
        }
    }
    if usable.kept.is_empty() {
        let names: Vec<String> = seasons.iter().map(|s| s.days_text()).collect();
        return Err(ForecastError::NoSeason(format!(
            "no season of {} fits twice in the train window of {} ({window_steps} steps) while \
             being at least 2 steps long",
            names.join(","),
            span_text(window_steps as i64 * step),
        )));
    }
    Ok(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_outside_the_window_say_how_old_they_are() {
        let day = 86_400;
        let old: Vec<Sample> = (0..100)
            .map(|i| Sample {
                timestamp: i * 60,
                value: 1.0,
            })
            .collect();
        let now = 3987 * day;
        let error = training_series(&old, now, Span::of_seconds(14 * day)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("3986 days old") && text.contains("training window is 2w"),
            "{text}"
        );
        let error = training_series(&old, -day, Span::of_seconds(14 * day)).unwrap_err();
        assert!(error.to_string().contains("later than now"), "{error}");
    }

    fn span(s: i64) -> Span {
        Span::from_seconds(s).unwrap()
    }

    #[test]
    fn training_window_is_inclusive_and_trimmed() {
        let samples: Vec<Sample> = [0, 60, 120, 180, 300]
            .iter()
            .map(|&t| Sample::new(t, t as f64).unwrap())
            .collect();
        let series = training_series(&samples, 240, span(180)).unwrap();
        assert_eq!(series.start(), 60);
        assert_eq!(series.values(), &[60.0, 120.0, 180.0]);
        assert_eq!(
            training_series(&samples, 30, span(60)).unwrap_err(),
            ForecastError::TooShort { needed: 2, have: 1 }
        );
    }

    #[test]
    fn a_grid_is_bounded_whatever_the_spacing() {
        // Three samples over 14 days, two of them 1 s apart: the most common spacing is 1 s,
        // and the whole window would be 1.2 M steps. Only the newest 200,000 s are looked at,
        // and they hold one sample.
        let now = 14 * 86_400;
        let sparse = [
            Sample::new(1, 1.0).unwrap(),
            Sample::new(2, 1.0).unwrap(),
            Sample::new(now, 1.0).unwrap(),
        ];
        let error = training_series(&sparse, now, span(14 * 86_400)).unwrap_err();
        assert!(matches!(error, ForecastError::Grid(_)), "{error}");
        assert!(error.to_string().contains("newest 200000 steps"), "{error}");
        // A long series at 1 s: the newest 200,000 steps are fitted.
        let dense: Vec<Sample> = (0..300_000).map(|t| Sample::new(t, 1.0).unwrap()).collect();
        let series = training_series(&dense, 299_999, span(14 * 86_400)).unwrap();
        assert_eq!(series.len(), MAX_TRAIN_STEPS);
        assert_eq!(series.start(), 100_000);
        // Coarser than 6 s, the whole window is used.
        let coarse: Vec<Sample> = (0..200_000)
            .map(|i| Sample::new(i * 7, 1.0).unwrap())
            .collect();
        let series = training_series(&coarse, 199_999 * 7, span(14 * 86_400)).unwrap();
        assert_eq!(series.len(), 14 * 86_400 / 7 + 1);
    }

    #[test]
    fn seasons_must_fit_twice_and_be_two_steps_long() {
        // 7 days at 5 minutes: 2016 steps; 1d = 288 fits, 7d does not, 5m is one step.
        let usable =
            usable_seasons(&[span(86_400), span(7 * 86_400), span(300)], 300, 2016).unwrap();
        assert_eq!(usable.kept, vec![span(86_400)]);
        assert_eq!(usable.kept_steps, vec![288]);
        assert_eq!(usable.dropped, vec![span(7 * 86_400), span(300)]);
        let note = usable.dropped_note("the train window of 7d").unwrap();
        assert!(note.starts_with("season(s) 7d,5m dropped"), "{note}");
        // The same season twice is kept once, and not reported as dropped.
        let usable = usable_seasons(&[span(86_400), span(86_400)], 300, 2016).unwrap();
        assert_eq!((usable.kept.len(), usable.dropped.len()), (1, 0));
        let err = usable_seasons(&[span(86_400)], 300, 400).unwrap_err();
        assert!(
            err.to_string().contains("no season of 1d fits twice"),
            "{err}"
        );
    }
}
