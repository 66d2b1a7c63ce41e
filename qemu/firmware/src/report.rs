//! The verdict, printed by the hypervisor once the service domain handed
//! in its report (`FIRMWARE_REPORT`): a readable summary, one JSON object
//! on a line of its own (`ldmig-report: {...}`, which `qemu/boot --json`
//! prints with the boot time added), and `ldmig firmware: verdict pass`
//! or `... verdict fail: <what failed>`. Then the machine stops.

use crate::call_table::{known_call, MIGRATION_CALLS};
use crate::console::Console;
use crate::fixed_text::FixedText;
use crate::guest_layout::{
    GUEST_DATA_RA, GUEST_STACK_TOP, GUEST_WORK_FIRST_PAGE, GUEST_WORK_PAGES,
};
use crate::hypervisor::caller::copy_physical;
use crate::hypervisor::Machine;
use crate::memory_map::{
    image_bytes, Range, BOOT_STACK, HYPERVISOR_STACK, SERVICE_MEMORY, STACK_PAINT,
};
use crate::service_report::{MigrationEnd, ServiceReport, SERVICE_REPORT_MAGIC};
use crate::stack_usage::peak;
use core::fmt::{self, Write};

/// The deepest use of each stack, in bytes.
#[derive(Clone, Copy, Debug, Default)]
struct StackPeaks {
    boot: u64,
    hypervisor: u64,
    service: u64,
    guest: u64,
}

impl StackPeaks {
    fn largest(&self) -> u64 {
        self.boot
            .max(self.hypervisor)
            .max(self.service)
            .max(self.guest)
    }
}

fn measure_stacks(machine: &Machine, service: &ServiceReport) -> StackPeaks {
    let guest_stack_ra = GUEST_DATA_RA + (GUEST_WORK_FIRST_PAGE + GUEST_WORK_PAGES) * 8192;
    let guest = machine
        .domain(service.target_domain)
        .and_then(|domain| domain.block_of(guest_stack_ra, GUEST_STACK_TOP - guest_stack_ra))
        .map_or(0, |(_, pa)| {
            peak(
                Range {
                    base: pa,
                    size: GUEST_STACK_TOP - guest_stack_ra,
                },
                0,
            )
        });
    StackPeaks {
        boot: peak(BOOT_STACK, STACK_PAINT),
        hypervisor: peak(HYPERVISOR_STACK, STACK_PAINT),
        service: peak(SERVICE_MEMORY, STACK_PAINT),
        guest,
    }
}

/// Why the verdict is fail: the reasons, `; ` between them.
struct Reasons {
    text: FixedText<512>,
    count: usize,
}

impl Reasons {
    fn new() -> Self {
        Reasons {
            text: FixedText::new(),
            count: 0,
        }
    }

    fn require(&mut self, holds: bool, reason: fmt::Arguments<'_>) {
        if holds {
            return;
        }
        if self.count > 0 {
            let _ = self.text.write_str("; ");
        }
        let _ = self.text.write_fmt(reason);
        self.count += 1;
    }

    fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

/// Whether every MIGRATION call the engines made was counted by the
/// hypervisor as a trap from privileged mode; and how many they made.
fn engine_calls_privileged(machine: &Machine, service: &ServiceReport) -> (bool, u64) {
    let privileged = &machine.statistics.privileged_by_call;
    let all = service
        .engine_calls
        .iter()
        .zip(privileged.iter())
        .all(|(engine, trapped)| engine <= trapped);
    (all, service.engine_calls.iter().sum())
}

fn verdict(machine: &Machine, service: &ServiceReport, end: Option<MigrationEnd>) -> Reasons {
    let statistics = &machine.statistics;
    let (engine_privileged, engine_calls) = engine_calls_privileged(machine, service);
    let self_test = machine.self_test;
    let mut reasons = Reasons::new();
    reasons.require(
        self_test.failed == 0 && self_test.passed > 0,
        format_args!("self-test: {} failed", self_test.failed),
    );
    reasons.require(
        service.conformance_failed == 0 && service.conformance_passed > 0,
        format_args!(
            "conformance: {} failed, {} passed",
            service.conformance_failed, service.conformance_passed
        ),
    );
    reasons.require(
        end == Some(MigrationEnd::Completed),
        format_args!(
            "migration {} (reason {}, status {})",
            end.map_or("unknown", MigrationEnd::name),
            service.failure_reason,
            service.failure_status
        ),
    );
    reasons.require(
        service.memory_identical == 1,
        format_args!(
            "memory differs at switchover: the page at RA {:#x} (and {} more of {} pages)",
            service.first_differing_ra,
            service.differing_pages.saturating_sub(1),
            service.pages_compared
        ),
    );
    reasons.require(
        service.vcpu_state_identical == 1,
        format_args!("vCPU state differs at switchover"),
    );
    reasons.require(
        service.progress_on_target > service.progress_at_switchover,
        format_args!("the guest made no progress on the target"),
    );
    reasons.require(
        service.guest_errors == 0,
        format_args!("the guest found {} damaged pages", service.guest_errors),
    );
    reasons.require(
        service.source_destroyed == 1,
        format_args!("the source domain was not destroyed"),
    );
    reasons.require(
        service.rounds >= 2,
        format_args!("only {} pre-copy rounds", service.rounds),
    );
    reasons.require(
        service.pages_dirtied_during_precopy > 0,
        format_args!("no page was dirtied during pre-copy"),
    );
    reasons.require(
        engine_privileged && engine_calls > 0,
        format_args!("an engine call did not trap from privileged mode"),
    );
    reasons.require(
        statistics.protection_traps > 0,
        format_args!("no write-protection trap: dirty tracking did not go through the MMU"),
    );
    reasons
}

/// Writes `"name":value` pairs with the commas between them.
struct JsonFields<'c> {
    console: &'c mut Console,
    first: bool,
}

