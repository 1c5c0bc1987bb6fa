//! Behaviour beyond single messages: the UPDATE builder, the RFC 6793 AS path merge, the
//! RFC 9234 role and OTC procedures, shutdown communications, the framer, OPEN negotiation.

use bgpd::wire::attribute::simple::Aggregator;
use bgpd::wire::capability::{AddPathEntry, AddPathMode, BgpRole};
use bgpd::wire::role::{check_roles, otc_egress, otc_ingress, OtcEgress, OtcIngress};
use bgpd::wire::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn asns(v: &[u32]) -> Vec<Asn> {
    v.iter().map(|&a| Asn(a)).collect()
}

fn base_attrs(path: AsPath) -> PathAttributes {
    builder::attributes([
        AttributeValue::Origin(Origin::Igp),
        AttributeValue::AsPath(path),
        AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
    ])
}

fn prefixes_v4(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            Nlri::new(Ipv4Prefix::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).expect("prefix"))
        })
        .collect()
}

#[test]
fn builder_packs_ipv4_into_the_fewest_4096_octet_messages() {
    let ctx = SessionContext::modern();
    let ctx = SessionContext {
        extended_message: false,
        ..ctx
    };
    let attrs = base_attrs(AsPath::sequence([Asn(65001)]));
    let nlri = prefixes_v4(2000); // 4 octets each: 8000 octets of NLRI
    let ups = UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV4_UNICAST, &attrs, None, &nlri)
        .expect("builds");
    // Fixed part: 19 header + 4 lengths + 20 attributes = 43; (4096 - 43) / 4 = 1013 per message.
    assert_eq!(
        ups.iter().map(|u| u.nlri.len()).collect::<Vec<_>>(),
        vec![1013, 987]
    );
    for u in &ups {
        let b = encode_message(&Message::Update(u.clone()), &ctx).expect("encodes");
        assert!(b.len() <= 4096);
    }
    let first = encode_message(&Message::Update(ups[0].clone()), &ctx).expect("encodes");
    assert_eq!(first.len(), 43 + 4 * 1013);
}

#[test]
fn builder_uses_extended_messages_when_negotiated() {
    let ctx = SessionContext::modern(); // extended_message: true
    let attrs = base_attrs(AsPath::sequence([Asn(65001)]));
    let ups = UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV4_UNICAST, &attrs, None, &prefixes_v4(2000))
        .expect("builds");
    assert_eq!(ups.len(), 1);
}

#[test]
fn builder_ipv6_in_mp_reach_and_withdrawals() {
    let ctx = SessionContext {
        extended_message: false,
        ..SessionContext::everything()
    };
    let attrs = base_attrs(AsPath::sequence([Asn(65001)]));
    let nlri: Vec<Nlri> = (0..600u32)
        .map(|i| {
            Nlri::with_path_id(
                Ipv6Prefix::new(
                    Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64)),
                    64,
                )
                .expect("p"),
                PathId(i),
            )
        })
        .collect();
    let nh = MpNextHop::Ipv6 {
        global: "2001:db8::1".parse().expect("v6"),
        link_local: None,
    };
    let ups = UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV6_UNICAST, &attrs, Some(nh), &nlri)
        .expect("builds");
    let mut back = Vec::new();
    for u in &ups {
        assert!(u.nlri.is_empty(), "IPv6 goes in MP_REACH_NLRI");
        assert!(
            u.attributes.next_hop().is_none(),
            "no NEXT_HOP for MP-only UPDATEs"
        );
        let b = encode_message(&Message::Update(u.clone()), &ctx).expect("encodes");
        assert!(b.len() <= 4096);
        let d = decode_message(&b, &ctx);
        assert_eq!(d.outcome, Outcome::Accept);
        let Some(Message::Update(du)) = d.message else {
            panic!("update")
        };
        back.extend(
            du.attributes
                .mp_reach()
                .expect("mp reach")
                .nlri
                .prefixes()
                .to_vec(),
        );
    }
    assert_eq!(back, nlri);
    // 600 entries of 13 octets do not fit one 4096-octet message; two do.
    assert_eq!(ups.len(), 2);

    let w = UpdateBuilder::new(&ctx)
        .withdraw(AfiSafi::IPV6_UNICAST, &nlri)
        .expect("builds");
    assert_eq!(w.len(), 2);
    let total: usize = w.iter().map(|u| u.withdrawn_count()).sum();
    assert_eq!(total, 600);
    let w4 = UpdateBuilder::new(&ctx)
        .withdraw(AfiSafi::IPV4_UNICAST, &prefixes_v4(10))
        .expect("builds");
    assert_eq!(w4.len(), 1);
    assert_eq!(w4[0].withdrawn.len(), 10);
}

