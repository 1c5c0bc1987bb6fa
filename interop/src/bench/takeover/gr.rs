//! The baseline of the takeover benchmark: what a neighbour pays without understudy. The
//! same feeder feeds the same table to a plain bgpd (no HA), which sends it to FRR with
//! Graceful Restart (RFC 4724) on that session. bgpd is killed (FRR keeps the routes stale,
//! as a Graceful Restart helper does) and started again at once; the feeder connects again
//! and writes the table again. Measured from the kill: FRR's session Established again, and
//! FRR holding the whole table fresh (End-of-RIB received from the router and every prefix).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::lab::{RouterBgpd, RouterLab};
use super::plan::{self, Role, Sessions};
use super::{GrBaseline, TakeoverBenchOptions};
use crate::neighbor::frr::Frr;
use crate::neighbor::Neighbor as _;
use crate::poll::poll_until;

/// Whether FRR's `show bgp neighbors ADDR json` (the neighbour's object) says End-of-RIB
/// was received for IPv4 unicast on the current session (`gracefulRestartInfo`, either
/// `endOfRibRecv.ipv4Unicast` or `ipv4Unicast.endOfRibStatus.endOfRibRecv`).
pub fn end_of_rib_received(neighbor: &Value) -> bool {
    let gr = &neighbor["gracefulRestartInfo"];
    gr["endOfRibRecv"]["ipv4Unicast"] == true
        || gr["ipv4Unicast"]["endOfRibStatus"]["endOfRibRecv"] == true
}

/// Whether FRR holds a path for the server's prefix (fresh or stale).
fn route_present(frr: &Frr) -> bool {
    let (addr, len) = plan::SERVER_NET;
    frr.vtysh_json(&format!("show bgp ipv4 unicast {addr}/{len} json"))
        .map(|v| v["paths"].as_array().is_some_and(|p| !p.is_empty()))
        .unwrap_or(false)
}

/// Runs the baseline.
pub fn run(
    opts: &TakeoverBenchOptions,
    bytes: &Arc<Vec<u8>>,
    prefixes: u64,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<GrBaseline> {
    let timeout = opts.timeout;
    let sessions = Sessions::of(2);
    let lab = RouterLab::build(&opts.ns_prefix, sessions, false)?;
    let frr_ns = lab
        .frr
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no FRR namespace"))?;
    let mut router = RouterBgpd::start(
        &lab.primary,
        lab.dir("router")?,
        "router",
        sessions,
        Role::Plain,
        false,
    )?;
    let mut frr = Frr::start_with_config(
        &frr_ns,
        &lab.dir("frr")?,
        "frr",
        &plan::frr_config(true),
        false,
    )?;
    let mut feed = lab.start_feeder(bytes, timeout)?;
    feed.wait_established(timeout)?;
    let peer = IpAddr::V4(plan::ROUTER);
    let before = poll_until(
        "FRR to hold the whole table from the router",
        timeout,
        Duration::from_millis(500),
        || {
            let s = frr.session(peer)?;
            Ok((s.established && s.prefixes_received.unwrap_or(0) >= prefixes).then_some(s))
        },
    )?;
    let caps = frr.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
    let gr_cap = caps[peer.to_string()]["neighborCapabilities"]["gracefulRestart"].clone();
    progress(&format!(
        "  FRR holds {} prefixes from the router (Graceful Restart capability: {gr_cap})",
        before.prefixes_received.unwrap_or(0)
    ));

    let failed = Instant::now();
    router.restart()?;
    let _ = feed.stop();
    let mut feed = lab.start_feeder(bytes, timeout)?;
    progress(&format!(
        "  router killed and started again ({:.2} s to its admin API)",
        failed.elapsed().as_secs_f64()
    ));
    let mut out = GrBaseline {
        prefixes,
        ..GrBaseline::default()
    };
    let mut min_prefixes = before.prefixes_received;
    let key = peer.to_string();
    let relearnt = poll_until(
        "FRR to hold the whole table fresh again (End-of-RIB from the router)",
        timeout,
        Duration::from_millis(100),
        || {
            let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
            let s = crate::neighbor::frr::parse_neighbor(peer, &v)?;
            if let Some(p) = s.prefixes_received {
                min_prefixes = Some(min_prefixes.map_or(p, |m| m.min(p)));
            }
            let new_session = s.established && s.established_count > before.established_count;
            if !s.established {
                let kept = route_present(&frr);
                out.route_kept_while_down = Some(out.route_kept_while_down.unwrap_or(true) && kept);
            }
            if new_session && out.reestablished_s.is_none() {
                out.reestablished_s = Some(failed.elapsed().as_secs_f64());
            }
            Ok((new_session
                && end_of_rib_received(&v[&key])
                && s.prefixes_received.unwrap_or(0) >= prefixes)
                .then(|| failed.elapsed().as_secs_f64()))
        },
    );
    let _ = feed.wait_established(Duration::from_millis(1));
    match relearnt {
        Ok(s) => out.relearn_s = Some(s),
        Err(e) => out.error = Some(e.to_string()),
    }
    out.min_prefixes_during = min_prefixes;
    let _ = feed.stop();
    drop(frr);
    drop(router);
    drop(lab);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn end_of_rib_flag_is_found() {
        let a: Value = serde_json::from_str(
            r#"{"gracefulRestartInfo":{"endOfRibRecv":{"ipv4Unicast":true}}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"gracefulRestartInfo":{"ipv4Unicast":{"endOfRibStatus":{"endOfRibRecv":true}}}}"#,
        )
        .unwrap();
        let no: Value = serde_json::from_str(
            r#"{"gracefulRestartInfo":{"endOfRibRecv":{"ipv4Unicast":false}}}"#,
        )
        .unwrap();
        assert!(end_of_rib_received(&a));
        assert!(end_of_rib_received(&b));
        assert!(!end_of_rib_received(&no));
        assert!(!end_of_rib_received(&Value::Null));
    }
}
