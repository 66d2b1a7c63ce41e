//! Resuming a migration's connection after a cut: the source dials the
//! target again and authenticates afresh (a new handshake, new keys); the
//! target's listener hands the returning connection to the migration it
//! names; both sides say how many frames they received, and each sends
//! again what the other lacks ([`super::PeerLink::install`]).
//!
//! A resume is possible during pre-copy only: once the source suspended its
//! domain (the `Suspended` frame left it, or reached the target), a cut
//! ends the migration as before, and the source runs its domain again. The
//! source tries a bounded number of times with a doubling pause; the
//! target waits a bounded window for it. While the connection is down,
//! both engines' clocks stand still ([`ResumeEvent::Lost`] and after), so
//! no engine timeout runs out meanwhile.

use super::{LinkEvent, PeerLink};
use crate::channel::ChannelEnd;
use crate::peer::{decode, encode_message, PeerMessage, PeerRecord};
use crate::secure::{SecureChannel, SecureReceiver, SecureSender};
use ldmig::wire::{Frame, FrameType};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A connection that authenticated and asked to resume a migration: the
/// listener's hand-over to the target side's relay.
pub struct Returning {
    /// The new secure channel.
    pub channel: SecureChannel<TcpStream>,
    /// A handle on its stream.
    pub stream: TcpStream,
    /// Frames the source received before the cut.
    pub received: u64,
}

/// Dials the target and authenticates: the channel and a handle on its
/// stream, or why not.
pub type Dial = dyn FnMut() -> Result<(SecureChannel<TcpStream>, TcpStream), String> + Send;

/// How a side gets a new connection.
pub enum Reconnect {
    /// No resume: a cut ends the migration.
    Never,
    /// The source: dials again, at most `attempts` times, pausing
    /// `first_pause` before the first and twice as long before each next.
    Dial {
        /// Dials and authenticates; the stream handle beside the channel.
        dial: Box<Dial>,
        /// Attempts at most.
        attempts: u32,
        /// Pause before the first attempt.
        first_pause: Duration,
    },
    /// The target: waits at most `window` for the source to come back.
    Await {
        /// Where the listener hands returning connections over.
        returning: mpsc::Receiver<Returning>,
        /// How long to wait.
        window: Duration,
    },
}

/// What happens to the connection, for the migration's books and log.
pub enum ResumeEvent<'a> {
    /// The connection broke and a resume begins: why it broke.
    Lost(&'a str),
    /// Resumed: after how many attempts (1 on the target).
    Resumed(u32),
    /// No resume: why. The engine's channel closes next.
    GaveUp(&'a str),
}

/// A migration's resume: its session (named by the returning source) and
/// how to reconnect.
pub struct Resume {
    /// The session the source named in its `Start`.
    pub session: u64,
    /// How to get a new connection.
    pub reconnect: Reconnect,
    /// Told of every loss, resume and giving up.
    pub on_event: Box<dyn FnMut(ResumeEvent<'_>) + Send>,
}

impl Resume {
    /// A relay that never resumes.
    pub fn never() -> Resume {
        Resume {
            session: 0,
            reconnect: Reconnect::Never,
            on_event: Box::new(|_| {}),
        }
    }

    pub(super) fn possible(&self) -> bool {
        !matches!(self.reconnect, Reconnect::Never)
    }

    /// A new connection, through the resume exchange: its halves, its
    /// stream handle and the peer's count of frames received.
    fn reconnect(&mut self, link: &PeerLink, received: u64) -> Result<Reconnected, String> {
        let session = self.session;
        let (channel, stream, peer_received, attempts) = match &mut self.reconnect {
            Reconnect::Never => return Err("this side does not resume".into()),
            Reconnect::Dial {
                dial,
                attempts,
                first_pause,
            } => {
                let mut pause = *first_pause;
                let mut last = String::new();
                let mut resumed = None;
                for attempt in 1..=*attempts {
                    if !sleep_unless_closing(link, pause) {
                        return Err("the migration ended".into());
                    }
                    pause = pause.saturating_mul(2);
                    let attempt_result = dial()
                        .map_err(Refusal::Retry)
                        .and_then(|(channel, stream)| ask(channel, stream, session, received));
                    match attempt_result {
                        Ok((channel, stream, peer)) => {
                            resumed = Some((channel, stream, peer, attempt));
                            break;
                        }
                        Err(Refusal::Final(reason)) => {
                            return Err(format!("the target cannot resume the migration: {reason}"))
                        }
                        Err(Refusal::Retry(reason)) => last = reason,
                    }
                }
                resumed.ok_or_else(|| {
                    format!("{attempts} attempts to reconnect failed; the last: {last}")
                })?
            }
            Reconnect::Await { returning, window } => {
                let deadline = Instant::now() + *window;
                loop {
                    if link.closing() {
                        return Err("the migration ended".into());
                    }
                    match returning.recv_timeout(Duration::from_millis(100)) {
                        Ok(mut back) => {
                            // A source that gave up on an attempt dials
                            // again: the newest connection is the live one.
                            while let Ok(newer) = returning.try_recv() {
                                back = newer;
                            }
                            let answer = PeerMessage::Resumed { received };
                            if back.channel.send(&encode_message(&answer)).is_ok() {
                                break (back.channel, back.stream, back.received, 1);
                            }
                        }
                        Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                        Err(_) => {
                            return Err(format!(
                                "the source did not come back within {} s",
                                window.as_secs()
                            ))
                        }
                    }
                }
            }
        };
        // The relay's reads wait for the engines, which have their own
        // timeouts.
        let _ = stream.set_read_timeout(None);
        let (sender, receiver) = channel.into_split().map_err(|error| error.to_string())?;
        Ok(Reconnected {
            sender,
            receiver,
            stream,
            peer_received,
            attempts,
        })
    }
}

/// A new connection after the resume exchange.
struct Reconnected {
    sender: SecureSender<TcpStream>,
    receiver: SecureReceiver<TcpStream>,
    stream: TcpStream,
    /// Frames the peer received before the cut.
    peer_received: u64,
    /// Attempts it took.
    attempts: u32,
}

/// Why a resume attempt failed.
enum Refusal {
    /// Worth another attempt (the network, a timeout).
    Retry(String),
    /// Not (the target does not know the migration any more).
    Final(String),
}

/// The source's half of the resume exchange on a fresh channel.
fn ask(
    mut channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    session: u64,
    received: u64,
) -> Result<(SecureChannel<TcpStream>, TcpStream, u64), Refusal> {
    let request = PeerMessage::Resume { session, received };
    channel
        .send(&encode_message(&request))
        .map_err(|error| Refusal::Retry(error.to_string()))?;
    match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Resumed { received })) => {
            Ok((channel, stream, received))
        }
        Some(PeerRecord::Message(PeerMessage::Abort { reason })) => Err(Refusal::Final(reason)),
        _ => Err(Refusal::Retry(
            "the target did not answer the resume".into(),
        )),
    }
}

