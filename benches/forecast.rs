//! Fit + predict on two weeks of real 1-minute traffic (20,160 points of the NASA HTTP trace),
//! horizon one hour (60 steps) with the levels the API asks for, for each model family and for
//! `auto`. This is the work the engine's periodic refit does per series. And a week of a
//! machine's CPU at 5 minutes with an hour-long nightly job (`scripts/derive_traces.py`'s
//! `batch-ec2-5m.csv`): the fits that find pulses, refit without their steps, and judge short
//! calibration fits' days all together. And four weeks of half-hourly electricity load, where
//! `auto` may hand its later steps over to MSTL. And two weeks of the taxi trace ending three
//! days after a daylight-saving change, recorded in UTC (the history before the change moved onto
//! the current clock) and on its own clock (nothing to move): what following the clock costs.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use prescale::forecast::ModelSpec;
use prescale::series::{Series, Span};

const POINTS: usize = 14 * 1440;
const HORIZON: usize = 60;
const LEVELS: [f64; 4] = [0.025, 0.1, 0.9, 0.975];

fn two_weeks() -> Series {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/nasa-http-1995-1m.csv");
    let dataset = prescale::series::csv::read_dataset(&path).expect("the bundled NASA trace");
    dataset.series.slice(0..POINTS)
}

fn fit_predict(c: &mut Criterion) {
    let series = two_weeks();
    assert_eq!(series.len(), POINTS);
    let seasons: Vec<Span> = vec!["1d".parse().unwrap(), "7d".parse().unwrap()];
    let mut group = c.benchmark_group("forecast-20160x1m");
    for name in ["seasonal-naive", "linear-seasonal", "holt-winters", "auto"] {
        let spec = ModelSpec::from_name(name, seasons.clone()).unwrap();
        group.bench_function(format!("{name}/fit+predict"), |b| {
            b.iter(|| {
                let model = spec.fit(black_box(&series)).unwrap();
                model.predict(HORIZON, &LEVELS).unwrap()
            })
        });
        let model = spec.fit(&series).unwrap();
        group.bench_function(format!("{name}/predict"), |b| {
            b.iter(|| black_box(&model).predict(HORIZON, &LEVELS).unwrap())
        });
    }
    group.finish();
}

/// Fit alone, per model (persist helper): the part of the refit that scales with the history.
fn fit_only(c: &mut Criterion) {
    let series = two_weeks();
    let seasons: Vec<Span> = vec!["1d".parse().unwrap(), "7d".parse().unwrap()];
    let mut group = c.benchmark_group("fit-20160x1m");
    for name in ["seasonal-naive", "linear-seasonal", "auto"] {
        let spec = ModelSpec::from_name(name, seasons.clone()).unwrap();
        group.bench_function(format!("{name}/fit"), |b| {
            b.iter(|| spec.fit(black_box(&series)).unwrap())
        });
    }
    group.finish();
}

/// Model files (persist helper): writing and reading back what `prescale train` saves and
/// `serve` loads, for the fitted `auto` model of the two weeks.
fn model_file(c: &mut Criterion) {
    use prescale::forecast::ModelFile;
    use prescale::forecast::model_file::Provenance;
    let series = two_weeks();
    let spec = ModelSpec::default();
    let model = spec.fit(&series).unwrap();
    let provenance = Provenance {
        dataset: "nasa-http-1995-1m.csv".into(),
        series: None,
        fitted_at: 0,
    };
    let file = ModelFile::new(spec, model, provenance);
    let text = file.to_json();
    let mut group = c.benchmark_group("model-file");
    group.bench_function("to_json", |b| b.iter(|| black_box(&file).to_json()));
    group.bench_function("from_json", |b| {
        b.iter(|| ModelFile::from_json(black_box(&text), "bench.json").unwrap())
    });
    group.finish();
}

/// The first week of the EC2 CPU trace with 1.5× its mean load added from 02:00 to 03:00 UTC
/// every day (as `scripts/derive_traces.py` derives `batch-ec2-5m.csv`).
fn a_week_with_a_nightly_job() -> Series {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/aws-ec2-cpu-5f5533-5m.csv");
    let dataset = prescale::series::csv::read_dataset(&path).expect("the bundled EC2 trace");
    let whole = &dataset.series;
    let known: Vec<f64> = whole
        .values()
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    let extra = 1.5 * known.iter().sum::<f64>() / known.len() as f64;
    let week = whole.slice(0..7 * 288);
    let values = (0..week.len())
        .map(|i| {
            let job = (7200..10_800).contains(&week.timestamp(i).rem_euclid(86_400));
            week.values()[i] + if job { extra } else { 0.0 }
        })
        .collect();
    Series::new(week.start(), week.step(), values).expect("the week")
}

