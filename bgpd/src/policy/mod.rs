//! Routing policy: named prefix lists, AS-path and community matchers, and actions, grouped in
//! named policies (an ordered list of terms, first match wins) that neighbours reference as
//! their import and export policies.
//!
//! [`PolicyConfig`] is the serde form (the `policy` table of the daemon's TOML configuration);
//! [`PolicyConfig::compile`] checks it (unknown names, bad prefixes, regexes, communities) and
//! yields [`Policies`], from which [`Policies::chain`] builds the evaluator of one neighbour's
//! import or export policy list.
//!
//! ```toml
//! [policy.prefix_lists]
//! customers = ["203.0.113.0/24 le 32", "2001:db8::/32 ge 48 le 48"]
//!
//! [policy.policies.from-upstream]
//! default = "reject"
//! [[policy.policies.from-upstream.terms]]
//! name = "customers"
//! match = { prefix_list = "customers", as_path = "^64496( |$)" }
//! set = { local_pref = 200, add_communities = ["64511:1"] }
//! action = "accept"
//! ```

mod community;
mod eval;

pub use community::{CommunityPattern, LargeCommunityPattern};
pub use eval::{Chain, NextHopAction, Policies, RouteInput, Verdict};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `policy` configuration table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Named prefix lists: entries `"PREFIX"`, `"PREFIX le N"`, `"PREFIX ge N"` or
    /// `"PREFIX ge N le M"` (a prefix matches when it lies within PREFIX and its length is in
    /// the range: exactly PREFIX's length without ge/le; ge..=le; ge..=address width;
    /// PREFIX's length..=le).
    #[serde(default)]
    pub prefix_lists: BTreeMap<String, Vec<String>>,
    /// Named policies.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyDef>,
}

/// One named policy: terms tried in order, the first whose conditions all match decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    /// The terms, in order.
    #[serde(default)]
    pub terms: Vec<TermDef>,
    /// What happens when no term decides: `reject` (the default), `accept`, or `next` (go on
    /// with the next policy of the neighbour's list; past the last one the route is rejected).
    #[serde(default)]
    pub default: PolicyAction,
}

/// A term: conditions (all must hold; none means always), modifications, and the action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermDef {
    /// A name for logs.
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions.
    #[serde(default, rename = "match")]
    pub matches: MatchDef,
    /// Modifications applied when the conditions hold (also with `action = "next"`).
    #[serde(default)]
    pub set: SetDef,
    /// The action when the conditions hold. Default `accept`: a term without `action`
    /// accepts what it matches (bgpd/examples/bgpd.toml, the configuration reference,
    /// says so), so a term that drops routes must say `action = "reject"`.
    #[serde(default = "PolicyAction::accept")]
    pub action: PolicyAction,
}

/// Accept, reject, or go on with the next term (or the next policy, as a policy default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyAction {
    /// Accept the route (with the modifications made so far).
    Accept,
    /// Reject the route.
    #[default]
    Reject,
    /// Keep the modifications and continue.
    Next,
}

impl PolicyAction {
    fn accept() -> Self {
        PolicyAction::Accept
    }
}

/// Match conditions of a term; all the given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// The route's prefix matches this named prefix list.
    #[serde(default)]
    pub prefix_list: Option<String>,
    /// The route's prefix matches one of these entries (prefix list syntax).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// `ipv4` or `ipv6`.
    #[serde(default)]
    pub family: Option<String>,
    /// A regular expression (the `regex` crate's syntax) over the AS path written as ASNs
    /// separated by single spaces, AS_SET as `{a b}`, AS_CONFED_SEQUENCE as `(a b)`,
    /// AS_CONFED_SET as `[a b]`; e.g. `^64496 ` or `(^| )64511$`.
    #[serde(default)]
    pub as_path: Option<String>,
    /// The AS path contains this ASN anywhere.
    #[serde(default)]
    pub as_path_contains: Option<u32>,
    /// The route originates from this ASN (last ASN of the final AS_SEQUENCE).
    #[serde(default)]
    pub origin_as: Option<u32>,
    /// The route was learned from this neighbouring AS (first ASN of the AS path).
    #[serde(default)]
    pub neighbor_as: Option<u32>,
    /// AS path length (RFC 4271 section 9.1.2.2 counting) at least this.
    #[serde(default)]
    pub as_path_len_min: Option<u32>,
    /// AS path length at most this.
    #[serde(default)]
    pub as_path_len_max: Option<u32>,
    /// At least one of these communities is present (`65000:100`, `65000:*`, `no-export`, ...).
    #[serde(default)]
    pub community: Vec<String>,
    /// All of these communities are present.
    #[serde(default)]
    pub community_all: Vec<String>,
    /// At least one of these large communities is present (`a:b:c`, `*` allowed per field).
    #[serde(default)]
    pub large_community: Vec<String>,
    /// All of these large communities are present.
    #[serde(default)]
    pub large_community_all: Vec<String>,
}

