//! Property tests: generated messages survive encode/decode unchanged, and decoding arbitrary
//! bytes never panics.

use bgpd::wire::attribute::simple::Aggregator;
use bgpd::wire::capability::{
    AddPathEntry, AddPathMode, BgpRole, GracefulRestart, GracefulRestartFamily,
};
use bgpd::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn ctx() -> SessionContext {
    // Everything negotiated, ADD-PATH both ways, internal peer: every attribute is legal.
    SessionContext {
        ibgp: true,
        ..SessionContext::everything()
    }
}

fn host_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<[u8; 3]>()).prop_filter_map("not loopback", |(a, r)| {
        (a != 127).then(|| Ipv4Addr::new(a, r[0], r[1], r[2]))
    })
}

fn v4_nlri() -> impl Strategy<Value = Nlri> {
    (any::<u32>(), 0u8..=32, any::<u32>()).prop_map(|(a, l, id)| {
        Nlri::with_path_id(
            Ipv4Prefix::new(Ipv4Addr::from(a), l).expect("len <= 32"),
            PathId(id),
        )
    })
}

fn v6_nlri() -> impl Strategy<Value = Nlri> {
    (any::<u128>(), 0u8..=128, any::<u32>()).prop_map(|(a, l, id)| {
        Nlri::with_path_id(
            Ipv6Prefix::new(Ipv6Addr::from(a), l).expect("len <= 128"),
            PathId(id),
        )
    })
}

fn asn() -> impl Strategy<Value = Asn> {
    (1u32..).prop_map(Asn)
}

fn as_path() -> impl Strategy<Value = AsPath> {
    let seg = (
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ],
        vec(asn(), 1..20),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    vec(seg, 0..4).prop_map(|segments| AsPath { segments })
}

fn optional_attr() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        any::<u32>().prop_map(AttributeValue::MultiExitDisc),
        any::<u32>().prop_map(AttributeValue::LocalPref),
        Just(AttributeValue::AtomicAggregate),
        (asn(), any::<[u8; 4]>()).prop_map(|(asn, a)| AttributeValue::Aggregator(Aggregator {
            asn,
            address: Ipv4Addr::from(a)
        })),
        vec(any::<u32>().prop_map(Community), 1..10).prop_map(AttributeValue::Communities),
        any::<[u8; 4]>().prop_map(|a| AttributeValue::OriginatorId(Ipv4Addr::from(a))),
        vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 1..5).prop_map(AttributeValue::ClusterList),
        vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..5)
            .prop_map(AttributeValue::ExtendedCommunities),
        vec(
            any::<[u32; 3]>().prop_map(|v| LargeCommunity {
                global_admin: v[0],
                local_data_1: v[1],
                local_data_2: v[2]
            }),
            1..5
        )
        .prop_map(AttributeValue::LargeCommunities),
        any::<u32>().prop_map(|a| AttributeValue::Otc(Asn(a))),
        // Unrecognized optional attributes (type codes this codec does not know).
        (
            prop_oneof![Just(0u8), 50u8..=200, Just(255u8)],
            vec(any::<u8>(), 0..300)
        )
            .prop_map(|(type_code, value)| AttributeValue::Opaque { type_code, value }),
        (
            vec(v6_nlri(), 1..20),
            any::<[u8; 16]>(),
            proptest::option::of(any::<[u8; 16]>())
        )
            .prop_map(|(n, g, ll)| {
                AttributeValue::MpReach(MpReach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    next_hop: MpNextHop::Ipv6 {
                        global: Ipv6Addr::from(g),
                        link_local: ll.map(Ipv6Addr::from),
                    },
                    nlri: MpNlri::Prefixes(n),
                })
            }),
        vec(v6_nlri(), 0..20).prop_map(|n| AttributeValue::MpUnreach(MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: MpNlri::Prefixes(n)
        })),
    ]
}

