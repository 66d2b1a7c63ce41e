//! Fuzz target: the control socket's JSON: a request line as the daemon
//! reads it (bounded, UTF-8, then JSON), and an event line as a client
//! reads it.
#![no_main]

use ldmig_shim::control::{read_request, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_request(data, 1 << 20);
    let _ = serde_json::from_slice::<Event>(data);
});
