//! Special-purpose address space (RFC 6890 and its IANA registries) that an originated
//! route (`[[network]]`, `understudy route add`) probably should not announce: refused
//! when no router can use it (loopback, multicast), warned about otherwise; and the next
//! hops such a route cannot be given ([`unusable_next_hop`]).

use crate::wire::attribute::is_martian_next_hop;
use crate::wire::Prefix;
use std::net::IpAddr;

/// An originated route as an operator gives it (`understudy route add PREFIX [--next-hop
/// NH]`, checked by the CLI before it connects and by bgpd's admin API): the prefix exact
/// (host bits zero, [`Prefix::parse_exact`]), not in refused special space
/// ([`special_prefix`]), and a next hop that is usable ([`unusable_next_hop`]) and of the
/// prefix's family. Returns the prefix and, for special space that is only warned about,
/// what announcing it does.
///
/// Errors: why not, in one line.
pub fn originated_route(
    prefix: &str,
    next_hop: Option<IpAddr>,
) -> Result<(Prefix, Option<String>), String> {
    let prefix = Prefix::parse_exact(prefix.trim()).map_err(|e| e.to_string())?;
    let warning = match special_prefix(&prefix) {
        Some(SpecialPrefix::Refused(why)) => return Err(why),
        Some(SpecialPrefix::Warned(what)) => Some(what),
        None => None,
    };
    if let Some(nh) = next_hop {
        if let Some(why) = unusable_next_hop(nh) {
            return Err(format!("next hop {why}"));
        }
        if nh.is_ipv4() != matches!(prefix, Prefix::V4(_)) {
            return Err(format!("next hop {nh} is not of the family of {prefix}"));
        }
    }
    Ok((prefix, warning))
}

/// Why `nh` cannot be the next hop of an originated route (`[[network]] next_hop`,
/// `understudy route add --next-hop`), if it cannot: RFC 4271 section 6.3 has a receiver
/// treat a route whose NEXT_HOP is not a valid host address as withdrawn, so such a route
/// would reach no one. For IPv4 this is the rule bgpd applies as a receiver
/// ([`is_martian_next_hop`]: 0.0.0.0/8, loopback, multicast, 240.0.0.0/4 with the limited
/// broadcast address); for IPv6 the unspecified, loopback and multicast addresses.
pub fn unusable_next_hop(nh: IpAddr) -> Option<String> {
    let unusable = match nh {
        IpAddr::V4(a) => is_martian_next_hop(a),
        IpAddr::V6(a) => a.is_unspecified() || a.is_loopback() || a.is_multicast(),
    };
    unusable.then(|| format!("{nh} is not a usable host address (RFC 4271 section 6.3)"))
}

/// What is special about an originated prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecialPrefix {
    /// Never announced: the text says why.
    Refused(String),
    /// Announced, but probably not meant: the text says what it does.
    Warned(String),
}

