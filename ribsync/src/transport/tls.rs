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
