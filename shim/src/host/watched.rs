//! A transport that shows each engine frame's type to a watcher before it
//! goes (and after it came): where the daemon records a migration's commit
//! point in its state directory before the frame that makes it leaves, and
//! where the test hooks hold a migration at a phase.
//!
//! The watcher sees only the frame header's type (no CRC is computed, no
//! payload read). It answers whether the frame may go now: `Ok(false)`
//! holds it back (the engine sees a full transport and offers it again
//! later), an error fails the send (the engine never believes a frame left
//! that its daemon could not record). An engine may offer the same frame
//! again: watchers act once per point, not once per call. For a frame
//! received, the answer is ignored (it is there).

use ldmig::transport::{Transport, TransportError};
use ldmig::wire::frame::{FrameHeader, FRAME_MAGIC};
use ldmig::wire::FrameType;
use zerocopy::FromBytes;

/// Which way a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From this engine to the peer (seen before it is sent).
    Outgoing,
    /// From the peer to this engine (seen once received).
    Incoming,
}

/// What a watcher is called with; `Ok(false)` holds the frame back, an
/// error stops it.
pub type Watcher = Box<dyn FnMut(Direction, FrameType) -> Result<bool, TransportError>>;

/// `inner`, with every frame's type shown to a watcher.
pub struct WatchedTransport<T> {
    inner: T,
    watcher: Watcher,
}

impl<T: Transport> WatchedTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, watcher: Watcher) -> Self {
        WatchedTransport { inner, watcher }
    }
}

/// The type of the frame in `bytes`, if its header says one.
pub fn frame_type(bytes: &[u8]) -> Option<FrameType> {
    let (header, _) = FrameHeader::read_from_prefix(bytes).ok()?;
    if header.magic.get() != FRAME_MAGIC {
        return None;
    }
    header.frame_type.get()
}

impl<T: Transport> Transport for WatchedTransport<T> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        if let Some(frame_type) = frame_type(frame) {
            if !(self.watcher)(Direction::Outgoing, frame_type)? {
                return Ok(false);
            }
        }
        self.inner.send(frame)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let received = self.inner.receive(buffer)?;
        if let Some(frame_type) = received.and_then(|size| frame_type(buffer.get(..size)?)) {
            let _ = (self.watcher)(Direction::Incoming, frame_type)?;
        }
        Ok(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::frame_channel;
    use ldmig::wire::messages::{write_empty_frame, write_frame, CommitAck};
    use std::cell::RefCell;
    use std::rc::Rc;
    use zerocopy::byteorder::big_endian::U64;

    #[test]
    fn the_watcher_sees_types_both_ways_and_can_stop_a_frame() {
        let (engine, mut peer) = frame_channel(1 << 20);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let mut watched = WatchedTransport::new(
            engine,
            Box::new(move |direction, frame_type| {
                log.borrow_mut().push((direction, frame_type));
                match frame_type {
                    FrameType::Commit => Err(TransportError::Disconnected),
                    FrameType::Ping => Ok(false),
                    _ => Ok(true),
                }
            }),
        );
        let mut frame = [0u8; 128];
        let ack = CommitAck {
            records_applied: U64::new(3),
        };
        let size = write_frame(&mut frame, 0, &ack).expect("fits");
        assert_eq!(frame_type(&frame[..size]), Some(FrameType::CommitAck));
        assert_eq!(watched.send(&frame[..size]), Ok(true));
        assert_eq!(peer.send(&frame[..size]), Ok(true));
        let mut buffer = [0u8; 128];
        assert_eq!(watched.receive(&mut buffer), Ok(Some(size)));
        // Bytes that are no frame pass unseen; a frame held back is not sent.
        assert_eq!(watched.send(b"not a frame"), Ok(true));
        let ping = write_empty_frame(&mut frame, FrameType::Ping, 1).expect("fits");
        assert_eq!(watched.send(&frame[..ping]), Ok(false));
        assert_eq!(frame_type(b"short"), None);
        frame[6..8].copy_from_slice(&(FrameType::Commit as u16).to_be_bytes());
        assert_eq!(
            watched.send(&frame[..size]),
            Err(TransportError::Disconnected)
        );
        assert_eq!(
            *seen.borrow(),
            vec![
                (Direction::Outgoing, FrameType::CommitAck),
                (Direction::Incoming, FrameType::CommitAck),
                (Direction::Outgoing, FrameType::Ping),
                (Direction::Outgoing, FrameType::Commit),
            ]
        );
    }
}
