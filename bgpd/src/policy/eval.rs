//! Compiled policies and their evaluation.

use super::community::{CommunityPattern, LargeCommunityPattern};
use super::{PolicyAction, PolicyConfig, PolicyError, PolicyFault, TermDef};
use crate::wire::{
    AsPath, Asn, AttributeValue, Community, LargeCommunity, PathAttributes, Prefix, SegmentType,
};
use regex::Regex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

/// One prefix list entry: a prefix and the accepted length range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PrefixEntry {
    prefix: Prefix,
    ge: u8,
    le: u8,
}

impl PrefixEntry {
    fn parse(s: &str) -> Result<Self, String> {
        let mut it = s.split_whitespace();
        let prefix: Prefix = it
            .next()
            .ok_or("empty entry")?
            .parse()
            .map_err(|e| format!("{e}"))?;
        let width = match prefix {
            Prefix::V4(_) => 32u8,
            Prefix::V6(_) => 128u8,
        };
        let (mut ge, mut le) = (None, None);
        while let Some(k) = it.next() {
            let v: u8 = it
                .next()
                .ok_or_else(|| format!("{k} needs a length"))?
                .parse()
                .map_err(|_| format!("bad length after {k}"))?;
            match k {
                "ge" => ge = Some(v),
                "le" => le = Some(v),
                _ => return Err(format!("unknown keyword {k:?} (ge or le)")),
            }
        }
        let (lo, hi) = match (ge, le) {
            (None, None) => (prefix.len(), prefix.len()),
            (Some(g), None) => (g, width),
            (None, Some(l)) => (prefix.len(), l),
            (Some(g), Some(l)) => (g, l),
        };
        if lo < prefix.len() || hi > width || lo > hi {
            return Err(format!(
                "length range {lo}..={hi} must lie within {}..={width}",
                prefix.len()
            ));
        }
        Ok(PrefixEntry {
            prefix,
            ge: lo,
            le: hi,
        })
    }

    fn matches(&self, p: Prefix) -> bool {
        let inside = match (self.prefix, p) {
            (Prefix::V4(a), Prefix::V4(b)) => a.contains(&b),
            (Prefix::V6(a), Prefix::V6(b)) => a.contains(&b),
            _ => false,
        };
        inside && (self.ge..=self.le).contains(&p.len())
    }
}

/// What a policy says about the next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHopAction {
    /// Our own address on the session (next-hop-self).
    SelfAddress,
    /// This address (applies to routes of its family).
    Address(IpAddr),
}

#[derive(Debug, Default)]
struct Cond {
    prefix_list: Option<Arc<Vec<PrefixEntry>>>,
    prefixes: Vec<PrefixEntry>,
    family_v4: Option<bool>,
    as_path: Option<Regex>,
    contains: Option<Asn>,
    origin_as: Option<Asn>,
    neighbor_as: Option<Asn>,
    len_min: Option<u32>,
    len_max: Option<u32>,
    community_any: Vec<CommunityPattern>,
    community_all: Vec<CommunityPattern>,
    large_any: Vec<LargeCommunityPattern>,
    large_all: Vec<LargeCommunityPattern>,
}

impl Cond {
    fn is_empty(&self) -> bool {
        self.prefix_list.is_none()
            && self.prefixes.is_empty()
            && self.family_v4.is_none()
            && self.as_path.is_none()
            && self.contains.is_none()
            && self.origin_as.is_none()
            && self.neighbor_as.is_none()
            && self.len_min.is_none()
            && self.len_max.is_none()
            && self.community_any.is_empty()
            && self.community_all.is_empty()
            && self.large_any.is_empty()
            && self.large_all.is_empty()
    }

    fn prefix_dependent(&self) -> bool {
        self.prefix_list.is_some() || !self.prefixes.is_empty()
    }

