//! Cases of `LDC_TX_SET_QTAIL` and `LDC_RX_SET_QHEAD`: packets moving from
//! one end's transmit queue into the other's receive queue.

use super::fixture::{
    configure, configure_sized, packet, receive, send, LdcFixture, LdcPair, Side,
};
use crate::abi::ldc::LDC_PACKET_SIZE;
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, fails_with, holds, succeeds};
use crate::hypervisor::{Ldc, LdcChannelState};
use crate::HvError;

const PACKET: u64 = LDC_PACKET_SIZE as u64;

define_case! {
    /// One `SET_QTAIL` delivers every packet written before it, in order.
    set_qtail_delivers_packets_into_the_peer_queue<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_SET_QTAIL, LDC_RX_GET_STATE, LDC_RX_SET_QHEAD",
    |pair, fixture| {
        configure(pair, fixture, Side::A, 8)?;
        configure(pair, fixture, Side::B, 8)?;
        let sent = [packet(0x11), packet(0x22)];
        succeeds("LDC_TX_SET_QTAIL", send(pair, fixture, Side::A, &sent)?)?;
        let channel = fixture.channel(Side::A);
        let state = succeeds("LDC_TX_GET_STATE", pair.end(Side::A).ldc_tx_get_state(channel))?;
        equals("the transmit head caught up with the tail", state.head, state.tail)?;
        let mut got = [[0u8; LDC_PACKET_SIZE]; 4];
        equals("packets received", receive(pair, fixture, Side::B, &mut got)? as u64, 2)?;
        holds("the packets arrive whole and in order", got[..2] == sent)
    }
}

define_case! {
    /// `SET_QTAIL` of a channel not owned is `ECHANNEL`, off a packet
    /// boundary `EBADALIGN`, past the queue or without a queue `EINVAL`.
    set_qtail_errors<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_SET_QTAIL",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        fails_with(
            "LDC_TX_SET_QTAIL without a transmit queue",
            pair.end(Side::A).ldc_tx_set_qtail(channel, PACKET),
            HvError::Invalid,
        )?;
        configure(pair, fixture, Side::A, 8)?;
        configure(pair, fixture, Side::B, 8)?;
        let end = pair.end(Side::A);
        fails_with("LDC_TX_SET_QTAIL of another channel", end.ldc_tx_set_qtail(fixture.unknown_channel, PACKET), HvError::Channel)?;
        fails_with("LDC_TX_SET_QTAIL to half a packet", end.ldc_tx_set_qtail(channel, PACKET / 2), HvError::BadAlignment)?;
        fails_with("LDC_TX_SET_QTAIL past the queue", end.ldc_tx_set_qtail(channel, 8 * PACKET), HvError::Invalid)
    }
}

define_case! {
    /// A new tail may only add entries: with packets pending, a tail that
    /// drops some is `EINVAL`.
    set_qtail_may_only_add_entries<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_SET_QTAIL",
    |pair, fixture| {
        configure(pair, fixture, Side::A, 8)?;
        // The peer's 2-entry queue holds one packet: the rest stay pending.
        configure_sized(pair, fixture, Side::B, 2, 2)?;
        succeeds("LDC_TX_SET_QTAIL of three packets", send(pair, fixture, Side::A, &[packet(1), packet(2), packet(3)])?)?;
        let channel = fixture.channel(Side::A);
        let end = pair.end(Side::A);
        let state = succeeds("LDC_TX_GET_STATE", end.ldc_tx_get_state(channel))?;
        holds("packets are pending", state.head != state.tail)?;
        fails_with(
            "LDC_TX_SET_QTAIL back to the head",
            end.ldc_tx_set_qtail(channel, state.head),
            HvError::Invalid,
        )?;
        let back_one = (state.tail + 7 * PACKET) % (8 * PACKET);
        fails_with(
            "LDC_TX_SET_QTAIL one packet back",
            end.ldc_tx_set_qtail(channel, back_one),
            HvError::Invalid,
        )?;
        succeeds("LDC_TX_SET_QTAIL to the same tail", end.ldc_tx_set_qtail(channel, state.tail))
    }
}

