//! Issue 6 benchmarks, in-process over loopback gRPC (`ribsync::transport`), with the
//! generated table of 1,000,000 IPv4 prefixes and 300,000 attribute sets (`gen`):
//!
//! (a) the time for a standby introduced late to a primary holding the table to report
//!     `synchronised` (target at most 5 s), from `run_standby` to the status flip, and until
//!     its Loc-RIB holds the table;
//! (b) the primary's ingest rate (the table fed to a fresh primary over one session, in
//!     64 KiB socket reads) with one synchronised standby fed by the mirror, against none,
//!     in the same run (target a ratio of at least 0.9);
//! (c) the latency egress write-ahead adds (`PrimaryHandle::write_ahead` in `wait` mode,
//!     until the synchronised standby holds the batch), p50 and p99 over 2,000 batches of
//!     4 KiB and of one KEEPALIVE (target p99 at most 1 ms on the lab's links; here the
//!     link is loopback).
//!
//! Both nodes and the neighbour share this process (and the machine's cores): the figures
//! are an upper bound on the cost of replication.
//!
//! `cargo bench -p bgpd --bench standby_sync`

mod gen;
#[path = "../tests/harness/replica.rs"]
mod replica;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgpd::config::Config;
use bgpd::replica::SpeakerReplica;
use bgpd::speaker::Speaker;
use bgpd::time::Millis;
use ribsync::checkpoint::{
    FlowSelection, Hello, PrimaryConfig, Replicated, StandbyConfig, WriteAheadMode,
};
use ribsync::ha::{HaConfig, NodeId, Priority};
use ribsync::transport::{
    run_standby, serve_primary, PrimaryHandle, PrimaryServerConfig, StandbyClientConfig,
    StandbyHandle,
};

use replica::{flow, lock, CONFIG};

const PREFIXES: usize = 1_000_000;
const READ: usize = 64 * 1024;

/// A primary whose session with the neighbour is Established (no route yet).
fn primary() -> Arc<Mutex<SpeakerReplica>> {
    let config = Config::from_toml_str(CONFIG).expect("config");
    Arc::new(Mutex::new(replica::established(config, unix_ms())))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn serve(app: Arc<Mutex<SpeakerReplica>>) -> PrimaryHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = PrimaryServerConfig {
        engine: PrimaryConfig {
            maintenance_interval_ms: 1000,
            write_ahead: WriteAheadMode::WaitForAck,
            write_ahead_timeout_ms: 30_000,
            standby_timeout_ms: 30_000,
            ..Default::default()
        },
        tls: None,
    };
    serve_primary(listener, config, app).await.expect("serve")
}

/// A standby node attached to `primary`: its handle, its application, and its HA actions
/// (kept, so the engine keeps running).
type Node = (
    StandbyHandle,
    Arc<Mutex<SpeakerReplica>>,
    tokio::sync::mpsc::UnboundedReceiver<ribsync::ha::HaAction>,
);

async fn standby(primary: &PrimaryHandle, node: u32) -> Node {
    let other =
        Config::from_toml_str("router_id = \"198.51.100.9\"\nlocal_as = 64999\n").expect("config");
    let app = Arc::new(Mutex::new(SpeakerReplica::new(
        Speaker::new(Millis(0), other, 1).expect("speaker"),
        1,
        0,
    )));
    let mut ha = HaConfig::new(NodeId(node));
    ha.priority = Priority(10);
    ha.detector.mirror_silence_ms = 60_000;
    let config = StandbyClientConfig {
        primary: format!("http://{}", primary.local_addr()),
        engine: StandbyConfig::default(),
        hello: Hello {
            node: NodeId(node),
            priority: Priority(10),
            selection: FlowSelection::All,
            endpoint: format!("127.0.0.1:{}", 61_000 + node),
        },
        ha,
        tls: None,
    };
    lock(&app).set_feed_clock_origin(unix_ms());
    let (handle, actions) = run_standby(config, app.clone()).await.expect("standby");
    lock(&app).set_feed_clock_origin(unix_ms());
    (handle, app, actions)
}