    fn matches(&self, prefix: Prefix, a: &PathAttributes) -> bool {
        if let Some(l) = &self.prefix_list {
            if !l.iter().any(|e| e.matches(prefix)) {
                return false;
            }
        }
        if !self.prefixes.is_empty() && !self.prefixes.iter().any(|e| e.matches(prefix)) {
            return false;
        }
        if let Some(v4) = self.family_v4 {
            if matches!(prefix, Prefix::V4(_)) != v4 {
                return false;
            }
        }
        let empty = AsPath::empty();
        let path = a.as_path().unwrap_or(&empty);
        if let Some(re) = &self.as_path {
            if !re.is_match(&as_path_string(path)) {
                return false;
            }
        }
        if let Some(asn) = self.contains {
            if !path.contains(asn) {
                return false;
            }
        }
        if let Some(asn) = self.origin_as {
            if path.origin_asn() != Some(asn) {
                return false;
            }
        }
        if let Some(asn) = self.neighbor_as {
            if path.first_asn() != Some(asn) {
                return false;
            }
        }
        let len = path.route_selection_len() as u32;
        if self.len_min.is_some_and(|m| len < m) || self.len_max.is_some_and(|m| len > m) {
            return false;
        }
        let cs = a.communities();
        if !self.community_any.is_empty()
            && !self
                .community_any
                .iter()
                .any(|p| cs.iter().any(|c| p.matches(*c)))
        {
            return false;
        }
        if !self
            .community_all
            .iter()
            .all(|p| cs.iter().any(|c| p.matches(*c)))
        {
            return false;
        }
        let ls = a.large_communities();
        if !self.large_any.is_empty()
            && !self
                .large_any
                .iter()
                .any(|p| ls.iter().any(|c| p.matches(c)))
        {
            return false;
        }
        self.large_all
            .iter()
            .all(|p| ls.iter().any(|c| p.matches(c)))
    }
}

/// The AS path as text for regex matching: `64496 64497 {64498 64499}`; confederation
/// segments in `( )` (sequence) and `[ ]` (set).
pub fn as_path_string(p: &AsPath) -> String {
    let mut s = String::new();
    for seg in &p.segments {
        if !s.is_empty() {
            s.push(' ');
        }
        let (open, close) = match seg.kind {
            SegmentType::Sequence => ("", ""),
            SegmentType::Set => ("{", "}"),
            SegmentType::ConfedSequence => ("(", ")"),
            SegmentType::ConfedSet => ("[", "]"),
        };
        s.push_str(open);
        for (i, a) in seg.asns.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{}", a.0);
        }
        s.push_str(close);
    }
    s
}

#[derive(Debug, Default)]
struct Set {
    local_pref: Option<u32>,
    med: Option<u32>,
    next_hop: Option<NextHopAction>,
    prepend: u8,
    prepend_as: Vec<Asn>,
    add_communities: Vec<Community>,
    remove_communities: Vec<CommunityPattern>,
    add_large: Vec<LargeCommunity>,
    remove_large: Vec<LargeCommunityPattern>,
}

impl Set {
    fn is_empty(&self) -> bool {
        self.local_pref.is_none()
            && self.med.is_none()
            && self.next_hop.is_none()
            && self.prepend == 0
            && self.prepend_as.is_empty()
            && self.add_communities.is_empty()
            && self.remove_communities.is_empty()
            && self.add_large.is_empty()
            && self.remove_large.is_empty()
    }

    /// Applies the attribute modifications to `a`; next hop and MED-set are recorded in `v`.
    fn apply(&self, a: &mut PathAttributes, local_as: Asn, v: &mut Verdict) {
        if let Some(lp) = self.local_pref {
            a.set(AttributeValue::LocalPref(lp));
        }
        if let Some(med) = self.med {
            a.set(AttributeValue::MultiExitDisc(med));
            v.med_set = true;
        }
        if let Some(nh) = self.next_hop {
            v.next_hop = Some(nh);
        }
        if self.prepend > 0 || !self.prepend_as.is_empty() {
            let mut p = a.as_path().cloned().unwrap_or_default();
            for asn in self.prepend_as.iter().rev() {
                p.prepend(*asn);
            }
            for _ in 0..self.prepend {
                p.prepend(local_as);
            }
            a.set(AttributeValue::AsPath(p));
        }
        if !self.add_communities.is_empty() || !self.remove_communities.is_empty() {
            let mut cs: Vec<Community> = a
                .communities()
                .iter()
                .copied()
                .filter(|c| !self.remove_communities.iter().any(|p| p.matches(*c)))
                .collect();
            for c in &self.add_communities {
                if !cs.contains(c) {
                    cs.push(*c);
                }
            }
            if cs.is_empty() {
                // An empty COMMUNITIES attribute is malformed (RFC 7606 section 7.8).
                a.remove(crate::wire::type_code::COMMUNITIES);
            } else {
                a.set(AttributeValue::Communities(cs));
            }
        }
        if !self.add_large.is_empty() || !self.remove_large.is_empty() {
            let mut ls: Vec<LargeCommunity> = a
                .large_communities()
                .iter()
                .copied()
                .filter(|c| !self.remove_large.iter().any(|p| p.matches(c)))
                .collect();
            for c in &self.add_large {
                if !ls.contains(c) {
                    ls.push(*c);
                }
            }
            if ls.is_empty() {
                a.remove(crate::wire::type_code::LARGE_COMMUNITY);
            } else {
                a.set(AttributeValue::LargeCommunities(ls));
            }
        }
    }
}

