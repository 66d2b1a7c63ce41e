//! A migration's story over time: the samples a client collects from the
//! daemon's progress events (bytes sent per window, the remaining dirty set,
//! the vCPU throttle, the bandwidth estimate), the dirty set of each round
//! and the switchover the daemon notes as the engine reports them, written
//! as JSON lines (`--timeline FILE.jsonl`) or drawn (`--plot FILE.svg`,
//! [`plot`]).
//!
//! Times are the source engine's clock, milliseconds since the migration
//! started (`total_time_ms`).

pub mod plot;

use crate::control::MigrationInfo;
use ldmig::stats::{MigrationStats, MigrationStatus};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The most rounds a migration's information keeps marks of: the engine's
/// policy gives up long before; past it the marks stop growing.
pub const MAX_ROUND_MARKS: usize = 1024;

/// The dirty set the engine synced at the start of a round: the pages that
/// round sends. The mark taken at the suspension (`stop_and_copy`) holds
/// what the stop-and-copy sends.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RoundMark {
    /// The round that starts (0: the first pass over all memory).
    pub round: u32,
    /// When, in milliseconds since the start.
    pub at_ms: f64,
    /// Dirty pages to send in it.
    pub dirty_pages: u64,
    /// Taken when the domain was suspended: the last pages.
    #[serde(default)]
    pub stop_and_copy: bool,
}

/// Notes in `info` (before the daemon copies `stats` in) the round that
/// starts when the engine synced its dirty log again, and the moment of the
/// switchover: the first engine poll that reports a status past `active`
/// (the engine may go through `device` within one poll; the time is that
/// poll's, within one poll of the suspension).
pub fn note_rounds(info: &mut MigrationInfo, stats: &MigrationStats) {
    let at_ms = stats.total_time_ns as f64 / 1e6;
    let switched = matches!(
        stats.status,
        MigrationStatus::Switchover | MigrationStatus::Committing | MigrationStatus::Completed
    );
    if stats.dirty_sync_count > info.dirty_sync_count && info.round_marks.len() < MAX_ROUND_MARKS {
        info.round_marks.push(RoundMark {
            round: stats.rounds,
            at_ms,
            dirty_pages: stats.dirty_pages_at_sync,
            stop_and_copy: switched,
        });
    }
    if switched && info.switchover_at_ms.is_none() {
        info.switchover_at_ms = Some(at_ms);
    }
}

/// One progress sample.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Milliseconds since the start.
    pub t_ms: f64,
    /// QEMU-style status (setup, active, device, ..., completed).
    pub status: String,
    /// Pre-copy rounds done.
    pub round: u32,
    /// Bytes sent since the previous sample.
    pub sent_bytes: u64,
    /// Milliseconds since the previous sample (the window `sent_bytes`
    /// went in).
    pub window_ms: f64,
    /// Bytes sent in all.
    pub transferred_bytes: u64,
    /// Bytes of guest memory still dirty.
    pub remaining_bytes: u64,
    /// Pages dirtied per second in the last round.
    pub dirty_pages_rate: u64,
    /// The engine's link bandwidth estimate, megabits per second.
    pub bandwidth_mbps: f64,
    /// vCPU throttle in percent.
    pub cpu_throttle_percentage: u8,
    /// Progress in percent.
    pub progress_percent: u8,
}

impl Sample {
    /// The rate of the window, megabytes (10^6 bytes) per second.
    pub fn sent_mb_per_s(&self) -> f64 {
        if self.window_ms <= 0.0 {
            0.0
        } else {
            self.sent_bytes as f64 / 1e3 / self.window_ms
        }
    }
}

/// How the migration ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Ending {
    /// Final status.
    pub status: String,
    /// Total time in milliseconds.
    pub total_time_ms: f64,
    /// Downtime in milliseconds.
    pub downtime_ms: f64,
    /// When the domain was suspended (the switchover began), if it was.
    pub switchover_at_ms: Option<f64>,
    /// Pre-copy rounds.
    pub rounds: u32,
    /// Bytes sent.
    pub transferred_bytes: u64,
    /// Bytes of guest memory.
    pub total_bytes: u64,
}

