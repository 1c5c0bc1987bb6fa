//! mTLS of the checkpoint channel as the daemon configures it (`[ha] tls = { ca, cert, key }`,
//! `HaTlsConfig::paths`), end to end over loopback gRPC: a primary and a standby whose
//! certificates one CA signed synchronise; a standby trusting another CA is refused with
//! a message that names the certificate; `--check-config` refuses TLS files that do not
//! exist or do not parse, naming the field and its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgpd::config::{Config, ConfigError};
use bgpd::replica::SpeakerReplica;
use bgpd::speaker::Speaker;
use bgpd::time::Millis;
use bgpd::wire::SessionContext;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use ribsync::checkpoint::{FlowSelection, Hello, PrimaryConfig, Replicated, StandbyConfig};
use ribsync::ha::{HaConfig, NodeId, Priority};
use ribsync::transport::{
    describe, run_standby, serve_primary, PrimaryServerConfig, StandbyClientConfig,
};

#[path = "harness/replica.rs"]
mod replica;
use replica::{flow, lock, CONFIG as BASE};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ussy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA (certificate PEM, and what signs with it).
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A node certificate for `name` signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes a node's TLS files; returns the `tls = { ... }` line of its `[ha]`.
fn tls_line(dir: &Scratch, node: &str, ca: &Ca, signer: &Ca, name: &str) -> String {
    let (cert, key) = leaf(signer, name);
    let ca = dir.write(&format!("{node}-ca.pem"), &ca.pem);
    let cert = dir.write(&format!("{node}-cert.pem"), &cert);
    let key = dir.write(&format!("{node}-key.pem"), &key);
    format!("tls = {{ ca = \"{ca}\", cert = \"{cert}\", key = \"{key}\" }}\n")
}

/// Parses like `bgpd` and `--check-config` do (files checked).
fn load(src: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_warnings(src).map(|(c, _)| c)
}

/// A primary replica with its neighbour Established and 2,000 routes from it.
fn primary_replica(config: Config) -> Arc<Mutex<SpeakerReplica>> {
    let mut r = replica::established(config, 0);
    let ctx = SessionContext {
        ibgp: false,
        ..SessionContext::modern()
    };
    let table =
        bgpd::tablegen::internet_table(&bgpd::tablegen::TableSpec::new(2_000, 200), &ctx).unwrap();
    r.receive(Millis(1), &flow(), &table.messages.concat())
        .unwrap();
    r.drain_outputs();
    assert_eq!(r.speaker().rib().stats().loc_rib, 2_000);
    Arc::new(Mutex::new(r))
}

fn standby_client(config: &Config, node: u32) -> StandbyClientConfig {
    let ha = config.ha.clone().expect("[ha]");
    StandbyClientConfig {
        primary: ha.primary.clone().expect("primary"),
        engine: StandbyConfig::default(),
        hello: Hello {
            node: NodeId(node),
            priority: Priority(10),
            selection: FlowSelection::All,
            endpoint: String::new(),
        },
        ha: {
            let mut h = HaConfig::new(NodeId(node));
            h.detector.mirror_silence_ms = 60_000;
            h
        },
        tls: ha.tls.as_ref().map(|t| t.paths()),
    }
}

