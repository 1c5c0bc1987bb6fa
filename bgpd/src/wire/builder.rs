//! Building UPDATEs: packing prefixes that share attributes into as few messages as the
//! session's maximum message size allows (RFC 4271 section 9.2, RFC 8654), with the RFC 6793
//! AS4_PATH/AS4_AGGREGATOR handling for 2-octet sessions, and End-of-RIB markers (RFC 4724).

use super::attribute::{
    type_code, AttrFlags, AttributeValue, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttribute,
    PathAttributes,
};
use super::context::SessionContext;
use super::error::EncodeError;
use super::header::HEADER_LEN;
use super::nlri::Nlri;
use super::types::{AfiSafi, Asn};
use super::update::Update;

/// Builds UPDATEs for one session.
#[derive(Debug, Clone, Copy)]
pub struct UpdateBuilder<'a> {
    ctx: &'a SessionContext,
}

impl<'a> UpdateBuilder<'a> {
    /// A builder for the session described by `ctx` (size limit, AS width, ADD-PATH send).
    pub fn new(ctx: &'a SessionContext) -> Self {
        UpdateBuilder { ctx }
    }

    /// The attributes as they must be sent on this session: on a 4-octet session AS4_PATH and
    /// AS4_AGGREGATOR are removed (RFC 6793 section 4.1); on a 2-octet session they are added
    /// when AS_PATH/AGGREGATOR hold ASNs above 65535 (section 4.2.2: AS4_PATH carries the path
    /// without confederation segments). MP attributes are removed (the builder adds its own).
    pub fn session_attributes(&self, attrs: &PathAttributes) -> PathAttributes {
        let mut out = attrs.clone();
        out.remove(type_code::MP_REACH_NLRI);
        out.remove(type_code::MP_UNREACH_NLRI);
        out.remove(type_code::AS4_PATH);
        out.remove(type_code::AS4_AGGREGATOR);
        if !self.ctx.four_octet_as {
            if let Some(p) = attrs.as_path() {
                if p.needs_four_octets() {
                    out.set(AttributeValue::As4Path(p.without_confed()));
                }
            }
            if let Some(AttributeValue::Aggregator(a)) = attrs.value(type_code::AGGREGATOR) {
                if !a.asn.is_two_octet() {
                    out.set(AttributeValue::As4Aggregator(*a));
                    out.set(AttributeValue::Aggregator(super::attribute::Aggregator {
                        asn: Asn::TRANS,
                        address: a.address,
                    }));
                }
            }
        }
        out
    }

    /// UPDATEs announcing `nlri` of `afi_safi` with `attributes`: IPv4 unicast in the NLRI field
    /// (`attributes` must hold NEXT_HOP), other families in MP_REACH_NLRI with `next_hop`.
    /// Each UPDATE holds as many prefixes as fit the session's maximum message size.
    pub fn announce(
        &self,
        afi_safi: AfiSafi,
        attributes: &PathAttributes,
        next_hop: Option<MpNextHop>,
        nlri: &[Nlri],
    ) -> Result<Vec<Update>, EncodeError> {
        if nlri.is_empty() {
            return Ok(Vec::new());
        }
        let mut attrs = self.session_attributes(attributes);
        let plain =
            afi_safi == AfiSafi::IPV4_UNICAST && !matches!(next_hop, Some(MpNextHop::Ipv6 { .. }));
        if !plain {
            // RFC 4760 section 3: an UPDATE whose only NLRI is in MP_REACH_NLRI "SHOULD NOT
            // carry the NEXT_HOP attribute".
            attrs.remove(type_code::NEXT_HOP);
            let next_hop =
                next_hop.ok_or(EncodeError::Unsupported("MP_REACH_NLRI needs a next hop"))?;
            if afi_safi.is_decoded() {
                attrs.insert(PathAttribute {
                    // Extended Length always: the size computation below is then exact.
                    flags: AttrFlags(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH),
                    value: AttributeValue::MpReach(MpReach {
                        afi_safi,
                        next_hop,
                        nlri: MpNlri::Prefixes(Vec::new()),
                    }),
                });
            } else {
                return Err(EncodeError::Unsupported(
                    "only IPv4/IPv6 unicast NLRI can be packed",
                ));
            }
        }
        let base = self.encoded_len(&Update {
            withdrawn: Vec::new(),
            attributes: attrs.clone(),
            nlri: Vec::new(),
        })?;
        let add_path = self.ctx.sends_path_id(afi_safi);
        let chunks = pack(nlri, base, self.ctx.max_message_len(), add_path)?;
        Ok(chunks
            .into_iter()
            .map(|chunk| {
                let mut a = attrs.clone();
                if plain {
                    Update {
                        withdrawn: Vec::new(),
                        attributes: a,
                        nlri: chunk.to_vec(),
                    }
                } else {
                    if let Some(PathAttribute {
                        value: AttributeValue::MpReach(r),
                        ..
                    }) = a.get(type_code::MP_REACH_NLRI).cloned().as_mut()
                    {
                        r.nlri = MpNlri::Prefixes(chunk.to_vec());
                        a.insert(PathAttribute {
                            flags: AttrFlags(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH),
                            value: AttributeValue::MpReach(r.clone()),
                        });
                    }
                    Update {
                        withdrawn: Vec::new(),
                        attributes: a,
                        nlri: Vec::new(),
                    }
                }
            })
            .collect())
    }

