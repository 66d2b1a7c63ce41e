//! The state an LDC case starts from (a channel pair and each end's
//! memory), the list of LDC cases, and the helpers the cases share: where
//! each end keeps its queues, map table and pages, and sending and taking
//! packets the way the link layer does.

use super::{local_memory, map_table, queues, transfer};
use crate::abi::ldc::{mte_word0, MtePermissions, LDC_MTE_BYTES, LDC_PACKET_SIZE};
use crate::abi::mmu::PAGE_SIZE;
use crate::conformance::case::Case;
use crate::conformance::report::{succeeds, ConformanceFailure};
use crate::hypervisor::{Ldc, LocalMemory, LocalRegion};

/// The smallest memory each end of the fixture must have.
pub const MIN_FIXTURE_MEMORY: u64 = 1 << 20;

/// Offset of the transmit queue in each end's memory (queues of up to
/// 128 entries fit before the receive queue).
pub(super) const TX: u64 = 0;
/// Offset of the receive queue.
pub(super) const RX: u64 = 0x2000;
/// Offset of the map table (16 entries).
pub(super) const TABLE: u64 = 0x4000;
/// Entries of the map table the cases register.
pub(super) const TABLE_ENTRIES: u64 = 16;
/// Offset of the first exported page (page `n` at `PAGES + n × 8 KiB`).
pub(super) const PAGES: u64 = 0x1_0000;
/// Offset of the local buffer `LDC_COPY` copies to and from.
pub(super) const LOCAL: u64 = 0x8_0000;
/// Bytes of a page the cases export (page-size code 0).
pub(super) const PAGE: u64 = PAGE_SIZE as u64;
/// An RA no memory has: the highest page frame an MTE can name.
pub(super) const NOWHERE: u64 = 0x00ff_ffff_ffff_e000;

pub use crate::ldc::Side;

/// Two ends of one LDC channel. An implementation whose one handle serves
/// both ends (firmware owning both sides of a loopback channel) returns the
/// same handle for both sides.
pub trait LdcPair {
    /// What each end is.
    type End: Ldc + LocalMemory;
    /// The end of `side`.
    fn end(&mut self, side: Side) -> &mut Self::End;
}

/// What the implementation under test sets up before each LDC case: a
/// channel between two ends, neither with queues or a map table, nothing
/// in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LdcFixture {
    /// The channel number each end's calls name, indexed A then B.
    pub channels: [u64; 2],
    /// A channel number neither end owns.
    pub unknown_channel: u64,
    /// Each end's memory, A then B: at least [`MIN_FIXTURE_MEMORY`] bytes
    /// from a 64 KiB aligned RA, minted by that end.
    pub memory: [LocalRegion; 2],
    /// The largest queue the hypervisor accepts, in entries (a power of 2).
    pub max_queue_entries: u64,
}

impl LdcFixture {
    /// The channel of `side`.
    pub(super) fn channel(&self, side: Side) -> u64 {
        self.channels[side.index()]
    }

    /// The memory of `side`.
    pub(super) fn memory(&self, side: Side) -> LocalRegion {
        self.memory[side.index()]
    }
}

/// Every LDC case.
pub fn ldc_cases<P: LdcPair>() -> [Case<P, LdcFixture>; 24] {
    [
        queues::queue_configure_info_and_unconfigure(),
        queues::qconf_unknown_channel_is_echannel(),
        queues::qconf_bad_entry_count_is_einval(),
        queues::qconf_misaligned_base_is_ebadalign(),
        queues::qconf_queue_past_its_region_is_enoraddr(),
        queues::tx_qconf_leaves_the_queue_empty(),
        queues::get_state_of_an_unconfigured_queue_is_einval(),
        queues::channel_state_down_up_and_reset_once(),
        transfer::set_qtail_delivers_packets_into_the_peer_queue(),
        transfer::set_qtail_errors(),
        transfer::set_qtail_may_only_add_entries(),
        transfer::delivery_is_partial_when_the_peer_queue_fills(),
        transfer::packets_to_a_peer_without_receive_queue_are_dropped(),
        transfer::set_qhead_rules(),
        map_table::map_table_registration(),
        map_table::map_table_errors(),
        map_table::copy_in_and_out_stops_at_the_page_end(),
        map_table::copy_without_the_copy_permission_is_enoaccess(),
        map_table::copy_argument_errors(),
        map_table::copy_cookie_errors(),
        map_table::copy_checks_alignment_before_arguments_and_channel(),
        local_memory::local_memory_round_trips_by_offset(),
        local_memory::local_memory_rules(),
        local_memory::local_region_mints_only_owned_memory(),
    ]
}

/// `length` bytes at `offset` of `side`'s memory, as a region.
pub(super) fn part(
    fixture: &LdcFixture,
    side: Side,
    offset: u64,
    length: u64,
) -> Result<LocalRegion, ConformanceFailure> {
    fixture
        .memory(side)
        .subregion(offset, length)
        .ok_or(ConformanceFailure {
            check: "the fixture's memory holds what the cases place in it",
            expected: crate::conformance::Observed::Value(MIN_FIXTURE_MEMORY),
            actual: crate::conformance::Observed::Value(fixture.memory(side).length()),
        })
}

/// Configures `side`'s transmit and receive queues (`entries` each) at
/// [`TX`] and [`RX`].
pub(super) fn configure<P: LdcPair>(
    pair: &mut P,
    fixture: &LdcFixture,
    side: Side,
    entries: u64,
) -> Result<(), ConformanceFailure> {
    configure_sized(pair, fixture, side, entries, entries)
}

