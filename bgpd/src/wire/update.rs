//! UPDATE (RFC 4271 section 4.3) and its error handling (section 6.3, RFC 7606).
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use super::attribute::{self, type_code, AttrReport, MpNlri, PathAttributes};
use super::context::SessionContext;
use super::error::{update_subcode, NotificationError, Outcome};
use super::nlri::{decode_prefixes, Family, Nlri};
use super::types::AfiSafi;
use serde::Serialize;

/// An UPDATE message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Update {
    /// Withdrawn Routes (IPv4 unicast).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes (MP_REACH_NLRI/MP_UNREACH_NLRI carry the other families).
    pub attributes: PathAttributes,
    /// NLRI (IPv4 unicast).
    pub nlri: Vec<Nlri>,
}

impl Update {
    /// The End-of-RIB marker of `afi_safi` (RFC 4724 section 2): an empty UPDATE for IPv4
    /// unicast, else an UPDATE holding only an empty MP_UNREACH_NLRI of that family.
    pub fn end_of_rib(afi_safi: AfiSafi) -> Self {
        if afi_safi == AfiSafi::IPV4_UNICAST {
            return Update::default();
        }
        let mut attributes = PathAttributes::new();
        let withdrawn = if afi_safi.is_decoded() {
            MpNlri::Prefixes(Vec::new())
        } else {
            MpNlri::Opaque(Vec::new())
        };
        attributes.set(attribute::AttributeValue::MpUnreach(attribute::MpUnreach {
            afi_safi,
            withdrawn,
        }));
        Update {
            withdrawn: Vec::new(),
            attributes,
            nlri: Vec::new(),
        }
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one (RFC 4724 section 2).
    /// An UPDATE with any NLRI, withdrawal or other attribute is not a marker.
    pub fn as_end_of_rib(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(AfiSafi::IPV4_UNICAST),
            [a] => match &a.value {
                attribute::AttributeValue::MpUnreach(u) if u.withdrawn.is_empty() => {
                    Some(u.afi_safi)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Every announced NLRI with its family: plain NLRI (IPv4 unicast) and MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = (AfiSafi, &Nlri)> {
        let mp = self
            .attributes
            .mp_reach()
            .map(|r| (r.afi_safi, r.nlri.prefixes()));
        self.nlri.iter().map(|n| (AfiSafi::IPV4_UNICAST, n)).chain(
            mp.into_iter()
                .flat_map(|(f, p)| p.iter().map(move |n| (f, n))),
        )
    }

    /// Every withdrawn NLRI with its family: Withdrawn Routes (IPv4 unicast) and MP_UNREACH_NLRI.
    pub fn withdrawals(&self) -> impl Iterator<Item = (AfiSafi, &Nlri)> {
        let mp = self
            .attributes
            .mp_unreach()
            .map(|u| (u.afi_safi, u.withdrawn.prefixes()));
        self.withdrawn
            .iter()
            .map(|n| (AfiSafi::IPV4_UNICAST, n))
            .chain(
                mp.into_iter()
                    .flat_map(|(f, p)| p.iter().map(move |n| (f, n))),
            )
    }

    /// Number of announced prefixes (plain and MP_REACH_NLRI).
    pub fn announced_count(&self) -> usize {
        self.nlri.len()
            + self
                .attributes
                .mp_reach()
                .map_or(0, |r| r.nlri.prefixes().len())
    }

    /// Number of withdrawn prefixes (plain and MP_UNREACH_NLRI).
    pub fn withdrawn_count(&self) -> usize {
        self.withdrawn.len()
            + self
                .attributes
                .mp_unreach()
                .map_or(0, |u| u.withdrawn.prefixes().len())
    }
}

/// Decodes an UPDATE body (after the header) and decides the outcome.
pub(crate) fn decode(body: &[u8], ctx: &SessionContext) -> (Option<Update>, Outcome) {
    let malformed_list = || {
        Outcome::SessionReset(NotificationError::update(
            update_subcode::MALFORMED_ATTRIBUTE_LIST,
            Vec::new(),
        ))
    };
    // RFC 4271 section 6.3: "If the Withdrawn Routes Length or Total Attribute Length is too
    // large (i.e., if Withdrawn Routes Length + Total Attribute Length + 23 exceeds the message
    // Length), then the Error Subcode MUST be set to Malformed Attribute List."
    let Some((wlen, rest)) = split_len(body) else {
        return (None, malformed_list());
    };
    let Some((withdrawn_buf, rest)) = split_at_checked(rest, wlen) else {
        return (None, malformed_list());
    };
    let Some((alen, rest)) = split_len(rest) else {
        return (None, malformed_list());
    };
    let Some((attr_buf, nlri_buf)) = split_at_checked(rest, alen) else {
        return (None, malformed_list());
    };

    let v4_add_path = ctx.receives_path_id(AfiSafi::IPV4_UNICAST);
    let mut withdrawn = Vec::new();
    if decode_prefixes(withdrawn_buf, Family::V4, v4_add_path, &mut withdrawn).is_err() {
        // RFC 7606 section 5.3: syntactically incorrect Withdrawn Routes: "session reset".
        return (
            None,
            Outcome::SessionReset(NotificationError::update(
                update_subcode::INVALID_NETWORK_FIELD,
                Vec::new(),
            )),
        );
    }
    let mut nlri = Vec::new();
    if decode_prefixes(nlri_buf, Family::V4, v4_add_path, &mut nlri).is_err() {
        // RFC 4271 section 6.3: "If the field is syntactically incorrect, then the Error Subcode
        // is set to Invalid Network Field." (RFC 7606 section 5.3 keeps "session reset".)
        return (
            None,
            Outcome::SessionReset(NotificationError::update(
                update_subcode::INVALID_NETWORK_FIELD,
                Vec::new(),
            )),
        );
    }

    let mut report = AttrReport::default();
    let attributes = attribute::decode_attributes(attr_buf, ctx, &mut report);
    let update = Update {
        withdrawn,
        attributes,
        nlri,
    };
    if let Some(e) = report.reset {
        // The UPDATE as far as it was decoded (malformed MP attributes left out), for logs.
        return (Some(update), Outcome::SessionReset(e));
    }
    if report.list_error
        && update.nlri.is_empty()
        && update.withdrawn.is_empty()
        && update.attributes.mp_reach().is_none()
        && update.attributes.mp_unreach().is_none()
    {
        // RFC 7606 sections 4 and 5.2: treat-as-withdraw needs the routes of the UPDATE to be
        // located. With no NLRI field, no Withdrawn Routes and the attribute list broken before
        // any MP_REACH_NLRI/MP_UNREACH_NLRI was found, they cannot be: session reset.
        return (
            Some(update),
            Outcome::SessionReset(NotificationError::update(
                update_subcode::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
            )),
        );
    }
    check_semantics(&update, ctx, &mut report);
    let outcome = if let Some(reason) = report.withdraw {
        Outcome::TreatAsWithdraw { reason }
    } else if !report.discarded.is_empty() {
        Outcome::AttributeDiscard {
            discarded: report.discarded,
            reason: report.discard_reason.unwrap_or_default().into(),
        }
    } else {
        Outcome::Accept
    };
    (Some(update), outcome)
}

/// The UPDATE-level checks after the attributes are parsed: mandatory attributes (RFC 7606
/// section 3 d), NEXT_HOP validity (RFC 4271 section 6.3), eBGP empty AS_PATH (RFC 7606 7.2),
/// eBGP confederation segments (RFC 5065 section 5).
fn check_semantics(u: &Update, ctx: &SessionContext, report: &mut AttrReport) {
    let has_mp_reach = report.has(type_code::MP_REACH_NLRI);
    let has_nlri = !u.nlri.is_empty() || has_mp_reach;
    if !has_nlri {
        return;
    }
    let mut missing = |code: u8, what: &'static str| {
        if !report.has(code) && report.withdraw.is_none() {
            report.withdraw = Some(what.into());
        }
    };
    missing(
        type_code::ORIGIN,
        "missing well-known mandatory attribute ORIGIN (RFC 7606 section 3 d)",
    );
    missing(
        type_code::AS_PATH,
        "missing well-known mandatory attribute AS_PATH (RFC 7606 section 3 d)",
    );
    if !u.nlri.is_empty() {
        missing(
            type_code::NEXT_HOP,
            "missing well-known mandatory attribute NEXT_HOP (RFC 7606 section 3 d)",
        );
        if let Some(nh) = u.attributes.next_hop() {
            if attribute::is_martian_next_hop(nh) && report.withdraw.is_none() {
                report.withdraw = Some(
                    format!("NEXT_HOP {nh} is not a valid host address (RFC 4271 section 6.3)")
                        .into(),
                );
            }
        }
    }
    if !ctx.ibgp {
        if let Some(p) = u.attributes.as_path() {
            if p.is_empty() && report.withdraw.is_none() {
                report.withdraw = Some("empty AS_PATH from an external peer (RFC 4271 section 6.3, RFC 7606 section 7.2)".into());
            }
            // RFC 5065 section 5: "It is a error for a BGP speaker to receive an UPDATE message
            // with an AS_PATH attribute that contains AS_CONFED_SEQUENCE or AS_CONFED_SET
            // segments from a neighbor that is not located in the same confederation", handled
            // as a malformed AS_PATH: treat-as-withdraw (RFC 7606 section 7.2). We are in no
            // confederation, so no external peer is in ours.
            if p.has_confed_segment() && report.withdraw.is_none() {
                report.withdraw = Some("AS_PATH with AS_CONFED segments from an external peer outside our confederation (RFC 5065 section 5, RFC 7606 section 7.2)".into());
            }
        }
    }
}

fn split_len(b: &[u8]) -> Option<(usize, &[u8])> {
    match b {
        [h, l, rest @ ..] => Some((usize::from(u16::from_be_bytes([*h, *l])), rest)),
        _ => None,
    }
}

fn split_at_checked(b: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    if n > b.len() {
        None
    } else {
        Some(b.split_at(n))
    }
}

/// Encodes an UPDATE body into `out` (after the header).
pub(crate) fn encode(
    u: &Update,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> Result<(), super::error::EncodeError> {
    let add_path = ctx.sends_path_id(AfiSafi::IPV4_UNICAST);
    let wstart = out.len();
    out.extend_from_slice(&[0, 0]);
    super::nlri::encode_prefixes(out, &u.withdrawn, add_path);
    let wlen = u16::try_from(out.len() - wstart - 2)
        .map_err(|_| super::error::EncodeError::FieldOverflow("Withdrawn Routes Length"))?;
    out[wstart..wstart + 2].copy_from_slice(&wlen.to_be_bytes());
    let astart = out.len();
    out.extend_from_slice(&[0, 0]);
    attribute::encode_attributes(&u.attributes, ctx, out)?;
    let alen = u16::try_from(out.len() - astart - 2)
        .map_err(|_| super::error::EncodeError::FieldOverflow("Total Path Attribute Length"))?;
    out[astart..astart + 2].copy_from_slice(&alen.to_be_bytes());
    super::nlri::encode_prefixes(out, &u.nlri, add_path);
    Ok(())
}