fn update() -> impl Strategy<Value = Update> {
    (
        vec(v4_nlri(), 0..50),
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(),
        host_v4(),
        vec(optional_attr(), 0..8),
        vec(v4_nlri(), 0..50),
        any::<bool>(),
    )
        .prop_map(|(withdrawn, origin, path, nh, extra, nlri, ext_len)| {
            let mut attrs = PathAttributes::new();
            attrs.set(AttributeValue::Origin(origin));
            attrs.set(AttributeValue::AsPath(path));
            attrs.set(AttributeValue::NextHop(nh));
            for a in extra {
                if attrs.get(a.type_code()).is_none() {
                    let mut pa = PathAttribute::new(a);
                    if ext_len {
                        pa.flags = AttrFlags(pa.flags.0 | AttrFlags::EXTENDED_LENGTH);
                    }
                    attrs.insert(pa);
                }
            }
            Update {
                withdrawn,
                attributes: attrs,
                nlri,
            }
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let fam = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| AfiSafi::new(a, s));
    prop_oneof![
        fam.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        asn().prop_map(Capability::FourOctetAs),
        any::<u8>().prop_map(|r| Capability::Role(BgpRole::from_code(r))),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            vec((fam.clone(), any::<bool>()), 0..4)
        )
            .prop_map(|(r, n, t, f)| {
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: r,
                    notification: n,
                    restart_time: t,
                    families: f
                        .into_iter()
                        .map(|(afi_safi, fp)| GracefulRestartFamily {
                            afi_safi,
                            forwarding_preserved: fp,
                        })
                        .collect(),
                })
            }),
        vec(
            (
                fam,
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            ),
            1..4
        )
        .prop_map(|v| Capability::AddPath(
            v.into_iter()
                .map(|(afi_safi, mode)| AddPathEntry { afi_safi, mode })
                .collect()
        )),
        (100u8..=200, vec(any::<u8>(), 0..40))
            .prop_map(|(code, bytes)| Capability::Unknown { code, bytes }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Keepalive),
        update().prop_map(Message::Update),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100))
            .prop_map(|(c, s, d)| Message::Notification(Notification::new(c, s, d))),
        (
            any::<u16>(),
            any::<u8>(),
            prop_oneof![Just(0u8), Just(1u8), Just(2u8), 3u8..]
        )
            .prop_map(|(a, s, st)| {
                let subtype = match st {
                    0 => RouteRefreshSubtype::Normal,
                    1 => RouteRefreshSubtype::BeginningOfRouteRefresh,
                    2 => RouteRefreshSubtype::EndOfRouteRefresh,
                    v => RouteRefreshSubtype::Unknown(v),
                };
                Message::RouteRefresh(RouteRefresh {
                    afi_safi: AfiSafi::new(a, s),
                    subtype,
                    orf: vec![],
                })
            }),
        (
            1u16..,
            any::<u16>(),
            1u32..,
            vec(vec(capability(), 0..6), 0..4),
            any::<bool>()
        )
            .prop_map(|(my_as, hold, id, params, ext)| {
                Message::Open(Open {
                    version: 4,
                    my_as,
                    hold_time: HoldTime::new(hold).unwrap_or(HoldTime::DEFAULT),
                    bgp_identifier: RouterId(Ipv4Addr::from(id)),
                    parameters: params
                        .into_iter()
                        .map(OptionalParameter::Capabilities)
                        .collect(),
                    extended_parameters: ext,
                })
            }),
    ]
}

