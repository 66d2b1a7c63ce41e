//! The command line of `ldmig`, shaped after `ldm`'s migration commands.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// ldmig: live migration of SPARC sun4v logical domains.
///
/// Each machine runs `ldmig serve` (its daemon); the other commands talk to a
/// daemon through its control socket (`--control`, or $LDMIG_CONTROL) and
/// have the names and shapes of `ldm`'s. While a migration runs on a
/// machine, every operation on the migrating domain is refused there, and so
/// are bind and stop of its other domains and delayed reconfiguration; a
/// switch to the elastic power policy waits for the migration's end.
/// `ldmig demo` runs a whole migration between two simulated hosts.
///
/// Access: the control socket is 0600 (0660 with `serve --control-group`),
/// the daemon serves only its own user, root and that group (checked with
/// SO_PEERCRED), and a command talks only to a socket and a daemon of its
/// own user or root. A domain migrates only to a target its host file
/// allows (`[migration] allowed_targets`), with the daemon's password or a
/// password file the daemon reads for the user who asks (who must own it).
#[derive(Debug, Parser)]
#[command(name = "ldmig", version)]
pub struct Cli {
    /// Control socket of the daemon to talk to (or that `serve` creates)
    /// [default: /run/ldmig/ldmig.sock for root, else
    /// $XDG_RUNTIME_DIR/ldmig/ldmig.sock].
    #[arg(long, global = true, env = "LDMIG_CONTROL", value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log more (repeat for more): -v debug, -vv trace. The level starts at
    /// $RUST_LOG (a level or TARGET=LEVEL items), else info.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log less (repeat for less): -q warnings only, -qq errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Action,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Run the daemon of one machine: a simulated T-series host described by
    /// a TOML file, its engine, the shim, a listener for incoming migrations
    /// and a local control socket.
    Serve(ServeArgs),
    /// Migrate a domain to another machine (like `ldm migrate-domain`).
    #[command(name = "migrate-domain", alias = "migrate")]
    MigrateDomain(MigrateArgs),
    /// List domains (like `ldm list`).
    #[command(name = "list", alias = "ls")]
    List(ListArgs),
    /// List free devices (like `ldm list-devices`); only `memory` exists.
    #[command(name = "list-devices")]
    ListDevices(ListDevicesArgs),
    /// Cancel an operation (like `ldm cancel-operation migration DOMAIN`).
    #[command(name = "cancel-operation")]
    CancelOperation(CancelArgs),
    /// Recover a domain a failed migration left in the error state.
    #[command(name = "recover-domain")]
    RecoverDomain(RecoverArgs),
    /// Bind an inactive domain's resources (like `ldm bind-domain`).
    #[command(name = "bind-domain", alias = "bind")]
    BindDomain(DomainArgs),
    /// Release a bound domain's resources (like `ldm unbind-domain`).
    #[command(name = "unbind-domain", alias = "unbind")]
    UnbindDomain(DomainArgs),
    /// Boot a bound domain (like `ldm start-domain`).
    #[command(name = "start-domain", alias = "start")]
    StartDomain(DomainArgs),
    /// Stop an active domain, or reboot it with -r (like `ldm stop-domain`).
    #[command(name = "stop-domain", alias = "stop")]
    StopDomain(StopArgs),
    /// Add memory to a domain (like `ldm add-memory`).
    #[command(name = "add-memory", alias = "add-mem")]
    AddMemory(MemoryArgs),
    /// Remove memory from a domain (like `ldm remove-memory`).
    #[command(name = "remove-memory", alias = "rm-mem")]
    RemoveMemory(MemoryArgs),
    /// Set a domain's memory (like `ldm set-memory`).
    #[command(name = "set-memory", alias = "set-mem")]
    SetMemory(MemoryArgs),
    /// Add vCPUs to a domain (like `ldm add-vcpu`).
    #[command(name = "add-vcpu")]
    AddVcpu(CountArgs),
    /// Remove vCPUs from a domain (like `ldm remove-vcpu`).
    #[command(name = "remove-vcpu", alias = "rm-vcpu")]
    RemoveVcpu(CountArgs),
    /// Set a domain's vCPUs (like `ldm set-vcpu`).
    #[command(name = "set-vcpu")]
    SetVcpu(CountArgs),
    /// Add crypto units to a domain (like `ldm add-crypto`).
    #[command(name = "add-crypto", alias = "add-mau")]
    AddCrypto(CountArgs),
    /// Remove crypto units from a domain (like `ldm remove-crypto`).
    #[command(name = "remove-crypto", alias = "rm-mau")]
    RemoveCrypto(CountArgs),
    /// Set a domain's crypto units (like `ldm set-crypto`).
    #[command(name = "set-crypto", alias = "set-mau")]
    SetCrypto(CountArgs),
    /// Set a domain property: cpu-arch=native|generic|migration-class1|sparc64-class1
    /// (like `ldm set-domain`; the domain must not be active).
    #[command(name = "set-domain", alias = "set-dom")]
    SetDomain(SetDomainArgs),
    /// Start a delayed reconfiguration of a domain, usually primary (like
    /// `ldm start-reconf`): no migration starts while one is pending.
    #[command(name = "start-reconf")]
    StartReconf(DomainArgs),
    /// Cancel a domain's pending delayed reconfiguration (like `ldm cancel-reconf`).
    #[command(name = "cancel-reconf")]
    CancelReconf(DomainArgs),
    /// Set the machine's power-management policy: performance, elastic or
    /// disabled (the service processor's /HOST/power_mgmt policy). No
    /// migration goes into or out of an elastic machine.
    #[command(name = "set-power-policy")]
    SetPowerPolicy(PowerPolicyArgs),
    /// Test hook: let a migration held by `serve --hold-migrations` or
    /// `--hold-at` go on.
    #[command(name = "release-migration", hide = true)]
    ReleaseMigration(ReleaseArgs),
    /// Test hook: a fault of the machine (out-of-memory, none).
    #[command(name = "inject-fault", hide = true)]
    InjectFault(FaultArgs),
    /// Run a live migration between two simulated hosts over loopback TCP.
    Demo(DemoArgs),
    /// Packaging: write the man pages and shell completions into a directory.
    #[command(name = "generate-docs", hide = true)]
    GenerateDocs(crate::docs::GenerateDocsArgs),
}

