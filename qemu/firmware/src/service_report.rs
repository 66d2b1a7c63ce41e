//! What the service domain tells the hypervisor at the end
//! (`FIRMWARE_REPORT`): the conformance suite's counts and everything the
//! migration showed. Both sides are this image, so the layout is simply
//! this `repr(C)` struct of 64-bit words; the hypervisor checks the magic
//! and the length before it believes a byte.

use crate::call_table::MIGRATION_CALLS;

/// "LDMGRPT1".
pub const SERVICE_REPORT_MAGIC: u64 = 0x4c44_4d47_5250_5431;

/// How the migration ended, as the report carries it (0 invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum MigrationEnd {
    /// `Outcome::Completed`: the domain runs on the target.
    Completed = 1,
    /// `Outcome::Failed`.
    Failed = 2,
    /// `Outcome::Cancelled`.
    Cancelled = 3,
    /// `Outcome::GaveUp`: pre-copy did not converge.
    GaveUp = 4,
    /// The engines did not finish within the driver's limits.
    DidNotFinish = 5,
    /// An engine could not be set up.
    SetupFailed = 6,
}

impl MigrationEnd {
    /// Parses the report's word.
    pub fn from_raw(raw: u64) -> Option<Self> {
        [
            MigrationEnd::Completed,
            MigrationEnd::Failed,
            MigrationEnd::Cancelled,
            MigrationEnd::GaveUp,
            MigrationEnd::DidNotFinish,
            MigrationEnd::SetupFailed,
        ]
        .into_iter()
        .find(|end| *end as u64 == raw)
    }

    /// The JSON `status` (QEMU's `query-migrate` words where they fit).
    pub fn name(self) -> &'static str {
        match self {
            MigrationEnd::Completed => "completed",
            MigrationEnd::Failed => "failed",
            MigrationEnd::Cancelled => "cancelled",
            MigrationEnd::GaveUp => "gave-up",
            MigrationEnd::DidNotFinish => "did-not-finish",
            MigrationEnd::SetupFailed => "setup-failed",
        }
    }
}

/// The service domain's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ServiceReport {
    /// [`SERVICE_REPORT_MAGIC`].
    pub magic: u64,
    /// Conformance functions that passed.
    pub conformance_passed: u64,
    /// Conformance functions that failed.
    pub conformance_failed: u64,
    /// A [`MigrationEnd`].
    pub migration_end: u64,
    /// The engine's `StopReason` of a failure (0: none).
    pub failure_reason: u64,
    /// The hypervisor status behind a failure (0: none).
    pub failure_status: u64,
    /// The guest migrated.
    pub source_domain: u64,
    /// The domain it became on the target.
    pub target_domain: u64,
    /// Pre-copy rounds (round 0 included).
    pub rounds: u64,
    /// Page records the source sent.
    pub pages_sent: u64,
    /// Of which zero pages.
    pub zero_pages: u64,
    /// Of which LZ4 pages.
    pub lz4_pages: u64,
    /// Pages the dirty log reported after the first sync: written by the
    /// guest while pre-copy ran.
    pub pages_dirtied_during_precopy: u64,
    /// Dirty-log syncs.
    pub dirty_syncs: u64,
    /// Suspension on the source to resumption on the target, as the source
    /// engine measured it, less the switchover check's time.
    pub downtime_ns: u64,
    /// The switchover check's time (part of what the engine measured).
    pub check_ns: u64,
    /// The whole migration.
    pub total_time_ns: u64,
    /// Bytes on the link.
    pub transferred_bytes: u64,
    /// Of which while the domain was suspended.
    pub downtime_bytes: u64,
    /// Highest throttle applied.
    pub throttle_percent: u64,
    /// Pages compared at switchover.
    pub pages_compared: u64,
    /// Of which differing.
    pub differing_pages: u64,
    /// RA of the first differing page (0: none).
    pub first_differing_ra: u64,
    /// RA damaged by `--corrupt-page` (0: none).
    pub corrupted_ra: u64,
    /// 1 if memory was identical at switchover.
    pub memory_identical: u64,
    /// vCPUs compared at switchover.
    pub vcpus_compared: u64,
    /// 1 if every vCPU state was identical at switchover.
    pub vcpu_state_identical: u64,
    /// A call of the switchover check failed (status; 0: none).
    pub check_status: u64,
    /// The guest's progress counter at suspension (source copy).
    pub progress_at_switchover: u64,
    /// The guest's progress counter on the target at the end.
    pub progress_on_target: u64,
    /// Damaged pages the guest found itself, on the target.
    pub guest_errors: u64,
    /// 1 if the source domain is gone (`MIG_DOMAIN_INFO` is EINVAL).
    pub source_destroyed: u64,
    /// Times the driver polled the engines.
    pub polls: u64,
    /// The engines' calls per MIGRATION function (call_table.rs order).
    pub engine_calls: [u64; MIGRATION_CALLS.len()],
}

impl ServiceReport {
    /// Bytes of the report.
    pub const BYTES: u64 = core::mem::size_of::<ServiceReport>() as u64;
}
