//! Alerts: warn a human when the forecast misses reality, when a plan hits `max_replicas`, or
//! when a model is stale or failed — through webhooks (Slack-compatible or generic JSON).
//!
//! - [`rules`]: the evaluation, pure and unit-tested: facts in, firing/resolved notifications
//!   out, once per incident, rate-limited;
//! - [`deliver`]: asynchronous delivery, one queue per receiver, retried with backoff.
//!
//! The facts come from the monitor (`crate::monitor`), which evaluates them every re-plan
//! interval on the series that targets scale on and on every target.
//!
//! ```toml
//! [alerts]
//! consecutive_steps = 3         # forecast miss: steps above the 95 % bound in a row
//! model_stale_after = "30m"     # default: 3 × refit_interval
//! resolve_after = "1m"          # clear this long before a resolve is sent
//! max_per_hour = 30             # firing notifications per hour, all receivers together
//! timeout = "10s"               # per delivery try
//! attempts = 5                  # tries per notification and receiver
//!
//! [[alerts.receivers]]
//! kind = "slack"                # {"text": "..."}
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"
//!
//! [[alerts.receivers]]
//! name = "pager"
//! kind = "webhook"              # generic JSON: status, alert, subject, summary, times, details
//! url = "http://alert-sink:9000/prescale"
//! ```

pub mod deliver;
pub mod rules;

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::series::Span;
use deliver::{Receiver, ReceiverConfig};
use rules::{AlertKind, Evaluator, Facts, RuleSettings};

/// `[alerts]` in the config file; every key has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default = "default_consecutive_steps")]
    pub consecutive_steps: usize,
    /// Default: three refit intervals.
    pub model_stale_after: Option<Span>,
    #[serde(default = "default_resolve_after")]
    pub resolve_after: Span,
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: usize,
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
}

fn default_consecutive_steps() -> usize {
    3
}
fn default_resolve_after() -> Span {
    Span::from_seconds(60).expect("positive")
}
fn default_max_per_hour() -> usize {
    30
}
fn default_timeout() -> Span {
    Span::from_seconds(10).expect("positive")
}
fn default_attempts() -> u32 {
    5
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            consecutive_steps: default_consecutive_steps(),
            model_stale_after: None,
            resolve_after: default_resolve_after(),
            max_per_hour: default_max_per_hour(),
            timeout: default_timeout(),
            attempts: default_attempts(),
            receivers: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// Checks every key; the message names it.
    pub fn check(&self) -> Result<(), String> {
        if self.consecutive_steps == 0 {
            return Err("consecutive_steps must be at least 1".into());
        }
        if !(1..=20).contains(&self.attempts) {
            return Err(format!("attempts must be 1 to 20, got {}", self.attempts));
        }
        let mut names = std::collections::HashSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            let url = reqwest::Url::parse(&receiver.url)
                .map_err(|e| format!("receivers[{i}].url {:?}: {e}", receiver.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "receivers[{i}].url {:?}: must be http:// or https://",
                    receiver.url
                ));
            }
            if !names.insert(self.receiver_name(i)) {
                return Err(format!(
                    "receivers[{i}]: the name {:?} is used twice",
                    self.receiver_name(i)
                ));
            }
        }
        Ok(())
    }

    /// The receiver's name: its `name`, or `{kind}-{index}`.
    pub fn receiver_name(&self, index: usize) -> String {
        let receiver = &self.receivers[index];
        receiver.name.clone().unwrap_or_else(|| {
            let kind = match receiver.kind {
                deliver::ReceiverKind::Slack => "slack",
                deliver::ReceiverKind::Webhook => "webhook",
            };
            format!("{kind}-{index}")
        })
    }

    /// The rules' settings, given the engine's refit interval.
    pub fn rule_settings(&self, refit_interval: Span) -> RuleSettings {
        RuleSettings {
            consecutive_steps: self.consecutive_steps,
            model_stale_after: self
                .model_stale_after
                .map_or(3 * refit_interval.seconds(), |s| s.seconds()),
            resolve_after: self.resolve_after.seconds(),
            max_per_hour: self.max_per_hour,
        }
    }
}

/// The running alerts: the evaluator's memory and the receivers' queues.
pub struct Alerts {
    evaluator: Mutex<Evaluator>,
    receivers: Vec<Receiver>,
}

impl Alerts {
    /// Starts one delivery task per receiver on `tasks`, each stopping when `token` is
    /// cancelled.
    pub fn start(
        config: &AlertsConfig,
        refit_interval: Span,
        token: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Alerts {
        let timeout = Duration::from_secs(config.timeout.seconds() as u64);
        let receivers = config
            .receivers
            .iter()
            .enumerate()
            .map(|(i, receiver)| {
                Receiver::start(
                    config.receiver_name(i),
                    receiver.clone(),
                    timeout,
                    config.attempts,
                    token.clone(),
                    tasks,
                )
            })
            .collect();
        Alerts {
            evaluator: Mutex::new(Evaluator::new(config.rule_settings(refit_interval))),
            receivers,
        }
    }

    /// Evaluates `facts` and queues what changed for every receiver (never blocks on them).
    pub fn evaluate(&self, facts: &Facts) {
        let notifications = self.evaluator().evaluate(facts);
        for notification in notifications {
            tracing::warn!(
                alert = notification.alert.as_str(),
                subject = %notification.subject,
                status = ?notification.status,
                summary = %notification.summary,
                "alert"
            );
            for receiver in &self.receivers {
                receiver.send(notification.clone());
            }
        }
    }

    /// Open incidents, by kind and subject.
    pub fn open(&self) -> Vec<(AlertKind, String)> {
        self.evaluator().open().keys().cloned().collect()
    }

    /// Firing notifications withheld by the rate limit so far.
    pub fn suppressed(&self) -> u64 {
        self.evaluator().suppressed
    }

    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    fn evaluator(&self) -> std::sync::MutexGuard<'_, Evaluator> {
        self.evaluator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_checks() {
        let config: AlertsConfig = toml::from_str(
            r#"
            [[receivers]]
            kind = "slack"
            url = "https://hooks.example/x"
            [[receivers]]
            kind = "webhook"
            url = "http://127.0.0.1:9/y"
            "#,
        )
        .unwrap();
        assert!(config.check().is_ok());
        assert_eq!(config.receiver_name(0), "slack-0");
        assert_eq!(config.receiver_name(1), "webhook-1");
        let rules = config.rule_settings(Span::from_seconds(600).unwrap());
        assert_eq!(rules.model_stale_after, 1800);
        assert_eq!(rules.consecutive_steps, 3);
        let bad: AlertsConfig =
            toml::from_str("[[receivers]]\nkind = \"webhook\"\nurl = \"nope\"").unwrap();
        assert!(bad.check().unwrap_err().contains("receivers[0].url"));
        assert!(
            toml::from_str::<AlertsConfig>("[[receivers]]\nkind = \"email\"\nurl = \"x\"").is_err()
        );
        let zero = AlertsConfig {
            consecutive_steps: 0,
            ..AlertsConfig::default()
        };
        assert!(zero.check().unwrap_err().contains("consecutive_steps"));
    }
}
