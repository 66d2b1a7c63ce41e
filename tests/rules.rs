//! The guide's migration rules over the example host descriptions: one test
//! per rule, the guide's memory example, a host breaking five rules, and the
//! operation locks, one test per operation.

use ldmig::rules::{
    bind_memory_blocks, check_migration, CheckReport, DomainAction, Finding, HostSide,
    LockDecision, LockReason, MigrationSide, Operation, OperationLocks, Rule, Severity,
};
use ldmig_hv::resources::{
    name, CpuArchClass, DomainRequirements, DomainState, FreeRange, HostResources, MemorySize,
    PowerMode, VersionRange,
};
use ldmig_sim::description::HostDescription;
use ldmig_sim::machine::{DomainSpec, SimError};

const GUIDE_SOURCE: &str = include_str!("../hv/sim/hosts/guide-source.toml");
const GUIDE_TARGET: &str = include_str!("../hv/sim/hosts/guide-target.toml");
const DEMO_SOURCE: &str = include_str!("../hv/sim/hosts/demo-source.toml");
const DEMO_TARGET: &str = include_str!("../hv/sim/hosts/demo-target.toml");
const FIVE_RULES_BROKEN: &str = include_str!("../hv/sim/hosts/five-rules-broken.toml");

const GIGABYTE: u64 = 1 << 30;

fn describe(text: &str) -> HostDescription {
    HostDescription::from_toml_str(text).expect("the example host description is valid")
}

/// The demo pair: (source, ldg1, target).
fn demo() -> (HostResources, DomainRequirements, HostResources) {
    let source = describe(DEMO_SOURCE);
    let domain = source
        .domain_requirements("ldg1")
        .expect("ldg1 is on the demo source");
    (
        source.resources(),
        domain,
        describe(DEMO_TARGET).resources(),
    )
}

fn failures(report: &CheckReport) -> Vec<Finding> {
    report.failures().cloned().collect()
}

fn warnings(report: &CheckReport) -> Vec<Finding> {
    report.warnings().cloned().collect()
}

/// Asserts that `report` fails on `rule` alone.
fn assert_fails_only(report: &CheckReport, rule: Rule) {
    assert!(report.failed(), "{report}");
    let rules: Vec<Rule> = report.failed_rules().iter().collect();
    assert_eq!(rules, [rule], "{report}");
    let text = report.to_string();
    assert!(
        text.ends_with(&format!(
            "Domain Migration of LDom {} failed\n",
            report.domain()
        )),
        "{text}"
    );
}

#[test]
fn demo_pair_is_compatible_for_every_domain() {
    let source = describe(DEMO_SOURCE);
    let target = describe(DEMO_TARGET).resources();
    for domain in ["ldg1", "ldg2", "ldg3"] {
        let requirements = source.domain_requirements(domain).expect("described");
        let report = check_migration(&source.resources(), &requirements, &target);
        assert!(!report.failed(), "{domain}: {report}");
        assert_eq!(report.warnings().count(), 0, "{domain}: {report}");
    }
}

#[test]
fn guide_example_prints_exactly_the_two_lines() {
    let source = describe(GUIDE_SOURCE);
    let target = describe(GUIDE_TARGET);
    let domain = source.domain_requirements("ldg-src").expect("described");
    let report = check_migration(&source.resources(), &domain, &target.resources());
    assert_eq!(
        report.to_string(),
        "Unable to bind 2G memory region at real address 0x8000000\n\
         Domain Migration of LDom ldg-src failed\n"
    );
    assert_fails_only(&report, Rule::Memory);
}

#[test]
fn guide_example_target_shows_two_free_one_gigabyte_ranges() {
    let target = describe(GUIDE_TARGET).resources();
    assert_eq!(target.name.as_str(), "dt212-239");
    assert_eq!(
        target.free_memory.as_slice(),
        &[
            FreeRange {
                pa: 0x1_0800_0000,
                size: GIGABYTE
            },
            FreeRange {
                pa: 0x1_8800_0000,
                size: GIGABYTE
            },
        ]
    );
    let source = describe(GUIDE_SOURCE);
    let domain = source.domain_requirements("ldg-src").expect("described");
    assert_eq!(domain.memory_blocks.len(), 1);
    assert_eq!(domain.memory_blocks[0].real_address, 0x800_0000);
    assert_eq!(MemorySize(domain.memory_blocks[0].size).to_string(), "2G");
}

