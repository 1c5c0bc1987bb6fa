//! Golden bytes in both directions (netlink-packet-route style): each value encodes to exactly
//! the annotated bytes, and the bytes decode to exactly the value with outcome "accept".

use bgpd::wire::attribute::{simple::Aggregator, Ipv6ExtendedCommunity};
use bgpd::wire::capability::{
    AddPathEntry, AddPathMode, BgpRole, ExtendedNextHopEntry, GracefulRestart,
    GracefulRestartFamily, LlgrFamily,
};
use bgpd::wire::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Asserts both directions for a whole message.
fn golden(msg: &Message, ctx: &SessionContext, bytes: &[u8]) {
    let enc = encode_message(msg, ctx).expect("encodes");
    assert_eq!(hex::encode(&enc), hex::encode(bytes), "encoding of {msg:?}");
    let d = decode_message(bytes, ctx);
    assert_eq!(d.outcome, Outcome::Accept, "outcome for {msg:?}");
    assert_eq!(d.message.as_ref(), Some(msg), "decoding");
}

/// A message: marker, length computed, type, body.
fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An UPDATE body with no withdrawn routes, the given attributes and NLRI.
fn update_body(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

/// Golden test of an MP_REACH_NLRI attribute: the UPDATE also carries ORIGIN IGP and an empty
/// AS_PATH (iBGP), the mandatory attributes of an UPDATE with NLRI.
fn golden_mp(attr: PathAttribute, ctx: &SessionContext, bytes: &[u8]) {
    let ctx = SessionContext {
        ibgp: true,
        ..ctx.clone()
    };
    let u = Update {
        attributes: PathAttributes::from_vec(vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::empty())),
            attr,
        ]),
        ..Update::default()
    };
    let mut all = vec![0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00];
    all.extend_from_slice(bytes);
    golden(&Message::Update(u), &ctx, &msg(2, &update_body(&all, &[])));
}

/// Golden test of one attribute in an UPDATE without NLRI (so no mandatory attribute applies).
fn golden_attr(attr: PathAttribute, ctx: &SessionContext, bytes: &[u8]) {
    let u = Update {
        attributes: PathAttributes::from_vec(vec![attr]),
        ..Update::default()
    };
    golden(&Message::Update(u), ctx, &msg(2, &update_body(bytes, &[])));
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("v4")
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("v6")
}
fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}
fn four() -> SessionContext {
    SessionContext::modern()
}
fn ibgp() -> SessionContext {
    SessionContext {
        ibgp: true,
        ..SessionContext::modern()
    }
}
fn two() -> SessionContext {
    SessionContext::new()
}

// ---- header and simple messages --------------------------------------------------------------

#[test]
fn keepalive() {
    #[rustfmt::skip]
    let bytes = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // marker
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // marker
        0x00, 0x13, // length 19
        0x04, // type KEEPALIVE
    ];
    golden(&Message::Keepalive, &two(), &bytes);
    assert_eq!(bytes, keepalive::KEEPALIVE);
}

#[test]
fn notification_with_shutdown_communication() {
    let n = Notification::shutdown("maint", false);
    #[rustfmt::skip]
    let body = [
        0x06, // code: Cease
        0x02, // subcode: Administrative Shutdown
        0x05, // shutdown communication length
        b'm', b'a', b'i', b'n', b't', // UTF-8 text
    ];
    golden(&Message::Notification(n.clone()), &two(), &msg(3, &body));
    assert_eq!(n.shutdown_communication(), Ok(Some("maint")));
}

#[test]
fn notification_plain() {
    let n = Notification::new(3, 1, vec![]);
    golden(
        &Message::Notification(n),
        &two(),
        &msg(
            3,
            &[
                0x03, /* UPDATE Message Error */
                0x01, /* Malformed Attribute List */
            ],
        ),
    );
}

#[test]
fn route_refresh_subtypes() {
    for (st, code) in [
        (RouteRefreshSubtype::Normal, 0u8),
        (RouteRefreshSubtype::BeginningOfRouteRefresh, 1),
        (RouteRefreshSubtype::EndOfRouteRefresh, 2),
    ] {
        let rr = RouteRefresh {
            afi_safi: AfiSafi::IPV6_UNICAST,
            subtype: st,
            orf: vec![],
        };
        #[rustfmt::skip]
        let body = [
            0x00, 0x02, // AFI IPv6
            code,       // Message Subtype (RFC 7313)
            0x01,       // SAFI unicast
        ];
        golden(&Message::RouteRefresh(rr), &two(), &msg(5, &body));
    }
}

