//! Connecting to the bgpd admin API (proto/admin.proto) and turning its errors into one
//! line an operator can act on.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use proto::admin::admin_client::AdminClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Default admin address when neither `--admin` nor `UNDERSTUDY_ADMIN` is given.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:50051";

/// How long a connection attempt to the admin API may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An admin API client and the address it talks to (for error messages).
pub struct Admin {
    /// The generated tonic client.
    pub client: AdminClient<Channel>,
    /// `host:port` as given by the operator.
    pub addr: String,
    /// The TLS options the connection was made with (none: plain gRPC).
    pub tls: TlsArgs,
}

/// TLS towards bgpd's admin API (its `admin_tls`): the CA that signed bgpd's certificate,
/// and this client's certificate and key when bgpd asks for one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Talk TLS to bgpd, verifying its certificate against this CA certificate (PEM).
    #[arg(long, global = true, env = "UNDERSTUDY_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Our client certificate (PEM), for a bgpd whose admin_tls has a `ca`.
    #[arg(long, global = true, env = "UNDERSTUDY_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, global = true, env = "UNDERSTUDY_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The name bgpd's certificate must carry (default: the host of --admin).
    #[arg(
        long,
        global = true,
        env = "UNDERSTUDY_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,
}

impl TlsArgs {
    /// The client TLS configuration, or None for plain gRPC (no TLS option given).
    fn client(&self, host: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        // Each file is read and parsed here, before any connection: a file that is not
        // PEM is named with its flag rather than found out as a TLS failure.
        let read = |flag: &str, p: &PathBuf| {
            let bytes = std::fs::read(p).map_err(|e| anyhow!("{flag} {}: {e}", p.display()))?;
            let (key, what) = if flag == "--tls-key" {
                (true, "a PEM private key")
            } else {
                (false, "a PEM certificate")
            };
            bgpd::config::check_pem(&bytes, key)
                .map_err(|e| anyhow!("{flag} {}: not {what} ({e})", p.display()))?;
            Ok::<_, anyhow::Error>(bytes)
        };
        let Some(ca) = &self.tls_ca else {
            if self.tls_cert.is_some() || self.tls_key.is_some() {
                anyhow::bail!(
                    "--tls-cert and --tls-key need --tls-ca (the CA of bgpd's certificate)"
                );
            }
            return Ok(None);
        };
        let mut cfg = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?))
            .domain_name(
                self.tls_server_name
                    .clone()
                    .unwrap_or_else(|| host.to_string()),
            );
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                let (cert, key) = (read("--tls-cert", c)?, read("--tls-key", k)?);
                // Checked here, as rustls will load them: a key of another certificate, or
                // a v1 certificate, is named with its flag rather than reported by tonic as
                // a TLS failure of the connection ("invalid peer certificate").
                check_identity(&cert, &key, c, k)?;
                cfg = cfg.identity(Identity::from_pem(cert, key));
            }
            (None, None) => {}
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        }
        Ok(Some(cfg))
    }
}

/// Whether `key` (PEM, from --tls-key `key_path`) is the private key of the certificate
/// `cert` (PEM, from --tls-cert `cert_path`) and both are usable.
fn check_identity(
    cert: &[u8],
    key: &[u8],
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) -> anyhow::Result<()> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_name = format!("--tls-cert {}", cert_path.display());
    let key_name = format!("--tls-key {}", key_path.display());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{cert_name}: {e}"))?;
    let private = PrivateKeyDer::from_pem_slice(key).map_err(|e| anyhow!("{key_name}: {e}"))?;
    bgpd::tls_text::check_key_pair(chain, private, &cert_name, &key_name)
        .map_err(|e| anyhow::Error::new(crate::BadInput(e.to_string())))
}

