//! The daemon's configuration: a TOML file read with serde ([`Config::from_toml_str`]) and
//! checked ([`Config::validate`]); errors name the field and the line.
//!
//! ```toml
//! router_id = "192.0.2.1"
//! local_as = 65001
//!
//! [[neighbor]]
//! address = "192.0.2.2"
//! remote_as = 65002
//! import = ["from-upstream"]
//! export = ["to-upstream"]
//! ```
//!
//! See `bgpd/examples/bgpd.toml` for every field.

use crate::wire::{AfiSafi, Asn, HoldTime, Prefix, RouterId};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

#[cfg(test)]
#[path = "config_all_errors_tests.rs"]
mod all_errors_tests;
#[cfg(test)]
#[path = "config_checks_tests.rs"]
mod checks_tests;
#[path = "config_ha.rs"]
mod ha;
#[path = "config_inline.rs"]
mod inline;
#[path = "config_policy_place.rs"]
mod policy_place;
#[path = "config_read.rs"]
mod read;
#[path = "config_special.rs"]
pub mod special;

pub use ha::{HaFibMode, HaRoleConfig, HaSection, HaTlsConfig, MovedAddress, WriteAheadPolicy};

/// The BGP port (RFC 4271 section 8.2.1: "TCP port 179").
pub const BGP_PORT: u16 = 179;

/// The longest TCP-MD5 key (RFC 2385) the kernel takes, in bytes (Linux
/// `TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_KEY_MAX_LEN: usize = 80;

fn family_name(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// The policy section (`[policy]`): named prefix lists and policies (see [`crate::policy`]).
pub type PolicySection = crate::policy::PolicyConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Our BGP Identifier (RFC 4271 section 4.2, RFC 6286): non-zero.
    pub router_id: RouterIdField,
    /// Our AS (4-octet, RFC 6793).
    pub local_as: u32,
    /// Addresses to listen on for incoming BGP connections (default: `0.0.0.0` and `::`).
    #[serde(default = "default_listen")]
    pub listen_addresses: Vec<IpAddr>,
    /// TCP port to listen on and connect to (default 179).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The admin API (gRPC) address (default `127.0.0.1:50051`).
    #[serde(default = "default_admin")]
    pub admin_address: SocketAddr,
    /// TLS for the admin API (`admin_tls = { cert, key, ca }`); plain gRPC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_tls: Option<AdminTlsConfig>,
    /// Serve Prometheus metrics over HTTP on this address (`/metrics`); off when absent.
    /// bgpd's `--metrics` flag overrides it. Read at start only: a reload that changes it
    /// (or `admin_address`, `admin_tls`) says it takes effect when bgpd restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<SocketAddr>,
    /// The neighbours (`[[neighbor]]`).
    #[serde(default, rename = "neighbor")]
    pub neighbors: Vec<NeighborConfig>,
    /// Locally originated networks (`[[network]]`).
    #[serde(default, rename = "network")]
    pub networks: Vec<NetworkConfig>,
    /// Routing policy (`[policy]`).
    #[serde(default)]
    pub policy: PolicySection,
    /// Compare MED between routes from different neighbouring ASes too (RFC 4271 section
    /// 9.1.2.2 c, "always-compare-med"); default false.
    #[serde(default)]
    pub always_compare_med: bool,
    /// Kernel FIB programming (`[fib]`).
    #[serde(default)]
    pub fib: FibConfig,
    /// Non-stop routing (`[ha]`): absent = standalone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaSection>,
}

/// TLS of the admin API (`admin_tls = { cert = "...", key = "...", ca = "..." }`): bgpd
/// serves gRPC over TLS with `cert` and `key`; with `ca`, a client must also present a
/// certificate that `ca` signed (the `understudy` CLI: `--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTlsConfig {
    /// The server's certificate chain (PEM file).
    pub cert: String,
    /// The server's private key (PEM file).
    pub key: String,
    /// The CA certificate (PEM file) that client certificates must chain to; absent: no
    /// client certificate is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl AdminTlsConfig {
    /// Checks that each file can be read and holds what it should (a PEM certificate, a
    /// PEM private key); returns the field (`admin_tls.NAME`) and the reason of the first
    /// problem ([`AdminTlsConfig::check_files_all`] gives them all). Not part of
    /// [`Config::validate`] (see [`Config::check_files`]).
    pub fn check_files(&self) -> Result<(), (String, String)> {
        first(self.check_files_all())
    }

    /// Every problem of [`AdminTlsConfig::check_files`]: each file that cannot be read or
    /// does not hold what it should, then (when both are good) a key that is not the
    /// certificate's. Each message says what is wrong with the file its field names.
    pub fn check_files_all(&self) -> Vec<(String, String)> {
        let files = [
            ("cert", Some(&self.cert), "a PEM certificate"),
            ("key", Some(&self.key), "a PEM private key"),
            ("ca", self.ca.as_ref(), "a PEM certificate"),
        ];
        let mut out = Vec::new();
        for (name, path, what) in files {
            let Some(path) = path else { continue };
            if let Err(why) = pem_file_problem(path, name == "key", what) {
                out.push((format!("admin_tls.{name}"), why));
            }
        }
        if out.iter().any(|(f, _)| f != "admin_tls.ca") {
            return out;
        }
        if let Err(e) = check_key_pair(&self.cert, &self.key) {
            let field = match e {
                crate::tls_text::KeyPairError::Certificate(_) => "admin_tls.cert",
                crate::tls_text::KeyPairError::Key(_) => "admin_tls.key",
            };
            out.push((field.to_string(), e.to_string()));
        }
        out
    }
}

/// The first of `problems`, as the single-problem checks give it.
fn first(problems: Vec<(String, String)>) -> Result<(), (String, String)> {
    match problems.into_iter().next() {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// Why the TLS file at `path` is not usable as `what` (`a PEM certificate`, `a PEM private
/// key`; `key` for the latter), in words that follow its field and value:
/// `cannot be read: No such file or directory (os error 2)`, `is not a PEM certificate
/// (no items found)`.
fn pem_file_problem(path: &str, key: bool, what: &str) -> Result<(), String> {
    match check_pem_file(path, key) {
        Ok(()) => Ok(()),
        Err(PemFileError::Read(e)) => Err(format!("cannot be read: {e}")),
        Err(PemFileError::Parse(e)) => Err(format!("is not {what} ({e})")),
    }
}

/// Checks that the private key at `key` belongs to the first certificate at `cert` (both PEM
/// files already checked to hold one) and is of a kind the TLS stack signs with, as it
/// will be loaded at start (rustls with ring: its public key is compared with the
/// certificate's SubjectPublicKeyInfo).
///
/// Errors: why not, naming both files.
fn check_key_pair(cert: &str, key: &str) -> Result<(), crate::tls_text::KeyPairError> {
    use crate::tls_text::KeyPairError;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| KeyPairError::Certificate(format!("{cert}: {e}")))?;
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| KeyPairError::Key(format!("{key}: {e}")))?;
    crate::tls_text::check_key_pair(chain, private, cert, key)
}

/// Why a TLS file is not what it must be ([`check_pem_file`]).
#[derive(Debug)]
enum PemFileError {
    /// The file cannot be read.
    Read(std::io::Error),
    /// It holds no PEM item of the kind.
    Parse(rustls_pki_types::pem::Error),
}

impl std::fmt::Display for PemFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemFileError::Read(e) => e.fmt(f),
            PemFileError::Parse(e) => e.fmt(f),
        }
    }
}

/// Checks that the file at `path` holds a PEM private key (`key`) or at least one PEM
/// certificate, as the TLS stacks will read it (the admin API's `admin_tls` and the
/// checkpoint channel's `[ha] tls` alike).
fn check_pem_file(path: &str, key: bool) -> Result<(), PemFileError> {
    let bytes = std::fs::read(path).map_err(PemFileError::Read)?;
    check_pem(&bytes, key).map_err(PemFileError::Parse)
}

/// Checks that `bytes` hold a PEM private key (`key`) or at least one PEM certificate, as
/// the TLS stacks will read them (bgpd's `admin_tls` and `[ha] tls`, the `understudy`
/// CLI's `--tls-*` files).
///
/// Errors: [`rustls_pki_types::pem::Error::NoItemsFound`] when there is no such item, or
/// the PEM error of the first malformed one.
pub fn check_pem(bytes: &[u8], key: bool) -> Result<(), rustls_pki_types::pem::Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    if key {
        PrivateKeyDer::from_pem_slice(bytes).map(|_| ())
    } else {
        match CertificateDer::pem_slice_iter(bytes).next() {
            Some(c) => c.map(|_| ()),
            None => Err(rustls_pki_types::pem::Error::NoItemsFound),
        }
    }
}

/// A BGP Identifier read from a dotted-quad string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterIdField(pub RouterId);

impl Serialize for RouterIdField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RouterIdField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map(|a| RouterIdField(RouterId(a)))
            .map_err(|_| serde::de::Error::custom(format!("invalid router id {s:?}")))
    }
}

