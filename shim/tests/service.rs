//! `packaging/ldmig.service` as systemd runs it: the test reads the unit's
//! ExecStart, Environment, EnvironmentFile and directories, lays out the
//! directories systemd would make (runtime, state, and /etc/ldmig with the
//! packaged default config) under a scratch root, expands the specifiers
//! and variables the way systemd does, starts that command line, and asks
//! the daemon `ldmig list` through the socket the unit's `LDMIG_CONTROL`
//! names. `systemd-analyze verify` checks the unit where it is installed.
//!
//! Host only (test names carry `host_only`): the daemon runs as a child
//! process, which a test under qemu-sparc64 user mode cannot start. The
//! user switch (`User=ldmig`) and `UMask=` are systemd's to apply and are
//! not reproduced here; the test checks the unit asks for them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_ldmig");

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(file)
}

/// The `[Service]` settings of a unit: key to the values of its lines.
fn service_settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            settings
                .entry(key.trim().to_string())
                .or_default()
                .push(value.trim().to_string());
        }
    }
    settings
}

/// The single value of `key`.
fn single<'a>(settings: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match settings.get(key).map(Vec::as_slice) {
        Some([value]) => value,
        other => panic!("the unit has {other:?} for {key}, not one value"),
    }
}

/// systemd's specifiers of a system unit: %t the runtime root (/run), %S
/// the state root (/var/lib), %% a percent sign.
fn specifiers(text: &str, runtime: &Path, state: &Path) -> String {
    text.replace("%%", "\u{0}")
        .replace("%t", &runtime.to_string_lossy())
        .replace("%S", &state.to_string_lossy())
        .replace('\u{0}', "%")
}

/// `${NAME}` expanded from `environment`, as systemd does in ExecStart
/// (an unknown name expands to nothing).
fn variables(text: &str, environment: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            panic!("unterminated variable in {text}");
        };
        let name = &rest[start + 2..start + end];
        out.push_str(environment.get(name).map_or("", String::as_str));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// An EnvironmentFile's assignments.
