//! State of the simulated channels: endpoints, their queues, the channel
//! state machine, packet delivery between the two ends, and fault injection
//! on the way.
//!
//! Every call takes the endpoint's side (0 or 1); the peer is the other.

use super::{EndpointConfig, LdcFault, PacketCorruption, SIM_MAX_QUEUE_ENTRIES, SIM_MEMORY_BASE};
use ldmig_hv::abi::ldc::{MapPermissions, LDC_LEN, LDC_PACKET_SIZE};
use ldmig_hv::hypervisor::{LdcChannelState, LdcQueueState, LocalRegion};
use ldmig_hv::ldc::queue::QueueGeometry;
use ldmig_hv::HvError;
use std::ops::Range;

/// Every channel pair of a fabric.
#[derive(Debug, Default)]
pub(super) struct Fabric {
    pub(super) pairs: Vec<Pair>,
}

/// One configured queue as the hypervisor keeps it.
#[derive(Clone, Copy, Debug)]
pub(super) struct HvQueue {
    pub(super) ra: u64,
    pub(super) geometry: QueueGeometry,
    pub(super) head: u64,
    pub(super) tail: u64,
}

/// Faults armed on one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Faults {
    pub(super) reset_after: Option<u32>,
    pub(super) would_block: u32,
    pub(super) corrupt: Option<PacketCorruption>,
    pub(super) out_of_sequence: bool,
    pub(super) rx_full: bool,
}

impl Faults {
    pub(super) fn arm(&mut self, fault: LdcFault) {
        match fault {
            LdcFault::ResetAfterPackets(packets) => self.reset_after = Some(packets),
            LdcFault::WouldBlock { calls } => self.would_block = calls,
            LdcFault::Corrupt(corruption) => self.corrupt = Some(corruption),
            LdcFault::OutOfSequence => self.out_of_sequence = true,
        }
    }

    /// Consumes one injected `EWOULDBLOCK`, if armed.
    fn would_block(&mut self) -> Result<(), HvError> {
        if self.would_block > 0 {
            self.would_block -= 1;
            return Err(HvError::WouldBlock);
        }
        Ok(())
    }
}

/// A page of the peer mapped into this endpoint with `LDC_MAPIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mapping {
    /// RA of the page in this endpoint's address space.
    pub(super) ra: u64,
    /// Page size in bytes.
    pub(super) page_bytes: u64,
    /// RA of the page in the exporter's memory.
    pub(super) exporter_ra: u64,
    /// The entry's permissions, as MAPIN returned them.
    pub(super) permissions: MapPermissions,
    /// Index of the exporter's map-table entry.
    pub(super) table_index: u64,
    /// The cookie written in word 1 of that entry, for `LDC_REVOKE`.
    pub(super) revoke_cookie: u64,
}

/// A registered map table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MapTable {
    pub(super) ra: u64,
    pub(super) entries: u64,
}

/// One endpoint: a domain's side of the channel.
#[derive(Debug)]
pub(super) struct End {
    pub(super) config: EndpointConfig,
    pub(super) attached: bool,
    pub(super) memory: Vec<u8>,
    pub(super) tx: Option<HvQueue>,
    pub(super) rx: Option<HvQueue>,
    /// The transmit tail when the queue was last configured or unconfigured:
    /// a new configuration starts there.
    pub(super) tx_last_tail: u64,
    /// Whether this side ever had a receive queue (its first one is not a reset).
    pub(super) rx_ever_configured: bool,
    /// RESET to report on this endpoint's next state read.
    pub(super) reset_pending: bool,
    pub(super) map_table: Option<MapTable>,
    pub(super) mappings: Vec<Mapping>,
    pub(super) next_mapping: u64,
    pub(super) faults: Faults,
    pub(super) delivered: u64,
}

/// Which of an endpoint's two queues a call names.
#[derive(Clone, Copy, Debug)]
pub(super) enum QueueKind {
    /// The transmit queue: this side sends.
    Tx,
    /// The receive queue: the peer sends.
    Rx,
}

