//! What the other replicas sharing one store remember, read back from it: the store scrapes
//! every replica's `/metrics`, so it holds each target's planned load (the scale-down
//! stabilization window's memory) and SLO mode's headroom. A replica that starts among others
//! (`[cluster] shared_store`) reads them through the target's pull source — its URL,
//! credentials and tenant — and seeds its planner with them (`engine::Engine::seed_planner`).

use super::prometheus_pull::{PullError, SourceConfig};
use crate::series::Timestamp;

/// What to read back for one target.
#[derive(Debug, Clone)]
pub struct MemoryQuery {
    pub target: String,
    /// The target's scale-down stabilization window, in seconds.
    pub window: i64,
    /// The re-plan interval, in seconds: how often the replicas published.
    pub step: i64,
    /// Whether the target is in SLO mode (its headroom is read back too).
    pub slo: bool,
    /// Extra label matchers (`[cluster] memory_matchers`), without braces.
    pub matchers: Option<String>,
}

/// What the replicas remembered of one target.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaMemory {
    /// `(when, load)`: the highest planned load any replica published at each step of the
    /// window.
    pub recommendations: Vec<(Timestamp, f64)>,
    /// The newest highest headroom they published (SLO mode only).
    pub headroom: Option<f64>,
}

impl MemoryQuery {
    /// The selector of the target's series: `{target="…"[,matchers]}`.
    fn selector(&self) -> String {
        let name = self.target.replace('\\', "\\\\").replace('"', "\\\"");
        let extra = self
            .matchers
            .as_deref()
            .map(|m| format!(",{m}"))
            .unwrap_or_default();
        format!("{{target=\"{name}\"{extra}}}")
    }

    /// Reads the memory back at `now` from `source`'s store with `client`.
    pub async fn read_back(
        &self,
        source: &SourceConfig,
        client: &reqwest::Client,
        now: Timestamp,
    ) -> Result<ReplicaMemory, PullError> {
        let selector = self.selector();
        // `now` is in whole seconds and a scrape's timestamp is not: the newest sample, scraped
        // within this second, is after `now`. The range ends at the next second so that it is
        // read back too (a replica started just after a peak was published would miss it).
        let end = now + 1;
        let loads = source
            .query_range(
                client,
                &format!("max(prescale_target_planned_load{selector})"),
                end - self.window,
                end,
                self.step,
            )
            .await?;
        let headroom = if self.slo {
            let query = format!("max(prescale_target_headroom{selector})");
            let recent = source
                .query_range(client, &query, end - 600, end, 60)
                .await?;
            recent.samples.last().map(|s| s.value)
        } else {
            None
        };
        Ok(ReplicaMemory {
            recommendations: loads
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value))
                .collect(),
            headroom,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sample_scraped_within_the_current_second_is_read_back() {
        // A store answering as Prometheus does: at each evaluation time the newest sample at or
        // before it. The replicas published 5 (scraped at 990.4) and then 7, scraped at 1000.4:
        // within the second `now` = 1000 counts, after it.
        let port = crate::collect::prometheus_pull::serve_query_range(|t| {
            if t as f64 >= 1000.4 { "7" } else { "5" }.to_string()
        })
        .await;
        let source: SourceConfig = toml::from_str(&format!(
            "url = \"http://127.0.0.1:{port}\"\nquery = \"up\"\nseries = \"x\"\n"
        ))
        .unwrap();
        let query = MemoryQuery {
            target: "shop".into(),
            window: 300,
            step: 15,
            slo: false,
            matchers: None,
        };
        let memory = query
            .read_back(&source, &source.client().unwrap(), 1000)
            .await
            .unwrap();
        let peak = memory.recommendations.iter().map(|r| r.1).reduce(f64::max);
        assert_eq!(peak, Some(7.0), "{memory:?}");
    }

    #[test]
    fn the_selector_names_the_target_and_the_matchers() {
        let mut query = MemoryQuery {
            target: r#"a"b\c"#.into(),
            window: 300,
            step: 15,
            slo: false,
            matchers: None,
        };
        assert_eq!(query.selector(), r#"{target="a\"b\\c"}"#);
        query.matchers = Some(r#"namespace="prescale""#.into());
        assert_eq!(
            query.selector(),
            r#"{target="a\"b\\c",namespace="prescale"}"#
        );
    }
}
