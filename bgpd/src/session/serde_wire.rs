//! serde for the codec's value types inside the session state (the codec derives `Serialize`
//! only; checkpoints need both directions). Each module is used with `#[serde(with = ...)]`.

use crate::wire::{AfiSafi, Asn, RouterId, SessionContext};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::Ipv4Addr;

/// [`Asn`] as its `u32`.
pub mod asn {
    use super::*;
    /// Serialises the ASN.
    pub fn serialize<S: Serializer>(a: &Asn, s: S) -> Result<S::Ok, S::Error> {
        a.0.serialize(s)
    }
    /// Deserialises the ASN.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Asn, D::Error> {
        u32::deserialize(d).map(Asn)
    }
}

/// [`RouterId`] as its address.
pub mod router_id {
    use super::*;
    /// Serialises the identifier.
    pub fn serialize<S: Serializer>(a: &RouterId, s: S) -> Result<S::Ok, S::Error> {
        a.0.serialize(s)
    }
    /// Deserialises the identifier.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RouterId, D::Error> {
        Ipv4Addr::deserialize(d).map(RouterId)
    }
}

/// An AFI/SAFI as `(afi, safi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Family(pub u16, pub u8);

impl From<AfiSafi> for Family {
    fn from(f: AfiSafi) -> Self {
        Family(f.afi.0, f.safi.0)
    }
}
impl From<Family> for AfiSafi {
    fn from(f: Family) -> Self {
        AfiSafi::new(f.0, f.1)
    }
}

/// [`AfiSafi`] as `(afi, safi)`.
pub mod afi_safi {
    use super::*;
    /// Serialises the family.
    pub fn serialize<S: Serializer>(a: &AfiSafi, s: S) -> Result<S::Ok, S::Error> {
        Family::from(*a).serialize(s)
    }
    /// Deserialises the family.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AfiSafi, D::Error> {
        Family::deserialize(d).map(AfiSafi::from)
    }
}

/// `Vec<AfiSafi>` as a sequence of `(afi, safi)`.
pub mod afi_safis {
    use super::*;
    /// Serialises the families.
    pub fn serialize<S: Serializer>(a: &[AfiSafi], s: S) -> Result<S::Ok, S::Error> {
        a.iter()
            .map(|f| Family::from(*f))
            .collect::<Vec<_>>()
            .serialize(s)
    }
    /// Deserialises the families.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AfiSafi>, D::Error> {
        Vec::<Family>::deserialize(d).map(|v| v.into_iter().map(AfiSafi::from).collect())
    }
}

#[derive(Serialize, Deserialize)]
struct Ctx {
    four_octet_as: bool,
    add_path_receive: Vec<Family>,
    add_path_send: Vec<Family>,
    extended_message: bool,
    ibgp: bool,
    afi_safis: Vec<Family>,
    extended_next_hop: Vec<Family>,
}

fn fams(v: &[AfiSafi]) -> Vec<Family> {
    v.iter().map(|f| Family::from(*f)).collect()
}
fn unfams(v: Vec<Family>) -> Vec<AfiSafi> {
    v.into_iter().map(AfiSafi::from).collect()
}

/// [`SessionContext`] field by field.
pub mod context {
    use super::*;
    /// Serialises the context.
    pub fn serialize<S: Serializer>(c: &SessionContext, s: S) -> Result<S::Ok, S::Error> {
        Ctx {
            four_octet_as: c.four_octet_as,
            add_path_receive: fams(&c.add_path_receive),
            add_path_send: fams(&c.add_path_send),
            extended_message: c.extended_message,
            ibgp: c.ibgp,
            afi_safis: fams(&c.afi_safis),
            extended_next_hop: fams(&c.extended_next_hop),
        }
        .serialize(s)
    }
    /// Deserialises the context.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SessionContext, D::Error> {
        let c = Ctx::deserialize(d)?;
        Ok(SessionContext {
            four_octet_as: c.four_octet_as,
            add_path_receive: unfams(c.add_path_receive),
            add_path_send: unfams(c.add_path_send),
            extended_message: c.extended_message,
            ibgp: c.ibgp,
            afi_safis: unfams(c.afi_safis),
            extended_next_hop: unfams(c.extended_next_hop),
        })
    }
}

/// [`crate::wire::HoldTime`] as its seconds (1 and 2 read back as the default, 90).
pub mod hold_time {
    use super::*;
    use crate::wire::HoldTime;
    /// Serialises the hold time.
    pub fn serialize<S: Serializer>(h: &HoldTime, s: S) -> Result<S::Ok, S::Error> {
        h.seconds().serialize(s)
    }
    /// Deserialises the hold time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HoldTime, D::Error> {
        u16::deserialize(d).map(|v| HoldTime::new(v).unwrap_or(HoldTime::DEFAULT))
    }
}
