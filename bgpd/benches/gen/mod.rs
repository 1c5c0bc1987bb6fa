//! Inputs for the RIB benchmarks: a generated Internet-like IPv4 table, pre-encoded as
//! UPDATE messages, and the real update stream of ../shared/data.
#![allow(dead_code, clippy::unwrap_used)]

use bgpd::rib::{PeerId, PeerInfo, Rib, RibConfig};
use bgpd::wire::{
    encode_message, AsPath, Asn, AttributeValue, Community, Ipv4Prefix, Message, Nlri, Origin,
    PathAttributes, RouterId, SessionContext, UpdateBuilder,
};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prefix length mix of the IPv4 Internet table (approximate shares in per mille, 2024):
/// about 60 % /24, then /22, /23, /20, /21, /19, /16 ...
const LEN_MIX: &[(u8, u32)] = &[
    (24, 600),
    (23, 95),
    (22, 120),
    (21, 50),
    (20, 50),
    (19, 30),
    (18, 15),
    (17, 10),
    (16, 20),
    (15, 3),
    (14, 3),
    (13, 2),
    (12, 1),
    (11, 1),
];

fn pick_len(rng: &mut Rng) -> u8 {
    let total: u32 = LEN_MIX.iter().map(|x| x.1).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for (l, w) in LEN_MIX {
        if r < *w {
            return *l;
        }
        r -= w;
    }
    24
}

/// The session the generated UPDATEs are encoded for and decoded with.
pub fn ctx() -> SessionContext {
    SessionContext {
        ibgp: false,
        ..SessionContext::modern()
    }
}

/// `n` distinct IPv4 prefixes with the Internet's length mix, grouped under `sets` distinct
/// attribute sets (AS paths of 1 to 10 hops, some MED and communities), encoded as UPDATE
/// messages for [`ctx`]. Returns the messages and the prefix count.
pub fn internet_table(n: usize, sets: usize) -> (Vec<Vec<u8>>, usize) {
    let mut rng = Rng::new(0x5eed_1234);
    let mut seen = HashSet::with_capacity(n);
    let mut prefixes = Vec::with_capacity(n);
    while prefixes.len() < n {
        let len = pick_len(&mut rng);
        // Unicast space 1.0.0.0 - 223.255.255.255.
        let a = (1 + rng.below(223) as u32) << 24 | (rng.next() as u32 & 0x00ff_ffff);
        let p = Ipv4Prefix::new(Ipv4Addr::from(a), len).unwrap();
        if seen.insert(p) {
            prefixes.push(p);
        }
    }
    // Group sizes: roughly geometric around n / sets.
    let mut groups: Vec<Vec<Nlri>> = vec![Vec::new(); sets];
    for (i, p) in prefixes.iter().enumerate() {
        // Every set gets at least one prefix; the rest land on skewed sets.
        let g = if i < sets {
            i
        } else {
            let r = rng.below(sets as u64) as usize;
            if rng.below(4) == 0 {
                r % (sets / 20).max(1)
            } else {
                r
            }
        };
        groups[g].push(Nlri::new(*p));
    }
    let ctx = ctx();
    let b = UpdateBuilder::new(&ctx);
    let mut msgs = Vec::with_capacity(sets * 2);
    for (i, nlri) in groups.iter().enumerate() {
        let hops = 1 + rng.below(10) as usize;
        // First hop: the neighbour's AS.
        let mut path = vec![Asn(64_700)];
        for _ in 1..hops {
            path.push(Asn(1 + rng.below(400_000) as u32));
        }
        // Make each set distinct whatever the random draw.
        path.push(Asn(100_000 + i as u32));
        let mut a = PathAttributes::new();
        a.set(AttributeValue::Origin(if rng.below(10) == 0 {
            Origin::Incomplete
        } else {
            Origin::Igp
        }));
        a.set(AttributeValue::AsPath(AsPath::sequence(path)));
        a.set(AttributeValue::NextHop(Ipv4Addr::new(
            192,
            0,
            2,
            1 + rng.below(4) as u8,
        )));
        if rng.below(3) == 0 {
            a.set(AttributeValue::MultiExitDisc(rng.below(1000) as u32));
        }
        if rng.below(2) == 0 {
            let k = 1 + rng.below(4);
            a.set(AttributeValue::Communities(
                (0..k)
                    .map(|_| Community((64_700 << 16) | rng.below(1000) as u32))
                    .collect(),
            ));
        }
        for u in b
            .announce(bgpd::wire::AfiSafi::IPV4_UNICAST, &a, None, nlri)
            .unwrap()
        {
            msgs.push(encode_message(&Message::Update(u), &ctx).unwrap());
        }
    }
    // Interleave sets as a real full-table transfer would (not sorted by anything).
    let len = msgs.len();
    for i in (1..len).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        msgs.swap(i, j);
    }
    (msgs, n)
}

/// A RIB with one external neighbour (id 1) up, accepting everything, FIB changes off.
pub fn rib_with_peer(ctx: SessionContext, remote_as: u32) -> Rib {
    let policy = toml::from_str(
        r#"
        [policies.all]
        terms = [ { action = "accept" } ]
        "#,
    )
    .unwrap();
    let mut cfg = RibConfig::new(Asn(4_200_000_000), RouterId(Ipv4Addr::new(192, 0, 2, 254)));
    cfg.policy = policy;
    cfg.fib = false;
    let mut rib = Rib::new(cfg).unwrap();
    rib.peer_up(PeerInfo {
        id: PeerId(1),
        address: IpAddr::from([192, 0, 2, 1]),
        remote_as: Asn(remote_as),
        local_as: Asn(4_200_000_000),
        remote_id: RouterId(Ipv4Addr::new(192, 0, 2, 1)),
        ibgp: false,
        rr_client: false,
        ctx,
        local_address: IpAddr::from([192, 0, 2, 254]),
        next_hop_v4: None,
        next_hop_v6: None,
        import: vec!["all".into()],
        export: vec!["all".into()],
    })
    .unwrap();
    rib
}

/// Decodes and applies every message from peer 1; returns the prefixes announced and
/// withdrawn.
pub fn ingest(rib: &mut Rib, msgs: &[Vec<u8>], ctx: &SessionContext) -> usize {
    let mut n = 0;
    for m in msgs {
        let d = bgpd::wire::decode_message(m, ctx);
        if let Some(Message::Update(u)) = &d.message {
            n += u.announced_count() + u.withdrawn_count();
            let _ = rib.apply_update(PeerId(1), u, &d.outcome);
        }
    }
    n
}

/// The UPDATE messages of the largest real update stream, with the context of each record.
pub fn real_stream() -> Vec<(Vec<u8>, SessionContext)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/mrt/bgpdump/updates.et-header.2015.gz"
    );
    let alt = "/work/shared/data/mrt/bgpdump/updates.et-header.2015.gz";
    let mut r = bgpd::mrt::MrtReader::open(path)
        .or_else(|_| bgpd::mrt::MrtReader::open(alt))
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        if let bgpd::mrt::RecordBody::Bgp4mpMessage(m) = rec.body {
            if m.message.get(18) == Some(&2) {
                let ctx = m.implied_context().session_context();
                out.push((m.message, ctx));
            }
        }
    }
    out
}