fn environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn the_unit_starts_the_daemon_that_answers_list_host_only() {
    let unit = std::fs::read_to_string(packaging("ldmig.service")).expect("the unit");
    let settings = service_settings(&unit);
    assert_eq!(single(&settings, "User"), "ldmig");
    assert_eq!(single(&settings, "Group"), "ldmig");
    assert_eq!(single(&settings, "StateDirectory"), "ldmig");
    assert_eq!(single(&settings, "RuntimeDirectory"), "ldmig");
    assert_eq!(single(&settings, "UMask"), "0007");

    // The scratch root: /etc/ldmig, /run and /var/lib.
    let root = std::env::temp_dir().join(format!("ldmig-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let etc = root.join("etc/ldmig");
    let runtime_root = root.join("run");
    let state_root = root.join("var/lib");
    // What systemd makes before it starts the service.
    let runtime = runtime_root.join(single(&settings, "RuntimeDirectory"));
    let state = state_root.join(single(&settings, "StateDirectory"));
    for directory in [&etc, &runtime, &state] {
        std::fs::create_dir_all(directory).expect("a scratch directory");
    }
    // The package's /etc/ldmig: the default config and host file, and a
    // password as postinst makes one.
    let in_etc = |text: &str| text.replace("/etc/ldmig", &etc.to_string_lossy());
    let config_path = single(&settings, "EnvironmentFile");
    assert_eq!(config_path, "/etc/ldmig/ldmig.conf");
    let config = std::fs::read_to_string(packaging("ldmig.conf")).expect("the default config");
    std::fs::write(etc.join("ldmig.conf"), &config).expect("write the config");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hv/sim/hosts/demo-source.toml"),
        etc.join("host.toml"),
    )
    .expect("the default host file");
    std::fs::write(etc.join("password"), "a generated password\n").expect("a password");
    // As postinst leaves it: readable by its owner and group only (the
    // daemon refuses a password file others may read).
    std::fs::set_permissions(etc.join("password"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod the password");

    let mut environment: BTreeMap<String, String> = environment_file(&config)
        .into_iter()
        .map(|(key, value)| (key, in_etc(&value)))
        .collect();
    for key in [
        "LDMIG_CONTROL_GROUP",
        "LDMIG_HOST",
        "LDMIG_LISTEN",
        "LDMIG_PASSWORD_FILE",
        "LDMIG_WORKLOAD",
        "LDMIG_SEED",
    ] {
        assert!(
            environment.contains_key(key),
            "the default config sets {key}"
        );
    }
    // Any free port, not 8101, which another test or daemon may hold.
    let listen = environment["LDMIG_LISTEN"].clone();
    let (address, _) = listen.rsplit_once(':').expect("LDMIG_LISTEN is ADDR:PORT");
    environment.insert("LDMIG_LISTEN".into(), format!("{address}:0"));
    // The package makes the group `ldmig`; here, the test's own group.
    let group = Command::new("id").arg("-gn").output().expect("id -gn");
    let group = String::from_utf8_lossy(&group.stdout).trim().to_string();
    environment.insert("LDMIG_CONTROL_GROUP".into(), group);
    for assignment in settings.get("Environment").into_iter().flatten() {
        let (key, value) = assignment.split_once('=').expect("Environment=KEY=VALUE");
        environment.insert(
            key.to_string(),
            specifiers(value, &runtime_root, &state_root),
        );
    }
    environment.insert("RUNTIME_DIRECTORY".into(), runtime.to_string_lossy().into());
    environment.insert("STATE_DIRECTORY".into(), state.to_string_lossy().into());

    let exec_start = single(&settings, "ExecStart");
    assert!(
        !exec_start.contains(['"', '\'', '\\']),
        "ExecStart is split on white space here: no quoting in {exec_start}"
    );
    let command_line = variables(
        &specifiers(exec_start, &runtime_root, &state_root),
        &environment,
    );
    let words: Vec<&str> = command_line.split_whitespace().collect();
    assert_eq!(
        words[0], "/usr/bin/ldmig",
        "the package installs ldmig there"
    );
    let working_directory = specifiers(
        single(&settings, "WorkingDirectory"),
        &runtime_root,
        &state_root,
    );
    assert_eq!(Path::new(&working_directory), state);

    let control = PathBuf::from(&environment["LDMIG_CONTROL"]);
    assert_eq!(control, runtime.join("control.sock"));
    let _daemon = Daemon(
        Command::new(BINARY)
            .args(&words[1..])
            .env_clear()
            .envs(&environment)
            .current_dir(&working_directory)
            .spawn()
            .expect("the daemon starts"),
    );
    // The daemon makes its socket once it is ready (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !control.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        control.exists(),
        "no control socket at {}",
        control.display()
    );

    let output = Command::new(BINARY)
        .arg("list")
        .env_clear()
        .env("LDMIG_CONTROL", &environment["LDMIG_CONTROL"])
        .output()
        .expect("ldmig list runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ldmig list: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.starts_with("NAME "), "{text}");
    assert!(text.contains("primary") && text.contains("ldg1"), "{text}");
    assert!(text.contains("Power-management policy of t5-a"), "{text}");
    drop(_daemon);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as a child process"
)]
fn systemd_analyze_verifies_the_unit_host_only() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed on this machine");
        return;
    };
    assert!(version.status.success());
    // verify wants the ExecStart binary to exist: the built one stands in
    // for /usr/bin/ldmig; nothing else of the unit changes. The man pages
    // of Documentation= are not installed here (--man=no).
    let unit = std::fs::read_to_string(packaging("ldmig.service")).expect("the unit");
    let directory = std::env::temp_dir().join(format!("ldmig-verify-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let path = directory.join("ldmig.service");
    std::fs::write(&path, unit.replace("/usr/bin/ldmig", BINARY)).expect("write the unit");
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{errors}");
    assert!(errors.trim().is_empty(), "{errors}");
    let _ = std::fs::remove_dir_all(&directory);
}