#[test]
fn five_rule_host_lists_all_five() {
    let (source, domain, _) = demo();
    let target = describe(FIVE_RULES_BROKEN).resources();
    let report = check_migration(&source, &domain, &target);
    let rules: Vec<Rule> = report.failed_rules().iter().collect();
    assert_eq!(
        rules,
        [
            Rule::Cpu,
            Rule::VirtualIo,
            Rule::DelayedReconfiguration,
            Rule::PowerManagement,
            Rule::EngineVersion,
        ],
        "{report}"
    );
    assert_eq!(report.failure_count(), 5, "{report}");
    assert_eq!(
        warnings(&report),
        [Finding::FewerCryptoUnits {
            held: 1,
            free_on_target: 0
        }]
    );
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    // Five failures, one warning, one note (crypto units removed and added
    // back), then the verdict.
    assert_eq!(lines.len(), 8, "{text}");
    assert!(lines[0].contains("SPARC T4 at 2848 MHz"), "{text}");
    assert!(lines[1].contains("virtual switch primary-vsw0"), "{text}");
    assert!(lines[2].contains("delayed reconfiguration"), "{text}");
    assert!(lines[3].contains("elastic"), "{text}");
    assert!(
        lines[4].contains("wire version 1, the target wire versions 2-3"),
        "{text}"
    );
    assert!(lines[5].starts_with("Warning: "), "{text}");
    assert!(lines[6].starts_with("Note: "), "{text}");
    assert_eq!(lines[7], "Domain Migration of LDom ldg1 failed");
}

#[test]
fn rule_memory_needs_enough_free_memory() {
    let (source, domain, mut target) = demo();
    target.free_memory.clear();
    target
        .free_memory
        .push(FreeRange {
            pa: 0x2_0000_0000,
            size: 256 << 20,
        })
        .expect("room");
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::Memory);
    let found = failures(&report);
    assert_eq!(
        found[0],
        Finding::NotEnoughFreeMemory {
            required: MemorySize(320 << 20),
            free: MemorySize(256 << 20)
        }
    );
    assert!(report.to_string().starts_with(
        "Not enough free memory on the target machine: the domain needs 320M, the target has 256M free\n"
    ));
    // The 256M block takes the range; the 64M block finds nothing left.
    assert_eq!(
        found[1],
        Finding::UnableToBindMemory {
            size: MemorySize(64 << 20),
            real_address: 0x2000_0000
        }
    );
}

#[test]
fn rule_memory_block_needs_one_contiguous_range() {
    let (source, domain, mut target) = demo();
    // 1 GB free in total, but no range of 256M: four ranges of 192M.
    target.free_memory.clear();
    for index in 0..4u64 {
        target
            .free_memory
            .push(FreeRange {
                pa: 0x2_0000_0000 + index * GIGABYTE,
                size: 192 << 20,
            })
            .expect("room");
    }
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::Memory);
    assert_eq!(
        failures(&report),
        [Finding::UnableToBindMemory {
            size: MemorySize(256 << 20),
            real_address: 0x800_0000
        }]
    );
}

#[test]
fn rule_memory_blocks_keep_count_sizes_and_real_addresses() {
    let (_, domain, target) = demo();
    let binding = bind_memory_blocks(&domain.memory_blocks, &target.free_memory);
    assert!(binding.is_complete());
    assert_eq!(binding.blocks.len(), domain.memory_blocks.len());
    let mut taken: Vec<(u64, u64)> = Vec::new();
    for (bound, block) in binding.blocks.iter().zip(domain.memory_blocks.iter()) {
        assert_eq!(bound.real_address, block.real_address);
        assert_eq!(bound.size, block.size);
        let pa = bound.physical_address.expect("bound");
        let inside = target
            .free_memory
            .iter()
            .any(|range| range.pa <= pa && pa + bound.size <= range.pa + range.size);
        assert!(inside, "block at {pa:#x} is not inside a free range");
        for (other_pa, other_size) in &taken {
            assert!(pa + bound.size <= *other_pa || other_pa + other_size <= pa);
        }
        taken.push((pa, bound.size));
    }
}

