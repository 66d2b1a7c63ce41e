//! Two shim daemons in this process, talking real TCP on loopback through
//! their control sockets, as `ldmig serve` runs them: a migration with a
//! workload and status from both sides, a cancel from another client, the
//! guide's dry run, and a wrong password, tampered, replayed and truncated
//! stream, each refused with no domain lost.

mod support;

use ldmig_shim::control::{call, Event, Request};
use ldmig_shim::secure::HANDSHAKE_LEN;
use ldmig_shim::Daemon;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use support::{
    daemon_with, host_file, migration_done, options, wait_until, ALLOW_LOOPBACK, PASSWORD,
    PATIENT_DOWNTIME_MS,
};

fn host(name: &str, domain_memory: Option<&str>) -> String {
    let mut text = format!(
        "[host]\nname = \"{name}\"\ncpu_type = \"SPARC T5\"\ncpu_frequency_mhz = 3600\nstrands = 64\n\
         crypto_units = 4\nengine_versions = {{ oldest = 1, newest = 1 }}\n\n\
         [[memory]]\npa = 0x8000000\nsize = \"256M\"\n\n\
         [services]\nconsole_concentrator = \"primary-vcc0\"\nvirtual_switches = [\"primary-vsw0\"]\n\n\
         [[services.disk]]\nname = \"primary-vds0\"\nvolumes = [\"ldg1-vol0\"]\n{ALLOW_LOOPBACK}"
    );
    if let Some(memory) = domain_memory {
        text.push_str(&format!(
            "\n[[domain]]\nname = \"ldg1\"\nstate = \"active\"\nvcpus = 4\n\
             memory = [{{ ra = 0x8000000, pa = 0x8000000, size = \"{memory}\" }}]\n\
             disk = [{{ name = \"vdisk0\", service = \"primary-vds0\", volume = \"ldg1-vol0\" }}]\n\
             network = [{{ name = \"vnet0\", switch = \"primary-vsw0\" }}]\n"
        ));
    }
    text
}

fn daemon(tag: &str, toml: &str, password: &str, workload: &str) -> Daemon {
    daemon_with(tag, toml, password, workload, false)
}

/// Migrates ldg1 with the source daemon's own password.
fn migrate(source: &Daemon, target: &str, dry_run: bool, max_bandwidth: Option<u64>) -> Event {
    let request = Request::MigrateDomain {
        domain: "ldg1".into(),
        target: target.into(),
        target_domain: "ldg1".into(),
        dry_run,
        password_file: None,
        downtime_limit_ms: PATIENT_DOWNTIME_MS,
        max_bandwidth,
    };
    call(source.control_path(), &request, |_| {}).expect("daemon answers")
}

fn domains(daemon: &Daemon) -> Vec<ldmig_shim::control::DomainListing> {
    match call(
        daemon.control_path(),
        &Request::List { domain: None },
        |_| {},
    )
    .expect("daemon answers")
    {
        Event::Done { domains, .. } => domains,
        other => panic!("list failed: {other:?}"),
    }
}

fn state_of(daemon: &Daemon, name: &str) -> Option<String> {
    domains(daemon)
        .into_iter()
        .find(|domain| domain.name == name)
        .map(|domain| domain.state)
}

/// The migration `daemon` shows for ldg1, if any.
fn migration_info(daemon: &Daemon) -> Option<ldmig_shim::control::MigrationInfo> {
    domains(daemon)
        .into_iter()
        .find(|domain| domain.name == "ldg1")
        .and_then(|domain| domain.migration)
}

