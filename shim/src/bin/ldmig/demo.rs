//! `ldmig demo`: two simulated SPARC T5 hosts in this process, each with its
//! own daemon, talking real TCP over loopback with a password; a domain with
//! a workload migrates live from one to the other; then a summary.

use crate::cli::{parse_bandwidth, parse_size, DemoArgs};
use crate::console;
use crate::output::{self, ProgressDisplay};
use anyhow::{bail, Context, Result};
use ldmig_shim::control::{call, Event, MigrationInfo, Request};
use ldmig_shim::{Daemon, DaemonOptions};
use ldmig_sim::description::HostDescription;
use serde::Serialize;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;

const PASSWORD: &str = "demo-migration-password";
const DOMAIN: &str = "ldg1";

/// The `--json` object.
#[derive(Serialize)]
struct Summary {
    status: String,
    total_time_ms: f64,
    setup_time_ms: f64,
    downtime_ms: f64,
    rounds: u32,
    transferred_bytes: u64,
    total_bytes: u64,
    zero_pages: u64,
    normal_pages: u64,
    compressed_pages: u64,
    deep_compressed_pages: u64,
    raw_pages: u64,
    delta_pages: u64,
    compression_ratio: f64,
    mbps: f64,
    cpu_throttle_percentage: u8,
    memory_identical: bool,
    vcpu_state_identical: bool,
    source_host: String,
    target_host: String,
    workload: String,
    seed: u64,
    cipher: String,
    workers: u32,
    error: Option<String>,
}

fn host_toml(name: &str, ram: u64, domain_memory: Option<u64>) -> String {
    let mut text = format!(
        "[host]\nname = \"{name}\"\ncpu_type = \"SPARC T5\"\ncpu_frequency_mhz = 3600\nstrands = 128\n\
         crypto_units = 16\nengine_versions = {{ oldest = 1, newest = 1 }}\n\n\
         [[memory]]\npa = 0x8000000\nsize = {ram}\n\n\
         [services]\nconsole_concentrator = \"primary-vcc0\"\nvirtual_switches = [\"primary-vsw0\"]\n\n\
         [[services.disk]]\nname = \"primary-vds0\"\nvolumes = [\"{DOMAIN}-vol0\"]\n\n\
         [migration]\nallowed_targets = [\"127.0.0.1\"]\n"
    );
    if let Some(memory) = domain_memory {
        // Two memory blocks, as real domains often have, when large enough.
        let first = if memory >= 64 << 20 {
            (memory / 2).div_ceil(8192) * 8192
        } else {
            memory
        };
        let mut blocks = format!("{{ ra = 0x8000000, pa = 0x8000000, size = {first} }}");
        if memory > first {
            let second = memory - first;
            let ra = 0x8000000 + first + (256 << 20);
            let pa = 0x8000000 + first;
            blocks.push_str(&format!(
                ", {{ ra = {ra:#x}, pa = {pa:#x}, size = {second} }}"
            ));
        }
        text.push_str(&format!(
            "\n[[domain]]\nname = \"{DOMAIN}\"\nstate = \"active\"\nvcpus = 8\ncrypto_units = 1\n\
             supports_crypto_dr = true\nmemory = [{blocks}]\n\
             disk = [{{ name = \"vdisk0\", service = \"primary-vds0\", volume = \"{DOMAIN}-vol0\" }}]\n\
             network = [{{ name = \"vnet0\", switch = \"primary-vsw0\" }}]\n"
        ));
    }
    text
}

fn start(
    name: &str,
    toml: &str,
    directory: &Path,
    args: &DemoArgs,
    image: &Option<Vec<u8>>,
) -> Result<Daemon> {
    let description =
        HostDescription::from_toml_str(toml).with_context(|| format!("describing host {name}"))?;
    let listener = TcpListener::bind("127.0.0.1:0").context("listening on loopback")?;
    let images = image
        .iter()
        .map(|bytes| (DOMAIN.to_string(), bytes.clone()))
        .collect();
    let mut options = DaemonOptions::new(
        description,
        listener,
        directory.join(format!("{name}.sock")),
        PASSWORD,
    );
    options.seed = args.seed;
    options.workload = args.workload.clone();
    options.images = images;
    options.workers = args
        .workers
        .unwrap_or_else(ldmig_shim::host::workers::default_workers);
    Daemon::start(options).map_err(anyhow::Error::msg)
}

