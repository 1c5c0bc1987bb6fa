//! Helpers shared by the RIB tests.
#![allow(dead_code)]

use bgpd::policy::PolicyConfig;
use bgpd::rib::{PeerId, PeerInfo, Rib, RibConfig};
use bgpd::wire::{
    decode_message, AsPath, Asn, AttributeValue, Message, Nlri, Origin, Outcome, PathAttributes,
    Prefix, RouterId, SessionContext, Update, HEADER_LEN,
};
use std::net::{IpAddr, Ipv4Addr};

pub const LOCAL_AS: u32 = 65000;

pub fn router_id() -> RouterId {
    RouterId(Ipv4Addr::new(192, 0, 2, 254))
}

/// A policy set with `accept-all` (one unconditional accept term) and `reject-all`.
pub fn basic_policy() -> PolicyConfig {
    toml::from_str(
        r#"
        [policies.accept-all]
        terms = [ { action = "accept" } ]
        [policies.reject-all]
        default = "reject"
        "#,
    )
    .expect("policy parses")
}

pub fn rib_with(policy: PolicyConfig) -> Rib {
    let mut cfg = RibConfig::new(Asn(LOCAL_AS), router_id());
    cfg.policy = policy;
    Rib::new(cfg).expect("rib")
}

pub fn rib() -> Rib {
    rib_with(basic_policy())
}

/// A neighbour over IPv4: `addr` is theirs, ours is `local`.
pub fn peer(id: u32, addr: [u8; 4], local: [u8; 4], remote_as: u32) -> PeerInfo {
    let ibgp = remote_as == LOCAL_AS;
    let mut ctx = SessionContext::modern();
    ctx.ibgp = ibgp;
    PeerInfo {
        id: PeerId(id),
        address: IpAddr::from(addr),
        remote_as: Asn(remote_as),
        local_as: Asn(LOCAL_AS),
        remote_id: RouterId(Ipv4Addr::from(addr)),
        ibgp,
        rr_client: false,
        ctx,
        local_address: IpAddr::from(local),
        next_hop_v4: None,
        next_hop_v6: Some("2001:db8::fe".parse().expect("v6")),
        import: vec!["accept-all".into()],
        export: vec!["accept-all".into()],
    }
}

pub fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

/// ORIGIN IGP, AS_PATH sequence, NEXT_HOP, plus `extra`.
pub fn attrs(path: &[u32], nh: [u8; 4], extra: Vec<AttributeValue>) -> PathAttributes {
    let mut a = PathAttributes::new();
    a.set(AttributeValue::Origin(Origin::Igp));
    a.set(AttributeValue::AsPath(AsPath::sequence(
        path.iter().copied().map(Asn),
    )));
    a.set(AttributeValue::NextHop(Ipv4Addr::from(nh)));
    for e in extra {
        a.set(e);
    }
    a
}

pub fn announce(prefixes: &[&str], a: PathAttributes) -> Update {
    Update {
        withdrawn: Vec::new(),
        attributes: a,
        nlri: prefixes.iter().map(|s| Nlri::new(p(s))).collect(),
    }
}

pub fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|s| Nlri::new(p(s))).collect(),
        ..Update::default()
    }
}

pub fn apply(rib: &mut Rib, peer: u32, u: &Update) {
    rib.apply_update(PeerId(peer), u, &Outcome::Accept)
        .expect("apply");
}

/// Decodes UPDATE bytes as the neighbour would.
pub fn decode_updates(info: &PeerInfo, msgs: &[Vec<u8>]) -> Vec<Update> {
    let ctx = info.ctx.reversed();
    msgs.iter()
        .map(|m| {
            let d = decode_message(m, &ctx);
            assert_eq!(d.outcome, Outcome::Accept, "{d:?}");
            match d.message {
                Some(Message::Update(u)) => u,
                other => panic!("not an UPDATE: {other:?}"),
            }
        })
        .collect()
}

/// Non-End-of-RIB updates.
pub fn real(us: Vec<Update>) -> Vec<Update> {
    us.into_iter()
        .filter(|u| u.as_end_of_rib().is_none())
        .collect()
}

pub fn announced(u: &Update) -> Vec<Prefix> {
    u.announced().map(|(_, n)| n.prefix).collect()
}

pub fn withdrawn(u: &Update) -> Vec<Prefix> {
    u.withdrawals().map(|(_, n)| n.prefix).collect()
}

/// A whole UPDATE message: a valid header, then `body`.
pub fn update_message(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}
