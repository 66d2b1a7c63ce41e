//! The two halves of a secure channel, for a relay that sends and receives
//! from two threads: [`SecureSender`] seals records onto a writer,
//! [`SecureReceiver`] opens them from a reader.

use super::error::ChannelError;
use super::record::{ReceiveState, SendState};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU64;
use std::time::Duration;

/// The sending half: seals payloads into records, in sequence, under this
/// direction's key, at most at the bandwidth cap.
pub struct SecureSender<W> {
    writer: W,
    state: SendState,
}

impl<W: Write> SecureSender<W> {
    pub(crate) fn new(writer: W, state: SendState) -> Self {
        SecureSender { writer, state }
    }

    /// Seals `payload` (at most [`super::MAX_PAYLOAD_LEN`] bytes) into one
    /// record and writes it, after waiting for the bandwidth cap if one is
    /// set. A write error breaks the sender: part of a record may be out.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        self.state.send(&mut self.writer, payload)
    }

    /// Seals the payload `buffer[payload_start..]` into one record where it
    /// lies (no copy of the payload) and writes it; `payload_start` must
    /// leave [`super::RECORD_HEADER_LEN`] bytes before it, and capacity for
    /// [`super::record::RECORD_TRAILER_LEN`] more spares a reallocation.
    pub fn send_in_place(
        &mut self,
        buffer: &mut Vec<u8>,
        payload_start: usize,
    ) -> Result<(), ChannelError> {
        self.state
            .send_in_place(&mut self.writer, buffer, payload_start)
    }

    /// Sends the authenticated close record, which tells the peer the stream
    /// ends in order. Later sends fail with [`ChannelError::Closed`]; a
    /// second close does nothing.
    pub fn close(&mut self) -> Result<(), ChannelError> {
        self.state.close(&mut self.writer)
    }

    /// Caps the bytes per second put on the wire (records included);
    /// `None` removes the cap.
    pub fn set_max_bandwidth(&mut self, bytes_per_second: Option<NonZeroU64>) {
        self.state.set_max_bandwidth(bytes_per_second);
    }

    /// The bandwidth cap, if any.
    pub fn max_bandwidth(&self) -> Option<NonZeroU64> {
        self.state.max_bandwidth()
    }

    /// Records sent so far (the close record included).
    pub fn records_sent(&self) -> u64 {
        self.state.records_sent()
    }

    /// Bytes put on the wire by records so far (headers and tags included).
    pub fn bytes_sent(&self) -> u64 {
        self.state.wire_bytes()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The underlying writer, mutably (writing to it directly corrupts the
    /// stream).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }
}

/// The receiving half: opens records in sequence under this direction's key.
pub struct SecureReceiver<R> {
    reader: R,
    state: ReceiveState,
}

impl<R: Read> SecureReceiver<R> {
    pub(crate) fn new(reader: R, state: ReceiveState) -> Self {
        SecureReceiver { reader, state }
    }

    /// The next payload. Blocks until a whole record is in (or the reader's
    /// timeout: [`ChannelError::TimedOut`], after which a receive resumes
    /// the same record). The peer's close record gives
    /// [`ChannelError::Closed`]; any other error breaks the receiver.
    pub fn receive(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.state
            .receive(&mut self.reader)?
            .ok_or(ChannelError::Closed)
    }

    /// Like [`Self::receive`], with the peer's close record as `Ok(None)`.
    pub fn receive_or_close(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.state.receive(&mut self.reader)
    }

    /// Records received so far (the close record included).
    pub fn records_received(&self) -> u64 {
        self.state.records_received()
    }

    /// Bytes read from the wire by records so far.
    pub fn bytes_received(&self) -> u64 {
        self.state.wire_bytes()
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, mutably (reading from it directly corrupts
    /// the stream).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }
}

impl SecureReceiver<TcpStream> {
    /// Sets the socket's read timeout: a receive waiting longer fails with
    /// [`ChannelError::TimedOut`] and can be retried.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.reader.set_read_timeout(timeout)
    }
}
