//! Fuzzes the JSON form of a scaled target (the body of `PUT /api/v1/targets/{target}`):
//! `serde_json::from_slice::<prescale::plan::Target>` then `Target::check`, and for a target that
//! passes the check, what the engine does with it: `live::plan_forecast_steps` sizes the
//! forecast it is planned on, and a `plan::Planner` plans on a synthetic forecast of that size.
//!
//! Asserts: no panic; a checked target serializes and parses back equal (and still checks); its
//! plan keeps every replica count within `min_replicas ..= max_replicas`, with finite loads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescale::forecast::{Band, Forecast};
use prescale::live::{DEFAULT_PLAN_HORIZON, plan_forecast_steps, plan_levels};
use prescale::plan::{Planner, Target};
use prescale::series::Sample;

/// 2026-01-05T10:00:00Z: the plan's `now` and the synthetic model's origin.
const NOW: i64 = 1_767_607_200;
const STEP: i64 = 60;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = serde_json::from_slice::<Target>(data) else {
        return;
    };
    if target.check().is_err() {
        return;
    }
    let text = serde_json::to_string(&target).expect("a target serializes");
    let again: Target = serde_json::from_str(&text).expect("a serialized target parses");
    assert_eq!(again, target, "round trip through {text}");
    again.check().expect("a round-tripped target checks");

    let Some(steps) = plan_forecast_steps(NOW, target.lead_time, DEFAULT_PLAN_HORIZON, NOW, STEP)
    else {
        return;
    };
    // A forecast as the cycle would predict it: bands at every level the target needs.
    let yhat: Vec<f64> = (0..steps)
        .map(|i| target.capacity_per_replica * (i % 7) as f64)
        .collect();
    let bands = plan_levels([target.quantile])
        .into_iter()
        .map(|level| Band {
            level,
            values: yhat.iter().map(|v| v * (0.5 + level)).collect(),
        })
        .collect();
    let forecast = Forecast {
        start: NOW,
        step: STEP,
        yhat,
        bands,
    };
    let observed = Some(Sample {
        timestamp: NOW - STEP,
        value: 3.5 * target.capacity_per_replica,
    });
    let Ok(plan) = Planner::default().plan(&target, &forecast, NOW, observed) else {
        return;
    };
    let bounds = target.min_replicas..=target.max_replicas;
    assert!(
        bounds.contains(&plan.current.replicas),
        "{:?}",
        plan.current
    );
    assert!(plan.current.load.is_finite(), "{:?}", plan.current);
    for point in &plan.points {
        assert!(bounds.contains(&point.replicas), "{point:?}");
        assert!(point.load.is_finite(), "{point:?}");
    }
});
