//! The largest real update stream of ../shared/data replayed into the RIB as one neighbour:
//! the Loc-RIB holds exactly the prefixes the stream leaves announced (an independent set
//! model: announce inserts, withdraw and treat-as-withdraw remove).
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::mrt::{MrtReader, RecordBody};
use bgpd::rib::{PeerId, PeerInfo, RibConfig};
use bgpd::wire::{decode_message, AfiSafi, Asn, Message, Outcome, Prefix, RouterId};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

fn stream(name: &str) -> MrtReader {
    let rel = format!(
        "{}/../../shared/data/mrt/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    MrtReader::open(&rel)
        .or_else(|_| MrtReader::open(format!("/work/shared/data/mrt/{name}")))
        .expect("shared/data present")
}

fn replay(name: &str) -> (usize, usize) {
    let mut cfg = RibConfig::new(Asn(4_200_000_000), RouterId(Ipv4Addr::new(192, 0, 2, 254)));
    cfg.policy = rib_util::basic_policy();
    let mut rib = bgpd::rib::Rib::new(cfg).unwrap();
    let mut ctx = bgpd::wire::SessionContext::modern();
    ctx.ibgp = false;
    rib.peer_up(PeerInfo {
        id: PeerId(1),
        address: IpAddr::from([192, 0, 2, 1]),
        remote_as: Asn(64_700),
        local_as: Asn(4_200_000_000),
        remote_id: RouterId(Ipv4Addr::new(192, 0, 2, 1)),
        ibgp: false,
        rr_client: false,
        ctx,
        local_address: IpAddr::from([192, 0, 2, 254]),
        next_hop_v4: None,
        next_hop_v6: None,
        import: vec!["accept-all".into()],
        export: vec!["accept-all".into()],
    })
    .unwrap();
    let mut model: BTreeSet<Prefix> = BTreeSet::new();
    let mut r = stream(name);
    let mut updates = 0;
    while let Some(rec) = r.next_record().unwrap() {
        let RecordBody::Bgp4mpMessage(m) = rec.body else {
            continue;
        };
        let d = decode_message(&m.message, &m.implied_context().session_context());
        let Some(Message::Update(u)) = &d.message else {
            continue;
        };
        if matches!(
            d.outcome,
            Outcome::SessionReset(_) | Outcome::AfiSafiDisable { .. }
        ) {
            continue;
        }
        updates += 1;
        let unicast = |f: AfiSafi| f == AfiSafi::IPV4_UNICAST || f == AfiSafi::IPV6_UNICAST;
        for (f, n) in u.withdrawals() {
            if unicast(f) {
                model.remove(&n.prefix);
            }
        }
        let withdraw_all = matches!(d.outcome, Outcome::TreatAsWithdraw { .. });
        for (f, n) in u.announced() {
            if unicast(f) {
                if withdraw_all {
                    model.remove(&n.prefix);
                } else {
                    model.insert(n.prefix);
                }
            }
        }
        rib.apply_update(PeerId(1), u, &d.outcome).unwrap();
    }
    let loc: Vec<Prefix> = rib.loc_rib().into_iter().map(|e| e.prefix).collect();
    let want: Vec<Prefix> = model.into_iter().collect();
    assert_eq!(loc.len(), want.len(), "{name}: Loc-RIB prefix count");
    assert_eq!(loc, want, "{name}: Loc-RIB prefixes");
    assert_eq!(rib.stats().routes, want.len());
    (updates, want.len())
}

#[test]
fn et_header_2015_stream_leaves_what_it_announced() {
    let (updates, prefixes) = replay("bgpdump/updates.et-header.2015.gz");
    assert_eq!(updates, 89_679);
    assert!(prefixes > 1000, "{prefixes}");
}

#[test]
fn bgp_rs_2019_stream_leaves_what_it_announced() {
    let (updates, prefixes) = replay("bgp-rs/updates.20190101.0000.gz");
    assert_eq!(updates, 54_107);
    assert!(prefixes > 1000, "{prefixes}");
}
