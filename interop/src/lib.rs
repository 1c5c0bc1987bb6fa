//! interop: the understudy lab (network namespaces, real BGP neighbours, scenarios).