    /// Encoded UPDATEs announcing IPv4 unicast `nlri` in the NLRI field with a Path Attributes
    /// field already encoded (`attributes`: 4-octet ASNs, as [`crate::rib`] stores attribute
    /// sets), appended to `out`, one `Vec` per message, packed as [`UpdateBuilder::announce`]
    /// packs them: the same octets, without decoding and encoding the attributes again.
    ///
    /// Returns false, writing nothing, when these octets are not what this session sends: a
    /// 2-octet AS session (RFC 6793 section 4.2.2: AS4_PATH, AS4_AGGREGATOR), ADD-PATH send
    /// for IPv4 unicast (RFC 7911), attributes holding MP_REACH_NLRI, MP_UNREACH_NLRI,
    /// AS4_PATH or AS4_AGGREGATOR, or without NEXT_HOP, or a field that does not parse or
    /// leaves no room for a prefix; then [`UpdateBuilder::announce`] is the way.
    pub fn announce_v4_encoded(
        &self,
        attributes: &[u8],
        nlri: &[Nlri],
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        if !self.ctx.four_octet_as || self.ctx.sends_path_id(AfiSafi::IPV4_UNICAST) {
            return false;
        }
        if !plain_v4_attributes(attributes) {
            return false;
        }
        let max = self.ctx.max_message_len();
        // Header, Withdrawn Routes Length (0), Total Path Attribute Length, the attributes.
        let base = HEADER_LEN + 2 + 2 + attributes.len();
        // The longest IPv4 NLRI entry: length octet and 4 address octets.
        if base + 5 > max
            || nlri
                .iter()
                .any(|n| !matches!(n.prefix, super::prefix::Prefix::V4(_)))
        {
            return false;
        }
        let Ok(alen) = u16::try_from(attributes.len()) else {
            return false;
        };
        let mut start = 0;
        while start < nlri.len() {
            let mut end = start;
            let mut size = base;
            while end < nlri.len() {
                let l = nlri[end].wire_len(false);
                if size + l > max {
                    break;
                }
                size += l;
                end += 1;
            }
            let mut m = Vec::with_capacity(size);
            let h = super::header::start_header(&mut m, super::header::MessageType::Update);
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(&alen.to_be_bytes());
            m.extend_from_slice(attributes);
            super::nlri::encode_prefixes(&mut m, &nlri[start..end], false);
            if super::header::finish_header(&mut m, h, max).is_err() {
                // Cannot happen: sizes were checked above. Nothing half-done is kept.
                return false;
            }
            out.push(m);
            start = end;
        }
        true
    }

