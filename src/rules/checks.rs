//! Every pre-migration check of the guide, run together.
//!
//! [`check_migration`] runs all of them and collects every failure, warning
//! and note into one [`CheckReport`]; nothing is moved. The order is the
//! guide's: memory, CPU, physical I/O, virtual I/O, NIU, crypto units,
//! delayed reconfiguration, power management, then engine versions. How the
//! domain's state (active, bound, inactive) changes each check is the table
//! in the [`crate::rules`] module docs.

use crate::rules::finding::{Finding, HostSide, Severity};
use crate::rules::memory::bind_memory_blocks;
use crate::rules::report::CheckReport;
use ldmig_hv::resources::{
    CpuArchClass, DomainRequirements, DomainState, HostResources, MemorySize, PowerMode,
};

/// Runs every check for migrating `domain` from `source` to `target`.
///
/// The report lists every failure (the migration must not start when there
/// is one), every warning and every note; printed, it ends with
/// `Domain Migration of LDom <domain> failed` when any check failed.
pub fn check_migration(
    source: &HostResources,
    domain: &DomainRequirements,
    target: &HostResources,
) -> CheckReport {
    let mut report = CheckReport::new(&domain.name, domain.state);
    check_memory(domain, target, &mut report);
    check_cpu(source, domain, target, &mut report);
    check_physical_io(domain, &mut report);
    check_virtual_io(domain, target, &mut report);
    check_niu(domain, target, &mut report);
    check_crypto_units(domain, target, &mut report);
    check_delayed_reconfiguration(source, domain, target, &mut report);
    check_power_management(source, target, &mut report);
    check_engine_versions(source, target, &mut report);
    report
}

/// Severity of a binding constraint (memory, strands, virtual I/O): a
/// failure when the domain must be bound on the target now, a warning for an
/// inactive domain, which is bound later.
fn binding_severity(domain: &DomainRequirements) -> Severity {
    match domain.state {
        DomainState::Active | DomainState::Bound => Severity::Failure,
        DomainState::Inactive => Severity::Warning,
    }
}

/// Memory: enough free memory in total, and each block bound whole to one
/// contiguous free range (same RAs, same sizes, same number of blocks).
fn check_memory(domain: &DomainRequirements, target: &HostResources, report: &mut CheckReport) {
    let severity = binding_severity(domain);
    let required = domain.memory_bytes();
    let free = target.free_memory_bytes();
    if required > free {
        report.push(
            severity,
            Finding::NotEnoughFreeMemory {
                required: MemorySize(required),
                free: MemorySize(free),
            },
        );
    }
    let binding = bind_memory_blocks(&domain.memory_blocks, &target.free_memory);
    for block in binding.unbound() {
        report.push(
            severity,
            Finding::UnableToBindMemory {
                size: MemorySize(block.size),
                real_address: block.real_address,
            },
        );
    }
}

/// True when a domain of class `cpu_arch` running on `source` can run on
/// `target`: a `native` domain needs the same processor type at the same
/// frequency; a `generic` one runs on any sun4v processor; a
/// `migration-class1` or `sparc64-class1` one on any processor of that
/// family. The class is the domain's (`ldm set-domain cpu-arch=`).
fn processors_compatible(
    cpu_arch: CpuArchClass,
    source: &HostResources,
    target: &HostResources,
) -> bool {
    match cpu_arch {
        CpuArchClass::Native => {
            source.cpu_type == target.cpu_type
                && source.cpu_frequency_mhz == target.cpu_frequency_mhz
        }
        class => class.runs_on(&target.cpu_type),
    }
}

