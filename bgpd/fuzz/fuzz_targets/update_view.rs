//! Fuzz target: the in-place UPDATE view (`UpdateView`, the ingest fast path) against the full
//! decode (`decode_message`), for any octets and session context (4-octet ASNs or not,
//! ADD-PATH or not, internal or external neighbour, route-reflector client or not).
//!
//! Whenever the view takes a message, the decode must accept it with no RFC 7606 action, with
//! the same Withdrawn Routes and NLRI, the same decoded UPDATE, and the received Path
//! Attributes field with the low four flag bits cleared (what the RIB interns for a view)
//! equal to the decode's canonical re-encoding. A RIB fed the views (the decode where the
//! view declines) must equal a RIB fed the decoded UPDATEs (digest, Loc-RIB, Adj-RIB-In) after
//! every message. The checks are the tests' (`bgpd/tests/view_oracle`, included by path), the
//! same as `bgpd/tests/update_view_differential.rs` makes on mutated real UPDATEs.
//!
//! Input: two selector octets, then the messages.
//! - selector 0: bit 0 a 2-octet AS session; bit 1 ADD-PATH receive for IPv4 unicast; bit 2
//!   an internal neighbour; bits 3-4 the rest of the context (`modern`, `new` with 4-octet
//!   ASNs, `everything`, an MRT record's); bit 5 a route-reflector client; bit 6 several
//!   messages, each after a 2-octet length (else one); bit 7 the octets are whole messages
//!   (else UPDATE bodies, given a valid header here).
//! - selector 1: bits 0-1 our address on the session (the router id, or another).
//!
//! Run from `bgpd/fuzz`: `cargo +nightly fuzz run update_view -O --debug-assertions`. A seed
//! corpus: the real stream's UPDATE bodies (../shared/data, an internal 4-octet session), each
//! after the selectors `04 00`, and a few runs of them after `44 00` with their lengths.
#![no_main]

use bgpd::policy::PolicyConfig;
use bgpd::rib::{PeerId, PeerInfo, Rib, RibConfig};
use bgpd::wire::{
    decode_message, AfiSafi, Asn, Message, RouterId, SessionContext, UpdateView, HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use view_oracle::{rib_state, view_agrees_with_decode};

/// Our AS, router id (= cluster id); the neighbour's AS when external.
const LOCAL_AS: u32 = 65000;
const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const REMOTE_AS: u32 = 64700;

fuzz_target!(|data: &[u8]| {
    let [s0, s1, rest @ ..] = data else {
        return;
    };
    let ctx = context(*s0);
    let messages: Vec<Vec<u8>> = if s0 & 0x40 != 0 {
        chunks(rest)
            .into_iter()
            .map(|c| whole(c, *s0 & 0x80 != 0))
            .collect()
    } else {
        vec![whole(rest, *s0 & 0x80 != 0)]
    };
    let mut taken = false;
    for msg in &messages {
        match view_agrees_with_decode(msg, &ctx) {
            Ok(t) => taken |= t,
            Err(e) => panic!("{e}"),
        }
    }
    if !taken {
        // Both RIBs would be fed the same decoded UPDATEs: nothing to compare.
        return;
    }
    let info = neighbour(&ctx, *s0 & 0x20 != 0, *s1);
    let mut by_view = rib();
    let mut by_decode = rib();
    // A rejected neighbour (e.g. an unusable address) is no divergence: both refuse it alike.
    let up = (by_view.peer_up(info.clone()), by_decode.peer_up(info));
    assert_eq!(up.0.is_ok(), up.1.is_ok());
    if up.0.is_err() {
        return;
    }
    for msg in &messages {
        let view = UpdateView::parse_message(msg, &ctx);
        let d = decode_message(msg, &ctx);
        let u = match d.message {
            Some(Message::Update(u)) => Some(u),
            _ => None,
        };
        let a = u
            .as_ref()
            .map(|u| by_decode.apply_update(PeerId(1), u, &d.outcome).is_ok());
        let b = match &view {
            Some(v) => Some(by_view.apply_update_view(PeerId(1), v).is_ok()),
            None => u
                .as_ref()
                .map(|u| by_view.apply_update(PeerId(1), u, &d.outcome).is_ok()),
        };
        assert_eq!(a, b, "applied differently: {msg:02x?}");
        assert_eq!(
            rib_state(&by_view),
            rib_state(&by_decode),
            "RIBs differ after {msg:02x?}"
        );
    }
});

/// The session context of selector 0.
fn context(s: u8) -> SessionContext {
    let mut ctx = match (s >> 3) & 3 {
        0 => SessionContext::modern(),
        1 => SessionContext {
            four_octet_as: true,
            ..SessionContext::new()
        },
        2 => SessionContext::everything(),
        _ => bgpd::mrt::ImpliedContext {
            four_octet_as: true,
            ..Default::default()
        }
        .session_context(),
    };
    if s & 0x01 != 0 {
        ctx.four_octet_as = false;
    }
    if s & 0x02 != 0 && !ctx.add_path_receive.contains(&AfiSafi::IPV4_UNICAST) {
        ctx.add_path_receive.push(AfiSafi::IPV4_UNICAST);
    }
    ctx.ibgp = s & 0x04 != 0;
    ctx
}

/// Octets split into pieces, each after a 2-octet length (the last one cut at the end).
fn chunks(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [h, l, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*h, *l])).min(tail.len());
        out.push(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

/// A whole message: `octets` as they are (`raw`), or an UPDATE body after a valid header
/// (a body too long for any header is kept as it is, which no header check takes).
fn whole(octets: &[u8], raw: bool) -> Vec<u8> {
    let total = HEADER_LEN + octets.len();
    if raw || total > usize::from(u16::MAX) {
        return octets.to_vec();
    }
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(total as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(octets);
    m
}

/// The neighbour: internal or external as `ctx` says, from the address selector 1 picks.
fn neighbour(ctx: &SessionContext, rr_client: bool, s: u8) -> PeerInfo {
    let (address, remote_as) = if ctx.ibgp {
        (Ipv4Addr::new(10, 0, 0, 3), LOCAL_AS)
    } else {
        (Ipv4Addr::new(192, 0, 2, 1), REMOTE_AS)
    };
    let local = match s & 3 {
        0 | 1 => ROUTER_ID,
        2 => Ipv4Addr::new(198, 51, 100, 254),
        _ => Ipv4Addr::new(192, 0, 2, 7),
    };
    PeerInfo {
        id: PeerId(1),
        address: IpAddr::V4(address),
        remote_as: Asn(remote_as),
        local_as: Asn(LOCAL_AS),
        remote_id: RouterId(address),
        ibgp: ctx.ibgp,
        rr_client: rr_client && ctx.ibgp,
        ctx: ctx.clone(),
        local_address: IpAddr::V4(local),
        next_hop_v4: None,
        next_hop_v6: None,
        import: vec!["accept-all".into()],
        export: vec!["accept-all".into()],
    }
}

fn rib() -> Rib {
    let mut cfg = RibConfig::new(Asn(LOCAL_AS), RouterId(ROUTER_ID));
    cfg.policy = accept_all();
    Rib::new(cfg).expect("a RIB with an accept-all policy")
}

fn accept_all() -> PolicyConfig {
    serde_json::from_str(r#"{"policies": {"accept-all": {"terms": [{"action": "accept"}]}}}"#)
        .expect("the accept-all policy parses")
}

/// The checks, shared with the tests.
#[path = "../../tests/view_oracle/mod.rs"]
mod view_oracle;
