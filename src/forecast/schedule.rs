//! Recurring closed periods: a series that reports nothing at night or at weekends (a call
//! centre, an office application, a batch window) is recognised from its gaps, so that
//!
//! - a model does not drop a season because part of it is never observed (the closed hours),
//! - forecasts for closed steps are 0 (nothing is served while closed), and forecasts made from
//!   inside a closed period start from the profile of the next opening, not from the last level.
//!
//! A stretch of the week is closed when it is unobserved in every one of at least two cycles
//! that the history spans (of the day, or of the week), lasts at least [`MIN_CLOSED_SECONDS`],
//! and the rest of the week is observed in at least [`MIN_OPEN_OBSERVED`] of its cycles. So an
//! outage (once) or random missing samples never make a schedule, and a long outage that happens
//! to cover the same hours of two weeks does not either (the open part is then poorly observed).

use serde::{Deserialize, Serialize};

use super::Forecast;
use crate::series::Timestamp;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// 1970-01-05, the first Monday of the epoch: week offsets count from Monday 00:00 UTC.
const MONDAY: i64 = 4 * DAY;
/// The schedule's resolution (or the step, when coarser).
const BIN_SECONDS: i64 = 900;
/// A closed stretch shorter than this is a hiccup, not a schedule.
pub const MIN_CLOSED_SECONDS: i64 = 3600;
/// A phase must be unobserved in at least this many whole cycles to be closed.
const MIN_CYCLES: usize = 2;
/// The open part must be observed in at least this share of its (bin, cycle) pairs.
pub const MIN_OPEN_OBSERVED: f64 = 0.8;
/// Coarser steps have no schedule (a day of 2-hour steps has no hours to close).
const MAX_STEP: i64 = 3600;

/// The closed stretches of the week, as `[from, to)` offsets in seconds from Monday 00:00 UTC
/// (a stretch over Sunday midnight is split in two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub closed: Vec<(i64, i64)>,
}

impl Schedule {
    /// Recognises the schedule of a series starting at `start` with `values` (`NaN` = gap) every
    /// `step` seconds; `None` when it has none. A stretch that `prior` (the schedule of the
    /// previous fit of the same series) closes stays closed while no value falls in it: a fit's
    /// window ends at the last observation, so late in a closed weekend the weekend lies inside
    /// the window only once and could not be recognised afresh, though nothing contradicts it.
    pub(crate) fn detect(
        start: Timestamp,
        step: i64,
        values: &[f64],
        prior: Option<&Schedule>,
    ) -> Option<Schedule> {
        let bin = BIN_SECONDS.max(step);
        if step <= 0 || step > MAX_STEP || DAY % bin != 0 {
            return None;
        }
        let end = start.checked_add(i64::try_from(values.len()).ok()?.checked_mul(step)?)?;
        if end - start < MIN_CYCLES as i64 * DAY {
            return None;
        }
        // The bins wholly inside [start, end), by absolute index, and whether each saw a value.
        let first = start.div_euclid(bin) + i64::from(start.rem_euclid(bin) != 0);
        let last = end.div_euclid(bin);
        let mut seen = vec![false; usize::try_from(last - first).ok()?];
        for (i, v) in values.iter().enumerate() {
            if !v.is_nan() {
                let b = (start + i as i64 * step).div_euclid(bin) - first;
                if let Some(slot) = usize::try_from(b).ok().and_then(|b| seen.get_mut(b)) {
                    *slot = true;
                }
            }
        }
        let per_day = (DAY / bin) as usize;
        let per_week = (WEEK / bin) as usize;
        let week_bin = |k: usize| ((first + k as i64) * bin - MONDAY).rem_euclid(WEEK) / bin;
        let mut day = vec![(0usize, 0usize); per_day]; // (cycles spanned, cycles observed)
        let mut week = vec![(0usize, 0usize); per_week];
        for (k, &observed) in seen.iter().enumerate() {
            let w = week_bin(k) as usize;
            for slot in [&mut day[w % per_day], &mut week[w]] {
                slot.0 += 1;
                slot.1 += usize::from(observed);
            }
        }
        let never = |(cycles, observed): (usize, usize)| cycles >= MIN_CYCLES && observed == 0;
        let kept = |w: usize| {
            prior.is_some_and(|prior| prior.is_closed(MONDAY + w as i64 * bin)) && week[w].1 == 0
        };
        let mut closed: Vec<bool> = (0..per_week)
            .map(|w| never(day[w % per_day]) || never(week[w]) || kept(w))
            .collect();
        drop_short_runs(&mut closed, (MIN_CLOSED_SECONDS / bin).max(1) as usize);
        if !closed.contains(&true) || !closed.contains(&false) {
            return None;
        }
        // The open part's share observed, leaving out the stretches of the week seen in one
        // cycle only and unobserved there: undetermined (late in a weekend, the weekend just
        // past), neither evidence of a schedule nor against one.
        let undetermined = |w: usize| week[w].0 < MIN_CYCLES && week[w].1 == 0;
        let (mut open, mut open_seen) = (0usize, 0usize);
        for (k, &observed) in seen.iter().enumerate() {
            let w = week_bin(k) as usize;
            if !closed[w] && !undetermined(w) {
                open += 1;
                open_seen += usize::from(observed);
            }
        }
        if (open_seen as f64) < MIN_OPEN_OBSERVED * open as f64 {
            return None;
        }
        Some(Schedule {
            closed: stretches(&closed, bin),
        })
    }

