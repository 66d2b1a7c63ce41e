//! The simulated LDC: channel pairs between two endpoints, each endpoint a
//! domain's view of its channel with its own memory, implementing the
//! `LDC_*` calls ([`Ldc`]) and real-address memory access ([`LocalMemory`])
//! as the sun4v hypervisor defines them, plus hooks to inject faults.
//!
//! An [`LdcFabric`] owns every pair (behind one `Arc<Mutex<..>>`, so
//! endpoints can live in different threads); [`SimLdcEndpoint`] is a handle
//! to one side. Each endpoint's memory is a byte array addressed by real
//! address from [`SIM_MEMORY_BASE`] (so RA 0 is never valid); its queues and
//! map table live there, and the peer's `LDC_COPY` and mapped-in pages reach
//! into it.
//!
//! Choices where the public sources leave the hypervisor's behaviour open
//! (the contract in `hv/API.md`, LDOM section, repeats them):
//! - `LDC_TX_SET_QTAIL` never refuses for lack of room: the hypervisor
//!   copies as many packets as the peer's receive queue holds and keeps the
//!   rest pending in the sender's transmit queue (the TX head shows how far
//!   delivery got); pending packets move as soon as the receiver frees room
//!   (its `LDC_RX_SET_QHEAD`, or any later call on the channel).
//!   `EWOULDBLOCK` comes only from the injected [`LdcFault::WouldBlock`].
//! - Packets sent while the peer has no receive queue are dropped (the TX
//!   head jumps to the tail), and so are pending packets when the peer
//!   (re)configures or unconfigures its receive queue.
//! - Channel state: DOWN while the peer has no receive queue; RESET once
//!   (the read clears it, whichever of TX/RX GET_STATE reads it) after the
//!   peer configured its receive queue again, or after a channel reset;
//!   else UP. The very first configuration of a side is not a reset.
//! - `LDC_TX_QCONF` keeps the old tail (modulo the new size) as head and
//!   tail, as the OpenSPARC hypervisor does; `LDC_RX_QCONF` starts at 0.
//! - `LDC_COPY` and `LDC_MAPIN` check in the OpenSPARC hypervisor's order
//!   and return its codes: an entry without the needed permission (copy
//!   read or write; for MAPIN any of read, write, exec, I/O read, I/O
//!   write) is `ENOACCESS`, an empty entry included.
//! - A mapped-in page appears at an RA from [`SIM_MAPIN_BASE`] up; a region
//!   minted over it reaches it through [`LocalMemory`] with the MTE's READ
//!   or WRITE bit (`ENOACCESS` otherwise), and fails with `ENORADDR` once
//!   the page is unmapped or revoked.
//! - An endpoint owns (and mints [`LocalRegion`]s over) its memory and the
//!   pages it mapped in. [`LocalMemory`] accesses must start 8-byte aligned,
//!   as on sun4v.

mod shared_memory;
mod state;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use self::shared_memory::CopyRequest;
use self::state::{End, Fabric, QueueKind};
use ldmig_hv::abi::ldc::MapPermissions;
use ldmig_hv::hypervisor::{Ldc, LdcQueueState, LocalMemory, LocalRegion};
use ldmig_hv::HvError;

/// Real address of the first byte of every endpoint's memory.
pub const SIM_MEMORY_BASE: u64 = 0x8000_0000;
/// Real address where pages mapped in with `LDC_MAPIN` start appearing.
pub const SIM_MAPIN_BASE: u64 = 0x1000_0000_0000;
/// Largest queue the simulated hypervisor accepts (the MD would say).
pub const SIM_MAX_QUEUE_ENTRIES: u64 = 1024;
/// Pages one endpoint may have mapped in at once (`ETOOMANY` beyond).
pub const SIM_MAX_MAPPINGS: usize = 64;
/// Smallest endpoint memory: 8 pages, room for a pair of queues (a fuzz
/// target's endpoints take no more, so each input costs little to set up).
pub const SIM_MIN_MEMORY: u64 = 64 << 10;
/// Endpoint memory of [`EndpointConfig::new`].
pub const SIM_DEFAULT_MEMORY: u64 = 1 << 20;
/// Largest endpoint memory.
pub const SIM_MAX_MEMORY: u64 = 16 << 20;

