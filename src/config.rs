//! One validated [`Config`] from defaults, an optional TOML file and command-line flags.
//!
//! Everything is checked once here, at start: an unknown key, a duration that does not parse or
//! an impossible target (`min_replicas > max_replicas`, `capacity_per_replica <= 0`) stops the
//! service with a message naming the file and the key, rather than surfacing later as a strange
//! plan. The file is optional: `prescale serve` runs on defaults alone.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "./data"
//! refit_interval = "10m"
//! replan_interval = "15s"
//! train_window = "14d"
//! plan_horizon = "1h"
//! series_retention = "30d"   # optional; default: keep every series
//! max_series = 100000        # new series past this are refused (422)
//! max_targets = 10000        # new targets past this are refused (422)
//! max_connections = 768      # per HTTP port; more wait until one closes
//! idle_timeout = "60s"       # a connection with nothing to do is closed
//!
//! [model]                      # optional; default: auto over daily and weekly seasons
//! model = "auto"
//! seasons = ["1d", "7d"]
//!
//! [model_files]                # optional: series that start from a `prescale train` file
//! "checkout_rps" = "models/checkout.json"
//!
//! [targets.checkout]
//! series = "checkout_rps"
//! capacity_per_replica = 50.0
//! min_replicas = 2
//! max_replicas = 40
//! lead_time = "3m"
//! quantile = 0.9
//! scale_down_stabilization = "5m"
//! metric_value = "replicas"     # or "load"
//!
//! [remote_write]                # Prometheus remote_write (POST /api/v1/write)
//! allow = ["http_requests_*"]   # metric names kept (`*` wildcards); default: none
//!
//! [[sources]]                   # Prometheus pull, see collect::prometheus_pull
//! url = "http://prometheus:9090"
//! query = 'sum(rate(http_requests_total{job="api"}[1m]))'
//! series = "api_rps"
//! step = "1m"
//!
//! [auth]                        # see api::auth; required off loopback
//! tokens_file = "/etc/prescale/tokens"   # `TOKEN ROLE` lines (read, write, admin)
//! kubernetes = false           # also accept cluster tokens (TokenReview + SubjectAccessReview)
//! protect_reads = false
//!
//! [alerts]                      # see the alerts module
//! [[alerts.receivers]]
//! kind = "slack"
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alerts::AlertsConfig;
use crate::api::auth::AuthConfig;
use crate::api::connections::ConnectionSettings;
use crate::collect::prometheus_pull::SourceConfig;
use crate::collect::remote_write::RemoteWriteConfig;
use crate::engine::EngineSettings;
use crate::forecast::{ModelFile, ModelSpec};
use crate::plan::{Target, check_target_name};
use crate::series::{SeriesKey, Span};

/// A configuration problem; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A listen address beyond loopback with nothing to check who writes.
    #[error(
        "refusing to serve on {address} without authentication: anyone who can reach it could \
         push samples and rewrite every target. Give --auth-tokens-file FILE (or tokens_file in \
         [auth]) with `TOKEN ROLE` lines, or set kubernetes = true in [auth] in a cluster, or \
         listen on 127.0.0.1, or pass --allow-unauthenticated to serve it open anyway"
    )]
    Exposed { address: SocketAddr },
}

/// The default listen address: loopback only, so a bare `serve` exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default sled directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// The whole configuration of `prescale serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: EngineSettings,
    /// Targets declared in the file; they replace stored targets of the same name at start.
    pub targets: BTreeMap<String, Target>,
    // Prometheus in and out: remote_write, pull sources; alerts.
    pub remote_write: RemoteWriteConfig,
    pub sources: Vec<SourceConfig>,
    pub alerts: AlertsConfig,
    /// Series that start from a model file (`[model_files]`), read and checked at load.
    pub model_files: Vec<SeedModel>,
    /// Who may do what on the plain port (`[auth]`, `--auth-tokens-file`).
    pub auth: AuthConfig,
    /// The most series the store keeps; a new one past it is refused.
    pub max_series: usize,
    /// The bounds of each HTTP port's connections.
    pub connections: ConnectionSettings,
    /// `[cluster]`.
    pub cluster: ClusterConfig,
}

/// The most series kept unless `max_series` says otherwise.
pub const DEFAULT_MAX_SERIES: usize = 100_000;
/// The largest `max_series` and `max_targets` accepted.
const LARGEST_LIMIT: usize = 10_000_000;

