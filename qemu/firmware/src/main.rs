//! ldmig firmware image for `qemu-system-sparc64 -M niagara`: boots on the
//! UltraSPARC T1 (reset.S), runs the self-test — the no_std engine's page
//! codec and the real `ta 0x80` / `ta 0xff` trampolines against a stub
//! hypervisor of our own behind the trap table — and prints one line per
//! check and the verdict `ldmig firmware: N passed, M failed` on the UART.
//!
//! - [`console`]: the 16550 UART.
//! - [`trap`]: the Rust side of the trap table (hypervisor calls, fatal traps).
//! - [`stub_hypervisor`]: the hypervisor the trampolines trap into.
//! - [`selftest`]: the check runner and the verdict.
//! - [`engine_checks`], [`trap_checks`]: the checks.
//! - [`pages`]: the test pages (zero, text-like, seeded pseudo-random).
#![no_std]
#![no_main]
#![deny(missing_docs)]

#[cfg(not(target_arch = "sparc64"))]
compile_error!(
    "ldmig-firmware is a bare-metal sparc64 image: build it with qemu/boot \
     (cargo build -Zbuild-std=core --target sparc64-unknown-linux-gnu)"
);

pub mod console;
pub mod engine_checks;
pub mod pages;
pub mod selftest;
pub mod stub_hypervisor;
pub mod trap;
pub mod trap_checks;

use console::Console;
use core::fmt::Write;

/// Every check of the self-test, in the order they run.
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
/// hyperprivileged TL 0 state with a stack. Never returns: QEMU has no exit
/// device, qemu/boot stops the machine once it has read the verdict.
#[no_mangle]
pub extern "C" fn ldmig_firmware_main() -> ! {
    let mut console = Console::new();
    let _ = writeln!(
        console,
        "ldmig firmware: UltraSPARC T1, hyperprivileged, trap table at {:#x}",
        trap::trap_table_address()
    );
    stub_hypervisor::power_on();
    let report = selftest::run(&mut console, CHECKS);
    let _ = writeln!(
        console,
        "ldmig firmware: {} passed, {} failed",
        report.passed, report.failed
    );
    halt()
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
