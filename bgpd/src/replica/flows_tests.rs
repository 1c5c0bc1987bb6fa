//! A standby introduced late to a primary with three busy sessions: each flow checkpointed at
//! its own instant while the others keep changing the shared RIBs, the standby restored flow
//! by flow (catching up the restored flows from the mirror in between), then fed what is
//! left. It must end with the primary's RIBs and digests.

use super::*;
use crate::speaker::AdminCommand;
use crate::wire::{
    builder::attributes, encode_message, AfiSafi, AsPath, Asn, AttributeValue, Capability,
    HoldTime, Ipv4Prefix, Message, Nlri, Open, Origin, PathAttributes, Prefix, RouterId,
    SessionContext, Update,
};
use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddr};

const PEERS: usize = 3;

fn config() -> String {
    let mut c = String::from(
        "router_id = \"192.0.2.1\"\nlocal_as = 65001\n\
         [policy.policies.all]\ndefault = \"accept\"\n",
    );
    for i in 0..PEERS {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"192.0.2.{}\"\nremote_as = {}\n\
             local_address = \"192.0.2.1\"\nimport = [\"all\"]\nexport = [\"all\"]\n",
            i + 2,
            65002 + i
        ));
    }
    c
}

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 2 + i as u8)
}

fn flow(i: usize) -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from((addr(i), 40_000 + i as u16)),
    }
}

fn open(i: usize) -> Vec<u8> {
    let o = Open::new(
        Asn(65002 + i as u32),
        HoldTime::new(90).expect("hold"),
        RouterId(addr(i)),
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    );
    encode_message(&Message::Open(o), &SessionContext::new()).expect("open")
}

fn prefix(n: u64) -> Nlri {
    Nlri::new(Ipv4Prefix::new([10, 0, n as u8, 0].into(), 24).expect("prefix"))
}

/// Neighbour `i`'s stream: OPEN, KEEPALIVE, then `n` UPDATEs drawn from `seed` over 24
/// prefixes every neighbour announces: an AS path of 1 to 4 ASNs (so the best route of a
/// prefix moves between neighbours), or a withdrawal.
fn stream(i: usize, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = crate::session::SplitMix64::new(seed ^ (i as u64) << 40);
    let mut s = open(i);
    s.extend_from_slice(&crate::wire::keepalive::KEEPALIVE);
    let mut ctx = SessionContext::modern();
    ctx.extended_message = false;
    let asn = Asn(65002 + i as u32);
    for _ in 0..n {
        let r = rng.next_u64();
        let p = prefix(r % 24);
        let u = if (r >> 8).is_multiple_of(5) {
            Update {
                withdrawn: vec![p],
                ..Update::default()
            }
        } else {
            let len = 1 + (r >> 16) % 4;
            let path = std::iter::once(asn).chain((1..len).map(|k| Asn(64_512 + k as u32)));
            Update {
                withdrawn: vec![],
                attributes: attributes([
                    AttributeValue::Origin(Origin::Igp),
                    AttributeValue::AsPath(AsPath::sequence(path)),
                    AttributeValue::NextHop(addr(i)),
                ]),
                nlri: vec![p],
            }
        };
        s.extend_from_slice(&encode_message(&Message::Update(u), &ctx).expect("update"));
    }
    s
}

/// A primary with the three flows bound and confirmed, and a locally originated route.
fn primary() -> SpeakerReplica {
    let config = Config::from_toml_str(&config()).expect("config");
    let speaker = Speaker::new(Millis(0), config, 7).expect("speaker");
    let mut r = SpeakerReplica::new(speaker, 7, 1_700_000_000_000);
    for i in 0..PEERS {
        let peer = r.speaker().peer_by_address(addr(i).into()).expect("peer");
        let conn = ConnId::incoming(1);
        r.bind_flow(flow(i), peer, conn);
        r.speaker_mut().handle(
            Millis(5),
            Input::ConnectionConfirmed {
                peer,
                conn,
                local_address: [192, 0, 2, 1].into(),
            },
        );
    }
    r.speaker_mut().handle(
        Millis(6),
        Input::Admin(AdminCommand::Originate {
            prefix: Prefix::V4(Ipv4Prefix::new([203, 0, 113, 0].into(), 24).expect("p")),
            attributes: PathAttributes::new(),
        }),
    );
    r.drain_outputs();
    r
}

/// Hands the standby what the primary consumed on `flow(i)` beyond what it has.
fn catch_up(sb: &mut SpeakerReplica, p: &SpeakerReplica, s: &[u8], i: usize, now: u64) {
    let from = sb.received(&flow(i)).expect("restored");
    let to = p.received(&flow(i)).expect("bound");
    sb.feed_peer_bytes(now, &flow(i), from, &s[from as usize..to as usize])
        .expect("feed");
    sb.drain_outputs();
    let id = sb_peer(p, i);
    assert_eq!(
        ins(sb, id),
        ins(p, id),
        "Adj-RIB-In of {i} after catching up"
    );
}

/// Every neighbour's Adj-RIB-In on the primary at each checkpoint, in checkpoint order.
type InsAtCheckpoints = Vec<Vec<Vec<crate::rib::RouteEntry>>>;

