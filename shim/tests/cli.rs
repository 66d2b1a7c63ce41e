//! The `ldmig` binary as an administrator uses it: two `ldmig serve`
//! processes on loopback, `migrate-domain`, `list -o status` from both sides
//! while it runs, `cancel-operation` from a third process, the dry run of
//! the guide's example and its listings, every guarded `ldm` operation on
//! both hosts while a migration runs and after it, and `ldmig` writing into
//! a closed pipe.
//!
//! Host only (test names carry `host_only`): these tests start the binary as
//! child processes, which a test under qemu-sparc64 user mode cannot do
//! (there is no binfmt_misc registration to run a sparc64 child). The same
//! scenarios run in-process on both platforms in tests/daemon.rs,
//! tests/operations.rs and the binary's own unit tests (layout, console).

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::processes::{host_toml, ldmig, ldmig_in_background, text, Host, Scratch, BINARY};

/// The scratch directory of test `name`, its password file holding
/// `password`.
fn scratch(name: &str, password: &str) -> Scratch {
    Scratch::new("cli", name, password)
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_two_serve_processes_migrate_watch_and_cancel() {
    let scratch = scratch("migrate", "s3cret-migration\n");
    // Both hold their outgoing migrations after round 0 (the test hook):
    // each migration is surely watched, and cancelled, while it runs.
    let hold = ["--hold-migrations"];
    let a = scratch.serve("t5-a", &host_toml("t5-a", Some("16M")), &hold);
    let b = scratch.serve("t5-b", &host_toml("t5-b", None), &hold);
    let password = scratch.password_arg();
    // Migrate ldg1 a -> b, watched from both sides while it holds.
    let migration = ldmig_in_background(
        &a.control,
        &[
            "--json",
            "migrate-domain",
            "-p",
            password,
            "ldg1",
            &b.address,
        ],
    );
    wait_held(&a, "ldg1", &migration);
    let on_a = text(&ldmig(&a.control, &["list", "-o", "status"]));
    assert!(on_a.contains("TARGET"), "{on_a}");
    let on_b = text(&ldmig(&b.control, &["list", "-o", "status"]));
    assert!(on_b.contains("SOURCE"), "{on_b}");
    let released = ldmig(&a.control, &["release-migration", "ldg1"]);
    assert!(released.status.success(), "{}", text(&released));
    let output = migration.join().expect("migration thread");
    assert!(
        output.status.success(),
        "migration failed: {}",
        text(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let info = &report["migration"];
    assert_eq!(info["status"], "completed");
    assert_eq!(
        info["memory_digest"], info["peer_memory_digest"],
        "memory differs"
    );
    assert_eq!(
        info["vcpu_digest"], info["peer_vcpu_digest"],
        "vCPU state differs"
    );
    assert!(
        !text(&ldmig(&a.control, &["list"])).contains("ldg1"),
        "ldg1 still on the source"
    );
    assert!(text(&ldmig(&b.control, &["list", "ldg1"])).contains("active"));

    // Migrate it back and cancel it from a third process while it holds.
    let second = ldmig_in_background(
        &b.control,
        &["migrate-domain", "-p", password, "ldg1", &a.address],
    );
    wait_held(&b, "ldg1", &second);
    let cancel = ldmig(&b.control, &["cancel-operation", "migration", "ldg1"]);
    assert!(cancel.status.success(), "cancel failed: {}", text(&cancel));
    let second = second.join().expect("second migration");
    assert!(!second.status.success());
    assert!(text(&second).contains("cancelled"), "{}", text(&second));
    assert!(
        text(&ldmig(&b.control, &["list", "ldg1"])).contains("active"),
        "ldg1 does not run on b"
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while text(&ldmig(&a.control, &["list"])).contains("ldg1") {
        assert!(Instant::now() < deadline, "a kept a reservation");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_dry_run_of_the_guides_example_prints_its_two_lines() {
    let (scratch, source, target) = guide_hosts("guide");
    let output = ldmig(
        &source.control,
        &[
            "migrate-domain",
            "-n",
            "-p",
            scratch.password_arg(),
            "ldg-src",
            &target.address,
        ],
    );
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "Unable to bind 2G memory region at real address 0x8000000\nDomain Migration of LDom ldg-src failed"
    );
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_bad_input_gets_a_clear_error() {
    let scratch = scratch("errors", "pw\n");
    let missing = scratch.directory.join("missing.sock");
    let output = ldmig(&missing, &["list"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("cannot reach the ldmig daemon"),
        "{}",
        text(&output)
    );
    let output = ldmig(&missing, &["migrate-domain", "ldg1", "somewhere:99999"]);
    assert!(text(&output).contains("out of range"), "{}", text(&output));
    let output = ldmig(&missing, &["demo", "--memory", "3Q"]);
    assert!(text(&output).contains("unknown unit"), "{}", text(&output));
    let output = Command::new(BINARY)
        .arg("--help")
        .output()
        .expect("ldmig runs");
    assert!(text(&output).contains("migrate-domain"));
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_demo_json_reports_a_completed_identical_migration() {
    let output = Command::new(BINARY)
        .args([
            "demo",
            "--memory",
            "16M",
            "--workload",
            "heavy",
            "--seed",
            "3",
            "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ldmig runs");
    assert!(output.status.success(), "{}", text(&output));
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["memory_identical"], true);
    assert_eq!(summary["vcpu_state_identical"], true);
    for field in [
        "total_time_ms",
        "setup_time_ms",
        "downtime_ms",
        "rounds",
        "transferred_bytes",
        "total_bytes",
        "zero_pages",
        "normal_pages",
        "compressed_pages",
        "compression_ratio",
        "mbps",
        "cpu_throttle_percentage",
    ] {
        assert!(summary[field].is_number(), "{field} missing: {summary}");
    }
    assert_eq!(summary["total_bytes"], 16 << 20);
}

/// The guide's two hosts (hv/sim/hosts/guide-*.toml) served from the
/// scratch directory of test `name`: (scratch, source, target).
fn guide_hosts(name: &str) -> (Scratch, Host, Host) {
    let scratch = scratch(name, "pw\n");
    let source = scratch.serve(
        "guide-source",
        &support::host_file("guide-source.toml"),
        &[],
    );
    let target = scratch.serve(
        "guide-target",
        &support::host_file("guide-target.toml"),
        &[],
    );
    (scratch, source, target)
}

/// Every `ldm` operation on one domain, as command lines.
fn domain_commands(domain: &str) -> Vec<String> {
    [
        "bind-domain",
        "unbind-domain",
        "start-domain",
        "stop-domain",
        "stop-domain -r",
        "add-memory 8M",
        "remove-memory 8M",
        "set-memory 24M",
        "add-vcpu 1",
        "remove-vcpu 1",
        "set-vcpu 4",
        "add-crypto 1",
        "remove-crypto 1",
        "set-crypto 2",
        "set-domain cpu-arch=generic",
    ]
    .iter()
    .map(|command| format!("{command} {domain}"))
    .collect()
}

/// Runs `command` (words) on a host; returns success and all it printed.
fn run_command(host: &Host, command: &str) -> (bool, String) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let output = ldmig(&host.control, &words);
    (output.status.success(), text(&output))
}

fn refused_by(host: &Host, command: &str, reason: &str) {
    let (done, printed) = run_command(host, command);
    assert!(
        !done && printed.contains(reason),
        "`{command}` should be refused with {reason:?}: {printed}"
    );
}

fn succeeds(host: &Host, command: &str) -> String {
    let (done, printed) = run_command(host, command);
    assert!(done, "`{command}` failed: {printed}");
    printed
}

/// The migration of `domain` on `host`, from `ldmig --json list DOMAIN`.
fn migration_of(host: &Host, domain: &str) -> serde_json::Value {
    let output = ldmig(&host.control, &["--json", "list", domain]);
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    answer["domains"][0]["migration"].clone()
}

/// Waits until `host` holds the migration of `domain` (the hold test
/// hooks), which `migration` (the `migrate-domain` process) runs; the
/// deadline is a safety net, not a timing.
fn wait_held(host: &Host, domain: &str, migration: &std::thread::JoinHandle<Output>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while migration_of(host, domain)["held"] != true {
        assert!(
            !migration.is_finished(),
            "the migration ended before it held"
        );
        assert!(Instant::now() < deadline, "the migration never held");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every guarded operation on a host while `migrating` migrates there.
fn all_guarded(host: &Host, migrating: &str, side: &str, active: &str, inactive: &str) {
    for command in domain_commands(migrating) {
        refused_by(host, &command, side);
    }
    let reconfiguration = "delayed reconfiguration operations are refused until the migration ends";
    for command in [
        format!("start-reconf {migrating}"),
        format!("cancel-reconf {migrating}"),
        "start-reconf primary".to_string(),
        "cancel-reconf primary".to_string(),
    ] {
        refused_by(host, &command, reconfiguration);
    }
    let machine_wide = "no domain can be bound or stopped until the migration ends";
    for command in [
        format!("bind-domain {inactive}"),
        format!("stop-domain {active}"),
        format!("stop-domain -r {active}"),
    ] {
        refused_by(host, &command, machine_wide);
    }
    let deferred = succeeds(host, "set-power-policy elastic");
    assert!(
        deferred.contains("The switch to elastic power-management mode is deferred"),
        "{deferred}"
    );
    let listed = succeeds(host, "list");
    assert!(
        listed.contains("performance (elastic requested: it takes effect when the migrations end)"),
        "{listed}"
    );
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_operations_during_a_migration_between_two_serve_processes() {
    let scratch = scratch("operations", "s3cret-migration\n");
    // The hook holds the migration after its first pre-copy round, before
    // the commit, until release-migration: it surely runs meanwhile.
    let hold = ["--hold-migrations"];
    let a = scratch.serve("t5-a", &support::source_host(), &hold);
    let b = scratch.serve("t5-b", &support::target_host(), &hold);
    let migration = ldmig_in_background(
        &a.control,
        &[
            "migrate-domain",
            "-p",
            scratch.password_arg(),
            "ldg1",
            &b.address,
        ],
    );
    wait_held(&a, "ldg1", &migration);
    let checks = std::panic::catch_unwind(|| {
        let listed = succeeds(&b, "list ldg1");
        assert!(
            listed.contains("ldg1             bound      -t---t"),
            "{listed}"
        );
        all_guarded(
            &a,
            "ldg1",
            "refused: the domain is being migrated away from this machine",
            "ldg4",
            "ldg3",
        );
        all_guarded(
            &b,
            "ldg1",
            "refused: the domain is being migrated to this machine",
            "ldgb1",
            "ldgb3",
        );
    });
    succeeds(&a, "release-migration ldg1");
    let output = migration.join().expect("migration thread");
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
    assert!(output.status.success(), "{}", text(&output));
    // The source answers once the target settled; this only guards against
    // a source that gave up waiting for the target's report.
    let deadline = Instant::now() + Duration::from_secs(300);
    while migration_of(&b, "ldg1")["status"]
        .as_str()
        .is_none_or(|status| status != "completed")
        || text(&ldmig(&b.control, &["list", "ldg1"])).contains("-t---t")
    {
        assert!(Instant::now() < deadline, "the target never settled");
        std::thread::sleep(Duration::from_millis(10));
    }

    // After it: the deferred switch took effect, and everything goes.
    for host in [&a, &b] {
        assert!(succeeds(host, "list").contains(": elastic\n"));
        succeeds(host, "set-power-policy performance");
        succeeds(host, "start-reconf primary");
        succeeds(host, "cancel-reconf primary");
    }
    for command in [
        "bind-domain ldg3",
        "stop-domain -r ldg4",
        "stop-domain ldg4",
    ] {
        succeeds(&a, command);
    }
    for command in [
        "bind-domain ldgb3",
        "stop-domain -r ldgb1",
        "stop-domain ldgb1",
    ] {
        succeeds(&b, command);
    }
    let commands = domain_commands("ldg1");
    for command in &commands[support::VCPU_AND_CRYPTO_CHANGES] {
        succeeds(&b, command);
    }
    for command in &commands[support::MEMORY_CHANGES] {
        refused_by(&b, command, support::MEMORY_DR_DISABLED);
    }
    assert!(succeeds(&b, "stop-domain -r ldg1").contains("enabled again"));
    for command in &commands[support::MEMORY_CHANGES] {
        succeeds(&b, command);
    }
    for index in [3, 14, 1, 0, 2] {
        succeeds(&b, &commands[index]);
    }
    let listed = succeeds(&b, "list ldg1");
    assert!(
        listed.contains("ldg1             active     -n----  4"),
        "{listed}"
    );
    assert!(listed.contains("24M"), "{listed}");
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_guides_listings_are_printed_character_for_character() {
    let (_scratch, source, target) = guide_hosts("listings");
    let devices = ldmig(&target.control, &["list-devices", "memory"]);
    assert!(devices.status.success(), "{}", text(&devices));
    assert_eq!(
        String::from_utf8_lossy(&devices.stdout),
        "MEMORY\n    PA                   SIZE\n    0x108000000          1G\n    0x188000000          1G\n"
    );
    let memory = ldmig(&source.control, &["list", "-o", "memory", "ldg-src"]);
    assert!(memory.status.success(), "{}", text(&memory));
    assert_eq!(
        String::from_utf8_lossy(&memory.stdout),
        "NAME\nldg-src\n\nMEMORY\n    RA               PA               SIZE\n    0x8000000        0x208000000      2G\n"
    );
}

/// Runs ldmig with its standard output a pipe nobody reads any more.
fn into_closed_pipe(control: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(BINARY)
        .args(["--control", control.to_str().expect("utf-8 path")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("ldmig runs")
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_a_closed_pipe_ends_ldmig_quietly() {
    let scratch = scratch("pipe", "pw\n");
    let password_arg = scratch.password_arg();
    let a = scratch.serve("t5-a", &support::source_host(), &[]);
    let b = scratch.serve("t5-b", &support::target_host(), &[]);
    for args in [
        vec!["--json", "list"],
        vec!["list"],
        vec!["list", "-l"],
        vec!["list-devices", "memory"],
        vec![
            "migrate-domain",
            "-n",
            "-p",
            password_arg,
            "ldg1",
            &b.address,
        ],
        vec![
            "--json",
            "migrate-domain",
            "-p",
            password_arg,
            "ldg2",
            &b.address,
        ],
    ] {
        let output = into_closed_pipe(&a.control, &args);
        let errors = String::from_utf8_lossy(&output.stderr);
        assert!(!errors.contains("panicked"), "ldmig {args:?}: {errors}");
        assert!(errors.is_empty(), "ldmig {args:?} is not quiet: {errors}");
        // Like a command killed by SIGPIPE: 128 + 13.
        assert_eq!(output.status.code(), Some(141), "ldmig {args:?}");
    }
    // The migration went through all the same.
    assert!(text(&ldmig(&b.control, &["list", "ldg2"])).contains("bound"));
}
