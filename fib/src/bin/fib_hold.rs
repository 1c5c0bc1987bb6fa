//! fib-hold: installs routes in the current network namespace with [`fib::Fib`], says
//! `READY <pid>` on stdout, then holds until killed. The "first process" of the
//! adopt-after-crash test; also handy by hand:
//!
//! ```text
//! ip netns exec NS fib-hold 198.51.100.0/28=192.0.2.2 2001:db8:1::/48=2001:db8:ffff::2,2001:db8:ffff::3
//! ```
//!
//! Each argument is `PREFIX=NEXTHOP[,NEXTHOP...]`; next hops are resolved through the
//! kernel. Default configuration (main table, protocol 186, metric 20, routes through
//! kernel nexthop objects); `--plain` installs plain routes (gateways in the route),
//! `--nexthop-objects` says the default explicitly.

use std::io::Write;

use anyhow::{bail, Context};
use fib::{Fib, FibConfig, NextHop, Outcome, Prefix, RouteUpdate};

fn main() -> anyhow::Result<()> {
    let mut updates = Vec::new();
    let mut config = FibConfig::default();
    for arg in std::env::args().skip(1) {
        if arg == "--nexthop-objects" || arg == "--plain" {
            config.nexthop_objects = arg == "--nexthop-objects";
            continue;
        }
        let (p, hops) = arg
            .split_once('=')
            .with_context(|| format!("expected PREFIX=NEXTHOP[,NEXTHOP]: {arg}"))?;
        let prefix: Prefix = p.parse()?;
        let next_hops = hops
            .split(',')
            .map(|h| h.parse().map(NextHop::via))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("bad next hop in {arg}"))?;
        updates.push(RouteUpdate::install(prefix, next_hops));
    }
    let mut fib = Fib::open(config)?;
    if fib.config().nexthop_objects != config.nexthop_objects {
        bail!("this kernel refuses nexthop objects");
    }
    fib.adopt(None)?;
    for r in fib.apply(&updates)? {
        if r.outcome != Outcome::Installed {
            bail!("{}: {:?}", r.prefix, r.outcome);
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {}", std::process::id())?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
