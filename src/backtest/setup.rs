//! The rolling-origin frame shared with the evaluation yardstick (`eval/peers.py`): the horizon
//! and train window in steps, the seasons that can be used, and where the origins fall.
//!
//! Every rule here is peers.py's, line for line, so that prescale's numbers and the peers' are
//! computed on the same origins with the same windows:
//! - `h = max(1, horizon // step)`, `win = train_window // step`;
//! - a season is kept when it is at least 2 steps long and fits twice in the window;
//! - origins are `np.unique(np.linspace(lo, n - h, K).astype(int))` with
//!   `lo = max(win, n // 2)`.

use crate::forecast::ForecastError;
use crate::forecast::window::{DEFAULT_TRAIN_WINDOW, usable_seasons};
use crate::series::{Span, span_text};

use super::BacktestError;

/// Grid parameters of one backtest (all in steps of the dataset's grid).
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Grid step in seconds.
    pub step: i64,
    /// Grid points (gaps included).
    pub points: usize,
    /// Forecast horizon in steps.
    pub horizon_steps: usize,
    /// Train window in steps (`win`).
    pub train_window_steps: usize,
    /// The train window as a span (`win * step` seconds).
    pub train_window: Span,
    /// The seasons kept, as given (what the models are configured with).
    pub seasons: Vec<Span>,
    /// The seasons kept, in steps (the shortest scales MASE).
    pub seasons_steps: Vec<usize>,
    /// The first origin, `lo = max(win, n // 2)`: also where the scaling simulation starts.
    pub first_origin: usize,
    /// Adjustments made to the defaults, for the report.
    pub notes: Vec<String>,
}

impl Setup {
    /// The frame for a grid of `points` steps of `step` seconds.
    ///
    /// `train_window = None` means the default of 14 days, shortened for a trace of less than
    /// 28 days to the whole days in half the trace (or half the trace, if that is under a
    /// day), so that the backtest always covers the trace's second half: a two-week trace
    /// backtests on its second week. A train window given explicitly is never changed: a trace
    /// too short for it is an error.
    pub fn new(
        points: usize,
        step: i64,
        horizon: Span,
        train_window: Option<Span>,
        seasons: &[Span],
    ) -> Result<Setup, BacktestError> {
        let n = points;
        let horizon_steps = ((horizon.seconds() / step) as usize).max(1);
        let describe_trace = || format!("{n} steps of {}", span_text(step));
        let requested = train_window.unwrap_or(DEFAULT_TRAIN_WINDOW).seconds();
        let mut win = (requested / step) as usize;
        let mut notes = Vec::new();
        if win == 0 {
            return Err(BacktestError::Input(format!(
                "the train window {} is shorter than one step ({})",
                span_text(requested),
                span_text(step)
            )));
        }
        if train_window.is_some() && win.max(n / 2) + horizon_steps > n {
            return Err(BacktestError::TooShort(format!(
                "the trace ({}) is too short for a train window of {} and a horizon of {} \
                 steps: it needs more than {} steps; give a shorter --train-window",
                describe_trace(),
                span_text(requested),
                horizon_steps,
                win + horizon_steps
            )));
        }
        if train_window.is_none() && win > n / 2 {
            // The default window would leave less than half the trace to evaluate on.
            let half = n / 2;
            let day = (86_400 / step).max(1) as usize;
            win = if half >= day { half / day * day } else { half };
            notes.push(format!(
                "the trace is shorter than twice the default train window of {}: using {} \
                 (half the trace, in whole days when it holds one)",
                span_text(requested),
                span_text(win as i64 * step)
            ));
        }
        if win == 0 || win.max(n / 2) + horizon_steps > n {
            return Err(BacktestError::TooShort(format!(
                "the trace ({}) is too short for a horizon of {horizon_steps} steps",
                describe_trace()
            )));
        }
        let usable = usable_seasons(seasons, step, win)
            .map_err(|e| too_short_for_seasons(e, &describe_trace()))?;
        notes.extend(usable.dropped_note(&format!(
            "the train window of {}",
            span_text(win as i64 * step)
        )));
        let train_window = Span::from_seconds(win as i64 * step)
            .map_err(|e| BacktestError::Input(e.to_string()))?;
        Ok(Setup {
            step,
            points: n,
            horizon_steps,
            train_window_steps: win,
            train_window,
            seasons: usable.kept,
            seasons_steps: usable.kept_steps,
            first_origin: win.max(n / 2),
            notes,
        })
    }

    /// The shortest season in steps (the MASE scale's lag).
    pub fn shortest_season(&self) -> usize {
        self.seasons_steps.iter().copied().min().unwrap_or(1)
    }

    /// The `k` rolling origins (grid indices), exactly as peers.py places them.
    pub fn origins(&self, k: usize) -> Vec<usize> {
        origin_indices(self.first_origin, self.points - self.horizon_steps, k)
    }
}

