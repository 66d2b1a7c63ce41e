//! `ldmig`: the control-domain shim's command line — the daemon of one
//! machine, `ldm`-shaped commands that talk to it, and the demo.

mod cli;
mod console;
mod demo;
mod docs;
mod layout;
mod output;
mod picture;

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::{parse_size, Action, Cli, CountArgs, MemoryArgs};
use ldmig_shim::control::{call, Event, Request};
use ldmig_shim::operations::AdminOperation;
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
        // Nobody reads any more (`ldmig list | head -1`): end quietly.
        Err(error) if console::is_closed(&error) => ExitCode::from(console::CLOSED_PIPE_STATUS),
        Err(error) => {
            console::err_line(&format!("ldmig: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let control = cli
        .control
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL));
    let json = cli.json;
    let simple = |request: Request| -> Result<ExitCode> {
        let event = call(&control, &request, |_| {})?;
        report(&event, json)
    };
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
                workload: args.workload,
                images: Vec::new(),
                hold_migrations: args.hold_migrations,
            })
            .map_err(anyhow::Error::msg)?;
            console::err_line(&format!(
                "ldmig: serving host on {} (control socket {})",
                daemon.listen_addr(),
                daemon.control_path().display()
            ));
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
            let mut progress = ProgressDisplay::new(json || args.dry_run);
            let mut recorder = picture::Recorder::new(&args.picture, &args.domain);
            let event = call(&control, &request, |event| {
                if let Event::Progress { domain, info } = event {
                    progress.update(domain, info);
                    recorder.record(info);
                }
            })?;
            progress.finish();
            recorder.finish(&event)?;
            report(&event, json)
        }
        Action::List(args) => {
            let sections = list_sections(args.output.as_deref(), args.long)?;
            let event = call(
                &control,
                &Request::List {
                    domain: args.domain.clone(),
                },
                |_| {},
            )?;
            match &event {
                Event::Done {
                    host,
                    domains,
                    host_listing,
                    ..
                } if !json => {
                    if sections.is_empty() {
                        console::out(&layout::summary(host, host_listing.as_ref(), domains))?;
                    } else {
                        console::out(&layout::domain_blocks(domains, &sections, args.long))?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                _ => report(&event, json),
            }
        }
        Action::ListDevices(args) => {
            if args.class != "memory" {
                bail!(
                    "unknown device class '{}': only `memory` exists here",
                    args.class
                );
            }
            let event = call(&control, &Request::ListDevicesMemory, |_| {})?;
            match &event {
                Event::Done { free_memory, .. } if !json => {
                    console::out(&layout::devices_memory(free_memory))?;
                    Ok(ExitCode::SUCCESS)
                }
                _ => report(&event, json),
            }
        }
        Action::CancelOperation(args) => {
            if args.operation != "migration" {
                bail!(
                    "unknown operation '{}': only `migration` can be cancelled",
                    args.operation
                );
            }
            simple(Request::CancelMigration {
                domain: args.domain,
            })
        }
        Action::RecoverDomain(args) => {
            if args.resume == args.remove {
                bail!("say what to do with the domain: --resume (it does not run on the target) or --remove (it does)");
            }
            simple(Request::RecoverDomain {
                domain: args.domain,
                resume: args.resume,
            })
        }
        Action::ReleaseMigration(args) => simple(Request::ReleaseMigration {
            domain: args.domain,
        }),
        Action::Demo(args) => demo::run(args, json),
        Action::GenerateDocs(args) => docs::run(&args),
        operation => simple(Request::Operate {
            operation: admin_operation(operation)?,
        }),
    }
}

