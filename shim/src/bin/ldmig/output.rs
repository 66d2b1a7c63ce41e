//! How `ldmig` shows a migration: its progress (a bar on a terminal, plain
//! lines otherwise, on standard error) and its final statistics; sizes the
//! way `ldm` writes them. `ldm`'s listings are in `layout`.

use crate::console;
use indicatif::{ProgressBar, ProgressStyle};
use ldmig::precopy::outcome::LDM_SIZE_UNITS;
use ldmig_shim::control::MigrationInfo;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Formats bytes like `ldm`: 2G, 512M, 8K (binary units), or with one decimal.
pub fn size(bytes: u64) -> String {
    for (unit, suffix) in LDM_SIZE_UNITS {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) {
                format!("{}{suffix}", bytes / unit)
            } else {
                format!("{:.1}{suffix}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes}")
}

/// Shows a migration's progress as it goes.
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    last_line: Instant,
    quiet: bool,
}

impl ProgressDisplay {
    /// A bar on a terminal, plain lines (at most one a second) otherwise;
    /// nothing when `quiet` (JSON output).
    pub fn new(quiet: bool) -> ProgressDisplay {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(100);
            let style =
                ProgressStyle::with_template("{prefix} [{bar:40.cyan/blue}] {pos:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ProgressDisplay {
            bar,
            last_line: Instant::now() - Duration::from_secs(5),
            quiet,
        }
    }

    /// Shows the latest statistics of `domain`.
    pub fn update(&mut self, domain: &str, info: &MigrationInfo) {
        let message = format!(
            "{}{} round {} sent {} at {:.0} Mbps{}",
            info.status,
            if info.held { " (held)" } else { "" },
            info.rounds,
            size(info.transferred_bytes),
            info.mbps,
            if info.cpu_throttle_percentage > 0 {
                format!(", throttle {}%", info.cpu_throttle_percentage)
            } else {
                String::new()
            }
        );
        if let Some(bar) = &self.bar {
            bar.set_prefix(domain.to_string());
            bar.set_position(u64::from(info.progress_percent));
            bar.set_message(message);
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(1) {
            self.last_line = Instant::now();
            console::err_line(&format!(
                "{domain}: {:>3}% {message}",
                info.progress_percent
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The compressed pages, and how many the deeper LZ4 search encoded when
/// it did any.
fn compressed_pages(info: &MigrationInfo) -> String {
    match info.deep_compressed_pages {
        0 => info.compressed_pages.to_string(),
        deep => format!(
            "{} ({deep} by the deeper search: the link bounded the time)",
            info.compressed_pages
        ),
    }
}

/// A migration's final statistics as a table. A bound domain moved in one
/// pass and an inactive one as its configuration only: the summary says so
/// rather than showing empty pre-copy counters.
pub fn migration_summary(info: &MigrationInfo) -> String {
    let (memory, rounds) = match info.domain_state.as_str() {
        "inactive" => (
            format!(
                "{} (not copied: an inactive domain holds no memory)",
                size(info.total_bytes)
            ),
            "none (inactive: its configuration moved)".to_string(),
        ),
        "bound" => (
            format!(
                "{} (copied in one pass: the domain was bound, not running)",
                size(info.total_bytes)
            ),
            "none (bound: no pre-copy)".to_string(),
        ),
        _ => (size(info.total_bytes), info.rounds.to_string()),
    };
    let rows = [
        ("status", info.status.clone()),
        ("total time", format!("{:.1} ms", info.total_time_ms)),
        ("setup time", format!("{:.1} ms", info.setup_time_ms)),
        ("downtime", format!("{:.2} ms", info.downtime_ms)),
        ("pre-copy rounds", rounds),
        ("memory", memory),
        ("sent", size(info.transferred_bytes)),
        ("zero pages", info.zero_pages.to_string()),
        ("normal pages", info.normal_pages.to_string()),
        ("compressed pages", compressed_pages(info)),
        ("raw pages", info.raw_pages.to_string()),
        ("delta pages", info.delta_pages.to_string()),
        (
            "compression ratio",
            format!("{:.2}", info.compression_ratio),
        ),
        ("bandwidth", format!("{:.0} Mbps", info.mbps)),
        ("cipher", info.cipher.clone()),
        ("resumed after cuts", info.resumes.to_string()),
        (
            "vCPU throttle",
            format!("{}%", info.cpu_throttle_percentage),
        ),
    ];
    rows.iter()
        .map(|(name, value)| format!("  {name:<18} {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_of_bound_and_inactive_domains_say_what_moved() {
        let inactive = MigrationInfo {
            domain_state: "inactive".into(),
            total_bytes: 128 << 20,
            ..MigrationInfo::default()
        };
        let text = migration_summary(&inactive);
        assert!(
            text.contains("memory             128M (not copied"),
            "{text}"
        );
        assert!(!text.contains("memory             0\n"), "{text}");
        let bound = MigrationInfo {
            domain_state: "bound".into(),
            total_bytes: 1 << 30,
            ..MigrationInfo::default()
        };
        assert!(migration_summary(&bound).contains("1G (copied in one pass"));
        let active = MigrationInfo {
            domain_state: "active".into(),
            rounds: 4,
            ..MigrationInfo::default()
        };
        assert!(migration_summary(&active).contains("pre-copy rounds    4\n"));
    }

    #[test]
    fn sizes_read_like_ldm() {
        assert_eq!(size(2 << 30), "2G");
        assert_eq!(size(512 << 20), "512M");
        assert_eq!(size(1536 << 20), "1.5G");
        assert_eq!(size(100), "100");
    }
}
