//! rtnetlink encoding and decoding of routes (netlink-packet-route for the route
//! messages, netlink-packet-core for the netlink header and acknowledgements).
//!
//! Requests are written back to back into one datagram buffer (many requests per
//! `sendmsg`); each netlink header carries its own sequence number so that
//! acknowledgements and errors can be matched (netlink(7), "Reliability").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    Emitable, ErrorBuffer, NetlinkBuffer, Parseable, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::AddressFamily;

use crate::config::FibConfig;
#[cfg(test)]
use crate::plan::Op;
use crate::prefix::Prefix;
use crate::route::{normalise_paths, KernelRoute, Path, RouteKey};

/// `RTM_NEWROUTE` from `<linux/rtnetlink.h>`.
pub(crate) const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub(crate) const RTM_DELROUTE: u16 = 25;
/// `RTM_GETROUTE`.
pub(crate) const RTM_GETROUTE: u16 = 26;
/// `RT_TABLE_COMPAT`: what rtm_table says when the real id (RTA_TABLE) exceeds 255.
const RT_TABLE_COMPAT: u8 = 252;
/// Size of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// Rounds up to the 4-byte netlink alignment (`NLMSG_ALIGN`).
pub(crate) fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

fn family_of(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn header(config: &FibConfig, family: AddressFamily, dst_len: u8) -> RouteHeader {
    RouteHeader {
        address_family: family,
        destination_prefix_length: dst_len,
        table: u8::try_from(config.table).unwrap_or(RT_TABLE_COMPAT),
        protocol: RouteProtocol::from(config.protocol),
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        ..Default::default()
    }
}

/// The route message for one operation, built with netlink-packet-route: the
/// reference that the fast encoder ([`push_op`]) is tested against.
#[cfg(test)]
pub(crate) fn route_message(config: &FibConfig, op: &Op) -> (u16, RouteMessage) {
    let key = op.key();
    let mut msg = RouteMessage::default();
    msg.header = header(config, family_of(key.prefix.addr()), key.prefix.length());
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            key.prefix.addr(),
        )));
    msg.attributes.push(RouteAttribute::Table(config.table));
    msg.attributes.push(RouteAttribute::Priority(key.metric));
    match op {
        Op::Delete(_) => {
            msg.header.scope = RouteScope::NoWhere;
            (RTM_DELROUTE, msg)
        }
        Op::Replace(route) => {
            if let [only] = route.paths.as_slice() {
                if let Some(gw) = only.gateway {
                    msg.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
                } else {
                    msg.header.scope = RouteScope::Link;
                }
                msg.attributes.push(RouteAttribute::Oif(only.ifindex));
            } else {
                let hops = route
                    .paths
                    .iter()
                    .map(|p| {
                        let mut nh = netlink_packet_route::route::RouteNextHop::default();
                        nh.interface_index = p.ifindex;
                        if let Some(gw) = p.gateway {
                            nh.attributes
                                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
                        }
                        nh
                    })
                    .collect();
                msg.attributes.push(RouteAttribute::MultiPath(hops));
            }
            (RTM_NEWROUTE, msg)
        }
    }
}

/// Appends one netlink message (header + `payload`) to `buf`; returns its offset.
pub(crate) fn push_message<P: Emitable>(
    buf: &mut Vec<u8>,
    message_type: u16,
    flags: u16,
    seq: u32,
    payload: &P,
) -> usize {
    let start = buf.len();
    let len = NLMSG_HDRLEN + payload.buffer_len();
    let total = nlmsg_align(len);
    buf.resize(start + total, 0);
    let mut nl = NetlinkBuffer::new(&mut buf[start..start + total]);
    nl.set_length(len as u32);
    nl.set_message_type(message_type);
    nl.set_flags(flags);
    nl.set_sequence_number(seq);
    nl.set_port_number(0);
    payload.emit(&mut buf[start + NLMSG_HDRLEN..start + len]);
    start
}

/// `RTA_DST`, `RTA_OIF`, `RTA_GATEWAY`, `RTA_PRIORITY`, `RTA_MULTIPATH`, `RTA_TABLE`.
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;
/// `RT_SCOPE_UNIVERSE`, `RT_SCOPE_LINK`, `RT_SCOPE_NOWHERE`, `RTN_UNICAST`.
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTN_UNICAST: u8 = 1;

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn put_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + (nlmsg_align(len) - len), 0);
}

