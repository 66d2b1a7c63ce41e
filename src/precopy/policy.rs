//! When to switch to stop-and-copy, when to throttle, when to give up.
//!
//! QEMU switches over as soon as the remaining dirty bytes fit in the
//! downtime limit at the measured bandwidth. We keep iterating while a
//! round at least halves the dirty set (each extra round is short and
//! shortens the downtime), then switch once the remainder fits the limit.
//! A round that dirtied more than `throttle_trigger_percent` of what it
//! sent while not fitting the limit raises the vCPU throttle (20 %, +10 %,
//! at most 99 %). After `max_rounds` or `max_time_ns` without fitting, the
//! migration gives up and the source domain keeps running.

use super::config::MigrationConfig;

/// What one pre-copy round looked like, at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundSummary {
    /// Round just finished (0 = the full copy).
    pub round: u32,
    /// Pages the dirty log reported at the sync that ended the round.
    pub dirty_pages: u64,
    /// Pages the round sent.
    pub pages_sent: u64,
    /// Wire bytes the round sent.
    pub bytes_sent: u64,
    /// Measured bandwidth, bytes per second (`None` = not yet measured).
    pub bandwidth: Option<u64>,
    /// Average wire bytes per page so far (compression taken into account).
    pub wire_bytes_per_page: u64,
    /// Time since the migration started.
    pub elapsed_ns: u64,
}

impl RoundSummary {
    /// Time the remaining dirty pages would take at the measured bandwidth.
    pub fn expected_downtime_ns(&self) -> Option<u64> {
        let bandwidth = self.bandwidth?;
        let bytes = u128::from(self.dirty_pages) * u128::from(self.wire_bytes_per_page.max(1));
        Some(
            u64::try_from(bytes * 1_000_000_000 / u128::from(bandwidth.max(1))).unwrap_or(u64::MAX),
        )
    }
}

/// Why pre-copy was abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUpReason {
    /// `max_rounds` rounds did not bring the remainder under the limit.
    TooManyRounds {
        /// Rounds done.
        rounds: u32,
        /// Pages still dirty.
        dirty_pages: u64,
    },
    /// `max_time_ns` passed.
    TimeLimit {
        /// Time spent.
        elapsed_ns: u64,
        /// Pages still dirty.
        dirty_pages: u64,
    },
}

/// The decision at the end of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundDecision {
    /// Run another round.
    Continue,
    /// Run another round with the vCPUs throttled to this percentage.
    Throttle(u8),
    /// Suspend and send the rest.
    Switchover,
    /// Stop; the source domain keeps running.
    GiveUp(GiveUpReason),
}

/// The convergence policy's memory between rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvergencePolicy {
    config: MigrationConfig,
    previous_dirty: Option<u64>,
    throttle: u8,
}

impl ConvergencePolicy {
    /// A policy with the migration's limits.
    pub fn new(config: MigrationConfig) -> Self {
        ConvergencePolicy {
            config,
            previous_dirty: None,
            throttle: 0,
        }
    }

    /// Current throttle in percent.
    pub fn throttle(&self) -> u8 {
        self.throttle
    }

