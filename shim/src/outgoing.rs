//! The source side of a migration in the shim: check the request (names,
//! an allowed target, the password), reach and authenticate the target's
//! shim, have it run every check, then run the source engine and relay its
//! frames, and settle the domain by the outcome.
//!
//! The state directory follows the migration: the domain is recorded as
//! migrating out once it is locked, as committing before the commit frame
//! leaves (from then on the target may own it), and as gone once the
//! target acknowledged, before the source copy is destroyed.

use super::channel::{frame_channel_with_room, ChannelEnd};
use super::control::{Event, MigrationInfo, Request};
use super::daemon::{lock, MigrationTrack, State};
use super::digest::domain_digest;
use super::peer::{
    decode, encode_message, PeerMessage, PeerRecord, FRAME_HEADROOM, FRAME_TAILROOM,
};
use super::relay::{PeerRelay, Reconnect, Resume, SharedSender};
use crate::control_socket::Credentials;
use crate::dialing::{ask_checks, dial, resolve, MigrationRequest, Verdict};
use crate::hooks::HoldPoint;
use crate::host::counting::CountingHv;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::host::watched::{Direction, WatchedTransport};
use crate::host::workers::{with_workers, PipelineStorage, Side, WorkTiming};
use crate::persist::Departed;
use crate::secure::SecureChannel;
use crate::targets::{allowed, parse_address};
use ldmig::precopy::dirty_set::DirtySet;
use ldmig::precopy::{
    DomainShape, MigrationConfig, Outcome, SourceBuffers, SourceDomainState, SourceEngine,
    SourcePoll,
};
use ldmig::rules::MigrationSide;
use ldmig::transport::TransportError;
use ldmig::wire::FrameType;
use ldmig_hv::domain_name::domain_name;
use ldmig_hv::hypervisor::{DomainId, MemoryBlock};
use ldmig_hv::resources::{DomainRequirements, DomainState};
use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of a page frame the source engine builds.
pub const FRAME_BYTES: usize = 256 << 10;

