//! The session cases of `shared/cases/sessions.json` (inputs that broke other BGP
//! implementations), run by the raw test peer against a speaker under test: the peer opens
//! the session with the case's OPEN, sends the case's messages, and records what the
//! speaker did ([`Observation`]: the NOTIFICATIONs it sent, whether it closed the
//! connection, whether the session is still Established, the prefixes it installed from the
//! peer). Judging an observation against the case's `expect` text is the caller's job.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::error::{LabError, Result};
use crate::neighbor::Neighbor;
use crate::netns::Netns;
use crate::rawpeer::{from_hex, msg_type, RawPeer};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
pub struct CaseFile {
    /// How the test peer speaks.
    pub context: Context,
    /// The cases.
    pub cases: Vec<Case>,
}

/// The file's `context`.
#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    /// The OPENs cases refer to by name (`default` when a case names none), as hex.
    pub named_opens: BTreeMap<String, String>,
    /// Free text on the tester's settings.
    #[serde(default)]
    pub tester: String,
}

/// When a case's messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// After both OPENs and KEEPALIVEs.
    Established,
    /// The case is the peer's OPEN itself.
    Open,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Identifier (`TC00`).
    pub id: String,
    /// What it is.
    pub title: String,
    /// When its messages are sent.
    pub phase: Phase,
    /// None: the default OPEN; a name from `named_opens`; or the OPEN itself as hex.
    pub open: Option<String>,
    /// The messages, hex, in order.
    pub messages: Vec<String>,
    /// The RFC-correct outcome, as text.
    pub expect: String,
    /// Where it is specified.
    pub rfc: String,
}

/// Finds `shared/cases/sessions.json`: `$US_SHARED_DIR/cases/sessions.json` if set, else the
/// first `shared/` beside an ancestor of this crate (the shared folder sits beside the repo,
/// which may itself be a worktree one level further down).
pub fn default_path() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("US_SHARED_DIR") {
        return Some(Path::new(&dir).join("cases/sessions.json"));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/cases/sessions.json"))
        .find(|p| p.is_file())
}

impl CaseFile {
    /// Reads the file.
    pub fn load(path: &Path) -> Result<CaseFile> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| LabError::parse(path.display().to_string(), e))
    }

    /// The case with identifier `id`.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// The OPEN (bytes) the peer sends for `case`.
    pub fn open_for(&self, case: &Case) -> Result<Vec<u8>> {
        let name = case.open.as_deref().unwrap_or("default");
        match self.context.named_opens.get(name) {
            Some(hex) => from_hex(hex),
            None => from_hex(name).map_err(|_| {
                LabError::parse("case OPEN", format!("{}: no OPEN named {name:?}", case.id))
            }),
        }
    }
}

/// A NOTIFICATION split into its fields (RFC 4271 section 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Notification {
    /// Splits a whole NOTIFICATION message (header included); None if shorter than 21 octets.
    pub fn parse(msg: &[u8]) -> Option<Notification> {
        if msg.len() < 21 || msg[18] != msg_type::NOTIFICATION {
            return None;
        }
        Some(Notification {
            code: msg[19],
            subcode: msg[20],
            data: msg[21..].to_vec(),
        })
    }
}

/// What the speaker under test did with a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// NOTIFICATIONs it sent.
    pub notifications: Vec<Notification>,
    /// It closed the connection.
    pub closed: bool,
    /// The session reached Established (for `open` cases: at all; for `established` ones:
    /// before the messages were sent).
    pub reached_established: bool,
    /// It reports the session Established after the observation window.
    pub established_after: bool,
    /// Prefixes it holds from the peer after the window.
    pub routes: BTreeSet<IpNetwork>,
    /// The speaker's process still runs after the window (false: it crashed).
    pub alive: bool,
}

/// Where a case runs: the raw peer's namespace and address, the speaker's address, the
/// speaker itself (queried through [`Neighbor`]), and how long to watch after the last
/// message.
pub struct CaseTarget<'a> {
    /// The raw peer's namespace.
    pub peer_ns: &'a Netns,
    /// The raw peer's address (the speaker's configured neighbour).
    pub peer_addr: IpAddr,
    /// The speaker's BGP address and port.
    pub speaker: SocketAddr,
    /// The speaker under test.
    pub neighbor: &'a mut dyn Neighbor,
    /// How long to watch after the last message (ends early when the speaker closes).
    pub observe: Duration,
    /// How long to wait for connection, OPEN and Established.
    pub timeout: Duration,
}

