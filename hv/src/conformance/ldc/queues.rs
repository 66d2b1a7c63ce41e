//! Cases of `LDC_TX_QCONF`, `LDC_RX_QCONF`, their `QINFO` and `GET_STATE`
//! calls, and the channel state those report.

use super::fixture::{configure, part, LdcFixture, LdcPair, Side, RX, TX};
use crate::abi::ldc::LDC_PACKET_SIZE;
use crate::conformance::case::define_case;
use crate::conformance::report::{
    each_fails_with, equals, holds, succeeds, CaseResult, ConformanceFailure, Observed,
};
use crate::hypervisor::{Ldc, LdcChannelState};
use crate::HvError;

/// Checks the channel state `side` reads with `LDC_RX_GET_STATE`.
fn state_is<P: LdcPair>(
    check: &'static str,
    pair: &mut P,
    fixture: &LdcFixture,
    side: Side,
    expected: LdcChannelState,
) -> CaseResult {
    let channel = fixture.channel(side);
    let state = succeeds("LDC_RX_GET_STATE", pair.end(side).ldc_rx_get_state(channel))?.state;
    if state == expected {
        return Ok(());
    }
    Err(ConformanceFailure {
        check,
        expected: Observed::Value(raw(expected)),
        actual: Observed::Value(raw(state)),
    })
}

fn raw(state: LdcChannelState) -> u64 {
    match state {
        LdcChannelState::Down => 0,
        LdcChannelState::Up => 1,
        LdcChannelState::Reset => 2,
    }
}

define_case! {
    /// `QINFO` gives (0, 0) until a queue is configured, then its RA and
    /// entries; 0 entries unconfigures.
    queue_configure_info_and_unconfigure<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_TX_QINFO, LDC_RX_QCONF, LDC_RX_QINFO",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let memory = fixture.memory(Side::A);
        let (tx_info, rx_info) = {
            let end = pair.end(Side::A);
            (end.ldc_tx_qinfo(channel), end.ldc_rx_qinfo(channel))
        };
        equals("LDC_TX_QINFO entries before any QCONF", succeeds("LDC_TX_QINFO", tx_info)?.1, 0)?;
        equals("LDC_RX_QINFO entries before any QCONF", succeeds("LDC_RX_QINFO", rx_info)?.1, 0)?;
        configure(pair, fixture, Side::A, 32)?;
        let end = pair.end(Side::A);
        let (ra, entries) = succeeds("LDC_TX_QINFO", end.ldc_tx_qinfo(channel))?;
        equals("LDC_TX_QINFO RET1", ra, memory.ra() + TX)?;
        equals("LDC_TX_QINFO RET2", entries, 32)?;
        let (ra, entries) = succeeds("LDC_RX_QINFO", end.ldc_rx_qinfo(channel))?;
        equals("LDC_RX_QINFO RET1", ra, memory.ra() + RX)?;
        equals("LDC_RX_QINFO RET2", entries, 32)?;
        succeeds("LDC_TX_QCONF of 0 entries", end.ldc_tx_qconf(channel, &memory, 0))?;
        succeeds("LDC_RX_QCONF of 0 entries", end.ldc_rx_qconf(channel, &memory, 0))?;
        equals("LDC_TX_QINFO entries once unconfigured", succeeds("LDC_TX_QINFO", end.ldc_tx_qinfo(channel))?.1, 0)?;
        equals("LDC_RX_QINFO entries once unconfigured", succeeds("LDC_RX_QINFO", end.ldc_rx_qinfo(channel))?.1, 0)
    }
}

define_case! {
    /// A channel the caller does not own is `ECHANNEL` for every queue call.
    qconf_unknown_channel_is_echannel<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_RX_QCONF, LDC_TX_QINFO, LDC_RX_QINFO, LDC_TX_GET_STATE, LDC_RX_GET_STATE",
    |pair, fixture| {
        let channel = fixture.unknown_channel;
        let queue = part(fixture, Side::A, TX, 8 * LDC_PACKET_SIZE as u64)?;
        let end = pair.end(Side::A);
        each_fails_with!(HvError::Channel;
            "LDC_TX_QCONF" => end.ldc_tx_qconf(channel, &queue, 8),
            "LDC_RX_QCONF" => end.ldc_rx_qconf(channel, &queue, 8),
            "LDC_TX_QINFO" => end.ldc_tx_qinfo(channel),
            "LDC_RX_QINFO" => end.ldc_rx_qinfo(channel),
            "LDC_TX_GET_STATE" => end.ldc_tx_get_state(channel),
            "LDC_RX_GET_STATE" => end.ldc_rx_get_state(channel),
        )
    }
}

define_case! {
    /// Entries not a power of 2, below 2 or above the maximum are `EINVAL`.
    qconf_bad_entry_count_is_einval<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_RX_QCONF",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let memory = fixture.memory(Side::A);
        let too_many = fixture.max_queue_entries * 2;
        let end = pair.end(Side::A);
        for entries in [3, 1, too_many] {
            each_fails_with!(HvError::Invalid;
                "LDC_TX_QCONF of a bad entry count" => end.ldc_tx_qconf(channel, &memory, entries),
                "LDC_RX_QCONF of a bad entry count" => end.ldc_rx_qconf(channel, &memory, entries),
            )?;
        }
        Ok(())
    }
}