fn nightly_job(c: &mut Criterion) {
    let series = a_week_with_a_nightly_job();
    let seasons: Vec<Span> = vec!["1d".parse().unwrap()];
    let names = ["linear-seasonal", "auto"];
    fit_predict_each(
        c,
        "forecast-2016x5m-nightly-job",
        &series,
        &seasons,
        &names,
        12,
    );
}

/// A group `name` timing fit + predict (`horizon` steps, [`LEVELS`]) of each model of `names`
/// on `series`.
fn fit_predict_each(
    c: &mut Criterion,
    name: &str,
    series: &Series,
    seasons: &[Span],
    names: &[&str],
    horizon: usize,
) {
    let mut group = c.benchmark_group(name);
    for name in names {
        let spec = ModelSpec::from_name(name, seasons.to_vec()).unwrap();
        group.bench_function(format!("{name}/fit+predict"), |b| {
            b.iter(|| {
                let model = spec.fit(black_box(series)).unwrap();
                model.predict(horizon, &LEVELS).unwrap()
            })
        });
    }
    group.finish();
}

/// The last 28 days of Britain's half-hourly electricity load (the Taylor trace): a window of
/// three weeks or more, where `auto` also fits MSTL before its calibration days and, where its
/// hand-over forecasts them better, on the whole window (the far model).
fn four_weeks_half_hourly() -> Series {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/taylor-elec-gb-2000-30m.csv");
    let dataset = prescale::series::csv::read_dataset(&path).expect("the bundled Taylor trace");
    let n = dataset.series.len();
    dataset.series.slice(n - 28 * 48..n)
}

fn four_weeks(c: &mut Criterion) {
    let series = four_weeks_half_hourly();
    let seasons: Vec<Span> = vec!["1d".parse().unwrap(), "7d".parse().unwrap()];
    let names = ["linear-seasonal", "mstl", "auto"];
    fit_predict_each(c, "forecast-1344x30m", &series, &seasons, &names, 4);
}

/// The taxi trace (New York's wall clock) as a collector in UTC records it, and as published:
/// two weeks ending three days after the change of 2014-11-02 06:00 UTC each.
fn two_weeks_across_a_clock_change() -> (Series, Series) {
    use chrono::{LocalResult, TimeZone};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/nyc-taxi-30m.csv");
    let published = prescale::series::csv::read_dataset(&path)
        .expect("the bundled taxi trace")
        .series;
    let ny = chrono_tz::America::New_York;
    let mut samples = Vec::new();
    for (i, &v) in published.values().iter().enumerate() {
        let wall = chrono::DateTime::from_timestamp(published.start() + i as i64 * 1800, 0)
            .unwrap()
            .naive_utc();
        let instants = match ny.from_local_datetime(&wall) {
            LocalResult::Single(t) => vec![(t, v)],
            LocalResult::Ambiguous(a, b) => vec![(a, v / 2.0), (b, v / 2.0)],
            LocalResult::None => vec![],
        };
        for (t, v) in instants {
            samples.push(prescale::series::Sample::new(t.timestamp(), v).unwrap());
        }
    }
    samples.sort_by_key(|s| s.timestamp);
    let utc = Series::from_samples(&samples, 1800).unwrap();
    let end = 1_414_908_000 + 3 * 86_400;
    let two_weeks = |series: &Series, end: i64| {
        let to = ((end - series.start()) / 1800) as usize;
        series.slice(to - 14 * 48..to)
    };
    (two_weeks(&utc, end), two_weeks(&published, end - 5 * 3600))
}

fn clock_change(c: &mut Criterion) {
    let (utc, published) = two_weeks_across_a_clock_change();
    let seasons: Vec<Span> = vec!["1d".parse().unwrap(), "7d".parse().unwrap()];
    fit_predict_each(c, "forecast-672x30m-utc", &utc, &seasons, &["auto"], 4);
    fit_predict_each(
        c,
        "forecast-672x30m-own-clock",
        &published,
        &seasons,
        &["auto"],
        4,
    );
}

criterion_group!(
    benches,
    fit_predict,
    fit_only,
    model_file,
    nightly_job,
    four_weeks,
    clock_change
);
criterion_main!(benches);
