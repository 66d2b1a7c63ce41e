//! The daemon of one machine (`ldmig serve`): a simulated T-series host
//! built from its TOML description, the guests' workloads, the control
//! socket for local commands, and the listener for incoming migrations.
//!
//! Threads: one accepts control connections (one thread each), one accepts
//! peers (one thread per incoming migration), one runs the guests'
//! workloads. Locks are always taken in the order `domains`, then `locks`,
//! then `host`, then the machine; engine threads take only the machine.
//!
//! The `ldm` operations other than migrations live in
//! [`crate::operations`], `list` in [`crate::listing`].

use super::control::{Event, MigrationInfo, Request};
use ldmig::rules::OperationLocks;
use ldmig::stats::MigrationStats;
use ldmig_hv::hypervisor::{DomainControl, DomainId, DomainRunState, VcpuControl};
use ldmig_hv::resources::{DomainRequirements, DomainState, FreeRange, HostResources, PowerMode};
use ldmig_sim::description::HostDescription;
use ldmig_sim::handle::MachineHandle;
use ldmig_sim::workload::{Workload, WorkloadSpec};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to start a daemon.
pub struct DaemonOptions {
    /// The machine and its domains.
    pub description: HostDescription,
    /// Where peers connect (already bound; port 0 is fine).
    pub listener: TcpListener,
    /// The control socket's path (created; a stale one is replaced).
    pub control_path: PathBuf,
    /// The migration password.
    pub password: String,
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
    /// round ended (before the commit) until a `ReleaseMigration` request,
    /// and an incoming one waits for its source without a time limit.
    /// Lets a test try operations while a migration surely runs.
    pub hold_migrations: bool,
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
    /// Set by `ReleaseMigration` (the `hold_migrations` test hook).
    pub released: AtomicBool,
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
pub(crate) struct State {
    pub(crate) description: HostDescription,
    pub(crate) machine: MachineHandle,
    pub(crate) domains: Mutex<BTreeMap<String, Domain>>,
    pub(crate) locks: Mutex<OperationLocks>,
    pub(crate) host: Mutex<HostSettings>,
    pub(crate) password: String,
    /// The workload every active guest runs (`none`: none); a domain that
    /// migrates in runs it too.
    pub(crate) workload: String,
    /// Seed of the guests' workloads.
    seed: u64,
    pub(crate) stop: AtomicBool,
    /// The `hold_migrations` test hook.
    pub(crate) hold_migrations: bool,
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
                    eprintln!(
                        "ldmig[{}]: {}: {error}",
                        self.host(),
                        domain.requirements.name
                    );
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
    control_path: PathBuf,
    listen: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Builds the machine, starts the guests and every thread.
    pub fn start(options: DaemonOptions) -> Result<Daemon, String> {
        let machine = options
            .description
            .build_machine()
            .map_err(|error| error.to_string())?;
        let handle = MachineHandle::new(machine);
        let mut domains = BTreeMap::new();
        let names: Vec<String> = options
            .description
            .domain_names()
            .map(str::to_string)
            .collect();
        let host = HostSettings {
            power_mode: options.description.resources().power_mode,
            delayed_reconfiguration: options
                .description
                .resources()
                .delayed_reconfiguration_pending,
        };
        let state = Arc::new(State {
            description: options.description,
            machine: handle,
            domains: Mutex::new(BTreeMap::new()),
            locks: Mutex::new(OperationLocks::new()),
            host: Mutex::new(host),
            password: options.password,
            seed: options.seed,
            stop: AtomicBool::new(false),
            workload: options.workload.clone(),
            hold_migrations: options.hold_migrations,
            started: Instant::now(),
        });
        if options.workload != "none" && WorkloadSpec::by_name(&options.workload, 0).is_none() {
            return Err(format!("unknown workload '{}'", options.workload));
        }
        for (index, name) in names.iter().enumerate() {
            let requirements = state
                .description
                .domain_requirements(name)
                .map_err(|error| error.to_string())?;
            let id = state.machine.lock().domain_id(name);
            let seed = options.seed.wrapping_add(index as u64);
            let active = requirements.state == DomainState::Active;
            let mut domain = Domain::new(requirements, id, seed);
            if active {
                let image = options.images.iter().find(|(domain, _)| domain == name);
                // With an image, memory is the image and zeros: the
                // workload writes from there instead of filling first.
                state.boot_guest(&mut domain, image.is_none());
                if let (Some((_, image)), Some(id)) = (image, id) {
                    load_image(&state.machine, id, image)?;
                }
            }
            domains.insert(name.clone(), domain);
        }
        *lock(&state.domains) = domains;

        let listen = options
            .listener
            .local_addr()
            .map_err(|error| error.to_string())?;
        let _ = std::fs::remove_file(&options.control_path);
        let control = UnixListener::bind(&options.control_path).map_err(|error| {
            format!(
                "cannot create the control socket {}: {error}",
                options.control_path.display()
            )
        })?;
        control
            .set_nonblocking(true)
            .map_err(|error| error.to_string())?;
        options
            .listener
            .set_nonblocking(true)
            .map_err(|error| error.to_string())?;
        let mut threads = Vec::new();
        let shared = state.clone();
        threads.push(std::thread::spawn(move || control_loop(shared, control)));
        let shared = state.clone();
        let listener = options.listener;
        threads.push(std::thread::spawn(move || peer_loop(shared, listener)));
        let shared = state.clone();
        threads.push(std::thread::spawn(move || workload_loop(shared)));
        Ok(Daemon {
            state,
            control_path: options.control_path,
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

    /// The simulated machine (for the demo's checks).
    pub fn machine(&self) -> MachineHandle {
        self.state.machine.clone()
    }

    /// Runs until the process is killed.
    pub fn wait(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Stops every thread and removes the control socket.
    pub fn shutdown(mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.control_path);
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

fn control_loop(state: Arc<State>, listener: UnixListener) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = state.clone();
                std::thread::spawn(move || serve_control(shared, stream));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn peer_loop(state: Arc<State>, listener: TcpListener) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let shared = state.clone();
                std::thread::spawn(move || super::incoming::accept_migration(shared, stream, peer));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
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

fn serve_control(state: Arc<State>, stream: UnixStream) {
    let _ = stream.set_nonblocking(false);
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut writer = stream;
    let mut line = String::new();
    if BufReader::new(reader_stream).read_line(&mut line).is_err() {
        return;
    }
    let mut emit = |event: &Event| {
        if let Ok(mut text) = serde_json::to_string(event) {
            text.push('\n');
            let _ = writer.write_all(text.as_bytes());
        }
    };
    let request: Request = match serde_json::from_str(&line) {
        Ok(request) => request,
        Err(error) => {
            emit(&Event::failed(format!("bad request: {error}")));
            return;
        }
    };
    let event = match request {
        Request::MigrateDomain { .. } => {
            super::outgoing::migrate_domain(&state, request, &mut emit)
        }
        Request::List { domain } => super::listing::list(&state, domain.as_deref()),
        Request::ListDevicesMemory => super::listing::free_memory(&state),
        Request::CancelMigration { domain } => cancel(&state, &domain),
        Request::RecoverDomain { domain, resume } => recover(&state, &domain, resume),
        Request::Operate { operation } => super::operations::operate(&state, &operation),
        Request::ReleaseMigration { domain } => release(&state, &domain),
    };
    emit(&event);
}

fn cancel(state: &State, name: &str) -> Event {
    let track = {
        let domains = lock(&state.domains);
        let Some(domain) = domains.get(name) else {
            return Event::failed(format!("Domain {name} not found on {}", state.host()));
        };
        match &domain.migration {
            Some(track) if !track.finished.load(Ordering::SeqCst) => track.clone(),
            _ => return Event::failed(format!("No migration of domain {name} is in progress")),
        }
    };
    track.cancel.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !track.finished.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let info = track.snapshot();
    match info.status.as_str() {
        "cancelled" => Event::done(
            format!("Migration of domain {name} cancelled; {name} is running on the source"),
            state.host(),
        ),
        status => Event::Failed {
            message: format!(
                "The migration of domain {name} could not be cancelled: it is {status} ({})",
                info.result
                    .clone()
                    .unwrap_or_else(|| "past the commit".into())
            ),
            migration: Some(info),
        },
    }
}

/// The `hold_migrations` test hook's release.
fn release(state: &State, name: &str) -> Event {
    let domains = lock(&state.domains);
    match domains
        .get(name)
        .and_then(|domain| domain.migration.as_ref())
    {
        Some(track) if !track.finished.load(Ordering::SeqCst) => {
            track.released.store(true, Ordering::SeqCst);
            Event::done(format!("Migration of domain {name} released"), state.host())
        }
        _ => Event::failed(format!("No migration of domain {name} is in progress")),
    }
}

fn recover(state: &State, name: &str, resume: bool) -> Event {
    let mut domains = lock(&state.domains);
    let Some(domain) = domains.get_mut(name) else {
        return Event::failed(format!("Domain {name} not found on {}", state.host()));
    };
    let Some(id) = domain.id.filter(|_| domain.error_state) else {
        return Event::failed(format!(
            "Domain {name} is not in the error state: nothing to recover"
        ));
    };
    let mut machine = state.machine.clone();
    if resume {
        let result = machine
            .set_domain_state(id, DomainRunState::Normal)
            .and_then(|()| machine.resume(id));
        if let Err(error) = result {
            return Event::failed(format!("Resuming {name} failed: {error}"));
        }
        // A source's workload (kept while it was stopped) goes on by
        // itself; a domain a target kept after a failure boots one.
        domain.error_state = false;
        if domain.workload.is_none() && domain.requirements.state == DomainState::Active {
            state.boot_guest(domain, false);
        }
        Event::done(
            format!("Domain {name} resumed on {}", state.host()),
            state.host(),
        )
    } else {
        if let Err(error) = machine.destroy_domain(id) {
            return Event::failed(format!("Removing {name} failed: {error}"));
        }
        domains.remove(name);
        Event::done(
            format!("Domain {name} removed from {}", state.host()),
            state.host(),
        )
    }
}