/// One neighbour (`[[neighbor]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborConfig {
    /// The neighbour's address (the remote end of the TCP connection).
    pub address: IpAddr,
    /// The neighbour's AS; equal to `local_as` makes the session internal (iBGP).
    pub remote_as: u32,
    /// A description for the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Never open the connection; wait for the neighbour (RFC 4271 section 8.1.1, PassiveTcpEstablishment).
    #[serde(default)]
    pub passive: bool,
    /// The Hold Time we propose, in seconds: 0 or at least 3 (RFC 4271 section 4.2); default 90.
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// The KEEPALIVE interval in seconds; default a third of the negotiated hold time
    /// (RFC 4271 section 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    /// The ConnectRetryTimer in seconds (RFC 4271 section 10: suggested 120).
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u16,
    /// MinRouteAdvertisementIntervalTimer in seconds (RFC 4271 section 9.2.1.1); default 0.
    #[serde(default)]
    pub min_route_advertisement_interval: u16,
    /// Our address on the session (source of the connection, and next hop self for eBGP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    /// The global IPv6 address announced as next hop self for IPv6 routes (RFC 2545
    /// section 3), when `local_address` is not one: the session runs over IPv4 or over a
    /// link-local address (which then goes beside it as the second next hop). Default: the
    /// session's local address when it is a global IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_next_hop: Option<std::net::Ipv6Addr>,
    /// TCP MD5 signature password (RFC 2385).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5_password: Option<String>,
    /// GTSM (RFC 5082): the number of hops the neighbour may be away (1 = directly connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_security: Option<u8>,
    /// Address families (`"ipv4/unicast"`, `"ipv6/unicast"`); default: the family of `address`.
    #[serde(
        default,
        deserialize_with = "de_families",
        skip_serializing_if = "Option::is_none"
    )]
    pub families: Option<Vec<AfiSafi>>,
    /// The neighbour is a route-reflector client (RFC 4456); iBGP only.
    #[serde(default)]
    pub route_reflector_client: bool,
    /// Advertise the Graceful Restart capability and act as GR helper (RFC 4724); default true.
    #[serde(default = "default_true")]
    pub graceful_restart: bool,
    /// The Restart Time we advertise, in seconds (12 bits, at most 4095); default 120.
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// How long, in seconds, we keep a neighbour's routes marked stale by its
    /// Beginning-of-RIB-Route-Refresh while waiting for its End-of-RIB-Route-Refresh
    /// (RFC 7313 section 4); when it runs out the routes still stale are purged as if the
    /// EoRR had come. 0: wait for the EoRR however long it takes. Default 360.
    #[serde(default = "default_enhanced_route_refresh_time")]
    pub enhanced_route_refresh_time: u16,
    /// Advertise the Extended Message capability (RFC 8654); default true.
    #[serde(default = "default_true")]
    pub extended_message: bool,
    /// Capabilities the neighbour must advertise, by name (`four-octet-as`, `route-refresh`,
    /// `enhanced-route-refresh`, `graceful-restart`, `extended-message`, `multiprotocol`);
    /// an OPEN without one is refused with 2/7 Unsupported Capability (RFC 5492 section 5).
    #[serde(default)]
    pub required_capabilities: Vec<String>,
    /// Import policy names, applied in order (RFC 8212: eBGP needs one to accept routes).
    #[serde(default)]
    pub import: Vec<String>,
    /// Export policy names, applied in order (RFC 8212: eBGP needs one to send routes).
    #[serde(default)]
    pub export: Vec<String>,
    /// Administratively down: configured but not started.
    #[serde(default)]
    pub shutdown: bool,
}

impl NeighborConfig {
    /// The address families of the session (configured, or the family of the address).
    pub fn afi_safis(&self) -> Vec<AfiSafi> {
        match &self.families {
            Some(f) => f.clone(),
            None => match self.address {
                IpAddr::V4(_) => vec![AfiSafi::IPV4_UNICAST],
                IpAddr::V6(_) => vec![AfiSafi::IPV6_UNICAST],
            },
        }
    }

    /// The configured hold time (validated: never 1 or 2).
    pub fn hold_time(&self) -> HoldTime {
        HoldTime::new(self.hold_time).unwrap_or(HoldTime::DEFAULT)
    }

    /// The required capability codes (unknown names were refused by validation).
    pub fn required_capability_codes(&self) -> Vec<u8> {
        self.required_capabilities
            .iter()
            .filter_map(|n| capability_code(n))
            .collect()
    }
}

/// The capability code of a `required_capabilities` name.
pub fn capability_code(name: &str) -> Option<u8> {
    use crate::wire::capability::code;
    Some(match name {
        "multiprotocol" => code::MULTIPROTOCOL,
        "route-refresh" => code::ROUTE_REFRESH,
        "extended-message" => code::EXTENDED_MESSAGE,
        "graceful-restart" => code::GRACEFUL_RESTART,
        "four-octet-as" => code::FOUR_OCTET_AS,
        "enhanced-route-refresh" => code::ENHANCED_ROUTE_REFRESH,
        _ => return None,
    })
}

/// A locally originated network (`[[network]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The prefix, e.g. `"203.0.113.0/24"`.
    #[serde(deserialize_with = "de_prefix")]
    pub prefix: Prefix,
    /// Next hop to announce (default: the session's local address, next hop self).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
}

/// Kernel FIB settings (`[fib]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FibConfig {
    /// Install best paths into the kernel (default false).
    pub enabled: bool,
    /// Routing table id (default 254, `main`).
    pub table: u32,
    /// Route protocol number (default 186, `RTPROT_BGP`).
    pub protocol: u8,
    /// Route metric (default 20).
    pub metric: u32,
    /// Routes refer to kernel nexthop objects (Linux 5.3+; default true, with a
    /// fallback to plain routes on a kernel without them); false: routes carry their
    /// gateways. See `fib::FibConfig::nexthop_objects`.
    pub nexthop_objects: bool,
    /// At start, the routes of this protocol and table that an earlier run left in the kernel
    /// are adopted (they keep forwarding, none is deleted and added again); once every
    /// neighbour that is not shut down has sent End-of-RIB for each negotiated family (RFC
    /// 4724 section 2), or at the latest after this many seconds, the adopted routes that
    /// no best path claims are removed. Default 120 (the Restart Time bgpd advertises);
    /// 0 removes them at once.
    pub convergence_timeout_secs: u32,
}

impl FibConfig {
    /// [`FibConfig::convergence_timeout_secs`] as a duration.
    pub fn convergence_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.convergence_timeout_secs))
    }
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            enabled: false,
            table: 254,
            protocol: 186,
            metric: 20,
            nexthop_objects: true,
            convergence_timeout_secs: 120,
        }
    }
}

fn default_listen() -> Vec<IpAddr> {
    vec![
        IpAddr::from([0u8, 0, 0, 0]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 0]),
    ]
}
fn default_port() -> u16 {
    BGP_PORT
}
fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_hold_time() -> u16 {
    HoldTime::DEFAULT.seconds()
}
fn default_connect_retry() -> u16 {
    120
}
fn default_true() -> bool {
    true
}
fn default_enhanced_route_refresh_time() -> u16 {
    360
}
fn default_restart_time() -> u16 {
    120
}

fn de_families<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<AfiSafi>>, D::Error> {
    /// One entry, read on its own so that an error names the entry (its own span), and
    /// the reading past errors ([`read`]) leaves out that entry alone.
    struct Family(AfiSafi);
    impl<'de> Deserialize<'de> for Family {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            // Parsed in the visitor, so that toml gives the error the entry's span.
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Family;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an address family, e.g. \"ipv4/unicast\"")
                }
                fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Family, E> {
                    s.parse().map(Family).map_err(E::custom)
                }
            }
            d.deserialize_str(V)
        }
    }
    let v = Vec::<Family>::deserialize(d)?;
    Ok(Some(v.into_iter().map(|f| f.0).collect()))
}

/// A prefix as the operator wrote it: host bits set is an error, not silently masked.
fn de_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Prefix, D::Error> {
    let s = String::deserialize(d)?;
    Prefix::parse_exact(&s).map_err(serde::de::Error::custom)
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The TOML does not parse or a field has the wrong type or an unknown name. Shown in
    /// the same form as [`ConfigError::Invalid`]: `FIELD = VALUE (line N): MESSAGE`, or
    /// `line N: MESSAGE` when the line assigns no field.
    #[error(
        "{}{message}",
        match (field, *line) {
            (Some(f), 0) => format!("{f}: "),
            (Some(f), l) => format!("{f} (line {l}): "),
            (None, 0) => String::new(),
            (None, l) => format!("line {l}: "),
        }
    )]
    Parse {
        /// 1-based line of the error (0 when no line says more than the message).
        line: usize,
        /// The field and its value on that line as TOML renders it, without the line's
        /// comment (`neighbor[0].address = "192.0.2.300"`), when the line holds one.
        field: Option<String>,
        /// toml's message, its Rust type names put in words ([`in_words`]).
        message: String,
    },
    /// A value parses but is not acceptable.
    #[error(
        "{field}{}{}: {message}",
        value.as_ref().map(|v| format!(" = {v}")).unwrap_or_default(),
        line.map(|l| format!(" (line {l})")).unwrap_or_default()
    )]
    Invalid {
        /// The field path, e.g. `neighbor[1].hold_time`.
        field: String,
        /// The value as TOML renders it (`2`, `"192.0.2.2"`; never the line's comment),
        /// when the field's line was located.
        value: Option<String>,
        /// 1-based line of the field, when it could be located.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

/// Something a valid configuration probably does not mean: the daemon runs it, but
/// `--check-config` and the start-up log say so, in the form of an error:
/// `warning: FIELD = VALUE (line N): message` (` = VALUE` when the field is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("warning: {}", self.located())]
pub struct ConfigWarning {
    /// The field path, e.g. `neighbor[0].import`.
    pub field: String,
    /// The value as TOML renders it, when the field is written (never a secret's).
    pub value: Option<String>,
    /// 1-based line of the field (or of its table), when it could be located.
    pub line: Option<usize>,
    /// What it does.
    pub message: String,
}

/// What `--check-config` says about a configuration ([`Config::check`]).
#[derive(Debug, Clone)]
pub struct ConfigCheck {
    /// The configuration, when it has no error.
    pub config: Option<Config>,
    /// Every error, in line order (those of no line first).
    pub errors: Vec<ConfigError>,
    /// Every warning (also beside errors), in line order.
    pub warnings: Vec<ConfigWarning>,
}

impl ConfigWarning {
    /// `FIELD = VALUE (line N): message` (without `warning: `), as an error is shown.
    pub fn located(&self) -> String {
        format!(
            "{}{}{}: {}",
            self.field,
            self.value
                .as_ref()
                .map(|v| format!(" = {v}"))
                .unwrap_or_default(),
            self.line
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default(),
            self.message
        )
    }
}

impl ConfigError {
    /// The 1-based line the error is about, when one is.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Parse { line, .. } => Some(*line).filter(|l| *l > 0),
            ConfigError::Invalid { line, .. } => *line,
        }
    }
}

