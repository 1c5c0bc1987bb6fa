//! The reconciliation itself, as pure functions: desired routes and the routes the
//! kernel holds in, the smallest list of netlink operations out.
//!
//! Rules (issue 5): replace rather than delete and add; a route that already matches
//! is left alone (no operation at all, so forwarding for it is never disturbed);
//! routes of ours that nobody wants any more are deleted only when the caller says
//! so (`delete_stale`, i.e. after convergence in adopt mode). Routes of other
//! protocols or tables never reach these functions.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::prefix::Prefix;
use crate::route::{KernelRoute, Path, RouteKey};

/// One netlink operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// RTM_NEWROUTE with NLM_F_CREATE | NLM_F_REPLACE: adds the route, or swaps the
    /// paths of an existing one atomically.
    Replace(KernelRoute),
    /// RTM_DELROUTE of exactly this prefix and metric.
    Delete(RouteKey),
}

impl Op {
    /// The route this operation is about.
    pub fn key(&self) -> RouteKey {
        match self {
            Op::Replace(r) => r.key,
            Op::Delete(k) => *k,
        }
    }
}

/// What one route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the kernel already matches (or both sides are empty).
    Keep,
    /// Send the desired paths with NLM_F_REPLACE.
    Replace,
    /// Delete the kernel's route.
    Delete,
}

/// Decides one route. `desired` and `installed` must be normalised
/// ([`crate::route::normalise_paths`]); an empty `desired` counts as absent.
pub fn plan_route(desired: Option<&[Path]>, installed: Option<&[Path]>) -> Action {
    let desired = desired.filter(|d| !d.is_empty());
    match (desired, installed) {
        (None, None) => Action::Keep,
        (None, Some(_)) => Action::Delete,
        (Some(d), Some(i)) if d == i => Action::Keep,
        (Some(_), _) => Action::Replace,
    }
}

