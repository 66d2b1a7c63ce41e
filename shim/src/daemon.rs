//! The daemon of one machine (`ldmig serve`): a simulated T-series host
//! built from its TOML description, the guests' workloads, the control
//! socket for local commands, and the listener for incoming migrations.
//!
//! Threads: one accepts control connections (one thread each, at most
//! [`Limits::max_control_connections`]), one accepts peers (one thread per
//! incoming migration, at most [`Limits::max_peer_connections`]), one runs
//! the guests' workloads. The lock order is on [`State`]; engine threads
//! take only the machine, or the domains to record a commit.
//!
//! The state directory ([`crate::persist`]) is saved after every change;
//! a daemon started on one restores what it says ([`snapshot`]).
//!
//! - [`control_server`]: the control socket's connections and requests;
//! - [`peer_listener`]: incoming peers, their bounds and back-off;
//! - [`snapshot`]: the daemon's state to and from the state directory.
//!
//! The `ldm` operations other than migrations live in
//! [`crate::operations`], `list` in [`crate::listing`].

mod control_server;
mod peer_listener;
mod snapshot;

use super::bounds::log_limit::Verdict;
use super::bounds::{AuthBackoff, Limits, LogLimiter, Slots};
use super::control::MigrationInfo;
use super::control_socket::{effective_uid, ControlAccess, ControlSocket};
use super::hooks::{AfterRelease, GuestTicks, HeldPoints, HoldPoint, Pauses, PhaseHooks};
use super::persist::{Departed, StateDirectory};
use super::relay::{ResumeEvent, Returning};
use ldmig::rules::OperationLocks;
use ldmig::stats::MigrationStats;
use ldmig_hv::hypervisor::DomainId;
use ldmig_hv::resources::{DomainRequirements, FreeRange, HostResources, PowerMode};
use ldmig_sim::description::HostDescription;
use ldmig_sim::handle::MachineHandle;
use ldmig_sim::workload::{Workload, WorkloadSpec};
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where a daemon's log lines go (standard error when none is given).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How to start a daemon ([`DaemonOptions::new`] gives the defaults).
pub struct DaemonOptions {
    /// The machine and its domains.
    pub description: HostDescription,
    /// Where peers connect (already bound; port 0 is fine).
    pub listener: TcpListener,
    /// The control socket's path (see [`crate::control_socket`]: a stale
    /// socket of this user's is replaced, anything else refused).
    pub control_path: PathBuf,
    /// Who may use the control socket besides this user and root.
    pub control_access: ControlAccess,
    /// The migration password (incoming migrations, and outgoing ones
    /// whose request names no password file).
    pub password: String,
    /// The state directory (see [`crate::persist`]); `None` keeps nothing
    /// across restarts.
    pub state_dir: Option<PathBuf>,
    /// The daemon's bounds.
    pub limits: Limits,
    /// Seed of the guests' workloads.
    pub seed: u64,
    /// Workload of every active guest (idle, moderate, hot, heavy,
    /// unconvergeable), or `none`: the guests' memory stays as bound (zero)
    /// and nothing writes it. A domain that migrates in runs this daemon's
    /// workload too, once it resumed here (the simulated guest is this
    /// machine's business: nothing of it travels between the shims).
    pub workload: String,
    /// Initial memory content for a domain (the demo's `--image`).
    pub images: Vec<(String, Vec<u8>)>,
    /// Test hook: an outgoing live migration holds once its first pre-copy
    /// round ended (before the commit) until a `ReleaseMigration` request.
    /// Lets a test try operations while a migration surely runs. The same
    /// as `hooks.hold_at = Some(HoldPoint::AfterRoundZero)`.
    pub hold_migrations: bool,
    /// Worker threads of each migration engine's page pipeline (0: the
    /// engine's own thread does the page work).
    pub workers: u32,
    /// Test hooks: hold migrations at a phase (see [`crate::hooks`]).
    pub hooks: PhaseHooks,
    /// Where log lines go.
    pub log: Option<LogSink>,
}

