//! The clock the traffic keeps. People's traffic follows their wall clock, and a collector
//! records it in UTC: at a daylight-saving change the whole daily and weekly shape arrives an
//! hour earlier or later in UTC, and every seasonal model fitted across the change sees two
//! shapes an hour apart (on the NYC taxi trace written in UTC, the week after the autumn change
//! forecast 1.6× the error one step ahead and 1.9× four steps ahead).
//!
//! [`realigned`] tests, at the changes of a few rule sets (the US, the EU, south-east Australia,
//! New Zealand: the IANA database's own dates, past and future) that fall inside the history,
//! whether the traffic since the change matches the week before it better an hour later (or
//! earlier) than at the same UTC time: over 12 hours or more, the differences from a week
//! before must shrink by a fifth and by 3 times what the noise of one difference times the root
//! of their count could save by chance, and so without the day that shrank most (a clock change
//! shows every day, a news burst on one). Where it does, the history before the change is moved
//! by that hour onto the current clock, so every model fits one shape; the forecast's own
//! timestamps stay UTC.
//!
//! Needs a week before the change to compare with (a window of 8 days or more) and a step that
//! divides an hour. A shape that did not move (traffic kept in UTC, a machine's load) gains
//! nothing from the move and is left as it is; so is a series whose week after the change
//! differs from the week before for other reasons (a holiday): the gain is not consistent.

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::intervals::empirical_quantiles;
use super::schedule::Schedule;
use crate::series::Timestamp;

/// The rule sets tested, each by one zone that keeps them (the EU's clocks all change at
/// 01:00 UTC; US zones change at 02:00 local time, New York's the first).
const RULES: [(&str, Tz); 4] = [
    ("US", chrono_tz::America::New_York),
    ("EU", chrono_tz::Europe::London),
    ("south-east Australian", chrono_tz::Australia::Sydney),
    ("New Zealand", chrono_tz::Pacific::Auckland),
];

/// Hours of traffic after a change that must show the move before it is believed.
const MIN_HOURS: usize = 12;

/// The least share of the week-ago differences (at the same UTC time) the move must save.
const MIN_GAIN_SHARE: f64 = 0.2;

/// How many times the noise of one difference (their median) times the square root of their
/// count the saving must be. Noise without a shape saves nothing on average and about that
/// noise times the root of the count by chance; a shape that moved saves a lot at its edges
/// (an opening, a ramp) even where few hours show it.
const EVIDENCE_Z: f64 = 3.0;

/// Windows shorter than this (90 days) cannot hold two changes of one rule set, so the same
/// offset at both ends means none inside.
const QUICK_CHECK_HOURS: usize = 90 * 24;

/// A move of the history onto the current clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClockChange {
    /// Whose daylight-saving rules ("US", "EU", …).
    pub rules: &'static str,
    /// When the latest change inside the history happened.
    pub at: Timestamp,
    /// Seconds the traffic moved in UTC at that change: +3600 when it arrives an hour later
    /// (the autumn change), −3600 an hour earlier (the spring one).
    pub moved: i64,
    /// Steps of the history moved onto the current clock.
    pub steps: usize,
}

impl ClockChange {
    /// The note a fitted model keeps.
    pub fn note(&self) -> String {
        let when = DateTime::from_timestamp(self.at, 0).map_or_else(
            || self.at.to_string(),
            |t| t.format("%Y-%m-%dT%H:%MZ").to_string(),
        );
        let way = if self.moved > 0 { "later" } else { "earlier" };
        format!(
            "the daily shape arrives an hour {way} in UTC since the {} daylight-saving change at \
             {when}: the {} steps before it were moved onto the current clock",
            self.rules, self.steps
        )
    }
}

