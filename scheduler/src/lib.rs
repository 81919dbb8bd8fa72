//! geozarr-scheduler: the scheduler of the distributed engine — a pure
//! state machine ([`state`]) wrapped by a tonic gRPC server ([`server`]) —
//! and the client side used by the CLI ([`client`]: submit, follow, local
//! clusters).

pub mod client;
pub mod server;
pub mod state;
