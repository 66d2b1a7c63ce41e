//! One end of the serial line: the reliable frame stream both ways, the
//! unsequenced control records, and console text, over any
//! [`SerialLine`]. No I/O of its own: [`SerialLink::poll`] reads what the
//! line has, answers, and writes what is due.
//!
//! The stream: each frame goes in as a 4-byte big-endian length and its
//! bytes; Data records carry stream bytes at their stream position. The
//! receiver takes bytes in order only, acknowledges the position it has
//! (with the room it has beyond it: the window), and on a damaged or
//! missing record sends a Nak, at most once per [`NAK_INTERVAL_NS`] for
//! one position. The sender keeps every byte until it is acknowledged,
//! sends within the window, and goes back to the oldest unacknowledged
//! byte on a Nak or when nothing was acknowledged for
//! [`RETRANSMIT_AFTER_NS`] — at most [`MAX_RETRIES`] times in a row for one
//! position, then the link has failed ([`LinkError::RetriesExhausted`]).
//!
//! A line may hold far more than the receiver takes in a retransmit
//! interval (a socket in front of a busy machine's UART), so a timeout is
//! no proof of loss. After one, the sender sends a single record (a probe)
//! until an Ack shows progress, then goes on after the highest position it
//! ever sent (the rest is presumed still on its way; a real loss shows as
//! a gap, and a Nak, once newer records arrive), and the timeout doubles with each go-back
//! in a row, up to [`MAX_BACKOFF_SHIFT`] doublings: a stalled receiver gets
//! a few duplicate records, not a window of them each interval. A Nak for
//! the position the sender went back to less than a timeout ago is the
//! receiver still seeing the old records and is not obeyed again.

use super::framing::{frame_record, LineDecoder, LineEvent, MAX_LINE_RECORD_BYTES};
use super::ring::ByteRing;
use crate::wire::serial::{
    encode_record, Command, MachineStatus, Record, RecordKind, MAX_DATA_PAYLOAD, MAX_RECORD_BYTES,
};
use crate::wire::WireStruct;
use core::fmt;
use zerocopy::IntoBytes;

/// Nothing acknowledged for this long: send again from the oldest byte.
pub const RETRANSMIT_AFTER_NS: u64 = 1_000_000_000;
/// Go-backs in a row for one position before the link gives up.
pub const MAX_RETRIES: u32 = 8;
/// The retransmit timeout doubles this many times at most.
pub const MAX_BACKOFF_SHIFT: u32 = 3;
/// An Ack at least this often (the window, and a sign of life).
pub const ACK_INTERVAL_NS: u64 = 100_000_000;
/// A Nak for the same position at most this often.
pub const NAK_INTERVAL_NS: u64 = 200_000_000;
/// Line bytes read per poll at most (bounded work).
pub const READ_BUDGET: usize = 8192;
/// Stream bytes sent per poll at most (bounded work: a UART drains them
/// at its own pace).
pub const SEND_BUDGET: usize = 4 * MAX_DATA_PAYLOAD;
/// Bytes of the frame length before each frame in the stream.
pub const FRAME_LENGTH_BYTES: usize = 4;
/// Bytes of encoded records waiting for the line.
const OUTBOX_BYTES: usize = 2 * MAX_LINE_RECORD_BYTES;

/// Why a line operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    /// The other end went away.
    Closed,
    /// The device or call failed with this code.
    Device(u64),
}

/// A byte line: a UART, its character device, a socket. Non-blocking.
pub trait SerialLine {
    /// Writes a prefix of `bytes`; how many (0: none now).
    fn write(&mut self, bytes: &[u8]) -> Result<usize, LineError>;
    /// Reads what has arrived into `buffer`; how many (0: nothing now).
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, LineError>;
}

/// Why the link stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The line failed.
    Line(LineError),
    /// The stream position went unacknowledged through every retry.
    RetriesExhausted {
        /// The oldest unacknowledged stream position.
        position: u32,
    },
    /// A frame longer than this end's ring can ever hold.
    FrameTooLarge {
        /// Its length.
        length: usize,
        /// The most this end takes.
        max: usize,
    },
    /// A received frame does not fit the caller's buffer.
    BufferTooSmall {
        /// The frame's length.
        length: usize,
        /// The buffer's.
        capacity: usize,
    },
}

impl LinkError {
    /// A code for `TransportError::Link`: 1 line closed, 2 line device
    /// error, 3 retries exhausted, 4 frame too large.
    pub fn code(&self) -> u32 {
        match self {
            LinkError::Line(LineError::Closed) => 1,
            LinkError::Line(LineError::Device(_)) => 2,
            LinkError::RetriesExhausted { .. } => 3,
            LinkError::FrameTooLarge { .. } | LinkError::BufferTooSmall { .. } => 4,
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Line(LineError::Closed) => f.write_str("the serial line closed"),
            LinkError::Line(LineError::Device(code)) => write!(f, "serial line error {code}"),
            LinkError::RetriesExhausted { position } => write!(
                f,
                "stream position {position} unacknowledged after {MAX_RETRIES} retries"
            ),
            LinkError::FrameTooLarge { length, max } => {
                write!(f, "a {length}-byte frame exceeds the link's {max} bytes")
            }
            LinkError::BufferTooSmall { length, capacity } => {
                write!(
                    f,
                    "a {length}-byte frame arrived for a {capacity}-byte buffer"
                )
            }
        }
    }
}