/// The history `values` (from `start`, one every `step` seconds) moved onto the current clock
/// where its traffic keeps one of [`RULES`] and a change falls inside it: the new start (leading
/// gaps trimmed), the values, and what was moved. `None` where nothing moved. Where the history
/// has a schedule ([`Schedule::detect`], `prior` the previous fit's), its gaps count as nothing
/// served in the comparison: a call centre that reports nothing while closed shows the move in
/// which hours hold values (its opening an hour later) more than in the values themselves.
pub(crate) fn realigned(
    start: Timestamp,
    step: i64,
    values: &[f64],
    prior: Option<&Schedule>,
) -> Option<(Timestamp, Vec<f64>, ClockChange)> {
    if step <= 0 || step > 3600 || 3600 % step != 0 {
        return None;
    }
    let per_day = usize::try_from(86_400 / step).ok()?;
    let week = 7 * per_day;
    let n = values.len();
    if n < week + per_day {
        return None;
    }
    let mut best: Option<(f64, Vec<isize>, ClockChange)> = None;
    let mut closed_gaps = None;
    for (rules, zone) in RULES {
        let Some((shift, at, moved)) = shifts(zone, start, step, n) else {
            continue;
        };
        let closed_gaps = *closed_gaps
            .get_or_insert_with(|| Schedule::detect(start, step, values, prior).is_some());
        let differences = week_ago_differences(start, step, values, &shift, week, closed_gaps);
        let Some(evidence) = evidence_of_move(&differences, (3600 / step) as usize) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _, _)| evidence > *b) {
            let steps = shift.iter().filter(|&&s| s != 0).count();
            let change = ClockChange {
                rules,
                at,
                moved,
                steps,
            };
            best = Some((evidence, shift, change));
        }
    }
    let (_, shift, change) = best?;
    let mut aligned = vec![f64::NAN; n];
    // The moved steps first, then the current clock's over them (an autumn change makes an
    // hour of the old clock land on the new one's first hour).
    for current in [false, true] {
        for (i, (&value, &s)) in values.iter().zip(&shift).enumerate() {
            let k = i as isize + s;
            if (s == 0) == current && (0..n as isize).contains(&k) && !value.is_nan() {
                aligned[k as usize] = value;
            }
        }
    }
    let first = aligned.iter().position(|v| !v.is_nan())?;
    aligned.drain(..first);
    Some((start + first as i64 * step, aligned, change))
}

/// Per step, how many steps its value moves onto the current clock (`zone`'s offset then
/// minus its offset at the last step), with the latest change inside the history and the
/// seconds the traffic moved there; `None` where the offset never changes.
fn shifts(zone: Tz, start: Timestamp, step: i64, n: usize) -> Option<(Vec<isize>, Timestamp, i64)> {
    // Changes happen on the hour: one offset per hour of the history, up to its last step's.
    let first_hour = start.div_euclid(3600) * 3600;
    let last_step = start.checked_add((n as i64 - 1).checked_mul(step)?)?;
    let hours = usize::try_from((last_step - first_hour).div_euclid(3600) + 1).ok()?;
    let hour_of = |i: usize| ((start + i as i64 * step - first_hour) / 3600) as usize;
    // Changes are months apart: a window shorter than that with one offset at both ends holds
    // none (the common case, two lookups).
    if hours < QUICK_CHECK_HOURS
        && offset(zone, first_hour)? == offset(zone, first_hour + (hours as i64 - 1) * 3600)?
    {
        return None;
    }
    let offsets: Vec<i64> = (0..hours)
        .map(|h| offset(zone, first_hour + h as i64 * 3600))
        .collect::<Option<_>>()?;
    let now = *offsets.last()?;
    if offsets.iter().all(|&o| o == now) {
        return None;
    }
    let shift: Vec<isize> = (0..n)
        .map(|i| ((offsets[hour_of(i)] - now) / step) as isize)
        .collect();
    let last = offsets.windows(2).rposition(|w| w[0] != w[1])? + 1;
    // The wall clock gained an hour (spring): the traffic arrives an hour earlier in UTC.
    let moved = offsets[last - 1] - offsets[last];
    Some((shift, first_hour + last as i64 * 3600, moved))
}

/// `zone`'s offset from UTC, in seconds, at `t`.
fn offset(zone: Tz, t: Timestamp) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?.naive_utc();
    Some(i64::from(
        zone.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
    ))
}

