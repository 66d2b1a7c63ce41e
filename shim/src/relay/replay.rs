//! The frames a relay sent that the peer has not acknowledged yet: kept
//! (bounded by bytes) so that a resumed connection sends them again, and
//! let go as the peer's acknowledgements come.
//!
//! Frames are counted from the start of the migration: frame `n` is the
//! `n`-th frame this side sent (from 0). The peer acknowledges a count,
//! "I handed the first `n` frames to my engine", never a single frame.

use std::collections::VecDeque;

/// Bytes of unacknowledged frames a relay keeps at most: a sender with
/// this much unacknowledged waits for the peer's acknowledgement (on a
/// loopback link acknowledgements come every [`ACK_EVERY`] frames, well
/// before; at 1 Gbit/s it is about a quarter of a second of frames).
pub const REPLAY_CAPACITY: usize = 32 << 20;

/// A receiver acknowledges every this many frames.
pub const ACK_EVERY: u64 = 8;

/// Why the peer's count does not fit what this side sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The peer counts frames this side never sent.
    AheadOfSent {
        /// The peer's count.
        received: u64,
        /// Frames this side sent.
        sent: u64,
    },
    /// The peer lacks frames it acknowledged before (they are gone).
    BehindAcknowledged {
        /// The peer's count.
        received: u64,
        /// Frames it had acknowledged.
        acknowledged: u64,
    },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::AheadOfSent { received, sent } => write!(
                f,
                "the peer says it received {received} frames, but only {sent} were sent"
            ),
            ReplayError::BehindAcknowledged {
                received,
                acknowledged,
            } => write!(
                f,
                "the peer says it received {received} frames, but it had acknowledged {acknowledged}"
            ),
        }
    }
}

/// The unacknowledged frames, oldest first.
#[derive(Debug, Default)]
pub struct ReplayLog {
    frames: VecDeque<Vec<u8>>,
    /// The count of the first frame kept (= frames acknowledged).
    first: u64,
    bytes: usize,
}

impl ReplayLog {
    /// Keeps a copy of the frame about to be sent.
    pub fn push(&mut self, frame: &[u8]) {
        self.bytes += frame.len();
        self.frames.push_back(frame.to_vec());
    }

    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.first + self.frames.len() as u64
    }

    /// Frames the peer acknowledged so far.
    pub fn acknowledged(&self) -> u64 {
        self.first
    }

    /// Bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if a frame of `length` bytes may be kept now (one frame always
    /// may, whatever its size).
    pub fn has_room_for(&self, length: usize) -> bool {
        self.frames.is_empty() || self.bytes + length <= REPLAY_CAPACITY
    }

    /// The peer handed the first `received` frames to its engine: they are
    /// let go. An older count than one seen before changes nothing.
    pub fn acknowledge(&mut self, received: u64) -> Result<(), ReplayError> {
        let sent = self.sent();
        if received > sent {
            return Err(ReplayError::AheadOfSent { received, sent });
        }
        while self.first < received {
            if let Some(frame) = self.frames.pop_front() {
                self.bytes -= frame.len();
            }
            self.first += 1;
        }
        Ok(())
    }

    /// For a resumed connection whose peer received `received` frames:
    /// those are let go, and the rest, oldest first, are to be sent again.
    pub fn resend_after(
        &mut self,
        received: u64,
    ) -> Result<impl Iterator<Item = &[u8]>, ReplayError> {
        if received < self.first {
            return Err(ReplayError::BehindAcknowledged {
                received,
                acknowledged: self.first,
            });
        }
        self.acknowledge(received)?;
        Ok(self.frames.iter().map(Vec::as_slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(frames: &[&[u8]]) -> ReplayLog {
        let mut log = ReplayLog::default();
        for frame in frames {
            log.push(frame);
        }
        log
    }

    #[test]
    fn acknowledgements_let_frames_go_in_order() {
        let mut log = log_of(&[b"one", b"two", b"three"]);
        assert_eq!((log.sent(), log.acknowledged(), log.bytes()), (3, 0, 11));
        log.acknowledge(2).expect("two of three");
        assert_eq!((log.sent(), log.acknowledged(), log.bytes()), (3, 2, 5));
        // An older acknowledgement (it overtook nothing) changes nothing.
        log.acknowledge(1).expect("stale");
        assert_eq!(log.acknowledged(), 2);
        assert_eq!(
            log.acknowledge(4),
            Err(ReplayError::AheadOfSent {
                received: 4,
                sent: 3
            })
        );
    }

    #[test]
    fn a_resumed_peer_gets_exactly_the_frames_it_lacks() {
        let mut log = log_of(&[b"a", b"b", b"c", b"d"]);
        log.acknowledge(1).expect("one");
        let again: Vec<Vec<u8>> = log
            .resend_after(2)
            .expect("resumable")
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(again, vec![b"c".to_vec(), b"d".to_vec()]);
        assert_eq!(log.acknowledged(), 2);
        // Frames it acknowledged are gone: it cannot ask for them again.
        assert_eq!(
            log.resend_after(1).err(),
            Some(ReplayError::BehindAcknowledged {
                received: 1,
                acknowledged: 2
            })
        );
        assert!(matches!(
            log.resend_after(9),
            Err(ReplayError::AheadOfSent {
                received: 9,
                sent: 4
            })
        ));
        assert_eq!(log.resend_after(4).expect("all").count(), 0);
    }

    #[test]
    fn the_log_is_bounded_by_bytes_but_always_takes_one_frame() {
        let mut log = ReplayLog::default();
        assert!(log.has_room_for(REPLAY_CAPACITY * 2));
        log.push(&vec![0; REPLAY_CAPACITY - 10]);
        assert!(log.has_room_for(10));
        assert!(!log.has_room_for(11));
        log.acknowledge(1).expect("one");
        assert!(log.has_room_for(REPLAY_CAPACITY));
        assert_eq!(log.bytes(), 0);
    }
}
