//! Fuzz target: an LDC link (`hv/src/ldc`: packet decode, handshake,
//! sequence ids and acks, START/STOP reassembly) receiving whatever a peer
//! domain writes into its queue. The peer here is raw queue calls on a
//! simulated endpoint: it walks the link to connected first (unless the
//! first byte says not to, to fuzz the handshake too), then writes the
//! input as 64-byte packets, a batch at a time, while the link is polled
//! and its messages taken. Every message taken fits the link's limit.
#![no_main]

use ldmig_hv::abi::ldc::{Subtype, LDC_MODE_STREAM, LDC_PACKET_SIZE};
use ldmig_hv::hypervisor::{Ldc, LocalMemory, LocalRegion};
use ldmig_hv::ldc::handshake::Version;
use ldmig_hv::ldc::packet::{ControlMessage, Packet};
use ldmig_hv::ldc::{LdcLink, LinkConfig, LinkRole, QueueConfig, MAX_MESSAGE_SIZE};
use ldmig_sim::ldc::{EndpointConfig, LdcFabric, SimLdcEndpoint, SIM_MEMORY_BASE, SIM_MIN_MEMORY};
use libfuzzer_sys::fuzz_target;

const TX_RA: u64 = SIM_MEMORY_BASE;
const RX_RA: u64 = SIM_MEMORY_BASE + 0x4000;
const LINK_CHANNEL: u64 = 4;
const PEER_CHANNEL: u64 = 9;
const ENTRIES: u64 = 64;
/// Packets written between two polls of the link.
const BATCH: usize = 16;

struct Peer {
    endpoint: SimLdcEndpoint,
    tx: LocalRegion,
    rx: LocalRegion,
}

impl Peer {
    fn send(&mut self, bytes: [u8; LDC_PACKET_SIZE]) {
        let Ok(state) = self.endpoint.ldc_tx_get_state(PEER_CHANNEL) else {
            return;
        };
        let tail = (state.tail + 64) % (ENTRIES * 64);
        if tail == state.head {
            return; // queue full: the packet is dropped, as a full queue does
        }
        if self.endpoint.local_write(&self.tx, state.tail, &bytes).is_ok() {
            let _ = self.endpoint.ldc_tx_set_qtail(PEER_CHANNEL, tail);
        }
    }

    /// Consumes whatever the link sent.
    fn drain(&mut self) {
        if let Ok(state) = self.endpoint.ldc_rx_get_state(PEER_CHANNEL) {
            let _ = self.endpoint.ldc_rx_set_qhead(PEER_CHANNEL, state.tail);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, packets)) = data.split_first() else {
        return;
    };
    let fabric = LdcFabric::new();
    // The smallest memory holds both queues and costs the least per input.
    let endpoint = |channel| EndpointConfig {
        channel,
        memory_bytes: SIM_MIN_MEMORY,
    };
    let Ok((a, b)) = fabric.create_pair(endpoint(LINK_CHANNEL), endpoint(PEER_CHANNEL)) else {
        return;
    };
    let region = |ra| b.local_region(ra, ENTRIES * 64).expect("peer queues");
    let (tx, rx) = (region(TX_RA), region(RX_RA));
    let mut peer = Peer { endpoint: b, tx, rx };
    peer.endpoint
        .ldc_tx_qconf(PEER_CHANNEL, &peer.tx, ENTRIES)
        .expect("peer TX");
    peer.endpoint
        .ldc_rx_qconf(PEER_CHANNEL, &peer.rx, ENTRIES)
        .expect("peer RX");
    let config = LinkConfig::new(
        LINK_CHANNEL,
        QueueConfig {
            ra: TX_RA,
            entries: 128,
        },
        QueueConfig {
            ra: RX_RA,
            entries: 128,
        },
        LinkRole::Initiator,
    );
    let Ok(mut link) = LdcLink::open(a, config) else {
        return;
    };
    if flags & 1 == 0 {
        // Walk the link to connected: ACK its VERS, answer its RTS with RTR.
        let _ = link.poll();
        peer.drain();
        peer.send(Packet::version_message(Subtype::ACK, Version::new(1, 0)).encode());
        let _ = link.poll();
        peer.drain();
        peer.send(
            Packet::control(
                Subtype::INFO,
                ControlMessage::ReadyToReceive,
                LDC_MODE_STREAM,
                0,
                0,
            )
            .encode(),
        );
        let _ = link.poll();
        peer.drain();
    }
    let mut buffer = [0u8; MAX_MESSAGE_SIZE];
    for batch in packets.chunks(BATCH * LDC_PACKET_SIZE) {
        for chunk in batch.chunks_exact(LDC_PACKET_SIZE) {
            if let Some(bytes) = chunk.first_chunk::<LDC_PACKET_SIZE>() {
                peer.send(*bytes);
            }
        }
        for _ in 0..4 {
            let _ = link.poll();
            while let Ok(Some(length)) = link.receive(&mut buffer) {
                assert!(length <= MAX_MESSAGE_SIZE);
            }
            peer.drain();
        }
    }
});
