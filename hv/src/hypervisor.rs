//! The `Hypervisor` trait family: the seams between the engine and the machine.
//!
//! Each trait is one group of hypervisor services the engine uses. Two
//! implementations exist: [`crate::trap_hypervisor::TrapHypervisor`] (real
//! `ta 0x80` calls as `Sun4v` on sparc64) and the simulated T-series
//! machine (`ldmig-sim`). The engine is generic over [`Hypervisor`], so the
//! same code drives both, and [`crate::conformance`] holds both to the same
//! contract.
//!
//! Dirty bitmaps are arrays of `u64` words: page `i` of a memory block is bit
//! `i % 64` (least significant first) of word `i / 64`.

mod local_region;

pub use local_region::LocalRegion;

use crate::abi::ldc::MapPermissions;
use crate::abi::migration::VcpuState;
use crate::HvError;

/// A domain as the hypervisor numbers it.
pub type DomainId = u64;

/// One memory block of a domain: a real-address range backed by one
/// contiguous physical range on the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBlock {
    /// Real address of the block's first byte (8 KiB aligned).
    pub ra: u64,
    /// Size in bytes (a multiple of 8 KiB).
    pub size: u64,
}

impl MemoryBlock {
    /// Number of 8 KiB pages in the block.
    pub fn pages(&self) -> u64 {
        self.size >> crate::abi::mmu::PAGE_SHIFT
    }
}

/// State of a domain as `MIG_DOMAIN_INFO` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainRunState {
    /// Running (or bound) normally.
    Normal,
    /// Being migrated.
    Migrating,
    /// Left stopped by a failed migration; must not run until recovered.
    Error,
}

/// What `MIG_DOMAIN_INFO` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    /// Number of vCPUs.
    pub vcpus: u64,
    /// Number of memory blocks.
    pub memory_blocks: u64,
    /// Run state.
    pub state: DomainRunState,
}

/// Reading and writing another domain's memory (`MIG_DOMAIN_INFO`,
/// `MIG_MEMBLOCK_INFO`, `MIG_PAGE_READ`, `MIG_PAGE_WRITE`).
pub trait GuestMemory {
    /// Shape and state of a domain.
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError>;
    /// The `index`-th memory block of a domain.
    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError>;
    /// Copies `buffer.len()` bytes of the domain's memory at `ra` into `buffer`.
    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError>;
    /// Copies `data` into the domain's memory at `ra`.
    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError>;
}

/// Dirty-page logging per memory block (`MIG_DIRTY_LOG_*`).
pub trait DirtyLog {
    /// Starts logging; every page of the block counts as dirty at start.
    fn dirty_log_start(&mut self, domain: DomainId, block: u64) -> Result<(), HvError>;
    /// Atomically copies the block's dirty bits into `bitmap` (overwriting it)
    /// and clears them; returns how many pages were dirty.
    fn dirty_log_sync(
        &mut self,
        domain: DomainId,
        block: u64,
        bitmap: &mut [u64],
    ) -> Result<u64, HvError>;
    /// Stops logging.
    fn dirty_log_stop(&mut self, domain: DomainId, block: u64) -> Result<(), HvError>;
}

/// Suspending, throttling and moving a domain's vCPUs.
pub trait VcpuControl {
    /// Stops every vCPU of the domain at an instruction boundary.
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError>;
    /// Lets the domain's vCPUs run again.
    fn resume(&mut self, domain: DomainId) -> Result<(), HvError>;
    /// Makes the vCPUs yield `percent` (0-99) of their time; 0 stops throttling.
    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError>;
    /// Reads a suspended vCPU's whole state.
    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut VcpuState,
    ) -> Result<(), HvError>;
    /// Loads a suspended vCPU's whole state.
    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &VcpuState,
    ) -> Result<(), HvError>;
}

/// Creating, binding and tearing down domains (target reservation, source
/// teardown) and crypto-unit reconfiguration.
pub trait DomainControl {
    /// Creates a bound, suspended domain with `vcpus` vCPUs and no memory.
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError>;
    /// Binds one contiguous free physical range of `size` bytes at real
    /// address `ra`; returns the physical address chosen.
    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError>;
    /// Tears the domain down; its memory and strands become free.
    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError>;
    /// Marks the domain's run state (normal, migrating, error).
    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError>;
    /// Removes the domain's crypto units; returns how many were removed.
    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError>;
    /// Adds up to `count` crypto units; returns how many were added.
    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError>;
}