    /// Whether the step starting at `t` falls in a closed stretch.
    pub fn is_closed(&self, t: Timestamp) -> bool {
        let offset = (t - MONDAY).rem_euclid(WEEK);
        self.closed
            .iter()
            .any(|&(from, to)| from <= offset && offset < to)
    }

    /// Sets the forecast and its bands to 0 at the closed steps.
    pub(crate) fn close(&self, forecast: &mut Forecast) {
        for i in 0..forecast.yhat.len() {
            if self.is_closed(forecast.start + i as i64 * forecast.step) {
                forecast.yhat[i] = 0.0;
                forecast
                    .bands
                    .iter_mut()
                    .for_each(|band| band.values[i] = 0.0);
            }
        }
    }

    /// Checks a value read from a model file.
    pub(crate) fn is_valid(&self) -> bool {
        self.closed
            .iter()
            .all(|&(from, to)| 0 <= from && from < to && to <= WEEK)
    }
}

/// Clears the closed runs (circular over the week) shorter than `min` bins.
fn drop_short_runs(closed: &mut [bool], min: usize) {
    let n = closed.len();
    let Some(open_at) = closed.iter().position(|c| !c) else {
        return;
    };
    // Walk once around the week from an open bin, so no run is cut at the array's end.
    let mut run: Vec<usize> = Vec::new();
    for j in 1..=n {
        let i = (open_at + j) % n;
        if closed[i] {
            run.push(i);
        } else {
            if run.len() < min {
                run.iter().for_each(|&r| closed[r] = false);
            }
            run.clear();
        }
    }
}

