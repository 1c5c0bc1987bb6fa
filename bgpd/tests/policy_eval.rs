//! Policy configuration (TOML) and evaluation.
#![allow(clippy::unwrap_used)]

use bgpd::policy::{PolicyConfig, PolicyError, RouteInput, Verdict};
use bgpd::wire::{
    AsPath, AsSegment, Asn, AttributeValue, Community, LargeCommunity, Origin, PathAttributes,
    Prefix, SegmentType,
};
use std::net::{IpAddr, Ipv4Addr};

fn cfg(s: &str) -> PolicyConfig {
    toml::from_str(s).unwrap()
}

fn attrs(path: &[u32], comms: &[(u16, u16)]) -> PathAttributes {
    let mut a = PathAttributes::new();
    a.set(AttributeValue::Origin(Origin::Igp));
    a.set(AttributeValue::AsPath(AsPath::sequence(
        path.iter().copied().map(Asn),
    )));
    a.set(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)));
    if !comms.is_empty() {
        a.set(AttributeValue::Communities(
            comms
                .iter()
                .map(|(h, l)| Community((u32::from(*h) << 16) | u32::from(*l)))
                .collect(),
        ));
    }
    a
}

fn eval(c: &PolicyConfig, names: &[&str], prefix: &str, a: &PathAttributes) -> Verdict {
    let p = c.compile().unwrap();
    let chain = p
        .chain(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap();
    chain.evaluate(&RouteInput {
        prefix: prefix.parse::<Prefix>().unwrap(),
        attrs: a,
        local_as: Asn(65000),
    })
}

#[test]
fn prefix_list_ge_le() {
    let c = cfg(r#"
        [prefix_lists]
        exact = ["203.0.113.0/24"]
        le = ["10.0.0.0/8 le 16"]
        ge = ["10.0.0.0/8 ge 24"]
        range = ["2001:db8::/32 ge 40 le 48"]
        [policies.exact]
        terms = [ { match = { prefix_list = "exact" } } ]
        [policies.le]
        terms = [ { match = { prefix_list = "le" } } ]
        [policies.ge]
        terms = [ { match = { prefix_list = "ge" } } ]
        [policies.range]
        terms = [ { match = { prefix_list = "range" } } ]
    "#);
    let a = attrs(&[65001], &[]);
    let cases = [
        ("exact", "203.0.113.0/24", true),
        ("exact", "203.0.113.0/25", false),
        ("exact", "203.0.0.0/16", false),
        ("le", "10.0.0.0/8", true),
        ("le", "10.1.0.0/16", true),
        ("le", "10.1.1.0/24", false),
        ("le", "11.0.0.0/8", false),
        ("ge", "10.1.1.0/24", true),
        ("ge", "10.1.1.1/32", true),
        ("ge", "10.1.0.0/16", false),
        ("range", "2001:db8:100::/40", true),
        ("range", "2001:db8:1::/48", true),
        ("range", "2001:db8::/32", false),
        ("range", "2001:db8:1:1::/64", false),
        ("range", "10.0.0.0/8", false),
    ];
    for (pol, prefix, want) in cases {
        assert_eq!(eval(&c, &[pol], prefix, &a).accept, want, "{pol} {prefix}");
    }
}

#[test]
fn as_path_matchers() {
    let c = cfg(r#"
        [policies.re]
        terms = [ { match = { as_path = "^65001 .*64496$" } } ]
        [policies.contains]
        terms = [ { match = { as_path_contains = 64497 } } ]
        [policies.origin]
        terms = [ { match = { origin_as = 64496 } } ]
        [policies.neighbor]
        terms = [ { match = { neighbor_as = 65001 } } ]
        [policies.short]
        terms = [ { match = { as_path_len_max = 2 } } ]
        [policies.set]
        terms = [ { match = { as_path = "\\{64498 64499\\}" } } ]
    "#);
    let a = attrs(&[65001, 64497, 64496], &[]);
    let b = attrs(&[65002, 64496], &[]);
    for (pol, x, want) in [
        ("re", &a, true),
        ("re", &b, false),
        ("contains", &a, true),
        ("contains", &b, false),
        ("origin", &a, true),
        ("origin", &b, true),
        ("neighbor", &a, true),
        ("neighbor", &b, false),
        ("short", &a, false),
        ("short", &b, true),
    ] {
        assert_eq!(eval(&c, &[pol], "203.0.113.0/24", x).accept, want, "{pol}");
    }
    let mut s = attrs(&[65001], &[]);
    s.set(AttributeValue::AsPath(AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![Asn(65001)],
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![Asn(64498), Asn(64499)],
            },
        ],
    }));
    assert!(eval(&c, &["set"], "203.0.113.0/24", &s).accept);
    // AS_SET counts 1: length 2.
    assert!(eval(&c, &["short"], "203.0.113.0/24", &s).accept);
}