/// Channel state reported in RET3 of `LDC_TX_GET_STATE` / `LDC_RX_GET_STATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdcChannelState {
    /// `LDC_CHANNEL_DOWN` (0): the peer has no receive queue configured.
    Down,
    /// `LDC_CHANNEL_UP` (1).
    Up,
    /// `LDC_CHANNEL_RESET` (2): the peer reconfigured its queue since the last read.
    Reset,
}

impl LdcChannelState {
    /// Parses RET3; `None` for a value the spec does not define.
    pub fn from_raw(raw: u64) -> Option<Self> {
        use crate::abi::ldc::*;
        match raw {
            LDC_CHANNEL_DOWN => Some(LdcChannelState::Down),
            LDC_CHANNEL_UP => Some(LdcChannelState::Up),
            LDC_CHANNEL_RESET => Some(LdcChannelState::Reset),
            _ => None,
        }
    }
}

/// Head, tail (byte offsets) and channel state of one LDC queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LdcQueueState {
    /// Head offset.
    pub head: u64,
    /// Tail offset.
    pub tail: u64,
    /// Channel state.
    pub state: LdcChannelState,
}

/// The LDOM group's logical domain channel calls (`LDC_*`), one method per
/// call, arguments as the spec gives them, except that every real address of
/// the caller's memory is a [`LocalRegion`] the caller owns (and an offset
/// into it): the queue bases, the map table and the local side of
/// `LDC_COPY`. That is what makes these methods safe on real hardware: the
/// hypervisor writes queues and copies into local memory, so an arbitrary
/// RA would let safe code make it overwrite anything.
///
/// Checks and their order are those of `hv/API.md` (LDOM section), which
/// follows the OpenSPARC hypervisor; in addition a queue or map table larger
/// than its region, or a copy range outside `local`, is `ENORADDR`.
/// The real implementation makes that check before it traps, so when the
/// channel is wrong too it reports `ENORADDR` rather than `ECHANNEL`.
pub trait Ldc {
    /// `LDC_TX_QCONF`: configure the TX queue of `entries` packets at the
    /// start of `queue` (which must hold `entries × 64` bytes); 0 entries
    /// unconfigures it (the region is not used then).
    fn ldc_tx_qconf(
        &mut self,
        channel: u64,
        queue: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError>;
    /// `LDC_TX_QINFO` -> (base RA, entries).
    fn ldc_tx_qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError>;
    /// `LDC_TX_GET_STATE`.
    fn ldc_tx_get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError>;
    /// `LDC_TX_SET_QTAIL`.
    fn ldc_tx_set_qtail(&mut self, channel: u64, tail: u64) -> Result<(), HvError>;
    /// `LDC_RX_QCONF`: as [`Ldc::ldc_tx_qconf`], for the RX queue.
    fn ldc_rx_qconf(
        &mut self,
        channel: u64,
        queue: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError>;
    /// `LDC_RX_QINFO` -> (base RA, entries).
    fn ldc_rx_qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError>;
    /// `LDC_RX_GET_STATE`.
    fn ldc_rx_get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError>;
    /// `LDC_RX_SET_QHEAD`.
    fn ldc_rx_set_qhead(&mut self, channel: u64, head: u64) -> Result<(), HvError>;
    /// `LDC_SET_MAP_TABLE`: register the table of `entries` 16-byte entries
    /// at the start of `table`; 0 entries unregisters it.
    fn ldc_set_map_table(
        &mut self,
        channel: u64,
        table: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError>;
    /// `LDC_GET_MAP_TABLE` -> (table RA, entries).
    fn ldc_get_map_table(&mut self, channel: u64) -> Result<(u64, u64), HvError>;
    /// `LDC_COPY` between the peer's page at `cookie` and `length` bytes at
    /// `offset` of `local` -> bytes actually copied (may be fewer than
    /// asked: loop).
    fn ldc_copy(
        &mut self,
        channel: u64,
        direction: u64,
        cookie: u64,
        local: &LocalRegion,
        offset: u64,
        length: u64,
    ) -> Result<u64, HvError>;
    /// `LDC_MAPIN` -> (RA of the cookie's byte, permissions). The RA is in
    /// the range the hypervisor keeps for mapped-in pages; reaching it
    /// through [`LocalMemory`] needs a region minted over it.
    fn ldc_mapin(&mut self, channel: u64, cookie: u64) -> Result<(u64, MapPermissions), HvError>;
    /// `LDC_UNMAP`: `ra` names a mapping made by `LDC_MAPIN`; the
    /// hypervisor reads or writes no memory there.
    fn ldc_unmap(&mut self, ra: u64) -> Result<(), HvError>;
    /// `LDC_REVOKE`.
    fn ldc_revoke(&mut self, channel: u64, cookie: u64, revoke_cookie: u64) -> Result<(), HvError>;
}

/// The caller's own memory as the hypervisor sees it (real addresses): where
/// LDC queues, map tables and exported buffers live. On sun4v firmware the
/// engine runs with RA == its own address; the simulated machine keeps a
/// separate memory per endpoint domain.
///
/// Memory is reached only through [`LocalRegion`]s, and regions are minted
/// only by [`LocalMemory::local_region`] over memory
/// [`LocalMemory::owns_memory`] vouches for, so the accessors can be safe
/// (the conformance case `local_memory_round_trips_by_offset` runs this):
/// ```text
/// fn stamp<M: LocalMemory>(memory: &mut M, base: u64) -> Result<u64, HvError> {
///     // Mint once (ENORADDR if `base` is not the caller's memory) ...
///     let page = memory.local_region(base, 8192)?;
///     // ... then address by offset inside it.
///     memory.local_write(&page, 64, &7u64.to_be_bytes())?;
///     let mut word = [0u8; 8];
///     memory.local_read(&page, page.offset_of(base + 64), &mut word)?;
///     Ok(u64::from_be_bytes(word))
/// }
/// ```
pub trait LocalMemory {
    /// Whether `[ra, ra + length)` is memory of the caller that this
    /// implementation may read, write and hand to the hypervisor (real
    /// hardware: memory granted by the integrator; the simulation: the
    /// endpoint's memory and its mapped-in pages).
    fn owns_memory(&self, ra: u64, length: u64) -> bool;

    /// Mints the region `[ra, ra + length)`: `EINVAL` for length 0,
    /// `ENORADDR` when the caller does not own all of it.
    fn local_region(&self, ra: u64, length: u64) -> Result<LocalRegion, HvError> {
        let region = LocalRegion::mint(ra, length)?;
        if self.owns_memory(ra, length) {
            Ok(region)
        } else {
            Err(HvError::NoRealAddress)
        }
    }

    /// Reads `buffer.len()` bytes at `offset` of `region`. `EBADALIGN`
    /// unless the address is 8-byte aligned (as sun4v requires), `ENORADDR`
    /// when the bytes are not inside `region` or not (or no longer) memory
    /// this implementation owns; `ENOACCESS` on a mapped-in page without
    /// read permission.
    fn local_read(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<(), HvError>;

    /// Writes `data` at `offset` of `region`; errors as
    /// [`LocalMemory::local_read`] (write permission on mapped-in pages).
    fn local_write(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        data: &[u8],
    ) -> Result<(), HvError>;
}

/// Everything the migration engine needs from a hypervisor.
pub trait Hypervisor: GuestMemory + DirtyLog + VcpuControl + DomainControl {}

impl<T: GuestMemory + DirtyLog + VcpuControl + DomainControl> Hypervisor for T {}

impl DomainRunState {
    /// The `MIG_DOMAIN_STATE_*` value.
    pub fn raw(self) -> u64 {
        use crate::abi::migration::*;
        match self {
            DomainRunState::Normal => MIG_DOMAIN_STATE_NORMAL,
            DomainRunState::Migrating => MIG_DOMAIN_STATE_MIGRATING,
            DomainRunState::Error => MIG_DOMAIN_STATE_ERROR,
        }
    }

    /// Parses a `MIG_DOMAIN_STATE_*` value.
    pub fn from_raw(raw: u64) -> Option<Self> {
        use crate::abi::migration::*;
        match raw {
            MIG_DOMAIN_STATE_NORMAL => Some(DomainRunState::Normal),
            MIG_DOMAIN_STATE_MIGRATING => Some(DomainRunState::Migrating),
            MIG_DOMAIN_STATE_ERROR => Some(DomainRunState::Error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_states_round_trip() {
        for state in [
            DomainRunState::Normal,
            DomainRunState::Migrating,
            DomainRunState::Error,
        ] {
            assert_eq!(DomainRunState::from_raw(state.raw()), Some(state));
        }
        assert_eq!(DomainRunState::from_raw(0), None);
        assert_eq!(
            MemoryBlock {
                ra: 0,
                size: 1 << 20
            }
            .pages(),
            128
        );
    }
}