pub use ldmig_hv::ldc::Side;

/// Names a channel pair of a fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PairId(usize);

/// One endpoint's set-up: the channel number its calls name, and its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Channel number (ECHANNEL for any other).
    pub channel: u64,
    /// Bytes of memory: a multiple of 8 KiB from 64 KiB to 16 MiB.
    pub memory_bytes: u64,
}

impl EndpointConfig {
    /// Channel `channel` with 1 MiB of memory.
    pub fn new(channel: u64) -> Self {
        EndpointConfig {
            channel,
            memory_bytes: SIM_DEFAULT_MEMORY,
        }
    }
}

/// A fabric set-up call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FabricError {
    /// Memory size outside 64 KiB-16 MiB or not a multiple of 8 KiB.
    MemorySize {
        /// The size asked for.
        bytes: u64,
    },
    /// No pair with this id.
    NoSuchPair,
    /// That side already has a live endpoint.
    AlreadyAttached,
}

impl fmt::Display for FabricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FabricError::MemorySize { bytes } => write!(
                f,
                "endpoint memory of {bytes} bytes: must be a multiple of 8 KiB from 64 KiB to 16 MiB"
            ),
            FabricError::NoSuchPair => f.write_str("no such channel pair"),
            FabricError::AlreadyAttached => f.write_str("that side of the pair is attached"),
        }
    }
}

impl std::error::Error for FabricError {}

/// How to damage a packet on its way (see [`LdcFault::Corrupt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketCorruption {
    /// The type byte becomes 0xff, which no packet type has.
    Type,
    /// The sequence id gets its top bit flipped: far out of sequence.
    SequenceId,
    /// The env byte's length becomes 63, past the 48-byte payload.
    Envelope,
    /// The first payload byte is inverted. LDC has no checksum: only the
    /// layer above can notice.
    Payload,
}

/// A fault to inject, on packets an endpoint sends or on its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdcFault {
    /// Reset the channel after this endpoint's next `packets` packets reach
    /// the peer (0: at the next delivery): the rest of what it sent is
    /// dropped, both ends see RESET once. Packets already in a receive
    /// queue stay there (a message cut in the middle).
    ResetAfterPackets(u32),
    /// The next `calls` `LDC_TX_SET_QTAIL` / `LDC_RX_SET_QHEAD` calls of
    /// this endpoint return `EWOULDBLOCK` and change nothing.
    WouldBlock {
        /// How many calls.
        calls: u32,
    },
    /// Damage the next packet this endpoint sends.
    Corrupt(PacketCorruption),
    /// Deliver the next two packets this endpoint sends in swapped order
    /// (armed until two are pending together).
    OutOfSequence,
}

/// The set of channel pairs of a simulation.
#[derive(Clone, Debug, Default)]
pub struct LdcFabric {
    inner: Arc<Mutex<Fabric>>,
}

fn lock(fabric: &Mutex<Fabric>) -> MutexGuard<'_, Fabric> {
    fabric.lock().unwrap_or_else(PoisonError::into_inner)
}

fn validate_memory(config: EndpointConfig) -> Result<(), FabricError> {
    let bytes = config.memory_bytes;
    let in_range = (SIM_MIN_MEMORY..=SIM_MAX_MEMORY).contains(&bytes);
    if in_range && bytes.is_multiple_of(8192) {
        Ok(())
    } else {
        Err(FabricError::MemorySize { bytes })
    }
}

impl LdcFabric {
    /// An empty fabric.
    pub fn new() -> Self {
        LdcFabric::default()
    }

