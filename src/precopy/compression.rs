//! Adaptive compression: each bandwidth window the source compares the
//! link's measured bandwidth with the workers' measured encode rate and the
//! pages' measured LZ4 ratio, and picks, per page kind, the share of pages
//! to compress that finishes soonest.
//!
//! Per page, carrying a fraction `f` of the non-zero pages as LZ4 and the
//! rest raw costs
//!
//! ```text
//! wire(f) = f * lz4_bytes + (1 - f) * raw_bytes        bytes on the link
//! work(f) = f * lz4_ns    + (1 - f) * raw_ns           worker time
//! time(f) = max(wire(f) / bandwidth, work(f) / workers)
//! ```
//!
//! Both terms are linear in `f`, so the best `f` is 0, 1 or where they
//! cross; the policy takes the least of the three. A fast link (or a
//! link that is not the bottleneck) gets raw pages, never slowed by
//! compression that does not pay; a slow one gets LZ4 on every page.
//! Re-sent pages go as a delta against the version last sent whenever it
//! is shorter than what LZ4 would send (or than a raw page, when raw is
//! chosen).
//!
//! The bandwidth is measured separately for the windows that sent mostly
//! raw pages and those that sent mostly LZ4, since a link can share the
//! machine's CPU with the workers (both ends on one host, or a relay
//! that encrypts): then raw pages leave the link more CPU and the two
//! measures differ, and the comparison uses each. Each measure is a mean
//! over the windows of its mode (weight 1/2 for the newest), so that it
//! follows the link as the load on the machine changes; a window in which
//! the round ran out of pages to send (its end, and the wait for the
//! target) measures the round, not the link, and does not count. The mode
//! not in use is measured again when its measure is older than
//! [`PROBE_INTERVAL_WINDOWS`] windows, except under a bandwidth cap, which
//! is the same bound for both.
//!
//! When every page is compressed and the link still bounds the time (a
//! capped or slow link, the workers waiting on it), a share of the LZ4
//! pages is encoded by the deeper search of [`crate::wire::lz4_deep`]:
//! fewer bytes for more worker time. With `h` that share,
//!
//! ```text
//! wire(h) = lz4_bytes - h * (lz4_bytes - deep_bytes)
//! work(h) = lz4_ns    + h * (deep_ns - lz4_ns)
//! ```
//!
//! and the policy takes [`DEEP_TARGET_PERCENT`] of the `h` where
//! `wire(h) / bandwidth = work(h) / workers`, so that the workers keep
//! some slack. It measures the deep search on a small share
//! ([`DEEP_PROBE`]) first, and again [`PROBE_INTERVAL_WINDOWS`] after it
//! last found that the deep search does not pay. A window in which the
//! link waited for the workers in most polls while deep pages were asked
//! for ([`CompressionPolicy::note_workers_behind`]) cuts the share by a
//! quarter at once and does not measure the link; the share grows by
//! [`DEEP_STEP`] a window at most. The bytes a deep page saves are
//! measured as a ratio to the LZ4 pages of the same window (the two ways
//! are interleaved, so their pages are alike), not as two separate means
//! of different pages.
//!
//! The window right after a change of mode is not measured: the frames
//! already encoded the old way (the workers' batches, the transport's and
//! the relay's buffers: several MiB) leave during it, so its bandwidth is
//! the old mode's. Measured anyway, a probe of raw pages on a loopback link
//! saw about the LZ4 rate, took the two modes for one link and settled on a
//! mix that ran at a third of the raw rate for the whole migration.

use crate::page::PAGE_SIZE;
use crate::pipeline::{Method, PageKind, RateSnapshot};
use crate::wire::record::{EncodeChoice, RECORD_HEADER_BYTES};

/// Windows between two measures of the mode not in use.
pub const PROBE_INTERVAL_WINDOWS: u32 = 20;
/// Per mille: the whole range of the compressed share.
const ALL: u32 = 1000;
/// Measures of the two modes this close are one link (the mix may pay).
const SAME_LINK_PERCENT: u64 = 25;
/// Percent of the share where link and workers meet that the deep search
/// is given.
pub const DEEP_TARGET_PERCENT: u64 = 90;
/// Per mille of the LZ4 pages that measure the deep search first.
pub const DEEP_PROBE: u32 = 50;
/// Per mille the deep share grows by per window at most.
pub const DEEP_STEP: u32 = 50;
/// Bytes of a raw record.
const RAW_RECORD_BYTES: u64 = (RECORD_HEADER_BYTES + PAGE_SIZE) as u64;

