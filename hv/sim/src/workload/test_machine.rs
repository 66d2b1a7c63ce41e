//! The machine the workload's tests run on: one running domain of two
//! blocks (1.5 MiB + 512 KiB, 256 pages) and 2 vCPUs.

use crate::machine::{BlockSpec, DomainSpec, Machine, PhysRange};
use ldmig_hv::hypervisor::DomainId;

const MIB: u64 = 1 << 20;

/// A fresh machine and its domain.
pub(super) fn machine() -> (Machine, DomainId) {
    let mut machine = Machine::new(
        "t5-a",
        vec![PhysRange {
            pa: 0,
            size: 8 * MIB,
        }],
        4,
        0,
    );
    let domain = machine
        .add_domain(DomainSpec {
            name: "ldg1".to_string(),
            vcpus: 2,
            blocks: vec![
                BlockSpec {
                    ra: 0x800_0000,
                    size: 3 * MIB / 2,
                    pa: None,
                },
                BlockSpec {
                    ra: 0x4000_0000,
                    size: MIB / 2,
                    pa: None,
                },
            ],
            crypto_units: 0,
            active: true,
        })
        .expect("fits");
    (machine, domain)
}
