//! The `ldm` operations of two daemons in this process, while a migration
//! runs between them and after it: each refused (or, for the elastic power
//! policy, deferred) with the guide's reason while it runs, on both hosts,
//! on the migrating domain and on the others; each done afterwards; a reboot
//! of the migrated domain re-enabling its memory dynamic reconfiguration.
//!
//! The daemons run the `hold_migrations` test hook: the migration stops
//! after its first pre-copy round, before the commit, until the test
//! releases it, so every operation meets a running migration however slow
//! the machine. Nothing here depends on time. The same scenario through
//! `ldmig serve` processes is `host_only_operations_during_a_migration...`
//! in tests/cli.rs.

mod support;

use ldmig_shim::control::{Event, Request};
use ldmig_shim::operations::AdminOperation;
use ldmig_shim::Daemon;
use std::panic::AssertUnwindSafe;
use support::{
    ask, daemon_with, domains, guest, host, listing, migration, migration_done, operate, outcome,
    source_host, target_host, wait_until, PASSWORD,
};

const MIB: u64 = 1 << 20;
const MIGRATING_AWAY: &str = "refused: the domain is being migrated away from this machine";
const MIGRATING_HERE: &str = "refused: the domain is being migrated to this machine";
const NO_BIND_OR_STOP: &str = "no domain can be bound or stopped until the migration ends";
const NO_RECONFIGURATION: &str =
    "delayed reconfiguration operations are refused until the migration ends";
const ELASTIC_DEFERRED: &str = "The switch to elastic power-management mode is deferred";

/// Daemons of the two test hosts (`source_host`, `target_host`) on
/// loopback, both with `workload`, holding their migrations when `hold`:
/// (source, target).
fn source_and_target(workload: &str, hold: bool) -> (Daemon, Daemon) {
    let source = daemon_with("src", &source_host(), PASSWORD, workload, hold);
    let target = daemon_with("dst", &target_host(), PASSWORD, workload, hold);
    (source, target)
}

/// Shuts both daemons down.
fn shut_down(source: Daemon, target: Daemon) {
    source.shutdown();
    target.shutdown();
}

/// Every operation `ldm` has on one domain.
fn domain_operations(domain: &str) -> Vec<AdminOperation> {
    let domain = domain.to_string();
    vec![
        AdminOperation::BindDomain {
            domain: domain.clone(),
        },
        AdminOperation::UnbindDomain {
            domain: domain.clone(),
        },
        AdminOperation::StartDomain {
            domain: domain.clone(),
        },
        AdminOperation::StopDomain {
            domain: domain.clone(),
            reboot: false,
        },
        AdminOperation::StopDomain {
            domain: domain.clone(),
            reboot: true,
        },
        AdminOperation::AddMemory {
            domain: domain.clone(),
            bytes: 8 * MIB,
        },
        AdminOperation::RemoveMemory {
            domain: domain.clone(),
            bytes: 8 * MIB,
        },
        AdminOperation::SetMemory {
            domain: domain.clone(),
            bytes: 24 * MIB,
        },
        AdminOperation::AddVcpu {
            domain: domain.clone(),
            count: 1,
        },
        AdminOperation::RemoveVcpu {
            domain: domain.clone(),
            count: 1,
        },
        AdminOperation::SetVcpu {
            domain: domain.clone(),
            count: 4,
        },
        AdminOperation::AddCrypto {
            domain: domain.clone(),
            count: 1,
        },
        AdminOperation::RemoveCrypto {
            domain: domain.clone(),
            count: 1,
        },
        AdminOperation::SetCrypto {
            domain: domain.clone(),
            count: 2,
        },
        AdminOperation::SetDomain {
            domain,
            cpu_arch: "generic".into(),
        },
    ]
}

fn reconfiguration(domain: &str) -> [AdminOperation; 2] {
    [
        AdminOperation::StartReconf {
            domain: domain.into(),
        },
        AdminOperation::CancelReconf {
            domain: domain.into(),
        },
    ]
}

fn policy(name: &str) -> AdminOperation {
    AdminOperation::SetPowerPolicy {
        policy: name.into(),
    }
}

fn stop(domain: &str, reboot: bool) -> AdminOperation {
    AdminOperation::StopDomain {
        domain: domain.into(),
        reboot,
    }
}

/// Asserts that `operation` is refused with a reason containing `reason`.
fn refused(daemon: &Daemon, operation: &AdminOperation, reason: &str) {
    let (done, message) = outcome(&operate(daemon, operation));
    assert!(
        !done && message.contains(reason),
        "{operation:?} should be refused with {reason:?}, got {message:?}"
    );
}

