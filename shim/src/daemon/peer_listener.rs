//! The daemon's listener for incoming migrations, and its bounds: at most
//! [`Limits::max_peer_connections`](crate::bounds::Limits) peers at once
//! (more are closed at once), a handshake timeout, a per-address back-off
//! after failed authentications (a backed-off address is closed before any
//! handshake), and rate-limited, summarised log lines about refusals.

use super::{lock, State};
use crate::secure::{ChannelError, Role, SecureChannel};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Accepts peers until the daemon stops.
pub(super) fn peer_loop(state: Arc<State>, listener: TcpListener) {
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => admit(&state, stream, peer),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn admit(state: &Arc<State>, stream: TcpStream, peer: SocketAddr) {
    let address = peer.ip();
    if let Some(left) = lock(&state.backoff).refuses(address, Instant::now()) {
        state.log_limited(
            &format!("backoff {address}"),
            &format!(
                "closed a connection from {peer}: backing off for {} ms after failed authentications",
                left.as_millis()
            ),
        );
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    state.serve_in_slot(
        &state.peer_slots,
        stream,
        |stream| {
            state.log_limited(
                "peers busy",
                &format!(
                    "closed a connection from {peer}: {} peers are being served already",
                    state.peer_slots.capacity()
                ),
            );
            let _ = stream.shutdown(Shutdown::Both);
        },
        move |shared, stream| serve(shared, stream, peer),
    );
}

fn serve(state: &Arc<State>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(state.limits.handshake_timeout));
    let _ = stream.set_write_timeout(Some(state.limits.handshake_timeout));
    let Ok(shutdown_handle) = stream.try_clone() else {
        return;
    };
    // The back-off is decided here, before this side's key confirmation
    // goes out: a wrong guess is backed off before the guesser learns it
    // was wrong, so its next try is refused.
    let mut backed_off = None;
    let judged = |confirmed: bool| {
        let mut backoff = lock(&state.backoff);
        if confirmed {
            backoff.succeeded(peer.ip());
        } else {
            backed_off = Some(backoff.failed(peer.ip(), Instant::now()));
        }
    };
    let handshake =
        SecureChannel::handshake_judged(stream, Role::Responder, state.password.as_bytes(), judged);
    let channel = match handshake {
        Ok(channel) => channel,
        Err(error) => {
            refused(state, peer, &error, backed_off);
            let _ = shutdown_handle.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = shutdown_handle.set_read_timeout(Some(state.limits.setup_timeout));
    let _ = shutdown_handle.set_write_timeout(Some(state.limits.setup_timeout));
    crate::incoming::accept_migration(state, channel, shutdown_handle, peer);
}

/// A handshake failed: say so (limited), with the back-off the handshake
/// decided when the peer failed to authenticate.
fn refused(state: &State, peer: SocketAddr, error: &ChannelError, backed_off: Option<Duration>) {
    let address = peer.ip();
    let mut line = format!("refused a migration from {peer}: {error}");
    if let Some(backoff) = backed_off {
        line.push_str(&format!(
            "; connections from {address} are closed for {} ms",
            backoff.as_millis()
        ));
    }
    state.log_limited(&format!("refused {address}"), &line);
}
