//! The target side of a migration in the shim: once the source's shim is
//! authenticated (see the daemon's peer listener), run every check against
//! this machine as it is now, then run the target engine and take the
//! domain in.
//!
//! The state directory follows the migration: the reservation is recorded
//! once it is locked, as acknowledging before the commit's acknowledgement
//! leaves (from then on the source may let its copy go), and as the
//! domain's own state once it is settled here.

use super::channel::frame_channel_with_room;
use super::daemon::{lock, Domain, MigrationTrack, State};
use super::digest::domain_digest;
use super::outgoing::FRAME_BYTES;
use super::peer::{
    decode, encode_message, PeerMessage, PeerRecord, FRAME_HEADROOM, FRAME_TAILROOM,
};
use super::relay::{PeerRelay, Reconnect, Resume, Returning};
use crate::hooks::HoldPoint;
use crate::host::counting::CountingHv;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::host::watched::{Direction, WatchedTransport};
use crate::host::workers::{with_workers, PipelineStorage, Side, WorkTiming};
use crate::relay::SharedSender;
use crate::secure::SecureChannel;
use ldmig::precopy::{MigrationConfig, Outcome, TargetEngine, TargetPoll};
use ldmig::rules::{
    check_migration, DomainAction, LockDecision, MigrationSide, Operation, OperationLocks,
};
use ldmig::transport::TransportError;
use ldmig::wire::frame::MAX_FRAME_PAYLOAD;
use ldmig::wire::FrameType;
use ldmig::wire::FRAME_HEADER_BYTES;
use ldmig_hv::domain_name::domain_name;
use ldmig_hv::resources::{DomainState, Name};
use ldmig_sim::workload::Workload;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Serves one incoming migration on `channel`, authenticated already.
pub(crate) fn accept_migration(
    state: &Arc<State>,
    mut channel: SecureChannel<TcpStream>,
    shutdown_handle: TcpStream,
    peer: SocketAddr,
) {
    let (source, domain, target_domain, dry_run) = match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Begin {
            source,
            domain,
            target_domain,
            dry_run,
        })) => (source, domain, target_domain, dry_run),
        Some(PeerRecord::Message(PeerMessage::Resume { session, received })) => {
            return hand_back(state, channel, shutdown_handle, peer, session, received)
        }
        _ => return,
    };
    if let Err(error) = domain_name(&target_domain) {
        let verdict = PeerMessage::Checks {
            failed: true,
            report: format!(
                "Target domain name {target_domain:?}: {error}\nDomain Migration of LDom {} failed",
                domain.name
            ),
            findings: Vec::new(),
        };
        let _ = channel.send(&encode_message(&verdict));
        let _ = channel.receive_or_close();
        return;
    }
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
            binding_refused(state, &lock(&state.locks), &target_domain, &requirements)
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
    let Some(session) = wait_for_start(state, &mut channel, &shutdown_handle) else {
        state.log(&format!(
            "incoming migration of {target_domain} from {peer} ended before it started: the source stopped answering"
        ));
        return;
    };
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
            binding_refused(state, &locks, &target_domain, &requirements).or_else(|| {
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
        drop(locks);
        if let Err(reason) = state.persist(&domains) {
            domains.remove(&target_domain);
            drop(domains);
            state.end_migration(&target_domain);
            let _ = channel.send(&encode_message(&PeerMessage::Abort { reason }));
            return;
        }
    }

    let settle = |taken: Option<Taken>| settle(state, &track, &target_domain, &requirements, taken);
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
            state,
            &track,
            Connection {
                channel,
                stream: shutdown_handle,
                session,
            },
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
            let mut info = lock(&track.info);
            let source = info.peer.clone();
            info.recovery = Some(format!(
                "The acknowledgement of the commit left, then resuming {target_domain} here failed: {source} let its copy go or holds it in the error state. If {target_domain} does not run on {source}, resume it here (ldmig recover-domain {target_domain} --resume); if it does, remove it here (ldmig recover-domain {target_domain} --remove)"
            ));
        }
        _ => {
            domains.remove(target_domain);
        }
    }
    let (peer, result) = {
        let mut info = lock(&track.info);
        info.held = false;
        (info.peer.clone(), info.result.clone().unwrap_or_default())
    };
    state.end_migration(target_domain);
    track.finished.store(true, Ordering::SeqCst);
    let _ = state.persist(&domains);
    drop(domains);
    state.log(&format!(
        "incoming migration of {target_domain} from {peer} ended: {result}"
    ));
}

/// A source came back after a cut (authenticated afresh) and names the
/// migration `session`: its connection goes to that migration's relay, or
/// it hears that there is no such migration here (any more).
fn hand_back(
    state: &State,
    mut channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    peer: SocketAddr,
    session: u64,
    received: u64,
) {
    let waiting = lock(&state.returning).get(&session).cloned();
    let back = Returning {
        channel,
        stream,
        received,
    };
    let refused = match waiting {
        Some(relay) => match relay.send(back) {
            Ok(()) => return,
            Err(mpsc::SendError(back)) => back,
        },
        None => back,
    };
    channel = refused.channel;
    state.log(&format!(
        "refused to resume a migration for {peer}: none waits here under its session"
    ));
    let _ = channel.send(&encode_message(&PeerMessage::Abort {
        reason: format!(
            "{} has no migration to resume (it ended, or the daemon restarted)",
            state.host()
        ),
    }));
}

