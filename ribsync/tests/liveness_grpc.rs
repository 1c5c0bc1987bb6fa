//! A busy node is not a dead one (issue 7, "Detection and selection"; issue 6, "Heartbeats
//! both ways"): over gRPC on loopback with the toy `KvLog` application, first the
//! primary's and then the standby's application holds its lock for five times the
//! detection time, the way bgpd's does while it ingests a full table: on one of the
//! runtime's two workers, with a second task blocked on the lock on the other worker. The
//! heartbeats must keep flowing both ways meanwhile: the standby declares nothing, the
//! primary keeps the standby, and both still agree afterwards. A primary that really
//! stops is still declared failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ribsync::checkpoint::toy::{record, sample_static, KvLog};
use ribsync::checkpoint::{
    FlowId, FlowSelection, Hello, PrimaryConfig, PrimaryEvent, Replicated, StandbyConfig, SyncState,
};
use ribsync::ha::{HaAction, HaConfig, HaRole, NodeId, Priority};
use ribsync::transport::{run_standby, serve_primary, PrimaryServerConfig, StandbyClientConfig};

/// Five times the default detection time (3 x 100 ms).
const BUSY: Duration = Duration::from_millis(1500);

fn flow() -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from(([198, 51, 100, 7], 40007)),
    }
}

/// The standby's configuration: node `ha.node`, priority 1, every flow, its checkpoint
/// endpoint on loopback `port`, no TLS.
fn client_config(primary: SocketAddr, port: u16, ha: HaConfig) -> StandbyClientConfig {
    StandbyClientConfig {
        primary: format!("http://{primary}"),
        engine: StandbyConfig::default(),
        hello: Hello {
            node: ha.node,
            priority: Priority(1),
            selection: FlowSelection::All,
            endpoint: format!("127.0.0.1:{port}"),
        },
        ha,
        tls: None,
    }
}

async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The application busy for `hold` the way bgpd's is: one task holds its lock on a tokio
/// worker (ingesting), a second task waits for the lock on the other worker (the core
/// loop), so this runtime runs nothing else meanwhile. Returns when both are done.
async fn busy<A: Send + 'static>(app: Arc<Mutex<A>>, hold: Duration) {
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let holder = {
        let app = app.clone();
        tokio::spawn(async move {
            let _guard = app.lock().unwrap();
            let _ = held_tx.send(());
            std::thread::sleep(hold);
        })
    };
    held_rx.await.unwrap();
    let waiter = tokio::spawn(async move {
        drop(app.lock().unwrap());
    });
    holder.await.unwrap();
    waiter.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_applications_keep_the_heartbeats_flowing_both_ways() {
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(flow());
    for i in 0..100 {
        let bytes = record(&format!("prefix-{i}"), &format!("path-{i}"));
        let mut app = papp.lock().unwrap();
        let offset = app.received(&flow());
        app.feed_peer_bytes(0, &flow(), offset, &bytes).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = PrimaryServerConfig {
        engine: PrimaryConfig {
            maintenance_interval_ms: 100,
            // The standby counts as lost after the same 3 x 100 ms as the primary.
            heartbeat_interval_ms: 100,
            standby_timeout_ms: 300,
            ..Default::default()
        },
        tls: None,
    };
    let primary = serve_primary(listener, config, papp.clone()).await.unwrap();
    let mut events = primary.subscribe();

    let sapp = Arc::new(Mutex::new(KvLog::default()));
    let node = NodeId(1);
    let mut ha = HaConfig::new(node);
    ha.priority = Priority(1);
    assert_eq!(
        ha.detector.heartbeat_timeout_ms(),
        300,
        "the default detection"
    );
    let (handle, mut actions) =
        run_standby(client_config(primary.local_addr(), 60001, ha), sapp.clone())
            .await
            .unwrap();
    let status = handle.status();
    wait_for("synchronised", Duration::from_secs(20), || {
        status.borrow().synchronised
    })
    .await;
    assert_eq!(
        sapp.lock().unwrap().flow_digest(&flow()),
        papp.lock().unwrap().flow_digest(&flow())
    );

    for (who, app) in [("primary", &papp), ("standby", &sapp)] {
        busy(app.clone(), BUSY).await;
        // Two more maintenance digests compared after the lock came free: the standby's
        // driver has run its failure detector since, on what arrived meanwhile (or it
        // left the standby role, or lost its stream: asserted next).
        let before = status.borrow().digests.0;
        wait_for(
            &format!("digests after the busy {who}"),
            Duration::from_secs(10),
            || {
                let st = status.borrow();
                st.digests.0 >= before + 2
                    || !st.connected
                    || !matches!(st.role, HaRole::Standby { .. })
            },
        )
        .await;
        let st = status.borrow().clone();
        assert!(st.connected, "busy {who}: {st:?}");
        assert_eq!(
            st.role,
            HaRole::Standby {
                synchronised: true,
                channel_lost: false
            },
            "busy {who}: {st:?}"
        );
        assert!(
            actions.try_recv().is_err(),
            "busy {who}: the standby declared a live primary failed"
        );
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(
                    event,
                    PrimaryEvent::StandbyLost { .. } | PrimaryEvent::StandbyDemoted { .. }
                ),
                "busy {who}: the primary dropped a live standby: {event:?}"
            );
        }
        let (views, _) = primary.views().await.unwrap();
        assert_eq!(views.len(), 1, "busy {who}: {views:?}");
        assert_eq!(views[0].sync, SyncState::Synchronised, "busy {who}");
    }

    // A primary that really stops (checkpoint stream gone, nothing on the mirror) is
    // still declared failed.
    primary.shutdown();
    let action = tokio::time::timeout(Duration::from_secs(10), actions.recv())
        .await
        .expect("the standby acts on a dead primary")
        .expect("action");
    assert!(matches!(action, HaAction::TakeOver { .. }), "{action:?}");
}