#[test]
fn rule_memory_check_agrees_with_the_machine_binding() {
    // Where the check says a block cannot be bound, the machine cannot bind it
    // either; where it can, the machine binds it at the planned address.
    let guide_target = describe(GUIDE_TARGET);
    let ldg_src = describe(GUIDE_SOURCE)
        .domain_requirements("ldg-src")
        .expect("described");
    let mut machine = guide_target.build_machine().expect("binds");
    let spec = |domain: &DomainRequirements| DomainSpec::first_fit(domain, 0);
    assert!(matches!(
        machine.add_domain(spec(&ldg_src)),
        Err(SimError::NoContiguousRange { ra: 0x800_0000, .. })
    ));
    assert_eq!(machine.free_memory(), 2 * GIGABYTE, "nothing was taken");

    let (_, ldg1, target) = demo();
    let plan = bind_memory_blocks(&ldg1.memory_blocks, &target.free_memory);
    let mut machine = describe(DEMO_TARGET).build_machine().expect("binds");
    let id = machine
        .add_domain(spec(&ldg1))
        .expect("the plan says it fits");
    let bound: Vec<u64> = machine
        .memory_blocks(id)
        .iter()
        .map(|(_, pa)| *pa)
        .collect();
    let planned: Vec<u64> = plan
        .blocks
        .iter()
        .map(|block| block.physical_address.expect("bound"))
        .collect();
    assert_eq!(bound, planned);
}

#[test]
fn rule_cpu_needs_same_type_and_frequency() {
    let (source, domain, mut target) = demo();
    target.cpu_frequency_mhz = 3200;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::Cpu);
    assert!(matches!(
        failures(&report)[..],
        [Finding::IncompatibleProcessor {
            target_frequency_mhz: 3200,
            ..
        }]
    ));
    let (source, domain, mut target) = demo();
    target.cpu_type = name("SPARC M7").expect("short");
    assert_fails_only(&check_migration(&source, &domain, &target), Rule::Cpu);
}

#[test]
fn rule_cpu_compatible_arch_class_allows_different_processors() {
    let (source, mut domain, mut target) = demo();
    target.cpu_type = name("SPARC M7").expect("short");
    target.cpu_frequency_mhz = 4133;
    domain.cpu_arch = CpuArchClass::MigrationClass1;
    assert!(!check_migration(&source, &domain, &target).failed());
    domain.cpu_arch = CpuArchClass::Sparc64Class1;
    assert_fails_only(&check_migration(&source, &domain, &target), Rule::Cpu);
    target.cpu_type = name("UltraSPARC T2 Plus").expect("short");
    domain.cpu_arch = CpuArchClass::MigrationClass1;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::Cpu);
    assert!(
        report
            .to_string()
            .contains("does not run domains of cpu-arch migration-class1"),
        "{report}"
    );
}

#[test]
fn rule_cpu_arch_is_each_domains_own() {
    // Two domains of one host: the generic one may go to another processor
    // type, the native one may not.
    let source = describe(DEMO_SOURCE);
    let mut target = describe(DEMO_TARGET).resources();
    target.cpu_type = name("SPARC T4").expect("short");
    target.cpu_frequency_mhz = 2848;
    let mut generic = source.domain_requirements("ldg1").expect("described");
    generic.cpu_arch = CpuArchClass::Generic;
    let native = source.domain_requirements("ldg1").expect("described");
    assert_eq!(native.cpu_arch, CpuArchClass::Native);
    assert!(!check_migration(&source.resources(), &generic, &target).failed());
    let report = check_migration(&source.resources(), &native, &target);
    assert_fails_only(&report, Rule::Cpu);
    assert!(
        report.to_string().contains("cpu-arch=generic"),
        "the failure says how to allow it: {report}"
    );
}