/// Connects to the admin API at `addr` (`host:port`, [`split_admin`]), over TLS
/// when `tls` names a CA. `from` names where `addr` came from (`--admin`,
/// `UNDERSTUDY_ADMIN`) in an error about it.
///
/// Errors: "cannot reach the bgpd admin API at ADDR: CAUSE" when nothing answers.
pub async fn connect(addr: &str, from: &str, tls_args: &TlsArgs) -> anyhow::Result<Admin> {
    let (host, port) =
        split_admin(addr, from).map_err(|e| anyhow::Error::new(crate::BadInput(e)))?;
    // A name that does not resolve is said as such, before tonic turns it into a
    // connection that "closed" (which reads like a TLS refusal).
    if host.parse::<std::net::IpAddr>().is_err() {
        if let Err(e) = tokio::net::lookup_host((host.as_str(), port)).await {
            anyhow::bail!(
                "cannot reach the bgpd admin API at {addr}: the host name {host} does not \
                 resolve ({e})"
            );
        }
    }
    let tls = tls_args.client(&host)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}", addr.trim_end_matches('/'));
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| anyhow!("invalid admin address {addr:?}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| anyhow!("TLS towards {addr}: {}", chain(&e)))?;
    }
    match endpoint.connect().await {
        Ok(channel) => Ok(Admin {
            client: AdminClient::new(channel),
            addr: addr.to_string(),
            tls: tls_args.clone(),
        }),
        // Over TLS the handshake happens here: a refused certificate, or a daemon that
        // does not speak TLS, is named as such rather than as unreachable.
        Err(e) => Err(match tls_failure(addr, tls_args, Some(&e), &chain(&e)) {
            Some(line) => anyhow!("{line}"),
            None => anyhow!("cannot reach the bgpd admin API at {addr}: {}", chain(&e)),
        }),
    }
}

impl Admin {
    /// Turns an RPC status into one line: a TLS failure (or plain gRPC towards a TLS
    /// listener) names its likely cause ([`tls_failure`]); unreachable daemons keep the
    /// "cannot reach" wording; a refused request (bad argument, unknown neighbour, wrong
    /// state, an aborted switchover) is bgpd's message alone, which says what is wrong;
    /// other statuses give their code in words too. A bad argument is a [`crate::BadInput`] (exit status 2), an
    /// unknown neighbour or route a [`crate::NotFound`] (exit status 3).
    pub fn status(&self, s: tonic::Status) -> anyhow::Error {
        use tonic::Code;
        let text = format!("{}{}", s.message(), source_chain(&s));
        if let Some(line) = tls_failure(&self.addr, &self.tls, Some(&s), &text).filter(|_| {
            matches!(
                s.code(),
                Code::Unavailable | Code::Internal | Code::Unknown | Code::Cancelled
            )
        }) {
            return anyhow!("{line}");
        }
        match s.code() {
            Code::Unavailable => anyhow!(
                "cannot reach the bgpd admin API at {}: {}",
                self.addr,
                s.message()
            ),
            Code::InvalidArgument if !s.message().is_empty() => {
                anyhow::Error::new(crate::BadInput(s.message().to_string()))
            }
            Code::NotFound if !s.message().is_empty() => {
                anyhow::Error::new(crate::NotFound(s.message().to_string()))
            }
            Code::FailedPrecondition | Code::Aborted if !s.message().is_empty() => {
                anyhow!("{}", s.message())
            }
            code => anyhow!("{}: {}", code.description(), s.message()),
        }
    }

    /// A stream (`watch`, `rib`) that broke after it had started: the connection worked,
    /// so TLS is not the cause; bgpd went away (stopped, restarted) or the network did.
    pub fn stream_broken(&self, what: &str, s: tonic::Status) -> anyhow::Error {
        use tonic::Code;
        match s.code() {
            Code::Unavailable | Code::Internal | Code::Unknown | Code::Cancelled => anyhow!(
                "the bgpd admin API at {} ended {what}: the connection closed ({}): bgpd \
                 stopped or restarted",
                self.addr,
                if s.message().is_empty() {
                    s.code().description()
                } else {
                    s.message()
                }
            ),
            _ => self.status(s),
        }
    }
}