/// `m` with the Extended Length flag set where the encoder must set it (values over 255 octets):
/// what the decoder reports as received.
fn with_wire_flags(m: &Message, c: &SessionContext) -> Message {
    let Message::Update(u) = m else {
        return m.clone();
    };
    let mut u = u.clone();
    let attrs: Vec<PathAttribute> = u
        .attributes
        .iter()
        .map(|a| {
            let one = Update {
                attributes: PathAttributes::from_vec(vec![a.clone()]),
                ..Update::default()
            };
            let b = encode_message(&Message::Update(one), c).expect("encodes");
            PathAttribute {
                flags: AttrFlags(b[23]),
                value: a.value.clone(),
            }
        })
        .collect();
    u.attributes = PathAttributes::from_vec(attrs);
    Message::Update(u)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trip(m in message()) {
        let c = ctx();
        let bytes = encode_message(&m, &c).expect("generated messages fit 65535 octets");
        let d = decode_message(&bytes, &c);
        prop_assert_eq!(&d.outcome, &Outcome::Accept);
        prop_assert_eq!(d.message.as_ref(), Some(&with_wire_flags(&m, &c)));
        // Deterministic: re-encoding gives the same bytes.
        prop_assert_eq!(encode_message(d.message.as_ref().expect("message"), &c).expect("encodes"), bytes);
    }

    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..600), sel in 0u8..4) {
        let c = match sel { 0 => SessionContext::new(), 1 => SessionContext::modern(), 2 => ctx(), _ => SessionContext::everything() };
        let _ = frame(&bytes, &c);
        let _ = decode_message(&bytes, &c);
    }

    #[test]
    fn decode_never_panics_on_framed_bodies(kind in 1u8..=5, body in vec(any::<u8>(), 0..600), sel in 0u8..4) {
        let c = match sel { 0 => SessionContext::new(), 1 => SessionContext::modern(), 2 => ctx(), _ => SessionContext::everything() };
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(kind);
        m.extend_from_slice(&body);
        let d = decode_message(&m, &c);
        // What is accepted re-encodes and decodes to the same message.
        if let (Outcome::Accept, Some(msg)) = (&d.outcome, &d.message) {
            let again = encode_message(msg, &c.reversed()).expect("re-encodes");
            let d2 = decode_message(&again, &c);
            prop_assert_eq!(d2.message.as_ref(), Some(msg));
        }
    }

    #[test]
    fn builder_packs_within_limits_and_round_trips(n in vec(v4_nlri(), 1..3000), ext in any::<bool>()) {
        let c = SessionContext { extended_message: ext, ..ctx() };
        let attrs = builder::attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(65001)])),
            AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
        ]);
        let ups = UpdateBuilder::new(&c).announce(AfiSafi::IPV4_UNICAST, &attrs, None, &n).expect("builds");
        let mut back = Vec::new();
        for u in &ups {
            let b = encode_message(&Message::Update(u.clone()), &c).expect("fits");
            prop_assert!(b.len() <= c.max_message_len());
            let Some(Message::Update(d)) = decode_message(&b, &c).message else { panic!("decodes") };
            back.extend(d.nlri);
        }
        prop_assert_eq!(back, n.clone());
        // As few messages as possible: all but the last are too full to take one more prefix.
        let total: usize = n.iter().map(|x| x.wire_len(true)).sum();
        let min = total.div_ceil(c.max_message_len() - 23 - 25);
        prop_assert!(ups.len() <= min + 1, "{} messages for {} octets", ups.len(), total);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The RIB's shortcut (announce_v4_encoded, from a set's stored octets) sends exactly what
    /// the builder sends from the decoded set, whenever it applies, and applies to every set
    /// without MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH and AS4_AGGREGATOR on a 4-octet AS
    /// session without ADD-PATH send.
    #[test]
    fn encoded_announce_matches_the_builder(
        u in update(),
        n in vec(v4_nlri(), 1..2500),
        ext in any::<bool>(),
        two_octet in proptest::bool::weighted(0.2),
    ) {
        let c = SessionContext {
            extended_message: ext,
            four_octet_as: !two_octet,
            add_path_send: Vec::new(),
            ..ctx()
        };
        // The RIB's export takes the attributes to pass on without copying them: the same.
        prop_assert_eq!(u.attributes.clone().into_propagation(), u.attributes.for_propagation());
        let n: Vec<Nlri> = n.into_iter().map(|x| Nlri::new(x.prefix)).collect();
        // The Path Attributes field as encoded on a 4-octet session (how the RIB stores it).
        let four = SessionContext { four_octet_as: true, ..c.clone() };
        let only_attrs = Update { withdrawn: Vec::new(), attributes: u.attributes.clone(), nlri: Vec::new() };
        let Ok(m) = encode_message(&Message::Update(only_attrs), &four) else {
            return Ok(()); // does not fit this session
        };
        let field = &m[HEADER_LEN + 4..];
        let b = UpdateBuilder::new(&c);
        let mut fast = Vec::new();
        let took = b.announce_v4_encoded(field, &n, &mut fast);
        let plain = [type_code::MP_REACH_NLRI, type_code::MP_UNREACH_NLRI, type_code::AS4_PATH, type_code::AS4_AGGREGATOR]
            .iter()
            .all(|t| u.attributes.get(*t).is_none());
        prop_assert_eq!(took, plain && !two_octet, "taken: {}", took);
        if !took {
            prop_assert!(fast.is_empty());
            return Ok(());
        }
        let slow: Vec<Vec<u8>> = b
            .announce(AfiSafi::IPV4_UNICAST, &u.attributes, None, &n)
            .expect("builds")
            .into_iter()
            .map(|x| encode_message(&Message::Update(x), &c).expect("fits"))
            .collect();
        prop_assert_eq!(fast, slow);
    }
}
