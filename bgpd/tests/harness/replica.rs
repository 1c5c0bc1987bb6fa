//! A primary [`SpeakerReplica`] (192.0.2.254, AS 65001) whose one neighbour (192.0.2.1,
//! AS 64700, 4-octet AS and Extended Message) is Established on one flow: what the
//! checkpoint channel replicates in `tests/ha_tls.rs` and `benches/standby_sync.rs` (both
//! include this file through `#[path]`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use bgpd::config::Config;
use bgpd::replica::SpeakerReplica;
use bgpd::session::ConnId;
use bgpd::speaker::{Input, Speaker};
use bgpd::time::Millis;
use bgpd::wire::{
    encode_message, AfiSafi, Asn, Capability, HoldTime, Message, Open, RouterId, SessionContext,
};
use ribsync::checkpoint::{FlowId, Replicated};

/// The primary's configuration: the neighbour with an accept-all policy both ways.
pub const CONFIG: &str = "router_id = \"192.0.2.254\"\nlocal_as = 65001\n\
    [policy.policies.all]\ndefault = \"accept\"\n\
    [[neighbor]]\naddress = \"192.0.2.1\"\nremote_as = 64700\n\
    local_address = \"192.0.2.254\"\nextended_message = true\n\
    import = [\"all\"]\nexport = [\"all\"]\n";

/// The session's TCP connection (the neighbour connected to us).
pub fn flow() -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 254], 179)),
        remote: SocketAddr::from(([192, 0, 2, 1], 40_000)),
    }
}

/// The neighbour's OPEN and KEEPALIVE (4-octet AS, Extended Message: the context the
/// generated tables' UPDATEs are encoded for).
pub fn handshake() -> Vec<u8> {
    let o = Open::new(
        Asn(64_700),
        HoldTime::new(90).expect("hold"),
        RouterId([192, 0, 2, 1].into()),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(Asn(64_700)),
            Capability::ExtendedMessage,
        ],
    );
    let mut b = encode_message(&Message::Open(o), &SessionContext::new()).expect("open");
    b.extend_from_slice(&bgpd::wire::keepalive::KEEPALIVE);
    b
}

/// A primary on `config` (which must hold [`CONFIG`]'s neighbour) whose session with the
/// neighbour is Established on [`flow`], no route yet; replicated time 0 is `clock_base_ms`
/// (Unix milliseconds).
pub fn established(config: Config, clock_base_ms: u64) -> SpeakerReplica {
    let speaker = Speaker::new(Millis(0), config, 5).expect("speaker");
    let mut r = SpeakerReplica::new(speaker, 5, clock_base_ms);
    let peer = r
        .speaker()
        .peer_by_address(IpAddr::from([192, 0, 2, 1]))
        .expect("peer");
    let conn = ConnId::incoming(1);
    r.bind_flow(flow(), peer, conn);
    r.speaker_mut().handle(
        Millis(0),
        Input::ConnectionConfirmed {
            peer,
            conn,
            local_address: [192, 0, 2, 254].into(),
        },
    );
    r.receive(Millis(1), &flow(), &handshake())
        .expect("handshake");
    r.drain_outputs();
    assert_eq!(r.flows(), vec![flow()], "Established");
    r
}

/// The replica's lock, recovered if a holder panicked.
pub fn lock(a: &Arc<Mutex<SpeakerReplica>>) -> MutexGuard<'_, SpeakerReplica> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}
