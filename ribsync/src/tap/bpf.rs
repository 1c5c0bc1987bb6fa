//! A classic BPF program (`linux/filter.h`, the BSD Packet Filter of McCanne and Jacobson)
//! that keeps Ethernet frames carrying TCP to or from port 179 (BGP, RFC 4271 section 8.2.1)
//! of given addresses, IPv4 and IPv6 (no IPv6 extension headers, no VLAN tags), and drops
//! everything else in the kernel. Compiled here, not by calling tcpdump.

use std::net::IpAddr;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

// Opcode parts (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_JEQ: u16 = 0x10;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;

/// Bytes of each accepted frame handed to the socket (all of a GSO super-frame).
pub const SNAPLEN: u32 = 262_144;

const BGP_PORT: u32 = 179;

/// Jump targets resolved when the program is assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Plain(BpfInsn),
    Jump {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Label(usize),
}

#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn place(&mut self, l: usize) {
        self.ops.push(Op::Label(l));
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.ops.push(Op::Plain(BpfInsn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.ops.push(Op::Jump { code, k, jt, jf });
    }
    /// Resolves labels into relative offsets; `None` if a jump is out of reach (> 255).
    fn assemble(self) -> Option<Vec<BpfInsn>> {
        let mut at = vec![0usize; self.labels];
        let mut pc = 0;
        for op in &self.ops {
            match op {
                Op::Label(l) => at[*l] = pc,
                _ => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for op in &self.ops {
            match *op {
                Op::Label(_) => {}
                Op::Plain(i) => out.push(i),
                Op::Jump { code, k, jt, jf } => {
                    let here = out.len() + 1;
                    let off = |t: Target| -> Option<u8> {
                        match t {
                            Target::Next => Some(0),
                            Target::Label(l) => u8::try_from(at[l].checked_sub(here)?).ok(),
                        }
                    };
                    out.push(BpfInsn {
                        code,
                        jt: off(jt)?,
                        jf: off(jf)?,
                        k,
                    });
                }
            }
        }
        Some(out)
    }
}

/// Builds the filter: TCP with source or destination port 179, and, when `addrs` is not
/// empty, with source or destination address among `addrs`. Returns `None` when too
/// many addresses make a jump exceed classic BPF's 255-instruction reach.
pub fn bgp_filter(addrs: &[IpAddr]) -> Option<Vec<BpfInsn>> {
    let v4: Vec<u32> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(u32::from(*a)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<[u32; 4]> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => {
                let o = a.octets();
                Some(std::array::from_fn(|i| {
                    u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
                }))
            }
            IpAddr::V4(_) => None,
        })
        .collect();
    let any = addrs.is_empty();

    let mut a = Asm::default();
    let (accept, drop, ipv4, ipv6, ports4, ports6) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    // EtherType.
    a.stmt(BPF_LD | BPF_H | BPF_ABS, 12);
    a.jump(
        BPF_JMP | BPF_JEQ | BPF_K,
        0x0800,
        Target::Label(ipv4),
        Target::Next,
    );
    a.jump(
        BPF_JMP | BPF_JEQ | BPF_K,
        0x86dd,
        Target::Label(ipv6),
        Target::Label(drop),
    );

    // IPv4: protocol TCP, first fragment (offset 0), addresses, ports.
    a.place(ipv4);
    if !any && v4.is_empty() {
        a.stmt(BPF_RET | BPF_K, 0);
    } else {
        a.stmt(BPF_LD | BPF_B | BPF_ABS, 23);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            6,
            Target::Next,
            Target::Label(drop),
        );
        a.stmt(BPF_LD | BPF_H | BPF_ABS, 20);
        a.jump(
            BPF_JMP | BPF_JSET | BPF_K,
            0x1fff,
            Target::Label(drop),
            Target::Next,
        );
        if !any {
            for off in [26u32, 30] {
                a.stmt(BPF_LD | BPF_W | BPF_ABS, off);
                for addr in &v4 {
                    a.jump(
                        BPF_JMP | BPF_JEQ | BPF_K,
                        *addr,
                        Target::Label(ports4),
                        Target::Next,
                    );
                }
            }
            a.stmt(BPF_RET | BPF_K, 0);
        }
        a.place(ports4);
        // X = IP header length; ports at X + 14 and X + 16.
        a.stmt(BPF_LDX | BPF_B | BPF_MSH, 14);
        a.stmt(BPF_LD | BPF_H | BPF_IND, 14);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            BGP_PORT,
            Target::Label(accept),
            Target::Next,
        );
        a.stmt(BPF_LD | BPF_H | BPF_IND, 16);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            BGP_PORT,
            Target::Label(accept),
            Target::Label(drop),
        );
    }

    // IPv6: next header TCP (no extension headers), addresses, ports.
    a.place(ipv6);
    if !any && v6.is_empty() {
        a.stmt(BPF_RET | BPF_K, 0);
    } else {
        a.stmt(BPF_LD | BPF_B | BPF_ABS, 20);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            6,
            Target::Next,
            Target::Label(drop),
        );
        if !any {
            for base in [22u32, 38] {
                for addr in &v6 {
                    let miss = a.label();
                    for (i, word) in addr.iter().enumerate() {
                        a.stmt(BPF_LD | BPF_W | BPF_ABS, base + 4 * i as u32);
                        let hit = if i == 3 {
                            Target::Label(ports6)
                        } else {
                            Target::Next
                        };
                        a.jump(BPF_JMP | BPF_JEQ | BPF_K, *word, hit, Target::Label(miss));
                    }
                    a.place(miss);
                }
            }
            a.stmt(BPF_RET | BPF_K, 0);
        }
        a.place(ports6);
        a.stmt(BPF_LD | BPF_H | BPF_ABS, 54);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            BGP_PORT,
            Target::Label(accept),
            Target::Next,
        );
        a.stmt(BPF_LD | BPF_H | BPF_ABS, 56);
        a.jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            BGP_PORT,
            Target::Label(accept),
            Target::Label(drop),
        );
    }

    a.place(accept);
    a.stmt(BPF_RET | BPF_K, SNAPLEN);
    a.place(drop);
    a.stmt(BPF_RET | BPF_K, 0);
    a.assemble()
}

