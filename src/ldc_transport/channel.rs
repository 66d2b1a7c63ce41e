//! What both ends of the engine–shim channel hold alike: the LDC link, the
//! exactly-once control messenger on it, the memory region the end lays its
//! queues and buffers in, the bulk-path counters and the last error a call
//! returned. [`super::EngineEndpoint`] and the shim's `ShimEndpoint` each
//! own one and add their side of the session and the rings.

use ldmig_hv::hypervisor::{Ldc, LocalMemory, LocalRegion};
use ldmig_hv::ldc::{LdcLink, LinkConfig, LinkStatistics};

use super::error::{memory_failure, BulkError, MemoryUse};
use super::layout::LayoutError;
use super::messenger::{Incoming, Messenger, MessengerStatistics};
use super::statistics::BulkStatistics;
use crate::wire::control::{Message, MAX_CONTROL_MESSAGE};

/// One end's link, messenger, memory and counters (see the module docs).
pub struct ChannelCore<H: Ldc + LocalMemory> {
    link: LdcLink<H>,
    memory: LocalRegion,
    messenger: Messenger,
    statistics: BulkStatistics,
    last_error: Option<BulkError>,
}

impl<H: Ldc + LocalMemory> ChannelCore<H> {
    /// Opens the link `link_config` describes, for control session
    /// `session`, over `memory` (the region the end's layout lies in). The
    /// queues must hold a whole control message: `queue_entries` is named in
    /// the error when they do not. On failure `hypervisor` is dropped.
    pub fn open(
        hypervisor: H,
        link_config: LinkConfig,
        memory: LocalRegion,
        session: u32,
        queue_entries: u64,
    ) -> Result<Self, BulkError> {
        let link = LdcLink::open(hypervisor, link_config)?;
        if link.max_message_size() < MAX_CONTROL_MESSAGE {
            return Err(BulkError::Layout(LayoutError::QueueEntries(queue_entries)));
        }
        Ok(ChannelCore {
            link,
            memory,
            messenger: Messenger::new(session),
            statistics: BulkStatistics::default(),
            last_error: None,
        })
    }

    /// Unconfigures the link and gives the hypervisor back.
    pub fn close(self) -> (H, Result<(), BulkError>) {
        let (hypervisor, result) = self.link.close();
        (hypervisor, result.map_err(BulkError::Link))
    }

    /// Bulk-path counters.
    pub fn statistics(&self) -> BulkStatistics {
        self.statistics
    }

    /// Bulk-path counters, to count in.
    pub fn statistics_mut(&mut self) -> &mut BulkStatistics {
        &mut self.statistics
    }

    /// Control-message counters.
    pub fn messenger_statistics(&self) -> MessengerStatistics {
        self.messenger.statistics()
    }

    /// The LDC link's counters.
    pub fn link_statistics(&self) -> LinkStatistics {
        self.link.statistics()
    }

    /// The link.
    pub fn link(&self) -> &LdcLink<H> {
        &self.link
    }

    /// The link, mutably (to restart it).
    pub fn link_mut(&mut self) -> &mut LdcLink<H> {
        &mut self.link
    }

    /// The messenger (its session, the peer's, the version in use).
    pub fn messenger_mut(&mut self) -> &mut Messenger {
        &mut self.messenger
    }

    /// The hypervisor (to inject faults in tests, or for other calls).
    pub fn hypervisor(&self) -> &H {
        self.link.hypervisor()
    }

    /// The hypervisor, mutably.
    pub fn hypervisor_mut(&mut self) -> &mut H {
        self.link.hypervisor_mut()
    }

    /// The memory the end's layout lies in, as the hypervisor vouched for it.
    pub fn memory(&self) -> &LocalRegion {
        &self.memory
    }

    /// The hypervisor and the memory together (for calls that take both).
    pub fn hypervisor_and_memory(&mut self) -> (&mut H, &LocalRegion) {
        (self.link.hypervisor_mut(), &self.memory)
    }

    /// The last error a call returned.
    pub fn last_error(&self) -> Option<BulkError> {
        self.last_error
    }

    /// Keeps `result`'s error as the last one and hands `result` back.
    pub fn remember<T>(&mut self, result: Result<T, BulkError>) -> Result<T, BulkError> {
        if let Err(error) = &result {
            self.last_error = Some(*error);
        }
        result
    }

    /// Polls the link (handshake, ACKs); a reset is absorbed (see
    /// [`Self::take_reset`]).
    pub fn poll_link(&mut self) -> Result<(), BulkError> {
        Ok(self.messenger.poll(&mut self.link)?)
    }

    /// Whether the link was reset since the last call (counted in
    /// `link_resets`).
    pub fn take_reset(&mut self) -> bool {
        let reset = self.messenger.take_reset().is_some();
        if reset {
            self.statistics.link_resets += 1;
        }
        reset
    }

    /// Sends `message`: `Ok(false)` when it cannot go now.
    pub fn send(&mut self, message: &Message) -> Result<bool, BulkError> {
        Ok(self.messenger.send(&mut self.link, message)?)
    }

    /// Takes the next control message, if one is complete; `accept_new`
    /// says which message may open a session with an unknown peer.
    pub fn receive(
        &mut self,
        accept_new: impl Fn(&Message) -> bool,
    ) -> Result<Option<Incoming>, BulkError> {
        Ok(self.messenger.receive(&mut self.link, accept_new)?)
    }

    /// Reads `bytes.len()` bytes at `ra` of the end's memory.
    pub fn read_local(
        &mut self,
        ra: u64,
        bytes: &mut [u8],
        what: MemoryUse,
    ) -> Result<(), BulkError> {
        let offset = self.memory.offset_of(ra);
        self.link
            .hypervisor_mut()
            .local_read(&self.memory, offset, bytes)
            .map_err(memory_failure(what))
    }

    /// Writes `bytes` at `ra` of the end's memory.
    pub fn write_local(&mut self, ra: u64, bytes: &[u8], what: MemoryUse) -> Result<(), BulkError> {
        let offset = self.memory.offset_of(ra);
        self.link
            .hypervisor_mut()
            .local_write(&self.memory, offset, bytes)
            .map_err(memory_failure(what))
    }
}