    /// Creates a channel pair and attaches both of its endpoints.
    pub fn create_pair(
        &self,
        a: EndpointConfig,
        b: EndpointConfig,
    ) -> Result<(SimLdcEndpoint, SimLdcEndpoint), FabricError> {
        validate_memory(a)?;
        validate_memory(b)?;
        let mut fabric = lock(&self.inner);
        let pair = PairId(fabric.pairs.len());
        fabric
            .pairs
            .push(state::Pair::new(End::new(a), End::new(b)));
        drop(fabric);
        Ok((self.endpoint(pair, Side::A), self.endpoint(pair, Side::B)))
    }

    /// [`LdcFabric::create_pair`] of two endpoints of the default
    /// configuration ([`EndpointConfig::new`]) on channels `a` and `b`.
    pub fn create_default_pair(
        &self,
        a: u64,
        b: u64,
    ) -> Result<(SimLdcEndpoint, SimLdcEndpoint), FabricError> {
        self.create_pair(EndpointConfig::new(a), EndpointConfig::new(b))
    }

    /// Attaches a new endpoint to a side whose previous endpoint was
    /// dropped: a fresh domain, zeroed memory, no queues.
    pub fn attach(&self, pair: PairId, side: Side) -> Result<SimLdcEndpoint, FabricError> {
        let mut fabric = lock(&self.inner);
        let pair_state = fabric
            .pairs
            .get_mut(pair.0)
            .ok_or(FabricError::NoSuchPair)?;
        let end = &mut pair_state.ends[side.index()];
        if end.attached {
            return Err(FabricError::AlreadyAttached);
        }
        end.reattach();
        drop(fabric);
        Ok(self.endpoint(pair, side))
    }

    fn endpoint(&self, pair: PairId, side: Side) -> SimLdcEndpoint {
        SimLdcEndpoint {
            fabric: Arc::clone(&self.inner),
            pair,
            side,
        }
    }
}

/// One side of a channel pair: a domain's channel endpoint and its memory.
/// Dropping it is the domain going away: its queues and map table vanish
/// and the peer sees the channel DOWN.
#[derive(Debug)]
pub struct SimLdcEndpoint {
    fabric: Arc<Mutex<Fabric>>,
    pair: PairId,
    side: Side,
}

impl SimLdcEndpoint {
    fn with<T>(&self, operation: impl FnOnce(&mut state::Pair, usize) -> T) -> T {
        let mut fabric = lock(&self.fabric);
        // The pair exists: endpoints are only made for pairs the fabric holds.
        match fabric.pairs.get_mut(self.pair.0) {
            Some(pair) => operation(pair, self.side.index()),
            None => unreachable_pair(),
        }
    }

    /// The pair this endpoint belongs to.
    pub fn pair(&self) -> PairId {
        self.pair
    }

    /// Which side it is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The channel number its calls must name.
    pub fn channel(&self) -> u64 {
        self.with(|pair, side| pair.ends[side].config.channel)
    }

    /// RA of the first byte of its memory ([`SIM_MEMORY_BASE`]).
    pub fn memory_base(&self) -> u64 {
        SIM_MEMORY_BASE
    }

    /// Bytes of memory.
    pub fn memory_size(&self) -> u64 {
        self.with(|pair, side| pair.ends[side].config.memory_bytes)
    }

    /// Arms a fault on this endpoint (see [`LdcFault`]).
    pub fn inject(&self, fault: LdcFault) {
        self.with(|pair, side| pair.ends[side].faults.arm(fault));
    }

    /// While set, this endpoint's receive queue looks full: nothing is
    /// delivered into it; the peer's packets wait in its transmit queue.
    pub fn set_rx_full(&self, full: bool) {
        self.with(|pair, side| {
            pair.ends[side].faults.rx_full = full;
            if !full {
                pair.deliver(1 - side);
            }
        });
    }

    /// Resets the channel now, as the hypervisor would: both ends drop what
    /// they have not delivered and see RESET once.
    pub fn reset_channel(&self) {
        self.with(|pair, _| pair.reset_channel());
    }

    /// Whether the other side has a live endpoint.
    pub fn peer_attached(&self) -> bool {
        self.with(|pair, side| pair.ends[1 - side].attached)
    }

