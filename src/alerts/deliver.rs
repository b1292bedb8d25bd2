//! Webhook delivery: each receiver has its own queue and task, so a receiver that hangs or
//! fails delays only itself, and the notifications it gets keep their order (a resolve never
//! overtakes its firing).
//!
//! One delivery is an HTTP `POST` of JSON with a timeout. A `2xx` answer delivers it. A
//! timeout, a connection error, `408`, `429` or a `5xx` is retried after 1 s, 2 s, 4 s … (capped
//! at a minute) until `attempts` tries are spent; any other `4xx` is not retried (the payload
//! will not become acceptable). Every failed try is a log line naming the receiver and why;
//! giving up is an error line and a counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::rules::{Notification, Status};
use crate::series::format_timestamp;

/// The payload a receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// Slack's incoming webhooks (and the many tools that accept the same `{"text": …}`).
    Slack,
    /// A generic JSON document with every field of the notification.
    Webhook,
}

/// One `[[alerts.receivers]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Shown in logs and as the `receiver` label; default: `{kind}-{index}`.
    pub name: Option<String>,
    pub kind: ReceiverKind,
    pub url: String,
}

/// How many notifications may wait for one receiver; more are dropped with a log line.
pub const QUEUE: usize = 1000;

/// The JSON body for `kind`.
pub fn payload(kind: ReceiverKind, n: &Notification) -> serde_json::Value {
    match kind {
        ReceiverKind::Slack => {
            let marker = match n.status {
                Status::Firing => ":rotating_light: *FIRING*",
                Status::Resolved => ":white_check_mark: *RESOLVED*",
            };
            serde_json::json!({
                "text": format!("{marker} prescale {}: {}", n.alert.as_str(), n.summary),
            })
        }
        ReceiverKind::Webhook => serde_json::json!({
            "source": "prescale",
            "version": env!("CARGO_PKG_VERSION"),
            "status": n.status,
            "alert": n.alert,
            "subject": n.subject,
            "summary": n.summary,
            "started_at": format_timestamp(n.started_at),
            "resolved_at": n.resolved_at.map(format_timestamp),
            "details": n.details,
        }),
    }
}

/// Delivery counters of one receiver.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    pub dropped: AtomicU64,
}

/// A running receiver: its queue and counters.
pub struct Receiver {
    pub name: String,
    pub stats: Arc<ReceiverStats>,
    queue: mpsc::Sender<Notification>,
}

impl Receiver {
    /// Starts the receiver's task on `tasks`; it stops when `token` is cancelled (a delivery
    /// try under way is finished first, its timeout bounding the wait).
    pub fn start(
        name: String,
        config: ReceiverConfig,
        timeout: Duration,
        attempts: u32,
        token: CancellationToken,
        tasks: &TaskTracker,
    ) -> Receiver {
        let (queue, inbox) = mpsc::channel(QUEUE);
        let stats = Arc::new(ReceiverStats::default());
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a client with a timeout always builds");
        tasks.spawn(worker(
            name.clone(),
            config,
            client,
            attempts.max(1),
            stats.clone(),
            inbox,
            token,
        ));
        Receiver { name, stats, queue }
    }

    /// Queues a notification; never blocks (a full queue drops it, with a log line).
    pub fn send(&self, notification: Notification) {
        if self.queue.try_send(notification).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(receiver = %self.name, "alert queue full or closed: notification dropped");
        }
    }
}

async fn worker(
    name: String,
    config: ReceiverConfig,
    client: reqwest::Client,
    attempts: u32,
    stats: Arc<ReceiverStats>,
    mut inbox: mpsc::Receiver<Notification>,
    token: CancellationToken,
) {
    loop {
        let notification = tokio::select! {
            biased;
            () = token.cancelled() => return,
            next = inbox.recv() => match next {
                Some(n) => n,
                None => return,
            },
        };
        let body = payload(config.kind, &notification);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = client.post(&config.url).json(&body).send().await;
            let retry = match outcome {
                Ok(response) if response.status().is_success() => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(receiver = %name, alert = notification.alert.as_str(), subject = %notification.subject, status = ?notification.status, "alert delivered");
                    break;
                }
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.is_server_error()
                        || status.as_u16() == 408
                        || status.as_u16() == 429;
                    tracing::warn!(receiver = %name, %status, attempt, "alert webhook answered an error");
                    retryable
                }
                Err(error) => {
                    let why = if error.is_timeout() {
                        "timed out".to_string()
                    } else {
                        error.to_string()
                    };
                    tracing::warn!(receiver = %name, error = %why, attempt, "alert webhook failed");
                    true
                }
            };
            if !retry || attempt >= attempts {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(receiver = %name, alert = notification.alert.as_str(), subject = %notification.subject, attempts = attempt, "alert not delivered; giving up");
                break;
            }
            stats.retries.fetch_add(1, Ordering::Relaxed);
            let wait = Duration::from_secs(1 << (attempt - 1).min(6)).min(Duration::from_secs(60));
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::AlertKind;

    fn notification(status: Status) -> Notification {
        Notification {
            status,
            alert: AlertKind::CapacityBreach,
            subject: "checkout".into(),
            summary: "target checkout: the plan is clamped".into(),
            started_at: 1_767_607_200,
            resolved_at: (status == Status::Resolved).then_some(1_767_607_260),
            details: serde_json::json!({"max_replicas": 30}),
        }
    }

    #[test]
    fn slack_payload_is_text() {
        let body = payload(ReceiverKind::Slack, &notification(Status::Firing));
        let text = body["text"].as_str().unwrap();
        assert!(
            text.contains("FIRING") && text.contains("capacity_breach"),
            "{text}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1);
        let body = payload(ReceiverKind::Slack, &notification(Status::Resolved));
        assert!(body["text"].as_str().unwrap().contains("RESOLVED"));
    }

    #[test]
    fn generic_payload_has_every_field() {
        let body = payload(ReceiverKind::Webhook, &notification(Status::Resolved));
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["alert"], "capacity_breach");
        assert_eq!(body["subject"], "checkout");
        assert_eq!(body["started_at"], "2026-01-05T10:00:00Z");
        assert_eq!(body["resolved_at"], "2026-01-05T10:01:00Z");
        assert_eq!(body["details"]["max_replicas"], 30);
        let firing = payload(ReceiverKind::Webhook, &notification(Status::Firing));
        assert!(firing["resolved_at"].is_null());
    }
}
