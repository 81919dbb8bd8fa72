//! geozarr-scheduler: the scheduler of the distributed engine — a pure
//! state machine ([`state`]) wrapped by a tonic gRPC server ([`server`]),
//! and its command line ([`cli`]). It needs no geozarr-core: tasks reach it
//! as opaque JSON with a typed kind for progress and messages (the client
//! side is the geozarr-client crate).

pub mod cli;
pub mod feed;
pub mod server;
pub mod state;
