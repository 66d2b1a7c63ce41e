//! [`SecureChannel`]: a handshaken, encrypted, authenticated record stream
//! over one `Read + Write` stream, which can be split into a sending and a
//! receiving half for two threads.

use super::aead::Aead;
use super::error::ChannelError;
use super::halves::{SecureReceiver, SecureSender};
use super::handshake::{self, Role};
use super::memory::MemoryStream;
use super::record::{ReceiveState, SendState};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU64;
use std::time::Duration;

/// A stream that can hand out a second handle on itself, so that one
/// thread reads while another writes (`TcpStream::try_clone`).
pub trait CloneableStream: Read + Write + Sized {
    /// Another handle on the same stream.
    fn try_clone_stream(&self) -> io::Result<Self>;
}

impl CloneableStream for TcpStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl CloneableStream for MemoryStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

/// An authenticated, encrypted channel to the peer shim: built by a SPAKE2
/// handshake from the migration password, then records under the cipher
/// it negotiated (AES-256-GCM or ChaCha20-Poly1305) with a sequence number
/// per direction.
pub struct SecureChannel<S> {
    stream: S,
    role: Role,
    aead: Aead,
    sender: SendState,
    receiver: ReceiveState,
}

impl<S: Read + Write> SecureChannel<S> {
    /// Runs the handshake as `role` over `stream`. Fails with
    /// [`ChannelError::WrongPassword`] on both sides when the passwords
    /// differ. Set the stream's read timeout first to bound the wait for a
    /// silent peer.
    pub fn handshake(stream: S, role: Role, password: &[u8]) -> Result<Self, ChannelError> {
        Self::handshake_judged(stream, role, password, |_| {})
    }

    /// [`SecureChannel::handshake`], calling `judged` with whether the
    /// peer's key confirmation held as soon as it is checked. The
    /// responder checks it before it sends its own, so what `judged`
    /// records of a wrong password (a daemon's back-off) is in place
    /// before the peer learns that its password was wrong.
    pub fn handshake_judged(
        mut stream: S,
        role: Role,
        password: &[u8],
        judged: impl FnOnce(bool),
    ) -> Result<Self, ChannelError> {
        let keys = handshake::run(&mut stream, role, password, judged)?;
        Ok(SecureChannel {
            stream,
            role,
            aead: keys.aead,
            sender: SendState::new(keys.aead, &keys.send),
            receiver: ReceiveState::new(keys.aead, &keys.receive),
        })
    }

    /// The handshake as the side that opened the connection.
    pub fn connect(stream: S, password: &[u8]) -> Result<Self, ChannelError> {
        Self::handshake(stream, Role::Initiator, password)
    }

    /// The handshake as the side that accepted the connection.
    pub fn accept(stream: S, password: &[u8]) -> Result<Self, ChannelError> {
        Self::handshake(stream, Role::Responder, password)
    }

    /// This side's handshake role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The record cipher the handshake chose.
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// Seals `payload` (at most [`super::MAX_PAYLOAD_LEN`] bytes) into one
    /// record and writes it; see [`SecureSender::send`].
    pub fn send(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        self.sender.send(&mut self.stream, payload)
    }

    /// Sends the authenticated close record; see [`SecureSender::close`].
    pub fn close(&mut self) -> Result<(), ChannelError> {
        self.sender.close(&mut self.stream)
    }

    /// The next payload; see [`SecureReceiver::receive`].
    pub fn receive(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.receiver
            .receive(&mut self.stream)?
            .ok_or(ChannelError::Closed)
    }

    /// The next payload, or `None` for the peer's close record.
    pub fn receive_or_close(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.receiver.receive(&mut self.stream)
    }

    /// Caps the bytes per second this side sends; `None` removes the cap.
    pub fn set_max_bandwidth(&mut self, bytes_per_second: Option<NonZeroU64>) {
        self.sender.set_max_bandwidth(bytes_per_second);
    }

    /// The bandwidth cap, if any.
    pub fn max_bandwidth(&self) -> Option<NonZeroU64> {
        self.sender.max_bandwidth()
    }

    /// Records sent so far (the close record included).
    pub fn records_sent(&self) -> u64 {
        self.sender.records_sent()
    }

    /// Records received so far (the close record included).
    pub fn records_received(&self) -> u64 {
        self.receiver.records_received()
    }