impl<'c> JsonFields<'c> {
    fn new(console: &'c mut Console) -> Self {
        let _ = console.write_str("{");
        JsonFields {
            console,
            first: true,
        }
    }

    fn key(&mut self, name: &str) -> &mut Console {
        if !self.first {
            let _ = self.console.write_str(",");
        }
        self.first = false;
        let _ = write!(self.console, "\"{name}\":");
        self.console
    }

    fn number(&mut self, name: &str, value: u64) {
        let _ = write!(self.key(name), "{value}");
    }

    /// A real address as a hex string, `null` for none (0).
    fn address(&mut self, name: &str, value: u64) {
        let console = self.key(name);
        let _ = if value == 0 {
            console.write_str("null")
        } else {
            write!(console, "\"{value:#x}\"")
        };
    }

    fn boolean(&mut self, name: &str, value: bool) {
        let _ = write!(self.key(name), "{value}");
    }

    fn text(&mut self, name: &str, value: &str) {
        let console = self.key(name);
        let _ = console.write_str("\"");
        for character in value.chars() {
            let _ = match character {
                '"' => console.write_str("\\\""),
                '\\' => console.write_str("\\\\"),
                other => console.write_char(other),
            };
        }
        let _ = console.write_str("\"");
    }

    fn close(self) {
        let _ = self.console.write_str("}");
    }
}

fn write_json(
    console: &mut Console,
    machine: &Machine,
    service: &ServiceReport,
    end: Option<MigrationEnd>,
    stacks: &StackPeaks,
    reasons: &Reasons,
) {
    let statistics = &machine.statistics;
    let (engine_privileged, _) = engine_calls_privileged(machine, service);
    let _ = console.write_str("ldmig-report: ");
    let mut json = JsonFields::new(console);
    json.text("verdict", if reasons.count == 0 { "pass" } else { "fail" });
    json.text("failures", reasons.as_str());
    json.number("checks_passed", machine.self_test.passed);
    json.number("checks_failed", machine.self_test.failed);
    json.number("conformance_passed", service.conformance_passed);
    json.number("conformance_failed", service.conformance_failed);
    json.text(
        "conformance_ldc",
        "not run: no LDC calls in this hypervisor",
    );

    let _ = json.key("migration").write_str("");
    {
        let mut migration = JsonFields::new(&mut *json.console);
        migration.text("status", end.map_or("unknown", MigrationEnd::name));
        migration.number("rounds", service.rounds);
        migration.number("pages_sent", service.pages_sent);
        migration.number("zero_pages", service.zero_pages);
        migration.number("lz4_pages", service.lz4_pages);
        migration.number(
            "pages_dirtied_during_precopy",
            service.pages_dirtied_during_precopy,
        );
        migration.number("dirty_syncs", service.dirty_syncs);
        migration.number("downtime_us", service.downtime_ns / 1000);
        migration.number("switchover_check_us", service.check_ns / 1000);
        migration.number("total_time_us", service.total_time_ns / 1000);
        migration.number("transferred_bytes", service.transferred_bytes);
        migration.number("throttle_percent", service.throttle_percent);
        migration.boolean("memory_identical", service.memory_identical == 1);
        migration.number("pages_compared", service.pages_compared);
        migration.number("differing_pages", service.differing_pages);
        migration.address("first_differing_page_ra", service.first_differing_ra);
        migration.address("corrupted_page_ra", service.corrupted_ra);
        migration.boolean("vcpu_state_identical", service.vcpu_state_identical == 1);
        migration.number(
            "guest_progress_on_target",
            service
                .progress_on_target
                .saturating_sub(service.progress_at_switchover),
        );
        migration.number(
            "guest_progress_at_switchover",
            service.progress_at_switchover,
        );
        migration.number("guest_errors", service.guest_errors);
        migration.number("source_domain", service.source_domain);
        migration.number("target_domain", service.target_domain);
        migration.boolean("source_destroyed", service.source_destroyed == 1);
        migration.close();
    }

    let _ = json.key("traps").write_str("");
    {
        let mut traps = JsonFields::new(&mut *json.console);
        traps.number(
            "hypercalls_from_privileged",
            statistics.hypercalls_from_privileged,
        );
        traps.number(
            "hypercalls_from_hyperprivileged",
            statistics.hypercalls_from_hyperprivileged,
        );
        traps.boolean("engine_calls_all_privileged", engine_privileged);
        traps.number("itlb_misses", statistics.itlb_misses);
        traps.number("dtlb_misses", statistics.dtlb_misses);
        traps.number("protection_traps", statistics.protection_traps);
        traps.number("guest_trap_handler_mmu_traps", statistics.nucleus_mmu_traps);
        traps.number("context_switches", statistics.context_switches);
        traps.number("guest_slices", statistics.guest_slices);
        traps.number("throttled_slices", statistics.throttled_slices);
        let _ = traps.key("privileged_by_function").write_str("");
        {
            let mut by_function = JsonFields::new(&mut *traps.console);
            for (index, count) in statistics.privileged_by_call.iter().enumerate() {
                if let Some(call) = known_call(index) {
                    by_function.number(call.name, *count);
                }
            }
            by_function.close();
        }
        let _ = traps.key("engine_by_function").write_str("");
        {
            let mut by_function = JsonFields::new(&mut *traps.console);
            for (call, count) in MIGRATION_CALLS.iter().zip(service.engine_calls.iter()) {
                by_function.number(call.name, *count);
            }
            by_function.close();
        }
        traps.close();
    }

    json.text("dirty_tracking", "mmu");
    let _ = json.key("dirty_tracking_evidence").write_str("");
    {
        let mut evidence = JsonFields::new(&mut *json.console);
        evidence.number("write_protection_traps", statistics.protection_traps);
        evidence.number("pages_marked_dirty_by_traps", statistics.pages_marked_dirty);
        evidence.number("dtlb_flushes", statistics.dtlb_flushes);
        evidence.close();
    }
    json.number("image_bytes", image_bytes());
    json.number("stack_peak_bytes", stacks.largest());
    let _ = json.key("stacks").write_str("");
    {
        let mut peaks = JsonFields::new(&mut *json.console);
        peaks.number("boot", stacks.boot);
        peaks.number("hypervisor", stacks.hypervisor);
        peaks.number("service_domain", stacks.service);
        peaks.number("guest", stacks.guest);
        peaks.close();
    }
    json.number("seed", machine.options.guest_seed());
    json.boolean("corrupt_page", machine.options.corrupt_page);
    json.close();
    let _ = console.write_str("\n");
}

