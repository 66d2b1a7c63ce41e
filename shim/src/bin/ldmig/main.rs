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
use cli::{parse_bandwidth, parse_size, Action, Cli, CountArgs, MemoryArgs, ServeArgs};
use ldmig_shim::bounds::Limits;
use ldmig_shim::control::{call, Event, Request};
use ldmig_shim::control_socket::{default_control_path, effective_uid, group_id, ControlAccess};
use ldmig_shim::hooks::{AfterRelease, HoldPoint};
use ldmig_shim::operations::AdminOperation;
use ldmig_shim::password::read_password_file;
use ldmig_shim::serial::{SerialDaemon, SerialOptions};
use ldmig_shim::targets::parse_target;
use ldmig_shim::{Daemon, DaemonOptions};
use ldmig_sim::description::HostDescription;
use output::ProgressDisplay;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    ldmig_shim::allocator::keep_freed_buffers();
    let cli = Cli::parse();
    // A daemon logs what it does; a command's output is its answer.
    let default_level = match cli.command {
        Action::Serve(_) => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    let verbosity = i32::from(cli.verbose) - i32::from(cli.quiet);
    if let Err(error) = ldmig_shim::logging::install(default_level, verbosity) {
        console::err_line(&format!("ldmig: {error}"));
        return ExitCode::from(2);
    }
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
    let json = cli.json;
    let command = match cli.command {
        Action::Demo(args) => return demo::run(args, json),
        command => command,
    };
    let control = match cli.control {
        Some(path) => path,
        None => default_control_path().map_err(anyhow::Error::msg)?,
    };
    let simple = |request: Request| -> Result<ExitCode> {
        let event = call(&control, &request, |_| {})?;
        report(&event, json)
    };
    match command {
        Action::Serve(args) => serve(args, control),
        Action::MigrateDomain(args) => {
            let password_file = args
                .password_file
                .as_deref()
                .map(|path| {
                    std::fs::canonicalize(path)
                        .with_context(|| format!("password file {}", path.display()))
                })
                .transpose()?;
            let (target, target_domain) =
                parse_target(&args.target, &args.domain).map_err(anyhow::Error::msg)?;
            let max_bandwidth = parse_bandwidth(args.max_bandwidth.as_deref())?;
            let request = Request::MigrateDomain {
                domain: args.domain.clone(),
                target: target.address(),
                target_domain,
                dry_run: args.dry_run,
                password_file,
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
        Action::ReleaseMigration(args) => {
            let then = match args.then.as_str() {
                "continue" => AfterRelease::Continue,
                "stop" => AfterRelease::Stop,
                "kill" => AfterRelease::Kill,
                other => bail!("--then {other}: continue, stop or kill"),
            };
            simple(Request::ReleaseMigration {
                domain: args.domain,
                then,
            })
        }
        Action::InjectFault(args) => simple(Request::InjectFault { fault: args.fault }),
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

/// `ldmig serve`: the daemon of one machine, until it is killed.
fn serve(args: ServeArgs, control: PathBuf) -> Result<ExitCode> {
    let description = HostDescription::load(&args.host)?;
    let password_path = std::fs::canonicalize(&args.password_file)
        .with_context(|| format!("password file {}", args.password_file.display()))?;
    let password = read_password_file(&password_path, effective_uid())?;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    if let Some(serial) = args.serial {
        let daemon = SerialDaemon::start(SerialOptions {
            description,
            serial: serial.clone(),
            listener,
            control_path: control,
            password,
        })
        .map_err(anyhow::Error::msg)?;
        console::err_line(&format!(
            "ldmig: serving the machine behind {serial} on {} (control socket {})",
            daemon.listen_addr(),
            daemon.control_path().display()
        ));
        daemon.wait();
        return Ok(ExitCode::SUCCESS);
    }
    let state_dir = match args.state_dir {
        Some(directory) => directory,
        None => default_state_dir(description.name())?,
    };
    let control_access = ControlAccess {
        group: args
            .control_group
            .as_deref()
            .map(group_id)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let mut limits = Limits::default();
    if let Some(milliseconds) = args.peer_timeout_ms {
        limits.peer_timeout = Duration::from_millis(milliseconds);
        limits.setup_timeout = limits.peer_timeout;
    }
    let mut options = DaemonOptions::new(description, listener, control, password);
    options.control_access = control_access;
    options.state_dir = Some(state_dir);
    options.limits = limits;
    options.seed = args.seed;
    options.workload = args.workload;
    options.hold_migrations = args.hold_migrations;
    options.workers = args
        .workers
        .unwrap_or_else(ldmig_shim::host::workers::default_workers);
    options.hooks.hold_at = args
        .hold_at
        .as_deref()
        .map(|name| {
            HoldPoint::from_name(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--hold-at {name}: {}",
                    HoldPoint::ALL.map(HoldPoint::name).join(", ")
                )
            })
        })
        .transpose()?;
    let daemon = Daemon::start(options).map_err(anyhow::Error::msg)?;
    console::err_line(&format!(
        "ldmig: serving host on {} (control socket {})",
        daemon.listen_addr(),
        daemon.control_path().display()
    ));
    daemon.wait();
    Ok(ExitCode::SUCCESS)
}

/// Where a daemon keeps its state when nobody says otherwise.
fn default_state_dir(host: &str) -> Result<PathBuf> {
    if effective_uid() == 0 {
        return Ok(Path::new("/var/lib/ldmig").join(host));
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|directory| directory.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no state directory: set --state-dir (neither $XDG_STATE_HOME nor $HOME is set)"
            )
        })?;
    Ok(base.join("ldmig").join(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_list_sections_are_refused() {
        for bad in ["bogus", "status,bogus", "", "status,"] {
            let error = list_sections(Some(bad), false).expect_err(bad);
            assert!(error.to_string().contains("unknown -o section"), "{error}");
        }
        assert_eq!(
            list_sections(Some("status,memory"), false).expect("known"),
            vec!["status", "memory"]
        );
        assert!(list_sections(None, false).expect("none").is_empty());
    }

    #[test]
    fn the_state_directory_is_per_host() {
        let directory = default_state_dir("t5-a").expect("a default");
        assert!(directory.ends_with("ldmig/t5-a"), "{}", directory.display());
    }
}
