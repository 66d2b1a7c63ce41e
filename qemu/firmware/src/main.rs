//! ldmig firmware image for `qemu-system-sparc64 -M niagara`: on the one
//! UltraSPARC T1 strand it runs three kinds of context —
//!
//! - a minimal sun4v hypervisor (hyperprivileged, behind HTBA): the calls
//!   of `hv/API.md` the engine uses, over partition RAM, with real dirty
//!   tracking through the guests' MMU;
//! - the service domain (privileged, MMU off), where the migration engine's
//!   `SourceEngine` and `TargetEngine` run over `Sun4v`, every call a real
//!   `ta 0x80` from privileged mode;
//! - the guest domain `ldg1` (privileged, MMU on, its own trap table),
//!   which keeps writing pages while it is migrated, and continues on the
//!   target.
//!
//! Boot: reset.S, then [`ldmig_firmware_main`] (hyperprivileged) runs the
//! self-test of the codec and the trap path, builds the partition and
//! drops to privileged mode in the service domain. The hypervisor prints
//! the verdict (`ldmig firmware: verdict pass`) and a JSON report once the
//! service domain hands in its report.
//!
//! Modules: [`hypervisor`] (the minimal hypervisor), [`context_switch`],
//! [`trap`] and [`cpu_registers`] (the Rust side of the assembly),
//! [`service_domain`], [`migration_driver`], [`observed_hypervisor`],
//! [`switchover_check`], [`ring_transport`] and [`service_console`] (the
//! service domain), [`guest_workload`] and [`guest_layout`] (the guest),
//! [`report`], [`service_report`] and [`stack_usage`] (the verdict),
//! [`selftest`], [`engine_checks`], [`trap_checks`] and [`pages`] (the
//! boot-time self-test), [`conformance`] (the conformance suite's hook),
//! [`boot_options`], [`memory_map`], [`call_table`], [`strand_cell`],
//! [`fixed_text`], [`console`].
#![no_std]
#![no_main]
#![deny(missing_docs)]

#[cfg(not(target_arch = "sparc64"))]
compile_error!(
    "ldmig-firmware is a bare-metal sparc64 image: build it with qemu/boot \
     (cargo build -Zbuild-std=core --target sparc64-unknown-linux-gnu)"
);

pub mod boot_options;
pub mod call_table;
pub mod conformance;
pub mod console;
pub mod console_line;
pub mod context_switch;
pub mod cpu_registers;
pub mod domain_digest;
pub mod engine_checks;
pub mod fixed_text;
pub mod guest_layout;
pub mod guest_workload;
pub mod hypervisor;
pub mod memory_map;
pub mod migration_driver;
pub mod observed_hypervisor;
pub mod pages;
pub mod pair_driver;
pub mod report;
pub mod ring_transport;
pub mod selftest;
pub mod service_console;
pub mod service_domain;
pub mod service_report;
pub mod stack_usage;
pub mod strand_cell;
pub mod switchover_check;
pub mod trap;
pub mod trap_checks;

use boot_options::{BootOptions, FLAG_PAIR_TARGET};
use console::Console;
use core::fmt::Write;
use hypervisor::{partition, SelfTestResult, MACHINE};

/// Every check of the boot-time self-test, in the order they run.
pub static CHECKS: &[selftest::Check] = &[
    engine_checks::CRC_AND_ZERO_CHECK,
    engine_checks::ZERO_PAGE_ROUND_TRIP,
    engine_checks::TEXT_PAGE_ROUND_TRIP,
    engine_checks::RANDOM_PAGE_ROUND_TRIP,
    engine_checks::PAGES_FRAME_ROUND_TRIP,
    engine_checks::CORRUPTED_FRAME_REFUSED,
    engine_checks::CORRUPTED_RECORD_REFUSED,
    trap_checks::FAST_TRAP_EVERY_ARGUMENT_COUNT,
    trap_checks::STATUS_MAPPING,
    trap_checks::MIGRATION_BEFORE_NEGOTIATION,
    trap_checks::API_SET_VERSION_RULES,
    trap_checks::SUN4V_NEGOTIATE,
    trap_checks::SUN4V_DOMAIN_INFO,
    trap_checks::SUN4V_MEMORY_BLOCK,
    trap_checks::SUN4V_MEMORY_ROUND_TRIP,
    trap_checks::SUN4V_MEMORY_ERRORS,
    trap_checks::MIGRATE_PAGES_THROUGH_THE_WIRE,
];

/// The Rust entry, called by reset.S once the machine is in a plain
/// hyperprivileged TL 0 state with a stack. Never returns: it ends by
/// dropping into the service domain; QEMU has no exit device, qemu/boot
/// stops the machine once it has read the verdict.
#[no_mangle]
pub extern "C" fn ldmig_firmware_main() -> ! {
    let mut console = Console::new();
    let _ = writeln!(
        console,
        "ldmig firmware: UltraSPARC T1, hyperprivileged, trap table at {:#x}",
        trap::trap_table_address()
    );
    let options = BootOptions::read();
    if options.paired() {
        // The UART carries the migration too: take received bytes 16 at
        // a time.
        console.enable_fifos();
    }
    if let Err(error) = MACHINE.with(|machine| partition::power_on(machine, options)) {
        let _ = writeln!(console, "ldmig firmware: fatal: power-on failed: {error:?}");
        halt()
    }
    stack_usage::paint(memory_map::HYPERVISOR_STACK);
    stack_usage::paint(memory_map::SERVICE_MEMORY);

    let self_test = selftest::run(&mut console, CHECKS);
    let _ = writeln!(
        console,
        "ldmig firmware: self-test (hyperprivileged callers): {} passed, {} failed",
        self_test.passed, self_test.failed
    );
    let seed = options.guest_seed();
    let guest = MACHINE.with(|machine| {
        machine.self_test = SelfTestResult {
            passed: self_test.passed as u64,
            failed: self_test.failed as u64,
        };
        partition::retire_self_test_domains(machine);
        // The target of a two-machine run starts with an empty partition.
        let guest = if options.flags & FLAG_PAIR_TARGET != 0 {
            Ok(0)
        } else {
            partition::create_guest(machine, seed)
        };
        partition::start_service_domain(machine);
        // Domain 0 is the service domain: no guest to migrate here.
        guest.map(|id| {
            let highlight = if id == 0 { u64::MAX } else { id };
            (id, machine.print_domains(&mut Console::new(), highlight))
        })
    });
    let Ok((guest, ())) = guest else {
        let _ = writeln!(
            console,
            "ldmig firmware: fatal: the guest could not be built: {guest:?}"
        );
        halt()
    };
    let _ = writeln!(
        console,
        "ldmig firmware: guest seed {seed:#x}{}; dropping to privileged mode in the service domain",
        if options.corrupt_page {
            ", --corrupt-page: one page of the target will be damaged"
        } else {
            ""
        }
    );
    context_switch::launch_service_domain(guest, options.flags)
}

/// Stops here for good (until QEMU is killed).
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut console = Console::new();
    let _ = writeln!(console, "\nldmig firmware: panic: {info}");
    halt()
}
