//! Link bandwidth measured over short windows (QEMU: 100 ms), and the
//! optional cap enforced per window.

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
            self.bytes_per_second =
                (u128::from(self.window_bytes) * 1_000_000_000 / u128::from(elapsed)) as u64;
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
            .then(|| {
                (u128::from(self.window_bytes) * 1_000_000_000 / u128::from(self.partial_ns)) as u64
            })
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
}
