//! What gets scaled: a [`Target`] names the load series, how much load one replica serves, the
//! replica bounds, the pod start-up lead time, the forecast quantile used as headroom, and the
//! scale-down stabilization window, and the extra labels its external metric is published with.
//!
//! A target is validated once at the edge (config load, `PUT /api/v1/targets/{target}`) with
//! [`Target::check`], in the style of linfa's checked parameters, so the planner never meets an
//! impossible one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::series::{SeriesKey, Span};

use super::PlanError;
use super::labels::{check_label_key, check_label_value};

/// What the external metric publishes for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricValue {
    /// The planned replica count: use with an HPA `AverageValue` target of `1`.
    #[default]
    Replicas,
    /// The planned load: use with an HPA `AverageValue` target equal to `capacity_per_replica`.
    Load,
}

/// A scaled workload: the JSON body of `PUT /api/v1/targets/{target}` and a `[targets.NAME]`
/// table in the TOML config. Unknown keys are refused so a typo never goes unnoticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The load series (e.g. requests per second).
    pub series: SeriesKey,
    /// Load one replica serves at its intended utilisation.
    pub capacity_per_replica: f64,
    #[serde(default = "default_min_replicas")]
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Pod start-up time: a replica asked for now serves load from `now + lead_time`.
    #[serde(default = "default_lead_time")]
    pub lead_time: Span,
    /// Forecast quantile provisioned for (headroom), strictly between 0 and 1.
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// Scale down only to the highest recommendation of this trailing window (as the HPA does).
    #[serde(default = "default_stabilization")]
    pub scale_down_stabilization: Span,
    #[serde(default)]
    pub metric_value: MetricValue,
    /// The reactive floor: never plan fewer replicas than an HPA targeting this utilization of
    /// `capacity_per_replica` asks for the observed load (with the HPA's 10 % tolerance), so the
    /// plan is never less safe than the HPA it replaces. In `0.05 ..= 1`; absent: no floor
    /// beyond the safety net (which is the floor at utilization 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactive_utilization: Option<f64>,
    /// SLO mode: the fraction of steps that must be fully served (e.g. 0.99). The forecast's
    /// `quantile` band is then multiplied by a headroom adapted online from the target's own
    /// realized misses (see `plan::service_level`). In `0.5 .. 1`; absent: a fixed headroom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<f64>,
    /// Extra labels of the published external metric, beside `target = NAME` (which is always
    /// there): an HPA's `metric.selector` is matched against this one label set, e.g.
    /// `{env = "prod"}` for `matchLabels: {target: checkout, env: prod}`. Optional, absent from
    /// the JSON when empty, so targets written before it existed read and compare unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The label that always names the target in its published label set; a target's own `labels`
/// cannot set it.
pub const TARGET_LABEL: &str = "target";

fn default_min_replicas() -> u32 {
    1
}

/// A target's pod start-up lead time unless it gives one.
pub const DEFAULT_LEAD_TIME: Span = Span::of_seconds(180);

/// A target's scale-down stabilization window unless it gives one (the HPA's default).
pub const DEFAULT_STABILIZATION: Span = Span::of_seconds(300);

fn default_lead_time() -> Span {
    DEFAULT_LEAD_TIME
}

fn default_quantile() -> f64 {
    0.9
}

fn default_stabilization() -> Span {
    DEFAULT_STABILIZATION
}

/// Whether `slo` is an SLO a target may state: at least 0.5 (half the steps served), below 1
/// (no plan serves every step for sure).
pub fn slo_in_range(slo: f64) -> bool {
    (0.5..1.0).contains(&slo)
}

/// The longest `lead_time` accepted: six hours, far beyond any pod's start-up (a node's
/// provisioning included); a plan further ahead than that is no longer about start-up.
pub const MAX_LEAD_TIME: Span = Span::of_seconds(6 * 3600);

/// The longest `scale_down_stabilization` accepted: one hour, the HPA's own bound for
/// `stabilizationWindowSeconds`.
pub const MAX_STABILIZATION: Span = Span::of_seconds(3600);