/// A series whose model cache starts from a model file (`[model_files]` in the config): the
/// engine serves forecasts and plans from it at once and refits the series with the file's
/// spec on its normal schedule.
#[derive(Debug, Clone)]
pub struct SeedModel {
    pub series: SeriesKey,
    /// The file, as written in the config (relative paths: to the working directory, as
    /// `data_dir`).
    pub path: PathBuf,
    pub file: ModelFile,
}

/// The TOML file's shape. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    refit_interval: Option<Span>,
    replan_interval: Option<Span>,
    train_window: Option<Span>,
    plan_horizon: Option<Span>,
    series_retention: Option<Span>,
    max_series: Option<usize>,
    max_targets: Option<usize>,
    max_connections: Option<usize>,
    idle_timeout: Option<Span>,
    model: Option<ModelSpec>,
    #[serde(default)]
    targets: BTreeMap<String, Target>,
    // Prometheus in and out: remote_write, pull sources; alerts.
    remote_write: Option<RemoteWriteConfig>,
    #[serde(default)]
    sources: Vec<SourceConfig>,
    alerts: Option<AlertsConfig>,
    auth: Option<AuthConfig>,
    cluster: Option<ClusterConfig>,
    /// Series name → model file.
    #[serde(default)]
    model_files: BTreeMap<String, PathBuf>,
}

/// `[cluster]`: how this process shares its work with others.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// One of several replicas whose history all comes from one Prometheus-compatible store
    /// (`[[sources]]`): every target's series must be pulled, and writes that would reach this
    /// replica alone (pushes, remote_write, targets or series changed through the API) are
    /// refused with `409`, so that the replicas cannot drift apart (docs/kubernetes.md).
    #[serde(default)]
    pub shared_store: bool,
    /// Extra label matchers for reading the replicas' memory back from the store
    /// (`prescale_target_planned_load{target="…",<these>}`), e.g. `namespace="prescale"` when
    /// several prescale deployments report to one store.
    #[serde(default)]
    pub memory_matchers: Option<String>,
}

/// Values given on the command line; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// `--auth-tokens-file`.
    pub auth_tokens_file: Option<PathBuf>,
    /// `--allow-unauthenticated`: serve beyond loopback without authentication.
    pub allow_unauthenticated: bool,
    pub max_series: Option<usize>,
    pub max_targets: Option<usize>,
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<Span>,
}

