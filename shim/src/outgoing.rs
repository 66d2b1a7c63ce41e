//! The source side of a migration in the shim: reach and authenticate the
//! target's shim, have it run every check, then run the source engine and
//! relay its frames, and settle the domain by the outcome.

use super::channel::frame_channel_with_room;
use super::control::{Event, MigrationInfo, Request};
use super::daemon::{lock, MigrationTrack, State};
use super::digest::domain_digest;
use super::peer::{
    decode, encode_message, PeerMessage, PeerRecord, FRAME_HEADROOM, FRAME_TAILROOM,
};
use super::relay::PeerRelay;
use crate::host::counting::CountingHv;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::host::workers::{with_workers, PipelineStorage, Side};
use crate::secure::{ChannelError, SecureChannel};
use ldmig::precopy::dirty_set::DirtySet;
use ldmig::precopy::{
    DomainShape, MigrationConfig, Outcome, SourceBuffers, SourceDomainState, SourceEngine,
    SourcePoll,
};
use ldmig::rules::MigrationSide;
use ldmig_hv::hypervisor::{DomainId, MemoryBlock};
use ldmig_hv::resources::{DomainRequirements, DomainState};
use std::cell::RefCell;
use std::net::{TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of a page frame the source engine builds.
pub const FRAME_BYTES: usize = 256 << 10;
/// How long to wait for the peer's answers during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `ldmig migrate-domain` on this (source) daemon; returns the final event.
pub(crate) fn migrate_domain(
    state: &Arc<State>,
    request: Request,
    emit: &mut dyn FnMut(&Event),
) -> Event {
    let Request::MigrateDomain {
        domain,
        target,
        target_domain,
        dry_run,
        password,
        downtime_limit_ms,
        max_bandwidth,
    } = request
    else {
        return Event::failed("not a migration request");
    };
    let failed = |message: String| {
        Event::failed(format!(
            "{message}\nDomain Migration of LDom {domain} failed"
        ))
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
    let address = match target
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
    {
        Some(address) => address,
        None => return failed(format!("Cannot resolve the target address {target}")),
    };
    let stream = match TcpStream::connect_timeout(&address, Duration::from_secs(10)) {
        Ok(stream) => stream,
        Err(error) => return failed(format!("Cannot reach the target {target}: {error}")),
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(SETUP_TIMEOUT));
    let Ok(shutdown_handle) = stream.try_clone() else {
        return failed("Cannot set up the connection".into());
    };
    let mut channel = match SecureChannel::connect(stream, password.as_bytes()) {
        Ok(channel) => channel,
        Err(error) => return failed(describe_channel_error(&target, &error)),
    };

    // Every check, on the target (it knows both sides then).
    let begin = PeerMessage::Begin {
        source: Box::new(state.resources()),
        domain: Box::new(requirements.clone()),
        target_domain: target_domain.clone(),
        dry_run,
    };
    if channel.send(&encode_message(&begin)).is_err() {
        return failed(format!("The connection to {target} broke"));
    }
    let (checks_failed, report, findings) = match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Checks {
            failed,
            report,
            findings,
        })) => (failed, report, findings),
        Some(PeerRecord::Message(PeerMessage::Abort { reason })) => return failed(reason),
        _ => return failed(format!("The target {target} did not answer the checks")),
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
    if let Some(entry) = lock(&state.domains).get_mut(&domain) {
        entry.migration = Some(track.clone());
    }
    let result = if channel.send(&encode_message(&PeerMessage::Start)).is_err() {
        Err(format!("The connection to {target} broke"))
    } else {
        match (requirements.state, id) {
            (DomainState::Inactive, _) | (_, None) => move_inactive(state, &domain, channel),
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
                };
                run_source_engine(state, &track, channel, shutdown_handle, options, emit)
            }
        }
    };
    let event = match result {
        Ok(outcome) => settle(state, &domain, &requirements, &track, outcome, findings),
        Err(message) => {
            lock(&track.info).result = Some(message.clone());
            Event::Failed {
                message: format!("{message}\nDomain Migration of LDom {domain} failed"),
                migration: Some(track.snapshot()),
            }
        }
    };
    // The domain's books are settled: the locks go, and a power-policy
    // switch that waited for this migration takes effect.
    state.end_migration(&domain);
    track.finished.store(true, Ordering::SeqCst);
    event
}

/// The administrator's words for a secure-channel failure with `target`.
pub(crate) fn describe_channel_error(target: &str, error: &ChannelError) -> String {
    if error.is_security_failure() {
        format!("Authentication with {target} failed: {error} (is the migration password right?)")
    } else {
        format!("The secure channel to {target} failed: {error}")
    }
}

