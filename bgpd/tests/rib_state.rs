//! Digest and snapshot/restore: a restored RIB has the same digest and produces the same
//! outputs as the original for the same further inputs.
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::rib::{PeerId, Rib};
use bgpd::wire::{AfiSafi, AttributeValue};
use rib_util::*;

fn populated() -> Rib {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002))
        .unwrap();
    let mut c = peer(3, [10, 0, 0, 3], [10, 0, 0, 254], LOCAL_AS);
    c.rr_client = true;
    rib.peer_up(c).unwrap();
    for i in 0..40u32 {
        let a = attrs(
            &[65001, 64496 + i % 5],
            [192, 0, 2, 1],
            vec![AttributeValue::MultiExitDisc(i % 3)],
        );
        apply(&mut rib, 1, &announce(&[&format!("10.{i}.0.0/16")], a));
    }
    for i in 20..30u32 {
        let a = attrs(&[65002], [198, 51, 100, 1], vec![]);
        apply(&mut rib, 2, &announce(&[&format!("10.{i}.0.0/16")], a));
    }
    rib.originate(p("192.0.2.0/24"), Default::default())
        .unwrap();
    rib
}

/// UPDATEs to peers 1, 2, 3 and the FIB changes (debug text).
type StepOut = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<Vec<u8>>, String);

fn step(rib: &mut Rib, k: u32) -> StepOut {
    if k == 3 {
        // Back after its graceful restart (down at step 2); stale routes kept until EoR.
        rib.peer_up(peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002))
            .unwrap();
    }
    if k == 5 {
        rib.end_of_rib(PeerId(2), AfiSafi::IPV4_UNICAST);
    }
    if k != 2 {
        apply(rib, 2, &withdraw(&[&format!("10.{}.0.0/16", 20 + k)]));
    }
    apply(
        rib,
        3,
        &announce(
            &[&format!("172.16.{k}.0/24")],
            attrs(
                &[64999],
                [10, 0, 0, 3],
                vec![AttributeValue::LocalPref(100)],
            ),
        ),
    );
    if k == 2 {
        rib.peer_down_graceful(PeerId(2));
    }
    if k == 4 {
        rib.refresh_out(PeerId(1), AfiSafi::IPV4_UNICAST);
    }
    (
        rib.poll_updates(PeerId(1)),
        rib.poll_updates(PeerId(2)),
        rib.poll_updates(PeerId(3)),
        format!("{:?}", rib.poll_fib()),
    )
}

#[test]
fn restore_gives_identical_digest_and_outputs() {
    let mut a = populated();
    // Part of the output consumed, part pending: both must survive the snapshot.
    let _ = a.poll_updates(PeerId(1));
    let _ = a.poll_fib();
    let bytes = postcard::to_allocvec(&a).unwrap();
    let mut b: Rib = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(
        postcard::to_allocvec(&b).unwrap(),
        bytes,
        "snapshot is canonical"
    );
    assert_eq!(a.stats(), b.stats());
    for k in 0..6 {
        assert_eq!(step(&mut a, k), step(&mut b, k), "outputs at step {k}");
        assert_eq!(a.digest(), b.digest(), "digest at step {k}");
    }
    assert_eq!(a.loc_rib(), b.loc_rib());
}

#[test]
fn json_round_trip_too() {
    let a = populated();
    let s = serde_json::to_string(&a).unwrap();
    let b: Rib = serde_json::from_str(&s).unwrap();
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn digest_depends_on_state_not_history() {
    let mut a = populated();
    let mut b = populated();
    assert_eq!(a.digest(), b.digest());
    // Same final state reached through different inputs.
    apply(&mut a, 1, &withdraw(&["10.1.0.0/16"]));
    apply(&mut a, 1, &withdraw(&["10.2.0.0/16"]));
    apply(&mut b, 1, &withdraw(&["10.2.0.0/16", "10.1.0.0/16"]));
    assert_eq!(a.digest(), b.digest());
    // Different state, different digest.
    apply(&mut b, 1, &withdraw(&["10.3.0.0/16"]));
    assert_ne!(a.digest(), b.digest());
    // Pending output is state: polling changes the digest.
    let before = a.digest();
    let _ = a.poll_updates(PeerId(2));
    assert_ne!(a.digest(), before);
}

#[test]
fn two_instances_fed_the_same_calls_agree() {
    let mut a = populated();
    let mut b = populated();
    for k in 0..6 {
        assert_eq!(step(&mut a, k), step(&mut b, k));
    }
    assert_eq!(a.digest(), b.digest());
}
