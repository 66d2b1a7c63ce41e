//! The engine–shim control protocol (version 1), carried as LDC messages
//! next to the bulk path: session set-up and ring registration, requests
//! from the shim, events and errors from the engine.
//!
//! Every message is a 16-byte envelope (magic, version, kind, the sender's
//! session id and message number) and one fixed big-endian body per kind
//! ([`crate::wire::control`]). Message numbers make the stream exactly-once
//! across LDC resets: after a reset each side resends what the link reports
//! unacknowledged, and drops what it already has (see
//! [`super::messenger`]).
//!
//! ```text
//!  shim                                            engine
//!   | -- LDC link connected (after every reset too) --|
//!   | Hello {oldest, newest} ------------------------> |  AwaitHello
//!   | <--------------- HelloAck {version, max frame}   |  (newest common version)
//!   | <- RingRegister {generation, ring cookies, pos}  |  map table checked (re-export)
//!   | RingRegistered {generation} -------------------> |  bulk path in use
//!   | <----------- Error {UnsupportedVersion}          |  (instead, when no common version)
//!
//!  engine-side request handling (EngineControl; the host does the work):
//!
//!               Migrate | DryRun: Accepted, Command::Migrate to the host
//!     +------+ --------------------------------------------------> +---------+
//!     | Idle |                                                      | Running |
//!     +------+ <-------------------------------------------------- +---------+
//!        ^  |   host finish(): Result {kind, source state, statistics}   |  |
//!        |  |                                                            |  |
//!        +--+ Status: Error{NotMigrating}       Status: Progress ---------+  |
//!             Cancel: Error{NotMigrating}       host report(): Phase*, Progress*
//!             Migrate/DryRun bad: Error         host warn(): Warning*       |
//!                                               Migrate | DryRun: Error{Busy}
//!                                               Cancel: Command::Cancel ----+
//!                                                 host answer: Accepted | Error{CancelRefused}
//!   in both states: ListDomains | ListFreeMemory: Command to the host,
//!                   entries (DomainEntry* | FreeMemoryEntry*), then ListEnd
//!   before the session is set up: any request -> Error{NotReady}
//! ```
//!
//! - [`crate::wire::control`]: the envelope, the bodies, the typed
//!   [`Message`](crate::wire::control::Message), the decoder (bounds every
//!   length, never panics) and encoder.
//! - [`engine`]: [`EngineControl`], the engine side's request handler, a
//!   state machine the host (harness, daemon, firmware) drives.
//! - the shim side's requests and event queue (`ShimControl`) are in
//!   `ldmig-shim` (`ldc_end::control`).

pub mod engine;

pub use engine::{drop_oldest_progress, Command, ControlState, EngineControl};

/// A host call on the control state machines that cannot be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// Too many events wait to be sent; try again after the endpoint polled.
    Backlog,
    /// The request named is not the one running, or none runs.
    UnknownRequest(u32),
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ControlError::Backlog => f.write_str("too many control events wait to be sent"),
            ControlError::UnknownRequest(request) => {
                write!(f, "request {request} is not running")
            }
        }
    }
}