#[test]
fn rule_cpu_needs_enough_free_strands() {
    let (source, domain, mut target) = demo();
    target.free_strands = 7;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::Cpu);
    assert_eq!(
        failures(&report),
        [Finding::NotEnoughStrands {
            required: 8,
            free: 7
        }]
    );
}

#[test]
fn rule_physical_io_refused() {
    let (source, mut domain, target) = demo();
    domain
        .physical_io_devices
        .push(name("pci@400").expect("short"))
        .expect("room");
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::PhysicalIo);
    assert!(report.to_string().contains("pci@400"), "{report}");
    // Whatever the state: an inactive I/O domain is refused too.
    domain.state = DomainState::Inactive;
    assert_fails_only(
        &check_migration(&source, &domain, &target),
        Rule::PhysicalIo,
    );
}

#[test]
fn rule_virtual_io_disk_service_and_volume_must_exist() {
    let (source, domain, mut target) = demo();
    target.virtual_io.disk_services[0].volumes.clear();
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::VirtualIo);
    assert!(matches!(
        &failures(&report)[..],
        [Finding::DiskVolumeMissing { volume, .. }] if volume == "ldg1-vol0"
    ));
    target.virtual_io.disk_services.clear();
    let report = check_migration(&source, &domain, &target);
    assert!(matches!(
        &failures(&report)[..],
        [Finding::DiskServiceMissing { service, .. }] if service == "primary-vds0"
    ));
}

#[test]
fn rule_virtual_io_virtual_switch_must_exist() {
    let (source, domain, mut target) = demo();
    target.virtual_io.virtual_switches.clear();
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::VirtualIo);
    assert!(matches!(
        &failures(&report)[..],
        [Finding::VirtualSwitchMissing { switch, network }] if switch == "primary-vsw0" && network == "vnet0"
    ));
}

#[test]
fn rule_virtual_io_console_concentrator_must_exist() {
    let (source, domain, mut target) = demo();
    target.virtual_io.console_concentrator = None;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::VirtualIo);
    assert_eq!(failures(&report), [Finding::ConsoleConcentratorMissing]);
}

#[test]
fn rule_niu_unsatisfied_is_a_warning() {
    let (source, mut domain, mut target) = demo();
    domain.niu_constraint = true;
    target.niu_available = false;
    let report = check_migration(&source, &domain, &target);
    assert!(!report.failed(), "{report}");
    assert_eq!(warnings(&report), [Finding::NiuConstraintUnsatisfied]);
    target.niu_available = true;
    assert!(warnings(&check_migration(&source, &domain, &target)).is_empty());
}

#[test]
fn rule_crypto_units_fewer_on_target_is_a_warning() {
    let (source, mut domain, mut target) = demo();
    domain.crypto_units = 3;
    target.free_crypto_units = 2;
    let report = check_migration(&source, &domain, &target);
    assert!(!report.failed(), "{report}");
    assert_eq!(
        warnings(&report),
        [Finding::FewerCryptoUnits {
            held: 3,
            free_on_target: 2
        }]
    );
}

#[test]
fn rule_crypto_units_removed_and_added_back_with_crypto_dr() {
    let (source, domain, target) = demo();
    let report = check_migration(&source, &domain, &target);
    let notes: Vec<Finding> = report.notes().cloned().collect();
    assert_eq!(
        notes,
        [Finding::CryptoUnitsRemovedAndAddedBack { units: 1 }]
    );
    assert_eq!(
        report.to_string(),
        "Note: The domain's 1 crypto unit will be removed at the start of the migration and added back at the end\n"
    );
}

#[test]
fn rule_crypto_units_without_crypto_dr_refused() {
    let (source, mut domain, target) = demo();
    domain.supports_crypto_dynamic_reconfiguration = false;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::CryptoUnits);
    // A bound domain runs no OS: its units are bound on the target directly.
    domain.state = DomainState::Bound;
    assert!(!check_migration(&source, &domain, &target).failed());
}

