//! TLS failures of the admin API in words, for both of its ends: `understudy`'s error line
//! and bgpd's warning when it refuses a client.
//!
//! rustls's own texts are Rust debug output (`invalid peer certificate:
//! Other(OtherError(UnsupportedCertVersion))`) and say "peer" for whichever side is
//! speaking; these say what is wrong with which certificate.

use rustls::{AlertDescription, CertificateError, Error as TlsError};

/// The first rustls error among `e` and its sources, also when one of them is an
/// `io::Error` wrapping it (as tokio-rustls reports handshake failures).
pub fn find_tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsError> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<TlsError>() {
            return Some(t);
        }
        if let Some(inner) = c
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(t) = find_tls_error(inner) {
                return Some(t);
            }
        }
        cur = c.source();
    }
    None
}

/// What is wrong with a certificate, as the end of a sentence that names it ("the
/// certificate of 127.0.0.1:50051 ..."): `is not signed by a CA trusted here`, `has
/// expired`, ...
pub fn certificate_problem(e: &CertificateError) -> String {
    use CertificateError as C;
    match e {
        C::BadEncoding => "is not a readable X.509 certificate".into(),
        C::Expired | C::ExpiredContext { .. } => "has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "is not valid yet (check the clocks)".into()
        }
        C::Revoked => "is revoked".into(),
        C::UnhandledCriticalExtension => "carries a critical extension not supported here".into(),
        C::UnknownIssuer => "is not signed by a CA trusted here".into(),
        C::BadSignature => "has a signature that does not verify".into(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is signed with an algorithm not supported here".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "does not carry the name asked for".into()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "is not made for this use (its extended key usage)".into()
        }
        // webpki reads only X.509 v3 (RFC 5280 section 4.1.2.1); `openssl x509 -req`
        // without -extfile makes a v1 certificate.
        C::Other(other) if format!("{other:?}").contains("UnsupportedCertVersion") => {
            "is an X.509 v1 certificate: TLS here needs v3 (make it with extensions, e.g. \
             `openssl x509 -req ... -extfile FILE` whose FILE has subjectAltName and \
             extendedKeyUsage)"
                .into()
        }
        C::Other(other) => format!("cannot be used: {}", words(&other.to_string())),
        other => format!("cannot be used: {}", words(&format!("{other:?}"))),
    }
}

/// Whether `key` is the private key of the first certificate of `chain` and both are
/// usable (rustls with ring, as the TLS stack loads them: the key's public key is compared
/// with the certificate's, which must be X.509 v3). `cert` and `key` name the files (or
/// flags) in the error, which says what is wrong with which.
pub fn check_key_pair(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    private: rustls::pki_types::PrivateKeyDer<'static>,
    cert: &str,
    key: &str,
) -> Result<(), KeyPairError> {
    let provider = rustls::crypto::ring::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, private, &provider) {
        Ok(_) => Ok(()),
        Err(TlsError::InconsistentKeys(_)) => Err(KeyPairError::Key(format!(
            "{key} is not the private key of the certificate in {cert} (their public keys differ)"
        ))),
        Err(TlsError::InvalidCertificate(c)) => Err(KeyPairError::Certificate(format!(
            "the certificate in {cert} {}",
            certificate_problem(&c)
        ))),
        Err(e) => Err(KeyPairError::Key(format!(
            "{key} with {cert}: {}",
            words(&e.to_string())
        ))),
    }
}

/// Why [`check_key_pair`] refused a pair, in words, and which file is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPairError {
    /// The certificate cannot be used (an X.509 v1 certificate, ...).
    #[error("{0}")]
    Certificate(String),
    /// The key is not the certificate's, or cannot be used with it.
    #[error("{0}")]
    Key(String),
}

/// A TLS alert in words (`unknown CA`, `certificate required`).
pub fn alert_text(a: &AlertDescription) -> String {
    match a {
        AlertDescription::UnknownCA => "unknown CA".into(),
        other => words(&format!("{other:?}")),
    }
}

/// Whether the failure says the other end does not speak TLS at all: what it sent is no
/// TLS record (a plain HTTP/2 server or client).
pub fn not_tls(e: &TlsError) -> bool {
    matches!(e, TlsError::InvalidMessage(_))
}

/// Why bgpd's admin API refused a TLS client, for its warning.
pub fn refused_client(e: &TlsError, ca: Option<&str>) -> String {
    match e {
        e if not_tls(e) => {
            "the client does not speak TLS (plain gRPC: `understudy` needs --tls-ca)".into()
        }
        TlsError::NoCertificatesPresented => format!(
            "the client gave no certificate (admin_tls.ca {} asks for one: `understudy` needs \
             --tls-cert and --tls-key)",
            ca.unwrap_or("-")
        ),
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the client's certificate is not signed by admin_tls.ca {}",
            ca.unwrap_or("-")
        ),
        TlsError::InvalidCertificate(c) => {
            format!("the client's certificate {}", certificate_problem(c))
        }
        TlsError::AlertReceived(a) => format!(
            "the client refused bgpd's certificate ({}): its --tls-ca must be the CA that \
             signed admin_tls.cert",
            alert_text(a)
        ),
        other => words(&other.to_string()),
    }
}

/// `UnsupportedCertVersion` as `unsupported cert version`; text with spaces unchanged.
pub fn words(s: &str) -> String {
    if s.contains(' ') {
        return s.to_string();
    }
    // `Other(OtherError(UnsupportedCertVersion))`: the innermost name.
    let name = s.rsplit('(').next().unwrap_or(s).trim_end_matches(')');
    let mut out = String::with_capacity(name.len() + 8);
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_upper = i > 0 && chars[i - 1].is_uppercase();
        if c.is_uppercase() && i > 0 && (prev_lower || (prev_upper && next_lower)) {
            out.push(' ');
        }
        // Keep acronyms (CA, OCSP) upper case; lower the first letter of a word.
        if c.is_uppercase()
            && !next_lower
            && (prev_upper || chars.get(i + 1).is_some_and(|n| n.is_uppercase()))
        {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_become_words() {
        assert_eq!(
            words("Other(OtherError(UnsupportedCertVersion))"),
            "unsupported cert version"
        );
        assert_eq!(words("UnknownCA"), "unknown CA");
        assert_eq!(words("CertificateRequired"), "certificate required");
        assert_eq!(
            words("peer sent no certificates"),
            "peer sent no certificates"
        );
    }

    #[test]
    fn an_unknown_issuer_is_said_in_words() {
        assert_eq!(
            certificate_problem(&CertificateError::UnknownIssuer),
            "is not signed by a CA trusted here"
        );
        let text = refused_client(
            &TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
            Some("/etc/ca.pem"),
        );
        assert_eq!(
            text,
            "the client's certificate is not signed by admin_tls.ca /etc/ca.pem"
        );
        assert!(!text.contains("UnknownIssuer"));
    }

    #[test]
    fn a_tls_error_is_found_inside_an_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::NoCertificatesPresented,
        );
        assert_eq!(
            find_tls_error(&io),
            Some(&TlsError::NoCertificatesPresented)
        );
        let plain = std::io::Error::other("nothing");
        assert_eq!(find_tls_error(&plain), None);
    }
}
