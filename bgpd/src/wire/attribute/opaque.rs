//! Validation of attributes this codec recognizes but carries as opaque bytes: PMSI_TUNNEL (22),
//! Tunnel Encapsulation (23), AIGP (26), BGP-LS (29), NHC (39), Prefix-SID (40).

use super::Malformed;

/// Checks the value of an opaque recognized attribute; unknown codes always pass.
pub(crate) fn validate(_code: u8, _value: &[u8]) -> Result<(), Malformed> {
    Ok(())
}
