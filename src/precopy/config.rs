//! What an administrator (or the shim) can tune in a migration.

/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const NS_PER_SECOND: u64 = 1_000_000_000;

/// Limits and policy of one migration. `Default` gives QEMU's defaults
/// where QEMU has one (300 ms downtime, 100 ms bandwidth windows, throttle
/// 20 % + 10 % up to 99 %, trigger at 50 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationConfig {
    /// Longest acceptable downtime.
    pub downtime_limit_ns: u64,
    /// Pre-copy rounds before giving up (round 0 included).
    pub max_rounds: u32,
    /// Time before giving up on a pre-copy that does not converge.
    pub max_time_ns: u64,
    /// Bandwidth measurement window.
    pub bandwidth_window_ns: u64,
    /// First throttle step in percent.
    pub throttle_initial: u8,
    /// Throttle increment per step.
    pub throttle_increment: u8,
    /// Highest throttle.
    pub throttle_max: u8,
    /// A round that dirtied more than this percentage of the bytes it sent
    /// counts as not converging.
    pub throttle_trigger_percent: u8,
    /// Pages handled per `poll` at most (bounded work).
    pub pages_per_poll: u32,
    /// How long to wait for the peer before declaring it gone.
    pub response_timeout_ns: u64,
    /// Bandwidth cap in bytes per second (0 = none), in every phase: the
    /// stop-and-copy too (its size was chosen at the capped bandwidth).
    pub max_bandwidth: u64,
    /// Workers that run the page pipeline's work
    /// ([`crate::pipeline::PagePipeline::work`]) from the host's threads or
    /// strands; 0: the state machine does it itself within `poll`
    /// (deterministic).
    pub workers: u32,
}

impl Default for MigrationConfig {
    fn default() -> Self {
        MigrationConfig {
            downtime_limit_ns: 300 * NS_PER_MS,
            max_rounds: 30,
            max_time_ns: 600 * NS_PER_SECOND,
            bandwidth_window_ns: 100 * NS_PER_MS,
            throttle_initial: 20,
            throttle_increment: 10,
            throttle_max: 99,
            throttle_trigger_percent: 50,
            pages_per_poll: 256,
            response_timeout_ns: 30 * NS_PER_SECOND,
            max_bandwidth: 0,
            workers: 0,
        }
    }
}