#[test]
fn two_daemons_migrate_a_domain_with_status_on_both_sides() {
    // The source holds the migration once round 0 ended (the test hook),
    // so both sides are surely seen in the middle of it, however fast or
    // slow the machine is; then it goes on.
    let source = daemon_with("src", &host("t5-a", Some("8M")), PASSWORD, "moderate", true);
    let target = daemon("dst", &host("t5-b", None), PASSWORD, "moderate");
    let address = target.listen_addr().to_string();
    let migration = std::thread::scope(|scope| {
        let running = scope.spawn(|| migrate(&source, &address, false, None));
        wait_until("the migration held", || {
            running.is_finished() || migration_info(&source).is_some_and(|info| info.held)
        });
        let on_source = migration_info(&source).expect("the source shows the migration");
        assert_eq!(on_source.side, "source");
        assert!(on_source.progress_percent < 100, "{on_source:?}");
        assert!(on_source.transferred_bytes > 0, "{on_source:?}");
        let on_target = migration_info(&target).expect("the target shows the migration");
        assert_eq!(on_target.side, "target");
        assert!(on_target.progress_percent < 100, "{on_target:?}");
        assert_eq!(state_of(&target, "ldg1").as_deref(), Some("bound"));
        release(&source);
        running.join().expect("migration thread")
    });
    let info = migration_done(&migration, "migration failed");
    assert_eq!(info.status, "completed");
    assert!(info.memory_digest.is_some());
    assert_eq!(
        info.memory_digest, info.peer_memory_digest,
        "memory differs"
    );
    assert_eq!(
        info.vcpu_digest, info.peer_vcpu_digest,
        "vCPU state differs"
    );
    assert_eq!(
        state_of(&source, "ldg1"),
        None,
        "the source still has the domain"
    );
    // The source reports Done once it saw the target's Resumed; the
    // target's daemon thread records the migrated domain (memory DR off)
    // right after its engine finished, which a loaded machine can delay:
    // wait for that record before looking at it.
    let listing = || {
        domains(&target)
            .into_iter()
            .find(|domain| domain.name == "ldg1")
            .expect("on the target")
    };
    wait_until("the target records ldg1 as migrated in", || {
        listing().memory_dr_disabled
    });
    let migrated = listing();
    assert_eq!(migrated.state, "active");
    assert!(
        migrated.memory_dr_disabled,
        "memory DR must be disabled until reboot"
    );
    source.shutdown();
    target.shutdown();
}

fn release(source: &Daemon) {
    let released = call(
        source.control_path(),
        &Request::ReleaseMigration {
            domain: "ldg1".into(),
            then: Default::default(),
        },
        |_| {},
    )
    .expect("daemon answers");
    assert!(matches!(released, Event::Done { .. }), "{released:?}");
}

#[test]
fn cancel_from_another_client_leaves_the_source_running() {
    // Held after round 0 (the test hook): the cancel surely comes while
    // the migration runs, before the commit.
    let source = daemon_with("src", &host("t5-a", Some("8M")), PASSWORD, "moderate", true);
    let target = daemon("dst", &host("t5-b", None), PASSWORD, "moderate");
    let address = target.listen_addr().to_string();
    let (migration, cancel) = std::thread::scope(|scope| {
        let running = scope.spawn(|| migrate(&source, &address, false, None));
        wait_until("the migration held", || {
            running.is_finished() || migration_info(&source).is_some_and(|info| info.held)
        });
        let cancel = call(
            source.control_path(),
            &Request::CancelMigration {
                domain: "ldg1".into(),
            },
            |_| {},
        )
        .expect("daemon answers");
        (running.join().expect("migration thread"), cancel)
    });
    assert!(
        matches!(cancel, Event::Done { .. }),
        "cancel refused: {cancel:?}"
    );
    match &migration {
        Event::Failed { message, .. } => assert!(message.contains("cancelled"), "{message}"),
        other => panic!("the migration was not cancelled: {other:?}"),
    }
    assert_eq!(state_of(&source, "ldg1").as_deref(), Some("active"));
    wait_until("the target releases its reservation", || {
        state_of(&target, "ldg1").is_none()
    });
    source.shutdown();
    target.shutdown();
}

#[test]
fn guides_memory_example_fails_with_the_guides_two_lines() {
    let source = daemon("src", &host_file("guide-source.toml"), PASSWORD, "none");
    let target = daemon("dst", &host_file("guide-target.toml"), PASSWORD, "none");
    let address = target.listen_addr().to_string();
    let expected = "Unable to bind 2G memory region at real address 0x8000000\nDomain Migration of LDom ldg-src failed";
    for dry_run in [true, false] {
        let request = Request::MigrateDomain {
            domain: "ldg-src".into(),
            target: address.clone(),
            target_domain: "ldg-src".into(),
            dry_run,
            password_file: None,
            downtime_limit_ms: 300,
            max_bandwidth: None,
        };
        match call(source.control_path(), &request, |_| {}).expect("daemon answers") {
            Event::Failed { message, migration } => {
                assert_eq!(message, expected, "dry run {dry_run}");
                assert!(migration.is_none(), "nothing may move");
            }
            other => panic!("the guide's example passed: {other:?}"),
        }
        assert_eq!(state_of(&source, "ldg-src").as_deref(), Some("active"));
        assert_eq!(
            state_of(&target, "ldg-src"),
            None,
            "the target holds the domain"
        );
    }
    source.shutdown();
    target.shutdown();
}