/// One line of the `--timeline` file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Line {
    /// The migration this file tells of.
    Migration {
        /// The domain.
        domain: String,
        /// The target (or source, on the target side).
        peer: String,
    },
    /// A progress sample.
    Sample(Sample),
    /// A round's dirty set.
    Round(RoundMark),
    /// The end.
    End(Ending),
}

/// The samples of one migration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// The domain.
    pub domain: String,
    /// The peer.
    pub peer: String,
    /// Progress samples, in time order.
    pub samples: Vec<Sample>,
    /// The dirty set of each round (from the daemon's latest information).
    pub rounds: Vec<RoundMark>,
    /// How it ended, once it did.
    pub ending: Option<Ending>,
}

impl Timeline {
    /// An empty timeline of `domain`'s migration.
    pub fn new(domain: &str) -> Timeline {
        Timeline {
            domain: domain.to_string(),
            ..Timeline::default()
        }
    }

    /// Adds a sample of a progress event (one no later than the last
    /// sample replaces nothing and is dropped).
    pub fn record(&mut self, info: &MigrationInfo) {
        let (previous_ms, previous_bytes) = self
            .samples
            .last()
            .map_or((0.0, 0), |last| (last.t_ms, last.transferred_bytes));
        if !self.samples.is_empty() && info.total_time_ms <= previous_ms {
            return;
        }
        self.peer.clone_from(&info.peer);
        self.rounds.clone_from(&info.round_marks);
        self.samples.push(Sample {
            t_ms: info.total_time_ms,
            status: info.status.clone(),
            round: info.rounds,
            sent_bytes: info.transferred_bytes.saturating_sub(previous_bytes),
            window_ms: info.total_time_ms - previous_ms,
            transferred_bytes: info.transferred_bytes,
            remaining_bytes: info.remaining_bytes,
            dirty_pages_rate: info.dirty_pages_rate,
            bandwidth_mbps: info.mbps,
            cpu_throttle_percentage: info.cpu_throttle_percentage,
            progress_percent: info.progress_percent,
        });
    }

    /// Adds the final statistics: the last sample, every round, the ending.
    pub fn finish(&mut self, info: &MigrationInfo) {
        self.record(info);
        self.rounds.clone_from(&info.round_marks);
        self.ending = Some(Ending {
            status: info.status.clone(),
            total_time_ms: info.total_time_ms,
            downtime_ms: info.downtime_ms,
            switchover_at_ms: info.switchover_at_ms,
            rounds: info.rounds,
            transferred_bytes: info.transferred_bytes,
            total_bytes: info.total_bytes,
        });
    }

