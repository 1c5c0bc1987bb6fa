//! Random call sequences: two RIBs fed the same calls agree; a RIB restored from a snapshot
//! taken at any point produces the same outputs and digests as the original afterwards.
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::rib::{PeerId, Rib};
use bgpd::wire::{AfiSafi, AttributeValue, Outcome};
use proptest::prelude::*;
use rib_util::*;

#[derive(Debug, Clone)]
enum Op {
    Announce { peer: u32, prefix: u8, variant: u8 },
    Withdraw { peer: u32, prefix: u8 },
    TreatAsWithdraw { peer: u32, prefix: u8 },
    Down { peer: u32 },
    DownGraceful { peer: u32 },
    Up { peer: u32 },
    EndOfRib { peer: u32 },
    Poll { peer: u32 },
    PollFib,
    Refresh { peer: u32 },
    Originate { prefix: u8 },
    Policy { strict: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 1u32..=4;
    prop_oneof![
        6 => (peer.clone(), 0u8..24, 0u8..6).prop_map(|(peer, prefix, variant)| Op::Announce { peer, prefix, variant }),
        3 => (peer.clone(), 0u8..24).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
        1 => (peer.clone(), 0u8..24).prop_map(|(peer, prefix)| Op::TreatAsWithdraw { peer, prefix }),
        1 => peer.clone().prop_map(|peer| Op::Down { peer }),
        1 => peer.clone().prop_map(|peer| Op::DownGraceful { peer }),
        2 => peer.clone().prop_map(|peer| Op::Up { peer }),
        1 => peer.clone().prop_map(|peer| Op::EndOfRib { peer }),
        3 => peer.clone().prop_map(|peer| Op::Poll { peer }),
        1 => Just(Op::PollFib),
        1 => peer.clone().prop_map(|peer| Op::Refresh { peer }),
        1 => (0u8..24).prop_map(|prefix| Op::Originate { prefix }),
        1 => any::<bool>().prop_map(|strict| Op::Policy { strict }),
    ]
}

/// Peers 1, 2: eBGP; 3: iBGP client; 4: iBGP non-client.
fn info(id: u32) -> bgpd::rib::PeerInfo {
    match id {
        1 => peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001),
        2 => peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002),
        3 => {
            let mut i = peer(3, [10, 0, 0, 3], [10, 0, 0, 254], LOCAL_AS);
            i.rr_client = true;
            i
        }
        _ => peer(4, [10, 0, 0, 4], [10, 0, 0, 254], LOCAL_AS),
    }
}

fn prefix(i: u8) -> String {
    if i < 20 {
        format!("10.{}.{}.0/24", i / 4, i % 4)
    } else {
        format!("2001:db8:{i:x}::/48")
    }
}

fn policy(strict: bool) -> bgpd::policy::PolicyConfig {
    let mut p = basic_policy();
    if strict {
        let extra: bgpd::policy::PolicyConfig = toml::from_str(
            r#"
            [prefix_lists]
            low = ["10.0.0.0/14 le 24"]
            [policies.accept-all]
            terms = [
              { match = { prefix_list = "low" }, set = { local_pref = 150, add_communities = ["65000:1"] } },
              { match = { as_path_contains = 64497 }, action = "reject" },
            ]
            default = "accept"
            "#,
        )
        .unwrap();
        p.prefix_lists = extra.prefix_lists;
        p.policies
            .insert("accept-all".into(), extra.policies["accept-all"].clone());
    }
    p
}

