//! Tests of the simulated LDC: every call's success path and each error code
//! it returns, delivery between the two ends, and every fault hook.

use super::*;
use ldmig_hv::abi::ldc::{
    make_cookie, LDC_COPY_IN, LDC_COPY_OUT, LDC_MTE_COPY_R, LDC_MTE_COPY_W, LDC_MTE_READ,
    LDC_MTE_WRITE, LDC_PACKET_SIZE,
};
use ldmig_hv::hypervisor::LdcChannelState;

const TX: u64 = SIM_MEMORY_BASE;
const RX: u64 = SIM_MEMORY_BASE + 0x2000;
const TABLE: u64 = SIM_MEMORY_BASE + 0x4000;
const PAGES: u64 = SIM_MEMORY_BASE + 0x10000;
const A_CHANNEL: u64 = 3;
const B_CHANNEL: u64 = 7;

fn pair() -> (SimLdcEndpoint, SimLdcEndpoint) {
    LdcFabric::new()
        .create_pair(
            EndpointConfig::new(A_CHANNEL),
            EndpointConfig::new(B_CHANNEL),
        )
        .expect("valid pair")
}

fn configure(endpoint: &mut SimLdcEndpoint, entries: u64) {
    let channel = endpoint.channel();
    endpoint
        .ldc_tx_qconf(channel, TX, entries)
        .expect("TX configures");
    endpoint
        .ldc_rx_qconf(channel, RX, entries)
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
    let state = endpoint.ldc_tx_get_state(channel)?;
    let (_, entries) = endpoint.ldc_tx_qinfo(channel)?;
    let size = entries * 64;
    let mut tail = state.tail;
    for packet in packets {
        endpoint.local_write(TX + tail, packet)?;
        tail = (tail + 64) % size;
    }
    endpoint.ldc_tx_set_qtail(channel, tail)
}

/// Takes every packet waiting in the RX queue.
fn receive(endpoint: &mut SimLdcEndpoint) -> Vec<[u8; LDC_PACKET_SIZE]> {
    let channel = endpoint.channel();
    let state = endpoint.ldc_rx_get_state(channel).expect("RX state");
    let (_, entries) = endpoint.ldc_rx_qinfo(channel).expect("RX info");
    let mut head = state.head;
    let mut packets = Vec::new();
    while head != state.tail {
        let mut bytes = [0u8; LDC_PACKET_SIZE];
        endpoint
            .local_read(RX + head, &mut bytes)
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
fn queue_configuration_and_info() {
    let (mut a, _b) = pair();
    assert_eq!(a.ldc_tx_qinfo(A_CHANNEL), Ok((0, 0)));
    configure(&mut a, 32);
    assert_eq!(a.ldc_tx_qinfo(A_CHANNEL), Ok((TX, 32)));
    assert_eq!(a.ldc_rx_qinfo(A_CHANNEL), Ok((RX, 32)));
    assert_eq!(a.ldc_tx_qconf(A_CHANNEL, 0, 0), Ok(()));
    assert_eq!(a.ldc_rx_qconf(A_CHANNEL, 0, 0), Ok(()));
    assert_eq!(a.ldc_tx_qinfo(A_CHANNEL), Ok((0, 0)));
    assert_eq!(a.ldc_rx_qinfo(A_CHANNEL), Ok((0, 0)));
}

#[test]
fn queue_configuration_errors() {
    let (mut a, _b) = pair();
    for qconf in [SimLdcEndpoint::ldc_tx_qconf, SimLdcEndpoint::ldc_rx_qconf] {
        assert_eq!(qconf(&mut a, 99, TX, 8), Err(HvError::Channel));
        assert_eq!(qconf(&mut a, A_CHANNEL, TX, 3), Err(HvError::Invalid));
        assert_eq!(qconf(&mut a, A_CHANNEL, TX, 1), Err(HvError::Invalid));
        assert_eq!(
            qconf(&mut a, A_CHANNEL, TX, SIM_MAX_QUEUE_ENTRIES * 2),
            Err(HvError::Invalid)
        );
        // 32 entries = 2 KiB: the base must be 2 KiB aligned.
        assert_eq!(
            qconf(&mut a, A_CHANNEL, TX + 1024, 32),
            Err(HvError::BadAlignment)
        );
        assert_eq!(qconf(&mut a, A_CHANNEL, 0, 32), Err(HvError::NoRealAddress));
        let past_memory = SIM_MEMORY_BASE + SIM_MIN_MEMORY;
        assert_eq!(
            qconf(&mut a, A_CHANNEL, past_memory, 32),
            Err(HvError::NoRealAddress)
        );
    }
    assert_eq!(a.ldc_tx_qinfo(99), Err(HvError::Channel));
    assert_eq!(a.ldc_rx_qinfo(99), Err(HvError::Channel));
}

#[test]
fn transmit_reconfiguration_keeps_the_old_tail() {
    let (mut a, mut b) = pair();
    configure(&mut a, 8);
    configure(&mut b, 8);
    send(&mut a, &[packet(1), packet(2), packet(3)]).expect("sent");
    a.ldc_tx_qconf(A_CHANNEL, 0, 0).expect("unconfigure");
    a.ldc_tx_qconf(A_CHANNEL, TX, 8).expect("configure");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (192, 192));
    a.ldc_tx_qconf(A_CHANNEL, TX, 2).expect("smaller");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (64, 64));
}

