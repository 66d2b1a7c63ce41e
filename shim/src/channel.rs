//! An in-process frame channel between an engine thread and the shim's
//! relay thread: bounded by bytes, both ends non-blocking for the engine.
//!
//! On T-series hardware this seam is an LDC channel; here both sides live in
//! one process, so a pair of byte-bounded queues stands in for it.
//!
//! A frame the engine's side sends is copied once, into a buffer with room
//! before it ([`QueuedFrame::start`]: the channel's headroom) and after it,
//! so that the relay seals it into a record where it lies; a frame the
//! relay hands in is passed as the buffer it arrived in, from its start.

use ldmig::transport::{Transport, TransportError};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A frame in the channel: its bytes are `bytes[start..]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedFrame {
    /// The buffer.
    pub bytes: Vec<u8>,
    /// Where the frame starts in it.
    pub start: usize,
}

impl QueuedFrame {
    /// A frame that is the whole buffer.
    pub fn whole(bytes: Vec<u8>) -> Self {
        QueuedFrame { bytes, start: 0 }
    }

    /// The frame's bytes.
    pub fn frame(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or(&[])
    }

    /// Bytes of the frame.
    pub fn len(&self) -> usize {
        self.frame().len()
    }

    /// True for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<QueuedFrame>,
    bytes: usize,
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<([Queue; 2], bool)>,
    changed: Condvar,
    capacity: usize,
    headroom: usize,
    tailroom: usize,
}

/// One end of a [`frame_channel`].
#[derive(Debug, Clone)]
pub struct ChannelEnd {
    shared: Arc<Shared>,
    side: usize,
}

/// A connected pair; each direction holds at most `capacity` bytes.
pub fn frame_channel(capacity: usize) -> (ChannelEnd, ChannelEnd) {
    frame_channel_with_room(capacity, 0, 0)
}

/// A connected pair whose frames sent through [`Transport::send`] get
/// `headroom` bytes before them and capacity for `tailroom` after them.
pub fn frame_channel_with_room(
    capacity: usize,
    headroom: usize,
    tailroom: usize,
) -> (ChannelEnd, ChannelEnd) {
    let shared = Arc::new(Shared {
        queues: Mutex::new(([Queue::default(), Queue::default()], false)),
        changed: Condvar::new(),
        capacity,
        headroom,
        tailroom,
    });
    (
        ChannelEnd {
            shared: shared.clone(),
            side: 0,
        },
        ChannelEnd { shared, side: 1 },
    )
}

impl ChannelEnd {
    fn lock(&self) -> MutexGuard<'_, ([Queue; 2], bool)> {
        self.shared
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the channel both ways; the other end sees `Disconnected`.
    pub fn close(&self) {
        self.lock().1 = true;
        self.shared.changed.notify_all();
    }

    /// True once either end closed.
    pub fn is_closed(&self) -> bool {
        self.lock().1
    }

    /// Sends, waiting as long as it takes for room (for the relay thread);
    /// `Disconnected` once either end closed.
    pub fn send_wait(&self, frame: QueuedFrame) -> Result<(), TransportError> {
        let mut guard = self.lock();
        loop {
            if guard.1 {
                return Err(TransportError::Disconnected);
            }
            let queue = &mut guard.0[self.side];
            if queue.bytes == 0 || queue.bytes + frame.len() <= self.shared.capacity {
                queue.bytes += frame.len();
                queue.frames.push_back(frame);
                self.shared.changed.notify_all();
                return Ok(());
            }
            guard = self
                .shared
                .changed
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// True while frames from the other end wait to be read here.
    pub fn has_unread(&self) -> bool {
        !self.lock().0[1 - self.side].frames.is_empty()
    }

    /// Takes the next frame, waiting up to `timeout` (for the relay thread).
    pub fn receive_blocking(
        &self,
        timeout: Duration,
    ) -> Result<Option<QueuedFrame>, TransportError> {
        let mut guard = self.lock();
        loop {
            let other = 1 - self.side;
            if let Some(frame) = guard.0[other].frames.pop_front() {
                guard.0[other].bytes -= frame.len();
                self.shared.changed.notify_all();
                return Ok(Some(frame));
            }
            if guard.1 {
                return Err(TransportError::Disconnected);
            }
            let (next, result) = self
                .shared
                .changed
                .wait_timeout(guard, timeout)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            guard = next;
            if result.timed_out() {
                return Ok(None);
            }
        }
    }
}

impl Transport for ChannelEnd {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        let mut guard = self.lock();
        if guard.1 {
            return Err(TransportError::Disconnected);
        }
        let queue = &mut guard.0[self.side];
        if queue.bytes > 0 && queue.bytes + frame.len() > self.shared.capacity {
            return Ok(false);
        }
        queue.bytes += frame.len();
        let (headroom, tailroom) = (self.shared.headroom, self.shared.tailroom);
        let mut bytes = Vec::with_capacity(headroom + frame.len() + tailroom);
        bytes.resize(headroom, 0);
        bytes.extend_from_slice(frame);
        queue.frames.push_back(QueuedFrame {
            bytes,
            start: headroom,
        });
        self.shared.changed.notify_all();
        Ok(true)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let mut guard = self.lock();
        let other = 1 - self.side;
        let Some(frame) = guard.0[other].frames.front() else {
            return if guard.1 {
                Err(TransportError::Disconnected)
            } else {
                Ok(None)
            };
        };
        if frame.len() > buffer.len() {
            return Err(TransportError::FrameTooLarge {
                size: frame.len(),
                capacity: buffer.len(),
            });
        }
        let size = frame.len();
        buffer[..size].copy_from_slice(frame.frame());
        guard.0[other].frames.pop_front();
        guard.0[other].bytes -= size;
        self.shared.changed.notify_all();
        Ok(Some(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order_and_capacity_holds() {
        let (mut engine, relay) = frame_channel(100);
        assert_eq!(engine.send(&[1; 60]), Ok(true));
        assert_eq!(engine.send(&[2; 60]), Ok(false));
        assert_eq!(
            relay.receive_blocking(Duration::from_millis(1)),
            Ok(Some(QueuedFrame::whole(vec![1; 60])))
        );
        assert_eq!(engine.send(&[2; 60]), Ok(true));
        assert_eq!(relay.send_wait(QueuedFrame::whole(vec![9; 3])), Ok(()));
        assert!(relay.has_unread());
        let mut buffer = [0u8; 10];
        assert_eq!(engine.receive(&mut buffer), Ok(Some(3)));
        assert_eq!(engine.receive(&mut buffer), Ok(None));
        relay.close();
        assert_eq!(
            engine.receive(&mut buffer),
            Err(TransportError::Disconnected)
        );
        assert_eq!(engine.send(&[0]), Err(TransportError::Disconnected));
    }

    #[test]
    fn blocking_receive_times_out_then_wakes() {
        let (mut engine, relay) = frame_channel(100);
        assert_eq!(relay.receive_blocking(Duration::from_millis(5)), Ok(None));
        let waiter = std::thread::spawn(move || relay.receive_blocking(Duration::from_secs(5)));
        assert_eq!(engine.send(&[7; 4]), Ok(true));
        assert_eq!(
            waiter.join().expect("thread"),
            Ok(Some(QueuedFrame::whole(vec![7; 4])))
        );
    }

    #[test]
    fn frames_get_their_room_and_keep_their_start() {
        let (mut engine, relay) = frame_channel_with_room(100, 13, 17);
        assert_eq!(engine.send(&[5; 10]), Ok(true));
        let frame = relay
            .receive_blocking(Duration::from_millis(1))
            .expect("open")
            .expect("a frame");
        assert_eq!((frame.start, frame.frame()), (13, &[5u8; 10][..]));
        assert!(frame.bytes.capacity() >= 13 + 10 + 17);
        relay
            .send_wait(QueuedFrame {
                bytes: vec![0, 0, 1, 2, 3],
                start: 2,
            })
            .expect("room");
        let mut buffer = [0u8; 8];
        assert_eq!(engine.receive(&mut buffer), Ok(Some(3)));
        assert_eq!(&buffer[..3], &[1, 2, 3]);
    }
}
