//! The Prometheus endpoint: `GET /metrics` on `server.metrics_listen`
//! answers the text exposition format (version 0.0.4) rendered by
//! [`render`]. A minimal HTTP/1.1 server on the `shardgate-metrics` thread:
//! one request per connection, handled in turn, the request head bounded
//! ([`MAX_REQUEST`]) and read with a timeout; the connection is closed
//! after the answer. Any other path is 404, any other method 405.
//!
//! Metric names carry the `shardgate_` prefix; label values are escaped
//! (`\\`, `\"`, `\n`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accept_loop;
use super::views::{node_sockets, node_stats};
use crate::health::NodeState;
use crate::reactor::Shared;
use crate::stats::{NodeStats, QueryKind, LATENCY_BOUNDS};

/// Largest request head read.
const MAX_REQUEST: usize = 8 << 10;

/// A scrape must send its request (and read the answer) within this.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The `shardgate-metrics` thread.
pub(super) fn run(listener: TcpListener, shared: Arc<Shared>) {
    accept_loop(listener, &shared, "metrics", |s, peer| {
        if let Err(e) = handle(s, &shared) {
            log::debug!("ADMIN metrics [{peer}]: {e}");
        }
    });
}

/// Reads the request head: up to the blank line, at most `MAX_REQUEST`
/// bytes, within `IO_TIMEOUT`.
fn read_head(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() >= MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request timed out"));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before the request ended",
                ))
            }
            n => head.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status and body for a request line.
fn route(request_line: &str, shared: &Shared) -> (u16, &'static str, String, bool) {
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split(['?', '#']).next().unwrap_or("");
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (405, "Method Not Allowed", "only GET\n".into(), false);
    }
    if path != "/metrics" {
        return (404, "Not Found", "see /metrics\n".into(), head_only);
    }
    (200, "OK", render(shared), head_only)
}

