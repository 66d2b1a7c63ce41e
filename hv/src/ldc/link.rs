//! One LDC channel endpoint in reliable/stream mode: binds the queues,
//! runs the handshake, numbers, fragments, acknowledges and reassembles
//! messages, and recovers from resets. Non-blocking, for a poll loop.
//!
//! Every public call does bounded work (at most one pass over the receive
//! queue) and never waits: [`LdcLink::poll`] processes what arrived and
//! advances the handshake, [`LdcLink::send`] queues one whole message or
//! says why not, [`LdcLink::receive`] hands over one whole message if one
//! is complete. The state diagram and the recovery contract are in the
//! module docs of [`super`].

use core::fmt;

use super::config::LinkConfig;
use super::error::{HandshakeFailure, LdcCall, LinkError, ResetCause};
use super::fragment::{fragment_count, fragments, Reassembly, MAX_MESSAGE_SIZE};
use super::handshake::{Handshake, HandshakeState, HandshakeStep, Version};
use super::packet::{ControlMessage, Packet, PacketType};
use super::queue::QueueGeometry;
use super::sequence::Sequence;
use crate::abi::ldc::{Subtype, LDC_MTE_BYTES, LDC_PACKET_SIZE, LDC_RELIABLE_PAYLOAD};
use crate::hypervisor::{Ldc, LdcChannelState, LdcQueueState, LocalMemory, LocalRegion};
use crate::HvError;

/// Where a link stands, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The peer has no receive queue (channel DOWN): nothing can be sent.
    Down,
    /// The channel is up and the handshake is in this state.
    Handshake(HandshakeState),
    /// Handshake complete: messages flow.
    Connected,
    /// The handshake can never succeed; [`LdcLink::restart`] tries again.
    Failed(HandshakeFailure),
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Down => f.write_str("down"),
            LinkState::Handshake(state) => write!(f, "handshake ({state})"),
            LinkState::Connected => f.write_str("connected"),
            LinkState::Failed(failure) => write!(f, "failed: {failure}"),
        }
    }
}

/// Counters of one link since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStatistics {
    /// Whole messages handed to the hypervisor.
    pub messages_sent: u64,
    /// Whole messages handed to the application.
    pub messages_received: u64,
    /// Packets published with `LDC_TX_SET_QTAIL` (data, ACK, NACK, control).
    pub packets_sent: u64,
    /// Packets consumed from the receive queue.
    pub packets_received: u64,
    /// DATA/ACK packets sent.
    pub acks_sent: u64,
    /// NACKs sent for packets out of sequence.
    pub nacks_sent: u64,
    /// Resets of any cause (the link's own and the peer's).
    pub resets: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Calls repeated after `EWOULDBLOCK`.
    pub would_block_retries: u64,
}

/// The link's phase; the handshake keeps its own sub-state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Down,
    Handshaking,
    Connected,
    Failed(HandshakeFailure),
}

/// A packet waiting for transmit room. Control packets carry their final
/// sequence id; ACKs and NACKs take theirs when they go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outbound {
    Control(Packet),
    Ack {
        ackid: u32,
    },
    Nack {
        packet_type: PacketType,
        control: Option<ControlMessage>,
        ackid: u32,
    },
}

/// Packets that may wait for transmit room; more means the peer stopped
/// draining its queue in the middle of a handshake: the link resets.
const OUTBOX_CAPACITY: usize = 4;

/// What to do with the packet at the receive head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Done with it; move on.
    Consume,
    /// Leave it (and everything after it) for a later poll.
    Stop,
    /// Drop everything up to the tail (after a NACK).
    Flush,
    /// The peer restarted the handshake: reset, then look at it again.
    Restart,
    /// Reset the link (reconfigure both queues).
    Abort(ResetCause),
    /// The handshake failed, but a retry may succeed: reset, report.
    Retry(HandshakeFailure),
}

/// How a reset is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetKind {
    /// The peer or the hypervisor reset: flush our transmit queue, restart
    /// the handshake; the peer already knows.
    Soft,
    /// We reset: reconfigure both queues, so the peer sees RESET.
    Hard,
    /// The peer went away: wait for it.
    Down,
}

