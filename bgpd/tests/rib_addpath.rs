//! ADD-PATH receive (RFC 7911) in the RIB: with the receive direction negotiated for a
//! family, a neighbour's routes are keyed by (prefix, Path Identifier), withdrawals name the
//! path, and every path is a candidate of the decision process. Without it the Path
//! Identifier is not part of the key. Table-driven: each row is a sequence of UPDATEs and the
//! Adj-RIB-In and Loc-RIB it must leave.

mod rib_util;

use bgpd::rib::{PeerId, PeerInfo, Rib};
use bgpd::wire::{
    decode_message, encode_message, AfiSafi, AttributeValue, Message, Nlri, Outcome, PathId,
    Prefix, Update,
};
use rib_util::*;

const PFX: &str = "203.0.113.0/24";
const PFX2: &str = "198.51.100.0/24";

/// One step: announce `paths` of PFX with an AS path of `len` hops, or withdraw them.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Announce these path ids with an AS path of this many hops (and MED = path id).
    Announce(&'static [u32], u32),
    /// Withdraw these path ids.
    Withdraw(&'static [u32]),
}

fn nlri(prefix: &str, id: u32) -> Nlri {
    Nlri {
        path_id: Some(PathId(id)),
        prefix: p(prefix),
    }
}

/// One path of PFX: an AS path of `len` hops, MED = the path id.
fn announce_path(id: u32, len: u32) -> Update {
    let path: Vec<u32> = (0..len).map(|i| 64_600 + i).collect();
    Update {
        nlri: vec![nlri(PFX, id)],
        attributes: attrs(
            &path,
            [192, 0, 2, 1],
            vec![AttributeValue::MultiExitDisc(id)],
        ),
        ..Update::default()
    }
}

fn apply_op(rib: &mut Rib, peer: u32, op: Op) {
    match op {
        // One UPDATE per path: each path carries its own attributes.
        Op::Announce(ids, len) => {
            for id in ids {
                apply(rib, peer, &announce_path(*id, len));
            }
        }
        Op::Withdraw(ids) => apply(
            rib,
            peer,
            &Update {
                withdrawn: ids.iter().map(|id| nlri(PFX, *id)).collect(),
                ..Update::default()
            },
        ),
    }
}

/// An eBGP neighbour; ADD-PATH receive for IPv4 unicast when `add_path`.
fn neighbour(id: u32, add_path: bool) -> PeerInfo {
    let mut info = peer(id, [192, 0, 2, id as u8], [192, 0, 2, 254], 64_600);
    if add_path {
        info.ctx.add_path_receive = vec![AfiSafi::IPV4_UNICAST];
    }
    info
}

/// The Adj-RIB-In paths of PFX from peer 1: (path id, MED), by path id.
fn paths(rib: &Rib) -> Vec<(u32, Option<u32>)> {
    rib.adj_rib_in(PeerId(1))
        .into_iter()
        .filter(|r| r.prefix == p(PFX))
        .map(|r| (r.path_id, r.attributes.med()))
        .collect()
}

/// The Loc-RIB route of PFX: (path id, MED).
fn best(rib: &Rib) -> Option<(u32, Option<u32>)> {
    rib.best(p(PFX)).map(|r| (r.path_id, r.attributes.med()))
}

struct Row {
    name: &'static str,
    add_path: bool,
    ops: &'static [Op],
    /// Adj-RIB-In of PFX: (path id, MED).
    rib_in: &'static [(u32, Option<u32>)],
    best: Option<(u32, Option<u32>)>,
}

const ROWS: &[Row] = &[
    Row {
        name: "two paths are two routes; equal AS paths: lower MED (same neighbouring AS)",
        add_path: true,
        ops: &[Op::Announce(&[7, 3], 2)],
        rib_in: &[(3, Some(3)), (7, Some(7))],
        best: Some((3, Some(3))),
    },
    Row {
        name: "a shorter AS path on a higher path id wins",
        add_path: true,
        ops: &[Op::Announce(&[3], 3), Op::Announce(&[7], 1)],
        rib_in: &[(3, Some(3)), (7, Some(7))],
        best: Some((7, Some(7))),
    },
    Row {
        name: "withdrawing the best path leaves the other",
        add_path: true,
        ops: &[Op::Announce(&[3, 7], 2), Op::Withdraw(&[3])],
        rib_in: &[(7, Some(7))],
        best: Some((7, Some(7))),
    },
    Row {
        name: "withdrawing a path that was never announced changes nothing",
        add_path: true,
        ops: &[Op::Announce(&[3, 7], 2), Op::Withdraw(&[5])],
        rib_in: &[(3, Some(3)), (7, Some(7))],
        best: Some((3, Some(3))),
    },
    Row {
        name: "re-announcing a path replaces only that path",
        add_path: true,
        ops: &[Op::Announce(&[3, 7], 4), Op::Announce(&[7], 1)],
        rib_in: &[(3, Some(3)), (7, Some(7))],
        best: Some((7, Some(7))),
    },
    Row {
        name: "withdrawing every path empties the prefix",
        add_path: true,
        ops: &[Op::Announce(&[3, 7], 2), Op::Withdraw(&[7, 3])],
        rib_in: &[],
        best: None,
    },
    Row {
        name: "path id 0 is a path like any other",
        add_path: true,
        ops: &[Op::Announce(&[0, 1], 2), Op::Withdraw(&[1])],
        rib_in: &[(0, Some(0))],
        best: Some((0, Some(0))),
    },
    Row {
        name: "without ADD-PATH receive, path ids are not part of the key: last one stays",
        add_path: false,
        ops: &[Op::Announce(&[7, 3], 2)],
        rib_in: &[(0, Some(3))],
        best: Some((0, Some(3))),
    },
    Row {
        name: "without ADD-PATH receive, a withdrawal removes the route whatever its path id",
        add_path: false,
        ops: &[Op::Announce(&[7], 2), Op::Withdraw(&[9])],
        rib_in: &[],
        best: None,
    },
];

#[test]
fn table() {
    for row in ROWS {
        let mut rib = rib();
        rib.peer_up(neighbour(1, row.add_path)).expect("up");
        for op in row.ops {
            apply_op(&mut rib, 1, *op);
        }
        assert_eq!(paths(&rib), row.rib_in, "{}", row.name);
        assert_eq!(best(&rib), row.best, "{}", row.name);
        let s = rib.stats();
        assert_eq!(s.routes, row.rib_in.len(), "{}", row.name);
        assert_eq!(s.loc_rib, usize::from(row.best.is_some()), "{}", row.name);
    }
}

/// The paths of one neighbour compete with another neighbour's route on the normal steps.
#[test]
fn paths_compete_with_other_neighbours() {
    let mut rib = rib();
    rib.peer_up(neighbour(1, true)).expect("up");
    rib.peer_up(neighbour(2, false)).expect("up");
    // Peer 2: one route with a 2-hop path. Peer 1: paths 3 (3 hops) and 7 (1 hop).
    apply(
        &mut rib,
        2,
        &announce(&[PFX], attrs(&[64_700, 64_701], [192, 0, 2, 2], vec![])),
    );
    apply_op(&mut rib, 1, Op::Announce(&[3], 3));
    assert_eq!(rib.best(p(PFX)).and_then(|r| r.peer), Some(PeerId(2)));
    apply_op(&mut rib, 1, Op::Announce(&[7], 1));
    let b = rib.best(p(PFX)).expect("best");
    assert_eq!((b.peer, b.path_id), (Some(PeerId(1)), 7));
    // FIB: the best path's next hop.
    let fib = rib.poll_fib();
    assert!(fib.contains(&bgpd::rib::FibChange::Install {
        prefix: p(PFX),
        next_hop: [192, 0, 2, 1].into()
    }));
    // Withdrawing path 7 falls back to peer 2 (shorter than path 3).
    apply_op(&mut rib, 1, Op::Withdraw(&[7]));
    assert_eq!(rib.best(p(PFX)).and_then(|r| r.peer), Some(PeerId(2)));
    // The session going down removes every path of peer 1.
    rib.peer_down(PeerId(1));
    assert_eq!(rib.stats().routes, 1);
}

/// UPDATE bytes with Path Identifiers, decoded with the negotiated context, reach the RIB
/// as separate paths; MP_REACH/MP_UNREACH (IPv6) too.
#[test]
fn from_the_wire() {
    let mut info = neighbour(1, true);
    info.ctx.add_path_receive = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    info.ctx.afi_safis = vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];
    // The neighbour sends with ADD-PATH: its context is ours reversed.
    let tx = info.ctx.reversed();
    let mut rib = rib();
    rib.peer_up(info.clone()).expect("up");
    let send = |rib: &mut Rib, u: Update| {
        let bytes = encode_message(&Message::Update(u), &tx).expect("encode");
        let d = decode_message(&bytes, &info.ctx);
        assert_eq!(d.outcome, Outcome::Accept);
        let Some(Message::Update(u)) = d.message else {
            panic!("not an UPDATE")
        };
        rib.apply_update(PeerId(1), &u, &d.outcome).expect("apply");
    };
    let a = attrs(&[64_600], [192, 0, 2, 1], vec![]);
    send(
        &mut rib,
        Update {
            nlri: vec![nlri(PFX, 1), nlri(PFX, 2), nlri(PFX2, 1)],
            attributes: a.clone(),
            ..Update::default()
        },
    );
    let v6: Prefix = "2001:db8:1::/48".parse().expect("v6");
    let mut a6 = attrs(&[64_600], [192, 0, 2, 1], vec![]);
    a6.remove(bgpd::wire::type_code::NEXT_HOP);
    a6.set(AttributeValue::MpReach(bgpd::wire::MpReach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        next_hop: bgpd::wire::MpNextHop::Ipv6 {
            global: "2001:db8::1".parse().expect("v6"),
            link_local: None,
        },
        nlri: bgpd::wire::MpNlri::Prefixes(vec![
            Nlri {
                path_id: Some(PathId(10)),
                prefix: v6,
            },
            Nlri {
                path_id: Some(PathId(11)),
                prefix: v6,
            },
        ]),
    }));
    send(
        &mut rib,
        Update {
            attributes: a6,
            ..Update::default()
        },
    );
    let ids = |rib: &Rib, prefix: Prefix| -> Vec<u32> {
        rib.adj_rib_in(PeerId(1))
            .into_iter()
            .filter(|r| r.prefix == prefix)
            .map(|r| r.path_id)
            .collect()
    };
    assert_eq!(ids(&rib, p(PFX)), vec![1, 2]);
    assert_eq!(ids(&rib, p(PFX2)), vec![1]);
    assert_eq!(ids(&rib, v6), vec![10, 11]);
    // Withdraw path 2 of PFX and path 10 of the IPv6 prefix.
    send(
        &mut rib,
        Update {
            withdrawn: vec![nlri(PFX, 2)],
            ..Update::default()
        },
    );
    let mut w6 = bgpd::wire::PathAttributes::new();
    w6.set(AttributeValue::MpUnreach(bgpd::wire::MpUnreach {
        afi_safi: AfiSafi::IPV6_UNICAST,
        withdrawn: bgpd::wire::MpNlri::Prefixes(vec![Nlri {
            path_id: Some(PathId(10)),
            prefix: v6,
        }]),
    }));
    send(
        &mut rib,
        Update {
            attributes: w6,
            ..Update::default()
        },
    );
    assert_eq!(ids(&rib, p(PFX)), vec![1]);
    assert_eq!(ids(&rib, v6), vec![11]);
    assert_eq!(rib.best(v6).map(|r| r.path_id), Some(11));
}

