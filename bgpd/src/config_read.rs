//! Reading a configuration past the errors toml reports one at a time, so that
//! `--check-config` lists every error of a file: each field toml cannot read is reported,
//! then left out of the document (its default applies, or a stand-in when the field is
//! required) and the reading starts again. The fields left out are returned, so that no
//! check reports a problem with a default or a stand-in, or with a field derived from one.

use super::{Config, ConfigError};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// At most this many fields are left out before the reading gives up (each reading of the
/// document is a pass over it).
const MAX_UNREAD: usize = 100;

/// What [`read`] gives: the configuration (with stand-ins for what could not be read), the
/// errors toml reported, and the paths of the fields it could not read.
pub(super) struct Read {
    /// The configuration, when the document could be read at all (not after a TOML syntax
    /// error, or an error no field can be left out for).
    pub config: Option<Config>,
    /// toml's errors, one per field, in the order found.
    pub errors: Vec<ConfigError>,
    /// The paths (`neighbor[0].hold_time`, `network[1].prefix`) of the fields left out.
    pub unread: BTreeSet<String>,
}

/// Whether `path` is one of `paths` or lies in one (`neighbor[0].address` in `neighbor[0]`).
pub(super) fn is_within(paths: &BTreeSet<String>, path: &str) -> bool {
    paths.iter().any(|u| {
        path == u
            || path
                .strip_prefix(u.as_str())
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    })
}

/// Reads `src` into a [`Config`], going past each field toml cannot read; `error` turns a
/// toml error into the error reported for it.
pub(super) fn read(src: &str, error: impl Fn(&toml::de::Error) -> ConfigError) -> Read {
    let mut out = Read {
        config: None,
        errors: Vec::new(),
        unread: BTreeSet::new(),
    };
    let mut doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            // A syntax error: nothing after it can be read.
            out.errors.push(error(&e));
            return out;
        }
    };
    for _ in 0..=MAX_UNREAD {
        let e = match Config::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(config) => {
                out.config = Some(config);
                return out;
            }
            Err(e) => e,
        };
        let Some(span) = e.span() else {
            out.errors.push(error(&e));
            return out;
        };
        let missing = e
            .message()
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
            .map(str::to_string);
        match missing {
            Some(name) => {
                // The span is the table the field is missing from.
                let table = table_with_span(&doc, &span).unwrap_or_default();
                let path = join(&path_text(&table), &name);
                if !out.unread.contains(&path) {
                    // Left out by the operator, not by us after an error.
                    out.errors.push(error(&e));
                }
                out.unread.insert(path);
                let Some(value) = stand_in(&name) else {
                    return out;
                };
                let Some(t) = table_mut(&mut doc, &table) else {
                    return out;
                };
                t.insert(Spanned::new(0..0, Cow::Owned(name)), value);
            }
            None => {
                out.errors.push(error(&e));
                // The innermost key at the error, and the key holding it.
                let mut at = path_at(&doc, span.start);
                if let Some(done) = drop_family(&mut doc, &at, &span, &mut out.unread) {
                    if done {
                        continue;
                    }
                    return out;
                }
                if let Some(done) = blank_policy_string(&mut doc, &at, &mut out.unread) {
                    if done {
                        continue;
                    }
                    return out;
                }
                while matches!(at.last(), Some(Seg::Index(_))) {
                    at.pop();
                }
                let Some(Seg::Key(key)) = at.pop() else {
                    return out;
                };
                let path = join(&path_text(&at), &key);
                if !out.unread.insert(path) {
                    // Left out already, and still an error: no way forward.
                    return out;
                }
                let Some(t) = table_mut(&mut doc, &at) else {
                    return out;
                };
                if t.remove(key.as_str()).is_none() {
                    return out;
                }
            }
        }
    }
    out
}

/// When the error is at an element of a list of strings in `[policy]` (a prefix list, a
/// term's `prefixes` or communities) that is not a string: that element alone is left out,
/// an empty string standing in for it, so that the list's other entries are still checked
/// (every policy check names the element it is about, and nothing is said about one left
/// out). Some(true) when done, Some(false) when it was left out already (no way forward),
/// None when the error is elsewhere.
fn blank_policy_string(
    doc: &mut Spanned<DeTable<'_>>,
    at: &[Seg],
    unread: &mut BTreeSet<String>,
) -> Option<bool> {
    let (Some(Seg::Key(first)), Some(Seg::Index(j))) = (at.first(), at.last()) else {
        return None;
    };
    let [holder @ .., Seg::Key(key), Seg::Index(_)] = at else {
        return None;
    };
    if first != "policy" {
        return None;
    }
    let table = table_mut(doc, holder)?;
    let DeValue::Array(list) = table.get_mut(key.as_str())?.get_mut() else {
        return None;
    };
    let strings = list
        .iter()
        .enumerate()
        .all(|(i, v)| i == *j || matches!(v.get_ref(), DeValue::String(_)));
    if !strings {
        // Not a list of strings: the whole key is left out, the usual way.
        return None;
    }
    if !unread.insert(path_text(at)) {
        return Some(false);
    }
    *list.get_mut(*j)? = Spanned::new(0..0, DeValue::String(Cow::Borrowed("")));
    Some(true)
}