#[derive(Debug)]
struct Term {
    cond: Cond,
    set: Set,
    action: PolicyAction,
}

/// One compiled policy.
#[derive(Debug)]
struct CompiledPolicy {
    terms: Vec<Term>,
    default: PolicyAction,
}

impl CompiledPolicy {
    fn trivially_accepts(&self) -> bool {
        match self.terms.first() {
            None => self.default == PolicyAction::Accept,
            Some(t) => t.cond.is_empty() && t.set.is_empty() && t.action == PolicyAction::Accept,
        }
    }
}

/// Compiled policies, by name.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    by_name: BTreeMap<String, Arc<CompiledPolicy>>,
    config: PolicyConfig,
}

/// The input of a policy evaluation: the route and who we are on that session.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// The route's prefix.
    pub prefix: Prefix,
    /// Its path attributes (AS_PATH already merged with AS4_PATH).
    pub attrs: &'a PathAttributes,
    /// Our AS on the session (what `prepend` prepends).
    pub local_as: Asn,
}

/// The result of a policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Accepted.
    pub accept: bool,
    /// The modified attributes, when a term changed them.
    pub attrs: Option<PathAttributes>,
    /// A term set MULTI_EXIT_DISC.
    pub med_set: bool,
    /// A term set the next hop.
    pub next_hop: Option<NextHopAction>,
}

/// The import or export policy list of one neighbour, ready to evaluate.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    policies: Vec<Arc<CompiledPolicy>>,
    prefix_dependent: bool,
    trivial_accept: bool,
}

impl Chain {
    /// No policy configured (RFC 8212: nothing is accepted from or sent to an external
    /// neighbour without one).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether the verdict can depend on the prefix (prefix lists); if not, one evaluation
    /// serves every prefix with the same attributes.
    pub fn prefix_dependent(&self) -> bool {
        self.prefix_dependent
    }

    /// Whether every route is accepted unchanged (the first policy's first term is an
    /// unconditional `accept` without modifications).
    pub fn trivially_accepts(&self) -> bool {
        self.trivial_accept
    }

    /// Evaluates the policies in order: in each, terms in order; a term whose conditions hold
    /// applies its modifications, then `accept`/`reject` end the evaluation and `next` goes
    /// on with the next term. A policy without a deciding term applies its default (`next`
    /// goes on with the next policy). Past the last policy the route is rejected.
    pub fn evaluate(&self, input: &RouteInput<'_>) -> Verdict {
        let mut v = Verdict::default();
        let mut cur: Option<PathAttributes> = None;
        for p in &self.policies {
            let mut decided = None;
            for t in &p.terms {
                let attrs = cur.as_ref().unwrap_or(input.attrs);
                if !t.cond.matches(input.prefix, attrs) {
                    continue;
                }
                if !t.set.is_empty() {
                    let a = cur.get_or_insert_with(|| input.attrs.clone());
                    t.set.apply(a, input.local_as, &mut v);
                }
                match t.action {
                    PolicyAction::Next => continue,
                    a => {
                        decided = Some(a);
                        break;
                    }
                }
            }
            match decided.unwrap_or(p.default) {
                PolicyAction::Accept => {
                    v.accept = true;
                    v.attrs = cur;
                    return v;
                }
                PolicyAction::Reject => return Verdict::default(),
                PolicyAction::Next => continue,
            }
        }
        Verdict::default()
    }
}

