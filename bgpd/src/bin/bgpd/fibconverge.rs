//! When the speaker has converged after start, for the kernel FIB's adopt mode: the routes
//! an earlier run left are kept until then, and removed then if no best path claims them.
//!
//! Converged means every neighbour that is not shut down is Established and has sent
//! End-of-RIB for each family negotiated on its session (RFC 4724 section 2: the marker of
//! "the completion of the initial routing update"), or the deadline (`[fib]
//! convergence_timeout_secs`) passed. A session that goes down forgets its End-of-RIBs: the
//! next session's initial update must end again.
//!
//! The End-of-RIBs received are kept here, not asked of the core, because the core keeps no
//! such record: a session remembers only the families still stale after a neighbour's
//! restart (RFC 4724 section 4.2), which its End-of-RIB clears, and nothing for a neighbour
//! that did not restart; the RIB only purges stale routes on it. Keeping it in the core
//! would put a driver's start-up wait into the replicated state and the state digest.

use bgpd::speaker::PeerId;
use bgpd::wire::AfiSafi;
use std::collections::BTreeMap;
use std::time::Instant;

/// Why the speaker counts as converged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converged {
    /// End-of-RIB from every neighbour that is not shut down, for every negotiated family.
    EndOfRib,
    /// The deadline passed first.
    Timeout,
}

impl Converged {
    /// For the log.
    pub fn text(self) -> &'static str {
        match self {
            Converged::EndOfRib => "End-of-RIB from every neighbour",
            Converged::Timeout => "convergence_timeout_secs passed",
        }
    }
}

/// A neighbour as the convergence check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourView {
    /// The neighbour.
    pub peer: PeerId,
    /// Not shut down by the operator (a shut-down neighbour sends nothing: not waited for).
    pub admin_up: bool,
    /// The unicast families negotiated on its Established session; `None` when not
    /// Established.
    pub families: Option<Vec<AfiSafi>>,
}

/// The End-of-RIBs received since start, and the deadline.
#[derive(Debug, Clone)]
pub struct Convergence {
    deadline: Instant,
    received: BTreeMap<PeerId, Vec<AfiSafi>>,
}

impl Convergence {
    /// Waiting from now until `deadline` at the latest.
    pub fn new(deadline: Instant) -> Self {
        Convergence {
            deadline,
            received: BTreeMap::new(),
        }
    }

    /// `peer` sent End-of-RIB for `family`.
    pub fn end_of_rib(&mut self, peer: PeerId, family: AfiSafi) {
        let got = self.received.entry(peer).or_default();
        if !got.contains(&family) {
            got.push(family);
        }
    }

    /// `peer`'s session went down.
    pub fn session_down(&mut self, peer: PeerId) {
        self.received.remove(&peer);
    }

    /// Whether the speaker has converged at `now`, given every configured neighbour.
    pub fn check(&self, now: Instant, neighbours: &[NeighbourView]) -> Option<Converged> {
        let all_ended = neighbours.iter().filter(|n| n.admin_up).all(|n| {
            n.families.as_ref().is_some_and(|fams| {
                let got = self.received.get(&n.peer);
                fams.iter().all(|f| got.is_some_and(|g| g.contains(f)))
            })
        });
        if all_ended {
            Some(Converged::EndOfRib)
        } else if now >= self.deadline {
            Some(Converged::Timeout)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn up(peer: u32, families: &[AfiSafi]) -> NeighbourView {
        NeighbourView {
            peer: PeerId(peer),
            admin_up: true,
            families: Some(families.to_vec()),
        }
    }

    #[test]
    fn every_neighbour_and_every_negotiated_family_must_end() {
        let t0 = Instant::now();
        let mut c = Convergence::new(t0 + Duration::from_secs(120));
        let v4 = AfiSafi::IPV4_UNICAST;
        let v6 = AfiSafi::IPV6_UNICAST;
        let ns = [up(1, &[v4, v6]), up(2, &[v4])];
        assert_eq!(c.check(t0, &ns), None);
        c.end_of_rib(PeerId(1), v4);
        c.end_of_rib(PeerId(2), v4);
        assert_eq!(c.check(t0, &ns), None, "neighbour 1's IPv6 is missing");
        c.end_of_rib(PeerId(1), v6);
        assert_eq!(c.check(t0, &ns), Some(Converged::EndOfRib));
        // A session that went down must end its initial update again.
        c.session_down(PeerId(2));
        assert_eq!(c.check(t0, &ns), None);
    }

    #[test]
    fn a_neighbour_not_established_is_waited_for_until_the_deadline_a_shut_one_is_not() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(5);
        let mut c = Convergence::new(deadline);
        let v4 = AfiSafi::IPV4_UNICAST;
        c.end_of_rib(PeerId(1), v4);
        let mut down = NeighbourView {
            peer: PeerId(2),
            admin_up: true,
            families: None,
        };
        assert_eq!(c.check(t0, &[up(1, &[v4]), down.clone()]), None);
        assert_eq!(
            c.check(deadline, &[up(1, &[v4]), down.clone()]),
            Some(Converged::Timeout)
        );
        down.admin_up = false;
        assert_eq!(
            c.check(t0, &[up(1, &[v4]), down]),
            Some(Converged::EndOfRib)
        );
        // No neighbour at all: nothing to wait for.
        assert_eq!(c.check(t0, &[]), Some(Converged::EndOfRib));
    }
}