impl Config {
    /// Parses and validates a TOML configuration, checks the files it names for this node
    /// ([`Config::check_files`]: `bgpd`, its reload and `--check-config` read
    /// configurations through here), and lists what it probably does not mean
    /// ([`Config::warnings`]), with lines.
    pub fn from_toml_str_with_warnings(
        src: &str,
    ) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        Config::check_all(src).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Config::from_toml_str_with_warnings`] with every error ([`Config::check`]).
    /// Errors: never empty.
    pub fn check_all(src: &str) -> Result<(Config, Vec<ConfigWarning>), Vec<ConfigError>> {
        let check = Config::check(src);
        match check.config {
            Some(cfg) => Ok((cfg, check.warnings)),
            None => Err(check.errors),
        }
    }

    /// Everything `--check-config` says about a configuration: every error
    /// ([`Config::from_toml_str_all`], and every problem of the files it names,
    /// [`Config::check_files_all`]) and every warning, also those of
    /// a configuration with errors (the fields toml could not read left out, [`read`]).
    pub fn check(src: &str) -> ConfigCheck {
        let (cfg, mut errors, unread) = Config::read_and_validate(src);
        if let Some(cfg) = &cfg {
            // Every file problem, also beside other errors; none about a stand-in.
            errors.extend(
                cfg.check_files_all()
                    .into_iter()
                    .filter(|(field, _)| !read::is_within(&unread, field))
                    .map(|(field, message)| located(src, cfg, field, message)),
            );
            sort_by_line(&mut errors);
        }
        // A neighbour whose address is refused (link-local, our own, a duplicate, ...) is
        // no neighbour: nothing more is said about it (no RFC 8212 warning).
        let refused: BTreeSet<String> = errors
            .iter()
            .filter_map(|e| match e {
                ConfigError::Invalid { field, .. } => Some(field.as_str()),
                ConfigError::Parse { field, .. } => field.as_deref(),
            })
            .filter_map(|f| f.split(" = ").next()?.strip_suffix(".address"))
            .filter(|n| n.starts_with("neighbor["))
            .map(str::to_string)
            .collect();
        let mut warnings = cfg
            .as_ref()
            .map(|c| c.warnings_except(&unread))
            .unwrap_or_default();
        warnings.retain(|(field, _)| !read::is_within(&refused, field));
        if cfg.is_some() {
            warnings.extend(terms_without_action(src));
        }
        let mut warnings: Vec<ConfigWarning> = warnings
            .into_iter()
            .map(|(field, message)| {
                let written = written(src, &field);
                ConfigWarning {
                    line: written.as_ref().map(|(l, _)| *l).or_else(|| {
                        // A field left out: point at its table.
                        let table = field.rsplit_once('.')?.0;
                        locate_table(src, table).or_else(|| enclosing_line(src, &field))
                    }),
                    value: written.map(|(_, v)| v).filter(|_| !is_secret(&field)),
                    field,
                    message,
                }
            })
            .collect();
        warnings.sort_by_key(|w| w.line);
        ConfigCheck {
            config: cfg.filter(|_| errors.is_empty()),
            errors,
            warnings,
        }
    }

    /// Checks the files this configuration names for the node that runs it
    /// ([`AdminTlsConfig::check_files`], [`HaSection::check_files`]); returns the field and
    /// the reason of the first problem. Not part of [`Config::validate`]: a standby imports
    /// its primary's configuration ([`Config::from_toml_str`]), whose paths are the
    /// primary's, and a speaker snapshot carries its configuration too.
    pub fn check_files(&self) -> Result<(), (String, String)> {
        first(self.check_files_all())
    }

    /// Every problem of [`Config::check_files`], `admin_tls`'s before `[ha] tls`'s.
    pub fn check_files_all(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(tls) = &self.admin_tls {
            out.extend(tls.check_files_all());
        }
        if let Some(ha) = &self.ha {
            out.extend(ha.check_files_all());
        }
        out
    }

    /// What a valid configuration probably does not mean (field path, message):
    /// - an external neighbour without an import or without an export policy: RFC 8212
    ///   section 3 makes such a session accept or announce nothing ("Routes MUST NOT be
    ///   accepted from an EBGP peer ... unless ... an import policy is explicitly
    ///   configured", and likewise for export);
    /// - a `[[network]]` in special-purpose space ([`special::special_prefix`]: the default
    ///   route, link-local, ...);
    /// - a loopback `local_address`: next hop self would be a loopback address, which a
    ///   receiver treats as withdrawn (RFC 4271 section 5.1.3 and 6.3), so routes needing
    ///   next hop self are not announced on that session.
    pub fn warnings(&self) -> Vec<(String, String)> {
        self.warnings_except(&BTreeSet::new())
    }

    /// [`Config::warnings`] of a configuration in which the fields at `unread` could not be
    /// read ([`read`]): nothing about them or what follows from them, nor what follows from
    /// an AS the validation refuses (whether a session is external is not known then).
    fn warnings_except(&self, unread: &BTreeSet<String>) -> Vec<(String, String)> {
        let read = |path: &str| !read::is_within(unread, path);
        let mut out = Vec::new();
        for (i, n) in self.networks.iter().enumerate() {
            if let Some(special::SpecialPrefix::Warned(what)) = special::special_prefix(&n.prefix) {
                out.push((format!("network[{i}].prefix"), what));
            }
        }
        for (i, n) in self.neighbors.iter().enumerate() {
            let f = |name: &str| format!("neighbor[{i}].{name}");
            // Whether the session is external is known only when both ASes are valid;
            // the warning names the neighbour by its address.
            let ases_valid = [n.remote_as, self.local_as]
                .iter()
                .all(|a| *a != 0 && *a != AS_TRANS)
                && read(&f("remote_as"))
                && read("local_as")
                && read(&f("address"));
            if ases_valid && n.remote_as != self.local_as {
                if n.import.is_empty() {
                    out.push((
                        f("import"),
                        format!(
                            "external neighbour {} (AS {}) has no import policy: every route it \
                             sends is rejected (RFC 8212 section 3); add e.g. import = [\"NAME\"] \
                             with [policy.policies.NAME] default = \"accept\"",
                            n.address, n.remote_as
                        ),
                    ));
                }
                if n.export.is_empty() {
                    out.push((
                        f("export"),
                        format!(
                            "external neighbour {} (AS {}) has no export policy: no route is \
                             announced to it (RFC 8212 section 3)",
                            n.address, n.remote_as
                        ),
                    ));
                }
            }
            if let Some(a) = n.local_address.filter(|a| a.is_loopback()) {
                out.push((
                    f("local_address"),
                    format!(
                        "{a} is a loopback address: routes announced with next hop self are \
                         not sent on this session (a loopback NEXT_HOP is treated as withdrawn, \
                         RFC 4271 section 6.3)"
                    ),
                ));
            }
        }
        out.retain(|(field, _)| read(field));
        out
    }

    /// Parses and validates a TOML configuration; the first error ([`Config::from_toml_str_all`]
    /// gives them all).
    pub fn from_toml_str(src: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str_all(src).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Parses and validates a TOML configuration. Errors: a TOML syntax error (alone: the
    /// reading stops there), else every field toml cannot read (each is then left out, see
    /// [`read`]) and every problem the validation finds in the rest, each with its field
    /// and line, in line order; never empty.
    pub fn from_toml_str_all(src: &str) -> Result<Config, Vec<ConfigError>> {
        let (cfg, errors, _) = Config::read_and_validate(src);
        match cfg {
            Some(cfg) if errors.is_empty() => Ok(cfg),
            _ => Err(errors),
        }
    }

    /// The configuration read past the fields toml cannot read (stand-ins in their place,
    /// [`read`]), every error (toml's, then the validation's of the rest), and the paths of
    /// the fields left out.
    fn read_and_validate(src: &str) -> (Option<Config>, Vec<ConfigError>, BTreeSet<String>) {
        let read = read::read(src, |e| parse_error(src, e));
        let mut errors = read.errors;
        if let Some(cfg) = &read.config {
            errors.extend(
                cfg.validate_except(&read.unread)
                    .into_iter()
                    .map(|(field, message)| located(src, cfg, field, message)),
            );
        }
        sort_by_line(&mut errors);
        (read.config, errors, read.unread)
    }

    /// The configuration as TOML (what [`Config::from_toml_str`] reads back to an equal value).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

/// Orders errors by their line, those of no line (the file as a whole) first; errors of
/// one line keep their order.
fn sort_by_line(errors: &mut [ConfigError]) {
    errors.sort_by_key(ConfigError::line);
}

/// toml's error `e` about `src` as reported: the field and its value at the error's line, or
/// the missing field named by its path, toml's message put in words ([`in_words`]).
fn parse_error(src: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map_or(0, |s| line_of(src, s.start));
    let message = e.message().to_string();
    let top_level_missing = ["router_id", "local_as"]
        .into_iter()
        .find(|f| message == format!("missing field `{f}`"));
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
        .map(str::to_string);
    let (line, field) = if let Some(name) = top_level_missing {
        // A field of the top level (no table has one of that name): toml's span is
        // the whole file, whose first line may be any table's header.
        (0, Some(name.to_string()))
    } else if message.starts_with("missing field") {
        // The span is the table the field is missing from: name it by its header,
        // or by its path when it is an inline table (`admin_tls = { cert = ... }`,
        // `neighbor = [{ ... }]`); at the top level no line says more than the
        // message.
        let lines: Vec<&str> = src.lines().collect();
        let table = line.checked_sub(1).and_then(|i| header_at(&lines, i));
        match table.or_else(|| {
            e.span()
                .and_then(|s| inline::value_at(src, s.start))
                .map(|w| w.path)
        }) {
            // The missing field's own path, at the line of its table.
            Some(table) => (
                line,
                Some(format!("{table}.{}", missing.as_deref().unwrap_or(""))),
            ),
            None => (0, missing.clone()),
        }
    } else {
        // A value inside an inline table or array: its own path and text.
        let nested = e
            .span()
            .and_then(|s| inline::nested_value_holding(src, s.start))
            .map(|w| format!("{} = {}", w.path, w.text(src)));
        (line, nested.or_else(|| field_at(src, line)))
    };
    // A table written in the other form (`[neighbor]` for `[[neighbor]]`, `[[ha]]`
    // for `[ha]`): say which form is expected.
    let (field, message) = match table_form_error(src, line, &message) {
        Some((name, fix)) => (Some(name), fix),
        None if top_level_missing.is_some() => (
            field,
            "required, and missing from the top of the file (before the first [table])".to_string(),
        ),
        None if missing.is_some() && line > 0 => (
            field,
            "required, and missing from its table, which starts on this line".to_string(),
        ),
        None if missing.is_some() => (field, "required, and missing".to_string()),
        None => {
            let message = in_words(&message, field.as_deref());
            (field, message)
        }
    };
    ConfigError::Parse {
        line,
        field: field.map(|f| without_secret(&f)),
        message,
    }
}

/// A problem [`Config::validate_all`] found (its field path and message), with the line and
/// the value as written (not a secret's, [`is_secret`]).
fn located(src: &str, cfg: &Config, field: String, message: String) -> ConfigError {
    if field.starts_with("policy.") && written(src, &field).is_none() {
        // Written where the scan of values does not follow (a `[...terms.match]` table
        // under an array of tables): found by the value itself.
        return policy_place::locate(src, cfg, field, message);
    }
    let (line, value) = match written(src, &field) {
        Some((line, _)) if is_secret(&field) => (Some(line), None),
        Some((line, value)) => (Some(line), Some(value)),
        // A missing field: the line of its section's header, or of the inline table
        // it is missing from.
        None => (
            locate_section(src, &field).or_else(|| enclosing_line(src, &field)),
            None,
        ),
    };
    ConfigError::Invalid {
        value,
        line,
        field,
        message,
    }
}

impl Config {
    /// Our AS.
    pub fn local_as(&self) -> Asn {
        Asn(self.local_as)
    }

    /// Our BGP Identifier.
    pub fn router_id(&self) -> RouterId {
        self.router_id.0
    }

    /// The neighbour with this address.
    pub fn neighbor(&self, address: IpAddr) -> Option<&NeighborConfig> {
        self.neighbors.iter().find(|n| n.address == address)
    }

    /// Checks what serde cannot: returns the field path and the reason of the first problem.
    ///
    /// Refused: router id 0.0.0.0 (RFC 6286 section 2.1), local AS 0 (RFC 7607), a hold time
    /// of 1 or 2 seconds (RFC 4271 section 4.2), a keepalive above a third of the hold time or
    /// non-zero with hold time 0, a restart time above 4095, duplicate neighbours, an unknown
    /// required capability, an address family other than IPv4/IPv6 unicast, a route-reflector
    /// client on an eBGP session, a policy that does not compile, and a policy name absent
    /// from `[policy.policies]`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self.validate_all().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem [`Config::validate`] finds, in the order of the file's sections
    /// (top-level fields, networks, neighbours, `[ha]`): independent checks all run, so
    /// `--check-config` reports every error at once.
    pub fn validate_all(&self) -> Vec<(String, String)> {
        self.validate_except(&BTreeSet::new())
    }

    /// [`Config::validate_all`] of a configuration in which the fields at `unread` (paths,
    /// or tables holding them) could not be read and hold a default or a stand-in
    /// ([`read`]): nothing is said about them, nor about what follows from them (a
    /// duplicate of a stand-in, the family of a next hop whose prefix is unread, ...).
    fn validate_except(&self, unread: &BTreeSet<String>) -> Vec<(String, String)> {
        let read = |path: &str| !read::is_within(unread, path);
        let mut errs = Vec::new();
        if self.router_id.0.to_u32() == 0 {
            errs.push(("router_id".into(), "must not be 0.0.0.0".into()));
        }
        if self.local_as == 0 {
            errs.push(("local_as".into(), "AS 0 is reserved (RFC 7607)".into()));
        }
        if self.local_as == AS_TRANS {
            errs.push(("local_as".into(), AS_TRANS_REASON.into()));
        }
        // Every policy problem at its value's path; none about a reference to a prefix
        // list that could not be read (it is not unknown).
        for fault in self.policy.check() {
            if let crate::policy::PolicyError::UnknownPrefixList { name, .. } = &fault.error {
                if !read(&format!("policy.prefix_lists.{name}")) {
                    continue;
                }
            }
            let message = policy_place::message(&self.policy, &fault.error);
            errs.push((fault.path, message));
        }
        if self.fib.table == 0 && read("fib.table") {
            errs.push((
                "fib.table".into(),
                "0 is RT_TABLE_UNSPEC, no table: the kernel would put the routes in main (254), \
                 where bgpd would not look for them; write 254 for main, or the id of a table \
                 of your own (1 to 252, or 256 and above)"
                    .into(),
            ));
        }
        for (i, n) in self.networks.iter().enumerate() {
            let prefix_read = |j: usize| read(&format!("network[{j}].prefix"));
            if let Some(j) = self.networks[..i]
                .iter()
                .enumerate()
                .position(|(j, o)| o.prefix == n.prefix && prefix_read(j))
                .filter(|_| prefix_read(i))
            {
                errs.push((
                    format!("network[{i}].prefix"),
                    format!("{} is already network[{j}]", n.prefix),
                ));
            }
            if let Some(special::SpecialPrefix::Refused(why)) = special::special_prefix(&n.prefix) {
                errs.push((format!("network[{i}].prefix"), why));
            }
            if let Some(nh) = n.next_hop {
                if prefix_read(i) && nh.is_ipv4() != matches!(n.prefix, Prefix::V4(_)) {
                    errs.push((
                        format!("network[{i}].next_hop"),
                        format!("{nh} is not of the family of {}", n.prefix),
                    ));
                }
                if let Some(why) = special::unusable_next_hop(nh) {
                    errs.push((format!("network[{i}].next_hop"), why));
                }
            }
        }
        if self.metrics_address == Some(self.admin_address)
            && read("metrics_address")
            && read("admin_address")
        {
            errs.push((
                "metrics_address".into(),
                format!(
                    "{} is also admin_address: the metrics endpoint and the admin API each need \
                     their own address or port",
                    self.admin_address
                ),
            ));
        }
        if self.port == 0 {
            errs.push((
                "port".into(),
                "must be between 1 and 65535 (TCP port 0 cannot be connected to)".into(),
            ));
        }
        self.validate_addresses(&read, &mut errs);
        // A policy left out (unreadable) is not "unknown" where a neighbour names it; a
        // value left out inside a policy leaves the policy there.
        let policy_left_out = |u: &String| {
            u == "policy"
                || u == "policy.policies"
                || u.strip_prefix("policy.policies.")
                    .is_some_and(|name| !name.contains(['.', '[']))
        };
        let policies = self
            .policy_names()
            .filter(|_| !unread.iter().any(policy_left_out));
        let mut seen = BTreeSet::new();
        for (i, n) in self.neighbors.iter().enumerate() {
            let f = |name: &str| format!("neighbor[{i}].{name}");
            if read(&f("address")) && !seen.insert(n.address) {
                errs.push((f("address"), format!("duplicate neighbour {}", n.address)));
            }
            if n.remote_as == 0 {
                errs.push((f("remote_as"), "AS 0 is reserved (RFC 7607)".into()));
            }
            if n.remote_as == AS_TRANS {
                errs.push((f("remote_as"), AS_TRANS_REASON.into()));
            }
            if let Some(why) = not_a_neighbour_address(n.address) {
                errs.push((f("address"), why));
            }
            let hold_time_valid = HoldTime::new(n.hold_time).is_some() && read(&f("hold_time"));
            if !hold_time_valid {
                errs.push((
                    f("hold_time"),
                    "must be 0 or at least 3 seconds (RFC 4271 section 4.2)".into(),
                ));
            }
            // The keepalive is bounded by the hold time: nothing is said about it when the
            // hold time is refused (its bound would be one of a hold time not meant).
            if let Some(k) = n.keepalive.filter(|_| hold_time_valid) {
                if n.hold_time == 0 && k != 0 {
                    errs.push((f("keepalive"), "must be 0 when hold_time is 0".into()));
                }
                if n.hold_time != 0 && (k == 0 || u32::from(k) * 3 > u32::from(n.hold_time)) {
                    errs.push((
                        f("keepalive"),
                        format!(
                            "must be between 1 and a third of hold_time ({})",
                            n.hold_time / 3
                        ),
                    ));
                }
            }
            if n.connect_retry == 0 {
                errs.push((f("connect_retry"), "must be at least 1 second".into()));
            }
            if n.restart_time > 0x0fff {
                errs.push((
                    f("restart_time"),
                    "at most 4095 seconds (RFC 4724 section 3)".into(),
                ));
            }
            if let Some(fam) = &n.families {
                if fam.is_empty() {
                    errs.push((f("families"), "at least one address family".into()));
                }
                if let Some(dup) = fam
                    .iter()
                    .enumerate()
                    .find_map(|(j, a)| fam[..j].contains(a).then_some(a))
                {
                    errs.push((f("families"), format!("{dup} is listed twice")));
                }
                for (j, bad) in fam.iter().enumerate().filter(|(_, a)| !a.is_decoded()) {
                    errs.push((
                        f(&format!("families[{j}]")),
                        format!("{bad} is not supported (ipv4/unicast, ipv6/unicast)"),
                    ));
                }
            }
            if let Some(bad) = n
                .required_capabilities
                .iter()
                .find(|c| capability_code(c).is_none())
            {
                errs.push((
                    f("required_capabilities"),
                    format!("unknown capability {bad:?}"),
                ));
            }
            // Internal or external is known only when both ASes are valid.
            let ases_valid = [n.remote_as, self.local_as]
                .iter()
                .all(|a| *a != 0 && *a != AS_TRANS)
                && read(&f("remote_as"))
                && read("local_as");
            if n.route_reflector_client && ases_valid && n.remote_as != self.local_as {
                errs.push((
                    f("route_reflector_client"),
                    "only an internal neighbour can be a route-reflector client (RFC 4456)".into(),
                ));
            }
            if n.ttl_security == Some(0) {
                errs.push((f("ttl_security"), "at least 1 hop (RFC 5082)".into()));
            }
            if let Some(names) = &policies {
                for (key, list) in [("import", &n.import), ("export", &n.export)] {
                    if let Some(p) = list.iter().find(|p| !names.contains(p.as_str())) {
                        errs.push((f(key), format!("unknown policy {p:?}")));
                    }
                }
            }
        }
        if let Some(ha) = &self.ha {
            // Nothing about a field left out, nor about what depends on it.
            errs.extend(ha.validate_except(&read));
            if ha.checkpoint_address == Some(self.admin_address)
                && read("ha.checkpoint_address")
                && read("admin_address")
            {
                errs.push((
                    "ha.checkpoint_address".into(),
                    format!(
                        "{} is also admin_address: the admin API and the checkpoint channel \
                         each need their own address or port",
                        self.admin_address
                    ),
                ));
            }
            let addresses_read =
                (0..self.neighbors.len()).all(|i| read(&format!("neighbor[{i}].address")));
            if let Some(a) = ha
                .protect
                .iter()
                .find(|a| !self.neighbors.iter().any(|n| n.address == **a))
                .filter(|_| addresses_read)
            {
                errs.push((
                    "ha.protect".into(),
                    format!("{a} is not the address of a [[neighbor]]"),
                ));
            }
        }
        // Nothing about a default or a stand-in.
        errs.retain(|(field, _)| read(field));
        errs
    }

    /// Checks each neighbour's addresses and MD5 key: `local_address` of the family of
    /// `address` (one TCP connection has both ends in one family), `address` none of our
    /// own (`listen_addresses`, any neighbour's `local_address`), and an `md5_password` of
    /// 1 to 80 bytes (the kernel's TCP_MD5SIG_MAXKEYLEN; RFC 2385 section 4).
    fn validate_addresses(&self, read: &dyn Fn(&str) -> bool, errs: &mut Vec<(String, String)>) {
        let own: Vec<(IpAddr, String)> = self
            .listen_addresses
            .iter()
            .filter(|a| !a.is_unspecified())
            .map(|a| (*a, "listen_addresses".to_string()))
            .chain(self.neighbors.iter().enumerate().filter_map(|(j, n)| {
                n.local_address
                    .map(|a| (a, format!("neighbor[{j}].local_address")))
            }))
            .filter(|(_, whose)| read(whose))
            .collect();
        for (i, n) in self.neighbors.iter().enumerate() {
            let f = |name: &str| format!("neighbor[{i}].{name}");
            // The first two checks compare with the neighbour's address.
            let address_read = read(&f("address"));
            if let Some(la) = n.local_address.filter(|_| address_read) {
                if la.is_ipv4() != n.address.is_ipv4() {
                    errs.push((
                        f("local_address"),
                        format!(
                            "{la} is {} but the neighbour address {} is {}: both ends of a TCP \
                             connection are of one family",
                            family_name(la),
                            n.address,
                            family_name(n.address)
                        ),
                    ));
                }
            }
            if let Some((_, whose)) = own
                .iter()
                .find(|(a, _)| *a == n.address)
                .filter(|_| address_read)
            {
                errs.push((
                    f("address"),
                    format!(
                        "{} is our own address ({whose}): a neighbour is the remote end",
                        n.address
                    ),
                ));
            }
            if let Some(nh) = n.ipv6_next_hop {
                if nh.is_unicast_link_local()
                    || nh.is_loopback()
                    || nh.is_unspecified()
                    || nh.is_multicast()
                {
                    errs.push((
                        f("ipv6_next_hop"),
                        format!("{nh} is not a global IPv6 address (RFC 2545 section 3)"),
                    ));
                }
            }
            if let Some(pw) = &n.md5_password {
                if pw.is_empty() || pw.len() > MD5_KEY_MAX_LEN {
                    errs.push((
                        f("md5_password"),
                        format!(
                            "is {} bytes; a TCP-MD5 key is 1 to {MD5_KEY_MAX_LEN} bytes \
                             (TCP_MD5SIG_MAXKEYLEN, RFC 2385)",
                            pw.len()
                        ),
                    ));
                }
            }
        }
    }

    /// The policy names the `[policy]` section defines (`[policy.policies.NAME]`).
    pub fn policy_names(&self) -> Option<BTreeSet<&str>> {
        Some(self.policy.policies.keys().map(String::as_str).collect())
    }
}

/// AS_TRANS (RFC 6793 section 2): the 2-octet AS a 4-octet AS shows as to an old speaker.
const AS_TRANS: u32 = 23456;
/// Why [`AS_TRANS`] is refused as an AS of a session.
const AS_TRANS_REASON: &str = "23456 is AS_TRANS (RFC 6793), which stands in for a 4-octet AS \
                               towards 2-octet speakers: it is no AS of its own";

/// Why `a` cannot be a neighbour's address, if it cannot: not a unicast host address, an
/// IPv4-mapped IPv6 address (the IPv4 address is meant), or an IPv6 link-local address (it
/// needs an interface scope, which a neighbour cannot be given).
fn not_a_neighbour_address(a: IpAddr) -> Option<String> {
    match a {
        IpAddr::V4(v4) if v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() => {
            Some(format!("{a} is not a unicast host address"))
        }
        IpAddr::V6(v6) if v6.is_unspecified() || v6.is_multicast() => {
            Some(format!("{a} is not a unicast host address"))
        }
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Some(format!(
            "{a} is an IPv4-mapped IPv6 address: write the IPv4 address {}",
            a.to_canonical()
        )),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(format!(
            "{a} is link-local: it needs an interface scope, which a neighbour cannot be given \
             (no %zone or interface key); use a global or unique local address"
        )),
        _ => None,
    }
}

/// Policy terms written without `action` (the path of the missing action, and why it
/// matters): such a term accepts what it matches (the default action), which a term that
/// only matches, meant to filter, rarely means. The parsed [`TermDef`] cannot tell a
/// default from a written `accept`, so the TOML is read again.
///
/// [`TermDef`]: crate::policy::TermDef
fn terms_without_action(src: &str) -> Vec<(String, String)> {
    let Ok(doc) = src.parse::<toml::Table>() else {
        return Vec::new();
    };
    let policies = doc
        .get("policy")
        .and_then(|p| p.get("policies"))
        .and_then(toml::Value::as_table);
    let mut out = Vec::new();
    for (name, def) in policies.into_iter().flatten() {
        let terms = def.get("terms").and_then(toml::Value::as_array);
        for (i, term) in terms.into_iter().flatten().enumerate() {
            if term.as_table().is_some_and(|t| !t.contains_key("action")) {
                out.push((
                    format!("policy.policies.{name}.terms[{i}].action"),
                    "no action: this term accepts the routes it matches (action defaults to \
                     \"accept\"); write action = \"accept\" to say so, or \"reject\" or \"next\""
                        .into(),
                ));
            }
        }
    }
    out
}

/// serde's message about a value in words an operator reads without knowing Rust: "invalid
/// type: string \"x\", expected u32" becomes "expected an AS number from 1 to 4294967295,
/// found the string \"x\"" (for `remote_as`; other u32 fields "a whole number from 0 to
/// 4294967295"), "missing field `key`" "the required field `key` is missing". `field` is the
/// field's path (and value as written); other messages are returned unchanged.
pub fn in_words(message: &str, field: Option<&str>) -> String {
    if message == "invalid socket address syntax" {
        return socket_address_in_words(field);
    }
    if message == "invalid IP address syntax" {
        // `fe80::1%eth0`: an address with a zone (RFC 4007 section 11), which a neighbour
        // cannot have.
        let value = field
            .and_then(|f| f.split_once(" = "))
            .map(|(_, v)| v.trim_matches(['"', '\'']));
        if let Some((addr, zone)) = value.and_then(|v| v.split_once('%')) {
            return format!(
                "{addr}%{zone} has a zone (%{zone}): bgpd does not bind a session to an \
                 interface, so a link-local neighbour cannot be reached; use a global or \
                 unique local address of the neighbour"
            );
        }
        return "not an IP address".into();
    }
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("the required field `{name}` is missing");
    }
    let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|r| r.split_once(", expected "))
    else {
        return message.to_string();
    };
    // The key the value belongs to: `neighbor[0].remote_as = "x"` -> `remote_as`.
    let key = field
        .map(|f| f.split(" = ").next().unwrap_or(f))
        .and_then(|path| path.rsplit('.').next())
        .map(|k| k.split('[').next().unwrap_or(k))
        .unwrap_or("");
    let as_number = matches!(
        key,
        "local_as" | "remote_as" | "prepend_as" | "origin_as" | "neighbor_as" | "as_path_contains"
    );
    let range = |max: &str| {
        if as_number {
            "an AS number from 1 to 4294967295".to_string()
        } else if key.ends_with("_time") || key == "connect_retry" || key.ends_with("_interval") {
            format!("a number of seconds from 0 to {max}")
        } else if key.ends_with("_ms") {
            format!("a number of milliseconds from 0 to {max}")
        } else {
            format!("a whole number from 0 to {max}")
        }
    };
    let expected = match expected {
        "u8" => range("255"),
        "u16" => range("65535"),
        "u32" => range("4294967295"),
        "u64" | "usize" => range("18446744073709551615"),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" => "a string in quotes".into(),
        "a sequence" => "a list ([...])".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.to_string(),
    };
    // What was written: `string "x"` stays a string, an integer `-1` becomes -1.
    let found = match found.split_once(' ') {
        Some(("string", text)) => format!("the string {text}"),
        Some(("integer" | "boolean" | "floating", text)) => text
            .trim_start_matches("point ")
            .trim_matches('`')
            .to_string(),
        _ => match found {
            "sequence" => "a list".into(),
            "map" => "a table".into(),
            other => other.to_string(),
        },
    };
    format!("expected {expected}, found {found}")
}

