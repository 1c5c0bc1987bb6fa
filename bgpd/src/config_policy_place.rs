//! Where a policy problem is written (`[policy]`), for the one form of every configuration
//! error (`FIELD = VALUE (line N): message`): the value at the problem's path when the scan
//! of values finds it, else the line inside the policy's tables that writes the value (a
//! `[policy.policies.NAME.terms.match]` table under an array of tables, which that scan does
//! not follow).

use super::{enclosing_line, locate_section, rendered, Config, ConfigError};
use crate::policy::{PolicyConfig, PolicyError};

/// The message of a policy problem: the error's own text, and for a reference to an unknown
/// prefix list the lists there are.
pub(super) fn message(policy: &PolicyConfig, e: &PolicyError) -> String {
    match e {
        PolicyError::UnknownPrefixList {
            policy: p,
            term,
            name,
        } => {
            let known: Vec<&str> = policy.prefix_lists.keys().map(String::as_str).collect();
            format!(
                "unknown prefix list {name:?} (policy {p:?} term {term}); [policy.prefix_lists] \
                 defines {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        }
        other => other.to_string(),
    }
}

/// The error at policy path `field` (`policy.policies.in.terms[1].match.prefix_list`) that the
/// scan of values did not find: the first line of the tables of its policy (or of
/// `[policy.prefix_lists]`) writing its value as a string in either quote style, else the
/// line of the table holding it.
pub(super) fn locate(src: &str, cfg: &Config, field: String, message: String) -> ConfigError {
    let value = configured_value(&cfg.policy, &field);
    // The tables the value is written in: its policy's, or the prefix lists.
    let area = match field.strip_prefix("policy.policies.") {
        Some(rest) => format!(
            "policy.policies.{}",
            rest.split(".terms[").next().unwrap_or(rest)
        ),
        None => "policy.prefix_lists".to_string(),
    };
    let mut inside = false;
    let mut line = None;
    for (i, l) in src.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            let header = t.trim_start_matches('[').trim_end_matches(']').trim();
            inside = header == area || header.starts_with(&format!("{area}."));
            continue;
        }
        let Some(v) = &value else { break };
        let quoted = [format!("\"{v}\""), format!("'{v}'")];
        if inside && quoted.iter().any(|q| t.contains(q.as_str())) {
            line = Some(i + 1);
            break;
        }
    }
    let line = line.or_else(|| {
        enclosing_line(src, &field)
            .or_else(|| locate_section(src, &field))
            .or_else(|| {
                let header = format!("[{area}]");
                src.lines().position(|l| l.trim() == header).map(|i| i + 1)
            })
    });
    ConfigError::Invalid {
        value: value
            .filter(|_| line.is_some())
            .map(|v| rendered(&toml::Value::String(v).to_string())),
        line,
        field,
        message,
    }
}

/// The string configured at policy path `path` (`policy.prefix_lists.NAME[J]`,
/// `policy.policies.NAME.terms[I].match.KEY`, `...set.KEY[J]`), when it holds one.
fn configured_value(policy: &PolicyConfig, path: &str) -> Option<String> {
    /// `name[3]` -> (`name`, Some(3)).
    fn indexed(s: &str) -> (&str, Option<usize>) {
        match s.strip_suffix(']').and_then(|r| r.rsplit_once('[')) {
            Some((name, i)) => (name, i.parse().ok()),
            None => (s, None),
        }
    }
    if let Some(rest) = path.strip_prefix("policy.prefix_lists.") {
        let (name, j) = indexed(rest);
        return policy.prefix_lists.get(name)?.get(j?).cloned();
    }
    let rest = path.strip_prefix("policy.policies.")?;
    let (name, rest) = rest.split_once(".terms[")?;
    let (i, key) = rest.split_once("].")?;
    let t = policy
        .policies
        .get(name)?
        .terms
        .get(i.parse::<usize>().ok()?)?;
    let (key, j) = indexed(key);
    let (m, s) = (&t.matches, &t.set);
    let list = |v: &Vec<String>| j.and_then(|j| v.get(j).cloned());
    match key {
        "match.prefix_list" => m.prefix_list.clone(),
        "match.family" => m.family.clone(),
        "match.as_path" => m.as_path.clone(),
        "match.prefixes" => list(&m.prefixes),
        "match.community" => list(&m.community),
        "match.community_all" => list(&m.community_all),
        "match.large_community" => list(&m.large_community),
        "match.large_community_all" => list(&m.large_community_all),
        "set.next_hop" => s.next_hop.clone(),
        "set.add_communities" => list(&s.add_communities),
        "set.remove_communities" => list(&s.remove_communities),
        "set.add_large_communities" => list(&s.add_large_communities),
        "set.remove_large_communities" => list(&s.remove_large_communities),
        _ => None,
    }
}
