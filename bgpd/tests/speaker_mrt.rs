//! The real update streams of `../shared/data/mrt` replayed through a session of the speaker
//! into the Loc-RIB. For each file the busiest peer's UPDATEs are fed, as raw stream bytes in
//! batches, to an established session; the Loc-RIB must then hold exactly the prefixes that
//! an independent count over the decoded messages leaves announced (withdrawals remove,
//! announcements add, RFC 7606 treat-as-withdraw removes).

mod harness;

use bgpd::mrt::{MrtReader, RecordBody};
use bgpd::session::ConnId;
use bgpd::speaker::{Input, PeerId, Speaker};
use bgpd::time::Millis;
use bgpd::wire::{
    decode_message, encode_message, AfiSafi, Asn, Capability, HoldTime, Message, Open,
    OptionalParameter, Outcome, Prefix, RouterId, SessionContext,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/mrt"
    ))
    .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests expect the project's shared/ folder beside the repository",
        p.display()
    );
    p
}

struct Stream {
    peer_ip: IpAddr,
    peer_as: u32,
    four_octet_as: bool,
    messages: Vec<Vec<u8>>,
}

/// The UPDATEs of the peer that sent the most of them (ADD-PATH and locally sent records
/// left out: a session negotiates one or the other, the stream is one direction).
fn busiest_peer(path: &PathBuf) -> Stream {
    let mut r = MrtReader::open(path).expect("open");
    let mut by: BTreeMap<(IpAddr, u32, bool), Vec<Vec<u8>>> = BTreeMap::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                if let RecordBody::Bgp4mpMessage(m) = rec.body {
                    if !m.local && !m.add_path && m.message.get(18) == Some(&2) {
                        by.entry((m.peer_ip, m.peer_as, m.four_octet_as))
                            .or_default()
                            .push(m.message);
                    }
                }
            }
            Ok(None) => break,
            Err(e) if e.is_recoverable() => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    let ((peer_ip, peer_as, four_octet_as), messages) = by
        .into_iter()
        .max_by_key(|(k, v)| (v.len(), std::cmp::Reverse(*k)))
        .expect("a peer with UPDATEs");
    Stream {
        peer_ip,
        peer_as,
        four_octet_as,
        messages,
    }
}

fn replay(rel: &str, min_updates: usize) {
    let st = busiest_peer(&data(rel));
    assert!(
        st.messages.len() >= min_updates,
        "{rel}: {} UPDATEs",
        st.messages.len()
    );
    let local_as: u32 = 4_200_000_001;
    let cfg = harness::speakers::speaker_config(
        "192.0.2.1",
        local_as,
        &st.peer_ip.to_string(),
        st.peer_as,
        &[],
        "families = [\"ipv4/unicast\", \"ipv6/unicast\"]\npassive = true\nhold_time = 0",
    );
    let mut s = Speaker::new(Millis::ZERO, cfg, 1).expect("speaker");
    let peer = PeerId(0);
    let conn = ConnId::incoming(1);
    s.handle(
        Millis(1),
        Input::ConnectionConfirmed {
            peer,
            conn,
            local_address: [192, 0, 2, 1].into(),
        },
    );
    // The peer's OPEN: its AS, both unicast families, extended messages, and the 4-octet AS
    // capability only when the recorded messages use 4-octet ASNs.
    let mut open = Open::new(
        Asn(st.peer_as),
        HoldTime::NONE,
        RouterId([198, 51, 100, 1].into()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::ExtendedMessage,
        ],
    );
    if !st.four_octet_as {
        for p in &mut open.parameters {
            if let OptionalParameter::Capabilities(c) = p {
                c.retain(|x| !matches!(x, Capability::FourOctetAs(_)));
            }
        }
    }
    let mut hello = encode_message(&Message::Open(open), &SessionContext::new()).expect("open");
    hello.extend_from_slice(&bgpd::wire::keepalive::KEEPALIVE);
    s.handle(
        Millis(2),
        Input::Bytes {
            peer,
            conn,
            data: hello,
        },
    );
    let ctx = s
        .session(peer)
        .and_then(|x| x.negotiated())
        .map(|n| n.ctx.clone())
        .unwrap_or_else(|| panic!("{rel}: session not established"));
    assert_eq!(ctx.four_octet_as, st.four_octet_as);
    while s.poll_output().is_some() {}

    // The independent count, and the stream to feed (messages the codec resets a session
    // for are left out of both: a real session would have been torn down there).
    let mut model: BTreeSet<Prefix> = BTreeSet::new();
    let mut batch = Vec::new();
    let mut fed = 0usize;
    let mut t = 3;
    for m in &st.messages {
        let d = decode_message(m, &ctx);
        let Some(Message::Update(u)) = d.message else {
            continue;
        };
        match &d.outcome {
            Outcome::SessionReset(_) | Outcome::AfiSafiDisable { .. } => continue,
            Outcome::TreatAsWithdraw { .. } => {
                for (_, n) in u.withdrawals().chain(u.announced()) {
                    model.remove(&n.prefix);
                }
            }
            Outcome::Accept | Outcome::AttributeDiscard { .. } => {
                for (_, n) in u.withdrawals() {
                    model.remove(&n.prefix);
                }
                for (f, n) in u.announced() {
                    if f.is_decoded() {
                        model.insert(n.prefix);
                    }
                }
            }
        }
        fed += 1;
        batch.extend_from_slice(m);
        if batch.len() > 60_000 {
            t += 1;
            s.handle(
                Millis(t),
                Input::Bytes {
                    peer,
                    conn,
                    data: std::mem::take(&mut batch),
                },
            );
            while s.poll_output().is_some() {}
        }
    }
    s.handle(
        Millis(t + 1),
        Input::Bytes {
            peer,
            conn,
            data: batch,
        },
    );
    while s.poll_output().is_some() {}
    assert_eq!(
        s.session(peer).map(|x| x.state()),
        Some(bgpd::session::State::Established),
        "{rel}"
    );
    assert_eq!(
        s.session(peer).map(|x| x.stats().updates_in as usize),
        Some(fed),
        "{rel}"
    );
    let loc: BTreeSet<Prefix> = s
        .rib()
        .loc_rib()
        .into_iter()
        .filter(|r| r.peer == Some(peer))
        .map(|r| r.prefix)
        .collect();
    assert!(!model.is_empty(), "{rel}");
    assert_eq!(
        loc.len(),
        model.len(),
        "{rel}: Loc-RIB vs independent count"
    );
    assert_eq!(loc, model, "{rel}");
    eprintln!(
        "{rel}: peer {} AS{}: {fed} UPDATEs, {} prefixes in the Loc-RIB",
        st.peer_ip,
        st.peer_as,
        loc.len()
    );
}

#[test]
fn ris_rrc06_stream() {
    replay("libbgpstream/ris.rrc06.updates.1427846400.gz", 100);
}

#[test]
fn routeviews_2019_stream() {
    replay("bgp-rs/updates.20190101.0000.gz", 1000);
}

#[test]
fn et_header_2015_stream() {
    replay("bgpdump/updates.et-header.2015.gz", 10_000);
}

#[test]
fn routeviews_2007_two_octet_stream() {
    replay("bgpdump/updates.20070211.0141.gz", 1000);
}
