//! Link bandwidth measured over short windows (QEMU: 100 ms), and the
//! bandwidth cap ([`RateLimiter`]): a token bucket on the caller's clock.

/// Bytes sent per window, turned into bytes per second when a window closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandwidthMeter {
    window_ns: u64,
    window_start_ns: u64,
    window_bytes: u64,
    bytes_per_second: u64,
    partial_ns: u64,
    started: bool,
}

impl BandwidthMeter {
    /// A meter with windows of `window_ns`.
    pub const fn new(window_ns: u64) -> Self {
        BandwidthMeter {
            window_ns,
            window_start_ns: 0,
            window_bytes: 0,
            bytes_per_second: 0,
            partial_ns: 0,
            started: false,
        }
    }

    /// Counts `bytes` sent at `now_ns`, closing the window if it is over.
    pub fn record(&mut self, now_ns: u64, bytes: u64) {
        self.tick(now_ns);
        self.window_bytes += bytes;
    }

    /// Closes the current window if it lasted at least the window length.
    pub fn tick(&mut self, now_ns: u64) {
        if !self.started {
            self.started = true;
            self.window_start_ns = now_ns;
            return;
        }
        let elapsed = now_ns.saturating_sub(self.window_start_ns);
        self.partial_ns = elapsed;
        if elapsed >= self.window_ns && elapsed > 0 {
            self.bytes_per_second = super::rate::per_second(self.window_bytes, elapsed);
            self.window_start_ns = now_ns;
            self.window_bytes = 0;
            self.partial_ns = 0;
        }
    }

    /// The last complete window's rate; before the first window closes,
    /// the rate so far in the current one once half a window has passed
    /// (earlier, the transport's initial burst into its buffers would make
    /// the estimate far too high), so that short migrations get one too.
    pub fn bytes_per_second(&self) -> Option<u64> {
        if self.bytes_per_second > 0 {
            return Some(self.bytes_per_second);
        }
        (self.partial_ns >= self.window_ns / 2 && self.partial_ns > 0 && self.window_bytes > 0)
            .then(|| super::rate::per_second(self.window_bytes, self.partial_ns))
    }

    /// True when `cap` bytes/s (0 = none) allows no more bytes in this window.
    pub fn over_cap(&self, cap: u64) -> bool {
        if cap == 0 || !self.started {
            return false;
        }
        let budget = u128::from(cap) * u128::from(self.window_ns) / 1_000_000_000;
        u128::from(self.window_bytes) >= budget
    }
}

/// The bandwidth cap: a token bucket of `rate` bytes per second on the
/// caller's clock, holding at most [`RateLimiter::BURST_PER_MILLE`] of a
/// second of credit. A frame may leave while the bucket is not in debt; it
/// takes its bytes, possibly into debt, which later frames wait off. Over
/// any interval of `t` seconds the frames that left hold at most
/// `rate * t + burst + one frame` bytes, and the long-run rate is the cap
/// exactly: with frames of at most 1 % of a second (the source sizes its
/// batches so), any 1 s window stays within 2 % of the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimiter {
    rate: u64,
    /// Credit in bytes times 10^9 (bytes-nanoseconds per second), so that
    /// refills of a few nanoseconds are not lost to rounding.
    credit: i128,
    last_ns: Option<u64>,
}

impl RateLimiter {
    /// The most credit the bucket holds, per mille of a second at the rate.
    pub const BURST_PER_MILLE: u64 = 10;

    /// A cap of `rate` bytes per second (0: no cap).
    pub const fn new(rate: u64) -> Self {
        RateLimiter {
            rate,
            credit: 0,
            last_ns: None,
        }
    }

    /// The cap in bytes per second (0: none).
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The largest frame that keeps a 1 s window within 1 % of the cap
    /// (at least `floor` bytes).
    pub fn frame_bytes(&self, floor: usize) -> Option<usize> {
        (self.rate > 0).then(|| ((self.rate / 100) as usize).max(floor))
    }

