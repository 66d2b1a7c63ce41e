//! The local control protocol between the `ldmig` commands and a daemon:
//! one JSON request line on the daemon's Unix socket, answered by JSON
//! event lines until a final `Done` or `Failed`.
//!
//! ```text
//!  client                         daemon
//!    | Request (one line)  ---->   |
//!    | <---- Event::Progress *     |   (migrations only)
//!    | <---- Event::Done | Failed  |   then the daemon closes
//! ```

use crate::control_socket::{connect_checked, ConnectError};
use crate::hooks::AfterRelease;
use crate::operations::AdminOperation;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a command asks of its daemon.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Migrate (or with `dry_run`, check) a domain to another machine.
    MigrateDomain {
        /// The domain here.
        domain: String,
        /// The target daemon's address.
        target: String,
        /// The name on the target.
        target_domain: String,
        /// Only check.
        dry_run: bool,
        /// A password file the daemon reads for the user who asks (who
        /// must own it; absolute path). `None`: the daemon's own password.
        /// The request never carries a password itself.
        #[serde(default)]
        password_file: Option<PathBuf>,
        /// Downtime limit in milliseconds.
        downtime_limit_ms: u64,
        /// Bandwidth cap in bytes per second.
        max_bandwidth: Option<u64>,
    },
    /// The domains, or one.
    List {
        /// Only this domain.
        domain: Option<String>,
    },
    /// Free memory ranges.
    ListDevicesMemory,
    /// Cancel the migration of a domain.
    CancelMigration {
        /// The domain.
        domain: String,
    },
    /// Recover a domain left in the error state.
    RecoverDomain {
        /// The domain.
        domain: String,
        /// Resume it (true) or remove it (false).
        resume: bool,
    },
    /// An `ldm` operation on a domain or on the machine (bind, start,
    /// add-memory, set-power-policy, ...), checked against the locks of
    /// the migrations running here.
    Operate {
        /// What to do.
        operation: AdminOperation,
    },
    /// Test hook: let a migration that a daemon holds (`hold_migrations`,
    /// `hooks.hold_at`) go on.
    ReleaseMigration {
        /// The domain.
        domain: String,
        /// What the daemon does once it goes on.
        #[serde(default)]
        then: AfterRelease,
    },
    /// Test hook: a fault of the machine (`out-of-memory`, or `none`).
    InjectFault {
        /// The fault.
        fault: String,
    },
}

/// Statistics of a migration, with QEMU `query-migrate` names.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MigrationInfo {
    /// `source` or `target`.
    pub side: String,
    /// The domain's state when it left: `active` (live pre-copy), `bound`
    /// (one pass, no pre-copy) or `inactive` (its configuration only).
    #[serde(default)]
    pub domain_state: String,
    /// The other machine.
    pub peer: String,
    /// QEMU-style status: setup, active, device, pre-switchover, completed, cancelled, failed.
    pub status: String,
    /// Progress in percent.
    pub progress_percent: u8,
    /// Milliseconds since the start.
    pub total_time_ms: f64,
    /// Setup time in milliseconds.
    pub setup_time_ms: f64,
    /// Downtime in milliseconds (suspend on the source to resume on the target).
    pub downtime_ms: f64,
    /// Expected downtime at the last sync.
    pub expected_downtime_ms: f64,
    /// Pre-copy rounds.
    pub rounds: u32,
    /// Bytes sent on the wire.
    pub transferred_bytes: u64,
    /// Bytes of memory still dirty.
    pub remaining_bytes: u64,
    /// Bytes of guest memory.
    pub total_bytes: u64,
    /// Zero pages (QEMU's duplicate).
    pub zero_pages: u64,
    /// Non-zero pages.
    pub normal_pages: u64,
    /// Pages sent LZ4-compressed.
    pub compressed_pages: u64,
    /// Of those, the pages the deeper LZ4 search encoded (a link-bound
    /// migration; source only).
    #[serde(default)]
    pub deep_compressed_pages: u64,
    /// Pages sent as they are (LZ4 did not shrink them, or compressing
    /// did not pay on this link).
    #[serde(default)]
    pub raw_pages: u64,
    /// Pages sent as a delta against the version sent before.
    #[serde(default)]
    pub delta_pages: u64,
    /// Record cipher of the channel between the shims.
    #[serde(default)]
    pub cipher: String,
    /// Uncompressed over compressed bytes of the normal pages.
    pub compression_ratio: f64,
    /// Measured bandwidth in megabits per second.
    pub mbps: f64,
    /// Dirty pages per second in the last round.
    pub dirty_pages_rate: u64,
    /// Dirty-log syncs.
    pub dirty_sync_count: u64,
    /// vCPU throttle in percent.
    pub cpu_throttle_percentage: u8,
    /// How it ended, in words, once it did.
    pub result: Option<String>,
    /// What the administrator must do, after a failure.
    pub recovery: Option<String>,
    /// Digest of the domain's memory at suspension (source) or resumption (target).
    pub memory_digest: Option<String>,
    /// Digest of the vCPU states.
    pub vcpu_digest: Option<String>,
    /// The peer's digests, as it reported them.
    pub peer_memory_digest: Option<String>,
    /// The peer's vCPU digest.
    pub peer_vcpu_digest: Option<String>,
    /// Held by the test hook until `ReleaseMigration` (source side).
    #[serde(default)]
    pub held: bool,
    /// The engine runs in a machine behind a serial line: that line and
    /// the machine's guest (`ldmig serve --serial`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<crate::serial::SerialEngineInfo>,
    /// The dirty set of each round as the engine synced it (source side).
    #[serde(default)]
    pub round_marks: Vec<crate::timeline::RoundMark>,
    /// When the switchover began, in milliseconds since the start.
    #[serde(default)]
    pub switchover_at_ms: Option<f64>,
    /// Times the connection to the peer broke during pre-copy and was
    /// resumed (the migration went on where it was).
    #[serde(default)]
    pub resumes: u32,
}

