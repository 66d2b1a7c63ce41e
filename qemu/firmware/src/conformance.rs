//! The `Hypervisor` conformance suite in the image: the service domain
//! runs every case of `ldmig_hv::conformance::migration_cases` against
//! `Sun4v` (real `ta 0x80` from privileged mode) and this firmware's
//! minimal hypervisor — the same functions the simulator runs on the host
//! (hv/sim/src/conformance_tests/).
//!
//! Each case gets a fresh fixture: a domain created for it
//! (`MIG_DOMAIN_CREATE`), two adjacent memory blocks bound, a crypto unit
//! added, resumed; after the case every domain it may have created is
//! destroyed, so the next one starts from the same machine. The fixture's
//! free resources are the machine's description (the strands and crypto
//! units the hypervisor has, what the service domain and the guest `ldg1`
//! hold, partition RAM), as the simulator's fixture states its test
//! machine's; a case whose expectation of them fails found wrong
//! bookkeeping in the hypervisor.
//!
//! The LDC cases (`ldc_cases`) do not run here: this hypervisor implements
//! no LDC calls (the engines in the image are linked by memory rings, or
//! by the UART in the two-machine run), and the image has no room left
//! for them within its 512 KiB (hv/API.md, "Worked example").

use crate::guest_layout::{GUEST_CODE_BYTES, GUEST_CRYPTO_UNITS, GUEST_DATA_BYTES, GUEST_VCPUS};
use crate::hypervisor::partition::SERVICE_VCPUS;
use crate::hypervisor::{MACHINE_CRYPTO_UNITS, MACHINE_STRANDS, MAX_DOMAINS};
use crate::memory_map::PARTITION_RAM;
use crate::service_console::ServiceConsole;
use core::fmt::Write;
use ldmig_hv::conformance::{
    migration_cases, run_cases, succeeds, ConformanceFailure, MigrationFixture,
};
use ldmig_hv::hypervisor::{DomainControl, DomainId, MemoryBlock, VcpuControl};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::HvError;

/// vCPUs of each fixture's domain.
const FIXTURE_VCPUS: u64 = 2;
/// Crypto units each fixture's domain gets.
const FIXTURE_CRYPTO_UNITS: u64 = 1;
/// RA of the fixture's block 0.
const FIXTURE_RA: u64 = 0x4000_0000;
/// Bytes of block 0 (4 pages).
const BLOCK0_BYTES: u64 = 4 * 8192;
/// Bytes of block 1, right after block 0 (72 pages: a dirty bitmap of two
/// words, the second partly used).
const BLOCK1_BYTES: u64 = 72 * 8192;
/// A block size one free range holds, with room for a page more.
const BINDABLE_BYTES: u64 = 64 * 1024;
/// A domain number no domain has.
const UNKNOWN_DOMAIN: DomainId = 0x7777_7777;

/// What the suite did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConformanceResult {
    /// Cases that passed.
    pub passed: u64,
    /// Cases that failed (or whose fixture could not be set up).
    pub failed: u64,
}

/// The fixture's domain: created, two adjacent blocks, a crypto unit,
/// resumed.
fn fresh_fixture() -> Result<(Sun4v, MigrationFixture), ConformanceFailure> {
    let mut hv = succeeds("API_SET_VERSION for the fixture", Sun4v::negotiate())?;
    let domain = succeeds(
        "MIG_DOMAIN_CREATE of the fixture's domain",
        hv.create_domain(FIXTURE_VCPUS),
    )?;
    let blocks = [
        MemoryBlock {
            ra: FIXTURE_RA,
            size: BLOCK0_BYTES,
        },
        MemoryBlock {
            ra: FIXTURE_RA + BLOCK0_BYTES,
            size: BLOCK1_BYTES,
        },
    ];
    for block in blocks {
        succeeds(
            "MIG_MEMBLOCK_BIND of a fixture block",
            hv.bind_memory_block(domain, block.ra, block.size),
        )?;
    }
    let added = succeeds(
        "MIG_CRYPTO_ADD to the fixture's domain",
        hv.add_crypto_units(domain, FIXTURE_CRYPTO_UNITS),
    )?;
    succeeds(
        "MIG_DOMAIN_RESUME of the fixture's domain",
        hv.resume(domain),
    )?;
    let fixture = MigrationFixture {
        domain,
        vcpus: FIXTURE_VCPUS,
        blocks: blocks.into_iter().collect(),
        crypto_units: added,
        free_crypto_units: MACHINE_CRYPTO_UNITS - GUEST_CRYPTO_UNITS - added,
        free_strands: MACHINE_STRANDS - (SERVICE_VCPUS + GUEST_VCPUS) as u64 - FIXTURE_VCPUS,
        unknown_domain: UNKNOWN_DOMAIN,
        bindable_bytes: BINDABLE_BYTES,
        // More than partition RAM less the guest's blocks: no free range.
        unbindable_bytes: PARTITION_RAM.size - GUEST_CODE_BYTES - GUEST_DATA_BYTES + 8192,
    };
    Ok((hv, fixture))
}

/// Destroys every domain a case on the fixture of `first` may have made:
/// this hypervisor numbers domains upwards, so they are `first` and the
/// numbers after it, at most one per slot (one destroyed and one created
/// again by a case included). EINVAL for a number already gone is fine.
fn clean_up(first: DomainId) -> Result<(), HvError> {
    let mut hv = Sun4v::negotiate()?;
    for domain in first..first + 2 * MAX_DOMAINS as u64 {
        match hv.destroy_domain(domain) {
            Ok(()) | Err(HvError::Invalid) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Runs every migration case, each on a fresh fixture, printing each
/// case's name and result.
pub fn run_conformance_suite(console: &mut ServiceConsole) -> ConformanceResult {
    let cases = migration_cases::<Sun4v>();
    let mut fixture_domain = None;
    let mut cleanup_failure = None;
    let tally = run_cases(
        &cases,
        || {
            if let Some(first) = fixture_domain.take() {
                if let Err(error) = clean_up(first) {
                    cleanup_failure.get_or_insert(error);
                }
            }
            let fresh = fresh_fixture();
            if let Ok((_, fixture)) = &fresh {
                fixture_domain = Some(fixture.domain);
            }
            fresh
        },
        |case, outcome| {
            let _ = match outcome {
                Ok(()) => writeln!(console, "conformance: {} ... ok", case.name),
                Err(failure) => writeln!(
                    console,
                    "conformance: {} ({}) ... FAILED: {failure}",
                    case.name, case.calls
                ),
            };
        },
    );
    let mut failed = tally.failed as u64;
    if let Some(first) = fixture_domain {
        if let Err(error) = clean_up(first) {
            cleanup_failure.get_or_insert(error);
        }
    }
    if let Some(error) = cleanup_failure {
        let _ = writeln!(
            console,
            "conformance: destroying a case's domains failed: {error}"
        );
        failed += 1;
    }
    ConformanceResult {
        passed: tally.passed as u64,
        failed,
    }
}