/// The closed bins as `[from, to)` second offsets.
fn stretches(closed: &[bool], bin: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (w, _) in closed.iter().enumerate().filter(|(_, c)| **c) {
        let from = w as i64 * bin;
        match out.last_mut() {
            Some(last) if last.1 == from => last.1 = from + bin,
            _ => out.push((from, from + bin)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    /// A Monday 00:00 UTC (2008-05-05).
    const START: i64 = MONDAY + 2000 * WEEK;

    /// `days` of a value every `step` from [`START`], kept where `open(seconds since START)`.
    fn series(days: i64, step: i64, open: impl Fn(i64) -> bool) -> Vec<f64> {
        (0..days * DAY / step)
            .map(|i| if open(i * step) { 10.0 } else { f64::NAN })
            .collect()
    }

    fn office(s: i64) -> bool {
        s % WEEK < 5 * DAY && (8 * HOUR..18 * HOUR).contains(&(s % DAY))
    }

    #[test]
    fn office_hours_close_nights_and_weekends() {
        let schedule =
            Schedule::detect(START, 300, &series(14, 300, office), None).expect("a schedule");
        assert!(schedule.is_closed(START + 7 * HOUR + 55 * 60));
        assert!(!schedule.is_closed(START + 8 * HOUR));
        assert!(!schedule.is_closed(START + 17 * HOUR + 55 * 60));
        assert!(schedule.is_closed(START + 18 * HOUR));
        assert!(schedule.is_closed(START + 5 * DAY + 12 * HOUR)); // Saturday noon
        assert!(schedule.is_closed(START + 3 * WEEK + 6 * DAY + 23 * HOUR)); // any week
        assert!(!schedule.is_closed(START + 3 * WEEK + 4 * DAY + 9 * HOUR));
        // Monday 00:00 to 08:00, Monday 18:00 to Tuesday 08:00, …, Friday 18:00 to Sunday 24:00.
        assert_eq!(schedule.closed[0], (0, 8 * HOUR));
        assert_eq!(schedule.closed[1], (18 * HOUR, DAY + 8 * HOUR));
        assert_eq!(
            *schedule.closed.last().unwrap(),
            (4 * DAY + 18 * HOUR, WEEK)
        );
        assert!(schedule.is_valid());
    }

    #[test]
    fn one_outage_or_scattered_gaps_make_no_schedule() {
        let outage = series(14, 60, |s| !(3 * DAY..3 * DAY + 6 * HOUR).contains(&s));
        assert_eq!(Schedule::detect(START, 60, &outage, None), None);
        let scattered = series(14, 60, |s| (s / 60) % 3 != 0);
        assert_eq!(Schedule::detect(START, 60, &scattered, None), None);
        let full = series(14, 60, |_| true);
        assert_eq!(Schedule::detect(START, 60, &full, None), None);
        // A half-hour gap every night is a hiccup, not a schedule.
        let hiccup = series(14, 60, |s| s % DAY >= 1800);
        assert_eq!(Schedule::detect(START, 60, &hiccup, None), None);
    }

    #[test]
    fn a_long_outage_over_the_same_hours_of_two_weeks_is_not_a_schedule() {
        // Nine days out of fourteen: two days of the week are unobserved in both weeks, but the
        // open rest is then observed in little more than half its cycles.
        let values = series(14, 300, |s| !(3 * DAY..12 * DAY).contains(&s));
        assert_eq!(Schedule::detect(START, 300, &values, None), None);
    }

    #[test]
    fn a_nightly_closure_needs_two_days_and_a_fine_enough_step() {
        let days = |s: i64| (6 * HOUR..22 * HOUR).contains(&(s % DAY));
        let schedule =
            Schedule::detect(START, 300, &series(2, 300, days), None).expect("two nights");
        assert!(schedule.is_closed(START + 9 * DAY + 23 * HOUR));
        assert!(!schedule.is_closed(START + 9 * DAY + 12 * HOUR));
        assert_eq!(
            Schedule::detect(START, 300, &series(1, 300, days), None),
            None
        );
        assert_eq!(
            Schedule::detect(START, 7200, &series(14, 7200, days), None),
            None
        );
    }

    #[test]
    fn a_closed_weekend_stays_closed_until_a_value_falls_in_it() {
        // Office hours from Monday two weeks ago to Friday: the window ends at the last
        // observation (Friday 18:00), so the weekend just past lies inside it once, and a fresh
        // look closes only the nights. The previous fit's schedule keeps it closed…
        let week_days = |s: i64| s < 11 * DAY + 18 * HOUR && office(s);
        let values = series(12, 300, week_days);
        let fresh = Schedule::detect(START, 300, &values, None).expect("nights");
        let saturday = START + 5 * DAY + 12 * HOUR;
        assert!(!fresh.is_closed(saturday));
        let prior = Schedule::detect(START, 300, &series(14, 300, office), None).unwrap();
        let kept = Schedule::detect(START, 300, &values, Some(&prior)).unwrap();
        assert!(kept.is_closed(saturday) && kept.is_closed(START + 18 * HOUR));
        assert!(!kept.is_closed(START + 9 * HOUR));
        // …until the series shows traffic there (a Saturday opening).
        let saturday_open = series(12, 300, |s| {
            week_days(s) || (5 * DAY + 12 * HOUR..5 * DAY + 13 * HOUR).contains(&s)
        });
        let reopened = Schedule::detect(START, 300, &saturday_open, Some(&prior)).unwrap();
        assert!(!reopened.is_closed(saturday));
    }
}