/// One domain as `list` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct DomainListing {
    /// Name.
    pub name: String,
    /// active, bound, inactive, suspended (the source of a migration in its
    /// switchover) or error; the target of a migration under way is bound.
    pub state: String,
    /// `ldm`'s six flag columns: starting or stopping (`s`), normal (`n`) or
    /// in transition (`t`), delayed reconfiguration (`d`), control domain
    /// (`c`), virtual I/O service domain (`v`), source (`s`) or target
    /// (`t`) of a migration or an error during one (`e`); `-` otherwise.
    pub flags: String,
    /// vCPUs.
    pub vcpus: u64,
    /// The domain's cpu-arch class.
    pub cpu_arch: String,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Memory blocks: (real address, size, physical address if bound).
    pub memory_blocks: Vec<(u64, u64, Option<u64>)>,
    /// Memory dynamic reconfiguration is disabled until the domain reboots
    /// (an active domain that migrated here).
    pub memory_dr_disabled: bool,
    /// Crypto units the domain holds (asks for, when inactive).
    pub crypto_units: u64,
    /// Crypto units the domain's constraint asks for (more than it holds
    /// when it migrated to a machine short of them).
    pub crypto_units_requested: u64,
    /// The domain has an NIU hybrid I/O constraint.
    pub niu_constraint: bool,
    /// This machine has the NIU resources the constraint asks for.
    pub niu_satisfied: bool,
    /// Virtual disks: (name, service, volume).
    pub virtual_disks: Vec<(String, String, String)>,
    /// Virtual networks: (name, switch).
    pub virtual_networks: Vec<(String, String)>,
    /// A delayed reconfiguration is pending on the domain.
    pub delayed_reconfiguration: bool,
    /// The migration under way or the last one, if any.
    pub migration: Option<MigrationInfo>,
}

/// The machine as `list` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct HostListing {
    /// Processor type.
    pub cpu_type: String,
    /// Processor frequency in MHz.
    pub cpu_frequency_mhz: u32,
    /// The power-management policy in effect.
    pub power_policy: String,
    /// A policy switch waiting for the migrations to end.
    pub deferred_power_policy: Option<String>,
}

/// What a daemon answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A migration's progress.
    Progress {
        /// The domain.
        domain: String,
        /// Its statistics.
        info: MigrationInfo,
    },
    /// The request succeeded.
    Done {
        /// Text for the administrator.
        message: String,
        /// The host name.
        host: String,
        /// Domains, for `list`.
        domains: Vec<DomainListing>,
        /// Free memory ranges (pa, size), for `list-devices memory`.
        free_memory: Vec<(u64, u64)>,
        /// The migration's final statistics, for `migrate-domain`.
        migration: Option<MigrationInfo>,
        /// Check findings (warnings and notes) of a migration or dry run.
        findings: Vec<String>,
        /// The machine, for `list`.
        #[serde(default)]
        host_listing: Option<HostListing>,
    },
    /// The request failed.
    Failed {
        /// Why, in the administrator's words (several lines for checks).
        message: String,
        /// The migration's final statistics, if one ran.
        migration: Option<MigrationInfo>,
    },
}

impl Event {
    /// A `Done` with only a message.
    pub fn done(message: impl Into<String>, host: &str) -> Event {
        Event::Done {
            message: message.into(),
            host: host.to_string(),
            domains: Vec::new(),
            free_memory: Vec::new(),
            migration: None,
            findings: Vec::new(),
            host_listing: None,
        }
    }

    /// A `Failed` with only a message.
    pub fn failed(message: impl Into<String>) -> Event {
        Event::Failed {
            message: message.into(),
            migration: None,
        }
    }

