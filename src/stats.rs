//! Migration statistics, named after QEMU's `query-migrate` where they fit.

use crate::page::PAGE_SIZE;
use crate::wire::PageEncoding;

/// Where a migration stands (QEMU's `status` values where they fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationStatus {
    /// Negotiating and reserving the target.
    Setup,
    /// Pre-copy rounds while the domain runs.
    Active,
    /// Domain suspended: last pages and vCPU state.
    Switchover,
    /// Final state sent; waiting for the target's acknowledgement.
    Committing,
    /// The domain runs on the target.
    Completed,
    /// Stopped by cancel; the source domain runs.
    Cancelled,
    /// Stopped by an error; see the failure.
    Failed,
}

impl MigrationStatus {
    /// QEMU-style lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MigrationStatus::Setup => "setup",
            MigrationStatus::Active => "active",
            MigrationStatus::Switchover => "device",
            MigrationStatus::Committing => "pre-switchover",
            MigrationStatus::Completed => "completed",
            MigrationStatus::Cancelled => "cancelled",
            MigrationStatus::Failed => "failed",
        }
    }

    /// True once the migration will make no more progress.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MigrationStatus::Completed | MigrationStatus::Cancelled | MigrationStatus::Failed
        )
    }
}

/// Counters of one migration (either side). Times are nanoseconds of the
/// caller's clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MigrationStats {
    /// Status.
    pub status: MigrationStatus,
    /// Since the start.
    pub total_time_ns: u64,
    /// From start to the first page sent (negotiation and reservation).
    pub setup_time_ns: u64,
    /// From suspension to resumption (0 until known).
    pub downtime_ns: u64,
    /// Remaining dirty data at the last sync over the measured bandwidth.
    pub expected_downtime_ns: u64,
    /// Bytes sent on the wire (frames, headers included).
    pub transferred: u64,
    /// Bytes of guest memory still to send (dirty pages at the last sync
    /// minus those sent since).
    pub remaining: u64,
    /// Bytes of guest memory.
    pub total: u64,
    /// Zero pages sent (header only): QEMU's `duplicate`.
    pub duplicate: u64,
    /// Non-zero pages sent: QEMU's `normal`.
    pub normal: u64,
    /// Uncompressed bytes of the normal pages.
    pub normal_bytes: u64,
    /// Normal pages sent as LZ4 blocks.
    pub compressed_pages: u64,
    /// Of the compressed pages, those whose LZ4 block came from the deeper
    /// search ([`crate::wire::lz4_deep`]), chosen while the link bounded
    /// the migration (source only).
    pub deep_compressed_pages: u64,
    /// Normal pages sent as they are (raw records): LZ4 did not shrink
    /// them, or compressing did not pay on this link.
    pub raw_pages: u64,
    /// Normal pages sent as a delta against the version last sent (QEMU's
    /// `xbzrle-cache.pages`).
    pub delta_pages: u64,
    /// Re-sent pages whose last version was not in the delta cache (QEMU's
    /// `xbzrle-cache.cache-miss`; source only).
    pub delta_cache_misses: u64,
    /// Wire bytes (record data) of the normal pages.
    pub normal_wire_bytes: u64,
    /// Pages dirtied per second during the last round.
    pub dirty_pages_rate: u64,
    /// Measured link bandwidth in bytes per second (0 = not yet).
    pub bandwidth: u64,
    /// Dirty-log syncs done.
    pub dirty_sync_count: u64,
    /// Dirty pages the last dirty-log sync found: what the round it began
    /// (or the stop-and-copy) sends.
    pub dirty_pages_at_sync: u64,
    /// vCPU throttle in percent.
    pub cpu_throttle_percentage: u8,
    /// Pre-copy rounds done.
    pub rounds: u32,
    /// Bytes sent while the domain ran.
    pub precopy_bytes: u64,
    /// Bytes sent while the domain was suspended.
    pub downtime_bytes: u64,
    /// Progress in percent (100 only when completed).
    pub progress_percent: u8,
    /// Page records sent (source) or applied (target).
    pub page_records: u64,
}

impl MigrationStats {
    /// Fresh counters.
    pub const fn new() -> Self {
        MigrationStats {
            status: MigrationStatus::Setup,
            total_time_ns: 0,
            setup_time_ns: 0,
            downtime_ns: 0,
            expected_downtime_ns: 0,
            transferred: 0,
            remaining: 0,
            total: 0,
            duplicate: 0,
            normal: 0,
            normal_bytes: 0,
            compressed_pages: 0,
            deep_compressed_pages: 0,
            raw_pages: 0,
            delta_pages: 0,
            delta_cache_misses: 0,
            normal_wire_bytes: 0,
            dirty_pages_rate: 0,
            bandwidth: 0,
            dirty_sync_count: 0,
            dirty_pages_at_sync: 0,
            cpu_throttle_percentage: 0,
            rounds: 0,
            precopy_bytes: 0,
            downtime_bytes: 0,
            progress_percent: 0,
            page_records: 0,
        }
    }

    /// Measured bandwidth in megabits per second, QEMU's `mbps`.
    pub fn mbps(&self) -> f64 {
        self.bandwidth as f64 * 8.0 / 1_000_000.0
    }

    /// Uncompressed over compressed bytes of the normal pages (1.0 when none).
    pub fn compression_ratio(&self) -> f64 {
        if self.normal_wire_bytes == 0 {
            1.0
        } else {
            self.normal_bytes as f64 / self.normal_wire_bytes as f64
        }
    }

    /// Counts one page record of `encoding` with `data_bytes` of data.
    pub fn count_record(&mut self, encoding: PageEncoding, data_bytes: usize) {
        self.count_records(encoding, 1, data_bytes as u64);
    }

    /// Counts `records` page records of `encoding` with `data_bytes` of
    /// data between them.
    pub fn count_records(&mut self, encoding: PageEncoding, records: u64, data_bytes: u64) {
        self.page_records += records;
        if encoding == PageEncoding::Zero {
            self.duplicate += records;
            return;
        }
        self.normal += records;
        self.normal_bytes += records * PAGE_SIZE as u64;
        self.normal_wire_bytes += data_bytes;
        match encoding {
            PageEncoding::Lz4 => self.compressed_pages += records,
            PageEncoding::Raw => self.raw_pages += records,
            PageEncoding::Delta => self.delta_pages += records,
            PageEncoding::Zero => {}
        }
    }
}

impl Default for MigrationStats {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_ratios() {
        let mut stats = MigrationStats::new();
        assert_eq!(stats.compression_ratio(), 1.0);
        stats.count_record(PageEncoding::Zero, 0);
        stats.count_record(PageEncoding::Lz4, 2048);
        stats.count_record(PageEncoding::Raw, PAGE_SIZE);
        assert_eq!(
            (stats.duplicate, stats.normal, stats.compressed_pages),
            (1, 2, 1)
        );
        assert_eq!(stats.normal_bytes, 2 * PAGE_SIZE as u64);
        assert!((stats.compression_ratio() - 16384.0 / 10240.0).abs() < 1e-9);
        stats.count_records(PageEncoding::Delta, 3, 300);
        assert_eq!(
            (stats.raw_pages, stats.delta_pages, stats.normal),
            (1, 3, 5)
        );
        assert_eq!(stats.page_records, 6);
        stats.bandwidth = 125_000_000;
        assert!((stats.mbps() - 1000.0).abs() < 1e-9);
        assert!(MigrationStatus::Completed.is_final() && !MigrationStatus::Active.is_final());
        assert_eq!(MigrationStatus::Switchover.name(), "device");
    }
}