    /// Decides what follows the round `summary` describes.
    pub fn decide(&mut self, summary: &RoundSummary) -> RoundDecision {
        let previous = self.previous_dirty.replace(summary.dirty_pages);
        if summary.dirty_pages == 0 {
            return RoundDecision::Switchover;
        }
        let fits = summary
            .expected_downtime_ns()
            .is_some_and(|ns| ns <= self.config.downtime_limit_ns);
        let halving = previous.is_none_or(|before| summary.dirty_pages * 2 <= before);
        let rounds_left = summary.round + 1 < self.config.max_rounds;
        if fits && (!halving || !rounds_left) {
            return RoundDecision::Switchover;
        }
        if !rounds_left {
            return RoundDecision::GiveUp(GiveUpReason::TooManyRounds {
                rounds: summary.round + 1,
                dirty_pages: summary.dirty_pages,
            });
        }
        if summary.elapsed_ns >= self.config.max_time_ns {
            if fits {
                return RoundDecision::Switchover;
            }
            return RoundDecision::GiveUp(GiveUpReason::TimeLimit {
                elapsed_ns: summary.elapsed_ns,
                dirty_pages: summary.dirty_pages,
            });
        }
        if fits || summary.round == 0 || summary.bandwidth.is_none() {
            // Without a bandwidth estimate there is no way to tell whether
            // throttling would help: keep copying until one exists.
            return RoundDecision::Continue;
        }
        let dirtied_bytes =
            u128::from(summary.dirty_pages) * u128::from(summary.wire_bytes_per_page.max(1));
        let trigger =
            u128::from(summary.bytes_sent) * u128::from(self.config.throttle_trigger_percent) / 100;
        if dirtied_bytes > trigger && !halving && self.throttle < self.config.throttle_max {
            self.throttle = if self.throttle == 0 {
                self.config.throttle_initial
            } else {
                self.throttle.saturating_add(self.config.throttle_increment)
            }
            .min(self.config.throttle_max);
            return RoundDecision::Throttle(self.throttle);
        }
        RoundDecision::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn summary(round: u32, dirty_pages: u64, bytes_sent: u64) -> RoundSummary {
        RoundSummary {
            round,
            dirty_pages,
            pages_sent: bytes_sent / 8192,
            bytes_sent,
            bandwidth: Some(1_000_000_000),
            wire_bytes_per_page: 8192,
            elapsed_ns: u64::from(round) * 100 * MS,
        }
    }

    #[test]
    fn keeps_iterating_while_halving_then_switches() {
        let mut policy = ConvergencePolicy::new(MigrationConfig::default());
        // 10 000 pages at 1 GB/s = 82 ms: fits, but round 0 always continues.
        assert_eq!(
            policy.decide(&summary(0, 10_000, 1 << 30)),
            RoundDecision::Continue
        );
        assert_eq!(
            policy.decide(&summary(1, 1_000, 80_000_000)),
            RoundDecision::Continue
        );
        assert_eq!(
            policy.decide(&summary(2, 900, 8_000_000)),
            RoundDecision::Switchover
        );
        let mut policy = ConvergencePolicy::new(MigrationConfig::default());
        assert_eq!(
            policy.decide(&summary(0, 0, 1 << 30)),
            RoundDecision::Switchover
        );
    }

    #[test]
    fn throttles_in_steps_when_not_converging() {
        let mut policy = ConvergencePolicy::new(MigrationConfig::default());
        // 100 000 pages = 819 ms at 1 GB/s: does not fit.
        assert_eq!(
            policy.decide(&summary(0, 100_000, 1 << 30)),
            RoundDecision::Continue
        );
        assert_eq!(
            policy.decide(&summary(1, 100_000, 800_000_000)),
            RoundDecision::Throttle(20)
        );
        assert_eq!(
            policy.decide(&summary(2, 100_000, 800_000_000)),
            RoundDecision::Throttle(30)
        );
        for _ in 0..7 {
            policy.decide(&summary(3, 100_000, 800_000_000));
        }
        assert_eq!(policy.throttle(), 99);
        assert_eq!(
            policy.decide(&summary(4, 100_000, 800_000_000)),
            RoundDecision::Continue
        );
    }

    #[test]
    fn gives_up_after_the_round_and_time_limits() {
        let config = MigrationConfig {
            max_rounds: 3,
            ..MigrationConfig::default()
        };
        let mut policy = ConvergencePolicy::new(config);
        policy.decide(&summary(0, 100_000, 1 << 30));
        policy.decide(&summary(1, 100_000, 1 << 30));
        assert_eq!(
            policy.decide(&summary(2, 100_000, 1 << 30)),
            RoundDecision::GiveUp(GiveUpReason::TooManyRounds {
                rounds: 3,
                dirty_pages: 100_000
            })
        );
        let config = MigrationConfig {
            max_time_ns: 150 * MS,
            ..MigrationConfig::default()
        };
        let mut policy = ConvergencePolicy::new(config);
        policy.decide(&summary(0, 100_000, 1 << 30));
        assert!(matches!(
            policy.decide(&summary(2, 100_000, 1 << 30)),
            RoundDecision::GiveUp(GiveUpReason::TimeLimit { .. })
        ));
    }

    #[test]
    fn no_bandwidth_means_no_switch_yet() {
        let mut policy = ConvergencePolicy::new(MigrationConfig::default());
        let mut first = summary(0, 5, 1 << 20);
        first.bandwidth = None;
        assert_eq!(first.expected_downtime_ns(), None);
        assert_eq!(policy.decide(&first), RoundDecision::Continue);
    }
}
