//! Telling the segment that the session address moved: gratuitous ARP (RFC 5227 section
//! 3, "ARP Announcement": sender IP = target IP, request and reply) and the IPv6
//! unsolicited Neighbor Advertisement (RFC 4861 section 7.2.6: Override flag set, sent to
//! all-nodes ff02::1, hop limit 255).
//!
//! The sockets are opened ahead of time with [`Announcer::open`]: opening and binding an
//! AF_PACKET socket costs about 10 ms (synchronize_net) on this kind of host.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, Socket, Type};

use super::error::TakeoverError;
use super::sys;

/// Broadcast Ethernet address.
const BROADCAST: [u8; 6] = [0xff; 6];
/// ICMPv6 type Neighbor Advertisement (RFC 4861 section 4.4).
const ND_NEIGHBOR_ADVERT: u8 = 136;
/// NA flags: Override (RFC 4861 section 4.4).
const NA_FLAG_OVERRIDE: u8 = 0x20;
/// ND option: Target Link-Layer Address.
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
/// `ICMP6_FILTER` (`netinet/icmp6.h`).
const ICMP6_FILTER: libc::c_int = 1;

/// Pre-opened sockets to announce addresses on one interface.
#[derive(Debug)]
pub struct Announcer {
    ifindex: u32,
    mac: [u8; 6],
    packet: OwnedFd,
    icmp6: Socket,
}

