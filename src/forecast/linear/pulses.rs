//! Recurring pulses: what a few Fourier terms cannot draw — a burst at the same minute every day
//! (a cron job, a scheduled batch, a report run at 14:00) — found in the regression's residuals
//! and added back, step by step of the day.
//!
//! Ten daily harmonics draw shapes that change over hours; a ten-minute burst that triples the
//! load at 14:00 each day is left almost whole in the residuals (the robust fit down-weights it
//! as an outlier), so the regression forecasts the level around it and the planner meets every
//! burst with the pods of the minutes before. Seasonal naive repeats it, and on such a series
//! beats the regression where it matters most.
//!
//! The residuals are grouped by their phase in the shortest season of the fit (one group per
//! step of the day), weekdays and weekend days (UTC) apart. A group is a **pulse** when it holds
//! at least [`MIN_CYCLES`] cycles and in at least [`SHARE`] of them (in all of them below
//! [`ALL_BELOW`] cycles) its residual lies [`EVIDENCE`] standard errors from the level around,
//! on the same side:
//!
//! - the **level around** is the median of the medians of the phases within the same reach on
//!   either side: a misfit hours wide is the seasonal terms' to draw (or the correction's), not a pulse;
//! - the **standard error** is the local standard deviation over √cycles, the local standard
//!   deviation the larger of two medians of the phases' standard deviations over their cycles,
//!   within an hour before and within an hour after (at least [`MIN_NEIGHBOURS`] steps, at
//!   most [`MAX_NEIGHBOURS`]): the noise where the pulse is, not the whole day's (a trickle at
//!   night would make every daytime wobble a pulse), the busy side's beside a change from quiet
//!   to busy, and not moved by the burst's own spread or by one odd day.
//!
//! Weekend days seen fewer times than [`MIN_CYCLES`] (a week holds two) are not judged alone: at
//! a phase where the weekdays have a pulse, each of their residuals must lie beyond the bar on
//! the pulse's side (one day's against the weekdays' local standard deviation, as its own is
//! unknown), and their own median less the level around is their pulse (a nightly batch job
//! runs on Saturdays too; a weekday-only burst stays off them). Where no weekend day was
//! seen, weekends take the weekdays' pulses, as the seasonal terms without a weekend shape draw
//! them like weekdays. Where neither class was seen [`MIN_CYCLES`] times but all the days
//! together were (four days of history, a weekend day among them), all the days are judged as
//! one group, and a pulse is on every day. These short fits are `auto`'s calibration fits on a
//! week of history: the first is fitted on four days, and a job it missed put errors of the
//! job's size among the errors that set every band of the final fit, which has the job.
//!
//! With ten weekdays the bar is 1.26 standard deviations and seven of ten must pass it: under
//! Gaussian noise about once in 100,000 phases; a burst that passes is worth far more than the
//! noise its median adds back (0.4 standard deviations). An outage or one flash crowd moves one
//! cycle of ten. Its value is the group's median less the level around. The fit's values
//! include the pulses, and the residual correction and the error quantiles are fitted on what
//! the pulses leave. Where the pulses leave most of the day (a quarter of its phases at most),
//! the regression is fitted again without the steps at their phases and the pulses found again
//! in its residuals (`fit.rs`): fitted with an hour-long job, the harmonics take part of it and
//! ring for hours around it.

use serde::{Deserialize, Serialize};

use super::design::is_weekend;
use crate::forecast::history::History;
use crate::forecast::json_exact;

/// Standard errors (the local standard deviation / √cycles) a phase's residuals must lie
/// from zero, in [`SHARE`] of its cycles, on the same side.
const EVIDENCE: f64 = 4.0;
/// The share of a phase's cycles whose residual must lie [`EVIDENCE`] standard errors from
/// zero, on the same side.
const SHARE: f64 = 0.7;
/// The fewest cycles observed at a phase for it to be judged.
const MIN_CYCLES: usize = 4;
/// Below this many cycles every one must lie beyond the bar: three of four weekend days lie
/// 2σ out on the same side about once in 20,000 phases under Gaussian noise: a false pulse in
/// one fit of seven of a series at 1-minute steps.
const ALL_BELOW: usize = 5;
/// The local spread is the median over the phases within this many seconds on either side...
const LOCAL_SECONDS: i64 = 3600;
/// ... and at least this many steps...
const MIN_NEIGHBOURS: usize = 3;
/// ... and at most this many (at 1-second steps an hour is 3,600 phases, and the windows move
/// by inserting into a sorted vector: the cost stays a few multiplications of the residuals').
const MAX_NEIGHBOURS: usize = 60;

