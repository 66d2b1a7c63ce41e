//! The record layer: sealing and opening records under the negotiated
//! cipher (AES-256-GCM or ChaCha20-Poly1305, [`super::aead`]) with a
//! per-direction sequence number, over any `Write`/`Read`.
//!
//! A record on the wire:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | ciphertext length, big-endian (17 ..= 4 MiB + 17) |
//! | 8 | sequence number, big-endian |
//! | length | the cipher's encryption of `payload || record type`, then the 16-byte tag |
//!
//! The nonce is four zero bytes and the sequence number; the associated data
//! is the 12-byte header. Each direction has its own key, so nonces never
//! repeat under one key. The record type (1 data, 2 close; 0 invalid) is
//! sealed with the payload: only an authentic close record ends a stream in
//! order. The receiver opens a record under the sequence number the record
//! claims and then compares it with the one it expects, which tells a
//! tampered record (it does not open) from a replayed or reordered one (it
//! opens, under another number).

use super::aead::{Aead, RecordCipher, NONCE_LEN};
use super::bandwidth::TokenBucket;
use super::error::{ChannelError, Truncation};
use std::io::{self, Read, Write};
use std::num::NonZeroU64;
use std::thread;
use std::time::Instant;

/// Bytes of a record header: ciphertext length and sequence number.
pub const RECORD_HEADER_LEN: usize = 12;
/// Bytes of the tag.
pub const TAG_LEN: usize = super::aead::TAG_LEN;
/// The largest payload one record carries (4 MiB).
pub const MAX_PAYLOAD_LEN: usize = 4 << 20;
/// Bytes a record adds to its payload on the wire (header, type, tag).
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + RECORD_TRAILER_LEN;
/// Bytes a record adds after its payload: the record type and the tag.
pub const RECORD_TRAILER_LEN: usize = 1 + TAG_LEN;
/// The smallest ciphertext length (an empty payload).
const MIN_CIPHERTEXT_LEN: usize = 1 + TAG_LEN;
/// The largest ciphertext length.
const MAX_CIPHERTEXT_LEN: usize = MAX_PAYLOAD_LEN + 1 + TAG_LEN;

/// Record types, sealed with the payload. 0 is invalid.
const RECORD_DATA: u8 = 1;
const RECORD_CLOSE: u8 = 2;

/// Where one half of the channel stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Broken,
}

fn nonce(sequence: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[4..].copy_from_slice(&sequence.to_be_bytes());
    nonce
}

/// The sealing half: key, next sequence number, bandwidth cap.
pub(crate) struct SendState {
    cipher: RecordCipher,
    sequence: u64,
    /// The record being built, kept to reuse its allocation.
    scratch: Vec<u8>,
    bucket: Option<TokenBucket>,
    status: Status,
    wire_bytes: u64,
    /// Records the bandwidth cap held back before they went out.
    throttle_waits: u64,
}

impl SendState {
    pub(crate) fn new(aead: Aead, key: &[u8; 32]) -> Self {
        SendState {
            cipher: RecordCipher::new(aead, key),
            sequence: 0,
            scratch: Vec::new(),
            bucket: None,
            status: Status::Open,
            wire_bytes: 0,
            throttle_waits: 0,
        }
    }

    pub(crate) fn set_max_bandwidth(&mut self, bytes_per_second: Option<NonZeroU64>) {
        self.bucket = bytes_per_second.map(|rate| TokenBucket::new(rate, Instant::now()));
    }

    pub(crate) fn max_bandwidth(&self) -> Option<NonZeroU64> {
        self.bucket.as_ref().map(TokenBucket::bytes_per_second)
    }

    pub(crate) fn records_sent(&self) -> u64 {
        self.sequence
    }

    pub(crate) fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    pub(crate) fn throttle_waits(&self) -> u64 {
        self.throttle_waits
    }

    pub(crate) fn send<W: Write>(
        &mut self,
        writer: &mut W,
        payload: &[u8],
    ) -> Result<(), ChannelError> {
        self.send_record(writer, RECORD_DATA, payload)
    }