#[test]
fn channel_state_down_up_and_reset_once() {
    let (mut a, mut b) = pair();
    assert_eq!(a.ldc_tx_get_state(A_CHANNEL), Err(HvError::Invalid));
    assert_eq!(a.ldc_rx_get_state(A_CHANNEL), Err(HvError::Invalid));
    configure(&mut a, 8);
    assert_eq!(a.ldc_tx_get_state(99), Err(HvError::Channel));
    assert_eq!(a.ldc_rx_get_state(99), Err(HvError::Channel));
    let state = |endpoint: &mut SimLdcEndpoint| {
        let channel = endpoint.channel();
        endpoint.ldc_rx_get_state(channel).expect("state").state
    };
    assert_eq!(state(&mut a), LdcChannelState::Down);
    // The peer's first receive queue is not a reset.
    configure(&mut b, 8);
    assert_eq!(state(&mut a), LdcChannelState::Up);
    // Reconfiguring it is, reported once, whichever state call reads it.
    b.ldc_rx_qconf(B_CHANNEL, RX, 8).expect("reconfigure");
    assert_eq!(
        a.ldc_tx_get_state(A_CHANNEL).expect("state").state,
        LdcChannelState::Reset
    );
    assert_eq!(state(&mut a), LdcChannelState::Up);
    b.ldc_rx_qconf(B_CHANNEL, 0, 0).expect("unconfigure");
    assert_eq!(state(&mut a), LdcChannelState::Down);
    b.ldc_rx_qconf(B_CHANNEL, RX, 8).expect("configure again");
    assert_eq!(state(&mut a), LdcChannelState::Reset);
    assert_eq!(state(&mut a), LdcChannelState::Up);
    // B never saw a reconfiguration of A's receive queue.
    assert_eq!(state(&mut b), LdcChannelState::Up);
}

#[test]
fn set_qtail_delivers_packets_into_the_peer_queue() {
    let (mut a, mut b) = pair();
    configure(&mut a, 8);
    configure(&mut b, 8);
    let sent = [packet(0x11), packet(0x22)];
    send(&mut a, &sent).expect("sent");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (128, 128));
    assert_eq!(receive(&mut b), sent.to_vec());
    assert_eq!(a.packets_delivered(), 2);
}

#[test]
fn set_qtail_errors() {
    let (mut a, mut b) = pair();
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 64), Err(HvError::Invalid));
    configure(&mut a, 8);
    configure(&mut b, 8);
    assert_eq!(a.ldc_tx_set_qtail(99, 64), Err(HvError::Channel));
    assert_eq!(
        a.ldc_tx_set_qtail(A_CHANNEL, 32),
        Err(HvError::BadAlignment)
    );
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 512), Err(HvError::Invalid));
    // Keep two packets pending (B's queue looks full), then try to take one back.
    b.set_rx_full(true);
    send(&mut a, &[packet(1), packet(2)]).expect("queued");
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 64), Err(HvError::Invalid));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 0), Err(HvError::Invalid));
    assert_eq!(a.ldc_tx_set_qtail(A_CHANNEL, 128), Ok(()));
    b.set_rx_full(false);
    assert_eq!(receive(&mut b), vec![packet(1), packet(2)]);
}

