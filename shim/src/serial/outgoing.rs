//! The source side of a migration whose engine runs in the machine: reach
//! and authenticate the target's shim, have it run every check, then tell
//! the machine to migrate (a `Migrate` command over the line) and relay
//! its frames to the peer until the machine reports the outcome; the
//! target's digests come back in its `Report`.

use super::daemon::SerialState;
use crate::channel::frame_channel;
use crate::control::{Event, MigrationInfo, Request};
use crate::control_socket::Credentials;
use crate::daemon::{lock, MigrationTrack};
use crate::dialing::{ask_checks, dial, resolve, MigrationRequest, Verdict};
use crate::outgoing::take_report_or_abort;
use crate::peer::{encode_message, PeerMessage};
use crate::relay::{PeerRelay, Resume};
use crate::secure::SecureChannel;
use ldmig::wire::codec::{Reserved, Text};
use ldmig::wire::serial::{Command, CommandKind, MachineRole, MachineState};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait for the peer's answers during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long reaching the target and the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the machine may take to show the command taken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a migration may take in all.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(900);
/// How long to wait for the target's digests after the outcome.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes the relay holds between the line and the network: little, so
/// that the slow line's pace reaches the engine.
const RELAY_BYTES: usize = 64 << 10;

/// The requests' numbers (never 0: the machine's "none").
static NEXT_REQUEST: AtomicU32 = AtomicU32::new(1);

/// `migrate-domain` on a serial-engine daemon; the final event.
pub(crate) fn migrate_domain(
    state: &SerialState,
    request: Request,
    client: &Credentials,
    emit: &mut dyn FnMut(&Event),
) -> Event {
    let Some(request) = MigrationRequest::of(request) else {
        return Event::failed("not a migration request");
    };
    let failed = |message: String| request.failed(message);
    let password = match request.password(client, &state.password) {
        Ok(password) => password,
        Err(error) => return failed(error),
    };
    let MigrationRequest {
        domain,
        target,
        target_domain,
        dry_run,
        downtime_limit_ms,
        max_bandwidth,
        ..
    } = &request;
    let (dry_run, downtime_limit_ms) = (*dry_run, *downtime_limit_ms);
    let view = state.machine.view();
    let runs_here = view.status.is_some_and(|status| {
        status.role == MachineRole::Source
            && status.state == MachineState::Idle
            && super::status::guest_present(&status)
            && status.guest_name.as_str() == domain
    });
    if !runs_here {
        return failed(format!(
            "Domain {domain} does not run on {} (or its machine already migrated it)",
            state.host()
        ));
    }
    let requirements = match state.description.domain_requirements(domain) {
        Ok(requirements) => requirements,
        Err(error) => return failed(format!("Domain {domain}: {error}")),
    };
    if !state.claim() {
        return failed(format!(
            "A migration is already in progress on {}",
            state.host()
        ));
    }
    let event = (|| {
        let address = resolve(target, target)?;
        let (mut channel, shutdown) = dial(address, target, &password, CONNECT_TIMEOUT)?;
        let _ = shutdown.set_read_timeout(Some(SETUP_TIMEOUT));
        // The serial lines set the pace: a write may wait for them.
        let _ = shutdown.set_write_timeout(None);
        let begin = PeerMessage::Begin {
            source: Box::new(state.description.resources()),
            domain: Box::new(requirements.clone()),
            target_domain: target_domain.clone(),
            dry_run,
        };
        let Verdict {
            failed: checks_failed,
            report,
            findings,
        } = ask_checks(&mut channel, &begin, target)?;
        if checks_failed || dry_run {
            let _ = channel.close();
            let _ = shutdown.shutdown(std::net::Shutdown::Both);
            if checks_failed {
                return Ok(Event::Failed {
                    message: report,
                    migration: None,
                });
            }
            let mut done = Event::done(
                format!("Dry run: domain {domain} can migrate to {target} as {target_domain}"),
                state.host(),
            );
            if let Event::Done { findings: all, .. } = &mut done {
                *all = findings;
            }
            return Ok(done);
        }
        channel
            .send(&encode_message(&PeerMessage::Start { session: 0 }))
            .map_err(|_| format!("The connection to {target} broke"))?;
        let track = MigrationTrack::new("source", target);
        lock(&track.info).domain_state = requirements.state.as_str().to_string();
        *lock(&state.track) = Some(track.clone());
        let command = Command {
            kind: CommandKind::Migrate.into(),
            reserved: Reserved::ZERO,
            request: NEXT_REQUEST.fetch_add(1, Ordering::SeqCst).into(),
            downtime_limit_ms: u32::try_from(downtime_limit_ms).unwrap_or(u32::MAX).into(),
            reserved2: Reserved::ZERO,
            max_bandwidth: max_bandwidth.unwrap_or(0).into(),
            domain: Text::new(domain),
            target_domain: Text::new(target_domain),
        };
        let outcome = relay_migration(state, &track, channel, shutdown, &command, emit);
        track.finished.store(true, Ordering::SeqCst);
        outcome.map(|info| settle(state.host(), domain, target, info, findings))
    })();
    state.busy.store(false, Ordering::SeqCst);
    event.unwrap_or_else(failed)
}