/// What the link counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStatistics {
    /// Bytes written to the line (records framed, text).
    pub line_bytes_out: u64,
    /// Bytes read from the line.
    pub line_bytes_in: u64,
    /// Data records sent, first time or again.
    pub data_records_sent: u64,
    /// Data records sent again (after a Nak or a timeout).
    pub records_resent: u64,
    /// Records received damaged (framing, decoding or CRC).
    pub records_damaged: u64,
    /// Naks sent.
    pub naks_sent: u64,
    /// Frames queued to send.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
}

/// Wrapping distance from `from` to `to` in the 32-bit stream space, when
/// `to` is not before `from`.
fn ahead(from: u32, to: u32) -> Option<usize> {
    let distance = to.wrapping_sub(from);
    (distance < 1 << 31).then_some(distance as usize)
}

/// The sending half of the stream.
#[derive(Debug)]
struct Sender<const TX: usize> {
    ring: ByteRing<TX>,
    /// Stream position of the ring's first byte (oldest unacknowledged).
    acked: u32,
    /// Next position to send.
    next: u32,
    /// The peer takes positions before this.
    window_end: u32,
    /// Past the highest position ever sent (what is sent again is
    /// before it).
    sent_high: u32,
    /// When the retransmit timer started (`None`: nothing in flight).
    timer: Option<u64>,
    retries: u32,
    /// After a timeout: one record only until an Ack shows progress.
    probing: bool,
    /// The position and time of the last go-back.
    last_go_back: Option<(u32, u64)>,
}

impl<const TX: usize> Sender<TX> {
    const fn new() -> Self {
        Sender {
            ring: ByteRing::new(),
            acked: 0,
            next: 0,
            // Until the first Ack: one record's worth.
            window_end: stream_length(MAX_DATA_PAYLOAD),
            sent_high: 0,
            timer: None,
            retries: 0,
            probing: false,
            last_go_back: None,
        }
    }

    /// The retransmit timeout now: doubled for each go-back in a row.
    fn timeout(&self) -> u64 {
        RETRANSMIT_AFTER_NS << self.retries.min(MAX_BACKOFF_SHIFT)
    }

    /// Whether a Nak for `position` at `now` asks for a go-back: not when
    /// the sender went back there less than a timeout ago (the Nak is for
    /// records sent before that).
    fn obeys_nak(&self, position: u32, now: u64) -> bool {
        self.last_go_back.is_none_or(|(at_position, at)| {
            at_position != position || now.saturating_sub(at) >= self.timeout()
        })
    }

    fn in_flight(&self) -> bool {
        self.next != self.acked
    }

    fn acknowledge(&mut self, position: u32, window: u32, now: u64) {
        let Some(progress) = ahead(self.acked, position).filter(|&n| n <= self.ring.len()) else {
            return;
        };
        if progress > 0 {
            self.ring.drop_front(progress);
            self.acked = position;
            self.retries = 0;
            if ahead(self.next, self.acked).is_some_and(|n| n > 0) {
                self.next = self.acked;
            }
            if self.probing {
                // The probe was answered: the receiver is alive and what
                // was sent before the timeout is presumed still on its
                // way (a real loss shows as a gap, and a Nak, once new
                // records arrive).
                self.probing = false;
                if ahead(self.next, self.sent_high).is_some_and(|n| n > 0) {
                    self.next = self.sent_high;
                }
            }
            self.timer = self.in_flight().then_some(now);
        }
        self.window_end = position.wrapping_add(window);
    }

    /// `length` bytes at `position` went out.
    fn sent(&mut self, position: u32, length: usize, now: u64) {
        self.next = position.wrapping_add(stream_length(length));
        if ahead(self.sent_high, self.next).is_some_and(|n| n > 0) {
            self.sent_high = self.next;
        }
        self.timer.get_or_insert(now);
    }

    /// Back to the oldest unacknowledged byte (`probe`: one record only,
    /// after a timeout); the error when that was the last retry.
    fn go_back(&mut self, now: u64, probe: bool) -> Result<(), LinkError> {
        self.retries += 1;
        if self.retries > MAX_RETRIES {
            return Err(LinkError::RetriesExhausted {
                position: self.acked,
            });
        }
        self.next = self.acked;
        self.timer = Some(now);
        self.probing = probe;
        self.last_go_back = Some((self.acked, now));
        Ok(())
    }

