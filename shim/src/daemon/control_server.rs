//! The daemon's side of the control socket: who may connect, how much a
//! request may be, how long a client may take, and the requests that are
//! the daemon's own (cancel, recover, the test hooks).
//!
//! Each connection is checked first: its peer credentials against the
//! daemon's user, root and the configured group, then a free slot (at most
//! [`Limits::max_control_connections`](crate::bounds::Limits)). The
//! request line must come within the idle timeout, hold at most
//! `max_request_bytes` bytes and be UTF-8 JSON; every refusal is answered
//! with a `Failed` event saying why, once, and the connection closed.

use super::{lock, MigrationTrack, State};
use crate::control::{read_request, Event, Request, RequestError};
use crate::control_socket::{peer_credentials, ControlSocket, Credentials};
use crate::hooks::AfterRelease;
use crate::persist::Departed;
use ldmig_hv::hypervisor::{DomainControl, DomainRunState, VcpuControl};
use ldmig_hv::resources::DomainState;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Accepts control connections until the daemon stops.
pub(super) fn control_loop(state: Arc<State>, socket: Arc<ControlSocket>) {
    while !state.stop.load(Ordering::SeqCst) {
        match socket.listener().accept() {
            Ok((stream, _)) => admit(&state, stream),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Checks one connection and, if it may stay, serves it on its own thread.
fn admit(state: &Arc<State>, mut stream: UnixStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(state.limits.control_write_timeout));
    let credentials = match peer_credentials(&stream) {
        Ok(credentials) => credentials,
        Err(error) => {
            state.log_limited(
                "control credentials",
                &format!("a control connection without credentials was closed: {error}"),
            );
            return;
        }
    };
    if !state.control_access.allows(state.owner, &credentials) {
        state.log_limited(
            &format!("control uid {}", credentials.uid),
            &format!(
                "refused a control connection from user {} (process {}): not this daemon's user, root or its control group",
                credentials.uid, credentials.pid
            ),
        );
        answer(
            &mut stream,
            &Event::failed(format!(
                "Permission denied: user {} may not use the ldmig daemon of {}",
                credentials.uid,
                state.host()
            )),
        );
        return;
    }
    let capacity = state.control_slots.capacity();
    state.serve_in_slot(
        &state.control_slots,
        (stream, credentials),
        |(mut stream, _)| {
            state.log_limited(
                "control busy",
                &format!("refused a control connection: {capacity} are being served already"),
            );
            answer(
                &mut stream,
                &Event::failed(format!(
                    "The ldmig daemon of {} is busy: {capacity} control connections are open; retry",
                    state.host(),
                )),
            );
        },
        |shared, (stream, credentials)| serve(shared, stream, credentials),
    );
}

/// Writes one event line (best effort: the client may be gone).
fn answer(stream: &mut UnixStream, event: &Event) {
    if let Ok(mut text) = serde_json::to_string(event) {
        text.push('\n');
        let _ = stream.write_all(text.as_bytes());
    }
}

fn serve(state: &Arc<State>, stream: UnixStream, credentials: Credentials) {
    let _ = stream.set_read_timeout(Some(state.limits.control_idle_timeout));
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut writer = stream;
    let request = match read_request(reader, state.limits.max_request_bytes) {
        Ok(request) => request,
        Err(RequestError::Silent) => return,
        Err(error) => {
            answer(&mut writer, &Event::failed(error.to_string()));
            return;
        }
    };
    // A client that stops reading loses its progress lines, not the
    // migration: once a write fails or times out, nothing more is written.
    let mut reading = true;
    let mut emit = |event: &Event| {
        if !reading {
            return;
        }
        if let Ok(mut text) = serde_json::to_string(event) {
            text.push('\n');
            reading = writer.write_all(text.as_bytes()).is_ok();
        }
    };
    let event = match request {
        Request::MigrateDomain { .. } => {
            crate::outgoing::migrate_domain(state, request, &credentials, &mut emit)
        }
        Request::List { domain } => crate::listing::list(state, domain.as_deref()),
        Request::ListDevicesMemory => crate::listing::free_memory(state),
        Request::CancelMigration { domain } => cancel(state, &domain),
        Request::RecoverDomain { domain, resume } => recover(state, &domain, resume),
        Request::Operate { operation } => crate::operations::operate(state, &operation),
        Request::ReleaseMigration { domain, then } => {
            let (event, track) = release(state, &domain, then);
            emit(&event);
            if let Some(track) = track {
                track.release_answered.store(true, Ordering::SeqCst);
            }
            return;
        }
        Request::InjectFault { fault } => inject_fault(state, &fault),
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
    // The engine answers within a poll; a source waiting on a silent
    // target answers within its peer timeout.
    let deadline = Instant::now() + state.limits.peer_timeout * 2 + Duration::from_secs(30);
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

/// The hold test hooks' release; the track is told once the answer left.
fn release(state: &State, name: &str, then: AfterRelease) -> (Event, Option<Arc<MigrationTrack>>) {
    let domains = lock(&state.domains);
    match domains
        .get(name)
        .and_then(|domain| domain.migration.as_ref())
    {
        Some(track) if !track.finished.load(Ordering::SeqCst) => {
            *lock(&track.release_then) = then;
            track.released.store(true, Ordering::SeqCst);
            (
                Event::done(format!("Migration of domain {name} released"), state.host()),
                Some(track.clone()),
            )
        }
        _ => (
            Event::failed(format!("No migration of domain {name} is in progress")),
            None,
        ),
    }
}

/// The test hooks' faults.
fn inject_fault(state: &State, fault: &str) -> Event {
    match fault {
        "out-of-memory" => {
            state.out_of_memory.store(true, Ordering::SeqCst);
            Event::done(format!("{} is out of memory", state.host()), state.host())
        }
        "none" => {
            state.out_of_memory.store(false, Ordering::SeqCst);
            Event::done(
                format!("{} has its memory back", state.host()),
                state.host(),
            )
        }
        other => Event::failed(format!("unknown fault {other:?}: out-of-memory or none")),
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
    let event = if resume {
        let result = machine
            .set_domain_state(id, DomainRunState::Normal)
            .and_then(|()| machine.resume(id));
        if let Err(error) = result {
            return Event::failed(format!("Resuming {name} failed: {error}"));
        }
        // A source's workload (kept while it was stopped) goes on by
        // itself; a domain a target kept after a failure, or one a restart
        // found, boots one.
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
        lock(&state.departed).push(Departed {
            name: name.to_string(),
            how: "removed by recover-domain after a failed migration".into(),
        });
        Event::done(
            format!("Domain {name} removed from {}", state.host()),
            state.host(),
        )
    };
    if let Err(error) = state.persist(&domains) {
        return Event::failed(format!(
            "{}\nbut {error}",
            match event {
                Event::Done { message, .. } => message,
                _ => String::new(),
            }
        ));
    }
    event
}
