//! Community (RFC 1997) and large community (RFC 8092) values and patterns in text form.

use crate::wire::{Community, LargeCommunity};

/// A community pattern: `high:low` where either half may be `*`; well-known names
/// (`no-export`, `no-advertise`, `no-export-subconfed`, `blackhole`, `graceful-shutdown`,
/// `llgr-stale`, `no-llgr`) stand for their exact values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommunityPattern {
    /// The high 16 bits, or any.
    pub high: Option<u16>,
    /// The low 16 bits, or any.
    pub low: Option<u16>,
}

impl CommunityPattern {
    /// Parses a pattern.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(c) = well_known(s) {
            return Some(CommunityPattern {
                high: Some((c.0 >> 16) as u16),
                low: Some((c.0 & 0xffff) as u16),
            });
        }
        let (h, l) = s.trim().split_once(':')?;
        let part = |p: &str| -> Option<Option<u16>> {
            if p == "*" {
                Some(None)
            } else {
                p.parse::<u16>().ok().map(Some)
            }
        };
        Some(CommunityPattern {
            high: part(h)?,
            low: part(l)?,
        })
    }

    /// The exact community, when there is no wildcard.
    pub fn exact(&self) -> Option<Community> {
        Some(Community(
            (u32::from(self.high?) << 16) | u32::from(self.low?),
        ))
    }

    /// Whether `c` matches.
    pub fn matches(&self, c: Community) -> bool {
        self.high.is_none_or(|h| u32::from(h) == c.0 >> 16)
            && self.low.is_none_or(|l| u32::from(l) == c.0 & 0xffff)
    }
}

fn well_known(s: &str) -> Option<Community> {
    Some(match s.trim() {
        "no-export" => Community::NO_EXPORT,
        "no-advertise" => Community::NO_ADVERTISE,
        "no-export-subconfed" => Community::NO_EXPORT_SUBCONFED,
        "blackhole" => Community::BLACKHOLE,
        "graceful-shutdown" => Community::GRACEFUL_SHUTDOWN,
        "llgr-stale" => Community::LLGR_STALE,
        "no-llgr" => Community::NO_LLGR,
        _ => return None,
    })
}

/// A large community pattern `global:local1:local2`, `*` allowed in each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeCommunityPattern {
    /// Global Administrator, or any.
    pub global_admin: Option<u32>,
    /// Local Data Part 1, or any.
    pub local_data_1: Option<u32>,
    /// Local Data Part 2, or any.
    pub local_data_2: Option<u32>,
}

impl LargeCommunityPattern {
    /// Parses a pattern.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split(':');
        let mut part = || -> Option<Option<u32>> {
            let p = it.next()?;
            if p == "*" {
                Some(None)
            } else {
                p.parse::<u32>().ok().map(Some)
            }
        };
        let (a, b, c) = (part()?, part()?, part()?);
        if it.next().is_some() {
            return None;
        }
        Some(LargeCommunityPattern {
            global_admin: a,
            local_data_1: b,
            local_data_2: c,
        })
    }

    /// The exact value, when there is no wildcard.
    pub fn exact(&self) -> Option<LargeCommunity> {
        Some(LargeCommunity {
            global_admin: self.global_admin?,
            local_data_1: self.local_data_1?,
            local_data_2: self.local_data_2?,
        })
    }

    /// Whether `c` matches.
    pub fn matches(&self, c: &LargeCommunity) -> bool {
        self.global_admin.is_none_or(|v| v == c.global_admin)
            && self.local_data_1.is_none_or(|v| v == c.local_data_1)
            && self.local_data_2.is_none_or(|v| v == c.local_data_2)
    }
}
