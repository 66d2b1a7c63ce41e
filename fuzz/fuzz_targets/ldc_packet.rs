//! Fuzz target: 64-byte LDC packets (`hv/src/ldc/packet`), as a peer
//! domain writes them into the receive queue.
#![no_main]

use ldmig_hv::abi::ldc::LDC_PACKET_SIZE;
use ldmig_hv::ldc::packet::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for chunk in data.chunks_exact(LDC_PACKET_SIZE) {
        let Some(bytes) = chunk.first_chunk::<LDC_PACKET_SIZE>() else {
            continue;
        };
        if let Ok(packet) = Packet::decode(bytes) {
            // What decodes encodes to a packet that decodes the same.
            let again = Packet::decode(&packet.encode()).expect("re-encoded packet decodes");
            assert_eq!(again, packet);
            let _ = packet.data();
        }
    }
});
