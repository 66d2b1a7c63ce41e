//! A domain as the minimal hypervisor keeps it: its memory blocks (RA range
//! onto one physical range, with the block's dirty log), its vCPUs (each a
//! `VcpuState`, which is also the save area the context switch stores the
//! registers into), run state, suspension, throttle and crypto units.

use crate::memory_map::PARTITION_RAM;
use ldmig_hv::abi::cpu::{CPU_STATE_RUNNING, CPU_STATE_STOPPED};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, DomainRunState};
use zerocopy::byteorder::big_endian::U64;

/// Bytes per page (8 KiB, sun4v's base page).
pub const PAGE_BYTES: u64 = 8192;
/// Memory blocks one domain may have.
pub const MAX_BLOCKS: usize = 4;
/// vCPUs one domain may have: every strand of the machine (hv/API.md
/// bounds `MIG_DOMAIN_CREATE` by the free strands alone).
pub const MAX_VCPUS: usize = super::MACHINE_STRANDS as usize;
/// Dirty-bitmap words per block: enough for a block as large as partition
/// RAM, so any block that can be bound can be logged.
pub const DIRTY_WORDS: usize = (PARTITION_RAM.size / PAGE_BYTES / 64) as usize;

/// What a domain is to this hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainKind {
    /// The service (primary) domain: runs the migration engine, privileged,
    /// MMU off (its real addresses are physical ones), may use the
    /// MIGRATION group.
    Service,
    /// A guest: privileged, MMU on through this hypervisor's translations
    /// of its real addresses; no MIGRATION group.
    Guest,
    /// A bound domain of the boot-time self-test: never runs.
    SelfTest,
}

/// One memory block: `[ra, ra + size)` onto `[pa, pa + size)`, and its
/// dirty log (`MIG_DIRTY_LOG_*`).
#[derive(Clone, Debug)]
pub struct BlockMapping {
    /// Real address of the first byte.
    pub ra: u64,
    /// Bytes (a multiple of 8 KiB).
    pub size: u64,
    /// Physical address of the first byte.
    pub pa: u64,
    /// Whether dirty logging is on.
    pub logging: bool,
    /// Page `i` dirty since the last sync: bit `i % 64` of word `i / 64`.
    pub dirty: [u64; DIRTY_WORDS],
}

impl BlockMapping {
    /// A block mapping, not logging.
    pub fn new(ra: u64, size: u64, pa: u64) -> Self {
        BlockMapping {
            ra,
            size,
            pa,
            logging: false,
            dirty: [0; DIRTY_WORDS],
        }
    }

    /// Pages in the block.
    pub fn pages(&self) -> u64 {
        self.size / PAGE_BYTES
    }

    /// Words of bitmap the block's pages need.
    pub fn words(&self) -> usize {
        self.pages().div_ceil(64) as usize
    }

    /// The physical address of `[ra, ra + length)` if it lies inside.
    pub fn physical(&self, ra: u64, length: u64) -> Option<u64> {
        let end = ra.checked_add(length)?;
        (ra >= self.ra && end <= self.ra + self.size).then(|| self.pa + (ra - self.ra))
    }

    /// Whether `[ra, ra + size)` overlaps this block.
    pub fn overlaps(&self, ra: u64, size: u64) -> bool {
        ra < self.ra + self.size && self.ra < ra + size
    }

    /// Marks page `page` dirty; true if it was clean.
    pub fn mark_dirty(&mut self, page: u64) -> bool {
        let (word, bit) = ((page / 64) as usize, page % 64);
        let clean = self.dirty[word] & (1 << bit) == 0;
        self.dirty[word] |= 1 << bit;
        clean
    }

    /// Whether page `page` is dirty.
    pub fn is_dirty(&self, page: u64) -> bool {
        self.dirty[(page / 64) as usize] & (1 << (page % 64)) != 0
    }

    /// Every page dirty (the start of logging).
    pub fn mark_all_dirty(&mut self) {
        let words = self.words();
        self.dirty[..words].fill(u64::MAX);
        let tail = self.pages() % 64;
        if tail != 0 {
            self.dirty[words - 1] = (1u64 << tail) - 1;
        }
    }
}

