//! GoBGP adapter (in progress).
