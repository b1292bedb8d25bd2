//! [`Exposition`]: one scrape's registry of typed metric families (prometheus-client), and its
//! two text encodings.
//!
//! A scrape builds a fresh registry from values that already exist (the engine's counters, the
//! monitor's snapshot, …) rather than keeping live metric objects beside them: nothing has to
//! be kept in step, and a target or series that is gone simply has no sample. The families are
//! `Family<Labels, Gauge<f64>>` and `Family<Labels, Counter<u64>>`, one
//! `#[derive(EncodeLabelSet)]` struct per label set ([`super::labels`]).
//!
//! Names are written as they are served: a counter's name ends in `_total`, which the
//! registry wants without the suffix (the encoders add it to the samples; OpenMetrics writes
//! the family without it in `# TYPE`, the Prometheus text format with it).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

/// What a label set of a family must be.
pub trait Labels: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static {}
impl<T: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static> Labels for T {}

/// The two text formats `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (what Prometheus asks for first).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (what everything else reads, `promtool` included).
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_text::CONTENT_TYPE,
        }
    }
}

/// One scrape's families, in the order they are added.
#[derive(Debug, Default)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// A gauge family: one sample per `(labels, value)`.
    pub fn gauges<L: Labels>(
        &mut self,
        name: &str,
        help: &str,
        values: impl IntoIterator<Item = (L, f64)>,
    ) {
        let family = filled(values, |gauge: &Gauge<f64, AtomicU64>, value| {
            gauge.set(value);
        });
        self.register(name, help, family);
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let gauge = Gauge::<f64, AtomicU64>::default();
        gauge.set(value);
        self.register(name, help, gauge);
    }

    /// A counter family (`name` ends in `_total`): one sample per `(labels, value)`.
    pub fn counters<L: Labels>(
        &mut self,
        name: &str,
        help: &str,
        values: impl IntoIterator<Item = (L, u64)>,
    ) {
        let family = filled(values, |counter: &Counter, value| {
            counter.inc_by(value);
        });
        self.register(counter_family(name), help, family);
    }

    /// A counter without labels (`name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        self.register(counter_family(name), help, counter);
    }

    /// A counter of seconds (a fractional total) without labels.
    pub fn seconds_counter(&mut self, name: &str, help: &str, seconds: f64) {
        let counter = Counter::<f64, AtomicU64>::default();
        counter.inc_by(seconds);
        self.register(counter_family(name), help, counter);
    }

    /// The registry ends every help text with a period: the texts here are written as
    /// sentences, so theirs is taken off first.
    fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        let help = help.strip_suffix('.').unwrap_or(help);
        self.registry.register(name, help, metric);
    }

    /// The exposition text in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        let written = match format {
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
            Format::Text => prometheus_text::encode(&mut out, &self.registry),
        };
        // Writing to a String cannot fail.
        written.expect("encoding into a String");
        out
    }
}

/// A family with one metric per label set, each given its value by `set`.
fn filled<L: Labels, M: Default, V>(
    values: impl IntoIterator<Item = (L, V)>,
    set: impl Fn(&M, V),
) -> Family<L, M> {
    let family = Family::<L, M>::default();
    for (labels, value) in values {
        set(&family.get_or_create(&labels), value);
    }
    family
}

/// A counter's current value.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The registered name of a counter served as `name`.
fn counter_family(name: &str) -> &str {
    name.strip_suffix("_total")
        .unwrap_or_else(|| panic!("counter {name} is not named NAME_total"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::EncodeLabelSet;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Outcome {
        outcome: &'static str,
    }

    fn sample() -> Exposition {
        let mut out = Exposition::default();
        out.gauge("x_seconds", "A gauge.", 1.5);
        out.counters("y_total", "A counter.", [(Outcome { outcome: "a\"b" }, 3)]);
        out
    }

    #[test]
    fn both_formats_serve_the_same_names() {
        let open = sample().encode(Format::OpenMetrics);
        assert!(
            open.contains("# HELP x_seconds A gauge.\n# TYPE x_seconds gauge\nx_seconds 1.5\n")
        );
        assert!(
            open.contains("# TYPE y counter\ny_total{outcome=\"a\\\"b\"} 3\n"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"));
        let text = sample().encode(Format::Text);
        assert!(
            text.contains("# HELP y_total A counter.\n# TYPE y_total counter\n"),
            "{text}"
        );
        assert!(text.contains("y_total{outcome=\"a\\\"b\"} 3\n"), "{text}");
        assert!(!text.contains("# EOF"));
    }
}