// ---- OPEN and capabilities ----------------------------------------------------------------------

fn open_with(caps: Vec<Capability>) -> Open {
    Open {
        version: 4,
        my_as: 65001,
        hold_time: HoldTime::new(90).expect("hold"),
        bgp_identifier: RouterId(v4("10.0.0.2")),
        parameters: vec![OptionalParameter::Capabilities(caps)],
        extended_parameters: false,
    }
}

/// The OPEN body with one Capabilities parameter holding `caps` (already encoded).
fn open_body(caps: &[u8]) -> Vec<u8> {
    #[rustfmt::skip]
    let mut b = vec![
        0x04,             // version 4
        0xfd, 0xe9,       // My AS 65001
        0x00, 0x5a,       // hold time 90
        10, 0, 0, 2,      // BGP identifier 10.0.0.2
        (caps.len() + 2) as u8, // Opt Parm Len
        0x02,             // parameter type: Capabilities
        caps.len() as u8, // parameter length
    ];
    b.extend_from_slice(caps);
    b
}

fn golden_cap(cap: Capability, bytes: &[u8]) {
    golden(
        &Message::Open(open_with(vec![cap])),
        &two(),
        &msg(1, &open_body(bytes)),
    );
}

#[test]
fn capability_multiprotocol() {
    golden_cap(
        Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        &[
            0x01, /* code */
            0x04, /* len */
            0x00, 0x02, /* AFI */
            0x00, /* reserved */
            0x01, /* SAFI */
        ],
    );
}

#[test]
fn capability_route_refresh_and_enhanced() {
    golden_cap(Capability::RouteRefresh, &[0x02, 0x00]);
    golden_cap(Capability::EnhancedRouteRefresh, &[0x46, 0x00]);
}

#[test]
fn capability_four_octet_as() {
    golden_cap(
        Capability::FourOctetAs(Asn(4_200_000_000)),
        &[0x41, 0x04, 0xfa, 0x56, 0xea, 0x00 /* AS 4200000000 */],
    );
}

#[test]
fn capability_graceful_restart() {
    let gr = GracefulRestart {
        restart_state: true,
        notification: true,
        restart_time: 120,
        families: vec![GracefulRestartFamily {
            afi_safi: AfiSafi::IPV4_UNICAST,
            forwarding_preserved: true,
        }],
    };
    #[rustfmt::skip]
    golden_cap(Capability::GracefulRestart(gr), &[
        0x40, 0x06, // code 64, length 6
        0xc0, 0x78, // R and N bits, restart time 120
        0x00, 0x01, 0x01, 0x80, // AFI 1, SAFI 1, F bit
    ]);
}

#[test]
fn capability_add_path() {
    let v = vec![
        AddPathEntry {
            afi_safi: AfiSafi::IPV4_UNICAST,
            mode: AddPathMode::Both,
        },
        AddPathEntry {
            afi_safi: AfiSafi::IPV6_UNICAST,
            mode: AddPathMode::Receive,
        },
    ];
    #[rustfmt::skip]
    golden_cap(Capability::AddPath(v), &[
        0x45, 0x08,             // code 69, length 8
        0x00, 0x01, 0x01, 0x03, // IPv4 unicast, send/receive
        0x00, 0x02, 0x01, 0x01, // IPv6 unicast, receive
    ]);
}

#[test]
fn capability_extended_message() {
    golden_cap(Capability::ExtendedMessage, &[0x06, 0x00]);
}

#[test]
fn capability_extended_next_hop() {
    let v = vec![ExtendedNextHopEntry {
        nlri: AfiSafi::IPV4_UNICAST,
        next_hop_afi: 2,
    }];
    #[rustfmt::skip]
    golden_cap(Capability::ExtendedNextHop(v), &[
        0x05, 0x06,  // code 5, length 6
        0x00, 0x01,  // NLRI AFI IPv4
        0x00, 0x01,  // NLRI SAFI unicast (2 octets)
        0x00, 0x02,  // next hop AFI IPv6
    ]);
}

