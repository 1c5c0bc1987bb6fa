//! RFC 4271 section 9.1.2.2 (and RFC 4456 section 9): one table per step. Each row has two
//! candidates equal on every earlier step; the expected winner and the deciding step are
//! asserted, and the rows are also run with the candidates swapped (order must not matter).

use bgpd::rib::decision::{select, Candidate, DecisionOptions, DecisionStep};
use std::net::IpAddr;

fn base(peer: u32) -> Candidate {
    Candidate {
        local: false,
        local_pref: 100,
        as_path_len: 3,
        origin: 0,
        med: 0,
        neighbor_as: 64500,
        ebgp: true,
        bgp_id: 0x0a00_0000 + peer,
        cluster_len: 0,
        address: IpAddr::from([192, 0, 2, peer as u8]),
        peer,
        path_id: 0,
    }
}

/// (name, winner tweak, loser tweak, expected step); candidate 0 must win.
type Row = (
    &'static str,
    fn(&mut Candidate),
    fn(&mut Candidate),
    DecisionStep,
);

fn check(rows: &[Row], opts: DecisionOptions) {
    for (name, w, l, step) in rows {
        // Same BGP id / address for both unless the row changes them, so that only the
        // row's attribute can decide (ties past the row's step are broken later).
        let mut a = base(1);
        let mut b = base(2);
        w(&mut a);
        l(&mut b);
        let r = select(&[a, b], opts);
        assert_eq!(r, Some((0, *step)), "{name}: {a:?} should beat {b:?}");
        let r = select(&[b, a], opts);
        assert_eq!(r, Some((1, *step)), "{name} (swapped)");
    }
}

#[test]
fn degree_of_preference_local_pref() {
    check(
        &[
            (
                "higher LOCAL_PREF wins",
                |c| c.local_pref = 200,
                |c| c.local_pref = 100,
                DecisionStep::LocalPref,
            ),
            (
                "LOCAL_PREF beats shorter path",
                |c| {
                    c.local_pref = 101;
                    c.as_path_len = 9
                },
                |c| c.as_path_len = 1,
                DecisionStep::LocalPref,
            ),
            (
                "LOCAL_PREF beats eBGP",
                |c| {
                    c.local_pref = 150;
                    c.ebgp = false
                },
                |_| {},
                DecisionStep::LocalPref,
            ),
        ],
        DecisionOptions::default(),
    );
}

#[test]
fn local_routes_first() {
    check(
        &[(
            "locally originated beats higher LOCAL_PREF",
            |c| c.local = true,
            |c| c.local_pref = 1000,
            DecisionStep::Local,
        )],
        DecisionOptions::default(),
    );
}

#[test]
fn as_path_length() {
    check(
        &[
            (
                "shorter AS_PATH wins",
                |c| c.as_path_len = 2,
                |c| c.as_path_len = 3,
                DecisionStep::AsPathLength,
            ),
            (
                "shorter path beats lower ORIGIN",
                |c| {
                    c.as_path_len = 1;
                    c.origin = 2
                },
                |c| c.origin = 0,
                DecisionStep::AsPathLength,
            ),
        ],
        DecisionOptions::default(),
    );
}

#[test]
fn origin() {
    check(
        &[
            (
                "IGP over EGP",
                |c| c.origin = 0,
                |c| c.origin = 1,
                DecisionStep::Origin,
            ),
            (
                "EGP over INCOMPLETE",
                |c| c.origin = 1,
                |c| c.origin = 2,
                DecisionStep::Origin,
            ),
            (
                "ORIGIN beats MED",
                |c| {
                    c.origin = 0;
                    c.med = 500
                },
                |c| {
                    c.origin = 2;
                    c.med = 0
                },
                DecisionStep::Origin,
            ),
        ],
        DecisionOptions::default(),
    );
}

#[test]
fn med_within_same_neighbor_as() {
    check(
        &[
            (
                "lower MED from the same AS wins",
                |c| c.med = 10,
                |c| c.med = 20,
                DecisionStep::Med,
            ),
            (
                "MED beats eBGP over iBGP",
                |c| {
                    c.med = 10;
                    c.ebgp = false
                },
                |c| c.med = 20,
                DecisionStep::Med,
            ),
        ],
        DecisionOptions::default(),
    );
    // Different neighbouring AS: MED is not compared, the next steps decide.
    let mut a = base(1);
    let mut b = base(2);
    a.neighbor_as = 64501;
    a.med = 500;
    b.neighbor_as = 64502;
    b.med = 1;
    // a has the lower BGP id.
    assert_eq!(
        select(&[a, b], DecisionOptions::default()),
        Some((0, DecisionStep::BgpIdentifier))
    );
    // With always-compare-med the lower MED wins.
    assert_eq!(
        select(
            &[a, b],
            DecisionOptions {
                always_compare_med: true
            }
        ),
        Some((1, DecisionStep::Med))
    );
}

