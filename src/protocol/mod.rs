//! The migration protocol between the source and target engines (wire
//! version 1), carried in [`crate::wire`] frames.
//!
//! ```text
//!  source                                           target
//!    | Hello {version, domain shape, options}  ---->  | reserve: create domain,
//!    |                                                |   bind every block at its RA
//!    | <---- HelloAck {accepted | refused + reason}   |
//!    | Pages {records}* , RoundEnd {round, pages} --> |  round 0: every page
//!    | <---- RoundAck {round}                         |  round n: pages dirtied since
//!    |        ... one Pages*/RoundEnd per round ...   |
//!    | [switchover: wait for the last RoundAck, so   |
//!    |  no backlog is in flight when the vCPUs stop]  |
//!    | [suspend vCPUs]                                |
//!    | Suspended, Pages*, VcpuState x vcpus,          |
//!    | Commit {totals} --------------------------->   |  verify counts and CRCs,
//!    |                                                |  load vCPU state
//!    | <---- CommitAck                                |  resume the domain
//!    | [destroy source domain]                        |
//!    | <---- Resumed                                  |
//!
//!  Cancel {reason} either way before Commit: source resumes, target
//!  releases its reservation. Failure {reason} either way on an error.
//!  No CommitAck after Commit: the source domain goes to the error state
//!  (it may already run on the target) and never runs twice.
//! ```
//!
//! Every payload is a fixed-layout big-endian struct; decoders check the
//! payload length and every enum before use.

pub mod messages;

pub use messages::*;
