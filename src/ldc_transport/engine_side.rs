//! The engine's end of the channel to the shim: the migration engine's
//! [`Transport`] over the exported rings, plus the control session (Hello,
//! ring registration) and the request handler ([`EngineControl`]) on the
//! same LDC link. `no_std`, no heap: everything lives in the struct and in
//! the engine's own memory ([`EngineLayout`]).
//!
//! Sending a frame: reclaim DONE descriptors, find the next FREE one, copy
//! the frame into its slot, write the descriptor's sequence and cookie,
//! then its word 0 as READY. Nothing blocks: a full ring is `Ok(false)`.
//! Receiving: the shim copies frames into the receive slots and marks them
//! READY; the engine reads its own memory and marks them FREE again. The
//! engine never calls `LDC_COPY`; the shim needs nothing but `LDC_COPY`.

use core::cell::RefCell;
use core::sync::atomic::{fence, Ordering};

use heapless::Deque;
use ldmig_hv::hypervisor::{Ldc, LocalMemory};
use ldmig_hv::ldc::{LinkConfig, LinkRole, MapTableConfig, RetryPolicy};

use super::channel::ChannelCore;
use super::control::EngineControl;
use super::error::{memory_failure, BulkError, DescriptorFault, MemoryUse};
use super::export::{ensure_exported, initialise_rings, write_map_table};
use super::layout::{EngineLayout, Region};
use super::messenger::Incoming;
use super::ring::{
    decode_descriptor, descriptor_state, frame_target, unexpected_state, RingGeometry,
};
use crate::transport::{Transport, TransportError};
use crate::wire::codec::{DecodeError, Reserved};
use crate::wire::control::{
    ErrorCode, Message, RingRegistration, SessionHello, SessionHelloAck, WarningCode,
    CONTROL_VERSION, OLDEST_CONTROL_VERSION,
};
use crate::wire::descriptor::{Descriptor, DescriptorState, DESCRIPTOR_BYTES};
use zerocopy::byteorder::big_endian::{U16, U32, U64};

/// Control messages handled per poll, at most (bounded work).
const MESSAGES_PER_POLL: usize = 8;

/// How the engine's endpoint is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// The LDC channel to the shim.
    pub channel: u64,
    /// First RA of the memory the endpoint may use (8 KiB aligned).
    pub memory_base: u64,
    /// Bytes of it.
    pub memory_bytes: u64,
    /// Entries of each LDC queue (at least 8: a control message is 256 bytes).
    pub queue_entries: u64,
    /// Descriptors per ring and bytes per slot (the largest frame).
    pub ring: RingGeometry,
    /// The engine's handshake role (exactly one side is the initiator).
    pub role: LinkRole,
    /// The engine's control session id (a fresh one per start lets the
    /// shim tell a restart from a reset).
    pub session: u32,
    /// `EWOULDBLOCK` policy of the link.
    pub retry: RetryPolicy,
}

impl EngineConfig {
    /// Channel `channel`, memory from `memory_base`, 128-entry queues,
    /// initiator, session 1.
    pub fn new(channel: u64, memory_base: u64, memory_bytes: u64, ring: RingGeometry) -> Self {
        EngineConfig {
            channel,
            memory_base,
            memory_bytes,
            queue_entries: 128,
            ring,
            role: LinkRole::Initiator,
            session: 1,
            retry: RetryPolicy::DEFAULT,
        }
    }
}

/// Where the control session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineSession {
    /// No Hello taken yet (or the last one offered no common version).
    AwaitHello,
    /// Hello answered and the rings registered at `version`.
    Ready {
        /// The control-protocol version agreed.
        version: u8,
    },
}

/// The engine's end of the channel (see the module docs).
pub struct EngineEndpoint<H: Ldc + LocalMemory> {
    core: ChannelCore<H>,
    layout: EngineLayout,
    channel: u64,
    control: EngineControl,
    session: EngineSession,
    session_messages: Deque<Message, 4>,
    generation: u32,
    confirmed: Option<u32>,
    transmit_oldest: u64,
    transmit_next: u64,
    receive_next: u64,
}

