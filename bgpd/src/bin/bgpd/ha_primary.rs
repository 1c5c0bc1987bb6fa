//! The primary's replication side (DESIGN.md section 3): the checkpoint service for
//! standbys (`ribsync::transport::serve_primary` on `[ha] checkpoint_address`), the flow of
//! each BGP connection (its 4-tuple, sequence anchor and TCP state), and the egress
//! write-ahead latency record.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bgpd::config::{Config, HaSection, HaTlsConfig, WriteAheadPolicy};
use bgpd::replica::SpeakerReplica;
use ribsync::checkpoint::{FlowId, PrimaryConfig, SeqAnchor, WriteAheadMode};
use ribsync::takeover::TcpRepairState;
use ribsync::transport::{serve_primary, PrimaryHandle, PrimaryServerConfig};

/// How often a connection's writer reads its socket's TCP state for the checkpoints.
pub const TCP_PEEK_INTERVAL: Duration = Duration::from_secs(1);

/// Write-ahead latencies kept for the median.
const LATENCY_SAMPLES: usize = 1024;

/// The recent write-ahead latencies (batch handed to the standbys -> released), in
/// microseconds, shared by every connection's writer.
#[derive(Debug, Default)]
pub struct WriteAheadLatency {
    samples: Mutex<VecDeque<u64>>,
}

impl WriteAheadLatency {
    /// Records one batch.
    pub fn record(&self, us: u64) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() == LATENCY_SAMPLES {
            s.pop_front();
        }
        s.push_back(us);
    }

    /// The median of the recent batches (0 when none).
    pub fn p50_us(&self) -> u64 {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<u64> = s.iter().copied().collect();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        v[v.len() / 2]
    }
}

/// A running primary side.
#[derive(Debug, Clone)]
pub struct PrimarySide {
    /// The checkpoint engine's driver.
    pub handle: PrimaryHandle,
    /// Write-ahead latencies.
    pub latency: Arc<WriteAheadLatency>,
}

/// What a connection's writer needs to replicate its flow.
#[derive(Debug, Clone)]
pub struct FlowIo {
    /// The flow.
    pub flow: FlowId,
    /// Where write-ahead batches go.
    pub primary: PrimaryHandle,
    /// Where their latency is recorded.
    pub latency: Arc<WriteAheadLatency>,
}

/// The checkpoint engine's tuning from `[ha]`.
pub fn engine_config(ha: &HaSection) -> PrimaryConfig {
    PrimaryConfig {
        heartbeat_interval_ms: ha.heartbeat_interval_ms,
        // A standby silent for twice the failure detection time, and at least 5 s
        // (restoring a full-table checkpoint keeps it busy), is dropped; it attaches again.
        // A standby that stops acknowledging write-ahead is demoted much sooner
        // (`write_ahead_timeout_ms`), so it never holds up the sessions for that long.
        standby_timeout_ms: (2 * ha.detection_ms()).max(5000),
        write_ahead: match ha.write_ahead {
            WriteAheadPolicy::Wait => WriteAheadMode::WaitForAck,
            WriteAheadPolicy::Async => WriteAheadMode::NoWait,
        },
        ..PrimaryConfig::default()
    }
}

/// Serves the checkpoint protocol on `[ha] checkpoint_address` for `replica`.
///
/// # Errors
/// When the address cannot be bound or TLS cannot be set up.
pub async fn start(
    ha: &HaSection,
    replica: Arc<Mutex<SpeakerReplica>>,
) -> anyhow::Result<PrimarySide> {
    let addr: SocketAddr = ha
        .checkpoint_address
        .context("[ha] checkpoint_address is not set")?;
    let listener =
        bind_freebind(addr).with_context(|| format!("cannot listen for standbys on {addr}"))?;
    let config = PrimaryServerConfig {
        engine: engine_config(ha),
        tls: ha.tls.as_ref().map(HaTlsConfig::paths),
    };
    let handle = serve_primary(listener, config, replica)
        .await
        .context("cannot serve the checkpoint protocol")?;
    tracing::info!(address = %handle.local_addr(), node_id = ha.node_id, "ha: primary, serving checkpoints");
    Ok(PrimarySide {
        handle,
        latency: Arc::new(WriteAheadLatency::default()),
    })
}

/// How long a node starting as primary waits for another node to answer on a session
/// address (not time-critical: it runs once, before any session).
const START_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The session addresses of `config`: its listen addresses and the neighbours' local
/// addresses, unspecified ones left out, sorted, each once.
fn session_addresses(config: &Config) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = config
        .listen_addresses
        .iter()
        .copied()
        .chain(config.neighbors.iter().filter_map(|n| n.local_address))
        .filter(|a| !a.is_unspecified())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `addr` is an address of this host: a TCP socket binds to it without
/// IP_FREEBIND (EADDRNOTAVAIL otherwise).
fn is_local(addr: IpAddr) -> bool {
    std::net::TcpListener::bind(SocketAddr::new(addr, 0)).is_ok()
}

