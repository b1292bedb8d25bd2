//! A level that jumps: a launch, a migration, a customer moved onto the service. The regression
//! is fitted robustly, so the hours after a jump are outliers to it (down-weighted, not
//! followed), and the residual correction is fitted on clipped residuals and decays: for half
//! a day after a 2.5× jump the forecast an hour ahead was a fifth too low. Where the latest
//! residuals have all lain far on one side for hours, the level they hold is added to the
//! regression from where that run began ([`Shift`]), and the correction fits what it leaves.
//!
//! A **run** is the latest stretch of residuals of which at least [`SHARE`] lie a robust
//! standard deviation or more on one side (the earliest such start, then moved to its first
//! residual on that side), holding at least [`MIN_RUN_SECONDS`] and [`MIN_RUN_STEPS`] steps
//! and starting within the later half of the history (beyond that the fit follows the new
//! level itself). It is a **jump** when the median of its latest [`LEVEL_SECONDS`] is at least
//! [`EVIDENCE`] robust standard deviations from zero, and so is that of its last
//! [`MIN_RUN_SECONDS`] (the run goes on now: a flash crowd that has passed is not a level),
//! and the two medians are within [`STABLE`] of each other (the run holds a level: a crowd of
//! hours rises and decays through it). The shift is the median of the run's latest
//! [`LEVEL_SECONDS`]. A busy day lies a standard deviation or two above the shape for hours
//! (the correction's to carry); a flash crowd lies far above it for minutes to an hour; a
//! holiday, a blizzard and an outage are runs too, on the low side, and followed once they
//! have lasted the minimum run (the forecast an hour ahead is then at their level, and back
//! at the shape's within two hours of their end).
//!
//! Every fit judges its own latest residuals (`auto`'s split fit for its holdout as well as the
//! final one); the day-ahead values `auto` calibrates its bands on carry no shift.

use serde::{Deserialize, Serialize};

use crate::forecast::history::History;
use crate::forecast::intervals;

/// Robust standard deviations the run's median must lie from zero: a launch that steps the
/// load up 2.5× lies 20 or more out; NASA's busiest day (a shuttle launch, its traffic doubled
/// for the day, decaying through the afternoon) lies 4.5 to 5.5 out, and following it as a new
/// level was worse than letting the correction carry it.
const EVIDENCE: f64 = 6.0;
/// The share of the run's residuals that lie a robust standard deviation or more on its side.
const SHARE: f64 = 0.9;
/// The shortest run that is a jump, in seconds...
const MIN_RUN_SECONDS: i64 = 2 * 3600;
/// ... and in observed steps: at 30-minute steps six hours (the taxi trace's holiday evenings,
/// New Year's Eve and a blizzard's morning are runs of three to four hours there, and following
/// them took its SLO mode over its budget).
const MIN_RUN_STEPS: usize = 12;
/// The shift is the median of the run's residuals over at most this many latest seconds.
const LEVEL_SECONDS: i64 = 6 * 3600;
/// The medians of the run's last [`MIN_RUN_SECONDS`] and of its last [`LEVEL_SECONDS`] are
/// within this ratio of each other: the run holds a level (a flash crowd of hours rises and
/// decays through it; a launch holds).
const STABLE: f64 = 0.8;

/// A jump in the level: `level` (transformed units) added to the regression from `from` on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// The timestamp of the run's first step.
    pub from: i64,
    /// What is added from `from` on, in the fit's transformed units.
    pub level: f64,
}

impl Shift {
    /// The shift at timestamp `t`.
    pub fn at(&self, t: i64) -> f64 {
        if t >= self.from { self.level } else { 0.0 }
    }

    pub(super) fn is_valid(&self) -> bool {
        self.level.is_finite()
    }