/// A command on one domain.
#[derive(Debug, Args)]
pub struct DomainArgs {
    /// The domain.
    pub domain: String,
}

/// `ldmig release-migration` (a test hook).
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// What the held daemon does once it goes on: continue, stop (SIGSTOP
    /// itself) or kill (SIGKILL itself).
    #[arg(long, value_name = "ACTION", default_value = "continue")]
    pub then: String,
    /// The domain.
    pub domain: String,
}

/// `ldmig inject-fault` (a test hook).
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// out-of-memory, or none.
    pub fault: String,
}

/// `ldmig stop-domain`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Reboot the domain instead of leaving it stopped (re-enables memory
    /// dynamic reconfiguration after a migration).
    #[arg(short = 'r', long = "reboot")]
    pub reboot: bool,
    /// The domain.
    pub domain: String,
}

/// `ldmig add-memory`, `remove-memory`, `set-memory`.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// How much, e.g. 256M, 1G (a multiple of 8K, the sun4v page).
    pub size: String,
    /// The domain.
    pub domain: String,
}

/// `ldmig add-vcpu`, `add-crypto` and the like.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// How many.
    pub number: u64,
    /// The domain.
    pub domain: String,
}

/// `ldmig set-domain`.
#[derive(Debug, Args)]
pub struct SetDomainArgs {
    /// The property, e.g. cpu-arch=generic.
    #[arg(value_name = "PROPERTY=VALUE")]
    pub property: String,
    /// The domain.
    pub domain: String,
}

/// `ldmig set-power-policy`.
#[derive(Debug, Args)]
pub struct PowerPolicyArgs {
    /// performance, elastic or disabled.
    pub policy: String,
}

/// `ldmig serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The host description (see hv/sim/hosts/README.md).
    #[arg(long, value_name = "FILE.toml")]
    pub host: PathBuf,
    /// Address to accept incoming migrations on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8101")]
    pub listen: SocketAddr,
    /// File holding the migration password (first line); it must be this
    /// user's, not writable by others and not readable by all (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// Where the daemon keeps what happened to the machine across crashes
    /// and restarts [default: /var/lib/ldmig/HOST for root, else
    /// $XDG_STATE_HOME/ldmig/HOST or ~/.local/state/ldmig/HOST].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Let this group's members use the control socket too (mode 0660).
    #[arg(long, value_name = "GROUP")]
    pub control_group: Option<String>,
    /// Seed of the simulated guests' workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// What runs in the active guests: idle, moderate, hot, heavy,
    /// unconvergeable, or none (their memory stays as bound).
    #[arg(long, default_value = "moderate")]
    pub workload: String,
    /// Test hook: outgoing migrations hold after their first pre-copy
    /// round until `release-migration DOMAIN`; incoming ones wait for
    /// their source without a time limit.
    #[arg(long, hide = true)]
    pub hold_migrations: bool,
    /// Worker threads that encode and decode each migration's pages
    /// (default: the machine's cores; 0: the engine's own thread).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// The engine runs in the machine behind this serial line instead of
    /// a simulated one: HOST:PORT of its UART's TCP character device (QEMU
    /// `-serial tcp:HOST:PORT,server=on`). The host description gives the
    /// machine's static facts; the workload options do not apply.
    #[arg(long, value_name = "HOST:PORT")]
    pub serial: Option<String>,
    /// Test hook: hold this side of every migration at a phase (setup,
    /// round-0, after-round-0, later-rounds, throttled, suspend,
    /// final-pages, vcpu-state, commit, commit-ack) until
    /// `release-migration DOMAIN`.
    #[arg(long, hide = true, value_name = "POINT")]
    pub hold_at: Option<String>,
    /// Test hook: how long a daemon waits for its silent peer (the engines,
    /// and the checks before them).
    #[arg(long, hide = true, value_name = "MS")]
    pub peer_timeout_ms: Option<u64>,
}

