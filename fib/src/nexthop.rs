//! Kernel nexthop objects (RTM_NEWNEXTHOP, Linux 5.3+), an optional way to install
//! routes: each distinct set of paths becomes one object, and routes refer to it by
//! id (RTA_NH_ID). The kernel then validates a path once per object rather than once
//! per route (faster installs), and deleting an object removes every route that uses
//! it in one operation (mass withdrawal when a neighbour goes away).
//!
//! Objects are ours when their nhmsg protocol is ours; ids of other owners are never
//! reused. A single path is one object; an ECMP set is a group object whose members
//! are single-path objects (groups do not nest).

use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;

use crate::codec::nlmsg_align;
use crate::route::Path;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};

/// Whether `errno` (positive), the answer to a dump of nexthop objects
/// (RTM_GETNEXTHOP), means that the kernel has no nexthop objects at all, so that
/// routes must carry their gateways:
///
/// - `EOPNOTSUPP`: rtnetlink has no handler for the message type (Linux before 5.3,
///   where RTM_GETNEXTHOP is past RTM_MAX; also gVisor-like sandboxes);
/// - `EINVAL`: the message type or header is not understood;
/// - `EAFNOSUPPORT`, `EPROTONOSUPPORT`, `ENOSYS`: no handler for the family, or the
///   facility is missing.
///
/// Any other errno (`EPERM`, `ENOBUFS`, ...) is a failure of the request itself, not
/// an absent feature, and is reported as such.
pub fn nexthop_objects_unsupported(errno: i32) -> bool {
    matches!(
        errno,
        libc::EOPNOTSUPP | libc::EINVAL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::ENOSYS
    )
}

/// `RTM_NEWNEXTHOP`, `RTM_DELNEXTHOP`, `RTM_GETNEXTHOP` from `<linux/rtnetlink.h>`.
pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;
/// Attributes from `<linux/nexthop.h>`.
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
/// Size of `struct nhmsg` (family, scope, protocol, resvd, flags).
const NHMSG_LEN: usize = 8;

/// What an object holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum NexthopObject {
    /// One path; `v6` gives the family when the path has no gateway.
    Single { v6: bool, path: Path },
    /// An ECMP group of single-path objects (weight 1 each).
    Group(Vec<u32>),
}

fn put_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + (nlmsg_align(len) - len), 0);
}

fn header(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, protocol: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // struct nhmsg: family, scope (0), protocol, resvd, flags (u32).
    buf.extend_from_slice(&[family, 0, protocol, 0, 0, 0, 0, 0]);
    start
}

fn finish(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends RTM_NEWNEXTHOP (NLM_F_CREATE | NLM_F_EXCL) for object `id`: a new object
/// only, so that an id someone else took since we read the kernel's objects fails
/// with EEXIST instead of replacing their object.
pub(crate) fn push_new(
    buf: &mut Vec<u8>,
    protocol: u8,
    id: u32,
    obj: &NexthopObject,
    seq: u32,
) -> usize {
    let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    match obj {
        NexthopObject::Single { v6, path } => {
            let family = match path.gateway {
                Some(std::net::IpAddr::V4(_)) => libc::AF_INET as u8,
                Some(std::net::IpAddr::V6(_)) => libc::AF_INET6 as u8,
                None if *v6 => libc::AF_INET6 as u8,
                None => libc::AF_INET as u8,
            };
            let start = header(buf, RTM_NEWNEXTHOP, flags, seq, family, protocol);
            put_attr(buf, NHA_ID, &id.to_ne_bytes());
            put_attr(buf, NHA_OIF, &path.ifindex.to_ne_bytes());
            match path.gateway {
                Some(std::net::IpAddr::V4(a)) => put_attr(buf, NHA_GATEWAY, &a.octets()),
                Some(std::net::IpAddr::V6(a)) => put_attr(buf, NHA_GATEWAY, &a.octets()),
                None => {}
            }
            finish(buf, start);
            start
        }
        NexthopObject::Group(members) => {
            let start = header(
                buf,
                RTM_NEWNEXTHOP,
                flags,
                seq,
                libc::AF_UNSPEC as u8,
                protocol,
            );
            put_attr(buf, NHA_ID, &id.to_ne_bytes());
            // struct nexthop_grp { u32 id; u8 weight (minus one); u8 weight_high; u16 resvd2; }
            let mut grp = Vec::with_capacity(members.len() * 8);
            for m in members {
                grp.extend_from_slice(&m.to_ne_bytes());
                grp.extend_from_slice(&[0, 0, 0, 0]);
            }
            put_attr(buf, NHA_GROUP, &grp);
            finish(buf, start);
            start
        }
    }
}

/// Appends RTM_DELNEXTHOP for object `id`.
pub(crate) fn push_del(buf: &mut Vec<u8>, id: u32, seq: u32) -> usize {
    let start = header(
        buf,
        RTM_DELNEXTHOP,
        NLM_F_REQUEST,
        seq,
        libc::AF_UNSPEC as u8,
        0,
    );
    put_attr(buf, NHA_ID, &id.to_ne_bytes());
    finish(buf, start);
    start
}

/// Appends a dump request for every nexthop object.
pub(crate) fn push_dump(buf: &mut Vec<u8>, seq: u32) {
    let start = header(
        buf,
        RTM_GETNEXTHOP,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        libc::AF_UNSPEC as u8,
        0,
    );
    finish(buf, start);
}

/// One object from a dump: id, owner protocol, content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dumped {
    pub id: u32,
    pub protocol: u8,
    pub object: Option<NexthopObject>,
}