/// Runs a classic BPF program over `pkt` (the subset [`bgp_filter`] emits) and returns
/// the snap length it accepts (0 = drop). The kernel does this for real; this
/// interpreter lets the program be tested against hand-built frames.
pub fn run(prog: &[BpfInsn], pkt: &[u8]) -> u32 {
    let (mut acc, mut x, mut pc) = (0u32, 0u32, 0usize);
    let load = |off: usize, n: usize| -> Option<u32> {
        let b = pkt.get(off..off.checked_add(n)?)?;
        Some(b.iter().fold(0u32, |v, byte| (v << 8) | u32::from(*byte)))
    };
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let class = i.code & 0x07;
        match class {
            c if c == BPF_RET => return i.k,
            c if c == BPF_LD => {
                let size = match i.code & 0x18 {
                    s if s == BPF_H => 2,
                    s if s == BPF_B => 1,
                    _ => 4,
                };
                let base = if i.code & 0xe0 == BPF_IND {
                    x as usize
                } else {
                    0
                };
                match load(base + i.k as usize, size) {
                    Some(v) => acc = v,
                    None => return 0,
                }
            }
            c if c == BPF_LDX => match load(i.k as usize, 1) {
                Some(v) => x = (v & 0x0f) * 4,
                None => return 0,
            },
            c if c == BPF_JMP => {
                let taken = match i.code & 0xf0 {
                    op if op == BPF_JEQ => acc == i.k,
                    op if op == BPF_JSET => acc & i.k != 0,
                    _ => return 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v4_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, frag: u16, ihl: u8) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x08, 0x00]);
        let hl = usize::from(ihl) * 4;
        let mut ip = vec![0u8; hl];
        ip[0] = 0x40 | ihl;
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        p.extend_from_slice(&ip);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0u8; 16]);
        p
    }

    fn v6_tcp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, nh: u8) -> Vec<u8> {
        let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
            panic!("v6 only")
        };
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[6] = nh;
        ip[8..24].copy_from_slice(&s.octets());
        ip[24..40].copy_from_slice(&d.octets());
        p.extend_from_slice(&ip);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0u8; 16]);
        p
    }

    #[test]
    fn v4_address_and_port() {
        let prog = bgp_filter(&["192.0.2.2".parse().unwrap()]).unwrap();
        let ours = [192, 0, 2, 2];
        let peer = [192, 0, 2, 1];
        let other = [192, 0, 2, 9];
        assert_eq!(run(&prog, &v4_tcp(ours, peer, 40000, 179, 0, 5)), SNAPLEN);
        assert_eq!(run(&prog, &v4_tcp(peer, ours, 179, 40000, 0, 5)), SNAPLEN);
        // IP options move the TCP header.
        assert_eq!(run(&prog, &v4_tcp(peer, ours, 179, 40000, 0, 6)), SNAPLEN);
        assert_eq!(run(&prog, &v4_tcp(peer, ours, 22, 40000, 0, 5)), 0);
        assert_eq!(run(&prog, &v4_tcp(peer, other, 179, 40000, 0, 5)), 0);
        // Non-first fragments carry no TCP header.
        assert_eq!(run(&prog, &v4_tcp(peer, ours, 179, 40000, 0x0010, 5)), 0);
        let mut udp = v4_tcp(peer, ours, 179, 40000, 0, 5);
        udp[23] = 17;
        assert_eq!(run(&prog, &udp), 0);
        // No IPv6 address given: IPv6 dropped.
        let v6 = v6_tcp(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            179,
            1,
            6,
        );
        assert_eq!(run(&prog, &v6), 0);
        // Truncated frame.
        assert_eq!(run(&prog, &v4_tcp(peer, ours, 179, 40000, 0, 5)[..30]), 0);
    }

    #[test]
    fn v6_address_and_port() {
        let ours: IpAddr = "2001:db8::2".parse().unwrap();
        let peer: IpAddr = "2001:db8::1".parse().unwrap();
        let near: IpAddr = "2001:db8::3".parse().unwrap();
        let prog = bgp_filter(&[ours, "192.0.2.2".parse().unwrap()]).unwrap();
        assert_eq!(run(&prog, &v6_tcp(ours, peer, 40000, 179, 6)), SNAPLEN);
        assert_eq!(run(&prog, &v6_tcp(peer, ours, 179, 40000, 6)), SNAPLEN);
        assert_eq!(run(&prog, &v6_tcp(peer, near, 179, 40000, 6)), 0);
        assert_eq!(run(&prog, &v6_tcp(peer, ours, 80, 40000, 6)), 0);
        assert_eq!(run(&prog, &v6_tcp(peer, ours, 179, 40000, 17)), 0);
        assert_eq!(
            run(&prog, &v4_tcp([192, 0, 2, 1], [192, 0, 2, 2], 179, 1, 0, 5)),
            SNAPLEN
        );
    }

    #[test]
    fn any_address() {
        let prog = bgp_filter(&[]).unwrap();
        assert_eq!(
            run(&prog, &v4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 179, 1, 0, 5)),
            SNAPLEN
        );
        let v6 = v6_tcp(
            "2001:db8::7".parse().unwrap(),
            "2001:db8::8".parse().unwrap(),
            5,
            179,
            6,
        );
        assert_eq!(run(&prog, &v6), SNAPLEN);
        assert_eq!(
            run(&prog, &v4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 178, 1, 0, 5)),
            0
        );
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(run(&prog, &arp), 0);
    }

    #[test]
    fn too_many_addresses_is_refused() {
        let many: Vec<IpAddr> = (0..40u16)
            .map(|i| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)))
            .collect();
        assert!(bgp_filter(&many).is_none());
    }
}
