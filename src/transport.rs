//! The link between the source and target engines: a frame-at-a-time,
//! non-blocking transport. LDC (through the shims) and the in-memory pipe
//! of the harness both implement it.

use core::fmt;

/// Why a transport operation failed (not "would block": that is `Ok`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The peer went away or the link was reset; the migration cannot go on.
    Disconnected,
    /// A received frame does not fit the caller's buffer.
    FrameTooLarge {
        /// Size of the waiting frame.
        size: usize,
        /// Size of the caller's buffer.
        capacity: usize,
    },
    /// The link layer failed in a way it names with a code (LDC, TCP...).
    Link(u32),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Disconnected => write!(f, "the link to the peer engine is down"),
            TransportError::FrameTooLarge { size, capacity } => {
                write!(
                    f,
                    "a {size}-byte frame arrived for a {capacity}-byte buffer"
                )
            }
            TransportError::Link(code) => write!(f, "link error {code}"),
        }
    }
}

/// A non-blocking, ordered, reliable frame transport.
pub trait Transport {
    /// Queues one whole frame. `Ok(false)` when there is no room now (try
    /// again on a later poll); the frame is then not sent at all.
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError>;
    /// Takes the next whole frame into `buffer`: `Ok(Some(size))`, or
    /// `Ok(None)` when nothing has arrived.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError>;
}

/// A transport borrowed mutably is one (so an engine can run over
/// `&mut dyn Transport`, one engine type for every link a host has).
impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        (**self).send(frame)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        (**self).receive(buffer)
    }
}