impl<H: Ldc + LocalMemory> core::fmt::Debug for EngineEndpoint<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EngineEndpoint")
            .field("channel", &self.channel)
            .field("session", &self.session)
            .field("generation", &self.generation)
            .field("confirmed", &self.confirmed)
            .field("transmit_oldest", &self.transmit_oldest)
            .field("transmit_next", &self.transmit_next)
            .field("receive_next", &self.receive_next)
            .field("statistics", &self.core.statistics())
            .finish()
    }
}

impl<H: Ldc + LocalMemory> EngineEndpoint<H> {
    /// Lays the memory out, writes the map table and the rings, opens the
    /// link (which registers the map table). On failure `hypervisor` is
    /// dropped.
    pub fn open(mut hypervisor: H, config: EngineConfig) -> Result<Self, BulkError> {
        let layout = EngineLayout::new(
            config.memory_base,
            config.memory_bytes,
            config.queue_entries,
            config.ring,
        )?;
        let memory = hypervisor
            .local_region(config.memory_base, config.memory_bytes)
            .map_err(memory_failure(MemoryUse::MapTable))?;
        write_map_table(&mut hypervisor, &memory, &layout)?;
        initialise_rings(&mut hypervisor, &memory, &layout)?;
        let mut link_config = LinkConfig::new(
            config.channel,
            layout.transmit_queue,
            layout.receive_queue,
            config.role,
        );
        link_config.map_table = Some(MapTableConfig {
            ra: layout.map_table_ra,
            entries: layout.map_table_entries,
        });
        link_config.retry = config.retry;
        let core = ChannelCore::open(
            hypervisor,
            link_config,
            memory,
            config.session,
            config.queue_entries,
        )?;
        Ok(EngineEndpoint {
            core,
            layout,
            channel: config.channel,
            control: EngineControl::new(),
            session: EngineSession::AwaitHello,
            session_messages: Deque::new(),
            generation: 0,
            confirmed: None,
            transmit_oldest: 0,
            transmit_next: 0,
            receive_next: 0,
        })
    }

    /// Unconfigures the link (queues and map table) and gives the
    /// hypervisor back.
    pub fn close(self) -> (H, Result<(), BulkError>) {
        self.core.close()
    }

    /// The link, the messenger, the memory and the counters: statistics,
    /// the hypervisor (to inject faults in tests, or for other calls) and
    /// the last error a call returned (the typed error behind a
    /// [`TransportError::Link`] code).
    pub fn core(&self) -> &ChannelCore<H> {
        &self.core
    }

    /// The same, mutably.
    pub fn core_mut(&mut self) -> &mut ChannelCore<H> {
        &mut self.core
    }

    /// The request handler, for the host to drive.
    pub fn control(&mut self) -> &mut EngineControl {
        &mut self.control
    }

    /// The control session.
    pub fn session(&self) -> EngineSession {
        self.session
    }

    /// Whether the shim confirmed the latest ring registration.
    pub fn is_registered(&self) -> bool {
        self.generation != 0 && self.confirmed == Some(self.generation)
    }

    /// Registrations sent so far (one per Hello).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The memory layout.
    pub fn layout(&self) -> &EngineLayout {
        &self.layout
    }

    /// Frames written and not yet reclaimed.
    pub fn frames_in_flight(&self) -> u64 {
        self.transmit_next - self.transmit_oldest
    }

    /// Where frame `sequence` sits while the shim has not taken it: its
    /// slot's RA and its length (for inspection and fault injection).
    pub fn pending_frame(&mut self, sequence: u64) -> Option<(u64, usize)> {
        if !(self.transmit_oldest..self.transmit_next).contains(&sequence) {
            return None;
        }
        let index = self.layout.ring.index(sequence);
        let descriptor = self.read_descriptor(Region::TransmitRing, index).ok()?;
        (descriptor.state() == Some(DescriptorState::Ready)).then(|| {
            (
                self.layout.slot_ra(Region::TransmitSlots, index),
                descriptor.length.get() as usize,
            )
        })
    }

