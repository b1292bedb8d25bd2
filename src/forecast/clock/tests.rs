//! Unit tests of the clock the traffic keeps: shapes moved by a daylight-saving change are moved
//! back onto one clock, shapes that did not move are left alone.

use chrono::{DateTime, Datelike, LocalResult, TimeZone, Timelike};
use chrono_tz::Tz;

use super::*;
use crate::forecast::ModelSpec;
use crate::forecast::history::History;
use crate::forecast::test_support::{Lcg, bundled_trace};
use crate::series::{Sample, Series, Span};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// 2014-11-02T06:00Z: New York leaves daylight-saving time (02:00 EDT becomes 01:00 EST).
const US_AUTUMN_2014: Timestamp = 1_414_908_000;
/// 2000-03-26T01:00Z: London's clocks go forward (GMT to BST).
const EU_SPRING_2000: Timestamp = 954_032_400;

/// Office traffic by `zone`'s wall clock: 100 from 09:00 to 17:00 on weekdays, 10 otherwise.
fn office(zone: Tz, t: Timestamp) -> f64 {
    let local = zone.timestamp_opt(t, 0).unwrap();
    let open = local.weekday().num_days_from_monday() < 5 && (9..17).contains(&local.hour());
    if open { 100.0 } else { 10.0 }
}

/// `days` days of `zone`'s office traffic at `step` seconds, recorded in UTC up to `end`, with
/// a little noise.
fn recorded(zone: Tz, end: Timestamp, days: i64, step: i64, seed: u64) -> (Timestamp, Vec<f64>) {
    let mut noise = Lcg(seed);
    let start = end - days * DAY;
    let values = (0..days * DAY / step)
        .map(|i| office(zone, start + i * step) + noise.normal())
        .collect();
    (start, values)
}

#[test]
fn office_hours_kept_in_new_york_are_moved_back_onto_one_clock_after_the_autumn_change() {
    let step = 900;
    // Two weeks ending on the Tuesday evening after the change.
    let (start, values) = recorded(
        chrono_tz::America::New_York,
        US_AUTUMN_2014 + 3 * DAY - 6 * HOUR,
        14,
        step,
        7,
    );
    let (new_start, aligned, change) =
        realigned(start, step, &values, None).expect("the move is seen");
    assert_eq!(change.rules, "US");
    assert_eq!(change.at, US_AUTUMN_2014);
    assert_eq!(
        change.moved, HOUR,
        "the traffic arrives an hour later in UTC"
    );
    assert_eq!(change.steps as i64, (US_AUTUMN_2014 - start) / step);
    let note = change.note();
    assert!(
        note.contains("an hour later") && note.contains("2014-11-02T06:00Z"),
        "{note}"
    );
    // The old clock's first hour moved onto the second; every step is now where New York's
    // current clock (EST: the fixed zone Etc/GMT+5) puts it, within the noise.
    assert_eq!(new_start, start + HOUR);
    assert_eq!(aligned.len(), values.len() - 4);
    for (k, &v) in aligned.iter().enumerate() {
        let expected = office(chrono_tz::Etc::GMTPlus5, new_start + k as i64 * step);
        assert!((v - expected).abs() < 6.0, "step {k}: {v} vs {expected}");
    }
}

#[test]
fn a_shape_kept_in_london_moves_an_hour_earlier_at_the_spring_change() {
    let step = 1800;
    // Three weeks ending on the Tuesday evening after the change (a Sunday).
    let (start, values) = recorded(
        chrono_tz::Europe::London,
        EU_SPRING_2000 + 60 * HOUR,
        21,
        step,
        11,
    );
    let (new_start, aligned, change) =
        realigned(start, step, &values, None).expect("the move is seen");
    assert_eq!(
        (change.rules, change.at, change.moved),
        ("EU", EU_SPRING_2000, -HOUR)
    );
    // The old clock's steps moved an hour earlier: the first two fall before the start, and
    // the last hour before the change is left empty.
    assert_eq!(new_start, start);
    assert_eq!(aligned.len(), values.len());
    let gap = ((EU_SPRING_2000 - start) / step) as usize;
    assert!(aligned[gap - 2].is_nan() && aligned[gap - 1].is_nan() && !aligned[gap].is_nan());
    for (k, &v) in aligned.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
        let expected = office(chrono_tz::Etc::GMTMinus1, new_start + k as i64 * step);
        assert!((v - expected).abs() < 6.0, "step {k}: {v} vs {expected}");
    }
}

