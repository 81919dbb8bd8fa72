//! geozarr-proto: the gRPC protocol of the distributed engine
//! (`geozarr.proto`, compiled with protox — no protoc needed).

#![allow(clippy::all, missing_docs)]

/// Generated messages and the `Scheduler` service (client and server).
pub mod pb {
    tonic::include_proto!("geozarr.v1");
}

pub use pb::*;

/// Metadata key carrying the shared token.
pub const TOKEN_HEADER: &str = "authorization";

/// The `authorization` value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub mod client;
