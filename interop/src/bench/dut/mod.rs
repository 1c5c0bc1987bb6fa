//! The daemons under test, each started the same way: between the feeder (a passive
//! eBGP neighbour: it waits for our connection) and the monitor (an active eBGP neighbour:
//! it connects to our listening monitor), importing everything from the feeder, exporting
//! nothing back to it and everything to the monitor, without Graceful Restart, with a
//! Hold Time of 600 s, and with or without installing routes into the kernel.

mod bgpd;
mod bird;
mod frr;
mod gobgp;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::netns::Netns;

/// Addresses and AS numbers of the benchmark lab (RFC 5737 documentation space).
pub mod plan {
    use std::net::Ipv4Addr;

    /// The feeder, on the feed link.
    pub const FEEDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    /// The daemon under test on the feed link.
    pub const DUT_FEED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    /// The daemon under test on the monitor link.
    pub const DUT_MONITOR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    /// The monitor.
    pub const MONITOR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    /// The feeder's AS.
    pub const FEEDER_AS: u32 = 64_700;
    /// The daemon under test's AS.
    pub const DUT_AS: u32 = 65_010;
    /// The monitor's AS.
    pub const MONITOR_AS: u32 = 64_800;
    /// Hold Time configured on the daemons (seconds) and its keepalive interval.
    pub const HOLD: u16 = 600;
    /// Keepalive interval configured on the daemons (seconds).
    pub const KEEPALIVE: u16 = 200;
}

/// Which daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonKind {
    /// understudy's bgpd.
    Bgpd,
    /// BIRD 2.
    Bird,
    /// FRR bgpd (and zebra when routes go to the kernel).
    Frr,
    /// GoBGP (gobgpd; it has no kernel FIB of its own).
    Gobgp,
}

impl DaemonKind {
    /// Every daemon, in table order.
    pub const ALL: [DaemonKind; 4] = [
        DaemonKind::Bgpd,
        DaemonKind::Bird,
        DaemonKind::Frr,
        DaemonKind::Gobgp,
    ];

    /// The neighbour kind whose programs this daemon runs
    /// ([`crate::neighbor::NeighborKind::check_installed`]).
    pub fn neighbor_kind(self) -> crate::neighbor::NeighborKind {
        use crate::neighbor::NeighborKind;
        match self {
            DaemonKind::Bgpd => NeighborKind::Understudy,
            DaemonKind::Bird => NeighborKind::Bird,
            DaemonKind::Frr => NeighborKind::Frr,
            DaemonKind::Gobgp => NeighborKind::Gobgp,
        }
    }

    /// Whether the daemon can install its routes into the kernel.
    pub fn has_kernel_fib(self) -> bool {
        self != DaemonKind::Gobgp
    }
}

impl std::fmt::Display for DaemonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DaemonKind::Bgpd => "bgpd",
            DaemonKind::Bird => "bird",
            DaemonKind::Frr => "frr",
            DaemonKind::Gobgp => "gobgp",
        })
    }
}

impl std::str::FromStr for DaemonKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s.trim() {
            "bgpd" | "understudy" => DaemonKind::Bgpd,
            "bird" | "bird2" => DaemonKind::Bird,
            "frr" => DaemonKind::Frr,
            "gobgp" | "gobgpd" => DaemonKind::Gobgp,
            other => anyhow::bail!("unknown daemon {other:?} (bgpd, bird, frr, gobgp)"),
        })
    }
}

/// Where and how to start a daemon under test.
#[derive(Debug, Clone)]
pub struct DutSetup {
    /// Its namespace (holding `plan::DUT_FEED` and `plan::DUT_MONITOR`).
    pub ns: Netns,
    /// A directory for its files.
    pub dir: PathBuf,
    /// Install learned routes into the kernel.
    pub kernel: bool,
}

/// A running daemon under test.
pub trait Dut: std::fmt::Debug {
    /// Its processes (FRR: bgpd, and zebra when it runs).
    fn pids(&self) -> Vec<u32>;

    /// The prefixes in its Loc-RIB, as the daemon itself reports them.
    fn loc_rib_count(&mut self) -> anyhow::Result<u64>;

    /// How often [`Dut::loc_rib_count`] may be asked (each ask costs the daemon, and the
    /// harness, CPU).
    fn poll_interval(&self) -> Duration;

    /// Whether it is still running (an error naming how it ended, if not).
    fn check_running(&mut self) -> anyhow::Result<()>;
}

/// Starts `kind` as set up by `setup` and waits until its control interface answers.
pub fn start(kind: DaemonKind, setup: &DutSetup) -> anyhow::Result<Box<dyn Dut>> {
    anyhow::ensure!(
        !setup.kernel || kind.has_kernel_fib(),
        "{kind} has no kernel FIB"
    );
    Ok(match kind {
        DaemonKind::Bgpd => Box::new(bgpd::BgpdDut::start(setup)?),
        DaemonKind::Bird => Box::new(bird::BirdDut::start(setup)?),
        DaemonKind::Frr => Box::new(frr::FrrDut::start(setup)?),
        DaemonKind::Gobgp => Box::new(gobgp::GobgpDut::start(setup)?),
    })
}

/// The first number after `key` in `text` (`"Routes: 123 imported"` → 123 for `"Routes:"`).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse() {
        assert_eq!("bird".parse::<DaemonKind>().unwrap(), DaemonKind::Bird);
        assert_eq!(" gobgp".parse::<DaemonKind>().unwrap(), DaemonKind::Gobgp);
        assert!("quagga".parse::<DaemonKind>().is_err());
    }

    #[test]
    fn numbers_after_keys() {
        assert_eq!(
            number_after("  Routes:         42 imported, 0 exported", "Routes:"),
            Some(42)
        );
        assert_eq!(
            number_after("Destination: 7, Path: 7", "Destination:"),
            Some(7)
        );
        assert_eq!(number_after("nothing", "Routes:"), None);
    }
}