/// Reads the service domain's report at physical `address`, prints the
/// summary, the JSON line and the verdict, and stops the machine.
pub fn final_report(machine: &Machine, address: u64, length: u64) -> ! {
    let mut console = Console::new();
    let mut service = ServiceReport::default();
    if length == ServiceReport::BYTES {
        let target: *mut ServiceReport = &mut service;
        // `address` is the service domain's checked buffer of `length`
        // bytes; `service` a local of the same size.
        // SAFETY: the service domain is stopped in its trap for good.
        unsafe { copy_physical(address, target as u64, length) };
    }
    if service.magic != SERVICE_REPORT_MAGIC {
        let _ = writeln!(
            console,
            "ldmig firmware: verdict fail: the service domain's report is malformed"
        );
        crate::halt()
    }
    let end = MigrationEnd::from_raw(service.migration_end);
    let stacks = measure_stacks(machine, &service);
    let statistics = &machine.statistics;
    let _ = writeln!(
        console,
        "ldmig firmware: hypervisor calls: {} from privileged mode, {} from hyperprivileged mode; {} context switches, {} guest slices",
        statistics.hypercalls_from_privileged,
        statistics.hypercalls_from_hyperprivileged,
        statistics.context_switches,
        statistics.guest_slices
    );
    let _ = writeln!(
        console,
        "ldmig firmware: dirty tracking: mmu (clean pages mapped read-only): {} write-protection traps marked {} pages dirty; {} D-TLB misses, {} I-TLB misses, {} D-TLB flushes",
        statistics.protection_traps,
        statistics.pages_marked_dirty,
        statistics.dtlb_misses,
        statistics.itlb_misses,
        statistics.dtlb_flushes
    );
    let _ = writeln!(
        console,
        "ldmig firmware: stacks: boot {} B, hypervisor {} B, service domain {} B, guest {} B; image {} B; no heap",
        stacks.boot,
        stacks.hypervisor,
        stacks.service,
        stacks.guest,
        image_bytes()
    );
    machine.print_domains(&mut console, u64::MAX);
    let free = machine.free_memory.ranges();
    let _ = writeln!(
        console,
        "ldmig firmware: free partition RAM: {} KiB in {} range(s), from PA {:#x}",
        machine.free_memory.free_bytes() / 1024,
        free.len(),
        free.first().map_or(0, |range| range.base)
    );
    let reasons = verdict(machine, &service, end);
    write_json(&mut console, machine, &service, end, &stacks, &reasons);
    if reasons.count == 0 {
        let _ = writeln!(console, "ldmig firmware: verdict pass");
    } else {
        let _ = writeln!(
            console,
            "ldmig firmware: verdict fail: {}",
            reasons.as_str()
        );
    }
    crate::halt()
}
