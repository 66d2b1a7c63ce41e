//! Fuzz target: the daemon's state file (`shim/src/persist`) as a
//! restarted daemon reads it, then the restart rules applied to it.
#![no_main]

use ldmig_shim::persist::restart::restart;
use ldmig_shim::persist::StateFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = serde_json::from_slice::<StateFile>(data) {
        let before = state.domains.len();
        let (after, _notes) = restart(state, "fuzz");
        assert!(after.domains.len() <= before, "a restart made up a domain");
    }
});
