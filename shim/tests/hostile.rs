//! `ldmig serve` processes tried as a hostile local user would: a daemon
//! killed with `SIGKILL` after a migration and started again, the control
//! socket under `umask 000` and used by another user, a socket made by
//! another user that would receive a request, a second daemon on the same
//! socket, a file at the socket's path, and files given where they do not
//! belong.
//!
//! Host only (test names carry `host_only`): they start the binary as child
//! processes, which qemu-sparc64 user mode cannot. The same checks run
//! in-process on both platforms in tests/hardening.rs.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use support::processes::{host_toml, ldmig, password_file, serve_command, text, wait_for, Scratch};

/// The scratch directory of test `name`, with its password file.
fn scratch(name: &str) -> Scratch {
    Scratch::new("hostile", name, "s3cret\n")
}

fn is_root() -> bool {
    ldmig_shim::control_socket::effective_uid() == 0
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_a_killed_daemon_never_shows_a_domain_that_left() {
    let scratch = scratch("restart");
    let mut a = scratch.serve(
        "t5-a",
        &host_toml("t5-a", Some("8M")),
        &["--workload", "idle"],
    );
    let b = scratch.serve("t5-b", &host_toml("t5-b", None), &[]);
    let migrated = ldmig(&a.control, &["migrate-domain", "ldg1", &b.address]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    a.kill9();
    a.restart();
    let on_a = text(&ldmig(&a.control, &["list"]));
    assert!(!on_a.contains("ldg1"), "ldg1 is back on t5-a: {on_a}");
    let on_b = text(&ldmig(&b.control, &["list", "ldg1"]));
    assert!(on_b.contains("active"), "{on_b}");
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_files_given_where_they_do_not_belong_are_refused_once() {
    let scratch = scratch("files");
    let (directory, password) = (&scratch.directory, &scratch.password);
    let control = directory.join("t5-a.sock");
    let serve = |host: &Path, password: &Path| {
        serve_command(&control, host, password, &directory.join("state"))
            .stdin(Stdio::null())
            .output()
            .expect("ldmig runs")
    };
    // A directory as the host file: the cause, once.
    let output = serve(directory, password);
    assert!(!output.status.success());
    let said = text(&output);
    let cause = std::io::Error::from_raw_os_error(21).to_string();
    assert_eq!(said.matches(&cause).count(), 1, "{said}");
    // A password file others may change or read.
    let host = directory.join("t5-a.toml");
    std::fs::write(&host, host_toml("t5-a", None)).expect("host file");
    for mode in [0o666, 0o644, 0o620] {
        std::fs::set_permissions(password, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let output = serve(&host, password);
        assert!(!output.status.success(), "mode {mode:o} accepted");
        assert!(text(&output).contains("chmod 600"), "{}", text(&output));
    }
    // An unknown list section.
    let output = ldmig(&control, &["list", "-o", "bogus"]);
    assert!(
        text(&output).contains("unknown -o section 'bogus'"),
        "{}",
        text(&output)
    );
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_the_control_socket_is_private_whatever_the_umask() {
    let scratch = scratch("umask");
    let (directory, password) = (&scratch.directory, &scratch.password);
    let host = directory.join("t5-a.toml");
    std::fs::write(&host, host_toml("t5-a", Some("8M"))).expect("host file");
    let control = directory.join("t5-a.sock");
    // `umask 000; exec ldmig serve ...`: the daemon's umask only.
    let script = format!(
        "umask 000; exec {} --control {} serve --host {} --listen 127.0.0.1:0 --password-file {} --state-dir {}",
        support::processes::BINARY,
        control.display(),
        host.display(),
        password.display(),
        directory.join("state").display()
    );
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
    wait_for("an answer of the daemon", || {
        ldmig(&control, &["list"]).status.success()
    });
    let mode = std::fs::metadata(&control).expect("socket").mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o} under umask 000");
    if is_root() {
        // Another user cannot list (the mode, then SO_PEERCRED, refuse it).
        std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let output = Command::new(support::processes::BINARY)
            .arg("--control")
            .arg(&control)
            .arg("list")
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::null())
            .output()
            .expect("ldmig runs as nobody");
        assert!(!output.status.success(), "nobody listed: {}", text(&output));
        assert!(
            text(&output).contains("Permission denied")
                || text(&output).contains("permission denied"),
            "{}",
            text(&output)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_nothing_goes_to_a_socket_of_another_user() {
    if !is_root() {
        // Only root can run a daemon as another user; the client's check
        // is the one tests/hardening.rs and control_socket's tests cover.
        return;
    }
    let scratch = scratch("nobody");
    let (directory, password) = (&scratch.directory, &scratch.password);
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::os::unix::fs::chown(password, Some(65534), Some(65534)).expect("chown");
    let host = directory.join("t5-x.toml");
    std::fs::write(&host, host_toml("t5-x", Some("8M"))).expect("host file");
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let control = directory.join("trap.sock");
    // nobody's daemon, at a path root might be told to use.
    let mut trap = serve_command(&control, &host, password, &directory.join("nobody-state"))
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ldmig serve as nobody");
    wait_for("the start of nobody's daemon", || control.exists());
    let mine = directory.join("mine");
    password_file(&mine, "root's secret\n");
    for args in [
        vec![
            "migrate-domain",
            "-p",
            mine.to_str().expect("utf-8"),
            "ldg1",
            "127.0.0.1:1",
        ],
        vec!["list"],
    ] {
        let output = ldmig(&control, &args);
        assert!(!output.status.success(), "{args:?}: {}", text(&output));
        assert!(
            text(&output).contains("belongs to user 65534"),
            "{args:?}: {}",
            text(&output)
        );
    }
    let _ = trap.kill();
    let _ = trap.wait();
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn host_only_a_second_daemon_never_takes_the_socket_over() {
    let scratch = scratch("second");
    let directory = &scratch.directory;
    let first = scratch.serve("t5-a", &host_toml("t5-a", None), &[]);
    let host = directory.join("t5-b.toml");
    std::fs::write(&host, host_toml("t5-b", None)).expect("host file");
    let second = |control: &Path| {
        serve_command(
            control,
            &host,
            &scratch.password,
            &directory.join("t5-b.state"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("ldmig runs")
    };
    let output = second(&first.control);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("another ldmig daemon answers"),
        "{}",
        text(&output)
    );
    let listed = text(&ldmig(&first.control, &["list"]));
    assert!(
        listed.contains("t5-a"),
        "the first daemon is unreachable: {listed}"
    );
    // A file at the path stays as it is.
    let precious = directory.join("precious");
    std::fs::write(&precious, b"do not delete").expect("file");
    let output = second(&precious);
    assert!(!output.status.success());
    assert!(text(&output).contains("left alone"), "{}", text(&output));
    assert_eq!(std::fs::read(&precious).expect("kept"), b"do not delete");
}