#[test]
fn delivery_is_partial_when_the_peer_queue_fills() {
    let (mut a, mut b) = pair();
    configure(&mut a, 8);
    b.ldc_tx_qconf(B_CHANNEL, TX, 8).expect("TX");
    b.ldc_rx_qconf(B_CHANNEL, RX, 4).expect("RX of 4: 3 usable");
    let sent: Vec<_> = (1..=5).map(packet).collect();
    send(&mut a, &sent).expect("accepted");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!(
        (state.head, state.tail),
        (192, 320),
        "3 delivered, 2 pending"
    );
    assert_eq!(receive(&mut b), sent[..3].to_vec());
    // B's SET_QHEAD made room: the rest moved.
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!(state.head, state.tail);
    assert_eq!(receive(&mut b), sent[3..].to_vec());
}

#[test]
fn packets_to_a_peer_without_receive_queue_are_dropped() {
    let (mut a, _b) = pair();
    configure(&mut a, 8);
    send(&mut a, &[packet(1)]).expect("accepted");
    let state = a.ldc_tx_get_state(A_CHANNEL).expect("state");
    assert_eq!(
        (state.head, state.tail, state.state),
        (64, 64, LdcChannelState::Down)
    );
    assert_eq!(a.packets_delivered(), 0);
}

#[test]
fn set_qhead_rules() {
    let (mut a, mut b) = pair();
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 0), Err(HvError::Invalid));
    configure(&mut a, 8);
    configure(&mut b, 8);
    send(&mut a, &[packet(1), packet(2)]).expect("sent");
    assert_eq!(b.ldc_rx_set_qhead(99, 64), Err(HvError::Channel));
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 8), Err(HvError::BadAlignment));
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 512), Err(HvError::Invalid));
    // Past the tail (128).
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 192), Err(HvError::Invalid));
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 64), Ok(()));
    // Backwards.
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 0), Err(HvError::Invalid));
    assert_eq!(b.ldc_rx_set_qhead(B_CHANNEL, 128), Ok(()));
    let state = b.ldc_rx_get_state(B_CHANNEL).expect("state");
    assert_eq!((state.head, state.tail), (128, 128));
}

#[test]
fn injected_would_block_is_transient() {
    let (mut a, mut b) = pair();
    configure(&mut a, 8);
    configure(&mut b, 8);
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
    let (mut a, mut b) = pair();
    configure(&mut a, 16);
    configure(&mut b, 16);
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
    let (mut a, mut b) = pair();
    configure(&mut a, 8);
    configure(&mut b, 8);
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
        .create_pair(
            EndpointConfig::new(A_CHANNEL),
            EndpointConfig::new(B_CHANNEL),
        )
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
    b.local_read(TX, &mut byte).expect("fresh memory");
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
}

#[test]
fn local_memory_rules() {
    let (mut a, _b) = pair();
    let mut buffer = [0u8; 16];
    assert_eq!(
        a.local_read(TX + 4, &mut buffer),
        Err(HvError::BadAlignment)
    );
    assert_eq!(a.local_write(TX + 4, &buffer), Err(HvError::BadAlignment));
    assert_eq!(a.local_read(0, &mut buffer), Err(HvError::NoRealAddress));
    let last = SIM_MEMORY_BASE + SIM_MIN_MEMORY - 8;
    assert_eq!(a.local_write(last, &buffer), Err(HvError::NoRealAddress));
    a.local_write(last, &buffer[..8]).expect("last 8 bytes");
    a.local_write(TX, &[1, 2, 3]).expect("any length");
    a.local_read(TX, &mut buffer[..3]).expect("read back");
    assert_eq!(&buffer[..3], &[1, 2, 3]);
}

// ---- map table, LDC_COPY, MAPIN/UNMAP/REVOKE ------------------------------

/// Registers B's map table and exports page `index` at `PAGES + index×8K`
/// with `permissions`; fills the page with a pattern.
fn export(b: &mut SimLdcEndpoint, index: u64, permissions: u64) -> u64 {
    if b.ldc_get_map_table(B_CHANNEL) == Ok((0, 0)) {
        b.ldc_set_map_table(B_CHANNEL, TABLE, 16).expect("table");
    }
    let page = PAGES + index * 8192;
    let mte = page | permissions; // page-size code 0 = 8 KiB
    b.local_write(TABLE + index * 16, &mte.to_be_bytes())
        .expect("MTE");
    b.local_write(TABLE + index * 16 + 8, &[0; 8])
        .expect("revoke word");
    let pattern: Vec<u8> = (0..8192u32)
        .map(|byte| (byte * 3 + index as u32) as u8)
        .collect();
    b.local_write(page, &pattern).expect("page");
    page
}

