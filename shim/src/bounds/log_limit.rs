//! Rate-limited, summarised log lines: a line of one kind (say, "refused a
//! handshake from 192.0.2.1") is printed at most once per window; the next
//! one printed says how many were held back meanwhile.
//!
//! The time is the caller's (`now`). The table of kinds is bounded: when
//! full, kinds whose window passed go first, then the oldest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Entry {
    printed_at: Instant,
    held_back: u64,
}

/// What to do with one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print it, saying that this many like it were held back before.
    Print {
        /// Lines of this kind not printed since the last one that was.
        held_back: u64,
    },
    /// Hold it back (it is counted).
    HoldBack,
}

/// One daemon's log limiter.
#[derive(Debug)]
pub struct LogLimiter {
    entries: HashMap<String, Entry>,
    window: Duration,
    capacity: usize,
}

impl LogLimiter {
    /// At most one line per kind per `window`, for at most `capacity` kinds.
    pub fn new(window: Duration, capacity: usize) -> Self {
        LogLimiter {
            entries: HashMap::new(),
            window,
            capacity: capacity.max(1),
        }
    }

    /// Whether a line of kind `kind` is printed at `now`.
    pub fn admit(&mut self, kind: &str, now: Instant) -> Verdict {
        if let Some(entry) = self.entries.get_mut(kind) {
            if now.saturating_duration_since(entry.printed_at) < self.window {
                entry.held_back += 1;
                return Verdict::HoldBack;
            }
            let held_back = entry.held_back;
            *entry = Entry {
                printed_at: now,
                held_back: 0,
            };
            return Verdict::Print { held_back };
        }
        if self.entries.len() >= self.capacity {
            let window = self.window;
            self.entries
                .retain(|_, entry| now.saturating_duration_since(entry.printed_at) < window);
            if self.entries.len() >= self.capacity {
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.printed_at)
                    .map(|(kind, _)| kind.clone())
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(
            kind.to_string(),
            Entry {
                printed_at: now,
                held_back: 0,
            },
        );
        Verdict::Print { held_back: 0 }
    }

    /// `line` as printed with `held_back` lines of its kind held back.
    pub fn summarise(&self, line: &str, held_back: u64) -> String {
        if held_back == 0 {
            line.to_string()
        } else {
            format!(
                "{line} (and {held_back} more like it in the last {} s, not shown)",
                self.window.as_secs()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_window_then_a_summary() {
        let start = Instant::now();
        let mut limiter = LogLimiter::new(Duration::from_secs(60), 16);
        assert_eq!(limiter.admit("a", start), Verdict::Print { held_back: 0 });
        for second in 1..=59 {
            assert_eq!(
                limiter.admit("a", start + Duration::from_secs(second)),
                Verdict::HoldBack
            );
        }
        assert_eq!(
            limiter.admit("b", start),
            Verdict::Print { held_back: 0 },
            "per kind"
        );
        let next = start + Duration::from_secs(60);
        assert_eq!(limiter.admit("a", next), Verdict::Print { held_back: 59 });
        assert_eq!(
            limiter.summarise("refused", 59),
            "refused (and 59 more like it in the last 60 s, not shown)"
        );
        assert_eq!(limiter.summarise("refused", 0), "refused");
    }

    #[test]
    fn seven_thousand_failures_make_a_handful_of_lines() {
        let start = Instant::now();
        let mut limiter = LogLimiter::new(Duration::from_secs(60), 16);
        // 70 failures a second for 100 seconds, from one address.
        let printed = (0..7000u64)
            .filter(|index| {
                let now = start + Duration::from_millis(index * 1000 / 70);
                matches!(limiter.admit("peer", now), Verdict::Print { .. })
            })
            .count();
        assert_eq!(printed, 2);
    }

    #[test]
    fn the_table_of_kinds_stays_bounded() {
        let start = Instant::now();
        let mut limiter = LogLimiter::new(Duration::from_secs(60), 8);
        for index in 0..1000 {
            let _ = limiter.admit(&format!("kind {index}"), start);
        }
        assert!(limiter.entries.len() <= 8);
    }
}
