//! `prescale forecast`: forecasts a dataset at the origins listed in a file and writes them in
//! the forecast file format (DESIGN.md), which the evaluation yardstick scores.

use std::path::PathBuf;

use anyhow::Result;

use super::model::{ModelArgs, OneModel};
use prescale::backtest::forecast_file;
use prescale::series::Span;

#[derive(clap::Args)]
pub struct ForecastArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: PathBuf,
    /// Origins, one timestamp per line (as `eval/peers.py --emit-origins` writes them).
    #[arg(long)]
    origins_file: PathBuf,
    /// How far each forecast reaches (whole steps, at least one).
    #[arg(long)]
    horizon: Span,
    #[command(flatten)]
    model: ModelArgs<OneModel>,
    /// The forecast file to write.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
}

pub fn run(args: ForecastArgs) -> Result<()> {
    let request = forecast_file::Request {
        dataset: &args.dataset,
        origins_file: &args.origins_file,
        horizon: args.horizon,
        model: &args.model.model.name,
        seasons: args.model.season.clone(),
        train_window: args.model.train_window,
        out: &args.out,
    };
    let written = forecast_file::run(&request)?;
    let seasons: Vec<String> = written.seasons.iter().map(|s| s.days_text()).collect();
    println!(
        "wrote {} forecasts of {} steps ({} rows, model {}, seasons {}) to {}; mean fit+predict {:.6} s",
        written.origins,
        written.horizon_steps,
        written.rows,
        args.model.model.name,
        seasons.join(","),
        args.out.display(),
        written.fit_predict_seconds
    );
    Ok(())
}