/// Asserts that `operation` is done; returns its message.
fn done(daemon: &Daemon, operation: &AdminOperation) -> String {
    let (done, message) = outcome(&operate(daemon, operation));
    assert!(done, "{operation:?} refused: {message}");
    message
}

/// Migrates `domain` from `source` to `target`, runs `checks` while the
/// test hook holds the migration, then releases it (also when a check
/// failed, so that a failing test ends) and returns the migration's answer.
fn while_held(source: &Daemon, target: &Daemon, domain: &str, checks: impl FnOnce()) -> Event {
    let address = target.listen_addr().to_string();
    std::thread::scope(|scope| {
        let running = scope.spawn(|| ask(source, &migration(domain, &address, None)));
        let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            wait_until("the migration held after its first round", || {
                listing(source, domain)
                    .and_then(|listed| listed.migration)
                    .is_some_and(|info| info.held)
            });
            checks();
        }));
        let _ = ask(
            source,
            &Request::ReleaseMigration {
                then: Default::default(),
                domain: domain.into(),
            },
        );
        let answer = running.join().expect("migration thread");
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
        answer
    })
}

/// Waits until `daemon` no longer shows a migration of `domain` under way
/// (the source's answer comes once the target settled; this only guards
/// against a source that gave up waiting for the target's report).
fn settled(daemon: &Daemon, domain: &str) {
    wait_until("the migration settled", || {
        listing(daemon, domain).is_some_and(|listed| listed.flags.ends_with('-'))
    });
}

/// The power policy and the deferred one `list` shows.
fn power_policy(daemon: &Daemon) -> (String, Option<String>) {
    match ask(daemon, &Request::List { domain: None }) {
        Event::Done {
            host_listing: Some(host),
            ..
        } => (host.power_policy, host.deferred_power_policy),
        other => panic!("list failed: {other:?}"),
    }
}

/// Tries every guarded operation on a host while `migrating` migrates
/// there: all refused, the elastic switch deferred; an unguarded one on
/// another domain goes ahead.
fn everything_guarded(
    daemon: &Daemon,
    migrating: &str,
    side_reason: &str,
    others: (&str, &str, &str),
) {
    let (active, bound, inactive) = others;
    for operation in domain_operations(migrating) {
        refused(daemon, &operation, side_reason);
    }
    for operation in reconfiguration(migrating)
        .into_iter()
        .chain(reconfiguration("primary"))
    {
        refused(daemon, &operation, NO_RECONFIGURATION);
    }
    let bind = AdminOperation::BindDomain {
        domain: inactive.into(),
    };
    for operation in [
        bind,
        stop(active, false),
        stop(active, true),
        stop("primary", true),
    ] {
        refused(daemon, &operation, NO_BIND_OR_STOP);
    }
    assert!(done(daemon, &policy("elastic")).contains(ELASTIC_DEFERRED));
    assert_eq!(
        power_policy(daemon),
        ("performance".to_string(), Some("elastic".to_string()))
    );
    // Not guarded: other changes to other domains.
    done(
        daemon,
        &AdminOperation::AddVcpu {
            domain: bound.into(),
            count: 1,
        },
    );
}

