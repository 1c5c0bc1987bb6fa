//! Capabilities (RFC 5492) carried in the OPEN Capabilities optional parameter.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```
//!
//! Unknown capabilities (and known ones whose value does not parse) are kept as bytes:
//! RFC 5492 section 3 says a speaker "SHOULD ignore" capabilities it does not understand.

use super::types::{AfiSafi, Asn};
use serde::Serialize;

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234).
    pub const ROLE: u8 = 9;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-Lived Graceful Restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
}

/// ADD-PATH Send/Receive field (RFC 7911 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddPathMode {
    /// 1: the sender can receive multiple paths.
    Receive,
    /// 2: the sender can send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathMode {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
        }
    }
    fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            _ => return None,
        })
    }
    /// Whether the advertiser can receive multiple paths.
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
    /// Whether the advertiser can send multiple paths.
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// One AFI/SAFI of the ADD-PATH capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AddPathEntry {
    /// The family.
    pub afi_safi: AfiSafi,
    /// Send/Receive.
    pub mode: AddPathMode,
}

/// One AFI/SAFI of the Graceful Restart capability (RFC 4724 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct GracefulRestartFamily {
    /// The family.
    pub afi_safi: AfiSafi,
    /// Forwarding state preserved (F bit, 0x80 of the flags octet).
    pub forwarding_preserved: bool,
}

/// The Graceful Restart capability value (RFC 4724 section 3, RFC 8538 N bit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GracefulRestart {
    /// Restart State bit (R, 0x8).
    pub restart_state: bool,
    /// Graceful Notification bit (N, 0x4; RFC 8538).
    pub notification: bool,
    /// Restart Time in seconds (12 bits).
    pub restart_time: u16,
    /// The families with their F bit.
    pub families: Vec<GracefulRestartFamily>,
}

/// One tuple of the Extended Next Hop Encoding capability (RFC 8950 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ExtendedNextHopEntry {
    /// NLRI family (AFI 2 octets, SAFI carried in 2 octets on the wire).
    pub nlri: AfiSafi,
    /// Next hop AFI.
    pub next_hop_afi: u16,
}

/// The BGP Role values (RFC 9234 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BgpRole {
    /// 0: Provider.
    Provider,
    /// 1: Route Server.
    RouteServer,
    /// 2: Route Server Client.
    RouteServerClient,
    /// 3: Customer.
    Customer,
    /// 4: Peer (lateral peer).
    Peer,
    /// Any other value (unassigned).
    Other(u8),
}

impl BgpRole {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            BgpRole::Provider => 0,
            BgpRole::RouteServer => 1,
            BgpRole::RouteServerClient => 2,
            BgpRole::Customer => 3,
            BgpRole::Peer => 4,
            BgpRole::Other(v) => v,
        }
    }
    /// The role for a wire value.
    pub fn from_code(v: u8) -> Self {
        match v {
            0 => BgpRole::Provider,
            1 => BgpRole::RouteServer,
            2 => BgpRole::RouteServerClient,
            3 => BgpRole::Customer,
            4 => BgpRole::Peer,
            v => BgpRole::Other(v),
        }
    }
}

/// One family of the Long-Lived Graceful Restart capability (RFC 9494 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LlgrFamily {
    /// The family.
    pub afi_safi: AfiSafi,
    /// Flags octet (F bit 0x80: forwarding state preserved).
    pub flags: u8,
    /// Long-lived Stale Time in seconds (24 bits).
    pub stale_time: u32,
}

