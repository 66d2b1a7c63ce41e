//! Control messages over an [`LdcLink`], exactly once and in order across
//! link resets, following the link's contract (`hv/src/ldc/mod.rs`):
//!
//! - every message carries the sender's session id and a message number
//!   (from 1); the last [`HISTORY`] messages sent are kept;
//! - on a reset the link reports how many sent messages were not
//!   acknowledged; once it is connected again those are resent, oldest
//!   first, before any new message;
//! - the receiver drops a message whose number it already had (the
//!   at-least-once duplicate), and takes a message from a session it does
//!   not know only if the caller says so (a new peer must start with a
//!   session-opening message; stale resends for a vanished peer's
//!   successor are dropped).
//!
//! Benign link conditions (not connected yet, queue full, `EWOULDBLOCK`
//! budget spent, a handshake retry) mean "not now"; a reset is absorbed
//! and reported once through [`Messenger::take_reset`]; anything else is
//! returned to the caller.

use ldmig_hv::hypervisor::{Ldc, LocalMemory};
use ldmig_hv::ldc::{LdcLink, LinkError, ResetCause, MAX_MESSAGES_IN_FLIGHT, MAX_MESSAGE_SIZE};

use crate::wire::codec::DecodeError;
use crate::wire::control::{
    decode_body, decode_header, encode, Header, Message, CONTROL_VERSION, MAX_CONTROL_MESSAGE,
};

/// Messages kept for resending: as many as the link lets be in flight.
pub const HISTORY: usize = MAX_MESSAGES_IN_FLIGHT;

/// Counters of one messenger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessengerStatistics {
    /// Messages sent (first time).
    pub sent: u64,
    /// Messages sent again after a reset.
    pub resent: u64,
    /// Messages delivered to the caller.
    pub received: u64,
    /// Messages dropped because they were had already.
    pub duplicates: u64,
    /// Messages dropped because they came from a session not (yet) taken.
    pub stale: u64,
    /// Messages that did not decode.
    pub malformed: u64,
    /// Messages that skipped numbers (something was lost: should not happen).
    pub gaps: u64,
    /// Link resets absorbed.
    pub resets: u64,
}

/// What [`Messenger::receive`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A message to act on; `new_peer` when it opened a session not seen
    /// before.
    Message {
        /// Its envelope.
        header: Header,
        /// The message.
        message: Message,
        /// It came from a peer session seen for the first time.
        new_peer: bool,
    },
    /// A message that did not decode (its envelope, if that much was good).
    Malformed {
        /// The envelope, when it decoded.
        header: Option<Header>,
        /// What was wrong.
        error: DecodeError,
    },
    /// A duplicate or stale message, dropped.
    Dropped,
}

/// One side of the control-message stream.
#[derive(Debug)]
pub struct Messenger {
    session: u32,
    version: u8,
    next_sequence: u32,
    resend_next: u32,
    history: SentHistory,
    peer: Option<u32>,
    last_received: u32,
    reset: Option<ResetCause>,
    buffer: ReceiveBuffer,
    statistics: MessengerStatistics,
}

/// The last [`HISTORY`] messages sent, as encoded, by message number:
/// what a reset may leave to resend.
struct SentHistory {
    messages: [[u8; MAX_CONTROL_MESSAGE]; HISTORY],
    lengths: [u16; HISTORY],
}

impl SentHistory {
    const fn new() -> Self {
        SentHistory {
            messages: [[0; MAX_CONTROL_MESSAGE]; HISTORY],
            lengths: [0; HISTORY],
        }
    }

    fn slot(sequence: u32) -> usize {
        sequence as usize % HISTORY
    }

    /// Keeps message `sequence`: the first `length` bytes of `bytes`.
    fn keep(&mut self, sequence: u32, bytes: [u8; MAX_CONTROL_MESSAGE], length: usize) {
        let index = Self::slot(sequence);
        self.messages[index] = bytes;
        #[allow(clippy::cast_possible_truncation)] // at most MAX_CONTROL_MESSAGE
        let length = length as u16;
        self.lengths[index] = length;
    }