#[test]
fn capability_role() {
    golden_cap(
        Capability::Role(BgpRole::Customer),
        &[0x09, 0x01, 0x03 /* Customer */],
    );
}

#[test]
fn capability_llgr() {
    let v = vec![LlgrFamily {
        afi_safi: AfiSafi::IPV6_UNICAST,
        flags: 0x80,
        stale_time: 3600,
    }];
    #[rustfmt::skip]
    golden_cap(Capability::LongLivedGracefulRestart(v), &[
        0x47, 0x07,             // code 71, length 7
        0x00, 0x02, 0x01,       // AFI 2, SAFI 1
        0x80,                   // F bit
        0x00, 0x0e, 0x10,       // long-lived stale time 3600 s
    ]);
}

#[test]
fn capability_unknown_kept_as_bytes() {
    golden_cap(
        Capability::Unknown {
            code: 73,
            bytes: b"\x02rt\x00".to_vec(),
        },
        &[0x49, 0x04, 0x02, b'r', b't', 0x00],
    );
    // A known code whose value does not parse is kept as bytes too.
    golden_cap(
        Capability::Unknown {
            code: 65,
            bytes: vec![1, 2],
        },
        &[0x41, 0x02, 0x01, 0x02],
    );
}

#[test]
fn open_extended_optional_parameters_rfc9072() {
    let mut o = open_with(vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(Asn(65001)),
    ]);
    o.extended_parameters = true;
    #[rustfmt::skip]
    let body = [
        0x04, 0xfd, 0xe9, 0x00, 0x5a, 10, 0, 0, 2,
        0xff,       // Non-Ext OP Len 255
        0xff,       // Non-Ext OP Type 255: extended encoding follows
        0x00, 0x0f, // Extended Opt. Parm. Length 15
        0x02,       // parameter type: Capabilities
        0x00, 0x0c, // parameter length (2 octets) 12
        0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // multiprotocol IPv4 unicast
        0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, // 4-octet AS 65001
    ];
    golden(&Message::Open(o), &two(), &msg(1, &body));
}

#[test]
fn open_extended_encoding_forced_when_long() {
    // 70 multiprotocol capabilities (6 octets each) do not fit a 1-octet length.
    let caps: Vec<Capability> = (0..70)
        .map(|i| Capability::Multiprotocol(AfiSafi::new(1, i as u8)))
        .collect();
    let o = open_with(caps);
    let enc = encode_message(&Message::Open(o.clone()), &two()).expect("encodes");
    assert_eq!(
        &enc[28..32],
        &[0xff, 0xff, 0x01, 0xa7],
        "RFC 9072 header, length 3 + 420"
    );
    let d = decode_message(&enc, &two());
    let Some(Message::Open(back)) = d.message else {
        panic!("{:?}", d.outcome)
    };
    assert!(back.extended_parameters);
    assert_eq!(back.parameters, o.parameters);
}

// ---- path attributes ----------------------------------------------------------------------------

#[test]
fn attr_origin() {
    golden_attr(
        PathAttribute::new(AttributeValue::Origin(Origin::Incomplete)),
        &four(),
        &[
            0x40, /* well-known */
            0x01, /* ORIGIN */
            0x01, 0x02, /* INCOMPLETE */
        ],
    );
}

#[test]
fn attr_as_path_four_octet() {
    let path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![Asn(65001), Asn(4_200_000_000)],
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![Asn(1)],
            },
        ],
    };
    #[rustfmt::skip]
    golden_attr(PathAttribute::new(AttributeValue::AsPath(path)), &four(), &[
        0x40, 0x02, 0x10,       // AS_PATH, length 16
        0x02, 0x02,             // AS_SEQUENCE of 2
        0x00, 0x00, 0xfd, 0xe9, // 65001
        0xfa, 0x56, 0xea, 0x00, // 4200000000
        0x01, 0x01,             // AS_SET of 1
        0x00, 0x00, 0x00, 0x01, // 1
    ]);
}