#[test]
fn a_shape_that_did_not_move_is_left_as_it_is() {
    let step = 900;
    // Office hours kept in UTC across the same change.
    let (start, values) = recorded(chrono_tz::Etc::UTC, US_AUTUMN_2014 + 4 * DAY, 14, step, 3);
    assert_eq!(realigned(start, step, &values, None), None);
    // The taxi trace as published (New York's wall clock written as UTC: no move in it), at
    // every window ending in the three weeks after the change.
    let taxi = bundled_trace("nyc-taxi-30m.csv");
    for end in (0..84).map(|k| US_AUTUMN_2014 + 6 * HOUR + k * 6 * HOUR) {
        let (start, values) = window(&taxi, end, 14);
        assert_eq!(
            realigned(start, 1800, &values, None),
            None,
            "window ending {end}"
        );
    }
}

#[test]
fn too_little_traffic_since_the_change_or_too_short_a_history_is_left_as_it_is() {
    let ny = chrono_tz::America::New_York;
    let end = US_AUTUMN_2014 + 3 * DAY - 6 * HOUR;
    assert!(
        realigned_from(ny, end, 14, 900).is_some(),
        "the window the first test sees"
    );
    // Ten hours after the change (a Sunday: closed, nothing to see yet).
    assert!(realigned_from(ny, US_AUTUMN_2014 + 10 * HOUR, 14, 900).is_none());
    // A week of history: no week before the change to compare with.
    assert!(realigned_from(ny, end, 7, 900).is_none());
    // Steps that do not divide an hour, or longer than one.
    assert!(realigned_from(ny, end, 14, 420).is_none());
    assert!(realigned_from(ny, end, 14, 7200).is_none());
}

fn realigned_from(zone: Tz, end: Timestamp, days: i64, step: i64) -> Option<ClockChange> {
    let (start, values) = recorded(zone, end, days, step, 9);
    realigned(start, step, &values, None).map(|(_, _, change)| change)
}

/// The taxi trace (New York's wall clock) as a collector in UTC records it: the repeated hour's
/// count split over its two hours.
fn taxi_in_utc() -> Series {
    let local = bundled_trace("nyc-taxi-30m.csv");
    let ny = chrono_tz::America::New_York;
    let mut samples = Vec::new();
    for (i, &v) in local.values().iter().enumerate() {
        let wall = DateTime::from_timestamp(local.start() + i as i64 * 1800, 0)
            .unwrap()
            .naive_utc();
        match ny.from_local_datetime(&wall) {
            LocalResult::Single(t) => samples.push(Sample::new(t.timestamp(), v).unwrap()),
            LocalResult::Ambiguous(a, b) => {
                samples.push(Sample::new(a.timestamp(), v / 2.0).unwrap());
                samples.push(Sample::new(b.timestamp(), v / 2.0).unwrap());
            }
            LocalResult::None => {}
        }
    }
    samples.sort_by_key(|s| s.timestamp);
    Series::from_samples(&samples, 1800).unwrap()
}

/// `days` days of `series` ending at `end`: their start and values.
fn window(series: &Series, end: Timestamp, days: i64) -> (Timestamp, Vec<f64>) {
    let step = series.step();
    let from = ((end - days * DAY - series.start()) / step) as usize;
    let to = ((end - series.start()) / step) as usize;
    (
        series.start() + from as i64 * step,
        series.values()[from..to].to_vec(),
    )
}

#[test]
fn the_taxi_trace_in_utc_forecasts_the_week_after_the_change_as_well_as_on_its_own_clock() {
    let utc = taxi_in_utc();
    let local = bundled_trace("nyc-taxi-30m.csv");
    let seasons = ["1d", "7d"].map(|s| s.parse::<Span>().unwrap()).to_vec();
    let spec = ModelSpec::from_name("auto", seasons).unwrap();
    let (mut err_utc, mut err_local) = (0.0, 0.0);
    // Origins every 6 hours from three days after the change for a week, four steps ahead.
    for k in 0..28 {
        let origin = US_AUTUMN_2014 + 3 * DAY + k * 6 * HOUR;
        let (start, values) = window(&utc, origin, 14);
        let series = Series::new(start, 1800, values).unwrap();
        let history = History::new(&series).unwrap();
        let change = history.clock.as_ref().expect("the move is seen");
        assert_eq!(
            (change.rules, change.at, change.moved),
            ("US", US_AUTUMN_2014, HOUR)
        );
        let model = spec.fit(&series).unwrap();
        assert!(
            model
                .training()
                .fallbacks
                .iter()
                .any(|n| n.contains("daylight-saving"))
        );
        // The same instants on the published trace: its labels are EST (UTC−5) since the change.
        let (start, values) = window(&local, origin - 5 * HOUR, 14);
        let on_its_clock = spec
            .fit(&Series::new(start, 1800, values).unwrap())
            .unwrap();
        let (a, b) = (
            model.predict(4, &[]).unwrap(),
            on_its_clock.predict(4, &[]).unwrap(),
        );
        for h in 0..4 {
            let actual = utc.values()[((origin - utc.start()) / 1800) as usize + h];
            err_utc += (a.yhat[h] - actual).abs();
            err_local += (b.yhat[h] - actual).abs();
        }
    }
    // Without the move: 1.9× (four steps ahead, the week after the change; docs/forecasting.md).
    assert!(
        err_utc < 1.1 * err_local,
        "in UTC {err_utc}, on its own clock {err_local}"
    );
}

