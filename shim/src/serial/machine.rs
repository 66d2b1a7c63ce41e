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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shim's link: rings for any frame the firmware's engines send or
/// take (their own rings are 32 KiB) and little more: what waits here is
/// hidden from the source engine's view of the link's pace.
pub type ShimLink = SerialLink<TcpLine, { 64 << 10 }, { 64 << 10 }>;
/// A command is sent again this often until the machine shows it taken.
const COMMAND_REPEAT: Duration = Duration::from_millis(500);
/// Largest frame relayed (the shim's rings hold no larger).
const MAX_FRAME: usize = 64 << 10;
/// The pump thread's stack: the link's rings are built on it.
pub(crate) const PUMP_STACK_BYTES: usize = 16 << 20;

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
    /// Starts pumping `line`; console lines go to the log (info) as
    /// `ldmig[host] console: ...`.
    pub fn start(line: TcpLine, host: &str) -> MachineEnd {
        let shared = Arc::new(Shared::default());
        let pump_shared = shared.clone();
        let host = host.to_string();
        // The link is built in its thread, whose stack has room for the
        // rings while they are moved into their box.
        let thread = std::thread::Builder::new()
            .name(format!("ldmig-serial-{host}"))
            .stack_size(PUMP_STACK_BYTES)
            .spawn(move || {
                Pump {
                    shared: pump_shared,
                    link: Box::new(SerialLink::new(line)),
                    host,
                    text: Vec::new(),
                    to_peer: None,
                    to_machine: None,
                    buffer: vec![0u8; MAX_FRAME],
                    started: Instant::now(),
                    command_sent: None,
                }
                .run();
            })
            .ok();
        if thread.is_none() {
            lock(&shared.view).failure = Some("cannot start the serial line's thread".into());
        }
        MachineEnd { shared, thread }
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
        log::info!("ldmig[{}] {message}", self.host);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::frame_channel;
    use ldmig::wire::codec::{Reserved, Text};
    use ldmig::wire::serial::{CommandKind, MachinePhase, MachineRole, MachineState};
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use zerocopy::FromZeros;

    /// The machine's end of the line: a link over the accepted socket,
    /// polled by the test as the firmware polls its UART.
    struct Machine {
        link: Box<ShimLink>,
        started: Instant,
    }

    impl Machine {
        fn poll(&mut self) {
            let now = self.started.elapsed().as_nanos() as u64;
            self.link
                .poll(now, &mut |_| {})
                .expect("the machine's link");
            std::thread::sleep(Duration::from_millis(1));
        }

        /// Polls until `done` holds (or fails after a generous bound, so
        /// that a broken pump ends the test instead of hanging it).
        fn poll_until(&mut self, what: &str, mut done: impl FnMut(&mut Machine) -> bool) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !done(self) {
                assert!(Instant::now() < deadline, "never happened: {what}");
                self.poll();
            }
        }
    }

    fn pair() -> (MachineEnd, Machine, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("bound").to_string();
        let shim_line = TcpLine::connect(&address, Duration::from_secs(5)).expect("connects");
        let (stream, _) = listener.accept().expect("accepted");
        let raw = stream.try_clone().expect("a second handle");
        let machine = Machine {
            link: Box::new(SerialLink::new(TcpLine::from_stream(stream).expect("line"))),
            started: Instant::now(),
        };
        (MachineEnd::start(shim_line, "test-host"), machine, raw)
    }

    /// Runs `body` on a thread whose stack holds the machine's link.
    fn on_big_stack(body: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(PUMP_STACK_BYTES)
            .spawn(body)
            .expect("a thread")
            .join()
            .expect("the test body passed");
    }

    #[test]
    fn console_status_commands_and_frames_cross_the_pump() {
        on_big_stack(console_status_commands_and_frames);
    }

    fn console_status_commands_and_frames() {
        let (end, mut machine, mut raw) = pair();
        // Console text is plain bytes between records: one line logged.
        raw.write_all(b"[primary] hello from the machine\r\n")
            .expect("console text");
        let mut status = MachineStatus::new_zeroed();
        status.role = MachineRole::Source.into();
        status.state = MachineState::Idle.into();
        status.phase = MachinePhase::Setup.into();
        status.guest_progress = 7.into();
        machine.link.send_status(&status);
        machine.poll_until("the shim sees the status and the line", |_| {
            let view = end.view();
            view.console_lines == 1
                && view
                    .status
                    .is_some_and(|seen| seen.guest_progress.get() == 7)
        });

        // A command is sent until the status shows it taken.
        let command = Command {
            kind: CommandKind::Migrate.into(),
            reserved: Reserved::ZERO,
            request: 5.into(),
            downtime_limit_ms: 300.into(),
            reserved2: Reserved::ZERO,
            max_bandwidth: 0.into(),
            domain: Text::new("ldg1"),
            target_domain: Text::new("ldg1"),
        };
        end.command(command);
        let mut taken = None;
        machine.poll_until("the machine receives the command", |machine| {
            taken = taken.or(machine.link.take_command());
            taken.is_some()
        });
        assert_eq!(taken.map(|command| command.request.get()), Some(5));
        status.request = 5.into();
        status.state = MachineState::Migrating.into();
        machine.link.send_status(&status);
        machine.poll_until("the shim sees the command taken", |_| {
            end.view()
                .status
                .is_some_and(|seen| seen.request.get() == 5)
        });

        // Frames both ways between the machine and the relay's end.
        let (engine_end, mut relay_end) = frame_channel(64 << 10);
        end.attach(engine_end);
        let outbound: Vec<u8> = (0..20_000u32).map(|index| (index % 251) as u8).collect();
        assert_eq!(machine.link.queue_frame(&outbound), Ok(true));
        let mut buffer = vec![0u8; MAX_FRAME];
        let mut relayed = None;
        machine.poll_until("the machine's frame reaches the relay", |_| {
            if relayed.is_none() {
                relayed = relay_end.receive(&mut buffer).expect("open");
            }
            relayed.is_some()
        });
        assert_eq!(&buffer[..relayed.unwrap_or(0)], &outbound[..]);
        let inbound = b"a frame from the peer".to_vec();
        assert_eq!(relay_end.send(&inbound), Ok(true));
        let mut arrived = None;
        machine.poll_until("the peer's frame reaches the machine", |machine| {
            if arrived.is_none() {
                arrived = machine.link.take_frame(&mut buffer).expect("intact");
            }
            arrived.is_some()
        });
        assert_eq!(&buffer[..arrived.unwrap_or(0)], &inbound[..]);
        assert!(end.view().failure.is_none());
    }

    #[test]
    fn a_closed_line_is_the_pumps_failure() {
        on_big_stack(a_closed_line);
    }

    fn a_closed_line() {
        let (end, machine, raw) = pair();
        drop(machine);
        drop(raw);
        let deadline = Instant::now() + Duration::from_secs(60);
        while end.view().failure.is_none() {
            assert!(Instant::now() < deadline, "the closed line was not noticed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let failure = end.view().failure.unwrap_or_default();
        assert!(failure.starts_with("the serial line failed"), "{failure}");
    }
}
