//! ORIGIN (type 1, RFC 4271 section 5.1.1): well-known mandatory, one octet.

use super::Malformed;
use serde::Serialize;

/// The ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// IGP (0): interior to the originating AS.
    Igp,
    /// EGP (1): learned via the EGP protocol.
    Egp,
    /// INCOMPLETE (2): learned by some other means.
    Incomplete,
}

impl Origin {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

/// RFC 7606 section 7.1: malformed if the length is not 1 or the value is undefined
/// ("treat-as-withdraw").
pub(crate) fn decode(value: &[u8]) -> Result<Origin, Malformed> {
    match value {
        [0] => Ok(Origin::Igp),
        [1] => Ok(Origin::Egp),
        [2] => Ok(Origin::Incomplete),
        [_] => Err(Malformed::withdraw("ORIGIN value undefined")),
        _ => Err(Malformed::withdraw("ORIGIN length is not 1")),
    }
}