/// Refuses to start as primary while the sessions belong to another node (split brain,
/// DESIGN.md section 4: a primary that comes back after a failover must not take back its
/// old sessions; it rejoins as a standby). A node of `[ha] role = "primary"` that finds a
/// session address missing from this host (a fenced box comes back without it) looks
/// whether something answers on it on the BGP port: the node that took over. Either way it
/// stops with one line saying what to do, before it listens, connects or sends anything.
///
/// Not detected: a session address that is on this host *and* on another (both boxes
/// hold it; only an ARP/ND probe would tell).
///
/// # Errors
/// A session address is not on this host (the error says whether another node answers on
/// it).
pub async fn refuse_if_sessions_held(config: &Config) -> anyhow::Result<()> {
    let missing: Vec<IpAddr> = session_addresses(config)
        .into_iter()
        .filter(|a| !is_local(*a))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let answered =
        crate::ha_standby::primary_answers(&missing, config.port, START_PROBE_TIMEOUT).await;
    let what = match answered {
        Some(a) => format!(
            "another node answers on session address {a} port {}: it holds the sessions (it \
             took over)",
            config.port
        ),
        None => format!(
            "session address {} is not on this host",
            missing
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    anyhow::bail!(
        "refusing to start as primary: {what}. Start this node as a standby of the node \
         that holds the sessions ([ha] role = \"standby\", primary = \"http://ADDR:PORT\", \
         that node's checkpoint_address); once it is synchronised, `understudy switchover` \
         there gives the role back. If no node holds them, add the address first"
    )
}

/// A TCP listener that may bind an address not (yet) on this host (IP_FREEBIND): a
/// standby that took over listens on the primary's address.
pub fn bind_freebind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    set_freebind(&sock, addr.is_ipv6());
    sock.bind(addr)?;
    sock.listen(64)
}

/// Best effort IP_FREEBIND / IPV6_FREEBIND.
pub fn set_freebind(sock: &impl AsFd, v6: bool) {
    let sref = socket2::SockRef::from(sock);
    let r = if v6 {
        sref.set_freebind_v6(true)
    } else {
        sref.set_freebind_v4(true)
    };
    if let Err(e) = r {
        tracing::debug!("IP_FREEBIND: {e}");
    }
}

/// The flow of a connected socket: our address and port, the neighbour's.
pub fn flow_of(stream: &tokio::net::TcpStream) -> std::io::Result<FlowId> {
    Ok(FlowId {
        local: canonical(stream.local_addr()?),
        remote: canonical(stream.peer_addr()?),
    })
}

/// An IPv4-mapped IPv6 socket address (from a dual-stack socket) as IPv4; any other as is
/// (an IPv6 one keeps its scope id).
fn canonical(a: SocketAddr) -> SocketAddr {
    match a.ip().to_canonical() {
        IpAddr::V4(v4) => SocketAddr::new(v4.into(), a.port()),
        IpAddr::V6(_) => a,
    }
}

/// The sequence numbers of stream offset 0, from a socket peeked before anything was read
/// from or written to it: the neighbour's first data octet is the first one still queued
/// for reading (`rcv_nxt` minus the receive queue), ours is the next one to be written.
pub fn anchor_of(state: &TcpRepairState) -> SeqAnchor {
    SeqAnchor {
        peer_seq_at_zero: state.rcv_nxt.0.wrapping_sub(state.recv_queue.len() as u32),
        our_seq_at_zero: state
            .write_seq
            .0
            .wrapping_sub(state.send_queue.len() as u32),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_address_is_ipv4_and_any_other_stays_as_it_is() {
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:179".parse().unwrap();
        assert_eq!(canonical(mapped), "192.0.2.1:179".parse().unwrap());
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            179,
            0,
            7,
        ));
        assert_eq!(canonical(scoped), scoped);
        let v4: SocketAddr = "192.0.2.1:179".parse().unwrap();
        assert_eq!(canonical(v4), v4);
    }

    #[test]
    fn session_addresses_are_listen_and_local_addresses_once() {
        let config = Config::from_toml_str(
            "router_id = \"192.0.2.1\"\nlocal_as = 65000\n\
             listen_addresses = [\"192.0.2.1\", \"0.0.0.0\"]\n\
             [[neighbor]]\naddress = \"192.0.2.11\"\nremote_as = 65011\n\
             local_address = \"192.0.2.1\"\n\
             [[neighbor]]\naddress = \"2001:db8::11\"\nremote_as = 65011\n\
             local_address = \"2001:db8::1\"\n\
             [[neighbor]]\naddress = \"192.0.2.12\"\nremote_as = 65012\n",
        )
        .unwrap();
        assert_eq!(
            session_addresses(&config),
            vec![
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
        assert!(is_local("127.0.0.1".parse().unwrap()));
        // A documentation address no test host holds in its own namespace.
        assert!(!is_local("203.0.113.254".parse().unwrap()));
    }

    #[test]
    fn latency_median() {
        let l = WriteAheadLatency::default();
        assert_eq!(l.p50_us(), 0);
        for us in [50, 10, 40, 30, 20] {
            l.record(us);
        }
        assert_eq!(l.p50_us(), 30);
        for _ in 0..LATENCY_SAMPLES {
            l.record(7);
        }
        assert_eq!(l.p50_us(), 7, "old samples age out");
    }
}
