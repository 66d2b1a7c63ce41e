//! The relay between an engine's frame channel and the secure channel to the
//! peer shim: frames out, frames in, control messages to the caller; and a
//! connection that breaks during pre-copy is resumed, not given up.
//!
//! ```text
//!  engine ==frames==> outbound thread --(copy kept in the ReplayLog)--> link
//!  engine <==frames== inbound thread <-- link     (Ack {frames} every 8)
//!                          | read or write error
//!                          v
//!                     supervisor: resumable? --no--> close the engine's channel
//!                          | yes: the engines' clocks stand still
//!                          v
//!   source: dial, authenticate, Resume {session, received} --->
//!   target: the listener routes it here   <--- Resumed {received}
//!                          |
//!                          v  each side sends again what the other lacks,
//!                             then goes on: the engines never saw the cut
//! ```
//!
//! Frames are delivered to the other engine exactly once, in order: each
//! side counts the frames it handed to its engine and acknowledges that
//! count; a resumed connection starts with both counts, and each side
//! sends again the frames after the other's count. Control messages are
//! not kept: one lost in a cut is lost (the engines' frames are what
//! carries the migration).
//!
//! A frame's bytes are copied twice on the way out: into the channel's
//! buffer (which leaves room for the record around them: the record is
//! sealed where they lie) and, while a resume is possible, into the
//! [`ReplayLog`]; on the way in not at all (the record's buffer goes to
//! the channel as it is, the frame after the tag).

mod replay;
mod resume;

pub use replay::{ReplayError, ReplayLog, ACK_EVERY, REPLAY_CAPACITY};
pub use resume::{Reconnect, Resume, ResumeEvent, Returning};

use super::channel::{ChannelEnd, QueuedFrame};
use super::daemon::lock;
use super::peer::{
    decode, encode_frame, encode_message, frame_record_in_place, PeerMessage, PeerRecord,
};
use crate::secure::{ChannelError, SecureChannel, SecureReceiver, SecureSender};
use ldmig::transport::TransportError;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The link to the peer, shared by the relay's threads and the migration
/// (which sends control messages on it).
pub type SharedSender = Arc<PeerLink>;

/// A caller's handler of the peer's control messages.
type MessageHandler = Arc<Mutex<Box<dyn FnMut(&PeerLink, PeerMessage) + Send>>>;

/// The connection to the peer as it stands, and what it must send again
/// once resumed.
pub struct PeerLink {
    state: Mutex<LinkState>,
    changed: Condvar,
}

struct LinkState {
    /// `None` while the connection is down.
    sender: Option<SecureSender<TcpStream>>,
    /// A handle on the connection, to shut it down.
    stream: Option<TcpStream>,
    /// Which connection this is (0 first, one more per resume).
    generation: u64,
    replay: ReplayLog,
    /// Frames are kept for a resume only while one is possible.
    keep_frames: bool,
    closing: bool,
}

/// What the relay's threads tell its supervisor.
enum LinkEvent {
    /// The connection `generation` failed: why.
    Down(u64, String),
    /// The peer broke the protocol (no resume helps): why.
    Fatal(String),
    /// The peer closed the stream in order: the migration is over.
    Ended,
}

impl PeerLink {
    fn new(sender: SecureSender<TcpStream>, stream: TcpStream, keep_frames: bool) -> Arc<Self> {
        Arc::new(PeerLink {
            state: Mutex::new(LinkState {
                sender: Some(sender),
                stream: Some(stream),
                generation: 0,
                replay: ReplayLog::default(),
                keep_frames,
                closing: false,
            }),
            changed: Condvar::new(),
        })
    }

    /// Sends a control message now; `false` while the connection is down.
    pub fn send_message(&self, message: &PeerMessage) -> bool {
        let mut state = lock(&self.state);
        match state.sender.as_mut() {
            Some(sender) => sender.send(&encode_message(message)).is_ok(),
            None => false,
        }
    }

    /// From now on nothing is kept for a resume (the source suspended its
    /// domain: a cut from here on ends the migration).
    pub fn stop_keeping_frames(&self) {
        let mut state = lock(&self.state);
        state.keep_frames = false;
        state.replay = ReplayLog::default();
        self.changed.notify_all();
    }

    fn keeps_frames(&self) -> bool {
        lock(&self.state).keep_frames
    }

