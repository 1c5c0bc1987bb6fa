//! understudy's bgpd under test, through the lab's [`Bgpd`] adapter (`bgpd --config FILE`
//! in the namespace; binaries found by [`crate::neighbor::bgpd::binary`]). Its Loc-RIB count
//! is `loc_rib_routes` of `understudy --json info`.

use std::time::Duration;

use anyhow::Context as _;

use super::plan::{DUT_AS, DUT_FEED, DUT_MONITOR, FEEDER, FEEDER_AS, HOLD, MONITOR, MONITOR_AS};
use super::{Dut, DutSetup};
use crate::neighbor::bgpd::Bgpd;

/// A running bgpd.
#[derive(Debug)]
pub struct BgpdDut {
    bgpd: Bgpd,
}

/// The bgpd configuration of the benchmark: the feeder passive, accept all from it and
/// send it nothing; the monitor active, send it everything.
pub fn render_config(kernel: bool) -> String {
    format!(
        "router_id = \"{DUT_FEED}\"\nlocal_as = {DUT_AS}\n\
         listen_addresses = [\"{DUT_FEED}\", \"{DUT_MONITOR}\"]\n\n\
         [[neighbor]]\naddress = \"{FEEDER}\"\nremote_as = {FEEDER_AS}\npassive = true\n\
         hold_time = {HOLD}\nlocal_address = \"{DUT_FEED}\"\nfamilies = [\"ipv4/unicast\"]\n\
         graceful_restart = false\nimport = [\"all\"]\nexport = [\"none\"]\n\n\
         [[neighbor]]\naddress = \"{MONITOR}\"\nremote_as = {MONITOR_AS}\n\
         hold_time = {HOLD}\nconnect_retry = 1\nlocal_address = \"{DUT_MONITOR}\"\n\
         families = [\"ipv4/unicast\"]\ngraceful_restart = false\n\
         import = [\"none\"]\nexport = [\"all\"]\n\n\
         [policy.policies.all]\ndefault = \"accept\"\n\n\
         [policy.policies.none]\ndefault = \"reject\"\n\n\
         [fib]\nenabled = {kernel}\n"
    )
}

impl BgpdDut {
    /// Starts bgpd and waits for its admin API.
    pub fn start(setup: &DutSetup) -> anyhow::Result<BgpdDut> {
        let config = render_config(setup.kernel);
        Ok(BgpdDut {
            bgpd: Bgpd::start_with_config(&setup.ns, &setup.dir, "dut", &config)?,
        })
    }
}

impl Dut for BgpdDut {
    fn pids(&self) -> Vec<u32> {
        vec![self.bgpd.pid()]
    }

    fn loc_rib_count(&mut self) -> anyhow::Result<u64> {
        let out = self.bgpd.understudy(&["info"])?;
        let v: serde_json::Value = serde_json::from_str(&out).context("understudy info JSON")?;
        v.get("loc_rib_routes")
            .and_then(serde_json::Value::as_u64)
            .context("no loc_rib_routes in understudy info")
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        let pid = self.bgpd.pid();
        anyhow::ensure!(
            pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "bgpd exited (log: {})",
            self.bgpd.log_path().display()
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_is_valid_bgpd_toml() {
        for kernel in [false, true] {
            let text = render_config(kernel);
            let cfg = bgpd::config::Config::from_toml_str(&text).unwrap();
            assert_eq!(cfg.neighbors.len(), 2);
            assert!(cfg.neighbors[0].passive);
            assert_eq!(cfg.fib.enabled, kernel);
            cfg.validate().unwrap();
        }
    }
}