impl std::fmt::Debug for CaseTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseTarget")
            .field("peer_ns", &self.peer_ns)
            .field("peer_addr", &self.peer_addr)
            .field("speaker", &self.speaker)
            .finish()
    }
}

/// Runs `case` of `file` against `target`.
pub fn run_case(file: &CaseFile, case: &Case, target: &mut CaseTarget<'_>) -> Result<Observation> {
    let open = file.open_for(case)?;
    let mut peer = RawPeer::connect(target.peer_ns, target.speaker, target.timeout)?;
    peer.send(&open)?;
    let mut reached = false;
    if case.phase == Phase::Established {
        peer.expect_type(msg_type::OPEN, target.timeout)?;
        peer.send_keepalive()?;
        peer.expect_type(msg_type::KEEPALIVE, target.timeout)?;
        target
            .neighbor
            .wait_established(target.peer_addr, target.timeout)?;
        reached = true;
        for m in &case.messages {
            peer.send(&from_hex(m)?)?;
        }
    }
    let end = Instant::now() + target.observe;
    let mut sent_keepalive = false;
    while !peer.closed() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match peer.read_message(left) {
            Ok(Some(m)) if m[18] == msg_type::OPEN && !sent_keepalive => {
                // An `open` case the speaker accepted: complete the handshake.
                peer.send_keepalive()?;
                sent_keepalive = true;
            }
            Ok(Some(m)) if m[18] == msg_type::KEEPALIVE && case.phase == Phase::Open => {
                reached = true
            }
            Ok(_) => {}
            Err(LabError::Timeout { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    let (established_after, alive) = match target.neighbor.session(target.peer_addr) {
        Ok(s) => (s.established, true),
        Err(LabError::Exited { .. }) => (false, false),
        Err(_) => (false, true),
    };
    let routes = target
        .neighbor
        .routes_received(target.peer_addr)
        .unwrap_or_default();
    Ok(Observation {
        notifications: peer
            .notifications()
            .iter()
            .filter_map(|m| Notification::parse(m))
            .collect(),
        closed: peer.closed(),
        reached_established: reached,
        established_after,
        routes,
        alive,
    })
}

/// The AS the case's OPEN announces (My Autonomous System, octets 20-21 of the message);
/// AS_TRANS stands for 65001 here (the four-octet capability carries 65001 in every
/// named OPEN).
fn peer_as_of(open: &[u8]) -> u32 {
    match open.get(20..22) {
        Some(&[hi, lo]) if u16::from_be_bytes([hi, lo]) != 23456 => {
            u32::from(u16::from_be_bytes([hi, lo]))
        }
        _ => 65001,
    }
}

/// Runs `case` in a two-namespace lab under `prefix`: the speaker (node `dut`) is AS 65000
/// at 192.0.2.1, passive, with neighbour 192.0.2.2 (the raw peer, node `raw`) in the AS the
/// case's OPEN announces (65001, or 65002 for TC05/TC06 per the file's context), hold time
/// 90 s, carrying `families`; `start` starts the speaker from that configuration.
pub fn run_in_lab(
    file: &CaseFile,
    case: &Case,
    prefix: &str,
    families: &[crate::neighbor::Family],
    start: impl FnOnce(&crate::Lab, &crate::neighbor::BgpConfig) -> Result<Box<dyn Neighbor>>,
) -> Result<Observation> {
    use crate::neighbor::{BgpConfig, PeerConfig};
    let open = file.open_for(case)?;
    let peer_as = peer_as_of(&open);
    let mut lab = crate::Lab::new(prefix)?;
    let dut_ns = lab.add_namespace("dut")?;
    let raw_ns = lab.add_namespace("raw")?;
    lab.add_veth(&dut_ns, "eth0", &raw_ns, "eth0")?;
    let (dut_addr, raw_addr): (IpAddr, IpAddr) =
        (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
    lab.add_address(
        &dut_ns,
        "eth0",
        IpNetwork::new(dut_addr, 24).map_err(|e| LabError::parse("address", e))?,
    )?;
    lab.add_address(
        &raw_ns,
        "eth0",
        IpNetwork::new(raw_addr, 24).map_err(|e| LabError::parse("address", e))?,
    )?;
    let cfg = BgpConfig::new(65000, std::net::Ipv4Addr::new(192, 0, 2, 1)).peer(
        PeerConfig::new(raw_addr, peer_as)
            .local(dut_addr)
            .passive()
            .timers(Duration::from_secs(90), Duration::from_secs(30))
            .families(families),
    );
    let mut speaker = start(&lab, &cfg)?;
    let mut target = CaseTarget {
        peer_ns: &raw_ns,
        peer_addr: raw_addr,
        speaker: SocketAddr::new(dut_addr, 179),
        neighbor: speaker.as_mut(),
        observe: Duration::from_secs(1),
        timeout: Duration::from_secs(60),
    };
    run_case(file, case, &mut target)
}

/// Runs `case` against a fresh FRR (bgpd without zebra: the cases' NEXT_HOP 10.0.0.2 is
/// data, never a reachable address), IPv4 unicast only, as [`run_in_lab`] sets it up.
pub fn run_against_frr(file: &CaseFile, case: &Case, prefix: &str) -> Result<Observation> {
    use crate::neighbor::frr::Frr;
    run_in_lab(
        file,
        case,
        prefix,
        &[crate::neighbor::Family::Ipv4Unicast],
        |lab, cfg| Ok(Box::new(Frr::start_without_zebra(lab, "dut", cfg)?)),
    )
}

/// Runs `case` against a fresh understudy bgpd (FIB off, so the cases' next hops stay
/// data), carrying IPv4 and IPv6 unicast (the cases' MP_REACH_NLRI routes are IPv6), with
/// an accept-all import policy, as [`run_in_lab`] sets it up.
pub fn run_against_bgpd(file: &CaseFile, case: &Case, prefix: &str) -> Result<Observation> {
    use crate::neighbor::{bgpd::Bgpd, Family};
    run_in_lab(
        file,
        case,
        prefix,
        &[Family::Ipv4Unicast, Family::Ipv6Unicast],
        |lab, cfg| Ok(Box::new(Bgpd::start(lab, "dut", cfg)?)),
    )
}

impl Observation {
    /// One line: NOTIFICATIONs as code/subcode[/data], closed, Established, routes.
    pub fn summary(&self) -> String {
        let notes: Vec<String> = self
            .notifications
            .iter()
            .map(|n| {
                if n.data.is_empty() {
                    format!("{}/{}", n.code, n.subcode)
                } else {
                    format!("{}/{} data {}", n.code, n.subcode, hex::encode(&n.data))
                }
            })
            .collect();
        let routes: Vec<String> = self.routes.iter().map(ToString::to_string).collect();
        format!(
            "{}notification: {}; {}; {}; routes: {}",
            if self.alive { "" } else { "CRASHED; " },
            if notes.is_empty() {
                "none".to_string()
            } else {
                notes.join(", ")
            },
            if self.closed { "closed" } else { "open" },
            if self.established_after {
                "Established"
            } else {
                "not Established"
            },
            if routes.is_empty() {
                "none".to_string()
            } else {
                routes.join(" ")
            }
        )
    }
}

pub mod verdict;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"context": {"named_opens": {"default": "ffffffffffffffffffffffffffffffff001d0104fde9005a0a00000200"}},
      "cases": [{"id": "TC47", "title": "t", "phase": "established", "open": null, "messages": ["ffffffffffffffffffffffffffffffff001204"], "expect": "NOTIFICATION 1/2", "rfc": "RFC 4271 s6.1", "note": ""},
                {"id": "TC57", "title": "v3", "phase": "open", "open": "ffffffffffffffffffffffffffffffff001d0103fde9005a0a00000200", "messages": [], "expect": "2/1", "rfc": "x"}]}"#;

    #[test]
    fn case_file_parses_and_resolves_opens() {
        let f: CaseFile = serde_json::from_str(FILE).unwrap();
        let c = f.case("TC47").unwrap();
        assert_eq!(c.phase, Phase::Established);
        assert_eq!(f.open_for(c).unwrap()[19], 4);
        let v3 = f.case("TC57").unwrap();
        assert_eq!(v3.phase, Phase::Open);
        assert_eq!(
            f.open_for(v3).unwrap()[19],
            3,
            "a hex OPEN is used as it is"
        );
    }

    #[test]
    fn notifications_are_split() {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 23, 3, 1, 2, 0, 0x12]);
        assert_eq!(
            Notification::parse(&m),
            Some(Notification {
                code: 1,
                subcode: 2,
                data: vec![0, 0x12]
            })
        );
        assert_eq!(Notification::parse(&m[..20]), None);
    }

    #[test]
    fn the_shared_case_file_parses() {
        let path = default_path().expect("shared/cases/sessions.json beside the repository");
        let f = CaseFile::load(&path).unwrap();
        assert!(f.cases.len() >= 40);
        for c in &f.cases {
            f.open_for(c).unwrap();
            for m in &c.messages {
                from_hex(m).unwrap();
            }
        }
    }
}