    fn refill(&mut self, now_ns: u64) {
        let last = *self.last_ns.get_or_insert(now_ns);
        let elapsed = now_ns.saturating_sub(last);
        self.last_ns = Some(now_ns.max(last));
        let burst = i128::from(self.rate) * i128::from(Self::BURST_PER_MILLE) * 1_000_000;
        self.credit = (self.credit + i128::from(elapsed) * i128::from(self.rate)).min(burst);
    }

    /// True when a frame may leave at `now_ns` (always without a cap).
    pub fn allows(&mut self, now_ns: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        self.refill(now_ns);
        self.credit >= 0
    }

    /// Takes `bytes` that left at `now_ns`.
    pub fn take(&mut self, now_ns: u64, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        self.refill(now_ns);
        self.credit -= i128::from(bytes) * 1_000_000_000;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn measures_over_windows() {
        let mut meter = BandwidthMeter::new(100 * MS);
        assert_eq!(meter.bytes_per_second(), None);
        meter.record(0, 0);
        meter.record(5 * MS, 1_000_000);
        assert_eq!(meter.bytes_per_second(), None, "too early for an estimate");
        meter.tick(10 * MS);
        assert_eq!(meter.bytes_per_second(), None, "too early for an estimate");
        meter.tick(50 * MS);
        assert_eq!(
            meter.bytes_per_second(),
            Some(20_000_000),
            "partial-window estimate"
        );
        let mut meter = BandwidthMeter::new(100 * MS);
        meter.record(0, 0);
        for step in 0..10 {
            meter.record(step * 10 * MS, 1_000_000);
        }
        meter.tick(100 * MS);
        // 10 MB in 100 ms (sent at 0, 10, ..., 90 ms; the window closes at 100).
        assert_eq!(meter.bytes_per_second(), Some(100_000_000));
    }

    #[test]
    fn cap_blocks_within_a_window() {
        let mut meter = BandwidthMeter::new(100 * MS);
        meter.record(0, 0);
        assert!(!meter.over_cap(10_000_000));
        meter.record(MS, 1_000_000);
        assert!(meter.over_cap(10_000_000));
        assert!(!meter.over_cap(0));
        meter.tick(101 * MS);
        assert!(!meter.over_cap(10_000_000));
    }

    #[test]
    fn the_limiter_holds_the_rate_over_any_second() {
        // 20 MB/s in frames of 1 % of a second, sent whenever allowed on a
        // clock that moves in 50 µs steps.
        let rate = 20_000_000u64;
        let mut limiter = RateLimiter::new(rate);
        let frame = limiter.frame_bytes(8192).expect("a cap");
        assert_eq!(frame, 200_000);
        let mut sent = std::vec::Vec::new();
        let mut now = 0u64;
        while now < 5_000 * MS {
            if limiter.allows(now) {
                limiter.take(now, frame as u64);
                sent.push(now);
            }
            now += 50_000;
        }
        // Every 1 s window, sliding by 10 ms.
        let mut worst = 0u64;
        let mut start = 0;
        while start + 1000 * MS <= 5_000 * MS {
            let frames = sent
                .iter()
                .filter(|&&at| at >= start && at < start + 1000 * MS)
                .count() as u64;
            worst = worst.max(frames * frame as u64);
            start += 10 * MS;
        }
        assert!(worst <= rate + rate / 50, "{worst} bytes in a second");
        assert!(worst >= rate - rate / 50, "{worst} bytes in a second");
        assert!(RateLimiter::new(0).allows(0));
        assert_eq!(RateLimiter::new(0).frame_bytes(1), None);
    }

    #[test]
    fn idle_time_gives_only_a_small_burst() {
        let mut limiter = RateLimiter::new(1_000_000);
        assert!(limiter.allows(0));
        limiter.take(0, 1);
        // An hour later: 10 ms of credit, no more.
        assert!(limiter.allows(3600 * 1000 * MS));
        limiter.take(3600 * 1000 * MS, 10_000);
        assert!(limiter.allows(3600 * 1000 * MS));
        limiter.take(3600 * 1000 * MS, 1);
        assert!(!limiter.allows(3600 * 1000 * MS));
        assert!(limiter.allows(3600 * 1000 * MS + MS));
    }
}
