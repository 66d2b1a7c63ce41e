//! What the control domain's `ldm` does to a bound domain of the simulated
//! machine, besides migrating it: start and stop it, add and remove vCPUs,
//! memory and crypto units.
//!
//! These are set-up methods, like [`Machine::add_domain`]: they are not
//! hypervisor calls of the migration API (they do not count in
//! [`Machine::call_count`]) and they return [`SimError`]. A domain keeps at
//! least one vCPU and one page of memory; resources come from and go back
//! to the machine's free strands, memory and crypto units.

use super::{Machine, SimError};
use ldmig_hv::abi::cpu::{CPU_STATE_RUNNING, CPU_STATE_STOPPED};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::abi::mmu::PAGE_SIZE;
use ldmig_hv::hypervisor::{DomainId, DomainRunState, MemoryBlock};
use zerocopy::byteorder::big_endian::U64;

impl Machine {
    /// Starts a bound domain's vCPUs (`ldm start-domain`): it runs, in the
    /// normal run state, every vCPU `CPU_STATE_RUNNING`.
    pub fn start_domain(&mut self, domain: DomainId) -> Result<(), SimError> {
        let entry = self.entry(domain)?;
        entry.suspended = false;
        entry.run_state = DomainRunState::Normal;
        for vcpu in &mut entry.vcpus {
            vcpu.cpu_state = U64::new(CPU_STATE_RUNNING);
        }
        Ok(())
    }

    /// Stops a domain's vCPUs (`ldm stop-domain`): it stays bound, every
    /// vCPU `CPU_STATE_STOPPED`, and the guest writes nothing.
    pub fn stop_domain(&mut self, domain: DomainId) -> Result<(), SimError> {
        let entry = self.entry(domain)?;
        entry.suspended = true;
        for vcpu in &mut entry.vcpus {
            vcpu.cpu_state = U64::new(CPU_STATE_STOPPED);
        }
        Ok(())
    }

    /// Adds `count` vCPUs (one free strand each), in the state of the
    /// domain's others (`ldm add-vcpu`).
    pub fn add_vcpus(&mut self, domain: DomainId, count: u64) -> Result<(), SimError> {
        if count > self.free_strands {
            return Err(SimError::NotEnoughStrands {
                wanted: count,
                free: self.free_strands,
            });
        }
        let entry = self.entry(domain)?;
        let cpu_state = if entry.suspended {
            CPU_STATE_STOPPED
        } else {
            CPU_STATE_RUNNING
        };
        let first = entry.vcpus.len() as u64;
        for id in first..first + count {
            let mut state = VcpuState::zeroed();
            state.vcpu_id = U64::new(id);
            state.cpu_state = U64::new(cpu_state);
            entry.vcpus.push(state);
        }
        self.free_strands -= count;
        Ok(())
    }

    /// Removes the last `count` vCPUs (`ldm remove-vcpu`); the domain keeps
    /// at least one.
    pub fn remove_vcpus(&mut self, domain: DomainId, count: u64) -> Result<(), SimError> {
        let entry = self.entry(domain)?;
        let held = entry.vcpus.len() as u64;
        if count >= held {
            return Err(SimError::NotHeld {
                what: "vCPUs",
                wanted: count,
                held,
            });
        }
        // Fewer than `held`, which is a vector length: it fits a usize.
        let keep = entry.vcpus.len() - usize::try_from(count).unwrap_or(0);
        entry.vcpus.truncate(keep);
        self.free_strands += count;
        Ok(())
    }

    /// Adds `size` bytes of memory as a new block (`ldm add-memory`): its
    /// real address follows the domain's highest block, its physical range
    /// is the first free one that holds it. Returns the block and its PA.
    pub fn add_memory(
        &mut self,
        domain: DomainId,
        size: u64,
    ) -> Result<(MemoryBlock, u64), SimError> {
        let entry = self.entry(domain)?;
        let ra = entry
            .blocks
            .iter()
            .map(|block| block.block.ra + block.block.size)
            .max()
            .unwrap_or(0);
        let pa = self.bind(domain, ra, size, None)?;
        Ok((MemoryBlock { ra, size }, pa))
    }

    /// Removes `size` bytes of memory from the domain's last blocks (`ldm
    /// remove-memory`): whole blocks while they fit in what is left to
    /// remove, then the top of the next one. The domain keeps at least one
    /// page; `size` is a multiple of 8 KiB.
    pub fn remove_memory(&mut self, domain: DomainId, size: u64) -> Result<(), SimError> {
        let page = PAGE_SIZE as u64;
        let entry = self.entry(domain)?;
        let held: u64 = entry.blocks.iter().map(|block| block.block.size).sum();
        if size >= held {
            return Err(SimError::NotHeld {
                what: "bytes of memory",
                wanted: size,
                held,
            });
        }
        if !size.is_multiple_of(page) {
            return Err(SimError::MisalignedBlock { ra: 0, size });
        }
        let mut left = size;
        let mut freed = Vec::new();
        while left > 0 {
            let Some(last) = entry.blocks.last_mut() else {
                break;
            };
            if last.block.size <= left {
                left -= last.block.size;
                freed.push((last.pa, last.block.size));
                entry.blocks.pop();
            } else {
                let keep = last.block.size - left;
                freed.push((last.pa + keep, left));
                last.shrink_to(keep);
                left = 0;
            }
        }
        for (pa, bytes) in freed {
            self.free_physical.release(pa, bytes);
        }
        Ok(())
    }