    /// Message `sequence` as it was sent (one of the last [`HISTORY`]).
    fn message(&self, sequence: u32) -> &[u8] {
        let index = Self::slot(sequence);
        &self.messages[index][..usize::from(self.lengths[index])]
    }
}

/// Kilobytes of old messages say nothing in a debug print.
impl core::fmt::Debug for SentHistory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SentHistory").finish_non_exhaustive()
    }
}

/// Where a message received from the link is decoded.
struct ReceiveBuffer([u8; MAX_MESSAGE_SIZE]);

/// Its bytes are the last message's, decoded already.
impl core::fmt::Debug for ReceiveBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceiveBuffer").finish_non_exhaustive()
    }
}

impl Messenger {
    /// A messenger for session `session` (any value; a fresh one per
    /// endpoint instance lets the peer tell a restart from a reset).
    pub fn new(session: u32) -> Self {
        Messenger {
            session,
            version: CONTROL_VERSION,
            next_sequence: 1,
            resend_next: 1,
            history: SentHistory::new(),
            peer: None,
            last_received: 0,
            reset: None,
            buffer: ReceiveBuffer([0; MAX_MESSAGE_SIZE]),
            statistics: MessengerStatistics::default(),
        }
    }

    /// Our session id.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// The peer's session, once one was taken.
    pub fn peer(&self) -> Option<u32> {
        self.peer
    }

    /// The version written in every envelope from now on.
    pub fn set_version(&mut self, version: u8) {
        self.version = version;
    }

    /// Counters.
    pub fn statistics(&self) -> MessengerStatistics {
        self.statistics
    }

    /// Messages waiting to be resent.
    pub fn pending_resends(&self) -> usize {
        self.next_sequence.wrapping_sub(self.resend_next) as usize
    }

    /// The cause of the last reset absorbed, once.
    pub fn take_reset(&mut self) -> Option<ResetCause> {
        self.reset.take()
    }

    /// Absorbs a reset: the last `unacknowledged` messages sent on the
    /// link (and any not yet resent) go again.
    fn on_reset(&mut self, cause: ResetCause, unacknowledged: usize) {
        self.statistics.resets += 1;
        self.reset = Some(cause);
        #[allow(clippy::cast_possible_truncation)]
        // only compared with HISTORY; usize is at least 32 bits here
        let sent = self.next_sequence.wrapping_sub(1) as usize;
        let pending = (self.pending_resends() + unacknowledged)
            .min(HISTORY)
            .min(sent);
        #[allow(clippy::cast_possible_truncation)] // at most HISTORY
        let pending = pending as u32;
        self.resend_next = self.next_sequence.wrapping_sub(pending);
    }

    /// Sorts a link error: `Ok` for "not now" (a reset absorbed included),
    /// `Err` for the rest.
    fn absorb(&mut self, error: LinkError) -> Result<(), LinkError> {
        match error {
            LinkError::Reset {
                cause,
                unacknowledged,
            } => {
                self.on_reset(cause, unacknowledged);
                Ok(())
            }
            LinkError::NotConnected(_)
            | LinkError::QueueFull { .. }
            | LinkError::Timeout { .. } => Ok(()),
            LinkError::Failed(failure) if !failure.is_final() => Ok(()),
            other => Err(other),
        }
    }

    /// Polls the link (handshake, ACKs): a reset is absorbed.
    pub fn poll<H: Ldc + LocalMemory>(&mut self, link: &mut LdcLink<H>) -> Result<(), LinkError> {
        match link.poll() {
            Ok(_) => Ok(()),
            Err(error) => self.absorb(error),
        }
    }