#[test]
fn builder_splits_long_as_path_segments() {
    let ctx = SessionContext::modern();
    let long: Vec<Asn> = (1..=300).map(Asn).collect();
    let attrs = base_attrs(AsPath::sequence(long.clone()));
    let ups = UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV4_UNICAST, &attrs, None, &prefixes_v4(1))
        .expect("builds");
    let b = encode_message(&Message::Update(ups[0].clone()), &ctx).expect("encodes");
    let d = decode_message(&b, &ctx);
    assert_eq!(d.outcome, Outcome::Accept);
    let Some(Message::Update(u)) = d.message else {
        panic!("update")
    };
    let p = u.attributes.as_path().expect("as path");
    assert_eq!(p.segments.len(), 2);
    assert_eq!(p.segments[0].asns.len(), 255);
    assert_eq!(p.segments[1].asns.len(), 45);
    assert_eq!(p.asns().collect::<Vec<_>>(), long);
    assert_eq!(p.route_selection_len(), 300);
}

#[test]
fn builder_adds_as4_path_on_two_octet_sessions() {
    let ctx = SessionContext::new();
    let mut attrs = base_attrs(AsPath::sequence(asns(&[4_200_000_000, 65001])));
    attrs.set(AttributeValue::Aggregator(Aggregator {
        asn: Asn(4_200_000_001),
        address: Ipv4Addr::new(192, 0, 2, 9),
    }));
    let ups = UpdateBuilder::new(&ctx)
        .announce(AfiSafi::IPV4_UNICAST, &attrs, None, &prefixes_v4(1))
        .expect("builds");
    let b = encode_message(&Message::Update(ups[0].clone()), &ctx).expect("encodes");
    let d = decode_message(&b, &ctx);
    assert_eq!(d.outcome, Outcome::Accept);
    let Some(Message::Update(u)) = d.message else {
        panic!("update")
    };
    // On the wire: AS_TRANS in AS_PATH and AGGREGATOR, the real values in the AS4 attributes.
    assert_eq!(
        u.attributes
            .as_path()
            .expect("path")
            .asns()
            .collect::<Vec<_>>(),
        asns(&[23456, 65001])
    );
    assert_eq!(
        u.attributes
            .effective_as_path()
            .expect("path")
            .asns()
            .collect::<Vec<_>>(),
        asns(&[4_200_000_000, 65001])
    );
    assert_eq!(
        u.attributes.effective_aggregator().expect("agg").asn,
        Asn(4_200_000_001)
    );
    // On a 4-octet session the builder never sends AS4 attributes.
    let ctx4 = SessionContext::modern();
    let ups = UpdateBuilder::new(&ctx4)
        .announce(AfiSafi::IPV4_UNICAST, &u.attributes, None, &prefixes_v4(1))
        .expect("builds");
    assert!(ups[0].attributes.as4_path().is_none());
}

#[test]
fn as4_path_merge_rfc6793() {
    // AS_PATH (2-octet view) with more ASNs than AS4_PATH: keep the leading ones.
    let as_path = AsPath::sequence(asns(&[65010, 23456, 23456, 65001]));
    let as4 = AsPath::sequence(asns(&[4_200_000_000, 4_200_000_001, 65001]));
    assert_eq!(
        as_path.merge_as4(&as4).asns().collect::<Vec<_>>(),
        asns(&[65010, 4_200_000_000, 4_200_000_001, 65001])
    );
    // AS4_PATH longer than AS_PATH: ignored.
    let short = AsPath::sequence(asns(&[23456]));
    assert_eq!(short.merge_as4(&as4), short);
    // An AS_SET counts one.
    let with_set = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: asns(&[65010, 23456]),
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: asns(&[1, 2, 3]),
            },
        ],
    };
    let as4 = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: asns(&[4_200_000_000]),
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: asns(&[1, 2, 3]),
            },
        ],
    };
    let merged = with_set.merge_as4(&as4);
    assert_eq!(merged.segments[0].asns, asns(&[65010, 4_200_000_000]));
    assert_eq!(merged.segments[1].kind, SegmentType::Set);
}