/// Runs `ldmig migrate-domain` on this (source) daemon for the client
/// `client`; returns the final event.
pub(crate) fn migrate_domain(
    state: &Arc<State>,
    request: Request,
    client: &Credentials,
    emit: &mut dyn FnMut(&Event),
) -> Event {
    let Some(request) = MigrationRequest::of(request) else {
        return Event::failed("not a migration request");
    };
    let failed = |message: String| request.failed(message);
    let domain = request.domain.clone();
    let target = request.target.clone();
    let target_domain = request.target_domain.clone();
    let (dry_run, downtime_limit_ms, max_bandwidth) = (
        request.dry_run,
        request.downtime_limit_ms,
        request.max_bandwidth,
    );
    // The request, before anything is looked up or dialled.
    if let Err(error) = domain_name(&domain) {
        return Event::failed(format!("Domain name {domain:?}: {error}"));
    }
    if let Err(error) = domain_name(&target_domain) {
        return failed(format!("Target domain name {target_domain:?}: {error}"));
    }
    let address = match parse_address(&target) {
        Ok(address) => address,
        Err(error) => return failed(error),
    };
    if !allowed(&state.allowed_targets, &address) {
        return failed(format!(
            "Migration to {target} refused: the host file of {} does not allow it as a target ([migration] allowed_targets = {:?})",
            state.host(),
            state.allowed_targets
        ));
    }
    let password = match request.password(client, &state.password) {
        Ok(password) => password,
        Err(error) => return failed(error),
    };
    let (requirements, id) = {
        let domains = lock(&state.domains);
        let Some(entry) = domains.get(&domain) else {
            return failed(format!("Domain {domain} not found on {}", state.host()));
        };
        if entry.error_state {
            return failed(format!(
                "Domain {domain} is in the error state after a failed migration: recover it first (ldmig recover-domain {domain} --resume or --remove)"
            ));
        }
        if entry
            .migration
            .as_ref()
            .is_some_and(|track| !track.finished.load(Ordering::SeqCst))
        {
            return failed(format!(
                "A migration of domain {domain} is already in progress"
            ));
        }
        (entry.requirements.clone(), entry.id)
    };

    // Reach and authenticate the target.
    let address = match resolve(&address.address(), &target) {
        Ok(address) => address,
        Err(error) => return failed(error),
    };
    let timeout = state.limits.handshake_timeout;
    let (mut channel, shutdown_handle) = match dial(address, &target, &password, timeout) {
        Ok(connection) => connection,
        Err(error) => return failed(error),
    };
    let _ = shutdown_handle.set_read_timeout(Some(state.limits.setup_timeout));
    let _ = shutdown_handle.set_write_timeout(Some(state.limits.setup_timeout));

    // Every check, on the target (it knows both sides then).
    let begin = PeerMessage::Begin {
        source: Box::new(state.resources()),
        domain: Box::new(requirements.clone()),
        target_domain: target_domain.clone(),
        dry_run,
    };
    let Verdict {
        failed: checks_failed,
        report,
        findings,
    } = match ask_checks(&mut channel, &begin, &target) {
        Ok(verdict) => verdict,
        Err(error) => return failed(error),
    };
    if checks_failed || dry_run {
        let _ = channel.close();
        let _ = shutdown_handle.shutdown(std::net::Shutdown::Both);
        if checks_failed {
            return Event::Failed {
                message: report,
                migration: None,
            };
        }
        return Event::Done {
            message: if report.is_empty() {
                format!("Dry run: domain {domain} can migrate to {target} as {target_domain}")
            } else {
                format!(
                    "Dry run: domain {domain} can migrate to {target} as {target_domain}\n{report}"
                )
            },
            host: state.host().to_string(),
            domains: Vec::new(),
            free_memory: Vec::new(),
            migration: None,
            findings,
            host_listing: None,
        };
    }

    // The real migration: lock the domain, start both engines.
    if let Err(error) = lock(&state.locks).begin_migration(&domain, MigrationSide::Source) {
        let _ = channel.send(&encode_message(&PeerMessage::Abort {
            reason: error.to_string(),
        }));
        return failed(error.to_string());
    }
    let track = MigrationTrack::new("source", &target);
    lock(&track.info).domain_state = requirements.state.as_str().to_string();
    {
        let mut domains = lock(&state.domains);
        if let Some(entry) = domains.get_mut(&domain) {
            entry.migration = Some(track.clone());
        }
        if let Err(error) = state.persist(&domains) {
            drop(domains);
            let _ = channel.send(&encode_message(&PeerMessage::Abort {
                reason: format!("the source cannot record the migration: {error}"),
            }));
            state.end_migration(&domain);
            track.finished.store(true, Ordering::SeqCst);
            return failed(error);
        }
    }
    state.hold(&track, HoldPoint::Setup, &mut |held| {
        let _ = channel_send_held(&mut channel, held);
    });
    let session = new_session();
    let start = PeerMessage::Start { session };
    let result = if channel.send(&encode_message(&start)).is_err() {
        Err(format!("The connection to {target} broke"))
    } else {
        match (requirements.state, id) {
            (DomainState::Inactive, _) | (_, None) => {
                move_inactive(state, &domain, &target, channel)
            }
            (domain_state, Some(id)) => {
                let options = EngineOptions {
                    domain: &domain,
                    id,
                    target_domain: &target_domain,
                    active: domain_state == DomainState::Active,
                    crypto_units: requirements.crypto_units,
                    config: MigrationConfig {
                        downtime_limit_ns: downtime_limit_ms.saturating_mul(1_000_000),
                        max_bandwidth: max_bandwidth.unwrap_or(0),
                        ..MigrationConfig::default()
                    },
                    resume: source_resume(state, &track, session, address, &target, &password),
                };
                run_source_engine(state, &track, channel, shutdown_handle, options, emit)
            }
        }
    };
    let event = match result {
        Ok(outcome) => settle(state, &domain, &requirements, &track, outcome, findings),
        Err(message) => {
            {
                let mut info = lock(&track.info);
                info.result = Some(message.clone());
                info.held = false;
                if info.status != "completed" {
                    info.status = "failed".into();
                }
            }
            let domains = lock(&state.domains);
            state.end_migration(&domain);
            track.finished.store(true, Ordering::SeqCst);
            let _ = state.persist(&domains);
            drop(domains);
            Event::Failed {
                message: format!("{message}\nDomain Migration of LDom {domain} failed"),
                migration: Some(track.snapshot()),
            }
        }
    };
    event
}

