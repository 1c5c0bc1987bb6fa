//! Routes in from one neighbour, out to others: eBGP and iBGP export rules, FIB output.
#![allow(clippy::unwrap_used)]

mod rib_util;

use bgpd::rib::{FibChange, PeerId};
use bgpd::wire::{AsPath, Asn, AttributeValue};
use rib_util::*;
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn ebgp_route_goes_to_other_ebgp_peer_with_our_as_and_next_hop_self() {
    let mut rib = rib();
    let p1 = peer(1, [192, 0, 2, 1], [192, 0, 2, 254], 65001);
    let p2 = peer(2, [198, 51, 100, 1], [198, 51, 100, 254], 65002);
    rib.peer_up(p1.clone()).unwrap();
    rib.peer_up(p2.clone()).unwrap();
    // Initial table: empty, then End-of-RIB for both families.
    let first = decode_updates(&p2, &rib.poll_updates(PeerId(2)));
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|u| u.as_end_of_rib().is_some()));
    let _ = rib.poll_updates(PeerId(1));

    apply(
        &mut rib,
        1,
        &announce(
            &["203.0.113.0/24"],
            attrs(
                &[65001, 64496],
                [192, 0, 2, 1],
                vec![AttributeValue::MultiExitDisc(50)],
            ),
        ),
    );
    let us = decode_updates(&p2, &rib.poll_updates(PeerId(2)));
    assert_eq!(us.len(), 1);
    let u = &us[0];
    assert_eq!(announced(u), vec![p("203.0.113.0/24")]);
    assert_eq!(
        u.attributes.as_path(),
        Some(&AsPath::sequence([Asn(65000), Asn(65001), Asn(64496)]))
    );
    assert_eq!(
        u.attributes.next_hop(),
        Some(Ipv4Addr::new(198, 51, 100, 254))
    );
    assert_eq!(
        u.attributes.med(),
        None,
        "MED from another AS is not propagated"
    );
    assert_eq!(u.attributes.local_pref(), None);
    // Not sent back to where it came from.
    assert!(rib.poll_updates(PeerId(1)).is_empty());
    assert_eq!(
        rib.poll_fib(),
        vec![FibChange::Install {
            prefix: p("203.0.113.0/24"),
            next_hop: IpAddr::from([192, 0, 2, 1]),
        }]
    );
    // Withdrawal reaches peer 2 and the FIB.
    apply(&mut rib, 1, &withdraw(&["203.0.113.0/24"]));
    let us = decode_updates(&p2, &rib.poll_updates(PeerId(2)));
    assert_eq!(us.len(), 1);
    assert_eq!(withdrawn(&us[0]), vec![p("203.0.113.0/24")]);
    assert_eq!(
        rib.poll_fib(),
        vec![FibChange::Remove {
            prefix: p("203.0.113.0/24")
        }]
    );
    assert!(rib.adj_rib_out(PeerId(2)).is_empty());
}
