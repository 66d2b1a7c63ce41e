//! Messages as START/STOP fragments of at most 48 bytes (Linux `ldc.c`
//! `write_nonraw`/`read_nonraw`; `hv/REFERENCES.md`, "LDC link protocol"):
//! splitting on the way out, reassembly on the way in.
//!
//! The first fragment has START, the last STOP, a one-packet message both,
//! middle fragments neither. A receiver that sees no START where a message
//! must begin, or a START inside one, has lost synchronisation; the link
//! layer resets rather than guess (a silently dropped message would be
//! acknowledged by the next one's ACK, since ACKs are cumulative).

use core::fmt;

use super::packet::Packet;
use crate::abi::ldc::LDC_RELIABLE_PAYLOAD;

/// The largest message the link layer carries, in bytes (as Linux DS's MTU).
pub const MAX_MESSAGE_SIZE: usize = 4096;

/// Packets a message of `length` bytes takes (at least one).
pub fn fragment_count(length: usize) -> usize {
    length.div_ceil(LDC_RELIABLE_PAYLOAD).max(1)
}

/// One outgoing fragment: its START/STOP bits and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fragment<'a> {
    pub(crate) start: bool,
    pub(crate) stop: bool,
    pub(crate) bytes: &'a [u8],
}

/// The fragments of `message`, in order.
pub(crate) fn fragments(message: &[u8]) -> impl Iterator<Item = Fragment<'_>> {
    let count = fragment_count(message.len());
    (0..count).map(move |index| {
        let from = index * LDC_RELIABLE_PAYLOAD;
        let to = (from + LDC_RELIABLE_PAYLOAD).min(message.len());
        Fragment {
            start: index == 0,
            stop: index + 1 == count,
            bytes: message.get(from..to).unwrap_or(&[]),
        }
    })
}

/// Why incoming fragments cannot form a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentError {
    /// A message began without START.
    MissingStart,
    /// START arrived inside a message.
    UnexpectedStart,
    /// The message grew past [`MAX_MESSAGE_SIZE`].
    TooLong,
}

impl fmt::Display for FragmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FragmentError::MissingStart => f.write_str("a message began without START"),
            FragmentError::UnexpectedStart => f.write_str("START inside a message"),
            FragmentError::TooLong => {
                write!(f, "message longer than {MAX_MESSAGE_SIZE} bytes")
            }
        }
    }
}

/// Where the reassembly stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// No message started.
    Idle,
    /// Fragments received; the first carried `first_seqid`.
    Receiving { first_seqid: u32 },
    /// A whole message waits to be taken.
    Complete,
}

/// The one message being reassembled (or waiting to be taken).
#[derive(Clone, Debug)]
pub(crate) struct Reassembly {
    buffer: [u8; MAX_MESSAGE_SIZE],
    length: usize,
    progress: Progress,
}

impl Reassembly {
    /// Empty.
    pub(crate) fn new() -> Self {
        Reassembly {
            buffer: [0; MAX_MESSAGE_SIZE],
            length: 0,
            progress: Progress::Idle,
        }
    }

    /// Drops any partial or waiting message.
    pub(crate) fn clear(&mut self) {
        self.length = 0;
        self.progress = Progress::Idle;
    }

    /// A whole message waits to be taken.
    pub(crate) fn is_complete(&self) -> bool {
        self.progress == Progress::Complete
    }

    /// The sequence id of the first fragment of a partial message.
    pub(crate) fn partial_first_seqid(&self) -> Option<u32> {
        match self.progress {
            Progress::Receiving { first_seqid } => Some(first_seqid),
            Progress::Idle | Progress::Complete => None,
        }
    }

    /// Adds one data fragment (already accepted in sequence); returns
    /// whether the message is now complete. Must not be called while a
    /// complete message waits.
    pub(crate) fn push(&mut self, packet: &Packet) -> Result<bool, FragmentError> {
        match (self.progress, packet.is_start()) {
            (Progress::Idle, false) => return Err(FragmentError::MissingStart),
            (Progress::Receiving { .. }, true) => return Err(FragmentError::UnexpectedStart),
            (Progress::Complete, _) => return Err(FragmentError::UnexpectedStart),
            (Progress::Idle, true) => {
                self.length = 0;
                self.progress = Progress::Receiving {
                    first_seqid: packet.seqid,
                };
            }
            (Progress::Receiving { .. }, false) => {}
        }
        let data = packet.data();
        let end = self.length + data.len();
        let Some(slot) = self.buffer.get_mut(self.length..end) else {
            return Err(FragmentError::TooLong);
        };
        slot.copy_from_slice(data);
        self.length = end;
        if packet.is_stop() {
            self.progress = Progress::Complete;
        }
        Ok(packet.is_stop())
    }

