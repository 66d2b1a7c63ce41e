//! A daemon tried as a hostile local user or network peer would try it,
//! in this process (both platforms): a restart after a migration, the
//! control socket's path taken or held, requests too long or not UTF-8,
//! idle and silent connections by the hundred, wrong passwords in a loop,
//! targets the host file does not allow, password files anyone can read,
//! bad names and ports in raw requests.
//!
//! The same daemon as `ldmig serve` processes, killed with `SIGKILL`, is
//! in tests/cli.rs and tests/fault_matrix.rs (host only).

mod support;

use ldmig_shim::bounds::Limits;
use ldmig_shim::control::{call, Event, Request};
use ldmig_shim::peer::{decode, encode_message, PeerMessage, PeerRecord};
use ldmig_shim::secure::{ChannelError, SecureChannel, Truncation};
use ldmig_shim::{Daemon, DaemonOptions, LogSink};
use ldmig_sim::description::HostDescription;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{domains, listing, migration, options, outcome, socket_path, wait_until, PASSWORD};

/// A host with ldg1 (active, 4M) when `with_domain`, allowing `allowed`.
fn host(name: &str, with_domain: bool, allowed: &str) -> String {
    let mut text = format!(
        "[host]\nname = \"{name}\"\ncpu_type = \"SPARC T5\"\ncpu_frequency_mhz = 3600\nstrands = 64\n\
         engine_versions = {{ oldest = 1, newest = 1 }}\n\n[[memory]]\npa = 0x8000000\nsize = \"256M\"\n\n\
         [services]\nconsole_concentrator = \"primary-vcc0\"\nvirtual_switches = [\"primary-vsw0\"]\n\n\
         [[domain]]\nname = \"ldg2\"\nstate = \"bound\"\nvcpus = 2\n\
         memory = [{{ ra = 0x8000000, pa = 0x9000000, size = \"4M\" }}]\n"
    );
    if with_domain {
        text.push_str(
            "\n[[domain]]\nname = \"ldg1\"\nstate = \"active\"\nvcpus = 4\n\
             memory = [{ ra = 0x8000000, pa = 0x8000000, size = \"4M\" }]\n\
             network = [{ name = \"vnet0\", switch = \"primary-vsw0\" }]\n",
        );
    }
    if !allowed.is_empty() {
        text.push_str(&format!("\n[migration]\nallowed_targets = [{allowed}]\n"));
    }
    text
}

