//! Fuzz target: what one shim says to the other inside the secure
//! channel (`shim/src/peer`): a tag, then JSON control messages (host
//! resources, domain requirements, checks) or an engine frame.
#![no_main]

use ldmig_shim::peer::{decode, encode_message, PeerRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(PeerRecord::Message(message)) = decode(data.to_vec()) {
        // What decodes encodes to what decodes again.
        assert!(decode(encode_message(&message)).is_some());
    }
});