/// A window that holds no usable season, said of the trace (`trace` describes it).
pub(crate) fn too_short_for_seasons(error: ForecastError, trace: &str) -> BacktestError {
    BacktestError::TooShort(format!(
        "{error}; the trace ({trace}) is too short for them, or the seasons are too short for \
         its step"
    ))
}

/// `np.unique(np.linspace(lo, hi, k).astype(int))`, reproducing numpy's arithmetic: the
/// points are `start + i * ((hi - lo) / (k - 1))` in double precision (two roundings: the
/// product, then the sum), the last one is set to `hi` exactly, and each is truncated towards
/// zero; then sorted and de-duplicated.
pub fn origin_indices(lo: usize, hi: usize, k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    let (start, stop) = (lo as f64, hi as f64);
    let mut out: Vec<usize> = if k == 1 {
        vec![lo]
    } else {
        let div = (k - 1) as f64;
        let delta = stop - start;
        let step = delta / div;
        (0..k)
            .map(|i| {
                let y = if i == k - 1 {
                    stop
                } else if step == 0.0 {
                    (i as f64 / div) * delta + start
                } else {
                    i as f64 * step + start
                };
                y as usize
            })
            .collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::series::test_span as span;

    #[test]
    fn origins_match_numpy() {
        // Values printed by numpy 2.4:
        // np.unique(np.linspace(5160, 10318, 50).astype(int)) — nyc-taxi at 30 min, h = 2.
        let got = origin_indices(5160, 10318, 50);
        assert_eq!(got.len(), 50);
        assert_eq!(&got[..5], &[5160, 5265, 5370, 5475, 5581]);
        assert_eq!(got[49], 10318);
        // Duplicates collapse: np.unique(np.linspace(10, 13, 7).astype(int)) = [10, 11, 12, 13].
        assert_eq!(origin_indices(10, 13, 7), vec![10, 11, 12, 13]);
        // One origin is `lo`; lo == hi gives one origin.
        assert_eq!(origin_indices(7, 20, 1), vec![7]);
        assert_eq!(origin_indices(9, 9, 5), vec![9]);
        assert!(origin_indices(0, 10, 0).is_empty());
        // Cases where the textbook `lo + i * (hi - lo) / (k - 1)` truncates differently from
        // numpy's `i * step + lo`: (lo, hi, k, numpy's sum, numpy's count).
        for (lo, hi, k, sum, count) in [
            (1851, 66972, 162, 5_574_584, 162),
            (6816, 33906, 51, 1_038_390, 51),
            (16997, 61797, 171, 6_736_806, 171),
            (4907, 98357, 181, 9_345_314, 181),
        ] {
            let got = origin_indices(lo, hi, k);
            assert_eq!((got.iter().sum::<usize>(), got.len()), (sum, count));
        }
    }

    #[test]
    fn frame_follows_peers() {
        // nyc-taxi: 10,320 points at 30 min; horizon 1h = 2 steps; 14d = 672 steps.
        let s = Setup::new(10_320, 1800, span("1h"), None, &[span("1d"), span("7d")]).unwrap();
        assert_eq!(
            (s.horizon_steps, s.train_window_steps, s.first_origin),
            (2, 672, 5160)
        );
        assert_eq!(s.seasons_steps, vec![48, 336]);
        assert!(s.notes.is_empty());
        // A horizon under one step is one step.
        let s = Setup::new(10_320, 1800, span("5m"), None, &[span("1d")]).unwrap();
        assert_eq!(s.horizon_steps, 1);
    }

    #[test]
    fn short_traces_shrink_the_default_window_only() {
        // 14 days at 5 min = 4032 points: 14d does not fit, 7d does (whole days in half).
        let s = Setup::new(4032, 300, span("30m"), None, &[span("1d"), span("7d")]).unwrap();
        assert_eq!(s.train_window_steps, 2016);
        assert_eq!(s.seasons_steps, vec![288]);
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
        // Also when 14d would just fit but leave almost nothing to evaluate on (8 gaps make
        // aws-elb 4040 steps long).
        let s = Setup::new(4040, 300, span("30m"), None, &[span("1d")]).unwrap();
        assert_eq!((s.train_window_steps, s.first_origin), (2016, 2020));
        let err = Setup::new(
            4032,
            300,
            span("30m"),
            Some(span("14d")),
            &[span("1d"), span("7d")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("--train-window"), "{err}");
    }

    #[test]
    fn too_short_for_any_season_is_a_clear_error() {
        // 1.5 days at 5 min: half is 18 h, and 1d does not fit twice in it.
        let err = Setup::new(432, 300, span("30m"), None, &[span("1d")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no season of 1d fits twice"), "{text}");
        // Shorter than the horizon.
        let err = Setup::new(3, 300, span("1h"), None, &[span("1d")]).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        // Seasons shorter than 2 steps are dropped like peers.py does.
        let err = Setup::new(10_000, 3600, span("1h"), None, &[span("1h")]).unwrap_err();
        assert!(err.to_string().contains("at least 2 steps"), "{err}");
    }
}
