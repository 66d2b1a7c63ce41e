//! Fuzz target: a host description (`hv/sim/src/description`), TOML text
//! from a file the administrator gives `ldmig serve`. Every description
//! that reads also builds its machine.
#![no_main]

use ldmig_sim::description::HostDescription;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(description) = HostDescription::from_toml_str(text) {
        description
            .build_machine()
            .expect("a description that reads binds its domains");
        for name in description.domain_names() {
            description
                .domain_requirements(name)
                .expect("every listed domain has requirements");
        }
        let _ = description.allowed_targets();
    }
});
