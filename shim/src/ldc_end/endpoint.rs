//! The shim's end of the channel to an engine: it opens the control
//! session (Hello), takes the engine's ring registration, then moves
//! frames with nothing but `LDC_COPY` (what a control-domain process gets
//! from a virtual-LDC driver): out of the engine's transmit ring
//! (`COPY_IN` of the descriptor and the frame, `COPY_OUT` of DONE) and into
//! its receive ring (`COPY_IN` of the descriptor, `COPY_OUT` of the frame,
//! the sequence, then READY). It also carries the control requests of
//! [`ShimControl`] and their events. `no_std`, no heap.
//!
//! After every link reset the shim says Hello again and waits for a new
//! registration before touching the rings; a registration from the same
//! engine session with the same rings keeps its positions (nothing lost,
//! nothing taken twice); one from a new engine session starts from the
//! positions it announces.

use ldmig_hv::hypervisor::{Ldc, LocalMemory};
use ldmig_hv::ldc::{LinkConfig, LinkRole, RetryPolicy};

use super::control::ShimControl;
use super::copy::{copy_all, CopyDirection};
use super::layout::ShimLayout;
use ldmig::ldc_transport::channel::ChannelCore;
use ldmig::ldc_transport::error::{memory_failure, BulkError, DescriptorFault, MemoryUse};
use ldmig::ldc_transport::messenger::Incoming;
use ldmig::ldc_transport::ring::{
    copy_length, decode_descriptor, descriptor_state, frame_target, unexpected_state, RingGeometry,
    MAX_SLOT_BYTES,
};
use ldmig::transport::{Transport, TransportError};
use ldmig::wire::codec::Reserved;
use ldmig::wire::control::{
    ErrorCode, Message, RingRegistered, RingRegistration, SessionHello, CONTROL_VERSION,
    OLDEST_CONTROL_VERSION,
};
use ldmig::wire::descriptor::{
    Descriptor, DescriptorState, DESCRIPTOR_BYTES, DESCRIPTOR_WORD0_BYTES,
};
use zerocopy::byteorder::big_endian::U32;

/// Control messages handled per poll, at most (bounded work).
const MESSAGES_PER_POLL: usize = 8;

/// How the shim's endpoint is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShimConfig {
    /// The LDC channel to the engine.
    pub channel: u64,
    /// First RA of the memory the endpoint may use (8 KiB aligned).
    pub memory_base: u64,
    /// Bytes of it.
    pub memory_bytes: u64,
    /// Entries of each LDC queue (at least 8).
    pub queue_entries: u64,
    /// The largest slot accepted (the frame buffer's size).
    pub max_slot_bytes: u32,
    /// The shim's handshake role (the engine's opposite).
    pub role: LinkRole,
    /// The shim's control session id.
    pub session: u32,
    /// Oldest control-protocol version offered.
    pub oldest_version: u8,
    /// Newest control-protocol version offered.
    pub newest_version: u8,
    /// `EWOULDBLOCK` policy of the link.
    pub retry: RetryPolicy,
}

impl ShimConfig {
    /// Channel `channel`, memory from `memory_base`, 128-entry queues,
    /// responder, session 1, every version this code speaks.
    pub fn new(channel: u64, memory_base: u64, memory_bytes: u64, max_slot_bytes: u32) -> Self {
        ShimConfig {
            channel,
            memory_base,
            memory_bytes,
            queue_entries: 128,
            max_slot_bytes: max_slot_bytes.min(MAX_SLOT_BYTES),
            role: LinkRole::Responder,
            session: 1,
            oldest_version: OLDEST_CONTROL_VERSION,
            newest_version: CONTROL_VERSION,
            retry: RetryPolicy::DEFAULT,
        }
    }
}

/// Where the shim's control session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShimSession {
    /// Waiting for the link (after opening, or after a reset).
    AwaitLink,
    /// Hello sent.
    AwaitHelloAck,
    /// Version agreed, waiting for the ring registration.
    AwaitRings {
        /// The version agreed.
        version: u8,
    },
    /// Rings taken: frames move.
    Ready {
        /// The version agreed.
        version: u8,
        /// The registration in use.
        generation: u32,
    },
}

