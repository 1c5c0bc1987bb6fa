//! What decoding and encoding depend on: the capabilities both sides negotiated in their OPENs.
//! Nothing is guessed from the bytes; the session (or the operator, for captures) says it.

use super::types::AfiSafi;

/// Maximum BGP message size without the Extended Message capability (RFC 4271 section 4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum BGP message size with the Extended Message capability (RFC 8654 section 3).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// The negotiated session parameters the codec needs.
///
/// ADD-PATH is directional (RFC 7911 section 4): `add_path_receive` lists the AFI/SAFIs whose
/// NLRI *we receive* with Path Identifiers (we advertised Receive and the peer Send); it governs
/// decoding. `add_path_send` lists those we *send* with Path Identifiers; it governs encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionContext {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry
    /// 4-octet ASNs, AS4_PATH/AS4_AGGREGATOR are not expected.
    pub four_octet_as: bool,
    /// AFI/SAFIs whose received NLRI carry a Path Identifier (RFC 7911).
    pub add_path_receive: Vec<AfiSafi>,
    /// AFI/SAFIs whose sent NLRI carry a Path Identifier (RFC 7911).
    pub add_path_send: Vec<AfiSafi>,
    /// Both sides advertised the Extended Message capability (RFC 8654): messages up to 65535 octets
    /// (OPEN and KEEPALIVE stay limited to 4096).
    pub extended_message: bool,
    /// The peer is in our AS (internal BGP): LOCAL_PREF is expected, and some RFC 7606 outcomes
    /// differ (ORIGINATOR_ID, CLUSTER_LIST).
    pub ibgp: bool,
    /// The AFI/SAFIs negotiated by the Multiprotocol capability (RFC 4760). IPv4 unicast is
    /// implied when no Multiprotocol capability was exchanged (RFC 4760 section 8, RFC 5492).
    pub afi_safis: Vec<AfiSafi>,
    /// AFI/SAFIs for which IPv6 next hops of IPv4 NLRI are allowed (RFC 8950 Extended Next Hop).
    pub extended_next_hop: Vec<AfiSafi>,
}

impl SessionContext {
    /// The context before any capability is negotiated: 2-octet AS, no ADD-PATH, 4096-octet
    /// messages, eBGP, IPv4 unicast only.
    pub fn new() -> Self {
        SessionContext {
            afi_safis: vec![AfiSafi::IPV4_UNICAST],
            ..Default::default()
        }
    }

    /// Everything negotiated: 4-octet AS, extended messages, IPv4 and IPv6 unicast, but no
    /// ADD-PATH (which changes the NLRI encoding and so must be asked for explicitly).
    pub fn modern() -> Self {
        SessionContext {
            four_octet_as: true,
            extended_message: true,
            afi_safis: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            extended_next_hop: vec![AfiSafi::IPV4_UNICAST],
            ..Default::default()
        }
    }

    /// [`SessionContext::modern`] plus ADD-PATH in both directions for IPv4 and IPv6 unicast.
    pub fn everything() -> Self {
        let both = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
        SessionContext {
            add_path_receive: both.clone(),
            add_path_send: both,
            ..Self::modern()
        }
    }

    /// The largest message this session accepts and sends, in octets (4096 or 65535).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// Whether received NLRI of `afi_safi` carry Path Identifiers.
    pub fn receives_path_id(&self, afi_safi: AfiSafi) -> bool {
        self.add_path_receive.contains(&afi_safi)
    }

    /// Whether sent NLRI of `afi_safi` carry Path Identifiers.
    pub fn sends_path_id(&self, afi_safi: AfiSafi) -> bool {
        self.add_path_send.contains(&afi_safi)
    }

    /// Whether `afi_safi` was negotiated.
    pub fn negotiated(&self, afi_safi: AfiSafi) -> bool {
        self.afi_safis.contains(&afi_safi)
    }

    /// The same session seen from the peer: ADD-PATH directions swapped. Useful to decode what
    /// we encoded.
    pub fn reversed(&self) -> Self {
        SessionContext {
            add_path_receive: self.add_path_send.clone(),
            add_path_send: self.add_path_receive.clone(),
            ..self.clone()
        }
    }
}

impl SessionContext {
    /// The context negotiated by our OPEN (`local`) and the peer's (`remote`), RFC 5492:
    /// a capability applies when both advertised it; ADD-PATH receive for a family when we
    /// advertised Receive and the peer Send (RFC 7911 section 4), send the other way round.
    pub fn negotiate(local: &super::open::Open, remote: &super::open::Open, ibgp: bool) -> Self {
        use super::capability::Capability as C;
        let mp = |o: &super::open::Open| -> Vec<AfiSafi> {
            o.capabilities()
                .filter_map(|c| {
                    if let C::Multiprotocol(f) = c {
                        Some(*f)
                    } else {
                        None
                    }
                })
                .collect()
        };
        let add_path = |o: &super::open::Open| -> Vec<super::capability::AddPathEntry> {
            o.capabilities()
                .filter_map(|c| {
                    if let C::AddPath(v) = c {
                        Some(v.clone())
                    } else {
                        None
                    }
                })
                .flatten()
                .collect()
        };
        let enh = |o: &super::open::Open| -> Vec<AfiSafi> {
            o.capabilities()
                .filter_map(|c| {
                    if let C::ExtendedNextHop(v) = c {
                        Some(v.clone())
                    } else {
                        None
                    }
                })
                .flatten()
                .filter(|e| e.next_hop_afi == 2)
                .map(|e| e.nlri)
                .collect()
        };
        // A speaker that advertises no Multiprotocol capability speaks IPv4 unicast only
        // (RFC 4760 section 8: it is treated as not supporting the extensions, i.e. plain
        // RFC 4271 NLRI), so it counts as having advertised ipv4/unicast.
        let implied = |v: Vec<AfiSafi>| {
            if v.is_empty() {
                vec![AfiSafi::IPV4_UNICAST]
            } else {
                v
            }
        };
        let (lmp, rmp) = (implied(mp(local)), implied(mp(remote)));
        let afi_safis = lmp.iter().copied().filter(|f| rmp.contains(f)).collect();
        let (lap, rap) = (add_path(local), add_path(remote));
        let mut add_path_receive = Vec::new();
        let mut add_path_send = Vec::new();
        for l in &lap {
            if let Some(r) = rap.iter().find(|r| r.afi_safi == l.afi_safi) {
                if l.mode.can_receive() && r.mode.can_send() {
                    add_path_receive.push(l.afi_safi);
                }
                if l.mode.can_send() && r.mode.can_receive() {
                    add_path_send.push(l.afi_safi);
                }
            }
        }
        let renh = enh(remote);
        let both = |code: u8| local.has_capability(code) && remote.has_capability(code);
        SessionContext {
            four_octet_as: both(super::capability::code::FOUR_OCTET_AS),
            add_path_receive,
            add_path_send,
            extended_message: both(super::capability::code::EXTENDED_MESSAGE),
            ibgp,
            afi_safis,
            extended_next_hop: enh(local)
                .into_iter()
                .filter(|f| renh.contains(f))
                .collect(),
        }
    }
}
