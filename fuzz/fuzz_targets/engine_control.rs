//! Fuzz target: the engine-shim control messages (`src/wire/control`,
//! what an LDC message carries) and the LDC ring descriptor
//! (`src/wire/descriptor`).
#![no_main]

use ldmig::wire::control;
use ldmig::wire::descriptor::{Descriptor, DESCRIPTOR_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, kind, body)) = control::decode_header(data) {
        assert!(body.len() <= data.len());
        let _ = kind;
    }
    let _ = control::decode(data);
    if let Some(bytes) = data.first_chunk::<DESCRIPTOR_BYTES>() {
        let _ = Descriptor::decode(bytes);
    }
});