fn standby_app() -> Arc<Mutex<SpeakerReplica>> {
    let other = Config::from_toml_str("router_id = \"198.51.100.9\"\nlocal_as = 64999\n").unwrap();
    Arc::new(Mutex::new(SpeakerReplica::new(
        Speaker::new(Millis(0), other, 1).unwrap(),
        1,
        0,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_and_standby_synchronise_over_mtls_and_a_foreign_ca_is_refused() {
    let dir = Scratch::new("ha-tls");
    let ca1 = ca("understudy test CA");
    let ca2 = ca("some other CA");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let primary_src = format!(
        "{BASE}[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:{port}\"\n{}",
        tls_line(&dir, "primary", &ca1, &ca1, "understudy-primary")
    );
    let primary_cfg = load(&primary_src).expect("the primary's configuration");
    let app = primary_replica(primary_cfg.clone());
    let server = serve_primary(
        listener,
        PrimaryServerConfig {
            engine: PrimaryConfig {
                standby_timeout_ms: 30_000,
                ..Default::default()
            },
            tls: primary_cfg
                .ha
                .as_ref()
                .and_then(|h| h.tls.as_ref())
                .map(|t| t.paths()),
        },
        app.clone(),
    )
    .await
    .expect("serves over TLS");

    let standby_src = |tls: String| {
        format!(
            "{BASE}[ha]\nrole = \"standby\"\nnode_id = 2\nprimary = \"https://127.0.0.1:{port}\"\n\
             mirror_interface = \"mon0\"\nsession_interface = \"eth0\"\n{tls}"
        )
    };

    // One CA signed both: the standby attaches, is checkpointed and synchronises.
    let good = load(&standby_src(tls_line(
        &dir,
        "standby",
        &ca1,
        &ca1,
        "understudy-standby",
    )))
    .expect("the standby's configuration");
    let sb = standby_app();
    let (handle, _actions) = run_standby(standby_client(&good, 2), sb.clone())
        .await
        .map_err(|e| describe(&e))
        .expect("attaches over mTLS");
    let status = handle.status();
    let start = Instant::now();
    while !status.borrow().synchronised {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not synchronised over mTLS"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(lock(&sb).speaker().rib().stats().loc_rib, 2_000);
    assert_eq!(lock(&sb).state_digest(), lock(&app).state_digest());

    // A standby that trusts another CA (and whose certificate that CA signed) is refused
    // at the handshake, and says why.
    let foreign = load(&standby_src(tls_line(
        &dir,
        "foreign",
        &ca2,
        &ca2,
        "understudy-standby",
    )))
    .expect("a well-formed configuration");
    let err = match run_standby(standby_client(&foreign, 3), standby_app()).await {
        Ok(_) => panic!("a standby trusting another CA attached"),
        Err(e) => describe(&e),
    };
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("tls.ca"), "{err}");

    // Its own CA right but its certificate from another CA: the primary refuses it.
    let wrong_cert = load(&standby_src(tls_line(
        &dir,
        "wrongcert",
        &ca1,
        &ca2,
        "understudy-standby",
    )))
    .expect("a well-formed configuration");
    let refused = match run_standby(standby_client(&wrong_cert, 4), standby_app()).await {
        Ok((h, _a)) => {
            // TLS 1.3: the client learns of the refusal on its first read.
            let st = h.status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) && !st.borrow().synchronised {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let synchronised = st.borrow().synchronised;
            !synchronised
        }
        Err(e) => {
            // The refusal reaches the client either as the TLS alert (described with a hint
            // naming tls.ca) or, when the primary's close wins the race, as a closed stream.
            let text = describe(&e);
            assert!(
                text.contains("tls.ca") || text.contains("broken pipe") || text.contains("reset"),
                "{text}"
            );
            true
        }
    };
    assert!(
        refused,
        "the primary accepted a certificate from another CA"
    );
    let (standbys, _) = server.views().await.expect("views");
    assert_eq!(
        standbys.iter().map(|s| s.node.0).collect::<Vec<_>>(),
        vec![2],
        "only the standby with the right certificate is attached"
    );
}

#[test]
fn check_config_refuses_tls_files_that_are_missing_or_do_not_parse() {
    let dir = Scratch::new("ha-tls-files");
    let ca1 = ca("understudy test CA");
    let good = tls_line(&dir, "p", &ca1, &ca1, "understudy-primary");
    let src = |tls: &str| {
        format!(
            "{BASE}[ha]\nrole = \"primary\"\nnode_id = 1\ncheckpoint_address = \"127.0.0.1:50052\"\n{tls}"
        )
    };
    let tls_line_no = BASE.lines().count() + 5;
    load(&src(&good)).expect("valid files");

    let missing = good.replace("p-ca.pem", "nonexistent-ca.pem");
    let e = load(&src(&missing)).expect_err("a missing CA file");
    let text = e.to_string();
    assert!(
        text.starts_with("ha.tls.ca = ") && text.contains(&format!("(line {tls_line_no}): ")),
        "{text}"
    );
    assert!(text.contains("nonexistent-ca.pem"), "{text}");

    let garbage = dir.write("garbage.pem", "not a certificate\n");
    let e = load(&src(
        &good.replace(&dir.0.join("p-cert.pem").display().to_string(), &garbage)
    ))
    .expect_err("a cert that does not parse");
    let text = e.to_string();
    assert!(
        text.starts_with("ha.tls.cert = ") && text.contains(&format!("(line {tls_line_no}): ")),
        "{text}"
    );
    assert!(text.contains("is not a PEM certificate"), "{text}");

    // A certificate where the key should be.
    let e = load(&src(&good.replace(
        &dir.0.join("p-key.pem").display().to_string(),
        &dir.0.join("p-cert.pem").display().to_string(),
    )))
    .expect_err("a key file without a key");
    let text = e.to_string();
    assert!(
        text.starts_with("ha.tls.key = ") && text.contains("is not a PEM private key"),
        "{text}"
    );

    // The daemon's own check: exit status 1 and one line naming field and line.
    let path = dir.write("bgpd.toml", &src(&missing));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("--check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ha.tls.ca = ")
            && stderr.contains(&format!("(line {tls_line_no}): cannot be read: ")),
        "{stderr}"
    );
    assert!(Path::new(&path).exists());
}
