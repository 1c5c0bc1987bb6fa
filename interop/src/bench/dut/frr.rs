//! FRR under test: bgpd alone (`-Z`) when nothing goes to the kernel, bgpd and zebra
//! otherwise. FRR would echo every route back to the eBGP feeder (30-60 % more CPU), so the
//! feeder gets an outbound deny, as the other daemons send it nothing either. Its Loc-RIB
//! count is the feeder's `pfxRcd` in `show bgp ipv4 unicast summary json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::plan::{
    DUT_AS, DUT_FEED, DUT_MONITOR, FEEDER, FEEDER_AS, HOLD, KEEPALIVE, MONITOR, MONITOR_AS,
};
use super::{Dut, DutSetup};
use crate::neighbor::frr::Frr;

/// A running FRR.
#[derive(Debug)]
pub struct FrrDut {
    frr: Frr,
    zebra_pid_file: Option<PathBuf>,
}

/// The FRR (bgpd) configuration of the benchmark.
pub fn render_config() -> String {
    format!(
        "frr defaults traditional\nhostname dut\n!\n\
         route-map DENY deny 10\n!\n\
         router bgp {DUT_AS}\n bgp router-id {DUT_FEED}\n no bgp ebgp-requires-policy\n\
         \x20no bgp default ipv4-unicast\n bgp graceful-restart-disable\n\
         \x20neighbor {FEEDER} remote-as {FEEDER_AS}\n neighbor {FEEDER} passive\n\
         \x20neighbor {FEEDER} update-source {DUT_FEED}\n\
         \x20neighbor {FEEDER} timers {KEEPALIVE} {HOLD}\n\
         \x20neighbor {MONITOR} remote-as {MONITOR_AS}\n neighbor {MONITOR} update-source {DUT_MONITOR}\n\
         \x20neighbor {MONITOR} timers {KEEPALIVE} {HOLD}\n neighbor {MONITOR} timers connect 1\n\
         \x20neighbor {MONITOR} advertisement-interval 0\n\
         \x20address-family ipv4 unicast\n  neighbor {FEEDER} activate\n\
         \x20 neighbor {FEEDER} route-map DENY out\n  neighbor {MONITOR} activate\n\
         \x20 neighbor {MONITOR} route-map DENY in\n exit-address-family\n!\n"
    )
}

impl FrrDut {
    /// Starts FRR (with zebra when `setup.kernel`) and waits for its vty.
    pub fn start(setup: &DutSetup) -> anyhow::Result<FrrDut> {
        let frr =
            Frr::start_with_config(&setup.ns, &setup.dir, "dut", &render_config(), setup.kernel)?;
        Ok(FrrDut {
            frr,
            zebra_pid_file: setup.kernel.then(|| setup.dir.join("zebra.pid")),
        })
    }
}

impl Dut for FrrDut {
    fn pids(&self) -> Vec<u32> {
        let mut v = vec![self.frr.bgpd_pid()];
        if let Some(f) = &self.zebra_pid_file {
            if let Some(pid) = std::fs::read_to_string(f)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                v.push(pid);
            }
        }
        v
    }

    fn loc_rib_count(&mut self) -> anyhow::Result<u64> {
        let v = self.frr.vtysh_json("show bgp ipv4 unicast summary json")?;
        Ok(v.pointer(&format!("/peers/{FEEDER}/pfxRcd"))
            .and_then(serde_json::Value::as_u64)
            .context("no pfxRcd for the feeder")
            .unwrap_or(0))
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(250)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        for pid in self.pids() {
            anyhow::ensure!(
                pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "FRR process {pid} exited"
            );
        }
        Ok(())
    }
}
