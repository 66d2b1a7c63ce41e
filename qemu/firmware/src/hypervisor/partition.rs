//! The domains this hypervisor sets up itself, before any privileged code
//! runs (a real one reads them from its machine description):
//!
//! - domain 0, `primary`: the service domain that runs the migration
//!   engine; its memory is hypervisor RAM at RA = PA (it runs MMU off).
//! - domains 1 and 2: two bound, never-running domains of 4 vCPUs and one
//!   4-page block each, for the boot-time self-test of the call path;
//!   destroyed once it is done.
//! - domain 3, `ldg1`: the guest that gets migrated (guest_layout.rs).

use super::caller::copy_physical;
use super::domain::{BlockMapping, DomainKind};
use super::physical::FreeRanges;
use super::scheduler::VcpuId;
use super::{Machine, MACHINE_CRYPTO_UNITS, MACHINE_STRANDS};
use crate::boot_options::BootOptions;
use crate::console::Console;
use crate::context_switch::{FPRS_FEF, NWINDOWS, PSTATE_PEF, PSTATE_PRIV, STACK_BIAS, STACK_FRAME};
use crate::guest_layout::*;
use crate::memory_map::{image_bytes, IMAGE_BASE, PARTITION_RAM, SERVICE_MEMORY};
use core::fmt::Write;
use ldmig_hv::abi::cpu::CPU_STATE_RUNNING;
use ldmig_hv::hypervisor::DomainId;
use zerocopy::byteorder::big_endian::U64;

/// The service domain.
pub const SERVICE_DOMAIN: DomainId = 0;
/// vCPUs of the service domain.
pub const SERVICE_VCPUS: usize = 1;
/// The self-test's "source" domain.
pub const SELF_TEST_SOURCE: DomainId = 1;
/// The self-test's "target" domain.
pub const SELF_TEST_TARGET: DomainId = 2;
/// vCPUs of each self-test domain.
pub const SELF_TEST_VCPUS: u64 = 4;
/// RA of each self-test domain's block (the same on both).
pub const SELF_TEST_BLOCK_RA: u64 = 0x1000_0000;
/// Pages of each self-test domain's block.
pub const SELF_TEST_BLOCK_PAGES: u64 = 4;
/// Bytes of each self-test domain's block.
pub const SELF_TEST_BLOCK_BYTES: u64 = SELF_TEST_BLOCK_PAGES * 8192;

unsafe extern "C" {
    /// The privileged trap table (privileged_trap_tables.S); at this
    /// address in the guest's code block is the guest's own copy.
    fn ldmig_privileged_trap_table();
}

/// Why the boot-time partition could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionError {
    /// No domain slot or strands left.
    NoDomain,
    /// A memory block could not be bound (the status).
    Bind(u64),
}

/// Gives the machine its memory, strands and crypto units, and creates the
/// service domain and the two self-test domains.
pub fn power_on(machine: &mut Machine, options: BootOptions) -> Result<(), PartitionError> {
    machine.options = options;
    machine.free_memory = FreeRanges::whole(PARTITION_RAM);
    machine.free_strands = MACHINE_STRANDS;
    machine.free_crypto_units = MACHINE_CRYPTO_UNITS;

    let service = machine
        .create_domain("primary", DomainKind::Service, SERVICE_VCPUS)
        .ok_or(PartitionError::NoDomain)?;
    let domain = machine
        .domain_mut(service)
        .ok_or(PartitionError::NoDomain)?;
    let memory = BlockMapping::new(
        SERVICE_MEMORY.base,
        SERVICE_MEMORY.size,
        SERVICE_MEMORY.base,
    );
    // Cannot fail: a new domain has no blocks.
    let _ = domain.blocks.push(memory);
    domain.suspended = false;
    domain.vcpus[0].cpu_state = U64::new(CPU_STATE_RUNNING);

    for _ in [SELF_TEST_SOURCE, SELF_TEST_TARGET] {
        let id = machine
            .create_domain("self-test", DomainKind::SelfTest, SELF_TEST_VCPUS as usize)
            .ok_or(PartitionError::NoDomain)?;
        machine
            .mig_memblock_bind(id, SELF_TEST_BLOCK_RA, SELF_TEST_BLOCK_BYTES)
            .map_err(PartitionError::Bind)?;
    }
    Ok(())
}