#[test]
fn med_is_not_transitive_elimination() {
    // Three routes: A (AS1, MED 10), B (AS1, MED 20), C (AS2, MED 5). B is removed by A;
    // A and C survive (different AS), then the BGP identifier decides between A and C.
    let mut a = base(3);
    let mut b = base(1);
    let mut c = base(2);
    a.neighbor_as = 1;
    a.med = 10;
    b.neighbor_as = 1;
    b.med = 20;
    c.neighbor_as = 2;
    c.med = 5;
    // c has bgp id ...2, a ...3: c wins on BGP identifier (b, with id ...1, was removed by MED).
    assert_eq!(
        select(&[a, b, c], DecisionOptions::default()),
        Some((2, DecisionStep::BgpIdentifier))
    );
}

#[test]
fn ebgp_over_ibgp() {
    check(
        &[(
            "external beats internal",
            |c| c.ebgp = true,
            |c| c.ebgp = false,
            DecisionStep::External,
        )],
        DecisionOptions::default(),
    );
}

#[test]
fn bgp_identifier_and_originator_id() {
    check(
        &[
            (
                "lower BGP id wins",
                |c| c.bgp_id = 1,
                |c| c.bgp_id = 2,
                DecisionStep::BgpIdentifier,
            ),
            // RFC 4456 section 9: ORIGINATOR_ID stands in for the BGP id (the caller puts it
            // in bgp_id); it beats a shorter CLUSTER_LIST.
            (
                "ORIGINATOR_ID lower wins over shorter CLUSTER_LIST",
                |c| {
                    c.bgp_id = 5;
                    c.cluster_len = 3
                },
                |c| {
                    c.bgp_id = 6;
                    c.cluster_len = 0
                },
                DecisionStep::BgpIdentifier,
            ),
        ],
        DecisionOptions::default(),
    );
}

#[test]
fn cluster_list_length() {
    check(
        &[(
            "shorter CLUSTER_LIST wins",
            |c| {
                c.bgp_id = 7;
                c.cluster_len = 1
            },
            |c| {
                c.bgp_id = 7;
                c.cluster_len = 2
            },
            DecisionStep::ClusterListLength,
        )],
        DecisionOptions::default(),
    );
}

#[test]
fn neighbor_address() {
    check(
        &[
            (
                "lower address wins",
                |c| {
                    c.bgp_id = 7;
                    c.address = IpAddr::from([192, 0, 2, 1])
                },
                |c| {
                    c.bgp_id = 7;
                    c.address = IpAddr::from([192, 0, 2, 9])
                },
                DecisionStep::NeighborAddress,
            ),
            (
                "IPv4 before IPv6",
                |c| {
                    c.bgp_id = 7;
                    c.address = IpAddr::from([203, 0, 113, 1])
                },
                |c| {
                    c.bgp_id = 7;
                    c.address = "2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 4]))
                },
                DecisionStep::NeighborAddress,
            ),
        ],
        DecisionOptions::default(),
    );
}

/// ADD-PATH (RFC 7911): two paths of one neighbour (same peer, identifier and address)
/// compete on every step like routes of different neighbours; equal on all of them, the
/// lower Path Identifier is chosen.
#[test]
fn add_path_paths_of_one_neighbor() {
    fn same_peer(c: &mut Candidate, path_id: u32) {
        c.peer = 1;
        c.bgp_id = 7;
        c.address = IpAddr::from([192, 0, 2, 1]);
        c.path_id = path_id;
    }
    check(
        &[
            (
                "lower path id when all else is equal",
                |c| same_peer(c, 1),
                |c| same_peer(c, 5),
                DecisionStep::PathId,
            ),
            (
                "a higher path id with a shorter AS path wins on the AS path",
                |c| {
                    same_peer(c, 9);
                    c.as_path_len = 2;
                },
                |c| same_peer(c, 1),
                DecisionStep::AsPathLength,
            ),
            (
                "MED compared between paths of one neighbour (same neighbouring AS)",
                |c| {
                    same_peer(c, 4);
                    c.med = 10;
                },
                |c| {
                    same_peer(c, 2);
                    c.med = 20;
                },
                DecisionStep::Med,
            ),
        ],
        DecisionOptions::default(),
    );
}

#[test]
fn single_and_empty() {
    assert_eq!(select(&[], DecisionOptions::default()), None);
    assert_eq!(
        select(&[base(1)], DecisionOptions::default()),
        Some((0, DecisionStep::Only))
    );
}
