//! The service domain: what runs privileged in domain 0 once the boot code
//! has dropped out of hyperprivileged mode, as the engine runs in a real
//! service domain. It negotiates the hypervisor API (core trap from
//! privileged mode), runs the conformance suite, migrates the guest,
//! and hands its report to the hypervisor, which prints the verdict. On a
//! machine of a two-machine run it serves that run instead
//! (`pair_driver`).

use crate::boot_options::{FLAG_CORRUPT_PAGE, FLAG_PAIR_SOURCE, FLAG_PAIR_TARGET};
use crate::call_table::FIRMWARE_REPORT;
use crate::conformance::run_conformance_suite;
use crate::migration_driver::migrate_guest;
use crate::pair_driver::serve_pair;
use crate::service_console::ServiceConsole;
use crate::service_report::{ServiceReport, SERVICE_REPORT_MAGIC};
use core::fmt::Write;
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::trampoline::fast_trap;

/// The service domain's entry (context_switch.S `ldmig_launch_service_domain`):
/// privileged, TL 0, MMU off, on its own stack and trap table, with the
/// guest's domain number and the boot flags as arguments.
#[no_mangle]
pub extern "C" fn ldmig_firmware_service_main(guest_domain: u64, flags: u64) -> ! {
    let mut console = ServiceConsole::new();
    let _ = writeln!(
        console,
        "service domain running privileged (HPSTATE.hpriv clear, TL 0, MMU off): every hypervisor call is a trap from here"
    );
    let mut report = ServiceReport {
        magic: SERVICE_REPORT_MAGIC,
        ..ServiceReport::default()
    };
    if flags & (FLAG_PAIR_SOURCE | FLAG_PAIR_TARGET) != 0 {
        let source = flags & FLAG_PAIR_SOURCE != 0;
        serve_pair(
            &mut console,
            guest_domain,
            source,
            flags & FLAG_CORRUPT_PAGE != 0,
        )
    }
    match Sun4v::negotiate() {
        Ok(_) => {
            let _ = writeln!(
                console,
                "negotiated LDOM 1.0 and MIGRATION 2.0 (API_SET_VERSION, ta 0xff)"
            );
            let conformance = run_conformance_suite(&mut console);
            report.conformance_passed = conformance.passed;
            report.conformance_failed = conformance.failed;
            let _ = writeln!(
                console,
                "conformance suite (migration cases, Sun4v from privileged mode): {} passed, {} failed; LDC cases not run (no LDC calls in this hypervisor)",
                conformance.passed, conformance.failed
            );
            migrate_guest(
                &mut console,
                guest_domain,
                flags & FLAG_CORRUPT_PAGE != 0,
                &mut report,
            );
        }
        Err(error) => {
            let _ = writeln!(console, "API_SET_VERSION refused: {error}");
        }
    }
    console.flush();
    let address = &report as *const ServiceReport as u64;
    // FIRMWARE_REPORT reads ServiceReport::BYTES at the report's address
    // (the service domain's RA = its address) and stops the machine.
    // SAFETY: the report lives on this stack for the whole call.
    unsafe { fast_trap(FIRMWARE_REPORT, &[address, ServiceReport::BYTES]) };
    let _ = writeln!(
        console,
        "FIRMWARE_REPORT returned: the hypervisor refused the report"
    );
    crate::halt()
}
