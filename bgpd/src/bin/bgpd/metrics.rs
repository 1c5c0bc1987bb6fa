//! Prometheus metrics (`--metrics ADDR`, served at `/metrics`): sessions by state, prefixes
//! per neighbour and table, messages in and out, errors.

use crate::core::Core;
use metrics::{gauge, Unit};
use std::net::SocketAddr;

/// The exporter handle.
pub struct Metrics;

impl Metrics {
    /// Starts the HTTP exporter.
    pub fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
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
