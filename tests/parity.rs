//! The parity test (DESIGN.md): one recorded trace through the live engine, on a real sled store
//! with a fixed clock, and through the backtest's scaling simulation. Both must make the same
//! plans at every step, or the backtest would not measure what production does. Both run the
//! one live cycle (`prescale::live`), so this holds by construction; the test guards it (the
//! engine's store reads, locks and threads around the cycle are the engine's own).
//!
//! The engine is driven the way its runner drives it — samples land in the store, then a refit
//! pass and a re-plan pass at `now` — once at the start of every step of the trace, which is
//! exactly when the backtest's policies decide.

mod common;

use std::path::Path;

use prescale::backtest::fleet::PolicyKind;
use prescale::backtest::hpa::Follower;
use prescale::backtest::predictive::PredictivePolicy;
use prescale::backtest::simulate::{QUANTILES, ScalingConfig, simulate};
use prescale::engine::{Engine, EngineSettings, PlanState};
use prescale::forecast::ModelSpec;
use prescale::live::{CycleSettings, SeriesCycle, plan_levels};
use prescale::plan::{MetricValue, Target};
use prescale::series::SeriesKey;
use prescale::series::csv::read_dataset;
use prescale::store::Store;

use common::span;

#[test]
fn engine_and_backtest_make_identical_plans() {
    let data = read_dataset(Path::new("datasets/aws-elb-request-count-5m.csv")).unwrap();
    let (series, samples) = (&data.series, &data.samples);
    // Seven days of history, then one day (288 five-minute steps) decided step by step.
    let start = 7 * 288;
    let period = start..start + 288;
    let mut sorted: Vec<f64> = series
        .values()
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let capacity = sorted[sorted.len() * 99 / 100] / 20.0;
    let config = ScalingConfig {
        capacity_per_replica: capacity,
        startup_delay: span("10m"),
        min_replicas: 1,
        max_replicas: 1000,
        utilizations: vec![],
        quantiles: QUANTILES.to_vec(),
        reactive_utilizations: vec![],
        slos: vec![],
        slo: None,
        // An HPA that follows the published count exactly, so that the simulated Deployment
        // runs what the engine published (the default follower ignores small scale-downs).
        follower: Follower {
            scale_up_tolerance: 0.0,
            scale_down_tolerance: 0.0,
        },
        model: ModelSpec::from_name("linear-seasonal", vec![span("1d")]).unwrap(),
        cycle: CycleSettings {
            train_window: span("7d"),
            refit_interval: span("1h"),
            plan_horizon: span("1h"),
        },
        stabilization: span("5m"),
    };
    let simulation = simulate(series, samples, period.clone(), &config, &mut |_, _| {}).unwrap();

    // The live engine, with the same settings, one target per quantile.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let settings = EngineSettings {
        refit_interval: config.cycle.refit_interval,
        replan_interval: span("15s"),
        train_window: config.cycle.train_window,
        plan_horizon: config.cycle.plan_horizon,
        model: config.model.clone(),
        series_retention: None,
        ..EngineSettings::default()
    };
    let engine = Engine::new(store.clone(), settings).unwrap();
    let key = SeriesKey::new("backtest").unwrap();
    let targets: Vec<(String, Target)> = QUANTILES
        .iter()
        .map(|&quantile| {
            let target = Target {
                series: key.clone(),
                capacity_per_replica: capacity,
                min_replicas: config.min_replicas,
                max_replicas: config.max_replicas,
                lead_time: simulation.lead_time,
                quantile,
                scale_down_stabilization: config.stabilization,
                metric_value: MetricValue::Replicas,
                labels: Default::default(),
                reactive_utilization: None,
                slo: None,
            };
            (format!("q{}", (quantile * 100.0).round()), target)
        })
        .collect();
    for (name, target) in &targets {
        engine.put_target(name, target.clone()).unwrap();
    }

    // The backtest's building blocks, to compare whole plans and not only replica counts.
    let mut cycle = SeriesCycle::new(config.model.clone());
    let levels = plan_levels(QUANTILES);
    let mut policies: Vec<PredictivePolicy> = targets
        .iter()
        .map(|(_, target)| PredictivePolicy::new(target.clone()))
        .collect();

    let mut replicas = vec![simulation.initial_replicas; targets.len()];
    let mut backtest_replicas = replicas.clone();
    let mut stored = 0;
    let mut planned_steps = 0;
    for (done, t) in period.clone().enumerate() {
        let now = series.timestamp(t);
        let known = samples.partition_point(|s| s.timestamp < now);
        if known > stored {
            store.append(&key, &samples[stored..known]).unwrap();
            stored = known;
        }
        engine.refit_due(now).unwrap();
        engine.replan(now);
        cycle.tick(now, &samples[..known], &config.cycle, &mut || 0.0);

        for (k, (name, _)) in targets.iter().enumerate() {
            let state = engine.plan_state(name).expect("every target gets a state");
            let observed = samples[..known].last().copied();
            backtest_replicas[k] = policies[k].decide(
                &mut cycle,
                now,
                observed,
                &levels,
                &config.cycle,
                backtest_replicas[k],
            );
            match (&*state, &policies[k].last_plan) {
                (PlanState::Planned { plan, .. }, Some(backtest_plan)) => {
                    assert_eq!(&**plan, backtest_plan, "target {name} at step {t}");
                    assert_eq!(plan.computed_at, now, "target {name} at step {t}");
                    replicas[k] = plan.current.replicas;
                    planned_steps += 1;
                }
                (PlanState::Unplanned { reason, .. }, None) => {
                    panic!("target {name} unplanned at step {t}: {reason}")
                }
                (state, plan) => panic!("target {name} at step {t}: {state:?} vs {plan:?}"),
            }
            let run = simulation
                .run(PolicyKind::Predictive, QUANTILES[k])
                .expect("a run per quantile");
            assert_eq!(
                run.provisioned[done], replicas[k],
                "target {name}: the simulation scaled to another count at step {t}"
            );
            assert_eq!(backtest_replicas[k], replicas[k]);
        }
    }
    assert_eq!(planned_steps, period.len() * targets.len());
    assert_eq!(
        engine.stats.fits.load(std::sync::atomic::Ordering::Relaxed) as usize,
        simulation.fits,
        "the engine and the backtest refit on the same schedule"
    );
    // The plans were not trivially constant: the day's load moved the replica counts.
    let run = simulation.run(PolicyKind::Predictive, 0.9).unwrap();
    let (low, high) = (
        run.provisioned.iter().min().unwrap(),
        run.provisioned.iter().max().unwrap(),
    );
    assert!(high > low, "replicas stayed at {low} all day");
}
