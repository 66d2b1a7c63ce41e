//! A domain's resources: `add-`, `remove-` and `set-memory`, `-vcpu` and
//! `-crypto`, and `set-domain cpu-arch=`.
//!
//! A bound or active domain changes on the machine (an active one
//! dynamically: its guest goes on with what it has now); an inactive one
//! changes only in its configuration, used when it is bound.

use super::super::daemon::{Domain, State};
use ldmig_hv::resources::{BlockRequirement, CpuArchClass, DomainState, MemorySize};

/// Bytes in the sun4v base page: memory changes are multiples.
const PAGE_BYTES: u64 = ldmig_hv::abi::mmu::PAGE_SIZE as u64;

/// How an operation changes a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `add-*`: this much more.
    Add(u64),
    /// `remove-*`: this much less.
    Remove(u64),
    /// `set-*`: this much in all.
    Set(u64),
}

impl Change {
    /// The new value from `current`; `None` when it would go below zero
    /// or past 64 bits.
    fn apply(self, current: u64) -> Option<u64> {
        match self {
            Change::Add(amount) => current.checked_add(amount),
            Change::Remove(amount) => current.checked_sub(amount),
            Change::Set(value) => Some(value),
        }
    }

    fn amount(self) -> u64 {
        match self {
            Change::Add(amount) | Change::Remove(amount) | Change::Set(amount) => amount,
        }
    }
}

/// `add-memory`, `remove-memory`, `set-memory`.
pub(super) fn change_memory(
    state: &State,
    domain: &mut Domain,
    change: Change,
) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    if change.amount() == 0 || !change.amount().is_multiple_of(PAGE_BYTES) {
        return Err(format!(
            "{} is not a memory size: use a non-zero multiple of 8K (e.g. 256M, 1G)",
            MemorySize(change.amount())
        ));
    }
    let current = domain.requirements.memory_bytes();
    let wanted = change
        .apply(current)
        .filter(|&wanted| wanted > 0)
        .ok_or_else(|| {
            format!(
                "Domain {name} has {} of memory: it cannot have {} less",
                MemorySize(current),
                MemorySize(change.amount())
            )
        })?;
    if wanted > current && domain.requirements.memory_blocks.is_full() {
        return Err(format!(
            "Domain {name} has {} memory blocks, the most a domain can have",
            domain.requirements.memory_blocks.len()
        ));
    }
    match domain.id {
        Some(id) if domain.requirements.state != DomainState::Inactive => {
            let mut machine = state.machine.lock();
            let result = if wanted > current {
                machine.add_memory(id, wanted - current).map(|_| ())
            } else if wanted < current {
                machine.remove_memory(id, current - wanted)
            } else {
                Ok(())
            };
            result.map_err(|error| format!("Changing the memory of {name} failed: {error}"))?;
            domain.requirements.memory_blocks.clear();
            for (block, _) in machine.memory_blocks(id) {
                // Cannot fail: the machine holds at most one block more
                // than the domain had, and it was not full.
                let _ = domain.requirements.memory_blocks.push(BlockRequirement {
                    real_address: block.ra,
                    size: block.size,
                });
            }
        }
        _ => reshape_configuration(&mut domain.requirements.memory_blocks, current, wanted),
    }
    Ok(format!(
        "Domain {name} has {} of memory",
        MemorySize(domain.requirements.memory_bytes())
    ))
}

/// The memory of an inactive domain's configuration: a new block after the
/// highest one to grow, the last blocks cut to shrink (as the machine does).
fn reshape_configuration<const N: usize>(
    blocks: &mut heapless::Vec<BlockRequirement, N>,
    current: u64,
    wanted: u64,
) {
    if wanted > current {
        let real_address = blocks
            .iter()
            .map(|block| block.real_address + block.size)
            .max()
            .unwrap_or(0);
        // Cannot fail: the caller checked that the list is not full.
        let _ = blocks.push(BlockRequirement {
            real_address,
            size: wanted - current,
        });
        return;
    }
    let mut left = current - wanted;
    while left > 0 {
        let Some(last) = blocks.last_mut() else {
            break;
        };
        if last.size <= left {
            left -= last.size;
            blocks.pop();
        } else {
            last.size -= left;
            left = 0;
        }
    }
}

