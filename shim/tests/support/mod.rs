//! What the daemon tests share: daemons of simulated hosts on loopback,
//! and the requests the `ldmig` commands make.
// Each test file uses a part of these helpers.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod processes;

use ldmig_shim::bounds::Limits;
use ldmig_shim::control::{call, DomainListing, Event, MigrationInfo, Request};
use ldmig_shim::operations::AdminOperation;
use ldmig_shim::{Daemon, DaemonOptions};
use ldmig_sim::description::HostDescription;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Waits until `done` holds: the daemons say when something happened,
/// and the deadline is only a safety net against a hang, never a timing.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Of the operations on one domain the tests list in `ldm`'s order (bind,
/// unbind, start, stop, reboot, then add, remove and set of memory, vCPUs
/// and crypto units, then set-domain): the memory changes.
pub const MEMORY_CHANGES: std::ops::Range<usize> = 5..8;

/// The vCPU and crypto-unit changes of that list.
pub const VCPU_AND_CRYPTO_CHANGES: std::ops::Range<usize> = 8..14;

/// Why a domain that migrated here keeps its memory until it reboots.
pub const MEMORY_DR_DISABLED: &str =
    "memory dynamic reconfiguration is disabled for a migrated domain until it reboots";

/// The migration password of the test daemons.
pub const PASSWORD: &str = "correct horse battery staple";

/// The downtime limit of the tests' migrations, in milliseconds: ten
/// minutes. These tests are about what the daemons do and say, not about
/// downtime (the engine's tests measure that, in simulated time). With the
/// guide's 300 ms, whether pre-copy converged depended on the machine's
/// speed: under qemu-sparc64 on a saturated machine the link sent less than
/// the guest wrote and the migration gave up (tests/README.md, "Under
/// load"). With this limit the remainder fits as soon as a round stops
/// halving it, on any machine that sends 16 MiB in ten minutes.
pub const PATIENT_DOWNTIME_MS: u64 = 600_000;

/// A control socket path no other test uses.
pub fn socket_path(tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let index = COUNTER.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!(
        "ldmig-test-{}-{tag}-{index}.sock",
        std::process::id()
    ))
}

/// A daemon of the host `toml` describes, listening on loopback.
pub fn daemon_with(tag: &str, toml: &str, password: &str, workload: &str, hold: bool) -> Daemon {
    let mut options = options(tag, toml, password, workload);
    options.hold_migrations = hold;
    options.workers = 2;
    Daemon::start(options).expect("daemon starts")
}

/// The options of a daemon of the host `toml` on loopback (seed 7).
pub fn options(tag: &str, toml: &str, password: &str, workload: &str) -> DaemonOptions {
    let mut options = DaemonOptions::new(
        HostDescription::from_toml_str(toml).expect("valid description"),
        TcpListener::bind("127.0.0.1:0").expect("loopback listener"),
        socket_path(tag),
        password,
    );
    options.seed = 7;
    options.workload = workload.into();
    options.limits = patient_limits();
    options
}

/// The default bounds with every timeout at ten minutes: a test daemon
/// never gives up on a client or a peer only because the machine is busy
/// or slow (qemu-sparc64 under load); the tests of the timeouts set their
/// own.
pub fn patient_limits() -> Limits {
    let patient = Duration::from_secs(600);
    Limits {
        control_idle_timeout: patient,
        control_write_timeout: patient,
        handshake_timeout: patient,
        setup_timeout: patient,
        peer_timeout: patient,
        ..Limits::default()
    }
}

/// The `[migration]` table of the test hosts: every loopback port.
pub const ALLOW_LOOPBACK: &str = "\n[migration]\nallowed_targets = [\"127.0.0.1\"]\n";

/// The text of a host file of `hv/sim/hosts/`.
pub fn host_file(file: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../hv/sim/hosts/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("host file")
}

/// Sends `request` and returns the daemon's final answer.
pub fn ask(daemon: &Daemon, request: &Request) -> Event {
    call(daemon.control_path(), request, |_| {}).expect("daemon answers")
}

/// `operation` on `daemon`.
pub fn operate(daemon: &Daemon, operation: &AdminOperation) -> Event {
    ask(
        daemon,
        &Request::Operate {
            operation: operation.clone(),
        },
    )
}

/// Every domain `list` shows.
pub fn domains(daemon: &Daemon) -> Vec<DomainListing> {
    match ask(daemon, &Request::List { domain: None }) {
        Event::Done { domains, .. } => domains,
        other => panic!("list failed: {other:?}"),
    }
}

