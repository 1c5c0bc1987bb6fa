//! AS_PATH (type 2, RFC 4271 section 5.1.2) and AS4_PATH (type 17, RFC 6793), and the RFC 6793
//! section 4.2.3 reconstruction of the path from both.
//!
//! Each segment:
//! ```text
//! +---------------+---------------+--------------------------------+
//! | Segment Type  | Segment Length| Segment Value (Length ASNs of  |
//! |   (1 octet)   | (1 octet, #AS)|  2 or 4 octets each)           |
//! +---------------+---------------+--------------------------------+
//! ```

use super::Malformed;
use crate::wire::types::Asn;
use serde::Serialize;

/// The AS_PATH segment types (RFC 4271 section 4.3, RFC 5065 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentType {
    /// AS_SET (1): unordered set of ASes a route in the UPDATE has traversed.
    Set,
    /// AS_SEQUENCE (2): ordered set of ASes.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065).
    ConfedSequence,
    /// AS_CONFED_SET (4, RFC 5065).
    ConfedSet,
}

impl SegmentType {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }

    /// The type for a wire value; `None` for unrecognized segment types.
    pub fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    /// Whether this is a confederation segment (RFC 5065).
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment. On the wire a segment holds 1..=255 ASNs; longer sequences are split
/// into several segments when encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AsSegment {
    /// The segment type.
    #[serde(rename = "type")]
    pub kind: SegmentType,
    /// The ASNs, in order.
    pub asns: Vec<Asn>,
}

/// An AS_PATH (or AS4_PATH) value: a list of segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct AsPath {
    /// The segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An empty path (what an originating speaker sends to internal peers).
    pub fn empty() -> Self {
        AsPath {
            segments: Vec::new(),
        }
    }

    /// A path of one AS_SEQUENCE.
    pub fn sequence(asns: impl IntoIterator<Item = Asn>) -> Self {
        let asns: Vec<Asn> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::empty();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Whether a segment is AS_CONFED_SEQUENCE or AS_CONFED_SET (RFC 5065 section 3): segments
    /// only members of one confederation exchange.
    pub fn has_confed_segment(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet))
    }

    /// Whether the path has no ASN at all.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// The path length for route selection (RFC 4271 section 9.1.2.2 a): an AS_SET counts 1,
    /// confederation segments count 0 (RFC 5065 section 5.3).
    pub fn route_selection_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The number of ASNs counted the RFC 6793 section 4.2.3 way (AS_SET counts 1,
    /// confederation segments count 0): same as [`AsPath::route_selection_len`].
    pub fn rfc6793_len(&self) -> usize {
        self.route_selection_len()
    }

    /// The leftmost ASN of the first AS_SEQUENCE, when the path starts with one (the neighbour AS).
    pub fn first_asn(&self) -> Option<Asn> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.first().copied(),
            _ => None,
        }
    }

    /// The rightmost ASN of the last AS_SEQUENCE (the origin AS), if the path ends in one.
    pub fn origin_asn(&self) -> Option<Asn> {
        match self.segments.last() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether `asn` appears anywhere in the path (loop detection, RFC 4271 section 9.1.2).
    pub fn contains(&self, asn: Asn) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Every ASN of every segment, in order.
    pub fn asns(&self) -> impl Iterator<Item = Asn> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// Prepends `asn` to the path (RFC 4271 section 5.1.2 b): into the leading AS_SEQUENCE when
    /// there is room, otherwise as a new AS_SEQUENCE segment.
    pub fn prepend(&mut self, asn: Asn) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, asn)
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn],
                },
            ),
        }
    }

    /// Whether any ASN does not fit 2 octets (the 2-octet encoding needs AS_TRANS and AS4_PATH).
    pub fn needs_four_octets(&self) -> bool {
        self.asns().any(|a| !a.is_two_octet())
    }

    /// The path without its confederation segments (RFC 5065 section 5.3, and what AS4_PATH
    /// carries: RFC 6793 section 4.2.2).
    pub fn without_confed(&self) -> AsPath {
        AsPath {
            segments: self
                .segments
                .iter()
                .filter(|s| !s.kind.is_confed())
                .cloned()
                .collect(),
        }
    }

    /// RFC 6793 section 4.2.3: the AS path of a route received from an OLD (2-octet) speaker,
    /// rebuilt from its AS_PATH (`self`) and AS4_PATH.
    ///
    /// "If the number of AS numbers in the AS_PATH attribute is less than the number of AS
    /// numbers in the AS4_PATH attribute, then the AS4_PATH attribute SHALL be ignored, and the
    /// AS_PATH attribute SHALL be taken as the AS path information." Otherwise the leading
    /// `len(AS_PATH) - len(AS4_PATH)` ASNs of AS_PATH are kept and AS4_PATH appended.
    pub fn merge_as4(&self, as4_path: &AsPath) -> AsPath {
        let n_as = self.rfc6793_len();
        let n_as4 = as4_path.rfc6793_len();
        if n_as < n_as4 {
            return self.clone();
        }
        let mut keep = n_as - n_as4;
        let mut out = AsPath::empty();
        for seg in &self.segments {
            if keep == 0 && !seg.kind.is_confed() {
                break;
            }
            match seg.kind {
                // Confederation segments count 0 and stay in place (they precede the AS4 part).
                SegmentType::ConfedSequence | SegmentType::ConfedSet => {
                    out.segments.push(seg.clone())
                }
                SegmentType::Set => {
                    out.segments.push(seg.clone());
                    keep -= 1;
                }
                SegmentType::Sequence => {
                    let take = keep.min(seg.asns.len());
                    out.segments.push(AsSegment {
                        kind: SegmentType::Sequence,
                        asns: seg.asns[..take].to_vec(),
                    });
                    keep -= take;
                }
            }
        }
        for seg in &as4_path.segments {
            match (out.segments.last_mut(), seg.kind) {
                (Some(last), SegmentType::Sequence)
                    if last.kind == SegmentType::Sequence
                        && last.asns.len() + seg.asns.len() <= 255 =>
                {
                    last.asns.extend_from_slice(&seg.asns)
                }
                _ => out.segments.push(seg.clone()),
            }
        }
        out
    }
}

