//! The relay between an engine's frame channel and the secure channel to the
//! peer shim: frames out, frames in, and control messages to the caller.
//!
//! A frame's bytes are copied once on the way out (into the channel's
//! buffer, which leaves room for the record around them: the record is
//! sealed where they lie) and not at all on the way in (the record's
//! buffer goes to the channel as it is, the frame after the tag).

use super::channel::ChannelEnd;
use super::daemon::lock;
use super::peer::{
    decode, encode_frame, encode_message, frame_record_in_place, PeerMessage, PeerRecord,
};
use crate::secure::{SecureReceiver, SecureSender};
use ldmig::transport::TransportError;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A shared sending half (the relay and the migration both send).
pub type SharedSender = Arc<Mutex<SecureSender<TcpStream>>>;

/// The two relay threads of one migration.
pub struct PeerRelay {
    sender: SharedSender,
    stream: TcpStream,
    threads: Vec<JoinHandle<()>>,
}

impl PeerRelay {
    /// Starts relaying between `engine` (the shim's end of the engine's
    /// channel) and the peer; control messages go to `on_message`.
    pub fn start(
        sender: SharedSender,
        mut receiver: SecureReceiver<TcpStream>,
        stream: TcpStream,
        engine: ChannelEnd,
        mut on_message: impl FnMut(PeerMessage) + Send + 'static,
    ) -> PeerRelay {
        let outbound_engine = engine.clone();
        let outbound_sender = sender.clone();
        let outbound = std::thread::spawn(move || loop {
            match outbound_engine.receive_blocking(Duration::from_millis(20)) {
                Ok(Some(mut frame)) => {
                    // Sealed where the channel put it, with room around it;
                    // a frame without that room is copied into a record.
                    let sent = match frame_record_in_place(&mut frame) {
                        Some(at) => lock(&outbound_sender).send_in_place(&mut frame.bytes, at),
                        None => lock(&outbound_sender).send(&encode_frame(frame.frame())),
                    };
                    if sent.is_err() {
                        outbound_engine.close();
                        return;
                    }
                }
                Ok(None) => {}
                Err(TransportError::Disconnected) | Err(_) => return,
            }
        });
        let inbound = std::thread::spawn(move || loop {
            let record = match receiver.receive_or_close() {
                Ok(Some(record)) => record,
                Ok(None) | Err(_) => {
                    engine.close();
                    return;
                }
            };
            match decode(record) {
                Some(PeerRecord::Frame(frame)) => {
                    if engine.send_wait(frame).is_err() {
                        return;
                    }
                }
                Some(PeerRecord::Message(message)) => on_message(message),
                None => {
                    engine.close();
                    return;
                }
            }
        });
        PeerRelay {
            sender,
            stream,
            threads: vec![outbound, inbound],
        }
    }

    /// Sends a control message to the peer.
    pub fn send_message(&self, message: &PeerMessage) -> bool {
        lock(&self.sender).send(&encode_message(message)).is_ok()
    }

    /// Closes the channel cleanly, unblocks and joins both threads.
    pub fn finish(mut self, engine: &ChannelEnd) {
        // Let the last frames leave before the close record.
        for _ in 0..200 {
            if !engine.has_unread() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        engine.close();
        let _ = lock(&self.sender).close();
        let _ = self.stream.shutdown(Shutdown::Both);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