#[test]
fn rule_delayed_reconfiguration_refused_on_source_target_or_domain() {
    let (mut source, mut domain, mut target) = demo();
    source.delayed_reconfiguration_pending = true;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::DelayedReconfiguration);
    assert!(matches!(
        &failures(&report)[..],
        [Finding::HostDelayedReconfigurationPending { side: HostSide::Source, host }] if host == "t5-a"
    ));
    source.delayed_reconfiguration_pending = false;
    target.delayed_reconfiguration_pending = true;
    domain.delayed_reconfiguration_pending = true;
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::DelayedReconfiguration);
    assert_eq!(report.failure_count(), 2, "{report}");
    assert!(
        report.to_string().contains("target machine t5-b"),
        "{report}"
    );
}

#[test]
fn rule_elastic_power_mode_refused_on_either_side() {
    for side in [HostSide::Source, HostSide::Target] {
        let (mut source, domain, mut target) = demo();
        match side {
            HostSide::Source => source.power_mode = PowerMode::Elastic,
            HostSide::Target => target.power_mode = PowerMode::Elastic,
        }
        let report = check_migration(&source, &domain, &target);
        assert_fails_only(&report, Rule::PowerManagement);
        assert!(matches!(
            &failures(&report)[..],
            [Finding::ElasticPowerMode { side: found, .. }] if *found == side
        ));
    }
    let (source, domain, mut target) = demo();
    target.power_mode = PowerMode::Disabled;
    assert!(!check_migration(&source, &domain, &target).failed());
}

#[test]
fn rule_engine_versions_must_overlap() {
    let (source, domain, mut target) = demo();
    target.engine_versions = VersionRange {
        oldest: 1,
        newest: 2,
    };
    assert!(!check_migration(&source, &domain, &target).failed());
    target.engine_versions = VersionRange {
        oldest: 2,
        newest: 2,
    };
    let report = check_migration(&source, &domain, &target);
    assert_fails_only(&report, Rule::EngineVersion);
}

#[test]
fn rule_bound_domain_skips_processor_check_but_needs_resources() {
    let source = describe(DEMO_SOURCE);
    let domain = source.domain_requirements("ldg2").expect("described");
    assert_eq!(domain.state, DomainState::Bound);
    let mut target = describe(FIVE_RULES_BROKEN).resources();
    target.power_mode = PowerMode::Performance;
    target.delayed_reconfiguration_pending = false;
    target.engine_versions = source.resources().engine_versions;
    // A different processor, but a bound domain does not run: only its
    // missing virtual switch fails.
    let report = check_migration(&source.resources(), &domain, &target);
    assert_fails_only(&report, Rule::VirtualIo);
    target.free_strands = 2;
    let report = check_migration(&source.resources(), &domain, &target);
    assert!(report.failed_rules().contains(Rule::Cpu), "{report}");
}

#[test]
fn rule_inactive_domain_binding_constraints_are_warnings() {
    let source = describe(DEMO_SOURCE);
    let domain = source.domain_requirements("ldg3").expect("described");
    assert_eq!(domain.state, DomainState::Inactive);
    let mut target = describe(GUIDE_TARGET).resources();
    target.free_strands = 1;
    target.virtual_io.disk_services.clear();
    let report = check_migration(&source.resources(), &domain, &target);
    assert!(!report.failed(), "{report}");
    let rules: Vec<Rule> = report.warnings().map(Finding::rule).collect();
    assert_eq!(rules, [Rule::Cpu, Rule::VirtualIo], "{report}");
    let text = report.to_string();
    assert!(
        text.contains("(the domain is inactive: binding ldg3 on the target machine will fail until this is resolved)"),
        "{text}"
    );
}

#[test]
fn every_finding_of_a_report_has_a_rule_and_a_severity() {
    let (source, domain, _) = demo();
    let target = describe(FIVE_RULES_BROKEN).resources();
    let report = check_migration(&source, &domain, &target);
    for entry in report.entries() {
        let text = entry.finding.to_string();
        assert!(!text.is_empty());
        assert!(!text.ends_with('\n'), "one line per finding: {text}");
        if entry.severity == Severity::Failure {
            assert!(report.failed_rules().contains(entry.finding.rule()));
        }
    }
}

// ---- operation locks ------------------------------------------------------