    /// Packets this endpoint's transmit queue delivered to the peer so far.
    pub fn packets_delivered(&self) -> u64 {
        self.with(|pair, side| pair.ends[side].delivered)
    }

    /// Pages of the peer this endpoint has mapped in.
    pub fn mappings(&self) -> usize {
        self.with(|pair, side| pair.ends[side].mappings.len())
    }
}

#[cold]
fn unreachable_pair() -> ! {
    // Pairs are never removed from a fabric and ids come only from it.
    panic!("simulated LDC: endpoint of a pair the fabric does not hold")
}

impl Drop for SimLdcEndpoint {
    fn drop(&mut self) {
        let mut fabric = lock(&self.fabric);
        if let Some(pair) = fabric.pairs.get_mut(self.pair.0) {
            pair.detach(self.side.index());
        }
    }
}

/// The four calls of one queue (`kind`) of a [`SimLdcEndpoint`]: `*_QCONF`,
/// `*_QINFO`, `*_GET_STATE`, and `TX_SET_QTAIL` or `RX_SET_QHEAD`.
macro_rules! queue_calls {
    ($kind:expr => $qconf:ident, $qinfo:ident, $get_state:ident, $move_pointer:ident) => {
        fn $qconf(
            &mut self,
            channel: u64,
            queue: &LocalRegion,
            entries: u64,
        ) -> Result<(), HvError> {
            self.with(|pair, side| pair.qconf(side, channel, $kind, queue, entries))
        }

        fn $qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
            self.with(|pair, side| pair.qinfo(side, channel, $kind))
        }

        fn $get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError> {
            self.with(|pair, side| pair.get_state(side, channel, $kind))
        }

        fn $move_pointer(&mut self, channel: u64, offset: u64) -> Result<(), HvError> {
            self.with(|pair, side| pair.move_pointer(side, channel, $kind, offset))
        }
    };
}

impl Ldc for SimLdcEndpoint {
    queue_calls!(QueueKind::Tx => ldc_tx_qconf, ldc_tx_qinfo, ldc_tx_get_state, ldc_tx_set_qtail);
    queue_calls!(QueueKind::Rx => ldc_rx_qconf, ldc_rx_qinfo, ldc_rx_get_state, ldc_rx_set_qhead);

    fn ldc_set_map_table(
        &mut self,
        channel: u64,
        table: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError> {
        self.with(|pair, side| pair.set_map_table(side, channel, table, entries))
    }

    fn ldc_get_map_table(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
        self.with(|pair, side| pair.get_map_table(side, channel))
    }

    fn ldc_copy(
        &mut self,
        channel: u64,
        direction: u64,
        cookie: u64,
        local: &LocalRegion,
        offset: u64,
        length: u64,
    ) -> Result<u64, HvError> {
        let request = CopyRequest {
            channel,
            direction,
            cookie,
            local,
            offset,
            length,
        };
        self.with(|pair, side| pair.copy(side, &request))
    }

    fn ldc_mapin(&mut self, channel: u64, cookie: u64) -> Result<(u64, MapPermissions), HvError> {
        self.with(|pair, side| pair.mapin(side, channel, cookie))
    }

    fn ldc_unmap(&mut self, ra: u64) -> Result<(), HvError> {
        self.with(|pair, side| pair.unmap(side, ra))
    }

    fn ldc_revoke(&mut self, channel: u64, cookie: u64, revoke_cookie: u64) -> Result<(), HvError> {
        self.with(|pair, side| pair.revoke(side, channel, cookie, revoke_cookie))
    }
}

impl LocalMemory for SimLdcEndpoint {
    fn owns_memory(&self, ra: u64, length: u64) -> bool {
        self.with(|pair, side| pair.owns(side, ra, length))
    }

    fn local_read(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<(), HvError> {
        self.with(|pair, side| pair.local_read(side, region, offset, buffer))
    }

    fn local_write(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        data: &[u8],
    ) -> Result<(), HvError> {
        self.with(|pair, side| pair.local_write(side, region, offset, data))
    }
}