/// Full reconciliation of one table: `desired` (prefix to normalised paths, to be
/// installed at `metric`) against `kernel` (our routes as dumped). Returns the
/// operations sorted by route key, replaces first then deletes.
///
/// A kernel route at another metric than `metric` is a different route to the kernel:
/// it is stale, like a prefix that is not desired. Stale routes are deleted only when
/// `delete_stale` is true. Desired prefixes with no paths are treated as absent.
pub fn plan<D: AsRef<[Path]>, K: AsRef<[Path]>, S1: BuildHasher, S2: BuildHasher>(
    desired: &HashMap<Prefix, D, S1>,
    kernel: &HashMap<RouteKey, K, S2>,
    metric: u32,
    delete_stale: bool,
) -> Vec<Op> {
    let mut replaces: Vec<Op> = Vec::new();
    for (prefix, paths) in desired {
        let key = RouteKey {
            prefix: *prefix,
            metric,
        };
        let paths = paths.as_ref();
        if plan_route(Some(paths), kernel.get(&key).map(AsRef::as_ref)) == Action::Replace {
            replaces.push(Op::Replace(KernelRoute {
                key,
                paths: paths.to_vec(),
            }));
        }
    }
    let mut deletes: Vec<Op> = Vec::new();
    if delete_stale {
        for key in kernel.keys() {
            let wanted = key.metric == metric
                && desired
                    .get(&key.prefix)
                    .is_some_and(|p| !p.as_ref().is_empty());
            if !wanted {
                deletes.push(Op::Delete(*key));
            }
        }
    }
    replaces.sort_unstable_by_key(Op::key);
    deletes.sort_unstable_by_key(Op::key);
    replaces.extend(deletes);
    replaces
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn p(s: &str) -> Prefix {
        s.parse().expect("valid prefix")
    }
    fn path(gw: &str, ifindex: u32) -> Path {
        Path {
            gateway: Some(gw.parse::<IpAddr>().expect("valid address")),
            ifindex,
        }
    }
    fn key(s: &str, metric: u32) -> RouteKey {
        RouteKey {
            prefix: p(s),
            metric,
        }
    }

    #[test]
    fn plan_route_table() {
        let a = [path("192.0.2.2", 3)];
        let b = [path("192.0.2.3", 3)];
        assert_eq!(plan_route(None, None), Action::Keep);
        assert_eq!(plan_route(Some(&[]), None), Action::Keep);
        assert_eq!(plan_route(Some(&a), None), Action::Replace);
        assert_eq!(plan_route(Some(&a), Some(&a)), Action::Keep);
        assert_eq!(plan_route(Some(&a), Some(&b)), Action::Replace);
        assert_eq!(plan_route(None, Some(&a)), Action::Delete);
        assert_eq!(plan_route(Some(&[]), Some(&a)), Action::Delete);
    }

    #[test]
    fn from_empty_adds_everything() {
        let mut desired = HashMap::new();
        desired.insert(p("198.51.100.0/26"), vec![path("192.0.2.2", 3)]);
        desired.insert(p("198.51.100.64/26"), vec![path("192.0.2.2", 3)]);
        let ops = plan(&desired, &HashMap::<RouteKey, Vec<Path>>::new(), 20, true);
        assert_eq!(ops.len(), 2);
        assert_eq!(
            ops[0],
            Op::Replace(KernelRoute {
                key: key("198.51.100.0/26", 20),
                paths: vec![path("192.0.2.2", 3)]
            })
        );
        assert_eq!(ops[1].key(), key("198.51.100.64/26", 20));
    }

    #[test]
    fn superset_only_deletes_the_extra_and_only_when_told() {
        let mut desired = HashMap::new();
        desired.insert(p("198.51.100.0/26"), vec![path("192.0.2.2", 3)]);
        let mut kernel = HashMap::new();
        kernel.insert(key("198.51.100.0/26", 20), vec![path("192.0.2.2", 3)]);
        kernel.insert(key("198.51.100.64/26", 20), vec![path("192.0.2.2", 3)]);
        assert_eq!(plan(&desired, &kernel, 20, false), vec![]);
        assert_eq!(
            plan(&desired, &kernel, 20, true),
            vec![Op::Delete(key("198.51.100.64/26", 20))]
        );
    }

    #[test]
    fn conflicting_set_replaces_never_deletes_a_wanted_route() {
        let mut desired = HashMap::new();
        desired.insert(p("198.51.100.0/26"), vec![path("192.0.2.3", 3)]);
        desired.insert(
            p("2001:db8:1::/48"),
            vec![path("2001:db8:ffff::2", 3), path("2001:db8:ffff::3", 3)],
        );
        let mut kernel = HashMap::new();
        kernel.insert(key("198.51.100.0/26", 20), vec![path("192.0.2.2", 3)]);
        kernel.insert(
            key("2001:db8:1::/48", 20),
            vec![path("2001:db8:ffff::2", 3)],
        );
        let ops = plan(&desired, &kernel, 20, true);
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|o| matches!(o, Op::Replace(_))));
    }

    #[test]
    fn other_metric_is_a_different_route() {
        let mut desired = HashMap::new();
        desired.insert(p("198.51.100.0/26"), vec![path("192.0.2.2", 3)]);
        let mut kernel = HashMap::new();
        kernel.insert(key("198.51.100.0/26", 10), vec![path("192.0.2.2", 3)]);
        let ops = plan(&desired, &kernel, 20, true);
        assert_eq!(
            ops,
            vec![
                Op::Replace(KernelRoute {
                    key: key("198.51.100.0/26", 20),
                    paths: vec![path("192.0.2.2", 3)]
                }),
                Op::Delete(key("198.51.100.0/26", 10)),
            ]
        );
    }

    #[test]
    fn empty_desired_paths_count_as_absent() {
        let mut desired = HashMap::new();
        desired.insert(p("198.51.100.0/26"), vec![]);
        let mut kernel = HashMap::new();
        kernel.insert(key("198.51.100.0/26", 20), vec![path("192.0.2.2", 3)]);
        assert_eq!(
            plan(&desired, &kernel, 20, true),
            vec![Op::Delete(key("198.51.100.0/26", 20))]
        );
        assert_eq!(
            plan(&desired, &HashMap::<RouteKey, Vec<Path>>::new(), 20, true),
            vec![]
        );
    }

    #[test]
    fn ecmp_order_does_not_matter_once_normalised() {
        use crate::route::normalise_paths;
        let a = normalise_paths(vec![path("192.0.2.3", 3), path("192.0.2.2", 3)]);
        let b = normalise_paths(vec![
            path("192.0.2.2", 3),
            path("192.0.2.3", 3),
            path("192.0.2.2", 3),
        ]);
        assert_eq!(plan_route(Some(&a), Some(&b)), Action::Keep);
    }

    mod properties {
        use super::super::*;
        use crate::route::normalise_paths;
        use proptest::prelude::*;
        use std::net::{IpAddr, Ipv4Addr};

        fn route_key(i: u8, metric: u32) -> RouteKey {
            RouteKey {
                prefix: Prefix::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)), 32).expect("valid"),
                metric,
            }
        }

        fn paths(gws: &[u8]) -> Vec<Path> {
            normalise_paths(
                gws.iter()
                    .map(|g| Path {
                        gateway: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, *g))),
                        ifindex: 3,
                    })
                    .collect(),
            )
        }

        proptest! {
            /// Applying the plan to the kernel's table yields exactly the desired table;
            /// routes that already match get no operation; nothing is deleted that is
            /// wanted; nothing is deleted at all without `delete_stale`.
            #[test]
            fn plan_reaches_desired_state_with_minimal_ops(
                desired in proptest::collection::hash_map(0u8..40, proptest::collection::vec(1u8..5, 1..3), 0..30),
                kernel in proptest::collection::hash_map((0u8..40, prop_oneof![Just(20u32), Just(10u32)]), proptest::collection::vec(1u8..5, 1..3), 0..30),
                delete_stale in any::<bool>(),
            ) {
                let desired: HashMap<Prefix, Vec<Path>> = desired
                    .iter()
                    .map(|(i, g)| (route_key(*i, 20).prefix, paths(g)))
                    .collect();
                let kernel: HashMap<RouteKey, Vec<Path>> = kernel
                    .iter()
                    .map(|((i, m), g)| (route_key(*i, *m), paths(g)))
                    .collect();
                let ops = plan(&desired, &kernel, 20, delete_stale);
                let mut after = kernel.clone();
                for op in &ops {
                    match op {
                        Op::Replace(r) => {
                            prop_assert!(kernel.get(&r.key) != Some(&r.paths), "no-op replace");
                            after.insert(r.key, r.paths.clone());
                        }
                        Op::Delete(k) => {
                            prop_assert!(delete_stale);
                            prop_assert!(k.metric != 20 || !desired.contains_key(&k.prefix));
                            prop_assert!(after.remove(k).is_some());
                        }
                    }
                }
                for (p, want) in &desired {
                    prop_assert_eq!(after.get(&RouteKey { prefix: *p, metric: 20 }), Some(want));
                }
                if delete_stale {
                    prop_assert_eq!(after.len(), desired.len());
                }
            }
        }
    }
}