impl QueueKind {
    /// The side whose transmit queue feeds this queue of `side`.
    fn sender(self, side: usize) -> usize {
        match self {
            QueueKind::Tx => side,
            QueueKind::Rx => 1 - side,
        }
    }
}

impl End {
    /// `TX_QCONF` of this endpoint, the channel checked.
    fn configure_tx(&mut self, queue: &LocalRegion, entries: u64) -> Result<(), HvError> {
        if let Some(old) = self.tx {
            self.tx_last_tail = old.tail;
        }
        if entries == 0 {
            self.tx = None;
            return Ok(());
        }
        let geometry = self.validate_queue(queue, entries)?;
        // Head and tail restart at the old tail (OpenSPARC keeps it).
        let tail = self.tx_last_tail % geometry.size_bytes();
        self.tx = Some(HvQueue {
            ra: queue.ra(),
            geometry,
            head: tail,
            tail,
        });
        Ok(())
    }

    /// The queue `kind` names.
    fn queue_mut(&mut self, kind: QueueKind) -> &mut Option<HvQueue> {
        match kind {
            QueueKind::Tx => &mut self.tx,
            QueueKind::Rx => &mut self.rx,
        }
    }

    pub(super) fn new(config: EndpointConfig) -> Self {
        End {
            config,
            attached: true,
            memory: vec![0; usize::try_from(config.memory_bytes).unwrap_or(0)],
            tx: None,
            rx: None,
            tx_last_tail: 0,
            rx_ever_configured: false,
            reset_pending: false,
            map_table: None,
            mappings: Vec::new(),
            next_mapping: 0,
            faults: Faults::default(),
            delivered: 0,
        }
    }

    /// A new domain on this side: fresh memory, nothing configured. Whether
    /// the side ever had a receive queue is kept: the peer sees RESET when
    /// the new one configures its own.
    pub(super) fn reattach(&mut self) {
        let ever = self.rx_ever_configured;
        *self = End::new(self.config);
        self.rx_ever_configured = ever;
    }

    /// The byte range of `[ra, ra + length)` in this endpoint's memory.
    pub(super) fn memory_range(&self, ra: u64, length: u64) -> Option<Range<usize>> {
        let start = ra.checked_sub(SIM_MEMORY_BASE)?;
        let end = start.checked_add(length)?;
        if end > self.memory.len() as u64 {
            return None;
        }
        Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    fn check_channel(&self, channel: u64) -> Result<(), HvError> {
        if channel == self.config.channel {
            Ok(())
        } else {
            Err(HvError::Channel)
        }
    }

    /// Validates a queue configuration at the start of `queue`: entries
    /// (EINVAL), alignment (EBADALIGN), the whole queue inside the region
    /// and this endpoint's memory (ENORADDR).
    fn validate_queue(&self, queue: &LocalRegion, entries: u64) -> Result<QueueGeometry, HvError> {
        let geometry = QueueGeometry::new(entries)
            .filter(|geometry| geometry.entries() <= SIM_MAX_QUEUE_ENTRIES)
            .ok_or(HvError::Invalid)?;
        if !queue.ra().is_multiple_of(geometry.size_bytes()) {
            return Err(HvError::BadAlignment);
        }
        let ra = queue
            .address_of(0, geometry.size_bytes())
            .ok_or(HvError::NoRealAddress)?;
        self.memory_range(ra, geometry.size_bytes())
            .ok_or(HvError::NoRealAddress)?;
        Ok(geometry)
    }

    fn packet_at(&self, queue: &HvQueue, offset: u64) -> [u8; LDC_PACKET_SIZE] {
        let mut packet = [0u8; LDC_PACKET_SIZE];
        if let Some(range) = self.memory_range(queue.ra + offset, LDC_PACKET_SIZE as u64) {
            packet.copy_from_slice(&self.memory[range]);
        }
        packet
    }

    fn put_packet(&mut self, ra: u64, packet: &[u8; LDC_PACKET_SIZE]) {
        if let Some(range) = self.memory_range(ra, LDC_PACKET_SIZE as u64) {
            self.memory[range].copy_from_slice(packet);
        }
    }
}

fn corrupt(packet: &mut [u8; LDC_PACKET_SIZE], corruption: PacketCorruption) {
    match corruption {
        PacketCorruption::Type => packet[0] = 0xff,
        PacketCorruption::SequenceId => packet[4] ^= 0x80,
        PacketCorruption::Envelope => packet[3] = (packet[3] & !LDC_LEN) | LDC_LEN,
        PacketCorruption::Payload => packet[16] ^= 0xff,
    }
}

/// The two ends of one channel.
#[derive(Debug)]
pub(super) struct Pair {
    pub(super) ends: [End; 2],
}

impl Pair {
    pub(super) fn new(a: End, b: End) -> Self {
        Pair { ends: [a, b] }
    }

