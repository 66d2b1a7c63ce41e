//! The shim of a machine whose migration engine runs in the machine
//! itself, behind its serial line (`ldmig serve --serial`): the ldmig
//! firmware on QEMU `-M niagara`, its UART on a TCP character device. The
//! engine's frames, the machine's status and console text share the line
//! ([`ldmig::serial_link`]); this shim relays the frames to the peer shim
//! over the secure channel, as the LDC-based daemon does for its
//! simulated engines, logs the console, and answers `migrate-domain` and
//! `list -o status` from what the machine reports.
//!
//! - [`line`]: the TCP character device as a `SerialLine`;
//! - [`machine`]: the pump thread: link, console log, status, commands,
//!   frames to and from the relay;
//! - [`status`]: the machine's status as `list` shows it;
//! - [`daemon`]: the daemon (control socket, peers);
//! - [`outgoing`], [`incoming`]: the two sides of a migration.

pub mod daemon;
pub mod incoming;
pub mod line;
pub mod machine;
pub mod outgoing;
pub mod status;

pub use daemon::{SerialDaemon, SerialOptions};
pub use status::SerialEngineInfo;
