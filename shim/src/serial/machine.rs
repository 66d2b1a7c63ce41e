//! The machine behind the serial line, as the shim sees it: one thread
//! pumps the link ([`SerialLink`] over [`TcpLine`]) — console text becomes
//! lines of this shim's log, the machine's `MachineStatus` is kept for the
//! daemon, a command is repeated until the status shows it taken, and
//! while a migration runs the engine's frames cross between the link and
//! the relay to the peer shim (a [`ChannelEnd`]).

use super::line::TcpLine;
use crate::channel::ChannelEnd;
use crate::daemon::lock;
use ldmig::serial_link::{LinkStatistics, SerialLink};
use ldmig::transport::Transport;
use ldmig::wire::serial::{Command, MachineStatus};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shim's link: rings wide enough for any frame the engines send.
pub type ShimLink = SerialLink<TcpLine, { 256 << 10 }, { 256 << 10 }>;
/// A command is sent again this often until the machine shows it taken.
const COMMAND_REPEAT: Duration = Duration::from_millis(500);
/// Largest frame relayed (the firmware's frames are at most 64 KiB).
const MAX_FRAME: usize = 256 << 10;

/// What the shim knows of its machine.
#[derive(Clone, Debug, Default)]
pub struct MachineView {
    /// The newest status the machine sent.
    pub status: Option<MachineStatus>,
    /// When it came.
    pub updated: Option<Instant>,
    /// The link's counters.
    pub statistics: LinkStatistics,
    /// Why the link stopped, once it did.
    pub failure: Option<String>,
    /// Console lines logged.
    pub console_lines: u64,
}

#[derive(Debug, Default)]
struct Shared {
    view: Mutex<MachineView>,
    command: Mutex<Option<Command>>,
    relay: Mutex<Option<ChannelEnd>>,
    stop: AtomicBool,
}

/// The machine's end: its pump thread and what it shares.
#[derive(Debug)]
pub struct MachineEnd {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl MachineEnd {
    /// Starts pumping `line`; console lines go to standard error as
    /// `ldmig[host] console: ...`.
    pub fn start(line: TcpLine, host: &str) -> MachineEnd {
        let shared = Arc::new(Shared::default());
        let pump = Pump {
            shared: shared.clone(),
            link: Box::new(SerialLink::new(line)),
            host: host.to_string(),
            text: Vec::new(),
            to_peer: None,
            to_machine: None,
            buffer: vec![0u8; MAX_FRAME],
            started: Instant::now(),
            command_sent: None,
        };
        let thread = std::thread::spawn(move || pump.run());
        MachineEnd {
            shared,
            thread: Some(thread),
        }
    }

    /// A copy of what is known now.
    pub fn view(&self) -> MachineView {
        lock(&self.shared.view).clone()
    }

    /// Sends `command` until the machine's status shows its request.
    pub fn command(&self, command: Command) {
        *lock(&self.shared.command) = Some(command);
    }

    /// Relays the engine's frames between the machine and `end` from now.
    pub fn attach(&self, end: ChannelEnd) {
        *lock(&self.shared.relay) = Some(end);
    }

    /// Stops relaying.
    pub fn detach(&self) {
        lock(&self.shared.relay).take();
    }

    /// Stops the pump thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MachineEnd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pump thread's state.
struct Pump {
    shared: Arc<Shared>,
    link: Box<ShimLink>,
    host: String,
    text: Vec<u8>,
    /// A frame from the machine the relay had no room for yet.
    to_peer: Option<Vec<u8>>,
    /// A frame from the peer the link had no room for yet.
    to_machine: Option<Vec<u8>>,
    buffer: Vec<u8>,
    started: Instant,
    command_sent: Option<Instant>,
}

impl Pump {
    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            let before = self.link.statistics();
            if let Err(error) = self.step() {
                let message = format!("the serial line failed: {error}");
                self.log(&message);
                lock(&self.shared.view).failure = Some(message);
                return;
            }
            let after = self.link.statistics();
            if after.line_bytes_in == before.line_bytes_in
                && after.line_bytes_out == before.line_bytes_out
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn log(&self, message: &str) {
        // Best effort: a closed standard error must not stop the shim.
        let _ = writeln!(std::io::stderr(), "ldmig[{}] {message}", self.host);
    }

    fn step(&mut self) -> Result<(), String> {
        let now = self.started.elapsed().as_nanos() as u64;
        let mut text = std::mem::take(&mut self.text);
        let mut lines = Vec::new();
        let polled = self.link.poll(now, &mut |byte| match byte {
            b'\n' => lines.push(String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned()),
            b'\r' => {}
            byte => text.push(byte),
        });
        self.text = text;
        for line in &lines {
            self.log(&format!("console: {line}"));
        }
        polled.map_err(|error| error.to_string())?;
        let status = self.link.take_status();
        {
            let mut view = lock(&self.shared.view);
            view.console_lines += lines.len() as u64;
            view.statistics = self.link.statistics();
            if let Some(status) = status {
                view.status = Some(status);
                view.updated = Some(Instant::now());
            }
        }
        self.repeat_command(status);
        self.relay()
    }

    /// Sends the pending command again until a status shows it taken.
    fn repeat_command(&mut self, status: Option<MachineStatus>) {
        let mut pending = lock(&self.shared.command);
        let Some(command) = *pending else {
            return;
        };
        if status.is_some_and(|status| status.request == command.request) {
            *pending = None;
            self.command_sent = None;
            return;
        }
        if self
            .command_sent
            .is_none_or(|sent| sent.elapsed() >= COMMAND_REPEAT)
        {
            self.link.send_command(&command);
            self.command_sent = Some(Instant::now());
        }
    }

    fn relay(&mut self) -> Result<(), String> {
        let mut relay = lock(&self.shared.relay);
        let Some(end) = relay.as_mut() else {
            // No migration: frames have nowhere to go.
            while let Some(length) = self
                .link
                .take_frame(&mut self.buffer)
                .map_err(|error| error.to_string())?
            {
                self.log(&format!(
                    "dropped a {length}-byte frame: no migration is running"
                ));
            }
            return Ok(());
        };
        let mut closed = false;
        // Machine to peer.
        loop {
            if self.to_peer.is_none() {
                match self
                    .link
                    .take_frame(&mut self.buffer)
                    .map_err(|error| error.to_string())?
                {
                    Some(length) => self.to_peer = Some(self.buffer[..length].to_vec()),
                    None => break,
                }
            }
            let Some(frame) = &self.to_peer else { break };
            match end.send(frame) {
                Ok(true) => self.to_peer = None,
                Ok(false) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        // Peer to machine.
        loop {
            if self.to_machine.is_none() {
                match end.receive(&mut self.buffer) {
                    Ok(Some(length)) => self.to_machine = Some(self.buffer[..length].to_vec()),
                    Ok(None) => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            let Some(frame) = &self.to_machine else { break };
            if !self
                .link
                .queue_frame(frame)
                .map_err(|error| error.to_string())?
            {
                break;
            }
            self.to_machine = None;
        }
        if closed {
            relay.take();
            self.to_peer = None;
            self.to_machine = None;
        }
        Ok(())
    }
}
