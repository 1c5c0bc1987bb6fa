//! gRPC contracts of understudy, generated from `proto/*.proto` by tonic-prost-build.
//! No logic lives here.
#![allow(missing_docs, missing_debug_implementations, clippy::all)]

/// The admin API served by `bgpd` and used by the `understudy` CLI.
pub mod admin {
    tonic::include_proto!("understudy.admin.v1");
}

/// The checkpoint protocol between a primary and its standbys.
pub mod ribsync {
    tonic::include_proto!("understudy.ribsync.v1");
}

/// Encoded `FileDescriptorSet` of every service, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("understudy_descriptor");
