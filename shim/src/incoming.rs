//! The target side of a migration in the shim: authenticate the source's
//! shim, run every check against this machine as it is now, then run the
//! target engine and take the domain in.

use super::channel::frame_channel;
use super::daemon::{lock, Domain, MigrationTrack, State};
use super::digest::domain_digest;
use super::outgoing::FRAME_BYTES;
use super::peer::{decode, encode_message, PeerMessage, PeerRecord};
use super::relay::PeerRelay;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::secure::SecureChannel;
use ldmig::precopy::{MigrationConfig, Outcome, TargetEngine, TargetPoll};
use ldmig::rules::{check_migration, MigrationSide};
use ldmig::wire::frame::MAX_FRAME_PAYLOAD;
use ldmig::wire::FRAME_HEADER_BYTES;
use ldmig_hv::resources::{DomainState, Name};
use ldmig_sim::workload::Workload;
use std::cell::RefCell;
use std::fmt::Write as _;
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
            eprintln!(
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
        if domains.contains_key(&target_domain) {
            failed = true;
            let message = format!("Domain {target_domain} already exists on {}", state.host());
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
    if let Err(error) = lock(&state.locks).begin_migration(&target_domain, MigrationSide::Target) {
        let _ = channel.send(&encode_message(&PeerMessage::Abort {
            reason: error.to_string(),
        }));
        return;
    }
    let track = MigrationTrack::new("target", &format!("{} ({peer})", source.name));
    let placeholder = Domain {
        requirements: requirements.clone(),
        id: None,
        workload: None,
        migration: Some(track.clone()),
        memory_dr_disabled: false,
        error_state: false,
    };
    lock(&state.domains).insert(target_domain.clone(), placeholder);

    if requirements.state == DomainState::Inactive {
        let _ = channel.send(&encode_message(&PeerMessage::Configured));
        let _ = channel.receive_or_close();
        let mut info = lock(&track.info);
        info.status = "completed".into();
        info.progress_percent = 100;
    } else {
        let taken = run_target_engine(
            &state,
            &track,
            channel,
            shutdown_handle,
            &target_domain,
            &requirements.name,
        );
        if !taken {
            lock(&state.domains).remove(&target_domain);
        }
    }
    let _ = lock(&state.locks).end_migration(&target_domain);
    track.finished.store(true, Ordering::SeqCst);
}

/// Records domain `target_domain` (id `id` here) as migrated in: it runs
/// `workload`, and its memory DR is disabled until it reboots (the guide).
fn take_in(state: &State, target_domain: &str, id: u64, workload: Option<Workload>) {
    let mut domains = lock(&state.domains);
    if let Some(entry) = domains.get_mut(target_domain) {
        entry.id = Some(id);
        entry.workload = workload;
        entry.memory_dr_disabled = true;
    }
    let _ = lock(&state.locks).migrated_in(target_domain);
}

/// Runs the target engine; true when the domain was taken in here.
fn run_target_engine(
    state: &Arc<State>,
    track: &Arc<MigrationTrack>,
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    target_domain: &str,
    name: &Name,
) -> bool {
    let Ok((sender, receiver)) = channel.into_split() else {
        return false;
    };
    let _ = stream.set_read_timeout(None);
    let sender = Arc::new(Mutex::new(sender));
    let (engine_end, relay_end) = frame_channel(8 << 20);
    // engine -> LDC -> shim's end -> relay -> secure TCP channel, as on the source.
    let Ok(hop) = LdcHop::open(FRAME_BYTES, state.now_ns() as u32 | 1, engine_end) else {
        return false;
    };
    let hop = Rc::new(RefCell::new(hop));
    let relay = PeerRelay::start(sender.clone(), receiver, stream, relay_end.clone(), |_| {});
    let mut inbox = vec![0u8; FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD];
    let mut engine = TargetEngine::new(
        state.machine.clone(),
        HopTransport(hop.clone()),
        MigrationConfig::default(),
        &mut inbox,
    );
    let outcome = loop {
        if track.cancel.swap(false, Ordering::SeqCst) && !engine.cancel() {
            lock(&track.info).result = Some("cancel refused: the source already committed".into());
        }
        let before = engine.stats().transferred;
        let poll = engine.poll(state.now_ns());
        track.update(engine.stats());
        if let TargetPoll::Finished(outcome) = poll {
            break outcome;
        }
        if engine.stats().transferred == before {
            std::thread::sleep(Duration::from_micros(50));
        }
    };
    let mut taken = false;
    if let (Outcome::Completed, Some(id)) = (outcome, engine.domain()) {
        let _ = state.machine.lock().set_domain_name(id, name);
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
        let workload = if running {
            state
                .start_workload(state.incoming_seed(name), id, false)
                .unwrap_or_else(|error| {
                    eprintln!("ldmig[{}]: {name}: {error}", state.host());
                    None
                })
        } else {
            None
        };
        // Taken in before the source hears of it: from then on this
        // machine lists the domain as migrated here.
        take_in(state, target_domain, id, workload);
        taken = true;
        relay.send_message(&PeerMessage::Report {
            memory_digest: format!("{memory:016x}"),
            vcpu_digest: format!("{vcpus:016x}"),
        });
    } else {
        lock(&track.info).result = Some(outcome.to_string());
    }
    // Wait (briefly) for the source to close: its last frames are acks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !relay_end.is_closed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    hop.borrow_mut().drain(200);
    relay.finish(&relay_end);
    taken
}
