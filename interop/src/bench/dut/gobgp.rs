//! GoBGP under test (gobgpd; no kernel FIB). Its Loc-RIB count is `Destination: N` of
//! `gobgp global rib summary -a ipv4`.

use std::time::Duration;

use anyhow::Context as _;

use super::plan::{
    DUT_AS, DUT_FEED, DUT_MONITOR, FEEDER, FEEDER_AS, HOLD, KEEPALIVE, MONITOR, MONITOR_AS,
};
use super::{number_after, Dut, DutSetup};
use crate::neighbor::gobgp::Gobgp;

/// A running gobgpd.
#[derive(Debug)]
pub struct GobgpDut {
    gobgp: Gobgp,
}

/// The gobgpd configuration of the benchmark (GoBGP never sends a route back to the
/// neighbour it came from).
pub fn render_config() -> String {
    let mut s =
        format!("[global.config]\n  as = {DUT_AS}\n  router-id = \"{DUT_FEED}\"\n  port = 179\n");
    for (addr, asn, local, passive) in [
        (FEEDER, FEEDER_AS, DUT_FEED, true),
        (MONITOR, MONITOR_AS, DUT_MONITOR, false),
    ] {
        s.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n\
             \x20 [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = {HOLD}\n\
             \x20   keepalive-interval = {KEEPALIVE}\n    minimum-advertisement-interval = 0\n\
             \x20 [neighbors.transport.config]\n    local-address = \"{local}\"\n    passive-mode = {passive}\n\
             \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        ));
    }
    s
}

impl GobgpDut {
    /// Starts gobgpd and waits for its API.
    pub fn start(setup: &DutSetup) -> anyhow::Result<GobgpDut> {
        Ok(GobgpDut {
            gobgp: Gobgp::start_with_config(&setup.ns, &setup.dir, "dut", &render_config())?,
        })
    }
}

impl Dut for GobgpDut {
    fn pids(&self) -> Vec<u32> {
        vec![self.gobgp.pid()]
    }

    fn loc_rib_count(&mut self) -> anyhow::Result<u64> {
        let out = self
            .gobgp
            .gobgp(&["global", "rib", "summary", "-a", "ipv4"])?;
        number_after(&out, "Destination:").context("no Destination: in gobgp rib summary")
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        let pid = self.gobgp.pid();
        anyhow::ensure!(
            pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "gobgpd exited"
        );
        Ok(())
    }
}