    /// Sends the close record once; later calls do nothing.
    pub(crate) fn close<W: Write>(&mut self, writer: &mut W) -> Result<(), ChannelError> {
        if self.status == Status::Closed {
            return Ok(());
        }
        self.send_record(writer, RECORD_CLOSE, &[])?;
        self.status = Status::Closed;
        Ok(())
    }

    /// Seals the payload at `buffer[payload_start..]` into a record where
    /// it lies and writes it: the header goes into the
    /// [`RECORD_HEADER_LEN`] bytes before the payload (`payload_start` must
    /// leave them), the record type and the tag after it (reserve
    /// [`RECORD_TRAILER_LEN`] bytes of capacity to spare a reallocation).
    /// The payload is not copied.
    pub(crate) fn send_in_place<W: Write>(
        &mut self,
        writer: &mut W,
        buffer: &mut Vec<u8>,
        payload_start: usize,
    ) -> Result<(), ChannelError> {
        if payload_start < RECORD_HEADER_LEN || payload_start > buffer.len() {
            return Err(ChannelError::NoHeadroom {
                available: payload_start.min(buffer.len()),
                needed: RECORD_HEADER_LEN,
            });
        }
        self.check_sendable(buffer.len() - payload_start)?;
        self.seal_and_write(writer, buffer, payload_start, RECORD_DATA)
    }

    fn check_sendable(&self, payload_len: usize) -> Result<(), ChannelError> {
        match self.status {
            Status::Open => {}
            Status::Closed => return Err(ChannelError::Closed),
            Status::Broken => return Err(ChannelError::Broken),
        }
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(ChannelError::PayloadTooLarge {
                length: payload_len,
                max: MAX_PAYLOAD_LEN,
            });
        }
        // u64::MAX is never used, so the receiver's next expected number
        // always exists.
        if self.sequence == u64::MAX {
            return Err(ChannelError::SequenceExhausted);
        }
        Ok(())
    }

    fn send_record<W: Write>(
        &mut self,
        writer: &mut W,
        record_type: u8,
        payload: &[u8],
    ) -> Result<(), ChannelError> {
        self.check_sendable(payload.len())?;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.reserve(RECORD_HEADER_LEN + payload.len() + RECORD_TRAILER_LEN);
        scratch.resize(RECORD_HEADER_LEN, 0);
        scratch.extend_from_slice(payload);
        let result = self.seal_and_write(writer, &mut scratch, RECORD_HEADER_LEN, record_type);
        self.scratch = scratch;
        result
    }

    /// Seals `buffer[payload_start..]` (then `record_type`) in place under
    /// the next sequence number and writes the record, which starts
    /// [`RECORD_HEADER_LEN`] bytes before the payload.
    fn seal_and_write<W: Write>(
        &mut self,
        writer: &mut W,
        buffer: &mut Vec<u8>,
        payload_start: usize,
        record_type: u8,
    ) -> Result<(), ChannelError> {
        let payload_len = buffer.len() - payload_start;
        let ciphertext_len = payload_len + 1 + TAG_LEN;
        let mut header = [0u8; RECORD_HEADER_LEN];
        // At most MAX_CIPHERTEXT_LEN, which fits a u32.
        header[..4].copy_from_slice(&(ciphertext_len as u32).to_be_bytes());
        header[4..].copy_from_slice(&self.sequence.to_be_bytes());
        let record_start = payload_start - RECORD_HEADER_LEN;
        buffer[record_start..payload_start].copy_from_slice(&header);
        buffer.push(record_type);
        let tag = self
            .cipher
            .seal(&nonce(self.sequence), &header, &mut buffer[payload_start..])
            .map_err(|_| ChannelError::PayloadTooLarge {
                length: payload_len,
                max: MAX_PAYLOAD_LEN,
            })?;
        buffer.extend_from_slice(&tag);
        let record = &buffer[record_start..];
        if let Some(bucket) = &mut self.bucket {
            let wait = bucket.reserve(record.len(), Instant::now());
            if !wait.is_zero() {
                self.throttle_waits += 1;
                thread::sleep(wait);
            }
        }
        if let Err(error) = writer.write_all(record).and_then(|()| writer.flush()) {
            // Part of the record may be on the wire: nothing can follow it.
            self.status = Status::Broken;
            return Err(ChannelError::Io(error));
        }
        self.wire_bytes += record.len() as u64;
        self.sequence += 1;
        Ok(())
    }
}