fn put_addr(buf: &mut Vec<u8>, kind: u16, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => put_attr(buf, kind, &a.octets()),
        IpAddr::V6(a) => put_attr(buf, kind, &a.octets()),
    }
}

/// Appends the request for `op` (no NLM_F_ACK: errors are reported anyway, the last
/// request of a datagram gets NLM_F_ACK through [`set_ack`]); returns its offset.
///
/// RTM_NEWROUTE (NLM_F_CREATE | NLM_F_REPLACE) carries the paths: RTA_GATEWAY and
/// RTA_OIF for one path, RTA_MULTIPATH for ECMP. RTM_DELROUTE names prefix, table,
/// metric and our protocol, so that the kernel only ever deletes a route of ours
/// (IPv4 and IPv6 both match rtm_protocol when it is non-zero).
///
/// Written straight into the datagram (this runs a million times per full table);
/// the tests check it byte for byte against netlink-packet-route's encoder.
///
/// With `nhid`, a replace refers to that kernel nexthop object (RTA_NH_ID) instead of
/// carrying its paths.
#[cfg(test)]
pub(crate) fn push_op(
    buf: &mut Vec<u8>,
    config: &FibConfig,
    op: &Op,
    nhid: Option<u32>,
    seq: u32,
) -> usize {
    match op {
        Op::Replace(r) => push_route(buf, config, r.key, Some(&r.paths), nhid, seq),
        Op::Delete(key) => push_route(buf, config, *key, None, None, seq),
    }
}

/// The request for one route: `paths` is `Some` for a replace (see [`push_op`] for
/// the rules), `None` for a delete.
pub(crate) fn push_route(
    buf: &mut Vec<u8>,
    config: &FibConfig,
    key: RouteKey,
    paths: Option<&[Path]>,
    nhid: Option<u32>,
    seq: u32,
) -> usize {
    let start = buf.len();
    let (kind, flags, scope) = match paths {
        None => (RTM_DELROUTE, NLM_F_REQUEST, RT_SCOPE_NOWHERE),
        Some(paths) => {
            let on_link = nhid.is_none() && matches!(paths, [only] if only.gateway.is_none());
            let scope = if on_link {
                RT_SCOPE_LINK
            } else {
                RT_SCOPE_UNIVERSE
            };
            (
                RTM_NEWROUTE,
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
                scope,
            )
        }
    };
    // struct nlmsghdr; nlmsg_len is filled in at the end.
    put_u32(buf, 0);
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    put_u32(buf, seq);
    put_u32(buf, 0);
    // struct rtmsg
    let family = if key.prefix.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    };
    let table = u8::try_from(config.table).unwrap_or(RT_TABLE_COMPAT);
    buf.extend_from_slice(&[
        family,
        key.prefix.length(),
        0,
        0,
        table,
        config.protocol,
        scope,
        RTN_UNICAST,
    ]);
    put_u32(buf, 0);
    put_addr(buf, RTA_DST, key.prefix.addr());
    put_attr(buf, RTA_TABLE, &config.table.to_ne_bytes());
    put_attr(buf, RTA_PRIORITY, &key.metric.to_ne_bytes());
    if let (Some(_), Some(id)) = (paths, nhid) {
        put_attr(buf, RTA_NH_ID, &id.to_ne_bytes());
    } else if let Some(paths) = paths {
        if let [only] = paths {
            if let Some(gw) = only.gateway {
                put_addr(buf, RTA_GATEWAY, gw);
            }
            put_attr(buf, RTA_OIF, &only.ifindex.to_ne_bytes());
        } else {
            let mp = buf.len();
            buf.extend_from_slice(&[0, 0]);
            buf.extend_from_slice(&RTA_MULTIPATH.to_ne_bytes());
            for p in paths {
                // struct rtnexthop { len, flags, hops, ifindex } + its attributes
                let nh = buf.len();
                buf.extend_from_slice(&[0, 0, 0, 0]);
                put_u32(buf, p.ifindex);
                if let Some(gw) = p.gateway {
                    put_addr(buf, RTA_GATEWAY, gw);
                }
                let nh_len = (buf.len() - nh) as u16;
                buf[nh..nh + 2].copy_from_slice(&nh_len.to_ne_bytes());
            }
            let mp_len = (buf.len() - mp) as u16;
            buf[mp..mp + 2].copy_from_slice(&mp_len.to_ne_bytes());
        }
    }
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    start
}

