//! The checkpoint protocol over gRPC on loopback (127.0.0.1), with the toy `KvLog`
//! application: a neighbour keeps sending records to the primary while standbys are
//! introduced late, one after another and two at once (one of them responsible for one
//! flow only, with a mirror that drops records), and reach `synchronised` with matching
//! digests; write-ahead ordering; gap fill; then the primary dies and the elected standby
//! is told to take over while the other re-attaches to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ribsync::checkpoint::toy::{record, sample_static, KvLog};
use ribsync::checkpoint::{FlowId, FlowSelection, Hello, PrimaryConfig, Replicated, StandbyConfig};
use ribsync::ha::{HaAction, HaConfig, NodeId, Priority};
use ribsync::transport::{
    run_standby, serve_primary, PrimaryHandle, PrimaryServerConfig, StandbyClientConfig,
    StandbyHandle,
};
use tokio::sync::mpsc;

fn flow(n: u8) -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from(([198, 51, 100, n], 40000 + u16::from(n))),
    }
}

struct Standby {
    handle: StandbyHandle,
    actions: mpsc::UnboundedReceiver<HaAction>,
    app: Arc<Mutex<KvLog>>,
}

async fn standby(
    primary: &PrimaryHandle,
    node: u32,
    priority: u8,
    selection: FlowSelection,
) -> Standby {
    standby_with(primary, node, priority, selection, 300).await
}

async fn standby_with(
    primary: &PrimaryHandle,
    node: u32,
    priority: u8,
    selection: FlowSelection,
    mirror_silence_ms: u64,
) -> Standby {
    let app = Arc::new(Mutex::new(KvLog::default()));
    let hello = Hello {
        node: NodeId(node),
        priority: Priority(priority),
        selection,
        endpoint: format!("127.0.0.1:{}", 60000 + node),
    };
    let mut ha = HaConfig::new(NodeId(node));
    ha.priority = Priority(priority);
    ha.detector.mirror_silence_ms = mirror_silence_ms;
    let config = StandbyClientConfig {
        primary: format!("http://{}", primary.local_addr()),
        engine: StandbyConfig::default(),
        hello,
        ha,
        tls: None,
    };
    let (handle, actions) = run_standby(config, app.clone()).await.expect("standby");
    Standby {
        handle,
        actions,
        app,
    }
}

async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The neighbours' side: records on every flow, consumed by the primary and copied by the
/// mirror to the standbys (a lossy mirror drops every 7th record and reports the primary's
/// ACKs, so the standby asks for what it missed).
struct Mirror {
    taps: Mutex<Vec<(StandbyHandle, bool)>>,
}