#[test]
fn noise_without_a_shape_is_left_as_it_is_whatever_its_draws() {
    let step = 900;
    let start = US_AUTUMN_2014 + 4 * DAY - 14 * DAY;
    for seed in 0..200 {
        let mut noise = Lcg(seed * 7919 + 1);
        let values: Vec<f64> = (0..14 * 96).map(|_| 50.0 + 10.0 * noise.normal()).collect();
        assert_eq!(realigned(start, step, &values, None), None, "seed {seed}");
    }
}

#[test]
fn a_burst_a_week_before_is_not_a_clock_change() {
    // Apple's tweets, the window ending 2015-04-06T18:17:53Z: a news burst a week before its
    // end, after south-east Australia's and New Zealand's autumn changes. Counted alone, the
    // burst's steps saved a quarter of the differences (z = 16).
    let apple = bundled_trace("twitter-volume-aapl-5m.csv");
    let (start, values) = window(&apple, 1_428_344_273, 14);
    assert_eq!(realigned(start, 300, &values, None), None);
    // And the window ending 2015-04-07T05:07:53Z, bursts a week apart on both sides of its
    // week: with every step's partner counted twice, they still saved 41 % on that day (z =
    // 64); without that day, nothing.
    let (start, values) = window(&apple, 1_428_383_273, 14);
    assert_eq!(realigned(start, 300, &values, None), None);
    // Noise with a 30-minute burst 40 times its level a week and 20 minutes before the end.
    let end = US_AUTUMN_2014 + 3 * DAY;
    let mut noise = Lcg(13);
    let values: Vec<f64> = (0..14 * 288)
        .map(|i| {
            let t = end - 14 * DAY + i * 300;
            let burst = (end - 7 * DAY - 50 * 60..end - 7 * DAY - 20 * 60).contains(&t);
            50.0 + 10.0 * noise.normal() + if burst { 2000.0 } else { 0.0 }
        })
        .collect();
    assert_eq!(realigned(end - 14 * DAY, 300, &values, None), None);
}

#[test]
fn a_call_centre_that_reports_nothing_while_closed_is_moved_too() {
    // New York office hours at 30-minute steps, no samples at all while closed: the move shows
    // in which hours hold values (the opening an hour later in UTC) more than in the values.
    let step = 1800;
    let ny = chrono_tz::America::New_York;
    let end = US_AUTUMN_2014 + 3 * DAY - 6 * HOUR;
    let (start, values) = recorded(ny, end, 21, step, 17);
    let values: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if office(ny, start + i as i64 * step) > 50.0 {
                v
            } else {
                f64::NAN
            }
        })
        .collect();
    let (new_start, aligned, change) =
        realigned(start, step, &values, None).expect("the move is seen");
    assert_eq!(
        (change.rules, change.at, change.moved),
        ("US", US_AUTUMN_2014, HOUR)
    );
    // Every value now sits in New York's current opening hours (EST).
    for (k, &v) in aligned.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
        let t = new_start + k as i64 * step;
        assert_eq!(office(chrono_tz::Etc::GMTPlus5, t), 100.0, "step {k}: {v}");
    }
    // Without the schedule's reading of gaps as closed, the values alone hold no move.
    let differences = |closed| {
        let (shift, _, _) = shifts(ny, start, step, values.len()).unwrap();
        week_ago_differences(start, step, &values, &shift, 336, closed)
    };
    assert!(evidence_of_move(&differences(false), 2).is_none());
    assert!(evidence_of_move(&differences(true), 2).is_some());
}