impl Config {
    /// Defaults, then the file at `path` (if any), then `overrides`; validated.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let (file, name) = match path {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: name.clone(),
                    source,
                })?;
                (parse(&text, &name)?, name)
            }
            None => (FileConfig::default(), "(defaults)".to_string()),
        };
        let invalid = |message: String| ConfigError::Invalid {
            path: name.clone(),
            message,
        };
        let defaults = EngineSettings::default();
        let engine = EngineSettings {
            refit_interval: file.refit_interval.unwrap_or(defaults.refit_interval),
            replan_interval: file.replan_interval.unwrap_or(defaults.replan_interval),
            train_window: file.train_window.unwrap_or(defaults.train_window),
            plan_horizon: file.plan_horizon.unwrap_or(defaults.plan_horizon),
            model: file.model.unwrap_or(defaults.model),
            series_retention: file.series_retention,
            max_targets: overrides
                .max_targets
                .or(file.max_targets)
                .unwrap_or(defaults.max_targets),
        };
        engine.check().map_err(invalid)?;
        let max_series = overrides
            .max_series
            .or(file.max_series)
            .unwrap_or(DEFAULT_MAX_SERIES);
        for (name, limit) in [
            ("max_series", max_series),
            ("max_targets", engine.max_targets),
        ] {
            if !(1..=LARGEST_LIMIT).contains(&limit) {
                return Err(invalid(format!(
                    "{name} must be between 1 and {LARGEST_LIMIT}, got {limit}"
                )));
            }
        }
        let connection_defaults = ConnectionSettings::default();
        let connections = ConnectionSettings {
            max_connections: overrides
                .max_connections
                .or(file.max_connections)
                .unwrap_or(connection_defaults.max_connections),
            idle_timeout: overrides
                .idle_timeout
                .or(file.idle_timeout)
                .map_or(connection_defaults.idle_timeout, |span| {
                    std::time::Duration::from_secs(span.seconds().max(0) as u64)
                }),
        };
        if !(1..=1_000_000).contains(&connections.max_connections) {
            return Err(invalid(format!(
                "max_connections must be between 1 and 1000000, got {}",
                connections.max_connections
            )));
        }
        if !(1..=3_600).contains(&connections.idle_timeout.as_secs()) {
            return Err(invalid(format!(
                "idle_timeout must be between 1s and 1h, got {}s",
                connections.idle_timeout.as_secs()
            )));
        }
        if file.targets.len() > engine.max_targets {
            return Err(invalid(format!(
                "{} targets are declared but max_targets is {}",
                file.targets.len(),
                engine.max_targets
            )));
        }
        for (target_name, target) in &file.targets {
            check_target_name(target_name).map_err(|e| invalid(format!("targets: {e}")))?;
            target
                .check()
                .map_err(|e| invalid(format!("targets.{target_name}: {e}")))?;
        }
        // Prometheus in and out: remote_write, pull sources; alerts.
        let remote_write = file.remote_write.unwrap_or_default();
        remote_write
            .check()
            .map_err(|e| invalid(format!("remote_write.{e}")))?;
        let mut source_series = std::collections::HashSet::new();
        for (i, source) in file.sources.iter().enumerate() {
            source
                .check()
                .map_err(|e| invalid(format!("sources[{i}].{e}")))?;
            if !source_series.insert(source.series.clone()) {
                return Err(invalid(format!(
                    "sources[{i}].series {:?}: another source writes it already",
                    source.series.as_str()
                )));
            }
        }
        let mut auth = file.auth.unwrap_or_default();
        if let Some(tokens_file) = overrides.auth_tokens_file {
            auth.tokens_file = Some(tokens_file);
        }
        if auth.protect_reads && !auth.is_configured() {
            return Err(invalid(
                "auth.protect_reads needs auth.tokens_file (or --auth-tokens-file) or \
                 auth.kubernetes"
                    .into(),
            ));
        }
        let alerts = file.alerts.unwrap_or_default();
        alerts.check().map_err(|e| invalid(format!("alerts.{e}")))?;
        let cluster = file.cluster.unwrap_or_default();
        if let Some(matchers) = &cluster.memory_matchers {
            if !cluster.shared_store {
                return Err(invalid(
                    "cluster.memory_matchers: only with cluster.shared_store = true".into(),
                ));
            }
            if matchers.trim().is_empty() || matchers.contains(['{', '}']) {
                return Err(invalid(format!(
                    "cluster.memory_matchers {matchers:?}: label matchers such as namespace=\"prescale\", without braces"
                )));
            }
        }
        if cluster.shared_store {
            if file.sources.is_empty() {
                return Err(invalid(
                    "cluster.shared_store: no [[sources]]: the replicas' history must come from the store they share".into(),
                ));
            }
            for (name, target) in &file.targets {
                if !file.sources.iter().any(|s| s.series == target.series) {
                    return Err(invalid(format!(
                        "cluster.shared_store: targets.{name} plans on {:?}, which no [[sources]] entry pulls: every replica must read its history from the shared store",
                        target.series.as_str()
                    )));
                }
            }
        }
        let mut model_files = Vec::new();
        for (series, path) in file.model_files {
            let key = |message: String| invalid(format!("model_files.{series:?}: {message}"));
            let series_key = SeriesKey::new(series.clone()).map_err(|e| key(e.to_string()))?;
            let model = crate::train::read_model_file(&path).map_err(|e| key(e.to_string()))?;
            model_files.push(SeedModel {
                series: series_key,
                path,
                file: model,
            });
        }
        let listen = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"));
        if !listen.ip().is_loopback() && !auth.is_configured() && !overrides.allow_unauthenticated {
            return Err(ConfigError::Exposed { address: listen });
        }
        Ok(Config {
            cluster,
            model_files,
            remote_write,
            sources: file.sources,
            alerts,
            auth,
            max_series,
            connections,
            listen,
            data_dir: overrides
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            engine,
            targets: file.targets,
        })
    }
}