/// A domain.
pub struct Domain {
    /// The hypervisor's number for it.
    pub id: DomainId,
    /// Torn down (`MIG_DOMAIN_DESTROY`): the slot is free for the next
    /// domain created.
    pub destroyed: bool,
    /// Its name, for the console.
    pub name: &'static str,
    /// What it is to the hypervisor.
    pub kind: DomainKind,
    /// As `MIG_DOMAIN_SET_STATE` last set it.
    pub run_state: DomainRunState,
    /// Suspended: none of its vCPUs is scheduled.
    pub suspended: bool,
    /// `MIG_VCPU_THROTTLE` percentage.
    pub throttle_percent: u8,
    /// Crypto units it holds.
    pub crypto_units: u64,
    /// Its memory blocks, in the order they were bound.
    pub blocks: heapless::Vec<BlockMapping, MAX_BLOCKS>,
    /// How many of `vcpus` exist.
    pub vcpu_count: usize,
    /// Each vCPU's architectural state, also its save area.
    pub vcpus: [VcpuState; MAX_VCPUS],
}

impl Domain {
    /// A domain with `vcpu_count` stopped vCPUs (all-zero states but their
    /// ids and `CPU_STATE` stopped), no memory, no crypto units.
    pub fn new(id: DomainId, name: &'static str, kind: DomainKind, vcpu_count: usize) -> Self {
        let mut domain = Domain {
            id,
            destroyed: false,
            name,
            kind,
            run_state: DomainRunState::Normal,
            suspended: true,
            throttle_percent: 0,
            crypto_units: 0,
            blocks: heapless::Vec::new(),
            vcpu_count,
            vcpus: [VcpuState::zeroed(); MAX_VCPUS],
        };
        domain.reset(id, name, kind, vcpu_count);
        domain
    }

    /// Makes this (destroyed) slot the new domain `id`, in place: what
    /// [`Domain::new`] gives, without a copy of the save areas through the
    /// stack.
    pub fn reset(&mut self, id: DomainId, name: &'static str, kind: DomainKind, vcpu_count: usize) {
        self.id = id;
        self.destroyed = false;
        self.name = name;
        self.kind = kind;
        self.run_state = DomainRunState::Normal;
        self.suspended = true;
        self.throttle_percent = 0;
        self.crypto_units = 0;
        self.blocks.clear();
        self.vcpu_count = vcpu_count;
        for (index, vcpu) in self.vcpus.iter_mut().enumerate() {
            *vcpu = VcpuState::zeroed();
            vcpu.vcpu_id = U64::new(index as u64);
            vcpu.cpu_state = U64::new(CPU_STATE_STOPPED);
        }
    }

    /// The block holding `[ra, ra + length)` entirely: its index and the
    /// range's physical address.
    pub fn block_of(&self, ra: u64, length: u64) -> Option<(usize, u64)> {
        self.blocks
            .iter()
            .enumerate()
            .find_map(|(index, block)| block.physical(ra, length).map(|pa| (index, pa)))
    }

    /// Whether vCPU `vcpu` may be scheduled now. A vCPU whose state was
    /// loaded at TL > 0 or GL > 0 (`MIG_VCPU_SET_STATE` accepts any state
    /// hv/API.md calls loadable) is not: the context switch enters
    /// privileged contexts at TL 0 and GL 0 only, where this hypervisor's
    /// vCPUs leave the strand (a hypercall).
    pub fn vcpu_runnable(&self, vcpu: usize) -> bool {
        self.kind != DomainKind::SelfTest
            && !self.suspended
            && self.run_state != DomainRunState::Error
            && vcpu < self.vcpu_count
            && self.vcpus[vcpu].cpu_state.get() == CPU_STATE_RUNNING
            && self.vcpus[vcpu].tl.get() == 0
            && self.vcpus[vcpu].gl.get() == 0
    }
}