/// One LDC channel endpoint in reliable/stream mode, over any hypervisor
/// implementing [`Ldc`] and [`LocalMemory`] (real `ta 0x80` calls or the
/// simulated machine).
pub struct LdcLink<H: Ldc + LocalMemory> {
    hypervisor: H,
    config: LinkConfig,
    memory: LinkMemory,
    tx: QueueGeometry,
    rx: QueueGeometry,
    tx_head: u64,
    tx_tail: u64,
    rx_head: u64,
    phase: Phase,
    handshake: Handshake,
    sequence: Sequence,
    reassembly: Reassembly,
    outbox: [Option<Outbound>; OUTBOX_CAPACITY],
    /// An error for the application's next call: a reset report (never
    /// replaced by a later error) or an error met after a message was
    /// handed over.
    pending: Option<LinkError>,
    statistics: LinkStatistics,
}

/// The link's own memory as regions the hypervisor vouched for: minted once
/// at open from the configuration's RAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LinkMemory {
    tx_queue: LocalRegion,
    rx_queue: LocalRegion,
    map_table: Option<LocalRegion>,
}

impl LinkMemory {
    /// Mints the queues' and the map table's regions (`ENORADDR` from the
    /// call that would have used a range the caller does not own).
    fn mint<H: LocalMemory>(
        hypervisor: &H,
        config: &LinkConfig,
        tx: QueueGeometry,
        rx: QueueGeometry,
    ) -> Result<Self, LinkError> {
        let region = |call, ra, bytes| {
            hypervisor
                .local_region(ra, bytes)
                .map_err(|error| LinkError::Hypervisor { call, error })
        };
        let map_table = match config.map_table {
            Some(table) => Some(region(
                LdcCall::SetMapTable,
                table.ra,
                table.entries.saturating_mul(LDC_MTE_BYTES as u64),
            )?),
            None => None,
        };
        Ok(LinkMemory {
            tx_queue: region(LdcCall::TxQconf, config.tx_queue.ra, tx.size_bytes())?,
            rx_queue: region(LdcCall::RxQconf, config.rx_queue.ra, rx.size_bytes())?,
            map_table,
        })
    }
}

impl<H: Ldc + LocalMemory> LdcLink<H> {
    /// Binds the channel: checks the configuration, probes the channel
    /// (`LDC_TX_QINFO`), unconfigures and configures both queues, reads
    /// their state, and registers the map table if one is configured. The
    /// handshake starts on the first [`LdcLink::poll`] that finds the
    /// channel up. On failure `hypervisor` is dropped.
    pub fn open(hypervisor: H, config: LinkConfig) -> Result<Self, LinkError> {
        let (tx, rx) = config.validate().map_err(LinkError::Config)?;
        let memory = LinkMemory::mint(&hypervisor, &config, tx, rx)?;
        let mut link = LdcLink {
            hypervisor,
            config,
            memory,
            tx,
            rx,
            tx_head: 0,
            tx_tail: 0,
            rx_head: 0,
            phase: Phase::Down,
            handshake: Handshake::new(config.role, config.versions),
            sequence: Sequence::new(),
            reassembly: Reassembly::new(),
            outbox: [None; OUTBOX_CAPACITY],
            pending: None,
            statistics: LinkStatistics::default(),
        };
        let channel = config.channel;
        link.call(LdcCall::TxQinfo, |hv| hv.ldc_tx_qinfo(channel))?;
        link.bind()?;
        if let (Some(table), Some(region)) = (config.map_table, memory.map_table) {
            link.call(LdcCall::SetMapTable, |hv| {
                hv.ldc_set_map_table(channel, &region, table.entries)
            })?;
        }
        Ok(link)
    }

