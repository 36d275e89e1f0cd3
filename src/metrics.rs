//! Prometheus text-format metrics, kept in process (each instance is scraped).
//!
//! Counters and histograms are keyed by label values; cardinality stays
//! bounded because routes are recorded by their pattern, never their path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Family {
    help: &'static str,
    counters: BTreeMap<Labels, u64>,
    histograms: BTreeMap<Labels, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn inc(&self, name: &'static str, help: &'static str, labels: Labels) {
        self.add(name, help, labels, 1);
    }

    pub fn add(&self, name: &'static str, help: &'static str, labels: Labels, by: u64) {
        let mut f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = f.entry(name).or_insert_with(|| Family {
            help,
            ..Default::default()
        });
        *fam.counters.entry(labels).or_insert(0) += by;
    }

    pub fn observe(&self, name: &'static str, help: &'static str, labels: Labels, seconds: f64) {
        let mut f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = f.entry(name).or_insert_with(|| Family {
            help,
            ..Default::default()
        });
        fam.histograms.entry(labels).or_default().observe(seconds);
    }

    /// Records one HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = vec![
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        self.inc(
            "tessera_http_requests_total",
            "HTTP requests by route and status",
            labels,
        );
        self.observe(
            "tessera_http_request_duration_seconds",
            "HTTP request latency by route",
            vec![("method", method.to_string()), ("route", route.to_string())],
            seconds,
        );
    }

    pub fn render(&self) -> String {
        let f = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, fam) in f.iter() {
            let kind = if fam.histograms.is_empty() {
                "counter"
            } else {
                "histogram"
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in &fam.counters {
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
            }
            for (labels, h) in &fam.histograms {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        fmt_labels(labels, Some(&b.to_string())),
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    fmt_labels(labels, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), h.count);
            }
        }
        out
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