fn read(endpoint: &mut SimLdcEndpoint, ra: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; length];
    endpoint.local_read(ra, &mut bytes).expect("readable");
    bytes
}

#[test]
fn map_table_registration() {
    let (_a, mut b) = pair();
    assert_eq!(b.ldc_get_map_table(B_CHANNEL), Ok((0, 0)));
    assert_eq!(b.ldc_set_map_table(B_CHANNEL, TABLE, 8192), Ok(()));
    assert_eq!(b.ldc_get_map_table(B_CHANNEL), Ok((TABLE, 8192)));
    assert_eq!(b.ldc_set_map_table(B_CHANNEL, 0, 0), Ok(()));
    assert_eq!(b.ldc_get_map_table(B_CHANNEL), Ok((0, 0)));
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, TABLE, 3),
        Err(HvError::Invalid)
    );
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, TABLE, 1),
        Err(HvError::Invalid)
    );
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, TABLE, 1 << 30),
        Err(HvError::Invalid)
    );
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, TABLE + 32, 8),
        Err(HvError::BadAlignment)
    );
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, 0, 8),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(
        b.ldc_set_map_table(B_CHANNEL, TABLE, 1 << 20),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(b.ldc_set_map_table(99, TABLE, 8), Err(HvError::Channel));
    assert_eq!(b.ldc_get_map_table(99), Err(HvError::Channel));
}

#[test]
fn copy_in_and_out_with_permissions() {
    let (mut a, mut b) = pair();
    let page = export(&mut b, 2, LDC_MTE_COPY_R | LDC_MTE_COPY_W);
    let cookie = make_cookie(0, 2, 0);
    let local = SIM_MEMORY_BASE + 0x8_0000;
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_IN, cookie + 64, local, 256),
        Ok(256)
    );
    assert_eq!(read(&mut a, local, 256), read(&mut b, page + 64, 256));
    a.local_write(local, &[0x5a; 64]).expect("local");
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_OUT, cookie + 8, local, 64),
        Ok(64)
    );
    assert_eq!(read(&mut b, page + 8, 64), vec![0x5a; 64]);
    // A copy stops at the end of the remote page.
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_IN, cookie + 8192 - 16, local, 64),
        Ok(16)
    );
    // Missing permission: ENOMAP, per direction.
    export(&mut b, 3, LDC_MTE_COPY_R);
    export(&mut b, 4, LDC_MTE_COPY_W);
    let read_only = make_cookie(0, 3, 0);
    let write_only = make_cookie(0, 4, 0);
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_IN, read_only, local, 8),
        Ok(8)
    );
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_OUT, read_only, local, 8),
        Err(HvError::NoMap)
    );
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_IN, write_only, local, 8),
        Err(HvError::NoMap)
    );
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_OUT, write_only, local, 8),
        Ok(8)
    );
}

#[test]
fn copy_errors() {
    let (mut a, mut b) = pair();
    let local = SIM_MEMORY_BASE + 0x8_0000;
    let cookie = make_cookie(0, 1, 0);
    // No map table at the peer.
    assert_eq!(
        a.ldc_copy(A_CHANNEL, LDC_COPY_IN, cookie, local, 8),
        Err(HvError::NoMap)
    );
    export(&mut b, 1, LDC_MTE_COPY_R | LDC_MTE_COPY_W);
    let copy = |a: &mut SimLdcEndpoint, direction, cookie, ra, length| {
        a.ldc_copy(A_CHANNEL, direction, cookie, ra, length)
    };
    assert_eq!(copy(&mut a, 2, cookie, local, 8), Err(HvError::Invalid));
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, cookie, local, 0),
        Err(HvError::Invalid)
    );
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, cookie + 4, local, 8),
        Err(HvError::BadAlignment)
    );
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, cookie, local + 4, 8),
        Err(HvError::BadAlignment)
    );
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, cookie, local, 12),
        Err(HvError::BadAlignment)
    );
    // Index past the table; an empty entry.
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, make_cookie(0, 16, 0), local, 8),
        Err(HvError::NoMap)
    );
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, make_cookie(0, 9, 0), local, 8),
        Err(HvError::NoMap)
    );
    // Page-size code 8 does not exist; entry 0 (code 1 cookie) is empty.
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, 8 << 60, local, 8),
        Err(HvError::BadPageSize)
    );
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, make_cookie(1, 0, 0), local, 8),
        Err(HvError::NoMap)
    );
    let mismatched = PAGES | LDC_MTE_COPY_R | 1; // 64 KiB code in entry 5
    b.local_write(TABLE + 5 * 16, &mismatched.to_be_bytes())
        .expect("MTE");
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, make_cookie(0, 5, 0), local, 8),
        Err(HvError::BadPageSize)
    );
    // Local RA outside memory; exported page outside the exporter's memory.
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, cookie, 0x10, 8),
        Err(HvError::NoRealAddress)
    );
    let outside = (SIM_MEMORY_BASE + SIM_MAX_MEMORY) | LDC_MTE_COPY_R;
    b.local_write(TABLE + 6 * 16, &outside.to_be_bytes())
        .expect("MTE");
    assert_eq!(
        copy(&mut a, LDC_COPY_IN, make_cookie(0, 6, 0), local, 8),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(
        a.ldc_copy(99, LDC_COPY_IN, cookie, local, 8),
        Err(HvError::Channel)
    );
}

