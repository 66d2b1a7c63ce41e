//! The daemon's bounds: how much a client or a peer may ask of it, how long
//! it waits, how many connections it keeps, how it backs off from peers
//! that fail to authenticate, and how much it logs about them.
//!
//! - [`limits`]: the numbers ([`Limits`]), with their defaults;
//! - [`backoff`]: per-address back-off after failed authentications;
//! - [`log_limit`]: rate-limited, summarised log lines;
//! - [`slots`]: a counted cap on concurrent connections.

pub mod backoff;
pub mod limits;
pub mod log_limit;
pub mod slots;

pub use backoff::AuthBackoff;
pub use limits::Limits;
pub use log_limit::LogLimiter;
pub use slots::{Slot, Slots};