    /// True for `Done` and `Failed`.
    pub fn is_final(&self) -> bool {
        !matches!(self, Event::Progress { .. })
    }
}

/// Why a request line could not be read (the daemon answers each once).
#[derive(Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Nothing came within the idle timeout (or the client left).
    Silent,
    /// More than the limit before a newline.
    TooLong(usize),
    /// Not UTF-8.
    NotUtf8,
    /// UTF-8, but no request.
    Invalid(String),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Silent => f.write_str("no request came"),
            RequestError::TooLong(limit) => write!(
                f,
                "bad request: longer than {} bytes without a newline",
                limit
            ),
            RequestError::NotUtf8 => f.write_str("bad request: the request line is not UTF-8"),
            RequestError::Invalid(reason) => write!(f, "bad request: {reason}"),
        }
    }
}

/// Reads one request line of at most `limit` bytes from `reader` (the
/// daemon's decoder of this protocol: bounded before anything is parsed).
pub fn read_request(reader: impl Read, limit: usize) -> Result<Request, RequestError> {
    let mut line = Vec::new();
    let read = BufReader::new(reader.take(limit as u64 + 1)).read_until(b'\n', &mut line);
    if read.is_err() && line.is_empty() {
        return Err(RequestError::Silent);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > limit {
        return Err(RequestError::TooLong(limit));
    }
    if line.is_empty() {
        return Err(RequestError::Silent);
    }
    let text = std::str::from_utf8(&line).map_err(|_| RequestError::NotUtf8)?;
    serde_json::from_str(text).map_err(|error| RequestError::Invalid(error.to_string()))
}

/// Why talking to a daemon failed.
#[derive(Debug)]
pub enum ClientError {
    /// No daemon at that socket, or one the client does not trust.
    Connect(PathBuf, ConnectError),
    /// The connection broke.
    Io(std::io::Error),
    /// The daemon said something that is not an event.
    Garbled(String),
    /// The daemon closed without a final event.
    NoAnswer,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(path, ConnectError::Unreachable(error)) => write!(
                f,
                "cannot reach the ldmig daemon at {}: {error} (is `ldmig serve` running? set --control or LDMIG_CONTROL)",
                path.display()
            ),
            ClientError::Connect(path, error) => write!(
                f,
                "not talking to {}: {error}",
                path.display()
            ),
            ClientError::Io(error) => write!(f, "the daemon connection broke: {error}"),
            ClientError::Garbled(line) => write!(f, "the daemon answered something unreadable: {line}"),
            ClientError::NoAnswer => write!(f, "the daemon closed the connection without an answer"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends `request` to the daemon at `socket` and hands every event to
/// `on_event`; returns the final one. Nothing is sent unless the socket
/// and the daemon behind it belong to this user or root.
pub fn call(
    socket: &Path,
    request: &Request,
    mut on_event: impl FnMut(&Event),
) -> Result<Event, ClientError> {
    let mut stream = connect_checked(socket)
        .map_err(|error| ClientError::Connect(socket.to_path_buf(), error))?;
    let mut line =
        serde_json::to_string(request).map_err(|error| ClientError::Garbled(error.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(ClientError::Io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3600)))
        .map_err(ClientError::Io)?;
    let reader = BufReader::new(stream);
    for line in reader.lines() {
        let line = line.map_err(ClientError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event =
            serde_json::from_str(&line).map_err(|_| ClientError::Garbled(line.clone()))?;
        on_event(&event);
        if event.is_final() {
            return Ok(event);
        }
    }
    Err(ClientError::NoAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_bounded_and_checked() {
        let list = b"{\"command\":\"list\",\"domain\":null}\n";
        assert!(matches!(
            read_request(&list[..], 1024),
            Ok(Request::List { domain: None })
        ));
        let long = vec![b'x'; 5000];
        assert_eq!(
            read_request(&long[..], 1024).map(|_| ()),
            Err(RequestError::TooLong(1024))
        );
        assert_eq!(
            read_request(&b"\xff\xfe{}\n"[..], 1024).map(|_| ()),
            Err(RequestError::NotUtf8)
        );
        assert!(matches!(
            read_request(&b"{\"command\":\"fly\"}\n"[..], 1024),
            Err(RequestError::Invalid(_))
        ));
        assert_eq!(
            read_request(&b""[..], 1024).map(|_| ()),
            Err(RequestError::Silent)
        );
        // Exactly the limit, then the newline, is still a request.
        let mut exact = b"{\"command\":\"list\",\"domain\":null}".to_vec();
        let limit = exact.len();
        exact.push(b'\n');
        assert!(read_request(&exact[..], limit).is_ok());
        let message = RequestError::NotUtf8.to_string();
        assert!(message.contains("UTF-8"), "{message}");
    }
}
