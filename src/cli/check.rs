//! `prescale check`: decodes every block of a store and reports the damage by series; fails
//! (exit status 1) when anything is damaged. Run it with the service stopped (sled allows one
//! process at a time).

use std::path::PathBuf;

use anyhow::{Result, bail};

use prescale::app::open_store;
use prescale::config::DEFAULT_DATA_DIR;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// sled data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub fn run(args: CheckArgs) -> Result<()> {
    if !args.data_dir.is_dir() {
        bail!("{}: no such data directory", args.data_dir.display());
    }
    let store = open_store(&args.data_dir)?;
    let report = store.check()?;
    let blocks: usize = report.series.iter().map(|s| s.blocks).sum();
    let samples: u64 = report.series.iter().map(|s| s.samples).sum();
    let damaged: Vec<_> = report
        .series
        .iter()
        .filter(|s| !s.damage.is_empty())
        .collect();
    for series in &damaged {
        for damage in &series.damage {
            println!("damaged: series {:?}: {damage}", series.series);
        }
    }
    for record in &report.damaged_records {
        println!("damaged: {record}");
    }
    if report.orphan_blocks > 0 {
        println!(
            "damaged: {} blocks belong to no series in the catalogue",
            report.orphan_blocks
        );
    }
    println!(
        "checked {} series ({} blocks, {} samples readable) and {} targets in {}",
        report.series.len(),
        blocks,
        samples,
        report.targets,
        args.data_dir.display()
    );
    if !report.is_clean() {
        bail!(
            "{} series damaged{}: their damaged blocks cannot be read (delete the series, or \
             restore the data directory from a backup)",
            damaged.len(),
            if report.damaged_records.is_empty() && report.orphan_blocks == 0 {
                String::new()
            } else {
                ", and other records (above)".to_string()
            }
        );
    }
    println!("no damage found");
    Ok(())
}
