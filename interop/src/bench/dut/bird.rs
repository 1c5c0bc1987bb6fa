//! BIRD 2 under test, with a kernel protocol exporting everything when routes go to the
//! kernel. Its Loc-RIB count is the feeder protocol's `Routes: N imported`, asked on BIRD's
//! control socket directly (`show protocols all feeder`: cheap, unlike `show route count`,
//! which walks the table and stalls BIRD).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::plan::{
    DUT_AS, DUT_FEED, DUT_MONITOR, FEEDER, FEEDER_AS, HOLD, KEEPALIVE, MONITOR, MONITOR_AS,
};
use super::{number_after, Dut, DutSetup};
use crate::neighbor::bird::Bird;

/// A running BIRD.
#[derive(Debug)]
pub struct BirdDut {
    bird: Bird,
    ctl: Option<BufReader<UnixStream>>,
    ctl_path: std::path::PathBuf,
}

/// The BIRD configuration of the benchmark.
pub fn render_config(kernel: bool) -> String {
    let mut s = format!(
        "router id {DUT_FEED};\nprotocol device {{ scan time 10; }}\n\
         protocol bgp feeder {{\n  local {DUT_FEED} as {DUT_AS};\n  neighbor {FEEDER} as {FEEDER_AS};\n\
         \x20 direct;\n  passive on;\n  hold time {HOLD}; keepalive time {KEEPALIVE};\n\
         \x20 graceful restart off;\n  ipv4 {{ import all; export none; }};\n}}\n\
         protocol bgp monitor {{\n  local {DUT_MONITOR} as {DUT_AS};\n  neighbor {MONITOR} as {MONITOR_AS};\n\
         \x20 direct;\n  hold time {HOLD}; keepalive time {KEEPALIVE};\n\
         \x20 connect delay time 1; connect retry time 1; error wait time 1, 5;\n\
         \x20 graceful restart off;\n  ipv4 {{ import none; export all; }};\n}}\n"
    );
    if kernel {
        s.push_str("protocol kernel {\n  ipv4 { import none; export all; };\n}\n");
    }
    s
}

impl BirdDut {
    /// Starts BIRD and waits for its control socket.
    pub fn start(setup: &DutSetup) -> anyhow::Result<BirdDut> {
        let bird =
            Bird::start_with_config(&setup.ns, &setup.dir, "dut", &render_config(setup.kernel))?;
        Ok(BirdDut {
            bird,
            ctl: None,
            ctl_path: setup.dir.join("bird.ctl"),
        })
    }

    /// One command on the control socket; returns the reply's lines (codes included).
    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        if self.ctl.is_none() {
            let s = UnixStream::connect(&self.ctl_path)
                .with_context(|| format!("connecting to {}", self.ctl_path.display()))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut r = BufReader::new(s);
            let mut hello = String::new();
            r.read_line(&mut hello)?;
            anyhow::ensure!(hello.starts_with("0001"), "BIRD greeting {hello:?}");
            self.ctl = Some(r);
        }
        let r = self.ctl.as_mut().context("control socket")?;
        r.get_mut().write_all(format!("{command}\n").as_bytes())?;
        let mut out = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                self.ctl = None;
                bail!("BIRD closed its control socket");
            }
            let code = line
                .get(..4)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
            let last = line.as_bytes().get(4) == Some(&b' ');
            out.push_str(&line);
            match code {
                Some("0000") => return Ok(out),
                Some(c) if last && (c.starts_with('8') || c.starts_with('9')) => {
                    bail!("BIRD: {}", line.trim())
                }
                _ => {}
            }
        }
    }
}

impl Dut for BirdDut {
    fn pids(&self) -> Vec<u32> {
        vec![self.bird.pid()]
    }

    fn loc_rib_count(&mut self) -> anyhow::Result<u64> {
        let out = self.ask("show protocols all feeder")?;
        Ok(number_after(&out, "Routes:").unwrap_or(0))
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn check_running(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.bird.pid() != 0, "BIRD stopped");
        let alive = std::path::Path::new(&format!("/proc/{}", self.bird.pid())).exists();
        anyhow::ensure!(alive, "BIRD exited");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_protocol_only_with_kernel() {
        assert!(!render_config(false).contains("protocol kernel"));
        assert!(render_config(true).contains("protocol kernel"));
        assert!(render_config(false).contains("import all; export none;"));
    }
}