/// A step whose week-ago partner is on the other side of a change: how far its value is from
/// the value a week before at the same UTC time and from the one on the moved clock.
#[derive(Debug, Clone, Copy)]
struct Difference {
    /// The UTC day of the step (days since the epoch).
    day: i64,
    same: f64,
    moved: f64,
}

/// The [`Difference`] of each step whose week-ago partner is on the other side of a change.
/// Only steps whose week-ago value is also another such step's moved-clock partner count: a
/// burst a week before then adds as much to one difference as to the other, where alone (a
/// week before the last hour) it would count as a saving of its whole size.
fn week_ago_differences(
    start: Timestamp,
    step: i64,
    values: &[f64],
    shift: &[isize],
    week: usize,
    closed_gaps: bool,
) -> Vec<Difference> {
    // A gap of a scheduled series served nothing; any other gap is unknown.
    let value = |i: usize| match values[i] {
        v if v.is_nan() && closed_gaps => 0.0,
        v => v,
    };
    let n = values.len() as isize;
    let crossing = |i: isize| {
        (week as isize..n).contains(&i) && {
            let (i, then) = (i as usize, i as usize - week);
            shift[i] != shift[then]
        }
    };
    let mut out = Vec::new();
    for i in week..values.len() {
        let then = i - week;
        if shift[i] == shift[then] {
            continue;
        }
        let partner = then as isize + shift[i] - shift[then];
        // The step whose moved-clock partner is `then`.
        let counterpart = i as isize + then as isize - partner;
        if partner < 0 || !crossing(counterpart) {
            continue;
        }
        let (now, same, moved) = (value(i), value(then), value(partner as usize));
        if !(now.is_nan() || same.is_nan() || moved.is_nan()) {
            out.push(Difference {
                day: (start + i as i64 * step).div_euclid(86_400),
                same: (now - same).abs(),
                moved: (now - moved).abs(),
            });
        }
    }
    out
}

/// How strongly `differences` show the move ([`evidence`]), where they show it without the UTC
/// day that saved most as well: a clock change shows every day, a news burst (a week before,
/// or now) on one.
fn evidence_of_move(differences: &[Difference], per_hour: usize) -> Option<f64> {
    let mut by_day: Vec<(i64, f64)> = Vec::new();
    for d in differences {
        match by_day.last_mut() {
            Some((day, saving)) if *day == d.day => *saving += d.same - d.moved,
            _ => by_day.push((d.day, d.same - d.moved)),
        }
    }
    let (best_day, _) = by_day.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let rest: Vec<Difference> = differences
        .iter()
        .filter(|d| d.day != best_day)
        .copied()
        .collect();
    evidence(&rest, per_hour)?;
    evidence(differences, per_hour)
}

/// The saving of the moved clock over the noise of one difference (their median) times the
/// root of their count, when they cover [`MIN_HOURS`] of steps (`per_hour` a hour), the saving
/// is [`MIN_GAIN_SHARE`] of the same-time differences and that is at least [`EVIDENCE_Z`].
fn evidence(differences: &[Difference], per_hour: usize) -> Option<f64> {
    let n = differences.len();
    if n < MIN_HOURS * per_hour {
        return None;
    }
    let base: f64 = differences.iter().map(|d| d.same).sum();
    let saving: f64 = differences.iter().map(|d| d.same - d.moved).sum();
    if !(saving >= MIN_GAIN_SHARE * base && base > 0.0) {
        return None;
    }
    let mut same: Vec<f64> = differences.iter().map(|d| d.same).collect();
    let median = empirical_quantiles(&mut same, &[0.5])[0];
    // Steps that repeat exactly (a constant stretch) have no noise: their mean then.
    let noise = if median > 0.0 {
        median
    } else {
        base / n as f64
    };
    let z = saving / (noise * (n as f64).sqrt());
    (z >= EVIDENCE_Z).then_some(z)
}

#[cfg(test)]
mod tests;
