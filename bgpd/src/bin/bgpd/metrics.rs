//! Prometheus metrics (`--metrics ADDR`, served at `/metrics`): sessions by state, prefixes
//! per neighbour and table, messages in and out, errors.

use crate::core::Core;
use metrics::{gauge, Unit};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exporter handle.
pub struct Metrics;

/// The one path served; any other answers 404.
const PATH: &str = "/metrics";

impl Metrics {
    /// Installs the Prometheus recorder and serves it over HTTP at `addr`, path `/metrics`
    /// alone (any other path is 404 Not Found, a method other than GET or HEAD 405). Must be
    /// called inside the tokio runtime.
    pub fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((conn, _)) => {
                        tokio::spawn(serve(conn, handle.clone()));
                    }
                    Err(e) => {
                        tracing::warn!("metrics endpoint: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        metrics::describe_gauge!("bgp_sessions", Unit::Count, "BGP sessions by FSM state");
        metrics::describe_gauge!(
            "bgp_prefixes",
            Unit::Count,
            "routes per neighbour and table"
        );
        metrics::describe_gauge!(
            "bgp_messages_in",
            Unit::Count,
            "messages received per neighbour"
        );
        metrics::describe_gauge!(
            "bgp_messages_out",
            Unit::Count,
            "messages sent per neighbour"
        );
        metrics::describe_gauge!(
            "bgp_loc_rib_prefixes",
            Unit::Count,
            "prefixes in the Loc-RIB"
        );
        tracing::info!(address = %addr, "metrics endpoint listening");
        Ok(Metrics)
    }

    /// Refreshes every gauge from the core's state.
    pub fn update(&self, core: &Core) {
        let mut by_state = std::collections::BTreeMap::<&'static str, u64>::new();
        for s in [
            "Idle",
            "Connect",
            "Active",
            "OpenSent",
            "OpenConfirm",
            "Established",
        ] {
            by_state.insert(s, 0);
        }
        let g = core.lock();
        let speaker = g.speaker();
        let rib = speaker.rib();
        for (peer, address, state) in speaker.peers() {
            *by_state.entry(state.name()).or_default() += 1;
            let a = address.to_string();
            if let Some(s) = speaker.session(peer) {
                gauge!("bgp_messages_in", "neighbor" => a.clone())
                    .set(s.stats().messages_in as f64);
                gauge!("bgp_messages_out", "neighbor" => a.clone())
                    .set(s.stats().messages_out as f64);
            }
            gauge!("bgp_prefixes", "neighbor" => a.clone(), "table" => "adj-rib-in")
                .set(rib.adj_rib_in(peer).len() as f64);
            gauge!("bgp_prefixes", "neighbor" => a, "table" => "adj-rib-out")
                .set(rib.adj_rib_out(peer).len() as f64);
        }
        for (state, n) in by_state {
            gauge!("bgp_sessions", "state" => state).set(n as f64);
        }
        gauge!("bgp_loc_rib_prefixes").set(rib.stats().loc_rib as f64);
    }
}

/// The status line and body for a request head (`GET /metrics HTTP/1.1 ...`).
fn respond(head: &str, render: impl FnOnce() -> String) -> (&'static str, String) {
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if path != PATH {
        return (
            "404 Not Found",
            format!("not found: only {PATH} is served\n"),
        );
    }
    match method {
        "GET" | "HEAD" => ("200 OK", render()),
        _ => (
            "405 Method Not Allowed",
            format!("{method} not allowed: GET {PATH}\n"),
        ),
    }
}

/// Answers one HTTP/1.x request and closes the connection.
async fn serve(
    mut conn: tokio::net::TcpStream,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let head = String::from_utf8_lossy(&buf);
    let (status, body) = respond(&head, || handle.render());
    let head_only = head.starts_with("HEAD ");
    let content_type = if status.starts_with("200") {
        "text/plain; version=0.0.4"
    } else {
        "text/plain"
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(&body);
    }
    let _ = conn.write_all(out.as_bytes()).await;
    let _ = conn.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::respond;

    #[test]
    fn only_the_metrics_path_is_served() {
        let body = || "bgp_sessions 1\n".to_string();
        assert_eq!(
            respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", body),
            ("200 OK", "bgp_sessions 1\n".to_string())
        );
        assert_eq!(
            respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n", body).0,
            "200 OK"
        );
        assert_eq!(
            respond("GET /metrics/nope HTTP/1.1\r\n\r\n", body).0,
            "404 Not Found"
        );
        assert_eq!(respond("GET / HTTP/1.1\r\n\r\n", body).0, "404 Not Found");
        assert_eq!(
            respond("POST /metrics HTTP/1.1\r\n\r\n", body).0,
            "405 Method Not Allowed"
        );
        assert_eq!(respond("", body).0, "404 Not Found");
    }
}