/// Snapshot, restore and digest carry the Path Identifiers.
#[test]
fn snapshot_restore_and_digest() {
    let build = |ids: &'static [u32]| {
        let mut rib = rib();
        rib.peer_up(neighbour(1, true)).expect("up");
        apply_op(&mut rib, 1, Op::Announce(ids, 2));
        rib
    };
    let original = build(&[3, 7]);
    let bytes = postcard::to_allocvec(&original).expect("snapshot");
    let restored: Rib = postcard::from_bytes(&bytes).expect("restore");
    assert_eq!(restored.digest(), original.digest());
    assert_eq!(paths(&restored), vec![(3, Some(3)), (7, Some(7))]);
    assert_eq!(best(&restored), Some((3, Some(3))));
    // Withdrawals by path id work on the restored RIB.
    let mut restored = restored;
    apply_op(&mut restored, 1, Op::Withdraw(&[3]));
    assert_eq!(paths(&restored), vec![(7, Some(7))]);
    // Same attributes under other path ids: a different state, a different digest.
    let mut a = rib();
    a.peer_up(neighbour(1, true)).expect("up");
    let mut b = rib();
    b.peer_up(neighbour(1, true)).expect("up");
    let u = |id| Update {
        nlri: vec![nlri(PFX, id)],
        attributes: attrs(&[64_600], [192, 0, 2, 1], vec![]),
        ..Update::default()
    };
    apply(&mut a, 1, &u(1));
    apply(&mut b, 1, &u(2));
    assert_ne!(a.digest(), b.digest());
    apply(&mut b, 1, &u(1));
    apply(
        &mut b,
        1,
        &Update {
            withdrawn: vec![nlri(PFX, 2)],
            ..Update::default()
        },
    );
    assert_eq!(a.digest(), b.digest());
}

/// Enhanced route refresh and graceful restart stale handling cover every path.
#[test]
fn stale_marking_covers_every_path() {
    let mut rib = rib();
    rib.peer_up(neighbour(1, true)).expect("up");
    apply_op(&mut rib, 1, Op::Announce(&[3, 7], 2));
    rib.mark_stale(PeerId(1), AfiSafi::IPV4_UNICAST);
    assert!(rib.adj_rib_in(PeerId(1)).iter().all(|r| r.stale));
    apply_op(&mut rib, 1, Op::Announce(&[7], 2));
    assert_eq!(rib.purge_stale(PeerId(1), AfiSafi::IPV4_UNICAST), 1);
    assert_eq!(paths(&rib), vec![(7, Some(7))]);
    assert!(!rib.adj_rib_in(PeerId(1))[0].stale);
}