/// Why a value of an `ADDRESS:PORT` field (`admin_address`, `metrics_address`,
/// `ha.checkpoint_address`; `field` is its path and value as written) is not one: an address
/// without its port is said as such; the example uses the field's usual port.
fn socket_address_in_words(field: Option<&str>) -> String {
    let (path, value) = field
        .and_then(|f| f.split_once(" = "))
        .map(|(p, v)| (p, v.trim_matches(['"', '\''])))
        .unwrap_or_default();
    let port = match path {
        "admin_address" => 50051,
        "metrics_address" => 9179,
        "ha.checkpoint_address" => 50052,
        _ => 179,
    };
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => format!("{a} has no port: write ADDRESS:PORT, e.g. \"{a}:{port}\""),
        Ok(IpAddr::V6(a)) => {
            format!("{a} has no port: write [ADDRESS]:PORT, e.g. \"[{a}]:{port}\"")
        }
        Err(_) => format!(
            "expected ADDRESS:PORT, an IP address and a port (e.g. \"127.0.0.1:{port}\" or \
             \"[2001:db8::1]:{port}\"; no host name)"
        ),
    }
}

/// The field assigned on 1-based `line` with its table path and the value as written:
/// `neighbor[1].address = "192.0.2.300"`, `network[0].prefix = "203.0.113.1/24"`. None when
/// the line assigns nothing (a table header, or the error is not on one line).
fn field_at(src: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = src.lines().collect();
    let text = lines.get(line.checked_sub(1)?)?.trim();
    let (key, value) = text.split_once('=')?;
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    // The table the line belongs to: the nearest header above it; for an array of tables
    // (`[[neighbor]]`) its index is the number of the same headers before it.
    let table = (0..line - 1).rev().find_map(|i| header_at(&lines, i));
    let path = match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    };
    // The value alone, as TOML renders it: not the comment that may follow it on the line.
    // The one written on this line: a key written twice has its own value on each.
    let on_line = inline::index(src)
        .into_iter()
        .find(|w| w.path == path && w.line == line);
    let value = match on_line.or_else(|| inline::value_of(src, &path)) {
        Some(w) => rendered(w.text(src)),
        None => rendered(value),
    };
    Some(format!("{path} = {value}"))
}

