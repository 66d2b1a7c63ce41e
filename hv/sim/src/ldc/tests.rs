//! Tests of what only the simulated LDC has: its fault hooks, the fabric,
//! the old-tail choice of `LDC_TX_QCONF`, and `LDC_MAPIN`/`LDC_UNMAP`/
//! `LDC_REVOKE` with mapped-in pages (calls the engine does not use). The
//! contract of the calls the engine uses is the conformance suite's
//! (`ldmig_hv::conformance`, run by `conformance_tests`).

use super::*;
use ldmig_hv::abi::ldc::{make_cookie, mte_word0, MapPermissions, MtePermissions, LDC_PACKET_SIZE};
use ldmig_hv::hypervisor::LdcChannelState;

const TX: u64 = 0;
const RX: u64 = 0x2000;
const TABLE: u64 = 0x4000;
const PAGES: u64 = 0x10000;
const A_CHANNEL: u64 = 3;
const B_CHANNEL: u64 = 7;

fn pair() -> (SimLdcEndpoint, SimLdcEndpoint) {
    LdcFabric::new()
        .create_default_pair(A_CHANNEL, B_CHANNEL)
        .expect("valid pair")
}

/// A pair with both ends' queues configured, `entries` each.
fn configured_pair(entries: u64) -> (SimLdcEndpoint, SimLdcEndpoint) {
    let (mut a, mut b) = pair();
    configure(&mut a, entries);
    configure(&mut b, entries);
    (a, b)
}

/// The whole memory of an endpoint.
fn memory(endpoint: &SimLdcEndpoint) -> LocalRegion {
    endpoint
        .local_region(SIM_MEMORY_BASE, endpoint.memory_size())
        .expect("an endpoint owns its memory")
}

/// `length` bytes at `offset` of the endpoint's memory.
fn part(endpoint: &SimLdcEndpoint, offset: u64, length: u64) -> LocalRegion {
    memory(endpoint)
        .subregion(offset, length)
        .expect("inside the memory")
}

fn configure(endpoint: &mut SimLdcEndpoint, entries: u64) {
    let channel = endpoint.channel();
    let (tx, rx) = (
        part(endpoint, TX, entries * 64),
        part(endpoint, RX, entries * 64),
    );
    endpoint
        .ldc_tx_qconf(channel, &tx, entries)
        .expect("TX configures");
    endpoint
        .ldc_rx_qconf(channel, &rx, entries)
        .expect("RX configures");
}

fn packet(byte: u8) -> [u8; LDC_PACKET_SIZE] {
    let mut packet = [byte; LDC_PACKET_SIZE];
    packet[4..8].copy_from_slice(&u32::from(byte).to_be_bytes());
    packet
}

/// Writes packets at the TX tail and publishes them with one SET_QTAIL.
fn send(endpoint: &mut SimLdcEndpoint, packets: &[[u8; LDC_PACKET_SIZE]]) -> Result<(), HvError> {
    let channel = endpoint.channel();
    let memory = memory(endpoint);
    let state = endpoint.ldc_tx_get_state(channel)?;
    let (_, entries) = endpoint.ldc_tx_qinfo(channel)?;
    let size = entries * 64;
    let mut tail = state.tail;
    for packet in packets {
        endpoint.local_write(&memory, TX + tail, packet)?;
        tail = (tail + 64) % size;
    }
    endpoint.ldc_tx_set_qtail(channel, tail)
}

/// Takes every packet waiting in the RX queue.
fn receive(endpoint: &mut SimLdcEndpoint) -> Vec<[u8; LDC_PACKET_SIZE]> {
    let channel = endpoint.channel();
    let memory = memory(endpoint);
    let state = endpoint.ldc_rx_get_state(channel).expect("RX state");
    let (_, entries) = endpoint.ldc_rx_qinfo(channel).expect("RX info");
    let mut head = state.head;
    let mut packets = Vec::new();
    while head != state.tail {
        let mut bytes = [0u8; LDC_PACKET_SIZE];
        endpoint
            .local_read(&memory, RX + head, &mut bytes)
            .expect("RX memory");
        packets.push(bytes);
        head = (head + 64) % (entries * 64);
    }
    endpoint
        .ldc_rx_set_qhead(channel, state.tail)
        .expect("head moves");
    packets
}