/// The pulses of one fit: values added at phases of a season (in the fit's transformed units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pulses {
    /// The season's length in seconds.
    pub period: i64,
    /// The width of a phase in seconds (the series' step).
    pub step: i64,
    /// Sorted by `(weekend, phase)`.
    pub pulses: Vec<Pulse>,
}

/// One phase's pulse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pulse {
    /// Seconds into the season, a multiple of the step.
    pub phase: i64,
    /// Whether it applies on weekend days (Saturday and Sunday, UTC) or on weekdays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weekend: bool,
    pub value: f64,
}

impl Pulses {
    /// Finds the pulses of `residuals` (NaN at gaps; one per step of `history`) at the phases of
    /// a `period`-second season; `None` when there are none or the season is not a whole
    /// number of steps.
    pub(super) fn find(residuals: &[f64], history: &History, period: i64) -> Option<Pulses> {
        let step = history.step;
        if step <= 0 || period <= step || period % step != 0 {
            return None;
        }
        let phases = usize::try_from(period / step).ok()?;
        // Each observed residual's phase and whether it falls on a weekend day.
        let keyed: Vec<(usize, bool, f64)> = residuals
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_nan())
            .map(|(i, &r)| {
                let t = history.time(i);
                ((t.rem_euclid(period) / step) as usize, is_weekend(t), r)
            })
            .collect();
        let reach = usize::try_from(LOCAL_SECONDS / step)
            .unwrap_or(usize::MAX)
            .clamp(MIN_NEIGHBOURS, MAX_NEIGHBOURS)
            .min((phases - 1) / 2);
        let weekdays = Class::gather(&keyed, phases, reach, |weekend| !weekend);
        let weekends = Class::gather(&keyed, phases, reach, |weekend| weekend);
        // All days together, at the phases neither class has seen often enough to be judged
        // alone (four days of history with a weekend day in them).
        let too_few = |phase: usize| {
            weekdays.cycles(phase) < MIN_CYCLES && weekends.cycles(phase) < MIN_CYCLES
        };
        let pooled = (0..phases)
            .any(|phase| {
                too_few(phase) && weekdays.cycles(phase) + weekends.cycles(phase) >= MIN_CYCLES
            })
            .then(|| Class::gather(&keyed, phases, reach, |_| true));
        // The weekdays' pulse at each phase: its side (+1 above, −1 below, 0 none), its value,
        // and whether all days found it (at the phases neither class can judge alone).
        let weekday_pulse: Vec<(i8, f64, bool)> = (0..phases)
            .map(|phase| match &pooled {
                Some(pooled) if too_few(phase) => {
                    let (side, value) = pooled.judge(phase, 0, f64::NAN);
                    (side, value, true)
                }
                _ => {
                    let (side, value) = weekdays.judge(phase, 0, f64::NAN);
                    (side, value, false)
                }
            })
            .collect();
        let mut pulses: Vec<Pulse> = weekday_pulse
            .iter()
            .enumerate()
            .filter(|(_, pulse)| pulse.0 != 0)
            .map(|(phase, &(_, value, _))| Pulse {
                phase: phase as i64 * step,
                weekend: false,
                value,
            })
            .collect();
        for (phase, &(side, weekday_value, all_days)) in weekday_pulse.iter().enumerate() {
            let (side, value) = match weekends.cycles(phase) {
                n if n >= MIN_CYCLES => weekends.judge(phase, 0, f64::NAN),
                // Found in all the days' residuals, the weekend days' among them.
                _ if all_days => (side, weekday_value),
                // Weekend days seen fewer times than a pulse needs (a week holds two) take the
                // weekdays' pulse at the phase where each of theirs lies beyond the bar on its
                // side: a batch job runs every day, a weekday-only burst stays off weekends.
                _ if side == 0 => continue,
                // None seen: weekend days are as the weekdays until one shows otherwise, as the
                // seasonal terms draw them without a weekend shape.
                0 => (side, weekday_value),
                // One weekend day is judged against the weekdays' noise where its own is unknown.
                _ => weekends.judge(phase, side, weekdays.sd[phase]),
            };
            if side != 0 {
                pulses.push(Pulse {
                    phase: phase as i64 * step,
                    weekend: true,
                    value,
                });
            }
        }
        (!pulses.is_empty()).then_some(Pulses {
            period,
            step,
            pulses,
        })
    }

    /// Whether the pulses of weekdays and those of weekend days each hold at most `share` of the
    /// season's phases.
    pub(super) fn cover_at_most(&self, share: f64) -> bool {
        let phases = (self.period / self.step) as f64;
        let weekend = self.pulses.iter().filter(|p| p.weekend).count() as f64;
        let weekdays = self.pulses.len() as f64 - weekend;
        weekdays.max(weekend) <= share * phases
    }

    /// The pulse at timestamp `t` (0 where there is none).
    pub(super) fn at(&self, t: i64) -> f64 {
        let phase = t.rem_euclid(self.period) / self.step * self.step;
        let weekend = is_weekend(t);
        self.pulses
            .binary_search_by(|p| (p.weekend, p.phase).cmp(&(weekend, phase)))
            .map_or(0.0, |i| self.pulses[i].value)
    }

    /// Every number finite, the season a whole number of positive steps, the pulses sorted and
    /// inside it: what a model read from a file must satisfy before [`Self::at`] runs.
    pub(super) fn is_valid(&self) -> bool {
        self.step > 0
            && self.period > self.step
            && self.period % self.step == 0
            && self.pulses.iter().all(|p| {
                p.value.is_finite()
                    && (0..self.period).contains(&p.phase)
                    && p.phase % self.step == 0
            })
            && self
                .pulses
                .windows(2)
                .all(|w| (w[0].weekend, w[0].phase) < (w[1].weekend, w[1].phase))
    }
}