/// A value as TOML renders it, from its text as written: `2`, `"192.0.2.2"`, a list written
/// over several lines (with comments) as `["a", "b"]` on one line. Text that is no TOML
/// value (the reading stopped at a syntax error) is given as written, up to a `#` comment.
fn rendered(text: &str) -> String {
    let text = text.trim();
    match text.parse::<toml::Value>() {
        Ok(v) => v.to_string(),
        Err(_) => inline::index(&format!("v = {text}"))
            .into_iter()
            .find(|w| w.path == "v")
            .map(|w| w.text(&format!("v = {text}")).to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| text.to_string()),
    }
}

/// The table named by the header on 0-based line `i`, if it is one: `neighbor[1]` for the
/// second `[[neighbor]]`, `fib` for `[fib]`.
fn header_at(lines: &[&str], i: usize) -> Option<String> {
    let l = lines.get(i)?.trim();
    if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
        let header = format!("[[{name}]]");
        let index = lines[..i].iter().filter(|o| o.trim() == header).count();
        return Some(format!("{}[{index}]", name.trim()));
    }
    l.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .map(|name| name.trim().to_string())
}

/// The value assigned on 1-based `line`, as written (`2`, `"192.0.2.2"`).
fn value_at(src: &str, line: usize) -> Option<String> {
    let text = src.lines().nth(line.checked_sub(1)?)?;
    let (_, value) = text.split_once('=')?;
    Some(value.trim().to_string())
}