/// CPU: a compatible processor for the domain's cpu-arch class (active
/// domains only: bound and inactive ones do not run during the move) and
/// enough free strands.
fn check_cpu(
    source: &HostResources,
    domain: &DomainRequirements,
    target: &HostResources,
    report: &mut CheckReport,
) {
    if domain.state == DomainState::Active
        && !processors_compatible(domain.cpu_arch, source, target)
    {
        report.push(
            Severity::Failure,
            Finding::IncompatibleProcessor {
                cpu_arch: domain.cpu_arch,
                source_type: source.cpu_type.clone(),
                source_frequency_mhz: source.cpu_frequency_mhz,
                target_type: target.cpu_type.clone(),
                target_frequency_mhz: target.cpu_frequency_mhz,
            },
        );
    }
    if domain.vcpus > target.free_strands {
        report.push(
            binding_severity(domain),
            Finding::NotEnoughStrands {
                required: domain.vcpus,
                free: target.free_strands,
            },
        );
    }
}

/// Physical I/O: a domain with direct access to physical devices (an I/O
/// domain) cannot migrate, whatever its state.
fn check_physical_io(domain: &DomainRequirements, report: &mut CheckReport) {
    for device in &domain.physical_io_devices {
        report.push(
            Severity::Failure,
            Finding::PhysicalIoDevice {
                device: device.clone(),
            },
        );
    }
}

/// Virtual I/O: every disk service and volume, every virtual switch, and a
/// console concentrator exist on the target under the same names.
fn check_virtual_io(domain: &DomainRequirements, target: &HostResources, report: &mut CheckReport) {
    let severity = binding_severity(domain);
    let services = &target.virtual_io;
    for disk in &domain.virtual_disks {
        match services.disk_service(&disk.service) {
            None => report.push(
                severity,
                Finding::DiskServiceMissing {
                    disk: disk.name.clone(),
                    service: disk.service.clone(),
                },
            ),
            Some(service) if !service.volumes.contains(&disk.volume) => report.push(
                severity,
                Finding::DiskVolumeMissing {
                    disk: disk.name.clone(),
                    service: disk.service.clone(),
                    volume: disk.volume.clone(),
                },
            ),
            Some(_) => {}
        }
    }
    for network in &domain.virtual_networks {
        if !services.has_virtual_switch(&network.switch) {
            report.push(
                severity,
                Finding::VirtualSwitchMissing {
                    network: network.name.clone(),
                    switch: network.switch.clone(),
                },
            );
        }
    }
    if services.console_concentrator.is_none() {
        report.push(severity, Finding::ConsoleConcentratorMissing);
    }
}

/// NIU hybrid I/O: not a hard constraint; on a target without free NIU
/// resources it is kept but not satisfied.
fn check_niu(domain: &DomainRequirements, target: &HostResources, report: &mut CheckReport) {
    if domain.niu_constraint && !target.niu_available {
        report.push(Severity::Warning, Finding::NiuConstraintUnsatisfied);
    }
}

/// Crypto units: an active domain's units must be released by its OS (crypto
/// unit dynamic reconfiguration); they are removed at the start and added
/// back at the end. Fewer free units on the target is a warning.
fn check_crypto_units(
    domain: &DomainRequirements,
    target: &HostResources,
    report: &mut CheckReport,
) {
    let units = domain.crypto_units;
    if units == 0 {
        return;
    }
    if domain.state == DomainState::Active {
        if domain.supports_crypto_dynamic_reconfiguration {
            report.push(
                Severity::Note,
                Finding::CryptoUnitsRemovedAndAddedBack { units },
            );
        } else {
            report.push(
                Severity::Failure,
                Finding::CryptoUnitsWithoutDynamicReconfiguration { units },
            );
        }
    }
    if target.free_crypto_units < units {
        report.push(
            Severity::Warning,
            Finding::FewerCryptoUnits {
                held: units,
                free_on_target: target.free_crypto_units,
            },
        );
    }
}

/// Delayed reconfiguration: pending on the source, the target or the domain,
/// the migration does not start.
fn check_delayed_reconfiguration(
    source: &HostResources,
    domain: &DomainRequirements,
    target: &HostResources,
    report: &mut CheckReport,
) {
    for (side, host) in [(HostSide::Source, source), (HostSide::Target, target)] {
        if host.delayed_reconfiguration_pending {
            report.push(
                Severity::Failure,
                Finding::HostDelayedReconfigurationPending {
                    side,
                    host: host.name.clone(),
                },
            );
        }
    }
    if domain.delayed_reconfiguration_pending {
        report.push(
            Severity::Failure,
            Finding::DomainDelayedReconfigurationPending,
        );
    }
}