    /// Gives the domain `count` crypto units (`ldm set-crypto`): more come
    /// from the machine's free ones, fewer go back to them.
    pub fn set_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<(), SimError> {
        let free = self.free_crypto_units;
        let entry = self.entry(domain)?;
        let held = entry.crypto_units;
        if count > held && count - held > free {
            return Err(SimError::NotEnoughCryptoUnits {
                wanted: count - held,
                free,
            });
        }
        entry.crypto_units = count;
        self.free_crypto_units = free + held - count;
        Ok(())
    }

    /// The domain, or `UnknownDomain`.
    fn entry(&mut self, domain: DomainId) -> Result<&mut super::Domain, SimError> {
        self.domains
            .get_mut(&domain)
            .ok_or(SimError::UnknownDomain { domain })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BlockSpec, DomainSpec, PhysRange};
    use super::*;

    const MIB: u64 = 1 << 20;

    fn machine_with(blocks: &[u64]) -> (Machine, DomainId) {
        let mut machine = Machine::new(
            "t5-a",
            vec![PhysRange {
                pa: 0x1_0000_0000,
                size: 64 * MIB,
            }],
            8,
            4,
        );
        let mut ra = 0x800_0000;
        let blocks = blocks
            .iter()
            .map(|&size| {
                let block = BlockSpec { ra, size, pa: None };
                ra += size;
                block
            })
            .collect();
        let id = machine
            .add_domain(DomainSpec {
                name: "ldg1".into(),
                vcpus: 2,
                blocks,
                crypto_units: 1,
                active: true,
            })
            .expect("fits");
        (machine, id)
    }

    #[test]
    fn stop_and_start_change_whether_the_guest_runs() {
        let (mut machine, id) = machine_with(&[MIB]);
        machine.stop_domain(id).expect("known");
        assert!(!machine.is_running(id));
        assert!(machine.guest_write(id, 0x800_0000, b"x").is_err());
        assert!(machine
            .vcpu_states(id)
            .iter()
            .all(|state| state.cpu_state.get() == CPU_STATE_STOPPED));
        machine.start_domain(id).expect("known");
        assert!(machine.is_running(id));
        machine.guest_write(id, 0x800_0000, b"x").expect("runs");
        assert_eq!(
            machine.stop_domain(99),
            Err(SimError::UnknownDomain { domain: 99 })
        );
        assert_eq!(machine.call_count(), 0, "set-up methods are not calls");
    }

    #[test]
    fn vcpus_come_from_and_go_back_to_the_free_strands() {
        let (mut machine, id) = machine_with(&[MIB]);
        assert_eq!(machine.free_strands(), 6);
        machine.add_vcpus(id, 3).expect("free strands");
        assert_eq!(machine.vcpu_states(id).len(), 5);
        assert_eq!(machine.vcpu_states(id)[4].vcpu_id.get(), 4);
        assert_eq!(machine.free_strands(), 3);
        assert_eq!(
            machine.add_vcpus(id, 4),
            Err(SimError::NotEnoughStrands { wanted: 4, free: 3 })
        );
        machine.remove_vcpus(id, 4).expect("keeps one");
        assert_eq!(machine.vcpu_states(id).len(), 1);
        assert_eq!(machine.free_strands(), 7);
        assert!(matches!(
            machine.remove_vcpus(id, 1),
            Err(SimError::NotHeld { held: 1, .. })
        ));
    }

    #[test]
    fn memory_grows_by_a_block_and_shrinks_from_the_top() {
        let (mut machine, id) = machine_with(&[2 * MIB, MIB]);
        let free = machine.free_memory();
        let (block, pa) = machine.add_memory(id, 4 * MIB).expect("free memory");
        assert_eq!(block.ra, 0x800_0000 + 3 * MIB);
        assert_eq!(machine.memory_blocks(id).len(), 3);
        assert_eq!(machine.memory_blocks(id)[2].1, pa);
        assert_eq!(machine.free_memory(), free - 4 * MIB);
        machine
            .guest_write(id, 0x800_0000 + MIB, b"kept")
            .expect("inside block 0");
        // The new block and the 1M one go whole; the 2M one loses 512K.
        machine
            .remove_memory(id, 4 * MIB + MIB + MIB / 2)
            .expect("held");
        let blocks = machine.memory_blocks(id);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].0.size, MIB + MIB / 2);
        assert_eq!(machine.free_memory(), free + 3 * MIB - MIB - MIB / 2);
        let mut back = [0u8; 4];
        machine
            .guest_read(id, 0x800_0000 + MIB, &mut back)
            .expect("still inside");
        assert_eq!(&back, b"kept");
        assert!(matches!(
            machine.remove_memory(id, MIB + MIB / 2),
            Err(SimError::NotHeld { .. })
        ));
        assert!(machine.add_memory(id, 1 << 40).is_err());
    }

    #[test]
    fn crypto_units_come_from_and_go_back_to_the_machine() {
        let (mut machine, id) = machine_with(&[MIB]);
        assert_eq!(machine.free_crypto_units(), 3);
        machine.set_crypto_units(id, 4).expect("three free");
        assert_eq!(machine.domain_crypto_units(id), 4);
        assert_eq!(machine.free_crypto_units(), 0);
        assert_eq!(
            machine.set_crypto_units(id, 5),
            Err(SimError::NotEnoughCryptoUnits { wanted: 1, free: 0 })
        );
        machine.set_crypto_units(id, 0).expect("fewer");
        assert_eq!(machine.free_crypto_units(), 4);
    }
}
