//! The command line of `ldmig`, shaped after `ldm`'s migration commands.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// ldmig: live migration of SPARC sun4v logical domains.
///
/// Each machine runs `ldmig serve` (its daemon); the other commands talk to a
/// daemon through its control socket (`--control`, or $LDMIG_CONTROL).
/// `ldmig demo` runs a whole migration between two simulated hosts.
#[derive(Debug, Parser)]
#[command(name = "ldmig", version)]
pub struct Cli {
    /// Control socket of the daemon to talk to (or that `serve` creates)
    /// [default: /tmp/ldmig.sock].
    #[arg(long, global = true, env = "LDMIG_CONTROL", value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
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
    /// Run a live migration between two simulated hosts over loopback TCP.
    Demo(DemoArgs),
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
    /// File holding the migration password (first line).
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// Seed of the simulated guests' workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `ldmig migrate-domain`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Dry run: run every check and report, move nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Read the password from this file instead of prompting.
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
    /// by default), optionally followed by the name the domain takes there.
    pub target: String,
}

/// `ldmig list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to show: `status` (migration progress) or `memory`.
    #[arg(short = 'o', value_name = "FORMAT")]
    pub output: Option<String>,
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