#[test]
fn transmit_reconfiguration_keeps_the_old_tail() {
    let (mut a, _b) = configured_pair(8);
    send(&mut a, &[packet(1), packet(2), packet(3)]).expect("sent");
    let tx = part(&a, TX, 8 * 64);
    a.ldc_tx_qconf(A_CHANNEL, &tx, 0).expect("unconfigure");
    a.ldc_tx_qconf(A_CHANNEL, &tx, 8).expect("configure");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (192, 192));
    a.ldc_tx_qconf(A_CHANNEL, &tx, 2).expect("smaller");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (64, 64));
}

#[test]
fn a_full_peer_queue_keeps_packets_pending_and_the_tail_only_grows() {
    let (mut a, mut b) = configured_pair(8);
    // Keep two packets pending (B's queue looks full), then try to take one back.
    b.set_rx_full(true);
    send(&mut a, &[packet(1), packet(2)]).expect("queued");
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 64), Err(HvError::Invalid));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 0), Err(HvError::Invalid));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 128), Ok(()));
    assert_eq!(a.packets_delivered(), 0);
    b.set_rx_full(false);
    assert_eq!(receive(&mut b), vec![packet(1), packet(2)]);
    assert_eq!(a.packets_delivered(), 2);
}

#[test]
fn injected_would_block_is_transient() {
    let (mut a, mut b) = configured_pair(8);
    a.inject(LdcFault::WouldBlock { calls: 2 });
    assert_eq!(send(&mut a, &[packet(1)]), Err(HvError::WouldBlock));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 64), Err(HvError::WouldBlock));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 64), Ok(()));
    b.inject(LdcFault::WouldBlock { calls: 1 });
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 64), Err(HvError::WouldBlock));
    assert_eq!(receive(&mut b), vec![packet(1)]);
}

#[test]
fn faults_damage_reorder_and_reset() {
    let (mut a, mut b) = configured_pair(16);
    a.inject(LdcFault::Corrupt(PacketCorruption::Type));
    send(&mut a, &[packet(1), packet(2)]).expect("sent");
    let got = receive(&mut b);
    assert_eq!(got[0][0], 0xff);
    assert_eq!(&got[0][1..], &packet(1)[1..]);
    assert_eq!(got[1], packet(2), "only the next packet is damaged");
    for (corruption, check) in [
        (PacketCorruption::SequenceId, 4usize),
        (PacketCorruption::Envelope, 3),
        (PacketCorruption::Payload, 16),
    ] {
        a.inject(LdcFault::Corrupt(corruption));
        send(&mut a, &[packet(0x40)]).expect("sent");
        let got = receive(&mut b);
        assert_ne!(got[0][check], packet(0x40)[check], "{corruption:?}");
        let differing = (0..LDC_PACKET_SIZE)
            .filter(|&index| got[0][index] != packet(0x40)[index])
            .count();
        assert_eq!(differing, 1, "{corruption:?}");
    }
    a.inject(LdcFault::OutOfSequence);
    send(&mut a, &[packet(5)]).expect("sent alone: stays armed");
    assert_eq!(receive(&mut b), vec![packet(5)]);
    send(&mut a, &[packet(6), packet(7), packet(8)]).expect("sent");
    assert_eq!(receive(&mut b), vec![packet(7), packet(6), packet(8)]);
    // Reset after two packets: the third is dropped, both see RESET once.
    a.inject(LdcFault::ResetAfterPackets(2));
    send(&mut a, &[packet(9), packet(10), packet(11)]).expect("sent");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!(state.state, LdcChannelState::Reset);
    assert_eq!(state.head, state.tail);
    let b_state = b.ldc_rx_get_state(B_CHANNEL).expect("state");
    assert_eq!(b_state.state, LdcChannelState::Reset);
    assert_eq!(receive(&mut b), vec![packet(9), packet(10)]);
    assert_eq!(
        b.ldc_rx_get_state(B_CHANNEL).expect("state").state,
        LdcChannelState::Up
    );
}