/// One domain as `list` shows it, if the daemon has it.
pub fn listing(daemon: &Daemon, name: &str) -> Option<DomainListing> {
    domains(daemon)
        .into_iter()
        .find(|domain| domain.name == name)
}

/// A migration request of `domain` to `target` (same name there).
pub fn migration(domain: &str, target: &str, max_bandwidth: Option<u64>) -> Request {
    Request::MigrateDomain {
        domain: domain.into(),
        target: target.into(),
        target_domain: domain.into(),
        dry_run: false,
        password_file: None,
        downtime_limit_ms: PATIENT_DOWNTIME_MS,
        max_bandwidth,
    }
}

/// The migration a final answer reports; panics, saying `failure` and the
/// answer, when it reports none.
pub fn migration_done<'e>(event: &'e Event, failure: &str) -> &'e MigrationInfo {
    let Event::Done {
        migration: Some(info),
        ..
    } = event
    else {
        panic!("{failure}: {event:?}");
    };
    info
}

/// The message of a final event, and whether it was `Done`.
pub fn outcome(event: &Event) -> (bool, String) {
    match event {
        Event::Done { message, .. } => (true, message.clone()),
        Event::Failed { message, .. } => (false, message.clone()),
        Event::Progress { .. } => (false, "a progress event is not final".into()),
    }
}

/// A SPARC T5 host with the control domain and `guests`.
pub fn host(name: &str, cpu_type: &str, crypto_units: u64, niu: bool, guests: &str) -> String {
    format!(
        "[host]\nname = \"{name}\"\ncpu_type = \"{cpu_type}\"\ncpu_frequency_mhz = 3600\nstrands = 128\n\
         crypto_units = {crypto_units}\nniu_available = {niu}\nengine_versions = {{ oldest = 1, newest = 1 }}\n\n\
         [[memory]]\npa = 0x8000000\nsize = \"1G\"\n\n\
         [services]\nconsole_concentrator = \"primary-vcc0\"\nvirtual_switches = [\"primary-vsw0\"]\n\n\
         [[services.disk]]\nname = \"primary-vds0\"\nvolumes = [\"ldg1-vol0\"]\n\n\
         [[domain]]\nname = \"primary\"\nstate = \"active\"\nvcpus = 8\n\
         memory = [{{ ra = 0x8000000, pa = 0x8000000, size = \"256M\" }}]\n{guests}{ALLOW_LOOPBACK}"
    )
}

/// A guest domain's description.
pub fn guest(name: &str, state: &str, vcpus: u64, pa: Option<u64>, extra: &str) -> String {
    let memory = match pa {
        Some(pa) => format!("{{ ra = 0x8000000, pa = {pa:#x}, size = \"16M\" }}"),
        None => "{ ra = 0x8000000, size = \"16M\" }".to_string(),
    };
    format!(
        "\n[[domain]]\nname = \"{name}\"\nstate = \"{state}\"\nvcpus = {vcpus}\nmemory = [{memory}]\n{extra}"
    )
}

/// ldg1 migrates (16 vCPUs: its commit takes more engine steps than one
/// poll makes, so the hook surely holds it before); ldg2 is bound, ldg3
/// inactive, ldg4 another active domain.
pub fn source_host() -> String {
    let ldg1 = guest(
        "ldg1",
        "active",
        16,
        Some(0x1800_0000),
        "crypto_units = 1\nsupports_crypto_dr = true\n\
         disk = [{ name = \"vdisk0\", service = \"primary-vds0\", volume = \"ldg1-vol0\" }]\n\
         network = [{ name = \"vnet0\", switch = \"primary-vsw0\" }]\n",
    );
    let others = [
        guest("ldg2", "bound", 2, Some(0x1900_0000), ""),
        guest("ldg3", "inactive", 2, None, ""),
        guest("ldg4", "active", 2, Some(0x1a00_0000), ""),
    ];
    host("t5-a", "SPARC T5", 8, false, &(ldg1 + &others.concat()))
}

/// The target's own domains: ldgb1 active, ldgb2 bound, ldgb3 inactive.
pub fn target_host() -> String {
    let guests = [
        guest("ldgb1", "active", 2, Some(0x1800_0000), ""),
        guest("ldgb2", "bound", 2, Some(0x1900_0000), ""),
        guest("ldgb3", "inactive", 2, None, ""),
    ];
    host("t5-b", "SPARC T5", 8, false, &guests.concat())
}
