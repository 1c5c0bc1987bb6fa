//! The checkpoint channel with mutual TLS on loopback: certificates made by the `openssl`
//! command in a temporary directory (skipped when it is missing). A standby with a
//! certificate from the right CA synchronises; one from another CA is refused.

#![cfg(feature = "mtls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ribsync::checkpoint::toy::{record, sample_static, KvLog};
use ribsync::checkpoint::{FlowId, FlowSelection, Hello, Replicated, StandbyConfig};
use ribsync::ha::{HaConfig, NodeId, Priority};
use ribsync::transport::{
    run_standby, serve_primary, PrimaryServerConfig, StandbyClientConfig, TlsPaths,
};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `ca` and a leaf `name` signed by it with subjectAltName `san`.
fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_leaf(dir: &Path, ca: &str, name: &str, san: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

fn paths(dir: &Path, ca: &str, name: &str) -> TlsPaths {
    TlsPaths {
        ca: dir.join(format!("{ca}.pem")),
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
        server_name: "understudy-primary".into(),
    }
}

fn flow() -> FlowId {
    FlowId {
        local: SocketAddr::from(([192, 0, 2, 1], 179)),
        remote: SocketAddr::from(([198, 51, 100, 2], 40002)),
    }
}

fn standby_config(addr: SocketAddr, node: u32, tls: TlsPaths) -> StandbyClientConfig {
    StandbyClientConfig {
        primary: format!("https://{addr}"),
        engine: StandbyConfig::default(),
        hello: Hello {
            node: NodeId(node),
            priority: Priority(1),
            selection: FlowSelection::All,
            endpoint: String::new(),
        },
        ha: HaConfig::new(NodeId(node)),
        tls: Some(tls),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_the_right_ca_only() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no openssl command");
        return;
    }
    let dir = TempDir(std::env::temp_dir().join(format!("ribsync-tls-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let d = dir.0.as_path();
    make_ca(d, "ca");
    make_ca(d, "rogue-ca");
    make_leaf(d, "ca", "primary", "DNS:understudy-primary");
    make_leaf(d, "ca", "standby", "DNS:understudy-standby");
    make_leaf(d, "rogue-ca", "intruder", "DNS:understudy-standby");

    let papp = Arc::new(Mutex::new(KvLog::new(sample_static())));
    papp.lock().unwrap().open_flow(flow());
    let bytes = record("10.0.0.0/8", "via 192.0.2.9");
    papp.lock()
        .unwrap()
        .feed_peer_bytes(0, &flow(), 0, &bytes)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = PrimaryServerConfig {
        engine: Default::default(),
        tls: Some(paths(d, "ca", "primary")),
    };
    let primary = serve_primary(listener, config, papp.clone()).await.unwrap();
    let addr = primary.local_addr();

    let sapp = Arc::new(Mutex::new(KvLog::default()));
    let (handle, _actions) = run_standby(
        standby_config(addr, 1, paths(d, "ca", "standby")),
        sapp.clone(),
    )
    .await
    .expect("standby with the right CA connects");
    let status = handle.status();
    let start = Instant::now();
    while !status.borrow().synchronised {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not synchronised over TLS"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        sapp.lock().unwrap().flow_digest(&flow()),
        papp.lock().unwrap().flow_digest(&flow())
    );

    let iapp = Arc::new(Mutex::new(KvLog::default()));
    let intruder = run_standby(
        standby_config(addr, 2, paths(d, "rogue-ca", "intruder")),
        iapp.clone(),
    )
    .await;
    match intruder {
        Err(_) => {}
        Ok((h, _)) => {
            // The handshake may fail only once the stream is used: it must never sync.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let st = h.status().borrow().clone();
            assert!(
                !st.synchronised && iapp.lock().unwrap().flows().is_empty(),
                "{st:?}"
            );
        }
    }
    let (views, _) = primary.views().await.unwrap();
    assert_eq!(
        views.iter().map(|v| v.node).collect::<Vec<_>>(),
        vec![NodeId(1)]
    );
    primary.shutdown();
}
