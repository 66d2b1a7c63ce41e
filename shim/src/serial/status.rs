//! A machine's `MachineStatus` as the shim's listings show it: the
//! migration's statistics with QEMU's names ([`MigrationInfo`]) and what
//! only a machine behind a serial line has ([`SerialEngineInfo`]).

use super::machine::MachineView;
use crate::control::MigrationInfo;
use ldmig::stats::MigrationStatus;
use ldmig::wire::messages::StopReason;
use ldmig::wire::serial::{MachineStatus, GUEST_PRESENT, GUEST_RUNNING};
use serde::{Deserialize, Serialize};

/// What a migration through a machine's serial line adds to its
/// statistics.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SerialEngineInfo {
    /// The link the engine's frames crossed to this shim: `uart`.
    pub link: String,
    /// Bytes on this machine's serial line, both ways, since the shim
    /// connected (records, their framing, console text).
    pub line_bytes: u64,
    /// Records sent again (a Nak or a timeout), by either end of the line.
    pub records_resent: u64,
    /// Records received damaged, by either end of the line.
    pub records_damaged: u64,
    /// The guest's progress counter, as its machine reads it.
    pub guest_progress: u64,
    /// That counter when the guest stopped for the switchover.
    pub guest_progress_at_switchover: u64,
    /// The guest runs on this machine.
    pub guest_running: bool,
}

/// Fills `info` from the machine's status and its line's counters.
pub fn migration_info(status: &MachineStatus, view: &MachineView, info: &mut MigrationInfo) {
    let ms = |ns: u64| ns as f64 / 1e6;
    let phase = status
        .phase
        .get()
        .map_or(MigrationStatus::Setup, MigrationStatus::from);
    info.status = phase.name().to_string();
    info.progress_percent = status.percent;
    info.total_time_ms = ms(status.total_time_ns.get());
    info.downtime_ms = ms(status.downtime_ns.get());
    info.expected_downtime_ms = ms(status.expected_downtime_ns.get());
    info.rounds = status.rounds.get();
    info.transferred_bytes = status.transferred.get();
    info.remaining_bytes = status.remaining.get();
    info.total_bytes = status.total.get();
    info.zero_pages = status.zero_pages.get();
    info.normal_pages = status.normal_pages.get();
    info.compressed_pages = status.compressed_pages.get();
    info.mbps = status.bandwidth.get() as f64 * 8.0 / 1e6;
    info.dirty_sync_count = status.dirty_syncs.get();
    info.cpu_throttle_percentage = status.throttle;
    let digest = |value: u64| (value != 0).then(|| format!("{value:016x}"));
    info.memory_digest = digest(status.memory_digest.get());
    info.vcpu_digest = digest(status.vcpu_digest.get());
    if phase == MigrationStatus::Failed {
        let reason = StopReason::from_raw(status.stop_reason.get())
            .map_or("an engine failure", StopReason::describe);
        info.result = Some(format!(
            "failed: {reason} (hypervisor status {})",
            status.hv_status.get()
        ));
    }
    let statistics = view.statistics;
    info.serial = Some(SerialEngineInfo {
        link: "uart".into(),
        line_bytes: statistics.line_bytes_in + statistics.line_bytes_out,
        records_resent: statistics.records_resent + u64::from(status.records_resent.get()),
        records_damaged: statistics.records_damaged + u64::from(status.records_damaged.get()),
        guest_progress: status.guest_progress.get(),
        guest_progress_at_switchover: status.progress_at_switchover.get(),
        guest_running: status.guest_flags & GUEST_RUNNING != 0,
    });
}

/// Whether the machine has a guest now.
pub fn guest_present(status: &MachineStatus) -> bool {
    status.guest_flags & GUEST_PRESENT != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig::wire::serial::{MachinePhase, MachineRole, MachineState};
    use zerocopy::FromZeros;

    #[test]
    fn a_status_reads_as_the_migration_statistics() {
        let mut status = MachineStatus::new_zeroed();
        status.role = MachineRole::Target.into();
        status.state = MachineState::Finished.into();
        status.phase = MachinePhase::Completed.into();
        status.percent = 100;
        status.rounds = 3.into();
        status.downtime_ns = 1_500_000.into();
        status.bandwidth = 50_000.into();
        status.memory_digest = 0xabc.into();
        status.guest_flags = GUEST_PRESENT | GUEST_RUNNING;
        status.guest_progress = 90.into();
        status.progress_at_switchover = 40.into();
        status.records_resent = 2.into();
        let mut view = MachineView::default();
        view.statistics.line_bytes_in = 1000;
        view.statistics.line_bytes_out = 24;
        view.statistics.records_resent = 1;
        let mut info = MigrationInfo::default();
        migration_info(&status, &view, &mut info);
        assert_eq!(info.status, "completed");
        assert_eq!(info.rounds, 3);
        assert_eq!(info.downtime_ms, 1.5);
        assert_eq!(info.mbps, 0.4);
        assert_eq!(info.memory_digest.as_deref(), Some("0000000000000abc"));
        assert_eq!(info.vcpu_digest, None);
        let serial = info.serial.clone().expect("serial facts");
        assert_eq!(serial.line_bytes, 1024);
        assert_eq!(serial.records_resent, 3);
        assert_eq!(
            (serial.guest_progress, serial.guest_progress_at_switchover),
            (90, 40)
        );
        assert!(serial.guest_running);
        assert!(guest_present(&status));
        status.phase = MachinePhase::Failed.into();
        status.stop_reason = StopReason::DidNotConverge.raw().into();
        migration_info(&status, &view, &mut info);
        assert_eq!(
            info.result.as_deref(),
            Some("failed: pre-copy did not converge (hypervisor status 0)")
        );
    }
}