/// Configures `side`'s transmit queue of `tx_entries` at [`TX`] and its
/// receive queue of `rx_entries` at [`RX`].
pub(super) fn configure_sized<P: LdcPair>(
    pair: &mut P,
    fixture: &LdcFixture,
    side: Side,
    tx_entries: u64,
    rx_entries: u64,
) -> Result<(), ConformanceFailure> {
    let channel = fixture.channel(side);
    let packets = |entries: u64| entries * LDC_PACKET_SIZE as u64;
    let (tx, rx) = (
        part(fixture, side, TX, packets(tx_entries))?,
        part(fixture, side, RX, packets(rx_entries))?,
    );
    let end = pair.end(side);
    succeeds("LDC_TX_QCONF", end.ldc_tx_qconf(channel, &tx, tx_entries))?;
    succeeds("LDC_RX_QCONF", end.ldc_rx_qconf(channel, &rx, rx_entries))
}

/// A 64-byte test packet: `byte` everywhere, and as its sequence id.
pub(super) fn packet(byte: u8) -> [u8; LDC_PACKET_SIZE] {
    let mut packet = [byte; LDC_PACKET_SIZE];
    packet[4..8].copy_from_slice(&u32::from(byte).to_be_bytes());
    packet
}

/// Writes `packets` at `side`'s transmit tail and publishes them with one
/// `LDC_TX_SET_QTAIL`, as the link layer does; gives that call's result.
pub(super) fn send<P: LdcPair>(
    pair: &mut P,
    fixture: &LdcFixture,
    side: Side,
    packets: &[[u8; LDC_PACKET_SIZE]],
) -> Result<Result<(), crate::HvError>, ConformanceFailure> {
    let channel = fixture.channel(side);
    let memory = fixture.memory(side);
    let end = pair.end(side);
    let state = succeeds(
        "LDC_TX_GET_STATE before a send",
        end.ldc_tx_get_state(channel),
    )?;
    let (_, entries) = succeeds("LDC_TX_QINFO before a send", end.ldc_tx_qinfo(channel))?;
    let size = entries * LDC_PACKET_SIZE as u64;
    let mut tail = state.tail;
    for packet in packets {
        succeeds(
            "writing a packet at the tail",
            end.local_write(&memory, TX + tail, packet),
        )?;
        tail = (tail + LDC_PACKET_SIZE as u64) % size;
    }
    Ok(end.ldc_tx_set_qtail(channel, tail))
}

/// Takes every packet waiting in `side`'s receive queue (`LDC_RX_GET_STATE`,
/// the packets, one `LDC_RX_SET_QHEAD`), at most `N`; gives how many.
pub(super) fn receive<P: LdcPair, const N: usize>(
    pair: &mut P,
    fixture: &LdcFixture,
    side: Side,
    into: &mut [[u8; LDC_PACKET_SIZE]; N],
) -> Result<usize, ConformanceFailure> {
    let channel = fixture.channel(side);
    let memory = fixture.memory(side);
    let end = pair.end(side);
    let state = succeeds("LDC_RX_GET_STATE", end.ldc_rx_get_state(channel))?;
    let (_, entries) = succeeds("LDC_RX_QINFO", end.ldc_rx_qinfo(channel))?;
    let size = entries * LDC_PACKET_SIZE as u64;
    let mut head = state.head;
    let mut count = 0;
    while head != state.tail && count < N {
        succeeds(
            "reading a received packet",
            end.local_read(&memory, RX + head, &mut into[count]),
        )?;
        count += 1;
        head = (head + LDC_PACKET_SIZE as u64) % size;
    }
    succeeds("LDC_RX_SET_QHEAD", end.ldc_rx_set_qhead(channel, head))?;
    Ok(count)
}

/// Registers B's map table (if not yet) and exports B's page `index` with
/// `permissions` (page-size code 0, word 1 zero), filling the page with a
/// pattern of `index`; gives the page's offset in B's memory.
pub(super) fn export<P: LdcPair>(
    pair: &mut P,
    fixture: &LdcFixture,
    index: u64,
    permissions: MtePermissions,
) -> Result<u64, ConformanceFailure> {
    let channel = fixture.channel(Side::B);
    let memory = fixture.memory(Side::B);
    let table = part(
        fixture,
        Side::B,
        TABLE,
        TABLE_ENTRIES * LDC_MTE_BYTES as u64,
    )?;
    let end = pair.end(Side::B);
    if succeeds("LDC_GET_MAP_TABLE", end.ldc_get_map_table(channel))?.1 == 0 {
        succeeds(
            "LDC_SET_MAP_TABLE",
            end.ldc_set_map_table(channel, &table, TABLE_ENTRIES),
        )?;
    }
    let page = PAGES + index * PAGE;
    let word0 = mte_word0(memory.ra() + page, permissions, 0);
    write_entry(end, &table, index, word0)?;
    let mut pattern = [0u8; PAGE_SIZE];
    for (offset, byte) in pattern.iter_mut().enumerate() {
        *byte = (offset as u64 * 3 + index).to_le_bytes()[0];
    }
    succeeds(
        "filling the exported page",
        end.local_write(&memory, page, &pattern),
    )?;
    Ok(page)
}

/// Writes map-table entry `index` of `table`: word 0, and word 1 zero.
pub(super) fn write_entry<M: LocalMemory>(
    memory: &mut M,
    table: &LocalRegion,
    index: u64,
    word0: u64,
) -> Result<(), ConformanceFailure> {
    let mut entry = [0u8; LDC_MTE_BYTES];
    entry[..8].copy_from_slice(&word0.to_be_bytes());
    succeeds(
        "writing a map-table entry",
        memory.local_write(table, index * LDC_MTE_BYTES as u64, &entry),
    )
}