/// Runs the demo.
pub fn run(args: DemoArgs, json: bool) -> Result<ExitCode> {
    let memory = parse_size(&args.memory).map_err(anyhow::Error::msg)?;
    if memory < 8192 || memory % 8192 != 0 {
        bail!("--memory must be a multiple of 8K (the sun4v page), e.g. 1G or 256M");
    }
    if ldmig_sim::workload::WorkloadSpec::by_name(&args.workload, 0).is_none() {
        bail!(
            "unknown workload '{}': idle, moderate, hot, heavy or unconvergeable",
            args.workload
        );
    }
    let max_bandwidth = parse_bandwidth(args.max_bandwidth.as_deref())?;
    let workers = args
        .workers
        .unwrap_or_else(ldmig_shim::host::workers::default_workers);
    let image = match &args.image {
        Some(path) => {
            let mut bytes = std::fs::read(path)
                .with_context(|| format!("reading the image {}", path.display()))?;
            bytes.truncate(memory as usize);
            Some(bytes)
        }
        None => None,
    };
    let directory = std::env::temp_dir().join(format!("ldmig-demo-{}", std::process::id()));
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let ram = memory * 2 + (1 << 30);
    if !json {
        console::err_line(&format!(
            "Starting two simulated SPARC T5 hosts (t5-a, t5-b); filling {} of guest memory{}...",
            output::size(memory),
            if args.fresh_target_memory {
                ""
            } else {
                ", making as much resident on t5-b"
            }
        ));
    }
    let source = start(
        "t5-a",
        &host_toml("t5-a", ram, Some(memory)),
        &directory,
        &args,
        &image,
    )?;
    // The target's memory for the domain is there before the migration,
    // as a real machine's bound memory is: its first writes do not wait for
    // the kernel (in a virtual machine, for the host) to hand out pages.
    if !args.fresh_target_memory {
        ldmig_sim::machine::reserve_resident_memory(memory);
    }
    let target = start(
        "t5-b",
        &host_toml("t5-b", ram, None),
        &directory,
        &args,
        &None,
    )?;
    let target_address = target.listen_addr().to_string();
    if !json {
        console::err_line(&format!(
            "Migrating {DOMAIN} ({}, {} workload) from t5-a to t5-b at {target_address} (TCP, SPAKE2 password, AES-256-GCM or ChaCha20-Poly1305 as the CPUs prefer; {workers} workers)",
            output::size(memory),
            args.workload
        ));
    }
    let request = Request::MigrateDomain {
        domain: DOMAIN.into(),
        target: target_address,
        target_domain: DOMAIN.into(),
        dry_run: false,
        password_file: None,
        downtime_limit_ms: args.downtime_limit,
        max_bandwidth,
    };
    let mut progress = ProgressDisplay::new(json);
    let mut recorder = crate::picture::Recorder::new(&args.picture, DOMAIN);
    let result = call(source.control_path(), &request, |event| {
        if let Event::Progress { domain, info } = event {
            progress.update(domain, info);
            recorder.record(info);
        }
    });
    progress.finish();
    let event = result?;
    recorder.finish(&event)?;
    let target_list = call(
        target.control_path(),
        &Request::List {
            domain: Some(DOMAIN.into()),
        },
        |_| {},
    )
    .ok();
    source.shutdown();
    target.shutdown();
    let _ = std::fs::remove_dir_all(&directory);

    let (info, error) = match &event {
        Event::Done {
            migration: Some(info),
            ..
        } => (info.clone(), None),
        Event::Failed { message, migration } => {
            (migration.clone().unwrap_or_default(), Some(message.clone()))
        }
        _ => (
            MigrationInfo::default(),
            Some("no migration statistics".into()),
        ),
    };
    let same = |mine: &Option<String>, peer: &Option<String>| mine.is_some() && mine == peer;
    let runs_on_target = matches!(
        &target_list,
        Some(Event::Done { domains, .. }) if domains.iter().any(|domain| domain.name == DOMAIN && domain.state == "active")
    );
    let summary = Summary {
        status: if error.is_none() && runs_on_target {
            info.status.clone()
        } else {
            "failed".into()
        },
        total_time_ms: info.total_time_ms,
        setup_time_ms: info.setup_time_ms,
        downtime_ms: info.downtime_ms,
        rounds: info.rounds,
        transferred_bytes: info.transferred_bytes,
        total_bytes: info.total_bytes,
        zero_pages: info.zero_pages,
        normal_pages: info.normal_pages,
        compressed_pages: info.compressed_pages,
        deep_compressed_pages: info.deep_compressed_pages,
        raw_pages: info.raw_pages,
        delta_pages: info.delta_pages,
        compression_ratio: info.compression_ratio,
        mbps: info.mbps,
        cpu_throttle_percentage: info.cpu_throttle_percentage,
        memory_identical: same(&info.memory_digest, &info.peer_memory_digest),
        vcpu_state_identical: same(&info.vcpu_digest, &info.peer_vcpu_digest),
        source_host: "t5-a".into(),
        target_host: "t5-b".into(),
        workload: args.workload.clone(),
        seed: args.seed,
        cipher: info.cipher.clone(),
        workers,
        error,
    };
    if json {
        console::out_line(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        if let Some(error) = &summary.error {
            console::err_line(error);
        }
        let mut text = format!(
            "Migration of {DOMAIN} from t5-a to t5-b: {}\n",
            summary.status
        );
        text.push_str(&output::migration_summary(&info));
        text.push_str(&format!(
            "  {:<18} {}\n",
            "memory identical", summary.memory_identical
        ));
        text.push_str(&format!(
            "  {:<18} {}\n",
            "vCPU state equal", summary.vcpu_state_identical
        ));
        text.push_str(&format!("  {:<18} {}\n", "runs on target", runs_on_target));
        console::out(&text)?;
    }
    let ok =
        summary.status == "completed" && summary.memory_identical && summary.vcpu_state_identical;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
