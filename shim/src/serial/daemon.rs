//! `ldmig serve --serial`: the daemon of a machine whose engine runs in
//! the machine itself (the ldmig firmware on QEMU `-M niagara`), reached
//! through its UART. The host description gives the machine's static
//! facts for the checks; what runs there — the guest, the migration's
//! progress and outcome — the machine reports over the line.
//!
//! Threads: the machine's pump ([`super::machine`]), one accepting control
//! connections (a thread each), one accepting peers (a thread per incoming
//! migration). One migration at a time, either way.

use super::line::TcpLine;
use super::machine::MachineEnd;
use super::status::{guest_present, migration_info};
use crate::bounds::Limits;
use crate::control::{
    read_request, DomainListing, Event, HostListing, MigrationInfo, Request, RequestError,
};
use crate::control_socket::{
    effective_uid, peer_credentials, ControlAccess, ControlSocket, Credentials,
};
use crate::daemon::{join_all, lock, MigrationTrack};
use crate::listing::CONTROL_DOMAIN;
use ldmig_sim::description::HostDescription;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long to wait for the machine's UART at start.
const LINE_PATIENCE: Duration = Duration::from_secs(30);

/// How to start a serial-engine daemon.
pub struct SerialOptions {
    /// The machine's static facts and its domains at boot.
    pub description: HostDescription,
    /// The machine's UART character device (`HOST:PORT`).
    pub serial: String,
    /// Where peers connect (already bound).
    pub listener: TcpListener,
    /// The control socket's path (created; a stale one is replaced).
    pub control_path: PathBuf,
    /// The migration password.
    pub password: String,
}

/// What the daemon's threads share.
pub(crate) struct SerialState {
    pub(crate) description: HostDescription,
    pub(crate) machine: MachineEnd,
    pub(crate) password: String,
    /// The migration under way or the last one.
    pub(crate) track: Mutex<Option<Arc<MigrationTrack>>>,
    /// A migration runs (either side).
    pub(crate) busy: AtomicBool,
    stop: AtomicBool,
}

impl SerialState {
    /// The host's name.
    pub(crate) fn host(&self) -> &str {
        self.description.name()
    }

    /// Claims the machine for a migration; false if one runs.
    pub(crate) fn claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Copies the machine's status into `track`.
    pub(crate) fn update(&self, track: &MigrationTrack) {
        let view = self.machine.view();
        if let Some(status) = view.status {
            migration_info(&status, &view, &mut lock(&track.info));
        }
    }

    /// Logs `message` through the log facade.
    pub(crate) fn log(&self, message: &str) {
        log::info!("ldmig[{}] {message}", self.host());
    }
}