#[test]
fn attr_as_path_two_octet_and_confed() {
    let path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: vec![Asn(64512)],
            },
            AsSegment {
                kind: SegmentType::ConfedSet,
                asns: vec![Asn(64513)],
            },
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![Asn(65001)],
            },
        ],
    };
    #[rustfmt::skip]
    golden_attr(PathAttribute::new(AttributeValue::AsPath(path)), &two(), &[
        0x40, 0x02, 0x0c,       // AS_PATH, length 12
        0x03, 0x01, 0xfc, 0x00, // AS_CONFED_SEQUENCE 64512
        0x04, 0x01, 0xfc, 0x01, // AS_CONFED_SET 64513
        0x02, 0x01, 0xfd, 0xe9, // AS_SEQUENCE 65001
    ]);
}

#[test]
fn attr_next_hop_med_local_pref_atomic() {
    golden_attr(
        PathAttribute::new(AttributeValue::NextHop(v4("192.0.2.1"))),
        &four(),
        &[0x40, 0x03, 0x04, 192, 0, 2, 1],
    );
    golden_attr(
        PathAttribute::new(AttributeValue::MultiExitDisc(100)),
        &four(),
        &[0x80 /* optional */, 0x04, 0x04, 0, 0, 0, 100],
    );
    golden_attr(
        PathAttribute::new(AttributeValue::LocalPref(200)),
        &ibgp(),
        &[0x40, 0x05, 0x04, 0, 0, 0, 200],
    );
    golden_attr(
        PathAttribute::new(AttributeValue::AtomicAggregate),
        &four(),
        &[0x40, 0x06, 0x00],
    );
}

#[test]
fn attr_aggregator_both_widths() {
    let a = Aggregator {
        asn: Asn(65001),
        address: v4("192.0.2.1"),
    };
    golden_attr(
        PathAttribute::new(AttributeValue::Aggregator(a)),
        &four(),
        &[0xc0, 0x07, 0x08, 0, 0, 0xfd, 0xe9, 192, 0, 2, 1],
    );
    golden_attr(
        PathAttribute::new(AttributeValue::Aggregator(a)),
        &two(),
        &[0xc0, 0x07, 0x06, 0xfd, 0xe9, 192, 0, 2, 1],
    );
}

#[test]
fn attr_communities() {
    let c = vec![Community(0xfde9_0064), Community::NO_EXPORT];
    #[rustfmt::skip]
    golden_attr(PathAttribute::new(AttributeValue::Communities(c)), &four(), &[
        0xc0, 0x08, 0x08,       // optional transitive COMMUNITIES, length 8
        0xfd, 0xe9, 0x00, 0x64, // 65001:100
        0xff, 0xff, 0xff, 0x01, // NO_EXPORT
    ]);
}

#[test]
fn attr_originator_and_cluster_list() {
    golden_attr(
        PathAttribute::new(AttributeValue::OriginatorId(v4("192.0.2.9"))),
        &ibgp(),
        &[0x80, 0x09, 0x04, 192, 0, 2, 9],
    );
    golden_attr(
        PathAttribute::new(AttributeValue::ClusterList(vec![
            v4("192.0.2.1"),
            v4("192.0.2.2"),
        ])),
        &ibgp(),
        &[0x80, 0x0a, 0x08, 192, 0, 2, 1, 192, 0, 2, 2],
    );
}

#[test]
fn attr_mp_reach_ipv6_global_and_link_local() {
    let r = MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: v6("2001:db8::1"),
            link_local: Some(v6("fe80::1")),
        },
        nlri: MpNlri::Prefixes(vec![Nlri::new(p("2001:db8:1::/48"))]),
    };
    let a = PathAttribute {
        flags: AttrFlags(0x90),
        value: AttributeValue::MpReach(r),
    };
    #[rustfmt::skip]
    let bytes = [
        0x90, 0x0e, 0x00, 0x2c, // optional, extended length; MP_REACH_NLRI; length 44
        0x00, 0x02, 0x01,       // AFI IPv6, SAFI unicast
        0x20,                   // next hop length 32
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,       // fe80::1
        0x00,                   // reserved
        0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, // 2001:db8:1::/48
    ];
    golden_mp(a, &four(), &bytes);
}

