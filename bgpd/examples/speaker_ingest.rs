//! Ad-hoc measurement: the busiest peer of an MRT update stream through one session of the
//! speaker into the Loc-RIB; prints prefixes/s for the whole path and for decode alone.
use bgpd::mrt::{MrtReader, RecordBody};
use bgpd::session::ConnId;
use bgpd::speaker::{Input, PeerId, Speaker};
use bgpd::time::Millis;
use bgpd::wire::*;
use std::collections::BTreeMap;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("/work/shared/data/mrt/bgpdump/updates.et-header.2015.gz".into());
    let mut r = MrtReader::open(&path)?;
    let mut by: BTreeMap<(std::net::IpAddr, u32), Vec<Vec<u8>>> = BTreeMap::new();
    while let Some(rec) = r.next_record().ok().flatten() {
        if let RecordBody::Bgp4mpMessage(m) = rec.body {
            if !m.local && !m.add_path && m.four_octet_as && m.message.get(18) == Some(&2) {
                by.entry((m.peer_ip, m.peer_as))
                    .or_default()
                    .push(m.message);
            }
        }
    }
    let ((ip, asn), msgs) = by.into_iter().max_by_key(|(_, v)| v.len()).expect("peer");
    let stream: Vec<u8> = msgs.concat();
    let cfg = bgpd::config::Config::from_toml_str(&format!(
        "router_id = \"192.0.2.1\"\nlocal_as = 4200000001\n[policy.policies.all]\ndefault = \"accept\"\n\
         [[neighbor]]\naddress = \"{ip}\"\nremote_as = {asn}\npassive = true\nhold_time = 0\n\
         families = [\"ipv4/unicast\", \"ipv6/unicast\"]\nimport = [\"all\"]\nexport = [{}]\n", std::env::var("EXPORT").unwrap_or_default()))?;
    let mut s = Speaker::new(Millis::ZERO, cfg, 1)?;
    let (peer, conn) = (PeerId(0), ConnId::incoming(1));
    s.handle(
        Millis(1),
        Input::ConnectionConfirmed {
            peer,
            conn,
            local_address: [192, 0, 2, 1].into(),
        },
    );
    let open = Open::new(
        Asn(asn),
        HoldTime::NONE,
        RouterId([198, 51, 100, 1].into()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::ExtendedMessage,
        ],
    );
    let mut hello = encode_message(&Message::Open(open), &SessionContext::new())?;
    hello.extend_from_slice(&keepalive::KEEPALIVE);
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
        .expect("up");
    while s.poll_output().is_some() {}
    let mut prefixes = 0usize;
    let t0 = Instant::now();
    for m in &msgs {
        let d = decode_message(m, &ctx);
        if let Some(Message::Update(u)) = d.message {
            prefixes += u.announced_count() + u.withdrawn_count();
        }
    }
    let dec = t0.elapsed();
    // The session alone (framing, decoding, FSM), outputs drained.
    let mut sess = bgpd::session::Session::new(
        bgpd::session::SessionConfig::from_neighbor(s.config(), &s.config().neighbors[0]),
        1,
    );
    sess.handle_event(
        Millis(1),
        bgpd::session::Event::ManualStart_with_PassiveTcpEstablishment,
        None,
    );
    sess.handle_event(
        Millis(1),
        bgpd::session::Event::TcpConnectionConfirmed,
        Some(conn),
    );
    let open2 = Open::new(
        Asn(asn),
        HoldTime::NONE,
        RouterId([198, 51, 100, 1].into()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::ExtendedMessage,
        ],
    );
    let mut hello2 = encode_message(&Message::Open(open2), &SessionContext::new())?;
    hello2.extend_from_slice(&keepalive::KEEPALIVE);
    sess.handle_bytes(Millis(2), conn, &hello2);
    while sess.poll_output().is_some() {}
    let t0 = Instant::now();
    let mut n_up = 0usize;
    for chunk in stream.chunks(65536) {
        sess.handle_bytes(Millis(3), conn, chunk);
        while let Some(o) = sess.poll_output() {
            if matches!(
                o,
                bgpd::session::Output::Event(
                    bgpd::session::SessionEvent::UpdateReceived { .. }
                        | bgpd::session::SessionEvent::UpdateAccepted { .. }
                )
            ) {
                n_up += 1;
            }
        }
    }
    let sess_t = t0.elapsed();
    println!(
        "session alone: {n_up} UPDATEs, {:.0} prefixes/s ({:?})",
        prefixes as f64 / sess_t.as_secs_f64(),
        sess_t
    );
    let t0 = Instant::now();
    for (i, chunk) in stream.chunks(65536).enumerate() {
        s.handle(
            Millis(3 + i as u64),
            Input::Bytes {
                peer,
                conn,
                data: chunk.to_vec(),
            },
        );
        while s.poll_output().is_some() {}
    }
    let all = t0.elapsed();
    println!(
        "{} UPDATEs, {prefixes} prefixes (announced+withdrawn), Loc-RIB {}",
        msgs.len(),
        s.rib().stats().loc_rib
    );
    println!(
        "decode only: {:.0} prefixes/s; speaker end to end: {:.0} prefixes/s ({:?})",
        prefixes as f64 / dec.as_secs_f64(),
        prefixes as f64 / all.as_secs_f64(),
        all
    );
    Ok(())
}