    /// The next chunk to send: its position and length (0: nothing).
    fn next_chunk(&self) -> (u32, usize) {
        let queued_end = self.acked.wrapping_add(stream_length(self.ring.len()));
        let available = ahead(self.next, queued_end).unwrap_or(0);
        let allowed = if self.probing && self.next != self.acked {
            0
        } else {
            ahead(self.next, self.window_end).unwrap_or(0)
        };
        (self.next, available.min(allowed).min(MAX_DATA_PAYLOAD))
    }
}

/// The receiving half of the stream.
#[derive(Debug)]
struct Receiver<const RX: usize> {
    ring: ByteRing<RX>,
    /// Every position before this was received, in order.
    received: u32,
    ack_due: bool,
    last_ack: u64,
    /// The window the last Ack advertised.
    advertised: usize,
    nak_due: bool,
    /// The position and time of the last Nak.
    last_nak: Option<(u32, u64)>,
}

impl<const RX: usize> Receiver<RX> {
    const fn new() -> Self {
        Receiver {
            ring: ByteRing::new(),
            received: 0,
            ack_due: true,
            last_ack: 0,
            advertised: 0,
            nak_due: false,
            last_nak: None,
        }
    }

    fn data(&mut self, position: u32, payload: &[u8]) {
        self.ack_due = true;
        match ahead(position, self.received) {
            // At or before what we have: take what is new, if it fits.
            Some(old) if old < payload.len() => {
                let fresh = &payload[old..];
                if self.ring.push(fresh) {
                    self.received = self.received.wrapping_add(stream_length(fresh.len()));
                }
            }
            Some(_) => {}
            // After a gap: something was lost.
            None => self.nak_due = true,
        }
    }
}

/// One end of the serial line, with a send ring of `TX` bytes and a
/// receive ring of `RX` bytes (each must hold the largest frame its
/// direction carries, plus [`FRAME_LENGTH_BYTES`]).
pub struct SerialLink<L: SerialLine, const TX: usize, const RX: usize> {
    line: L,
    decoder: LineDecoder,
    sender: Sender<TX>,
    receiver: Receiver<RX>,
    outbox: [u8; OUTBOX_BYTES],
    outbox_start: usize,
    outbox_end: usize,
    scratch: [u8; MAX_RECORD_BYTES],
    status_out: Option<MachineStatus>,
    command_out: Option<Command>,
    status_in: Option<MachineStatus>,
    command_in: Option<Command>,
    failure: Option<LinkError>,
    statistics: LinkStatistics,
}

impl<L: SerialLine, const TX: usize, const RX: usize> SerialLink<L, TX, RX> {
    /// A link over `line`, both streams at position 0.
    pub fn new(line: L) -> Self {
        SerialLink {
            line,
            decoder: LineDecoder::new(),
            sender: Sender::new(),
            receiver: Receiver::new(),
            outbox: [0; OUTBOX_BYTES],
            outbox_start: 0,
            outbox_end: 0,
            scratch: [0; MAX_RECORD_BYTES],
            status_out: None,
            command_out: None,
            status_in: None,
            command_in: None,
            failure: None,
            statistics: LinkStatistics::default(),
        }
    }

    /// The line.
    pub fn line(&mut self) -> &mut L {
        &mut self.line
    }

    /// What the link counted.
    pub fn statistics(&self) -> LinkStatistics {
        self.statistics
    }

    /// Why the link stopped, once it did.
    pub fn failure(&self) -> Option<LinkError> {
        self.failure
    }