/// Applies one call; returns what it output (text).
fn run(rib: &mut Rib, op: &Op) -> String {
    let up = |rib: &Rib, p: u32| rib.peers().iter().any(|(id, u)| id.0 == p && *u);
    match op {
        Op::Announce {
            peer,
            prefix: i,
            variant,
        } => {
            if !up(rib, *peer) {
                return String::new();
            }
            let mut extra = vec![AttributeValue::MultiExitDisc(u32::from(*variant % 3))];
            if *peer >= 3 {
                extra.push(AttributeValue::LocalPref(100 + u32::from(*variant)));
            }
            let asn = if *peer >= 3 { 64496 } else { 65000 + *peer };
            let path = [asn, 64496 + u32::from(*variant % 4)];
            let u = if *i < 20 {
                announce(
                    &[&prefix(*i)],
                    attrs(
                        &path[..1 + (*variant as usize % 2)],
                        [192, 0, 2, *peer as u8],
                        extra,
                    ),
                )
            } else {
                let mut u = announce(&[], attrs(&path, [192, 0, 2, 1], extra));
                u.attributes.remove(3);
                u.attributes
                    .set(AttributeValue::MpReach(bgpd::wire::MpReach {
                        afi_safi: AfiSafi::IPV6_UNICAST,
                        next_hop: bgpd::wire::MpNextHop::Ipv6 {
                            global: format!("2001:db8::{peer}").parse().unwrap(),
                            link_local: None,
                        },
                        nlri: bgpd::wire::MpNlri::Prefixes(vec![bgpd::wire::Nlri::new(p(
                            &prefix(*i),
                        ))]),
                    }));
                u
            };
            rib.apply_update(PeerId(*peer), &u, &Outcome::Accept)
                .unwrap();
            String::new()
        }
        Op::Withdraw { peer, prefix: i } | Op::TreatAsWithdraw { peer, prefix: i } => {
            if !up(rib, *peer) || *i >= 20 {
                return String::new();
            }
            let out = if matches!(op, Op::Withdraw { .. }) {
                (withdraw(&[&prefix(*i)]), Outcome::Accept)
            } else {
                (
                    announce(&[&prefix(*i)], attrs(&[65001], [192, 0, 2, 1], vec![])),
                    Outcome::TreatAsWithdraw {
                        reason: "test".into(),
                    },
                )
            };
            rib.apply_update(PeerId(*peer), &out.0, &out.1).unwrap();
            String::new()
        }
        Op::Down { peer } => {
            rib.peer_down(PeerId(*peer));
            String::new()
        }
        Op::DownGraceful { peer } => {
            rib.peer_down_graceful(PeerId(*peer));
            String::new()
        }
        Op::Up { peer } => {
            if !up(rib, *peer) {
                rib.peer_up(info(*peer)).unwrap();
            }
            String::new()
        }
        Op::EndOfRib { peer } => {
            rib.end_of_rib(PeerId(*peer), AfiSafi::IPV4_UNICAST);
            rib.end_of_rib(PeerId(*peer), AfiSafi::IPV6_UNICAST);
            String::new()
        }
        Op::Poll { peer } => hex(&rib.poll_updates(PeerId(*peer))),
        Op::PollFib => format!("{:?}", rib.poll_fib()),
        Op::Refresh { peer } => {
            rib.refresh_out(PeerId(*peer), AfiSafi::IPV4_UNICAST);
            String::new()
        }
        Op::Originate { prefix: i } => {
            rib.originate(p(&prefix(*i)), Default::default()).unwrap();
            String::new()
        }
        Op::Policy { strict } => {
            rib.set_policy(policy(*strict)).unwrap();
            String::new()
        }
    }
}

fn hex(v: &[Vec<u8>]) -> String {
    v.iter()
        .map(|m| format!("{m:02x?}"))
        .collect::<Vec<_>>()
        .join("|")
}

fn drain(rib: &mut Rib) -> String {
    let mut s = String::new();
    for p in 1..=4 {
        s += &hex(&rib.poll_updates(PeerId(p)));
    }
    s + &format!("{:?}{:?}", rib.poll_fib(), rib.poll_events())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_restore_replays_identically(ops in proptest::collection::vec(op(), 1..80), cut in 0usize..80) {
        let mut a = rib();
        let cut = cut % (ops.len() + 1);
        for o in &ops[..cut] {
            run(&mut a, o);
        }
        let _ = a.poll_events();
        let snap = postcard::to_allocvec(&a).unwrap();
        let mut b: Rib = postcard::from_bytes(&snap).unwrap();
        prop_assert_eq!(a.digest(), b.digest());
        for o in &ops[cut..] {
            let (x, y) = (run(&mut a, o), run(&mut b, o));
            prop_assert_eq!(x, y, "output of {:?}", o);
            prop_assert_eq!(a.digest(), b.digest(), "digest after {:?}", o);
            // The kept Loc-RIB count is the walked one, in the original and the restored RIB.
            prop_assert_eq!(a.loc_rib_len(), a.stats().loc_rib, "Loc-RIB count after {:?}", o);
            prop_assert_eq!(b.loc_rib_len(), b.stats().loc_rib, "restored count after {:?}", o);
        }
        prop_assert_eq!(drain(&mut a), drain(&mut b));
        prop_assert_eq!(a.digest(), b.digest());
        // Everything removed: no attribute set may leak.
        for p in 1..=4 {
            a.peer_down(PeerId(p));
        }
        for i in 0..24 {
            a.withdraw_originated(p(&prefix(i)));
        }
        prop_assert_eq!(a.stats().routes, 0);
        prop_assert_eq!(a.loc_rib_len(), 0);
        prop_assert_eq!(a.stats().attribute_sets, 0);
    }
}
