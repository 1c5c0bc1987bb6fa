//! Which standby takes over.

use super::{NodeId, Priority};

/// A standby that could take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: NodeId,
    /// Its priority.
    pub priority: Priority,
    /// Only a synchronised standby may take over.
    pub synchronised: bool,
}

/// A standby in the primary's roster, as heartbeats carry it (for the election on failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The standby.
    pub node: NodeId,
    /// Its election priority.
    pub priority: Priority,
    /// Whether the primary considers it synchronised.
    pub synchronised: bool,
    /// Where it serves the checkpoint protocol once it is primary (host:port).
    pub endpoint: String,
}

impl RosterEntry {
    /// As an election candidate.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            node: self.node,
            priority: self.priority,
            synchronised: self.synchronised,
        }
    }
}

/// The synchronised candidate with the highest priority, then the lowest id; `None` when
/// no candidate is synchronised.
pub fn elect(candidates: &[Candidate]) -> Option<NodeId> {
    candidates
        .iter()
        .filter(|c| c.synchronised)
        .min_by(|a, b| b.priority.cmp(&a.priority).then(a.node.cmp(&b.node)))
        .map(|c| c.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(node: u32, priority: u8, synchronised: bool) -> Candidate {
        Candidate {
            node: NodeId(node),
            priority: Priority(priority),
            synchronised,
        }
    }

    #[test]
    fn highest_priority_then_lowest_id() {
        assert_eq!(
            elect(&[c(3, 10, true), c(2, 20, true), c(1, 20, true)]),
            Some(NodeId(1))
        );
        assert_eq!(
            elect(&[c(3, 30, true), c(2, 20, true), c(1, 20, true)]),
            Some(NodeId(3))
        );
    }

    #[test]
    fn unsynchronised_never_elected() {
        assert_eq!(elect(&[c(1, 200, false), c(9, 1, true)]), Some(NodeId(9)));
        assert_eq!(elect(&[c(1, 200, false)]), None);
        assert_eq!(elect(&[]), None);
    }
}
