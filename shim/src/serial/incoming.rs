//! The target side of a migration into a machine whose engine runs in the
//! machine: authenticate the source's shim, run every check against this
//! machine (its description, and the machine up and idle), then relay the
//! frames to the machine, whose engine starts with the first one, until
//! the machine reports the outcome; then send the source the digests the
//! machine took of the domain before it resumed it.

use super::daemon::SerialState;
use crate::channel::frame_channel;
use crate::daemon::{lock, MigrationTrack};
use crate::peer::{decode, encode_message, PeerMessage, PeerRecord};
use crate::relay::{PeerRelay, Resume};
use crate::secure::SecureChannel;
use ldmig::rules::check_migration;
use ldmig::wire::serial::{MachineRole, MachineState};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a migration may take in all.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(900);
/// Bytes the relay holds between the network and the line.
const RELAY_BYTES: usize = 64 << 10;

/// Why this machine cannot take a domain now, if it cannot.
fn machine_refusal(state: &SerialState) -> Option<String> {
    let view = state.machine.view();
    let Some(status) = view.status else {
        return Some(format!(
            "The machine of {} has not reported over its serial line",
            state.host()
        ));
    };
    if view.failure.is_some() || status.role != MachineRole::Target {
        return Some(format!("The machine of {} takes no domains", state.host()));
    }
    (status.state != MachineState::Idle).then(|| {
        format!(
            "The machine of {} already took a domain (one per boot)",
            state.host()
        )
    })
}

/// Serves one connection from a source shim.
pub(crate) fn accept_migration(state: &SerialState, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(shutdown) = stream.try_clone() else {
        return;
    };
    let mut channel = match SecureChannel::accept(stream, state.password.as_bytes()) {
        Ok(channel) => channel,
        Err(error) => {
            state.log(&format!("refused a migration from {peer}: {error}"));
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
    let checks = check_migration(&source, &domain, &state.description.resources());
    let mut failed = checks.failed();
    let mut report = checks.to_string();
    let mut findings: Vec<String> = report.lines().map(str::to_string).collect();
    let refusal = machine_refusal(state).or_else(|| {
        (!dry_run && !state.claim())
            .then(|| format!("A migration is already in progress on {}", state.host()))
    });
    let claimed = refusal.is_none() && !dry_run;
    if let Some(message) = refusal {
        failed = true;
        findings.insert(0, message.clone());
        report = format!("{message}\n");
        let _ = write!(report, "Domain Migration of LDom {} failed", domain.name);
    }
    let verdict = PeerMessage::Checks {
        failed,
        report: report.trim_end().to_string(),
        findings,
    };
    let go_on = channel.send(&encode_message(&verdict)).is_ok() && !failed && !dry_run;
    let started = go_on
        && matches!(
            channel.receive().ok().and_then(decode),
            Some(PeerRecord::Message(PeerMessage::Start { .. }))
        );
    if started {
        let track = MigrationTrack::new("target", &format!("{} ({peer})", source.name));
        lock(&track.info).domain_state = domain.state.as_str().to_string();
        *lock(&state.track) = Some(track.clone());
        state.log(&format!(
            "taking {} as {target_domain} from {peer} over the serial line",
            domain.name
        ));
        relay_migration(state, &track, channel, shutdown);
        track.finished.store(true, Ordering::SeqCst);
    } else {
        let _ = channel.receive_or_close();
    }
    if claimed {
        state.busy.store(false, Ordering::SeqCst);
    }
}

/// Relays the source's frames to the machine until it reports the outcome;
/// sends the source the machine's digests of a domain that now runs here.
fn relay_migration(
    state: &SerialState,
    track: &Arc<MigrationTrack>,
    channel: SecureChannel<TcpStream>,
    stream: TcpStream,
) {
    let (engine_end, relay_end) = frame_channel(RELAY_BYTES);
    state.machine.attach(engine_end);
    let Ok(relay) = PeerRelay::start(
        channel,
        stream,
        relay_end.clone(),
        // The engine runs behind a serial line: no resume over TCP.
        Resume::never(),
        |_, _| {},
    ) else {
        return;
    };
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let view = state.machine.view();
        state.update(track);
        let finished = view
            .status
            .is_some_and(|status| status.state == MachineState::Finished);
        if finished || view.failure.is_some() || started.elapsed() > MIGRATION_TIMEOUT {
            break;
        }
    }
    let info = track.snapshot();
    if let (true, Some(memory_digest), Some(vcpu_digest)) = (
        info.status == "completed",
        info.memory_digest.clone(),
        info.vcpu_digest.clone(),
    ) {
        lock(&track.info).result = Some("the domain runs here".into());
        relay.send_message(&PeerMessage::Report {
            memory_digest,
            vcpu_digest,
        });
    }
    // Wait (briefly) for the source to close: its last frames are acks.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !relay_end.is_closed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    relay.finish(&relay_end);
    state.machine.detach();
}