/// `action` on the domain named `domain`.
fn domain_operation(domain: &str, action: DomainAction) -> Operation<'_> {
    Operation::Domain { domain, action }
}

/// Why `locks` refuse `operation`; panics when they do not.
fn refusal(locks: &OperationLocks, operation: Operation<'_>) -> LockReason {
    match locks.check(operation) {
        LockDecision::Refused(reason) => reason,
        other => panic!("{operation:?} must be refused, got {other:?}"),
    }
}

fn locks_migrating(domain: &str, side: MigrationSide) -> OperationLocks {
    let mut locks = OperationLocks::new();
    locks.begin_migration(domain, side).expect("room");
    locks
}

fn assert_refused_on_migrating_domain(action: DomainAction) {
    for side in [MigrationSide::Source, MigrationSide::Target] {
        let locks = locks_migrating("ldg1", side);
        let reason = refusal(&locks, domain_operation("ldg1", action));
        assert!(matches!(reason, LockReason::DomainMigrating { .. }));
        let text = reason.to_string();
        assert!(
            text.starts_with(&format!(
                "{} ldg1 refused: the domain is being migrated",
                action.command()
            )),
            "{text}"
        );
    }
}

macro_rules! lock_refused_on_migrating_domain {
    ($($test:ident => $action:ident,)*) => {$(
        #[test]
        fn $test() {
            assert_refused_on_migrating_domain(DomainAction::$action);
        }
    )*};
}

lock_refused_on_migrating_domain! {
    lock_add_vcpu_refused_on_migrating_domain => AddVcpus,
    lock_remove_vcpu_refused_on_migrating_domain => RemoveVcpus,
    lock_set_vcpu_refused_on_migrating_domain => SetVcpus,
    lock_set_memory_refused_on_migrating_domain => SetMemory,
    lock_set_crypto_refused_on_migrating_domain => SetCryptoUnits,
    lock_set_domain_refused_on_migrating_domain => SetDomain,
    lock_reboot_refused_on_migrating_domain => Reboot,
    lock_add_memory_refused_on_migrating_domain => AddMemory,
    lock_remove_memory_refused_on_migrating_domain => RemoveMemory,
    lock_add_crypto_refused_on_migrating_domain => AddCryptoUnits,
    lock_remove_crypto_refused_on_migrating_domain => RemoveCryptoUnits,
    lock_add_vdisk_refused_on_migrating_domain => AddVirtualDisk,
    lock_remove_vdisk_refused_on_migrating_domain => RemoveVirtualDisk,
    lock_add_vnet_refused_on_migrating_domain => AddVirtualNetwork,
    lock_remove_vnet_refused_on_migrating_domain => RemoveVirtualNetwork,
    lock_set_variable_refused_on_migrating_domain => SetVariable,
    lock_start_refused_on_migrating_domain => Start,
    lock_stop_refused_on_migrating_domain => Stop,
    lock_bind_refused_on_migrating_domain => Bind,
    lock_unbind_refused_on_migrating_domain => Unbind,
    lock_destroy_refused_on_migrating_domain => Destroy,
}

#[test]
fn lock_bind_of_another_domain_refused_during_migration() {
    let locks = locks_migrating("ldg1", MigrationSide::Target);
    let reason = refusal(&locks, domain_operation("ldg2", DomainAction::Bind));
    assert_eq!(
        reason.to_string(),
        "bind-domain ldg2 refused: domain ldg1 is migrating on this machine, and no domain can be bound or stopped until the migration ends"
    );
}

#[test]
fn lock_stop_of_another_domain_refused_during_migration() {
    let locks = locks_migrating("ldg1", MigrationSide::Source);
    assert!(matches!(
        locks.check(domain_operation("ldg2", DomainAction::Stop)),
        LockDecision::Refused(LockReason::MachineMigrating { .. })
    ));
}

#[test]
fn lock_other_changes_to_other_domains_allowed_during_migration() {
    let locks = locks_migrating("ldg1", MigrationSide::Source);
    for action in DomainAction::ALL {
        let decision = locks.check(domain_operation("ldg2", action));
        if action.blocked_machine_wide() {
            assert!(matches!(decision, LockDecision::Refused(_)), "{action}");
        } else {
            assert_eq!(decision, LockDecision::Allowed, "{action}");
        }
    }
}