/// One line for a connection that failed, when TLS, or TLS missing on one side, is the
/// likely cause; None when nothing points at TLS. `text` is the failure with its causes.
///
/// - a TLS client and a daemon without admin_tls: "does not speak TLS";
/// - bgpd's certificate refused here: "not trusted by --tls-ca FILE" (or what else is
///   wrong with it);
/// - our certificate refused by bgpd, or none given when it asks for one;
/// - a plain client and a TLS daemon: the daemon closes the connection.
pub fn tls_failure(
    addr: &str,
    tls: &TlsArgs,
    err: Option<&(dyn std::error::Error + 'static)>,
    text: &str,
) -> Option<String> {
    use bgpd::tls_text::{alert_text, certificate_problem, find_tls_error, not_tls};
    use rustls::{AlertDescription, CertificateError, Error as TlsError};
    let lower = text.to_ascii_lowercase();
    // Closed by the other end after the TCP connection was made. A connection never made
    // (refused, unreachable, unanswered) is no TLS matter: its own cause is the message.
    let closed = [
        "protocol error",
        // tonic's word for a connection that broke under an RPC.
        "transport error",
        "connection closed",
        "connection reset",
        "broken pipe",
        "operation was canceled",
        "cancelled",
        "eof",
    ]
    .iter()
    .any(|w| lower.contains(w))
        && !never_connected(err, text);
    let Some(ca) = &tls.tls_ca else {
        return closed.then(|| {
            format!(
                "the bgpd admin API at {addr} closed the connection: it probably speaks TLS \
                 (admin_tls in bgpd's configuration): give --tls-ca FILE, the CA of its \
                 certificate"
            )
        });
    };
    let ca = ca.display();
    let cert = tls
        .tls_cert
        .as_ref()
        .map(|c| format!("--tls-cert {}", c.display()));
    let Some(e) = err.and_then(find_tls_error) else {
        return closed.then(|| match &cert {
            None => format!(
                "the bgpd admin API at {addr} closed the TLS connection: it probably asks for \
                 a client certificate (admin_tls has a ca): give --tls-cert and --tls-key"
            ),
            Some(cert) => format!(
                "the bgpd admin API at {addr} closed the TLS connection: it probably refused \
                 {cert} (it must be signed by the CA of bgpd's admin_tls.ca)"
            ),
        });
    };
    Some(match e {
        e if not_tls(e) => format!(
            "the bgpd admin API at {addr} does not speak TLS (no admin_tls in bgpd's \
             configuration): leave out --tls-ca"
        ),
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the certificate of {addr} is not trusted by --tls-ca {ca}: another CA signed it"
        ),
        TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            let host = host_of(addr);
            let name = tls.tls_server_name.as_deref().unwrap_or(&host);
            format!(
                "the certificate of {addr} is not made out to {name}: give --tls-server-name \
                 with a name it carries"
            )
        }
        TlsError::InvalidCertificate(c) => {
            format!("the certificate of {addr} {}", certificate_problem(c))
        }
        TlsError::AlertReceived(AlertDescription::CertificateRequired) => format!(
            "the bgpd admin API at {addr} asks for a client certificate (admin_tls has a ca): \
             give --tls-cert and --tls-key"
        ),
        TlsError::AlertReceived(a) => match &cert {
            Some(cert) => format!(
                "the bgpd admin API at {addr} refused {cert} ({}): it must be signed by the \
                 CA of bgpd's admin_tls.ca",
                alert_text(a)
            ),
            None => format!(
                "the bgpd admin API at {addr} refused the TLS connection ({})",
                alert_text(a)
            ),
        },
        other => format!(
            "TLS with the bgpd admin API at {addr} failed: {}",
            bgpd::tls_text::words(&other.to_string())
        ),
    })
}