    /// UPDATEs withdrawing `nlri` of `afi_safi`: IPv4 unicast in Withdrawn Routes, other families
    /// in MP_UNREACH_NLRI; as few messages as the size limit allows.
    pub fn withdraw(&self, afi_safi: AfiSafi, nlri: &[Nlri]) -> Result<Vec<Update>, EncodeError> {
        if nlri.is_empty() {
            return Ok(Vec::new());
        }
        let add_path = self.ctx.sends_path_id(afi_safi);
        if afi_safi == AfiSafi::IPV4_UNICAST {
            let chunks = pack(nlri, HEADER_LEN + 4, self.ctx.max_message_len(), add_path)?;
            return Ok(chunks
                .into_iter()
                .map(|c| Update {
                    withdrawn: c.to_vec(),
                    ..Update::default()
                })
                .collect());
        }
        if !afi_safi.is_decoded() {
            return Err(EncodeError::Unsupported(
                "only IPv4/IPv6 unicast NLRI can be packed",
            ));
        }
        // Header, two length fields, MP_UNREACH header (4, extended length) and AFI/SAFI (3).
        let chunks = pack(
            nlri,
            HEADER_LEN + 4 + 4 + 3,
            self.ctx.max_message_len(),
            add_path,
        )?;
        Ok(chunks
            .into_iter()
            .map(|c| {
                let mut attributes = PathAttributes::new();
                attributes.insert(PathAttribute {
                    flags: AttrFlags(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH),
                    value: AttributeValue::MpUnreach(MpUnreach {
                        afi_safi,
                        withdrawn: MpNlri::Prefixes(c.to_vec()),
                    }),
                });
                Update {
                    withdrawn: Vec::new(),
                    attributes,
                    nlri: Vec::new(),
                }
            })
            .collect())
    }

    /// The End-of-RIB marker for `afi_safi` (RFC 4724 section 2).
    pub fn end_of_rib(&self, afi_safi: AfiSafi) -> Update {
        Update::end_of_rib(afi_safi)
    }

    fn encoded_len(&self, u: &Update) -> Result<usize, EncodeError> {
        let mut out = Vec::with_capacity(256);
        super::update::encode(u, self.ctx, &mut out)?;
        Ok(HEADER_LEN + out.len())
    }
}

/// Whether an encoded Path Attributes field parses, holds NEXT_HOP, and holds none of the
/// attributes a session's form of a set changes (MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH,
/// AS4_AGGREGATOR).
fn plain_v4_attributes(mut b: &[u8]) -> bool {
    let mut next_hop = false;
    while !b.is_empty() {
        let (code, len, hdr) = match *b {
            [f, c, l0, l1, ..] if f & AttrFlags::EXTENDED_LENGTH != 0 => {
                (c, usize::from(u16::from_be_bytes([l0, l1])), 4)
            }
            [f, c, l, ..] if f & AttrFlags::EXTENDED_LENGTH == 0 => (c, usize::from(l), 3),
            _ => return false,
        };
        match code {
            type_code::MP_REACH_NLRI
            | type_code::MP_UNREACH_NLRI
            | type_code::AS4_PATH
            | type_code::AS4_AGGREGATOR => return false,
            type_code::NEXT_HOP => next_hop = true,
            _ => {}
        }
        let Some(rest) = b.get(hdr + len..) else {
            return false;
        };
        b = rest;
    }
    next_hop
}

/// Splits `nlri` greedily into runs whose encoded size plus `base` stays within `max`.
fn pack(
    nlri: &[Nlri],
    base: usize,
    max: usize,
    add_path: bool,
) -> Result<Vec<&[Nlri]>, EncodeError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = base;
    for (i, n) in nlri.iter().enumerate() {
        let l = n.wire_len(add_path);
        if base + l > max {
            return Err(EncodeError::TooLong { len: base + l, max });
        }
        if size + l > max {
            out.push(&nlri[start..i]);
            start = i;
            size = base;
        }
        size += l;
    }
    out.push(&nlri[start..]);
    Ok(out)
}

/// Whether `u` is an End-of-RIB marker, and of which family (RFC 4724 section 2).
pub fn end_of_rib_family(u: &Update) -> Option<AfiSafi> {
    u.as_end_of_rib()
}

/// Helper for callers that hold a bare [`PathAttribute`] list: sets default flags.
pub fn attributes(values: impl IntoIterator<Item = AttributeValue>) -> PathAttributes {
    PathAttributes::from_vec(values.into_iter().map(PathAttribute::new).collect())
}
