//! The source's first steps toward a target, the same for both daemons (a
//! simulated machine's and a serial-line engine's): the `migrate-domain`
//! request taken apart, its password read, the target dialled and
//! authenticated, and the target's checks asked for.

use crate::control::{Event, Request};
use crate::control_socket::Credentials;
use crate::password::read_password_file;
use crate::peer::{decode, encode_message, PeerMessage, PeerRecord};
use crate::secure::{ChannelError, SecureChannel};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// A `migrate-domain` request, taken apart.
pub(crate) struct MigrationRequest {
    pub(crate) domain: String,
    pub(crate) target: String,
    pub(crate) target_domain: String,
    pub(crate) dry_run: bool,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) downtime_limit_ms: u64,
    pub(crate) max_bandwidth: Option<u64>,
}

impl MigrationRequest {
    /// The migration of `request`; `None` if it is no migration request.
    pub(crate) fn of(request: Request) -> Option<Self> {
        match request {
            Request::MigrateDomain {
                domain,
                target,
                target_domain,
                dry_run,
                password_file,
                downtime_limit_ms,
                max_bandwidth,
            } => Some(MigrationRequest {
                domain,
                target,
                target_domain,
                dry_run,
                password_file,
                downtime_limit_ms,
                max_bandwidth,
            }),
            _ => None,
        }
    }

    /// The failure `message`, as `ldm` ends it.
    pub(crate) fn failed(&self, message: String) -> Event {
        Event::failed(format!(
            "{message}\nDomain Migration of LDom {} failed",
            self.domain
        ))
    }

    /// The password: the client's password file (which the client must
    /// own), else the daemon's own; why the file cannot serve.
    pub(crate) fn password(&self, client: &Credentials, daemon: &str) -> Result<String, String> {
        match &self.password_file {
            Some(path) => read_password_file(path, client.uid).map_err(|error| error.to_string()),
            None => Ok(daemon.to_string()),
        }
    }
}

/// The first address `address` resolves to (`target` names it for the
/// administrator).
pub(crate) fn resolve(address: &str, target: &str) -> Result<SocketAddr, String> {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| format!("Cannot resolve the target address {target}"))
}

/// Dials the target at `address` (named `target` for the administrator)
/// within `timeout` and authenticates with `password`: the channel, and a
/// handle on its stream (reads and writes time out after `timeout`).
pub(crate) fn dial(
    address: SocketAddr,
    target: &str,
    password: &str,
    timeout: Duration,
) -> Result<(SecureChannel<TcpStream>, TcpStream), String> {
    let stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("Cannot reach the target {target}: {error}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let handle = stream
        .try_clone()
        .map_err(|_| "Cannot set up the connection".to_string())?;
    let channel = SecureChannel::connect(stream, password.as_bytes())
        .map_err(|error| describe_channel_error(target, &error))?;
    Ok((channel, handle))
}

/// The administrator's words for a secure-channel failure with `target`.
pub(crate) fn describe_channel_error(target: &str, error: &ChannelError) -> String {
    if error.is_security_failure() {
        format!("Authentication with {target} failed: {error} (is the migration password right?)")
    } else {
        format!("The secure channel to {target} failed: {error}")
    }
}

/// The target's verdict on a migration.
pub(crate) struct Verdict {
    /// A check failed.
    pub(crate) failed: bool,
    /// The report, as the administrator reads it.
    pub(crate) report: String,
    /// Every finding, one per line.
    pub(crate) findings: Vec<String>,
}

/// Sends `begin` and waits for the target's checks; the target's reason
/// if it refused outright.
pub(crate) fn ask_checks(
    channel: &mut SecureChannel<TcpStream>,
    begin: &PeerMessage,
    target: &str,
) -> Result<Verdict, String> {
    channel
        .send(&encode_message(begin))
        .map_err(|_| format!("The connection to {target} broke"))?;
    match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Checks {
            failed,
            report,
            findings,
        })) => Ok(Verdict {
            failed,
            report,
            findings,
        }),
        Some(PeerRecord::Message(PeerMessage::Abort { reason })) => Err(reason),
        _ => Err(format!("The target {target} did not answer the checks")),
    }
}
