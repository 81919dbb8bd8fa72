//! geozarr-proto: the gRPC protocol of the distributed engine
//! (`geozarr.proto`, compiled with protox — no protoc needed), the client
//! helpers workers and the CLI share ([`client`], [`tls`]), how tasks are worded
//! ([`task`]) and the log set-up of every geozarr binary ([`logging`]).

/// Generated messages and the `Scheduler` service (client and server).
#[allow(clippy::all, missing_docs)]
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
pub mod logging;
pub mod task;
pub mod tls;
