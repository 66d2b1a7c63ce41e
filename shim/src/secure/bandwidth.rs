//! The bandwidth cap of the sending side (`--max-bandwidth`): a token bucket
//! in bytes per second. It only computes how long to wait; the caller sleeps,
//! so the arithmetic is tested without a clock.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// How many seconds of traffic the bucket holds when full: the largest
/// burst above the rate after an idle period.
const BURST_SECONDS: f64 = 0.1;

/// A token bucket: `bytes_per_second` tokens flow in, up to a burst of
/// 100 ms worth; sending takes tokens and may run the bucket into
/// debt, which the sender waits off before sending.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    bytes_per_second: NonZeroU64,
    capacity: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket for `bytes_per_second`, as of `now`.
    pub fn new(bytes_per_second: NonZeroU64, now: Instant) -> Self {
        let capacity = (bytes_per_second.get() as f64 * BURST_SECONDS).max(1.0);
        TokenBucket {
            bytes_per_second,
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    /// The configured rate.
    pub fn bytes_per_second(&self) -> NonZeroU64 {
        self.bytes_per_second
    }

    /// Takes `bytes` tokens at `now` and returns how long the sender must
    /// wait before putting them on the wire (zero when the bucket had them).
    pub fn reserve(&mut self, bytes: usize, now: Instant) -> Duration {
        let rate = self.bytes_per_second.get() as f64;
        let elapsed = now.saturating_duration_since(self.last_refill);
        if now > self.last_refill {
            self.last_refill = now;
        }
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(self.capacity);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(bytes_per_second: u64) -> NonZeroU64 {
        NonZeroU64::new(bytes_per_second).expect("non-zero rate")
    }

    #[test]
    fn a_burst_within_the_bucket_goes_at_once() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate(1_000_000), start);
        // 100 ms worth = 100 000 bytes.
        assert_eq!(bucket.reserve(60_000, start), Duration::ZERO);
        assert_eq!(bucket.reserve(40_000, start), Duration::ZERO);
        let wait = bucket.reserve(10_000, start);
        assert!(
            (wait.as_secs_f64() - 0.01).abs() < 1e-6,
            "10 kB of debt at 1 MB/s is 10 ms, got {wait:?}"
        );
    }

    #[test]
    fn the_long_run_rate_is_the_cap() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate(2_000_000), start);
        // A sender that always sleeps what it is told: simulated clock.
        let mut now = start;
        let mut sent = 0u64;
        for _ in 0..100 {
            now += bucket.reserve(50_000, now);
            sent += 50_000;
        }
        let seconds = now.duration_since(start).as_secs_f64();
        // 5 MB at 2 MB/s is 2.5 s, less the 0.2 MB first burst (0.1 s).
        assert!(
            (seconds - 2.4).abs() < 0.03,
            "took {seconds} s for {sent} B"
        );
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate(1_000), start);
        assert_eq!(bucket.reserve(100, start), Duration::ZERO);
        // An hour idle still allows only the 100-byte burst.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.reserve(100, later), Duration::ZERO);
        let wait = bucket.reserve(500, later);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "got {wait:?}");
    }

    #[test]
    fn a_record_larger_than_the_bucket_waits_its_time() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate(1 << 20), start);
        let wait = bucket.reserve(4 << 20, start);
        // 4 MiB at 1 MiB/s less the 0.1 s burst.
        assert!((wait.as_secs_f64() - 3.9).abs() < 1e-6, "got {wait:?}");
    }
}
