//! The target side of a migration in the shim: authenticate the source's
//! shim, run every check against this machine as it is now, then run the
//! target engine and take the domain in.

use super::channel::frame_channel_with_room;
use super::daemon::{lock, Domain, MigrationTrack, State};
use super::digest::domain_digest;
use super::outgoing::FRAME_BYTES;
use super::peer::{
    decode, encode_message, PeerMessage, PeerRecord, FRAME_HEADROOM, FRAME_TAILROOM,
};
use super::relay::PeerRelay;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::host::workers::{with_workers, PipelineStorage, Side};
use crate::secure::SecureChannel;
use ldmig::precopy::{MigrationConfig, Outcome, TargetEngine, TargetPoll};
use ldmig::rules::{
    check_migration, DomainAction, LockDecision, MigrationSide, Operation, OperationLocks,
};
use ldmig::wire::frame::MAX_FRAME_PAYLOAD;
use ldmig::wire::FRAME_HEADER_BYTES;
use ldmig_hv::resources::{DomainState, Name};
use ldmig_sim::workload::Workload;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Serves one incoming connection from a source shim.
pub(crate) fn accept_migration(state: Arc<State>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(shutdown_handle) = stream.try_clone() else {
        return;
    };
    let mut channel = match SecureChannel::accept(stream, state.password.as_bytes()) {
        Ok(channel) => channel,
        Err(error) => {
            // Best effort: a closed standard error must not stop the daemon.
            let _ = writeln!(
                std::io::stderr(),
                "ldmig[{}]: refused a migration from {peer}: {error}",
                state.host()
            );
            return;
        }
    };
    let Some(PeerRecord::Message(PeerMessage::Begin {
        source,
        domain,
        target_domain,
        dry_run,
    })) = channel.receive().ok().and_then(decode)
    else {
        return;
    };
    let mut requirements = *domain;
    let mut report = String::new();
    let mut findings = Vec::new();
    let failed = {
        let domains = lock(&state.domains);
        let target = state.resources();
        let checks = check_migration(&source, &requirements, &target);
        let mut failed = checks.failed();
        let refusal = if domains.contains_key(&target_domain) {
            Some(format!(
                "Domain {target_domain} already exists on {}",
                state.host()
            ))
        } else {
            binding_refused(&state, &lock(&state.locks), &target_domain, &requirements)
        };
        if let Some(message) = refusal {
            failed = true;
            findings.insert(0, message.clone());
            let _ = writeln!(report, "{message}");
            let _ = write!(
                report,
                "Domain Migration of LDom {} failed",
                requirements.name
            );
        } else {
            report = checks.to_string();
            // Every finding as the report words it ("Warning: ...", "Note: ...").
            findings.extend(report.lines().map(str::to_string));
        }
        failed
    };
    let verdict = PeerMessage::Checks {
        failed,
        report: report.trim_end().to_string(),
        findings,
    };
    if channel.send(&encode_message(&verdict)).is_err() || failed || dry_run {
        let _ = channel.receive_or_close();
        return;
    }
    match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Start)) => {}
        _ => return,
    }
    if let Ok(name) = ldmig_hv::resources::name(&target_domain) {
        requirements.name = name;
    }
    let track = MigrationTrack::new("target", &format!("{} ({peer})", source.name));
    lock(&track.info).domain_state = requirements.state.as_str().to_string();
    {
        // Checked again with the lock taken: another migration may have
        // started here since the checks.
        let mut domains = lock(&state.domains);
        let mut locks = lock(&state.locks);
        let refusal = if domains.contains_key(&target_domain) {
            Some(format!(
                "Domain {target_domain} already exists on {}",
                state.host()
            ))
        } else {
            binding_refused(&state, &locks, &target_domain, &requirements).or_else(|| {
                locks
                    .begin_migration(&target_domain, MigrationSide::Target)
                    .err()
                    .map(|error| error.to_string())
            })
        };
        if let Some(reason) = refusal {
            let _ = channel.send(&encode_message(&PeerMessage::Abort { reason }));
            return;
        }
        let seed = state.incoming_seed(&target_domain);
        let mut placeholder = Domain::new(requirements.clone(), None, seed);
        placeholder.migration = Some(track.clone());
        domains.insert(target_domain.clone(), placeholder);
    }

    let settle =
        |taken: Option<Taken>| settle(&state, &track, &target_domain, &requirements, taken);
    if requirements.state == DomainState::Inactive {
        {
            let mut info = lock(&track.info);
            info.status = "completed".into();
            info.progress_percent = 100;
        }
        // Settled before the source hears of it: once its command returns,
        // this machine's locks are gone.
        settle(None);
        let _ = channel.send(&encode_message(&PeerMessage::Configured));
        let _ = channel.receive_or_close();
    } else {
        run_target_engine(
            &state,
            &track,
            channel,
            shutdown_handle,
            &target_domain,
            &requirements.name,
            settle,
        );
    }
}