#[test]
fn full_receive_queue_holds_delivery_and_reset_channel_reports_once() {
    let (mut a, mut b) = configured_pair(8);
    b.set_rx_full(true);
    send(&mut a, &[packet(1)]).expect("queued");
    assert!(receive(&mut b).is_empty());
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (0, 64));
    b.set_rx_full(false);
    assert_eq!(receive(&mut b), vec![packet(1)]);
    a.reset_channel();
    for (endpoint, channel) in [(&mut a, A_CHANNEL), (&mut b, B_CHANNEL)] {
        let first = endpoint.ldc_rx_get_state(channel).expect("state").state;
        let second = endpoint.ldc_rx_get_state(channel).expect("state").state;
        assert_eq!(
            (first, second),
            (LdcChannelState::Reset, LdcChannelState::Up)
        );
    }
}

#[test]
fn a_vanished_peer_is_down_and_can_come_back() {
    let fabric = LdcFabric::new();
    let (mut a, mut b) = fabric
        .create_default_pair(A_CHANNEL, B_CHANNEL)
        .expect("pair");
    configure(&mut a, 8);
    configure(&mut b, 8);
    let (pair, side) = (b.pair(), b.side());
    assert_eq!(
        fabric.attach(pair, side).err(),
        Some(FabricError::AlreadyAttached)
    );
    drop(b);
    assert!(!a.peer_attached());
    let state = a.ldc_rx_get_state(A_CHANNEL).expect("state");
    assert_eq!(state.state, LdcChannelState::Down);
    let mut b = fabric.attach(pair, side).expect("a new domain on side B");
    let mut byte = [0xffu8; 8];
    b.local_read(&memory(&b), TX, &mut byte)
        .expect("fresh memory");
    assert_eq!(byte, [0; 8]);
    configure(&mut b, 8);
    // Side B had a receive queue before: A sees the reset.
    let state = a.ldc_rx_get_state(A_CHANNEL).expect("state");
    assert_eq!(state.state, LdcChannelState::Reset);
    assert_eq!(
        fabric.attach(PairId(99), Side::A).err(),
        Some(FabricError::NoSuchPair)
    );
}

#[test]
fn fabric_checks_memory_sizes() {
    let fabric = LdcFabric::new();
    for bytes in [
        0,
        SIM_MIN_MEMORY - 8192,
        SIM_MAX_MEMORY + 8192,
        SIM_MIN_MEMORY + 1,
    ] {
        let config = EndpointConfig {
            channel: 1,
            memory_bytes: bytes,
        };
        assert_eq!(
            fabric.create_pair(config, EndpointConfig::new(2)).err(),
            Some(FabricError::MemorySize { bytes })
        );
    }
    let big = EndpointConfig {
        channel: 1,
        memory_bytes: SIM_MAX_MEMORY,
    };
    let (a, _b) = fabric
        .create_pair(big, EndpointConfig::new(2))
        .expect("16 MiB");
    assert_eq!(a.memory_size(), SIM_MAX_MEMORY);
    assert_eq!(a.memory_base(), SIM_MEMORY_BASE);
    assert!(a.owns_memory(SIM_MEMORY_BASE + SIM_MAX_MEMORY - 8, 8));
    assert!(!a.owns_memory(SIM_MEMORY_BASE + SIM_MAX_MEMORY - 8, 16));
    assert!(!a.owns_memory(SIM_MEMORY_BASE - 8, 8));
    let small = EndpointConfig {
        channel: 3,
        memory_bytes: SIM_MIN_MEMORY,
    };
    let (c, d) = fabric
        .create_pair(small, EndpointConfig::new(4))
        .expect("64 KiB");
    assert_eq!(c.memory_size(), 64 << 10);
    assert_eq!(d.memory_size(), SIM_DEFAULT_MEMORY);
    assert_eq!(SIM_DEFAULT_MEMORY, 1 << 20);
}

// ---- MAPIN/UNMAP/REVOKE and mapped-in pages --------------------------------