/// Relays the machine's migration to the peer until the machine reports
/// its outcome (and the target its digests); the final statistics.
fn relay_migration(
    state: &SerialState,
    track: &Arc<MigrationTrack>,
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
    command: &Command,
    emit: &mut dyn FnMut(&Event),
) -> Result<MigrationInfo, String> {
    let (engine_end, relay_end) = frame_channel(RELAY_BYTES);
    state.machine.attach(engine_end);
    let peer_track = track.clone();
    let abort_end = relay_end.clone();
    let relay = PeerRelay::start(
        channel,
        stream,
        relay_end.clone(),
        // The engine runs behind a serial line: no resume over TCP.
        Resume::never(),
        move |_, message| {
            take_report_or_abort(&peer_track, &abort_end, message);
        },
    )
    .map_err(|error| error.to_string())?;
    state.machine.command(*command);
    state.log(&format!(
        "migrate {}: Migrate command {} sent to the machine",
        command.domain,
        command.request.get()
    ));
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let result = loop {
        std::thread::sleep(Duration::from_millis(50));
        let view = state.machine.view();
        if let Some(failure) = view.failure {
            break Err(failure);
        }
        let taken = view
            .status
            .filter(|status| status.request == command.request);
        if taken.is_none() && started.elapsed() > COMMAND_TIMEOUT {
            break Err("The machine did not take the migration command".to_string());
        }
        state.update(track);
        if last_progress.elapsed() >= Duration::from_millis(250) {
            last_progress = Instant::now();
            emit(&Event::Progress {
                domain: command.domain.to_string(),
                info: track.snapshot(),
            });
        }
        if taken.is_some_and(|status| status.state == MachineState::Finished) {
            break Ok(());
        }
        if started.elapsed() > MIGRATION_TIMEOUT {
            break Err("The migration did not end in time".to_string());
        }
    };
    if result.is_ok() && track.snapshot().status == "completed" {
        let deadline = Instant::now() + REPORT_TIMEOUT;
        while lock(&track.info).peer_memory_digest.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    relay.finish(&relay_end);
    state.machine.detach();
    result.map(|()| track.snapshot())
}

/// The final event of a finished migration.
fn settle(
    host: &str,
    domain: &str,
    target: &str,
    mut info: MigrationInfo,
    findings: Vec<String>,
) -> Event {
    if info.status == "completed" {
        info.result = Some(format!("Domain {domain} migrated to {target}"));
        info.progress_percent = 100;
        return Event::Done {
            message: format!("Domain {domain} migrated to {target}"),
            host: host.to_string(),
            domains: Vec::new(),
            free_memory: Vec::new(),
            migration: Some(info),
            findings,
            host_listing: None,
        };
    }
    let reason = info
        .result
        .clone()
        .unwrap_or_else(|| format!("the migration ended {}", info.status));
    Event::Failed {
        message: format!("{reason}\nDomain Migration of LDom {domain} failed"),
        migration: Some(info),
    }
}
