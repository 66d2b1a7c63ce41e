//! The control-domain shim (std, feature `shim`): the daemon of one machine,
//! its local control protocol, the authenticated link to the peer machine's
//! shim, and the relay between the engines and that link.
//!
//! The engine itself stays `no_std`; this is the userspace side that
//! `ldm`-like commands talk to.

pub mod channel;
pub mod control;
pub mod daemon;
pub mod digest;
pub mod incoming;
pub mod outgoing;
pub mod peer;
pub mod relay;

pub use control::{call, Event, Request};
pub use daemon::{Daemon, DaemonOptions};
