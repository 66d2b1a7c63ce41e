//! The LDC link layer: reliable (STREAM, mode 3) logical domain channels over
//! the `LDC_*` hypervisor calls, `no_std` and heap-free.
//!
//! An [`LdcLink`] is one channel endpoint, generic over any hypervisor that
//! implements [`crate::hypervisor::Ldc`] and [`crate::hypervisor::LocalMemory`]
//! (real `ta 0x80` calls on sun4v, or the simulated LDC on the host). It is
//! sans-IO: it never blocks, never reads a clock; the caller polls.
//!
//! ```text
//!   open() ──> Down ◄──────────── channel DOWN (the peer has no RX queue), from any state
//!               │ channel UP
//!               v
//!        Handshake(Open) ──send VERS INFO──> SentVersion ◄──┐ VERS NACK v: send VERS INFO
//!               │                             │   │    └────┘ (our best below v)
//!               │ VERS INFO: send ACK         │   │ VERS ACK: send RTS
//!               v                             │   v
//!          GotVersion ◄── crossing VERS INFO ─┘  SentRts ───────────┐
//!               │          (responder answers)    │                 │ crossing RTS
//!               │ RTS: send RTR                   │ RTR: send RDX   │ (responder answers)
//!               v                                 │                 │
//!            SentRtr ◄────────────────────────────┼─────────────────┘
//!               │ RDX (seqid = rcv_nxt + 1)       │
//!               v                                 v
//!           Connected ◄───────────────────────────┘
//!               │ channel RESET, NACK, unknown ACK, malformed packet, bad fragments,
//!               │ the peer's VERS INFO, restart()
//!               v
//!     reset ──> Handshake(Open); Err(Reset { cause, unacknowledged }) once if it was Connected
//!
//!   VERS NACK 0.0, no common version ──> Failed (until restart())
//!   RTS/RTR mode mismatch ──> Err(Failed(ModeMismatch)) reported, reset, Handshake(Open)
//!   stale handshake packets (an answer to an abandoned attempt) are ignored in every state
//! ```
//!
//! Sub-modules, one concept each:
//! - [`packet`]: the 64-byte packet, typed decode (never panics) and encode;
//! - [`queue`]: head/tail offset arithmetic of the power-of-2 queues;
//! - [`handshake`]: VERS → RTS → RTR → RDX, version negotiation, roles;
//! - [`sequence`]: sequence ids, ackids, messages in flight;
//! - [`fragment`]: START/STOP fragments of 48 bytes, reassembly;
//! - [`retry`]: the `EWOULDBLOCK` retry policy and its typed timeout;
//! - [`config`]: where the queues and map table live;
//! - [`error`]: [`LinkError`] and its parts;
//! - [`link`]: [`LdcLink`] itself.
//!
//! # Contract with the application
//! - Messages are 1 to [`LdcLink::max_message_size`] bytes (at most
//!   [`MAX_MESSAGE_SIZE`]), delivered whole and in order, or not at all.
//! - The receiver acknowledges a message when its application takes it
//!   with [`LdcLink::receive`]: an ACK means "delivered to the application".
//!   One complete message waits in the link until taken; packets behind it
//!   (including the ACKs for our own messages) wait in the receive queue, so
//!   an application must keep calling `receive` to make progress both ways.
//! - On any reset (the peer's or ours, the channel's, a protocol error) the
//!   call that notices returns [`LinkError::Reset`] once, with the number of
//!   messages sent and not yet acknowledged. Those may or may not have
//!   reached the peer's application: once the link is connected again
//!   (it re-handshakes by itself on later polls) the application resends
//!   them, oldest first. Delivery is therefore at-least-once across resets;
//!   a duplicate is possible only for a message taken just before a reset.
//! - The link does not time out a handshake by itself (it has no clock).
//!   An application with a deadline calls [`LdcLink::restart`].
//! - Exactly one end of a channel is [`LinkRole::Initiator`]; the role only
//!   breaks ties when both ends start a handshake at once.

pub mod config;
pub mod error;
pub mod fragment;
pub mod handshake;
pub mod link;
pub mod packet;
pub mod queue;
pub mod retry;
pub mod sequence;
pub mod side;

pub use config::{LinkConfig, MapTableConfig, QueueConfig};
pub use error::{ConfigError, HandshakeFailure, LdcCall, LinkError, QueueKind, ResetCause};
pub use fragment::{FragmentError, MAX_MESSAGE_SIZE};
pub use handshake::{HandshakeState, LinkRole, Version, LINK_VERSIONS};
pub use link::{LdcLink, LinkState, LinkStatistics};
pub use packet::PacketError;
pub use retry::RetryPolicy;
pub use sequence::MAX_MESSAGES_IN_FLIGHT;
pub use side::Side;