    /// Length of the waiting message, if one is complete.
    pub(crate) fn complete_length(&self) -> Option<usize> {
        self.is_complete().then_some(self.length)
    }

    /// Copies the waiting message into `out` (which must hold it) and
    /// clears it; returns its length.
    pub(crate) fn take(&mut self, out: &mut [u8]) -> Option<usize> {
        let length = self.complete_length()?;
        out.get_mut(..length)?
            .copy_from_slice(&self.buffer[..length]);
        self.clear();
        Some(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets_of(message: &[u8], first_seqid: u32) -> impl Iterator<Item = Packet> + '_ {
        fragments(message)
            .zip(first_seqid..)
            .map(|(fragment, seqid)| {
                Packet::data_fragment(seqid, fragment.start, fragment.stop, fragment.bytes)
            })
    }

    #[test]
    fn fragment_counts_and_bits() {
        assert_eq!(fragment_count(0), 1);
        assert_eq!(fragment_count(1), 1);
        assert_eq!(fragment_count(48), 1);
        assert_eq!(fragment_count(49), 2);
        assert_eq!(fragment_count(MAX_MESSAGE_SIZE), 86);
        let message = [7u8; 100];
        let bits: [(bool, bool, usize); 3] =
            [(true, false, 48), (false, false, 48), (false, true, 4)];
        let mut count = 0;
        for (fragment, expected) in fragments(&message).zip(bits) {
            assert_eq!(
                (fragment.start, fragment.stop, fragment.bytes.len()),
                expected
            );
            count += 1;
        }
        assert_eq!(count, 3);
        let single = fragments(&message[..5]).next().expect("one fragment");
        assert!(single.start && single.stop);
    }

    #[test]
    fn reassembles_every_size_up_to_the_maximum() {
        let mut source = [0u8; MAX_MESSAGE_SIZE];
        for (index, byte) in source.iter_mut().enumerate() {
            *byte = (index * 7 + 3).to_le_bytes()[0];
        }
        let mut reassembly = Reassembly::new();
        let mut out = [0u8; MAX_MESSAGE_SIZE];
        for size in [
            1,
            2,
            47,
            48,
            49,
            95,
            96,
            97,
            1000,
            MAX_MESSAGE_SIZE - 1,
            MAX_MESSAGE_SIZE,
        ] {
            let message = &source[..size];
            let mut completed = 0;
            for packet in packets_of(message, 5) {
                assert_eq!(reassembly.partial_first_seqid().is_some(), packet.seqid > 5);
                if reassembly.push(&packet).expect("in order") {
                    completed += 1;
                }
            }
            assert_eq!(completed, 1);
            assert_eq!(reassembly.take(&mut out), Some(size));
            assert_eq!(&out[..size], message);
            assert!(!reassembly.is_complete());
        }
    }

    #[test]
    fn broken_fragment_rules_are_errors() {
        let message = [1u8; 100];
        let packets: [Packet; 3] = {
            let mut iterator = packets_of(&message, 1);
            [
                iterator.next().expect("first"),
                iterator.next().expect("middle"),
                iterator.next().expect("last"),
            ]
        };
        let mut reassembly = Reassembly::new();
        assert_eq!(
            reassembly.push(&packets[1]),
            Err(FragmentError::MissingStart)
        );
        assert_eq!(reassembly.push(&packets[0]), Ok(false));
        assert_eq!(reassembly.partial_first_seqid(), Some(1));
        assert_eq!(
            reassembly.push(&packets[0]),
            Err(FragmentError::UnexpectedStart)
        );
        reassembly.clear();
        assert_eq!(reassembly.partial_first_seqid(), None);
        // A message that never stops overflows the buffer.
        let chunk = [0u8; 48];
        assert_eq!(
            reassembly.push(&Packet::data_fragment(1, true, false, &chunk)),
            Ok(false)
        );
        let mut result = Ok(false);
        for seqid in 2..200 {
            result = reassembly.push(&Packet::data_fragment(seqid, false, false, &chunk));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(FragmentError::TooLong));
    }

    #[test]
    fn take_needs_a_big_enough_buffer() {
        let mut reassembly = Reassembly::new();
        let packet = Packet::data_fragment(1, true, true, &[9; 10]);
        assert_eq!(reassembly.push(&packet), Ok(true));
        let mut small = [0u8; 4];
        assert_eq!(reassembly.take(&mut small), None);
        assert_eq!(reassembly.complete_length(), Some(10));
        let mut big = [0u8; 16];
        assert_eq!(reassembly.take(&mut big), Some(10));
    }
}
