//! OPEN (RFC 4271 section 4.2) with RFC 9072 extended optional parameters.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |   then Optional Parameters: Type (1), Length (1), Value
//! +-+-+-+-+-+-+-+-+
//! RFC 9072: Opt Parm Len = 255 and first Type = 255 ("Non-Ext OP Type") announce an
//! Extended Opt. Parm. Length (2 octets) and parameters with 2-octet lengths.
//! ```

use super::capability::Capability;
use super::error::{open_subcode, NotificationError};
use super::reader::Reader;
use super::types::{Asn, HoldTime, RouterId};
use serde::Serialize;
use std::net::Ipv4Addr;

/// The only BGP version this codec speaks.
pub const BGP_VERSION: u8 = 4;

/// Optional parameter type: Capabilities (RFC 5492).
pub const PARAM_CAPABILITIES: u8 = 2;

/// An OPEN optional parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionalParameter {
    /// Capabilities (type 2): one or more capabilities.
    Capabilities(Vec<Capability>),
    /// Any other type. Decoding rejects these (RFC 4271 section 6.2, Unsupported Optional
    /// Parameter); they exist so that such OPENs can be built and sent in tests.
    Unknown {
        /// Parameter type.
        kind: u8,
        /// Parameter value.
        #[serde(serialize_with = "crate::wire::error::ser_hex")]
        bytes: Vec<u8>,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Open {
    /// Version (4).
    pub version: u8,
    /// My Autonomous System, the 2-octet field (AS_TRANS for a 4-octet AS, RFC 6793).
    pub my_as: u16,
    /// Hold Time.
    pub hold_time: HoldTime,
    /// BGP Identifier.
    pub bgp_identifier: RouterId,
    /// Optional parameters in wire order.
    pub parameters: Vec<OptionalParameter>,
    /// Whether the RFC 9072 extended encoding is used (forced on encode when the parameters
    /// exceed 255 octets).
    pub extended_parameters: bool,
}

impl Open {
    /// An OPEN for `asn` with the given capabilities, all in one Capabilities parameter. A
    /// 4-octet AS capability is added when absent; My Autonomous System is AS_TRANS when the AS
    /// does not fit 2 octets (RFC 6793 section 4.1).
    pub fn new(
        asn: Asn,
        hold_time: HoldTime,
        bgp_identifier: RouterId,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open {
            version: BGP_VERSION,
            my_as: asn.to_two_octet(),
            hold_time,
            bgp_identifier,
            parameters: vec![OptionalParameter::Capabilities(capabilities)],
            extended_parameters: false,
        }
    }

    /// Every capability of every Capabilities parameter, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The speaker's AS: the 4-octet AS capability when present, else My Autonomous System.
    pub fn asn(&self) -> Asn {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(Asn(u32::from(self.my_as)))
    }

    /// Whether a capability with this code was advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }
}

fn unspecific() -> NotificationError {
    NotificationError::open(open_subcode::UNSPECIFIC)
}

/// Decodes an OPEN body (after the header). Errors are RFC 4271 section 6.2 OPEN Message Errors.
pub(crate) fn decode(body: &[u8]) -> Result<Open, NotificationError> {
    let mut r = Reader::new(body);
    let (Some(version), Some(my_as), Some(hold), Some(id), Some(plen)) =
        (r.u8(), r.u16(), r.u16(), r.u32(), r.u8())
    else {
        return Err(unspecific());
    };
    if version != BGP_VERSION {
        // "the Data field is a 2-octet unsigned integer, which indicates the largest, locally
        // supported version number less than the version the remote BGP peer bid"
        return Err(NotificationError::new(
            super::error::code::OPEN_MESSAGE,
            open_subcode::UNSUPPORTED_VERSION,
            u16::from(BGP_VERSION).to_be_bytes().to_vec(),
        ));
    }
    // RFC 7607 section 2: AS 0 in an OPEN is Bad Peer AS.
    if my_as == 0 {
        return Err(NotificationError::open(open_subcode::BAD_PEER_AS));
    }
    let hold_time = HoldTime::new(hold).ok_or(NotificationError::open(
        open_subcode::UNACCEPTABLE_HOLD_TIME,
    ))?;
    // RFC 6286 section 2.2: the BGP Identifier must be non-zero.
    if id == 0 {
        return Err(NotificationError::open(open_subcode::BAD_BGP_IDENTIFIER));
    }
    let mut extended = false;
    let params: &[u8] = if plen == 255 && r.rest().first() == Some(&255) {
        // RFC 9072 section 2: Non-Ext OP Type 255, then Extended Opt. Parm. Length.
        extended = true;
        r.u8();
        let len = r.u16().ok_or_else(unspecific)?;
        r.take(usize::from(len)).ok_or_else(unspecific)?
    } else {
        r.take(usize::from(plen)).ok_or_else(unspecific)?
    };
    if !r.is_empty() {
        // Octets after the optional parameters: the lengths disagree.
        return Err(unspecific());
    }
    let mut parameters = Vec::new();
    let mut p = Reader::new(params);
    while !p.is_empty() {
        let kind = p.u8().ok_or_else(unspecific)?;
        let len = if extended {
            p.u16()
        } else {
            p.u8().map(u16::from)
        }
        .ok_or_else(unspecific)?;
        let value = p.take(usize::from(len)).ok_or_else(unspecific)?;
        if kind != PARAM_CAPABILITIES {
            return Err(NotificationError::open(
                open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
            ));
        }
        let mut caps = Vec::new();
        let mut c = Reader::new(value);
        while !c.is_empty() {
            let (Some(code), Some(clen)) = (c.u8(), c.u8()) else {
                return Err(unspecific());
            };
            let v = c.take(usize::from(clen)).ok_or_else(unspecific)?;
            let cap = Capability::decode(code, v);
            if matches!(cap, Capability::FourOctetAs(Asn(0))) {
                return Err(NotificationError::open(open_subcode::BAD_PEER_AS));
            }
            caps.push(cap);
        }
        parameters.push(OptionalParameter::Capabilities(caps));
    }
    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_identifier: RouterId(Ipv4Addr::from(id)),
        parameters,
        extended_parameters: extended,
    })
}

