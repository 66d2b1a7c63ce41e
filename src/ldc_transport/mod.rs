//! The engine's channel to the control-domain shim over LDC: migration
//! frames through descriptor rings in the engine's memory, exported
//! through the LDC map table and copied by the shim with `LDC_COPY` (the
//! way sun4v vnet and vdisk move bulk data), and the control protocol as
//! LDC messages on the same channel. `no_std`, no heap, behind no feature.
//!
//! ```text
//!  engine (hypervisor side)                        shim (control domain)
//!  SourceEngine / TargetEngine                     relay <-> network to the peer shim
//!     | Transport                                       | Transport
//!  EngineEndpoint ---- LDC messages (LdcLink) ---- ShimEndpoint
//!     |   Hello/HelloAck, RingRegister/-ed,             |
//!     |   requests, events, errors (control)            |
//!     |                                                 |
//!     +-- exported memory (map table, COPY_R/COPY_W) <--+ LDC_COPY only
//!         transmit ring + slots: engine writes, READY --> shim COPY_IN, COPY_OUT DONE
//!         receive ring + slots:  shim COPY_OUT frame, sequence, READY --> engine reads, FREE
//! ```
//!
//! Descriptor states (VIO's numbers), per ring slot:
//! ```text
//!  transmit ring:  FREE --engine writes frame--> READY --shim copies in--> DONE --engine reclaims--> FREE
//!  receive ring:   FREE --shim copies out--> READY --engine reads--> FREE
//! ```
//!
//! Choices (documented in `hv/API.md`, "Bulk path"):
//! - **Both rings are the engine's.** The reverse direction (frames from
//!   the remote target to this engine) uses a second ring the engine
//!   exports with `COPY_W`, into which the shim copies out. The shim
//!   exports nothing and needs only `LDC_COPY`, which a control-domain
//!   process reaches through a virtual-LDC driver (Solaris `vldc` offers
//!   exactly cookie read/write); the engine never calls `LDC_COPY`.
//! - **Completion by memory, not messages.** The shim marks a transmit
//!   descriptor DONE with a `COPY_OUT` of its first word (so the ring
//!   pages carry `COPY_W`); the engine polls its own memory to reclaim.
//!   The shim polls the next descriptor with one `COPY_IN` of 32 bytes. No
//!   LDC message per frame: the link carries only control messages.
//! - **Frames carry their own CRC32**; the ring adds none. A frame damaged
//!   in a slot is caught by the target engine's frame check.
//! - **One slot per frame**: slots are as large as the largest frame
//!   (whole 8 KiB pages); a larger frame is refused with
//!   `FrameTooLarge`. Each slot is one cookie and a size (consecutive
//!   map-table entries), copied page by page.
//!
//! What survives a reset of the LDC link (channel reset, the peer's queue
//! reconfigured, a protocol error): everything of the bulk path. The
//! rings, their frames and both sides' positions live in memory that a
//! link reset does not touch, and `LDC_COPY` does not depend on the
//! link's handshake. The control messages are resent as the link contract
//! says (exactly once, in order: [`messenger`]). After the link is back
//! the shim says Hello again; the engine checks its map table is still
//! registered (registers and rewrites it if not: the "re-export") and sends
//! a new registration; the shim keeps its positions when the engine and
//! the rings are the same, and pauses the rings until then. A new engine
//! session (the engine restarted) starts from the positions it announces;
//! a new shim resumes from the engine's oldest unreclaimed frame (frames
//! already marked DONE are skipped). Lost only when a side goes away for
//! good: then the migration's own timeouts end it cleanly.
//!
//! Sub-modules, one concept each:
//! - [`ring`]: ring geometry (the descriptor's layout and states are
//!   [`crate::wire::descriptor`]);
//! - [`layout`]: where queues, map table, rings and slots live;
//! - [`export`]: map-table entries and ring initialisation, re-export;
//! - [`messenger`]: exactly-once control messages across link resets;
//! - [`channel`]: what both ends hold alike (link, messenger, memory,
//!   counters);
//! - [`control`]: the engine–shim control protocol (versioned, state
//!   diagram there);
//! - [`engine_side`]: [`EngineEndpoint`], the engine's [`Transport`];
//! - the shim's end (`ShimEndpoint`, its layout, `LDC_COPY` of a whole
//!   range, the relay to the peer link) is in `ldmig-shim` (`ldc_end`);
//! - [`statistics`], [`error`].
//!
//! [`Transport`]: crate::transport::Transport

pub mod channel;
pub mod control;
pub mod engine_side;
pub mod error;
pub mod export;
pub mod layout;
pub mod messenger;
pub mod ring;
pub mod statistics;

pub use channel::ChannelCore;
pub use engine_side::{EngineConfig, EngineEndpoint, EngineSession};
pub use error::{BulkError, DescriptorFault};
pub use layout::EngineLayout;
pub use ring::RingGeometry;
pub use statistics::BulkStatistics;