#[test]
fn communities_match_add_remove() {
    let c = cfg(r#"
        [policies.p]
        terms = [
          { match = { community = ["65000:*"] }, set = { remove_communities = ["65000:*"], add_communities = ["64511:7", "no-export"], local_pref = 50 } },
          { match = { large_community = ["64496:1:*"] }, set = { add_large_communities = ["64496:2:3"], remove_large_communities = ["64496:1:*"] } },
          { match = { community_all = ["64511:1", "64511:2"] }, action = "reject" },
        ]
        default = "accept"
    "#);
    let a = attrs(&[65001], &[(65000, 1), (65000, 2), (64511, 9)]);
    let v = eval(&c, &["p"], "203.0.113.0/24", &a);
    assert!(v.accept);
    let m = v.attrs.unwrap();
    assert_eq!(
        m.communities(),
        &[
            Community((64511 << 16) | 9),
            Community((64511 << 16) | 7),
            Community::NO_EXPORT
        ]
    );
    assert_eq!(m.local_pref(), Some(50));

    let mut l = attrs(&[65001], &[]);
    l.set(AttributeValue::LargeCommunities(vec![LargeCommunity {
        global_admin: 64496,
        local_data_1: 1,
        local_data_2: 5,
    }]));
    let v = eval(&c, &["p"], "203.0.113.0/24", &l);
    assert_eq!(
        v.attrs.unwrap().large_communities(),
        &[LargeCommunity {
            global_admin: 64496,
            local_data_1: 2,
            local_data_2: 3
        }]
    );

    let both = attrs(&[65001], &[(64511, 1), (64511, 2)]);
    assert!(!eval(&c, &["p"], "203.0.113.0/24", &both).accept);
    let one = attrs(&[65001], &[(64511, 1)]);
    let v = eval(&c, &["p"], "203.0.113.0/24", &one);
    assert!(v.accept && v.attrs.is_none(), "default accept, unchanged");
}

#[test]
fn removing_the_last_community_removes_the_attribute() {
    let c = cfg(r#"
        [policies.p]
        terms = [ { set = { remove_communities = ["*:*"] } } ]
    "#);
    let v = eval(&c, &["p"], "203.0.113.0/24", &attrs(&[65001], &[(1, 1)]));
    assert!(v.attrs.unwrap().value(8).is_none());
}

#[test]
fn actions_med_next_hop_prepend() {
    let c = cfg(r#"
        [policies.p]
        terms = [ { set = { med = 42, next_hop = "198.51.100.9", prepend = 2, prepend_as = [64999] } } ]
        [policies.s]
        terms = [ { set = { next_hop = "self" } } ]
    "#);
    let v = eval(&c, &["p"], "203.0.113.0/24", &attrs(&[65001], &[]));
    assert!(v.accept && v.med_set);
    assert_eq!(
        v.next_hop,
        Some(bgpd::policy::NextHopAction::Address(IpAddr::from([
            198, 51, 100, 9
        ])))
    );
    let m = v.attrs.unwrap();
    assert_eq!(m.med(), Some(42));
    assert_eq!(
        m.as_path(),
        Some(&AsPath::sequence([
            Asn(65000),
            Asn(65000),
            Asn(64999),
            Asn(65001)
        ]))
    );
    let v = eval(&c, &["s"], "203.0.113.0/24", &attrs(&[65001], &[]));
    assert_eq!(v.next_hop, Some(bgpd::policy::NextHopAction::SelfAddress));
}

#[test]
fn first_match_wins_next_and_chains() {
    let c = cfg(r#"
        [policies.a]
        terms = [
          { match = { neighbor_as = 65001 }, set = { local_pref = 10 }, action = "next" },
          { match = { neighbor_as = 65001 }, set = { med = 5 }, action = "accept" },
          { set = { local_pref = 99 } },
        ]
        [policies.pass]
        default = "next"
        [policies.deny]
        terms = [ { action = "reject" } ]
    "#);
    let v = eval(&c, &["a"], "203.0.113.0/24", &attrs(&[65001], &[]));
    let m = v.attrs.unwrap();
    assert_eq!((m.local_pref(), m.med()), (Some(10), Some(5)));
    let v = eval(&c, &["a"], "203.0.113.0/24", &attrs(&[65002], &[]));
    assert_eq!(v.attrs.unwrap().local_pref(), Some(99));
    // "pass" decides nothing: the next policy does.
    assert!(
        !eval(
            &c,
            &["pass", "deny"],
            "203.0.113.0/24",
            &attrs(&[65001], &[])
        )
        .accept
    );
    assert!(eval(&c, &["pass", "a"], "203.0.113.0/24", &attrs(&[65001], &[])).accept);
    // Past the last policy: rejected.
    assert!(!eval(&c, &["pass"], "203.0.113.0/24", &attrs(&[65001], &[])).accept);
}

#[test]
fn configuration_errors_name_the_place() {
    let bad = |s: &str| cfg(s).compile().unwrap_err();
    assert!(matches!(
        bad("[policies.p]\nterms = [ { match = { prefix_list = \"nope\" } } ]"),
        PolicyError::UnknownPrefixList { ref name, .. } if name == "nope"
    ));
    assert!(matches!(
        bad("[prefix_lists]\nx = [\"10.0.0.0/8 le 4\"]"),
        PolicyError::BadPrefixEntry { .. }
    ));
    assert!(matches!(
        bad("[policies.p]\nterms = [ { match = { as_path = \"(\" } } ]"),
        PolicyError::BadRegex { .. }
    ));
    assert!(matches!(
        bad("[policies.p]\nterms = [ { set = { add_communities = [\"65000:*\"] } } ]"),
        PolicyError::BadCommunity { .. }
    ));
    assert!(matches!(
        bad("[policies.p]\nterms = [ { set = { next_hop = \"here\" } } ]"),
        PolicyError::BadNextHop { .. }
    ));
    let e = bad("[policies.p]\nterms = [ { name = \"t1\", match = { family = \"ipx\" } } ]");
    assert!(e.to_string().contains("t1"), "{e}");
    let p = cfg("").compile().unwrap();
    assert_eq!(
        p.chain(&["x".into()]).unwrap_err(),
        PolicyError::UnknownPolicy("x".into())
    );
    // Unknown fields are refused by serde.
    assert!(toml::from_str::<PolicyConfig>("[policies.p]\nbogus = 1").is_err());
}