    /// Unconfigures both queues (and the map table, if any) and gives the
    /// hypervisor back, with the first error met, if any.
    pub fn close(mut self) -> (H, Result<(), LinkError>) {
        let channel = self.config.channel;
        let LinkMemory {
            tx_queue,
            rx_queue,
            map_table,
        } = self.memory;
        let mut result = self
            .call(LdcCall::TxQconf, |hv| {
                hv.ldc_tx_qconf(channel, &tx_queue, 0)
            })
            .and(self.call(LdcCall::RxQconf, |hv| {
                hv.ldc_rx_qconf(channel, &rx_queue, 0)
            }));
        if let Some(table) = map_table {
            result = result.and(self.call(LdcCall::SetMapTable, |hv| {
                hv.ldc_set_map_table(channel, &table, 0)
            }));
        }
        (self.hypervisor, result)
    }

    /// Where the link stands.
    pub fn state(&self) -> LinkState {
        match self.phase {
            Phase::Down => LinkState::Down,
            Phase::Handshaking => LinkState::Handshake(self.handshake.state()),
            Phase::Connected => LinkState::Connected,
            Phase::Failed(failure) => LinkState::Failed(failure),
        }
    }

    /// Whether messages can flow.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The version agreed in the last handshake.
    pub fn version(&self) -> Option<Version> {
        self.handshake.agreed()
    }

    /// The configuration the link was opened with.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters since the link was opened.
    pub fn statistics(&self) -> LinkStatistics {
        self.statistics
    }

    /// The hypervisor, for calls outside the link layer (the map table,
    /// `LDC_COPY`).
    pub fn hypervisor(&self) -> &H {
        &self.hypervisor
    }

    /// The hypervisor, mutably.
    pub fn hypervisor_mut(&mut self) -> &mut H {
        &mut self.hypervisor
    }

    /// The largest message [`LdcLink::send`] takes: [`MAX_MESSAGE_SIZE`],
    /// or less when the transmit queue cannot hold that many packets.
    pub fn max_message_size(&self) -> usize {
        let packets = usize::try_from(self.tx.entries() - 1).unwrap_or(usize::MAX);
        packets
            .saturating_mul(LDC_RELIABLE_PAYLOAD)
            .min(MAX_MESSAGE_SIZE)
    }

    /// Messages sent and not yet acknowledged by the peer's application.
    pub fn unacknowledged_messages(&self) -> usize {
        self.sequence.unacknowledged_messages()
    }