define_case! {
    /// A base not aligned to the queue's size is `EBADALIGN`.
    qconf_misaligned_base_is_ebadalign<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_RX_QCONF",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        // 32 entries are 2 KiB: a base 1 KiB past an aligned one is not aligned.
        let queue = part(fixture, Side::A, TX + 1024, 32 * LDC_PACKET_SIZE as u64)?;
        let end = pair.end(Side::A);
        each_fails_with!(HvError::BadAlignment;
            "LDC_TX_QCONF at a misaligned base" => end.ldc_tx_qconf(channel, &queue, 32),
            "LDC_RX_QCONF at a misaligned base" => end.ldc_rx_qconf(channel, &queue, 32),
        )
    }
}

define_case! {
    /// A queue larger than the region it is given is `ENORADDR`.
    qconf_queue_past_its_region_is_enoraddr<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_RX_QCONF",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let small = part(fixture, Side::A, TX, 1024)?;
        let end = pair.end(Side::A);
        each_fails_with!(HvError::NoRealAddress;
            "LDC_TX_QCONF of 2 KiB in 1 KiB" => end.ldc_tx_qconf(channel, &small, 32),
            "LDC_RX_QCONF of 2 KiB in 1 KiB" => end.ldc_rx_qconf(channel, &small, 32),
        )
    }
}

define_case! {
    /// After `LDC_TX_QCONF` head equals tail, a valid offset of the queue.
    tx_qconf_leaves_the_queue_empty<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_QCONF, LDC_TX_GET_STATE",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let bytes = 8 * LDC_PACKET_SIZE as u64;
        let queue = part(fixture, Side::A, TX, bytes)?;
        let end = pair.end(Side::A);
        for _ in 0..2 {
            succeeds("LDC_TX_QCONF", end.ldc_tx_qconf(channel, &queue, 8))?;
            let state = succeeds("LDC_TX_GET_STATE", end.ldc_tx_get_state(channel))?;
            equals("head after LDC_TX_QCONF equals tail", state.head, state.tail)?;
            holds("the offset lies in the queue", state.tail < bytes)?;
            holds("the offset is a whole packet", state.tail.is_multiple_of(LDC_PACKET_SIZE as u64))?;
        }
        Ok(())
    }
}

define_case! {
    /// `GET_STATE` of a queue not configured is `EINVAL`.
    get_state_of_an_unconfigured_queue_is_einval<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_GET_STATE, LDC_RX_GET_STATE",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let end = pair.end(Side::A);
        each_fails_with!(HvError::Invalid;
            "LDC_TX_GET_STATE without a queue" => end.ldc_tx_get_state(channel),
            "LDC_RX_GET_STATE without a queue" => end.ldc_rx_get_state(channel),
        )
    }
}

define_case! {
    /// DOWN while the peer has no receive queue, UP once it has, RESET
    /// once (to whichever state call reads first) when it configures one
    /// again; its first configuration is not a reset.
    channel_state_down_up_and_reset_once<P: LdcPair, LdcFixture>,
    calls: "LDC_TX_GET_STATE, LDC_RX_GET_STATE, LDC_RX_QCONF",
    |pair, fixture| {
        configure(pair, fixture, Side::A, 8)?;
        state_is("no receive queue at the peer", pair, fixture, Side::A, LdcChannelState::Down)?;
        configure(pair, fixture, Side::B, 8)?;
        state_is("the peer's first receive queue", pair, fixture, Side::A, LdcChannelState::Up)?;
        let b_channel = fixture.channel(Side::B);
        let b_rx = part(fixture, Side::B, RX, 8 * LDC_PACKET_SIZE as u64)?;
        succeeds("the peer's LDC_RX_QCONF again", pair.end(Side::B).ldc_rx_qconf(b_channel, &b_rx, 8))?;
        let a_channel = fixture.channel(Side::A);
        let tx_state = succeeds("LDC_TX_GET_STATE", pair.end(Side::A).ldc_tx_get_state(a_channel))?;
        holds("LDC_TX_GET_STATE reports the RESET", tx_state.state == LdcChannelState::Reset)?;
        state_is("RESET is reported once", pair, fixture, Side::A, LdcChannelState::Up)?;
        succeeds("the peer unconfigures its receive queue", pair.end(Side::B).ldc_rx_qconf(b_channel, &b_rx, 0))?;
        state_is("the peer without a receive queue", pair, fixture, Side::A, LdcChannelState::Down)?;
        succeeds("the peer configures it again", pair.end(Side::B).ldc_rx_qconf(b_channel, &b_rx, 8))?;
        state_is("a configuration after one is a reset", pair, fixture, Side::A, LdcChannelState::Reset)?;
        state_is("then up", pair, fixture, Side::A, LdcChannelState::Up)?;
        state_is("the peer never saw a reconfiguration", pair, fixture, Side::B, LdcChannelState::Up)
    }
}
