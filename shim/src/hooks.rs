//! Test hooks of `ldmig serve` (hidden options): put a fault exactly at a
//! phase of a migration, with nothing depending on time.
//!
//! - `--hold-at POINT` holds every migration of that daemon's side at
//!   [`HoldPoint`] until `release-migration DOMAIN` (or a cancel). While
//!   it holds, its engine's clock stands still and the peer is told so
//!   (`PeerMessage::Held`), so neither side's timeouts run: a test does
//!   what it wants there (cut the network, kill or stop a daemon, cancel)
//!   and then releases. `release-migration --then stop|kill` makes the
//!   held daemon stop or kill itself the moment it goes on.
//! - With a hold point set, the source's guest also writes one page per
//!   page frame and per round end the engine sends ([`GuestTicks`]), so
//!   later rounds, the final pages and throttling come from counts, not
//!   from how fast the machine runs.
//! - `inject-fault out-of-memory` makes the machine refuse allocations and
//!   writes from then on (`CountingHv`'s fault switch).

use std::fmt;
use std::sync::Mutex;

/// Where a migration can be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldPoint {
    /// Source: the checks passed; nothing is locked or reserved yet.
    Setup,
    /// Source: the target reserved the domain; round 0's first pages.
    RoundZero,
    /// Source: round 0 ended (`--hold-migrations`: the target holds a
    /// half-copied domain).
    AfterRoundZero,
    /// Source: the first pages of a later round.
    LaterRounds,
    /// Source: the first round with the vCPUs throttled.
    Throttled,
    /// Source: the domain was suspended; the marker to the target.
    Suspend,
    /// Source: the first of the final (suspended) pages.
    FinalPages,
    /// Source: the first vCPU state.
    VcpuState,
    /// Source: the commit (the last frame before the target may own it).
    Commit,
    /// Target: the commit's acknowledgement.
    CommitAck,
}

/// Which side of a migration holds at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The source daemon.
    Source,
    /// The target daemon.
    Target,
}

impl HoldPoint {
    /// Every point, in the order a migration reaches them.
    pub const ALL: [HoldPoint; 10] = [
        HoldPoint::Setup,
        HoldPoint::RoundZero,
        HoldPoint::AfterRoundZero,
        HoldPoint::LaterRounds,
        HoldPoint::Throttled,
        HoldPoint::Suspend,
        HoldPoint::FinalPages,
        HoldPoint::VcpuState,
        HoldPoint::Commit,
        HoldPoint::CommitAck,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            HoldPoint::Setup => "setup",
            HoldPoint::RoundZero => "round-0",
            HoldPoint::AfterRoundZero => "after-round-0",
            HoldPoint::LaterRounds => "later-rounds",
            HoldPoint::Throttled => "throttled",
            HoldPoint::Suspend => "suspend",
            HoldPoint::FinalPages => "final-pages",
            HoldPoint::VcpuState => "vcpu-state",
            HoldPoint::Commit => "commit",
            HoldPoint::CommitAck => "commit-ack",
        }
    }

    /// The point named `name`.
    pub fn from_name(name: &str) -> Option<HoldPoint> {
        HoldPoint::ALL
            .into_iter()
            .find(|point| point.name() == name)
    }

    /// The side that holds there.
    pub fn side(self) -> Side {
        match self {
            HoldPoint::CommitAck => Side::Target,
            _ => Side::Source,
        }
    }

    fn bit(self) -> u32 {
        1 << HoldPoint::ALL
            .iter()
            .position(|point| *point == self)
            .unwrap_or(0)
    }
}

impl fmt::Display for HoldPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a held daemon does once released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterRelease {
    /// Goes on.
    #[default]
    Continue,
    /// Stops itself (`SIGSTOP`) right there, until a `SIGCONT`.
    Stop,
    /// Kills itself (`SIGKILL`) right there: a crash at that very point.
    Kill,
}