impl Announcer {
    /// Opens (and binds) the AF_PACKET socket for ARP and the ICMPv6 raw socket for NA on
    /// interface `ifname`, in the caller's network namespace. Needs CAP_NET_RAW.
    ///
    /// # Errors
    /// [`TakeoverError::Sys`] naming the failed call.
    pub fn open(ifname: &str) -> Result<Self, TakeoverError> {
        let ifindex = sys::if_index(ifname).map_err(TakeoverError::sys("if_nametoindex"))?;
        // Protocol 0: this socket only sends; it never queues received frames.
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(TakeoverError::Sys {
                op: "socket(AF_PACKET)",
                error: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let packet = unsafe { OwnedFd::from_raw_fd(raw) };
        let mac = sys::if_hwaddr(packet.as_fd(), ifname)
            .map_err(TakeoverError::sys("ioctl(SIOCGIFHWADDR)"))?;
        let ll = sockaddr_ll(ifindex, 0, &[0; 6]);
        // SAFETY: `ll` is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                packet.as_raw_fd(),
                &ll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(TakeoverError::Sys {
                op: "bind(AF_PACKET)",
                error: io::Error::last_os_error(),
            });
        }

        let icmp6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(TakeoverError::sys("socket(ICMPv6 raw)"))?;
        // RFC 4861 section 7.1.2: "The IP Hop Limit field has a value of 255".
        icmp6
            .set_multicast_hops_v6(255)
            .map_err(TakeoverError::sys("setsockopt(IPV6_MULTICAST_HOPS)"))?;
        icmp6
            .set_unicast_hops_v6(255)
            .map_err(TakeoverError::sys("setsockopt(IPV6_UNICAST_HOPS)"))?;
        icmp6
            .set_multicast_if_v6(ifindex)
            .map_err(TakeoverError::sys("setsockopt(IPV6_MULTICAST_IF)"))?;
        icmp6
            .set_multicast_loop_v6(false)
            .map_err(TakeoverError::sys("setsockopt(IPV6_MULTICAST_LOOP)"))?;
        // Send-only: block every ICMPv6 type from queueing on this socket (ICMP6_FILTER,
        // a set bit blocks the type).
        sys::setsockopt(
            icmp6.as_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            &[u32::MAX; 8],
        )
        .map_err(TakeoverError::sys("setsockopt(ICMP6_FILTER)"))?;
        Ok(Announcer {
            ifindex,
            mac,
            packet,
            icmp6,
        })
    }

    /// The interface's Ethernet address (the one announced).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Broadcasts a gratuitous ARP request and reply for `addr` with this interface's
    /// MAC.
    ///
    /// # Errors
    /// [`TakeoverError::Sys`] if a frame cannot be sent.
    pub fn gratuitous_arp(&self, addr: Ipv4Addr) -> Result<(), TakeoverError> {
        for op in [ARP_REQUEST, ARP_REPLY] {
            let frame = garp_frame(self.mac, addr, op);
            let to = sockaddr_ll(self.ifindex, sys::ETH_P_ARP, &BROADCAST);
            // SAFETY: `frame` is readable for its length; `to` is a valid sockaddr_ll.
            let rc = unsafe {
                libc::sendto(
                    self.packet.as_raw_fd(),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                    &to as *const libc::sockaddr_ll as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(TakeoverError::Sys {
                    op: "sendto(gratuitous ARP)",
                    error: io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }

    /// Sends an unsolicited Neighbor Advertisement for `addr` (Override set, Solicited
    /// clear, Target Link-Layer Address = this interface's MAC) to ff02::1.
    /// The kernel computes the ICMPv6 checksum; the source is the kernel's choice for the
    /// interface (its link-local address).
    ///
    /// # Errors
    /// [`TakeoverError::Sys`] if the message cannot be sent.
    pub fn unsolicited_na(&self, addr: Ipv6Addr) -> Result<(), TakeoverError> {
        let msg = na_message(addr, self.mac);
        let to = SocketAddrV6::new(
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            0,
            0,
            self.ifindex,
        );
        self.icmp6
            .send_to(&msg, &to.into())
            .map_err(TakeoverError::sys("sendto(neighbour advertisement)"))?;
        Ok(())
    }
}

const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

fn sockaddr_ll(ifindex: u32, proto: u16, addr: &[u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = proto.to_be();
    ll.sll_ifindex = ifindex as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(addr);
    ll
}

/// An Ethernet frame carrying an ARP announcement (RFC 826 layout; RFC 5227 section 3:
/// sender and target protocol address both `addr`).
fn garp_frame(mac: [u8; 6], addr: Ipv4Addr, op: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&sys::ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // ptype IPv4
    f.push(6);
    f.push(4);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&mac); // sha
    f.extend_from_slice(&addr.octets()); // spa
    if op == ARP_REPLY {
        f.extend_from_slice(&mac); // tha
    } else {
        f.extend_from_slice(&[0; 6]);
    }
    f.extend_from_slice(&addr.octets()); // tpa = spa
    f
}

/// ICMPv6 Neighbor Advertisement body (RFC 4861 section 4.4), checksum left to the kernel.
fn na_message(target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.push(ND_NEIGHBOR_ADVERT);
    m.push(0); // code
    m.extend_from_slice(&[0, 0]); // checksum
    m.push(NA_FLAG_OVERRIDE); // R=0, S=0 (unsolicited), O=1
    m.extend_from_slice(&[0, 0, 0]);
    m.extend_from_slice(&target.octets());
    m.push(ND_OPT_TARGET_LL_ADDR);
    m.push(1); // length in units of 8 octets
    m.extend_from_slice(&mac);
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn garp_request_golden() {
        let mac = [0x02, 0, 0, 0, 0, 0x03];
        let f = garp_frame(mac, Ipv4Addr::new(192, 0, 2, 2), ARP_REQUEST);
        let want: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 3, 0x08, 0x06, // Ethernet
            0, 1, 8, 0, 6, 4, 0, 1, // htype ptype hlen plen op
            2, 0, 0, 0, 0, 3, 192, 0, 2, 2, // sha spa
            0, 0, 0, 0, 0, 0, 192, 0, 2, 2, // tha tpa
        ];
        assert_eq!(f, want);
        let r = garp_frame(mac, Ipv4Addr::new(192, 0, 2, 2), ARP_REPLY);
        assert_eq!(&r[20..22], &[0, 2]);
        assert_eq!(&r[32..38], &mac);
    }

    #[test]
    fn na_golden() {
        let m = na_message("2001:db8::2".parse().unwrap(), [2, 0, 0, 0, 0, 3]);
        let mut want = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        want.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 3]);
        assert_eq!(m, want);
    }
}