fn spawn_neighbours(
    primary: PrimaryHandle,
    app: Arc<Mutex<KvLog>>,
    mirror: Arc<Mirror>,
    flows: Vec<FlowId>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for f in &flows {
                let bytes = record(&format!("prefix-{}", i % 64), &format!("path-{i}"));
                let offset = {
                    let mut app = app.lock().unwrap();
                    let offset = app.received(f);
                    app.feed_peer_bytes(0, f, offset, &bytes).unwrap();
                    offset
                };
                primary.on_ingress(*f, offset, bytes.clone()).unwrap();
                for (tap, lossy) in mirror.taps.lock().unwrap().iter() {
                    if !(*lossy && i % 7 == 3) {
                        tap.mirror_ingress(*f, offset, bytes.clone()).unwrap();
                    }
                    if *lossy {
                        tap.primary_ack(*f, offset + bytes.len() as u64).unwrap();
                    }
                }
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        i
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_standbys_synchronise_write_ahead_gap_fill_and_failover() {
    let flows = vec![flow(1), flow(2)];
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    for f in &flows {
        papp.lock().unwrap().open_flow(*f);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = PrimaryServerConfig {
        engine: PrimaryConfig {
            maintenance_interval_ms: 100,
            // Generous, so a loaded machine does not demote a standby mid-test.
            write_ahead_timeout_ms: 2000,
            standby_timeout_ms: 2000,
            ..Default::default()
        },
        tls: None,
    };
    let primary = serve_primary(listener, config, papp.clone()).await.unwrap();
    let mirror = Arc::new(Mirror {
        taps: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let neighbours = spawn_neighbours(
        primary.clone(),
        papp.clone(),
        mirror.clone(),
        flows.clone(),
        stop.clone(),
    );

    // The primary has been running alone for a while.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(papp.lock().unwrap().received(&flow(1)) > 0);

    // Standby 1, introduced late, while the records keep coming.
    let s1 = standby(&primary, 1, 10, FlowSelection::All).await;
    mirror.taps.lock().unwrap().push((s1.handle.clone(), false));
    let st1 = s1.handle.status();
    wait_for("standby 1 synchronised", Duration::from_secs(20), || {
        st1.borrow().synchronised
    })
    .await;

    // Standbys 2 and 3 at once; 2 backs up flow 2 only, behind a lossy mirror.
    let only_2 = FlowSelection::Neighbours([flow(2).remote.ip()].into_iter().collect());
    let (s2, s3) = tokio::join!(
        standby(&primary, 2, 5, only_2),
        standby(&primary, 3, 20, FlowSelection::All)
    );
    mirror.taps.lock().unwrap().push((s2.handle.clone(), true));
    mirror.taps.lock().unwrap().push((s3.handle.clone(), false));
    let (st2, st3) = (s2.handle.status(), s3.handle.status());
    wait_for(
        "standbys 2 and 3 synchronised",
        Duration::from_secs(20),
        || st2.borrow().synchronised && st3.borrow().synchronised,
    )
    .await;
    assert!(st1.borrow().synchronised, "standby 1 undisturbed");

    // Maintenance digests match while the primary keeps changing.
    wait_for(
        "digests matched on every standby",
        Duration::from_secs(20),
        || [&st1, &st2, &st3].iter().all(|s| s.borrow().digests.0 >= 3),
    )
    .await;
    let start = Instant::now();
    let views = loop {
        let (views, _) = primary.views().await.unwrap();
        if views.len() == 3 && views.iter().all(|v| v.digests_matched >= 3) {
            break views;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{views:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for v in &views {
        assert_eq!(v.digests_mismatched, 0, "{v:?}");
    }
    for s in [&st1, &st2, &st3] {
        assert_eq!(s.borrow().digests.1, 0, "no mismatch seen by the standby");
    }

    // Egress write-ahead: each batch is held by every synchronised standby that backs the
    // flow up before the primary may write it, in order.
    let f1 = flow(1);
    let mut sent = Vec::new();
    for i in 0..20 {
        let batch = format!("update-{i};").into_bytes();
        let offset = papp.lock().unwrap().note_sent(&f1, batch.len() as u64);
        primary
            .write_ahead(f1, offset, batch.clone())
            .await
            .unwrap();
        sent.extend_from_slice(&batch);
        for s in [&s1, &s3] {
            let backlog = s.handle.egress_backlog(f1).await.unwrap().expect("flow");
            assert_eq!(backlog.offset, 0);
            assert_eq!(backlog.bytes, sent, "standby holds every batch, in order");
            assert!(backlog.complete);
        }
    }
    let s2_backlog = s2.handle.egress_backlog(f1).await.unwrap();
    assert!(
        s2_backlog.is_none_or(|b| b.bytes.is_empty()),
        "flow 1 is not standby 2's"
    );
    // The neighbour acknowledges part of it: the standby drops what is acknowledged.
    s1.handle.peer_ack(f1, 30).unwrap();
    let backlog = s1.handle.egress_backlog(f1).await.unwrap().unwrap();
    assert_eq!((backlog.offset, &backlog.bytes[..]), (30, &sent[30..]));
    let (views, _) = primary.views().await.unwrap();
    for v in views.iter().filter(|v| v.node != NodeId(2)) {
        assert!(v.write_ahead.count >= 20, "{v:?}");
    }

    // Quiesce: every standby ends with the primary's state, standby 2 only thanks to gap
    // fill (its mirror dropped one record in seven).
    stop.store(true, Ordering::Relaxed);
    let records = neighbours.await.unwrap();
    assert!(
        records > 100,
        "the primary kept changing ({records} rounds)"
    );
    let digest_of = |app: &Arc<Mutex<KvLog>>, f: &FlowId| app.lock().unwrap().flow_digest(f);
    wait_for(
        "standby digests equal the primary's",
        Duration::from_secs(20),
        || {
            flows.iter().all(|f| {
                digest_of(&s1.app, f) == digest_of(&papp, f)
                    && digest_of(&s3.app, f) == digest_of(&papp, f)
            }) && digest_of(&s2.app, &flow(2)) == digest_of(&papp, &flow(2))
        },
    )
    .await;
    assert_eq!(
        s1.app.lock().unwrap().state_digest(),
        papp.lock().unwrap().state_digest()
    );
    assert_eq!(
        s3.app.lock().unwrap().state_digest(),
        papp.lock().unwrap().state_digest()
    );
    assert_eq!(s2.app.lock().unwrap().flows(), vec![flow(2)]);
    assert_eq!(s2.app.lock().unwrap().static_context(), &sample_static());
    let (_, fviews) = primary.views().await.unwrap();
    let f2 = fviews.iter().find(|v| v.flow == flow(2)).unwrap();
    assert_eq!(
        f2.protected_by,
        vec![NodeId(1), NodeId(2), NodeId(3)],
        "{f2:?}"
    );
    for v in s2.handle.flow_views().await.unwrap() {
        assert_eq!(v.unprotected, None);
    }
    wait_for(
        "rosters name all three synchronised",
        Duration::from_secs(5),
        || {
            let r = st1.borrow().roster.clone();
            r.len() == 3 && r.iter().all(|e| e.synchronised)
        },
    )
    .await;

    // The primary dies: no heartbeats, no mirror traffic. Standby 3 (priority 20) takes
    // over; 1 and 2 re-attach to it.
    let died = Instant::now();
    primary.shutdown();
    let mut s3 = s3;
    let action = tokio::time::timeout(Duration::from_secs(5), s3.actions.recv())
        .await
        .expect("standby 3 acts")
        .expect("action");
    assert!(matches!(action, HaAction::TakeOver { .. }), "{action:?}");
    let detected = died.elapsed();
    assert!(
        detected >= Duration::from_millis(200),
        "not before the heartbeats stop: {detected:?}"
    );
    for mut s in [s1, s2] {
        let action = tokio::time::timeout(Duration::from_secs(5), s.actions.recv())
            .await
            .expect("acts")
            .expect("action");
        assert_eq!(
            action,
            HaAction::AttachTo {
                node: NodeId(3),
                endpoint: "127.0.0.1:60003".into()
            }
        );
    }
}

/// The tap path by sequence numbers: the mirror reports raw TCP sequence and
/// acknowledgement numbers (crossing the 2^32 wrap), the standby holds them until the
/// checkpoint brings the flow's anchor, then follows at stream offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_by_sequence_numbers_across_the_wrap() {
    let f = flow(7);
    let anchor = ribsync::checkpoint::SeqAnchor {
        peer_seq_at_zero: 0xffff_f000,
        our_seq_at_zero: 77,
    };
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(f);
    papp.lock().unwrap().set_anchor(f, anchor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let primary = serve_primary(listener, PrimaryServerConfig::default(), papp.clone())
        .await
        .unwrap();
    let s = standby(&primary, 1, 1, FlowSelection::All).await;
    let status = s.handle.status();
    let send = |i: u64| {
        let bytes = record(&format!("k{}", i % 10), &format!("{i:0>40}"));
        let offset = {
            let mut app = papp.lock().unwrap();
            let offset = app.received(&f);
            app.feed_peer_bytes(0, &f, offset, &bytes).unwrap();
            offset
        };
        primary.on_ingress(f, offset, bytes.clone()).unwrap();
        let seq = anchor.peer_seq_at_zero.wrapping_add(offset as u32);
        s.handle.mirror_data(f, false, seq, bytes.clone()).unwrap();
        let ack = seq.wrapping_add(bytes.len() as u32);
        s.handle.mirror_ack(f, true, ack).unwrap();
    };
    for i in 0..200 {
        send(i);
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    wait_for("synchronised", Duration::from_secs(20), || {
        status.borrow().synchronised
    })
    .await;
    for i in 200..400 {
        send(i);
    }
    let received = papp.lock().unwrap().received(&f);
    assert!(received > 0x1000, "crossed the wrap ({received} octets)");
    wait_for("digests equal", Duration::from_secs(20), || {
        s.app.lock().unwrap().flow_digest(&f) == papp.lock().unwrap().flow_digest(&f)
    })
    .await;
    assert_eq!(
        s.app.lock().unwrap().get(&f, "k9").as_deref(),
        Some(&*format!("{:0>40}", 399))
    );
    primary.shutdown();
}

/// Split brain guard: the checkpoint channel dies but the primary is still on the mirror,
/// so the standby does not take over; once the mirror goes quiet too, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_loss_alone_does_not_make_two_writers() {
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(flow(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let primary = serve_primary(listener, PrimaryServerConfig::default(), papp.clone())
        .await
        .unwrap();
    // A generous mirror silence so that a loaded machine's scheduling hiccup between two
    // frames is not taken for silence.
    let mut s = standby_with(&primary, 1, 1, FlowSelection::All, 1000).await;
    let status = s.handle.status();
    wait_for("synchronised", Duration::from_secs(20), || {
        status.borrow().synchronised
    })
    .await;
    // The primary keeps sending on the mirror (the tap reports its frames), but its
    // checkpoint channel is gone.
    primary.shutdown();
    let cut = Instant::now();
    while cut.elapsed() < Duration::from_millis(1200) {
        s.handle.primary_frame_seen().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = status.borrow().clone();
    assert!(!st.connected, "{st:?}");
    assert_eq!(
        st.role,
        ribsync::ha::HaRole::Standby {
            synchronised: true,
            channel_lost: true
        }
    );
    assert!(
        s.actions.try_recv().is_err(),
        "no takeover while the primary is on the mirror"
    );
    // The mirror goes quiet: 1000 ms later the standby takes over.
    let quiet = Instant::now();
    let action = tokio::time::timeout(Duration::from_secs(5), s.actions.recv())
        .await
        .expect("acts")
        .expect("action");
    assert!(matches!(action, HaAction::TakeOver { .. }), "{action:?}");
    assert!(
        quiet.elapsed() >= Duration::from_millis(250),
        "{:?}",
        quiet.elapsed()
    );
}

/// A flow checkpoint larger than gRPC's default 4 MiB message limit (a full routing table
/// is tens of megabytes) still reaches the standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_larger_than_four_mebibytes_synchronises() {
    let f = flow(1);
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    let value = "x".repeat(60_000);
    {
        let mut app = papp.lock().unwrap();
        app.open_flow(f);
        for i in 0..100 {
            let r = record(&format!("k{i}"), &value);
            let offset = app.received(&f);
            app.feed_peer_bytes(0, &f, offset, &r).unwrap();
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = PrimaryServerConfig {
        engine: PrimaryConfig {
            // Generous: a debug build takes a while to encode and restore 6 MB.
            standby_timeout_ms: 5000,
            write_ahead_timeout_ms: 5000,
            ..Default::default()
        },
        tls: None,
    };
    let primary = serve_primary(listener, config, papp.clone()).await.unwrap();
    // Default failure detection (300 ms): the restore blocks the standby's driver longer
    // than that in a debug build; the heartbeats queued meanwhile must count.
    let s = standby(&primary, 1, 10, FlowSelection::All).await;
    let st = s.handle.status();
    let start = Instant::now();
    while !st.borrow().synchronised {
        if start.elapsed() > Duration::from_secs(30) {
            let views = primary.views().await;
            panic!("not synchronised: {:?}; primary: {views:?}", *st.borrow());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.app.lock().unwrap().get(&f, "k99").map(|v| v.len()),
        Some(60_000)
    );
    assert_eq!(
        s.app.lock().unwrap().flow_digest(&f),
        papp.lock().unwrap().flow_digest(&f)
    );
}

/// Planned switchover over gRPC: the primary's `Handover` reaches every attached standby
/// after what was queued before it; the target takes over at once and can read the
/// handover (the sessions' TCP states), the other standby attaches to the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_makes_its_target_take_over_and_the_other_standby_follow_it() {
    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(flow(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let primary = serve_primary(listener, PrimaryServerConfig::default(), papp.clone())
        .await
        .unwrap();
    // Mirror silence long enough that nothing but the handover makes anyone act.
    let mut target = standby_with(&primary, 2, 20, FlowSelection::All, 60_000).await;
    let mut other = standby_with(&primary, 3, 10, FlowSelection::All, 60_000).await;
    let start = Instant::now();
    loop {
        let (views, _) = primary.views().await.unwrap();
        if views.len() == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "both standbys attached: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(target.handle.handover(), None);

    let handover = ribsync::transport::Handover {
        node: NodeId(2),
        endpoint: "127.0.0.1:60002".to_string(),
        tcp: vec![],
    };
    assert_eq!(primary.hand_over(handover.clone()).await.unwrap(), 2);

    let action = tokio::time::timeout(Duration::from_secs(10), target.actions.recv())
        .await
        .expect("the target acts on the handover")
        .expect("action");
    assert!(matches!(action, HaAction::TakeOver { .. }), "{action:?}");
    assert_eq!(target.handle.handover(), Some(handover));
    let action = tokio::time::timeout(Duration::from_secs(10), other.actions.recv())
        .await
        .expect("the other standby acts on the handover")
        .expect("action");
    assert_eq!(
        action,
        HaAction::AttachTo {
            node: NodeId(2),
            endpoint: "127.0.0.1:60002".to_string()
        }
    );
    assert_eq!(other.handle.handover().map(|h| h.node), Some(NodeId(2)));
}
