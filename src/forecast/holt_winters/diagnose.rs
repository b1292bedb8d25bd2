//! A diagnostic report on real traces (ignored: run it by hand).

use super::*;

/// Not a check: `cargo test --lib holt_winters::diagnose -- --ignored --nocapture`.
#[test]
#[ignore]
fn one_step_on_traces() {
    for (file, horizon) in [("taylor-elec-gb-2000-30m.csv", 1), ("nyc-taxi-30m.csv", 1)] {
        let series = crate::forecast::test_support::bundled_trace(file);
        let day = (86_400 / series.step()) as usize;
        for (label, seasonality, trend) in [
            ("auto", SeasonalityChoice::Auto, TrendChoice::Auto),
            (
                "add/add",
                SeasonalityChoice::Additive,
                TrendChoice::Additive,
            ),
            ("add/none", SeasonalityChoice::Additive, TrendChoice::None),
            (
                "add/damped",
                SeasonalityChoice::Additive,
                TrendChoice::Damped,
            ),
            (
                "mul/none",
                SeasonalityChoice::Multiplicative,
                TrendChoice::None,
            ),
        ] {
            let spec = HoltWintersSpec {
                seasons: vec!["1d".parse().unwrap()],
                seasonality,
                trend,
            };
            let (mut abs, mut count) = (0.0, 0);
            let mut described = String::new();
            for k in 0..10 {
                let end = series.len() / 2 + k * (series.len() / 2 - horizon) / 10;
                let train = series.slice(end - 14 * day..end);
                let model = spec.fit(&train).unwrap();
                let forecast = model.predict(horizon, &[]).unwrap();
                for h in 0..horizon {
                    let a = series.values()[end + h];
                    if !a.is_nan() {
                        abs += (a - forecast.yhat[h]).abs();
                        count += 1;
                    }
                }
                if k < 3 {
                    let p = model.params();
                    described += &format!(
                        " [{:?}/{:?} a{:.3} b{:.3} g{:.3} phi{:.3} rmse{:.1}]",
                        model.seasonality(),
                        model.trend(),
                        p.alpha,
                        p.beta,
                        p.gamma,
                        p.phi,
                        model.rmse()
                    );
                }
            }
            println!("{file} {label}: MAE {:.1}{described}", abs / count as f64);
        }
    }
}
