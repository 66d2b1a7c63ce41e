//! `ldmig-shim`: the control-domain shim (std). The daemon of one machine
//! and its local control protocol, the authenticated link to the peer
//! machine's shim, the relay between the engines and that link, the shim's
//! end of each engine's LDC channel, and the harness that runs whole
//! migrations between simulated machines.
//!
//! The engine (`ldmig`) stays `no_std` and heap-free; this is the userspace
//! side that `ldm`-like commands talk to.
//!
//! - [`daemon`], [`control`], [`incoming`], [`outgoing`], [`peer`],
//!   [`channel`], [`relay`], [`digest`]: the daemon of one machine;
//! - [`control_socket`], [`password`], [`targets`], [`bounds`]: who may
//!   steer it, with which password, to where, and how much anyone may ask
//!   of it;
//! - [`persist`]: its state directory, kept across crashes;
//! - [`hooks`]: its test hooks (hold a migration at a phase);
//! - [`operations`], [`listing`]: its `ldm` operations and `list`;
//! - [`secure`]: the authenticated, encrypted channel between shims;
//! - [`ldc_end`]: the shim's end of an engine's LDC channel;
//! - [`host`]: the glue that puts a simulated engine and its LDC hop in
//!   one process (what the daemon and the harness share);
//! - [`serial`]: the daemon of a machine whose engine runs in the machine,
//!   behind its serial line (the firmware on QEMU niagara);
//! - [`allocator`]: the allocator keeps freed frame buffers for the next;
//! - [`timeline`]: a migration's samples over time, as JSON lines and a
//!   picture;
//! - [`harness`]: deterministic whole migrations for tests, benchmarks and
//!   the demo.
#![deny(missing_docs)]

pub mod allocator;
pub mod bounds;
pub mod channel;
pub mod control;
pub mod control_socket;
pub mod daemon;
pub mod dialing;
pub mod digest;
pub mod harness;
pub mod hooks;
pub mod host;
pub mod incoming;
pub mod ldc_end;
pub mod listing;
pub mod logging;
pub mod operations;
pub mod outgoing;
pub mod password;
pub mod peer;
pub mod persist;
pub mod relay;
pub mod secure;
pub mod serial;
pub mod targets;
#[cfg(test)]
mod test_scratch;
pub mod timeline;

pub use control::{call, Event, Request};
pub use daemon::{Daemon, DaemonOptions, LogSink};