    /// The endpoint of `side` went away.
    pub(super) fn detach(&mut self, side: usize) {
        let end = &mut self.ends[side];
        end.attached = false;
        end.tx = None;
        end.rx = None;
        end.map_table = None;
        end.mappings.clear();
        end.faults = Faults::default();
        // Pages the peer mapped from this domain are gone with it.
        self.ends[1 - side].mappings.clear();
    }

    /// Channel reset by the hypervisor: undelivered packets dropped on both
    /// sides, both see RESET once.
    pub(super) fn reset_channel(&mut self) {
        for end in &mut self.ends {
            if let Some(tx) = end.tx.as_mut() {
                tx.head = tx.tail;
            }
            end.reset_pending = true;
        }
    }

    /// The channel state as `side` sees it (consumes a pending RESET).
    fn channel_state(&mut self, side: usize) -> LdcChannelState {
        let peer = &self.ends[1 - side];
        if !peer.attached || peer.rx.is_none() {
            return LdcChannelState::Down;
        }
        let end = &mut self.ends[side];
        if end.reset_pending {
            end.reset_pending = false;
            return LdcChannelState::Reset;
        }
        LdcChannelState::Up
    }

    /// Moves pending packets from `from`'s transmit queue into the peer's
    /// receive queue, as far as room and faults allow.
    pub(super) fn deliver(&mut self, from: usize) {
        let [first, second] = &mut self.ends;
        let (sender, receiver) = if from == 0 {
            (first, second)
        } else {
            (second, first)
        };
        let Some(mut tx) = sender.tx else {
            return;
        };
        let Some(mut rx) = receiver.rx.filter(|_| receiver.attached) else {
            // Nobody listening: the packets are lost.
            tx.head = tx.tail;
            sender.tx = Some(tx);
            return;
        };
        if receiver.faults.rx_full {
            return;
        }
        let mut reset = false;
        loop {
            let pending = tx.geometry.used(tx.head, tx.tail);
            let room = rx.geometry.free(rx.head, rx.tail);
            if pending == 0 || room == 0 {
                break;
            }
            if sender.faults.reset_after == Some(0) {
                sender.faults.reset_after = None;
                reset = true;
                break;
            }
            let swap = sender.faults.out_of_sequence
                && sender.faults.reset_after.is_none()
                && pending >= 2
                && room >= 2;
            let mut packets = [
                sender.packet_at(&tx, tx.head),
                sender.packet_at(&tx, tx.geometry.advance(tx.head)),
            ];
            let count = if swap {
                sender.faults.out_of_sequence = false;
                packets.swap(0, 1);
                2
            } else {
                1
            };
            for packet in packets.iter_mut().take(count) {
                if let Some(corruption) = sender.faults.corrupt.take() {
                    corrupt(packet, corruption);
                }
                receiver.put_packet(rx.ra + rx.tail, packet);
                rx.tail = rx.geometry.advance(rx.tail);
                sender.delivered += 1;
                if let Some(left) = sender.faults.reset_after.as_mut() {
                    *left = left.saturating_sub(1);
                }
            }
            tx.head = tx.geometry.advance_by(tx.head, count as u64);
        }
        sender.tx = Some(tx);
        receiver.rx = Some(rx);
        if reset {
            self.reset_channel();
        }
    }

    // ---- the queue calls ---------------------------------------------------