/// Decodes an RTM_NEWNEXTHOP payload (nhmsg + attributes). `object` is `None` for
/// kinds we do not create (blackhole, fdb, resilient groups...).
pub(crate) fn parse(payload: &[u8]) -> Option<Dumped> {
    if payload.len() < NHMSG_LEN {
        return None;
    }
    let family = payload[0];
    let protocol = payload[2];
    let mut id = None;
    let mut oif = None;
    let mut gateway = None;
    let mut group = None;
    let mut other = false;
    let mut off = NHMSG_LEN;
    while off + 4 <= payload.len() {
        let len = usize::from(u16::from_ne_bytes([payload[off], payload[off + 1]]));
        let kind = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
        if len < 4 || off + len > payload.len() {
            break;
        }
        let data = &payload[off + 4..off + len];
        match kind {
            NHA_ID if data.len() == 4 => {
                id = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]))
            }
            NHA_OIF if data.len() == 4 => {
                oif = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]))
            }
            NHA_GATEWAY => {
                gateway = match data.len() {
                    4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
                    16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
                    _ => None,
                }
            }
            NHA_GROUP => {
                group = Some(
                    data.chunks_exact(8)
                        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                        .collect::<Vec<_>>(),
                )
            }
            NHA_ID | NHA_OIF => other = true,
            // NHA_GROUP_TYPE 0 (mpath) is the default; anything else is not ours to
            // reuse, but it still blocks the id.
            3 => other = data.first().is_some_and(|t| *t != 0) || other,
            4 | 8 | 11 => other = true, // NHA_BLACKHOLE, NHA_FDB, NHA_RES_GROUP
            _ => {}
        }
        off += nlmsg_align(len);
    }
    let id = id?;
    let object = if other {
        None
    } else if let Some(g) = group {
        Some(NexthopObject::Group(g))
    } else {
        oif.map(|ifindex| NexthopObject::Single {
            v6: family == libc::AF_INET6 as u8,
            path: Path { gateway, ifindex },
        })
    };
    Some(Dumped {
        id,
        protocol,
        object,
    })
}

/// The objects of ours the writer knows, with reference counts (routes using an
/// object, plus groups using a single-path object).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Top-level object for a (family, normalised path set).
    by_paths: HashMap<(bool, Vec<Path>), u32, FxBuildHasher>,
    objects: HashMap<u32, Entry, FxBuildHasher>,
    /// Ids held by other owners, never used.
    foreign: HashSet<u32, FxBuildHasher>,
    next_id: u32,
    /// The last lookup of [`Registry::ensure`]: routes come in runs with the same
    /// paths, and this spares building a key per route.
    last: Option<(bool, Vec<Path>, u32)>,
    /// False until the kernel's objects have been read.
    pub loaded: bool,
}

#[derive(Debug)]
struct Entry {
    key: (bool, Vec<Path>),
    members: Vec<u32>,
    refs: usize,
    /// Created by us, or used by one of our routes when adopted: only owned objects
    /// are reused for new routes and deleted when unreferenced (an object of our
    /// protocol may belong to another instance using another table).
    owned: bool,
}

/// First id tried for our objects (others' daemons tend to start low).
const FIRST_ID: u32 = 0x0B60_0000;

impl Registry {
    /// Records an object read from the kernel.
    pub fn learn(&mut self, d: Dumped, own_protocol: u8) {
        let Some(obj) = d.object.filter(|_| d.protocol == own_protocol) else {
            self.foreign.insert(d.id);
            return;
        };
        let (key, members) = match obj {
            NexthopObject::Single { v6, path } => ((v6, vec![path]), Vec::new()),
            NexthopObject::Group(m) => ((false, Vec::new()), m),
        };
        self.objects.insert(
            d.id,
            Entry {
                key,
                members,
                refs: 0,
                owned: false,
            },
        );
    }