#[test]
fn wrong_password_is_refused_and_nothing_moves() {
    let source = daemon("src", &host("t5-a", Some("1M")), PASSWORD, "idle");
    let target = daemon("dst", &host("t5-b", None), "another password", "idle");
    let event = migrate(&source, &target.listen_addr().to_string(), false, None);
    match event {
        Event::Failed { message, .. } => {
            assert!(message.contains("Authentication"), "{message}");
            assert!(message.contains("password"), "{message}");
        }
        other => panic!("a wrong password was accepted: {other:?}"),
    }
    assert_eq!(state_of(&source, "ldg1").as_deref(), Some("active"));
    assert_eq!(state_of(&target, "ldg1"), None);
    source.shutdown();
    target.shutdown();
}

/// What the proxy does to the source-to-target stream.
#[derive(Clone, Copy)]
enum Attack {
    /// Flip a bit inside the n-th record after the handshake.
    Tamper(usize),
    /// Send the n-th record twice.
    Replay(usize),
    /// Cut the connection after the n-th record.
    Truncate(usize),
}

/// A man in the middle between source and target that understands the
/// record framing (4-byte length, 8-byte sequence, ciphertext).
fn proxy(target: String, attack: Attack) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
    let address = listener.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        let Ok((mut from_source, _)) = listener.accept() else {
            return;
        };
        let Ok(mut to_target) = TcpStream::connect(&target) else {
            return;
        };
        let (Ok(mut back_from_target), Ok(mut back_to_source)) =
            (to_target.try_clone(), from_source.try_clone())
        else {
            return;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut back_from_target, &mut back_to_source);
            let _ = back_to_source.shutdown(std::net::Shutdown::Both);
        });
        let mut handshake = vec![0u8; HANDSHAKE_LEN];
        if from_source.read_exact(&mut handshake).is_err()
            || to_target.write_all(&handshake).is_err()
        {
            return;
        }
        let mut index = 0;
        loop {
            let mut header = [0u8; 12];
            if from_source.read_exact(&mut header).is_err() {
                break;
            }
            let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let mut body = vec![0u8; length.min(8 << 20)];
            if from_source.read_exact(&mut body).is_err() {
                break;
            }
            let mut record = header.to_vec();
            record.extend_from_slice(&body);
            match attack {
                Attack::Tamper(n) if n == index => {
                    let last = record.len() - 1;
                    record[last / 2 + 6] ^= 0x01;
                }
                Attack::Truncate(n) if n == index => {
                    let _ = to_target.write_all(&record[..record.len() / 2]);
                    let _ = to_target.shutdown(std::net::Shutdown::Both);
                    let _ = from_source.shutdown(std::net::Shutdown::Both);
                    return;
                }
                _ => {}
            }
            if to_target.write_all(&record).is_err() {
                break;
            }
            if matches!(attack, Attack::Replay(n) if n == index)
                && to_target.write_all(&record).is_err()
            {
                break;
            }
            index += 1;
        }
        let _ = to_target.shutdown(std::net::Shutdown::Both);
    });
    address
}

#[test]
fn tampered_replayed_and_truncated_streams_are_refused_and_nothing_is_lost() {
    // Record 0 is Begin, 1 Start, then the engine's frames: attack one of those.
    for (attack, name) in [
        (Attack::Tamper(4), "tampered"),
        (Attack::Replay(4), "replayed"),
        (Attack::Truncate(4), "truncated"),
    ] {
        let source = daemon("src", &host("t5-a", Some("2M")), PASSWORD, "moderate");
        // The proxy takes one connection: the source's resume cannot reach
        // the target, which would wait its whole resume window (30 s) before
        // releasing what it reserved. One second is enough to show it does.
        let mut options = options("dst", &host("t5-b", None), PASSWORD, "moderate");
        options.limits.resume_window = Duration::from_secs(1);
        let target = Daemon::start(options).expect("daemon starts");
        let address = proxy(target.listen_addr().to_string(), attack);
        let event = migrate(&source, &address, false, None);
        assert!(
            matches!(event, Event::Failed { .. }),
            "{name} stream accepted: {event:?}"
        );
        // The target noticed and released what it reserved; the source runs.
        wait_until("the target releases what it reserved", || {
            state_of(&target, "ldg1").is_none()
        });
        assert_eq!(
            state_of(&source, "ldg1").as_deref(),
            Some("active"),
            "{name}: the source lost the domain"
        );
        source.shutdown();
        target.shutdown();
    }
}
