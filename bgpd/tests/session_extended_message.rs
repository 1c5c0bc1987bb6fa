//! RFC 8654 section 4 is asymmetric: once we advertised the Extended Message capability we
//! "MUST be capable of receiving a message with a Length up to and including 65535 octets",
//! even from a peer that did not advertise it (it "MAY send BGP Extended Messages to a peer
//! only if the BGP Extended Message Capability was received from that peer": it received
//! ours). Only "a BGP listener who has not advertised" the capability answers 1/2 (Bad
//! Message Length). sessions.json TC46 on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use bgpd::session::{SessionEvent, State};
use bgpd::wire::{
    builder::attributes, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Capability,
    HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, RouterId, SessionContext, Update,
};
use harness::{config, Raw};

/// The peer's OPEN: no Extended Message capability.
fn peer_open() -> Vec<u8> {
    let o = Open::new(
        Asn(65002),
        HoldTime::new(90).unwrap(),
        RouterId([192, 0, 2, 2].into()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh,
        ],
    );
    encode_message(&Message::Open(o), &SessionContext::new()).unwrap()
}

/// One UPDATE of more than 4096 octets (1200 /24s).
fn big_update() -> Vec<u8> {
    let up = Update {
        withdrawn: vec![],
        attributes: attributes([
            AttributeValue::Origin(Origin::Igp),
            AttributeValue::AsPath(AsPath::sequence([Asn(65002)])),
            AttributeValue::NextHop([192, 0, 2, 2].into()),
        ]),
        nlri: (0..1200u32)
            .map(|i| {
                Nlri::new(
                    Ipv4Prefix::new([10, (i >> 8) as u8, (i & 0xff) as u8, 0].into(), 24).unwrap(),
                )
            })
            .collect(),
    };
    let bytes = encode_message(&Message::Update(up), &SessionContext::modern()).unwrap();
    assert!(bytes.len() > 4096, "{}", bytes.len());
    bytes
}

fn established(extended_message: bool) -> Raw {
    let mut cfg = config(65001, [192, 0, 2, 1], 65002, [192, 0, 2, 2]);
    cfg.extended_message = extended_message;
    let mut r = Raw::new(cfg);
    r.feed(&peer_open());
    r.feed(&bgpd::wire::keepalive::KEEPALIVE);
    assert_eq!(r.s.state(), State::Established);
    r
}

#[test]
fn we_advertised_extended_message_so_we_receive_one() {
    let mut r = established(true);
    let n = r.s.negotiated().expect("negotiated");
    assert!(
        !n.ctx.extended_message,
        "not negotiated: we still send at most 4096 octets"
    );
    r.feed(&big_update());
    assert_eq!(r.s.state(), State::Established, "{:?}", r.events);
    assert!(!r.closed);
    let received: usize = r
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::UpdateReceived { update, .. } => Some(update.nlri.len()),
            SessionEvent::UpdateAccepted { update } => Some(update.to_update().nlri.len()),
            _ => None,
        })
        .sum();
    assert_eq!(received, 1200);
}

#[test]
fn without_advertising_it_a_long_update_is_1_2() {
    let mut r = established(false);
    let big = big_update();
    r.feed(&big);
    let len = u16::try_from(big.len()).unwrap().to_be_bytes();
    let sent = r.sent_messages();
    let last = sent.last().expect("a NOTIFICATION");
    match last {
        Message::Notification(n) => {
            assert_eq!((n.code, n.subcode, n.data.clone()), (1, 2, len.to_vec()))
        }
        other => panic!("NOTIFICATION expected, got {other:?}"),
    }
    assert!(r.closed);
}