/// When toml's `message` about 1-based `line` comes from a table header written in the
/// wrong form: the table's name and what to write instead. `[NAME]` where a list of tables
/// is expected reads as one map ("invalid type: map, expected a sequence"); `[[NAME]]`
/// where one table is expected reads as a list (any other error on that header line).
fn table_form_error(src: &str, line: usize, message: &str) -> Option<(String, String)> {
    let header = src.lines().nth(line.checked_sub(1)?)?.trim();
    if message.starts_with("missing field") {
        return None;
    }
    if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
        let name = name.trim();
        return Some((
            name.to_string(),
            format!(
                "`[[{name}]]` starts a list of tables, but {name} is one table: write `[{name}]` \
                 (toml: {message})"
            ),
        ));
    }
    let name = header.strip_prefix('[')?.strip_suffix(']')?.trim();
    message.contains("expected a sequence").then(|| {
        (
            name.to_string(),
            format!(
                "`[{name}]` is one table, but {name} is a list of tables: write `[[{name}]]`, \
                 once for each (toml: {message})"
            ),
        )
    })
}

/// The line of `field` and its value as TOML renders it ([`rendered`]: never the comment
/// that follows it): on a `key = value` line of its table, or inside an inline table or
/// array (`neighbor = [{ hold_time = 1 }]`).
fn written(src: &str, field: &str) -> Option<(usize, String)> {
    match (locate(src, field), inline::value_of(src, field)) {
        (_, Some(w)) => Some((w.line, rendered(w.text(src)))),
        (Some(line), None) => Some((line, rendered(&value_at(src, line).unwrap_or_default()))),
        (None, None) => None,
    }
}

/// The line of the nearest table that holds `field` (`admin_tls` for `admin_tls.key`,
/// `neighbor[0]` for `neighbor[0].remote_as`), written as a header or inline.
fn enclosing_line(src: &str, field: &str) -> Option<usize> {
    let mut f = field;
    while let Some(i) = f.rfind(['.', '[']) {
        f = &f[..i];
        if let Some(line) = locate_table(src, f)
            .or_else(|| locate(src, f))
            .or_else(|| inline::value_of(src, f).map(|w| w.line))
        {
            return Some(line);
        }
    }
    None
}

/// The line of the `[[table]]` header of `table[i]`.
fn locate_table(src: &str, table: &str) -> Option<usize> {
    let (name, idx) = table.split_once('[')?;
    let idx: usize = idx.trim_end_matches(']').parse().ok()?;
    let header = format!("[[{name}]]");
    src.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .nth(idx)
        .map(|(i, _)| i + 1)
}

/// 1-based line of the `[section]` header of `field` (`section.key`), for a field that is
/// missing from it.
fn locate_section(src: &str, field: &str) -> Option<usize> {
    let (section, _) = field.split_once('.')?;
    if section.contains('[') {
        return locate_table(src, section);
    }
    let header = format!("[{section}]");
    src.lines().position(|l| l.trim() == header).map(|i| i + 1)
}

