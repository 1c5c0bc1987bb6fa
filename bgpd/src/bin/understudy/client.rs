//! Connecting to the bgpd admin API (proto/admin.proto) and turning its errors into one
//! line an operator can act on.

use std::time::Duration;

use anyhow::anyhow;
use proto::admin::admin_client::AdminClient;
use tonic::transport::{Channel, Endpoint};

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
}

/// Connects to the admin API at `addr` (`host:port`, or a full `http://` URI).
///
/// Errors: "cannot reach the bgpd admin API at ADDR: CAUSE" when nothing answers.
pub async fn connect(addr: &str) -> anyhow::Result<Admin> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| anyhow!("invalid admin address {addr:?}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot reach the bgpd admin API at {addr}: {}", chain(&e)))?;
    Ok(Admin {
        client: AdminClient::new(channel),
        addr: addr.to_string(),
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
