//! The authenticated, encrypted channel between the two control-domain
//! shims (feature `shim`, std).
//!
//! - [`handshake`]: SPAKE2 from the migration password, per-direction keys
//!   and key confirmation, so a wrong password fails during the handshake on
//!   both sides and an eavesdropper cannot test guesses offline.
//! - [`aead`]: the record ciphers, AES-256-GCM where the CPU accelerates
//!   AES and ChaCha20-Poly1305 otherwise, negotiated in the handshake.
//! - [`record`]: records under that cipher with a per-direction sequence
//!   number (nonce and associated data), bounded lengths, and an
//!   authenticated close record that tells an orderly end from a cut.
//! - [`SecureChannel`], [`SecureSender`], [`SecureReceiver`]: the channel
//!   and its two halves for a relay that reads and writes concurrently.
//! - [`bandwidth`]: the token bucket behind `--max-bandwidth`.
//! - [`memory`]: an in-memory duplex stream for running the channel in one
//!   process.
//! - `fixed_key` (feature `fuzzing` only): a sender and a receiver under a
//!   fixed key, for the record layer's fuzz target.
//! - [`ChannelError`]: one variant per failure (wrong password, tampered,
//!   replayed, out of order, too long, truncated, ...).

pub mod aead;
pub mod bandwidth;
mod channel;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fixed_key;
mod halves;
pub mod handshake;
pub mod memory;
pub mod record;

pub use aead::Aead;
pub use channel::{CloneableStream, SecureChannel};
pub use error::{ChannelError, Truncation};
pub use halves::{SecureReceiver, SecureSender};
pub use handshake::{Role, HANDSHAKE_LEN, PROTOCOL_NAME, PROTOCOL_VERSION};
pub use memory::{memory_duplex, MemoryStream};
pub use record::{MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, RECORD_OVERHEAD};