/// `ldmig migrate-domain`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Dry run: run every check and report, move nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// A password file the daemon reads for you (yours, chmod 600) instead
    /// of its own password; the password itself never leaves the daemon.
    #[arg(short = 'p', long = "password-file", value_name = "PASSWORD-FILE")]
    pub password_file: Option<PathBuf>,
    /// Longest acceptable downtime in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub downtime_limit: u64,
    /// Bandwidth cap, e.g. 100M, 1G (bytes per second; K/M/G suffixes).
    #[arg(long, value_name = "RATE")]
    pub max_bandwidth: Option<String>,
    /// The domain to migrate.
    pub domain: String,
    /// HOST[:PORT][:TARGET-DOMAIN]: the target daemon's address (port 8101
    /// by default; the host file must allow it), optionally followed by the
    /// name the domain takes there.
    pub target: String,
    /// `--timeline`, `--plot`.
    #[command(flatten)]
    pub picture: crate::picture::PictureArgs,
}

/// `ldmig list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Sections to show, comma-separated: status (migration progress),
    /// memory, crypto, network, disk.
    #[arg(short = 'o', value_name = "FORMAT")]
    pub output: Option<String>,
    /// Long listing: the summary and every section.
    #[arg(short = 'l', long = "long", conflicts_with = "output")]
    pub long: bool,
    /// Only this domain.
    pub domain: Option<String>,
}

/// `ldmig list-devices`.
#[derive(Debug, Args)]
pub struct ListDevicesArgs {
    /// The device class: `memory`.
    pub class: String,
}

/// `ldmig cancel-operation`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The operation: `migration`.
    pub operation: String,
    /// The domain whose operation to cancel.
    pub domain: String,
}

/// `ldmig recover-domain`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The domain left in the error state.
    pub domain: String,
    /// Resume it here (only if it does not run on the target).
    #[arg(long, conflicts_with = "remove")]
    pub resume: bool,
    /// Remove it here (it runs on the target).
    #[arg(long)]
    pub remove: bool,
}

/// `ldmig demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Memory of the migrated domain, e.g. 1G, 256M.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub memory: String,
    /// What runs in the domain: idle, moderate, hot, heavy, unconvergeable.
    #[arg(long, default_value = "moderate")]
    pub workload: String,
    /// The domain's memory starts with this file's bytes (the rest zero).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Bandwidth cap, e.g. 100M (bytes per second).
    #[arg(long, value_name = "RATE")]
    pub max_bandwidth: Option<String>,
    /// Longest acceptable downtime in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub downtime_limit: u64,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads that encode and decode the pages, on each host
    /// (default: the machine's cores; 0: the engines' own threads).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// Leave the target's memory to the kernel to hand out during the
    /// migration (by default it is made resident first, as a real machine's
    /// bound memory is).
    #[arg(long)]
    pub fresh_target_memory: bool,
    /// `--timeline`, `--plot`.
    #[command(flatten)]
    pub picture: crate::picture::PictureArgs,
}

/// Parses sizes and rates like `1G`, `512M`, `8K`, `4096` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, ""),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 1G, 512M, 8K)"))?;
    let shift = match unit
        .trim_end_matches(['B', 'b', 'i'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use K, M, G or T)"
            ))
        }
    };
    value
        .checked_shl(shift)
        .filter(|v| v >> shift == value)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// A `--max-bandwidth` rate, when one was given.
pub fn parse_bandwidth(rate: Option<&str>) -> anyhow::Result<Option<u64>> {
    rate.map(parse_size).transpose().map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_ldm() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8K"), Ok(8192));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