#[test]
fn attr_mp_reach_ipv4_with_ipv6_next_hop_rfc8950_and_add_path() {
    let r = MpReach {
        afi_safi: AfiSafi::IPV4_UNICAST,
        next_hop: MpNextHop::Ipv6 {
            global: v6("2001:db8::2"),
            link_local: None,
        },
        nlri: MpNlri::Prefixes(vec![Nlri::with_path_id(p("198.51.100.0/24"), PathId(7))]),
    };
    #[rustfmt::skip]
    let bytes = [
        0x80, 0x0e, 0x1d,       // MP_REACH_NLRI, length 29
        0x00, 0x01, 0x01,       // AFI IPv4, SAFI unicast
        0x10,                   // next hop length 16 (RFC 8950)
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        0x00,                   // reserved
        0x00, 0x00, 0x00, 0x07, // path identifier 7 (RFC 7911)
        0x18, 198, 51, 100,     // 198.51.100.0/24
    ];
    golden_mp(
        PathAttribute::new(AttributeValue::MpReach(r)),
        &SessionContext::everything(),
        &bytes,
    );
}

#[test]
fn attr_mp_reach_opaque_family() {
    let r = MpReach {
        afi_safi: AfiSafi::new(1, 128),
        next_hop: MpNextHop::Opaque(vec![0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1]),
        nlri: MpNlri::Opaque(vec![0x70, 0, 0, 0x11]),
    };
    #[rustfmt::skip]
    golden_mp(PathAttribute::new(AttributeValue::MpReach(r)), &four(), &[
        0x80, 0x0e, 0x15,       // MP_REACH_NLRI, length 21
        0x00, 0x01, 0x80,       // AFI IPv4, SAFI 128 (VPN): not decoded
        0x0c,                   // next hop length 12 (RD + IPv4), kept as bytes
        0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1,
        0x00,                   // reserved
        0x70, 0x00, 0x00, 0x11, // NLRI kept as bytes
    ]);
}

#[test]
fn attr_mp_unreach() {
    let u = MpUnreach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        withdrawn: MpNlri::Prefixes(vec![Nlri::new(p("2001:db8::/32"))]),
    };
    #[rustfmt::skip]
    golden_attr(PathAttribute::new(AttributeValue::MpUnreach(u)), &four(), &[
        0x80, 0x0f, 0x08,       // MP_UNREACH_NLRI, length 8
        0x00, 0x02, 0x01,       // AFI IPv6, SAFI unicast
        0x20, 0x20, 0x01, 0x0d, 0xb8, // 2001:db8::/32
    ]);
}

#[test]
fn attr_extended_and_large_communities_and_ipv6_extended() {
    let e = ExtendedCommunity([0x00, 0x02, 0xfd, 0xe9, 0, 0, 0, 100]);
    golden_attr(
        PathAttribute::new(AttributeValue::ExtendedCommunities(vec![e])),
        &four(),
        &[
            0xc0, 0x10, 0x08, 0x00, 0x02, /* route target */
            0xfd, 0xe9, 0, 0, 0, 100,
        ],
    );
    let l = LargeCommunity {
        global_admin: 65001,
        local_data_1: 1,
        local_data_2: 2,
    };
    #[rustfmt::skip]
    golden_attr(PathAttribute::new(AttributeValue::LargeCommunities(vec![l])), &four(), &[
        0xc0, 0x20, 0x0c,       // LARGE_COMMUNITY, length 12
        0, 0, 0xfd, 0xe9,       // global administrator 65001
        0, 0, 0, 1, 0, 0, 0, 2, // local data 1, 2
    ]);
    let mut b = [0u8; 20];
    b[1] = 0x02;
    b[2..18].copy_from_slice(&v6("2001:db8::1").octets());
    b[19] = 1;
    let mut bytes = vec![0xc0, 0x19, 0x14];
    bytes.extend_from_slice(&b);
    golden_attr(
        PathAttribute::new(AttributeValue::Ipv6ExtendedCommunities(vec![
            Ipv6ExtendedCommunity(b),
        ])),
        &four(),
        &bytes,
    );
}

#[test]
fn attr_as4_path_and_as4_aggregator_on_two_octet_session() {
    let path = AsPath::sequence([Asn(4_200_000_000)]);
    golden_attr(
        PathAttribute::new(AttributeValue::As4Path(path)),
        &two(),
        &[0xc0, 0x11, 0x06, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00],
    );
    let a = Aggregator {
        asn: Asn(4_200_000_000),
        address: v4("192.0.2.1"),
    };
    golden_attr(
        PathAttribute::new(AttributeValue::As4Aggregator(a)),
        &two(),
        &[0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x00, 192, 0, 2, 1],
    );
}

