//! The design: which columns a fit has (trend, Fourier terms per season, the weekend block) and
//! how a row of them is filled.

use super::{DAY, LinearSeasonalSpec, SeasonUsed, Trend, WeekdayShape};
use crate::forecast::history::History;
use crate::series::Span;

/// A season is fitted only when every part of it is observed in at least this many cycles'
/// worth of steps: a shape seen once cannot be told from a one-off (an outage, a busy day).
pub(super) const MIN_CYCLES: f64 = 1.5;
/// The parts a season is cut into to measure its coverage.
const COVERAGE_BINS: usize = 28;
/// The trend is frozen this fraction of the training span after the last observation.
const TREND_REACH: f64 = 0.25;
/// A weekend shape needs every part of the day observed on at least this many weekend days'
/// worth of steps: a whole weekend (Saturday and Sunday) give or take its gaps, as a season
/// needs [`MIN_CYCLES`].
pub(super) const WEEKEND_DAYS: f64 = 1.5;

/// Which columns the design has: `[1, trend?, (sin, cos) per term, weekend?, (sin, cos) per
/// weekend term]`; the weekend columns come last so that they can be dropped as a block.
pub(super) struct Design {
    /// `(center, scale, until)` when the trend is included.
    pub(super) trend: Option<(i64, f64, i64)>,
    /// `(period, k)`, sorted by period then k.
    pub(super) terms: Vec<(i64, u32)>,
    pub(super) seasons: Vec<SeasonUsed>,
    /// Indices into `terms` of the daily terms repeated for weekends (empty: no weekend block).
    pub(super) weekend: Vec<usize>,
}

impl Design {
    /// Columns without the weekend block.
    pub(super) fn base_columns(&self) -> usize {
        1 + usize::from(self.trend.is_some()) + 2 * self.terms.len()
    }

    pub(super) fn columns(&self) -> usize {
        let weekend = if self.weekend.is_empty() {
            0
        } else {
            1 + 2 * self.weekend.len()
        };
        self.base_columns() + weekend
    }

    /// The distinct periods of the Fourier terms, in the order of `terms`.
    pub(super) fn periods(&self) -> Vec<i64> {
        let mut periods: Vec<i64> = self.terms.iter().map(|(p, _)| *p).collect();
        periods.dedup();
        periods
    }

    /// Writes the row of timestamp `t` into `row` (of length [`Design::columns`]). Sines and
    /// cosines of harmonic k come from the base angle (`angles.at(t)`) by the angle-addition
    /// recurrence: no `sin_cos` per column.
    pub(super) fn fill_row(&self, t: i64, angles: &mut BaseAngles, row: &mut [f64]) {
        let base_angles = angles.at(t);
        row[0] = 1.0;
        let mut next = 1;
        if let Some((center, scale, until)) = self.trend {
            row[next] = Trend::x(center, scale, until, t);
            next += 1;
        }
        let mut j = 0;
        for &(s1, c1) in base_angles {
            let period = self.terms[j].0;
            let group_end = j + self.terms[j..]
                .iter()
                .take_while(|(p, _)| *p == period)
                .count();
            let group = &self.terms[j..group_end];
            let k_max = group.last().map_or(0, |(_, k)| *k);
            let (mut sk, mut ck) = (s1, c1);
            let mut g = 0;
            for k in 1..=k_max {
                if g < group.len() && group[g].1 == k {
                    let c = next + 2 * (j + g);
                    row[c] = sk;
                    row[c + 1] = ck;
                    g += 1;
                }
                (sk, ck) = (sk * c1 + ck * s1, ck * c1 - sk * s1);
            }
            j = group_end;
        }
        if !self.weekend.is_empty() {
            let base = self.base_columns();
            let w = if is_weekend(t) { 1.0 } else { 0.0 };
            row[base] = w;
            for (i, &term) in self.weekend.iter().enumerate() {
                let c = next + 2 * term;
                row[base + 1 + 2 * i] = w * row[c];
                row[base + 2 + 2 * i] = w * row[c + 1];
            }
        }
    }
}

/// Rows filled between exact `sin_cos` values in [`BaseAngles`]: rounding grows by about one
/// unit in the last place per rotation, so a few hundred keep it far below the fit's noise.
const ROTATIONS_PER_EXACT: usize = 256;

/// The sine and cosine of each season's base angle, carried from row to row: the row one step
/// after the previous one gets them by one rotation (four multiplications) instead of a
/// `sin_cos` per season; any other row, and every [`ROTATIONS_PER_EXACT`]-th, from `sin_cos`.
pub(super) struct BaseAngles {
    periods: Vec<i64>,
    step: i64,
    /// `(sin, cos)` of one step's angle, per period.
    rotations: Vec<(f64, f64)>,
    current: Vec<(f64, f64)>,
    last: Option<i64>,
    rotated: usize,
}

