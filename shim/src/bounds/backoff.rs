//! Per-address back-off after failed authentications: after the n-th
//! failure in a row from an address, its connections are closed before any
//! handshake for `base * 2^(n-1)` (at most `max`); a success forgets it.
//!
//! The time is the caller's (`now`), so the policy is tested without a
//! clock. The table is bounded: when full, expired entries go first, then
//! the one whose back-off ends soonest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    until: Instant,
}

/// The back-off table of one daemon.
#[derive(Debug)]
pub struct AuthBackoff {
    entries: HashMap<IpAddr, Entry>,
    base: Duration,
    max: Duration,
    capacity: usize,
}

impl AuthBackoff {
    /// A table with back-offs from `base` doubling up to `max`, for at
    /// most `capacity` addresses.
    pub fn new(base: Duration, max: Duration, capacity: usize) -> Self {
        AuthBackoff {
            entries: HashMap::new(),
            base,
            max,
            capacity: capacity.max(1),
        }
    }

    /// How long `address` is still refused at `now`, if it is.
    pub fn refuses(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        self.entries
            .get(&address)
            .and_then(|entry| entry.until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Records a failed authentication from `address` at `now`; returns
    /// the back-off it earned.
    pub fn failed(&mut self, address: IpAddr, now: Instant) -> Duration {
        if !self.entries.contains_key(&address) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let entry = self.entries.entry(address).or_insert(Entry {
            failures: 0,
            until: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        let doublings = entry.failures.saturating_sub(1).min(31);
        let backoff = self
            .base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        entry.until = now + backoff;
        backoff
    }

    /// Forgets `address` after it authenticated.
    pub fn succeeded(&mut self, address: IpAddr) {
        self.entries.remove(&address);
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, entry| entry.until > now);
        if self.entries.len() >= self.capacity {
            if let Some(soonest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.until)
                .map(|(address, _)| *address)
            {
                self.entries.remove(&soonest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn address(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn failures_double_the_backoff_up_to_the_max_and_success_forgets() {
        let start = Instant::now();
        let mut table = AuthBackoff::new(Duration::from_secs(1), Duration::from_secs(5), 16);
        assert_eq!(table.refuses(address(1), start), None);
        assert_eq!(table.failed(address(1), start), Duration::from_secs(1));
        assert_eq!(
            table.refuses(address(1), start),
            Some(Duration::from_secs(1))
        );
        assert_eq!(table.refuses(address(2), start), None, "per address");
        let later = start + Duration::from_secs(1);
        assert_eq!(table.refuses(address(1), later), None, "expired");
        assert_eq!(table.failed(address(1), later), Duration::from_secs(2));
        assert_eq!(table.failed(address(1), later), Duration::from_secs(4));
        assert_eq!(
            table.failed(address(1), later),
            Duration::from_secs(5),
            "capped"
        );
        for _ in 0..40 {
            assert_eq!(table.failed(address(1), later), Duration::from_secs(5));
        }
        table.succeeded(address(1));
        assert_eq!(table.refuses(address(1), later), None);
        assert!(table.is_empty());
    }

    #[test]
    fn the_table_stays_bounded() {
        let start = Instant::now();
        let mut table = AuthBackoff::new(Duration::from_secs(1), Duration::from_secs(60), 4);
        for last in 0..100 {
            table.failed(
                address(last),
                start + Duration::from_millis(u64::from(last)),
            );
        }
        assert_eq!(table.len(), 4);
        // The newest addresses are the ones kept.
        let now = start + Duration::from_millis(100);
        assert!(table.refuses(address(99), now).is_some());
        assert!(table.refuses(address(0), now).is_none());
    }
}
