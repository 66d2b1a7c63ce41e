//! What the workers measured: time and bytes per way of carrying a page,
//! on the clock the host gives each worker, summed in atomics that the
//! source's compression policy samples once per window.

use core::sync::atomic::{AtomicU64, Ordering};

/// Ways a page is carried, as the rates count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// LZ4 asked for (the record may still go raw when LZ4 did not shrink
    /// the page).
    Lz4,
    /// Raw asked for: CRC32 and a copy.
    Raw,
    /// A delta against the cached version (taken or not).
    Delta,
    /// LZ4 from the deeper search asked for.
    Lz4Deep,
}

/// The methods, in their index order.
pub(crate) const METHODS: [Method; 4] = [Method::Lz4, Method::Raw, Method::Delta, Method::Lz4Deep];

pub(crate) fn index(method: Method) -> usize {
    match method {
        Method::Lz4 => 0,
        Method::Raw => 1,
        Method::Delta => 2,
        Method::Lz4Deep => 3,
    }
}

/// Running sums per method: pages, worker nanoseconds, record bytes.
#[derive(Debug)]
pub struct EncodeRates {
    pages: [AtomicU64; METHODS.len()],
    nanoseconds: [AtomicU64; METHODS.len()],
    bytes: [AtomicU64; METHODS.len()],
}

/// The sums at one instant, per method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSnapshot {
    /// Pages per method.
    pub pages: [u64; METHODS.len()],
    /// Worker nanoseconds per method.
    pub nanoseconds: [u64; METHODS.len()],
    /// Record bytes (headers included) per method.
    pub bytes: [u64; METHODS.len()],
}

impl RateSnapshot {
    /// What happened between `earlier` and this snapshot for `method`:
    /// (pages, nanoseconds, bytes).
    pub fn since(&self, earlier: &RateSnapshot, method: Method) -> (u64, u64, u64) {
        let at = index(method);
        (
            self.pages[at].saturating_sub(earlier.pages[at]),
            self.nanoseconds[at].saturating_sub(earlier.nanoseconds[at]),
            self.bytes[at].saturating_sub(earlier.bytes[at]),
        )
    }
}

impl EncodeRates {
    /// All zero.
    pub const fn new() -> Self {
        EncodeRates {
            pages: [const { AtomicU64::new(0) }; METHODS.len()],
            nanoseconds: [const { AtomicU64::new(0) }; METHODS.len()],
            bytes: [const { AtomicU64::new(0) }; METHODS.len()],
        }
    }

    /// Adds what one worker measured for `pages` pages of `method`.
    pub fn add(&self, method: Method, pages: u64, nanoseconds: u64, bytes: u64) {
        let at = index(method);
        self.pages[at].fetch_add(pages, Ordering::Relaxed);
        self.nanoseconds[at].fetch_add(nanoseconds, Ordering::Relaxed);
        self.bytes[at].fetch_add(bytes, Ordering::Relaxed);
    }

    /// The sums now.
    pub fn snapshot(&self) -> RateSnapshot {
        let load = |values: &[AtomicU64; METHODS.len()]| {
            core::array::from_fn(|at| values[at].load(Ordering::Relaxed))
        };
        RateSnapshot {
            pages: load(&self.pages),
            nanoseconds: load(&self.nanoseconds),
            bytes: load(&self.bytes),
        }
    }
}

impl Default for EncodeRates {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_differences() {
        let rates = EncodeRates::new();
        let before = rates.snapshot();
        rates.add(Method::Lz4, 10, 1000, 40_000);
        rates.add(Method::Lz4, 5, 500, 20_000);
        rates.add(Method::Raw, 2, 20, 16_416);
        let after = rates.snapshot();
        assert_eq!(after.since(&before, Method::Lz4), (15, 1500, 60_000));
        assert_eq!(after.since(&before, Method::Raw), (2, 20, 16_416));
        assert_eq!(after.since(&before, Method::Delta), (0, 0, 0));
        assert_eq!(after.since(&before, Method::Lz4Deep), (0, 0, 0));
        for (at, method) in METHODS.into_iter().enumerate() {
            assert_eq!(index(method), at);
        }
    }
}