/// Sets NLM_F_ACK on the message at `offset` of `buf`.
pub(crate) fn set_ack(buf: &mut [u8], offset: usize) {
    let mut nl = NetlinkBuffer::new(&mut buf[offset..]);
    let flags = nl.flags();
    nl.set_flags(flags | NLM_F_ACK);
}

/// A dump request for the routes of one family, filtered by the kernel on table and
/// protocol when strict checking is on (NETLINK_GET_STRICT_CHK, Linux 5.3+); the
/// caller filters again in case it is not.
pub(crate) fn push_dump(buf: &mut Vec<u8>, config: &FibConfig, v6: bool, seq: u32) {
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let mut msg = RouteMessage::default();
    msg.header = header(config, family, 0);
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unspec;
    msg.attributes.push(RouteAttribute::Table(config.table));
    push_message(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, &msg);
}

/// `ip route get fibmatch ADDR`: the routing entry the kernel would use to reach
/// `addr` (RTM_F_FIB_MATCH returns the whole entry, with all ECMP paths).
pub(crate) fn push_fib_match(buf: &mut Vec<u8>, addr: IpAddr, seq: u32) {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(addr);
    msg.header.destination_prefix_length = if addr.is_ipv4() { 32 } else { 128 };
    msg.header.flags = RouteFlags::FibMatch;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(addr)));
    push_message(buf, RTM_GETROUTE, NLM_F_REQUEST, seq, &msg);
}

/// One message out of a received datagram.
#[derive(Debug)]
pub(crate) struct Received<'a> {
    pub message_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl Received<'_> {
    /// For NLMSG_ERROR: 0 for an acknowledgement, else the positive errno.
    pub fn errno(&self) -> Option<i32> {
        if self.message_type != NLMSG_ERROR {
            return None;
        }
        let code = ErrorBuffer::new_checked(&self.payload)
            .ok()
            .and_then(|e| e.code())
            .map_or(0, |c| c.get());
        Some(code.saturating_abs())
    }

    /// True for NLMSG_DONE.
    pub fn is_done(&self) -> bool {
        self.message_type == NLMSG_DONE
    }
}

/// Splits a datagram into its netlink messages; stops at the first malformed one.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Received<'_>> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let rest = buf.get(off..)?;
        let nl = NetlinkBuffer::new_checked(rest).ok()?;
        let len = nl.length() as usize;
        if len < NLMSG_HDRLEN {
            return None;
        }
        let msg = Received {
            message_type: nl.message_type(),
            flags: nl.flags(),
            seq: nl.sequence_number(),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        off += nlmsg_align(len);
        Some(msg)
    })
}

/// Decodes an RTM_NEWROUTE / RTM_DELROUTE payload.
pub(crate) fn parse_route(payload: &[u8]) -> Result<RouteMessage, String> {
    RouteMessage::parse(payload).map_err(|e| e.to_string())
}