impl DaemonOptions {
    /// Options with the defaults: no state directory, the default limits,
    /// seed 1, the `moderate` workload, no hooks, logs to standard error.
    pub fn new(
        description: HostDescription,
        listener: TcpListener,
        control_path: PathBuf,
        password: impl Into<String>,
    ) -> Self {
        DaemonOptions {
            description,
            listener,
            control_path,
            control_access: ControlAccess::default(),
            password: password.into(),
            state_dir: None,
            limits: Limits::default(),
            seed: 1,
            workload: "moderate".into(),
            images: Vec::new(),
            hold_migrations: false,
            workers: crate::host::workers::default_workers(),
            hooks: PhaseHooks::default(),
            log: None,
        }
    }
}

/// A migration under way or finished, as `list -o status` shows it.
#[derive(Debug, Default)]
pub struct MigrationTrack {
    /// Its statistics and result.
    pub info: Mutex<MigrationInfo>,
    /// Set by `cancel-operation`.
    pub cancel: AtomicBool,
    /// Set once it ended.
    pub finished: AtomicBool,
    /// Set by `ReleaseMigration` (the hold test hooks).
    pub released: AtomicBool,
    /// Set once the release's answer was written (a daemon that stops or
    /// kills itself on release does so only then).
    pub(crate) release_answered: AtomicBool,
    /// What the held daemon does once released.
    pub(crate) release_then: Mutex<AfterRelease>,
    /// The hold points it already held at.
    pub(crate) held_points: HeldPoints,
    /// Time its engine's clock stood still (holds, the peer's holds).
    pub(crate) pauses: Pauses,
    /// Source: the commit may have left. Target: its acknowledgement may
    /// have left. Recorded in the state directory before the frame goes.
    pub(crate) committing: AtomicBool,
    /// Source: the target acknowledged the commit (the domain left).
    pub(crate) acknowledged: AtomicBool,
    /// The deterministic guest of the test hooks.
    pub(crate) guest_ticks: GuestTicks,
    /// Source: probes of the link sent, and the last one answered.
    pub(crate) probes: AtomicU64,
    pub(crate) probe_answered: AtomicU64,
    /// Why the connection to the peer broke and could not be resumed.
    pub(crate) link_failure: Mutex<Option<String>>,
}

impl MigrationTrack {
    /// A track for one side of a migration.
    pub fn new(side: &str, peer: &str) -> Arc<Self> {
        let track = MigrationTrack::default();
        {
            let mut info = lock(&track.info);
            info.side = side.to_string();
            info.peer = peer.to_string();
            info.status = "setup".into();
        }
        Arc::new(track)
    }

    /// A finished track with `info` (a migration a restart found).
    pub(crate) fn finished_with(info: MigrationInfo) -> Arc<Self> {
        let track = MigrationTrack::default();
        *lock(&track.info) = info;
        track.finished.store(true, Ordering::SeqCst);
        Arc::new(track)
    }

    /// Copies the engine's counters in.
    pub fn update(&self, stats: &MigrationStats) {
        let mut info = lock(&self.info);
        let ms = |ns: u64| ns as f64 / 1e6;
        crate::timeline::note_rounds(&mut info, stats);
        info.status = stats.status.name().to_string();
        info.progress_percent = stats.progress_percent;
        info.total_time_ms = ms(stats.total_time_ns);
        info.setup_time_ms = ms(stats.setup_time_ns);
        info.downtime_ms = ms(stats.downtime_ns);
        info.expected_downtime_ms = ms(stats.expected_downtime_ns);
        info.rounds = stats.rounds;
        info.transferred_bytes = stats.transferred;
        info.remaining_bytes = stats.remaining;
        info.total_bytes = stats.total;
        info.zero_pages = stats.duplicate;
        info.normal_pages = stats.normal;
        info.compressed_pages = stats.compressed_pages;
        info.deep_compressed_pages = stats.deep_compressed_pages;
        info.raw_pages = stats.raw_pages;
        info.delta_pages = stats.delta_pages;
        info.compression_ratio = stats.compression_ratio();
        info.mbps = stats.mbps();
        info.dirty_pages_rate = stats.dirty_pages_rate;
        info.dirty_sync_count = stats.dirty_sync_count;
        info.cpu_throttle_percentage = stats.cpu_throttle_percentage;
    }

    /// A copy of the current information.
    pub fn snapshot(&self) -> MigrationInfo {
        lock(&self.info).clone()
    }

    /// The side (`source` or `target`).
    pub(crate) fn side(&self) -> String {
        lock(&self.info).side.clone()
    }
}