/// Whether a failure (`err` with its causes, `text` the same in words) happened before the
/// TCP connection was made: an OS error of connecting in the chain (refused, host or
/// network unreachable, timed out, no address), or the words of one (tonic's `tcp connect
/// error`, a DNS failure, a timeout). Such a failure is never TLS's doing.
pub fn never_connected(err: Option<&(dyn std::error::Error + 'static)>, text: &str) -> bool {
    use std::io::ErrorKind;
    let mut source = err;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::NetworkDown
                    | ErrorKind::TimedOut
                    | ErrorKind::AddrNotAvailable
            ) {
                return true;
            }
        }
        source = e.source();
    }
    let lower = text.to_ascii_lowercase();
    [
        "tcp connect error",
        "connection refused",
        "no route to host",
        "network is unreachable",
        "host is unreachable",
        "network is down",
        "timed out",
        "timeout",
        "deadline has elapsed",
        "dns error",
        "cannot assign requested address",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// The host (brackets of an IPv6 address removed) and the port of the admin address
/// (`HOST:PORT`, `[IPV6]:PORT`; a scheme such as `http://` is refused), given by `from`
/// (`--admin` or `UNDERSTUDY_ADMIN`, which an error names). The port is required: without
/// one tonic would quietly use port 80 (443 for https), which no bgpd listens on.
///
/// Errors: a line saying what to write instead.
pub fn split_admin(addr: &str, from: &str) -> Result<(String, u16), String> {
    if let Some((scheme, rest)) = addr.split_once("://") {
        // HOST:PORT, as the help says: TLS is chosen by --tls-ca, not by a scheme.
        let rest = rest.trim_end_matches('/');
        return Err(format!(
            "{from} {addr}: write HOST:PORT without {scheme}:// (e.g. {}): TLS is chosen by \
             --tls-ca",
            if rest.is_empty() { DEFAULT_ADMIN } else { rest }
        ));
    }
    let host_port = addr.trim_end_matches('/');
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (rest, None),
        },
        // Two colons or more and no brackets: an IPv6 address, and no port.
        None if host_port.matches(':').count() > 1 => (host_port, None),
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let example = |h: &str| {
        if h.contains(':') {
            format!("[{h}]:{DEFAULT_PORT}")
        } else {
            format!("{h}:{DEFAULT_PORT}")
        }
    };
    if host.is_empty() {
        return Err(format!(
            "{from} {addr:?} has no host: write HOST:PORT, e.g. {DEFAULT_ADMIN}"
        ));
    }
    let Some(port) = port.filter(|p| !p.is_empty()) else {
        // `::1:50051`: no IPv6 address, but an address and a port without the brackets
        // that tell them apart; the example brackets the address part.
        let unbracketed = (host == host_port && host.parse::<std::net::Ipv6Addr>().is_err())
            .then(|| host.rsplit_once(':'))
            .flatten()
            .filter(|(h, p)| {
                h.parse::<std::net::Ipv6Addr>().is_ok() && p.parse::<u16>().is_ok_and(|p| p != 0)
            });
        if let Some((h, p)) = unbracketed {
            return Err(format!(
                "{from} {addr} has no port: an IPv6 address takes brackets before its port: \
                 write [ADDRESS]:PORT, e.g. [{h}]:{p}"
            ));
        }
        return Err(format!(
            "{from} {addr} has no port: write HOST:PORT, e.g. {} (bgpd's admin_address; \
             its default port is {DEFAULT_PORT})",
            example(host)
        ));
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host.to_string(), p)),
        _ => Err(format!(
            "{from} {addr}: {port:?} is not a port (1 to 65535): write HOST:PORT, e.g. {}",
            example(host)
        )),
    }
}

/// The port of [`DEFAULT_ADMIN`] (bgpd's default `admin_address`).
const DEFAULT_PORT: u16 = 50051;