impl Policies {
    /// Compiles every prefix list and policy; every error, each with the path of the value
    /// it is about (a prefix list with a bad entry is kept without it, so that a term
    /// naming it is not also reported as naming an unknown list).
    pub(super) fn compile_all(config: &PolicyConfig) -> Result<Self, Vec<PolicyFault>> {
        let mut faults = Vec::new();
        let mut lists = BTreeMap::new();
        for (name, entries) in &config.prefix_lists {
            let mut v = Vec::with_capacity(entries.len());
            for (j, e) in entries.iter().enumerate() {
                match PrefixEntry::parse(e) {
                    Ok(entry) => v.push(entry),
                    Err(why) => faults.push(PolicyFault {
                        path: format!("policy.prefix_lists.{name}[{j}]"),
                        error: PolicyError::BadPrefixEntry {
                            place: format!("prefix list {name:?}"),
                            entry: e.clone(),
                            why,
                        },
                    }),
                }
            }
            lists.insert(name.clone(), Arc::new(v));
        }
        let mut by_name = BTreeMap::new();
        for (name, def) in &config.policies {
            let mut terms = Vec::with_capacity(def.terms.len());
            for (i, t) in def.terms.iter().enumerate() {
                if let Some(term) = compile_term(name, i, t, &lists, &mut faults) {
                    terms.push(term);
                }
            }
            by_name.insert(
                name.clone(),
                Arc::new(CompiledPolicy {
                    terms,
                    default: def.default,
                }),
            );
        }
        if !faults.is_empty() {
            return Err(faults);
        }
        Ok(Policies {
            by_name,
            config: config.clone(),
        })
    }

    /// The configuration these were compiled from.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The chain of the named policies, in order; an unknown name is an error.
    pub fn chain(&self, names: &[String]) -> Result<Chain, PolicyError> {
        let mut policies = Vec::with_capacity(names.len());
        for n in names {
            policies.push(
                self.by_name
                    .get(n)
                    .cloned()
                    .ok_or_else(|| PolicyError::UnknownPolicy(n.clone()))?,
            );
        }
        let prefix_dependent = policies
            .iter()
            .any(|p| p.terms.iter().any(|t| t.cond.prefix_dependent()));
        let trivial_accept = policies.first().is_some_and(|p| p.trivially_accepts());
        Ok(Chain {
            policies,
            prefix_dependent,
            trivial_accept,
        })
    }
}

