//! `prescale backtest`: one dataset (a summary table, and the JSON report and SVG plot when
//! asked) or every dataset of a directory (`--all`: one row each, run several at once), with a
//! progress bar on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::model::{ModelArgs, ModelList};
use prescale::backtest::{self, Capacity, Outcome, Stage};
use prescale::series::Span;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["dataset", "all"])))]
pub struct BacktestArgs {
    /// The dataset CSV (`timestamp,value`).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Backtest every .csv file of this directory and print one row per dataset.
    #[arg(long, value_name = "DIR")]
    all: Option<PathBuf>,
    /// Forecast horizon of the accuracy part.
    #[arg(long, default_value = "30m")]
    horizon: Span,
    #[command(flatten)]
    model: ModelArgs<ModelList>,
    /// Rolling origins of the accuracy part.
    #[arg(long, default_value_t = 50)]
    origins: usize,
    /// Load one replica serves, or `auto` (the trace's 99th percentile / 20).
    #[arg(long, default_value = "auto", value_name = "X|auto")]
    capacity_per_replica: Capacity,
    /// Pod start-up delay (rounded up to whole steps); also the predictive lead time.
    #[arg(long, default_value = "2m")]
    startup_delay: Span,
    /// Fewest replicas every simulated policy runs (the target's min_replicas).
    #[arg(long, default_value_t = 1)]
    min_replicas: u32,
    /// Most replicas every simulated policy runs (the target's max_replicas).
    #[arg(long, default_value_t = 10_000)]
    max_replicas: u32,
    /// How often the predictive policy refits (the engine's default interval).
    #[arg(long, default_value = "10m", value_name = "DUR")]
    refit_every: Span,
    /// Judge SLO mode at this SLO (the fraction of steps fully served, e.g. 0.99) against the
    /// HPA tuned in hindsight; SLO mode is simulated at 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97,
    /// 0.98, 0.99, 0.995 and 0.999 besides.
    #[arg(long, value_name = "FRACTION")]
    slo: Option<f64>,
    /// Write the JSON report here (with --dataset).
    #[arg(long, value_name = "REPORT.json", conflicts_with = "all")]
    json: Option<PathBuf>,
    /// Write the SVG picture here (with --dataset).
    #[arg(long, value_name = "PLOT.svg", conflicts_with = "all")]
    plot: Option<PathBuf>,
    /// With --all: write NAME.json and NAME.svg for every dataset into this directory.
    #[arg(long, value_name = "DIR", requires = "all")]
    out_dir: Option<PathBuf>,
    /// With --all: datasets backtested at once [default: the number of CPUs].
    #[arg(long, requires = "all")]
    jobs: Option<usize>,
}

pub fn run(args: BacktestArgs) -> Result<()> {
    let options = backtest::Options {
        models: args.model.specs()?,
        seasons: args.model.season.clone(),
        horizon: args.horizon,
        train_window: args.model.train_window,
        origins: args.origins,
        capacity: args.capacity_per_replica,
        startup_delay: args.startup_delay,
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        refit_interval: args.refit_every,
        slo: args.slo,
        ..backtest::Options::default()
    };
    options.check()?;
    if let Some(dir) = &args.all {
        return backtest_all(dir, &options, args.out_dir.as_deref(), args.jobs);
    }
    let dataset = args.dataset.expect("clap requires --dataset or --all");
    let outcome = with_progress(&dataset, |progress| {
        backtest::run(&dataset, &options, progress)
    })?;
    print!("{}", outcome.report.text());
    write_outputs(&outcome, args.json.as_deref(), args.plot.as_deref())
}

/// Runs one backtest with a progress bar on a terminal (nothing otherwise: one dataset is
/// one line of output).
fn with_progress<T>(dataset: &Path, work: impl FnOnce(&mut dyn FnMut(Stage)) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work(&mut |_| {});
    }
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:40} {bar:40} {percent:>3}% [{elapsed}]")
            .expect("a valid template"),
    );
    let name = backtest::dataset_name(dataset);
    let out = work(&mut |stage| match stage {
        Stage::Accuracy { model, models } => {
            bar.set_message(format!("{name}: accuracy, model {}/{models}", model + 1));
        }
        Stage::Simulation { done, total } => {
            bar.set_message(format!("{name}: scaling simulation"));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    });
    bar.finish_and_clear();
    out
}

fn write_outputs(outcome: &Outcome, json: Option<&Path>, plot: Option<&Path>) -> Result<()> {
    if let Some(path) = json {
        std::fs::write(path, outcome.report.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = plot {
        backtest::plot::write_svg(path, outcome)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `--all`: backtests every dataset of `dir`, `jobs` at once, printing a line as each ends and
/// the overview table at the end; fails when any dataset failed (the others still print).
fn backtest_all(
    dir: &Path,
    options: &backtest::Options,
    out_dir: Option<&Path>,
    jobs: Option<usize>,
) -> Result<()> {
    let paths = backtest::datasets_in(dir)?;
    if let Some(out) = out_dir {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(paths.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "backtest {bar:40} {pos}/{len} datasets [{elapsed}] {msg}",
            )
            .expect("a valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(500));
        bar
    });
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let done = |i: usize, outcome: &Result<Outcome, backtest::BacktestError>| {
        let name = backtest::dataset_name(&paths[i]);
        let count = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut line = match outcome {
            Ok(o) => format!("{name}: done in {:.1} s", o.report.elapsed_seconds),
            Err(e) => format!("{name}: failed: {e}"),
        };
        if let (Some(out), Ok(outcome)) = (out_dir, outcome)
            && let Err(e) = write_report(out, &name, outcome)
        {
            line.push_str(&format!(" (could not write its report: {e:#})"));
        }
        match &bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("[{count}/{}] {line}", paths.len()),
        }
    };
    let results = backtest::run_many(&paths, options, jobs, &done);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(report) => reports.push(report),
            Err(e) => failed.push((backtest::dataset_name(path), e.to_string())),
        }
    }
    print!("{}", backtest::report::overview(&reports, &failed));
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {} datasets could not be backtested",
            failed.len(),
            paths.len()
        )
    }
}

/// `--out-dir`: one dataset's NAME.json and NAME.svg.
fn write_report(out: &Path, name: &str, outcome: &Outcome) -> Result<()> {
    let stem = name.trim_end_matches(".csv");
    std::fs::write(out.join(format!("{stem}.json")), outcome.report.to_json())?;
    backtest::plot::write_svg(&out.join(format!("{stem}.svg")), outcome)?;
    Ok(())
}
