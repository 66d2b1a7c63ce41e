//! The simulated T-series machine: physical memory, strands, crypto units and
//! the domains bound to them.
//!
//! A [`Machine`] owns all of its physical memory as free ranges. A domain is
//! a set of vCPUs (each one strand, with its whole [`VcpuState`]) and memory
//! blocks, each block a real-address range backed by one contiguous physical
//! range. The migration hypervisor calls (the [`ldmig_hv::hypervisor`] traits)
//! are implemented in `calls`; their exact semantics and error codes are
//! the MIGRATION section of `hv/API.md`.
//!
//! Besides the calls, the machine has set-up and inspection methods the
//! harness uses (add a domain from a [`DomainSpec`], read its memory image,
//! let the guest itself write its memory with [`Machine::guest_write`]).
//! Nothing here reads a clock or a random source.

mod block;
mod calls;
mod pages;

pub use pages::reserve_resident_memory;
mod physical;
mod reconfigure;
#[cfg(test)]
pub(crate) mod test_machine;
mod traps;

pub use super::error::SimError;
pub use physical::PhysRange;
pub use traps::MachineTraps;

use block::BoundBlock;
use ldmig_hv::abi::cpu::{CPU_STATE_RUNNING, CPU_STATE_STOPPED};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::abi::mmu::PAGE_SIZE;
use ldmig_hv::hypervisor::{DomainId, DomainRunState, MemoryBlock};
use ldmig_hv::resources::DomainRequirements;
use ldmig_hv::HvError;
use physical::FreePhysical;
use std::collections::BTreeMap;
use zerocopy::byteorder::big_endian::U64;

/// One memory block of a [`DomainSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    /// Real address (8 KiB aligned).
    pub ra: u64,
    /// Size in bytes (a non-zero multiple of 8 KiB).
    pub size: u64,
    /// Physical address to bind at; `None` takes the first free range that fits.
    pub pa: Option<u64>,
}

/// A domain to add to a machine with [`Machine::add_domain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainSpec {
    /// Name, unique on the machine (like an LDom name).
    pub name: String,
    /// Number of vCPUs (one strand each).
    pub vcpus: u64,
    /// Memory blocks, bound in this order (block index = position).
    pub blocks: Vec<BlockSpec>,
    /// Crypto units assigned to the domain.
    pub crypto_units: u64,
    /// `true`: the domain runs; `false`: bound but its vCPUs are suspended.
    pub active: bool,
}

impl DomainSpec {
    /// How `bind-domain` binds a domain that needs `requirements`: its
    /// vCPUs and `crypto_units` crypto units, each memory block at its real
    /// address in the first free range that fits; bound, not running.
    pub fn first_fit(requirements: &DomainRequirements, crypto_units: u64) -> Self {
        DomainSpec {
            name: requirements.name.to_string(),
            vcpus: requirements.vcpus,
            blocks: requirements
                .memory_blocks
                .iter()
                .map(|block| BlockSpec {
                    ra: block.real_address,
                    size: block.size,
                    pa: None,
                })
                .collect(),
            crypto_units,
            active: false,
        }
    }
}

/// A domain bound on the machine.
#[derive(Clone, Debug)]
struct Domain {
    name: String,
    vcpus: Vec<VcpuState>,
    blocks: Vec<BoundBlock>,
    crypto_units: u64,
    suspended: bool,
    run_state: DomainRunState,
    throttle_percent: u8,
}

impl Domain {
    /// The block holding all of `[ra, ra + length)` and the offset inside
    /// it; `ENORADDR` if no one block holds it.
    fn block_of(&self, ra: u64, length: u64) -> Result<(usize, u64), HvError> {
        self.blocks
            .iter()
            .enumerate()
            .find_map(|(index, block)| Some((index, block.offset_of(ra, length)?)))
            .ok_or(HvError::NoRealAddress)
    }

    /// The block at `index`, `EINVAL` past the last one.
    fn block_mut(&mut self, index: u64) -> Result<&mut BoundBlock, HvError> {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.blocks.get_mut(index))
            .ok_or(HvError::Invalid)
    }
}

