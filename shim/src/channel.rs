//! An in-process frame channel between an engine thread and the shim's
//! relay thread: bounded by bytes, both ends non-blocking for the engine.
//!
//! On T-series hardware this seam is an LDC channel; here both sides live in
//! one process, so a pair of byte-bounded queues stands in for it.

use ldmig::transport::{Transport, TransportError};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<([Queue; 2], bool)>,
    changed: Condvar,
    capacity: usize,
}

/// One end of a [`frame_channel`].
#[derive(Debug, Clone)]
pub struct ChannelEnd {
    shared: Arc<Shared>,
    side: usize,
}

/// A connected pair; each direction holds at most `capacity` bytes.
pub fn frame_channel(capacity: usize) -> (ChannelEnd, ChannelEnd) {
    let shared = Arc::new(Shared {
        queues: Mutex::new(([Queue::default(), Queue::default()], false)),
        changed: Condvar::new(),
        capacity,
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
    pub fn send_wait(&self, frame: Vec<u8>) -> Result<(), TransportError> {
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
    pub fn receive_blocking(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
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
        queue.frames.push_back(frame.to_vec());
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
        buffer[..size].copy_from_slice(frame);
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
            Ok(Some(vec![1; 60]))
        );
        assert_eq!(engine.send(&[2; 60]), Ok(true));
        assert_eq!(relay.send_wait(vec![9; 3]), Ok(()));
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
        assert_eq!(waiter.join().expect("thread"), Ok(Some(vec![7; 4])));
    }
}