/// One domain the daemon knows.
pub(crate) struct Domain {
    /// What it is made of and its state (active, bound, inactive).
    pub(crate) requirements: DomainRequirements,
    /// Its id on the machine, while bound.
    pub(crate) id: Option<DomainId>,
    /// The simulated guest writing its memory, while it runs.
    pub(crate) workload: Option<Workload>,
    /// Seed of the guest's workload when it (re)starts.
    pub(crate) seed: u64,
    /// The migration under way or the last one.
    pub(crate) migration: Option<Arc<MigrationTrack>>,
    /// Left in the error state by a failed migration.
    pub(crate) error_state: bool,
}

impl Domain {
    /// A domain the daemon starts knowing (from its description, or
    /// arriving by migration).
    pub(crate) fn new(requirements: DomainRequirements, id: Option<DomainId>, seed: u64) -> Self {
        Domain {
            requirements,
            id,
            workload: None,
            seed,
            migration: None,
            error_state: false,
        }
    }

    /// True while a migration of this domain runs.
    pub(crate) fn migrating(&self) -> bool {
        self.migration
            .as_ref()
            .is_some_and(|track| !track.finished.load(Ordering::SeqCst))
    }
}

/// What the administrator changes on the machine itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostSettings {
    /// The power-management policy in effect.
    pub(crate) power_mode: PowerMode,
    /// A delayed reconfiguration pending on the control domain.
    pub(crate) delayed_reconfiguration: bool,
}

/// Everything the daemon's threads share.
///
/// Locks are taken in this order: `domains`, `departed`, `locks`, `host`,
/// `backoff`, `log_limiter`, then the machine. Everything that changes
/// what the state directory holds persists with `domains` held, so the
/// saved states follow each other in the order of the changes.
pub(crate) struct State {
    pub(crate) description: HostDescription,
    pub(crate) machine: MachineHandle,
    pub(crate) domains: Mutex<BTreeMap<String, Domain>>,
    /// Domains of the host file that left.
    pub(crate) departed: Mutex<Vec<Departed>>,
    pub(crate) locks: Mutex<OperationLocks>,
    pub(crate) host: Mutex<HostSettings>,
    pub(crate) password: String,
    /// The workload every active guest runs (`none`: none); a domain that
    /// migrates in runs it too.
    pub(crate) workload: String,
    /// Seed of the guests' workloads.
    seed: u64,
    pub(crate) stop: AtomicBool,
    /// Worker threads of each engine's page pipeline.
    pub(crate) workers: u32,
    /// The test hooks.
    pub(crate) hooks: PhaseHooks,
    /// The out-of-memory test switch.
    pub(crate) out_of_memory: Arc<AtomicBool>,
    pub(crate) limits: Limits,
    pub(crate) control_access: ControlAccess,
    /// The daemon's user: it, root and `control_access` may use it.
    pub(crate) owner: u32,
    /// Targets the host file allows.
    pub(crate) allowed_targets: Vec<String>,
    pub(crate) state_dir: Option<StateDirectory>,
    pub(crate) control_slots: Slots,
    pub(crate) peer_slots: Slots,
    pub(crate) backoff: Mutex<AuthBackoff>,
    /// Incoming migrations that wait for their source to come back after
    /// a cut, by session: the peer listener hands a `Resume` over here.
    pub(crate) returning: Mutex<HashMap<u64, mpsc::Sender<Returning>>>,
    log_limiter: Mutex<LogLimiter>,
    log: Option<LogSink>,
    started: Instant,
}