/// A running serial-engine daemon.
pub struct SerialDaemon {
    state: Arc<SerialState>,
    control_path: PathBuf,
    control_socket: Arc<ControlSocket>,
    listen: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl SerialDaemon {
    /// Connects to the machine's line and starts every thread.
    pub fn start(options: SerialOptions) -> Result<SerialDaemon, String> {
        let line = TcpLine::connect(&options.serial, LINE_PATIENCE)?;
        let machine = MachineEnd::start(line, options.description.name());
        let state = Arc::new(SerialState {
            description: options.description,
            machine,
            password: options.password,
            track: Mutex::new(None),
            busy: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let listen = options
            .listener
            .local_addr()
            .map_err(|error| error.to_string())?;
        // The same access boundary as the simulated host's daemon: the
        // socket is this user's (a stale one of its own is replaced,
        // anything else refused), and only this user and root may use it.
        let control = ControlSocket::bind(&options.control_path, ControlAccess::default())
            .map_err(|error| error.to_string())?;
        for nonblocking in [
            control.listener().set_nonblocking(true),
            options.listener.set_nonblocking(true),
        ] {
            nonblocking.map_err(|error| error.to_string())?;
        }
        let mut threads = Vec::new();
        let shared = state.clone();
        let control_socket = Arc::new(control);
        let socket = control_socket.clone();
        threads.push(std::thread::spawn(move || control_loop(shared, &socket)));
        let shared = state.clone();
        let listener = options.listener;
        threads.push(std::thread::spawn(move || peer_loop(shared, listener)));
        Ok(SerialDaemon {
            state,
            control_path: options.control_path,
            control_socket,
            listen,
            threads,
        })
    }

    /// The control socket.
    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// The address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Runs until the process is killed.
    pub fn wait(mut self) {
        join_all(&mut self.threads);
    }

    /// Stops every thread and removes the control socket.
    pub fn shutdown(mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        join_all(&mut self.threads);
        self.control_socket.remove();
    }
}

fn control_loop(state: Arc<SerialState>, socket: &ControlSocket) {
    let owner = effective_uid();
    while !state.stop.load(Ordering::SeqCst) {
        match socket.listener().accept() {
            Ok((stream, _)) => {
                let Ok(client) = peer_credentials(&stream) else {
                    continue;
                };
                if !ControlAccess::default().allows(owner, &client) {
                    continue;
                }
                let shared = state.clone();
                std::thread::spawn(move || serve_control(&shared, stream, client));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn peer_loop(state: Arc<SerialState>, listener: TcpListener) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let shared = state.clone();
                std::thread::spawn(move || {
                    super::incoming::accept_migration(&shared, stream, peer)
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_control(state: &SerialState, stream: UnixStream, client: Credentials) {
    let _ = stream.set_nonblocking(false);
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut writer = stream;
    let request = read_request(reader_stream, Limits::default().max_request_bytes);
    let mut emit = |event: &Event| {
        if let Ok(mut text) = serde_json::to_string(event) {
            text.push('\n');
            let _ = writer.write_all(text.as_bytes());
        }
    };
    let event = match request {
        Err(RequestError::Silent) => return,
        Err(error) => Event::failed(error.to_string()),
        Ok(request @ Request::MigrateDomain { .. }) => {
            super::outgoing::migrate_domain(state, request, &client, &mut emit)
        }
        Ok(Request::List { domain }) => list(state, domain.as_deref()),
        Ok(_) => Event::failed(format!(
            "Not available on {}: its engine runs in a machine behind a serial line; migrate-domain and list are",
            state.host()
        )),
    };
    emit(&event);
}

/// `list`: the control domain, and the guest while the machine has one,
/// with the migration under way or the last one.
fn list(state: &SerialState, only: Option<&str>) -> Event {
    let view = state.machine.view();
    let track = lock(&state.track).clone();
    let mut domains = Vec::new();
    if let Ok(primary) = state.description.domain_requirements(CONTROL_DOMAIN) {
        domains.push(DomainListing {
            name: CONTROL_DOMAIN.into(),
            state: "active".into(),
            flags: "-n-cv-".into(),
            vcpus: primary.vcpus,
            memory_bytes: primary.memory_bytes(),
            ..DomainListing::default()
        });
    }
    let status = view.status;
    let guest = status.filter(guest_present);
    let migration = track.as_ref().map(|track| {
        state.update(track);
        track.snapshot()
    });
    let shown_migration = |migration: &Option<MigrationInfo>| {
        migration.clone().or_else(|| {
            status.map(|status| {
                let mut info = MigrationInfo {
                    status: "none".into(),
                    ..MigrationInfo::default()
                };
                migration_info(&status, &view, &mut info);
                info
            })
        })
    };
    if let Some(status) = guest {
        let name = status.guest_name.as_str().to_string();
        let running = status.guest_flags & ldmig::wire::serial::GUEST_RUNNING != 0;
        let requirements = state.description.domain_requirements(&name).ok();
        let migrating = migration
            .as_ref()
            .is_some_and(|info| !is_final(&info.status));
        domains.push(DomainListing {
            state: if running { "active" } else { "suspended" }.into(),
            flags: format!(
                "{}n----{}",
                if running { "-" } else { "s" },
                match (migrating, migration.as_ref().map(|info| info.side.as_str())) {
                    (true, Some("target")) => "t",
                    (true, _) => "s",
                    _ => "-",
                }
            ),
            vcpus: requirements.as_ref().map_or(1, |domain| domain.vcpus),
            memory_bytes: status.total.get().max(
                requirements
                    .as_ref()
                    .map_or(0, ldmig_hv::resources::DomainRequirements::memory_bytes),
            ),
            crypto_units: requirements
                .as_ref()
                .map_or(0, |domain| domain.crypto_units),
            migration: shown_migration(&migration),
            name,
            ..DomainListing::default()
        });
    }
    if let Some(name) = only {
        domains.retain(|domain| domain.name == name);
        if domains.is_empty() {
            return Event::failed(format!("Domain {name} not found on {}", state.host()));
        }
    }
    let resources = state.description.resources();
    Event::Done {
        message: view.failure.unwrap_or_default(),
        host: state.host().to_string(),
        domains,
        free_memory: Vec::new(),
        migration: None,
        findings: Vec::new(),
        host_listing: Some(HostListing {
            cpu_type: resources.cpu_type.to_string(),
            cpu_frequency_mhz: resources.cpu_frequency_mhz,
            power_policy: resources.power_mode.to_string(),
            deferred_power_policy: None,
        }),
    }
}

/// QEMU-style statuses after which nothing changes.
pub(crate) fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "cancelled" | "failed")
}
