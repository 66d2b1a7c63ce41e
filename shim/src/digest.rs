//! A digest of a domain's memory and vCPU state, so that two machines can
//! prove they hold the same domain without shipping its memory.

use ldmig_hv::hypervisor::DomainId;
use ldmig_sim::machine::Machine;
use zerocopy::IntoBytes;

/// FNV-1a over the CRC32 of every 8 KiB page in real-address order, then
/// over every vCPU state: 64 bits, cheap (CRC32 runs at memory speed).
pub fn domain_digest(machine: &Machine, domain: DomainId) -> (u64, u64) {
    let mut memory = Fnv::new();
    let mut page = vec![0u8; ldmig::page::PAGE_SIZE];
    for (block, _) in machine.memory_blocks(domain) {
        memory.update(&block.ra.to_be_bytes());
        for index in 0..block.pages() {
            let ra = block.ra + index * ldmig::page::PAGE_SIZE as u64;
            // The block exists, so every page of it reads.
            if machine.guest_read(domain, ra, &mut page).is_ok() {
                memory.update(&crc32fast::hash(&page).to_be_bytes());
            }
        }
    }
    let mut vcpus = Fnv::new();
    for state in machine.vcpu_states(domain) {
        vcpus.update(&crc32fast::hash(state.as_bytes()).to_be_bytes());
    }
    (memory.value, vcpus.value)
}

struct Fnv {
    value: u64,
}

impl Fnv {
    fn new() -> Self {
        Fnv {
            value: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.value ^= u64::from(byte);
            self.value = self.value.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_its_reference_value() {
        let mut fnv = Fnv::new();
        fnv.update(b"a");
        assert_eq!(fnv.value, 0xaf63_dc4c_8601_ec8c);
    }
}