/// Registers B's map table and exports page `index` at `PAGES + index×8K`
/// with `permissions`; fills the page with a pattern.
fn export(b: &mut SimLdcEndpoint, index: u64, permissions: MtePermissions) -> u64 {
    let table = part(b, TABLE, 16 * 16);
    if b.ldc_get_map_table(B_CHANNEL) == Ok((0, 0)) {
        b.ldc_set_map_table(B_CHANNEL, &table, 16).expect("table");
    }
    let page = PAGES + index * 8192;
    let mte = mte_word0(SIM_MEMORY_BASE + page, permissions, 0);
    write_entry(b, index, mte);
    let pattern: Vec<u8> = (0..8192u64)
        .map(|byte| (byte * 3 + index).to_le_bytes()[0])
        .collect();
    b.local_write(&memory(b), page, &pattern).expect("page");
    page
}

fn write_entry(b: &mut SimLdcEndpoint, index: u64, word0: u64) {
    let table = part(b, TABLE, 16 * 16);
    b.local_write(&table, index * 16, &word0.to_be_bytes())
        .expect("MTE");
    b.local_write(&table, index * 16 + 8, &[0; 8])
        .expect("revoke word");
}

fn read(
    endpoint: &mut SimLdcEndpoint,
    region: &LocalRegion,
    offset: u64,
    length: usize,
) -> Vec<u8> {
    let mut bytes = vec![0u8; length];
    endpoint
        .local_read(region, offset, &mut bytes)
        .expect("readable");
    bytes
}

/// Word 1 of B's map-table entry `index`.
fn revoke_word(b: &mut SimLdcEndpoint, index: u64) -> u64 {
    let table = part(b, TABLE, 16 * 16);
    let bytes = read(b, &table, index * 16 + 8, 8);
    u64::from_be_bytes(bytes.try_into().expect("8 bytes"))
}

#[test]
fn mapin_unmap_and_revoke() {
    let (mut a, mut b) = pair();
    let page = export(&mut b, 1, MtePermissions::READ | MtePermissions::WRITE);
    let cookie = make_cookie(0, 1, 0);
    let (ra, permissions) = a.ldc_mapin(A_CHANNEL, cookie + 64).expect("mapped");
    assert_eq!(permissions, MapPermissions::READ | MapPermissions::WRITE);
    assert!(ra >= SIM_MAPIN_BASE);
    let mapped = a.local_region(ra, 64).expect("a mapped-in page is owned");
    let b_memory = memory(&b);
    assert_eq!(
        read(&mut a, &mapped, 0, 64),
        read(&mut b, &b_memory, page + 64, 64)
    );
    a.local_write(&mapped, 0, &[7; 8]).expect("writable");
    assert_eq!(read(&mut b, &b_memory, page + 64, 8), vec![7; 8]);
    assert_ne!(revoke_word(&mut b, 1), 0, "the hypervisor wrote word 1");
    assert_eq!(a.mappings(), 1);
    // UNMAP clears the mapping and word 1.
    assert_eq!(a.ldc_unmap(ra), Ok(()));
    assert_eq!(
        a.local_read(&mapped, 0, &mut [0u8; 8]),
        Err(HvError::NoRealAddress)
    );
    assert!(!a.owns_memory(ra, 8));
    assert_eq!(revoke_word(&mut b, 1), 0);
    assert_eq!(a.ldc_unmap(ra), Err(HvError::NoMap));
    // REVOKE by the exporter.
    let (ra, _) = a.ldc_mapin(A_CHANNEL, cookie).expect("mapped again");
    let mapped = a.local_region(ra, 8).expect("mapped");
    let revoke_cookie = revoke_word(&mut b, 1);
    assert_eq!(
        b.ldc_revoke(B_CHANNEL, cookie, revoke_cookie + 1),
        Err(HvError::Invalid)
    );
    assert_eq!(
        b.ldc_revoke(B_CHANNEL, make_cookie(0, 99, 0), revoke_cookie),
        Err(HvError::NoMap)
    );
    assert_eq!(
        b.ldc_revoke(B_CHANNEL, 8 << 60, revoke_cookie),
        Err(HvError::BadPageSize)
    );
    assert_eq!(
        b.ldc_revoke(99, cookie, revoke_cookie),
        Err(HvError::Channel)
    );
    assert_eq!(b.ldc_revoke(B_CHANNEL, cookie, revoke_cookie), Ok(()));
    assert_eq!(
        a.local_read(&mapped, 0, &mut [0u8; 8]),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(a.mappings(), 0);
    assert_eq!(
        a.ldc_revoke(A_CHANNEL, cookie, revoke_cookie),
        Err(HvError::NoMap)
    );
}

#[test]
fn mapin_without_a_mappable_permission_is_enoaccess() {
    let (mut a, mut b) = pair();
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0)),
        Err(HvError::NoMap),
        "no map table at the peer"
    );
    export(&mut b, 1, MtePermissions::READ);
    export(&mut b, 2, MtePermissions::COPY_R | MtePermissions::COPY_W);
    export(&mut b, 4, MtePermissions::IOMMU_R);
    // Copy-only pages and empty entries cannot be mapped in (OpenSPARC:
    // no LDC_MAPIN_MASK permission is ENOACCESS).
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 2, 0)),
        Err(HvError::NoAccess)
    );
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 9, 0)),
        Err(HvError::NoAccess)
    );
    // I/O permissions are mappable, and RET2 carries every permission bit.
    let (_, permissions) = a
        .ldc_mapin(A_CHANNEL, make_cookie(0, 4, 0))
        .expect("IOMMU_R is mappable");
    assert_eq!(permissions, MapPermissions::IO_READ);
    let (ra, permissions) = a
        .ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0))
        .expect("mapped");
    assert_eq!(permissions, MapPermissions::READ);
    let mapped = a.local_region(ra, 8192).expect("mapped");
    assert_eq!(a.local_write(&mapped, 0, &[0; 8]), Err(HvError::NoAccess));
    // Reading past the end of the mapped page.
    let across = a
        .local_region(ra + 8192 - 8, 8)
        .expect("the page's last word");
    assert_eq!(
        a.local_read(&across, 0, &mut [0u8; 16]),
        Err(HvError::NoRealAddress)
    );
}