/// Destroys the self-test domains (their memory goes back).
pub fn retire_self_test_domains(machine: &mut Machine) {
    machine.destroy_domain(SELF_TEST_SOURCE);
    machine.destroy_domain(SELF_TEST_TARGET);
}

/// Creates the guest `ldg1`: its code block filled with this image, its
/// data block zero, its vCPU about to enter the guest program with the
/// seed in `%o0`, running. Returns its domain number.
pub fn create_guest(machine: &mut Machine, seed: u64) -> Result<DomainId, PartitionError> {
    let id = machine
        .create_domain(GUEST_NAME, DomainKind::Guest, GUEST_VCPUS)
        .ok_or(PartitionError::NoDomain)?;
    let code = machine
        .mig_memblock_bind(id, GUEST_CODE_RA, GUEST_CODE_BYTES)
        .map_err(PartitionError::Bind)?[0];
    machine
        .mig_memblock_bind(id, GUEST_DATA_RA, GUEST_DATA_BYTES)
        .map_err(PartitionError::Bind)?;
    // The image is image_bytes() <= GUEST_CODE_BYTES (linker/niagara.ld
    // asserts the limit) of PROM; the block is fresh partition RAM.
    // SAFETY: nothing else uses either range now.
    unsafe { copy_physical(IMAGE_BASE, code, image_bytes()) };
    let taken = machine.free_crypto_units.min(GUEST_CRYPTO_UNITS);
    machine.free_crypto_units -= taken;

    let domain = machine.domain_mut(id).ok_or(PartitionError::NoDomain)?;
    domain.crypto_units = taken;
    let vcpu = &mut domain.vcpus[0];
    let entry = crate::guest_workload::ldmig_guest_main as *const () as u64;
    vcpu.pc = U64::new(entry);
    vcpu.npc = U64::new(entry + 4);
    vcpu.pstate = U64::new(PSTATE_PRIV | PSTATE_PEF);
    vcpu.fprs = U64::new(FPRS_FEF);
    vcpu.cwp = U64::new(0);
    vcpu.cansave = U64::new(NWINDOWS - 2);
    vcpu.canrestore = U64::new(0);
    vcpu.cleanwin = U64::new(NWINDOWS - 1);
    vcpu.otherwin = U64::new(0);
    vcpu.wstate = U64::new(0);
    vcpu.tba = U64::new(ldmig_privileged_trap_table as *const () as u64);
    vcpu.primary_context = U64::new(GUEST_PRIMARY_CONTEXT);
    // Window 0's outs are window 1's ins: %o0 the seed, %o6 the stack.
    vcpu.windows[1][8] = U64::new(seed);
    vcpu.windows[1][8 + 6] = U64::new(GUEST_STACK_TOP - STACK_BIAS - STACK_FRAME);
    vcpu.cpu_state = U64::new(CPU_STATE_RUNNING);
    domain.suspended = false;
    Ok(id)
}

impl Machine {
    /// One console line per live domain and per memory block;
    /// `highlight` is marked as the one to migrate.
    pub fn print_domains(&self, console: &mut Console, highlight: DomainId) {
        for domain in self.domains() {
            let _ = writeln!(
                console,
                "ldmig firmware: domain {} {} ({:?}, {} vCPU, {} crypto unit(s)){}",
                domain.id,
                domain.name,
                domain.kind,
                domain.vcpu_count,
                domain.crypto_units,
                if domain.id == highlight {
                    ": to be migrated"
                } else {
                    ""
                }
            );
            for block in &domain.blocks {
                let _ = writeln!(
                    console,
                    "ldmig firmware:   block RA {:#x}..{:#x} -> PA {:#x}",
                    block.ra,
                    block.ra + block.size,
                    block.pa
                );
            }
        }
    }
}

/// Makes the service domain's vCPU the one on the strand (before launch).
pub fn start_service_domain(machine: &mut Machine) {
    machine.switch_to(VcpuId {
        domain: SERVICE_DOMAIN,
        vcpu: 0,
    });
}