/// The largest `capacity_per_replica` accepted: with sample values bounded by
/// `collect::MAX_SAMPLE_VALUE` (1e15), a larger capacity would only ever plan `min_replicas`.
pub const MAX_CAPACITY: f64 = 1e15;

/// The largest replica bound accepted; far beyond any Deployment, small enough that
/// `replicas * capacity` never loses precision.
pub const MAX_REPLICAS: u32 = 1_000_000;

impl Target {
    /// The forecast quantiles this target plans on: its `quantile`, and in SLO mode the `slo`
    /// (the band a fresh SLO target starts its headroom from).
    pub fn levels(&self) -> impl Iterator<Item = f64> {
        std::iter::once(self.quantile).chain(self.slo)
    }

    /// Checks every field; the error names the field at fault.
    pub fn check(&self) -> Result<(), PlanError> {
        let bad = |message: String| Err(PlanError::InvalidTarget(message));
        if !(self.capacity_per_replica > 0.0 && self.capacity_per_replica <= MAX_CAPACITY) {
            return bad(format!(
                "capacity_per_replica must be a positive number of at most {MAX_CAPACITY:e}, got {}",
                self.capacity_per_replica
            ));
        }
        if self.lead_time > MAX_LEAD_TIME {
            return bad(format!(
                "lead_time must be at most {MAX_LEAD_TIME}, got {}",
                self.lead_time
            ));
        }
        if self.scale_down_stabilization > MAX_STABILIZATION {
            return bad(format!(
                "scale_down_stabilization must be at most {MAX_STABILIZATION}, got {}",
                self.scale_down_stabilization
            ));
        }
        if self.min_replicas > self.max_replicas {
            return bad(format!(
                "min_replicas ({}) is greater than max_replicas ({})",
                self.min_replicas, self.max_replicas
            ));
        }
        if self.max_replicas == 0 {
            return bad("max_replicas must be at least 1".to_string());
        }
        if self.max_replicas > MAX_REPLICAS {
            return bad(format!(
                "max_replicas ({}) is above the limit of {MAX_REPLICAS}",
                self.max_replicas
            ));
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return bad(format!(
                "quantile must be strictly between 0 and 1, got {}",
                self.quantile
            ));
        }
        if let Some(u) = self.reactive_utilization
            && !(0.05..=1.0).contains(&u)
        {
            return bad(format!(
                "reactive_utilization must be between 0.05 and 1, got {u}"
            ));
        }
        if let Some(slo) = self.slo
            && !slo_in_range(slo)
        {
            return bad(format!(
                "slo must be at least 0.5 and below 1 (e.g. 0.99), got {slo}"
            ));
        }
        for (key, value) in &self.labels {
            if key == TARGET_LABEL {
                return bad(format!(
                    "labels: {TARGET_LABEL:?} is set by prescale to the target's name"
                ));
            }
            check_label_key(key)
                .and_then(|()| check_label_value(value))
                .or_else(|why| bad(format!("labels: {why}")))?;
        }
        Ok(())
    }

    /// The label set the external metric is published with: `target = name` and `labels`.
    pub fn label_set(&self, name: &str) -> BTreeMap<String, String> {
        let mut set = self.labels.clone();
        set.insert(TARGET_LABEL.to_string(), name.to_string());
        set
    }
}

/// Longest accepted target name: a Kubernetes label value (the name is published as one).
pub const MAX_TARGET_NAME_LEN: usize = 63;

