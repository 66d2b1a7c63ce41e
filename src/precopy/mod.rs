//! Live pre-copy migration: the source and target state machines and the
//! pieces they share (dirty set, bandwidth meter, convergence policy).

pub mod bandwidth;
pub mod compression;
pub mod config;
pub mod dirty_set;
pub mod outcome;
pub mod policy;
pub mod rate;
pub mod source;
mod step_error;
pub mod target;

pub use config::MigrationConfig;
pub use outcome::{Failure, Outcome, SourceDomainState};
pub use source::{DomainShape, SourceBuffers, SourceEngine, SourcePoll};
pub use target::{TargetEngine, TargetPoll};