    fn closing(&self) -> bool {
        lock(&self.state).closing
    }

    /// Sends one engine frame: kept first (waiting for room) while a resume
    /// is possible, then sealed where it lies. `Err` once the relay closes;
    /// a failed send takes the connection down and says so to `events`.
    fn send_frame(
        &self,
        mut frame: QueuedFrame,
        events: &mpsc::Sender<LinkEvent>,
    ) -> Result<(), ()> {
        let mut state = lock(&self.state);
        while state.keep_frames && !state.replay.has_room_for(frame.len()) && !state.closing {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(20))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        if state.closing {
            return Err(());
        }
        if state.keep_frames {
            state.replay.push(frame.frame());
        }
        let generation = state.generation;
        let Some(sender) = state.sender.as_mut() else {
            // Down: the frame goes with the others once resumed, or not
            // at all if the supervisor gives up.
            return if state.keep_frames { Ok(()) } else { Err(()) };
        };
        // Sealed where the channel put it, with room around it; a frame
        // without that room is copied into a record.
        let sent = match frame_record_in_place(&mut frame) {
            Some(at) => sender.send_in_place(&mut frame.bytes, at),
            None => sender.send(&encode_frame(frame.frame())),
        };
        if let Err(error) = sent {
            Self::take_down(&mut state);
            let _ = events.send(LinkEvent::Down(generation, error.to_string()));
        }
        Ok(())
    }

    /// The peer acknowledged `received` frames.
    fn acknowledge(&self, received: u64) -> Result<(), ReplayError> {
        let mut state = lock(&self.state);
        let result = if state.keep_frames {
            state.replay.acknowledge(received)
        } else {
            Ok(())
        };
        self.changed.notify_all();
        result
    }

    /// Takes the connection down if `generation` is still the current one;
    /// `false` if it was an older one (already replaced or down).
    fn fail(&self, generation: u64) -> bool {
        let mut state = lock(&self.state);
        if state.generation != generation || state.closing {
            return false;
        }
        Self::take_down(&mut state);
        true
    }

    fn take_down(state: &mut LinkState) {
        state.sender = None;
        if let Some(stream) = state.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Puts a resumed connection in place: sends again every kept frame
    /// after the peer's count `received`, then lets the outbound thread
    /// go on. Returns the new connection's generation.
    fn install(
        &self,
        mut sender: SecureSender<TcpStream>,
        stream: TcpStream,
        received: u64,
    ) -> Result<u64, String> {
        let mut state = lock(&self.state);
        if !state.keep_frames || state.closing {
            return Err("the migration went past the point where a cut can be resumed".into());
        }
        for frame in state
            .replay
            .resend_after(received)
            .map_err(|error| error.to_string())?
        {
            sender
                .send(&encode_frame(frame))
                .map_err(|error| format!("sending the kept frames again failed: {error}"))?;
        }
        state.generation += 1;
        state.sender = Some(sender);
        state.stream = Some(stream);
        self.changed.notify_all();
        Ok(state.generation)
    }

    /// Closes in order: no resume from here on; the close record goes if
    /// the connection is up; then it is shut down.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.closing = true;
        if let Some(sender) = state.sender.as_mut() {
            let _ = sender.close();
        }
        Self::take_down(&mut state);
        self.changed.notify_all();
    }
}

/// The threads of one migration's relay.
pub struct PeerRelay {
    link: SharedSender,
    threads: Vec<JoinHandle<()>>,
}