    /// Resends what a reset left unacknowledged; `Ok(true)` when nothing
    /// is left to resend.
    pub fn flush_resends<H: Ldc + LocalMemory>(
        &mut self,
        link: &mut LdcLink<H>,
    ) -> Result<bool, LinkError> {
        while self.resend_next != self.next_sequence {
            if !link.is_connected() {
                return Ok(false);
            }
            match link.send(self.history.message(self.resend_next)) {
                Ok(()) => {
                    self.resend_next = self.resend_next.wrapping_add(1);
                    self.statistics.resent += 1;
                }
                Err(error) => {
                    self.absorb(error)?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Sends `message` (after any resends): `Ok(false)` when it cannot go
    /// now (try again after a poll).
    pub fn send<H: Ldc + LocalMemory>(
        &mut self,
        link: &mut LdcLink<H>,
        message: &Message,
    ) -> Result<bool, LinkError> {
        if !self.flush_resends(link)? || !link.is_connected() {
            return Ok(false);
        }
        let header = Header {
            version: self.version,
            session: self.session,
            sequence: self.next_sequence,
        };
        let mut bytes = [0u8; MAX_CONTROL_MESSAGE];
        let length = encode(header, message, &mut bytes);
        match link.send(&bytes[..length]) {
            Ok(()) => {
                self.history.keep(self.next_sequence, bytes, length);
                self.next_sequence = self.next_sequence.wrapping_add(1);
                self.resend_next = self.next_sequence;
                self.statistics.sent += 1;
                Ok(true)
            }
            Err(error) => {
                self.absorb(error)?;
                Ok(false)
            }
        }
    }

    /// Takes the next message from the link, if one is complete.
    /// `accept_new` says whether a message from an unknown session may
    /// open a session with it.
    pub fn receive<H: Ldc + LocalMemory>(
        &mut self,
        link: &mut LdcLink<H>,
        accept_new: impl Fn(&Message) -> bool,
    ) -> Result<Option<Incoming>, LinkError> {
        let length = match link.receive(&mut self.buffer.0) {
            Ok(Some(length)) => length,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.absorb(error)?;
                return Ok(None);
            }
        };
        let bytes = self.buffer.0.get(..length).unwrap_or(&[]);
        let (header, kind, body) = match decode_header(bytes) {
            Ok(parts) => parts,
            Err(error) => {
                self.statistics.malformed += 1;
                return Ok(Some(Incoming::Malformed {
                    header: None,
                    error,
                }));
            }
        };
        let known = self.peer == Some(header.session);
        if known {
            let distance = header.sequence.wrapping_sub(self.last_received);
            if distance == 0 || distance > u32::MAX / 2 {
                self.statistics.duplicates += 1;
                return Ok(Some(Incoming::Dropped));
            }
            if distance > 1 {
                self.statistics.gaps += 1;
            }
        }
        let message = match decode_body(kind, body) {
            Ok(message) => message,
            Err(error) => {
                self.statistics.malformed += 1;
                if known {
                    self.last_received = header.sequence;
                }
                return Ok(Some(Incoming::Malformed {
                    header: Some(header),
                    error,
                }));
            }
        };
        if !known {
            if !accept_new(&message) {
                self.statistics.stale += 1;
                return Ok(Some(Incoming::Dropped));
            }
            self.peer = Some(header.session);
        }
        self.last_received = header.sequence;
        self.statistics.received += 1;
        Ok(Some(Incoming::Message {
            header,
            message,
            new_peer: !known,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::{Accepted, MessageKind, SessionHello};
    use ldmig_hv::ldc::{LinkConfig, LinkRole, QueueConfig};
    use ldmig_sim::ldc::{EndpointConfig, LdcFabric, SimLdcEndpoint, SIM_MEMORY_BASE};
    use std::vec::Vec;

    type Link = LdcLink<SimLdcEndpoint>;

    /// The two links of a simulated channel, connected.
    fn connected_links() -> (LdcFabric, Link, Link) {
        let fabric = LdcFabric::new();
        let (a, b) = fabric
            .create_pair(EndpointConfig::new(1), EndpointConfig::new(2))
            .expect("pair");
        let config = |channel, role| {
            LinkConfig::new(
                channel,
                QueueConfig {
                    ra: SIM_MEMORY_BASE,
                    entries: 64,
                },
                QueueConfig {
                    ra: SIM_MEMORY_BASE + 0x1000,
                    entries: 64,
                },
                role,
            )
        };
        let mut a = LdcLink::open(a, config(1, LinkRole::Initiator)).expect("a");
        let mut b = LdcLink::open(b, config(2, LinkRole::Responder)).expect("b");
        connect(&mut a, &mut b);
        (fabric, a, b)
    }

    fn connect(a: &mut Link, b: &mut Link) {
        for _ in 0..32 {
            let _ = a.poll();
            let _ = b.poll();
            if a.is_connected() && b.is_connected() {
                return;
            }
        }
        panic!("links did not connect");
    }

    /// Receives messages (a Hello may open the session): `Some(count)`
    /// of them, waiting for them if need be, or, with `None`, all the link
    /// has (200 tries at most either way).
    fn take(messenger: &mut Messenger, link: &mut Link, count: Option<usize>) -> Vec<Message> {
        let mut messages = Vec::new();
        for _ in 0..200 {
            if count.is_some_and(|count| messages.len() >= count) {
                break;
            }
            match messenger.receive(link, |message| message.kind() == MessageKind::Hello) {
                Ok(Some(Incoming::Message { message, .. })) => messages.push(message),
                Ok(Some(_)) => {}
                Ok(None) if count.is_none() => break,
                Ok(None) => {}
                Err(error) => panic!("receive: {error}"),
            }
        }
        messages
    }

    #[test]
    fn messages_survive_a_reset_exactly_once() {
        let (_fabric, mut a, mut b) = connected_links();
        let mut sender = Messenger::new(0xa);
        let mut receiver = Messenger::new(0xb);
        let hello = Message::Hello(SessionHello::new(1, 1));
        assert_eq!(sender.send(&mut a, &hello), Ok(true));
        for request in 1..=5 {
            assert_eq!(
                sender.send(&mut a, &Message::Accepted(Accepted::new(request))),
                Ok(true)
            );
        }
        // The receiver takes two of them (acknowledging them), then the
        // channel resets with four unacknowledged.
        let first = take(&mut receiver, &mut b, Some(3));
        assert_eq!(first.len(), 3);
        a.hypervisor().reset_channel();
        for _ in 0..64 {
            sender.poll(&mut a).expect("poll");
            receiver.poll(&mut b).expect("poll");
            sender.flush_resends(&mut a).expect("resend");
        }
        assert!(sender.take_reset().is_some());
        assert_eq!(sender.pending_resends(), 0);
        let mut all = first;
        all.extend(take(&mut receiver, &mut b, None));
        let expected: Vec<Message> = core::iter::once(hello)
            .chain((1..=5).map(|request| Message::Accepted(Accepted::new(request))))
            .collect();
        assert_eq!(all, expected);
        assert!(sender.statistics().resent >= 3, "{:?}", sender.statistics());
        assert_eq!(receiver.statistics().gaps, 0);
    }

    #[test]
    fn unknown_sessions_must_open_with_the_accepted_kind() {
        let (_fabric, mut a, mut b) = connected_links();
        let mut sender = Messenger::new(1);
        let mut receiver = Messenger::new(2);
        assert_eq!(
            sender.send(&mut a, &Message::Accepted(Accepted::new(1))),
            Ok(true)
        );
        let hello = Message::Hello(SessionHello::new(1, 1));
        assert_eq!(sender.send(&mut a, &hello), Ok(true));
        assert_eq!(take(&mut receiver, &mut b, None), vec![hello]);
        assert_eq!(receiver.statistics().stale, 1);
        assert_eq!(receiver.peer(), Some(1));
        // Garbage is reported, not fatal.
        a.send(b"not a control message").expect("raw send");
        match receiver.receive(&mut b, |_| true) {
            Ok(Some(Incoming::Malformed { header: None, .. })) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
