//! The daemon's state directory: what happened to the machine its host
//! file describes, kept across crashes and restarts.
//!
//! The host file describes the machine (memory, strands, services, the
//! domains it started with); the state directory says what became of it:
//! each domain's state (active, bound, inactive, migrating out or in with
//! its peer and how far, error with recovery text), where its memory is
//! bound, the machine's power policy and delayed reconfiguration, and the
//! domains that left (migrated away, removed). One file, `state.json`,
//! rewritten whole after every change: written to a temporary file,
//! `fsync`ed, renamed over the old one, and the directory `fsync`ed, so a
//! crash at any moment leaves either the old state or the new one.
//!
//! A restarted daemon ([`restart`]) never shows a domain that left; a
//! migration that was in flight ends cleanly: before its commit the source
//! keeps the domain and the target's reservation is released; once the
//! commit may have happened, the domain is in the error state with what
//! the administrator must check, on the side that cannot know.
//!
//! - [`record`]: the file's contents;
//! - [`file`]: the directory, its lock and the crash-safe write;
//! - [`restart`]: what a restart makes of each domain's record.

pub mod file;
pub mod record;
pub mod restart;

pub use file::{StateDirectory, StateError};
pub use record::{Condition, Departed, DomainRecord, IncomingPhase, OutgoingPhase, StateFile};