/// Encodes an OPEN body.
pub(crate) fn encode(o: &Open, out: &mut Vec<u8>) -> Result<(), super::error::EncodeError> {
    use super::error::EncodeError;
    out.push(o.version);
    out.extend_from_slice(&o.my_as.to_be_bytes());
    out.extend_from_slice(&o.hold_time.seconds().to_be_bytes());
    out.extend_from_slice(&o.bgp_identifier.0.octets());
    // Encode the parameters with 1-octet lengths first; fall back to RFC 9072 when needed.
    let encode_params = |ext: bool| -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        for p in &o.parameters {
            let (kind, value) = match p {
                OptionalParameter::Capabilities(caps) => {
                    let mut v = Vec::new();
                    for c in caps {
                        let s = v.len();
                        v.extend_from_slice(&[c.code(), 0]);
                        c.encode_value(&mut v);
                        v[s + 1] = u8::try_from(v.len() - s - 2)
                            .map_err(|_| EncodeError::FieldOverflow("capability length"))?;
                    }
                    (PARAM_CAPABILITIES, v)
                }
                OptionalParameter::Unknown { kind, bytes } => (*kind, bytes.clone()),
            };
            buf.push(kind);
            if ext {
                let l = u16::try_from(value.len())
                    .map_err(|_| EncodeError::FieldOverflow("optional parameter length"))?;
                buf.extend_from_slice(&l.to_be_bytes());
            } else {
                buf.push(
                    u8::try_from(value.len())
                        .map_err(|_| EncodeError::FieldOverflow("optional parameter length"))?,
                );
            }
            buf.extend_from_slice(&value);
        }
        Ok(buf)
    };
    let short = if o.extended_parameters {
        None
    } else {
        encode_params(false).ok().filter(|b| b.len() < 255)
    };
    match short {
        Some(b) => {
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        None => {
            let b = encode_params(true)?;
            out.extend_from_slice(&[255, 255]);
            let l = u16::try_from(b.len())
                .map_err(|_| EncodeError::FieldOverflow("extended optional parameters length"))?;
            out.extend_from_slice(&l.to_be_bytes());
            out.extend_from_slice(&b);
        }
    }
    Ok(())
}