    /// Bytes put on the wire by records so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sender.wire_bytes()
    }

    /// Records the bandwidth cap held back (the sender waited) so far.
    pub fn throttle_waits(&self) -> u64 {
        self.sender.throttle_waits()
    }

    /// Bytes read from the wire by records so far.
    pub fn bytes_received(&self) -> u64 {
        self.receiver.wire_bytes()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably (reading or writing it directly
    /// corrupts the channel; meant for options such as timeouts).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Splits into a sender and a receiver over the two halves that `split`
    /// makes of the stream (the receiver reads `R`, the sender writes `W`).
    /// The sequence numbers, keys and bandwidth cap carry over.
    pub fn into_split_with<R: Read, W: Write>(
        self,
        split: impl FnOnce(S) -> io::Result<(R, W)>,
    ) -> Result<(SecureSender<W>, SecureReceiver<R>), ChannelError> {
        let (reader, writer) = split(self.stream).map_err(ChannelError::Io)?;
        Ok((
            SecureSender::new(writer, self.sender),
            SecureReceiver::new(reader, self.receiver),
        ))
    }
}

impl<S: CloneableStream> SecureChannel<S> {
    /// Splits into a sender and a receiver over two handles on the stream
    /// (`try_clone`), for a relay that sends and receives from two threads.
    pub fn into_split(self) -> Result<(SecureSender<S>, SecureReceiver<S>), ChannelError> {
        self.into_split_with(|stream| {
            let reader = stream.try_clone_stream()?;
            Ok((reader, stream))
        })
    }
}

impl SecureChannel<TcpStream> {
    /// Sets the socket's read timeout: a receive waiting longer fails with
    /// [`ChannelError::TimedOut`] and can be retried.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::memory::memory_duplex;
    use std::thread;

    fn connected_pair() -> (SecureChannel<MemoryStream>, SecureChannel<MemoryStream>) {
        let (left, right) = memory_duplex();
        let responder = thread::spawn(move || SecureChannel::accept(right, b"pa55word"));
        let initiator = SecureChannel::connect(left, b"pa55word").expect("initiator handshake");
        let responder = responder
            .join()
            .expect("responder thread")
            .expect("responder handshake");
        (initiator, responder)
    }

    #[test]
    fn both_directions_carry_records_then_close_in_order() {
        let (mut initiator, mut responder) = connected_pair();
        assert_eq!(initiator.role(), Role::Initiator);
        assert_eq!(responder.role(), Role::Responder);
        initiator.send(b"to responder").expect("send");
        responder.send(b"to initiator").expect("send");
        assert_eq!(responder.receive().expect("receive"), b"to responder");
        assert_eq!(initiator.receive().expect("receive"), b"to initiator");
        initiator.close().expect("close");
        assert!(matches!(responder.receive_or_close(), Ok(None)));
        assert!(matches!(responder.receive(), Err(ChannelError::Closed)));
        assert_eq!(initiator.records_sent(), 2);
        assert_eq!(responder.records_received(), 2);
        assert_eq!(initiator.bytes_sent(), responder.bytes_received());
    }

    #[test]
    fn split_halves_work_from_two_threads() {
        let (initiator, mut responder) = connected_pair();
        let (mut sender, mut receiver) = initiator.into_split().expect("split");
        let echo = thread::spawn(move || {
            while let Some(payload) = responder.receive_or_close().expect("echo receive") {
                responder.send(&payload).expect("echo send");
            }
            responder.close().expect("echo close");
        });
        let writer = thread::spawn(move || {
            for index in 0u32..50 {
                sender.send(&index.to_be_bytes()).expect("send");
            }
            sender.close().expect("close");
        });
        for index in 0u32..50 {
            assert_eq!(receiver.receive().expect("receive"), index.to_be_bytes());
        }
        assert!(matches!(receiver.receive(), Err(ChannelError::Closed)));
        writer.join().expect("writer thread");
        echo.join().expect("echo thread");
    }

    #[test]
    fn a_read_timeout_is_retryable() {
        let (mut initiator, mut responder) = connected_pair();
        responder
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(10)));
        assert!(matches!(responder.receive(), Err(ChannelError::TimedOut)));
        initiator.send(b"after the timeout").expect("send");
        assert_eq!(responder.receive().expect("retry"), b"after the timeout");
    }
}