#[test]
fn mapin_checks_in_opensparc_order() {
    let (mut a, mut b) = pair();
    export(&mut b, 1, MtePermissions::READ);
    // Entry 3: no permission and a 64 KiB code; entry 5: readable, 64 KiB
    // code, page RA not 64 KiB aligned; entry 6: readable page nowhere.
    write_entry(
        &mut b,
        3,
        mte_word0(SIM_MEMORY_BASE, MtePermissions::empty(), 1),
    );
    write_entry(
        &mut b,
        5,
        mte_word0(SIM_MEMORY_BASE + 8192, MtePermissions::READ, 1),
    );
    write_entry(
        &mut b,
        6,
        mte_word0(SIM_MEMORY_BASE + SIM_MAX_MEMORY, MtePermissions::READ, 0),
    );
    assert_eq!(a.ldc_mapin(99, make_cookie(0, 1, 0)), Err(HvError::Channel));
    assert_eq!(a.ldc_mapin(A_CHANNEL, 9 << 60), Err(HvError::BadPageSize));
    // (page-size code, table index) of the cookie, and why it is refused.
    let refusals = [
        (0, 99, HvError::NoMap, "an index past the table"),
        (1, 3, HvError::NoAccess, "permission before page size"),
        (0, 5, HvError::BadPageSize, "page size not the cookie's"),
        (1, 5, HvError::BadAlignment, "page not aligned to its size"),
        (0, 6, HvError::NoRealAddress, "a page nowhere"),
    ];
    for (code, index, status, why) in refusals {
        let cookie = make_cookie(code, index, 0);
        assert_eq!(a.ldc_mapin(A_CHANNEL, cookie), Err(status), "{why}");
    }
    for _ in 0..SIM_MAX_MAPPINGS {
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0)).expect("room");
    }
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0)),
        Err(HvError::TooMany)
    );
    // The exporter going away takes its pages with it.
    drop(b);
    assert_eq!(a.mappings(), 0);
}