fn ip_of(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// The table id of a route message (RTA_TABLE, else rtm_table).
pub(crate) fn table_of(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

/// The paths of a route message: RTA_MULTIPATH, else RTA_GATEWAY + RTA_OIF. A path
/// without a gateway gets `default_gateway` (used by next-hop resolution: a connected
/// route means "the next hop itself, on this interface").
pub(crate) fn paths_of(msg: &RouteMessage, default_gateway: Option<IpAddr>) -> Vec<Path> {
    let mut gateway = None;
    let mut oif = 0;
    for a in &msg.attributes {
        match a {
            RouteAttribute::MultiPath(hops) => {
                return normalise_paths(
                    hops.iter()
                        .map(|nh| Path {
                            gateway: nh
                                .attributes
                                .iter()
                                .find_map(|a| match a {
                                    RouteAttribute::Gateway(g) => ip_of(g),
                                    _ => None,
                                })
                                .or(default_gateway),
                            ifindex: nh.interface_index,
                        })
                        .collect(),
                );
            }
            RouteAttribute::Gateway(g) => gateway = ip_of(g),
            RouteAttribute::Oif(i) => oif = *i,
            _ => {}
        }
    }
    vec![Path {
        gateway: gateway.or(default_gateway),
        ifindex: oif,
    }]
}

#[cfg(test)]
/// The destination prefix of a route message (no RTA_DST means the default route).
pub(crate) fn prefix_of(msg: &RouteMessage) -> Option<Prefix> {
    let dst = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => ip_of(d),
        _ => None,
    });
    let addr = match (dst, msg.header.address_family) {
        (Some(a), _) => a,
        (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    Prefix::new(addr, msg.header.destination_prefix_length).ok()
}

/// `RTM_F_CLONED`: a cached clone, not a FIB entry.
const RTM_F_CLONED: u32 = 0x200;

fn ip_from(data: &[u8]) -> Option<IpAddr> {
    match data.len() {
        4 => <[u8; 4]>::try_from(data).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(data).ok().map(IpAddr::from),
        _ => None,
    }
}

fn u32_from(data: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(data).ok().map(u32::from_ne_bytes)
}

/// Iterates the attributes (type without flag bits, value) of `buf`.
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let head = buf.get(off..off + 4)?;
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let kind = u16::from_ne_bytes([head[2], head[3]]) & 0x3fff;
        let value = buf.get(off + 4..off + len.max(4))?;
        off += nlmsg_align(len.max(4));
        Some((kind, value))
    })
}

/// [`kernel_route`] and [`nhid_of`] straight from the bytes of an RTM_NEWROUTE
/// payload, for dumps (a full table is a million of them): routes of other protocols
/// are rejected from the header alone. The tests check it against
/// netlink-packet-route's decoder.
pub(crate) fn kernel_route_fast(
    payload: &[u8],
    config: &FibConfig,
) -> Option<(KernelRoute, Option<u32>)> {
    let h = payload.get(..12)?;
    let (family, dst_len, table8, protocol, kind) = (h[0], h[1], h[4], h[5], h[7]);
    let flags = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
    if protocol != config.protocol || kind != RTN_UNICAST || flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut dst = None;
    let mut table = u32::from(table8);
    let mut metric = 0;
    let mut gateway = None;
    let mut oif = 0;
    let mut nhid = None;
    let mut multipath: Option<Vec<Path>> = None;
    for (kind, value) in attrs(&payload[12..]) {
        match kind {
            RTA_DST => dst = ip_from(value),
            RTA_TABLE => table = u32_from(value)?,
            RTA_PRIORITY => metric = u32_from(value)?,
            RTA_GATEWAY => gateway = ip_from(value),
            RTA_OIF => oif = u32_from(value)?,
            RTA_NH_ID => nhid = u32_from(value),
            RTA_MULTIPATH => {
                let mut hops = Vec::new();
                let mut off = 0usize;
                while let Some(nh) = value.get(off..off + 8) {
                    let len = usize::from(u16::from_ne_bytes([nh[0], nh[1]]));
                    let ifindex = u32::from_ne_bytes([nh[4], nh[5], nh[6], nh[7]]);
                    let gw = value
                        .get(off + 8..off + len.max(8))
                        .and_then(|a| attrs(a).find(|(k, _)| *k == RTA_GATEWAY))
                        .and_then(|(_, v)| ip_from(v));
                    hops.push(Path {
                        gateway: gw,
                        ifindex,
                    });
                    off += nlmsg_align(len.max(8));
                }
                multipath = Some(hops);
            }
            _ => {}
        }
    }
    if table != config.table {
        return None;
    }
    let addr = match (dst, family) {
        (Some(a), _) => a,
        (None, f) if f == libc::AF_INET as u8 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, f) if f == libc::AF_INET6 as u8 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    let prefix = Prefix::new(addr, dst_len).ok()?;
    let paths = match multipath {
        Some(hops) => normalise_paths(hops),
        None => vec![Path {
            gateway,
            ifindex: oif,
        }],
    };
    Some((
        KernelRoute {
            key: RouteKey { prefix, metric },
            paths,
        },
        nhid,
    ))
}

