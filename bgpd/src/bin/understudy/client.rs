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
    /// Whether the connection is TLS.
    pub tls: bool,
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
                cfg = cfg.identity(Identity::from_pem(
                    read("--tls-cert", c)?,
                    read("--tls-key", k)?,
                ));
            }
            (None, None) => {}
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        }
        Ok(Some(cfg))
    }
}

/// Connects to the admin API at `addr` (`host:port`, or a full `http://` URI), over TLS
/// when `tls` names a CA.
///
/// Errors: "cannot reach the bgpd admin API at ADDR: CAUSE" when nothing answers.
pub async fn connect(addr: &str, tls: &TlsArgs) -> anyhow::Result<Admin> {
    let host_port = addr.split_once("://").map_or(addr, |(_, rest)| rest);
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = tls.client(&host)?;
    if tls.is_none() && addr.starts_with("https://") {
        anyhow::bail!("{addr}: https needs --tls-ca (the CA of bgpd's certificate)");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = format!("{scheme}://{}", host_port.trim_end_matches('/'));
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(|e| anyhow!("invalid admin address {addr:?}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT);
    let with_tls = tls.is_some();
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| anyhow!("TLS towards {addr}: {}", chain(&e)))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot reach the bgpd admin API at {addr}: {}", chain(&e)))?;
    Ok(Admin {
        client: AdminClient::new(channel),
        addr: addr.to_string(),
        tls: with_tls,
    })
}

impl Admin {
    /// Turns an RPC status into one line: unreachable daemons keep the "cannot reach"
    /// wording; a refused request (bad argument, unknown neighbour, wrong state) is bgpd's
    /// message alone, which says what is wrong; other statuses give their code too.
    pub fn status(&self, s: tonic::Status) -> anyhow::Error {
        use tonic::Code;
        match s.code() {
            Code::Unavailable => anyhow!(
                "cannot reach the bgpd admin API at {}: {}",
                self.addr,
                s.message()
            ),
            Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition
                if !s.message().is_empty() =>
            {
                anyhow!("{}", s.message())
            }
            // The server dropped the connection: plain HTTP/2 spoken to a TLS listener, or
            // a TLS client without the certificate bgpd asks for.
            code @ (Code::Internal | Code::Unknown | Code::Cancelled)
                if code == Code::Cancelled
                    || ["protocol error", "transport error"]
                        .iter()
                        .any(|m| s.message().contains(m)) =>
            {
                let hint = if self.tls {
                    "bgpd's admin_tls has a ca: give --tls-cert and --tls-key signed by it"
                } else {
                    "with admin_tls in bgpd's configuration, give --tls-ca"
                };
                anyhow!(
                    "the bgpd admin API at {} closed the connection: {} ({hint})",
                    self.addr,
                    s.message()
                )
            }
            code => anyhow!("{code:?}: {}", s.message()),
        }
    }
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