#[test]
fn as4_path_ignored_when_aggregator_is_not_as_trans() {
    let mut attrs = base_attrs(AsPath::sequence(asns(&[23456, 65001])));
    attrs.set(AttributeValue::As4Path(AsPath::sequence(asns(&[
        4_200_000_000,
        65001,
    ]))));
    assert_eq!(
        attrs.effective_as_path().expect("p").asns().next(),
        Some(Asn(4_200_000_000))
    );
    attrs.set(AttributeValue::Aggregator(Aggregator {
        asn: Asn(65001),
        address: Ipv4Addr::new(192, 0, 2, 1),
    }));
    // RFC 6793 4.2.3: a 2-octet AGGREGATOR other than AS_TRANS: AS4_PATH SHALL be ignored.
    assert_eq!(
        attrs.effective_as_path().expect("p").asns().next(),
        Some(Asn(23456))
    );
}

/// An UPDATE message with no withdrawals, path attributes `attrs` (encoded) and the NLRI
/// 203.0.113.0/24.
fn update_announcing_203_0_113(attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[24, 203, 0, 113]);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    m
}

/// An UPDATE with ORIGIN IGP, AS_PATH [AS_CONFED_SEQUENCE 65001][AS_SEQUENCE 65002], NEXT_HOP
/// 192.0.2.1 and NLRI 203.0.113.0/24.
fn update_with_confed_segment() -> Vec<u8> {
    // ORIGIN, AS_PATH (confed sequence 65001, sequence 65002), NEXT_HOP.
    let attrs = hex::decode(concat!(
        "40010100",
        "40020c03010000fde902010000fdea",
        "400304c0000201"
    ))
    .expect("hex");
    update_announcing_203_0_113(&attrs)
}

#[test]
fn confederation_segments_from_an_external_peer_are_treat_as_withdraw() {
    // RFC 5065 section 5: an error from a neighbour outside our confederation, handled as a
    // malformed AS_PATH: treat-as-withdraw (RFC 7606 section 7.2).
    let m = update_with_confed_segment();
    let external = SessionContext::modern();
    assert!(!external.ibgp);
    let d = decode_message(&m, &external);
    assert_eq!(d.outcome.action(), "treat-as-withdraw", "{:?}", d.outcome);
    assert!(
        UpdateView::parse_message(&m, &external).is_none(),
        "the fast path leaves it to the decode"
    );
    let internal = SessionContext {
        ibgp: true,
        ..SessionContext::modern()
    };
    let d = decode_message(&m, &internal);
    assert_eq!(d.outcome.action(), "accept", "{:?}", d.outcome);
}

#[test]
fn as4_attributes_discarded_between_four_octet_speakers() {
    // RFC 6793 section 6: AS4_PATH from a NEW speaker is discarded.
    let attrs =
        hex::decode("4001010040020602010000fde94003040a000002c01106020100010001").expect("hex");
    let m = update_announcing_203_0_113(&attrs);
    let d = decode_message(&m, &SessionContext::modern());
    assert_eq!(d.outcome.action(), "attribute-discard");
    let Some(Message::Update(u)) = d.message else {
        panic!("update")
    };
    assert!(u.attributes.as4_path().is_none());
}