impl PeerRelay {
    /// Starts relaying between `engine` (the shim's end of the engine's
    /// channel) and the peer over `channel` (`stream`: a handle on its
    /// stream, whose reads stop timing out: the engines time the peer
    /// out); control messages go to `on_message`, with the link to answer
    /// on; a broken connection is resumed as `resume` says.
    pub fn start(
        channel: SecureChannel<TcpStream>,
        stream: TcpStream,
        engine: ChannelEnd,
        resume: Resume,
        on_message: impl FnMut(&PeerLink, PeerMessage) + Send + 'static,
    ) -> Result<PeerRelay, ChannelError> {
        let (sender, receiver) = channel.into_split()?;
        let _ = stream.set_read_timeout(None);
        let link = PeerLink::new(sender, stream, resume.possible());
        let (events, happened) = mpsc::channel();
        let received = Arc::new(AtomicU64::new(0));
        let handler: MessageHandler = Arc::new(Mutex::new(Box::new(on_message)));
        let outbound = {
            let link = link.clone();
            let engine = engine.clone();
            let events = events.clone();
            std::thread::spawn(move || outbound(&link, &engine, &events))
        };
        let inbound = Inbound {
            link: link.clone(),
            engine: engine.clone(),
            received,
            handler,
            events,
        };
        let first = spawn_inbound(inbound.clone(), receiver, 0);
        let supervisor = {
            let link = link.clone();
            std::thread::spawn(move || {
                let supervisor = resume::Supervisor {
                    link: &link,
                    happened: &happened,
                    engine: &inbound.engine,
                    received: &inbound.received,
                };
                supervisor.run(resume, first, |receiver, generation| {
                    spawn_inbound(inbound.clone(), receiver, generation)
                });
            })
        };
        Ok(PeerRelay {
            link,
            threads: vec![outbound, supervisor],
        })
    }

    /// The link, for control messages.
    pub fn link(&self) -> SharedSender {
        self.link.clone()
    }

    /// Sends a control message to the peer.
    pub fn send_message(&self, message: &PeerMessage) -> bool {
        self.link.send_message(message)
    }

    /// Closes the channel cleanly, unblocks and joins the threads.
    pub fn finish(mut self, engine: &ChannelEnd) {
        // Let the last frames leave before the close record.
        for _ in 0..200 {
            if !engine.has_unread() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        engine.close();
        self.link.close();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Engine frames to the peer until the engine's channel or the relay closes.
fn outbound(link: &PeerLink, engine: &ChannelEnd, events: &mpsc::Sender<LinkEvent>) {
    loop {
        match engine.receive_blocking(Duration::from_millis(20)) {
            Ok(Some(frame)) => {
                if link.send_frame(frame, events).is_err() {
                    engine.close();
                    return;
                }
            }
            Ok(None) => {
                if link.closing() {
                    return;
                }
            }
            Err(TransportError::Disconnected) | Err(_) => return,
        }
    }
}

/// What an inbound thread works with (one thread per connection).
#[derive(Clone)]
struct Inbound {
    link: SharedSender,
    engine: ChannelEnd,
    /// Frames handed to the engine, over every connection.
    received: Arc<AtomicU64>,
    handler: MessageHandler,
    events: mpsc::Sender<LinkEvent>,
}

fn spawn_inbound(
    inbound: Inbound,
    receiver: SecureReceiver<TcpStream>,
    generation: u64,
) -> JoinHandle<()> {
    std::thread::spawn(move || inbound.run(receiver, generation))
}

impl Inbound {
    /// The peer's records to the engine and the handler, until the
    /// connection ends.
    fn run(&self, mut receiver: SecureReceiver<TcpStream>, generation: u64) {
        loop {
            let record = match receiver.receive_or_close() {
                Ok(Some(record)) => record,
                Ok(None) => {
                    let _ = self.events.send(LinkEvent::Ended);
                    return;
                }
                Err(error) => {
                    let _ = self
                        .events
                        .send(LinkEvent::Down(generation, error.to_string()));
                    return;
                }
            };
            match decode(record) {
                Some(PeerRecord::Frame(frame)) => {
                    if resume::ends_resumption(frame.frame()) {
                        // The source suspended its domain: it resumes
                        // no cut from here on, so none is waited for.
                        self.link.stop_keeping_frames();
                    }
                    if self.engine.send_wait(frame).is_err() {
                        return;
                    }
                    let received = self.received.fetch_add(1, Ordering::SeqCst) + 1;
                    if received.is_multiple_of(ACK_EVERY) {
                        self.link
                            .send_message(&PeerMessage::Ack { frames: received });
                    }
                }
                Some(PeerRecord::Message(PeerMessage::Ack { frames })) => {
                    if let Err(error) = self.link.acknowledge(frames) {
                        let _ = self.events.send(LinkEvent::Fatal(format!(
                            "the peer's acknowledgement does not fit: {error}"
                        )));
                        return;
                    }
                }
                Some(PeerRecord::Message(message)) => (lock(&self.handler))(&self.link, message),
                None => {
                    let _ = self.events.send(LinkEvent::Fatal(
                        "the peer sent a record of no known kind".into(),
                    ));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
