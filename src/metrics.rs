//! The Prometheus front door: `GET /metrics` on its own listener (`[metrics] listen`), in the
//! Prometheus text exposition format (0.0.4), written by `prometheus-client`. Nothing is counted
//! here: counters live where things happen (the broker's [`Stats`], the store, the OIDC key
//! caches, revocations, the audit log) as plain atomics that know nothing of Prometheus, and
//! a collector reads them at each scrape. Every label value is bounded by the code or the
//! configuration (the list: docs/operations.md, "Metrics"); none is a subject, session name,
//! token or key id.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tower_http::timeout::TimeoutLayer;

use crate::broker::reload::Live;
use crate::broker::stats::{self, LATENCY_BUCKETS_MICROS, Stats};
use crate::config;
use crate::listener::Limits;

/// The path scrapes ask for.
pub const PATH: &str = "/metrics";
/// Longest a scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// The registry a scrape renders.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The listener's connection limits: `[server]`'s as at start.
    limits: Limits,
}

impl Metrics {
    /// Metrics of the broker `live` serves, read at each scrape (the current configuration's
    /// providers and limits).
    pub fn new(live: Arc<Live>) -> Metrics {
        let limits = Limits::of(&live.current().config.server);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(BrokerCollector { live }));
        Metrics { registry, limits }
    }

    /// The text exposition of every metric now.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The metrics listener's router: `GET /metrics`, 404 elsewhere.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(PATH, get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(metrics)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            SCRAPE_TIMEOUT,
        ))
}

/// Serves the metrics listener until `shutdown` resolves, its connections bounded as the main
/// listener's.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = metrics.limits;
    crate::listener::serve(
        listener,
        router(metrics),
        limits,
        Default::default(),
        shutdown,
    )
    .await
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            )],
            body,
        )
            .into_response(),
        Err(_) => {
            tracing::error!("metrics could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response()
        }
    }
}

/// Writes one counter without labels: `name` gets `_total`.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(family)
}

/// Reads every counter of the broker at scrape time.
#[derive(Debug)]
struct BrokerCollector {
    live: Arc<Live>,
}

/// Writes one counter family: `name` gets `_total`.
fn counters<'a, const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = ([(&'a str, &'a str); N], u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let broker = self.live.current();
        let stats: &Stats = &broker.stats;

        let mut info = encoder.encode_descriptor(
            "sts_broker_build_info",
            "Always 1; the version label is the running build's.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1u64)
            .encode(info.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;

        let mut requests = stats.requests();
        requests.sort_by_key(|c| (c.action, stats::outcome_label(c.outcome)));
        counters(
            &mut encoder,
            "sts_broker_requests",
            "Requests answered on the main listener, by action and outcome (success or the AWS error code).",
            requests.iter().map(|c| {
                (
                    [
                        ("action", c.action),
                        ("outcome", stats::outcome_label(c.outcome)),
                    ],
                    c.count,
                )
            }),
        )?;

        let mut latencies = stats.latencies();
        latencies.sort_by_key(|(action, _)| *action);
        let mut histogram = encoder.encode_descriptor(
            "sts_broker_request_duration_seconds",
            "Time from a request's arrival to its answer, by action.",
            None,
            MetricType::Histogram,
        )?;
        for (action, snapshot) in &latencies {
            let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_MICROS
                .iter()
                .map(|micros| seconds(*micros))
                .zip(snapshot.buckets.iter().copied())
                .collect();
            buckets.push((f64::INFINITY, snapshot.buckets.last().copied().unwrap_or(0)));
            histogram
                .encode_family(&[("action", *action)])?
                .encode_histogram::<NoLabelSet>(
                    seconds(snapshot.sum_micros),
                    snapshot.count,
                    &buckets,
                    None,
                )?;
        }

        let mut issued = stats.sessions_issued();
        issued.sort_by(|a, b| {
            (&a.account, stats::origin_name(a.action))
                .cmp(&(&b.account, stats::origin_name(b.action)))
        });
        counters(
            &mut encoder,
            "sts_broker_sessions_issued",
            "Sessions issued (stored), by action and the account of the role or user.",
            issued.iter().map(|c| {
                (
                    [
                        ("action", stats::origin_name(c.action)),
                        ("role_account", c.account.as_str()),
                    ],
                    c.count,
                )
            }),
        )?;

        // One series per provider name: caches of one issuer (one per key source, shared by
        // every account registering it) are summed.
        let mut fetches: std::collections::BTreeMap<
            String,
            [(crate::oidc::FetchResult, u64); crate::oidc::FetchResult::ALL.len()],
        > = std::collections::BTreeMap::new();
        for (issuer, counts) in broker.oidc.key_fetches() {
            let sum = fetches
                .entry(config::issuer_host_path(issuer))
                .or_insert(counts.map(|(result, _)| (result, 0)));
            for ((_, total), (_, n)) in sum.iter_mut().zip(counts) {
                *total += n;
            }
        }
        counters(
            &mut encoder,
            "sts_broker_jwks_fetches",
            "Key set fetches from OIDC providers, by provider (its IAM name) and result.",
            fetches.iter().flat_map(|(provider, counts)| {
                counts.iter().map(move |(result, n)| {
                    (
                        [("provider", provider.as_str()), ("result", result.name())],
                        *n,
                    )
                })
            }),
        )?;

        counters(
            &mut encoder,
            "sts_broker_store_errors",
            "Store operations that failed (unreachable, timed out, unreadable answer), by operation.",
            broker
                .store
                .errors_by_operation()
                .map(|(op, n)| ([("operation", op.name())], n)),
        )?;
        counter(
            &mut encoder,
            "sts_broker_session_records_refused",
            "Stored session records refused because they did not verify under the broker's keys.",
            broker.store.refused_records(),
        )?;

        counters(
            &mut encoder,
            "sts_broker_revocations",
            "Revocations made through this replica, by kind.",
            broker
                .revocations
                .revoked_by_kind()
                .map(|(kind, n)| ([("kind", kind)], n)),
        )?;
        counter(
            &mut encoder,
            "sts_broker_revocation_subscription_reconnects",
            "Times the revocation subscriber connected again after losing its subscription.",
            broker.revocations.subscription_stats().reconnects,
        )?;

        counters(
            &mut encoder,
            "sts_broker_throttled",
            "Requests refused by a rate limit, by limit.",
            broker
                .throttle
                .throttled_counts()
                .map(|(limit, n)| ([("limit", limit)], n)),
        )?;

        let (applied, refused) = stats.config_reloads();
        counters(
            &mut encoder,
            "sts_broker_config_reloads",
            "Configuration reloads, by result (success: swapped in; failure: the running one kept).",
            [
                ([("result", "success")], applied),
                ([("result", "failure")], refused),
            ],
        )?;

        counter(
            &mut encoder,
            "sts_broker_audit_lines_dropped",
            "Audit lines dropped because the writer fell behind.",
            broker.audit.dropped(),
        )?;
        counter(
            &mut encoder,
            "sts_broker_audit_write_failures",
            "Audit lines the writer could not write.",
            broker.audit.failed(),
        )?;
        counter(
            &mut encoder,
            "sts_broker_log_lines_dropped",
            "Service log lines dropped because stderr was not read fast enough.",
            crate::logs::dropped_lines(),
        )?;
        Ok(())
    }
}

/// Microseconds as seconds.
fn seconds(micros: u64) -> f64 {
    Duration::from_micros(micros).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_of_micros() {
        assert_eq!(seconds(500), 0.0005);
        assert_eq!(seconds(2_500_000), 2.5);
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = write!(s, "{}", seconds(1));
        assert_eq!(s, "0.000001");
    }
}