/// An exponentially weighted mean (weight 1/4 for each new value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mean(Option<u64>);

impl Mean {
    fn add(&mut self, value: u64) {
        self.0 = Some(match self.0 {
            None => value,
            Some(mean) => (mean * 3 + value) / 4,
        });
    }
}

/// The link as measured while sending mostly one way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LinkMeasure {
    /// Bytes per second.
    bandwidth: u64,
    /// The window it was last measured in.
    window: u32,
}

/// Which way most pages of a window went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Raw = 0,
    Lz4 = 1,
}

/// The policy's measures and its current choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionPolicy {
    workers: u64,
    window_ns: u64,
    capped: bool,
    window_start: Option<u64>,
    window: u32,
    window_bytes: u64,
    window_starved: bool,
    last_rates: RateSnapshot,
    lz4_ns: Mean,
    raw_ns: Mean,
    lz4_bytes: [Mean; 2],
    links: [Option<LinkMeasure>; 2],
    /// The open window follows a change of mode: not measured.
    settling: bool,
    /// The compressed share per kind, per mille.
    share: [u32; 2],
    /// Error diffusion of the share, per kind.
    carry: [u32; 2],
    deep_ns: Mean,
    /// Bytes of a deep page per 1000 of an LZ4 page, measured per window
    /// on the pages of both ways in it (interleaved, so alike).
    deep_ratio: Mean,
    /// The window `deep_ratio` was last measured in.
    deep_measured: u32,
    /// Pages and record bytes asked as LZ4 and as deep in the open window.
    window_lz4: (u64, u64),
    window_deep: (u64, u64),
    /// Of the compressed pages per kind, the share (per mille) the deep
    /// search encodes.
    deep_share: [u32; 2],
    /// Error diffusion of the deep share, per kind.
    deep_carry: [u32; 2],
    /// Polls in the open window, and those in which the link waited for
    /// the workers.
    window_polls: u32,
    window_behind: u32,
}

/// Picoseconds a page of `bytes` takes on a link of `bandwidth` bytes per
/// second (picoseconds, so that integer arithmetic keeps precision).
fn wire_ps(bytes: u64, bandwidth: u64) -> u128 {
    u128::from(bytes) * 1_000_000_000_000 / u128::from(bandwidth.max(1))
}

/// Picoseconds a page of `ns` worker nanoseconds takes on `workers`
/// workers.
fn work_ps(ns: u64, workers: u64) -> u128 {
    u128::from(ns) * 1000 / u128::from(workers.max(1))
}

fn kind_index(kind: PageKind) -> usize {
    match kind {
        PageKind::FirstCopy => 0,
        PageKind::Resend => 1,
    }
}

impl CompressionPolicy {
    /// A policy for `workers` workers (0, the state machine itself, counts
    /// as 1), windows of `window_ns`, and whether a bandwidth cap is set.
    /// Until it has measured, every page is compressed.
    pub fn new(workers: u32, window_ns: u64, capped: bool) -> Self {
        CompressionPolicy {
            workers: u64::from(workers.max(1)),
            window_ns: window_ns.max(1),
            capped,
            window_start: None,
            window: 0,
            window_bytes: 0,
            window_starved: false,
            last_rates: RateSnapshot::default(),
            lz4_ns: Mean::default(),
            raw_ns: Mean::default(),
            lz4_bytes: [Mean::default(); 2],
            links: [None; 2],
            // The first window fills empty queues and buffers on both
            // sides: faster than what follows.
            settling: true,
            share: [ALL; 2],
            carry: [0; 2],
            deep_ns: Mean::default(),
            deep_ratio: Mean::default(),
            deep_measured: 0,
            window_lz4: (0, 0),
            window_deep: (0, 0),
            deep_share: [0; 2],
            deep_carry: [0; 2],
            window_polls: 0,
            window_behind: 0,
        }
    }

    /// `bytes` left for the link.
    pub fn note_sent(&mut self, bytes: u64) {
        self.window_bytes += bytes;
    }

    /// The round ran out of pages to send: this window does not measure
    /// the link.
    pub fn note_starved(&mut self) {
        self.window_starved = true;
    }