    /// Queues `frame` on the stream: false when the send ring has no room
    /// for it now.
    pub fn queue_frame(&mut self, frame: &[u8]) -> Result<bool, LinkError> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let max = TX - FRAME_LENGTH_BYTES;
        let length = u32::try_from(frame.len())
            .ok()
            .filter(|_| frame.len() <= max)
            .ok_or(LinkError::FrameTooLarge {
                length: frame.len(),
                max,
            })?;
        if self.sender.ring.free() < FRAME_LENGTH_BYTES + frame.len() {
            return Ok(false);
        }
        self.sender.ring.push(&length.to_be_bytes());
        self.sender.ring.push(frame);
        self.statistics.frames_sent += 1;
        Ok(true)
    }

    /// True when every queued frame was acknowledged.
    pub fn all_acknowledged(&self) -> bool {
        self.sender.ring.is_empty()
    }

    /// Takes the next whole received frame into `buffer`: its length, or
    /// `None` when none has arrived whole.
    pub fn take_frame(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, LinkError> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let ring = &mut self.receiver.ring;
        let mut length = [0u8; FRAME_LENGTH_BYTES];
        if !ring.copy_out(0, &mut length) {
            return Ok(None);
        }
        let length = u32::from_be_bytes(length) as usize;
        let max = RX - FRAME_LENGTH_BYTES;
        if length > max {
            let error = LinkError::FrameTooLarge { length, max };
            self.failure = Some(error);
            return Err(error);
        }
        if ring.len() < FRAME_LENGTH_BYTES + length {
            return Ok(None);
        }
        let capacity = buffer.len();
        let target = buffer
            .get_mut(..length)
            .ok_or(LinkError::BufferTooSmall { length, capacity })?;
        ring.copy_out(FRAME_LENGTH_BYTES, target);
        ring.drop_front(FRAME_LENGTH_BYTES + length);
        // Tell the sender soon when a good part of the ring came free.
        if ring.free() >= self.receiver.advertised + RX / 4 {
            self.receiver.ack_due = true;
        }
        self.statistics.frames_received += 1;
        Ok(Some(length))
    }

    /// True when a whole frame waits to be taken.
    pub fn frame_waiting(&self) -> bool {
        let mut length = [0u8; FRAME_LENGTH_BYTES];
        let ring = &self.receiver.ring;
        ring.copy_out(0, &mut length)
            && ring.len() >= FRAME_LENGTH_BYTES + u32::from_be_bytes(length) as usize
    }

    /// Sends `status` as soon as the line has room (the newest wins).
    pub fn send_status(&mut self, status: &MachineStatus) {
        self.status_out = Some(*status);
    }

    /// Sends `command` as soon as the line has room (the newest wins).
    pub fn send_command(&mut self, command: &Command) {
        self.command_out = Some(*command);
    }

    /// The newest status received since the last call.
    pub fn take_status(&mut self) -> Option<MachineStatus> {
        self.status_in.take()
    }

    /// The newest command received since the last call.
    pub fn take_command(&mut self) -> Option<Command> {
        self.command_in.take()
    }

    /// Reads what the line has (console text to `text`), answers, and
    /// writes what is due, at time `now` (nanoseconds).
    pub fn poll(&mut self, now: u64, text: &mut impl FnMut(u8)) -> Result<(), LinkError> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let result = self.exchange(now, text);
        if let Err(error) = result {
            self.failure = Some(error);
        }
        result
    }

    fn exchange(&mut self, now: u64, text: &mut impl FnMut(u8)) -> Result<(), LinkError> {
        self.receive(now, text)?;
        if let Some(started) = self.sender.timer {
            if self.sender.in_flight() && now.saturating_sub(started) >= self.sender.timeout() {
                self.sender.go_back(now, true)?;
            }
        }
        self.compose(now);
        self.flush()
    }

    fn receive(&mut self, now: u64, text: &mut impl FnMut(u8)) -> Result<(), LinkError> {
        let mut chunk = [0u8; 256];
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let count = self
                .line
                .read(&mut chunk[..budget.min(256)])
                .map_err(LinkError::Line)?;
            if count == 0 {
                break;
            }
            budget -= count;
            self.statistics.line_bytes_in += count as u64;
            for &byte in &chunk[..count] {
                match self.decoder.push(byte) {
                    LineEvent::Nothing => {}
                    LineEvent::Text(byte) => text(byte),
                    LineEvent::Record => self.record(now)?,
                    LineEvent::Damaged => self.damaged(),
                }
            }
        }
        Ok(())
    }

    fn damaged(&mut self) {
        self.statistics.records_damaged += 1;
        self.receiver.nak_due = true;
    }

    fn record(&mut self, now: u64) -> Result<(), LinkError> {
        let Ok(record) = Record::decode(self.decoder.record()) else {
            self.damaged();
            return Ok(());
        };
        let (position, window) = (record.header.position.get(), record.header.window.get());
        match record.kind() {
            Some(RecordKind::Data) => self.receiver.data(position, record.payload),
            Some(RecordKind::Ack) => self.sender.acknowledge(position, window, now),
            Some(RecordKind::Nak) => {
                self.sender.acknowledge(position, window, now);
                if self.sender.acked == position
                    && self.sender.in_flight()
                    && self.sender.obeys_nak(position, now)
                {
                    self.sender.go_back(now, false)?;
                }
            }
            Some(RecordKind::Status) => match MachineStatus::decode(record.payload) {
                Ok(status) => self.status_in = Some(status),
                Err(_) => self.damaged(),
            },
            Some(RecordKind::Command) => match Command::decode(record.payload) {
                Ok(command) => self.command_in = Some(command),
                Err(_) => self.damaged(),
            },
            None => self.damaged(),
        }
        Ok(())
    }

    /// Encodes `kind` with `payload` into the outbox; false when it has no
    /// room for a whole record now.
    fn put(&mut self, kind: RecordKind, position: u32, window: u32, payload: &[u8]) -> bool {
        if self.outbox_start == self.outbox_end {
            self.outbox_start = 0;
            self.outbox_end = 0;
        }
        if OUTBOX_BYTES - self.outbox_end < MAX_LINE_RECORD_BYTES {
            self.outbox
                .copy_within(self.outbox_start..self.outbox_end, 0);
            self.outbox_end -= self.outbox_start;
            self.outbox_start = 0;
        }
        if OUTBOX_BYTES - self.outbox_end < MAX_LINE_RECORD_BYTES {
            return false;
        }
        // The scratch and outbox are sized for any record these build.
        let Some(size) = encode_record(kind, position, window, payload, &mut self.scratch) else {
            return false;
        };
        match frame_record(&self.scratch[..size], &mut self.outbox[self.outbox_end..]) {
            Some(framed) => {
                self.outbox_end += framed;
                true
            }
            None => false,
        }
    }

    fn compose(&mut self, now: u64) {
        let window = self.receiver.ring.free();
        let received = self.receiver.received;
        let receiver = &mut self.receiver;
        let nak_allowed = receiver.last_nak.is_none_or(|(position, at)| {
            position != received || now.saturating_sub(at) >= NAK_INTERVAL_NS
        });
        if receiver.nak_due && nak_allowed {
            if self.put(RecordKind::Nak, received, stream_length(window), &[]) {
                self.statistics.naks_sent += 1;
                self.receiver.last_nak = Some((received, now));
                self.acknowledged(now, window);
            }
        } else if (self.receiver.ack_due
            || now.saturating_sub(self.receiver.last_ack) >= ACK_INTERVAL_NS)
            && self.put(RecordKind::Ack, received, stream_length(window), &[])
        {
            self.acknowledged(now, window);
        }
        self.receiver.nak_due = false;
        if let Some(status) = self.status_out {
            if self.put(RecordKind::Status, 0, 0, status.as_bytes()) {
                self.status_out = None;
            }
        }
        if let Some(command) = self.command_out {
            if self.put(RecordKind::Command, 0, 0, command.as_bytes()) {
                self.command_out = None;
            }
        }
        let mut budget = SEND_BUDGET;
        loop {
            let (position, length) = self.sender.next_chunk();
            if length == 0 || budget == 0 {
                break;
            }
            let mut chunk = [0u8; MAX_DATA_PAYLOAD];
            let offset = ahead(self.sender.acked, position).unwrap_or(0);
            if !self.sender.ring.copy_out(offset, &mut chunk[..length]) {
                break;
            }
            if !self.put(RecordKind::Data, position, 0, &chunk[..length]) {
                break;
            }
            let resent = ahead(position, self.sender.sent_high).is_some_and(|n| n > 0);
            self.statistics.data_records_sent += 1;
            self.statistics.records_resent += u64::from(resent);
            self.sender.sent(position, length, now);
            budget = budget.saturating_sub(length);
        }
    }

    fn acknowledged(&mut self, now: u64, window: usize) {
        self.receiver.ack_due = false;
        self.receiver.last_ack = now;
        self.receiver.advertised = window;
    }

    fn flush(&mut self) -> Result<(), LinkError> {
        while self.outbox_start < self.outbox_end {
            let written = self
                .line
                .write(&self.outbox[self.outbox_start..self.outbox_end])
                .map_err(LinkError::Line)?;
            if written == 0 {
                break;
            }
            self.outbox_start += written;
            self.statistics.line_bytes_out += written as u64;
        }
        Ok(())
    }
}