/// The engine's rings as registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RemoteRings {
    registration: RingRegistration,
    geometry: RingGeometry,
    engine_session: Option<u32>,
}

/// The shim's end of the channel (see the module docs).
pub struct ShimEndpoint<H: Ldc + LocalMemory> {
    core: ChannelCore<H>,
    layout: ShimLayout,
    channel: u64,
    versions: (u8, u8),
    control: ShimControl,
    session: ShimSession,
    hello_pending: bool,
    confirmation: Option<u32>,
    rings: Option<RemoteRings>,
    transmit_expected: u64,
    receive_next: u64,
}

impl<H: Ldc + LocalMemory> core::fmt::Debug for ShimEndpoint<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShimEndpoint")
            .field("channel", &self.channel)
            .field("session", &self.session)
            .field("rings", &self.rings)
            .field("transmit_expected", &self.transmit_expected)
            .field("receive_next", &self.receive_next)
            .field("statistics", &self.core.statistics())
            .finish()
    }
}

impl<H: Ldc + LocalMemory> ShimEndpoint<H> {
    /// Lays its memory out and opens the link. On failure `hypervisor` is
    /// dropped.
    pub fn open(hypervisor: H, config: ShimConfig) -> Result<Self, BulkError> {
        let layout = ShimLayout::new(
            config.memory_base,
            config.memory_bytes,
            config.queue_entries,
            config.max_slot_bytes,
        )?;
        let memory = hypervisor
            .local_region(config.memory_base, config.memory_bytes)
            .map_err(memory_failure(MemoryUse::Frame))?;
        let mut link_config = LinkConfig::new(
            config.channel,
            layout.transmit_queue,
            layout.receive_queue,
            config.role,
        );
        link_config.retry = config.retry;
        let core = ChannelCore::open(
            hypervisor,
            link_config,
            memory,
            config.session,
            config.queue_entries,
        )?;
        Ok(ShimEndpoint {
            core,
            layout,
            channel: config.channel,
            versions: (config.oldest_version, config.newest_version),
            control: ShimControl::new(),
            session: ShimSession::AwaitLink,
            hello_pending: false,
            confirmation: None,
            rings: None,
            transmit_expected: 0,
            receive_next: 0,
        })
    }

    /// Unconfigures the link and gives the hypervisor back.
    pub fn close(self) -> (H, Result<(), BulkError>) {
        self.core.close()
    }

    /// Requests to the engine and the events that came back.
    pub fn control(&mut self) -> &mut ShimControl {
        &mut self.control
    }

    /// The control session.
    pub fn session(&self) -> ShimSession {
        self.session
    }

    /// Whether frames can move (rings registered).
    pub fn is_ready(&self) -> bool {
        matches!(self.session, ShimSession::Ready { .. })
    }

    /// The link, the messenger, the memory and the counters: statistics,
    /// the hypervisor, the last error a call returned.
    pub fn core(&self) -> &ChannelCore<H> {
        &self.core
    }

    /// The same, mutably.
    pub fn core_mut(&mut self) -> &mut ChannelCore<H> {
        &mut self.core
    }

    /// The bounded work of the channel: link, resends, Hello, the
    /// registration, events in, requests out.
    pub fn poll(&mut self) -> Result<(), BulkError> {
        let result = self.service();
        self.core.remember(result)
    }