#[test]
fn lock_delayed_reconfiguration_refused_during_migration() {
    let locks = locks_migrating("ldg1", MigrationSide::Source);
    let reason = refusal(
        &locks,
        Operation::StartDelayedReconfiguration { domain: "primary" },
    );
    assert!(
        reason
            .to_string()
            .starts_with("start-reconf primary refused: domain ldg1 is migrating"),
        "{reason}"
    );
    let decision = locks.check(Operation::CancelDelayedReconfiguration { domain: "primary" });
    assert!(
        matches!(
            &decision,
            LockDecision::Refused(reason) if reason.to_string().starts_with("cancel-reconf primary refused")
        ),
        "{decision:?}"
    );
    let idle = OperationLocks::new();
    assert_eq!(
        idle.check(Operation::StartDelayedReconfiguration { domain: "primary" }),
        LockDecision::Allowed
    );
}

#[test]
fn lock_elastic_power_mode_deferred_until_migration_ends() {
    let mut locks = locks_migrating("ldg1", MigrationSide::Source);
    locks
        .begin_migration("ldg2", MigrationSide::Target)
        .expect("room");
    let elastic = Operation::SetPowerMode {
        mode: PowerMode::Elastic,
    };
    assert!(matches!(
        locks.submit(elastic),
        LockDecision::Deferred(LockReason::ElasticDuringMigration { .. })
    ));
    assert_eq!(locks.deferred_power_mode(), Some(PowerMode::Elastic));
    // Still one migration running: the switch keeps waiting.
    assert_eq!(locks.end_migration("ldg1"), Ok(None));
    // The last one ends: the switch is handed back to be applied now.
    assert_eq!(locks.end_migration("ldg2"), Ok(Some(PowerMode::Elastic)));
    assert_eq!(locks.deferred_power_mode(), None);
    assert_eq!(locks.check(elastic), LockDecision::Allowed);
}

#[test]
fn lock_other_power_modes_allowed_and_replace_a_deferred_elastic() {
    let mut locks = locks_migrating("ldg1", MigrationSide::Target);
    let _ = locks.submit(Operation::SetPowerMode {
        mode: PowerMode::Elastic,
    });
    assert_eq!(
        locks.submit(Operation::SetPowerMode {
            mode: PowerMode::Performance
        }),
        LockDecision::Allowed
    );
    assert_eq!(locks.deferred_power_mode(), None);
    assert_eq!(locks.end_migration("ldg1"), Ok(None));
}

#[test]
fn lock_released_when_the_migration_ends() {
    let mut locks = locks_migrating("ldg1", MigrationSide::Source);
    assert!(locks.migration_running());
    locks.end_migration("ldg1").expect("was migrating");
    assert!(!locks.migration_running());
    for action in DomainAction::ALL {
        assert_eq!(
            locks.check(domain_operation("ldg1", action)),
            LockDecision::Allowed
        );
    }
}

#[test]
fn rule_memory_reconfiguration_disabled_after_migration_until_reboot() {
    let mut locks = OperationLocks::new();
    let add = domain_operation("ldg1", DomainAction::AddMemory);
    let remove = domain_operation("ldg1", DomainAction::RemoveMemory);
    let set = domain_operation("ldg1", DomainAction::SetMemory);
    let vcpus = domain_operation("ldg1", DomainAction::AddVcpus);
    assert_eq!(locks.check(add), LockDecision::Allowed);
    locks.migrated_in("ldg1").expect("room");
    for operation in [add, remove, set] {
        match locks.check(operation) {
            LockDecision::Refused(reason) => {
                assert!(reason.to_string().contains("until it reboots"), "{reason}");
            }
            other => panic!("memory DR allowed after migration: {other:?}"),
        }
    }
    assert_eq!(
        locks.check(vcpus),
        LockDecision::Allowed,
        "only memory DR is disabled"
    );
    locks.domain_rebooted("ldg1");
    assert_eq!(locks.check(add), LockDecision::Allowed);
}