    /// In this poll the link could take a frame and none was ready, the
    /// workers still encoding: they, not the link, bound the migration.
    pub fn note_workers_behind(&mut self) {
        self.window_behind += 1;
    }

    /// The share of pages of `kind` compressed, per mille.
    pub fn share(&self, kind: PageKind) -> u32 {
        self.share[kind_index(kind)]
    }

    /// Of the compressed pages of `kind`, the share from the deep search,
    /// per mille.
    pub fn deep_share(&self, kind: PageKind) -> u32 {
        self.deep_share[kind_index(kind)]
    }

    /// How the next non-zero page of `kind` goes.
    pub fn choose(&mut self, kind: PageKind) -> EncodeChoice {
        let at = kind_index(kind);
        self.carry[at] += self.share[at];
        if self.carry[at] < ALL {
            return EncodeChoice::Raw;
        }
        self.carry[at] -= ALL;
        self.deep_carry[at] += self.deep_share[at];
        if self.deep_carry[at] >= ALL {
            self.deep_carry[at] -= ALL;
            EncodeChoice::Lz4Deep
        } else {
            EncodeChoice::Lz4
        }
    }

    /// The longest delta worth sending for a re-sent page: shorter than
    /// LZ4's output when compressing is chosen, else than a raw page.
    pub fn delta_limit(&self) -> usize {
        let at = kind_index(PageKind::Resend);
        let full = PAGE_SIZE - 1;
        if self.share[at] >= ALL / 2 {
            self.lz4_bytes[at].0.map_or(full, |bytes| {
                usize::try_from(bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(RECORD_HEADER_BYTES)
                    .min(full)
            })
        } else {
            full
        }
    }

    /// What one batch of `kind` carried: its pages asked as LZ4 and their
    /// record bytes, and the same for the deep search.
    pub fn note_batch(&mut self, kind: PageKind, lz4: (u64, u64), deep: (u64, u64)) {
        let at = kind_index(kind);
        if let Some(per_page) = lz4.1.checked_div(lz4.0) {
            self.lz4_bytes[at].add(per_page);
        }
        for (sum, batch) in [(&mut self.window_lz4, lz4), (&mut self.window_deep, deep)] {
            sum.0 += batch.0;
            sum.1 += batch.1;
        }
    }

    /// Called every poll with the time and the workers' sums; closes the
    /// window when it is over and chooses again.
    pub fn tick(&mut self, now_ns: u64, rates: RateSnapshot) {
        let start = *self.window_start.get_or_insert(now_ns);
        let elapsed = now_ns.saturating_sub(start);
        self.window_polls += 1;
        if elapsed < self.window_ns {
            return;
        }
        let mode = self.mode();
        let bandwidth = super::rate::per_second(self.window_bytes, elapsed);
        // Deep pages asked for and the link waiting on the workers: too
        // many, and the window measures the workers, not the link.
        let deep_behind = self.deep_share.iter().any(|&share| share > 0)
            && self.window_behind * 2 > self.window_polls;
        self.window_polls = 0;
        self.window_behind = 0;
        let (lz4, deep) = (self.window_lz4, self.window_deep);
        if lz4.0 > 0 && deep.0 > 0 && lz4.1 > 0 {
            let ratio = u128::from(deep.1) * u128::from(lz4.0) * u128::from(ALL)
                / (u128::from(deep.0) * u128::from(lz4.1));
            self.deep_ratio
                .add(u64::try_from(ratio).unwrap_or(u64::MAX));
            self.deep_measured = self.window;
        }
        self.window_lz4 = (0, 0);
        self.window_deep = (0, 0);
        if self.window_bytes > 0 && !self.settling && !self.window_starved && !deep_behind {
            let measure = &mut self.links[mode as usize];
            let bandwidth = match *measure {
                Some(old) => (old.bandwidth + bandwidth) / 2,
                None => bandwidth,
            };
            *measure = Some(LinkMeasure {
                bandwidth,
                window: self.window,
            });
        }
        let (lz4_pages, lz4_ns, _) = rates.since(&self.last_rates, Method::Lz4);
        let (raw_pages, raw_ns, _) = rates.since(&self.last_rates, Method::Raw);
        if let Some(per_page) = lz4_ns.checked_div(lz4_pages) {
            self.lz4_ns.add(per_page);
        }
        if let Some(per_page) = raw_ns.checked_div(raw_pages) {
            self.raw_ns.add(per_page);
        }
        let (deep_pages, deep_ns, _) = rates.since(&self.last_rates, Method::Lz4Deep);
        if let Some(per_page) = deep_ns.checked_div(deep_pages) {
            self.deep_ns.add(per_page);
        }
        self.last_rates = rates;
        self.window += 1;
        self.window_start = Some(now_ns);
        self.window_bytes = 0;
        self.window_starved = false;
        self.decide(deep_behind);
        self.settling = self.mode() != mode;
    }

    /// Which way most first copies go now.
    fn mode(&self) -> Mode {
        if self.share[0] >= ALL / 2 {
            Mode::Lz4
        } else {
            Mode::Raw
        }
    }

    /// Chooses the shares for the next window (`deep_behind`: the closed
    /// one saw the link wait for the workers while deep pages were asked
    /// for).
    fn decide(&mut self, deep_behind: bool) {
        let stale = |measure: Option<LinkMeasure>, window: u32| {
            measure.is_none_or(|measure| {
                window.saturating_sub(measure.window) > PROBE_INTERVAL_WINDOWS
            })
        };
        if !self.capped {
            for mode in [Mode::Raw, Mode::Lz4] {
                let other = 1 - mode as usize;
                if stale(self.links[mode as usize], self.window) && self.links[other].is_some() {
                    let share = if mode == Mode::Lz4 { ALL } else { 0 };
                    self.share = [share; 2];
                    return;
                }
            }
        }
        for kind in [PageKind::FirstCopy, PageKind::Resend] {
            let at = kind_index(kind);
            if let Some(share) = self.best_share(at) {
                self.share[at] = share;
            }
            let best = self.best_deep_share(at);
            let current = self.deep_share[at];
            self.deep_share[at] = if deep_behind {
                (current * 3 / 4).min(best)
            } else {
                best.min(current + DEEP_STEP)
            };
        }
    }

    /// The share of the deep search for kind `at`: none unless every page
    /// is compressed and the link, not the workers, bounds the time.
    fn best_deep_share(&self, at: usize) -> u32 {
        let measures = (
            self.lz4_bytes[at].0.or(self.lz4_bytes[0].0),
            self.lz4_ns.0,
            self.links[Mode::Lz4 as usize],
        );
        let (Some(lz4_bytes), Some(lz4_ns), Some(link)) = measures else {
            return 0;
        };
        if self.share[at] < ALL {
            return 0;
        }
        let wire = |bytes| wire_ps(bytes, link.bandwidth);
        let work = |ns| work_ps(ns, self.workers);
        let (lz4_wire, lz4_work) = (wire(lz4_bytes), work(lz4_ns));
        if lz4_wire <= lz4_work {
            return 0;
        }
        let (Some(ratio), Some(deep_ns)) = (self.deep_ratio.0, self.deep_ns.0) else {
            return DEEP_PROBE;
        };
        let deep_bytes = lz4_bytes.saturating_mul(ratio) / u64::from(ALL);
        if deep_bytes >= lz4_bytes {
            // It did not pay on the pages of then; the pages change.
            let stale = self.window.saturating_sub(self.deep_measured) > PROBE_INTERVAL_WINDOWS;
            return if stale { DEEP_PROBE } else { 0 };
        }
        if deep_ns <= lz4_ns {
            // Fewer bytes for no more work.
            return ALL;
        }
        // wire(h) = work(h), solved for h, per mille.
        let gain = lz4_wire - wire(deep_bytes) + work(deep_ns) - lz4_work;
        let meet = (lz4_wire - lz4_work) * u128::from(ALL) / gain.max(1);
        let share = meet * u128::from(DEEP_TARGET_PERCENT) / 100;
        u32::try_from(share.min(u128::from(ALL))).unwrap_or(ALL)
    }

    /// The share that finishes soonest for kind `at`, once the costs are
    /// known.
    fn best_share(&self, at: usize) -> Option<u32> {
        let lz4_bytes = self.lz4_bytes[at].0.or(self.lz4_bytes[0].0)?;
        let (lz4_ns, raw_ns) = (self.lz4_ns.0?, self.raw_ns.0?);
        let raw_link = self.links[Mode::Raw as usize].or(self.links[Mode::Lz4 as usize])?;
        let lz4_link = self.links[Mode::Lz4 as usize].unwrap_or(raw_link);
        let workers = self.workers;
        let time = |bytes, ns, bandwidth| wire_ps(bytes, bandwidth).max(work_ps(ns, workers));
        let raw_time = time(RAW_RECORD_BYTES, raw_ns, raw_link.bandwidth);
        let lz4_time = time(lz4_bytes, lz4_ns, lz4_link.bandwidth);
        let mut best = if lz4_time <= raw_time {
            (lz4_time, ALL)
        } else {
            (raw_time, 0)
        };
        // One link whatever the mode: a mix may keep both the link and the
        // workers busy.
        let (low, high) = (
            raw_link.bandwidth.min(lz4_link.bandwidth),
            raw_link.bandwidth.max(lz4_link.bandwidth),
        );
        if high.saturating_sub(low) * 100 <= low * SAME_LINK_PERCENT && lz4_ns > raw_ns {
            let bandwidth = (low + high) / 2;
            // wire(f) / bandwidth = work(f) / workers, solved for f.
            let wire_gain = RAW_RECORD_BYTES.saturating_sub(lz4_bytes) as f64 / bandwidth as f64;
            let work_cost = (lz4_ns - raw_ns) as f64 / 1e9 / workers as f64;
            let raw_wire = RAW_RECORD_BYTES as f64 / bandwidth as f64;
            let raw_work = raw_ns as f64 / 1e9 / workers as f64;
            let share = (raw_wire - raw_work) / (wire_gain + work_cost);
            if share > 0.0 && share < 1.0 {
                #[allow(clippy::cast_possible_truncation)] // 0 < share < 1: at most ALL
                let per_mille = (share * f64::from(ALL)) as u32;
                let bytes = (u64::from(per_mille) * lz4_bytes
                    + u64::from(ALL - per_mille) * RAW_RECORD_BYTES)
                    / u64::from(ALL);
                let ns = (u64::from(per_mille) * lz4_ns + u64::from(ALL - per_mille) * raw_ns)
                    / u64::from(ALL);
                let mixed = time(bytes, ns, bandwidth);
                if mixed < best.0 {
                    best = (mixed, per_mille);
                }
            }
        }
        Some(best.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::EncodeRates;

    const MS: u64 = 1_000_000;

    /// Runs 60 windows where the workers take `lz4_ns` / `raw_ns` per page
    /// and `link(policy, window, compressing)` gives the bytes per second
    /// the link carried in each; returns the policy and whether each window
    /// compressed.
    fn run_windows(
        workers: u32,
        capped: bool,
        lz4_ns: u64,
        raw_ns: u64,
        mut link: impl FnMut(&mut CompressionPolicy, usize, bool) -> u64,
    ) -> (CompressionPolicy, [bool; 60]) {
        let rates = EncodeRates::new();
        let mut policy = CompressionPolicy::new(workers, 100 * MS, capped);
        let mut now = 0;
        policy.tick(now, rates.snapshot());
        let mut modes = [false; 60];
        for (window, mode) in modes.iter_mut().enumerate() {
            let compressing = policy.share(PageKind::FirstCopy) >= 500;
            *mode = compressing;
            rates.add(Method::Lz4, 100, 100 * lz4_ns, 100 * 4096);
            rates.add(Method::Raw, 100, 100 * raw_ns, 100 * 8208);
            policy.note_batch(PageKind::FirstCopy, (100, 100 * 4096), (0, 0));
            policy.note_batch(PageKind::Resend, (100, 100 * 2048), (0, 0));
            let bandwidth = link(&mut policy, window, compressing);
            policy.note_sent(bandwidth / 10);
            now += 100 * MS;
            policy.tick(now, rates.snapshot());
        }
        (policy, modes)
    }

    /// As `run_windows`, the link's rate depending only on the mode.
    fn settle(
        workers: u32,
        capped: bool,
        lz4_ns: u64,
        raw_ns: u64,
        bandwidth: impl Fn(bool) -> u64,
    ) -> CompressionPolicy {
        run_windows(workers, capped, lz4_ns, raw_ns, |_, _, compressing| {
            bandwidth(compressing)
        })
        .0
    }

    #[test]
    fn a_slow_link_compresses_every_page() {
        // 1 Gbit/s; LZ4 at 12 µs a page on 2 workers keeps up easily.
        let policy = settle(2, false, 12_000, 1_500, |_| 125_000_000);
        assert_eq!(policy.share(PageKind::FirstCopy), 1000);
        assert_eq!(policy.share(PageKind::Resend), 1000);
        // A delta must beat LZ4's 2048 bytes for a re-sent page.
        assert_eq!(policy.delta_limit(), 2048 - RECORD_HEADER_BYTES);
        let capped = settle(2, true, 12_000, 1_500, |_| 125_000_000);
        assert_eq!(capped.share(PageKind::FirstCopy), 1000);
    }

    #[test]
    fn a_link_faster_than_compression_gets_raw_pages() {
        // 10 GB/s: raw pages leave faster than one worker compresses.
        let policy = settle(1, false, 12_000, 1_500, |_| 10_000_000_000);
        assert_eq!(policy.share(PageKind::FirstCopy), 0);
        assert_eq!(policy.delta_limit(), PAGE_SIZE - 1);
    }

    #[test]
    fn a_link_sharing_the_cpu_is_measured_per_mode() {
        // Loopback on a busy machine: compressing takes the CPU the link
        // needs, so the link carries 400 MB/s of LZ4 and 1.2 GB/s of raw.
        let policy = settle(2, false, 12_000, 1_500, |compressing| {
            if compressing {
                400_000_000
            } else {
                1_200_000_000
            }
        });
        assert_eq!(policy.share(PageKind::FirstCopy), 0);
    }

    #[test]
    fn the_window_after_a_change_of_mode_is_not_measured() {
        // Loopback sharing the CPU, as above, but a window carries the
        // frames of the mode of the window before it (they were encoded
        // then). Measuring right after a switch would see the old mode's
        // rate in the new one and take the two for one link.
        let mut compressing_before = true;
        let (policy, modes) = run_windows(2, false, 12_000, 1_500, |_, _, compressing| {
            let bandwidth = if compressing_before {
                400_000_000
            } else {
                1_200_000_000
            };
            compressing_before = compressing;
            bandwidth
        });
        assert_eq!(policy.share(PageKind::FirstCopy), 0, "modes {modes:?}");
        // After the first probes, raw pages most of the time: only the
        // LZ4 probes (two windows each) interrupt them.
        let lz4_windows = modes[10..].iter().filter(|&&lz4| lz4).count();
        assert!(lz4_windows <= 6, "{lz4_windows} LZ4 windows: {modes:?}");
    }

    #[test]
    fn a_measure_follows_the_link_and_skips_the_windows_a_round_starved() {
        // LZ4 starts fast (empty buffers downstream), then settles at
        // 150 MB/s on the wire (4 KiB a page: 36 600 pages/s) against raw
        // pages at 550 MB/s (67 000 pages/s). Every fifth window the round
        // runs out of pages and sends almost nothing.
        let mut lz4_windows = 0;
        let (policy, modes) = run_windows(2, false, 6_000, 1_500, |policy, window, compressing| {
            if window % 5 == 4 {
                policy.note_starved();
                1_000_000
            } else if compressing {
                lz4_windows += 1;
                if lz4_windows <= 4 {
                    400_000_000
                } else {
                    150_000_000
                }
            } else {
                550_000_000
            }
        });
        let raw_after_settling = modes[20..].iter().filter(|&&lz4| !lz4).count();
        assert_eq!(policy.share(PageKind::FirstCopy), 0);
        assert!(raw_after_settling >= 34, "{raw_after_settling} of 40");
    }

    #[test]
    fn a_link_and_workers_of_about_the_same_speed_get_a_mix() {
        // 10 GbE and 2 workers: compressing two pages in three keeps both busy.
        let policy = settle(2, false, 12_000, 1_500, |_| 1_250_000_000);
        let share = policy.share(PageKind::FirstCopy);
        assert!(share > 300 && share < 900, "share {share}");
        let mut policy = policy;
        let compressed = (0..1000)
            .filter(|_| policy.choose(PageKind::FirstCopy) == EncodeChoice::Lz4)
            .count() as u32;
        assert!(
            compressed.abs_diff(share) <= 1,
            "{compressed} of 1000 for {share}"
        );
    }

    /// 40 windows of a link of `bandwidth` (capped) with 2 workers, LZ4
    /// at 4096 bytes and 6 µs a page, the deep search at 3700 bytes and
    /// `deep_ns` a page; `behind(deep_share)` says whether the link waits
    /// for the workers (in every poll of the window). Returns the policy
    /// and the deep share of each window.
    fn deep_windows(
        bandwidth: u64,
        deep_ns: u64,
        behind: impl Fn(u32) -> bool,
    ) -> (CompressionPolicy, [u32; 40]) {
        let rates = EncodeRates::new();
        let mut policy = CompressionPolicy::new(2, 100 * MS, true);
        let mut now = 0;
        policy.tick(now, rates.snapshot());
        let mut shares = [0; 40];
        for share in shares.iter_mut() {
            let deep = policy.deep_share(PageKind::FirstCopy);
            *share = deep;
            let (deep_pages, lz4_pages) = (u64::from(deep), u64::from(ALL - deep));
            rates.add(Method::Lz4, lz4_pages, lz4_pages * 6_000, lz4_pages * 4096);
            rates.add(
                Method::Lz4Deep,
                deep_pages,
                deep_pages * deep_ns,
                deep_pages * 3700,
            );
            policy.note_batch(
                PageKind::FirstCopy,
                (lz4_pages, lz4_pages * 4096),
                (deep_pages, deep_pages * 3700),
            );
            policy.note_sent(bandwidth / 10);
            for poll in 1..=10 {
                if behind(deep) {
                    policy.note_workers_behind();
                }
                policy.tick(now + poll * 10 * MS, rates.snapshot());
            }
            now += 100 * MS;
        }
        (policy, shares)
    }

    #[test]
    fn a_capped_link_gets_deep_pages_up_to_where_the_workers_keep_up() {
        // 125 MB/s: an LZ4 page takes 32.8 µs on the link, 3 µs of the two
        // workers; a deep page saves 3.2 µs of link for 27 µs more work
        // (60 µs a page): the two meet at h = 29.8 / (3.2 + 27) = 0.987.
        let (mut policy, shares) = deep_windows(125_000_000, 60_000, |_| false);
        assert!(
            shares[1..4].contains(&DEEP_PROBE),
            "it measures first: {shares:?}"
        );
        let share = policy.deep_share(PageKind::FirstCopy);
        assert!((860..=900).contains(&share), "share {share}: {shares:?}");
        assert_eq!(policy.share(PageKind::FirstCopy), ALL);
        let deep = (0..1000)
            .filter(|_| policy.choose(PageKind::FirstCopy) == EncodeChoice::Lz4Deep)
            .count() as u32;
        assert!(deep.abs_diff(share) <= 1, "{deep} of 1000 for {share}");
        // Slower deep search: fewer deep pages.
        let (slow, _) = deep_windows(125_000_000, 240_000, |_| false);
        let slow_share = slow.deep_share(PageKind::FirstCopy);
        assert!(slow_share < share / 2, "{slow_share} against {share}");
        assert!(slow_share > 0);
    }

    #[test]
    fn a_link_the_workers_cannot_fill_gets_no_deep_pages() {
        // 10 GB/s: the two workers bound the time already.
        let (policy, shares) = deep_windows(10_000_000_000, 60_000, |_| false);
        assert_eq!(shares, [0; 40]);
        assert_eq!(policy.deep_share(PageKind::FirstCopy), 0);
        // And uncapped pages that are not all compressed get none either.
        let policy = settle(2, false, 12_000, 1_500, |_| 1_250_000_000);
        assert!(policy.share(PageKind::FirstCopy) < ALL);
        assert_eq!(policy.deep_share(PageKind::FirstCopy), 0);
    }

    #[test]
    fn workers_falling_behind_cut_the_deep_share() {
        // The workers fall behind past 400 per mille (say, the relay takes
        // their CPU): the share loses a quarter each time it gets there,
        // grows back slowly, and never stays above it.
        let (_, shares) = deep_windows(125_000_000, 60_000, |share| share > 400);
        let after = &shares[10..];
        assert!(after.iter().all(|&share| share <= 450), "{shares:?}");
        let cuts = after
            .windows(2)
            .filter(|pair| pair[1] < pair[0] && pair[1] * 4 <= pair[0] * 3 + 4)
            .count();
        assert!(cuts >= 2, "{shares:?}");
        assert!(after.iter().all(|&share| share >= 250), "{shares:?}");
    }

    #[test]
    fn before_any_measure_every_page_is_compressed() {
        let mut policy = CompressionPolicy::new(4, 100 * MS, false);
        assert_eq!(policy.choose(PageKind::FirstCopy), EncodeChoice::Lz4);
        assert_eq!(policy.delta_limit(), PAGE_SIZE - 1);
    }
}
