//! The label sets of `/metrics`: one struct per set, its fields the label names in the order
//! they are written (`docs/metrics.md` names them).

use prometheus_client::encoding::EncodeLabelSet;

/// `{version}` of `prescale_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Build {
    pub version: &'static str,
}

/// `{series}`: a prescale series key.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Series {
    pub series: String,
}

/// `{series, model}` of `prescale_model_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeriesModel {
    pub series: String,
    pub model: String,
}

/// `{target}`: a target name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Target {
    pub target: String,
}

/// `{target, reason}` of `prescale_target_decision_replicas`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetReason {
    pub target: String,
    pub reason: &'static str,
}

/// `{outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

/// `{source}`: the series a `[[sources]]` entry writes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Source {
    pub source: String,
}

/// `{source, outcome}` of `prescale_pull_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceOutcome {
    pub source: String,
    pub outcome: &'static str,
}

/// `{alert, subject}` of `prescale_alert_active`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Alert {
    pub alert: &'static str,
    pub subject: String,
}

/// `{receiver}`: an alert receiver's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Receiver {
    pub receiver: String,
}

/// `{receiver, outcome}` of `prescale_alert_notifications_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverOutcome {
    pub receiver: String,
    pub outcome: &'static str,
}