#[test]
fn roles_and_otc_rfc9234() {
    let open_with_role = |r: Option<BgpRole>| {
        let caps = r.map(Capability::Role).into_iter().collect();
        Open::new(
            Asn(65002),
            HoldTime::DEFAULT,
            RouterId(Ipv4Addr::new(192, 0, 2, 2)),
            caps,
        )
    };
    assert_eq!(
        check_roles(
            BgpRole::Provider,
            &open_with_role(Some(BgpRole::Customer)),
            true
        ),
        Ok(Some(BgpRole::Customer))
    );
    assert_eq!(
        check_roles(
            BgpRole::Provider,
            &open_with_role(Some(BgpRole::Peer)),
            false
        )
        .map_err(|e| (e.code, e.subcode)),
        Err((2, 11))
    );
    assert_eq!(
        check_roles(BgpRole::Peer, &open_with_role(None), false),
        Ok(None)
    );
    assert!(check_roles(BgpRole::Peer, &open_with_role(None), true).is_err());

    let peer = Asn(65002);
    let plain = base_attrs(AsPath::sequence([peer]));
    let mut with_otc = plain.clone();
    with_otc.set(AttributeValue::Otc(Asn(65099)));
    // Ingress.
    assert_eq!(
        otc_ingress(BgpRole::Provider, peer, &with_otc),
        OtcIngress::RouteLeak,
        "from a customer"
    );
    assert_eq!(
        otc_ingress(BgpRole::RouteServer, peer, &with_otc),
        OtcIngress::RouteLeak,
        "from an RS client"
    );
    assert_eq!(
        otc_ingress(BgpRole::Peer, peer, &with_otc),
        OtcIngress::RouteLeak,
        "from a peer, other AS"
    );
    let mut peer_otc = plain.clone();
    peer_otc.set(AttributeValue::Otc(peer));
    assert_eq!(
        otc_ingress(BgpRole::Peer, peer, &peer_otc),
        OtcIngress::Accept
    );
    assert_eq!(
        otc_ingress(BgpRole::Customer, peer, &plain),
        OtcIngress::AddOtc(peer),
        "from a provider"
    );
    assert_eq!(
        otc_ingress(BgpRole::Provider, peer, &plain),
        OtcIngress::Accept
    );
    // Egress.
    let me = Asn(65000);
    assert_eq!(
        otc_egress(BgpRole::Provider, me, &plain),
        OtcEgress::AddOtc(me),
        "to a customer"
    );
    assert_eq!(
        otc_egress(BgpRole::Customer, me, &with_otc),
        OtcEgress::Suppress,
        "to a provider"
    );
    assert_eq!(otc_egress(BgpRole::Customer, me, &plain), OtcEgress::Send);
    assert_eq!(
        otc_egress(BgpRole::Provider, me, &with_otc),
        OtcEgress::Send
    );
}

#[test]
fn shutdown_communication_rfc9003() {
    let n = Notification::shutdown(&"é".repeat(200), true);
    assert_eq!(n.subcode, 4);
    assert_eq!(usize::from(n.data[0]), n.data.len() - 1);
    assert!(
        n.data.len() - 1 <= 255,
        "truncated to 255 octets on a char boundary"
    );
    assert!(n
        .shutdown_communication()
        .expect("valid")
        .expect("present")
        .starts_with('é'));
    let bad = Notification::new(6, 2, vec![5, b'a']);
    assert!(
        bad.shutdown_communication().is_err(),
        "length past the data"
    );
    let not_utf8 = Notification::new(6, 2, vec![1, 0xff]);
    assert!(not_utf8.shutdown_communication().is_err());
    assert_eq!(
        Notification::new(6, 2, vec![]).shutdown_communication(),
        Ok(None)
    );
    assert!(Notification::new(6, 3, vec![])
        .shutdown_communication()
        .is_err());
}

#[test]
fn framer_streams() {
    let ctx = SessionContext::new();
    let mut stream = keepalive::KEEPALIVE.to_vec();
    let upd = encode_message(
        &Message::Update(Update::end_of_rib(AfiSafi::IPV4_UNICAST)),
        &ctx,
    )
    .expect("encodes");
    stream.extend_from_slice(&upd);
    assert_eq!(frame(&stream[..10], &ctx), Ok(None));
    assert_eq!(frame(&stream, &ctx), Ok(Some(19)));
    assert_eq!(frame(&stream[19..], &ctx), Ok(Some(23)));
    let mut long = upd.clone();
    long[16..18].copy_from_slice(&5000u16.to_be_bytes());
    let e = frame(&long, &ctx).expect_err("too long without extended messages");
    assert_eq!(
        (e.code, e.subcode, e.data.clone()),
        (1, 2, vec![0x13, 0x88])
    );
    assert_eq!(frame(&long, &SessionContext::modern()), Ok(Some(5000)));
}