/// Waits for the source's `Start` (the test hooks' `Held` messages may
/// come first: while the source holds, no read timeout runs); its session.
fn wait_for_start(
    state: &State,
    channel: &mut SecureChannel<TcpStream>,
    stream: &TcpStream,
) -> Option<u64> {
    loop {
        match channel.receive().ok().and_then(decode) {
            Some(PeerRecord::Message(PeerMessage::Start { session })) => {
                let _ = stream.set_read_timeout(Some(state.limits.setup_timeout));
                return Some(session);
            }
            Some(PeerRecord::Message(PeerMessage::Held { held })) => {
                let timeout = (!held).then_some(state.limits.setup_timeout);
                let _ = stream.set_read_timeout(timeout);
            }
            _ => return None,
        }
    }
}

/// The target's connection to the source, and the session it resumes under.
struct Connection {
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    session: u64,
}

/// The target's resume: wait for the source to come back (through the
/// peer listener, [`hand_back`]) within the resume window. Registered
/// under the session until the relay finished.
fn target_resume(state: &Arc<State>, track: &Arc<MigrationTrack>, session: u64) -> Resume {
    if session == 0 || state.limits.resume_attempts == 0 {
        return Resume::never();
    }
    let (waiting, returning) = mpsc::channel();
    lock(&state.returning).insert(session, waiting);
    Resume {
        session,
        reconnect: Reconnect::Await {
            returning,
            window: state.limits.resume_window,
        },
        on_event: state.resume_events(track),
    }
}

/// The watcher of a target engine's frames: the test hook's hold before
/// the commit's acknowledgement leaves, and the state directory's record
/// that it may have left.
fn target_watcher(
    state: Arc<State>,
    track: Arc<MigrationTrack>,
    sender: SharedSender,
) -> crate::host::watched::Watcher {
    Box::new(move |direction, frame_type| {
        if (direction, frame_type) == (Direction::Outgoing, FrameType::CommitAck) {
            state.hold(&track, HoldPoint::CommitAck, &mut |held| {
                sender.send_message(&PeerMessage::Held { held });
            });
            if !track.committing.swap(true, Ordering::SeqCst) {
                let domains = lock(&state.domains);
                if state.persist(&domains).is_err() {
                    track.committing.store(false, Ordering::SeqCst);
                    return Err(TransportError::Disconnected);
                }
            }
        }
        Ok(true)
    })
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
    connection: Connection,
    target_domain: &str,
    name: &Name,
    settle: impl FnOnce(Option<Taken>),
) {
    let Connection {
        channel,
        stream,
        session,
    } = connection;
    lock(&track.info).cipher = channel.aead().name().to_string();
    let (engine_end, relay_end) = frame_channel_with_room(8 << 20, FRAME_HEADROOM, FRAME_TAILROOM);
    // engine -> LDC -> shim's end -> relay -> secure TCP channel, as on the source.
    let Ok(hop) = LdcHop::open(FRAME_BYTES, state.now_ns() as u32 | 1, engine_end) else {
        return settle(None);
    };
    let hop = Rc::new(RefCell::new(hop));
    let peer_track = track.clone();
    let peer_state = state.clone();
    let started = PeerRelay::start(
        channel,
        stream,
        relay_end.clone(),
        target_resume(state, track, session),
        move |link, message| match message {
            PeerMessage::Held { held: true } => peer_track.pauses.begin(peer_state.now_ns()),
            PeerMessage::Held { held: false } => peer_track.pauses.end(peer_state.now_ns()),
            // Answered only while the engine here runs: a target that
            // gave up lets the source's probe go unanswered.
            PeerMessage::Probe { id } if !peer_track.finished.load(Ordering::SeqCst) => {
                link.send_message(&PeerMessage::ProbeReply { id });
            }
            _ => {}
        },
    );
    let Ok(relay) = started else {
        lock(&state.returning).remove(&session);
        return settle(None);
    };
    let sender = relay.link();
    let mut storage = PipelineStorage::new(
        Side::Target,
        state.workers,
        FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD,
    );
    let Ok(pipeline) = storage.pipeline() else {
        return settle(None);
    };
    let config = MigrationConfig {
        response_timeout_ns: state.limits.peer_timeout.as_nanos() as u64,
        workers: state.workers,
        ..MigrationConfig::default()
    };
    let hv = CountingHv::new(state.machine.clone())
        .with_out_of_memory_switch(state.out_of_memory.clone());
    let transport = WatchedTransport::new(
        HopTransport(hop.clone()),
        target_watcher(state.clone(), track.clone(), sender.clone()),
    );
    let mut engine = TargetEngine::new(hv, transport, config, &pipeline);
    let mut reserved = None;
    let timing = WorkTiming::HostClock;
    let outcome = with_workers(&pipeline, state.workers, timing, |workers| loop {
        if track.cancel.swap(false, Ordering::SeqCst) && !engine.cancel() {
            lock(&track.info).result = Some("cancel refused: the source already committed".into());
        }
        let before = engine.stats().transferred;
        let poll = engine.poll(state.engine_now(track));
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
                    state.log(&format!("{name}: {error}"));
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
    lock(&state.returning).remove(&session);
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