/// The host part of `host:port` (brackets of an IPv6 address removed).
fn host_of(addr: &str) -> String {
    let host_port = addr.split_once("://").map_or(addr, |(_, rest)| rest);
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// The sources of `e`, each after ": ".
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_address_needs_a_port() {
        assert_eq!(
            split_admin("127.0.0.1:50051", "--admin"),
            Ok(("127.0.0.1".into(), 50051))
        );
        assert_eq!(split_admin("[::1]:7", "--admin"), Ok(("::1".into(), 7)));
        // HOST:PORT, as the help says: no scheme.
        assert_eq!(
            split_admin("http://router.example:50051/", "UNDERSTUDY_ADMIN"),
            Err(
                "UNDERSTUDY_ADMIN http://router.example:50051/: write HOST:PORT without \
                 http:// (e.g. router.example:50051): TLS is chosen by --tls-ca"
                    .into()
            )
        );
        assert!(split_admin("https://[::1]:7", "--admin")
            .unwrap_err()
            .contains("without https://"));
        let no_port = split_admin("127.0.0.1", "--admin").unwrap_err();
        assert!(no_port.contains("has no port"), "{no_port}");
        assert!(no_port.contains("127.0.0.1:50051"), "{no_port}");
        let v6 = split_admin("::1", "--admin").unwrap_err();
        assert!(v6.contains("e.g. [::1]:50051"), "{v6}");
        // An IPv6 address and a port written without brackets: the example brackets the
        // address part (not the whole, `[::1:50051]:50051`).
        assert_eq!(
            split_admin("::1:50051", "--admin"),
            Err(
                "--admin ::1:50051 has no port: an IPv6 address takes brackets before its \
                 port: write [ADDRESS]:PORT, e.g. [::1]:50051"
                    .into()
            )
        );
        assert!(split_admin("2001:db8::1:179000", "--admin")
            .unwrap_err()
            .contains("e.g. [2001:db8::1:179000]:50051"));
        assert!(split_admin("[::1]", "--admin")
            .unwrap_err()
            .contains("no port"));
        assert!(split_admin("h:", "--admin")
            .unwrap_err()
            .contains("no port"));
        assert!(split_admin("h:x", "--admin")
            .unwrap_err()
            .contains("is not a port"));
        assert!(split_admin("h:0", "--admin")
            .unwrap_err()
            .contains("is not a port"));
        assert!(split_admin(":50051", "--admin")
            .unwrap_err()
            .contains("no host"));
        // The source of the address is named: the variable when it came from there.
        assert!(split_admin("127.0.0.1", "UNDERSTUDY_ADMIN")
            .unwrap_err()
            .starts_with("UNDERSTUDY_ADMIN 127.0.0.1 has no port"));
    }

    #[test]
    fn a_connection_never_made_is_not_blamed_on_tls() {
        let plain = TlsArgs::default();
        let addr = "10.255.255.1:50051";
        // What tonic says when connecting fails: its own cause, never TLS.
        for text in [
            "transport error: tcp connect error: Network is unreachable (os error 101)",
            "transport error: tcp connect error: No route to host (os error 113)",
            "transport error: tcp connect error: Connection refused (os error 111)",
            "transport error: tcp connect error: deadline has elapsed",
            "transport error: timeout expired",
        ] {
            assert!(never_connected(None, text), "{text}");
            assert_eq!(tls_failure(addr, &plain, None, text), None, "{text}");
        }
        // The OS error in the chain is evidence enough, whatever the words.
        for kind in [
            std::io::ErrorKind::NetworkUnreachable,
            std::io::ErrorKind::HostUnreachable,
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::TimedOut,
        ] {
            let e = std::io::Error::from(kind);
            assert!(never_connected(Some(&e), "transport error"), "{kind:?}");
            assert_eq!(tls_failure(addr, &plain, Some(&e), "transport error"), None);
        }
        // A connection made, then closed without an HTTP/2 answer: a TLS listener is the
        // likely cause.
        let closed = "transport error: connection closed before message completed";
        assert!(!never_connected(None, closed));
        let line = tls_failure(addr, &plain, None, closed).unwrap();
        assert!(line.contains("it probably speaks TLS"), "{line}");
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!never_connected(
            Some(&reset),
            "transport error: connection reset"
        ));
    }
}