impl BaseAngles {
    pub(super) fn new(design: &Design, step: i64) -> BaseAngles {
        let periods = design.periods();
        BaseAngles {
            rotations: periods.iter().map(|&p| angle(step, p).sin_cos()).collect(),
            current: vec![(0.0, 1.0); periods.len()],
            periods,
            step,
            last: None,
            rotated: 0,
        }
    }

    /// `(sin, cos)` of the base angle of each period at `t`.
    pub(super) fn at(&mut self, t: i64) -> &[(f64, f64)] {
        let next_step = self.last.and_then(|last| last.checked_add(self.step)) == Some(t);
        if next_step && self.rotated < ROTATIONS_PER_EXACT {
            for ((s, c), &(sd, cd)) in self.current.iter_mut().zip(&self.rotations) {
                (*s, *c) = (*s * cd + *c * sd, *c * cd - *s * sd);
            }
            self.rotated += 1;
        } else {
            for (current, &period) in self.current.iter_mut().zip(&self.periods) {
                *current = angle(t, period).sin_cos();
            }
            self.rotated = 0;
        }
        self.last = Some(t);
        &self.current
    }
}

/// How many cycles of a `period`-second season the observations cover where they cover it
/// least: the period is cut into [`COVERAGE_BINS`] parts (at least a step each) and each part's
/// observed steps are counted in cycles' worth. With a schedule, a part counts the cycles of its
/// open steps only, and a part that is always closed does not count (the season is still known
/// where it matters: the forecasts there are 0).
pub(super) fn min_cycles_observed(history: &History, period: i64) -> f64 {
    let step = history.step.max(1);
    let bins = usize::try_from(period / step)
        .unwrap_or(1)
        .clamp(1, COVERAGE_BINS);
    let bin_of = |i: usize| {
        let phase = history.time(i).rem_euclid(period) as i128;
        (phase * bins as i128 / period as i128) as usize
    };
    let mut observed = vec![0usize; bins];
    for (i, v) in history.values.iter().enumerate() {
        if !v.is_nan() {
            observed[bin_of(i)] += 1;
        }
    }
    let Some(schedule) = &history.schedule else {
        let per_cycle = period as f64 / (bins as f64 * step as f64);
        return observed
            .iter()
            .map(|&n| n as f64 / per_cycle)
            .fold(f64::INFINITY, f64::min);
    };
    let mut open = vec![0usize; bins];
    for i in 0..history.len() {
        if !schedule.is_closed(history.time(i)) {
            open[bin_of(i)] += 1;
        }
    }
    let cycles = (history.len() as f64 * step as f64) / period as f64;
    observed
        .iter()
        .zip(&open)
        .filter(|(_, open)| **open > 0)
        .map(|(&n, &open)| cycles * n as f64 / open as f64)
        .fold(f64::INFINITY, f64::min)
}

/// Whether the observations before step `until` hold a whole weekend
/// ([`weekend_days_observed`] at least [`WEEKEND_DAYS`]): what a weekend shape is fitted from.
pub(super) fn weekend_seen(history: &History, until: usize) -> bool {
    weekend_days_observed(history, until) >= WEEKEND_DAYS
}

/// How many weekend days' worth of steps the observations before step `until` cover where they
/// cover the day least: the day is cut into [`COVERAGE_BINS`] parts (at least a step each) and
/// each part's observed weekend steps are counted in days' worth. A part never observed on a
/// weekend in the whole history does not count (a schedule closed then: the weekend is known
/// where it matters); 0 when no weekend step is observed at all.
pub(super) fn weekend_days_observed(history: &History, until: usize) -> f64 {
    let step = history.step.max(1);
    let bins = usize::try_from(DAY / step)
        .unwrap_or(1)
        .clamp(1, COVERAGE_BINS);
    let bin_of = |t: i64| (t.rem_euclid(DAY) as i128 * bins as i128 / DAY as i128) as usize;
    // A day's steps per part (the parts need not hold whole steps alike).
    let mut per_day = vec![0usize; bins];
    for k in 0..DAY / step {
        per_day[bin_of(history.start + k * step)] += 1;
    }
    let mut before = vec![0usize; bins];
    let mut ever = vec![false; bins];
    for (i, v) in history.values.iter().enumerate() {
        let t = history.time(i);
        if v.is_nan() || !is_weekend(t) {
            continue;
        }
        ever[bin_of(t)] = true;
        if i < until {
            before[bin_of(t)] += 1;
        }
    }
    (0..bins)
        .filter(|&b| ever[b] && per_day[b] > 0)
        .map(|b| before[b] as f64 / per_day[b] as f64)
        .reduce(f64::min)
        .unwrap_or(0.0)
}

