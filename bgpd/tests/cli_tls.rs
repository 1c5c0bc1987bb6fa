//! The admin API over TLS (`admin_tls = { cert, key, ca }`): certificates made here with
//! rcgen (a CA, bgpd's certificate for 127.0.0.1, a client certificate, and a second CA that
//! signed nothing bgpd trusts). `understudy` with `--tls-ca`/`--tls-cert`/`--tls-key` (or the
//! UNDERSTUDY_TLS_* variables) gets answers; without TLS, without a client certificate, or
//! trusting another CA it gets one error line. `--check-config` names a missing file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::daemon::{free_port, Daemon, TempDir};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A CA: its PEM certificate and the issuer that signs with it.
fn make_ca(name: &str) -> (String, CertifiedIssuer<'static, KeyPair>) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    (issuer.pem(), issuer)
}

/// A leaf signed by `ca`: (certificate PEM, key PEM).
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn understudy(admin: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_understudy"));
    c.arg("--admin").arg(admin).args(args);
    for v in [
        "UNDERSTUDY_ADMIN",
        "UNDERSTUDY_TLS_CA",
        "UNDERSTUDY_TLS_CERT",
        "UNDERSTUDY_TLS_KEY",
        "UNDERSTUDY_TLS_SERVER_NAME",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs")
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "must fail: {out:?}");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {out:?}");
    err
}

