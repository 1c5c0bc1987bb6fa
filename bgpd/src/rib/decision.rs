//! The decision process of RFC 4271 section 9.1: the route selection of section 9.1.2 with
//! the tie breaking of section 9.1.2.2, and RFC 4456 section 9 for route reflection.
//!
//! Section 9.1.2.2 is an elimination over the set of candidates (the MED step compares only
//! routes from the same neighbouring AS, so it is not a total order); [`select`] runs the
//! steps in order on the surviving set and reports the step that left one route.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What one candidate route contributes to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Locally originated (our own networks): preferred over every learned route (RFC 4271
    /// section 9.1.1 leaves the degree of preference of local routes to local policy).
    pub local: bool,
    /// Degree of preference: LOCAL_PREF after import policy (default 100 when absent).
    pub local_pref: u32,
    /// AS_PATH length, RFC 4271 9.1.2.2 a: AS_SET counts 1, confederation segments 0.
    pub as_path_len: u32,
    /// ORIGIN (IGP 0 < EGP 1 < INCOMPLETE 2).
    pub origin: u8,
    /// MULTI_EXIT_DISC; absent counts as 0, "the lowest value" (RFC 4271 9.1.2.2 c).
    pub med: u32,
    /// The neighbouring AS the route came from (first ASN of the AS path; our AS when the
    /// path is empty or starts with an AS_SET).
    pub neighbor_as: u32,
    /// Learned from an external neighbour.
    pub ebgp: bool,
    /// ORIGINATOR_ID when present, else the neighbour's BGP Identifier (RFC 4456 section 9).
    pub bgp_id: u32,
    /// CLUSTER_LIST length (RFC 4456 section 9).
    pub cluster_len: u32,
    /// The neighbour's address.
    pub address: IpAddr,
    /// The neighbour's index (deterministic tie break).
    pub peer: u32,
    /// The Path Identifier the neighbour gave the route (RFC 7911; 0 without ADD-PATH):
    /// the final tie break between paths of one neighbour.
    pub path_id: u32,
}

/// The step of section 9.1.2.2 that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionStep {
    /// Only one candidate.
    Only,
    /// A locally originated route.
    Local,
    /// Highest degree of preference (LOCAL_PREF), section 9.1.2.1 / 9.1.1.
    LocalPref,
    /// Shortest AS_PATH, 9.1.2.2 a.
    AsPathLength,
    /// Lowest ORIGIN, 9.1.2.2 b.
    Origin,
    /// Lowest MULTI_EXIT_DISC among routes from the same neighbouring AS, 9.1.2.2 c.
    Med,
    /// External over internal, 9.1.2.2 d (step e, interior cost, is not implemented: there
    /// is no IGP here, every next hop counts as reachable at equal cost).
    External,
    /// Lowest BGP Identifier (ORIGINATOR_ID when present), 9.1.2.2 f and RFC 4456 section 9.
    BgpIdentifier,
    /// Shortest CLUSTER_LIST, RFC 4456 section 9.
    ClusterListLength,
    /// Lowest neighbour address, 9.1.2.2 g.
    NeighborAddress,
    /// Lowest neighbour index (identical routes from one address: cannot happen with
    /// one session per address, kept so that the result is always defined).
    PeerIndex,
    /// Lowest Path Identifier: ADD-PATH paths of one neighbour equal in every step before
    /// (RFC 7911 leaves the choice among them to the receiver; this keeps it defined).
    PathId,
}

/// Options of the decision process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionOptions {
    /// Compare MED between routes from different neighbouring ASes too.
    #[serde(default)]
    pub always_compare_med: bool,
}

/// Selects the best of `cands`; `None` when empty. Returns its index and the deciding step.
pub fn select(cands: &[Candidate], opts: DecisionOptions) -> Option<(usize, DecisionStep)> {
    match cands.len() {
        0 => return None,
        1 => return Some((0, DecisionStep::Only)),
        _ => {}
    }
    let mut s: Vec<usize> = (0..cands.len()).collect();
    let c = |i: usize| &cands[i];
    macro_rules! step {
        ($step:expr, $keep:expr) => {{
            $keep(&mut s);
            if s.len() == 1 {
                return Some((s[0], $step));
            }
        }};
    }
    if s.iter().any(|&i| c(i).local) {
        step!(DecisionStep::Local, |s: &mut Vec<usize>| s
            .retain(|&i| c(i).local));
    }
    step!(DecisionStep::LocalPref, |s: &mut Vec<usize>| keep_max(
        s,
        |i| c(i).local_pref
    ));
    step!(DecisionStep::AsPathLength, |s: &mut Vec<usize>| keep_min(
        s,
        |i| c(i).as_path_len
    ));
    step!(DecisionStep::Origin, |s: &mut Vec<usize>| keep_min(
        s,
        |i| u32::from(c(i).origin)
    ));
    step!(DecisionStep::Med, |s: &mut Vec<usize>| {
        // "remove from consideration routes with less-preferred MULTI_EXIT_DISC attributes.
        // MULTI_EXIT_DISC is only comparable between routes learned from the same
        // neighboring AS"
        let all = s.clone();
        s.retain(|&i| {
            !all.iter().any(|&j| {
                (opts.always_compare_med || c(j).neighbor_as == c(i).neighbor_as)
                    && c(j).med < c(i).med
            })
        });
    });
    if s.iter().any(|&i| c(i).ebgp) {
        step!(DecisionStep::External, |s: &mut Vec<usize>| s
            .retain(|&i| c(i).ebgp));
    }
    step!(DecisionStep::BgpIdentifier, |s: &mut Vec<usize>| keep_min(
        s,
        |i| c(i).bgp_id
    ));
    step!(DecisionStep::ClusterListLength, |s: &mut Vec<usize>| {
        keep_min(s, |i| c(i).cluster_len)
    });
    step!(
        DecisionStep::NeighborAddress,
        |s: &mut Vec<usize>| keep_min(s, |i| addr_key(c(i).address))
    );
    step!(DecisionStep::PeerIndex, |s: &mut Vec<usize>| keep_min(
        s,
        |i| c(i).peer
    ));
    keep_min(&mut s, |i| c(i).path_id);
    s.first().map(|&i| (i, DecisionStep::PathId))
}

/// Orders addresses: IPv4 before IPv6, numerically within a family.
fn addr_key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v) => (4, u128::from(u32::from(v))),
        IpAddr::V6(v) => (6, u128::from(v)),
    }
}

fn keep_min<K: Ord + Copy>(s: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if let Some(m) = s.iter().map(|&i| key(i)).min() {
        s.retain(|&i| key(i) == m);
    }
}

fn keep_max<K: Ord + Copy>(s: &mut Vec<usize>, key: impl Fn(usize) -> K) {
    if let Some(m) = s.iter().map(|&i| key(i)).max() {
        s.retain(|&i| key(i) == m);
    }
}