    /// Processes what arrived, answers the handshake, sends pending ACKs,
    /// and starts a handshake when the channel is up and none runs. Returns
    /// the state after the work, or the first error met (a reset is
    /// reported once; the link recovers by itself on later polls).
    pub fn poll(&mut self) -> Result<LinkState, LinkError> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let result = self.poll_once();
        let state = self.state();
        self.finish(result.map(|()| state))
    }

    /// Sends one whole message (1 to [`LdcLink::max_message_size`] bytes):
    /// writes all its fragments, then publishes them with one
    /// `LDC_TX_SET_QTAIL`. Nothing is sent unless everything fits:
    /// [`LinkError::QueueFull`] means poll and try again.
    pub fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let result = self.send_once(message);
        self.finish(result)
    }

    /// Polls, then hands over the next whole message if one is complete:
    /// `Ok(Some(length))` with the message in `buffer[..length]`, `Ok(None)`
    /// when none is. Taking a message sends its ACK.
    pub fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, LinkError> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let polled = self.poll_once();
        let reset_pending = matches!(self.pending, Some(LinkError::Reset { .. }));
        let complete = self.reassembly.complete_length();
        match (polled, complete) {
            // A reset cleared any waiting message.
            (result, _) if reset_pending => return self.finish(result.map(|()| None)),
            (Err(error), None) => return self.finish(Err(error)),
            // A message is complete: it goes out; the error comes next call.
            (Err(error), Some(_)) => self.defer(error),
            (Ok(()), _) => {}
        }
        if self.phase != Phase::Connected {
            let state = self.state();
            return self.finish(Err(LinkError::NotConnected(state)));
        }
        let Some(length) = complete else {
            return self.finish(Ok(None));
        };
        if buffer.len() < length {
            return Err(LinkError::BufferTooSmall {
                needed: length,
                available: buffer.len(),
            });
        }
        let Some(length) = self.reassembly.take(buffer) else {
            return Ok(None);
        };
        self.statistics.messages_received += 1;
        self.queue_ack(self.sequence.rcv_nxt());
        if let Err(error) = self.flush_outbox() {
            self.defer(error);
        }
        // The message is the application's now; any error comes next call.
        Ok(Some(length))
    }

    /// Resets the link: reconfigures both queues (the peer sees RESET),
    /// drops everything in flight and starts a new handshake. Also the way
    /// out of [`LinkState::Failed`], and what an application with a
    /// deadline calls when the handshake does not complete in time. When
    /// the link was connected, the next call reports
    /// [`LinkError::Reset`] with [`ResetCause::LocalRestart`] and the
    /// number of messages to resend.
    pub fn restart(&mut self) -> Result<(), LinkError> {
        if !matches!(self.pending, Some(LinkError::Reset { .. })) {
            self.pending = None;
        }
        self.reset(ResetCause::LocalRestart, ResetKind::Hard)
    }

    // ---- one call's work ---------------------------------------------------

    /// Keeps `error` for the application's next call; a waiting reset
    /// report wins (it must reach the application).
    fn defer(&mut self, error: LinkError) {
        if !matches!(self.pending, Some(LinkError::Reset { .. })) {
            self.pending = Some(error);
        }
    }

    /// The result of a public call: a waiting reset report first, then the
    /// call's own error, then any other waiting error.
    fn finish<T>(&mut self, result: Result<T, LinkError>) -> Result<T, LinkError> {
        match (self.pending.take(), result) {
            (Some(reset @ LinkError::Reset { .. }), _) => Err(reset),
            (_, Err(error)) => Err(error),
            (Some(error), Ok(_)) => Err(error),
            (None, Ok(value)) => Ok(value),
        }
    }

    fn poll_once(&mut self) -> Result<(), LinkError> {
        if let Phase::Failed(failure) = self.phase {
            return Err(LinkError::Failed(failure));
        }
        let channel = self.config.channel;
        let rx_state = self.call(LdcCall::RxGetState, |hv| hv.ldc_rx_get_state(channel))?;
        self.check_offsets(LdcCall::RxGetState, self.rx, rx_state)?;
        self.observe(rx_state.state)?;
        if self.phase == Phase::Down {
            // Whatever a vanished peer left behind belongs to a dead session.
            self.rx_head = rx_state.tail;
            if rx_state.head != rx_state.tail {
                self.set_rx_head(rx_state.tail)?;
            }
            return Ok(());
        }
        // Resume from our own head if a previous LDC_RX_SET_QHEAD failed.
        let own_is_ahead = self.rx.distance(rx_state.head, self.rx_head)
            <= self.rx.distance(rx_state.head, rx_state.tail);
        if !own_is_ahead {
            self.rx_head = rx_state.head;
        }
        self.process_received(rx_state.head, rx_state.tail)?;
        let can_start = self.phase == Phase::Handshaking
            && self.handshake.state() == HandshakeState::Open
            && self.outbox_len() < OUTBOX_CAPACITY;
        if can_start {
            let version = self.handshake.start();
            let _ = self.queue(Outbound::Control(version));
        }
        self.flush_outbox()?;
        match self.phase {
            Phase::Failed(failure) => Err(LinkError::Failed(failure)),
            _ => Ok(()),
        }
    }

    fn send_once(&mut self, message: &[u8]) -> Result<(), LinkError> {
        match self.phase {
            Phase::Connected => {}
            Phase::Failed(failure) => return Err(LinkError::Failed(failure)),
            Phase::Down | Phase::Handshaking => return Err(LinkError::NotConnected(self.state())),
        }
        if message.is_empty() {
            return Err(LinkError::EmptyMessage);
        }
        let max = self.max_message_size();
        if message.len() > max {
            return Err(LinkError::MessageTooLarge {
                size: message.len(),
                max,
            });
        }
        self.refresh_transmit()?;
        self.flush_outbox()?;
        if self.phase != Phase::Connected {
            return Err(LinkError::NotConnected(self.state()));
        }
        let needed = fragment_count(message.len()) as u64;
        let free = if self.outbox_len() > 0 || !self.sequence.can_send_message() {
            0
        } else {
            self.data_room()
        };
        if needed > free {
            return Err(LinkError::QueueFull { needed, free });
        }
        let first_seqid = self.sequence.peek_next();
        let mut tail = self.tx_tail;
        for (fragment, index) in fragments(message).zip(0u32..) {
            let packet = Packet::data_fragment(
                first_seqid.wrapping_add(index),
                fragment.start,
                fragment.stop,
                fragment.bytes,
            );
            self.write_packet(tail, &packet)?;
            tail = self.tx.advance(tail);
        }
        self.publish(tail, needed)?;
        for _ in 0..needed {
            self.sequence.take_next();
        }
        self.sequence.message_sent();
        self.statistics.messages_sent += 1;
        Ok(())
    }

    // ---- hypervisor calls ------------------------------------------------

    /// One hypervisor call under the retry policy.
    fn call<T>(
        &mut self,
        call: LdcCall,
        mut operation: impl FnMut(&mut H) -> Result<T, HvError>,
    ) -> Result<T, LinkError> {
        let policy = self.config.retry;
        let hypervisor = &mut self.hypervisor;
        policy.call(call, &mut self.statistics.would_block_retries, || {
            operation(hypervisor)
        })
    }

    /// Head and tail from the hypervisor must be offsets inside the queue.
    fn check_offsets(
        &self,
        call: LdcCall,
        geometry: QueueGeometry,
        state: LdcQueueState,
    ) -> Result<(), LinkError> {
        for offset in [state.head, state.tail] {
            if !geometry.is_valid_offset(offset) {
                return Err(LinkError::Hypervisor {
                    call,
                    error: HvError::Unknown(offset),
                });
            }
        }
        Ok(())
    }

    /// Unconfigure and configure both queues, read their state back.
    fn bind(&mut self) -> Result<(), LinkError> {
        let channel = self.config.channel;
        let (tx, rx) = (self.memory.tx_queue, self.memory.rx_queue);
        let (tx_entries, rx_entries) = (self.tx.entries(), self.rx.entries());
        self.call(LdcCall::TxQconf, |hv| hv.ldc_tx_qconf(channel, &tx, 0))?;
        self.call(LdcCall::TxQconf, |hv| {
            hv.ldc_tx_qconf(channel, &tx, tx_entries)
        })?;
        self.call(LdcCall::RxQconf, |hv| hv.ldc_rx_qconf(channel, &rx, 0))?;
        self.call(LdcCall::RxQconf, |hv| {
            hv.ldc_rx_qconf(channel, &rx, rx_entries)
        })?;
        self.read_transmit_state()?;
        let rx_state = self.call(LdcCall::RxGetState, |hv| hv.ldc_rx_get_state(channel))?;
        self.check_offsets(LdcCall::RxGetState, self.rx, rx_state)?;
        self.rx_head = rx_state.head;
        self.new_session();
        self.phase = match rx_state.state {
            LdcChannelState::Down => Phase::Down,
            LdcChannelState::Up | LdcChannelState::Reset => Phase::Handshaking,
        };
        Ok(())
    }

    /// Reads head and tail of the transmit queue; returns the channel state.
    fn read_transmit_state(&mut self) -> Result<LdcChannelState, LinkError> {
        let channel = self.config.channel;
        let state = self.call(LdcCall::TxGetState, |hv| hv.ldc_tx_get_state(channel))?;
        self.check_offsets(LdcCall::TxGetState, self.tx, state)?;
        self.tx_head = state.head;
        self.tx_tail = state.tail;
        Ok(state.state)
    }

    /// Re-reads the transmit head (how far the hypervisor delivered) and
    /// acts on the channel state it reports.
    fn refresh_transmit(&mut self) -> Result<(), LinkError> {
        let state = self.read_transmit_state()?;
        self.observe(state)
    }

    fn set_rx_head(&mut self, head: u64) -> Result<(), LinkError> {
        let channel = self.config.channel;
        self.rx_head = head;
        self.call(LdcCall::RxSetQhead, |hv| hv.ldc_rx_set_qhead(channel, head))
    }

    fn read_packet(&mut self, offset: u64) -> Result<[u8; LDC_PACKET_SIZE], LinkError> {
        let mut bytes = [0u8; LDC_PACKET_SIZE];
        self.hypervisor
            .local_read(&self.memory.rx_queue, offset, &mut bytes)
            .map_err(|error| LinkError::Hypervisor {
                call: LdcCall::ReadQueue,
                error,
            })?;
        Ok(bytes)
    }

    fn write_packet(&mut self, offset: u64, packet: &Packet) -> Result<(), LinkError> {
        self.hypervisor
            .local_write(&self.memory.tx_queue, offset, &packet.encode())
            .map_err(|error| LinkError::Hypervisor {
                call: LdcCall::WriteQueue,
                error,
            })
    }

    /// `LDC_TX_SET_QTAIL` for `packets` packets written up to `tail`.
    fn publish(&mut self, tail: u64, packets: u64) -> Result<(), LinkError> {
        let channel = self.config.channel;
        self.call(LdcCall::TxSetQtail, |hv| hv.ldc_tx_set_qtail(channel, tail))?;
        self.tx_tail = tail;
        self.statistics.packets_sent += packets;
        Ok(())
    }

    // ---- resets ------------------------------------------------------------

    /// Forgets everything of the current session; the handshake is `Open`.
    fn new_session(&mut self) {
        self.handshake.reset();
        self.sequence = Sequence::new();
        self.reassembly.clear();
        self.outbox = [None; OUTBOX_CAPACITY];
    }

    /// Carries out a reset; when it interrupted a connected link, the
    /// report waits for the application's next call.
    fn reset(&mut self, cause: ResetCause, kind: ResetKind) -> Result<(), LinkError> {
        let was_connected = self.phase == Phase::Connected;
        let unacknowledged = self.sequence.unacknowledged_messages();
        self.statistics.resets += 1;
        let channel = self.config.channel;
        if was_connected {
            log::warn!(
                "LDC channel {channel}: reset ({cause}); {unacknowledged} messages unacknowledged"
            );
        } else {
            log::debug!("LDC channel {channel}: reset before connecting ({cause})");
        }
        if was_connected && !matches!(self.pending, Some(LinkError::Reset { .. })) {
            self.pending = Some(LinkError::Reset {
                cause,
                unacknowledged,
            });
        }
        match kind {
            ResetKind::Hard => self.bind()?,
            ResetKind::Soft => {
                // Flush what we queued for the old session; reconfiguring
                // the transmit queue does not signal the peer.
                let channel = self.config.channel;
                let (tx, entries) = (self.memory.tx_queue, self.tx.entries());
                self.call(LdcCall::TxQconf, |hv| hv.ldc_tx_qconf(channel, &tx, 0))?;
                self.call(LdcCall::TxQconf, |hv| {
                    hv.ldc_tx_qconf(channel, &tx, entries)
                })?;
                // A RESET reported here is the one being handled (or a newer
                // one whose session we are starting fresh anyway).
                self.read_transmit_state()?;
                self.new_session();
                self.phase = Phase::Handshaking;
            }
            ResetKind::Down => {
                self.new_session();
                self.phase = Phase::Down;
            }
        }
        Ok(())
    }

    /// Acts on the channel state a GET_STATE reported (RESET is reported
    /// only once, so every read goes through here).
    fn observe(&mut self, channel: LdcChannelState) -> Result<(), LinkError> {
        if matches!(self.phase, Phase::Failed(_)) {
            return Ok(());
        }
        match channel {
            LdcChannelState::Down if self.phase != Phase::Down => {
                self.reset(ResetCause::PeerDown, ResetKind::Down)
            }
            LdcChannelState::Down => Ok(()),
            LdcChannelState::Reset => self.reset(ResetCause::ChannelReset, ResetKind::Soft),
            LdcChannelState::Up => {
                if self.phase == Phase::Down {
                    self.new_session();
                    self.phase = Phase::Handshaking;
                }
                Ok(())
            }
        }
    }

    // ---- receiving ---------------------------------------------------------

    /// One pass over the receive queue from our head to `tail`; then moves
    /// the hypervisor's head (`hv_head`) to ours.
    fn process_received(&mut self, hv_head: u64, tail: u64) -> Result<(), LinkError> {
        // Each packet is looked at at most twice (once more after a restart).
        let mut budget = 2 * self.rx.entries();
        while self.rx_head != tail && budget > 0 {
            budget -= 1;
            let bytes = self.read_packet(self.rx_head)?;
            let action = match self.phase {
                Phase::Connected => self.on_connected_packet(&bytes),
                Phase::Handshaking => self.on_handshake_packet(&bytes),
                Phase::Down | Phase::Failed(_) => Action::Stop,
            };
            match action {
                Action::Consume => {
                    self.statistics.packets_received += 1;
                    self.rx_head = self.rx.advance(self.rx_head);
                }
                Action::Stop => break,
                Action::Flush => {
                    self.statistics.packets_received += self.rx.distance(self.rx_head, tail);
                    self.rx_head = tail;
                }
                Action::Restart => self.reset(ResetCause::PeerRestarted, ResetKind::Soft)?,
                Action::Abort(cause) => {
                    // Reconfiguring the receive queue empties it: no head to set.
                    return self.reset(cause, ResetKind::Hard);
                }
                Action::Retry(failure) => {
                    // Tell the peer why (best effort), then start over: a
                    // damaged RTS looks like another mode, so this is not
                    // final; the application sees the failure each time.
                    let _ = self.flush_outbox();
                    self.reset(ResetCause::HandshakeViolation, ResetKind::Hard)?;
                    self.defer(LinkError::Failed(failure));
                    return Ok(());
                }
            }
        }
        if self.rx_head != hv_head {
            self.set_rx_head(self.rx_head)?;
        }
        Ok(())
    }

    fn on_handshake_packet(&mut self, bytes: &[u8; LDC_PACKET_SIZE]) -> Action {
        let packet = match Packet::decode(bytes) {
            Ok(packet) => packet,
            Err(error) => return Action::Abort(ResetCause::MalformedPacket(error)),
        };
        if packet.packet_type != PacketType::Control {
            // Data of a session that ended.
            return Action::Consume;
        }
        match self.handshake.on_control(&packet, &mut self.sequence) {
            HandshakeStep::Ignore => Action::Consume,
            HandshakeStep::Send(reply) => self.queue(Outbound::Control(reply)),
            HandshakeStep::Connected(rdx) => {
                self.phase = Phase::Connected;
                self.statistics.handshakes += 1;
                log::debug!(
                    "LDC channel {}: connected ({})",
                    self.config.channel,
                    self.handshake.state()
                );
                match rdx {
                    Some(rdx) => self.queue(Outbound::Control(rdx)),
                    None => Action::Consume,
                }
            }
            HandshakeStep::Abort(cause) => Action::Abort(cause),
            HandshakeStep::Fail(failure, notice) => {
                if let Some(notice) = notice {
                    let _ = self.queue(Outbound::Control(notice));
                }
                if failure.is_final() {
                    log::warn!(
                        "LDC channel {}: handshake failed until restart: {failure}",
                        self.config.channel
                    );
                    self.phase = Phase::Failed(failure);
                    Action::Consume
                } else {
                    log::debug!(
                        "LDC channel {}: handshake failed, starting over: {failure}",
                        self.config.channel
                    );
                    Action::Retry(failure)
                }
            }
        }
    }

    fn on_connected_packet(&mut self, bytes: &[u8; LDC_PACKET_SIZE]) -> Action {
        let packet = match Packet::decode(bytes) {
            Ok(packet) => packet,
            Err(error) => return Action::Abort(ResetCause::MalformedPacket(error)),
        };
        if packet.is_version_info() {
            return Action::Restart;
        }
        let is_data_info =
            packet.packet_type == PacketType::Data && packet.subtype.contains(Subtype::INFO);
        if is_data_info && self.reassembly.is_complete() {
            // One message waits for the application; the rest waits in the queue.
            return Action::Stop;
        }
        if !self.sequence.accept(packet.seqid) {
            if let Some(first) = self.reassembly.partial_first_seqid() {
                self.sequence.roll_back_to_before(first);
                self.reassembly.clear();
            }
            self.queue(Outbound::Nack {
                packet_type: packet.packet_type,
                control: packet.control,
                ackid: self.sequence.rcv_nxt(),
            });
            return Action::Flush;
        }
        match packet.packet_type {
            PacketType::Control | PacketType::Error => Action::Abort(ResetCause::UnexpectedPacket),
            PacketType::Data => {
                if packet.subtype.contains(Subtype::NACK) {
                    return Action::Abort(ResetCause::NackReceived);
                }
                if packet.subtype.contains(Subtype::ACK)
                    && self.sequence.acknowledge(packet.ackid).is_err()
                {
                    return Action::Abort(ResetCause::UnknownAck {
                        ackid: packet.ackid,
                    });
                }
                if packet.subtype.contains(Subtype::INFO) {
                    if let Err(error) = self.reassembly.push(&packet) {
                        return Action::Abort(ResetCause::Fragment(error));
                    }
                }
                Action::Consume
            }
        }
    }

    // ---- transmitting ------------------------------------------------------

    /// Packets a data message may use now: room before the hypervisor's head
    /// and before the oldest unacknowledged packet, whichever is less.
    fn data_room(&self) -> u64 {
        let by_head = self.tx.free(self.tx_head, self.tx_tail);
        let by_ack = match self.sequence.unacknowledged_packets() {
            Some(in_flight) => (self.tx.entries() - 1).saturating_sub(in_flight),
            None => self.tx.entries() - 1,
        };
        by_head.min(by_ack)
    }

    fn outbox_len(&self) -> usize {
        self.outbox.iter().take_while(|slot| slot.is_some()).count()
    }

    /// Queues a packet to send; a full outbox aborts the link.
    fn queue(&mut self, outbound: Outbound) -> Action {
        let length = self.outbox_len();
        match self.outbox.get_mut(length) {
            Some(slot) => {
                *slot = Some(outbound);
                Action::Consume
            }
            None => Action::Abort(ResetCause::TransmitStalled),
        }
    }

    /// Queues an ACK up to `ackid`, merging with a waiting one.
    fn queue_ack(&mut self, ackid: u32) {
        let length = self.outbox_len();
        if let Some(Some(Outbound::Ack { ackid: waiting })) = length
            .checked_sub(1)
            .and_then(|last| self.outbox.get_mut(last))
        {
            *waiting = ackid;
            return;
        }
        // With the outbox full of control packets the ACK is dropped: ACKs
        // are cumulative, so the next one covers this message too.
        let _ = self.queue(Outbound::Ack { ackid });
    }

    /// Sends waiting packets while there is room; stops quietly when there
    /// is none (the next poll tries again).
    fn flush_outbox(&mut self) -> Result<(), LinkError> {
        while let Some(next) = self.outbox[0] {
            if self.tx.free(self.tx_head, self.tx_tail) == 0 {
                self.refresh_transmit()?;
                if self.outbox[0] != Some(next) {
                    // A reset emptied the outbox.
                    continue;
                }
                if self.tx.free(self.tx_head, self.tx_tail) == 0 {
                    return Ok(());
                }
            }
            let packet = match next {
                Outbound::Control(packet) => packet,
                Outbound::Ack { ackid } => Packet::data_ack(self.sequence.peek_next(), ackid),
                Outbound::Nack {
                    packet_type,
                    control,
                    ackid,
                } => Packet::nack(packet_type, control, self.sequence.peek_next(), ackid),
            };
            let tail = self.tx_tail;
            self.write_packet(tail, &packet)?;
            self.publish(self.tx.advance(tail), 1)?;
            match next {
                Outbound::Control(_) => {}
                Outbound::Ack { .. } => {
                    self.sequence.take_next();
                    self.statistics.acks_sent += 1;
                }
                Outbound::Nack { .. } => {
                    self.sequence.take_next();
                    self.statistics.nacks_sent += 1;
                }
            }
            self.outbox.rotate_left(1);
            self.outbox[OUTBOX_CAPACITY - 1] = None;
        }
        Ok(())
    }
}