    /// Takes the next frame of the engine's transmit ring into `buffer`.
    pub fn take_frame(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, BulkError> {
        let result = self.service().and_then(|()| self.copy_frame_in(buffer));
        self.core.remember(result)
    }

    /// Puts `frame` into the engine's receive ring: `Ok(false)` when full.
    pub fn put_frame(&mut self, frame: &[u8]) -> Result<bool, BulkError> {
        let result = self.service().and_then(|()| self.copy_frame_out(frame));
        self.core.remember(result)
    }

    // ---- control -------------------------------------------------------

    fn service(&mut self) -> Result<(), BulkError> {
        self.core.poll_link()?;
        self.note_reset();
        if self.session == ShimSession::AwaitLink && self.core.link().is_connected() {
            self.hello_pending = true;
            self.session = ShimSession::AwaitHelloAck;
        }
        for _ in 0..MESSAGES_PER_POLL {
            if !self.control.can_take_event() {
                break;
            }
            let incoming = self
                .core
                .receive(|message| matches!(message, Message::HelloAck(_) | Message::Error(_)))?;
            match incoming {
                None => break,
                Some(Incoming::Message {
                    message, new_peer, ..
                }) => {
                    if new_peer {
                        // Another engine: its rings are not the old ones.
                        self.rings = None;
                    }
                    self.on_message(message)?;
                }
                Some(Incoming::Malformed { .. }) | Some(Incoming::Dropped) => {}
            }
        }
        self.note_reset();
        self.flush_messages()
    }

    fn note_reset(&mut self) {
        if self.core.take_reset() {
            log::warn!(
                "LDC channel {}: the link to the engine was reset; Hello again once it is up",
                self.channel
            );
            self.session = ShimSession::AwaitLink;
            self.hello_pending = false;
            self.confirmation = None;
        }
    }

    fn on_message(&mut self, message: Message) -> Result<(), BulkError> {
        match message {
            Message::HelloAck(ack) => {
                let (oldest, newest) = self.versions;
                if self.session == ShimSession::AwaitHelloAck {
                    if !(oldest..=newest).contains(&ack.version) {
                        return Err(BulkError::NoCommonVersion { oldest, newest });
                    }
                    self.core.messenger_mut().set_version(ack.version);
                    self.session = ShimSession::AwaitRings {
                        version: ack.version,
                    };
                }
                Ok(())
            }
            Message::RingRegister(registration) => {
                // In Ready too: a registration resent across a reset may
                // come before the answer to the latest Hello.
                if let ShimSession::AwaitRings { version } | ShimSession::Ready { version, .. } =
                    self.session
                {
                    self.adopt(registration)?;
                    self.session = ShimSession::Ready {
                        version,
                        generation: registration.generation.get(),
                    };
                    self.core.statistics_mut().registrations += 1;
                    self.confirmation = Some(registration.generation.get());
                }
                Ok(())
            }
            Message::Error(report)
                if report.code == ErrorCode::UnsupportedVersion
                    && self.session == ShimSession::AwaitHelloAck =>
            {
                let (oldest, newest) = self.versions;
                Err(BulkError::NoCommonVersion { oldest, newest })
            }
            event => {
                // Cannot fail: room was checked before reading.
                let _ = self.control.on_event(event);
                Ok(())
            }
        }
    }

    /// Takes a registration: checks it fits, keeps our positions when it
    /// is the same engine and the same rings, else starts where it says.
    fn adopt(&mut self, registration: RingRegistration) -> Result<(), BulkError> {
        let geometry = RingGeometry::new(
            u32::from(registration.entries.get()),
            registration.slot_bytes.get(),
        )?;
        if geometry.slot_bytes() > self.layout.frame_buffer_bytes {
            return Err(BulkError::BadRegistration(
                "slots larger than the shim's frame buffer",
            ));
        }
        let engine_session = self.core.messenger_mut().peer();
        let same = self.rings.is_some_and(|rings| {
            rings.engine_session == engine_session
                && rings.geometry == geometry
                && rings.registration.transmit_ring == registration.transmit_ring
                && rings.registration.receive_ring == registration.receive_ring
        });
        self.rings = Some(RemoteRings {
            registration,
            geometry,
            engine_session,
        });
        let (transmit_oldest, receive_next) = (
            registration.transmit_oldest.get(),
            registration.receive_next.get(),
        );
        if same {
            self.transmit_expected = self.transmit_expected.max(transmit_oldest);
            self.receive_next = self.receive_next.max(receive_next);
            log::debug!(
                "LDC channel {}: the same rings registered again (generation {})",
                self.channel,
                registration.generation.get()
            );
            return Ok(());
        }
        log::info!(
            "LDC channel {}: the engine's rings taken ({} entries of {} bytes, generation {})",
            self.channel,
            geometry.entries(),
            geometry.slot_bytes(),
            registration.generation.get()
        );
        self.transmit_expected = transmit_oldest;
        self.receive_next = receive_next;
        // Frames an earlier shim placed that the engine has not taken yet
        // stay; continue after them.
        for _ in 0..geometry.entries() {
            let index = geometry.index(self.receive_next);
            let descriptor = self.fetch_descriptor(registration.receive_ring.get(), index)?;
            let placed = descriptor.state() == Some(DescriptorState::Ready)
                && descriptor.sequence.get() == self.receive_next;
            if !placed {
                break;
            }
            self.receive_next += 1;
        }
        Ok(())
    }

    fn flush_messages(&mut self) -> Result<(), BulkError> {
        if self.hello_pending {
            let (oldest, newest) = self.versions;
            let hello = Message::Hello(SessionHello::new(oldest, newest));
            if !self.core.send(&hello)? {
                return Ok(());
            }
            self.hello_pending = false;
        }
        if !self.is_ready() {
            return Ok(());
        }
        if let Some(generation) = self.confirmation {
            let confirmation = Message::RingRegistered(RingRegistered {
                generation: U32::new(generation),
                reserved: Reserved::ZERO,
            });
            if !self.core.send(&confirmation)? {
                return Ok(());
            }
            self.confirmation = None;
        }
        while let Some(request) = self.control.peek_request() {
            if !self.core.send(request)? {
                return Ok(());
            }
            self.control.pop_request();
        }
        Ok(())
    }

    // ---- rings ---------------------------------------------------------

    fn copy(
        &mut self,
        direction: CopyDirection,
        cookie: u64,
        local_ra: u64,
        length: u64,
    ) -> Result<(), BulkError> {
        let (hypervisor, memory) = self.core.hypervisor_and_memory();
        let offset = memory.offset_of(local_ra);
        let calls = copy_all(
            hypervisor,
            self.channel,
            direction,
            cookie,
            memory,
            offset,
            length,
        )?;
        self.core.statistics_mut().copy_calls += calls;
        Ok(())
    }

    /// `COPY_IN` of descriptor `index` of the ring at `ring_cookie`.
    fn fetch_descriptor(&mut self, ring_cookie: u64, index: u32) -> Result<Descriptor, BulkError> {
        let cookie = ring_cookie + u64::from(index) * DESCRIPTOR_BYTES as u64;
        let local = self.layout.descriptor_buffer_ra;
        self.copy(CopyDirection::In, cookie, local, DESCRIPTOR_BYTES as u64)?;
        let mut bytes = [0u8; DESCRIPTOR_BYTES];
        self.core
            .read_local(local, &mut bytes, MemoryUse::Descriptor)?;
        decode_descriptor(&bytes, index)
    }

    /// `COPY_OUT` of 8 bytes at `offset` of descriptor `index`.
    fn store_word(
        &mut self,
        ring_cookie: u64,
        index: u32,
        offset: u64,
        word: [u8; DESCRIPTOR_WORD0_BYTES],
    ) -> Result<(), BulkError> {
        let cookie = ring_cookie + u64::from(index) * DESCRIPTOR_BYTES as u64 + offset;
        let local = self.layout.descriptor_buffer_ra;
        self.core.write_local(local, &word, MemoryUse::Descriptor)?;
        self.copy(CopyDirection::Out, cookie, local, 8)
    }

    /// A slot the engine named: its cookie must be usable and its size the
    /// registered one.
    fn check_slot(descriptor: &Descriptor, index: u32, slot_bytes: u32) -> Result<u64, BulkError> {
        let cookie = descriptor.cookie.get();
        if cookie == 0
            || !cookie.is_multiple_of(8)
            || descriptor.cookie_size.get() != u64::from(slot_bytes)
        {
            return Err(BulkError::BadDescriptor {
                index,
                fault: DescriptorFault::Cookie(cookie),
            });
        }
        Ok(cookie)
    }

    fn copy_frame_in(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, BulkError> {
        let Some(rings) = self.rings.filter(|_| self.is_ready()) else {
            return Ok(None);
        };
        let ring = rings.registration.transmit_ring.get();
        let slot_bytes = rings.geometry.slot_bytes();
        // Skips frames an earlier reader took (DONE, not yet reclaimed).
        for _ in 0..rings.geometry.entries() {
            let index = rings.geometry.index(self.transmit_expected);
            let descriptor = self.fetch_descriptor(ring, index)?;
            let current = descriptor.sequence.get() == self.transmit_expected;
            match descriptor_state(&descriptor, index)? {
                DescriptorState::Done if current => {
                    self.transmit_expected += 1;
                    continue;
                }
                DescriptorState::Ready if current => {}
                _ => return Ok(None),
            }
            let cookie = Self::check_slot(&descriptor, index, slot_bytes)?;
            let target = frame_target(&descriptor, index, slot_bytes, buffer)?;
            let length = target.len();
            let local = self.layout.frame_buffer_ra;
            if length > 0 {
                self.copy(CopyDirection::In, cookie, local, copy_length(length) as u64)?;
                self.core.read_local(local, target, MemoryUse::Frame)?;
            }
            self.store_word(
                ring,
                index,
                0,
                Descriptor::word0(DescriptorState::Done, length as u32),
            )?;
            self.transmit_expected += 1;
            self.core.statistics_mut().frames_received += 1;
            self.core.statistics_mut().bytes_received += length as u64;
            return Ok(Some(length));
        }
        Ok(None)
    }

    fn copy_frame_out(&mut self, frame: &[u8]) -> Result<bool, BulkError> {
        let Some(rings) = self.rings.filter(|_| self.is_ready()) else {
            return Ok(false);
        };
        let slot_bytes = rings.geometry.slot_bytes();
        if frame.len() > slot_bytes as usize {
            return Err(BulkError::FrameTooLarge {
                size: frame.len(),
                capacity: slot_bytes as usize,
            });
        }
        let ring = rings.registration.receive_ring.get();
        let index = rings.geometry.index(self.receive_next);
        let descriptor = self.fetch_descriptor(ring, index)?;
        match descriptor_state(&descriptor, index)? {
            DescriptorState::Free => {}
            DescriptorState::Ready => {
                self.core.statistics_mut().ring_full += 1;
                return Ok(false);
            }
            state @ DescriptorState::Done => return Err(unexpected_state(index, state)),
        }
        let cookie = Self::check_slot(&descriptor, index, slot_bytes)?;
        if !frame.is_empty() {
            let local = self.layout.frame_buffer_ra;
            let whole = frame.len() / 8 * 8;
            let (body, tail) = frame.split_at(whole);
            self.core.write_local(local, body, MemoryUse::Frame)?;
            if !tail.is_empty() {
                // The last partial word goes zero-padded (LDC_COPY moves
                // whole 8-byte words).
                let mut padded = [0u8; 8];
                padded[..tail.len()].copy_from_slice(tail);
                self.core
                    .write_local(local + whole as u64, &padded, MemoryUse::Frame)?;
            }
            self.copy(
                CopyDirection::Out,
                cookie,
                local,
                copy_length(frame.len()) as u64,
            )?;
        }
        // The frame, then its sequence, then READY.
        self.store_word(ring, index, 8, self.receive_next.to_be_bytes())?;
        self.store_word(
            ring,
            index,
            0,
            Descriptor::word0(DescriptorState::Ready, frame.len() as u32),
        )?;
        self.receive_next += 1;
        self.core.statistics_mut().frames_sent += 1;
        self.core.statistics_mut().bytes_sent += frame.len() as u64;
        Ok(true)
    }
}

/// The shim's end as a frame transport: `receive` takes the engine's
/// frames, `send` gives it frames (for the relay to the peer shim).
impl<H: Ldc + LocalMemory> Transport for ShimEndpoint<H> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        self.put_frame(frame).map_err(|error| error.to_transport())
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        self.take_frame(buffer)
            .map_err(|error| error.to_transport())
    }
}