    /// `TX_QCONF` or `RX_QCONF` (`kind`): the channel first, then the queue.
    pub(super) fn qconf(
        &mut self,
        side: usize,
        channel: u64,
        kind: QueueKind,
        queue: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError> {
        self.ends[side].check_channel(channel)?;
        match kind {
            QueueKind::Tx => self.ends[side].configure_tx(queue, entries),
            QueueKind::Rx => self.configure_rx(side, queue, entries),
        }
    }

    fn configure_rx(
        &mut self,
        side: usize,
        queue: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError> {
        let end = &mut self.ends[side];
        let queue = if entries == 0 {
            None
        } else {
            let geometry = end.validate_queue(queue, entries)?;
            Some(HvQueue {
                ra: queue.ra(),
                geometry,
                head: 0,
                tail: 0,
            })
        };
        let reconfigured = queue.is_some() && end.rx_ever_configured;
        end.rx_ever_configured |= queue.is_some();
        end.rx = queue;
        // What the peer had in flight was for the old queue.
        let peer = &mut self.ends[1 - side];
        if let Some(tx) = peer.tx.as_mut() {
            tx.head = tx.tail;
        }
        if reconfigured {
            peer.reset_pending = true;
        }
        Ok(())
    }

    /// `*_QINFO`: (base RA, entries), (0, 0) while unconfigured.
    pub(super) fn qinfo(
        &mut self,
        side: usize,
        channel: u64,
        kind: QueueKind,
    ) -> Result<(u64, u64), HvError> {
        let end = &mut self.ends[side];
        end.check_channel(channel)?;
        Ok(end
            .queue_mut(kind)
            .map_or((0, 0), |queue| (queue.ra, queue.geometry.entries())))
    }

    /// `*_GET_STATE`: delivers what the queue's sender has published first,
    /// so the pointers read are up to date.
    pub(super) fn get_state(
        &mut self,
        side: usize,
        channel: u64,
        kind: QueueKind,
    ) -> Result<LdcQueueState, HvError> {
        self.ends[side].check_channel(channel)?;
        self.deliver(kind.sender(side));
        let queue = self.ends[side].queue_mut(kind).ok_or(HvError::Invalid)?;
        Ok(LdcQueueState {
            head: queue.head,
            tail: queue.tail,
            state: self.channel_state(side),
        })
    }

    /// `TX_SET_QTAIL` (`kind` TX, `offset` the new tail) or `RX_SET_QHEAD`
    /// (RX, the new head), checked in order: the channel, the queue
    /// (`EINVAL` unconfigured), the offset on a packet boundary
    /// (`EBADALIGN`) and inside the queue (`EINVAL`), then the move itself
    /// (`EINVAL` unless the tail only adds entries, or the new head lies
    /// between head and tail), then an armed `EWOULDBLOCK`. Delivers what
    /// the queue's sender published.
    pub(super) fn move_pointer(
        &mut self,
        side: usize,
        channel: u64,
        kind: QueueKind,
        offset: u64,
    ) -> Result<(), HvError> {
        let end = &mut self.ends[side];
        end.check_channel(channel)?;
        let mut queue = end.queue_mut(kind).ok_or(HvError::Invalid)?;
        if !offset.is_multiple_of(LDC_PACKET_SIZE as u64) {
            return Err(HvError::BadAlignment);
        }
        if !queue.geometry.is_valid_offset(offset) {
            return Err(HvError::Invalid);
        }
        let pending = queue.geometry.used(queue.head, queue.tail);
        let allowed = match kind {
            QueueKind::Tx => queue.geometry.used(queue.head, offset) >= pending,
            QueueKind::Rx => queue.geometry.distance(queue.head, offset) <= pending,
        };
        if !allowed {
            return Err(HvError::Invalid);
        }
        end.faults.would_block()?;
        match kind {
            QueueKind::Tx => queue.tail = offset,
            QueueKind::Rx => queue.head = offset,
        }
        *end.queue_mut(kind) = Some(queue);
        self.deliver(kind.sender(side));
        Ok(())
    }

    pub(super) fn check_channel(&self, side: usize, channel: u64) -> Result<(), HvError> {
        self.ends[side].check_channel(channel)
    }
}
