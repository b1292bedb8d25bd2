//! The Prometheus ingest families: remote_write requests and samples by outcome, and each pull
//! source's state.

use std::sync::atomic::{AtomicU64, Ordering};

use super::exposition::{Exposition, read};
use super::labels::{Outcome, Source, SourceOutcome};
use crate::collect::Ingest;
use crate::collect::prometheus_pull::PullStatus;

pub fn register(out: &mut Exposition, ingest: &Ingest, now: i64) {
    let rw = &ingest.remote_write_counters;
    let outcomes = |counters: &[(&'static str, &AtomicU64)]| -> Vec<(Outcome, u64)> {
        let count =
            |(outcome, counter): &(&'static str, &AtomicU64)| (Outcome { outcome }, read(counter));
        counters.iter().map(count).collect()
    };
    let requests = [
        ("accepted", &rw.requests_accepted),
        ("rejected", &rw.requests_rejected),
    ];
    let help = "remote_write requests by outcome (rejected: not snappy/protobuf, too large, \
                storage error).";
    out.counters(
        "prescale_remote_write_requests_total",
        help,
        outcomes(&requests),
    );
    let samples = [
        ("accepted", &rw.accepted),
        ("stale", &rw.stale),
        ("non_finite", &rw.non_finite),
        ("not_allowed", &rw.not_allowed),
        ("invalid_series", &rw.invalid_series),
        ("out_of_range", &rw.out_of_range),
    ];
    let help = "remote_write samples of accepted requests by outcome: accepted (stored) or why \
                skipped.";
    out.counters(
        "prescale_remote_write_samples_total",
        help,
        outcomes(&samples),
    );
    pulls(out, &ingest.pulls, now);
}

fn source(pull: &PullStatus) -> Source {
    Source {
        source: pull.series.as_str().to_string(),
    }
}

type Pick = fn(&PullStatus, i64) -> Option<f64>;

fn pulls(out: &mut Exposition, pulls: &[std::sync::Arc<PullStatus>], now: i64) {
    let gauge = |out: &mut Exposition, name: &str, help: &str, pick: Pick| {
        let values = pulls
            .iter()
            .filter_map(|p| Some((source(p), pick(p, now)?)));
        out.gauges(name, help, values);
    };
    let counter = |out: &mut Exposition, name: &str, help: &str, pick: fn(&PullStatus) -> u64| {
        out.counters(name, help, pulls.iter().map(|p| (source(p), pick(p))));
    };
    gauge(
        out,
        "prescale_pull_up",
        "1 when the source's last poll succeeded.",
        |p, _| {
            let up = read(&p.successes) > 0 && read(&p.consecutive_failures) == 0;
            Some(if up { 1.0 } else { 0.0 })
        },
    );
    counter(
        out,
        "prescale_pull_samples_total",
        "Samples written by the source.",
        |p| read(&p.samples),
    );
    counter(
        out,
        "prescale_pull_skipped_samples_total",
        "NaN or infinite values the source's answers held (skipped).",
        |p| read(&p.skipped),
    );
    gauge(
        out,
        "prescale_pull_consecutive_failures",
        "Failed polls since the last success.",
        |p, _| Some(read(&p.consecutive_failures) as f64),
    );
    gauge(
        out,
        "prescale_pull_last_success_timestamp_seconds",
        "When the source last polled successfully.",
        |p, _| match p.last_success.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t as f64),
        },
    );
    gauge(
        out,
        "prescale_pull_staleness_seconds",
        "Age of the source series' newest sample.",
        |p, now| p.staleness(now).map(|s| s as f64),
    );
    gauge(
        out,
        "prescale_pull_backfill_remaining_seconds",
        "Seconds of history the source's poll under way has still to fetch (0 when caught up).",
        |p, _| Some(p.backfill_remaining.load(Ordering::Relaxed) as f64),
    );
    gauge(
        out,
        "prescale_pull_backfill_pending",
        "1 while the source's history is not in yet (the replica reports not ready, see /readyz).",
        |p, now| {
            Some(if p.backfilling(now).is_some() {
                1.0
            } else {
                0.0
            })
        },
    );
    let requests = pulls.iter().flat_map(|pull| {
        [("success", &pull.successes), ("failure", &pull.failures)].map(|(outcome, counter)| {
            let source = pull.series.as_str().to_string();
            (SourceOutcome { source, outcome }, read(counter))
        })
    });
    out.counters(
        "prescale_pull_requests_total",
        "Polls by outcome.",
        requests,
    );
}
