//! `ldmig`: the control-domain shim's command line — the daemon of one
//! machine, `ldm`-shaped commands that talk to it, and the demo.

mod cli;
mod demo;
mod output;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{parse_size, Action, Cli};
use ldmig_shim::control::{call, Event, Request};
use ldmig_shim::{Daemon, DaemonOptions};
use ldmig_sim::description::HostDescription;
use output::ProgressDisplay;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the daemon's control socket is when nobody says otherwise.
const DEFAULT_CONTROL: &str = "/tmp/ldmig.sock";
/// The port of a target given without one.
const DEFAULT_PORT: u16 = 8101;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ldmig: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let control = cli
        .control
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL));
    match cli.command {
        Action::Serve(args) => {
            let description = HostDescription::load(&args.host)
                .with_context(|| format!("reading {}", args.host.display()))?;
            let password = read_password_file(&args.password_file)?;
            let listener = std::net::TcpListener::bind(args.listen)
                .with_context(|| format!("listening on {}", args.listen))?;
            let daemon = Daemon::start(DaemonOptions {
                description,
                listener,
                control_path: control.clone(),
                password,
                seed: args.seed,
                workload: "moderate".into(),
                images: Vec::new(),
            })
            .map_err(anyhow::Error::msg)?;
            eprintln!(
                "ldmig: serving host on {} (control socket {})",
                daemon.listen_addr(),
                daemon.control_path().display()
            );
            daemon.wait();
            Ok(ExitCode::SUCCESS)
        }
        Action::MigrateDomain(args) => {
            let password = match &args.password_file {
                Some(path) => read_password_file(path)?,
                None if std::io::stdin().is_terminal() => {
                    rpassword::prompt_password("Target Password: ")
                        .context("reading the password")?
                }
                None => {
                    bail!("no password: give -p PASSWORD-FILE (standard input is not a terminal)")
                }
            };
            let (target, target_domain) = split_target(&args.target, &args.domain)?;
            let max_bandwidth = args
                .max_bandwidth
                .as_deref()
                .map(parse_size)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let request = Request::MigrateDomain {
                domain: args.domain.clone(),
                target,
                target_domain,
                dry_run: args.dry_run,
                password,
                downtime_limit_ms: args.downtime_limit,
                max_bandwidth,
            };
            let mut progress = ProgressDisplay::new(cli.json || args.dry_run);
            let event = call(&control, &request, |event| {
                if let Event::Progress { domain, info } = event {
                    progress.update(domain, info);
                }
            })?;
            progress.finish();
            Ok(report(&event, cli.json, |migration| {
                output::print_migration(migration)
            }))
        }
        Action::List(args) => {
            let event = call(
                &control,
                &Request::List {
                    domain: args.domain.clone(),
                },
                |_| {},
            )?;
            Ok(match &event {
                Event::Done { host, domains, .. } if !cli.json => {
                    output::print_domains(host, domains, args.output.as_deref());
                    ExitCode::SUCCESS
                }
                _ => report(&event, cli.json, |_| {}),
            })
        }
        Action::ListDevices(args) => {
            if args.class != "memory" {
                bail!(
                    "unknown device class '{}': only `memory` exists here",
                    args.class
                );
            }
            let event = call(&control, &Request::ListDevicesMemory, |_| {})?;
            Ok(match &event {
                Event::Done { free_memory, .. } if !cli.json => {
                    println!("MEMORY");
                    println!("    {:<16} {:>8}", "PA", "SIZE");
                    for (pa, size) in free_memory {
                        println!("    {:<16} {:>8}", format!("{pa:#x}"), output::size(*size));
                    }
                    ExitCode::SUCCESS
                }
                _ => report(&event, cli.json, |_| {}),
            })
        }
        Action::CancelOperation(args) => {
            if args.operation != "migration" {
                bail!(
                    "unknown operation '{}': only `migration` can be cancelled",
                    args.operation
                );
            }
            let event = call(
                &control,
                &Request::CancelMigration {
                    domain: args.domain,
                },
                |_| {},
            )?;
            Ok(report(&event, cli.json, |_| {}))
        }
        Action::RecoverDomain(args) => {
            if args.resume == args.remove {
                bail!("say what to do with the domain: --resume (it does not run on the target) or --remove (it does)");
            }
            let event = call(
                &control,
                &Request::RecoverDomain {
                    domain: args.domain,
                    resume: args.resume,
                },
                |_| {},
            )?;
            Ok(report(&event, cli.json, |_| {}))
        }
        Action::Demo(args) => demo::run(args, cli.json),
    }
}

/// Prints a final event as text or JSON; the exit code follows it.
fn report(
    event: &Event,
    json: bool,
    print_migration: impl Fn(&ldmig_shim::control::MigrationInfo),
) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(event).unwrap_or_default()
        );
    } else {
        match event {
            Event::Done {
                message,
                migration,
                findings,
                ..
            } => {
                if !message.is_empty() {
                    println!("{message}");
                }
                for finding in findings
                    .iter()
                    .filter(|finding| !message.contains(finding.as_str()))
                {
                    println!("{finding}");
                }
                if let Some(migration) = migration {
                    print_migration(migration);
                }
            }
            Event::Failed { message, .. } => eprintln!("{message}"),
            Event::Progress { .. } => {}
        }
    }
    match event {
        Event::Done { .. } => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// The first line of a password file.
fn read_password_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(password)
}

/// Splits `HOST[:PORT][:TARGET-DOMAIN]` into an address and a domain name.
fn split_target(target: &str, domain: &str) -> Result<(String, String)> {
    let parts: Vec<&str> = target.split(':').collect();
    let port_like = |text: &str| text.parse::<u16>().is_ok();
    let (host, port, name) = match parts.as_slice() {
        [host] => (*host, DEFAULT_PORT.to_string(), domain),
        [host, port] if port_like(port) => (*host, (*port).to_string(), domain),
        [host, name] => (*host, DEFAULT_PORT.to_string(), *name),
        [host, port, name] if port_like(port) => (*host, (*port).to_string(), *name),
        _ => bail!("target '{target}' is not HOST[:PORT][:TARGET-DOMAIN]"),
    };
    if host.is_empty() || name.is_empty() {
        bail!("target '{target}' is not HOST[:PORT][:TARGET-DOMAIN]");
    }
    Ok((format!("{host}:{port}"), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_like_ldm() {
        let split = |text: &str| split_target(text, "ldg1").ok();
        assert_eq!(split("t5-b"), Some(("t5-b:8101".into(), "ldg1".into())));
        assert_eq!(
            split("127.0.0.1:9000"),
            Some(("127.0.0.1:9000".into(), "ldg1".into()))
        );
        assert_eq!(
            split("t5-b:ldg9"),
            Some(("t5-b:8101".into(), "ldg9".into()))
        );
        assert_eq!(
            split("127.0.0.1:9000:ldg9"),
            Some(("127.0.0.1:9000".into(), "ldg9".into()))
        );
        assert_eq!(split("a:b:c:d"), None);
        assert_eq!(split(":9000"), None);
    }
}