/// A simulated T-series machine.
#[derive(Clone, Debug)]
pub struct Machine {
    name: String,
    free_physical: FreePhysical,
    strands: u64,
    free_strands: u64,
    crypto_units: u64,
    free_crypto_units: u64,
    domains: BTreeMap<DomainId, Domain>,
    next_domain_id: DomainId,
    calls: u64,
}

impl Machine {
    /// A machine named `name` whose RAM is `physical` (all free; each range
    /// shrunk inwards to 8 KiB boundaries, overlapping ranges merged), with
    /// `strands` hardware strands and `crypto_units` crypto units, all free.
    pub fn new(
        name: impl Into<String>,
        physical: Vec<PhysRange>,
        strands: u64,
        crypto_units: u64,
    ) -> Self {
        Machine {
            name: name.into(),
            free_physical: FreePhysical::new(physical),
            strands,
            free_strands: strands,
            crypto_units,
            free_crypto_units: crypto_units,
            domains: BTreeMap::new(),
            next_domain_id: 1,
            calls: 0,
        }
    }

    /// The machine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a domain: takes its strands and crypto units, binds every block
    /// to a contiguous free physical range (at `pa` when given, else first
    /// fit) in the spec's order. An inactive domain is bound with its vCPUs
    /// suspended. On failure nothing is left allocated.
    pub fn add_domain(&mut self, spec: DomainSpec) -> Result<DomainId, SimError> {
        if self.domain_id(&spec.name).is_some() {
            return Err(SimError::NameTaken { name: spec.name });
        }
        if spec.crypto_units > self.free_crypto_units {
            return Err(SimError::NotEnoughCryptoUnits {
                wanted: spec.crypto_units,
                free: self.free_crypto_units,
            });
        }
        let domain = self.create(spec.name, spec.vcpus, spec.active)?;
        for block in &spec.blocks {
            if let Err(error) = self.bind(domain, block.ra, block.size, block.pa) {
                self.destroy(domain);
                self.next_domain_id = domain;
                return Err(error);
            }
        }
        self.free_crypto_units -= spec.crypto_units;
        if let Some(entry) = self.domains.get_mut(&domain) {
            entry.crypto_units = spec.crypto_units;
        }
        Ok(domain)
    }

    /// The id of the domain named `name`.
    pub fn domain_id(&self, name: &str) -> Option<DomainId> {
        self.domains
            .iter()
            .find(|(_, domain)| domain.name == name)
            .map(|(&id, _)| id)
    }

    /// The name of a domain.
    pub fn domain_name(&self, domain: DomainId) -> Option<&str> {
        self.domains.get(&domain).map(|entry| entry.name.as_str())
    }

    /// Renames a domain (e.g. the migrated domain on the target takes the
    /// source's name). Renaming a domain to its own name succeeds.
    pub fn set_domain_name(&mut self, domain: DomainId, name: &str) -> Result<(), SimError> {
        match self.domain_id(name) {
            Some(owner) if owner != domain => {
                return Err(SimError::NameTaken {
                    name: name.to_string(),
                })
            }
            _ => {}
        }
        let entry = self
            .domains
            .get_mut(&domain)
            .ok_or(SimError::UnknownDomain { domain })?;
        entry.name = name.to_string();
        Ok(())
    }

    /// Every domain's id, in increasing order.
    pub fn domains(&self) -> Vec<DomainId> {
        self.domains.keys().copied().collect()
    }

    /// A domain's memory blocks in index order, each with its physical
    /// address; empty for an unknown domain.
    pub fn memory_blocks(&self, domain: DomainId) -> Vec<(MemoryBlock, u64)> {
        self.map_blocks(domain, |block| (block.block, block.pa))
    }

    /// The free physical ranges, sorted by address and coalesced.
    pub fn free_ranges(&self) -> Vec<PhysRange> {
        self.free_physical.ranges().to_vec()
    }

    /// Total free physical memory in bytes.
    pub fn free_memory(&self) -> u64 {
        self.free_physical
            .ranges()
            .iter()
            .map(|range| range.size)
            .sum()
    }

    /// Strands not assigned to any domain.
    pub fn free_strands(&self) -> u64 {
        self.free_strands
    }

    /// All strands of the machine.
    pub fn strands(&self) -> u64 {
        self.strands
    }