    /// The jump the latest residuals (per step of `history`, NaN at gaps; `scale` their robust
    /// scale, [`robust_scale`](super::robust::robust_scale)) show, with the index of its first step; `None` when they show
    /// none.
    pub(super) fn find(residuals: &[f64], scale: f64, history: &History) -> Option<(usize, Shift)> {
        // No spread (or none observed): nothing lies far out.
        if scale.is_nan() || scale <= 0.0 {
            return None;
        }
        let observed: Vec<usize> = (0..residuals.len())
            .filter(|&i| !residuals[i].is_nan())
            .collect();
        let last = *observed.last()?;
        let end = history.time(last);
        let earliest = observed.len() / 2;
        // The earliest start from which SHARE of the residuals lie on one side, per side.
        let (mut above, mut below) = (0usize, 0usize);
        let (mut start_above, mut start_below) = (None, None);
        for (count, &i) in observed[earliest..].iter().rev().enumerate() {
            let r = residuals[i] / scale;
            above += usize::from(r >= 1.0);
            below += usize::from(r <= -1.0);
            let n = (count + 1) as f64;
            if above as f64 >= SHARE * n {
                start_above = Some(count);
            }
            if below as f64 >= SHARE * n {
                start_below = Some(count);
            }
        }
        let (back, sign) = match (start_above, start_below) {
            (Some(a), Some(b)) if a >= b => (a, 1.0),
            (_, Some(b)) => (b, -1.0),
            (Some(a), None) => (a, 1.0),
            (None, None) => return None,
        };
        // A run back to the scan's limit may have begun before it: the fit's to follow.
        if back + 1 == observed.len() - earliest {
            return None;
        }
        let run = &observed[observed.len() - 1 - back..];
        // The run starts at its first residual on its side.
        let first = run
            .iter()
            .position(|&i| sign * residuals[i] / scale >= 1.0)?;
        let run = &run[first..];
        if run.len() < MIN_RUN_STEPS || end - history.time(run[0]) + history.step < MIN_RUN_SECONDS
        {
            return None;
        }
        let median_since = |seconds: i64| {
            let mut values: Vec<f64> = run
                .iter()
                .filter(|&&i| end - history.time(i) < seconds)
                .map(|&i| residuals[i])
                .collect();
            intervals::empirical_quantiles(&mut values, &[0.5])[0]
        };
        let level = median_since(LEVEL_SECONDS);
        let recent = median_since(MIN_RUN_SECONDS);
        let far = |m: f64| sign * m >= EVIDENCE * scale;
        // A level holds: a crowd rises or decays through the run.
        let holds = level.abs().min(recent.abs()) >= STABLE * level.abs().max(recent.abs());
        (far(level) && far(recent) && holds).then(|| {
            (
                run[0],
                Shift {
                    from: history.time(run[0]),
                    level,
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::robust::robust_scale;
    use super::*;
    use crate::forecast::test_support::Lcg;
    use crate::series::Series;

    /// Noise of robust scale about 1, `days` of 5-minute steps.
    fn noise(days: usize) -> Vec<f64> {
        let mut random = Lcg(22);
        (0..days * 288).map(|_| random.normal()).collect()
    }

    /// [`Shift::find`] on residuals of 5-minute steps.
    fn find(residuals: &[f64]) -> Option<(usize, Shift)> {
        let history = History::new(&Series::new(0, 300, residuals.to_vec()).unwrap()).unwrap();
        Shift::find(residuals, robust_scale(residuals), &history)
    }

    #[test]
    fn a_level_that_jumps_and_stays_is_a_shift_from_where_it_jumped() {
        let mut r = noise(14);
        let jump = r.len() - 5 * 12;
        for v in &mut r[jump..] {
            *v += 8.0;
        }
        // The run may take in a few noise steps before the jump (a tenth of its length at most).
        let near = |index: usize| index <= jump && index + 8 >= jump;
        let (index, shift) = find(&r).expect("a jump");
        assert!(near(index), "{index} vs {jump}");
        assert_eq!(shift.from, index as i64 * 300);
        assert!((shift.level - 8.0).abs() < 0.6, "{}", shift.level);
        assert_eq!(shift.at(shift.from - 1), 0.0);
        // Downwards too (traffic moved away).
        let down: Vec<f64> = r
            .iter()
            .enumerate()
            .map(|(i, v)| if i >= jump { v - 16.0 } else { *v })
            .collect();
        let (index, shift) = find(&down).expect("a drop");
        assert!(near(index), "{index} vs {jump}");
        assert!((shift.level + 8.0).abs() < 0.6, "{}", shift.level);
    }

    #[test]
    fn noise_a_busy_day_and_short_decaying_or_passed_crowds_are_not_shifts() {
        let r = noise(14);
        assert_eq!(find(&r), None);
        // A busy afternoon: two standard deviations above the shape for six hours.
        let mut busy = r.clone();
        let n = busy.len();
        for v in &mut busy[n - 72..] {
            *v += 2.0;
        }
        assert_eq!(find(&busy), None);
        // A flash crowd of an hour and a half, ten times the noise.
        let mut crowd = r.clone();
        for v in &mut crowd[n - 18..] {
            *v += 10.0;
        }
        assert_eq!(find(&crowd), None);
        // Five hours of crowd decaying from 20 to 7 standard deviations: no level held.
        let mut decaying = r.clone();
        for (k, v) in decaying[n - 60..].iter_mut().enumerate() {
            *v += 20.0 - 13.0 * k as f64 / 59.0;
        }
        assert_eq!(find(&decaying), None);
        // Four hours of crowd that ended an hour ago.
        let mut passed = r.clone();
        for v in &mut passed[n - 60..n - 12] {
            *v += 10.0;
        }
        assert_eq!(find(&passed), None);
        // A jump older than the later half of the history: the fit's to follow.
        let mut old = r;
        for v in &mut old[n / 3..] {
            *v += 8.0;
        }
        assert_eq!(find(&old), None);
    }
}