/// A random session number for the migration's `Start` (never 0).
fn new_session() -> u64 {
    let mut bytes = [0u8; 8];
    // Without the system's randomness, the clock: the session only tells
    // one migration from another on the target (a returning source
    // authenticates afresh before it names one).
    if getrandom::getrandom(&mut bytes).is_err() {
        bytes = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64))
        .to_be_bytes();
    }
    u64::from_be_bytes(bytes).max(1)
}

/// The source's resume: after a cut during pre-copy, dial the target again
/// as the first time (bounded attempts, doubling pauses).
fn source_resume(
    state: &Arc<State>,
    track: &Arc<MigrationTrack>,
    session: u64,
    address: SocketAddr,
    target: &str,
    password: &str,
) -> Resume {
    let limits = state.limits;
    if limits.resume_attempts == 0 {
        return Resume::never();
    }
    let target = target.to_string();
    let password = password.to_string();
    Resume {
        session,
        reconnect: Reconnect::Dial {
            dial: Box::new(move || {
                let (channel, stream) =
                    dial(address, &target, &password, limits.handshake_timeout)?;
                let _ = stream.set_write_timeout(Some(limits.peer_timeout));
                Ok((channel, stream))
            }),
            attempts: limits.resume_attempts,
            first_pause: limits.resume_first_pause,
        },
        on_event: state.resume_events(track),
    }
}

/// Sends the test hooks' `Held` message on a channel not split yet.
fn channel_send_held(channel: &mut SecureChannel<TcpStream>, held: bool) -> bool {
    channel
        .send(&encode_message(&PeerMessage::Held { held }))
        .is_ok()
}

/// An inactive domain has no memory or vCPU bound: its configuration moves.
fn move_inactive(
    state: &State,
    domain: &str,
    target: &str,
    mut channel: SecureChannel<TcpStream>,
) -> Result<Outcome, String> {
    loop {
        match channel.receive().ok().and_then(decode) {
            Some(PeerRecord::Message(PeerMessage::Held { .. })) => continue,
            Some(PeerRecord::Message(PeerMessage::Configured)) => {
                let _ = channel.close();
                let mut domains = lock(&state.domains);
                domains.remove(domain);
                lock(&state.departed).push(Departed {
                    name: domain.to_string(),
                    how: format!("migrated to {target}"),
                });
                let _ = state.persist(&domains);
                return Ok(Outcome::Completed);
            }
            Some(PeerRecord::Message(PeerMessage::Abort { reason })) => return Err(reason),
            _ => return Err("The target did not take the domain's configuration".into()),
        }
    }
}

struct EngineOptions<'a> {
    domain: &'a str,
    id: DomainId,
    target_domain: &'a str,
    active: bool,
    crypto_units: u64,
    config: MigrationConfig,
    resume: Resume,
}

/// Where the frames of a source engine stand, for its watcher.
#[derive(Default)]
struct FrameCount {
    round_ends: u32,
    suspended: bool,
}