/// Saturday or Sunday in UTC (1970-01-01 was a Thursday).
pub(crate) fn is_weekend(t: i64) -> bool {
    (t.div_euclid(DAY) + 3).rem_euclid(7) >= 5
}

/// Chooses the columns for `history`, with a note for each simplification.
pub(super) fn choose_design(spec: &LinearSeasonalSpec, history: &History) -> (Design, Vec<String>) {
    let mut notes = Vec::new();
    let step = history.step;
    let last = history
        .values
        .iter()
        .rposition(|v| !v.is_nan())
        .unwrap_or(0);
    let t_last = history.time(last);
    let span = t_last - history.start + step;

    let mut seasons: Vec<(usize, Span)> = spec.seasons.iter().copied().enumerate().collect();
    seasons.sort_unstable_by_key(|(_, season)| *season);
    let mut terms: Vec<(i64, u32)> = Vec::new();
    let mut used = Vec::new();
    for (i, season) in seasons {
        let period = season.seconds();
        if period >= span {
            notes.push(format!(
                "season {season} is not shorter than the observed span ({}s): left out",
                span
            ));
            continue;
        }
        let cycles = min_cycles_observed(history, period);
        if cycles < MIN_CYCLES {
            notes.push(format!(
                "season {season}: part of it is observed in only {cycles:.1} cycles (needs {MIN_CYCLES}): left out"
            ));
            continue;
        }
        let wanted = spec.harmonics_for(i, season);
        // Largest k with 2·k·step < period (strictly below the Nyquist frequency).
        let nyquist = usize::try_from((period - 1) / step.saturating_mul(2)).unwrap_or(0);
        if nyquist == 0 {
            notes.push(format!(
                "season {season} is shorter than two steps of {step}s: left out"
            ));
            continue;
        }
        if wanted > nyquist {
            notes.push(format!(
                "season {season}: {wanted} harmonics capped to {nyquist} (Nyquist limit of {step}s steps)"
            ));
        }
        let mut count = 0;
        for k in 1..=wanted.min(nyquist) as u32 {
            // The same frequency from another season would duplicate a column.
            let duplicate = terms
                .iter()
                .any(|&(p, j)| k as i128 * p as i128 == j as i128 * period as i128);
            if !duplicate {
                terms.push((period, k));
                count += 1;
            }
        }
        used.push(SeasonUsed {
            season,
            harmonics: count,
        });
    }
    terms.sort_unstable();

    // At least two observations per parameter: drop the longest seasons' highest harmonics
    // first (they are what a short history supports least).
    let observed = history.observed;
    let before = terms.len();
    while !terms.is_empty() && observed < 2 * (2 + 2 * terms.len()) {
        if let Some((period, _)) = terms.pop()
            && let Some(season) = used.iter_mut().find(|s| s.season.seconds() == period)
        {
            season.harmonics -= 1;
        }
    }
    if terms.len() < before {
        notes.push(format!(
            "{observed} observed steps support only {} of {before} Fourier terms",
            terms.len()
        ));
    }
    used.retain(|s| s.harmonics > 0);

    let trend = if observed >= 4 && t_last > history.start {
        let center = history.start + (t_last - history.start) / 2;
        let scale = (t_last - history.start) as f64;
        let reach = (scale * TREND_REACH) as i64;
        Some((center, scale, t_last.saturating_add(reach)))
    } else {
        notes.push(format!(
            "{observed} observed step(s) are too few for a trend: fitting the level only"
        ));
        None
    };

    let mut design = Design {
        trend,
        terms,
        seasons: used,
        weekend: Vec::new(),
    };
    if spec.weekday_shape != WeekdayShape::Off {
        let daily: Vec<usize> = (0..design.terms.len())
            .filter(|&j| design.terms[j].0 == DAY)
            .collect();
        let extra = 1 + 2 * daily.len();
        if daily.is_empty() {
            if spec.weekday_shape == WeekdayShape::Weekend {
                notes.push("weekend shape: no daily season in the design: left out".to_string());
            }
        } else if !weekend_seen(history, history.len()) {
            if spec.weekday_shape == WeekdayShape::Weekend {
                notes.push(
                    "weekend shape needs a whole weekend observed (Saturday and Sunday, UTC): left out"
                        .to_string(),
                );
            }
        } else if observed < 2 * (design.base_columns() + extra) {
            notes.push(format!(
                "{observed} observed steps are too few for a weekend shape: left out"
            ));
        } else {
            design.weekend = daily;
        }
    }
    (design, notes)
}

/// The phase angle of `t` in a `period`-second season, from absolute time.
pub(super) fn angle(t: i64, period: i64) -> f64 {
    std::f64::consts::TAU * t.rem_euclid(period) as f64 / period as f64
}