/// Locks a mutex, recovering the data of a poisoned one.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// Nanoseconds since the daemon started (the engines' clock).
    pub(crate) fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// The host's name.
    pub(crate) fn host(&self) -> &str {
        self.description.name()
    }

    /// Writes one line to the daemon's log.
    pub(crate) fn log(&self, line: &str) {
        let line = format!("ldmig[{}]: {line}", self.host());
        match &self.log {
            Some(sink) => sink(&line),
            // The log facade: the installed logger (standard error, or
            // the journal under systemd) decides what shows.
            None => log::info!("{line}"),
        }
    }

    /// Writes a line of kind `kind` (e.g. one peer address's refusals), at
    /// most once per log window, saying how many were held back.
    pub(crate) fn log_limited(&self, kind: &str, line: &str) {
        let verdict = lock(&self.log_limiter).admit(kind, Instant::now());
        if let Verdict::Print { held_back } = verdict {
            let text = lock(&self.log_limiter).summarise(line, held_back);
            self.log(&text);
        }
    }

    /// Saves the state directory (`domains` is the caller's guard of the
    /// domains lock). A failure is logged and returned: what depends on it
    /// (a commit) must not go on.
    pub(crate) fn persist(&self, domains: &BTreeMap<String, Domain>) -> Result<(), String> {
        let Some(directory) = &self.state_dir else {
            return Ok(());
        };
        let state = snapshot::snapshot(self, domains);
        directory.save(&state).map_err(|error| {
            let message = format!("the state directory could not be saved: {error}");
            self.log_limited("state", &message);
            message
        })
    }

    /// The host as the checks see it now: the description's fixed facts,
    /// the policy and delayed reconfiguration set since, and the machine's
    /// free strands, crypto units and memory.
    pub(crate) fn resources(&self) -> HostResources {
        let mut resources = self.description.resources();
        let settings = *lock(&self.host);
        resources.power_mode = settings.power_mode;
        resources.delayed_reconfiguration_pending = settings.delayed_reconfiguration;
        let machine = self.machine.lock();
        resources.free_strands = machine.free_strands();
        resources.free_crypto_units = machine.free_crypto_units();
        resources.free_memory.clear();
        for range in machine.free_ranges() {
            if resources
                .free_memory
                .push(FreeRange {
                    pa: range.pa,
                    size: range.size,
                })
                .is_err()
            {
                break;
            }
        }
        resources
    }

    /// Records that the migration of `domain` ended; a power-policy switch
    /// that waited for the last migration takes effect now.
    pub(crate) fn end_migration(&self, domain: &str) {
        let deferred = lock(&self.locks).end_migration(domain);
        if let Ok(Some(mode)) = deferred {
            lock(&self.host).power_mode = mode;
        }
    }

    /// (Re)starts the guest of an active domain (a boot: memory loaded
    /// first when `fill`), unless the daemon runs no workload.
    pub(crate) fn boot_guest(&self, domain: &mut Domain, fill: bool) {
        domain.workload = None;
        if self.workload == "none" || domain.requirements.name == "primary" {
            return;
        }
        if let Some(id) = domain.id {
            domain.workload = self
                .start_workload(domain.seed, id, fill)
                .unwrap_or_else(|error| {
                    self.log(&format!("{}: {error}", domain.requirements.name));
                    None
                });
        }
    }

    /// Starts this daemon's workload on a domain that runs here (`Ok(None)`
    /// for the workload `none`); `fill` writes its initial memory first.
    pub(crate) fn start_workload(
        &self,
        seed: u64,
        id: DomainId,
        fill: bool,
    ) -> Result<Option<Workload>, String> {
        if self.workload == "none" {
            return Ok(None);
        }
        let spec = WorkloadSpec::by_name(&self.workload, seed)
            .ok_or_else(|| format!("unknown workload '{}'", self.workload))?;
        let mut workload = Workload::new(spec, id);
        let mut machine = self.machine.lock();
        if fill {
            workload
                .fill_initial(&mut machine)
                .map_err(|error| format!("filling the guest's memory: {error:?}"))?;
        }
        workload.start_at(self.now_ns());
        Ok(Some(workload))
    }

    /// The test hook: holds the migration of `track` at `point` (once), if
    /// this daemon holds there, until it is released or cancelled or the
    /// daemon stops; `announce` tells the peer (true: held, false: going
    /// on). The engine's clock stands still meanwhile. Once released, the
    /// daemon does what the release said (go on, stop or kill itself).
    pub(crate) fn hold(
        &self,
        track: &MigrationTrack,
        point: HoldPoint,
        announce: &mut dyn FnMut(bool),
    ) {
        if !self.hooks.holds(point) || !track.held_points.first_time(point) {
            return;
        }
        track.pauses.begin(self.now_ns());
        lock(&track.info).held = true;
        announce(true);
        let going_on = || {
            let then = *lock(&track.release_then);
            track.released.load(Ordering::SeqCst)
                && (then == AfterRelease::Continue || track.release_answered.load(Ordering::SeqCst))
        };
        while !going_on()
            && !track.cancel.load(Ordering::SeqCst)
            && !self.stop.load(Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        lock(&track.info).held = false;
        announce(false);
        track.pauses.end(self.now_ns());
        let then = *lock(&track.release_then);
        then.apply();
    }

    /// The clock of the engine of `track`: the daemon's, less the time it
    /// stood still.
    pub(crate) fn engine_now(&self, track: &MigrationTrack) -> u64 {
        let now = self.now_ns();
        now.saturating_sub(track.pauses.total(now))
    }

    /// Serves `connection` on a thread of its own while it holds one of
    /// `slots`; when every slot is taken, `refuse` gets it instead, on
    /// this thread (the caller's bound on connections at once).
    pub(crate) fn serve_in_slot<T: Send + 'static>(
        self: &Arc<Self>,
        slots: &Slots,
        connection: T,
        refuse: impl FnOnce(T),
        serve: impl FnOnce(&Arc<State>, T) + Send + 'static,
    ) {
        let Some(slot) = slots.take() else {
            return refuse(connection);
        };
        let shared = self.clone();
        std::thread::spawn(move || {
            serve(&shared, connection);
            drop(slot);
        });
    }

    /// What a migration's relay does on a cut, a resume or giving up: the
    /// engine's clock stands still while the connection is down, the
    /// books count resumes and keep why one failed, the log says each.
    pub(crate) fn resume_events(
        self: &Arc<Self>,
        track: &Arc<MigrationTrack>,
    ) -> Box<dyn FnMut(ResumeEvent<'_>) + Send> {
        let state = self.clone();
        let track = track.clone();
        let mut down = false;
        Box::new(move |event| {
            let peer = lock(&track.info).peer.clone();
            match event {
                ResumeEvent::Lost(why) => {
                    if !down {
                        track.pauses.begin(state.now_ns());
                        down = true;
                    }
                    state.log(&format!(
                        "the connection to {peer} broke during pre-copy ({why}): resuming"
                    ));
                }
                ResumeEvent::Resumed(attempts) => {
                    if std::mem::take(&mut down) {
                        track.pauses.end(state.now_ns());
                    }
                    lock(&track.info).resumes += 1;
                    state.log(&format!(
                        "the connection to {peer} resumed (attempt {attempts}): the migration goes on"
                    ));
                }
                ResumeEvent::GaveUp(why) => {
                    if std::mem::take(&mut down) {
                        track.pauses.end(state.now_ns());
                    }
                    *lock(&track.link_failure) = Some(why.to_string());
                    state.log(&format!("the connection to {peer} is lost: {why}"));
                }
            }
        })
    }

    /// The workload seed of the domain named `name` that migrated in.
    pub(crate) fn incoming_seed(&self, name: &str) -> u64 {
        // FNV-1a of the name: the same domain gets the same seed.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        self.seed ^ hash
    }
}