/// When the error is at an entry of a neighbour's `families`: that entry alone is left
/// out (removed from the list), so that the other entries are still read and each bad one
/// is reported; the whole `families` counts as unread (no check of the list as a whole).
/// Some(true) when done, Some(false) when left out already, None when the error is
/// elsewhere.
fn drop_family(
    doc: &mut Spanned<DeTable<'_>>,
    at: &[Seg],
    span: &Range<usize>,
    unread: &mut BTreeSet<String>,
) -> Option<bool> {
    let [Seg::Key(n), Seg::Index(_), Seg::Key(key), Seg::Index(j)] = at else {
        return None;
    };
    if n != "neighbor" || key != "families" {
        return None;
    }
    let list_path = path_text(&at[..3]);
    // Entries are removed, so indexes shift: an entry is known by where it is written.
    if !unread.insert(format!("{list_path}@{}", span.start)) {
        return Some(false);
    }
    unread.insert(list_path);
    let table = table_mut(doc, &at[..2])?;
    let DeValue::Array(list) = table.get_mut(key.as_str())?.get_mut() else {
        return None;
    };
    if *j >= list.len() {
        return None;
    }
    let kept = list
        .iter()
        .enumerate()
        .filter(|(i, _)| i != j)
        .map(|(_, v)| v.clone())
        .collect();
    *list = kept;
    Some(true)
}

/// One step of a path: a key of a table or an index of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `neighbor[1].address` for [Key(neighbor), Index(1), Key(address)].
fn path_text(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// The innermost key or array element written at byte `offset` (its key, or its value).
/// A table's span is its header only (`[[neighbor]]`), an array of tables' its first
/// header: every entry is searched, whatever the span of what holds it.
fn path_at(doc: &Spanned<DeTable<'_>>, offset: usize) -> Vec<Seg> {
    fn in_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<Seg>) -> bool {
        match v.get_ref() {
            DeValue::Table(t) => in_table(t, offset, path),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if in_value(e, offset, path) || e.span().contains(&offset) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            _ => false,
        }
    }
    fn in_table(t: &DeTable<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
        for (k, v) in t.iter() {
            path.push(Seg::Key(k.get_ref().to_string()));
            if in_value(v, offset, path) || k.span().contains(&offset) || v.span().contains(&offset)
            {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    if in_table(doc.get_ref(), offset, &mut path) {
        path
    } else {
        Vec::new()
    }
}

/// The path of the table whose span is `span` (toml gives a missing field's table by its
/// span); None when no table has it (the top level's span may differ from the file's).
fn table_with_span(doc: &Spanned<DeTable<'_>>, span: &Range<usize>) -> Option<Vec<Seg>> {
    fn walk(v: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Seg>) -> bool {
        match v.get_ref() {
            DeValue::Table(t) => {
                if v.span() == *span {
                    return true;
                }
                for (k, v) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    if walk(v, span, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if walk(e, span, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            _ => false,
        }
    }
    let mut path = Vec::new();
    for (k, v) in doc.get_ref().iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        if walk(v, span, &mut path) {
            return Some(path);
        }
        path.pop();
    }
    None
}

/// The table at `path` (the top level for an empty path).
fn table_mut<'d, 'i>(
    doc: &'d mut Spanned<DeTable<'i>>,
    path: &[Seg],
) -> Option<&'d mut DeTable<'i>> {
    let mut table = doc.get_mut();
    let mut i = 0;
    while i < path.len() {
        let Seg::Key(k) = &path[i] else {
            return None;
        };
        let mut value = table.get_mut(k.as_str())?.get_mut();
        i += 1;
        while let Some(Seg::Index(n)) = path.get(i) {
            let DeValue::Array(a) = value else {
                return None;
            };
            value = a.get_mut(*n)?.get_mut();
            i += 1;
        }
        let DeValue::Table(t) = value else {
            return None;
        };
        table = t;
    }
    Some(table)
}

/// A valid value standing in for required field `name` that is missing or could not be
/// read, so that the rest of the document can be read and checked; None for a field that
/// has none (the reading stops there). Every check skips the fields that hold one.
fn stand_in(name: &str) -> Option<Spanned<DeValue<'static>>> {
    let assignment: &'static str = match name {
        "router_id" => "v = \"0.0.0.1\"",
        "local_as" | "remote_as" => "v = 64512",
        "address" => "v = \"192.0.2.255\"",
        "prefix" => "v = \"192.0.2.0/24\"",
        "role" => "v = \"primary\"",
        "node_id" => "v = 1",
        "cert" | "key" | "ca" => "v = \"-\"",
        _ => return None,
    };
    let value = DeTable::parse(assignment)
        .ok()?
        .into_inner()
        .remove("v")?
        .into_inner();
    // An empty span: no error offset falls in it.
    Some(Spanned::new(0..0, value))
}
