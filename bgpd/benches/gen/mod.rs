//! Inputs for the RIB benchmarks: a generated Internet-like IPv4 table, pre-encoded as
//! UPDATE messages, and the real update stream of ../shared/data.
#![allow(dead_code, clippy::unwrap_used)]

use bgpd::rib::{PeerId, PeerInfo, Rib, RibConfig};
use bgpd::wire::{Asn, Message, RouterId, SessionContext};
use std::net::{IpAddr, Ipv4Addr};

/// The session the generated UPDATEs are encoded for and decoded with.
pub fn ctx() -> SessionContext {
    SessionContext {
        ibgp: false,
        ..SessionContext::modern()
    }
}

/// `n` distinct IPv4 prefixes with the Internet's length mix, grouped under `sets` distinct
/// attribute sets (AS paths of 1 to 10 hops, some MED and communities), encoded as UPDATE
/// messages for [`ctx`] by [`bgpd::tablegen`]. Returns the messages and the prefix count.
pub fn internet_table(n: usize, sets: usize) -> (Vec<Vec<u8>>, usize) {
    let t =
        bgpd::tablegen::internet_table(&bgpd::tablegen::TableSpec::new(n, sets), &ctx()).unwrap();
    (t.messages, t.prefixes)
}

/// A RIB with one external neighbour (id 1) up, accepting everything, FIB changes off.
pub fn rib_with_peer(ctx: SessionContext, remote_as: u32) -> Rib {
    let policy = toml::from_str(
        r#"
        [policies.all]
        terms = [ { action = "accept" } ]
        "#,
    )
    .unwrap();
    let mut cfg = RibConfig::new(Asn(4_200_000_000), RouterId(Ipv4Addr::new(192, 0, 2, 254)));
    cfg.policy = policy;
    cfg.fib = false;
    let mut rib = Rib::new(cfg).unwrap();
    rib.peer_up(PeerInfo {
        id: PeerId(1),
        address: IpAddr::from([192, 0, 2, 1]),
        remote_as: Asn(remote_as),
        local_as: Asn(4_200_000_000),
        remote_id: RouterId(Ipv4Addr::new(192, 0, 2, 1)),
        ibgp: false,
        rr_client: false,
        ctx,
        local_address: IpAddr::from([192, 0, 2, 254]),
        next_hop_v4: None,
        next_hop_v6: None,
        import: vec!["all".into()],
        export: vec!["all".into()],
    })
    .unwrap();
    rib
}

/// Applies every message from peer 1 as the session does: read in place
/// ([`bgpd::wire::UpdateView`]) when the view takes it, else decoded; returns the prefixes
/// announced and withdrawn.
pub fn ingest(rib: &mut Rib, msgs: &[Vec<u8>], ctx: &SessionContext) -> usize {
    let mut n = 0;
    for m in msgs {
        if let Some(v) = bgpd::wire::UpdateView::parse_message(m, ctx) {
            n += v.announced_count() + v.withdrawn_count();
            let _ = rib.apply_update_view(PeerId(1), &v);
            continue;
        }
        let d = bgpd::wire::decode_message(m, ctx);
        if let Some(Message::Update(u)) = &d.message {
            n += u.announced_count() + u.withdrawn_count();
            let _ = rib.apply_update(PeerId(1), u, &d.outcome);
        }
    }
    n
}

/// The UPDATE messages of the largest real update stream, with the context of each record.
pub fn real_stream() -> Vec<(Vec<u8>, SessionContext)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/mrt/bgpdump/updates.et-header.2015.gz"
    );
    let alt = "/work/shared/data/mrt/bgpdump/updates.et-header.2015.gz";
    let mut r = bgpd::mrt::MrtReader::open(path)
        .or_else(|_| bgpd::mrt::MrtReader::open(alt))
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        if let bgpd::mrt::RecordBody::Bgp4mpMessage(m) = rec.body {
            if m.message.get(18) == Some(&2) {
                let ctx = m.implied_context().session_context();
                out.push((m.message, ctx));
            }
        }
    }
    out
}