/// A running daemon.
pub struct Daemon {
    state: Arc<State>,
    control: Arc<ControlSocket>,
    listen: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Builds the machine (from the state directory when it holds a state,
    /// else from the host file), starts the guests and every thread.
    pub fn start(options: DaemonOptions) -> Result<Daemon, String> {
        if options.workload != "none" && WorkloadSpec::by_name(&options.workload, 0).is_none() {
            return Err(format!("unknown workload '{}'", options.workload));
        }
        let state_dir = options
            .state_dir
            .as_deref()
            .map(StateDirectory::open)
            .transpose()
            .map_err(|error| error.to_string())?;
        let saved = match &state_dir {
            Some(directory) => directory
                .load(options.description.name())
                .map_err(|error| error.to_string())?,
            None => None,
        };
        let restored = snapshot::restore(&options.description, saved, options.seed)?;
        let mut hooks = options.hooks;
        if options.hold_migrations && hooks.hold_at.is_none() {
            hooks.hold_at = Some(HoldPoint::AfterRoundZero);
        }
        let limits = options.limits;
        let allowed_targets = options.description.allowed_targets().to_vec();
        let state = Arc::new(State {
            description: options.description,
            machine: MachineHandle::new(restored.machine),
            domains: Mutex::new(BTreeMap::new()),
            departed: Mutex::new(restored.departed),
            locks: Mutex::new(restored.locks),
            host: Mutex::new(restored.host),
            password: options.password,
            seed: options.seed,
            stop: AtomicBool::new(false),
            workload: options.workload.clone(),
            workers: options.workers,
            hooks,
            out_of_memory: Arc::new(AtomicBool::new(false)),
            limits,
            control_access: options.control_access,
            owner: effective_uid(),
            allowed_targets,
            state_dir,
            control_slots: Slots::new(limits.max_control_connections),
            peer_slots: Slots::new(limits.max_peer_connections),
            backoff: Mutex::new(AuthBackoff::new(
                limits.auth_backoff_base,
                limits.auth_backoff_max,
                limits.auth_backoff_addresses,
            )),
            returning: Mutex::new(HashMap::new()),
            log_limiter: Mutex::new(LogLimiter::new(limits.log_window, 1024)),
            log: options.log,
            started: Instant::now(),
        });
        for note in &restored.notes {
            state.log(&format!("{}: {}", note.domain, note.text));
        }
        let mut domains = BTreeMap::new();
        for (name, mut domain, boot) in restored.domains {
            if boot {
                let image = options.images.iter().find(|(domain, _)| *domain == name);
                // With an image, memory is the image and zeros: the
                // workload writes from there instead of filling first.
                state.boot_guest(&mut domain, image.is_none());
                if let (Some((_, image)), Some(id)) = (image, domain.id) {
                    load_image(&state.machine, id, image)?;
                }
            }
            domains.insert(name, domain);
        }
        {
            let mut guard = lock(&state.domains);
            *guard = domains;
            state.persist(&guard)?;
        }

        let listen = options
            .listener
            .local_addr()
            .map_err(|error| error.to_string())?;
        let control = ControlSocket::bind(&options.control_path, options.control_access)
            .map_err(|error| format!("control socket: {error}"))?;
        control
            .listener()
            .set_nonblocking(true)
            .map_err(|error| error.to_string())?;
        options
            .listener
            .set_nonblocking(true)
            .map_err(|error| error.to_string())?;
        let control = Arc::new(control);
        let mut threads = Vec::new();
        let shared = state.clone();
        let socket = control.clone();
        threads.push(std::thread::spawn(move || {
            control_server::control_loop(shared, socket)
        }));
        let shared = state.clone();
        let listener = options.listener;
        threads.push(std::thread::spawn(move || {
            peer_listener::peer_loop(shared, listener)
        }));
        let shared = state.clone();
        threads.push(std::thread::spawn(move || workload_loop(shared)));
        Ok(Daemon {
            state,
            control,
            listen,
            threads,
        })
    }

    /// The control socket.
    pub fn control_path(&self) -> &Path {
        self.control.path()
    }

    /// The address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The simulated machine (for the demo's checks).
    pub fn machine(&self) -> MachineHandle {
        self.state.machine.clone()
    }

    /// Control connections being served now.
    pub fn control_connections(&self) -> usize {
        self.state.control_slots.taken()
    }

    /// Peer connections being served now.
    pub fn peer_connections(&self) -> usize {
        self.state.peer_slots.taken()
    }

    /// Runs until the process is killed.
    pub fn wait(mut self) {
        join_all(&mut self.threads);
    }

    /// Stops every thread and removes the control socket (if the path
    /// still holds it).
    pub fn shutdown(mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        join_all(&mut self.threads);
        self.control.remove();
    }
}

/// Joins every thread of a daemon (they end once it stops).
pub(crate) fn join_all(threads: &mut Vec<JoinHandle<()>>) {
    for thread in threads.drain(..) {
        let _ = thread.join();
    }
}

fn load_image(machine: &MachineHandle, id: DomainId, image: &[u8]) -> Result<(), String> {
    let mut machine = machine.lock();
    let mut offset = 0usize;
    for (block, _) in machine.memory_blocks(id) {
        let take = (image.len() - offset).min(block.size as usize) / 8 * 8;
        if take == 0 {
            break;
        }
        machine
            .load_memory(id, block.ra, &image[offset..offset + take])
            .map_err(|error| error.to_string())?;
        offset += take;
    }
    Ok(())
}

fn workload_loop(state: Arc<State>) {
    while !state.stop.load(Ordering::SeqCst) {
        {
            let now = state.now_ns();
            let mut domains = lock(&state.domains);
            let mut machine = state.machine.lock();
            for domain in domains.values_mut() {
                if let Some(workload) = &mut domain.workload {
                    // A suspended or vanished domain just does not write.
                    let _ = workload.run_until(&mut machine, now);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