/// Sleeps `pause` in short steps; `false` if the relay closed meanwhile.
fn sleep_unless_closing(link: &PeerLink, pause: Duration) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if link.closing() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(pause));
    }
    !link.closing()
}

/// True for the frame after which no cut is resumed: the source's
/// `Suspended` (its domain stopped; the switchover is under way).
pub(super) fn ends_resumption(frame: &[u8]) -> bool {
    matches!(Frame::peek(frame), Ok((FrameType::Suspended, _, _)))
}

/// The relay's supervisor: takes a failed connection down, resumes it if
/// it may, else closes the engine's channel (the engine sees the peer
/// gone, as without resumes).
pub(super) struct Supervisor<'a> {
    pub(super) link: &'a PeerLink,
    pub(super) happened: &'a mpsc::Receiver<LinkEvent>,
    pub(super) engine: &'a ChannelEnd,
    /// Frames this side handed to its engine.
    pub(super) received: &'a AtomicU64,
}

impl Supervisor<'_> {
    /// Runs until the migration's link is over; `spawn` starts the inbound
    /// thread of a resumed connection.
    pub(super) fn run(
        &self,
        mut resume: Resume,
        first_inbound: JoinHandle<()>,
        spawn: impl Fn(SecureReceiver<TcpStream>, u64) -> JoinHandle<()>,
    ) {
        let mut inbound = Some(first_inbound);
        loop {
            let event = match self.happened.recv_timeout(Duration::from_millis(100)) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) if !self.link.closing() => continue,
                Err(_) => break,
            };
            let (generation, why) = match event {
                LinkEvent::Ended => {
                    self.engine.close();
                    break;
                }
                LinkEvent::Fatal(why) => {
                    (resume.on_event)(ResumeEvent::GaveUp(&why));
                    self.give_up();
                    break;
                }
                LinkEvent::Down(generation, why) => (generation, why),
            };
            if !self.link.fail(generation) {
                continue;
            }
            // The old connection's reader must be done before the count
            // of frames received is taken: else a frame it still hands to
            // the engine would come twice.
            if let Some(thread) = inbound.take() {
                let _ = thread.join();
            }
            if !self.link.keeps_frames() {
                self.give_up();
                break;
            }
            (resume.on_event)(ResumeEvent::Lost(&why));
            let received = self.received.load(Ordering::SeqCst);
            let resumed = resume.reconnect(self.link, received).and_then(|new| {
                let generation = self
                    .link
                    .install(new.sender, new.stream, new.peer_received)?;
                Ok((spawn(new.receiver, generation), new.attempts))
            });
            match resumed {
                Ok((thread, attempts)) => {
                    inbound = Some(thread);
                    (resume.on_event)(ResumeEvent::Resumed(attempts));
                }
                Err(why) => {
                    (resume.on_event)(ResumeEvent::GaveUp(&why));
                    self.give_up();
                    break;
                }
            }
        }
        if let Some(thread) = inbound.take() {
            self.link.close();
            let _ = thread.join();
        }
    }

    fn give_up(&self) {
        self.link.close();
        self.engine.close();
    }
}
