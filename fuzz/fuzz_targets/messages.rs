//! Fuzz target: the source-target protocol messages (`src/wire/messages`):
//! the first byte picks the message, the rest is its payload.
#![no_main]

use ldmig::wire::messages::{
    Commit, CommitAck, Hello, HelloAck, RoundAck, RoundEnd, Stop, Suspended,
};
use ldmig::wire::WireStruct;
use ldmig_hv::abi::migration::VcpuState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    match which % 9 {
        0 => {
            if let Ok((hello, blocks)) = Hello::decode_with_blocks(payload) {
                assert_eq!(blocks.len() as u64, u64::from(hello.block_count.get()));
                let _ = hello.name.as_str();
            }
        }
        1 => {
            if let Ok(ack) = HelloAck::decode(payload) {
                let _ = ack.stop_reason();
            }
        }
        2 => drop(RoundEnd::decode(payload)),
        3 => drop(RoundAck::decode(payload)),
        4 => drop(Suspended::decode(payload)),
        5 => drop(Commit::decode(payload)),
        6 => drop(CommitAck::decode(payload)),
        7 => {
            if let Ok(stop) = Stop::decode(payload) {
                let _ = stop.stop_reason();
            }
        }
        _ => drop(VcpuState::decode(payload)),
    }
});