    /// Crypto units not assigned to any domain.
    pub fn free_crypto_units(&self) -> u64 {
        self.free_crypto_units
    }

    /// All crypto units of the machine.
    pub fn crypto_units(&self) -> u64 {
        self.crypto_units
    }

    /// Crypto units assigned to a domain (0 for an unknown domain).
    pub fn domain_crypto_units(&self, domain: DomainId) -> u64 {
        self.domains
            .get(&domain)
            .map_or(0, |entry| entry.crypto_units)
    }

    /// Whether the domain exists and its vCPUs are not suspended.
    pub fn is_running(&self, domain: DomainId) -> bool {
        self.domains
            .get(&domain)
            .is_some_and(|entry| !entry.suspended)
    }

    /// The domain's run state (`None` for an unknown domain).
    pub fn run_state(&self, domain: DomainId) -> Option<DomainRunState> {
        self.domains.get(&domain).map(|entry| entry.run_state)
    }

    /// Whether dirty logging is on for a block (false if either is unknown).
    pub fn is_dirty_logging(&self, domain: DomainId, block: u64) -> bool {
        self.domains
            .get(&domain)
            .and_then(|entry| entry.blocks.get(usize::try_from(block).ok()?))
            .is_some_and(BoundBlock::is_logging)
    }

    /// A store by the guest's own vCPUs (the workload): any length and
    /// alignment, inside one memory block. Marks every touched page dirty in
    /// the block if its logging is on. `EINVAL` for an unknown domain,
    /// `EWOULDBLOCK` while the domain is suspended, `ENORADDR` if the range
    /// is not inside one block.
    pub fn guest_write(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        let entry = self.domains.get_mut(&domain).ok_or(HvError::Invalid)?;
        if entry.suspended {
            return Err(HvError::WouldBlock);
        }
        let length = data.len() as u64;
        let (index, offset) = entry.block_of(ra, length)?;
        let block = &mut entry.blocks[index];
        block.write(offset, data);
        block.mark_dirty(offset, length);
        Ok(())
    }

    /// A load by the guest (or an inspection by a test): any length and
    /// alignment, inside one memory block, in any run state. `EINVAL` for an
    /// unknown domain, `ENORADDR` if the range is not inside one block.
    pub fn guest_read(&self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        let entry = self.domains.get(&domain).ok_or(HvError::Invalid)?;
        let (index, offset) = entry.block_of(ra, buffer.len() as u64)?;
        entry.blocks[index].read(offset, buffer);
        Ok(())
    }