/// The residuals of one class of days (weekdays, weekend days, or all) grouped by phase.
struct Class {
    /// Where each phase's residuals start in `grouped` (one more entry than phases).
    starts: Vec<usize>,
    /// The residuals, phase after phase, each phase's sorted.
    grouped: Vec<f64>,
    /// Each phase's median (NaN with no cycle).
    medians: Vec<f64>,
    /// Each phase's level around (the median of the medians within the reach on either side)
    /// and local standard deviation (the larger of the medians of the phases' standard
    /// deviations within the reach before it and within the reach after it).
    level: Vec<f64>,
    sd: Vec<f64>,
}

impl Class {
    /// The residuals of the days `of` takes (by whether they are weekend days), by phase, with
    /// each phase's level and spread over the `reach` phases on either side.
    fn gather(
        keyed: &[(usize, bool, f64)],
        phases: usize,
        reach: usize,
        of: impl Fn(bool) -> bool,
    ) -> Class {
        // A counting sort by phase.
        let mut starts = vec![0usize; phases + 1];
        for &(phase, _, _) in keyed.iter().filter(|k| of(k.1)) {
            starts[phase + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut grouped = vec![0.0; starts[phases]];
        for &(phase, _, r) in keyed.iter().filter(|k| of(k.1)) {
            grouped[next[phase]] = r;
            next[phase] += 1;
        }
        let mut medians = vec![f64::NAN; phases];
        let mut spreads = vec![f64::NAN; phases];
        for k in 0..phases {
            let group = &mut grouped[starts[k]..starts[k + 1]];
            if group.len() == 1 {
                medians[k] = group[0];
            }
            if group.len() < 2 {
                continue;
            }
            group.sort_unstable_by(f64::total_cmp);
            let n = group.len() as f64;
            let mean = group.iter().sum::<f64>() / n;
            let squares: f64 = group.iter().map(|r| (r - mean) * (r - mean)).sum();
            medians[k] = sorted_median(group);
            spreads[k] = (squares / (n - 1.0)).sqrt();
        }
        let r = reach as isize;
        let wrap = |j: isize| j.rem_euclid(phases as isize) as usize;
        // The median of the known spreads of each phase and the `reach` before it (a window
        // kept sorted as it moves a phase at a time); the phases after one are the window of
        // the phase `reach` later.
        let mut window = SortedWindow::new((-r..=0).map(|j| spreads[wrap(j)]));
        let up_to: Vec<f64> = (0..phases as isize)
            .map(|phase| {
                if phase > 0 {
                    window.replace(spreads[wrap(phase - r - 1)], spreads[wrap(phase)]);
                }
                window.median()
            })
            .collect();
        let sd = (0..phases)
            .map(|phase| up_to[phase].max(up_to[(phase + reach) % phases]))
            .collect();
        let mut around = SortedWindow::new((-r..=r).map(|j| medians[wrap(j)]));
        let level = (0..phases as isize)
            .map(|phase| {
                if phase > 0 {
                    around.replace(medians[wrap(phase - r - 1)], medians[wrap(phase + r)]);
                }
                around.median()
            })
            .collect();
        Class {
            starts,
            grouped,
            medians,
            level,
            sd,
        }
    }

    fn cycles(&self, phase: usize) -> usize {
        self.starts[phase + 1] - self.starts[phase]
    }

    /// Whether the phase is a pulse, on which side (+1 above, −1 below, 0 none), and its value
    /// (its median less the level around). `side` 0 judges both sides; ±1 (a weekend phase
    /// taking the weekdays' pulse) only that one, and every cycle must lie beyond the bar, the
    /// local standard deviation `fallback_sd` where the class's own is unknown (one cycle).
    fn judge(&self, phase: usize, side: i8, fallback_sd: f64) -> (i8, f64) {
        let group = &self.grouped[self.starts[phase]..self.starts[phase + 1]];
        let n = group.len();
        let known = |sd: f64| sd > 0.0 && sd.is_finite();
        let sd = if known(self.sd[phase]) {
            self.sd[phase]
        } else {
            fallback_sd
        };
        if (side == 0 && n < MIN_CYCLES) || n == 0 || !known(sd) {
            return (0, 0.0);
        }
        let needed = if n < ALL_BELOW {
            n
        } else {
            (SHARE * n as f64).ceil() as usize
        };
        // The residuals are judged against the level of the phases around (a misfit hours wide
        // is the seasonal terms' to draw, not a pulse).
        let level = self.level[phase];
        let bar = EVIDENCE * sd / (n as f64).sqrt();
        let above = group.iter().filter(|r| **r - level >= bar).count();
        let below = group.iter().filter(|r| **r - level <= -bar).count();
        let found = match side {
            0 => i8::from(above >= needed) - i8::from(below >= needed),
            1 => i8::from(above >= needed),
            _ => -i8::from(below >= needed),
        };
        (found, json_exact(self.medians[phase] - level))
    }
}

/// Known values (NaN: none) in sorted order, for a median over a moving window.
struct SortedWindow(Vec<f64>);

impl SortedWindow {
    fn new(values: impl Iterator<Item = f64>) -> SortedWindow {
        let mut sorted: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        SortedWindow(sorted)
    }

    /// `leaving` out (it was put in), `entering` in.
    fn replace(&mut self, leaving: f64, entering: f64) {
        if !leaving.is_nan() {
            let i = self.0.partition_point(|v| *v < leaving);
            if i < self.0.len() {
                self.0.remove(i);
            }
        }
        if !entering.is_nan() {
            let i = self.0.partition_point(|v| *v < entering);
            self.0.insert(i, entering);
        }
    }

    /// NaN when empty.
    fn median(&self) -> f64 {
        if self.0.is_empty() {
            f64::NAN
        } else {
            sorted_median(&self.0)
        }
    }
}

/// The median of sorted values (at least one).
fn sorted_median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::test_support::Lcg;
    use crate::series::Series;

    const MINUTE: i64 = 60;
    const DAY: i64 = 86_400;

    fn history(values: &[f64]) -> History {
        History::new(&Series::new(0, MINUTE, values.to_vec()).expect("a series"))
            .expect("a history")
    }

    /// `n` draws of Gaussian noise of standard deviation 1 (deterministic).
    fn noise(n: usize) -> Vec<f64> {
        let mut rng = Lcg(7);
        (0..n).map(|_| rng.normal()).collect()
    }

    #[test]
    fn a_burst_at_the_same_minutes_every_day_is_a_pulse_and_nothing_else_is() {
        // Fourteen days of 1-minute residuals from Thursday 1970-01-01: noise of sd 1, a
        // burst of +10 from 14:00 to 14:09 on every day but one (a Tuesday), one flash crowd of
        // +20 for an hour on a Monday, and a dip of −10 at 03:00 on only four days.
        let steps = 14 * 1440;
        let mut residuals: Vec<f64> = noise(steps);
        for day in 0..14 {
            if day != 5 {
                for m in 0..10 {
                    residuals[day * 1440 + 14 * 60 + m] += 10.0;
                }
            }
            if day < 4 {
                residuals[day * 1440 + 180] -= 10.0;
            }
        }
        for m in 0..60 {
            residuals[4 * 1440 + 600 + m] += 20.0;
        }
        residuals[100] = f64::NAN;
        let pulses =
            Pulses::find(&residuals, &history(&vec![1.0; steps]), DAY).expect("the burst is found");
        let found: Vec<(bool, i64)> = pulses
            .pulses
            .iter()
            .map(|p| (p.weekend, p.phase / MINUTE))
            .collect();
        let burst: Vec<(bool, i64)> = [false, true]
            .into_iter()
            .flat_map(|weekend| (840..850).map(move |m| (weekend, m)))
            .collect();
        assert_eq!(found, burst);
        for p in &pulses.pulses {
            // The median of nine bursts and one plain weekday, or of four weekend bursts.
            assert!((p.value - 10.0).abs() < 1.0, "{p:?}");
            let day = if p.weekend { 9 } else { 11 };
            assert_eq!(pulses.at(day * DAY + p.phase), p.value);
        }
        assert_eq!(pulses.at(14 * 3600 - MINUTE), 0.0);
        assert_eq!(pulses.at(14 * 3600 + 10 * MINUTE), 0.0);
        assert!(pulses.is_valid());
    }

    #[test]
    fn noise_and_too_few_cycles_make_no_pulse() {
        let residuals: Vec<f64> = noise(14 * 1440);
        assert_eq!(
            Pulses::find(&residuals, &history(&vec![1.0; 14 * 1440]), DAY),
            None
        );
        // Three days with the same burst: fewer cycles than judged.
        let mut residuals: Vec<f64> = noise(3 * 1440);
        for day in 0..3 {
            residuals[day * 1440 + 840] += 10.0;
        }
        assert_eq!(
            Pulses::find(&residuals, &history(&vec![1.0; 3 * 1440]), DAY),
            None
        );
    }

    #[test]
    fn a_shift_is_judged_against_the_noise_where_it_is() {
        // Quiet nights (noise of sd 1), busy days 12:00–22:00 (sd 10), and the same +5 on every
        // day at 03:00 and at 15:00: five times the night's noise, half the day's.
        let steps = 14 * 1440;
        let noise = noise(steps);
        let residuals: Vec<f64> = (0..steps)
            .map(|i| {
                let minute = i % 1440;
                let busy = (720..1320).contains(&minute);
                let shift = if minute == 180 || minute == 900 {
                    5.0
                } else {
                    0.0
                };
                noise[i] * if busy { 10.0 } else { 1.0 } + shift
            })
            .collect();
        let pulses = Pulses::find(&residuals, &history(&vec![1.0; steps]), DAY)
            .expect("the night's shift is found");
        assert!(
            pulses.pulses.iter().all(|p| p.phase == 180 * MINUTE),
            "{pulses:?}"
        );
        assert_eq!(pulses.pulses.len(), 2, "weekdays and weekends");
    }

    #[test]
    fn a_weekday_burst_stays_off_the_weekend() {
        // Fourteen days from Thursday 1970-01-01: a burst at 09:00 on weekdays only.
        let steps = 14 * 1440;
        let mut residuals: Vec<f64> = noise(steps);
        for day in 0..14i64 {
            if !is_weekend(day * DAY) {
                residuals[day as usize * 1440 + 540] += 10.0;
            }
        }
        let pulses =
            Pulses::find(&residuals, &history(&vec![1.0; steps]), DAY).expect("the burst is found");
        assert!((pulses.at(540 * MINUTE) - 10.0).abs() < 1.0);
        assert_eq!(pulses.at(2 * DAY + 540 * MINUTE), 0.0, "Saturday");
        assert_eq!(pulses.pulses.len(), 1);
    }

    #[test]
    fn a_week_s_two_weekend_days_take_the_weekday_pulse_they_show() {
        // Seven days from Thursday 1970-01-01 (one Saturday, one Sunday): +10 at 02:00 every
        // day, and +10 at 09:00 on weekdays only.
        let steps = 7 * 1440;
        let mut residuals: Vec<f64> = noise(steps);
        for day in 0..7i64 {
            residuals[day as usize * 1440 + 120] += 10.0;
            if !is_weekend(day * DAY) {
                residuals[day as usize * 1440 + 540] += 10.0;
            }
        }
        let pulses =
            Pulses::find(&residuals, &history(&vec![1.0; steps]), DAY).expect("the pulses");
        let saturday = 2 * DAY;
        assert!((pulses.at(120 * MINUTE) - 10.0).abs() < 1.0);
        assert!(
            (pulses.at(saturday + 120 * MINUTE) - 10.0).abs() < 1.5,
            "the daily job on Saturday: {pulses:?}"
        );
        assert!((pulses.at(540 * MINUTE) - 10.0).abs() < 1.0);
        assert_eq!(pulses.at(saturday + 540 * MINUTE), 0.0, "the weekday burst");
        assert_eq!(pulses.pulses.len(), 3, "{pulses:?}");
    }

    /// `days` days of 1-minute residuals from day `first` (1970-01-01, day 0, a Thursday):
    /// noise of sd 1, +10 at 02:00 every day and +10 at 09:00 on weekdays only.
    fn nightly_and_weekday_bursts(first: i64, days: i64) -> (Vec<f64>, History) {
        let steps = days as usize * 1440;
        let mut residuals: Vec<f64> = noise(steps);
        for day in 0..days {
            let at = day as usize * 1440;
            residuals[at + 120] += 10.0;
            if !is_weekend((first + day) * DAY) {
                residuals[at + 540] += 10.0;
            }
        }
        let series = Series::new(first * DAY, MINUTE, vec![1.0; steps]).expect("a series");
        (residuals, History::new(&series).expect("a history"))
    }

    #[test]
    fn four_days_with_a_weekend_find_the_pulse_of_every_day() {
        // Thursday to Sunday: two weekdays and two weekend days, too few for either alone.
        let (residuals, history) = nightly_and_weekday_bursts(0, 4);
        let pulses = Pulses::find(&residuals, &history, DAY).expect("the nightly job");
        for day in [4, 2] {
            let job = pulses.at(day * DAY + 120 * MINUTE);
            assert!((job - 10.0).abs() < 1.5, "day {day}: {pulses:?}");
            assert_eq!(pulses.at(day * DAY + 540 * MINUTE), 0.0, "{pulses:?}");
        }
        assert_eq!(pulses.pulses.len(), 2, "{pulses:?}");
    }

    #[test]
    fn weekends_no_fit_saw_take_the_weekday_pulses() {
        // Monday to Friday: no weekend day seen; weekends are as the weekdays.
        let (residuals, history) = nightly_and_weekday_bursts(4, 5);
        let pulses = Pulses::find(&residuals, &history, DAY).expect("the pulses");
        let saturday = 9 * DAY;
        for phase in [120, 540] {
            let weekday = pulses.at(5 * DAY + phase * MINUTE);
            assert!((weekday - 10.0).abs() < 1.5, "{pulses:?}");
            assert_eq!(pulses.at(saturday + phase * MINUTE), weekday);
        }
        // Sunday to Friday: the one weekend day seen shows the nightly job and not the weekday
        // burst (judged against the weekdays' noise).
        let (residuals, history) = nightly_and_weekday_bursts(3, 6);
        let pulses = Pulses::find(&residuals, &history, DAY).expect("the pulses");
        assert_eq!(pulses.at(saturday + 540 * MINUTE), 0.0, "{pulses:?}");
        let job = pulses.at(saturday + 120 * MINUTE);
        assert!((job - 10.0).abs() < 4.0, "{pulses:?}");
    }

    #[test]
    fn a_corrupt_set_of_pulses_is_refused() {
        let good = Pulses {
            period: DAY,
            step: MINUTE,
            pulses: vec![Pulse {
                phase: 60,
                weekend: false,
                value: 1.0,
            }],
        };
        assert!(good.is_valid());
        for bad in [
            Pulses {
                step: 0,
                ..good.clone()
            },
            Pulses {
                period: 0,
                ..good.clone()
            },
            Pulses {
                period: 90,
                ..good.clone()
            },
            Pulses {
                pulses: vec![Pulse {
                    phase: DAY,
                    ..good.pulses[0].clone()
                }],
                ..good.clone()
            },
            Pulses {
                pulses: vec![Pulse {
                    value: f64::NAN,
                    ..good.pulses[0].clone()
                }],
                ..good.clone()
            },
            Pulses {
                pulses: vec![good.pulses[0].clone(), good.pulses[0].clone()],
                ..good.clone()
            },
        ] {
            assert!(!bad.is_valid(), "{bad:?}");
        }
    }
}
