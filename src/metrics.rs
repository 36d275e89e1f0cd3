//! Prometheus metrics through the `prometheus` crate, kept in process (each
//! instance is scraped at `GET /metrics`).
//!
//! Every family is declared here once — name, help, label names, buckets —
//! and recorded through one typed method, so call sites cannot invent a
//! family or a label. Each [`Metrics`] owns its own [`Registry`] (one per
//! `AppState`): many servers run in one test process, and a process-global
//! registry or recorder would mix their counts.
//!
//! Cardinality stays bounded because no label value comes from the client
//! unchecked: the HTTP method is one of [`KNOWN_METHODS`] or `other`, the route
//! is the matched route *pattern* or `unmatched` (never the path), the status
//! is a status code Tessera chose, and the other labels are either
//! `&'static str` values named in code or action names from the config file.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency buckets, in seconds: from half a millisecond (a JWKS hit) to ten
/// seconds (a slow webhook or a database under load).
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The method label values besides `other` (RFC 9110 §9 and PATCH, RFC 5789).
pub const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The method label of a request: a known method, else `other`. Methods are
/// case-sensitive (RFC 9110 §9.1), so `get` is `other` too.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// A status code as a label: the code when it is a valid one (100-599),
/// else `other`.
fn status_label(status: u16) -> String {
    if (100..=599).contains(&status) {
        status.to_string()
    } else {
        "other".to_string()
    }
}

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    action_runs: IntCounterVec,
    action_duration: HistogramVec,
    tokens_issued: IntCounterVec,
    dns_checks: IntCounterVec,
}

impl Metrics {
    /// A registry with every Tessera family registered. Fails only if two
    /// families share a name or a definition is malformed (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let http_requests = counter(
            "tessera_http_requests_total",
            "HTTP requests by method, route pattern and status",
            &["method", "route", "status"],
        )?;
        let http_duration = histogram(
            "tessera_http_request_duration_seconds",
            "HTTP request latency by method and route pattern",
            &["method", "route"],
        )?;
        let action_runs = counter(
            "tessera_action_runs_total",
            "Action runs by action and outcome",
            &["action", "outcome"],
        )?;
        let action_duration = histogram(
            "tessera_action_duration_seconds",
            "Action run time by action",
            &["action"],
        )?;
        let tokens_issued = counter(
            "tessera_tokens_issued_total",
            "Token responses issued, by grant type",
            &["grant_type"],
        )?;
        let dns_checks = counter(
            "tessera_dns_checks_total",
            "DNS TXT verification lookups, by kind and outcome",
            &["kind", "outcome"],
        )?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            action_runs,
            action_duration,
            tokens_issued,
            dns_checks,
        })
    }

    /// Records one HTTP request. `method` is the raw request method and
    /// `route` the matched pattern (`None`: no route matched); both are
    /// bounded here, whatever the client sent.
    pub fn http_request(&self, method: &str, route: Option<&str>, status: u16, seconds: f64) {
        let method = method_label(method);
        let route = route.unwrap_or(UNMATCHED);
        inc(&self.http_requests, &[method, route, &status_label(status)]);
        observe(&self.http_duration, &[method, route], seconds);
    }

    /// Records one action run. Action names come from the config file, so
    /// they are as many as the operator configured.
    pub fn action_run(&self, action: &str, outcome: &'static str, seconds: f64) {
        inc(&self.action_runs, &[action, outcome]);
        observe(&self.action_duration, &[action], seconds);
    }

    /// Counts one token response by its grant type (or `switch_org`).
    pub fn token_issued(&self, grant_type: &'static str) {
        inc(&self.tokens_issued, &[grant_type]);
    }

    /// Counts one DNS TXT lookup: `kind` is `verify` or `recheck`.
    pub fn dns_check(&self, kind: &'static str, outcome: &'static str) {
        inc(&self.dns_checks, &[kind, outcome]);
    }

    /// The Prometheus text exposition format (0.0.4) of every family.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }

    /// The `Content-Type` of [`Metrics::render`]'s output.
    pub fn content_type(&self) -> String {
        format!("{}; charset=utf-8", TextEncoder::new().format_type())
    }
}

fn inc(family: &IntCounterVec, labels: &[&str]) {
    match family.get_metric_with_label_values(labels) {
        Ok(c) => c.inc(),
        Err(e) => tracing::error!(error = %e, "metric labels do not match the family"),
    }
}

fn observe(family: &HistogramVec, labels: &[&str], seconds: f64) {
    match family.get_metric_with_label_values(labels) {
        Ok(h) => h.observe(seconds),
        Err(e) => tracing::error!(error = %e, "metric labels do not match the family"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_bounded() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        for junk in ["get", "ZZAUDIT1", "PROPFIND", "", &"X".repeat(2000)] {
            assert_eq!(method_label(junk), "other", "{junk}");
        }
    }

    #[test]
    fn junk_requests_share_one_series() -> Result<(), prometheus::Error> {
        let m = Metrics::new()?;
        for i in 0..20 {
            m.http_request(&format!("ZZAUDIT{i}"), None, 404, 0.001);
        }
        m.http_request("GET", Some("/healthz"), 200, 0.0002);
        m.http_request("GET", Some("/healthz"), 1000, 0.0002);
        let text = m.render()?;
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tessera_http_requests_total{"))
            .collect();
        assert_eq!(
            series,
            [
                r#"tessera_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
                r#"tessera_http_requests_total{method="GET",route="/healthz",status="other"} 1"#,
                r#"tessera_http_requests_total{method="other",route="unmatched",status="404"} 20"#,
            ]
        );
        assert!(text.contains(
            r#"tessera_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.0005"} 2"#
        ));
        assert!(text.contains("# TYPE tessera_http_request_duration_seconds histogram"));
        Ok(())
    }

    #[test]
    fn registries_are_independent() -> Result<(), prometheus::Error> {
        let (a, b) = (Metrics::new()?, Metrics::new()?);
        a.token_issued("client_credentials");
        assert!(a.render()?.contains("tessera_tokens_issued_total"));
        assert!(!b.render()?.contains("tessera_tokens_issued_total{"));
        Ok(())
    }
}
