//! What the daemon tests share: daemons of simulated hosts on loopback,
//! and the requests the `ldmig` commands make.
// Each test file uses a part of these helpers.
#![allow(dead_code)]

use ldmig_shim::control::{call, DomainListing, Event, Request};
use ldmig_shim::operations::AdminOperation;
use ldmig_shim::{Daemon, DaemonOptions};
use ldmig_sim::description::HostDescription;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The migration password of the test daemons.
pub const PASSWORD: &str = "correct horse battery staple";

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
    Daemon::start(DaemonOptions {
        description: HostDescription::from_toml_str(toml).expect("valid description"),
        listener: TcpListener::bind("127.0.0.1:0").expect("loopback listener"),
        control_path: socket_path(tag),
        password: password.into(),
        seed: 7,
        workload: workload.into(),
        images: Vec::new(),
        hold_migrations: hold,
    })
    .expect("daemon starts")
}

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
        password: PASSWORD.into(),
        downtime_limit_ms: 300,
        max_bandwidth,
    }
}

/// The message of a final event, and whether it was `Done`.
pub fn outcome(event: &Event) -> (bool, String) {
    match event {
        Event::Done { message, .. } => (true, message.clone()),
        Event::Failed { message, .. } => (false, message.clone()),
        Event::Progress { .. } => (false, "a progress event is not final".into()),
    }
}