fn handle(mut s: TcpStream, shared: &Shared) -> io::Result<()> {
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = match read_head(&mut s) {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let _ = s.write_all(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("");
    let (code, reason, body, head_only) = route(line, shared);
    let content_type = if code == 200 {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    s.write_all(&out)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    Ok(())
}

// ---------------------------------------------------------------------------
// Rendering

/// A label value in the exposition format.
pub(super) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{k="v",...}` (empty for no labels).
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Builds the exposition text, one family at a time.
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP shardgate_{name} {help}");
        let _ = writeln!(self.text, "# TYPE shardgate_{name} {kind}");
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "shardgate_{name}{} {value}", labels(pairs));
    }
}

/// The whole exposition for `shared`.
pub fn render(shared: &Shared) -> String {
    let mut o = Out {
        text: String::with_capacity(8 << 10),
    };
    let m = &shared.metrics;

    o.family("queries_total", "counter", "Client statements by kind.");
    for k in QueryKind::ALL {
        o.sample("queries_total", &[("kind", k.as_str())], m.count(k).0);
    }
    o.family(
        "query_errors_total",
        "counter",
        "Client statements answered with an error, by kind.",
    );
    for k in QueryKind::ALL {
        o.sample("query_errors_total", &[("kind", k.as_str())], m.count(k).1);
    }

    let (hist, sum) = m.latency();
    o.family(
        "query_duration_seconds",
        "histogram",
        "Client statement latency, first byte in to last byte out.",
    );
    let mut cumulative = 0u64;
    for (i, bound) in LATENCY_BOUNDS.iter().enumerate() {
        cumulative += hist.get(i).copied().unwrap_or(0);
        o.sample(
            "query_duration_seconds_bucket",
            &[("le", &bound.to_string())],
            cumulative,
        );
    }
    let total: u64 = hist.iter().sum();
    o.sample("query_duration_seconds_bucket", &[("le", "+Inf")], total);
    o.sample("query_duration_seconds_sum", &[], sum.as_secs_f64());
    o.sample("query_duration_seconds_count", &[], total);

    // Per configured node.
    let topo = shared.topology();
    let sockets = node_sockets(&topo);
    let stats: HashMap<SocketAddr, Arc<NodeStats>> = m.nodes().into_iter().collect();
    let reports = shared.health.snapshot();
    let node_labels = |r: &crate::health::NodeReport| -> [(&'static str, String); 3] {
        [
            ("group", r.group.clone()),
            ("role", r.role.as_str().to_string()),
            ("addr", r.addr.clone()),
        ]
    };
    type NodeValue = fn(&crate::health::NodeReport, Option<&NodeStats>) -> Option<f64>;
    let families: [(&str, &str, &str, NodeValue); 5] = [
        (
            "node_queries_total",
            "counter",
            "Statements sent to a backend node.",
            |_, s| Some(s.map_or(0, |s| s.queries.load(Ordering::Relaxed)) as f64),
        ),
        (
            "node_errors_total",
            "counter",
            "Statements on a backend node that failed or were lost.",
            |_, s| Some(s.map_or(0, |s| s.errors.load(Ordering::Relaxed)) as f64),
        ),
        (
            "node_up",
            "gauge",
            "1 when the node may take statements (operator override over probes).",
            |r, _| Some(if r.state == NodeState::Up { 1.0 } else { 0.0 }),
        ),
        (
            "node_readable",
            "gauge",
            "1 when the node may take reads (replicas: replication running within max_replica_lag).",
            |r, _| Some(if r.readable { 1.0 } else { 0.0 }),
        ),
        (
            "node_replica_lag_seconds",
            "gauge",
            "Replication lag of a replica as its last probe saw it (absent when unknown).",
            |r, _| r.lag.map(|l| l.as_secs_f64()),
        ),
    ];
    for (name, kind, help, value) in families {
        o.family(name, kind, help);
        for r in &reports {
            let st = node_stats(&sockets, &stats, &r.addr);
            if let Some(v) = value(r, st) {
                let l = node_labels(r);
                let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                o.sample(name, &pairs, v);
            }
        }
    }

    o.family(
        "backend_connections",
        "gauge",
        "Backend connections open to a node, and of those busy with a statement.",
    );
    for (addr, n) in &m.nodes() {
        let a = addr.to_string();
        o.sample(
            "backend_connections",
            &[("addr", &a), ("state", "open")],
            n.open.load(Ordering::Relaxed),
        );
        o.sample(
            "backend_connections",
            &[("addr", &a), ("state", "busy")],
            n.busy.load(Ordering::Relaxed),
        );
    }

    let st = &shared.stats;
    o.family(
        "client_connections",
        "gauge",
        "Client connections (logging in or logged in).",
    );
    o.sample(
        "client_connections",
        &[],
        shared.clients.load(Ordering::Relaxed),
    );
    o.family(
        "buffer_memory_bytes",
        "gauge",
        "Packet buffer memory in use and its limit (server.buffer_memory).",
    );
    o.sample(
        "buffer_memory_bytes",
        &[("kind", "used")],
        shared.budget.used(),
    );
    o.sample(
        "buffer_memory_bytes",
        &[("kind", "limit")],
        shared.budget.cap(),
    );
    let counters = [
        (
            "backend_connects_total",
            "Backend connections opened.",
            &st.backend_connects,
        ),
        (
            "backend_connect_failures_total",
            "Backend connection attempts that failed.",
            &st.backend_connect_failures,
        ),
        (
            "slow_queries_total",
            "Statements slower than server.slow_query.",
            &st.slow_queries,
        ),
    ];
    for (name, help, c) in counters {
        o.family(name, "counter", help);
        o.sample(name, &[], c.load(Ordering::Relaxed));
    }
    o.family(
        "buffer_memory_refused_total",
        "counter",
        "Buffer requests refused because buffer_memory was exhausted.",
    );
    o.sample("buffer_memory_refused_total", &[], shared.budget.refused());
    o.family(
        "metadata_generation",
        "gauge",
        "Generation of the metadata store (grows by one per commit).",
    );
    o.sample("metadata_generation", &[], shared.meta.lock().generation());
    o.family(
        "uptime_seconds",
        "gauge",
        "Seconds since the process started.",
    );
    o.sample(
        "uptime_seconds",
        &[],
        shared.started.elapsed().as_secs_f64(),
    );
    o.text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Override;

    const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:3307"
metrics_listen = "127.0.0.1:9307"
metadata_file = "/tmp/shardgate-metrics-unit.meta"
default_group = "g0"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "shardgate"
password = "backend-secret"

[[group]]
name = "g0"
master = "127.0.0.1:3310"
replicas = [ { addr = "127.0.0.1:3311" } ]
"#;

    /// Checks every line against the text exposition syntax; returns the
    /// samples as (name with labels, value).
    fn parse_exposition(text: &str) -> Vec<(String, f64)> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut w = rest.splitn(3, ' ');
                let kw = w.next().unwrap();
                let name = w.next().expect("metric name");
                assert!(name.starts_with("shardgate_"), "{line}");
                match kw {
                    "HELP" => assert!(w.next().is_some_and(|h| !h.is_empty()), "{line}"),
                    "TYPE" => assert!(
                        matches!(w.next(), Some("counter" | "gauge" | "histogram")),
                        "{line}"
                    ),
                    _ => panic!("bad comment: {line}"),
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("value");
            let v: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
            };
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "{line}");
            }
            samples.push((series.to_string(), v));
        }
        samples
    }

    #[test]
    fn renders_every_family() {
        let sh = Shared::new(crate::config::parse(CONFIG).expect("config"));
        sh.metrics
            .statement(QueryKind::Select, Duration::from_micros(50), false);
        sh.metrics
            .statement(QueryKind::Select, Duration::from_millis(3), true);
        sh.metrics
            .statement(QueryKind::Insert, Duration::from_secs(10), false);
        let n = sh.metrics.node("127.0.0.1:3310".parse().unwrap());
        n.queries.fetch_add(7, Ordering::Relaxed);
        n.open.fetch_add(3, Ordering::Relaxed);
        n.busy.fetch_add(1, Ordering::Relaxed);
        sh.health
            .set_operator("127.0.0.1:3311", Override::Down)
            .unwrap();
        let text = render(&sh);
        let samples = parse_exposition(&text);
        let get = |k: &str| {
            samples
                .iter()
                .find(|(s, _)| s == k)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{k} missing in\n{text}"))
        };
        assert_eq!(get("shardgate_queries_total{kind=\"select\"}"), 2.0);
        assert_eq!(get("shardgate_queries_total{kind=\"insert\"}"), 1.0);
        assert_eq!(get("shardgate_query_errors_total{kind=\"select\"}"), 1.0);
        assert_eq!(
            get("shardgate_query_duration_seconds_bucket{le=\"0.0001\"}"),
            1.0
        );
        assert_eq!(
            get("shardgate_query_duration_seconds_bucket{le=\"0.005\"}"),
            2.0
        );
        assert_eq!(
            get("shardgate_query_duration_seconds_bucket{le=\"5\"}"),
            2.0
        );
        assert_eq!(
            get("shardgate_query_duration_seconds_bucket{le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(get("shardgate_query_duration_seconds_count"), 3.0);
        assert!((get("shardgate_query_duration_seconds_sum") - 10.00305).abs() < 1e-9);
        let master = "{group=\"g0\",role=\"master\",addr=\"127.0.0.1:3310\"}";
        let replica = "{group=\"g0\",role=\"replica\",addr=\"127.0.0.1:3311\"}";
        assert_eq!(get(&format!("shardgate_node_queries_total{master}")), 7.0);
        assert_eq!(get(&format!("shardgate_node_up{master}")), 1.0);
        assert_eq!(get(&format!("shardgate_node_up{replica}")), 0.0);
        assert_eq!(get(&format!("shardgate_node_readable{replica}")), 0.0);
        assert!(!text.contains("shardgate_node_replica_lag_seconds{"));
        assert_eq!(
            get("shardgate_backend_connections{addr=\"127.0.0.1:3310\",state=\"open\"}"),
            3.0
        );
        assert_eq!(
            get("shardgate_backend_connections{addr=\"127.0.0.1:3310\",state=\"busy\"}"),
            1.0
        );
        assert_eq!(get("shardgate_client_connections"), 0.0);
        assert!(get("shardgate_buffer_memory_bytes{kind=\"limit\"}") > 0.0);
        assert_eq!(get("shardgate_backend_connects_total"), 0.0);
        assert!(get("shardgate_uptime_seconds") >= 0.0);
        // Every family is declared once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let mut names: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(|l| l.split(' ').nth(2).unwrap())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), types);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(labels(&[("k", "v\"")]), "{k=\"v\\\"\"}");
        assert_eq!(labels(&[]), "");
    }

    #[test]
    fn routes() {
        let sh = Shared::new(crate::config::parse(CONFIG).expect("config"));
        assert_eq!(route("GET /metrics HTTP/1.1", &sh).0, 200);
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1", &sh).0, 200);
        let (code, _, _, head_only) = route("HEAD /metrics HTTP/1.1", &sh);
        assert_eq!((code, head_only), (200, true));
        assert_eq!(route("GET / HTTP/1.1", &sh).0, 404);
        assert_eq!(route("GET /metricsx HTTP/1.1", &sh).0, 404);
        assert_eq!(route("POST /metrics HTTP/1.1", &sh).0, 405);
        assert_eq!(route("", &sh).0, 405);
    }
}
