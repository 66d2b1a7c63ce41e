//! The machine of the migration tests (the conformance suite's fixture and
//! the simulator's own call tests): 8 MiB of RAM in two 4 MiB ranges, 8
//! strands, 4 crypto units, and a running domain "ldg1" of 2 vCPUs and 2
//! crypto units with blocks of 1 MiB at [`RA`] and 256 KiB right after it,
//! so 2.75 MiB and 4 MiB stay free.

use super::{BlockSpec, DomainSpec, Machine, PhysRange};
use ldmig_hv::abi::mmu::PAGE_SIZE;
use ldmig_hv::hypervisor::DomainId;

/// A mebibyte.
pub(crate) const MIB: u64 = 1 << 20;
/// A page, as a `u64`.
pub(crate) const PAGE: u64 = PAGE_SIZE as u64;
/// Real address of the domain's first block (the guide's example RA).
pub(crate) const RA: u64 = 0x800_0000;
/// The domain's blocks: (RA, size).
pub(crate) const BLOCKS: [(u64, u64); 2] = [(RA, MIB), (RA + MIB, 32 * PAGE)];

/// A fresh machine and its domain "ldg1".
pub(crate) fn machine_with_domain() -> (Machine, DomainId) {
    let mut machine = Machine::new(
        "t5-a",
        vec![
            PhysRange {
                pa: 0x4000_0000,
                size: 4 * MIB,
            },
            PhysRange {
                pa: 0x8000_0000,
                size: 4 * MIB,
            },
        ],
        8,
        4,
    );
    let domain = machine
        .add_domain(DomainSpec {
            name: "ldg1".to_string(),
            vcpus: 2,
            blocks: BLOCKS
                .iter()
                .map(|&(ra, size)| BlockSpec { ra, size, pa: None })
                .collect(),
            crypto_units: 2,
            active: true,
        })
        .expect("the domain fits");
    (machine, domain)
}