#[cfg(test)]
/// RTA_NH_ID: the nexthop object a route uses.
pub(crate) fn nhid_of(msg: &RouteMessage) -> Option<u32> {
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::NhId(id) => Some(*id),
        _ => None,
    })
}

#[cfg(test)]
/// The route as ours, if it is a unicast route of our protocol in our table.
pub(crate) fn kernel_route(msg: &RouteMessage, config: &FibConfig) -> Option<KernelRoute> {
    if u8::from(msg.header.protocol) != config.protocol
        || table_of(msg) != config.table
        || msg.header.kind != RouteType::Unicast
        || msg.header.flags.contains(RouteFlags::Cloned)
    {
        return None;
    }
    let prefix = prefix_of(msg)?;
    let metric = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(m) => Some(*m),
            _ => None,
        })
        .unwrap_or(0);
    Some(KernelRoute {
        key: RouteKey { prefix, metric },
        paths: paths_of(msg, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> FibConfig {
        FibConfig::default()
    }

    /// Golden bytes of `ip route replace 198.51.100.0/24 via 192.0.2.2 dev <3>
    /// proto 186 metric 20 table main`, as our encoder must produce them.
    const REPLACE_V4: [u8; 68] = [
        68, 0, 0, 0, // nlmsg_len
        24, 0, // RTM_NEWROUTE
        0x01, 0x05, // NLM_F_REQUEST | NLM_F_REPLACE | NLM_F_CREATE
        7, 0, 0, 0, // seq
        0, 0, 0, 0, // pid
        2, 24, 0, 0, // AF_INET, dst_len 24, src_len, tos
        254, 186, 0, 1, // table main, proto 186, scope universe, RTN_UNICAST
        0, 0, 0, 0, // rtm_flags
        8, 0, 1, 0, 198, 51, 100, 0, // RTA_DST
        8, 0, 15, 0, 254, 0, 0, 0, // RTA_TABLE
        8, 0, 6, 0, 20, 0, 0, 0, // RTA_PRIORITY
        8, 0, 5, 0, 192, 0, 2, 2, // RTA_GATEWAY
        8, 0, 4, 0, 3, 0, 0, 0, // RTA_OIF
    ];

    fn replace_op() -> Op {
        Op::Replace(KernelRoute {
            key: RouteKey {
                prefix: "198.51.100.0/24".parse().expect("valid"),
                metric: 20,
            },
            paths: vec![Path {
                gateway: Some("192.0.2.2".parse().expect("valid")),
                ifindex: 3,
            }],
        })
    }

    #[test]
    fn replace_encodes_to_golden_bytes() {
        let mut buf = Vec::new();
        push_op(&mut buf, &cfg(), &replace_op(), None, 7);
        assert_eq!(buf, REPLACE_V4);
        set_ack(&mut buf, 0);
        assert_eq!(buf[6], 0x05, "NLM_F_ACK added");
    }

    #[test]
    fn golden_bytes_decode_back() {
        let msgs: Vec<_> = messages(&REPLACE_V4).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].seq, 7);
        assert_eq!(msgs[0].message_type, RTM_NEWROUTE);
        let msg = parse_route(msgs[0].payload).expect("decodes");
        let route = kernel_route(&msg, &cfg()).expect("ours");
        match replace_op() {
            Op::Replace(r) => assert_eq!(route, r),
            Op::Delete(_) => unreachable!(),
        }
        let other_proto = FibConfig {
            protocol: 17,
            ..cfg()
        };
        assert_eq!(kernel_route(&msg, &other_proto), None);
    }

    /// The fast dump decoder agrees with netlink-packet-route's on every shape we
    /// write, and on a default route without RTA_DST.
    #[test]
    fn fast_decoder_matches_reference_decoder() {
        let gw = |s: &str, i| Path {
            gateway: Some(s.parse().expect("valid")),
            ifindex: i,
        };
        let key = |s: &str, metric| RouteKey {
            prefix: s.parse().expect("valid"),
            metric,
        };
        let routes = vec![
            (key("198.51.100.0/24", 20), vec![gw("192.0.2.2", 3)], None),
            (
                key("2001:db8:2::/48", 1),
                vec![gw("2001:db8:ffff::2", 3), gw("2001:db8:ffff::3", 4)],
                None,
            ),
            (
                key("198.51.100.0/25", 9),
                vec![gw("192.0.2.2", 3), gw("192.0.2.3", 3)],
                None,
            ),
            (
                key("198.51.100.128/25", 9),
                vec![Path {
                    gateway: None,
                    ifindex: 3,
                }],
                None,
            ),
            (
                key("203.0.113.0/24", 20),
                vec![gw("192.0.2.2", 3)],
                Some(77),
            ),
        ];
        for config in [
            cfg(),
            FibConfig {
                table: 70000,
                ..cfg()
            },
        ] {
            for (k, paths, nhid) in &routes {
                let mut buf = Vec::new();
                push_route(&mut buf, &config, *k, Some(paths), *nhid, 1);
                let payload = &buf[NLMSG_HDRLEN..];
                let msg = parse_route(payload).expect("decodes");
                let reference = kernel_route(&msg, &config).map(|r| (r, nhid_of(&msg)));
                assert_eq!(kernel_route_fast(payload, &config), reference);
                assert!(reference.is_some());
                let other = FibConfig {
                    protocol: 3,
                    ..config
                };
                assert_eq!(kernel_route_fast(payload, &other), None);
                let other_table = FibConfig {
                    table: config.table + 1,
                    ..config
                };
                assert_eq!(kernel_route_fast(payload, &other_table), None);
            }
        }
        // A default route as the kernel dumps it: no RTA_DST.
        let mut msg = RouteMessage::default();
        msg.header = header(&cfg(), AddressFamily::Inet, 0);
        msg.attributes.push(RouteAttribute::Table(254));
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(
                "192.0.2.2".parse().expect("valid"),
            )));
        msg.attributes.push(RouteAttribute::Oif(3));
        let mut buf = Vec::new();
        push_message(&mut buf, RTM_NEWROUTE, 0, 1, &msg);
        let payload = &buf[NLMSG_HDRLEN..];
        let reference = kernel_route(&parse_route(payload).expect("decodes"), &cfg());
        assert_eq!(
            kernel_route_fast(payload, &cfg()).map(|(r, _)| r),
            reference
        );
        assert!(reference.is_some_and(|r| r.key.prefix.is_default()));
    }

    #[test]
    fn replace_with_nexthop_object() {
        let mut buf = Vec::new();
        push_op(&mut buf, &cfg(), &replace_op(), Some(0x0B60_0001), 3);
        let m: Vec<_> = messages(&buf).collect();
        let msg = parse_route(m[0].payload).expect("decodes");
        assert_eq!(nhid_of(&msg), Some(0x0B60_0001));
        assert!(!msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Gateway(_) | RouteAttribute::Oif(_))));
    }

    #[test]
    fn delete_names_protocol_table_metric() {
        let mut buf = Vec::new();
        let op = Op::Delete(RouteKey {
            prefix: "2001:db8:1::/48".parse().expect("valid"),
            metric: 20,
        });
        push_op(&mut buf, &cfg(), &op, None, 9);
        let m: Vec<_> = messages(&buf).collect();
        assert_eq!(m[0].message_type, RTM_DELROUTE);
        assert_eq!(m[0].flags, NLM_F_REQUEST);
        let msg = parse_route(m[0].payload).expect("decodes");
        assert_eq!(u8::from(msg.header.protocol), 186);
        assert_eq!(msg.header.address_family, AddressFamily::Inet6);
        assert_eq!(
            prefix_of(&msg),
            Some("2001:db8:1::/48".parse().expect("valid"))
        );
        assert!(msg.attributes.contains(&RouteAttribute::Priority(20)));
        assert!(msg.attributes.contains(&RouteAttribute::Table(254)));
    }

    #[test]
    fn ecmp_round_trips_through_multipath() {
        let paths = normalise_paths(vec![
            Path {
                gateway: Some("2001:db8:ffff::3".parse().expect("valid")),
                ifindex: 4,
            },
            Path {
                gateway: Some("2001:db8:ffff::2".parse().expect("valid")),
                ifindex: 3,
            },
        ]);
        let op = Op::Replace(KernelRoute {
            key: RouteKey {
                prefix: "2001:db8:2::/48".parse().expect("valid"),
                metric: 7,
            },
            paths: paths.clone(),
        });
        let big_table = FibConfig {
            table: 1000,
            ..cfg()
        };
        let mut buf = Vec::new();
        push_op(&mut buf, &big_table, &op, None, 1);
        let m: Vec<_> = messages(&buf).collect();
        let msg = parse_route(m[0].payload).expect("decodes");
        assert_eq!(msg.header.table, RT_TABLE_COMPAT);
        let route = kernel_route(&msg, &big_table).expect("ours");
        assert_eq!(route.paths, paths);
        assert_eq!(route.key.metric, 7);
    }

    /// The fast encoder writes exactly what netlink-packet-route writes.
    #[test]
    fn fast_encoder_matches_reference_encoder() {
        let gw4 = |s: &str, i| Path {
            gateway: Some(s.parse().expect("valid")),
            ifindex: i,
        };
        let key = |s: &str, metric| RouteKey {
            prefix: s.parse().expect("valid"),
            metric,
        };
        let ops = vec![
            replace_op(),
            Op::Replace(KernelRoute {
                key: key("2001:db8:2::/48", 1),
                paths: vec![gw4("2001:db8:ffff::2", 3), gw4("2001:db8:ffff::3", 4)],
            }),
            Op::Replace(KernelRoute {
                key: key("198.51.100.0/25", 9),
                paths: vec![
                    gw4("192.0.2.2", 3),
                    gw4("192.0.2.3", 3),
                    gw4("192.0.2.4", 5),
                ],
            }),
            Op::Replace(KernelRoute {
                key: key("198.51.100.128/25", 9),
                paths: vec![Path {
                    gateway: None,
                    ifindex: 3,
                }],
            }),
            Op::Replace(KernelRoute {
                key: key("0.0.0.0/0", 9),
                paths: vec![gw4("192.0.2.2", 3)],
            }),
            Op::Delete(key("2001:db8::/32", 20)),
            Op::Delete(key("198.51.100.0/24", 0)),
        ];
        for config in [
            cfg(),
            FibConfig {
                table: 70000,
                protocol: 200,
                ..cfg()
            },
        ] {
            for op in &ops {
                let mut fast = Vec::new();
                push_op(&mut fast, &config, op, None, 42);
                let (kind, msg) = route_message(&config, op);
                let flags = match kind {
                    RTM_NEWROUTE => NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
                    _ => NLM_F_REQUEST,
                };
                let mut reference = Vec::new();
                push_message(&mut reference, kind, flags, 42, &msg);
                assert_eq!(fast, reference, "{op:?}");
            }
        }
    }

    #[test]
    fn several_messages_per_datagram_and_errors() {
        let mut buf = Vec::new();
        for seq in 1..=3 {
            push_op(&mut buf, &cfg(), &replace_op(), None, seq);
        }
        // An NLMSG_ERROR carrying -ESRCH for seq 5 (NETLINK_CAP_ACK: header only).
        let err: [u8; 36] = [
            36, 0, 0, 0, 2, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr, NLM_F_CAPPED
            0xfd, 0xff, 0xff, 0xff, // -3 = -ESRCH
            64, 0, 0, 0, 25, 0, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, // request header
        ];
        buf.extend_from_slice(&err);
        let seqs: Vec<_> = messages(&buf).map(|m| (m.seq, m.errno())).collect();
        assert_eq!(
            seqs,
            vec![(1, None), (2, None), (3, None), (5, Some(libc::ESRCH))]
        );
    }

    #[test]
    fn fib_match_connected_route_keeps_next_hop() {
        // A connected route (no gateway) resolves to the next hop itself.
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 24;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                "192.0.2.0".parse().expect("valid"),
            )));
        msg.attributes.push(RouteAttribute::Oif(5));
        let nh: IpAddr = "192.0.2.9".parse().expect("valid");
        assert_eq!(
            paths_of(&msg, Some(nh)),
            vec![Path {
                gateway: Some(nh),
                ifindex: 5
            }]
        );
    }
}
