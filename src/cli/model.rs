//! The model flags of `train`, `forecast` and `backtest` — `--model`, `--season`,
//! `--train-window` — declared once and flattened into each command, so that the three name,
//! default and document them alike.

use clap::Args;

use prescale::forecast::{ForecastError, ModelSpec};
use prescale::series::Span;

/// Which model is fitted, with which seasons, on how much history.
///
/// `M` is the `--model` flag: one model ([`OneModel`]: `train`, `forecast`) or a list
/// ([`ModelList`]: `backtest`, which scores several side by side). The flag keeps one name
/// across the commands while its arity differs, so it is the one part given per command.
#[derive(Args)]
pub struct ModelArgs<M: Args> {
    #[command(flatten)]
    pub model: M,
    /// Seasons (comma list); those that do not fit twice in the train window are dropped.
    #[arg(long, value_delimiter = ',', default_value = "1d,7d")]
    pub season: Vec<Span>,
    /// History each fit sees, ending where its forecasts start [default: 14d, or all of a
    /// shorter history; in backtest, half of a trace shorter than 28 days, in whole days].
    #[arg(long)]
    pub train_window: Option<Span>,
}

/// `--model NAME`: the one model `train` and `forecast` fit.
#[derive(Args)]
pub struct OneModel {
    /// `auto`, `seasonal-naive`, `linear-seasonal`, `holt-winters` or `mstl`.
    #[arg(long = "model", value_name = "MODEL", default_value = "auto")]
    pub name: String,
}

/// `--model A,B,…`: the models `backtest` scores.
#[derive(Args)]
pub struct ModelList {
    /// Models scored for accuracy (comma list of `auto`, `seasonal-naive`, `linear-seasonal`,
    /// `holt-winters`, `mstl`); the first drives the predictive policy.
    #[arg(
        long = "model",
        value_name = "MODEL",
        value_delimiter = ',',
        default_value = "auto,seasonal-naive,linear-seasonal"
    )]
    pub names: Vec<String>,
}

impl ModelArgs<OneModel> {
    /// The model the flags name, on the seasons asked for.
    pub fn spec(&self) -> Result<ModelSpec, ForecastError> {
        ModelSpec::from_name(&self.model.name, self.season.clone())
    }
}

impl ModelArgs<ModelList> {
    /// The models the flags name, in their order, on the seasons asked for.
    pub fn specs(&self) -> Result<Vec<ModelSpec>, ForecastError> {
        self.model
            .names
            .iter()
            .map(|name| ModelSpec::from_name(name, self.season.clone()))
            .collect()
    }
}