fn parse(text: &str, name: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: name.to_string(),
        // toml's message already shows the line, the column and the offending key.
        message: e.to_string().trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prescale.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), Overrides::default())
    }

    const TARGET: &str = r#"
        [targets.checkout]
        series = "checkout_rps"
        capacity_per_replica = 50.0
        min_replicas = 2
        max_replicas = 40
        lead_time = "3m"
    "#;

    #[test]
    fn defaults_without_a_file() {
        let config = Config::load(None, Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.engine, EngineSettings::default());
        assert!(config.targets.is_empty());
    }

    #[test]
    fn a_full_file_loads() {
        let config = load(&format!(
            "listen = \"127.0.0.1:9000\"\nrefit_interval = \"5m\"\n{TARGET}"
        ))
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.engine.refit_interval.seconds(), 300);
        let target = &config.targets["checkout"];
        assert_eq!(target.max_replicas, 40);
        assert_eq!(target.lead_time.seconds(), 180);
    }

    #[test]
    fn intervals_and_windows_have_ranges() {
        for (at, past) in [
            ("refit_interval = \"1d\"", "refit_interval = \"25h\""),
            ("replan_interval = \"1h\"", "replan_interval = \"3601s\""),
            ("train_window = \"365d\"", "train_window = \"366d\""),
            ("plan_horizon = \"14d\"", "plan_horizon = \"59s\""),
            ("series_retention = \"1h\"", "series_retention = \"59m\""),
        ] {
            assert!(load(at).is_ok(), "{at}");
            let error = load(past).unwrap_err().to_string();
            let name = past.split(' ').next().unwrap();
            assert!(
                error.contains(&format!("{name} must be between")),
                "{error}"
            );
        }
        let error = load("[targets.x]\nseries = \"rps\"\ncapacity_per_replica = 1\nmax_replicas = 2\nlead_time = \"9223372036854775807s\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("longest duration"), "{error}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"").unwrap();
        let config = Config::load(
            Some(&path),
            Overrides {
                listen: Some("127.0.0.1:9001".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9001);
    }

    #[test]
    fn serving_beyond_loopback_needs_auth_or_an_explicit_waiver() {
        let public = |overrides: Overrides| {
            Config::load(
                None,
                Overrides {
                    listen: Some("0.0.0.0:8080".parse().unwrap()),
                    ..overrides
                },
            )
        };
        let error = public(Overrides::default()).unwrap_err().to_string();
        assert!(
            error.contains("0.0.0.0:8080")
                && error.contains("--auth-tokens-file")
                && error.contains("[auth]")
                && error.contains("--allow-unauthenticated"),
            "{error}"
        );
        assert!(
            public(Overrides {
                allow_unauthenticated: true,
                ..Overrides::default()
            })
            .is_ok()
        );
        let config = public(Overrides {
            auth_tokens_file: Some("tokens".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(config.auth.tokens_file, Some(PathBuf::from("tokens")));
        let loopback6 = Config::load(
            None,
            Overrides {
                listen: Some("[::1]:8080".parse().unwrap()),
                ..Overrides::default()
            },
        );
        assert!(loopback6.is_ok());
        let error = load("[auth]\nprotect_reads = true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("tokens_file"), "{error}");
    }

    #[test]
    fn series_and_target_limits_have_defaults_and_ranges() {
        let config = Config::load(None, Overrides::default()).unwrap();
        assert_eq!(config.max_series, DEFAULT_MAX_SERIES);
        assert_eq!(config.engine.max_targets, 10_000);
        let config = load("max_series = 5\nmax_targets = 7\n").unwrap();
        assert_eq!((config.max_series, config.engine.max_targets), (5, 7));
        let config = load("max_connections = 3\nidle_timeout = \"5s\"\n").unwrap();
        assert_eq!(config.connections.max_connections, 3);
        assert_eq!(config.connections.idle_timeout.as_secs(), 5);
        let error = load("idle_timeout = \"2h\"\n").unwrap_err().to_string();
        assert!(error.contains("idle_timeout must be between"), "{error}");
        let error = load("max_series = 0\n").unwrap_err().to_string();
        assert!(error.contains("max_series must be between 1"), "{error}");
        let error = load(&format!("max_targets = 0\n{TARGET}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_targets"), "{error}");
        let error = load(&format!(
            "max_targets = 1\n{TARGET}{}",
            TARGET.replace("checkout]", "cart]")
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("2 targets are declared but max_targets is 1"),
            "{error}"
        );
    }

    #[test]
    fn a_shared_store_needs_every_targets_history_pulled() {
        let source =
            "[[sources]]\nurl = \"http://127.0.0.1:9090\"\nquery = \"up\"\nseries = \"api_rps\"\n";
        let target = |series: &str| {
            format!(
                "[targets.api]\nseries = \"{series}\"\ncapacity_per_replica = 10\nmax_replicas = 5\n"
            )
        };
        let shared = "[cluster]\nshared_store = true\n";
        let config = load(&format!("{shared}{source}{}", target("api_rps"))).unwrap();
        assert!(config.cluster.shared_store);
        assert!(!load(&target("api_rps")).unwrap().cluster.shared_store);
        let err = load(shared).unwrap_err().to_string();
        assert!(
            err.contains("cluster.shared_store: no [[sources]]"),
            "{err}"
        );
        let err = load(&format!("{shared}{source}{}", target("pushed_rps")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("targets.api plans on \"pushed_rps\", which no [[sources]] entry pulls"),
            "{err}"
        );
        let err = load(&format!("{shared}memory_matchers = 'a=\"b\"}}'\n{source}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("without braces"), "{err}");
        let err = load("[cluster]\nmemory_matchers = 'a=\"b\"'")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only with cluster.shared_store"), "{err}");
        let err = load("[cluster]\nshared = true").unwrap_err().to_string();
        assert!(err.contains("shared"), "{err}");
    }

    #[test]
    fn prometheus_and_alert_sections_load_and_are_checked() {
        let config = load(
            r#"
            [remote_write]
            allow = ["http_*"]

            [[sources]]
            url = "http://127.0.0.1:9090"
            query = 'sum(rate(http_requests_total{job="api"}[1m]))'
            series = "api_rps"
            step = "30s"

            [alerts]
            consecutive_steps = 2
            [[alerts.receivers]]
            kind = "webhook"
            url = "http://127.0.0.1:9999/hook"
            "#,
        )
        .unwrap();
        assert!(config.remote_write.allows("http_requests_total"));
        assert_eq!(config.sources[0].step.seconds(), 30);
        assert_eq!(config.sources[0].interval().seconds(), 30);
        assert_eq!(config.alerts.consecutive_steps, 2);
        let defaults = Config::load(None, Overrides::default()).unwrap();
        assert!(defaults.remote_write.allow.is_empty() && defaults.sources.is_empty());

        let err = load("[[sources]]\nurl = \"nope\"\nquery = \"up\"\nseries = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].url"), "{err}");
        let twice = "[[sources]]\nurl = \"http://a\"\nquery = \"up\"\nseries = \"x\"\n";
        let err = load(&format!("{twice}{twice}")).unwrap_err().to_string();
        assert!(err.contains("sources[1].series"), "{err}");
        let err =
            load("[[sources]]\nurl = \"http://a\"\nquery = \"up\"\nseries = \"x\"\nstepp = \"1m\"")
                .unwrap_err()
                .to_string();
        assert!(err.contains("stepp"), "{err}");
        let err = load("[remote_write]\nallow = [\"\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("remote_write.allow[0]"), "{err}");
        let err = load("[alerts]\nattempts = 0").unwrap_err().to_string();
        assert!(err.contains("alerts.attempts"), "{err}");
    }

    #[test]
    fn model_files_are_read_and_checked_at_load() {
        let config = load(&format!(
            "[model_files]\n\"nasa\" = {:?}\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/models/nasa-http-1995-1m.json")
        ))
        .unwrap();
        assert_eq!(config.model_files.len(), 1);
        assert_eq!(config.model_files[0].series.as_str(), "nasa");
        assert_eq!(config.model_files[0].file.step_seconds, 60);
        assert!(
            Config::load(None, Overrides::default())
                .unwrap()
                .model_files
                .is_empty()
        );

        let err = load("[model_files]\n\"web\" = \"/nonexistent/web.json\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("prescale.toml")
                && err.contains("model_files.\"web\"")
                && err.contains("/nonexistent/web.json"),
            "{err}"
        );
        let err = load("[model_files]\n\"\" = \"m.json\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model_files"), "{err}");
        let err = load("[model_file]\n\"web\" = \"m.json\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model_file"), "{err}");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = load("lissten = \"x\"").unwrap_err().to_string();
        assert!(
            err.contains("prescale.toml") && err.contains("lissten"),
            "{err}"
        );
        let err = load(&TARGET.replace("max_replicas = 40", "max_replicas = 1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("targets.checkout") && err.contains("min_replicas"),
            "{err}"
        );
        let err = load(&TARGET.replace("50.0", "0.0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("capacity_per_replica"), "{err}");
        let err = load(&TARGET.replace("3m", "3 minutes"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lead_time"), "{err}");
        let err = load(&format!("{TARGET}\nbogus = 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
        let err =
            load("[targets.\"bad/name\"]\nseries=\"x\"\ncapacity_per_replica=1\nmax_replicas=2")
                .unwrap_err()
                .to_string();
        assert!(err.contains("bad/name"), "{err}");
        let missing = std::path::Path::new("/nonexistent/prescale.toml");
        let err = Config::load(Some(missing), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/prescale.toml"), "{err}");
    }
}