/// Whether the field at `path` (`neighbor[0].md5_password`) holds a secret, whose value an
/// error never shows: a TCP-MD5 key (RFC 2385).
fn is_secret(path: &str) -> bool {
    let key = path.rsplit('.').next().unwrap_or(path);
    key.trim() == "md5_password"
}

/// `PATH = VALUE` as [`field_at`] gives it, without the value when it is a secret
/// ([`is_secret`]).
fn without_secret(field: &str) -> String {
    match field.split_once(" = ") {
        Some((path, _)) if is_secret(path) => path.to_string(),
        _ => field.to_string(),
    }
}

/// 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len()))
        .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Finds the line of `field` (`key` or `table[i].key`) in the source: the i-th `[[table]]`
/// header, then the first `key =` line before the next header.
fn locate(src: &str, field: &str) -> Option<usize> {
    let (section, key) = match field.split_once('.') {
        Some((s, k)) => (Some(s), k),
        None => (None, field),
    };
    let lines: Vec<&str> = src.lines().collect();
    let mut start = 0;
    if let Some(s) = section.filter(|s| !s.contains('[')) {
        let header = format!("[{s}]");
        start = lines.iter().position(|l| l.trim() == header)? + 1;
    } else if let Some(s) = section {
        let (table, idx) = s.split_once('[')?;
        let idx: usize = idx.trim_end_matches(']').parse().ok()?;
        let header = format!("[[{table}]]");
        start = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .nth(idx)?
            .0
            + 1;
    }
    for (i, l) in lines.iter().enumerate().skip(start) {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(i + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "router_id = \"192.0.2.1\"\nlocal_as = 65001\n";

    #[test]
    fn minimal_defaults() {
        let c = Config::from_toml_str(MINIMAL).expect("parses");
        assert_eq!(c.router_id(), RouterId("192.0.2.1".parse().expect("ip")));
        assert_eq!(c.local_as(), Asn(65001));
        assert_eq!(c.port, 179);
        assert_eq!(c.admin_address, "127.0.0.1:50051".parse().expect("addr"));
        assert!(!c.fib.enabled);
        assert_eq!(c.fib.table, 254);
        assert!(c.fib.nexthop_objects);
        assert_eq!(c.fib.convergence_timeout_secs, 120);
        assert!(c.neighbors.is_empty());
    }

    #[test]
    fn neighbour_defaults_and_families() {
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"2001:db8::2\"\nremote_as = 65002\n\
             [[neighbor]]\naddress = \"192.0.2.3\"\nremote_as = 65001\n\
             families = [\"ipv4/unicast\", \"ipv6/unicast\"]\nkeepalive = 10\nhold_time = 30\n"
        );
        let c = Config::from_toml_str(&src).expect("parses");
        assert_eq!(c.neighbors[0].afi_safis(), vec![AfiSafi::IPV6_UNICAST]);
        assert_eq!(c.neighbors[0].hold_time, 90);
        assert_eq!(c.neighbors[0].connect_retry, 120);
        assert!(c.neighbors[0].graceful_restart);
        assert_eq!(
            c.neighbors[1].afi_safis(),
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
        );
        assert_eq!(c.neighbors[1].keepalive, Some(10));
    }

    #[test]
    fn parse_error_names_field_and_line() {
        let src = format!("{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = \"x\"\n");
        match Config::from_toml_str(&src) {
            Err(ConfigError::Parse {
                line,
                field,
                message,
            }) => {
                assert_eq!(line, 5, "{message}");
                assert_eq!(field.as_deref(), Some("neighbor[0].remote_as = \"x\""));
                assert_eq!(
                    message,
                    "expected an AS number from 1 to 4294967295, found the string \"x\""
                );
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 1\nholdtime = 9\n"
        );
        match Config::from_toml_str(&src) {
            Err(ConfigError::Parse { line, message, .. }) => {
                assert_eq!(line, 6, "{message}");
                assert!(message.contains("holdtime"), "{message}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    fn invalid(src: &str) -> (String, Option<usize>) {
        match Config::from_toml_str(src) {
            Err(ConfigError::Invalid { field, line, .. }) => (field, line),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn validation_errors_name_field_and_line() {
        assert_eq!(
            invalid("router_id = \"0.0.0.0\"\nlocal_as = 1\n"),
            ("router_id".into(), Some(1))
        );
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\n\
             [[neighbor]]\naddress = \"192.0.2.3\"\nremote_as = 2\nhold_time = 2\n"
        );
        assert_eq!(invalid(&src), ("neighbor[1].hold_time".into(), Some(9)));
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\n\
             [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 3\n"
        );
        assert_eq!(invalid(&src), ("neighbor[1].address".into(), Some(7)));
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\nhold_time = 9\nkeepalive = 4\n"
        );
        assert_eq!(invalid(&src), ("neighbor[0].keepalive".into(), Some(7)));
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\nroute_reflector_client = true\n"
        );
        assert_eq!(
            invalid(&src),
            ("neighbor[0].route_reflector_client".into(), Some(6))
        );
        let src = format!(
            "{MINIMAL}[policy.policies.a]\n[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\nimport = [\"b\"]\n"
        );
        assert_eq!(invalid(&src), ("neighbor[0].import".into(), Some(7)));
    }

    fn parse_error(src: &str) -> String {
        match Config::from_toml_str(src) {
            Err(e @ ConfigError::Parse { .. }) => e.to_string(),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn value_errors_name_the_field_and_echo_the_value() {
        // A bad prefix: which field (table index included) and which value.
        let src = format!(
            "{MINIMAL}[[network]]\nprefix = \"203.0.113.0/24\"\n[[network]]\nprefix = \"198.51.100.0/33\"\n"
        );
        let e = parse_error(&src);
        assert!(
            e.starts_with("network[1].prefix = \"198.51.100.0/33\" (line 6): invalid prefix"),
            "{e}"
        );
        // A bad neighbour address.
        let src = format!("{MINIMAL}[[neighbor]]\naddress = \"192.0.2.300\"\nremote_as = 2\n");
        let e = parse_error(&src);
        assert!(
            e.starts_with("neighbor[0].address = \"192.0.2.300\" (line 4): "),
            "{e}"
        );
        // A top-level field.
        let e = parse_error("router_id = \"192.0.2\"\nlocal_as = 1\n");
        assert!(e.starts_with("router_id = \"192.0.2\" (line 1): "), "{e}");
        assert!(e.contains("invalid router id \"192.0.2\""), "{e}");
    }

    #[test]
    fn validation_errors_echo_the_value() {
        let src = format!(
            "{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\nhold_time = 2\n"
        );
        let e = Config::from_toml_str(&src).expect_err("hold time 2");
        assert_eq!(
            e.to_string(),
            "neighbor[0].hold_time = 2 (line 6): must be 0 or at least 3 seconds (RFC 4271 section 4.2)"
        );
        let e = Config::from_toml_str("router_id = \"0.0.0.0\"\nlocal_as = 1\n").expect_err("id 0");
        assert_eq!(
            e.to_string(),
            "router_id = \"0.0.0.0\" (line 1): must not be 0.0.0.0"
        );
    }

    #[test]
    fn missing_fields_name_their_table() {
        let src = format!("{MINIMAL}[[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 2\n[[neighbor]]\naddress = \"192.0.2.3\"\n");
        assert_eq!(
            parse_error(&src),
            "neighbor[1].remote_as (line 6): required, and missing from its table, which starts on this line"
        );
        // At the top level: the field, and no misleading line or table (the first
        // table's header is line 1 of the span toml gives).
        for src in ["local_as = 65001\n", "[fib]\nenabled = false\n"] {
            assert_eq!(
                parse_error(src),
                "router_id: required, and missing from the top of the file (before the first \
                 [table])"
            );
        }
        assert_eq!(
            parse_error("router_id = \"192.0.2.1\"\n[fib]\nenabled = false\n"),
            "local_as: required, and missing from the top of the file (before the first [table])"
        );
    }

    #[test]
    fn a_prefix_with_host_bits_is_refused_not_masked() {
        let src = format!("{MINIMAL}[[network]]\nprefix = \"203.0.113.1/24\"\n");
        let e = parse_error(&src);
        assert_eq!(
            e,
            "network[0].prefix = \"203.0.113.1/24\" (line 4): \"203.0.113.1/24\" has host bits \
             set beyond /24: did you mean 203.0.113.0/24?"
        );
        let src = format!("{MINIMAL}[[network]]\nprefix = \"2001:db8::1/48\"\n");
        assert!(parse_error(&src).contains("did you mean 2001:db8::/48?"));
    }

    #[test]
    fn network_next_hop_must_match_the_family() {
        let src = format!(
            "{MINIMAL}[[network]]\nprefix = \"2001:db8:1::/48\"\nnext_hop = \"192.0.2.1\"\n"
        );
        assert_eq!(invalid(&src), ("network[0].next_hop".into(), Some(5)));
        let src = format!(
            "{MINIMAL}[[network]]\nprefix = \"203.0.113.0/24\"\nnext_hop = \"127.0.0.1\"\n"
        );
        assert_eq!(invalid(&src), ("network[0].next_hop".into(), Some(5)));
        let src = format!(
            "{MINIMAL}[[network]]\nprefix = \"2001:db8:1::/48\"\nnext_hop = \"2001:db8::1\"\n"
        );
        assert!(Config::from_toml_str(&src).is_ok());
    }

    #[test]
    fn ebgp_without_policy_is_warned_about_rfc_8212() {
        let src = format!(
            "{MINIMAL}[policy.policies.all]\ndefault = \"accept\"\n\
             [[neighbor]]\naddress = \"192.0.2.2\"\nremote_as = 65002\n\
             [[neighbor]]\naddress = \"192.0.2.3\"\nremote_as = 65003\nimport = [\"all\"]\nexport = [\"all\"]\n\
             [[neighbor]]\naddress = \"192.0.2.4\"\nremote_as = 65001\n\
             [[neighbor]]\naddress = \"192.0.2.5\"\nremote_as = 65005\nimport = [\"all\"]\n"
        );
        let (_, w) = Config::from_toml_str_with_warnings(&src).expect("valid");
        let fields: Vec<(&str, Option<usize>)> =
            w.iter().map(|w| (w.field.as_str(), w.line)).collect();
        // The iBGP neighbour (AS 65001 = local AS) and the one with both policies: none.
        assert_eq!(
            fields,
            vec![
                ("neighbor[0].import", Some(5)),
                ("neighbor[0].export", Some(5)),
                ("neighbor[3].export", Some(16)),
            ]
        );
        assert!(w[0].message.contains("RFC 8212"), "{}", w[0]);
        assert!(w[0].to_string().starts_with("warning: neighbor[0].import (line 5): external neighbour 192.0.2.2 (AS 65002) has no import policy"), "{}", w[0]);
    }

    #[test]
    fn metrics_address_is_read() {
        let c = Config::from_toml_str(&format!("metrics_address = \"127.0.0.1:9179\"\n{MINIMAL}"))
            .expect("parses");
        assert_eq!(
            c.metrics_address,
            Some("127.0.0.1:9179".parse().expect("addr"))
        );
        assert_eq!(
            Config::from_toml_str(MINIMAL)
                .expect("parses")
                .metrics_address,
            None
        );
    }

    #[test]
    fn ha_fencing_command_must_name_an_executable() {
        let with = |cmd: &str| {
            format!(
                "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\n\
                 checkpoint_address = \"192.0.2.254:50052\"\nfencing_command = {cmd:?}\n"
            )
        };
        let err = Config::from_toml_str(&with("/nonexistent/fence-primary --node 1"))
            .expect_err("a missing fencing program is an error");
        assert_eq!(
            err.to_string(),
            "ha.fencing_command = \"/nonexistent/fence-primary --node 1\" (line 7): \
             /nonexistent/fence-primary is not an executable file"
        );
        // A directory is no program.
        assert!(Config::from_toml_str(&with("/etc --off")).is_err());
        for ok in [
            "/bin/true",
            "/bin/sh -c 'exit 0'",
            "true",
            "ssh fence@192.0.2.9 off",
        ] {
            assert!(Config::from_toml_str(&with(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn ha_missing_field_names_the_section_line() {
        let src = format!("{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\n");
        let err = Config::from_toml_str(&src).expect_err("a primary needs checkpoint_address");
        assert_eq!(
            err.to_string(),
            "ha.checkpoint_address (line 3): a primary needs the address standbys attach to"
        );
    }

    #[test]
    fn ha_section_defaults_and_round_trip() {
        assert!(Config::from_toml_str(MINIMAL).expect("parses").ha.is_none());
        let src = format!(
            "{MINIMAL}[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"http://192.0.2.254:50052\"\n\
             mirror_interface = \"mon0\"\nsession_interface = \"eth0\"\nwrite_ahead = \"async\"\n\
             fencing_command = \"/bin/true\"\n"
        );
        let c = Config::from_toml_str(&src).expect("parses");
        let ha = c.ha.clone().expect("[ha]");
        assert_eq!(ha.role, HaRoleConfig::Standby);
        assert_eq!(ha.node_id, 2);
        assert_eq!(ha.priority, 100);
        assert_eq!(ha.heartbeat_interval_ms, 100);
        assert_eq!(ha.detect_multiplier, 3);
        assert_eq!(ha.detection_ms(), 300);
        assert_eq!(ha.write_ahead, WriteAheadPolicy::Async);
        assert_eq!(ha.mirror_interface.as_deref(), Some("mon0"));
        let again = Config::from_toml_str(&c.to_toml_string().expect("serialises")).expect("reads");
        assert_eq!(again, c);
        let src = format!(
            "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\npriority = 200\n\
             checkpoint_address = \"192.0.2.254:50052\"\n\
             tls = {{ ca = \"ca.pem\", cert = \"c.pem\", key = \"k.pem\" }}\n"
        );
        let c = Config::from_toml_str(&src).expect("parses");
        let ha = c.ha.clone().expect("[ha]");
        assert_eq!(ha.write_ahead, WriteAheadPolicy::Wait);
        assert_eq!(ha.priority, 200);
        assert_eq!(
            ha.checkpoint_address,
            Some("192.0.2.254:50052".parse().expect("addr"))
        );
        assert_eq!(ha.tls.as_ref().map(|t| t.key.as_str()), Some("k.pem"));
        let again = Config::from_toml_str(&c.to_toml_string().expect("serialises")).expect("reads");
        assert_eq!(again, c);
    }

    #[test]
    fn ha_section_errors_name_the_field() {
        let ha = |body: &str| format!("{MINIMAL}[ha]\n{body}");
        assert_eq!(
            invalid(&ha("role = \"primary\"\nnode_id = 1\n")),
            ("ha.checkpoint_address".into(), Some(3))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"standby\"\nnode_id = 2\nmirror_interface = \"mon0\"\n"
            )),
            ("ha.primary".into(), Some(3))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"standby\"\nnode_id = 2\nprimary = \"http://192.0.2.254:50052\"\n"
            )),
            ("ha.mirror_interface".into(), Some(3))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"standby\"\nnode_id = 2\nprimary = \"192.0.2.254:50052\"\nmirror_interface = \"mon0\"\nsession_interface = \"eth0\"\n"
            )),
            ("ha.primary".into(), Some(6))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"primary\"\nnode_id = 0\ncheckpoint_address = \"192.0.2.254:50052\"\n"
            )),
            ("ha.node_id".into(), Some(5))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"primary\"\nnode_id = 1\ncheckpoint_address = \"192.0.2.254:50052\"\nheartbeat_interval_ms = 0\n"
            )),
            ("ha.heartbeat_interval_ms".into(), Some(7))
        );
        assert_eq!(
            invalid(&ha(
                "role = \"standby\"\nnode_id = 3\nprimary = \"http://p:1\"\nmirror_interface = \"a-name-much-too-long\"\nsession_interface = \"eth0\"\n"
            )),
            ("ha.mirror_interface".into(), Some(7))
        );
        // A standby that could never take a session over is refused, not found out at the
        // failure: the field, and the line of its section.
        let src = ha(
            "role = \"standby\"\nnode_id = 2\nprimary = \"http://192.0.2.254:50052\"\nmirror_interface = \"mon0\"\n",
        );
        assert_eq!(invalid(&src), ("ha.session_interface".into(), Some(3)));
        assert!(Config::from_toml_str(&src)
            .expect_err("no session_interface")
            .to_string()
            .starts_with("ha.session_interface (line 3): a standby needs the interface"),);
        for bad in [
            "role = \"leader\"\nnode_id = 1\n",
            "role = \"primary\"\nnode_id = 1\nwrite_ahead = \"maybe\"\n",
            "role = \"primary\"\nnode = 1\n",
        ] {
            // The error on the line of the bad key (`node = 1` also leaves node_id
            // missing, an error of its own at the section's line, which comes first).
            match Config::from_toml_str_all(&ha(bad)) {
                Err(errors) => assert!(
                    errors
                        .iter()
                        .any(|e| matches!(e, ConfigError::Parse { line, .. } if *line >= 4)),
                    "{bad}: {errors:?}"
                ),
                other => panic!("expected a parse error for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn ha_moved_addresses_parse_and_errors_name_the_field() {
        let src = format!(
            "{MINIMAL}[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"http://p:1\"\n\
             mirror_interface = \"mon0\"\nsession_interface = \"eth1\"\nmove_addresses = [\"198.51.100.1/25 eth2\", \"2001:db8::1/64 eth1\"]\n"
        );
        let ha = Config::from_toml_str(&src)
            .expect("parses")
            .ha
            .expect("[ha]");
        assert_eq!(
            ha.moved_addresses(),
            vec![
                MovedAddress {
                    addr: "198.51.100.1".parse().expect("addr"),
                    prefix_len: 25,
                    interface: "eth2".into()
                },
                MovedAddress {
                    addr: "2001:db8::1".parse().expect("addr"),
                    prefix_len: 64,
                    interface: "eth1".into()
                }
            ]
        );
        for bad in [
            "198.51.100.1 eth2",
            "198.51.100.1/33 eth2",
            "198.51.100.1/24",
            "x/24 eth0",
        ] {
            let src = format!(
                "{MINIMAL}[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"192.0.2.254:50052\"\nmove_addresses = [\"{bad}\"]\n"
            );
            assert_eq!(invalid(&src).0, "ha.move_addresses", "{bad}");
        }
    }

    #[test]
    fn example_config_parses() {
        let src = include_str!("../examples/bgpd.toml");
        let c = Config::from_toml_str(src).expect("example parses");
        assert!(c.neighbors.len() >= 2);
        assert!(!c.networks.is_empty());
        assert_eq!(c.policy.policies.len(), 2);
        let again = Config::from_toml_str(&c.to_toml_string().expect("serialises")).expect("reads");
        assert_eq!(again, c);
    }
}