/// A capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Multiprotocol Extensions (code 1, RFC 4760 section 8): one AFI/SAFI.
    Multiprotocol(AfiSafi),
    /// Route Refresh (code 2, RFC 2918).
    RouteRefresh,
    /// Enhanced Route Refresh (code 70, RFC 7313).
    EnhancedRouteRefresh,
    /// 4-octet AS number (code 65, RFC 6793): the speaker's AS.
    FourOctetAs(Asn),
    /// Graceful Restart (code 64, RFC 4724).
    GracefulRestart(GracefulRestart),
    /// ADD-PATH (code 69, RFC 7911).
    AddPath(Vec<AddPathEntry>),
    /// Extended Message (code 6, RFC 8654).
    ExtendedMessage,
    /// Extended Next Hop Encoding (code 5, RFC 8950).
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// BGP Role (code 9, RFC 9234).
    Role(BgpRole),
    /// Long-Lived Graceful Restart (code 71, RFC 9494).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// Any other capability, or a known one whose value does not parse, kept as bytes.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        #[serde(serialize_with = "crate::wire::error::ser_hex")]
        bytes: Vec<u8>,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::Role(_) => code::ROLE,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. A known code whose value does not parse becomes `Unknown`.
    pub fn decode(code: u8, v: &[u8]) -> Capability {
        Self::decode_known(code, v).unwrap_or_else(|| Capability::Unknown {
            code,
            bytes: v.to_vec(),
        })
    }

    fn decode_known(c: u8, v: &[u8]) -> Option<Capability> {
        let afi_safi = |b: &[u8]| AfiSafi::new(u16::from_be_bytes([b[0], b[1]]), b[3]);
        Some(match (c, v) {
            // AFI (2), Reserved (1), SAFI (1)
            (code::MULTIPROTOCOL, [_, _, _, _]) => Capability::Multiprotocol(afi_safi(v)),
            (code::ROUTE_REFRESH, []) => Capability::RouteRefresh,
            (code::ENHANCED_ROUTE_REFRESH, []) => Capability::EnhancedRouteRefresh,
            (code::EXTENDED_MESSAGE, []) => Capability::ExtendedMessage,
            (code::FOUR_OCTET_AS, [a, b, c, d]) => {
                Capability::FourOctetAs(Asn(u32::from_be_bytes([*a, *b, *c, *d])))
            }
            (code::ROLE, [r]) => Capability::Role(BgpRole::from_code(*r)),
            (code::GRACEFUL_RESTART, [h, l, rest @ ..]) if rest.len() % 4 == 0 => {
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: h & 0x80 != 0,
                    notification: h & 0x40 != 0,
                    restart_time: u16::from_be_bytes([h & 0x0f, *l]),
                    families: rest
                        .chunks_exact(4)
                        .map(|f| GracefulRestartFamily {
                            afi_safi: AfiSafi::new(u16::from_be_bytes([f[0], f[1]]), f[2]),
                            forwarding_preserved: f[3] & 0x80 != 0,
                        })
                        .collect(),
                })
            }
            (code::ADD_PATH, _) if v.len().is_multiple_of(4) => {
                let mut out = Vec::with_capacity(v.len() / 4);
                for f in v.chunks_exact(4) {
                    out.push(AddPathEntry {
                        afi_safi: AfiSafi::new(u16::from_be_bytes([f[0], f[1]]), f[2]),
                        mode: AddPathMode::from_code(f[3])?,
                    });
                }
                Capability::AddPath(out)
            }
            (code::EXTENDED_NEXT_HOP, _) if v.len().is_multiple_of(6) => {
                let mut out = Vec::with_capacity(v.len() / 6);
                for f in v.chunks_exact(6) {
                    let safi = u16::from_be_bytes([f[2], f[3]]);
                    out.push(ExtendedNextHopEntry {
                        nlri: AfiSafi::new(
                            u16::from_be_bytes([f[0], f[1]]),
                            u8::try_from(safi).ok()?,
                        ),
                        next_hop_afi: u16::from_be_bytes([f[4], f[5]]),
                    });
                }
                Capability::ExtendedNextHop(out)
            }
            (code::LONG_LIVED_GRACEFUL_RESTART, _) if v.len().is_multiple_of(7) => {
                Capability::LongLivedGracefulRestart(
                    v.chunks_exact(7)
                        .map(|f| LlgrFamily {
                            afi_safi: AfiSafi::new(u16::from_be_bytes([f[0], f[1]]), f[2]),
                            flags: f[3],
                            stale_time: u32::from_be_bytes([0, f[4], f[5], f[6]]),
                        })
                        .collect(),
                )
            }
            _ => return None,
        })
    }

    /// Appends the capability value (without code and length).
    pub(crate) fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Capability::Multiprotocol(f) => {
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.extend_from_slice(&[0, f.safi.0]);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(a) => out.extend_from_slice(&a.0.to_be_bytes()),
            Capability::Role(r) => out.push(r.code()),
            Capability::GracefulRestart(g) => {
                let t = g.restart_time.min(0x0fff);
                let mut h = (t >> 8) as u8;
                if g.restart_state {
                    h |= 0x80;
                }
                if g.notification {
                    h |= 0x40;
                }
                out.extend_from_slice(&[h, (t & 0xff) as u8]);
                for f in &g.families {
                    out.extend_from_slice(&f.afi_safi.afi.0.to_be_bytes());
                    out.extend_from_slice(&[
                        f.afi_safi.safi.0,
                        if f.forwarding_preserved { 0x80 } else { 0 },
                    ]);
                }
            }
            Capability::AddPath(v) => {
                for e in v {
                    out.extend_from_slice(&e.afi_safi.afi.0.to_be_bytes());
                    out.extend_from_slice(&[e.afi_safi.safi.0, e.mode.code()]);
                }
            }
            Capability::ExtendedNextHop(v) => {
                for e in v {
                    out.extend_from_slice(&e.nlri.afi.0.to_be_bytes());
                    out.extend_from_slice(&u16::from(e.nlri.safi.0).to_be_bytes());
                    out.extend_from_slice(&e.next_hop_afi.to_be_bytes());
                }
            }
            Capability::LongLivedGracefulRestart(v) => {
                for f in v {
                    out.extend_from_slice(&f.afi_safi.afi.0.to_be_bytes());
                    out.extend_from_slice(&[f.afi_safi.safi.0, f.flags]);
                    out.extend_from_slice(&f.stale_time.min(0x00ff_ffff).to_be_bytes()[1..]);
                }
            }
            Capability::Unknown { bytes, .. } => out.extend_from_slice(bytes),
        }
    }
}