/// The daemon operation an `ldm`-shaped command asks for.
fn admin_operation(action: Action) -> Result<AdminOperation> {
    let bytes =
        |args: &MemoryArgs| -> Result<u64> { parse_size(&args.size).map_err(anyhow::Error::msg) };
    Ok(match action {
        Action::BindDomain(args) => AdminOperation::BindDomain {
            domain: args.domain,
        },
        Action::UnbindDomain(args) => AdminOperation::UnbindDomain {
            domain: args.domain,
        },
        Action::StartDomain(args) => AdminOperation::StartDomain {
            domain: args.domain,
        },
        Action::StopDomain(args) => AdminOperation::StopDomain {
            domain: args.domain,
            reboot: args.reboot,
        },
        Action::AddMemory(args) => AdminOperation::AddMemory {
            bytes: bytes(&args)?,
            domain: args.domain,
        },
        Action::RemoveMemory(args) => AdminOperation::RemoveMemory {
            bytes: bytes(&args)?,
            domain: args.domain,
        },
        Action::SetMemory(args) => AdminOperation::SetMemory {
            bytes: bytes(&args)?,
            domain: args.domain,
        },
        Action::AddVcpu(CountArgs { number, domain }) => AdminOperation::AddVcpu {
            domain,
            count: number,
        },
        Action::RemoveVcpu(CountArgs { number, domain }) => AdminOperation::RemoveVcpu {
            domain,
            count: number,
        },
        Action::SetVcpu(CountArgs { number, domain }) => AdminOperation::SetVcpu {
            domain,
            count: number,
        },
        Action::AddCrypto(CountArgs { number, domain }) => AdminOperation::AddCrypto {
            domain,
            count: number,
        },
        Action::RemoveCrypto(CountArgs { number, domain }) => AdminOperation::RemoveCrypto {
            domain,
            count: number,
        },
        Action::SetCrypto(CountArgs { number, domain }) => AdminOperation::SetCrypto {
            domain,
            count: number,
        },
        Action::SetDomain(args) => {
            let Some(("cpu-arch", class)) = args.property.split_once('=') else {
                bail!(
                    "'{}': the property set-domain knows is cpu-arch=native|generic|migration-class1|sparc64-class1",
                    args.property
                );
            };
            AdminOperation::SetDomain {
                domain: args.domain,
                cpu_arch: class.to_string(),
            }
        }
        Action::StartReconf(args) => AdminOperation::StartReconf {
            domain: args.domain,
        },
        Action::CancelReconf(args) => AdminOperation::CancelReconf {
            domain: args.domain,
        },
        Action::SetPowerPolicy(args) => AdminOperation::SetPowerPolicy {
            policy: args.policy,
        },
        other => bail!("{other:?} is not a domain operation"),
    })
}

/// The sections of `list -o A,B` (or every one with `-l`; none for the
/// one-line summary).
fn list_sections(output: Option<&str>, long: bool) -> Result<Vec<&'static str>> {
    if long {
        return Ok(layout::SECTIONS.to_vec());
    }
    let Some(output) = output else {
        return Ok(Vec::new());
    };
    output
        .split(',')
        .map(|wanted| {
            layout::SECTIONS
                .iter()
                .copied()
                .find(|section| *section == wanted.trim())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown -o section '{wanted}': {}",
                        layout::SECTIONS.join(", ")
                    )
                })
        })
        .collect()
}

/// Prints a final event as text or JSON; the exit code follows it.
fn report(event: &Event, json: bool) -> Result<ExitCode> {
    if json {
        console::out_line(&serde_json::to_string_pretty(event).unwrap_or_default())?;
    } else {
        match event {
            Event::Done {
                message,
                migration,
                findings,
                ..
            } => {
                let mut text = String::new();
                if !message.is_empty() {
                    text.push_str(message);
                    text.push('\n');
                }
                for finding in findings
                    .iter()
                    .filter(|finding| !message.contains(finding.as_str()))
                {
                    text.push_str(finding);
                    text.push('\n');
                }
                if let Some(migration) = migration {
                    text.push_str(&output::migration_summary(migration));
                }
                console::out(&text)?;
            }
            Event::Failed { message, .. } => console::err_line(message),
            Event::Progress { .. } => {}
        }
    }
    Ok(match event {
        Event::Done { .. } => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
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