impl AfterRelease {
    /// Does it, to this process.
    pub fn apply(self) {
        let signal = match self {
            AfterRelease::Continue => return,
            AfterRelease::Stop => libc::SIGSTOP,
            AfterRelease::Kill => libc::SIGKILL,
        };
        // SAFETY: raise has no memory preconditions; SIGSTOP and SIGKILL
        // cannot be caught, so no handler runs in this thread.
        unsafe {
            libc::raise(signal);
        }
    }
}

/// The test hooks a daemon runs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseHooks {
    /// Hold this daemon's side of every migration there.
    pub hold_at: Option<HoldPoint>,
}

impl PhaseHooks {
    /// True when a point is set (and the source's guest ticks with frames).
    pub fn enabled(&self) -> bool {
        self.hold_at.is_some()
    }

    /// True when migrations hold at `point` on this daemon.
    pub fn holds(&self, point: HoldPoint) -> bool {
        self.hold_at == Some(point)
    }
}

/// The points a migration already held at (each holds once).
#[derive(Debug, Default)]
pub struct HeldPoints(Mutex<u32>);

impl HeldPoints {
    /// True the first time it is asked for `point`.
    pub fn first_time(&self, point: HoldPoint) -> bool {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = *held & point.bit() == 0;
        *held |= point.bit();
        first
    }
}

/// The time an engine's clock stood still: its own holds and the peer's,
/// overlapping or not, counted once.
#[derive(Debug, Default)]
pub struct Pauses(Mutex<PauseBook>);

#[derive(Debug, Default)]
struct PauseBook {
    open: u32,
    since: u64,
    total: u64,
}

impl Pauses {
    fn book(&self) -> std::sync::MutexGuard<'_, PauseBook> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A pause begins at `now` (nanoseconds of the daemon's clock).
    pub fn begin(&self, now: u64) {
        let mut book = self.book();
        if book.open == 0 {
            book.since = now;
        }
        book.open += 1;
    }

    /// A pause ends at `now` (one that began; extra ends are ignored).
    pub fn end(&self, now: u64) {
        let mut book = self.book();
        if book.open == 0 {
            return;
        }
        book.open -= 1;
        if book.open == 0 {
            book.total += now.saturating_sub(book.since);
        }
    }

    /// Time paused up to `now`.
    pub fn total(&self, now: u64) -> u64 {
        let book = self.book();
        book.total
            + if book.open > 0 {
                now.saturating_sub(book.since)
            } else {
                0
            }
    }
}

/// The deterministic guest of a migration under test hooks: one page
/// written per tick, cycling through the domain's first block.
#[derive(Debug, Default)]
pub struct GuestTicks(Mutex<u64>);

impl GuestTicks {
    /// The next tick's number (from 1).
    pub fn next(&self) -> u64 {
        let mut ticks = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *ticks += 1;
        *ticks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_have_names_and_sides() {
        for point in HoldPoint::ALL {
            assert_eq!(HoldPoint::from_name(point.name()), Some(point));
        }
        assert_eq!(HoldPoint::from_name("lunch"), None);
        assert_eq!(HoldPoint::CommitAck.side(), Side::Target);
        assert_eq!(HoldPoint::Commit.side(), Side::Source);
        let hooks = PhaseHooks {
            hold_at: Some(HoldPoint::Suspend),
        };
        assert!(hooks.enabled() && hooks.holds(HoldPoint::Suspend));
        assert!(!hooks.holds(HoldPoint::Commit));
        assert!(!PhaseHooks::default().enabled());
    }

    #[test]
    fn each_point_holds_once() {
        let held = HeldPoints::default();
        assert!(held.first_time(HoldPoint::Commit));
        assert!(!held.first_time(HoldPoint::Commit));
        assert!(held.first_time(HoldPoint::Setup));
    }

    #[test]
    fn overlapping_pauses_count_once() {
        let pauses = Pauses::default();
        assert_eq!(pauses.total(100), 0);
        pauses.begin(100);
        pauses.begin(150);
        assert_eq!(pauses.total(170), 70);
        pauses.end(200);
        pauses.end(300);
        pauses.end(400);
        assert_eq!(pauses.total(1000), 200);
        pauses.begin(1000);
        pauses.end(1010);
        assert_eq!(pauses.total(2000), 210);
    }
}