/// `add-vcpu`, `remove-vcpu`, `set-vcpu`.
pub(super) fn change_vcpus(
    state: &State,
    domain: &mut Domain,
    change: Change,
) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let current = domain.requirements.vcpus;
    let wanted = change
        .apply(current)
        .filter(|&wanted| wanted > 0)
        .ok_or_else(|| format!("Domain {name} has {current} vCPUs and keeps at least one"))?;
    if let (Some(id), true) = (
        domain.id,
        domain.requirements.state != DomainState::Inactive,
    ) {
        let mut machine = state.machine.lock();
        let result = if wanted > current {
            machine.add_vcpus(id, wanted - current)
        } else if wanted < current {
            machine.remove_vcpus(id, current - wanted)
        } else {
            Ok(())
        };
        result.map_err(|error| format!("Changing the vCPUs of {name} failed: {error}"))?;
    }
    domain.requirements.vcpus = wanted;
    Ok(format!("Domain {name} has {wanted} vCPUs"))
}

/// `add-crypto`, `remove-crypto`, `set-crypto`.
pub(super) fn change_crypto_units(
    state: &State,
    domain: &mut Domain,
    change: Change,
) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let requirements = &domain.requirements;
    let bound = domain
        .id
        .filter(|_| requirements.state != DomainState::Inactive);
    let current = match bound {
        Some(id) => state.machine.lock().domain_crypto_units(id),
        None => requirements.crypto_units,
    };
    let wanted = change.apply(current).ok_or_else(|| {
        format!("Domain {name} has {current} crypto units: it cannot have fewer than none")
    })?;
    if requirements.state == DomainState::Active
        && !requirements.supports_crypto_dynamic_reconfiguration
    {
        return Err(format!(
            "The OS of domain {name} does not support crypto unit dynamic reconfiguration: stop the domain first"
        ));
    }
    if let Some(id) = bound {
        state
            .machine
            .lock()
            .set_crypto_units(id, wanted)
            .map_err(|error| format!("Changing the crypto units of {name} failed: {error}"))?;
    }
    domain.requirements.crypto_units = wanted;
    Ok(format!("Domain {name} has {wanted} crypto units"))
}

/// `set-domain cpu-arch=CLASS`: only while the domain does not run, and
/// only to a class this machine's processor runs.
pub(super) fn set_cpu_arch(
    state: &State,
    domain: &mut Domain,
    text: &str,
) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let class = CpuArchClass::from_name(text).ok_or_else(|| {
        format!("Unknown cpu-arch {text}: native, generic, migration-class1 or sparc64-class1")
    })?;
    let cpu_type = state.description.resources().cpu_type;
    if !class.runs_on(&cpu_type) {
        return Err(format!(
            "The {cpu_type} processors of {} do not run domains of cpu-arch {class}",
            state.host()
        ));
    }
    if domain.requirements.state == DomainState::Active {
        return Err(format!(
            "Domain {name} is active: its cpu-arch can only change while it is stopped (bound or inactive)"
        ));
    }
    domain.requirements.cpu_arch = class;
    Ok(format!("Domain {name} has cpu-arch {class}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn changes_apply_to_the_current_count() {
        assert_eq!(Change::Add(2).apply(3), Some(5));
        assert_eq!(Change::Remove(2).apply(3), Some(1));
        assert_eq!(Change::Remove(4).apply(3), None);
        assert_eq!(Change::Set(7).apply(3), Some(7));
        assert_eq!(Change::Add(1).apply(u64::MAX), None);
    }

    #[test]
    fn an_inactive_configuration_grows_by_a_block_and_shrinks_from_the_top() {
        let mut blocks: heapless::Vec<BlockRequirement, 4> = heapless::Vec::new();
        let _ = blocks.push(BlockRequirement {
            real_address: 0x800_0000,
            size: 2 * MIB,
        });
        reshape_configuration(&mut blocks, 2 * MIB, 5 * MIB);
        assert_eq!(
            blocks.as_slice(),
            &[
                BlockRequirement {
                    real_address: 0x800_0000,
                    size: 2 * MIB
                },
                BlockRequirement {
                    real_address: 0x800_0000 + 2 * MIB,
                    size: 3 * MIB
                }
            ]
        );
        reshape_configuration(&mut blocks, 5 * MIB, MIB);
        assert_eq!(
            blocks.as_slice(),
            &[BlockRequirement {
                real_address: 0x800_0000,
                size: MIB
            }]
        );
    }
}
