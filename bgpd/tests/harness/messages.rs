//! What a test neighbour (192.0.2.2, AS 65002) sends: its OPEN and UPDATEs of `10.a.b.0/len`.
//! Shared by the integration tests (through `mod harness`) and by bgpd's own unit tests
//! (`#[path]`; the library names itself `bgpd` under `cfg(test)`).

use bgpd::wire::{
    builder::attributes, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Capability,
    HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, RouterId, SessionContext, Update,
};

/// The neighbour's OPEN: AS 65002, identifier 192.0.2.2, `hold` seconds, IPv4 unicast and
/// route refresh, and `more` capabilities.
pub fn peer_open(hold: u16, more: &[Capability]) -> Vec<u8> {
    let mut caps = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::RouteRefresh,
    ];
    caps.extend_from_slice(more);
    let o = Open::new(
        Asn(65002),
        HoldTime::new(hold).expect("hold"),
        RouterId([192, 0, 2, 2].into()),
        caps,
    );
    encode_message(&Message::Open(o), &SessionContext::new()).expect("open")
}

/// An UPDATE announcing (AS path 65002 a+1, next hop 192.0.2.2) or withdrawing
/// `10.a.b.0/len`, without Extended Message.
pub fn update(a: u8, b: u8, len: u8, withdraw: bool) -> Vec<u8> {
    let p = Nlri::new(Ipv4Prefix::new([10, a, b, 0].into(), len).expect("prefix"));
    let u = if withdraw {
        Update {
            withdrawn: vec![p],
            ..Update::default()
        }
    } else {
        Update {
            withdrawn: vec![],
            attributes: attributes([
                AttributeValue::Origin(Origin::Igp),
                AttributeValue::AsPath(AsPath::sequence([Asn(65002), Asn(u32::from(a) + 1)])),
                AttributeValue::NextHop([192, 0, 2, 2].into()),
            ]),
            nlri: vec![p],
        }
    };
    let mut ctx = SessionContext::modern();
    ctx.extended_message = false;
    encode_message(&Message::Update(u), &ctx).expect("update")
}