    /// The lines of the `--timeline` file: the migration, the samples, the
    /// rounds, the end.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = vec![Line::Migration {
            domain: self.domain.clone(),
            peer: self.peer.clone(),
        }];
        lines.extend(self.samples.iter().cloned().map(Line::Sample));
        lines.extend(self.rounds.iter().copied().map(Line::Round));
        lines.extend(self.ending.iter().cloned().map(Line::End));
        lines
    }

    /// The `--timeline` file's text: one JSON object a line.
    pub fn to_json_lines(&self) -> String {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::to_string(line).ok())
            .map(|mut text| {
                text.push('\n');
                text
            })
            .collect()
    }

    /// Reads a timeline back from the text of a `--timeline` file.
    pub fn from_json_lines(text: &str) -> Result<Timeline, serde_json::Error> {
        let mut timeline = Timeline::default();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            match serde_json::from_str::<Line>(line)? {
                Line::Migration { domain, peer } => {
                    timeline.domain = domain;
                    timeline.peer = peer;
                }
                Line::Sample(sample) => timeline.samples.push(sample),
                Line::Round(mark) => timeline.rounds.push(mark),
                Line::End(ending) => timeline.ending = Some(ending),
            }
        }
        Ok(timeline)
    }

    /// Writes the `--timeline` file.
    pub fn write_json_lines(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_json_lines())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(t_ms: f64, transferred: u64, rounds: u32) -> MigrationInfo {
        MigrationInfo {
            status: "active".into(),
            total_time_ms: t_ms,
            transferred_bytes: transferred,
            rounds,
            ..MigrationInfo::default()
        }
    }

    #[test]
    fn samples_hold_the_bytes_of_their_window_and_skip_stale_events() {
        let mut timeline = Timeline::new("ldg1");
        timeline.record(&info(100.0, 1_000_000, 0));
        timeline.record(&info(200.0, 3_000_000, 0));
        timeline.record(&info(200.0, 3_000_000, 0));
        timeline.record(&info(150.0, 2_000_000, 0));
        assert_eq!(timeline.samples.len(), 2);
        let second = &timeline.samples[1];
        assert_eq!(second.sent_bytes, 2_000_000);
        assert_eq!(second.window_ms, 100.0);
        assert_eq!(second.sent_mb_per_s(), 20.0);
        assert_eq!(timeline.samples[0].sent_bytes, 1_000_000);
    }

    #[test]
    fn rounds_are_marked_at_each_dirty_log_sync_and_the_switchover_once() {
        let mut stats = MigrationStats::new();
        let mut info = MigrationInfo::default();
        let mut step = |info: &mut MigrationInfo, syncs, rounds, dirty, status: MigrationStatus| {
            stats.dirty_sync_count = syncs;
            stats.rounds = rounds;
            stats.dirty_pages_at_sync = dirty;
            stats.status = status;
            stats.total_time_ns += 1_000_000;
            note_rounds(info, &stats);
            info.dirty_sync_count = syncs;
            info.status = status.name().to_string();
        };
        step(&mut info, 0, 0, 0, MigrationStatus::Setup);
        step(&mut info, 1, 0, 100, MigrationStatus::Active);
        step(&mut info, 1, 0, 100, MigrationStatus::Active);
        step(&mut info, 2, 1, 30, MigrationStatus::Active);
        step(&mut info, 3, 2, 4, MigrationStatus::Active);
        // The suspension and its sync, then the commit, in one poll.
        step(&mut info, 4, 2, 1, MigrationStatus::Committing);
        step(&mut info, 4, 2, 1, MigrationStatus::Completed);
        let marks: Vec<(u32, u64, bool)> = info
            .round_marks
            .iter()
            .map(|mark| (mark.round, mark.dirty_pages, mark.stop_and_copy))
            .collect();
        assert_eq!(
            marks,
            [(0, 100, false), (1, 30, false), (2, 4, false), (2, 1, true)]
        );
        assert_eq!(info.round_marks[1].at_ms, 4.0);
        assert_eq!(info.switchover_at_ms, Some(6.0));
    }

    #[test]
    fn the_json_lines_read_back_as_the_same_timeline() {
        let mut timeline = Timeline::new("ldg1");
        timeline.record(&info(100.0, 1_000_000, 0));
        let mut last = info(180.0, 1_500_000, 3);
        last.status = "completed".into();
        last.downtime_ms = 2.5;
        last.switchover_at_ms = Some(175.0);
        last.round_marks = vec![RoundMark {
            round: 0,
            at_ms: 1.0,
            dirty_pages: 128,
            stop_and_copy: false,
        }];
        timeline.finish(&last);
        let text = timeline.to_json_lines();
        assert_eq!(text.lines().count(), 1 + 2 + 1 + 1, "{text}");
        assert!(text.starts_with("{\"type\":\"migration\""), "{text}");
        assert_eq!(Timeline::from_json_lines(&text).ok(), Some(timeline));
        assert!(Timeline::from_json_lines("{\"type\":\"nonsense\"}").is_err());
    }
}