/// Compiles one term (`index`, 0-based, of `policy`); None when something in it is wrong,
/// each problem pushed to `faults` with the path of its value.
fn compile_term(
    policy: &str,
    index: usize,
    t: &TermDef,
    lists: &BTreeMap<String, Arc<Vec<PrefixEntry>>>,
    faults: &mut Vec<PolicyFault>,
) -> Option<Term> {
    let term = t.name.clone().unwrap_or_else(|| format!("#{}", index + 1));
    let before = faults.len();
    let path = |field: &str| format!("policy.policies.{policy}.terms[{index}].{field}");
    let mut fault = |field: String, error: PolicyError| {
        faults.push(PolicyFault { path: field, error });
    };
    let bad_term = |why: String| PolicyError::BadTerm {
        policy: policy.to_string(),
        term: term.clone(),
        why,
    };
    let bad_comm = |value: &str| PolicyError::BadCommunity {
        policy: policy.to_string(),
        term: term.clone(),
        value: value.to_string(),
    };
    let m = &t.matches;
    let mut cond = Cond::default();
    if let Some(n) = &m.prefix_list {
        match lists.get(n) {
            Some(list) => cond.prefix_list = Some(list.clone()),
            None => fault(
                path("match.prefix_list"),
                PolicyError::UnknownPrefixList {
                    policy: policy.to_string(),
                    term: term.clone(),
                    name: n.clone(),
                },
            ),
        }
    }
    for (j, e) in m.prefixes.iter().enumerate() {
        match PrefixEntry::parse(e) {
            Ok(entry) => cond.prefixes.push(entry),
            Err(why) => fault(
                path(&format!("match.prefixes[{j}]")),
                PolicyError::BadPrefixEntry {
                    place: format!("policy {policy:?} term {term}"),
                    entry: e.clone(),
                    why,
                },
            ),
        }
    }
    cond.family_v4 = match m.family.as_deref() {
        None => None,
        Some("ipv4") => Some(true),
        Some("ipv6") => Some(false),
        Some(f) => {
            fault(
                path("match.family"),
                bad_term(format!("family {f:?} is not ipv4 or ipv6")),
            );
            None
        }
    };
    if let Some(re) = &m.as_path {
        match Regex::new(re) {
            Ok(re) => cond.as_path = Some(re),
            Err(e) => fault(
                path("match.as_path"),
                PolicyError::BadRegex {
                    policy: policy.to_string(),
                    term: term.clone(),
                    why: regex_error_in_one_line(&e),
                },
            ),
        }
    }
    cond.contains = m.as_path_contains.map(Asn);
    cond.origin_as = m.origin_as.map(Asn);
    cond.neighbor_as = m.neighbor_as.map(Asn);
    cond.len_min = m.as_path_len_min;
    cond.len_max = m.as_path_len_max;
    // Each list of communities: the parsed ones, a fault for each that does not parse.
    let mut each = |field: &str, v: &[String], parse: &dyn Fn(&str) -> bool| {
        for (j, s) in v.iter().enumerate() {
            if !parse(s) {
                fault(path(&format!("{field}[{j}]")), bad_comm(s));
            }
        }
    };
    let pattern = |s: &str| CommunityPattern::parse(s).is_some();
    let large_pattern = |s: &str| LargeCommunityPattern::parse(s).is_some();
    let exact = |s: &str| CommunityPattern::parse(s).and_then(|p| p.exact()).is_some();
    let exact_large = |s: &str| {
        LargeCommunityPattern::parse(s)
            .and_then(|p| p.exact())
            .is_some()
    };
    let s = &t.set;
    each("match.community", &m.community, &pattern);
    each("match.community_all", &m.community_all, &pattern);
    each("match.large_community", &m.large_community, &large_pattern);
    each(
        "match.large_community_all",
        &m.large_community_all,
        &large_pattern,
    );
    each("set.add_communities", &s.add_communities, &exact);
    each("set.remove_communities", &s.remove_communities, &pattern);
    each(
        "set.add_large_communities",
        &s.add_large_communities,
        &exact_large,
    );
    each(
        "set.remove_large_communities",
        &s.remove_large_communities,
        &large_pattern,
    );
    let next_hop = match s.next_hop.as_deref() {
        None => None,
        Some("self") => Some(NextHopAction::SelfAddress),
        Some(a) => match a.parse::<IpAddr>() {
            Ok(a) => Some(NextHopAction::Address(a)),
            Err(_) => {
                fault(
                    path("set.next_hop"),
                    PolicyError::BadNextHop {
                        policy: policy.to_string(),
                        term: term.clone(),
                        value: a.to_string(),
                    },
                );
                None
            }
        },
    };
    if let Some(j) = s.prepend_as.iter().position(|a| *a == 0) {
        fault(
            path(&format!("set.prepend_as[{j}]")),
            bad_term("prepend_as contains AS 0 (RFC 7607)".into()),
        );
    }
    if faults.len() > before {
        return None;
    }
    // Every value parses (checked above).
    let comms = |v: &[String]| -> Vec<CommunityPattern> {
        v.iter()
            .filter_map(|s| CommunityPattern::parse(s))
            .collect()
    };
    let larges = |v: &[String]| -> Vec<LargeCommunityPattern> {
        v.iter()
            .filter_map(|s| LargeCommunityPattern::parse(s))
            .collect()
    };
    cond.community_any = comms(&m.community);
    cond.community_all = comms(&m.community_all);
    cond.large_any = larges(&m.large_community);
    cond.large_all = larges(&m.large_community_all);
    let set = Set {
        local_pref: s.local_pref,
        med: s.med,
        next_hop,
        prepend: s.prepend.unwrap_or(0),
        prepend_as: s.prepend_as.iter().copied().map(Asn).collect(),
        add_communities: comms(&s.add_communities)
            .into_iter()
            .filter_map(|p| p.exact())
            .collect(),
        remove_communities: comms(&s.remove_communities),
        add_large: larges(&s.add_large_communities)
            .into_iter()
            .filter_map(|p| p.exact())
            .collect(),
        remove_large: larges(&s.remove_large_communities),
    };
    Some(Term {
        cond,
        set,
        action: t.action,
    })
}

/// A regex error in one line: the `regex` crate's syntax errors span several lines (the
/// pattern, a caret under the place, then `error: WHAT`); the last says what is wrong.
fn regex_error_in_one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}