    /// Resets the LDC link (both queues: the shim sees RESET), as a host
    /// with a deadline does when the link does not come up; the rings and
    /// their frames stay, unacknowledged control messages are resent.
    pub fn restart_link(&mut self) -> Result<(), BulkError> {
        let result = self.core.link_mut().restart().map_err(BulkError::Link);
        self.core.remember(result)
    }

    /// Does the channel's bounded work: link handshake and ACKs, resends
    /// after a reset, up to a few control messages in (Hello, ring
    /// confirmation, requests), queued messages out, reclaiming DONE
    /// descriptors.
    pub fn poll(&mut self) -> Result<(), BulkError> {
        let result = self.service();
        self.core.remember(result)
    }

    /// Queues one frame for the shim: `Ok(false)` when the ring is full.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<bool, BulkError> {
        let result = self.service().and_then(|()| self.write_frame(frame));
        self.core.remember(result)
    }

    /// Takes the next frame from the shim into `buffer`.
    pub fn receive_frame(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, BulkError> {
        let result = self.service().and_then(|()| self.read_frame(buffer));
        self.core.remember(result)
    }

    // ---- control -------------------------------------------------------

    fn service(&mut self) -> Result<(), BulkError> {
        self.core.poll_link()?;
        self.note_reset();
        for _ in 0..MESSAGES_PER_POLL {
            if !self.control.can_take_request() || self.session_messages.len() > 1 {
                break;
            }
            let incoming = self
                .core
                .receive(|message| matches!(message, Message::Hello(_)))?;
            match incoming {
                None => break,
                Some(Incoming::Message { message, .. }) => self.on_message(message)?,
                Some(Incoming::Malformed { error, .. }) => self.control.answer(
                    0,
                    ErrorCode::BadRequest,
                    0,
                    match error {
                        DecodeError::UnsupportedVersion { .. } => {
                            "control-protocol version not supported"
                        }
                        _ => "malformed control message",
                    },
                ),
                Some(Incoming::Dropped) => {}
            }
        }
        self.note_reset();
        self.flush_messages()?;
        self.reclaim()
    }

    fn note_reset(&mut self) {
        if self.core.take_reset() {
            log::warn!(
                "LDC channel {}: the link to the shim was reset; the rings keep their frames",
                self.channel
            );
            // The shim says Hello again once the link is back; the rings
            // keep their frames meanwhile.
            let _ = self
                .control
                .warn(WarningCode::LinkReset, "the LDC link to the shim was reset");
        }
    }

    fn on_message(&mut self, message: Message) -> Result<(), BulkError> {
        match message {
            Message::Hello(hello) => self.on_hello(hello),
            Message::RingRegistered(registered) => {
                if registered.generation.get() == self.generation {
                    self.confirmed = Some(self.generation);
                }
                Ok(())
            }
            request if request.is_request() => {
                match self.session {
                    EngineSession::Ready { .. } => self.control.on_request(request),
                    EngineSession::AwaitHello => self.control.answer(
                        request.request().unwrap_or(0),
                        ErrorCode::NotReady,
                        0,
                        "no Hello yet",
                    ),
                }
                Ok(())
            }
            other => {
                self.control.answer(
                    other.request().unwrap_or(0),
                    ErrorCode::BadRequest,
                    u64::from(other.kind().raw()),
                    "unexpected message for the engine",
                );
                Ok(())
            }
        }
    }

    /// Answers a Hello: the newest common version, then the (re-checked)
    /// export as a new registration.
    fn on_hello(&mut self, hello: SessionHello) -> Result<(), BulkError> {
        let newest = hello.newest.min(CONTROL_VERSION);
        if newest < hello.oldest.max(OLDEST_CONTROL_VERSION) {
            log::warn!(
                "LDC channel {}: the shim speaks control versions {}..={}, this engine {}..={}",
                self.channel,
                hello.oldest,
                hello.newest,
                OLDEST_CONTROL_VERSION,
                CONTROL_VERSION
            );
            self.session = EngineSession::AwaitHello;
            self.control.answer(
                0,
                ErrorCode::UnsupportedVersion,
                u64::from(CONTROL_VERSION),
                "no common control-protocol version",
            );
            return Ok(());
        }
        let (hypervisor, memory) = self.core.hypervisor_and_memory();
        if ensure_exported(hypervisor, self.channel, memory, &self.layout)? {
            self.core.statistics_mut().reexports += 1;
            log::debug!(
                "LDC channel {}: the rings were exported again",
                self.channel
            );
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        self.confirmed = None;
        self.core.messenger_mut().set_version(newest);
        self.session = EngineSession::Ready { version: newest };
        self.session_messages.clear();
        let _ = self
            .session_messages
            .push_back(Message::HelloAck(SessionHelloAck {
                version: newest,
                reserved: Reserved::ZERO,
                max_frame_bytes: U32::new(self.layout.ring.slot_bytes()),
            }));
        let ring = self.layout.ring;
        #[allow(clippy::cast_possible_truncation)]
        // RingGeometry bounds entries by MAX_RING_ENTRIES; a descriptor is 32 bytes
        let (entries, descriptor_bytes) = (ring.entries() as u16, DESCRIPTOR_BYTES as u16);
        let _ = self
            .session_messages
            .push_back(Message::RingRegister(RingRegistration {
                generation: U32::new(self.generation),
                entries: U16::new(entries),
                descriptor_bytes: U16::new(descriptor_bytes),
                slot_bytes: U32::new(ring.slot_bytes()),
                reserved: Reserved::ZERO,
                transmit_ring: U64::new(self.layout.region(Region::TransmitRing).cookie(0)),
                receive_ring: U64::new(self.layout.region(Region::ReceiveRing).cookie(0)),
                transmit_oldest: U64::new(self.transmit_oldest),
                receive_next: U64::new(self.receive_next),
            }));
        self.core.statistics_mut().registrations += 1;
        log::info!(
            "LDC channel {}: control version {newest}, rings registered (generation {})",
            self.channel,
            self.generation
        );
        Ok(())
    }

    fn flush_messages(&mut self) -> Result<(), BulkError> {
        while let Some(message) = self.session_messages.front() {
            if !self.core.send(message)? {
                return Ok(());
            }
            let _ = self.session_messages.pop_front();
        }
        while let Some(message) = self.control.peek_event() {
            if !self.core.send(message)? {
                return Ok(());
            }
            self.control.pop_event();
        }
        Ok(())
    }

    // ---- rings ---------------------------------------------------------

    fn read_descriptor(&mut self, ring: Region, index: u32) -> Result<Descriptor, BulkError> {
        let mut bytes = [0u8; DESCRIPTOR_BYTES];
        let ra = self.layout.descriptor_ra(ring, index);
        self.core
            .read_local(ra, &mut bytes, MemoryUse::Descriptor)?;
        decode_descriptor(&bytes, index)
    }

    fn write_word0(
        &mut self,
        ring: Region,
        index: u32,
        state: DescriptorState,
        length: u32,
    ) -> Result<(), BulkError> {
        let ra = self.layout.descriptor_ra(ring, index);
        self.core
            .write_local(ra, &Descriptor::word0(state, length), MemoryUse::Descriptor)
    }

    /// Frees every transmit slot the shim marked DONE, oldest first.
    fn reclaim(&mut self) -> Result<(), BulkError> {
        while self.transmit_oldest != self.transmit_next {
            let index = self.layout.ring.index(self.transmit_oldest);
            let descriptor = self.read_descriptor(Region::TransmitRing, index)?;
            match descriptor_state(&descriptor, index)? {
                DescriptorState::Ready => return Ok(()),
                DescriptorState::Done => {
                    self.write_word0(Region::TransmitRing, index, DescriptorState::Free, 0)?;
                    self.transmit_oldest += 1;
                }
                // The shim writes nothing but DONE into this ring.
                state @ DescriptorState::Free => return Err(unexpected_state(index, state)),
            }
        }
        Ok(())
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<bool, BulkError> {
        let slot_bytes = self.layout.ring.slot_bytes() as usize;
        if frame.len() > slot_bytes {
            return Err(BulkError::FrameTooLarge {
                size: frame.len(),
                capacity: slot_bytes,
            });
        }
        if self.transmit_next - self.transmit_oldest >= u64::from(self.layout.ring.entries()) {
            self.core.statistics_mut().ring_full += 1;
            return Ok(false);
        }
        let sequence = self.transmit_next;
        let index = self.layout.ring.index(sequence);
        let slot_ra = self.layout.slot_ra(Region::TransmitSlots, index);
        let cookie = self.layout.slot_cookie(Region::TransmitSlots, index);
        let descriptor_ra = self.layout.descriptor_ra(Region::TransmitRing, index);
        let descriptor = Descriptor::new(
            DescriptorState::Free,
            0,
            sequence,
            cookie,
            u64::from(self.layout.ring.slot_bytes()),
        );
        self.core.write_local(slot_ra, frame, MemoryUse::Frame)?;
        // The frame, then sequence and cookie, then READY: a reader that
        // sees READY sees the rest.
        fence(Ordering::Release);
        self.core.write_local(
            descriptor_ra + 8,
            &descriptor.to_bytes()[8..],
            MemoryUse::Descriptor,
        )?;
        fence(Ordering::Release);
        #[allow(clippy::cast_possible_truncation)] // at most the slot, a u32
        let length = frame.len() as u32;
        self.write_word0(Region::TransmitRing, index, DescriptorState::Ready, length)?;
        self.transmit_next += 1;
        self.core.statistics_mut().frames_sent += 1;
        self.core.statistics_mut().bytes_sent += frame.len() as u64;
        Ok(true)
    }

    fn read_frame(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, BulkError> {
        let index = self.layout.ring.index(self.receive_next);
        let descriptor = self.read_descriptor(Region::ReceiveRing, index)?;
        match descriptor_state(&descriptor, index)? {
            DescriptorState::Free => return Ok(None),
            DescriptorState::Ready => {}
            state @ DescriptorState::Done => return Err(unexpected_state(index, state)),
        }
        let sequence = descriptor.sequence.get();
        if sequence != self.receive_next {
            return Err(BulkError::BadDescriptor {
                index,
                fault: DescriptorFault::Sequence {
                    expected: self.receive_next,
                    found: sequence,
                },
            });
        }
        let target = frame_target(&descriptor, index, self.layout.ring.slot_bytes(), buffer)?;
        let length = target.len();
        fence(Ordering::Acquire);
        let slot_ra = self.layout.slot_ra(Region::ReceiveSlots, index);
        self.core.read_local(slot_ra, target, MemoryUse::Frame)?;
        self.write_word0(Region::ReceiveRing, index, DescriptorState::Free, 0)?;
        self.receive_next += 1;
        self.core.statistics_mut().frames_received += 1;
        self.core.statistics_mut().bytes_received += length as u64;
        Ok(Some(length))
    }
}

impl<H: Ldc + LocalMemory> Transport for EngineEndpoint<H> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        self.send_frame(frame).map_err(|error| error.to_transport())
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        self.receive_frame(buffer)
            .map_err(|error| error.to_transport())
    }
}

/// A shared endpoint: the migration engine owns `&RefCell<..>` as its
/// transport while the host reaches the same endpoint's
/// [`EngineEndpoint::control`] between polls (no heap needed).
impl<H: Ldc + LocalMemory> Transport for &RefCell<EngineEndpoint<H>> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        let mut endpoint = self
            .try_borrow_mut()
            .map_err(|_| BulkError::Busy.to_transport())?;
        endpoint.send(frame)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let mut endpoint = self
            .try_borrow_mut()
            .map_err(|_| BulkError::Busy.to_transport())?;
        endpoint.receive(buffer)
    }
}