/// Decodes an AS_PATH/AS4_PATH value with 2- or 4-octet ASNs (RFC 7606 section 7.2: malformed
/// when a segment type is unrecognized, a segment length is zero, or a segment overruns).
pub(crate) fn decode(value: &[u8], four_octet: bool) -> Result<AsPath, Malformed> {
    let mut segments = Vec::with_capacity(1);
    for_each_segment(value, four_octet, |kind, body| {
        let asns: Vec<Asn> = if four_octet {
            body.chunks_exact(4)
                .map(|c| Asn(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        } else {
            body.chunks_exact(2)
                .map(|c| Asn(u32::from(u16::from_be_bytes([c[0], c[1]]))))
                .collect()
        };
        segments.push(AsSegment { kind, asns });
    })?;
    Ok(AsPath { segments })
}

/// Walks the segments of an AS_PATH/AS4_PATH value: `f` gets each segment's type and its
/// ASN octets (a whole number of 2- or 4-octet ASNs, at least one). The one segment reader:
/// [`decode`] and the in-place view of a 4-octet AS_PATH ([`summary`]) both use it, so they
/// find the same malformations (RFC 7606 section 7.2).
#[inline]
pub(crate) fn for_each_segment(
    value: &[u8],
    four_octet: bool,
    mut f: impl FnMut(SegmentType, &[u8]),
) -> Result<(), Malformed> {
    let width = if four_octet { 4 } else { 2 };
    let mut rest = value;
    while !rest.is_empty() {
        let [t, n, ..] = *rest else {
            return Err(Malformed::withdraw("AS_PATH segment header truncated"));
        };
        let kind = SegmentType::from_code(t)
            .ok_or(Malformed::withdraw("AS_PATH segment type unrecognized"))?;
        if n == 0 {
            return Err(Malformed::withdraw("AS_PATH segment length zero"));
        }
        let body_len = usize::from(n) * width;
        let Some(body) = rest.get(2..2 + body_len) else {
            return Err(Malformed::withdraw(
                "AS_PATH segment overruns the attribute",
            ));
        };
        f(kind, body);
        rest = &rest[2 + body_len..];
    }
    Ok(())
}

/// What route selection needs of a 4-octet AS_PATH value, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PathSummary {
    /// [`AsPath::route_selection_len`].
    pub selection_len: usize,
    /// [`AsPath::first_asn`].
    pub first_asn: Option<Asn>,
    /// Whether an ASN is 0 (RFC 7607 section 2).
    pub has_as0: bool,
    /// Whether a segment is AS_CONFED_SEQUENCE or AS_CONFED_SET (RFC 5065 section 3).
    pub has_confed: bool,
}

/// The [`PathSummary`] of a 4-octet AS_PATH value; errors as [`decode`].
pub(crate) fn summary(value: &[u8]) -> Result<PathSummary, Malformed> {
    let mut s = PathSummary::default();
    let mut first = true;
    for_each_segment(value, true, |kind, body| {
        let n = body.len() / 4;
        s.selection_len += match kind {
            SegmentType::Sequence => n,
            SegmentType::Set => 1,
            SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
        };
        if first && kind == SegmentType::Sequence {
            s.first_asn = body
                .get(..4)
                .map(|c| Asn(u32::from_be_bytes([c[0], c[1], c[2], c[3]])));
        }
        first = false;
        s.has_confed |= matches!(kind, SegmentType::ConfedSequence | SegmentType::ConfedSet);
        if body.chunks_exact(4).any(|c| c == [0, 0, 0, 0]) {
            s.has_as0 = true;
        }
    })?;
    Ok(s)
}

/// Whether the well-formed 4-octet AS_PATH value `value` holds `asn` ([`AsPath::contains`]).
pub(crate) fn contains_raw(value: &[u8], asn: Asn) -> bool {
    let want = asn.0.to_be_bytes();
    let mut found = false;
    // The value was checked when the view was made; a malformed one holds nothing.
    let _ = for_each_segment(value, true, |_, body| {
        found |= body.chunks_exact(4).any(|c| c == want);
    });
    found
}

/// Encodes segments, splitting any longer than 255 ASNs (RFC 4271 section 4.3); with
/// `four_octet == false` ASNs above 65535 are written as AS_TRANS (RFC 6793 section 4.2.2).
pub(crate) fn encode(path: &AsPath, four_octet: bool, out: &mut Vec<u8>) {
    for seg in &path.segments {
        for chunk in seg.asns.chunks(255) {
            out.push(seg.kind.code());
            out.push(chunk.len() as u8); // chunks(255): at most 255
            for a in chunk {
                if four_octet {
                    out.extend_from_slice(&a.0.to_be_bytes());
                } else {
                    out.extend_from_slice(&a.to_two_octet().to_be_bytes());
                }
            }
        }
    }
}