/// The standby's application lock held for [`BUSY`] by another thread (bgpd's core digests
/// or restores a full table under it), and its driver stuck behind it feeding a neighbour's
/// message from the mirror, while the primary writes ahead: each batch is acknowledged on
/// receipt, so the primary's writes are released by the standby (not by its 100 ms
/// time-out, which would demote it and checkpoint every flow again), and once the lock is
/// free the standby's engine holds every octet for a takeover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_standby_acknowledges_write_ahead_and_stays_synchronised() {
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(flow());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = PrimaryServerConfig {
        engine: PrimaryConfig::default(),
        tls: None,
    };
    assert_eq!(config.engine.write_ahead_timeout_ms, 100);
    let primary = serve_primary(listener, config, papp.clone()).await.unwrap();
    let mut events = primary.subscribe();
    let sapp = Arc::new(Mutex::new(KvLog::default()));
    let node = NodeId(1);
    let (handle, _actions) = run_standby(
        client_config(primary.local_addr(), 60002, HaConfig::new(node)),
        sapp.clone(),
    )
    .await
    .unwrap();
    let status = handle.status();
    wait_for("synchronised", Duration::from_secs(20), || {
        status.borrow().synchronised
    })
    .await;
    let (views, _) = primary.views().await.unwrap();
    assert_eq!(views[0].sync, SyncState::Synchronised);

    // The standby's application is busy on a thread of its own.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = {
        let sapp = sapp.clone();
        std::thread::spawn(move || {
            let _guard = sapp.lock().unwrap();
            held_tx.send(()).unwrap();
            std::thread::sleep(BUSY);
        })
    };
    held_rx.recv().unwrap();
    // A neighbour's message, received by the primary and seen on the mirror: the
    // standby's driver waits for the lock to feed it.
    let bytes = record("busy", "path");
    let at = {
        let mut app = papp.lock().unwrap();
        let at = app.received(&flow());
        app.feed_peer_bytes(0, &flow(), at, &bytes).unwrap();
        at
    };
    primary.on_ingress(flow(), at, bytes.clone()).unwrap();
    handle.mirror_ingress(flow(), at, bytes).unwrap();
    let start = papp
        .lock()
        .unwrap()
        .flow_offsets(&flow())
        .unwrap()
        .sent_to_peer;
    let mut offset = start;
    let mut written = Vec::new();
    for i in 0..5u8 {
        let batch = vec![i; 100];
        primary
            .write_ahead(flow(), offset, batch.clone())
            .await
            .unwrap();
        offset += batch.len() as u64;
        written.extend(batch);
    }
    assert!(
        !holder.is_finished(),
        "the batches went out while the standby's application was still busy"
    );
    holder.join().unwrap();
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(
                event,
                PrimaryEvent::StandbyLost { .. } | PrimaryEvent::StandbyDemoted { .. }
            ),
            "the primary dropped a busy standby: {event:?}"
        );
    }
    let (views, _) = primary.views().await.unwrap();
    assert_eq!(views[0].sync, SyncState::Synchronised);
    assert_eq!(
        status.borrow().role,
        HaRole::Standby {
            synchronised: true,
            channel_lost: false
        }
    );
    // Every octet written ahead is held for a takeover (the neighbour acknowledged none).
    let taken = handle.takeover_views().await.unwrap();
    let (view, backlog) = taken
        .iter()
        .find(|(v, _)| v.flow == flow())
        .expect("the flow");
    assert!(view.restored);
    assert_eq!(backlog.offset, start);
    assert_eq!(backlog.bytes, written);
    assert!(backlog.complete);
    assert_eq!(view.fed_to, at + record("busy", "path").len() as u64);
    assert_eq!(
        sapp.lock().unwrap().flow_digest(&flow()),
        papp.lock().unwrap().flow_digest(&flow())
    );
    primary.shutdown();
}