#[test]
fn admin_api_over_tls_with_client_certificates() {
    let lab = TempDir::new("tls");
    let (ca_pem, ca) = make_ca("understudy test CA");
    let (other_pem, other) = make_ca("another CA");
    let (srv_cert, srv_key) = leaf(&ca, &["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (cli_cert, cli_key) = leaf(&ca, &["operator"], ExtendedKeyUsagePurpose::ClientAuth);
    let (bad_cert, bad_key) = leaf(&other, &["intruder"], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = lab.write("ca.pem", &ca_pem);
    let other_file = lab.write("other.pem", &other_pem);
    let srv_cert_file = lab.write("bgpd.pem", &srv_cert);
    let srv_key_file = lab.write("bgpd.key", &srv_key);
    let cli_cert_file = lab.write("operator.pem", &cli_cert);
    let cli_key_file = lab.write("operator.key", &cli_key);
    let bad_cert_file = lab.write("intruder.pem", &bad_cert);
    let bad_key_file = lab.write("intruder.key", &bad_key);

    let admin = format!("127.0.0.1:{}", free_port());
    let config_text = format!(
        "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
         port = {}\nadmin_address = \"{admin}\"\n\
         admin_tls = {{ cert = \"{}\", key = \"{}\", ca = \"{}\" }}\n",
        free_port(),
        srv_cert_file.display(),
        srv_key_file.display(),
        ca_file.display()
    );
    let config = lab.write("bgpd.toml", &config_text);

    // --check-config: the files are there; a missing one is named with its line.
    let check = |path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_bgpd"))
            .arg("--check-config")
            .arg(path)
            .output()
            .unwrap()
    };
    assert!(check(&config).status.success());
    let missing = lab.write(
        "missing.toml",
        &config_text.replace(&srv_key_file.display().to_string(), "/nonexistent/bgpd.key"),
    );
    let err = one_line_error(&check(&missing));
    assert_eq!(
        err,
        format!(
            "bgpd: error: {}: admin_tls.key = \"/nonexistent/bgpd.key\" (line 6): cannot be read: \
             No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let not_pem = lab.write(
        "notpem.toml",
        &config_text.replace(
            &ca_file.display().to_string(),
            &config.display().to_string(),
        ),
    );
    let err = one_line_error(&check(&not_pem));
    assert!(
        err.contains(&format!(
            "admin_tls.ca = \"{}\" (line 6):",
            config.display()
        )) && err.contains("is not a PEM certificate"),
        "{err}"
    );

    let log_path = lab.0.join("bgpd.log");
    let _daemon = Daemon::start(&config, std::fs::File::create(&log_path).unwrap(), &[]);
    let ca_s = ca_file.to_str().unwrap();
    let tls_args = [
        "--tls-ca",
        ca_s,
        "--tls-cert",
        cli_cert_file.to_str().unwrap(),
        "--tls-key",
        cli_key_file.to_str().unwrap(),
    ];
    let info_args: Vec<&str> = tls_args.iter().copied().chain(["--json", "info"]).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let info: serde_json::Value = loop {
        let out = understudy(&admin, &info_args, &[]);
        if out.status.success() {
            break serde_json::from_slice(&out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "bgpd admin API never answered over TLS: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(info["router_id"], "192.0.2.1");

    // The same from the environment.
    let out = understudy(
        &admin,
        &["--json", "info"],
        &[
            ("UNDERSTUDY_TLS_CA", &ca_file),
            ("UNDERSTUDY_TLS_CERT", &cli_cert_file),
            ("UNDERSTUDY_TLS_KEY", &cli_key_file),
        ],
    );
    assert!(out.status.success(), "{out:?}");

    // Refused, each with one line: plain gRPC, no client certificate, a client certificate
    // of another CA, and a bgpd certificate checked against another CA.
    let err = one_line_error(&understudy(&admin, &["info"], &[]));
    assert!(
        err.contains(&format!("bgpd admin API at {admin}"))
            && err.contains("it probably speaks TLS")
            && err.contains("--tls-ca"),
        "{err}"
    );
    let err = one_line_error(&understudy(&admin, &["--tls-ca", ca_s, "info"], &[]));
    // One line naming the daemon; how the refusal surfaces (the TLS 1.3 alert after the
    // handshake, or the connection closed) varies, the hint with it.
    assert!(
        err.contains(&format!("bgpd admin API at {admin}"))
            && err.contains("client certificate")
            && err.contains("--tls-cert"),
        "{err}"
    );
    let err = one_line_error(&understudy(
        &admin,
        &[
            "--tls-ca",
            ca_s,
            "--tls-cert",
            bad_cert_file.to_str().unwrap(),
            "--tls-key",
            bad_key_file.to_str().unwrap(),
            "info",
        ],
        &[],
    ));
    // One line naming the daemon; how the refusal surfaces (the TLS 1.3 alert after the
    // handshake, or the connection closed) varies, the hint with it.
    assert!(
        err.contains(&format!("bgpd admin API at {admin}"))
            && err.contains(&format!("refused --tls-cert {}", bad_cert_file.display())),
        "{err}"
    );
    let wrong_ca: Vec<&str> = tls_args
        .iter()
        .copied()
        .map(|a| {
            if a == ca_s {
                other_file.to_str().unwrap()
            } else {
                a
            }
        })
        .chain(["info"])
        .collect();
    let err = one_line_error(&understudy(&admin, &wrong_ca, &[]));
    // Said in words, naming the CA file: not rustls's debug output, nor "peer".
    assert_eq!(
        err,
        format!(
            "understudy: error: the certificate of {admin} is not trusted by --tls-ca {}: \
             another CA signed it\n",
            other_file.display()
        )
    );
    // bgpd logged each refused client once, with its address and the reason.
    let reasons = [
        "the client does not speak TLS",
        "the client gave no certificate",
        &format!(
            "the client's certificate is not signed by admin_tls.ca {}",
            ca_file.display()
        ),
        "the client refused bgpd's certificate (unknown CA)",
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        let refused: Vec<String> = log
            .lines()
            .filter(|l| l.contains("admin API: TLS client refused: "))
            .map(str::to_string)
            .collect();
        if reasons
            .iter()
            .all(|r| refused.iter().any(|l| l.contains(r)))
        {
            break refused;
        }
        assert!(
            Instant::now() < deadline,
            "bgpd did not log every refused client: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in &refused {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("client=127.0.0.1:"), "{line}");
    }
    // A client certificate without the CA to check bgpd against: a usage error.
    let err = one_line_error(&understudy(
        &admin,
        &["--tls-cert", cli_cert_file.to_str().unwrap(), "info"],
        &[],
    ));
    assert!(err.contains("need --tls-ca"), "{err}");
}

#[test]
fn tls_files_that_are_not_pem_are_refused_before_connecting() {
    let dir = TempDir::new("tls-not-pem");
    let (ca_pem, ca) = make_ca("understudy test CA");
    let ca_file = dir.write("ca.pem", &ca_pem);
    let (cert, key) = leaf(&ca, &["cli"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert_file = dir.write("cli.pem", &cert);
    let key_file = dir.write("cli.key", &key);
    let junk = dir.write("junk.der", "this is not PEM\n");
    // Nothing listens there: an error about the files must come before any connection.
    let admin = format!("127.0.0.1:{}", free_port());
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    for (args, flag, what) in [
        (
            vec!["--tls-ca", &path(&junk)],
            "--tls-ca",
            "a PEM certificate",
        ),
        (
            vec![
                "--tls-ca",
                &path(&ca_file),
                "--tls-cert",
                &path(&junk),
                "--tls-key",
                &path(&key_file),
            ],
            "--tls-cert",
            "a PEM certificate",
        ),
        (
            vec![
                "--tls-ca",
                &path(&ca_file),
                "--tls-cert",
                &path(&cert_file),
                "--tls-key",
                &path(&cert_file),
            ],
            "--tls-key",
            "a PEM private key",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).chain(["info"]).collect();
        let err = one_line_error(&understudy(&admin, &args, &[]));
        let file = if flag == "--tls-key" {
            path(&cert_file)
        } else {
            path(&junk)
        };
        assert!(
            err.starts_with(&format!("understudy: error: {flag} {file}: not {what} (")),
            "{err}"
        );
        assert!(!err.contains("cannot reach"), "{err}");
    }
    // The same file given through the environment is named the same way.
    let err = one_line_error(&understudy(
        &admin,
        &["info"],
        &[("UNDERSTUDY_TLS_CA", &junk)],
    ));
    assert!(
        err.starts_with(&format!(
            "understudy: error: --tls-ca {}: not a PEM certificate",
            path(&junk)
        )),
        "{err}"
    );
}

#[test]
fn tls_towards_a_daemon_without_tls_says_so() {
    let dir = TempDir::new("tls-plain");
    let (ca_pem, _) = make_ca("understudy test CA");
    let ca_file = dir.write("ca.pem", &ca_pem);
    let admin = format!("127.0.0.1:{}", free_port());
    let config = dir.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\nlisten_addresses = [\"127.0.0.1\"]\n\
             port = {}\nadmin_address = \"{admin}\"\n",
            free_port()
        ),
    );
    let _daemon = Daemon::start(&config, Stdio::null(), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !understudy(&admin, &["info"], &[]).status.success() {
        assert!(Instant::now() < deadline, "bgpd admin API never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = one_line_error(&understudy(
        &admin,
        &["--tls-ca", ca_file.to_str().unwrap(), "info"],
        &[],
    ));
    assert_eq!(
        err,
        format!(
            "understudy: error: the bgpd admin API at {admin} does not speak TLS (no \
             admin_tls in bgpd's configuration): leave out --tls-ca\n"
        )
    );
}

/// An X.509 v1 certificate (`openssl x509 -req -signkey` without -extfile) and its key:
/// rustls reads only v3.
const V1_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBKDCBzwIUJRJhPtlV/XIJ7jlT2OBU8EtY7XwwCgYIKoZIzj0EAwIwFjEUMBIG
A1UEAwwLb3BlcmF0b3IgdjEwIBcNMjYxMTMwMTAxMTQ5WhgPMjEyNjExMDYxMDEx
NDlaMBYxFDASBgNVBAMMC29wZXJhdG9yIHYxMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEAjMfJo8ws6nVQpd3P0xiciMG45g6nVdYd7IUjc3MlnXqvWRkn/meaWN5
wi52KMBXbkdyK8Xrf2IU8dvskIkzXzAKBggqhkjOPQQDAgNIADBFAiAbriyu8QwW
SEgRZSQWl9fdXlmEwqhWmkzDFPyErxm/ywIhAJga0Ur/Ogggy445DxF1vfZaIJoe
1m4iWFHGNHEoNezy
-----END CERTIFICATE-----
";
const V1_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXky9DL4uw9Q0KFDD
9ZYScGOXFFJq87jv4yXKeWRaagGhRANCAAQCMx8mjzCzqdVCl3c/TGJyIwbjmDqd
V1h3shSNzcyWdeq9ZGSf+Z5pY3nCLnYowFduR3Irxet/YhTx2+yQiTNf
-----END PRIVATE KEY-----
";

/// A v1 client certificate and a key of another certificate are named with their flags
/// in words, before any connection (they read `TLS towards ADDR: transport error: invalid
/// peer certificate: Other(OtherError(UnsupportedCertVersion))` and `... KeyMismatch`);
/// bgpd's --check-config says the same of its admin_tls files.
#[test]
fn a_v1_certificate_or_a_key_of_another_certificate_is_said_in_words() {
    let lab = TempDir::new("tlsv1");
    let (ca_pem, ca) = make_ca("understudy test CA");
    let (cert, _) = leaf(&ca, &["operator"], ExtendedKeyUsagePurpose::ClientAuth);
    let (_, other_key) = leaf(&ca, &["other"], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = lab.write("ca.pem", &ca_pem);
    let cert_file = lab.write("operator.pem", &cert);
    let other_key_file = lab.write("other.key", &other_key);
    let v1_cert = lab.write("v1.pem", V1_CERT);
    let v1_key = lab.write("v1.key", V1_KEY);
    let p = |f: &PathBuf| f.display().to_string();
    // Nothing listens: the files are refused first.
    let admin = format!("127.0.0.1:{}", free_port());
    let run = |cert: &PathBuf, key: &PathBuf| {
        let out = understudy(
            &admin,
            &[
                "--tls-ca",
                &p(&ca_file),
                "--tls-cert",
                &p(cert),
                "--tls-key",
                &p(key),
                "info",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "bad input: {out:?}");
        one_line_error(&out)
    };
    assert_eq!(
        run(&v1_cert, &v1_key),
        format!(
            "understudy: error: the certificate in --tls-cert {} is an X.509 v1 certificate: \
             TLS here needs v3 (make it with extensions, e.g. `openssl x509 -req ... -extfile \
             FILE` whose FILE has subjectAltName and extendedKeyUsage)\n",
            p(&v1_cert)
        )
    );
    assert_eq!(
        run(&cert_file, &other_key_file),
        format!(
            "understudy: error: --tls-key {} is not the private key of the certificate in \
             --tls-cert {} (their public keys differ)\n",
            p(&other_key_file),
            p(&cert_file)
        )
    );

    let config = lab.write(
        "bgpd.toml",
        &format!(
            "router_id = \"192.0.2.1\"\nlocal_as = 65001\n\
             admin_tls = {{ cert = \"{}\", key = \"{}\" }}\n",
            p(&v1_cert),
            p(&v1_key)
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_bgpd"))
        .arg("--check-config")
        .arg(&config)
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "admin_tls.cert = \"{0}\" (line 3): the certificate in {0} is an X.509 v1 certificate",
            p(&v1_cert)
        )) && !err.contains("UnsupportedCertVersion"),
        "{err}"
    );
}
