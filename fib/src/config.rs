//! Configuration of the FIB writer, embeddable in the daemon's TOML.

use serde::Deserialize;

/// `RTPROT_BGP` from `<linux/rtnetlink.h>`: the route protocol number for BGP routes.
pub const RTPROT_BGP: u8 = 186;

/// `RT_TABLE_MAIN` from `<linux/rtnetlink.h>`.
pub const RT_TABLE_MAIN: u32 = 254;

/// How and where the FIB writer programs the kernel.
///
/// Deserialises from TOML, every field optional:
///
/// ```toml
/// [fib]
/// table = 254      # kernel routing table id (RTA_TABLE), 1..=2^32-1
/// protocol = 186   # rtm_protocol marking our routes (RTPROT_BGP)
/// metric = 20      # RTA_PRIORITY of our routes
/// install = true   # false: compute everything, touch nothing
/// nexthop_objects = true  # routes refer to kernel nexthop objects (false: carry gateways)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FibConfig {
    /// Kernel routing table id (RTA_TABLE). Default: 254 (main).
    pub table: u32,
    /// Route protocol number (rtm_protocol) that marks routes as ours. Routes of any
    /// other protocol are never touched. Default: 186 (`RTPROT_BGP`).
    pub protocol: u8,
    /// Route metric (RTA_PRIORITY) of our routes. Default: 20.
    pub metric: u32,
    /// When false, the writer keeps its desired state and reports
    /// [`crate::Outcome::NotInstalled`] but sends nothing to the kernel.
    pub install: bool,
    /// Install routes through kernel nexthop objects (RTM_NEWNEXTHOP, Linux 5.3+):
    /// one object per distinct path set, routes refer to it by id (RTA_NH_ID). The
    /// kernel validates a path once per object instead of once per route (faster
    /// installs, IPv6 above all), and a withdrawal of every route using an object
    /// deletes the object instead (one operation for all of them).
    ///
    /// Default: true. [`crate::Fib::open`] probes the kernel once (a dump of the
    /// nexthop objects); a kernel that refuses them (older than 5.3, or a sandbox
    /// without the message type) makes the writer fall back to plain routes, which
    /// carry their gateways (RTA_GATEWAY, RTA_MULTIPATH), with one warning logged;
    /// [`crate::Fib::config`] then says `false`. Set false to always use plain routes.
    /// Either way, routes of ours already in the kernel (in the other form) that match
    /// are adopted as they are, never rewritten.
    pub nexthop_objects: bool,
}

impl Default for FibConfig {
    fn default() -> Self {
        Self {
            table: RT_TABLE_MAIN,
            protocol: RTPROT_BGP,
            metric: 20,
            install: true,
            nexthop_objects: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_empty_toml() {
        let c: FibConfig = toml::from_str("").expect("empty config parses");
        assert_eq!(c, FibConfig::default());
        assert_eq!(c.protocol, 186);
        assert_eq!(c.table, 254);
        assert!(c.nexthop_objects, "nexthop objects by default");
    }

    #[test]
    fn fields_from_toml() {
        let c: FibConfig = toml::from_str(
            "table = 100\nprotocol = 200\nmetric = 5\ninstall = false\nnexthop_objects = false\n",
        )
        .expect("config parses");
        assert_eq!(
            c,
            FibConfig {
                table: 100,
                protocol: 200,
                metric: 5,
                install: false,
                nexthop_objects: false,
            }
        );
    }

    #[test]
    fn unknown_field_rejected() {
        assert!(toml::from_str::<FibConfig>("tabel = 3").is_err());
    }
}
