//! `ldm`'s output layouts, as text: `list` (one line per domain, with
//! `ldm`'s flag columns), `list -o SECTION,...` and `list -l` (a block per
//! domain: `NAME`, the name, then each section), and `list-devices memory`.
//!
//! Columns are as wide as `ldm` makes them, or wider when a value needs it
//! (a long peer or domain name never pushes the next column out of line).
//! A section is a title line, a header line and rows indented by four
//! spaces; domains are separated by a line of dashes.

use crate::output::size;
use ldmig_hv::resources::MemorySize;
use ldmig_shim::control::{DomainListing, HostListing, MigrationInfo};
use std::fmt::Write as _;

/// The sections `list -o` knows, in `list -l` order.
pub const SECTIONS: [&str; 5] = ["memory", "crypto", "network", "disk", "status"];

/// What separates two domains' blocks (as in `ldm list -l`).
const SEPARATOR: &str =
    "------------------------------------------------------------------------------";

/// A table: rows of cells, each column as wide as `minimum` or its widest
/// cell plus one space, the last column not padded.
fn table(indent: &str, minimum: &[usize], rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            let widest = rows
                .iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count() + 1)
                .max()
                .unwrap_or(0);
            widest.max(minimum.get(column).copied().unwrap_or(0))
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}", width = widths[column]);
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn cells(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

/// `list-devices memory`: the free physical ranges.
pub fn devices_memory(free: &[(u64, u64)]) -> String {
    let mut rows = vec![cells(&["PA", "SIZE"])];
    for (pa, bytes) in free {
        rows.push(vec![format!("{pa:#x}"), MemorySize(*bytes).to_string()]);
    }
    format!("MEMORY\n{}", table("    ", &[21], &rows))
}

/// `list`: one line per domain, then the machine's power policy.
pub fn summary(
    host: &str,
    host_listing: Option<&HostListing>,
    domains: &[DomainListing],
) -> String {
    let mut text = summary_rows(domains);
    if let Some(listing) = host_listing {
        let _ = write!(
            text,
            "\nPower-management policy of {host}: {}",
            listing.power_policy
        );
        if let Some(deferred) = &listing.deferred_power_policy {
            let _ = write!(
                text,
                " ({deferred} requested: it takes effect when the migrations end)"
            );
        }
        text.push('\n');
    }
    text
}

fn summary_rows(domains: &[DomainListing]) -> String {
    let mut rows = vec![cells(&[
        "NAME", "STATE", "FLAGS", "VCPU", "MEMORY", "CRYPTO", "CPU-ARCH",
    ])];
    for domain in domains {
        rows.push(vec![
            domain.name.clone(),
            domain.state.clone(),
            domain.flags.clone(),
            domain.vcpus.to_string(),
            MemorySize(domain.memory_bytes).to_string(),
            domain.crypto_units.to_string(),
            domain.cpu_arch.clone(),
        ]);
    }
    table("", &[17, 11, 8, 6, 9, 8], &rows)
}

/// `list -o SECTIONS` (`sections` from [`SECTIONS`]) or, with `long`,
/// `list -l`: a block per domain.
pub fn domain_blocks(domains: &[DomainListing], sections: &[&str], long: bool) -> String {
    let blocks: Vec<String> = domains
        .iter()
        .map(|domain| {
            let mut block = if long {
                summary_rows(std::slice::from_ref(domain))
            } else {
                format!("NAME\n{}\n", domain.name)
            };
            for section in sections {
                if let Some(text) = section_text(domain, section) {
                    block.push('\n');
                    block.push_str(&text);
                }
            }
            block
        })
        .collect();
    blocks.join(&format!("{SEPARATOR}\n"))
}

/// One section of a domain's block; `None` when the domain has nothing
/// to show in it.
fn section_text(domain: &DomainListing, section: &str) -> Option<String> {
    match section {
        "memory" => Some(memory(domain)),
        "crypto" => Some(crypto(domain)),
        "network" => network(domain),
        "disk" => disk(domain),
        "status" => domain.migration.as_ref().map(status),
        _ => None,
    }
}

fn memory(domain: &DomainListing) -> String {
    let mut rows = vec![cells(&["RA", "PA", "SIZE"])];
    for (ra, bytes, pa) in &domain.memory_blocks {
        let pa = pa.map_or_else(|| "-".to_string(), |pa| format!("{pa:#x}"));
        rows.push(vec![format!("{ra:#x}"), pa, MemorySize(*bytes).to_string()]);
    }
    let mut text = format!("MEMORY\n{}", table("    ", &[17, 17], &rows));
    if domain.memory_dr_disabled {
        text.push_str(
            "    dynamic reconfiguration disabled until the domain reboots (it migrated here)\n",
        );
    }
    text
}

fn crypto(domain: &DomainListing) -> String {
    let mut rows = vec![cells(&["COUNT", "CONSTRAINT"])];
    let mut constraint = domain.crypto_units_requested.to_string();
    if domain.crypto_units < domain.crypto_units_requested {
        constraint.push_str(" (not met on this machine)");
    }
    rows.push(vec![domain.crypto_units.to_string(), constraint]);
    format!("MAU\n{}", table("    ", &[7], &rows))
}

fn network(domain: &DomainListing) -> Option<String> {
    if domain.virtual_networks.is_empty() && !domain.niu_constraint {
        return None;
    }
    let mode = match (domain.niu_constraint, domain.niu_satisfied) {
        (false, _) => "",
        (true, true) => "hybrid",
        (true, false) => "hybrid (NIU constraint kept, not satisfied on this machine)",
    };
    let mut rows = vec![cells(&["NAME", "SERVICE", "ID", "DEVICE", "MODE"])];
    for (index, (name, switch)) in domain.virtual_networks.iter().enumerate() {
        rows.push(vec![
            name.clone(),
            switch.clone(),
            index.to_string(),
            format!("network@{index}"),
            mode.to_string(),
        ]);
    }
    let mut text = format!("NETWORK\n{}", table("    ", &[17, 28, 5, 11], &rows));
    if domain.virtual_networks.is_empty() {
        let _ = writeln!(text, "    NIU hybrid I/O constraint: {mode}");
    }
    Some(text)
}

fn disk(domain: &DomainListing) -> Option<String> {
    if domain.virtual_disks.is_empty() {
        return None;
    }
    let mut rows = vec![cells(&["NAME", "VOLUME", "ID", "DEVICE"])];
    for (index, (name, service, volume)) in domain.virtual_disks.iter().enumerate() {
        rows.push(vec![
            name.clone(),
            format!("{volume}@{service}"),
            index.to_string(),
            format!("disk@{index}"),
        ]);
    }
    Some(format!("DISK\n{}", table("    ", &[17, 28, 5], &rows)))
}

/// The `STATUS` section: the migration, as `ldm list -o status` shows it
/// (operation, progress, the other machine), then its phase, round and
/// bytes sent.
fn status(info: &MigrationInfo) -> String {
    let peer_title = if info.side == "target" {
        "SOURCE"
    } else {
        "TARGET"
    };
    let phase = if info.held {
        format!("{} (held)", info.status)
    } else {
        info.status.clone()
    };
    let rows = vec![
        cells(&[
            "OPERATION",
            "PROGRESS",
            peer_title,
            "STATUS",
            "ROUND",
            "SENT",
        ]),
        vec![
            "migration".to_string(),
            format!("{}%", info.progress_percent),
            info.peer.clone(),
            phase,
            info.rounds.to_string(),
            size(info.transferred_bytes),
        ],
    ];
    let mut text = format!("STATUS\n{}", table("    ", &[13, 12, 12, 15, 6], &rows));
    if let Some(serial) = &info.serial {
        let rows = vec![
            cells(&["LINK", "LINE BYTES", "RESENT", "DAMAGED", "GUEST PROGRESS"]),
            vec![
                serial.link.clone(),
                serial.line_bytes.to_string(),
                serial.records_resent.to_string(),
                serial.records_damaged.to_string(),
                format!(
                    "{} ({} at the switchover, {})",
                    serial.guest_progress,
                    serial.guest_progress_at_switchover,
                    if serial.guest_running {
                        "running"
                    } else {
                        "stopped"
                    }
                ),
            ],
        ];
        text.push_str(&table("    ", &[13, 12, 12, 15], &rows));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_shim::control::{call, Event, Request};
    use ldmig_shim::{Daemon, DaemonOptions};
    use ldmig_sim::description::HostDescription;

    /// The guide's `ldm list-devices memory` on its target machine.
    const GUIDE_DEVICES_MEMORY: &str = "\
MEMORY
    PA                   SIZE
    0x108000000          1G
    0x188000000          1G
";

    /// The guide's `ldm list -o memory ldg-src` on its source machine.
    const GUIDE_LIST_MEMORY: &str = "\
NAME
ldg-src

MEMORY
    RA               PA               SIZE
    0x8000000        0x208000000      2G
";

    /// A daemon of one of the guide's example hosts (hv/sim/hosts/).
    fn guide_daemon(file: &str) -> Daemon {
        let path = format!("{}/../hv/sim/hosts/{file}", env!("CARGO_MANIFEST_DIR"));
        let mut options = DaemonOptions::new(
            HostDescription::load(&path).expect("the guide's host"),
            std::net::TcpListener::bind("127.0.0.1:0").expect("loopback"),
            std::env::temp_dir().join(format!("ldmig-layout-{}-{file}.sock", std::process::id())),
            "pw",
        );
        options.workload = "none".into();
        options.workers = 1;
        Daemon::start(options).expect("daemon starts")
    }

    fn ask(daemon: &Daemon, request: &Request) -> Event {
        call(daemon.control_path(), request, |_| {}).expect("daemon answers")
    }

    #[test]
    fn the_guides_memory_listings_are_reproduced_character_for_character() {
        let target = guide_daemon("guide-target.toml");
        let Event::Done { free_memory, .. } = ask(&target, &Request::ListDevicesMemory) else {
            panic!("list-devices memory failed");
        };
        assert_eq!(devices_memory(&free_memory), GUIDE_DEVICES_MEMORY);
        target.shutdown();
        let source = guide_daemon("guide-source.toml");
        let request = Request::List {
            domain: Some("ldg-src".into()),
        };
        let Event::Done { domains, .. } = ask(&source, &request) else {
            panic!("list ldg-src failed");
        };
        assert_eq!(
            domain_blocks(&domains, &["memory"], false),
            GUIDE_LIST_MEMORY
        );
        source.shutdown();
    }

    #[test]
    fn long_values_keep_the_columns_aligned() {
        let info = MigrationInfo {
            side: "target".into(),
            peer: "a-very-long-source-host-name (127.0.0.1:45678)".into(),
            status: "active".into(),
            progress_percent: 42,
            rounds: 2,
            transferred_bytes: 3 << 20,
            ..MigrationInfo::default()
        };
        let text = status(&info);
        let lines: Vec<&str> = text.lines().collect();
        let column = |line: &str, word: &str| line.find(word).expect("present");
        assert_eq!(column(lines[1], "STATUS"), column(lines[2], "active"));
        assert_eq!(column(lines[1], "SENT"), column(lines[2], "3M"));
        assert!(lines[1].contains("SOURCE"), "{text}");
    }

    #[test]
    fn a_summary_row_shows_flags_and_the_power_policy() {
        let domains = [DomainListing {
            name: "ldg1".into(),
            state: "bound".into(),
            flags: "-t---t".into(),
            vcpus: 8,
            memory_bytes: 1 << 30,
            cpu_arch: "native".into(),
            ..DomainListing::default()
        }];
        let host = HostListing {
            power_policy: "performance".into(),
            deferred_power_policy: Some("elastic".into()),
            ..HostListing::default()
        };
        let text = summary("t5-b", Some(&host), &domains);
        assert_eq!(
            text,
            "NAME             STATE      FLAGS   VCPU  MEMORY   CRYPTO  CPU-ARCH\n\
             ldg1             bound      -t---t  8     1G       0       native\n\
             \n\
             Power-management policy of t5-b: performance (elastic requested: it takes effect when the migrations end)\n"
        );
    }
}
