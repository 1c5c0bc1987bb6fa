//! Prometheus metrics (`--metrics ADDR`, served at `/metrics`): sessions by state, prefixes
//! per neighbour and table, messages in and out, errors.

use crate::core::Core;
use metrics::{gauge, Unit};
use std::net::SocketAddr;

/// The exporter handle.
pub struct Metrics;

/// The one path served; any other answers 404 Not Found.
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
            if let Err(e) = axum::serve(listener, router(handle)).await {
                tracing::warn!("metrics endpoint stopped: {e}");
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

/// The router: `GET /metrics` (and HEAD, which axum answers from the GET route) renders
/// the registry; any other path is 404 Not Found, another method 405 Method Not Allowed.
fn router(handle: metrics_exporter_prometheus::PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        PATH,
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    handle.render(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn status(method: &str, uri: &str) -> StatusCode {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        router(handle)
            .oneshot(request)
            .await
            .expect("infallible")
            .status()
    }

    #[tokio::test]
    async fn only_the_metrics_path_is_served() {
        assert_eq!(status("GET", "/metrics").await, StatusCode::OK);
        assert_eq!(status("GET", "/metrics?x=1").await, StatusCode::OK);
        assert_eq!(status("HEAD", "/metrics").await, StatusCode::OK);
        assert_eq!(status("GET", "/metrics/nope").await, StatusCode::NOT_FOUND);
        assert_eq!(status("GET", "/").await, StatusCode::NOT_FOUND);
        assert_eq!(
            status("POST", "/metrics").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
