//! The accuracy half of `prescale backtest`, alone and quick: for every dataset of a directory,
//! at the comparison script's two horizons (15 and 60 minutes, or 1 and 4 steps on traces
//! coarser than 15 minutes) and its train window, MASE and 80 %/95 % coverage of each model over
//! the yardstick's rolling origins. No scaling simulation, so it takes seconds, not minutes: the
//! tool for judging a forecasting change across every trace at once.
//!
//! ```sh
//! cargo run --release --example accuracy -- [DIR] [--origins N] [--models auto,linear-seasonal]
//!     [--only SUBSTR] [--choices] [--step 1h] [--seasons 1d,7d]
//! ```
//!
//! `--step` first averages every trace onto a coarser grid (a whole multiple of its own step;
//! traces it does not divide are skipped): the bundled traces as traces of another step, a check
//! that a change does not win only at the steps it was made on.

use std::path::PathBuf;

use prescale::backtest::{Setup, accuracy, dataset_name, datasets_in};
use prescale::forecast::ModelSpec;
use prescale::series::csv::{Dataset, read_dataset};
use prescale::series::{Series, Span};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = PathBuf::from("datasets");
    let mut origins = 50usize;
    let mut models = vec!["auto".to_string(), "linear-seasonal".to_string()];
    let mut only: Option<String> = None;
    let mut choices = false;
    let mut coarser: Option<Span> = None;
    let mut seasons: Vec<Span> = vec!["1d".parse()?, "7d".parse()?];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--origins" => origins = args.next().ok_or("--origins N")?.parse()?,
            "--models" => {
                models = args
                    .next()
                    .ok_or("--models LIST")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--only" => only = Some(args.next().ok_or("--only SUBSTR")?),
            "--choices" => choices = true,
            "--step" => coarser = Some(args.next().ok_or("--step DURATION")?.parse()?),
            "--seasons" => {
                seasons = args
                    .next()
                    .ok_or("--seasons LIST")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => dir = PathBuf::from(other),
        }
    }
    println!(
        "| dataset | h | {} |",
        models
            .iter()
            .map(|m| format!("{m} MASE | cov80 | cov95 | ms"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let mut sums = vec![(0.0, 0usize); models.len()];
    for path in datasets_in(&dir)? {
        let name = dataset_name(&path);
        if only.as_ref().is_some_and(|s| !name.contains(s.as_str())) {
            continue;
        }
        let dataset = read_dataset(&path)?;
        let dataset = match coarser {
            None => dataset,
            Some(step) => match averaged(&dataset.series, step.seconds())? {
                Some(dataset) => dataset,
                None => continue,
            },
        };
        let series = &dataset.series;
        let step = series.step();
        let horizons: [Span; 2] = if step <= 900 {
            [Span::from_seconds(900)?, Span::from_seconds(3600)?]
        } else {
            [Span::from_seconds(step)?, Span::from_seconds(4 * step)?]
        };
        for horizon in horizons {
            let setup = Setup::new(series.len(), step, horizon, None, &seasons)?;
            let at = setup.origins(origins);
            let mut line = format!("| {name} | {} |", setup.horizon_steps);
            for (m, model) in models.iter().enumerate() {
                let spec = ModelSpec::from_name(model, setup.seasons.clone())?;
                let row = accuracy::evaluate(series, &dataset.samples, &setup, &spec, &at);
                line += &format!(
                    " {:.4} | {:.3} | {:.3} | {:.1} |",
                    row.mase,
                    row.coverage80,
                    row.coverage95,
                    row.fit_predict_seconds * 1e3
                );
                if row.failures > 0 {
                    line += &format!(" ({} failures: {:?})", row.failures, row.error);
                }
                if choices {
                    let mut seen = std::collections::BTreeMap::new();
                    for &i in &at {
                        if let Ok(f) = accuracy::forecast_from(
                            &dataset.samples,
                            step,
                            &spec,
                            series.timestamp(i),
                            setup.train_window,
                            setup.horizon_steps,
                        ) {
                            *seen.entry(f.model).or_insert(0usize) += 1;
                        }
                    }
                    line += &format!(" {seen:?} |");
                }
                if row.mase.is_finite() {
                    sums[m].0 += row.mase;
                    sums[m].1 += 1;
                }
            }
            println!("{line}");
        }
    }
    for (model, (sum, n)) in models.iter().zip(sums) {
        println!("mean MASE {model}: {:.4} over {n}", sum / n.max(1) as f64);
    }
    Ok(())
}

/// `series` averaged onto a grid of `step` seconds (the mean of the observed values of each
/// group of whole steps; missing when none is observed), or `None` when `step` is not a larger
/// whole multiple of the series' step.
fn averaged(series: &Series, step: i64) -> Result<Option<Dataset>, Box<dyn std::error::Error>> {
    let own = series.step();
    if step <= own || step % own != 0 {
        return Ok(None);
    }
    let factor = usize::try_from(step / own)?;
    let values = series
        .values()
        .chunks_exact(factor)
        .map(|group| {
            let seen: Vec<f64> = group.iter().copied().filter(|v| !v.is_nan()).collect();
            if seen.is_empty() {
                f64::NAN
            } else {
                seen.iter().sum::<f64>() / seen.len() as f64
            }
        })
        .collect();
    let series = Series::new(series.start(), step, values)?;
    Ok(Some(Dataset {
        samples: series.samples(),
        series,
    }))
}