/// Whether `p` lies in (or is) special-purpose space. Refused: loopback (127.0.0.0/8 and
/// its sub-prefixes, ::1/128; RFC 1122 section 3.2.1.3, RFC 4291 section 2.5.3: a packet
/// to it never leaves a host) and multicast (224.0.0.0/4, ff00::/8: not unicast routes).
/// Warned: the default route (0.0.0.0/0, ::/0), "this network" (0.0.0.0/8), link-local
/// (169.254.0.0/16, fe80::/10, RFC 3927 and RFC 4291: not forwarded beyond a link), the
/// reserved 240.0.0.0/4 (RFC 1112 section 4), and the unspecified ::/128.
/// A prefix that only covers such space (0.0.0.0/1 holds 127.0.0.0/8) is an aggregate and
/// not special.
pub fn special_prefix(p: &Prefix) -> Option<SpecialPrefix> {
    use SpecialPrefix::{Refused, Warned};
    let within = |net: &str| {
        net.parse::<Prefix>().is_ok_and(|n| match (n, p) {
            (Prefix::V4(n), Prefix::V4(q)) => n.contains(q),
            (Prefix::V6(n), Prefix::V6(q)) => n.contains(q),
            _ => false,
        })
    };
    if p.is_empty() {
        return Some(Warned(format!(
            "{p} is the default route: every neighbour that accepts it sends here all the \
             traffic it has no more specific route for"
        )));
    }
    if within("127.0.0.0/8") || within("::1/128") {
        return Some(Refused(format!(
            "{p} is loopback address space (a packet to it never leaves a host): not a route \
             to announce"
        )));
    }
    if within("224.0.0.0/4") || within("ff00::/8") {
        return Some(Refused(format!(
            "{p} is multicast address space, not a unicast route"
        )));
    }
    let warned = |what: &str| Some(Warned(format!("{p} is {what}")));
    // `P is in BLOCK, WHAT`, or `BLOCK is WHAT` for the block itself.
    let in_block = |block: &str, what: &str| {
        if p.to_string() == block {
            warned(what)
        } else {
            warned(&format!("in {block}, {what}"))
        }
    };
    if within("0.0.0.0/8") {
        return in_block(
            "0.0.0.0/8",
            "\"this network\" (RFC 6890): no router forwards to it",
        );
    }
    if within("169.254.0.0/16") || within("fe80::/10") {
        return warned(
            "link-local address space (RFC 3927, RFC 4291): no router forwards it beyond a link",
        );
    }
    if within("240.0.0.0/4") {
        return in_block("240.0.0.0/4", "reserved address space (RFC 1112 section 4)");
    }
    if matches!(p.addr(), IpAddr::V6(a) if a.is_unspecified()) && p.len() == 128 {
        return warned("the unspecified address");
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        special_prefix(&s.parse().unwrap()).map(|k| match k {
            SpecialPrefix::Refused(_) => "refused",
            SpecialPrefix::Warned(_) => "warned",
        })
    }

    #[test]
    fn special_space_is_refused_or_warned_about() {
        for p in ["127.0.0.0/8", "127.1.0.0/16", "127.0.0.1/32", "::1/128"] {
            assert_eq!(kind(p), Some("refused"), "{p}");
        }
        for p in ["224.0.0.0/4", "239.1.0.0/16", "ff00::/8", "ff05::/16"] {
            assert_eq!(kind(p), Some("refused"), "{p}");
        }
        for p in [
            "0.0.0.0/0",
            "::/0",
            "0.0.0.0/8",
            "0.1.0.0/16",
            "169.254.0.0/16",
            "fe80::/64",
            "240.0.0.0/4",
            "::/128",
        ] {
            assert_eq!(kind(p), Some("warned"), "{p}");
        }
        // Ordinary space, and aggregates that only cover special space.
        for p in [
            "198.51.100.0/24",
            "2001:db8::/32",
            "0.0.0.0/1",
            "126.0.0.0/7",
            "128.0.0.0/1",
            "::/1",
        ] {
            assert_eq!(kind(p), None, "{p}");
        }
        let Some(SpecialPrefix::Warned(text)) = special_prefix(&"0.0.0.0/0".parse().unwrap())
        else {
            panic!("the default route is warned about");
        };
        assert!(text.starts_with("0.0.0.0/0 is the default route"), "{text}");
    }

    #[test]
    fn a_reserved_block_is_named_as_itself_and_a_part_as_in_it() {
        let text = |s: &str| match special_prefix(&s.parse().unwrap()) {
            Some(SpecialPrefix::Warned(t)) => t,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            text("240.0.0.0/4"),
            "240.0.0.0/4 is reserved address space (RFC 1112 section 4)"
        );
        assert_eq!(
            text("240.1.0.0/16"),
            "240.1.0.0/16 is in 240.0.0.0/4, reserved address space (RFC 1112 section 4)"
        );
        assert_eq!(
            text("0.0.0.0/8"),
            "0.0.0.0/8 is \"this network\" (RFC 6890): no router forwards to it"
        );
        assert_eq!(
            text("0.1.0.0/16"),
            "0.1.0.0/16 is in 0.0.0.0/8, \"this network\" (RFC 6890): no router forwards to it"
        );
    }

    #[test]
    fn an_originated_route_is_checked_as_route_add_checks_it() {
        let nh = |s: &str| Some(s.parse().unwrap());
        assert_eq!(
            originated_route(" 203.0.113.0/24 ", None),
            Ok(("203.0.113.0/24".parse().unwrap(), None))
        );
        let (_, warning) = originated_route("0.0.0.0/0", nh("192.0.2.1")).unwrap();
        assert!(warning.unwrap().contains("default route"));
        for (prefix, next_hop, why) in [
            ("10.0.0.0/33", None, "an IPv4 prefix is at most /32"),
            ("203.0.113.1/24", None, "203.0.113.1/24"),
            ("127.0.0.0/8", None, "loopback address space"),
            (
                "203.0.113.0/24",
                nh("255.255.255.255"),
                "next hop 255.255.255.255 is not a usable host address",
            ),
            (
                "203.0.113.0/24",
                nh("2001:db8::1"),
                "next hop 2001:db8::1 is not of the family of 203.0.113.0/24",
            ),
        ] {
            let e = originated_route(prefix, next_hop).unwrap_err();
            assert!(e.contains(why), "{prefix} {next_hop:?}: {e}");
        }
    }

    #[test]
    fn a_next_hop_a_receiver_treats_as_withdrawn_is_unusable() {
        let unusable = |s: &str| unusable_next_hop(s.parse().unwrap()).is_some();
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.5",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "ff02::1",
        ] {
            assert!(unusable(a), "{a}");
            // The IPv4 rule is the receiver's.
            if let Ok(v4) = a.parse() {
                assert!(is_martian_next_hop(v4), "{a}");
            }
        }
        for a in ["192.0.2.1", "198.51.100.254", "2001:db8::1", "fe80::1"] {
            assert!(!unusable(a), "{a}");
        }
        assert_eq!(
            unusable_next_hop("255.255.255.255".parse().unwrap()).as_deref(),
            Some("255.255.255.255 is not a usable host address (RFC 4271 section 6.3)")
        );
    }
}