#[test]
fn hold_time_and_open_checks() {
    assert!(HoldTime::new(1).is_none() && HoldTime::new(2).is_none());
    assert_eq!(HoldTime::new(0).map(HoldTime::seconds), Some(0));
    assert_eq!(HoldTime::new(3).map(HoldTime::seconds), Some(3));
    // AS 0 in an OPEN is Bad Peer AS (RFC 7607).
    let mut o = Open::new(
        Asn(65001),
        HoldTime::DEFAULT,
        RouterId(Ipv4Addr::new(192, 0, 2, 1)),
        vec![],
    );
    o.my_as = 0;
    let b = encode_message(&Message::Open(o), &SessionContext::new()).expect("encodes");
    let d = decode_message(&b, &SessionContext::new());
    assert_eq!(
        d.outcome,
        Outcome::SessionReset(NotificationError::new(2, 2, vec![]))
    );
}

#[test]
fn negotiation_is_directional() {
    let id = RouterId(Ipv4Addr::new(192, 0, 2, 1));
    let ours = Open::new(
        Asn(65000),
        HoldTime::DEFAULT,
        id,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::ExtendedMessage,
            Capability::AddPath(vec![AddPathEntry {
                afi_safi: AfiSafi::IPV4_UNICAST,
                mode: AddPathMode::Receive,
            }]),
        ],
    );
    let theirs = Open::new(
        Asn(65001),
        HoldTime::DEFAULT,
        id,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::AddPath(vec![AddPathEntry {
                afi_safi: AfiSafi::IPV4_UNICAST,
                mode: AddPathMode::Both,
            }]),
        ],
    );
    let c = SessionContext::negotiate(&ours, &theirs, false);
    assert!(c.four_octet_as);
    assert!(!c.extended_message, "only one side advertised it");
    assert_eq!(c.afi_safis, vec![AfiSafi::IPV4_UNICAST]);
    assert_eq!(c.add_path_receive, vec![AfiSafi::IPV4_UNICAST]);
    assert!(c.add_path_send.is_empty(), "we only advertised Receive");
    let back = SessionContext::negotiate(&theirs, &ours, false);
    assert_eq!(back.add_path_send, vec![AfiSafi::IPV4_UNICAST]);
}

#[test]
fn for_propagation_drops_and_marks_unknown_attributes() {
    let mut attrs = base_attrs(AsPath::sequence([Asn(65001)]));
    attrs.insert(PathAttribute {
        flags: AttrFlags(0x80),
        value: AttributeValue::Opaque {
            type_code: 0xfd,
            value: vec![1],
        },
    });
    attrs.insert(PathAttribute {
        flags: AttrFlags(0xc0),
        value: AttributeValue::Opaque {
            type_code: 0xfe,
            value: vec![2],
        },
    });
    let out = attrs.for_propagation();
    assert!(
        out.get(0xfd).is_none(),
        "optional non-transitive unknown dropped"
    );
    assert_eq!(
        out.get(0xfe).map(|a| a.flags.partial()),
        Some(true),
        "optional transitive unknown marked Partial"
    );
    assert!(out.get(1).is_some());
}

#[test]
fn a_peer_without_multiprotocol_capability_speaks_ipv4_unicast() {
    // RFC 4760 section 8: a peer that advertises no Multiprotocol capability speaks plain
    // RFC 4271 (IPv4 unicast); with ours advertising ipv4 and ipv6 unicast, the session
    // carries ipv4/unicast only.
    let ours = Open::new(
        Asn(65000),
        HoldTime::DEFAULT,
        RouterId(Ipv4Addr::new(192, 0, 2, 1)),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        ],
    );
    let bare = Open::new(
        Asn(65001),
        HoldTime::DEFAULT,
        RouterId(Ipv4Addr::new(192, 0, 2, 2)),
        vec![],
    );
    let c = SessionContext::negotiate(&ours, &bare, false);
    assert_eq!(c.afi_safis, vec![AfiSafi::IPV4_UNICAST]);
    let c = SessionContext::negotiate(&bare, &ours, false);
    assert_eq!(c.afi_safis, vec![AfiSafi::IPV4_UNICAST]);
    // Two speakers that both advertise only IPv6 unicast do not carry IPv4.
    let v6 = |asn| {
        Open::new(
            Asn(asn),
            HoldTime::DEFAULT,
            RouterId(Ipv4Addr::new(192, 0, 2, 3)),
            vec![Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)],
        )
    };
    let c = SessionContext::negotiate(&v6(1), &v6(2), false);
    assert_eq!(c.afi_safis, vec![AfiSafi::IPV6_UNICAST]);
}