fn scratch(tag: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("ldmig-hardening-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

/// A log sink that keeps every line.
fn captured_log() -> (LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let sink: LogSink = Arc::new(move |line: &str| {
        kept.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line.to_string());
    });
    (sink, lines)
}

fn start(options: DaemonOptions) -> Daemon {
    Daemon::start(options).expect("daemon starts")
}

/// A daemon of the host `toml` with no workload, the test password.
fn quiet_daemon(tag: &str, toml: &str) -> Daemon {
    start(options(tag, toml, PASSWORD, "none"))
}

/// How long a test waits for a daemon's answer on a socket: a safety
/// net against a hang, never a timing.
const PATIENCE: Duration = Duration::from_secs(120);

fn state_of(daemon: &Daemon, name: &str) -> Option<String> {
    listing(daemon, name).map(|domain| domain.state)
}

#[test]
fn a_restarted_daemon_never_shows_a_domain_that_left() {
    let directory = scratch("restart");
    let start_host = |name: &str, with_domain: bool, path: PathBuf| {
        let mut options = options(
            name,
            &host(name, with_domain, "\"127.0.0.1\""),
            PASSWORD,
            "idle",
        );
        options.state_dir = Some(directory.join(name));
        options.control_path = path;
        start(options)
    };
    let (a_socket, b_socket) = (socket_path("restart-a"), socket_path("restart-b"));
    let a = start_host("t5-a", true, a_socket.clone());
    let b = start_host("t5-b", false, b_socket.clone());
    let (done, message) = outcome(&support::ask(
        &a,
        &migration("ldg1", &b.listen_addr().to_string(), None),
    ));
    assert!(done, "migration failed: {message}");
    // Stop both at once, as a crash would (every change was saved as it
    // happened), and start them again from their host files.
    a.shutdown();
    b.shutdown();
    let a = start_host("t5-a", true, a_socket);
    let b = start_host("t5-b", false, b_socket);
    assert_eq!(
        state_of(&a, "ldg1"),
        None,
        "ldg1 left t5-a: {:?}",
        domains(&a)
    );
    assert_eq!(state_of(&b, "ldg1").as_deref(), Some("active"));
    assert!(
        listing(&b, "ldg1").is_some_and(|domain| domain.memory_dr_disabled),
        "memory DR stays disabled until ldg1 reboots"
    );
    assert_eq!(state_of(&a, "ldg2").as_deref(), Some("bound"));
    a.shutdown();
    b.shutdown();
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn a_restart_keeps_what_the_operations_changed() {
    use ldmig_shim::operations::AdminOperation;
    let directory = scratch("operations");
    let start_host = || {
        let mut options = options("ops", &host("t5-a", true, ""), PASSWORD, "idle");
        options.state_dir = Some(directory.join("t5-a"));
        start(options)
    };
    let daemon = start_host();
    let unbind = AdminOperation::UnbindDomain {
        domain: "ldg2".into(),
    };
    let policy = AdminOperation::SetPowerPolicy {
        policy: "disabled".into(),
    };
    for operation in [&unbind, &policy] {
        let (done, message) = outcome(&support::operate(&daemon, operation));
        assert!(done, "{message}");
    }
    daemon.shutdown();
    let daemon = start_host();
    assert_eq!(state_of(&daemon, "ldg2").as_deref(), Some("inactive"));
    let Event::Done { host_listing, .. } = support::ask(&daemon, &Request::List { domain: None })
    else {
        panic!("list failed");
    };
    assert_eq!(
        host_listing.map(|listing| listing.power_policy).as_deref(),
        Some("disabled")
    );
    // The state directory is this daemon's while it runs.
    let mut second = options("ops2", &host("t5-a", true, ""), PASSWORD, "idle");
    second.state_dir = Some(directory.join("t5-a"));
    let error = Daemon::start(second)
        .err()
        .expect("a second daemon is refused");
    assert!(error.contains("another ldmig daemon uses"), "{error}");
    daemon.shutdown();
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn the_control_path_is_never_taken_over() {
    let directory = scratch("control-path");
    let path = directory.join("control.sock");
    // A file there stays, and the daemon does not start.
    std::fs::write(&path, b"precious").expect("a file");
    let mut taken = options("path", &host("t5-a", false, ""), PASSWORD, "none");
    taken.control_path = path.clone();
    let error = Daemon::start(taken).err().expect("refused");
    assert!(error.contains("left alone"), "{error}");
    assert_eq!(std::fs::read(&path).expect("kept"), b"precious");
    std::fs::remove_file(&path).expect("cleanup");
    // A second daemon on the path of one that answers is refused; the
    // first one still answers.
    let mut first = options("path", &host("t5-a", false, ""), PASSWORD, "none");
    first.control_path = path.clone();
    let first = start(first);
    let mut second = options("path", &host("t5-b", false, ""), PASSWORD, "none");
    second.control_path = path.clone();
    let error = Daemon::start(second).err().expect("refused");
    assert!(error.contains("another ldmig daemon answers"), "{error}");
    let Event::Done { host, .. } = support::ask(&first, &Request::List { domain: None }) else {
        panic!("the first daemon does not answer");
    };
    assert_eq!(host, "t5-a");
    first.shutdown();
    assert!(!path.exists(), "its own socket goes with it");
    let _ = std::fs::remove_dir_all(&directory);
}

/// Writes `bytes` to the daemon's socket and reads its one answer line.
fn raw_request(daemon: &Daemon, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(daemon.control_path()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    // The daemon may answer and close before all is written.
    let _ = stream.write_all(bytes);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn control_requests_are_bounded_and_always_answered() {
    let daemon = quiet_daemon("requests", &host("t5-a", false, ""));
    let long = vec![b' '; 2 << 20];
    let answer = raw_request(&daemon, &long);
    assert!(
        answer.contains("longer than 1048576 bytes"),
        "a 2 MiB line: {answer}"
    );
    let answer = raw_request(&daemon, b"\xff\xfe\xfd{\"command\":\"list\"}\n");
    assert!(answer.contains("not UTF-8"), "non-UTF-8 bytes: {answer}");
    let answer = raw_request(&daemon, b"{\"command\":\"list\"\n");
    assert!(answer.contains("bad request"), "broken JSON: {answer}");
    assert!(!domains(&daemon).is_empty(), "the daemon still answers");
    daemon.shutdown();
}

/// A daemon whose connections are capped at `cap`, with `timeout` for an
/// idle control client and a silent peer's handshake.
fn capped(tag: &str, cap: usize, timeout: Duration) -> Daemon {
    let mut options = options(tag, &host("t5-b", false, ""), PASSWORD, "none");
    options.limits = Limits {
        max_control_connections: cap,
        control_idle_timeout: timeout,
        max_peer_connections: cap,
        handshake_timeout: timeout,
        ..options.limits
    };
    start(options)
}

fn read_all(mut stream: impl Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes
}

#[test]
fn idle_control_connections_are_capped_and_closed() {
    // Past the cap, every connection is refused at once, with the reason.
    let daemon = capped("idle-cap", 8, Duration::from_secs(3600));
    let held: Vec<UnixStream> = (0..8)
        .map(|_| UnixStream::connect(daemon.control_path()).expect("connect"))
        .collect();
    wait_until("eight connections served", || {
        daemon.control_connections() == 8
    });
    for _ in 0..192 {
        let stream = UnixStream::connect(daemon.control_path()).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let answer = String::from_utf8(read_all(stream)).expect("UTF-8");
        assert!(answer.contains("busy"), "{answer}");
        assert_eq!(daemon.control_connections(), 8, "the cap holds");
    }
    drop(held);
    daemon.shutdown();
    // An idle connection is closed once its timeout passed, its slot given
    // back.
    let daemon = capped("idle-close", 8, Duration::from_millis(100));
    let idle: Vec<UnixStream> = (0..8)
        .map(|_| UnixStream::connect(daemon.control_path()).expect("connect"))
        .collect();
    for stream in idle {
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        assert!(
            read_all(stream).is_empty(),
            "nothing is said to a silent client"
        );
    }
    wait_until("every slot is given back", || {
        daemon.control_connections() == 0
    });
    assert!(!domains(&daemon).is_empty(), "the daemon still answers");
    daemon.shutdown();
}

#[test]
fn silent_peers_are_capped_and_dropped() {
    let daemon = capped("peers-cap", 4, Duration::from_secs(3600));
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(daemon.listen_addr()).expect("connect"))
        .collect();
    wait_until("four peers served", || daemon.peer_connections() == 4);
    for _ in 0..196 {
        let stream = TcpStream::connect(daemon.listen_addr()).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        assert!(read_all(stream).is_empty(), "closed before any handshake");
        assert_eq!(daemon.peer_connections(), 4, "the cap holds");
    }
    drop(held);
    daemon.shutdown();
    // A peer that says nothing is dropped once the handshake timeout passed.
    let daemon = capped("peers-close", 4, Duration::from_millis(100));
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(daemon.listen_addr()).expect("connect"))
        .collect();
    for stream in silent {
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let bytes = read_all(stream);
        assert_eq!(
            bytes.len(),
            ldmig_shim::secure::handshake::HELLO_LEN,
            "its hello, then the end"
        );
    }
    wait_until("every peer slot is given back", || {
        daemon.peer_connections() == 0
    });
    daemon.shutdown();
}

/// A handshake with `password` from loopback.
fn handshake(target: &Daemon, password: &str) -> Result<(), ChannelError> {
    let stream = TcpStream::connect(target.listen_addr()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    SecureChannel::connect(stream, password.as_bytes()).map(|_| ())
}

#[test]
fn failed_authentications_back_off_and_log_a_summary() {
    let (sink, lines) = captured_log();
    let mut options = options("backoff", &host("t5-b", false, ""), PASSWORD, "none");
    options.log = Some(sink);
    options.limits = Limits {
        auth_backoff_base: Duration::from_secs(3600),
        ..options.limits
    };
    let daemon = start(options);
    assert!(matches!(
        handshake(&daemon, "a wrong guess"),
        Err(ChannelError::WrongPassword)
    ));
    // Backed off: closed before the daemon says anything, even with the
    // right password.
    for attempt in 0..50 {
        let password = if attempt % 2 == 0 { "guess" } else { PASSWORD };
        match handshake(&daemon, password) {
            Err(ChannelError::Truncated(Truncation::Handshake { received: 0, .. }))
            | Err(ChannelError::Io(_)) => {}
            other => panic!("attempt {attempt} was not closed at once: {other:?}"),
        }
    }
    // The first refusal is logged once its handshake has ended, which
    // may be after the tries above were refused.
    wait_until("the back-off is said", || {
        let lines = lines.lock().expect("log");
        lines.iter().any(|line| line.contains("closed for"))
    });
    daemon.shutdown();
    let lines = lines.lock().expect("log").clone();
    assert!(lines.len() <= 2, "{} lines: {lines:#?}", lines.len());
}

#[test]
fn only_targets_the_host_file_allows_are_reached() {
    // Something listening where the request points: it must never hear
    // from the source.
    let decoy = TcpListener::bind("127.0.0.1:0").expect("decoy");
    decoy.set_nonblocking(true).expect("nonblocking");
    let address = decoy.local_addr().expect("address").to_string();
    for allowed in ["", "\"t5-b\"", "\"127.0.0.1:1\""] {
        let source = quiet_daemon("allowed", &host("t5-a", true, allowed));
        for dry_run in [true, false] {
            let mut request = migration("ldg1", &address, None);
            if let Request::MigrateDomain { dry_run: dry, .. } = &mut request {
                *dry = dry_run;
            }
            let (done, message) = outcome(&support::ask(&source, &request));
            assert!(!done, "allowed {allowed:?}: migrated to an unlisted target");
            assert!(message.contains("allowed_targets"), "{message}");
        }
        assert_eq!(state_of(&source, "ldg1").as_deref(), Some("active"));
        source.shutdown();
    }
    assert!(
        decoy.accept().is_err(),
        "the source dialled an unlisted target"
    );
    // A password in a raw request is not a field: it changes nothing.
    let source = quiet_daemon("allowed", &host("t5-a", true, ""));
    let line = format!(
        "{{\"command\":\"migrate-domain\",\"domain\":\"ldg1\",\"target\":\"{address}\",\"target_domain\":\"ldg1\",\"dry_run\":false,\"password\":\"mine\",\"downtime_limit_ms\":300,\"max_bandwidth\":null}}\n"
    );
    let answer = raw_request(&source, line.as_bytes());
    assert!(answer.contains("allowed_targets"), "{answer}");
    assert!(
        decoy.accept().is_err(),
        "the source dialled an unlisted target"
    );
    source.shutdown();
}

fn password_file(directory: &Path, name: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = directory.join(name);
    std::fs::write(&path, format!("{PASSWORD}\n")).expect("password file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn a_password_file_must_be_the_clients_and_private() {
    let directory = scratch("password-files");
    let target = quiet_daemon("pw-target", &host("t5-b", false, ""));
    let source = start(options(
        "pw-source",
        &host("t5-a", true, "\"127.0.0.1\""),
        "the source's own",
        "none",
    ));
    let ask_with = |file: &Path| {
        let mut request = migration("ldg1", &target.listen_addr().to_string(), None);
        if let Request::MigrateDomain {
            password_file,
            dry_run,
            ..
        } = &mut request
        {
            *password_file = Some(file.to_path_buf());
            *dry_run = true;
        }
        outcome(&support::ask(&source, &request))
    };
    let (done, message) = ask_with(&password_file(&directory, "world", 0o644));
    assert!(!done && message.contains("chmod 600"), "{message}");
    let (done, message) = ask_with(&password_file(&directory, "writable", 0o620));
    assert!(!done && message.contains("chmod 600"), "{message}");
    let (done, message) = ask_with(&directory);
    assert!(!done && message.contains("not a regular file"), "{message}");
    let private = password_file(&directory, "private", 0o600);
    let (done, message) = ask_with(&private);
    assert!(done, "this user's private file: {message}");
    // Another user's file is not read for this one (root may give its
    // file away to show it; a file of root's may be read for anyone).
    let me = ldmig_shim::control_socket::effective_uid();
    if me == 0 {
        std::os::unix::fs::chown(&private, Some(4242), None).expect("chown");
        let (done, message) = ask_with(&private);
        assert!(!done && message.contains("owned by user 4242"), "{message}");
    }
    source.shutdown();
    target.shutdown();
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn bad_names_and_ports_in_raw_requests_are_refused_with_their_reason() {
    let target = quiet_daemon("names-target", &host("t5-b", false, ""));
    let source = quiet_daemon("names-source", &host("t5-a", true, "\"127.0.0.1\""));
    let address = target.listen_addr().to_string();
    let long = "x".repeat(65);
    for (target_address, target_domain, reason) in [
        (address.as_str(), "", "cannot be empty"),
        (
            address.as_str(),
            "../ldg1",
            "starts with a letter or a digit",
        ),
        (address.as_str(), "ldg\n1", "not '\\n'"),
        (address.as_str(), long.as_str(), "at most 64 bytes"),
        ("127.0.0.1:99999", "ldg1", "out of range"),
    ] {
        let mut request = migration("ldg1", target_address, None);
        if let Request::MigrateDomain {
            target_domain: name,
            dry_run,
            ..
        } = &mut request
        {
            *name = target_domain.to_string();
            *dry_run = true;
        }
        let (done, message) = outcome(&support::ask(&source, &request));
        assert!(!done, "{target_domain:?} at {target_address} passed");
        assert!(
            message.contains(reason),
            "{target_domain:?}: {message:?} lacks {reason:?}"
        );
        assert_eq!(message.matches(reason).count(), 1, "said once: {message}");
    }
    // A source shim that sends a bad name itself is refused by the target.
    let stream = TcpStream::connect(target.listen_addr()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut channel = SecureChannel::connect(stream, PASSWORD.as_bytes()).expect("handshake");
    let description = HostDescription::from_toml_str(&host("t5-a", true, "")).expect("description");
    let begin = PeerMessage::Begin {
        source: Box::new(description.resources()),
        domain: Box::new(description.domain_requirements("ldg1").expect("ldg1")),
        target_domain: "../../etc".into(),
        dry_run: true,
    };
    channel.send(&encode_message(&begin)).expect("send");
    match channel.receive().ok().and_then(decode) {
        Some(PeerRecord::Message(PeerMessage::Checks { failed, report, .. })) => {
            assert!(failed, "{report}");
            assert!(report.contains("Target domain name"), "{report}");
        }
        other => panic!("the target did not refuse the name: {other:?}"),
    }
    assert_eq!(state_of(&target, "../../etc"), None);
    source.shutdown();
    target.shutdown();
}

#[test]
fn a_client_talks_only_to_a_socket_it_trusts() {
    let directory = scratch("client-trust");
    let path = directory.join("not-a-socket");
    std::fs::write(&path, b"x").expect("file");
    match call(&path, &Request::List { domain: None }, |_| {}) {
        Err(error) => assert!(error.to_string().contains("not a socket"), "{error}"),
        Ok(event) => panic!("talked to a file: {event:?}"),
    }
    let _ = std::fs::remove_dir_all(&directory);
}