#[test]
fn operations_during_a_migration_are_refused_or_deferred_then_succeed() {
    let (source, target) = source_and_target("moderate", true);
    let migrated = while_held(&source, &target, "ldg1", || {
        wait_until("the target reserved ldg1's memory", || {
            listing(&target, "ldg1")
                .is_some_and(|domain| domain.memory_blocks.iter().all(|(_, _, pa)| pa.is_some()))
        });
        // The half-copied domain on the target: bound, in transition, the
        // target of a migration, with the memory it holds.
        let incoming = listing(&target, "ldg1").expect("listed");
        assert_eq!(
            (incoming.state.as_str(), incoming.flags.as_str()),
            ("bound", "-t---t")
        );
        let outgoing = listing(&source, "ldg1").expect("listed");
        assert_eq!(&outgoing.flags[5..], "s");

        everything_guarded(&source, "ldg1", MIGRATING_AWAY, ("ldg4", "ldg2", "ldg3"));
        everything_guarded(&target, "ldg1", MIGRATING_HERE, ("ldgb1", "ldgb2", "ldgb3"));
    });
    let (completed, message) = outcome(&migrated);
    assert!(completed, "the migration failed: {message}");
    settled(&target, "ldg1");

    // The deferred switches took effect when the migration ended.
    for daemon in [&source, &target] {
        assert_eq!(power_policy(daemon), ("elastic".to_string(), None));
        done(daemon, &policy("performance"));
        done(daemon, &policy("elastic"));
        assert_eq!(power_policy(daemon), ("elastic".to_string(), None));
        done(daemon, &policy("performance"));
        for operation in reconfiguration("primary") {
            done(daemon, &operation);
        }
    }

    // The source's other domains: bind, start, stop, reboot.
    done(
        &source,
        &AdminOperation::BindDomain {
            domain: "ldg3".into(),
        },
    );
    done(
        &source,
        &AdminOperation::StartDomain {
            domain: "ldg3".into(),
        },
    );
    done(&source, &stop("ldg4", true));
    done(&source, &stop("ldg4", false));
    done(&target, &stop("ldgb1", true));
    done(
        &target,
        &AdminOperation::BindDomain {
            domain: "ldgb3".into(),
        },
    );

    // The migrated domain: everything but memory DR until it reboots.
    let ldg1 = |daemon: &Daemon| listing(daemon, "ldg1").expect("listed");
    assert!(ldg1(&target).memory_dr_disabled);
    let operations = domain_operations("ldg1");
    for operation in &operations[support::VCPU_AND_CRYPTO_CHANGES] {
        done(&target, operation);
    }
    for operation in &operations[support::MEMORY_CHANGES] {
        refused(&target, operation, support::MEMORY_DR_DISABLED);
    }
    assert!(done(&target, &stop("ldg1", true)).contains("enabled again"));
    assert!(!ldg1(&target).memory_dr_disabled);
    for operation in &operations[support::MEMORY_CHANGES] {
        done(&target, operation);
    }
    assert_eq!(ldg1(&target).memory_bytes, 24 * MIB);
    for operation in reconfiguration("ldg1") {
        done(&target, &operation);
    }
    // Stop, change its class, unbind, bind, start: the machine follows.
    let machine = target.machine();
    done(&target, &operations[3]);
    let id = machine.lock().domain_id("ldg1").expect("bound");
    assert!(!machine.lock().is_running(id));
    done(&target, &operations[14]);
    assert_eq!(ldg1(&target).cpu_arch, "generic");
    done(&target, &operations[1]);
    assert_eq!(machine.lock().domain_id("ldg1"), None);
    assert_eq!(ldg1(&target).state, "inactive");
    done(&target, &operations[0]);
    done(&target, &operations[2]);
    let id = machine.lock().domain_id("ldg1").expect("bound again");
    let digest = machine.lock().memory_digest(id);
    wait_until("the started domain's guest writes its memory", || {
        machine.lock().memory_digest(id) != digest
    });
    assert_eq!(ldg1(&target).state, "active");
    assert!(domains(&source).iter().all(|domain| domain.name != "ldg1"));
    shut_down(source, target);
}

#[test]
fn a_bound_domain_cannot_migrate_into_a_host_receiving_another() {
    let (source, target) = source_and_target("moderate", true);
    let address = target.listen_addr().to_string();
    let migrated = while_held(&source, &target, "ldg1", || {
        // Receiving ldg2 would bind it on the target while ldg1 migrates.
        let (moved, message) = outcome(&ask(&source, &migration("ldg2", &address, None)));
        assert!(!moved, "ldg2 was bound during another migration");
        assert!(
            message.contains("The target t5-b cannot bind ldg2")
                && message.contains(NO_BIND_OR_STOP),
            "{message}"
        );
        assert_eq!(listing(&source, "ldg2").expect("kept").state, "bound");
        assert!(listing(&target, "ldg2").is_none());
        // An inactive domain is not bound when it arrives: it may go.
        let (moved, message) = outcome(&ask(&source, &migration("ldg3", &address, None)));
        assert!(moved, "{message}");
        assert_eq!(listing(&target, "ldg3").expect("moved").state, "inactive");
    });
    let (completed, message) = outcome(&migrated);
    assert!(completed, "{message}");
    settled(&target, "ldg1");
    // Once it ended, the bound domain moves.
    let (moved, message) = outcome(&ask(&source, &migration("ldg2", &address, None)));
    assert!(moved, "{message}");
    shut_down(source, target);
}

#[test]
fn a_migrated_bound_domain_keeps_memory_dynamic_reconfiguration() {
    let (source, target) = source_and_target("moderate", false);
    let address = target.listen_addr().to_string();
    for domain in ["ldg1", "ldg2"] {
        let (moved, message) = outcome(&ask(&source, &migration(domain, &address, None)));
        assert!(moved, "{domain}: {message}");
        settled(&target, domain);
    }
    let active = listing(&target, "ldg1").expect("moved");
    assert_eq!(active.state, "active");
    assert!(active.memory_dr_disabled, "an active domain's OS moved");
    let bound = listing(&target, "ldg2").expect("moved");
    assert_eq!(bound.state, "bound");
    assert!(
        !bound.memory_dr_disabled,
        "a bound domain runs no OS: nothing to reboot"
    );
    done(
        &target,
        &AdminOperation::AddMemory {
            domain: "ldg2".into(),
            bytes: 8 * MIB,
        },
    );
    assert_eq!(
        listing(&target, "ldg2").expect("there").memory_bytes,
        24 * MIB
    );
    shut_down(source, target);
}