    /// Loads memory the way a boot loader would: any length and alignment,
    /// inside one block, in any run state, without marking pages dirty and
    /// without counting as a hypervisor call. `EINVAL` for an unknown
    /// domain, `ENORADDR` if the range is not inside one block.
    pub fn load_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        let entry = self.domains.get_mut(&domain).ok_or(HvError::Invalid)?;
        let (index, offset) = entry.block_of(ra, data.len() as u64)?;
        entry.blocks[index].write(offset, data);
        Ok(())
    }

    /// A copy of every memory block as (RA, bytes), in block order; empty for
    /// an unknown domain. Allocates the whole memory: meant for equality checks.
    pub fn memory_image(&self, domain: DomainId) -> Vec<(u64, Vec<u8>)> {
        self.map_blocks(domain, |block| (block.block.ra, block.image()))
    }

    /// `view` of each of the domain's blocks, in block order; empty for an
    /// unknown domain.
    fn map_blocks<T>(&self, domain: DomainId, view: impl Fn(&BoundBlock) -> T) -> Vec<T> {
        self.domains
            .get(&domain)
            .map(|entry| entry.blocks.iter().map(view).collect())
            .unwrap_or_default()
    }

    /// A 64-bit digest of the domain's memory (block RAs and sizes, every
    /// page's bytes): equal memories give equal digests, and a difference
    /// anywhere changes it with overwhelming probability. Much cheaper than
    /// [`Machine::memory_image`] for large domains (no copy). Comparable
    /// between machines of one process; `None` for an unknown domain.
    pub fn memory_digest(&self, domain: DomainId) -> Option<u64> {
        let entry = self.domains.get(&domain)?;
        let zero_page = page_digest(&[0u8; PAGE_SIZE]);
        let mut digest = mix(entry.blocks.len() as u64);
        for block in &entry.blocks {
            digest = mix(digest ^ mix(block.block.ra) ^ block.block.size);
            block.for_each_page(|ra, bytes| {
                let page = bytes.map_or(zero_page, page_digest);
                digest = digest.wrapping_add(mix(mix(ra) ^ page));
            });
        }
        Some(digest)
    }

    /// Every vCPU's state, by vCPU id; empty for an unknown domain.
    pub fn vcpu_states(&self, domain: DomainId) -> Vec<VcpuState> {
        self.domains
            .get(&domain)
            .map(|entry| entry.vcpus.clone())
            .unwrap_or_default()
    }

    /// One vCPU's state, for the guest (the workload) to change its
    /// registers, in any run state.
    pub fn vcpu_state_mut(&mut self, domain: DomainId, vcpu: u64) -> Option<&mut VcpuState> {
        let entry = self.domains.get_mut(&domain)?;
        entry.vcpus.get_mut(usize::try_from(vcpu).ok()?)
    }

    /// The domain's throttle in percent (0 for an unknown domain).
    pub fn throttle_percent(&self, domain: DomainId) -> u8 {
        self.domains
            .get(&domain)
            .map_or(0, |entry| entry.throttle_percent)
    }

    /// Number of hypervisor calls (trait methods) the machine has served.
    pub fn call_count(&self) -> u64 {
        self.calls
    }

    /// Creates a domain with `vcpus` vCPUs (one strand each), no memory, no
    /// crypto units, run state normal; suspended unless `running`.
    fn create(&mut self, name: String, vcpus: u64, running: bool) -> Result<DomainId, SimError> {
        if vcpus == 0 {
            return Err(SimError::NoVcpus);
        }
        if vcpus > self.free_strands {
            return Err(SimError::NotEnoughStrands {
                wanted: vcpus,
                free: self.free_strands,
            });
        }
        let cpu_state = if running {
            CPU_STATE_RUNNING
        } else {
            CPU_STATE_STOPPED
        };
        let states = (0..vcpus)
            .map(|id| {
                let mut state = VcpuState::zeroed();
                state.vcpu_id = U64::new(id);
                state.cpu_state = U64::new(cpu_state);
                state
            })
            .collect();
        let id = self.next_domain_id;
        self.next_domain_id += 1;
        self.free_strands -= vcpus;
        self.domains.insert(
            id,
            Domain {
                name,
                vcpus: states,
                blocks: Vec::new(),
                crypto_units: 0,
                suspended: !running,
                run_state: DomainRunState::Normal,
                throttle_percent: 0,
            },
        );
        Ok(id)
    }

    /// A name no domain has: `domain-<id>`, or with a suffix if taken.
    fn unused_name(&self, id: DomainId) -> String {
        let base = format!("domain-{id}");
        let mut name = base.clone();
        let mut suffix = 1;
        while self.domain_id(&name).is_some() {
            name = format!("{base}-{suffix}");
            suffix += 1;
        }
        name
    }

    /// Binds `[ra, ra + size)` of `domain` to a free physical range (at `pa`
    /// if given, else first fit); returns the physical address.
    fn bind(
        &mut self,
        domain: DomainId,
        ra: u64,
        size: u64,
        pa: Option<u64>,
    ) -> Result<u64, SimError> {
        let page = PAGE_SIZE as u64;
        let entry = self
            .domains
            .get(&domain)
            .ok_or(SimError::UnknownDomain { domain })?;
        if size == 0 {
            return Err(SimError::EmptyBlock { ra });
        }
        if !ra.is_multiple_of(page) || !size.is_multiple_of(page) {
            return Err(SimError::MisalignedBlock { ra, size });
        }
        if ra.checked_add(size).is_none() || entry.blocks.iter().any(|b| b.overlaps(ra, size)) {
            return Err(SimError::OverlappingBlock { ra, size });
        }
        let pa = match pa {
            Some(pa) => {
                if !pa.is_multiple_of(page) || !self.free_physical.allocate_at(pa, size) {
                    return Err(SimError::PhysicalRangeNotFree { pa, size });
                }
                pa
            }
            None => self
                .free_physical
                .allocate_first_fit(size)
                .ok_or(SimError::NoContiguousRange { ra, size })?,
        };
        if let Some(entry) = self.domains.get_mut(&domain) {
            entry
                .blocks
                .push(BoundBlock::new(MemoryBlock { ra, size }, pa));
        }
        Ok(pa)
    }

    /// Removes a domain and frees its memory, strands and crypto units;
    /// `false` if it did not exist.
    fn destroy(&mut self, domain: DomainId) -> bool {
        let Some(entry) = self.domains.remove(&domain) else {
            return false;
        };
        for block in &entry.blocks {
            self.free_physical.release(block.pa, block.block.size);
        }
        self.free_strands += entry.vcpus.len() as u64;
        self.free_crypto_units += entry.crypto_units;
        true
    }
}

