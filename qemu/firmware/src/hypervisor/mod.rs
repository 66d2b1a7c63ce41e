//! The minimal hypervisor: what sits behind HTBA once the boot code has
//! started the privileged contexts. It implements the calls of `hv/API.md`
//! the engine uses, over partition RAM, and schedules the service domain
//! and the guest domains on the one strand.
//!
//! - [`domain`]: domains, memory blocks with their dirty logs, vCPU states.
//! - [`physical`]: free partition RAM, first fit.
//! - [`caller`]: who called, and the memory its buffers may name.
//! - [`negotiation`]: `API_SET_VERSION` per caller.
//! - [`calls`]: the trap dispatch, by function name.
//! - [`migration_group`]: the MIGRATION group, one method per call.
//! - [`scheduler`]: which vCPU runs after a `CPU_YIELD`, the throttle.
//! - [`mmu`]: guests' TLB misses and protection traps: real dirty tracking.
//! - [`partition`]: the domains set up at boot.
//! - [`vcpu_trap`]: a privileged vCPU's hypercall on its saved registers.
//! - [`statistics`]: what is counted for the report.

pub mod caller;
pub mod calls;
pub mod domain;
pub mod migration_group;
pub mod mmu;
pub mod negotiation;
pub mod partition;
pub mod physical;
pub mod scheduler;
pub mod statistics;
pub mod vcpu_trap;

use crate::boot_options::BootOptions;
use crate::strand_cell::StrandCell;
use caller::Caller;
use domain::{Domain, DomainKind, MAX_VCPUS};
use ldmig_hv::hypervisor::DomainId;
use negotiation::Negotiations;
use physical::FreeRanges;
use scheduler::Scheduler;
use statistics::Statistics;

/// Domains that can exist at once. Domain numbers are never reused while
/// the hypervisor runs (hv/API.md); slots are: a destroyed domain's slot is
/// marked destroyed and the next domain created takes it over, in place, so
/// that the save areas of the other domains never move.
pub const MAX_DOMAINS: usize = 8;
/// vCPUs the hypervisor multiplexes on the one strand, in all domains.
pub const MACHINE_STRANDS: u64 = 16;
/// Crypto units the machine has.
pub const MACHINE_CRYPTO_UNITS: u64 = 4;

/// What the boot-time self-test found (it runs before the partition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelfTestResult {
    /// Checks that held.
    pub passed: u64,
    /// Checks that failed.
    pub failed: u64,
}

/// The whole hypervisor state. Its initial value is all zero bytes, so the
/// static lands in `.bss` (hypervisor RAM, cleared at reset) and not in
/// the image; [`partition::power_on`] gives it its memory and strands.
pub struct Machine {
    domains: heapless::Vec<Domain, MAX_DOMAINS>,
    next_domain_id: DomainId,
    /// Partition RAM no domain has.
    pub free_memory: FreeRanges,
    /// Strands not given to a vCPU.
    pub free_strands: u64,
    /// Crypto units no domain has.
    pub free_crypto_units: u64,
    /// Negotiated API groups, per caller.
    pub negotiations: Negotiations,
    /// The running vCPU and the throttle credits.
    pub scheduler: Scheduler,
    /// Which guest's translations the TLBs hold.
    pub tlb_owner: Option<DomainId>,
    /// Counters.
    pub statistics: Statistics,
    /// The boot-time self-test's result.
    pub self_test: SelfTestResult,
    /// What qemu/boot asked for.
    pub options: BootOptions,
}

/// The one hypervisor of the machine.
pub static MACHINE: StrandCell<Machine> = StrandCell::new(Machine::new());

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// A machine with no domains, no memory, no strands (see
    /// [`partition::power_on`]).
    pub const fn new() -> Self {
        Machine {
            domains: heapless::Vec::new(),
            next_domain_id: 0,
            free_memory: FreeRanges::empty(),
            free_strands: 0,
            free_crypto_units: 0,
            negotiations: Negotiations::new(),
            scheduler: Scheduler::new(),
            tlb_owner: None,
            statistics: Statistics::new(),
            self_test: SelfTestResult {
                passed: 0,
                failed: 0,
            },
            options: BootOptions::DEFAULT,
        }
    }

    /// Domain `id`, if it exists (and was not destroyed).
    pub fn domain(&self, id: DomainId) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|domain| domain.id == id && !domain.destroyed)
    }

    /// Domain `id`, if it exists (and was not destroyed).
    pub fn domain_mut(&mut self, id: DomainId) -> Option<&mut Domain> {
        self.domains
            .iter_mut()
            .find(|domain| domain.id == id && !domain.destroyed)
    }

    /// Every live domain, in slot order.
    pub fn domains(&self) -> impl Iterator<Item = &Domain> {
        self.domains.iter().filter(|domain| !domain.destroyed)
    }

    /// The slot of live domain `id`.
    pub fn slot_of(&self, id: DomainId) -> Option<usize> {
        self.domains
            .iter()
            .position(|domain| domain.id == id && !domain.destroyed)
    }

    /// The live domain in slot `slot`.
    pub fn domain_in_slot(&self, slot: usize) -> Option<&Domain> {
        self.domains.get(slot).filter(|domain| !domain.destroyed)
    }

    /// Creates a domain (suspended, stopped vCPUs, no memory) in the first
    /// destroyed slot, or a new one, taking `vcpus` strands; its number (a
    /// new one, never reused), or `None` when no slot or not enough strands
    /// are left.
    pub fn create_domain(
        &mut self,
        name: &'static str,
        kind: DomainKind,
        vcpus: usize,
    ) -> Option<DomainId> {
        if vcpus as u64 > self.free_strands || vcpus > MAX_VCPUS {
            return None;
        }
        let id = self.next_domain_id;
        let slot = match self.domains.iter().position(|domain| domain.destroyed) {
            Some(slot) => {
                self.domains[slot].reset(id, name, kind, vcpus);
                slot
            }
            None => {
                let slot = self.domains.len();
                self.domains.push(Domain::new(id, name, kind, vcpus)).ok()?;
                slot
            }
        };
        self.next_domain_id += 1;
        self.free_strands -= vcpus as u64;
        self.scheduler.reset_slot(slot);
        Some(id)
    }

    /// Tears domain `id` down: memory, strands, crypto units back; its
    /// translations dropped; its slot is marked destroyed (free for the
    /// next domain created). False if it does not exist.
    pub fn destroy_domain(&mut self, id: DomainId) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        let domain = &mut self.domains[slot];
        domain.destroyed = true;
        let (kind, strands, crypto_units) = (domain.kind, domain.vcpu_count, domain.crypto_units);
        let blocks = core::mem::take(&mut domain.blocks);
        domain.crypto_units = 0;
        if kind != DomainKind::Service {
            for block in &blocks {
                self.free_memory.give_back(block.pa, block.size);
            }
        }
        self.free_strands += strands as u64;
        self.free_crypto_units += crypto_units;
        self.negotiations.forget(Caller::Domain(id));
        self.drop_tlbs_of(id);
        true
    }
}
