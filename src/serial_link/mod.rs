//! The engine's channel to its shim over a serial line (a UART and the
//! character device behind it): the engine's frames as a reliable stream,
//! each record checked by its CRC32, acknowledged and sent again when
//! damaged or lost, within the receiver's window (flow control); console
//! text on the same line between records; and two unsequenced control
//! records, the host's [`MachineStatus`] and the shim's [`Command`].
//! `no_std`, no heap: the firmware image runs it behind its UART, the shim
//! (`ldmig-shim`, `serial`) on the other end of the character device.
//!
//! ```text
//!  host (firmware)                                   shim
//!  SourceEngine | TargetEngine                       relay <-> peer shim
//!     | Transport (SerialTransport)                     |
//!  SerialLink ===== UART, QEMU chardev, TCP =====  SerialLink
//!     Data {position, bytes} ------------------------->   stream: [length u32 | frame]*
//!     <------------------------ Ack | Nak {received, window}
//!     <------------------------------------- Data ...    (the other direction alike)
//!     Status {MachineStatus} (every few 100 ms) ------->
//!     <----------------------------- Command {Migrate}   (repeated until Status shows it)
//!     console text, outside records ------------------->  the shim's log
//! ```
//!
//! - [`framing`]: records between START and END bytes, escaped, and text
//!   between them (the record format itself is [`crate::wire::serial`]);
//! - [`ring`]: the byte rings of both halves of the stream;
//! - [`link`]: [`SerialLink`], the [`SerialLine`] trait, the go-back
//!   retransmission and its bound;
//! - [`transport`]: [`SerialTransport`], the engine's [`Transport`].
//!
//! [`MachineStatus`]: crate::wire::serial::MachineStatus
//! [`Command`]: crate::wire::serial::Command
//! [`Transport`]: crate::transport::Transport

pub mod framing;
pub mod link;
pub mod ring;
pub mod transport;

pub use link::{LineError, LinkError, LinkStatistics, SerialLine, SerialLink};
pub use transport::SerialTransport;
