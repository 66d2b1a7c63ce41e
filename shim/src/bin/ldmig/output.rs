//! How `ldmig` shows things: progress (a bar on a terminal, plain lines
//! otherwise), tables like `ldm list`, and JSON.

use indicatif::{ProgressBar, ProgressStyle};
use ldmig_shim::control::{DomainListing, MigrationInfo};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Formats bytes like `ldm`: 2G, 512M, 8K (binary units), or with one decimal.
pub fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, suffix) in UNITS {
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
            "{} round {} sent {} at {:.0} Mbps{}",
            info.status,
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
            eprintln!("{domain}: {:>3}% {message}", info.progress_percent);
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Prints a migration's final statistics as a table.
pub fn print_migration(info: &MigrationInfo) {
    let rows = [
        ("status", info.status.clone()),
        ("total time", format!("{:.1} ms", info.total_time_ms)),
        ("setup time", format!("{:.1} ms", info.setup_time_ms)),
        ("downtime", format!("{:.2} ms", info.downtime_ms)),
        ("pre-copy rounds", info.rounds.to_string()),
        ("memory", size(info.total_bytes)),
        ("sent", size(info.transferred_bytes)),
        ("zero pages", info.zero_pages.to_string()),
        ("normal pages", info.normal_pages.to_string()),
        ("compressed pages", info.compressed_pages.to_string()),
        (
            "compression ratio",
            format!("{:.2}", info.compression_ratio),
        ),
        ("bandwidth", format!("{:.0} Mbps", info.mbps)),
        (
            "vCPU throttle",
            format!("{}%", info.cpu_throttle_percentage),
        ),
    ];
    for (name, value) in rows {
        println!("  {name:<18} {value}");
    }
}

/// Prints domains like `ldm list`, or with `-o status` / `-o memory`.
pub fn print_domains(host: &str, domains: &[DomainListing], format: Option<&str>) {
    match format {
        Some("status") => {
            println!(
                "{:<16} {:<8} {:<8} {:<16} {:>5} {:<15} {:>10}",
                "NAME", "STATE", "SIDE", "PEER", "PCT", "STATUS", "SENT"
            );
            for domain in domains {
                match &domain.migration {
                    Some(info) => println!(
                        "{:<16} {:<8} {:<8} {:<16} {:>4}% {:<15} {:>10}",
                        domain.name,
                        domain.state,
                        info.side,
                        info.peer,
                        info.progress_percent,
                        info.status,
                        size(info.transferred_bytes)
                    ),
                    None => println!("{:<16} {:<8} {:<8}", domain.name, domain.state, "-"),
                }
            }
        }
        Some("memory") => {
            for domain in domains {
                println!("NAME {}  MEMORY {}", domain.name, size(domain.memory_bytes));
                println!("    {:<14} {:<14} {:>8}", "RA", "PA", "SIZE");
                for (ra, block_size, pa) in &domain.memory_blocks {
                    let pa = pa.map_or("-".to_string(), |pa| format!("{pa:#x}"));
                    println!(
                        "    {:<14} {:<14} {:>8}",
                        format!("{ra:#x}"),
                        pa,
                        size(*block_size)
                    );
                }
                if domain.memory_dr_disabled {
                    println!("    memory dynamic reconfiguration disabled until the domain reboots (migrated)");
                }
            }
        }
        _ => {
            println!("{host}");
            println!(
                "{:<16} {:<9} {:>5} {:>8}  MIGRATION",
                "NAME", "STATE", "VCPU", "MEMORY"
            );
            for domain in domains {
                let migration = domain
                    .migration
                    .as_ref()
                    .map(|info| format!("{} {} {}%", info.side, info.status, info.progress_percent))
                    .unwrap_or_default();
                println!(
                    "{:<16} {:<9} {:>5} {:>8}  {}",
                    domain.name,
                    domain.state,
                    domain.vcpus,
                    size(domain.memory_bytes),
                    migration
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ldm() {
        assert_eq!(size(2 << 30), "2G");
        assert_eq!(size(512 << 20), "512M");
        assert_eq!(size(1536 << 20), "1.5G");
        assert_eq!(size(100), "100");
    }
}
