//! Optional mutual TLS for the checkpoint channel (tonic's TLS, feature `mtls`).

use std::path::PathBuf;

use super::TransportError;

/// PEM files for mutual TLS: both sides present a certificate signed by `ca` and verify
/// the other's against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// The CA certificate that signs every node's certificate.
    pub ca: PathBuf,
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
    /// The name the primary's certificate carries (client side; e.g. "understudy-primary").
    pub server_name: String,
}

#[cfg(feature = "mtls")]
impl TlsPaths {
    fn identity(&self) -> Result<tonic::transport::Identity, TransportError> {
        let cert = std::fs::read(&self.cert)?;
        let key = std::fs::read(&self.key)?;
        Ok(tonic::transport::Identity::from_pem(cert, key))
    }

    fn ca(&self) -> Result<tonic::transport::Certificate, TransportError> {
        Ok(tonic::transport::Certificate::from_pem(std::fs::read(
            &self.ca,
        )?))
    }

    /// The primary's server configuration: requires a client certificate.
    ///
    /// # Errors
    /// [`TransportError::Io`] when a file cannot be read.
    pub fn server(&self) -> Result<tonic::transport::ServerTlsConfig, TransportError> {
        Ok(tonic::transport::ServerTlsConfig::new()
            .identity(self.identity()?)
            .client_ca_root(self.ca()?))
    }

    /// The standby's client configuration.
    ///
    /// # Errors
    /// [`TransportError::Io`] when a file cannot be read.
    pub fn client(&self) -> Result<tonic::transport::ClientTlsConfig, TransportError> {
        Ok(tonic::transport::ClientTlsConfig::new()
            .ca_certificate(self.ca()?)
            .identity(self.identity()?)
            .domain_name(self.server_name.clone()))
    }
}

#[cfg(not(feature = "mtls"))]
impl TlsPaths {
    /// Without the `mtls` feature TLS cannot be configured.
    ///
    /// # Errors
    /// Always [`TransportError::NoTls`].
    pub fn unsupported(&self) -> Result<(), TransportError> {
        Err(TransportError::NoTls)
    }
}

/// `e` with each of its causes (`gRPC transport: transport error: invalid peer
/// certificate: UnknownIssuer`): tonic's own message says only "transport error". When a
/// cause is a refused certificate, or the primary closed the connection at attach (how a
/// TLS 1.3 client learns that its certificate was refused), a last sentence says which
/// TLS setting to check.
pub fn describe(e: &TransportError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    let lower = text.to_ascii_lowercase();
    if ["certificate", "unknownca", "unknown ca", "handshake"]
        .iter()
        .any(|w| lower.contains(w))
    {
        text.push_str(
            " (mTLS refused: each node's certificate must be signed by the CA the other \
             node's tls.ca names, and the primary's must carry the standby's server_name)",
        );
    } else if ["connection closed", "canceled", "cancelled", "reset"]
        .iter()
        .any(|w| lower.contains(w))
    {
        text.push_str(
            " (the primary closed the connection at attach: with mTLS, check that the CA in \
             the primary's tls.ca signed this node's certificate)",
        );
    }
    text
}
