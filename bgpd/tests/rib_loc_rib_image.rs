//! The Loc-RIB image behind `understudy ha`'s digest: copied under the lock, digested after
//! it; the digest depends on the Loc-RIB's routes alone.
#![allow(clippy::unwrap_used)]

mod rib_util;

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgpd::rib::{PeerId, Rib};
use bgpd::wire::AttributeValue;
use rib_util::*;

fn addresses() -> BTreeMap<PeerId, IpAddr> {
    [
        (PeerId(1), IpAddr::from([192, 0, 2, 1])),
        (PeerId(2), IpAddr::from([198, 51, 100, 1])),
    ]
    .into_iter()
    .collect()
}

fn two_peers() -> Rib {
    let mut rib = rib();
    rib.peer_up(peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001))
        .unwrap();
    rib.peer_up(peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002))
        .unwrap();
    rib
}

/// Peer 1 announces 10.i.0.0/16 with MED i % 3 (`order` gives the order of i).
fn feed(rib: &mut Rib, order: impl Iterator<Item = u32>) {
    for i in order {
        let a = attrs(
            &[65001, 64496 + i % 5],
            [192, 0, 2, 1],
            vec![AttributeValue::MultiExitDisc(i % 3)],
        );
        apply(rib, 1, &announce(&[&format!("10.{i}.0.0/16")], a));
    }
}

#[test]
fn the_digest_depends_on_the_routes_not_on_the_order_they_were_learned() {
    let mut a = two_peers();
    let mut b = two_peers();
    // b interns the attribute sets in another order: its set numbers differ from a's.
    feed(&mut a, 0..30);
    feed(&mut b, (0..30).rev());
    a.originate(p("192.0.2.0/24"), Default::default()).unwrap();
    b.originate(p("192.0.2.0/24"), Default::default()).unwrap();
    let (ia, ib) = (a.loc_rib_image(), b.loc_rib_image());
    assert_eq!(ia.len(), 31);
    assert_eq!(ib.len(), 31);
    assert_eq!(ia.digest(&addresses()), ib.digest(&addresses()));

    // One attribute changed (MED), one neighbour named otherwise, one route fewer: each
    // gives another digest.
    let before = a.loc_rib_image().digest(&addresses());
    apply(
        &mut b,
        1,
        &announce(
            &["10.7.0.0/16"],
            attrs(
                &[65001, 64498],
                [192, 0, 2, 1],
                vec![AttributeValue::MultiExitDisc(2)],
            ),
        ),
    );
    assert_ne!(b.loc_rib_image().digest(&addresses()), before);
    let mut other = addresses();
    other.insert(PeerId(1), IpAddr::from([192, 0, 2, 9]));
    assert_ne!(a.loc_rib_image().digest(&other), before);
    apply(&mut a, 1, &withdraw(&["10.3.0.0/16"]));
    assert_eq!(a.loc_rib_image().len(), 30);
    assert_ne!(a.loc_rib_image().digest(&addresses()), before);
}

#[test]
fn an_image_digests_the_loc_rib_as_it_was_when_taken() {
    let mut a = two_peers();
    feed(&mut a, 0..10);
    let image = a.loc_rib_image();
    let then = image.clone().digest(&addresses());
    // The RIB moves on (the lock is released once the image is taken).
    feed(&mut a, 10..20);
    apply(&mut a, 1, &withdraw(&["10.0.0.0/16"]));
    assert_eq!(image.len(), 10);
    assert_eq!(image.digest(&addresses()), then);
    assert_ne!(a.loc_rib_image().digest(&addresses()), then);
    // Routes of a second neighbour that win the decision are its own in the digest.
    let mut b = two_peers();
    feed(&mut b, 0..10);
    assert_eq!(b.loc_rib_image().digest(&addresses()), then);
    apply(
        &mut b,
        2,
        &announce(&["10.1.0.0/16"], attrs(&[65002], [198, 51, 100, 1], vec![])),
    );
    let best = b.best(p("10.1.0.0/16")).unwrap();
    assert_eq!(best.peer, Some(PeerId(2)), "shorter AS path wins");
    assert_ne!(b.loc_rib_image().digest(&addresses()), then);
}
