//! ExaBGP adapter (in progress).