/// An inactive domain has no memory or vCPU bound: its configuration moves.
fn move_inactive(
    state: &State,
    domain: &str,
    mut channel: SecureChannel<TcpStream>,
) -> Result<Outcome, String> {
    match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Configured)) => {
            let _ = channel.close();
            lock(&state.domains).remove(domain);
            Ok(Outcome::Completed)
        }
        Some(PeerRecord::Message(PeerMessage::Abort { reason })) => Err(reason),
        _ => Err("The target did not take the domain's configuration".into()),
    }
}

struct EngineOptions<'a> {
    domain: &'a str,
    id: DomainId,
    target_domain: &'a str,
    active: bool,
    crypto_units: u64,
    config: MigrationConfig,
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
    let (sender, receiver) = channel.into_split().map_err(|error| error.to_string())?;
    let _ = stream.set_read_timeout(None);
    let (engine_end, relay_end) = frame_channel_with_room(8 << 20, FRAME_HEADROOM, FRAME_TAILROOM);
    // engine -> LDC (ring exported by the engine, read by the shim's end
    // with LDC_COPY) -> shim's end -> relay -> secure TCP channel.
    let hop = LdcHop::open(FRAME_BYTES, state.now_ns() as u32 | 1, engine_end)?;
    let hop = Rc::new(RefCell::new(hop));
    let peer_track = track.clone();
    let abort_end = relay_end.clone();
    let relay = PeerRelay::start(
        Arc::new(Mutex::new(sender)),
        receiver,
        stream,
        relay_end.clone(),
        move |message| match message {
            PeerMessage::Report {
                memory_digest,
                vcpu_digest,
            } => {
                let mut info = lock(&peer_track.info);
                info.peer_memory_digest = Some(memory_digest);
                info.peer_vcpu_digest = Some(vcpu_digest);
            }
            PeerMessage::Abort { reason } => {
                // The target refused to go on (e.g. its locks): the engine
                // sees the link close at once and the source keeps running.
                lock(&peer_track.info).result = Some(reason);
                abort_end.close();
            }
            _ => {}
        },
    );

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
    let config = MigrationConfig {
        workers: state.workers,
        ..options.config
    };
    let mut engine = SourceEngine::new(
        hv,
        HopTransport(hop.clone()),
        options.id,
        shape,
        config,
        buffers,
    )
    .map_err(|error| error.to_string())?;

    let outcome = with_workers(&pipeline, state.workers, |workers| {
        let mut last_report = Instant::now();
        // Time spent held by the test hook, hidden from the engine's clock.
        let mut held_ns = 0u64;
        let mut cancel_asked = false;
        loop {
            if track.cancel.swap(false, Ordering::SeqCst) {
                cancel_asked = true;
                if !engine.cancel() {
                    lock(&track.info).result =
                        Some("cancel refused: the final state was already sent".into());
                }
            }
            if options.active && hold(state, track, cancel_asked, engine.stats().rounds) {
                let since = Instant::now();
                std::thread::sleep(Duration::from_millis(5));
                held_ns += since.elapsed().as_nanos() as u64;
                continue;
            }
            let before = engine.stats().transferred;
            let poll = engine.poll(state.now_ns().saturating_sub(held_ns));
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

/// The `hold_migrations` test hook: true while the live migration of an
/// active domain must wait, from the end of its first pre-copy round (the target holds a half-copied
/// domain; the commit needs at least one more poll of the engine, since
/// the target's acknowledgement of round 0 must come back first) until the
/// test releases it or cancels it.
fn hold(state: &State, track: &MigrationTrack, cancel_asked: bool, rounds: u32) -> bool {
    let holding = state.hold_migrations
        && rounds >= 1
        && !cancel_asked
        && !track.released.load(Ordering::SeqCst);
    let mut info = lock(&track.info);
    info.held = holding;
    holding
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
    if requirements.state == DomainState::Inactive {
        // Nothing was copied: the summary still names what moved.
        info.total_bytes = requirements.memory_bytes();
    }
    let mut domains = lock(&state.domains);
    let event = match outcome {
        Outcome::Completed => {
            domains.remove(domain);
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
            Event::Failed {
                message: format!(
                    "{failure}\nDomain Migration of LDom {domain} failed\n{}",
                    failure.recovery_advice().replace("DOMAIN", domain)
                ),
                migration: Some(info.clone()),
            }
        }
    };
    *lock(&track.info) = info;
    event
}

/// The final statistics of an event, if any.
pub fn migration_of(event: &Event) -> Option<&MigrationInfo> {
    match event {
        Event::Done { migration, .. } | Event::Failed { migration, .. } => migration.as_ref(),
        Event::Progress { info, .. } => Some(info),
    }
}