/// Power management: no migration into or out of a machine in elastic mode.
fn check_power_management(
    source: &HostResources,
    target: &HostResources,
    report: &mut CheckReport,
) {
    for (side, host) in [(HostSide::Source, source), (HostSide::Target, target)] {
        if host.power_mode == PowerMode::Elastic {
            report.push(
                Severity::Failure,
                Finding::ElasticPowerMode {
                    side,
                    host: host.name.clone(),
                },
            );
        }
    }
}

/// Engine versions: the two engines must share a wire version.
fn check_engine_versions(source: &HostResources, target: &HostResources, report: &mut CheckReport) {
    if source
        .engine_versions
        .newest_common(&target.engine_versions)
        .is_none()
    {
        report.push(
            Severity::Failure,
            Finding::IncompatibleEngineVersions {
                source: source.engine_versions,
                target: target.engine_versions,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_hv::resources::{name, FreeRange, VersionRange, VirtualIoServices};

    fn host(name_text: &str, cpu_type: &str, mhz: u32) -> HostResources {
        HostResources {
            name: name(name_text).expect("short"),
            cpu_type: name(cpu_type).expect("short"),
            cpu_frequency_mhz: mhz,
            total_strands: 64,
            free_strands: 32,
            free_memory: heapless::Vec::new(),
            free_crypto_units: 4,
            niu_available: true,
            virtual_io: VirtualIoServices {
                console_concentrator: Some(name("primary-vcc0").expect("short")),
                ..VirtualIoServices::default()
            },
            power_mode: PowerMode::Performance,
            delayed_reconfiguration_pending: false,
            engine_versions: VersionRange {
                oldest: 1,
                newest: 1,
            },
        }
    }

    #[test]
    fn processors_match_by_type_and_frequency_or_by_the_domains_class() {
        use CpuArchClass::{Generic, MigrationClass1, Native, Sparc64Class1};
        let t2 = host("a", "UltraSPARC T2", 1165);
        let t2_same = host("b", "UltraSPARC T2", 1165);
        let t2_faster = host("c", "UltraSPARC T2", 1415);
        assert!(processors_compatible(Native, &t2, &t2_same));
        assert!(!processors_compatible(Native, &t2, &t2_faster));
        assert!(processors_compatible(Generic, &t2, &t2_faster));
        let t4 = host("d", "SPARC T4", 2848);
        let t5 = host("e", "SPARC T5", 3600);
        assert!(!processors_compatible(Native, &t4, &t5));
        assert!(processors_compatible(MigrationClass1, &t4, &t5));
        assert!(processors_compatible(Generic, &t2, &t5));
        assert!(!processors_compatible(MigrationClass1, &t5, &t2));
        assert!(!processors_compatible(Sparc64Class1, &t4, &t5));
    }

    #[test]
    fn an_inactive_domain_gets_warnings_for_binding_constraints() {
        let source = host("src", "SPARC T4", 2848);
        let mut target = host("dst", "SPARC T5", 3600);
        target.free_strands = 1;
        let _ = target.free_memory.push(FreeRange {
            pa: 0,
            size: 1 << 30,
        });
        let domain = DomainRequirements {
            memory_blocks: heapless::Vec::from_slice(&[ldmig_hv::resources::BlockRequirement {
                real_address: 0x800_0000,
                size: 2 << 30,
            }])
            .expect("one block"),
            ..DomainRequirements::bare(name("ldg-cold").expect("short"), DomainState::Inactive, 4)
        };
        let report = check_migration(&source, &domain, &target);
        assert!(!report.failed(), "{report}");
        // Memory total, the block, and the strands; no processor finding.
        assert_eq!(report.warnings().count(), 3, "{report}");
        let text = std::format!("{report}");
        assert!(
            text.contains("binding ldg-cold on the target machine will fail"),
            "{text}"
        );
    }
}