/// A length (at most a ring's bytes) as a distance between stream
/// positions, which count modulo 2^32: the low 32 bits are the arithmetic.
const fn stream_length(length: usize) -> u32 {
    #[allow(clippy::cast_possible_truncation)]
    let length = length as u32;
    length
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::{Reserved, Text};
    use crate::wire::serial::{CommandKind, MachinePhase, MachineRole, MachineState};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::vec::Vec;
    use zerocopy::FromZeros;

    /// One direction of the test line: bytes in flight, at most `capacity`.
    #[derive(Default)]
    struct Wire {
        bytes: VecDeque<u8>,
        capacity: usize,
        /// Damage: (xorshift state, one byte in `rate` flipped); 0: none.
        random: u64,
        rate: u64,
        /// Drop every byte written (a dead direction).
        dropping: bool,
    }

    impl Wire {
        fn next_random(&mut self) -> u64 {
            self.random ^= self.random << 13;
            self.random ^= self.random >> 7;
            self.random ^= self.random << 17;
            self.random
        }
    }

    /// One end of an in-memory line pair.
    struct TestLine {
        out: Rc<RefCell<Wire>>,
        input: Rc<RefCell<Wire>>,
    }

    impl SerialLine for TestLine {
        fn write(&mut self, bytes: &[u8]) -> Result<usize, LineError> {
            let mut wire = self.out.borrow_mut();
            let count = bytes.len().min(wire.capacity - wire.bytes.len());
            for &byte in &bytes[..count] {
                if wire.dropping {
                    continue;
                }
                let damaged = wire.rate != 0 && wire.next_random().is_multiple_of(wire.rate);
                let byte = if damaged { byte ^ 0x5a } else { byte };
                wire.bytes.push_back(byte);
            }
            Ok(count)
        }

        fn read(&mut self, buffer: &mut [u8]) -> Result<usize, LineError> {
            let mut wire = self.input.borrow_mut();
            let count = buffer.len().min(wire.bytes.len());
            for slot in &mut buffer[..count] {
                *slot = wire.bytes.pop_front().unwrap_or(0);
            }
            Ok(count)
        }
    }

    type Link = SerialLink<TestLine, 32768, 32768>;

    fn pair(capacity: usize) -> (Link, Link, Rc<RefCell<Wire>>, Rc<RefCell<Wire>>) {
        let forward = Rc::new(RefCell::new(Wire {
            capacity,
            ..Wire::default()
        }));
        let backward = Rc::new(RefCell::new(Wire {
            capacity,
            ..Wire::default()
        }));
        let a = SerialLink::new(TestLine {
            out: forward.clone(),
            input: backward.clone(),
        });
        let b = SerialLink::new(TestLine {
            out: backward.clone(),
            input: forward.clone(),
        });
        (a, b, forward, backward)
    }

    fn frame(index: usize, length: usize) -> Vec<u8> {
        (0..length).map(|at| (at * 31 + index * 7) as u8).collect()
    }

    /// Polls both ends every 10 ms of simulated time until `done` or the
    /// step limit; returns the text each end saw.
    fn run(
        a: &mut Link,
        b: &mut Link,
        steps: usize,
        mut done: impl FnMut(&mut Link, &mut Link) -> bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let (mut text_a, mut text_b) = (Vec::new(), Vec::new());
        for step in 0..steps {
            let now = step as u64 * 10_000_000;
            a.poll(now, &mut |byte| text_a.push(byte)).expect("a polls");
            b.poll(now, &mut |byte| text_b.push(byte)).expect("b polls");
            if done(a, b) {
                break;
            }
        }
        (text_a, text_b)
    }

    #[test]
    fn frames_cross_both_ways_with_text_between_records() {
        let (mut a, mut b, _, backward) = pair(4096);
        backward
            .borrow_mut()
            .bytes
            .extend(b"ldmig firmware: boot\r\n");
        let frames: Vec<Vec<u8>> = (0..6)
            .map(|index| frame(index, 3000 + index * 500))
            .collect();
        let mut queued = 0;
        let mut received = Vec::new();
        let mut back = Vec::new();
        assert!(b.queue_frame(b"ack").expect("queued"));
        let (text_a, _) = run(&mut a, &mut b, 2000, |a, b| {
            while queued < frames.len() && a.queue_frame(&frames[queued]).expect("link up") {
                queued += 1;
            }
            let mut buffer = [0u8; 8192];
            while let Some(length) = b.take_frame(&mut buffer).expect("link up") {
                received.push(buffer[..length].to_vec());
            }
            if let Some(length) = a.take_frame(&mut buffer).expect("link up") {
                back.push(buffer[..length].to_vec());
            }
            received.len() == frames.len() && a.all_acknowledged() && !back.is_empty()
        });
        assert_eq!(received, frames);
        assert_eq!(back, [b"ack".to_vec()]);
        assert_eq!(text_a, b"ldmig firmware: boot\r\n");
        let statistics = a.statistics();
        assert_eq!(statistics.records_resent, 0);
        assert_eq!(statistics.frames_sent, 6);
        assert!(statistics.line_bytes_out > 3000 * 6);
    }

    /// Damage seeds the noisy-line tests run: fixed, so that a run is the
    /// same on every machine (`LDMIG_DAMAGE_SEED=0x...` runs one other).
    fn damage_seeds(count: usize) -> Vec<u64> {
        if let Ok(text) = std::env::var("LDMIG_DAMAGE_SEED") {
            let digits = text.trim_start_matches("0x");
            return std::vec![u64::from_str_radix(digits, 16).expect("a hex seed")];
        }
        (1..=count as u64)
            .map(|index| 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index) | 1)
            .collect()
    }

    /// Sends 12 frames of 8000 bytes from a to b over a line that flips
    /// one byte in 3000 forward and one in 500 backward (the seed picks
    /// which), for at most `steps` polls of 10 ms; returns the frames b
    /// took, the link's failure if one end gave up, and both ends'
    /// statistics.
    fn noisy_transfer(
        seed: u64,
        steps: u64,
    ) -> (Vec<Vec<u8>>, Option<LinkError>, [LinkStatistics; 2]) {
        let (mut a, mut b, forward, backward) = pair(4096);
        forward.borrow_mut().random = seed;
        forward.borrow_mut().rate = 3000;
        backward.borrow_mut().random = seed.rotate_left(17) | 1;
        backward.borrow_mut().rate = 500;
        let frames = noisy_frames();
        let mut queued = 0;
        let mut received = Vec::new();
        let mut failure = None;
        for step in 0..steps {
            let now = step * 10_000_000;
            let polled = a
                .poll(now, &mut |_| {})
                .and_then(|()| b.poll(now, &mut |_| {}));
            if let Err(error) = polled {
                failure = Some(error);
                break;
            }
            while queued < frames.len() && a.queue_frame(&frames[queued]).expect("link up") {
                queued += 1;
            }
            let mut buffer = [0u8; 8192];
            while let Some(length) = b.take_frame(&mut buffer).expect("link up") {
                received.push(buffer[..length].to_vec());
            }
            if received.len() == frames.len() {
                break;
            }
        }
        (received, failure, [a.statistics(), b.statistics()])
    }

    fn noisy_frames() -> Vec<Vec<u8>> {
        (0..12).map(|index| frame(index, 8000)).collect()
    }

    #[test]
    fn damaged_bytes_are_caught_by_the_crc_and_sent_again() {
        for seed in damage_seeds(4) {
            // 2000 s of line time: far more than these seeds need (under
            // 250 s; the recovery waits out timeouts, see the next test).
            let (received, failure, [a, b]) = noisy_transfer(seed, 200_000);
            assert_eq!(failure, None, "seed {seed:#x}");
            assert!(received == noisy_frames(), "seed {seed:#x}: frames differ");
            let damaged = a.records_damaged + b.records_damaged;
            assert!(damaged > 0, "seed {seed:#x}: nothing was damaged");
            assert!(a.records_resent > 0, "seed {seed:#x}");
        }
    }

    #[test]
    fn a_noisy_line_delivers_frames_intact_or_gives_up_but_never_corrupts() {
        // Over many seeds, at one byte in 3000 damaged, each run either
        // delivers every frame intact or ends in RetriesExhausted with the
        // frames it took intact and in order (measured over 400 seeds:
        // 399 delivered, in 23 to 250 s of line time, median 96 s; one
        // gave up: a damaged probe's Nak is not obeyed, so recovery waits
        // out the doubling timeout, and eight such waits end the link).
        let seeds = if cfg!(target_arch = "sparc64") { 8 } else { 64 };
        let frames = noisy_frames();
        for seed in damage_seeds(seeds).into_iter().chain([0xaf37_bff7]) {
            let (received, failure, _) = noisy_transfer(seed, 200_000);
            assert!(
                received.len() <= frames.len() && received[..] == frames[..received.len()],
                "seed {seed:#x}: a frame arrived damaged or out of order"
            );
            match failure {
                None => assert_eq!(received.len(), frames.len(), "seed {seed:#x}: stalled"),
                Some(LinkError::RetriesExhausted { .. }) => {}
                Some(other) => panic!("seed {seed:#x}: {other}"),
            }
        }
    }

    #[test]
    fn a_dead_direction_ends_the_link_after_the_retries() {
        let (mut a, mut b, forward, _) = pair(4096);
        forward.borrow_mut().dropping = true;
        assert!(a.queue_frame(&frame(0, 100)).expect("queued"));
        let mut failure = None;
        for step in 0..2000u64 {
            let now = step * 50_000_000;
            if let Err(error) = a.poll(now, &mut |_| {}) {
                failure = Some((error, now));
                break;
            }
            b.poll(now, &mut |_| {}).expect("b polls");
        }
        let (error, at) = failure.expect("the link fails");
        assert_eq!(error, LinkError::RetriesExhausted { position: 0 });
        assert!(at >= u64::from(MAX_RETRIES) * RETRANSMIT_AFTER_NS);
        assert_eq!(a.queue_frame(b"x"), Err(error));
        assert_eq!(error.code(), 3);
    }

    #[test]
    fn a_full_receiver_holds_the_sender_back_and_loses_nothing() {
        let (mut a, mut b, _, _) = pair(65536);
        let frames: Vec<Vec<u8>> = (0..20).map(|index| frame(index, 4000)).collect();
        let mut queued = 0;
        let mut refused = false;
        // b takes nothing: a's ring and b's window fill.
        run(&mut a, &mut b, 300, |a, _| {
            while queued < frames.len() {
                if !a.queue_frame(&frames[queued]).expect("link up") {
                    refused = true;
                    break;
                }
                queued += 1;
            }
            false
        });
        assert!(refused, "the sender's ring filled");
        let mut received = Vec::new();
        run(&mut a, &mut b, 5000, |a, b| {
            while queued < frames.len() && a.queue_frame(&frames[queued]).expect("link up") {
                queued += 1;
            }
            let mut buffer = [0u8; 8192];
            while let Some(length) = b.take_frame(&mut buffer).expect("link up") {
                received.push(buffer[..length].to_vec());
            }
            received.len() == frames.len()
        });
        assert_eq!(received, frames);
        assert_eq!(a.statistics().records_resent, 0);
    }

    #[test]
    fn a_stalled_receiver_behind_a_deep_line_gets_probes_not_windows() {
        // The line holds twice the window (a socket in front of a UART);
        // b does not read for 5 s, as a machine busy elsewhere.
        let (mut a, mut b, _, _) = pair(65536);
        let frames: Vec<Vec<u8>> = (0..12).map(|index| frame(index, 5000)).collect();
        let mut queued = 0;
        let mut received = Vec::new();
        b.poll(0, &mut |_| {}).expect("b's first Ack");
        a.poll(0, &mut |_| {}).expect("a polls");
        b.poll(0, &mut |_| {}).expect("b polls");
        for step in 1..500u64 {
            while queued < frames.len() && a.queue_frame(&frames[queued]).expect("link up") {
                queued += 1;
            }
            a.poll(step * 10_000_000, &mut |_| {}).expect("a polls");
        }
        let stalled = a.statistics().records_resent;
        run(&mut a, &mut b, 20_000, |a, b| {
            while queued < frames.len() && a.queue_frame(&frames[queued]).expect("link up") {
                queued += 1;
            }
            let mut buffer = [0u8; 8192];
            while let Some(length) = b.take_frame(&mut buffer).expect("link up") {
                received.push(buffer[..length].to_vec());
            }
            received.len() == frames.len() && a.all_acknowledged()
        });
        assert_eq!(received, frames);
        // Timeouts at 1 s and 3 s (doubling): one probe record each.
        assert_eq!(stalled, 2, "probes while b was stalled");
        assert!(
            a.statistics().records_resent <= stalled + 2,
            "resent {} records in all",
            a.statistics().records_resent
        );
    }

    #[test]
    fn a_repeated_nak_for_the_same_position_is_obeyed_once_per_timeout() {
        let mut sender = Sender::<4096>::new();
        assert!(sender.ring.push(&[7u8; 3000]));
        sender.acknowledge(0, 4096, 0);
        sender.sent(0, 3000, 0);
        assert!(sender.obeys_nak(0, 10));
        sender.go_back(10, false).expect("first go-back");
        assert!(
            !sender.obeys_nak(0, 200_000_000),
            "the Nak is for the old records"
        );
        assert!(sender.obeys_nak(0, 10 + 2 * RETRANSMIT_AFTER_NS));
        assert!(sender.obeys_nak(100, 200_000_000), "another position");
        assert_eq!(sender.timeout(), 2 * RETRANSMIT_AFTER_NS);
        for _ in 0..5 {
            sender.go_back(20, true).expect("a probe");
        }
        assert_eq!(sender.timeout(), RETRANSMIT_AFTER_NS << MAX_BACKOFF_SHIFT);
        assert_eq!(sender.next_chunk(), (0, MAX_DATA_PAYLOAD.min(3000)));
        sender.sent(0, MAX_DATA_PAYLOAD.min(3000), 20);
        assert_eq!(sender.next_chunk().1, 0, "one record while probing");
    }

    #[test]
    fn status_and_commands_cross_and_the_newest_wins() {
        let (mut a, mut b, _, _) = pair(4096);
        let mut status = MachineStatus::new_zeroed();
        status.role = MachineRole::Source.into();
        status.state = MachineState::Migrating.into();
        status.phase = MachinePhase::Active.into();
        status.guest_progress = 41.into();
        a.send_status(&status);
        status.guest_progress = 42.into();
        a.send_status(&status);
        let command = Command {
            kind: CommandKind::Migrate.into(),
            reserved: Reserved::ZERO,
            request: 7.into(),
            downtime_limit_ms: 2000.into(),
            reserved2: Reserved::ZERO,
            max_bandwidth: 0.into(),
            domain: Text::new("ldg1"),
            target_domain: Text::new("ldg1"),
        };
        b.send_command(&command);
        run(&mut a, &mut b, 10, |_, _| false);
        let seen = b.take_status().expect("a status arrived");
        assert_eq!(seen.guest_progress.get(), 42);
        assert_eq!(b.take_status(), None);
        assert_eq!(a.take_command(), Some(command));
    }

    #[test]
    fn frames_larger_than_the_rings_are_refused() {
        let (mut a, _, _, _) = pair(4096);
        assert_eq!(
            a.queue_frame(&[0u8; 32768]),
            Err(LinkError::FrameTooLarge {
                length: 32768,
                max: 32764
            })
        );
        // A 40000-byte frame from a wider sender cannot fit this receiver.
        let mut wide: SerialLink<TestLine, 65536, 65536> = SerialLink::new(TestLine {
            out: Rc::new(RefCell::new(Wire {
                capacity: 65536,
                ..Wire::default()
            })),
            input: Rc::new(RefCell::new(Wire::default())),
        });
        assert!(wide.queue_frame(&[1u8; 40000]).expect("fits the wide ring"));
        let mut receiver: Link = SerialLink::new(TestLine {
            out: Rc::new(RefCell::new(Wire {
                capacity: 65536,
                ..Wire::default()
            })),
            input: wide.line().out.clone(),
        });
        let mut buffer = [0u8; 64];
        let mut failure = None;
        for step in 0..100u64 {
            wide.poll(step * 10_000_000, &mut |_| {})
                .expect("wide polls");
            receiver
                .poll(step * 10_000_000, &mut |_| {})
                .expect("receiver polls");
            if let Err(error) = receiver.take_frame(&mut buffer) {
                failure = Some(error);
                break;
            }
        }
        assert_eq!(
            failure,
            Some(LinkError::FrameTooLarge {
                length: 40000,
                max: 32764
            })
        );
    }
}