/// The watcher of a source engine's frames (see [`WatchedTransport`]):
/// the test hooks' holds and guest ticks, a cancel that holds the frames
/// back until the engine heard it, the probe of the link before the
/// commit, and the state directory's commit records.
fn source_watcher(
    state: Arc<State>,
    track: Arc<MigrationTrack>,
    id: DomainId,
    sender: SharedSender,
    link: ChannelEnd,
) -> crate::host::watched::Watcher {
    let mut count = FrameCount::default();
    Box::new(move |direction, frame_type| {
        let mut announce = |held: bool| {
            sender.send_message(&PeerMessage::Held { held });
        };
        let stopping = matches!(frame_type, FrameType::Cancel | FrameType::Failure);
        if direction == Direction::Outgoing && !stopping && track.cancel.load(Ordering::SeqCst) {
            // A cancel waits for the engine's next poll: nothing more
            // leaves meanwhile, so the commit cannot slip out after it.
            return Ok(false);
        }
        match (direction, frame_type) {
            (Direction::Outgoing, FrameType::Pages) => {
                let point = match (count.suspended, count.round_ends) {
                    (true, _) => HoldPoint::FinalPages,
                    (false, 0) => HoldPoint::RoundZero,
                    (false, _) => HoldPoint::LaterRounds,
                };
                state.hold(&track, point, &mut announce);
                if !count.suspended {
                    guest_tick(&state, &track, id);
                }
            }
            (Direction::Outgoing, FrameType::RoundEnd) => {
                count.round_ends += 1;
                guest_tick(&state, &track, id);
            }
            (Direction::Outgoing, FrameType::Suspended) => {
                // The domain stops: from here a cut ends the migration
                // (the source runs it again) instead of being resumed.
                sender.stop_keeping_frames();
                count.suspended = true;
                state.hold(&track, HoldPoint::Suspend, &mut announce);
            }
            (Direction::Outgoing, FrameType::VcpuState) => {
                state.hold(&track, HoldPoint::VcpuState, &mut announce);
            }
            (Direction::Outgoing, FrameType::Commit) => {
                state.hold(&track, HoldPoint::Commit, &mut announce);
                if track.cancel.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                if !track.committing.load(Ordering::SeqCst) {
                    // The commit goes only over a link known alive: a
                    // link that failed before it leaves the source running.
                    probe(&state, &track, &sender, &link)?;
                    // From the moment the commit leaves, the target may
                    // own the domain: a restart must not find it
                    // "migrating, pre-copy".
                    track.committing.store(true, Ordering::SeqCst);
                    let domains = lock(&state.domains);
                    if state.persist(&domains).is_err() {
                        track.committing.store(false, Ordering::SeqCst);
                        return Err(TransportError::Disconnected);
                    }
                }
            }
            // The target owns the domain: it left, before its copy here is
            // destroyed.
            (Direction::Incoming, FrameType::CommitAck)
                if !track.acknowledged.swap(true, Ordering::SeqCst) =>
            {
                let domains = lock(&state.domains);
                let _ = state.persist(&domains);
            }
            _ => {}
        }
        // A cancel that came while the frame was held holds it back too.
        Ok(direction == Direction::Incoming || stopping || !track.cancel.load(Ordering::SeqCst))
    })
}