define_case! {
    /// The hypervisor delivers what the peer's queue holds and keeps the
    /// rest pending; it moves once the peer frees room.
    delivery_is_partial_when_the_peer_queue_fills<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_SET_QTAIL, LDC_RX_SET_QHEAD",
    |pair, fixture| {
        configure(pair, fixture, Side::A, 8)?;
        // The peer's 4-entry receive queue: 3 usable.
        configure_sized(pair, fixture, Side::B, 8, 4)?;
        let sent = [packet(1), packet(2), packet(3), packet(4), packet(5)];
        succeeds("LDC_TX_SET_QTAIL of five packets", send(pair, fixture, Side::A, &sent)?)?;
        let channel = fixture.channel(Side::A);
        let state = succeeds("LDC_TX_GET_STATE", pair.end(Side::A).ldc_tx_get_state(channel))?;
        equals("packets still pending", (state.tail + 8 * PACKET - state.head) % (8 * PACKET) / PACKET, 2)?;
        let mut got = [[0u8; LDC_PACKET_SIZE]; 8];
        equals("packets the peer's queue held", receive(pair, fixture, Side::B, &mut got)? as u64, 3)?;
        holds("the first three, in order", got[..3] == sent[..3])?;
        equals("the rest arrive once there is room", receive(pair, fixture, Side::B, &mut got)? as u64, 2)?;
        holds("the last two, in order", got[..2] == sent[3..])
    }
}

define_case! {
    /// Packets sent while the peer has no receive queue are dropped: the
    /// transmit head jumps to the tail, the state is DOWN.
    packets_to_a_peer_without_receive_queue_are_dropped<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_SET_QTAIL, LDC_TX_GET_STATE",
    |pair, fixture| {
        configure(pair, fixture, Side::A, 8)?;
        succeeds("LDC_TX_SET_QTAIL", send(pair, fixture, Side::A, &[packet(1)])?)?;
        let channel = fixture.channel(Side::A);
        let state = succeeds("LDC_TX_GET_STATE", pair.end(Side::A).ldc_tx_get_state(channel))?;
        equals("the head jumped to the tail", state.head, state.tail)?;
        holds("the channel is DOWN", state.state == LdcChannelState::Down)
    }
}

define_case! {
    /// `SET_QHEAD` consumes entries up to the tail only: backwards or past
    /// the tail is `EINVAL`, off a packet `EBADALIGN`, another channel
    /// `ECHANNEL`, no queue `EINVAL`.
    set_qhead_rules<P: LdcPair, LdcFixture>,
    calls: "LDC_RX_SET_QHEAD",
    |pair, fixture| {
        let channel = fixture.channel(Side::B);
        fails_with(
            "LDC_RX_SET_QHEAD without a receive queue",
            pair.end(Side::B).ldc_rx_set_qhead(channel, 0),
            HvError::Invalid,
        )?;
        configure(pair, fixture, Side::A, 8)?;
        configure(pair, fixture, Side::B, 8)?;
        succeeds("LDC_TX_SET_QTAIL", send(pair, fixture, Side::A, &[packet(1), packet(2)])?)?;
        let end = pair.end(Side::B);
        let state = succeeds("LDC_RX_GET_STATE", end.ldc_rx_get_state(channel))?;
        let (head, size) = (state.head, 8 * PACKET);
        let at = |packets: u64| (head + packets * PACKET) % size;
        fails_with("LDC_RX_SET_QHEAD of another channel", end.ldc_rx_set_qhead(fixture.unknown_channel, at(1)), HvError::Channel)?;
        fails_with("LDC_RX_SET_QHEAD off a packet", end.ldc_rx_set_qhead(channel, head + 8), HvError::BadAlignment)?;
        each_fails_with!(HvError::Invalid;
            "LDC_RX_SET_QHEAD past the queue" => end.ldc_rx_set_qhead(channel, size),
            "LDC_RX_SET_QHEAD past the tail" => end.ldc_rx_set_qhead(channel, at(3)),
        )?;
        succeeds("LDC_RX_SET_QHEAD over one packet", end.ldc_rx_set_qhead(channel, at(1)))?;
        fails_with("LDC_RX_SET_QHEAD backwards", end.ldc_rx_set_qhead(channel, head), HvError::Invalid)?;
        succeeds("LDC_RX_SET_QHEAD to the tail", end.ldc_rx_set_qhead(channel, at(2)))?;
        let state = succeeds("LDC_RX_GET_STATE", end.ldc_rx_get_state(channel))?;
        equals("the queue is empty", state.head, state.tail)
    }
}
