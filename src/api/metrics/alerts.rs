//! The alert families: open incidents, and (when alerts are configured) the notifications per
//! receiver.

use super::exposition::{Exposition, read};
use super::labels::{Alert, Receiver, ReceiverOutcome};
use crate::alerts::Alerts;

pub fn register(out: &mut Exposition, alerts: Option<&Alerts>) {
    let open = alerts
        .into_iter()
        .flat_map(Alerts::open)
        .map(|(kind, subject)| {
            let alert = kind.as_str();
            (Alert { alert, subject }, 1.0)
        });
    let help = "Open alert incidents (alert: forecast_miss, capacity_breach, model_stale, \
                model_failed; subject: series or target).";
    out.gauges("prescale_alert_active", help, open);
    let Some(alerts) = alerts else {
        return;
    };
    let help = "Firing notifications withheld by the max_per_hour rate limit.";
    out.counter(
        "prescale_alerts_suppressed_total",
        help,
        alerts.suppressed(),
    );
    let notifications = alerts.receivers().iter().flat_map(|receiver| {
        let stats = &receiver.stats;
        [
            ("delivered", &stats.delivered),
            ("failed", &stats.failed),
            ("dropped", &stats.dropped),
        ]
        .map(|(outcome, counter)| {
            let receiver = receiver.name.clone();
            (ReceiverOutcome { receiver, outcome }, read(counter))
        })
    });
    let help = "Notifications per receiver by outcome (delivered, failed after every try, \
                dropped on a full queue).";
    out.counters("prescale_alert_notifications_total", help, notifications);
    let retries = alerts.receivers().iter().map(|receiver| {
        let labels = Receiver {
            receiver: receiver.name.clone(),
        };
        (labels, read(&receiver.stats.retries))
    });
    let help = "Delivery tries repeated after a timeout or an error answer.";
    out.counters("prescale_alert_delivery_retries_total", help, retries);
}