/// The SplitMix64 finalizer: a bijective 64-bit mix.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A digest of one page's bytes.
fn page_digest(bytes: &[u8]) -> u64 {
    let mut digest = 0u64;
    for word in bytes.chunks_exact(8) {
        let mut value = [0u8; 8];
        value.copy_from_slice(word);
        digest = (digest.rotate_left(23) ^ u64::from_le_bytes(value))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    mix(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const PAGE: u64 = PAGE_SIZE as u64;

    fn machine() -> Machine {
        Machine::new(
            "t5-a",
            vec![PhysRange {
                pa: 0x1_0000_0000,
                size: 16 * MIB,
            }],
            8,
            4,
        )
    }

    fn spec(name: &str, blocks: Vec<BlockSpec>) -> DomainSpec {
        DomainSpec {
            name: name.to_string(),
            vcpus: 2,
            blocks,
            crypto_units: 1,
            active: true,
        }
    }

    fn block(ra: u64, size: u64) -> BlockSpec {
        BlockSpec { ra, size, pa: None }
    }

    #[test]
    fn add_domain_binds_blocks_first_fit_and_takes_resources() {
        let mut machine = machine();
        assert_eq!(machine.name(), "t5-a");
        let id = machine
            .add_domain(spec(
                "ldg1",
                vec![block(0x800_0000, 2 * MIB), block(0x4000_0000, MIB)],
            ))
            .expect("fits");
        assert_eq!(machine.domain_id("ldg1"), Some(id));
        assert_eq!(machine.domain_name(id), Some("ldg1"));
        assert_eq!(machine.domains(), vec![id]);
        assert_eq!(
            machine.memory_blocks(id),
            vec![
                (
                    MemoryBlock {
                        ra: 0x800_0000,
                        size: 2 * MIB
                    },
                    0x1_0000_0000
                ),
                (
                    MemoryBlock {
                        ra: 0x4000_0000,
                        size: MIB
                    },
                    0x1_0020_0000
                ),
            ]
        );
        assert_eq!(
            machine.free_ranges(),
            vec![PhysRange {
                pa: 0x1_0030_0000,
                size: 13 * MIB
            }]
        );
        assert_eq!(machine.free_memory(), 13 * MIB);
        assert_eq!((machine.free_strands(), machine.strands()), (6, 8));
        assert_eq!(
            (machine.free_crypto_units(), machine.crypto_units()),
            (3, 4)
        );
        assert_eq!(machine.domain_crypto_units(id), 1);
        assert!(machine.is_running(id));
        assert_eq!(machine.run_state(id), Some(DomainRunState::Normal));
        let states = machine.vcpu_states(id);
        assert_eq!(states.len(), 2);
        assert_eq!(states[1].vcpu_id.get(), 1);
        assert_eq!(states[1].cpu_state.get(), CPU_STATE_RUNNING);
    }

    #[test]
    fn add_domain_at_a_given_pa_and_inactive_is_suspended() {
        let mut machine = machine();
        let mut inactive = spec(
            "ldg2",
            vec![BlockSpec {
                ra: 0,
                size: MIB,
                pa: Some(0x1_0040_0000),
            }],
        );
        inactive.active = false;
        let id = machine.add_domain(inactive).expect("range is free");
        assert_eq!(machine.memory_blocks(id)[0].1, 0x1_0040_0000);
        assert!(!machine.is_running(id));
        assert_eq!(
            machine.vcpu_states(id)[0].cpu_state.get(),
            CPU_STATE_STOPPED
        );
        assert_eq!(machine.free_ranges().len(), 2);
    }

    #[test]
    fn add_domain_errors_leave_nothing_allocated() {
        let mut machine = machine();
        machine
            .add_domain(spec("ldg1", vec![block(0, MIB)]))
            .expect("fits");
        let free = machine.free_ranges();
        let cases = [
            (spec("ldg1", vec![]), "taken"),
            (
                DomainSpec {
                    vcpus: 0,
                    ..spec("a", vec![])
                },
                "no vcpus",
            ),
            (
                DomainSpec {
                    vcpus: 7,
                    ..spec("b", vec![])
                },
                "strands",
            ),
            (
                DomainSpec {
                    crypto_units: 4,
                    ..spec("c", vec![])
                },
                "crypto",
            ),
            (spec("d", vec![block(0, MIB), block(MIB, 0)]), "empty"),
            (spec("e", vec![block(0, MIB), block(4, PAGE)]), "misaligned"),
            (
                spec("f", vec![block(0, MIB), block(MIB - PAGE, PAGE * 2)]),
                "overlap",
            ),
            (
                spec("g", vec![block(0, MIB), block(MIB, 16 * MIB)]),
                "no range",
            ),
            (
                spec(
                    "h",
                    vec![BlockSpec {
                        ra: 0,
                        size: MIB,
                        pa: Some(0x1_0000_0000),
                    }],
                ),
                "pa taken",
            ),
        ];
        let mut errors = Vec::new();
        for (spec, why) in cases {
            let error = machine.add_domain(spec).expect_err(why);
            errors.push(error);
            assert_eq!(machine.free_ranges(), free, "{why}");
            assert_eq!(machine.free_strands(), 6, "{why}");
            assert_eq!(machine.free_crypto_units(), 3, "{why}");
            assert_eq!(machine.domains().len(), 1, "{why}");
        }
        assert_eq!(
            errors,
            vec![
                SimError::NameTaken {
                    name: "ldg1".to_string()
                },
                SimError::NoVcpus,
                SimError::NotEnoughStrands { wanted: 7, free: 6 },
                SimError::NotEnoughCryptoUnits { wanted: 4, free: 3 },
                SimError::EmptyBlock { ra: MIB },
                SimError::MisalignedBlock { ra: 4, size: PAGE },
                SimError::OverlappingBlock {
                    ra: MIB - PAGE,
                    size: 2 * PAGE
                },
                SimError::NoContiguousRange {
                    ra: MIB,
                    size: 16 * MIB
                },
                SimError::PhysicalRangeNotFree {
                    pa: 0x1_0000_0000,
                    size: MIB
                },
            ]
        );
        let next = machine
            .add_domain(spec("ldg2", vec![block(0, MIB)]))
            .expect("fits");
        assert_eq!(next, 2, "failed adds do not use up domain ids");
    }

    #[test]
    fn set_domain_name_renames_and_refuses_a_taken_name() {
        let mut machine = machine();
        let first = machine.add_domain(spec("a", vec![])).expect("fits");
        let second = machine.add_domain(spec("b", vec![])).expect("fits");
        assert_eq!(
            machine.set_domain_name(second, "a"),
            Err(SimError::NameTaken {
                name: "a".to_string()
            })
        );
        assert_eq!(machine.set_domain_name(first, "a"), Ok(()));
        assert_eq!(machine.set_domain_name(second, "c"), Ok(()));
        assert_eq!(machine.domain_id("c"), Some(second));
        assert_eq!(machine.domain_id("b"), None);
        assert_eq!(
            machine.set_domain_name(99, "z"),
            Err(SimError::UnknownDomain { domain: 99 })
        );
    }

    #[test]
    fn guest_write_marks_dirty_and_is_refused_while_suspended() {
        let mut machine = machine();
        let id = machine
            .add_domain(spec("ldg1", vec![block(0, MIB), block(MIB, MIB)]))
            .expect("fits");
        machine
            .guest_write(id, PAGE - 3, b"sparc!")
            .expect("inside block 0");
        let mut back = [0u8; 6];
        machine.guest_read(id, PAGE - 3, &mut back).expect("inside");
        assert_eq!(&back, b"sparc!");
        assert!(!machine.is_dirty_logging(id, 0));
        assert_eq!(
            machine.guest_write(id, MIB - 2, b"span"),
            Err(HvError::NoRealAddress)
        );
        assert_eq!(
            machine.guest_write(id, 2 * MIB, b"x"),
            Err(HvError::NoRealAddress)
        );
        assert_eq!(machine.guest_write(42, 0, b"x"), Err(HvError::Invalid));
        assert_eq!(machine.guest_read(42, 0, &mut back), Err(HvError::Invalid));
        assert_eq!(
            machine.guest_read(id, 2 * MIB, &mut back),
            Err(HvError::NoRealAddress)
        );
        machine.domains.get_mut(&id).expect("exists").suspended = true;
        assert_eq!(machine.guest_write(id, 0, b"x"), Err(HvError::WouldBlock));
        machine.load_memory(id, 0, b"loader").expect("any state");
        machine.guest_read(id, 0, &mut back).expect("inside");
        assert_eq!(&back, b"loader");
        assert_eq!(
            machine.load_memory(id, 2 * MIB, b"x"),
            Err(HvError::NoRealAddress)
        );
        assert_eq!(machine.load_memory(7, 0, b"x"), Err(HvError::Invalid));
        assert_eq!(machine.call_count(), 0, "set-up methods are not calls");
    }

    #[test]
    fn memory_image_holds_every_block_in_order() {
        let mut machine = machine();
        let id = machine
            .add_domain(spec("ldg1", vec![block(MIB, PAGE), block(0, 2 * PAGE)]))
            .expect("fits");
        machine.guest_write(id, MIB + 8, &[7; 8]).expect("inside");
        machine.guest_write(id, PAGE, &[9; 8]).expect("inside");
        let image = machine.memory_image(id);
        assert_eq!(image.len(), 2);
        assert_eq!(image[0].0, MIB);
        assert_eq!(image[0].1.len(), PAGE_SIZE);
        assert_eq!(&image[0].1[8..16], &[7; 8]);
        assert_eq!(image[1].0, 0);
        assert_eq!(&image[1].1[PAGE_SIZE..PAGE_SIZE + 8], &[9; 8]);
        assert!(machine.memory_image(99).is_empty());
    }

    #[test]
    fn memory_digest_tracks_contents_not_storage() {
        let mut first = machine();
        let mut second = machine();
        let blocks = vec![block(0, MIB), block(4 * MIB, 2 * PAGE)];
        let a = first.add_domain(spec("a", blocks.clone())).expect("fits");
        second
            .add_domain(spec("pad", vec![block(0, MIB)]))
            .expect("fits");
        let b = second.add_domain(spec("b", blocks)).expect("fits");
        assert_eq!(
            first.memory_digest(a),
            second.memory_digest(b),
            "PAs may differ"
        );
        // A page written with zeros after holding data equals a page never written.
        first.guest_write(a, 4 * MIB, &[1; 8]).expect("inside");
        let dirty = first.memory_digest(a);
        assert_ne!(dirty, second.memory_digest(b));
        first.guest_write(a, 4 * MIB, &[0; 8]).expect("inside");
        assert_eq!(first.memory_digest(a), second.memory_digest(b));
        // The same bytes at another page differ.
        first.guest_write(a, 8, &[1; 8]).expect("inside");
        second.guest_write(b, PAGE + 8, &[1; 8]).expect("inside");
        assert_ne!(first.memory_digest(a), second.memory_digest(b));
        assert_eq!(first.memory_digest(99), None);
    }

    #[test]
    fn vcpu_state_mut_changes_what_vcpu_states_returns() {
        let mut machine = machine();
        let id = machine.add_domain(spec("ldg1", vec![])).expect("fits");
        machine.vcpu_state_mut(id, 1).expect("vcpu 1 exists").pc = U64::new(0x1000);
        assert_eq!(machine.vcpu_states(id)[1].pc.get(), 0x1000);
        assert!(machine.vcpu_state_mut(id, 2).is_none());
        assert!(machine.vcpu_state_mut(9, 0).is_none());
        assert_eq!(machine.throttle_percent(9), 0);
    }
}
