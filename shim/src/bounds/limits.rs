//! The numbers that bound a daemon, with the defaults `ldmig serve` uses.

use std::time::Duration;

/// How much a daemon gives its clients and peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest control request line, in bytes.
    pub max_request_bytes: usize,
    /// How long a control connection may stay silent before its request.
    pub control_idle_timeout: Duration,
    /// How long a control client may leave an answer unread.
    pub control_write_timeout: Duration,
    /// Control connections served at once; more are refused at once.
    pub max_control_connections: usize,
    /// Incoming peer connections (handshakes and migrations) at once.
    pub max_peer_connections: usize,
    /// How long a peer's secure-channel handshake may take.
    pub handshake_timeout: Duration,
    /// How long a peer may stay silent during the checks (after the
    /// handshake, before the engines run).
    pub setup_timeout: Duration,
    /// How long an engine waits for its peer's answers before it declares
    /// the peer gone (the engines' `response_timeout`).
    pub peer_timeout: Duration,
    /// The first back-off after a failed authentication from an address;
    /// each further failure doubles it.
    pub auth_backoff_base: Duration,
    /// The longest back-off.
    pub auth_backoff_max: Duration,
    /// Addresses the back-off remembers at most.
    pub auth_backoff_addresses: usize,
    /// A repeated log line (same kind, same address) is printed at most
    /// once per this window, with a count of the ones held back.
    pub log_window: Duration,
    /// After a cut during pre-copy, the source dials the target again at
    /// most this many times (0: a cut ends the migration)...
    pub resume_attempts: u32,
    /// ...pausing this long before the first attempt and twice as long
    /// before each next one.
    pub resume_first_pause: Duration,
    /// How long the target waits for the source to come back after a cut
    /// (longer than all the source's attempts: 0.2 + 0.4 + ... + 3.2 s
    /// of pauses and each attempt's handshake).
    pub resume_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1 << 20,
            control_idle_timeout: Duration::from_secs(10),
            control_write_timeout: Duration::from_secs(10),
            max_control_connections: 32,
            max_peer_connections: 8,
            handshake_timeout: Duration::from_secs(10),
            setup_timeout: Duration::from_secs(60),
            peer_timeout: Duration::from_secs(30),
            auth_backoff_base: Duration::from_secs(1),
            auth_backoff_max: Duration::from_secs(300),
            auth_backoff_addresses: 4096,
            log_window: Duration::from_secs(60),
            resume_attempts: 5,
            resume_first_pause: Duration::from_millis(200),
            resume_window: Duration::from_secs(30),
        }
    }
}
