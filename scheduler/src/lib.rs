//! geozarr-scheduler: the scheduler of the distributed engine — a pure
//! state machine ([`state`]) wrapped by a tonic gRPC server ([`server`]).
//! It needs no geozarr-core: tasks reach it as opaque JSON with a typed
//! kind for progress and messages (the client side lives in the CLI,
//! `src/cluster/`).

pub mod server;
pub mod state;
