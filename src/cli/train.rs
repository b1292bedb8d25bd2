//! `prescale train`: fits a model on the newest train window of a dataset and saves it as a
//! model file (see [`prescale::train`]), printing what was fitted.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::model::{ModelArgs, OneModel};
use prescale::engine::runner;
use prescale::series::SeriesKey;
use prescale::train::{TrainRequest, describe, train, write_model_file};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: PathBuf,
    #[command(flatten)]
    model: ModelArgs<OneModel>,
    /// The series the model is meant for (recorded in the file).
    #[arg(long)]
    series: Option<String>,
    /// The model file to write, e.g. models/NAME.json.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
}

pub fn run(args: TrainArgs) -> Result<()> {
    // The model name first: a typo should not wait for the dataset to be read.
    args.model.spec()?;
    if let Some(series) = &args.series {
        SeriesKey::new(series.clone()).context("--series")?;
    }
    let request = TrainRequest {
        dataset: &args.dataset,
        model: &args.model.model.name,
        seasons: args.model.season.clone(),
        train_window: args.model.train_window,
        series: args.series.clone(),
        fitted_at: fitted_at()?,
    };
    let trained = train(&request)?;
    write_model_file(&args.out, &trained.file)?;
    for note in &trained.notes {
        eprintln!("note: {note}");
    }
    print!("{}", describe(&trained.file));
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The time recorded as a model file's `fitted_at`: now, or `SOURCE_DATE_EPOCH` (unix seconds)
/// when set, the reproducible-builds convention, so that `scripts/train-models.sh` writes the
/// same files every time.
fn fitted_at() -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not unix seconds")),
        Err(_) => Ok(runner::system_now()),
    }
}