#[test]
fn mapin_unmap_and_revoke() {
    let (mut a, mut b) = pair();
    let page = export(&mut b, 1, LDC_MTE_READ | LDC_MTE_WRITE);
    let cookie = make_cookie(0, 1, 0);
    let (ra, permissions) = a.ldc_mapin(A_CHANNEL, cookie + 64).expect("mapped");
    assert_eq!(permissions, 1 | 2);
    assert!(ra >= SIM_MAPIN_BASE);
    assert_eq!(read(&mut a, ra, 64), read(&mut b, page + 64, 64));
    a.local_write(ra, &[7; 8]).expect("writable");
    assert_eq!(read(&mut b, page + 64, 8), vec![7; 8]);
    let revoke_cookie = u64::from_be_bytes(read(&mut b, TABLE + 16 + 8, 8).try_into().expect("8"));
    assert_ne!(revoke_cookie, 0, "the hypervisor wrote word 1");
    assert_eq!(a.mappings(), 1);
    // UNMAP clears the mapping and word 1.
    assert_eq!(a.ldc_unmap(ra), Ok(()));
    assert_eq!(a.local_read(ra, &mut [0u8; 8]), Err(HvError::NoRealAddress));
    assert_eq!(read(&mut b, TABLE + 16 + 8, 8), vec![0; 8]);
    assert_eq!(a.ldc_unmap(ra), Err(HvError::NoMap));
    // REVOKE by the exporter.
    let (ra, _) = a.ldc_mapin(A_CHANNEL, cookie).expect("mapped again");
    let revoke_cookie = u64::from_be_bytes(read(&mut b, TABLE + 16 + 8, 8).try_into().expect("8"));
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
    assert_eq!(a.local_read(ra, &mut [0u8; 8]), Err(HvError::NoRealAddress));
    assert_eq!(a.mappings(), 0);
    assert_eq!(
        a.ldc_revoke(A_CHANNEL, cookie, revoke_cookie),
        Err(HvError::NoMap)
    );
}

#[test]
fn mapin_permissions_and_errors() {
    let (mut a, mut b) = pair();
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0)),
        Err(HvError::NoMap)
    );
    export(&mut b, 1, LDC_MTE_READ);
    export(&mut b, 2, LDC_MTE_COPY_R);
    let (ra, permissions) = a
        .ldc_mapin(A_CHANNEL, make_cookie(0, 1, 0))
        .expect("mapped");
    assert_eq!(permissions, 1);
    assert_eq!(a.local_write(ra, &[0; 8]), Err(HvError::NoAccess));
    // Copy-only pages cannot be mapped in.
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 2, 0)),
        Err(HvError::NoMap)
    );
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 99, 0)),
        Err(HvError::NoMap)
    );
    assert_eq!(a.ldc_mapin(A_CHANNEL, 9 << 60), Err(HvError::BadPageSize));
    let outside = (SIM_MEMORY_BASE + SIM_MAX_MEMORY) | LDC_MTE_READ;
    b.local_write(TABLE + 3 * 16, &outside.to_be_bytes())
        .expect("MTE");
    assert_eq!(
        a.ldc_mapin(A_CHANNEL, make_cookie(0, 3, 0)),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(a.ldc_mapin(99, make_cookie(0, 1, 0)), Err(HvError::Channel));
    // Reading past the end of the mapped page.
    assert_eq!(
        a.local_read(ra + 8192 - 8, &mut [0u8; 16]),
        Err(HvError::NoRealAddress)
    );
    for _ in 1..SIM_MAX_MAPPINGS {
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