/// Checks a target name: it is the external metric name in
/// `/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}` and the value of the
/// `target` metric label, so it follows the Kubernetes label-value rules: 1–63 characters,
/// alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric.
pub fn check_target_name(name: &str) -> Result<(), PlanError> {
    let bad = |why: &str| Err(PlanError::InvalidName(name.to_string(), why.to_string()));
    if name.is_empty() || name.len() > MAX_TARGET_NAME_LEN {
        return bad("must be 1 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad("may only contain letters, digits, '-', '_' and '.'");
    }
    let edges_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if !edges_ok(name.as_bytes().first()) || !edges_ok(name.as_bytes().last()) {
        return bad("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        serde_json::from_str(r#"{"series":"rps","capacity_per_replica":50,"max_replicas":10}"#)
            .unwrap()
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let t = target();
        assert_eq!(t.min_replicas, 1);
        assert_eq!(t.lead_time.seconds(), 180);
        assert_eq!(t.quantile, 0.9);
        assert_eq!(t.scale_down_stabilization.seconds(), 300);
        assert_eq!(t.metric_value, MetricValue::Replicas);
        t.check().unwrap();
    }

    #[test]
    fn impossible_values_name_the_field() {
        let mut t = target();
        t.min_replicas = 11;
        assert!(t.check().unwrap_err().to_string().contains("min_replicas"));
        let mut t = target();
        t.capacity_per_replica = 0.0;
        assert!(
            t.check()
                .unwrap_err()
                .to_string()
                .contains("capacity_per_replica")
        );
        let mut t = target();
        t.capacity_per_replica = -3.0;
        assert!(t.check().is_err());
        let mut t = target();
        t.quantile = 1.0;
        assert!(t.check().unwrap_err().to_string().contains("quantile"));
        let mut t = target();
        t.max_replicas = 0;
        t.min_replicas = 0;
        assert!(t.check().is_err());
    }

    #[test]
    fn every_bounded_field_is_accepted_at_its_bound_and_refused_past_it() {
        let parse = |field: &str, value: &str| -> Result<Target, String> {
            let mut json = serde_json::json!({
                "series": "rps", "capacity_per_replica": 50, "max_replicas": 10
            });
            json[field] = serde_json::from_str(value).unwrap();
            let target: Target = serde_json::from_value(json).map_err(|e| e.to_string())?;
            target.check().map_err(|e| e.to_string())?;
            Ok(target)
        };
        let cases = [
            ("lead_time", "\"6h\"", "\"21601s\""),
            ("scale_down_stabilization", "\"1h\"", "\"3601s\""),
            ("capacity_per_replica", "1e15", "1.1e15"),
            ("max_replicas", "1000000", "1000001"),
            ("quantile", "0.999", "1"),
            ("reactive_utilization", "1", "1.01"),
            ("slo", "0.999", "1"),
        ];
        for (field, at, past) in cases {
            assert!(
                parse(field, at).is_ok(),
                "{field} = {at}: {:?}",
                parse(field, at)
            );
            let error = parse(field, past).unwrap_err();
            assert!(error.contains(field), "{field} = {past}: {error}");
        }
        // What once overflowed the monitor: refused while parsing, naming the duration.
        let error = parse("lead_time", "\"9223372036854775807s\"").unwrap_err();
        assert!(error.contains("longest duration"), "{error}");
        assert!(parse("lead_time", "9223372036854775807").is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<Target>(
            r#"{"series":"rps","capacity_per_replica":50,"max_replicas":10,"lead":"3m"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `lead`"), "{err}");
    }

    #[test]
    fn labels_are_optional_checked_and_published_with_the_name() {
        let t = target();
        assert!(t.labels.is_empty());
        assert!(!serde_json::to_string(&t).unwrap().contains("labels"));
        let t: Target = serde_json::from_str(
            r#"{"series":"rps","capacity_per_replica":50,"max_replicas":10,
                "labels":{"env":"prod","app.kubernetes.io/part-of":"shop"}}"#,
        )
        .unwrap();
        t.check().unwrap();
        let set = t.label_set("checkout");
        assert_eq!(set["target"], "checkout");
        assert_eq!(set["env"], "prod");
        assert_eq!(set.len(), 3);
        let back: Target = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        for (key, value) in [
            ("target", "x"),
            ("bad key", "x"),
            ("env", "not ok"),
            ("env", "-x"),
        ] {
            let mut t = target();
            t.labels.insert(key.to_string(), value.to_string());
            let err = t.check().unwrap_err().to_string();
            assert!(err.contains("labels"), "{key}={value}: {err}");
        }
    }

    #[test]
    fn names_follow_label_value_rules() {
        assert!(check_target_name("checkout").is_ok());
        assert!(check_target_name("checkout-api_v2.prod").is_ok());
        assert!(check_target_name("").is_err());
        assert!(check_target_name("-x").is_err());
        assert!(check_target_name("a/b").is_err());
        assert!(check_target_name(&"x".repeat(64)).is_err());
    }
}