/// Runs the scenario; `cuts[i]` is the round (of `rounds`) after which flow `i` is
/// checkpointed and restored on the standby.
fn run(seed: u64, cuts: [usize; PEERS], chunk: usize, updates: usize) -> InsAtCheckpoints {
    let streams: Vec<Vec<u8>> = (0..PEERS).map(|i| stream(i, updates, seed)).collect();
    let rounds = streams
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .div_ceil(chunk);
    let mut p = primary();
    let mut sb = {
        let other = "router_id = \"198.51.100.9\"\nlocal_as = 64999\n";
        let speaker = Speaker::new(Millis(0), Config::from_toml_str(other).expect("cfg"), 1)
            .expect("speaker");
        SpeakerReplica::new(speaker, 1, 0)
    };
    sb.import_static(&p.export_static()).expect("static");
    let mut restored = [false; PEERS];
    let mut ins_at_checkpoint = Vec::new();
    let mut t = 10;
    for round in 0..=rounds {
        for (i, s) in streams.iter().enumerate() {
            if cuts[i] == round {
                let snap = p.snapshot_flow(&flow(i)).expect("established");
                ins_at_checkpoint.push(
                    (0..PEERS)
                        .map(|j| p.speaker().rib().adj_rib_in(sb_peer(&p, j)))
                        .collect(),
                );
                // The mirror brought the restored flows up to now.
                for (j, sj) in streams.iter().enumerate() {
                    if restored[j] {
                        catch_up(&mut sb, &p, sj, j, t);
                    }
                }
                sb.restore_flow(&snap).expect("restore");
                sb.drain_outputs();
                assert_eq!(sb.flow_digest(&flow(i)), Some(snap.digest));
                let id = sb_peer(&p, i);
                assert_eq!(
                    ins(&sb, id),
                    ins(&p, id),
                    "Adj-RIB-In of {i}, round {round}"
                );
                restored[i] = true;
            }
            let at = (round * chunk).min(s.len());
            let end = ((round + 1) * chunk).min(s.len());
            p.receive(Millis(t), &flow(i), &s[at..end])
                .expect("primary");
            p.drain_outputs();
            t += 1;
        }
    }
    for (i, s) in streams.iter().enumerate() {
        catch_up(&mut sb, &p, s, i, t);
        assert_eq!(p.received(&flow(i)), Some(s.len() as u64));
        assert_eq!(sb.flow_offsets(&flow(i)), p.flow_offsets(&flow(i)));
        assert_eq!(sb.flow_digest(&flow(i)), p.flow_digest(&flow(i)));
    }
    let (pr, sr) = (p.speaker().rib(), sb.speaker().rib());
    assert_eq!(sr.loc_rib(), pr.loc_rib());
    for i in 0..PEERS {
        let id = sb_peer(&p, i);
        assert_eq!(sr.adj_rib_in(id), pr.adj_rib_in(id), "Adj-RIB-In of {i}");
        assert_eq!(sr.adj_rib_out(id), pr.adj_rib_out(id), "Adj-RIB-Out of {i}");
        assert!(!pr.adj_rib_out(id).is_empty());
    }
    let local = Prefix::V4(Ipv4Prefix::new([203, 0, 113, 0].into(), 24).expect("p"));
    assert!(sr.best(local).is_some_and(|r| r.peer.is_none()));
    assert_eq!(sr.digest(), pr.digest());
    assert_eq!(sb.state_digest(), p.state_digest());
    ins_at_checkpoint
}

/// A neighbour's Adj-RIB-In without the Loc-RIB flag (which depends on the other
/// neighbours' routes).
fn ins(r: &SpeakerReplica, id: PeerId) -> Vec<(Prefix, PathAttributes, bool, bool)> {
    r.speaker()
        .rib()
        .adj_rib_in(id)
        .into_iter()
        .map(|e| (e.prefix, e.attributes, e.accepted, e.stale))
        .collect()
}

fn sb_peer(p: &SpeakerReplica, i: usize) -> PeerId {
    p.speaker().peer_by_address(addr(i).into()).expect("peer")
}

#[test]
fn a_late_standby_restored_flow_by_flow_reaches_the_primary_digest() {
    // Flow 0 after round 2, flow 1 in the middle, flow 2 near the end.
    let chunk = 300;
    let rounds = (0..PEERS)
        .map(|i| stream(i, 120, 11).len())
        .max()
        .unwrap_or(0)
        .div_ceil(chunk);
    let ins = run(11, [2, rounds / 2, rounds - 3], chunk, 120);
    // Not degenerate: flows 1 and 2 changed between flow 0's checkpoint and their own, which
    // a standby keeping the RIBs of flow 0's checkpoint would miss.
    assert_ne!(ins[0][1], ins[1][1]);
    assert_ne!(ins[1][2], ins[2][2]);
    assert!(ins[1][1].len() > 5);
}

#[test]
fn flows_restored_in_any_order_reach_the_primary_digest() {
    run(3, [9, 1, 5], 200, 80);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn any_checkpoint_instants_reach_the_primary_digest(
        seed in any::<u64>(),
        a in 2usize..12,
        b in 2usize..12,
        c in 2usize..12,
        chunk in 60usize..400,
    ) {
        // Two rounds of at least 60 octets hold the OPEN and KEEPALIVE (Established); cut
        // rounds past the end are clamped to the last round.
        let updates = 60;
        let len = stream(0, updates, seed).len();
        let rounds = len.div_ceil(chunk);
        run(seed, [a.min(rounds), b.min(rounds), c.min(rounds)], chunk, updates);
    }
}