/// Settles the incoming domain by how its migration ended (`taken`: the
/// engine's outcome, the domain it holds, its guest), then lets the
/// locks go and marks the migration finished.
fn settle(
    state: &State,
    track: &MigrationTrack,
    target_domain: &str,
    requirements: &ldmig_hv::resources::DomainRequirements,
    taken: Option<Taken>,
) {
    let mut domains = lock(&state.domains);
    match taken {
        _ if requirements.state == DomainState::Inactive => {}
        Some((Outcome::Completed, id, workload)) => {
            if let Some(entry) = domains.get_mut(target_domain) {
                entry.id = Some(id);
                entry.workload = workload;
            }
            if requirements.state == DomainState::Active {
                // The guide: memory DR is disabled until the domain
                // reboots (a bound domain runs no OS yet).
                let _ = lock(&state.locks).migrated_in(target_domain);
            }
        }
        Some((_, id, _)) if state.machine.lock().run_state(id).is_some() => {
            // The engine kept the domain: its CommitAck left, then
            // resuming failed. It stays listed, in the error state,
            // for the administrator (recover-domain) to settle.
            if let Some(entry) = domains.get_mut(target_domain) {
                entry.id = Some(id);
                entry.error_state = true;
            }
        }
        _ => {
            domains.remove(target_domain);
        }
    }
    drop(domains);
    state.end_migration(target_domain);
    track.finished.store(true, Ordering::SeqCst);
}

/// Why receiving `requirements` as `target_domain` would be refused now:
/// a bound or active domain is bound here on arrival, and the guide blocks
/// binds while another migration runs on the machine.
fn binding_refused(
    state: &State,
    locks: &OperationLocks,
    target_domain: &str,
    requirements: &ldmig_hv::resources::DomainRequirements,
) -> Option<String> {
    if requirements.state == DomainState::Inactive {
        return None;
    }
    match locks.check(Operation::Domain {
        domain: target_domain,
        action: DomainAction::Bind,
    }) {
        LockDecision::Allowed => None,
        LockDecision::Refused(reason) | LockDecision::Deferred(reason) => Some(format!(
            "The target {} cannot bind {target_domain}: {reason}",
            state.host()
        )),
    }
}

/// How the target engine ended, the domain it holds (if any) and the
/// guest going on in it.
type Taken = (Outcome, u64, Option<Workload>);