/// The opening half: key, next expected sequence number, and the record
/// being read, kept across read timeouts so that a receive resumes.
pub(crate) struct ReceiveState {
    cipher: RecordCipher,
    expected: u64,
    header: [u8; RECORD_HEADER_LEN],
    header_filled: usize,
    /// The ciphertext being read, once its header passed the bounds check.
    body: Option<Vec<u8>>,
    body_filled: usize,
    status: Status,
    wire_bytes: u64,
}

impl ReceiveState {
    pub(crate) fn new(aead: Aead, key: &[u8; 32]) -> Self {
        ReceiveState {
            cipher: RecordCipher::new(aead, key),
            expected: 0,
            header: [0u8; RECORD_HEADER_LEN],
            header_filled: 0,
            body: None,
            body_filled: 0,
            status: Status::Open,
            wire_bytes: 0,
        }
    }

    pub(crate) fn records_received(&self) -> u64 {
        self.expected
    }

    pub(crate) fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// The next payload, or `None` for the peer's close record.
    pub(crate) fn receive<R: Read>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<Vec<u8>>, ChannelError> {
        match self.status {
            Status::Open => {}
            Status::Closed => return Err(ChannelError::Closed),
            Status::Broken => return Err(ChannelError::Broken),
        }
        match self.receive_record(reader) {
            Ok(Some(payload)) => Ok(Some(payload)),
            Ok(None) => {
                self.status = Status::Closed;
                Ok(None)
            }
            Err(ChannelError::TimedOut) => Err(ChannelError::TimedOut),
            Err(error) => {
                self.status = Status::Broken;
                Err(error)
            }
        }
    }

    fn receive_record<R: Read>(&mut self, reader: &mut R) -> Result<Option<Vec<u8>>, ChannelError> {
        while self.header_filled < RECORD_HEADER_LEN {
            let count = read_some(reader, &mut self.header[self.header_filled..])?;
            if count == 0 {
                return Err(ChannelError::Truncated(if self.header_filled == 0 {
                    Truncation::WithoutClose {
                        records_received: self.expected,
                    }
                } else {
                    Truncation::MidRecord {
                        received: self.header_filled,
                        expected: RECORD_HEADER_LEN,
                    }
                }));
            }
            self.header_filled += count;
            self.wire_bytes += count as u64;
        }
        let mut length_bytes = [0u8; 4];
        length_bytes.copy_from_slice(&self.header[..4]);
        let length = u32::from_be_bytes(length_bytes);
        let mut sequence_bytes = [0u8; 8];
        sequence_bytes.copy_from_slice(&self.header[4..]);
        let sequence = u64::from_be_bytes(sequence_bytes);

        let mut body = match self.body.take() {
            Some(body) => body,
            None => {
                // Bounded before anything is allocated.
                let ciphertext_len = length as usize;
                if ciphertext_len > MAX_CIPHERTEXT_LEN {
                    return Err(ChannelError::RecordTooLong {
                        length,
                        max: MAX_CIPHERTEXT_LEN as u32,
                    });
                }
                if ciphertext_len < MIN_CIPHERTEXT_LEN {
                    return Err(ChannelError::RecordTooShort {
                        length,
                        min: MIN_CIPHERTEXT_LEN as u32,
                    });
                }
                self.body_filled = 0;
                vec![0u8; ciphertext_len]
            }
        };
        while self.body_filled < body.len() {
            let count = match read_some(reader, &mut body[self.body_filled..]) {
                Ok(count) => count,
                Err(error) => {
                    // Kept for a receive that resumes after a timeout.
                    self.body = Some(body);
                    return Err(error);
                }
            };
            if count == 0 {
                return Err(ChannelError::Truncated(Truncation::MidRecord {
                    received: RECORD_HEADER_LEN + self.body_filled,
                    expected: RECORD_HEADER_LEN + body.len(),
                }));
            }
            self.body_filled += count;
            self.wire_bytes += count as u64;
        }

        // The whole record is in: the next receive starts a new one.
        let header = self.header;
        self.header_filled = 0;
        self.body_filled = 0;
        let mut plaintext = body;
        let tag_start = plaintext.len() - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&plaintext[tag_start..]);
        plaintext.truncate(tag_start);
        self.cipher
            .open(&nonce(sequence), &header, &mut plaintext, &tag)
            .map_err(|_| ChannelError::Tampered { sequence })?;
        if sequence < self.expected {
            return Err(ChannelError::Replayed {
                sequence,
                expected: self.expected,
            });
        }
        if sequence > self.expected {
            return Err(ChannelError::OutOfOrder {
                sequence,
                expected: self.expected,
            });
        }
        self.expected = self
            .expected
            .checked_add(1)
            .ok_or(ChannelError::SequenceExhausted)?;
        match plaintext.pop() {
            Some(RECORD_DATA) => Ok(Some(plaintext)),
            Some(RECORD_CLOSE) => Ok(None),
            Some(record_type) => Err(ChannelError::UnknownRecordType { record_type }),
            // The length bound leaves at least the type byte.
            None => Err(ChannelError::RecordTooShort {
                length,
                min: MIN_CIPHERTEXT_LEN as u32,
            }),
        }
    }
}