#[test]
fn an_inactive_domains_migration_reports_its_memory() {
    let (source, target) = source_and_target("none", false);
    let event = ask(
        &source,
        &migration("ldg3", &target.listen_addr().to_string(), None),
    );
    let info = migration_done(&event, "the inactive domain did not move");
    assert_eq!(info.domain_state, "inactive");
    assert_eq!(info.total_bytes, 16 * MIB, "{info:?}");
    assert_eq!(info.status, "completed");
    shut_down(source, target);
}

#[test]
fn the_niu_constraint_and_fewer_crypto_units_show_after_a_migration() {
    let ldg5 = guest(
        "ldg5",
        "active",
        2,
        Some(0x1800_0000),
        "crypto_units = 2\nsupports_crypto_dr = true\nniu_constraint = true\n",
    );
    let source = daemon_with(
        "src",
        &host("t5-a", "SPARC T5", 4, true, &ldg5),
        PASSWORD,
        "idle",
        false,
    );
    // One crypto unit and no NIU resources free on the target.
    let target = daemon_with(
        "dst",
        &host("t5-b", "SPARC T5", 1, false, ""),
        PASSWORD,
        "idle",
        false,
    );
    let before = listing(&source, "ldg5").expect("there");
    assert!(before.niu_constraint && before.niu_satisfied);
    assert_eq!((before.crypto_units, before.crypto_units_requested), (2, 2));
    let (moved, message) = outcome(&ask(
        &source,
        &migration("ldg5", &target.listen_addr().to_string(), None),
    ));
    assert!(moved, "{message}");
    settled(&target, "ldg5");
    let after = listing(&target, "ldg5").expect("moved");
    assert!(after.niu_constraint, "the constraint is kept");
    assert!(!after.niu_satisfied, "but not satisfied here");
    assert_eq!((after.crypto_units, after.crypto_units_requested), (1, 2));
    shut_down(source, target);
}

#[test]
fn a_generic_domain_migrates_to_another_processor_type() {
    let source = daemon_with("src", &source_host(), PASSWORD, "idle", false);
    let target = daemon_with(
        "dst",
        &host("t4-b", "SPARC T4", 8, false, "").replace("3600", "2848"),
        PASSWORD,
        "idle",
        false,
    );
    let address = target.listen_addr().to_string();
    // Active, its class cannot change; stopped, it can.
    let generic = AdminOperation::SetDomain {
        domain: "ldg4".into(),
        cpu_arch: "generic".into(),
    };
    refused(&source, &generic, "can only change while it is stopped");
    done(&source, &stop("ldg4", false));
    done(&source, &generic);
    refused(
        &source,
        &AdminOperation::SetDomain {
            domain: "ldg4".into(),
            cpu_arch: "sparc64-class1".into(),
        },
        "do not run domains of cpu-arch sparc64-class1",
    );
    done(
        &source,
        &AdminOperation::StartDomain {
            domain: "ldg4".into(),
        },
    );
    let (moved, message) = outcome(&ask(&source, &migration("ldg4", &address, None)));
    assert!(moved, "{message}");
    assert_eq!(listing(&target, "ldg4").expect("moved").cpu_arch, "generic");
    // ldg1 is native: not to a T4 from a T5.
    let (moved, message) = outcome(&ask(&source, &migration("ldg1", &address, None)));
    assert!(
        !moved && message.contains("Incompatible processors"),
        "{message}"
    );
    shut_down(source, target);
}

#[test]
fn a_pending_delayed_reconfiguration_or_the_elastic_policy_stops_a_migration() {
    let (source, target) = source_and_target("idle", false);
    let address = target.listen_addr().to_string();
    let [start, cancel] = reconfiguration("primary");
    let attempt = |daemon: &Daemon, expected: &str| {
        let (moved, message) = outcome(&ask(&source, &migration("ldg2", &address, None)));
        assert!(
            !moved && message.contains(expected),
            "{}: {message}",
            daemon.listen_addr()
        );
    };
    for daemon in [&source, &target] {
        done(daemon, &start);
        attempt(daemon, "delayed reconfiguration");
        done(daemon, &cancel);
        done(daemon, &policy("elastic"));
        attempt(daemon, "elastic");
        done(daemon, &policy("performance"));
    }
    let (moved, message) = outcome(&ask(&source, &migration("ldg2", &address, None)));
    assert!(moved, "{message}");
    shut_down(source, target);
}
