//! understudy's bgpd under test: `bgpd --config FILE` in the namespace, its Loc-RIB count
//! read with `understudy --json info` (the admin API's `loc_rib_routes`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::plan::{DUT_AS, DUT_FEED, DUT_MONITOR, FEEDER, FEEDER_AS, HOLD, MONITOR, MONITOR_AS};
use super::{write_file, Dut, DutSetup};
use crate::netns::Netns;
use crate::poll::{poll_until, STARTUP_TIMEOUT};
use crate::process::LabProcess;

/// A running bgpd.
#[derive(Debug)]
pub struct BgpdDut {
    ns: Netns,
    understudy: PathBuf,
    process: LabProcess,
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
        let conf = write_file(&setup.dir, "bgpd.toml", &render_config(setup.kernel))?;
        let bgpd = setup.bin_dir.join("bgpd");
        let understudy = setup.bin_dir.join("understudy");
        for b in [&bgpd, &understudy] {
            anyhow::ensure!(
                b.is_file(),
                "{} is missing (cargo build --release -p bgpd --bins)",
                b.display()
            );
        }
        let conf = conf.to_string_lossy().into_owned();
        let process = LabProcess::spawn(
            &setup.ns,
            "bgpd",
            &bgpd.to_string_lossy(),
            &["--config", &conf],
            &[],
            &setup.dir.join("bgpd.log"),
        )?;
        let mut dut = BgpdDut {
            ns: setup.ns.clone(),
            understudy,
            process,
        };
        poll_until(
            "bgpd admin API",
            STARTUP_TIMEOUT,
            Duration::from_millis(100),
            || {
                dut.process.check_running()?;
                Ok(dut.info().ok().map(|_| ()))
            },
        )?;
        Ok(dut)
    }

    fn info(&self) -> anyhow::Result<serde_json::Value> {
        let out = self
            .ns
            .exec_output(&self.understudy.to_string_lossy(), &["--json", "info"])?;
        anyhow::ensure!(
            out.status.success(),
            "understudy info: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        serde_json::from_slice(&out.stdout).context("understudy info JSON")
    }
}

impl Dut for BgpdDut {
    fn pids(&self) -> Vec<u32> {
        vec![self.process.pid()]
    }

    fn loc_rib_count(&mut self) -> anyhow::Result<u64> {
        self.info()?
            .get("loc_rib_routes")
            .and_then(serde_json::Value::as_u64)
            .context("no loc_rib_routes in understudy info")
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        Ok(self.process.check_running()?)
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