async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// Feeds the table to `app` in socket-sized reads, each handed to the replication engine
/// and the mirror when given; returns the wall time.
fn ingest(
    app: &Arc<Mutex<SpeakerReplica>>,
    stream: &[u8],
    primary: Option<&PrimaryHandle>,
    mirror: Option<&StandbyHandle>,
) -> Duration {
    let start = Instant::now();
    let base = lock(app).received(&flow()).expect("flow");
    for (i, chunk) in stream.chunks(READ).enumerate() {
        let offset = base + (i * READ) as u64;
        {
            let mut a = lock(app);
            let now = Millis(2 + i as u64);
            a.receive(now, &flow(), chunk).expect("receive");
            a.drain_outputs();
        }
        if let Some(p) = primary {
            p.on_ingress(flow(), offset, chunk.to_vec())
                .expect("on_ingress");
        }
        if let Some(m) = mirror {
            m.mirror_ingress(flow(), offset, chunk.to_vec())
                .expect("mirror");
        }
    }
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("standby_sync: bench");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (msgs, n) = gen::internet_table(PREFIXES, 300_000);
    let stream: Vec<u8> = msgs.concat();
    println!(
        "table: {n} prefixes in {} UPDATEs, {} octets",
        msgs.len(),
        stream.len()
    );
    rt.block_on(async {
        // (b) first half: a primary alone.
        let alone = primary();
        let t_alone = ingest(&alone, &stream, None, None);
        let loc = lock(&alone).speaker().rib().stats().loc_rib;
        assert_eq!(loc, n);
        let rate_alone = n as f64 / t_alone.as_secs_f64();
        println!(
            "ingest, no standby: {n} prefixes in {:.3} s = {:.0} prefixes/s",
            t_alone.as_secs_f64(),
            rate_alone
        );

        // (a) a standby introduced late to that primary.
        let server = serve(alone.clone()).await;
        let start = Instant::now();
        let (s1, s1_app, _a1) = standby(&server, 1).await;
        let st = s1.status();
        wait_for("synchronised", Duration::from_secs(300), || {
            st.borrow().synchronised
        })
        .await;
        let t_sync = start.elapsed();
        let loc_sb = lock(&s1_app).speaker().rib().stats().loc_rib;
        assert_eq!(loc_sb, n, "the standby holds the table when synchronised");
        assert_eq!(
            lock(&s1_app).state_digest(),
            lock(&alone).state_digest(),
            "digests equal"
        );
        println!(
            "late standby synchronised with {n} routes in {:.3} s (target <= 5 s)",
            t_sync.as_secs_f64()
        );
        drop(s1);
        drop(server);

        // (b) second half: a fresh primary with one synchronised standby, mirror fed.
        let with = primary();
        let server = serve(with.clone()).await;
        let (s2, s2_app, _a2) = standby(&server, 2).await;
        let st = s2.status();
        wait_for("synchronised (empty)", Duration::from_secs(60), || {
            st.borrow().synchronised
        })
        .await;
        let t_with = ingest(&with, &stream, Some(&server), Some(&s2));
        let rate_with = n as f64 / t_with.as_secs_f64();
        println!(
            "ingest, one synchronised standby: {n} prefixes in {:.3} s = {:.0} prefixes/s",
            t_with.as_secs_f64(),
            rate_with
        );
        println!(
            "ratio with/without standby: {:.3} (target >= 0.9)",
            rate_with / rate_alone
        );
        let end = lock(&with).received(&flow());
        let lag = wait_for("standby caught up", Duration::from_secs(300), || {
            lock(&s2_app).received(&flow()) == end
        })
        .await;
        println!(
            "standby caught up {:.3} s after the primary's last read",
            lag.as_secs_f64()
        );
        assert_eq!(
            lock(&s2_app).state_digest(),
            lock(&with).state_digest(),
            "digests equal after the table"
        );

        // (c) write-ahead latency with that synchronised standby.
        wait_for(
            "synchronised (after the table)",
            Duration::from_secs(60),
            || st.borrow().synchronised,
        )
        .await;
        let mut offset = lock(&with)
            .flow_offsets(&flow())
            .map_or(0, |o| o.sent_to_peer);
        for (what, len) in [("4 KiB batch", 4096), ("KEEPALIVE", 19)] {
            let batch = vec![0xffu8; len];
            let mut us: Vec<f64> = Vec::with_capacity(2_000);
            for _ in 0..2_000 {
                let t = Instant::now();
                server
                    .write_ahead(flow(), offset, batch.clone())
                    .await
                    .expect("write-ahead");
                us.push(t.elapsed().as_secs_f64() * 1e6);
                offset += len as u64;
            }
            us.sort_by(f64::total_cmp);
            let at = |q: f64| us[((us.len() as f64 * q) as usize).min(us.len() - 1)];
            println!(
                "write-ahead added latency, {what}: p50 {:.0} us, p99 {:.0} us, max {:.0} us \
                 (target p99 <= 1000 us)",
                at(0.50),
                at(0.99),
                at(1.0)
            );
        }
        assert!(st.borrow().synchronised, "still synchronised");
    });
}