/// Runs the target engine to its end, hands the outcome to `settle` (before
/// the source hears that the domain runs here: once the source's command
/// returns, this machine's books and locks are settled), then winds the
/// link down.
fn run_target_engine(
    state: &Arc<State>,
    track: &Arc<MigrationTrack>,
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    target_domain: &str,
    name: &Name,
    settle: impl FnOnce(Option<Taken>),
) {
    lock(&track.info).cipher = channel.aead().name().to_string();
    let Ok((sender, receiver)) = channel.into_split() else {
        return settle(None);
    };
    let _ = stream.set_read_timeout(None);
    let sender = Arc::new(Mutex::new(sender));
    let (engine_end, relay_end) = frame_channel_with_room(8 << 20, FRAME_HEADROOM, FRAME_TAILROOM);
    // engine -> LDC -> shim's end -> relay -> secure TCP channel, as on the source.
    let Ok(hop) = LdcHop::open(FRAME_BYTES, state.now_ns() as u32 | 1, engine_end) else {
        return settle(None);
    };
    let hop = Rc::new(RefCell::new(hop));
    let relay = PeerRelay::start(sender.clone(), receiver, stream, relay_end.clone(), |_| {});
    let mut storage = PipelineStorage::new(
        Side::Target,
        state.workers,
        FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD,
    );
    let Ok(pipeline) = storage.pipeline() else {
        return settle(None);
    };
    let mut config = MigrationConfig {
        workers: state.workers,
        ..MigrationConfig::default()
    };
    if state.hold_migrations {
        // The test hook: the source may hold as long as the test wants.
        config.response_timeout_ns = u64::MAX / 2;
    }
    let mut engine = TargetEngine::new(
        state.machine.clone(),
        HopTransport(hop.clone()),
        config,
        &pipeline,
    );
    let mut reserved = None;
    let outcome = with_workers(&pipeline, state.workers, |workers| loop {
        if track.cancel.swap(false, Ordering::SeqCst) && !engine.cancel() {
            lock(&track.info).result = Some("cancel refused: the source already committed".into());
        }
        let before = engine.stats().transferred;
        let poll = engine.poll(state.now_ns());
        workers.wake(&pipeline);
        track.update(engine.stats());
        if engine.domain() != reserved {
            reserved = engine.domain();
            show_reservation(state, name, reserved);
        }
        if let TargetPoll::Finished(outcome) = poll {
            break outcome;
        }
        if engine.stats().transferred == before {
            std::thread::sleep(Duration::from_micros(50));
        }
    });
    if let (Outcome::Completed, Some(id)) = (outcome, engine.domain()) {
        // The digest before the guest writes anything here.
        let (memory, vcpus) = domain_digest(&state.machine.lock(), id);
        {
            let mut info = lock(&track.info);
            info.memory_digest = Some(format!("{memory:016x}"));
            info.vcpu_digest = Some(format!("{vcpus:016x}"));
            info.result = Some(outcome.to_string());
            info.progress_percent = 100;
        }
        // A running guest goes on with this daemon's own workload.
        let running = state.machine.lock().is_running(id);
        let resumed = if running {
            state
                .start_workload(state.incoming_seed(target_domain), id, false)
                .unwrap_or_else(|error| {
                    eprintln!("ldmig[{}]: {name}: {error}", state.host());
                    None
                })
        } else {
            None
        };
        settle(Some((outcome, id, resumed)));
        relay.send_message(&PeerMessage::Report {
            memory_digest: format!("{memory:016x}"),
            vcpu_digest: format!("{vcpus:016x}"),
        });
    } else {
        lock(&track.info).result = Some(outcome.to_string());
        settle(engine.domain().map(|id| (outcome, id, None)));
    }
    // Wait (briefly) for the source to close: its last frames are acks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !relay_end.is_closed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    hop.borrow_mut().drain(200);
    relay.finish(&relay_end);
}

/// Lists the memory the engine reserved (or released) for the incoming
/// domain: the machine's domain takes the migrating domain's name, and the
/// daemon's entry its id, so `list` shows the physical addresses held.
fn show_reservation(state: &State, name: &Name, reserved: Option<u64>) {
    let mut domains = lock(&state.domains);
    if let Some(id) = reserved {
        let _ = state.machine.lock().set_domain_name(id, name);
    }
    if let Some(entry) = domains.get_mut(name.as_str()) {
        entry.id = reserved;
    }
}