/// Modifications of a term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDef {
    /// Set LOCAL_PREF.
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// Set MULTI_EXIT_DISC (on export to an external neighbour it is then sent).
    #[serde(default)]
    pub med: Option<u32>,
    /// Set the next hop: an IPv4 or IPv6 address (applies to routes of that family), or `self`
    /// (our address on the session).
    #[serde(default)]
    pub next_hop: Option<String>,
    /// Prepend our AS this many times.
    #[serde(default)]
    pub prepend: Option<u8>,
    /// Prepend these ASNs (the first listed ends up leftmost), before `prepend`.
    #[serde(default)]
    pub prepend_as: Vec<u32>,
    /// Add these communities.
    #[serde(default)]
    pub add_communities: Vec<String>,
    /// Remove the communities matching these patterns.
    #[serde(default)]
    pub remove_communities: Vec<String>,
    /// Add these large communities.
    #[serde(default)]
    pub add_large_communities: Vec<String>,
    /// Remove the large communities matching these patterns.
    #[serde(default)]
    pub remove_large_communities: Vec<String>,
}

/// A policy configuration error; every variant names where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A term references a prefix list that is not defined.
    #[error("policy {policy:?} term {term}: unknown prefix list {name:?}")]
    UnknownPrefixList {
        /// The policy.
        policy: String,
        /// The term (name or 1-based index).
        term: String,
        /// The missing prefix list.
        name: String,
    },
    /// A neighbour references a policy that is not defined.
    #[error("unknown policy {0:?}")]
    UnknownPolicy(String),
    /// A prefix list entry does not parse.
    #[error("{place}: bad prefix list entry {entry:?}: {why}")]
    BadPrefixEntry {
        /// Where (prefix list name or policy/term).
        place: String,
        /// The entry.
        entry: String,
        /// Why.
        why: String,
    },
    /// A regular expression does not compile.
    #[error("policy {policy:?} term {term}: bad as_path regex: {why}")]
    BadRegex {
        /// The policy.
        policy: String,
        /// The term.
        term: String,
        /// The regex error.
        why: String,
    },
    /// A community, large community or pattern does not parse.
    #[error("policy {policy:?} term {term}: bad community {value:?}")]
    BadCommunity {
        /// The policy.
        policy: String,
        /// The term.
        term: String,
        /// The value.
        value: String,
    },
    /// A next hop is neither an address nor `self`.
    #[error("policy {policy:?} term {term}: bad next_hop {value:?} (an IP address or \"self\")")]
    BadNextHop {
        /// The policy.
        policy: String,
        /// The term.
        term: String,
        /// The value.
        value: String,
    },
    /// Something else about a term is wrong (family name, AS 0, ...).
    #[error("policy {policy:?} term {term}: {why}")]
    BadTerm {
        /// The policy.
        policy: String,
        /// The term.
        term: String,
        /// Why.
        why: String,
    },
}

impl PolicyError {
    /// The text as written in the configuration that the error is about (the prefix list
    /// entry, the unknown list or policy name, the community, the next hop), for finding
    /// its line; None for a regex or a term error, which name their policy instead.
    pub fn written(&self) -> Option<&str> {
        match self {
            PolicyError::UnknownPrefixList { name, .. } => Some(name),
            PolicyError::UnknownPolicy(name) => Some(name),
            PolicyError::BadPrefixEntry { entry, .. } => Some(entry),
            PolicyError::BadCommunity { value, .. } | PolicyError::BadNextHop { value, .. } => {
                Some(value)
            }
            PolicyError::BadRegex { .. } | PolicyError::BadTerm { .. } => None,
        }
    }

    /// The policy the error is in, when it is in one (not a prefix list entry).
    pub fn policy(&self) -> Option<&str> {
        match self {
            PolicyError::UnknownPrefixList { policy, .. }
            | PolicyError::BadRegex { policy, .. }
            | PolicyError::BadCommunity { policy, .. }
            | PolicyError::BadNextHop { policy, .. }
            | PolicyError::BadTerm { policy, .. } => Some(policy),
            PolicyError::UnknownPolicy(_) | PolicyError::BadPrefixEntry { .. } => None,
        }
    }
}

/// A [`PolicyError`] and where it is: the path of the value it is about in the daemon's
/// configuration (`policy.prefix_lists.customers[1]`,
/// `policy.policies.in.terms[0].match.as_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFault {
    /// The field path (table keys as written, without quotes; array indexes 0-based).
    pub path: String,
    /// What is wrong.
    pub error: PolicyError,
}

impl PolicyConfig {
    /// Checks everything and builds the evaluators. Errors: the first problem
    /// ([`PolicyConfig::check`] gives them all).
    pub fn compile(&self) -> Result<Policies, PolicyError> {
        Policies::compile_all(self).map_err(|mut faults| faults.swap_remove(0).error)
    }

    /// Every problem [`PolicyConfig::compile`] finds, each with the path of its value, in
    /// the order of the prefix lists, then the policies and their terms (by name, then in
    /// order); empty when it compiles.
    pub fn check(&self) -> Vec<PolicyFault> {
        Policies::compile_all(self).err().unwrap_or_default()
    }

    /// Whether a policy of this name is defined.
    pub fn has_policy(&self, name: &str) -> bool {
        self.policies.contains_key(name)
    }
}
