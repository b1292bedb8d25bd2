//! `prescale import`: loads a dataset CSV into the store as one series.

use std::path::PathBuf;

use anyhow::Result;

use prescale::app::open_store;
use prescale::collect::import::import_dataset;
use prescale::config::DEFAULT_DATA_DIR;
use prescale::series::{SeriesKey, format_timestamp};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file.
    #[arg(long)]
    dataset: PathBuf,
    /// The series to write.
    #[arg(long)]
    series: String,
    /// sled data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Move the trace in time so that its last sample is now (on its step grid): recorded
    /// history becomes recent history that live targets plan on.
    #[arg(long)]
    shift_to_now: bool,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let key = SeriesKey::new(args.series)?;
    let store = open_store(&args.data_dir)?;
    let shift = args.shift_to_now.then(prescale::engine::runner::system_now);
    let report = import_dataset(&store, &args.dataset, &key, shift)?;
    println!(
        "imported {} samples into {key} ({} .. {}, step {}s) in {}",
        report.samples,
        format_timestamp(report.first),
        format_timestamp(report.last),
        report.step,
        args.data_dir.display()
    );
    Ok(())
}