    /// One of our routes uses object `id` (adopt): the object and its members are
    /// ours, and referenced.
    pub fn claim(&mut self, id: u32) {
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs += 1;
            e.owned = true;
            let members = e.members.clone();
            for m in members {
                if let Some(e) = self.objects.get_mut(&m) {
                    e.owned = true;
                }
            }
        }
    }

    /// After learning every object: fills group keys from their members, counts
    /// member references, and indexes by path set.
    pub fn index(&mut self) {
        let groups: Vec<(u32, Vec<u32>)> = self
            .objects
            .iter()
            .filter(|(_, e)| !e.members.is_empty())
            .map(|(id, e)| (*id, e.members.clone()))
            .collect();
        for (id, members) in groups {
            let mut paths = Vec::new();
            let mut v6 = false;
            let mut complete = true;
            let owned = self.objects.get(&id).is_some_and(|e| e.owned);
            for m in &members {
                match self.objects.get_mut(m) {
                    Some(e) if e.members.is_empty() => {
                        if owned {
                            e.refs += 1;
                        }
                        paths.extend(e.key.1.iter().copied());
                        v6 = e.key.0;
                    }
                    _ => complete = false,
                }
            }
            if let Some(e) = self.objects.get_mut(&id) {
                e.key = (v6, crate::route::normalise_paths(paths));
                if !complete {
                    // A group with members we do not own: never reuse it.
                    e.key.1.clear();
                }
            }
        }
        self.by_paths.clear();
        self.last = None;
        for (id, e) in &self.objects {
            if e.owned && !e.key.1.is_empty() {
                self.by_paths.insert(e.key.clone(), *id);
            }
        }
        self.next_id = FIRST_ID;
        self.loaded = true;
    }

    /// The paths of object `id`, if it is of our protocol and fully known.
    pub fn paths(&self, id: u32) -> Option<&[Path]> {
        self.objects
            .get(&id)
            .map(|e| e.key.1.as_slice())
            .filter(|p| !p.is_empty())
    }

    fn allocate(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.foreign.contains(&id) && !self.objects.contains_key(&id) {
                return id;
            }
        }
    }

    /// The object for `paths` (normalised, non-empty), creating it (and its members)
    /// if needed: the objects to create are appended to `create`, members first.
    pub fn ensure(
        &mut self,
        v6: bool,
        paths: &[Path],
        create: &mut Vec<(u32, NexthopObject)>,
    ) -> u32 {
        if let Some((lv6, lpaths, id)) = &self.last {
            if *lv6 == v6 && lpaths.as_slice() == paths {
                return *id;
            }
        }
        let key = (v6, paths.to_vec());
        if let Some(id) = self.by_paths.get(&key) {
            let id = *id;
            self.last = Some((key.0, key.1, id));
            return id;
        }
        let id = if let [only] = paths {
            let id = self.allocate();
            create.push((id, NexthopObject::Single { v6, path: *only }));
            self.objects.insert(
                id,
                Entry {
                    key: (v6, vec![*only]),
                    members: Vec::new(),
                    refs: 0,
                    owned: true,
                },
            );
            id
        } else {
            let members: Vec<u32> = paths
                .iter()
                .map(|p| self.ensure(v6, std::slice::from_ref(p), create))
                .collect();
            for m in &members {
                self.add_ref(*m);
            }
            let id = self.allocate();
            create.push((id, NexthopObject::Group(members.clone())));
            self.objects.insert(
                id,
                Entry {
                    key: (v6, paths.to_vec()),
                    members,
                    refs: 0,
                    owned: true,
                },
            );
            id
        };
        self.by_paths.insert((v6, paths.to_vec()), id);
        id
    }

    /// Never uses `id` again (another owner holds it).
    pub fn avoid(&mut self, id: u32) {
        self.foreign.insert(id);
    }

    pub fn add_ref(&mut self, id: u32) {
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs += 1;
        }
    }

    pub fn drop_ref(&mut self, id: u32) {
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs = e.refs.saturating_sub(1);
        }
    }

    pub fn refs(&self, id: u32) -> usize {
        self.objects.get(&id).map_or(0, |e| e.refs)
    }

    /// Takes `id` out of the path index, so that new routes get a new object while
    /// `id` is about to be deleted together with its routes.
    pub fn retire(&mut self, id: u32) {
        if self.last.as_ref().is_some_and(|l| l.2 == id) {
            self.last = None;
        }
        if let Some(e) = self.objects.get(&id) {
            if self.by_paths.get(&e.key) == Some(&id) {
                self.by_paths.remove(&e.key);
            }
        }
    }

    /// Forgets object `id` (deleted from the kernel, or its creation failed);
    /// releases its members.
    pub fn forget(&mut self, id: u32) {
        self.retire(id);
        if let Some(e) = self.objects.remove(&id) {
            for m in e.members {
                self.drop_ref(m);
            }
        }
    }

    /// Unreferenced objects, groups first (deleting a group releases its members,
    /// which the next call returns).
    pub fn unreferenced(&self) -> Vec<u32> {
        let mut v: Vec<(bool, u32)> = self
            .objects
            .iter()
            .filter(|(_, e)| e.owned && e.refs == 0)
            .map(|(id, e)| (e.members.is_empty(), *id))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::NLMSG_HDRLEN;

    fn path(gw: &str, ifindex: u32) -> Path {
        Path {
            gateway: Some(gw.parse().expect("valid")),
            ifindex,
        }
    }

    #[test]
    fn single_object_golden_bytes_and_parse_back() {
        let mut buf = Vec::new();
        let obj = NexthopObject::Single {
            v6: false,
            path: path("192.0.2.2", 3),
        };
        push_new(&mut buf, 186, 77, &obj, 5);
        assert_eq!(
            buf,
            [
                48, 0, 0, 0, 104, 0, 0x01, 0x06, 5, 0, 0, 0, 0, 0, 0,
                0, // nlmsghdr, CREATE|EXCL
                2, 0, 186, 0, 0, 0, 0, 0, // nhmsg: AF_INET, scope, proto 186
                8, 0, 1, 0, 77, 0, 0, 0, // NHA_ID
                8, 0, 5, 0, 3, 0, 0, 0, // NHA_OIF
                8, 0, 6, 0, 192, 0, 2, 2, // NHA_GATEWAY
            ]
        );
        let d = parse(&buf[NLMSG_HDRLEN..]).expect("parses");
        assert_eq!(
            d,
            Dumped {
                id: 77,
                protocol: 186,
                object: Some(obj)
            }
        );
    }

    #[test]
    fn group_round_trips() {
        let mut buf = Vec::new();
        let obj = NexthopObject::Group(vec![3, 9]);
        push_new(&mut buf, 186, 10, &obj, 1);
        let d = parse(&buf[NLMSG_HDRLEN..]).expect("parses");
        assert_eq!(d.object, Some(obj));
        let mut del = Vec::new();
        push_del(&mut del, 10, 2);
        assert_eq!(del.len(), NLMSG_HDRLEN + NHMSG_LEN + 8);
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), RTM_DELNEXTHOP);
    }

    #[test]
    fn registry_shares_objects_and_counts_references() {
        let mut r = Registry::default();
        r.index();
        let mut create = Vec::new();
        let a = r.ensure(false, &[path("192.0.2.2", 3)], &mut create);
        let again = r.ensure(false, &[path("192.0.2.2", 3)], &mut create);
        assert_eq!(a, again);
        assert_eq!(create.len(), 1);
        let g = r.ensure(
            false,
            &[path("192.0.2.2", 3), path("192.0.2.3", 3)],
            &mut create,
        );
        // One new member (192.0.2.3), then the group.
        assert_eq!(create.len(), 3);
        assert_eq!(create[2], (g, NexthopObject::Group(vec![a, create[1].0])));
        assert_eq!(r.refs(a), 1, "referenced by the group");
        r.add_ref(g);
        assert_eq!(
            r.unreferenced(),
            Vec::<u32>::new(),
            "members held by the group"
        );
        r.drop_ref(g);
        assert_eq!(r.unreferenced()[0], g, "groups first");
        r.forget(g);
        assert_eq!(r.refs(a), 0);
    }

    #[test]
    fn errnos_of_a_kernel_without_nexthop_objects() {
        // What kernels without RTM_GETNEXTHOP answer: fall back to plain routes.
        for errno in [
            libc::EOPNOTSUPP,
            libc::ENOTSUP,
            libc::EINVAL,
            libc::EAFNOSUPPORT,
            libc::EPROTONOSUPPORT,
            libc::ENOSYS,
        ] {
            assert!(nexthop_objects_unsupported(errno), "errno {errno}");
        }
        // Failures of the request, not a missing feature: reported, no fallback.
        for errno in [
            0,
            libc::EPERM,
            libc::EACCES,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EBUSY,
        ] {
            assert!(!nexthop_objects_unsupported(errno), "errno {errno}");
        }
    }

    #[test]
    fn foreign_ids_are_never_allocated() {
        let mut r = Registry::default();
        r.learn(
            Dumped {
                id: FIRST_ID,
                protocol: 4,
                object: None,
            },
            186,
        );
        r.index();
        let mut create = Vec::new();
        let a = r.ensure(false, &[path("192.0.2.2", 3)], &mut create);
        assert_eq!(a, FIRST_ID + 1);
        // An id found taken at creation (EEXIST) is avoided from then on.
        r.forget(a);
        r.avoid(FIRST_ID + 2);
        let b = r.ensure(false, &[path("192.0.2.3", 3)], &mut create);
        assert_eq!(b, FIRST_ID + 3);
    }
}