/// A round trip through the target's shim: `Ok` once it answered the
/// probe, an error once the link closed or the peer timeout passed.
fn probe(
    state: &State,
    track: &MigrationTrack,
    sender: &SharedSender,
    link: &ChannelEnd,
) -> Result<(), TransportError> {
    let id = track.probes.fetch_add(1, Ordering::SeqCst) + 1;
    if !sender.send_message(&PeerMessage::Probe { id }) {
        return Err(TransportError::Disconnected);
    }
    let since = state.engine_now(track);
    let timeout = state.limits.peer_timeout.as_nanos() as u64;
    while track.probe_answered.load(Ordering::SeqCst) < id {
        if link.is_closed() || state.engine_now(track).saturating_sub(since) > timeout {
            lock(&track.info).result =
                Some("the link to the target failed just before the commit".into());
            return Err(TransportError::Disconnected);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// The test hooks' deterministic guest: with a hold point set, the
/// migrating domain writes one page per tick (a page frame or round end
/// sent), so every later round and the final pages have pages to send.
fn guest_tick(state: &State, track: &MigrationTrack, id: DomainId) {
    if !state.hooks.enabled() {
        return;
    }
    let tick = track.guest_ticks.next();
    let mut machine = state.machine.lock();
    let blocks = machine.memory_blocks(id);
    let Some((block, _)) = blocks.first() else {
        return;
    };
    let pages = (block.size / ldmig::page::PAGE_SIZE as u64).max(1);
    let ra = block.ra + (tick % pages) * ldmig::page::PAGE_SIZE as u64;
    let _ = machine.guest_write(id, ra, &tick.to_be_bytes());
}

fn run_source_engine(
    state: &Arc<State>,
    track: &Arc<MigrationTrack>,
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    options: EngineOptions<'_>,
    emit: &mut dyn FnMut(&Event),
) -> Result<Outcome, String> {
    lock(&track.info).cipher = channel.aead().name().to_string();
    let _ = stream.set_write_timeout(Some(state.limits.peer_timeout));
    let (engine_end, relay_end) = frame_channel_with_room(8 << 20, FRAME_HEADROOM, FRAME_TAILROOM);
    // engine -> LDC (ring exported by the engine, read by the shim's end
    // with LDC_COPY) -> shim's end -> relay -> secure TCP channel.
    let hop = LdcHop::open(FRAME_BYTES, state.now_ns() as u32 | 1, engine_end)?;
    let hop = Rc::new(RefCell::new(hop));
    let peer_track = track.clone();
    let peer_state = state.clone();
    let abort_end = relay_end.clone();
    let relay = PeerRelay::start(
        channel,
        stream,
        relay_end.clone(),
        options.resume,
        move |_, message| match take_report_or_abort(&peer_track, &abort_end, message) {
            None => {}
            Some(PeerMessage::Held { held: true }) => peer_track.pauses.begin(peer_state.now_ns()),
            Some(PeerMessage::Held { held: false }) => peer_track.pauses.end(peer_state.now_ns()),
            Some(PeerMessage::ProbeReply { id }) => {
                peer_track.probe_answered.fetch_max(id, Ordering::SeqCst);
            }
            Some(_) => {}
        },
    )
    .map_err(|error| error.to_string())?;
    let sender = relay.link();

    // The source domain's final state is what the target must hold: take
    // its digest just before the source copy is destroyed.
    let digest_track = track.clone();
    let machine = state.machine.clone();
    let hook = Arc::new(move |domain: DomainId| {
        let (memory, vcpus) = domain_digest(&machine.lock(), domain);
        let mut info = lock(&digest_track.info);
        info.memory_digest = Some(format!("{memory:016x}"));
        info.vcpu_digest = Some(format!("{vcpus:016x}"));
    });
    let hv = CountingHv::new(state.machine.clone()).with_destroy_hook(hook);
    let blocks: Vec<MemoryBlock> = state
        .machine
        .lock()
        .memory_blocks(options.id)
        .into_iter()
        .map(|(block, _)| block)
        .collect();
    let mut bitmap = vec![0u64; DirtySet::words_needed(&blocks)];
    let domain_pages: u64 = blocks.iter().map(|block| block.size / 8192).sum();
    let cache_lines = usize::try_from(domain_pages).unwrap_or(usize::MAX);
    let mut storage =
        PipelineStorage::new(Side::Source { cache_lines }, state.workers, FRAME_BYTES);
    let pipeline = storage.pipeline()?;
    let shape = DomainShape {
        target_name: options.target_domain,
        active: options.active,
        crypto_units: options.crypto_units,
    };
    let buffers = SourceBuffers {
        bitmap: &mut bitmap,
        pipeline: &pipeline,
    };
    let mut config = MigrationConfig {
        workers: state.workers,
        ..options.config
    };
    config.response_timeout_ns = state.limits.peer_timeout.as_nanos() as u64;
    let transport = WatchedTransport::new(
        HopTransport(hop.clone()),
        source_watcher(
            state.clone(),
            track.clone(),
            options.id,
            sender.clone(),
            relay_end.clone(),
        ),
    );
    let mut engine = SourceEngine::new(hv, transport, options.id, shape, config, buffers)
        .map_err(|error| error.to_string())?;

    let mut announce = |held: bool| {
        sender.send_message(&PeerMessage::Held { held });
    };
    let mut last_report = Instant::now();
    let mut cancel_asked = false;
    let timing = WorkTiming::HostClock;
    let outcome = with_workers(&pipeline, state.workers, timing, |workers| loop {
        if track.cancel.swap(false, Ordering::SeqCst) {
            cancel_asked = true;
            if !engine.cancel() {
                lock(&track.info).result =
                    Some("cancel refused: the final state was already sent".into());
            }
        }
        if options.active && !cancel_asked {
            let stats = engine.stats();
            if stats.rounds >= 1 {
                state.hold(track, HoldPoint::AfterRoundZero, &mut announce);
            }
            if engine.stats().cpu_throttle_percentage > 0 {
                state.hold(track, HoldPoint::Throttled, &mut announce);
            }
            if track.cancel.load(Ordering::SeqCst) {
                continue;
            }
        }
        let before = engine.stats().transferred;
        let poll = engine.poll(state.engine_now(track));
        workers.wake(&pipeline);
        track.update(engine.stats());
        if last_report.elapsed() >= Duration::from_millis(100) {
            last_report = Instant::now();
            emit(&Event::Progress {
                domain: options.domain.to_string(),
                info: track.snapshot(),
            });
        }
        if let SourcePoll::Finished(outcome) = poll {
            break outcome;
        }
        if engine.stats().transferred == before {
            std::thread::sleep(Duration::from_micros(50));
        }
    });
    if outcome == Outcome::Completed {
        // The target reports its digests right after it resumed the domain.
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock(&track.info).peer_memory_digest.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    hop.borrow_mut().drain(200);
    relay.finish(&relay_end);
    Ok(outcome)
}

/// What a source does with the target's `Report` (its digests, once the
/// domain runs there) and `Abort` (it refused to go on, e.g. by its locks:
/// the engine sees the link close at once and the source keeps running);
/// any other message is handed back.
pub(crate) fn take_report_or_abort(
    track: &MigrationTrack,
    engine: &ChannelEnd,
    message: PeerMessage,
) -> Option<PeerMessage> {
    match message {
        PeerMessage::Report {
            memory_digest,
            vcpu_digest,
        } => {
            let mut info = lock(&track.info);
            info.peer_memory_digest = Some(memory_digest);
            info.peer_vcpu_digest = Some(vcpu_digest);
            None
        }
        PeerMessage::Abort { reason } => {
            lock(&track.info).result = Some(reason);
            engine.close();
            None
        }
        other => Some(other),
    }
}

/// Applies an outcome to the source's books and words the final event.
fn settle(
    state: &State,
    domain: &str,
    requirements: &DomainRequirements,
    track: &MigrationTrack,
    outcome: Outcome,
    findings: Vec<String>,
) -> Event {
    let mut info = track.snapshot();
    let text = outcome.to_string().replace("DOMAIN", domain);
    info.result = Some(text.clone());
    info.held = false;
    if requirements.state == DomainState::Inactive {
        // Nothing was copied: the summary still names what moved.
        info.total_bytes = requirements.memory_bytes();
    }
    let mut domains = lock(&state.domains);
    let event = match outcome {
        Outcome::Completed => {
            if domains.remove(domain).is_some() {
                lock(&state.departed).push(Departed {
                    name: domain.to_string(),
                    how: format!("migrated to {}", info.peer),
                });
            }
            // Gone from here: nothing of it stays locked.
            lock(&state.locks).domain_rebooted(domain);
            info.status = "completed".into();
            info.progress_percent = 100;
            Event::Done {
                message: format!("Domain {domain} migrated to {}", info.peer),
                host: state.host().to_string(),
                domains: Vec::new(),
                free_memory: Vec::new(),
                migration: Some(info.clone()),
                findings,
                host_listing: None,
            }
        }
        Outcome::Cancelled => Event::Failed {
            message: format!(
                "Migration of domain {domain} cancelled; {domain} is running on {}",
                state.host()
            ),
            migration: Some(info.clone()),
        },
        Outcome::GaveUp(_) => Event::Failed {
            message: format!("{text}\nDomain Migration of LDom {domain} failed"),
            migration: Some(info.clone()),
        },
        Outcome::Failed(failure) => {
            if failure.source_domain == SourceDomainState::ErrorState {
                if let Some(entry) = domains.get_mut(domain) {
                    entry.error_state = true;
                }
                info.recovery = Some(failure.recovery_advice().replace("DOMAIN", domain));
            }
            // A cut that could not be resumed says so first.
            let link = lock(&track.link_failure)
                .as_ref()
                .map(|why| {
                    format!(
                        "The connection to {} broke and could not be resumed: {why}\n",
                        info.peer
                    )
                })
                .unwrap_or_default();
            Event::Failed {
                message: format!(
                    "{link}{failure}\nDomain Migration of LDom {domain} failed\n{}",
                    failure.recovery_advice().replace("DOMAIN", domain)
                ),
                migration: Some(info.clone()),
            }
        }
    };
    *lock(&track.info) = info;
    // The domain's books are settled: the locks go, a power-policy switch
    // that waited for this migration takes effect, and the saved state
    // says how it ended.
    state.end_migration(domain);
    track.finished.store(true, Ordering::SeqCst);
    let _ = state.persist(&domains);
    event
}

/// The final statistics of an event, if any.
pub fn migration_of(event: &Event) -> Option<&MigrationInfo> {
    match event {
        Event::Done { migration, .. } | Event::Failed { migration, .. } => migration.as_ref(),
        Event::Progress { info, .. } => Some(info),
    }
}