/// One `read`, retried on interruption; a read timeout is `TimedOut` (the
/// caller keeps what it has and resumes later).
fn read_some<R: Read>(reader: &mut R, buffer: &mut [u8]) -> Result<usize, ChannelError> {
    loop {
        match reader.read(buffer) {
            Ok(count) => return Ok(count),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ChannelError::TimedOut)
            }
            Err(error) => return Err(ChannelError::Io(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const KEY: [u8; 32] = [7u8; 32];
    const AEAD: Aead = Aead::ChaCha20Poly1305;

    /// Seals `payloads` (then a close record when `close`) into bytes.
    fn sealed(payloads: &[&[u8]], close: bool) -> Vec<u8> {
        sealed_with(AEAD, payloads, close)
    }

    fn sealed_with(aead: Aead, payloads: &[&[u8]], close: bool) -> Vec<u8> {
        let mut sender = SendState::new(aead, &KEY);
        let mut wire = Vec::new();
        for payload in payloads {
            sender.send(&mut wire, payload).expect("send");
        }
        if close {
            sender.close(&mut wire).expect("close");
        }
        wire
    }

    fn open_all(wire: &[u8]) -> (Vec<Vec<u8>>, Result<(), ChannelError>) {
        open_all_with(AEAD, wire)
    }

    fn open_all_with(aead: Aead, wire: &[u8]) -> (Vec<Vec<u8>>, Result<(), ChannelError>) {
        let mut receiver = ReceiveState::new(aead, &KEY);
        let mut reader = Cursor::new(wire);
        let mut payloads = Vec::new();
        loop {
            match receiver.receive(&mut reader) {
                Ok(Some(payload)) => payloads.push(payload),
                Ok(None) => return (payloads, Ok(())),
                Err(error) => return (payloads, Err(error)),
            }
        }
    }

    #[test]
    fn records_round_trip_and_close_in_order() {
        for aead in Aead::ALL {
            let wire = sealed_with(aead, &[b"", b"one", &[0xAB; 1000]], true);
            assert_eq!(wire.len(), 3 + 1000 + 4 * RECORD_OVERHEAD);
            let (payloads, end) = open_all_with(aead, &wire);
            end.expect("clean close");
            assert_eq!(
                payloads,
                vec![Vec::new(), b"one".to_vec(), vec![0xAB; 1000]],
                "{aead}"
            );
            // Records of one cipher do not open under the other.
            let other = Aead::ALL
                .into_iter()
                .find(|other| *other != aead)
                .expect("two");
            let (payloads, end) = open_all_with(other, &wire);
            assert!(
                payloads.is_empty() && matches!(end, Err(ChannelError::Tampered { sequence: 0 }))
            );
        }
    }

    #[test]
    fn the_header_is_authenticated_and_the_payload_hidden() {
        for aead in Aead::ALL {
            let wire = sealed_with(aead, &[b"secret payload"], true);
            assert!(!wire.windows(14).any(|window| window == b"secret payload"));
            // Flipping any single bit of the first record is detected.
            let first_record_len = RECORD_OVERHEAD + 14;
            for bit in 0..first_record_len * 8 {
                let mut altered = wire.clone();
                altered[bit / 8] ^= 1 << (bit % 8);
                let (payloads, end) = open_all_with(aead, &altered);
                assert!(
                    payloads.is_empty(),
                    "{aead} bit {bit}: altered record accepted"
                );
                assert!(
                    end.is_err(),
                    "{aead} bit {bit}: altered stream closed cleanly"
                );
            }
        }
    }

    #[test]
    fn a_bit_flip_in_the_ciphertext_is_tampered() {
        let mut wire = sealed(&[b"payload"], true);
        wire[RECORD_HEADER_LEN + 2] ^= 0x10;
        let (_, end) = open_all(&wire);
        assert!(matches!(end, Err(ChannelError::Tampered { sequence: 0 })));
    }

    #[test]
    fn replayed_and_reordered_records_are_named() {
        let wire = sealed(&[b"zero", b"one", b"two"], true);
        // "zero" is 4 bytes, "one" and "two" are 3.
        let bounds = [
            (0, RECORD_OVERHEAD + 4),
            (RECORD_OVERHEAD + 4, 2 * RECORD_OVERHEAD + 7),
            (2 * RECORD_OVERHEAD + 7, 3 * RECORD_OVERHEAD + 10),
        ];
        let record = |index: usize| wire[bounds[index].0..bounds[index].1].to_vec();
        // The records in this order, the payloads opened before the
        // refusal, and the refusal.
        type Named = fn(&ChannelError) -> bool;
        let cases: [([usize; 3], usize, Named); 2] = [
            ([0, 1, 1], 2, |error| {
                matches!(
                    error,
                    ChannelError::Replayed {
                        sequence: 1,
                        expected: 2
                    }
                )
            }),
            ([0, 2, 1], 1, |error| {
                matches!(
                    error,
                    ChannelError::OutOfOrder {
                        sequence: 2,
                        expected: 1
                    }
                )
            }),
        ];
        for (order, opened, named) in cases {
            let stream: Vec<u8> = order.iter().flat_map(|&index| record(index)).collect();
            let (payloads, end) = open_all(&stream);
            assert_eq!(payloads.len(), opened, "{order:?}");
            assert!(end.as_ref().is_err_and(named), "{order:?}: {end:?}");
        }
    }

    #[test]
    fn lengths_are_bounded_before_reading() {
        let mut too_long = [0u8; RECORD_HEADER_LEN];
        too_long[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        let (_, end) = open_all(&too_long);
        assert!(matches!(
            end,
            Err(ChannelError::RecordTooLong {
                length: u32::MAX,
                ..
            })
        ));
        let mut too_short = [0u8; RECORD_HEADER_LEN];
        too_short[..4].copy_from_slice(&16u32.to_be_bytes());
        let (_, end) = open_all(&too_short);
        assert!(matches!(
            end,
            Err(ChannelError::RecordTooShort { length: 16, .. })
        ));
    }

    #[test]
    fn truncations_say_where() {
        let wire = sealed(&[b"abc", b"defg"], true);
        let first_len = RECORD_OVERHEAD + 3;
        let (payloads, end) = open_all(&wire[..first_len]);
        assert_eq!(payloads.len(), 1);
        assert!(matches!(
            end,
            Err(ChannelError::Truncated(Truncation::WithoutClose {
                records_received: 1
            }))
        ));
        let (_, end) = open_all(&wire[..first_len + 5]);
        assert!(matches!(
            end,
            Err(ChannelError::Truncated(Truncation::MidRecord {
                received: 5,
                expected: RECORD_HEADER_LEN
            }))
        ));
        let (_, end) = open_all(&wire[..first_len + 20]);
        assert!(matches!(
            end,
            Err(ChannelError::Truncated(Truncation::MidRecord {
                received: 20,
                expected: 33
            }))
        ));
    }

    #[test]
    fn a_failed_receiver_stays_failed() {
        let mut wire = sealed(&[b"a", b"b"], true);
        wire[RECORD_HEADER_LEN] ^= 1;
        let mut receiver = ReceiveState::new(AEAD, &KEY);
        let mut reader = Cursor::new(&wire[..]);
        assert!(matches!(
            receiver.receive(&mut reader),
            Err(ChannelError::Tampered { .. })
        ));
        assert!(matches!(
            receiver.receive(&mut reader),
            Err(ChannelError::Broken)
        ));
    }

    #[test]
    fn oversized_payloads_are_refused_and_nothing_is_sent() {
        let mut sender = SendState::new(AEAD, &KEY);
        let mut wire = Vec::new();
        let payload = vec![0u8; MAX_PAYLOAD_LEN + 1];
        assert!(matches!(
            sender.send(&mut wire, &payload),
            Err(ChannelError::PayloadTooLarge { .. })
        ));
        assert!(wire.is_empty());
        // The sender is still usable.
        sender.send(&mut wire, b"ok").expect("send after refusal");
    }

    #[test]
    fn nothing_is_sent_after_close() {
        let mut sender = SendState::new(AEAD, &KEY);
        let mut wire = Vec::new();
        sender.close(&mut wire).expect("close");
        sender.close(&mut wire).expect("close again is a no-op");
        assert!(matches!(
            sender.send(&mut wire, b"late"),
            Err(ChannelError::Closed)
        ));
        assert_eq!(wire.len(), RECORD_OVERHEAD);
    }

    /// A reader that gives a few bytes, then a timeout, then the rest.
    struct Stuttering<'a> {
        bytes: &'a [u8],
        position: usize,
        reads: usize,
    }

    impl Read for Stuttering<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.reads.is_multiple_of(2) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "timeout"));
            }
            let count = buffer.len().min(5).min(self.bytes.len() - self.position);
            buffer[..count].copy_from_slice(&self.bytes[self.position..self.position + count]);
            self.position += count;
            Ok(count)
        }
    }

    #[test]
    fn a_receive_resumes_after_a_read_timeout() {
        let wire = sealed(&[b"resumable payload"], true);
        let mut receiver = ReceiveState::new(AEAD, &KEY);
        let mut reader = Stuttering {
            bytes: &wire,
            position: 0,
            reads: 0,
        };
        let mut timeouts = 0;
        let payload = loop {
            match receiver.receive(&mut reader) {
                Ok(payload) => break payload,
                Err(ChannelError::TimedOut) => timeouts += 1,
                Err(error) => panic!("unexpected {error}"),
            }
        };
        assert!(timeouts > 3);
        assert_eq!(payload.as_deref(), Some(&b"resumable payload"[..]));
    }

    #[test]
    fn a_payload_sealed_in_place_is_the_same_record() {
        let mut copied = Vec::new();
        SendState::new(AEAD, &KEY)
            .send(&mut copied, b"frame bytes")
            .expect("send");
        let mut buffer = vec![0u8; RECORD_HEADER_LEN + 3];
        buffer.extend_from_slice(b"frame bytes");
        let mut in_place = Vec::new();
        let mut sender = SendState::new(AEAD, &KEY);
        sender
            .send_in_place(&mut in_place, &mut buffer, RECORD_HEADER_LEN + 3)
            .expect("send in place");
        assert_eq!(in_place, copied);
        let (payloads, _) = open_all(&in_place);
        assert_eq!(payloads, vec![b"frame bytes".to_vec()]);
        let mut no_room = b"xy".to_vec();
        assert!(sender
            .send_in_place(&mut in_place, &mut no_room, 1)
            .is_err());
    }
}