#[test]
fn attr_otc() {
    golden_attr(
        PathAttribute::new(AttributeValue::Otc(Asn(65001))),
        &four(),
        &[0xc0, 0x23, 0x04, 0, 0, 0xfd, 0xe9],
    );
}

#[test]
fn attr_unknown_kept_with_flags() {
    let a = PathAttribute {
        flags: AttrFlags(0xe0),
        value: AttributeValue::Opaque {
            type_code: 0xfe,
            value: vec![0xde, 0xad],
        },
    };
    golden_attr(
        a,
        &four(),
        &[
            0xe0, /* optional transitive partial */
            0xfe, 0x02, 0xde, 0xad,
        ],
    );
    // Extended Length kept even for a short value (RFC 4271 section 4.3 allows it).
    let a = PathAttribute {
        flags: AttrFlags(0x50),
        value: AttributeValue::AtomicAggregate,
    };
    golden_attr(a, &four(), &[0x50, 0x06, 0x00, 0x00]);
}

#[test]
fn low_flag_bits_ignored_and_sent_as_zero() {
    // AGGREGATOR with flags 0xc8 (RFC 4271 section 4.3: the low four bits MUST be ignored).
    let bytes = msg(
        2,
        &update_body(&[0xc8, 0x07, 0x08, 0, 0, 0, 0x44, 192, 0, 2, 1], &[]),
    );
    let d = decode_message(&bytes, &four());
    assert_eq!(d.outcome, Outcome::Accept);
    let m = d.message.expect("message");
    let again = encode_message(&m, &four()).expect("encodes");
    assert_eq!(again[23], 0xc0, "low bits cleared");
}

// ---- UPDATE as a whole ----------------------------------------------------------------------------

#[test]
fn update_full_with_add_path() {
    let ctx = SessionContext::everything();
    let u = Update {
        withdrawn: vec![Nlri::with_path_id(p("192.0.2.0/25"), PathId(1))],
        attributes: builder::attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(65001)])),
            AttributeValue::NextHop(v4("192.0.2.254")),
        ]),
        nlri: vec![
            Nlri::with_path_id(p("203.0.113.0/24"), PathId(2)),
            Nlri::with_path_id(p("0.0.0.0/0"), PathId(3)),
        ],
    };
    #[rustfmt::skip]
    let body = [
        0x00, 0x09,                         // withdrawn routes length 9
        0, 0, 0, 1, 0x19, 192, 0, 2, 0,     // path id 1, 192.0.2.0/25
        0x00, 0x14,                         // total path attribute length 20
        0x40, 0x01, 0x01, 0x00,             // ORIGIN IGP
        0x40, 0x02, 0x06, 0x02, 0x01, 0, 0, 0xfd, 0xe9, // AS_PATH 65001
        0x40, 0x03, 0x04, 192, 0, 2, 254,   // NEXT_HOP
        0, 0, 0, 2, 0x18, 203, 0, 113,      // path id 2, 203.0.113.0/24
        0, 0, 0, 3, 0x00,                   // path id 3, 0.0.0.0/0
    ];
    golden(&Message::Update(u), &ctx, &msg(2, &body));
}

#[test]
fn end_of_rib_markers() {
    let ctx = four();
    golden(
        &Message::Update(Update::end_of_rib(AfiSafi::IPV4_UNICAST)),
        &ctx,
        &msg(2, &[0, 0, 0, 0]),
    );
    let v6 = Update::end_of_rib(AfiSafi::IPV6_UNICAST);
    golden(
        &Message::Update(v6.clone()),
        &ctx,
        &msg(2, &[0, 0, 0, 6, 0x80, 0x0f, 0x03, 0x00, 0x02, 0x01]),
    );
    assert_eq!(v6.as_end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
    assert_eq!(
        Update::end_of_rib(AfiSafi::IPV4_UNICAST).as_end_of_rib(),
        Some(AfiSafi::IPV4_UNICAST)
    );
}
