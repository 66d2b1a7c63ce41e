//! Exporting the engine's rings and slots through the LDC map table, the
//! way sun4v vnet/vdisk export theirs: one 16-byte entry per 8 KiB page
//! (word 0 = page RA | copy permissions | page-size code 0, word 1 = 0 for
//! the hypervisor's revoke cookie), consecutive entries per region; and
//! putting every descriptor in its initial state.
//!
//! Only `LDC_COPY` permissions are granted (`COPY_R`, plus `COPY_W` where
//! the shim writes): the peer can copy, never map the pages in.

use ldmig_hv::abi::ldc::{mte_word0, MtePermissions, LDC_MTE_BYTES};
use ldmig_hv::abi::mmu::PGSZ_8K;
use ldmig_hv::hypervisor::{Ldc, LocalMemory, LocalRegion};

use super::error::{memory_failure, BulkError, MemoryUse};
use super::layout::{EngineLayout, Region};
use crate::page::PAGE_SIZE;
use crate::wire::descriptor::{Descriptor, DescriptorState, DESCRIPTOR_BYTES};

/// Map-table entries written per local-memory access.
const ENTRIES_PER_WRITE: usize = 32;

/// The map-table entry (word 0) of the page at `ra` with `permissions`.
pub fn map_table_entry(ra: u64, permissions: MtePermissions) -> u64 {
    mte_word0(ra, permissions, PGSZ_8K)
}

/// Writes the whole map table: every exported page, and zeros everywhere
/// else (entry 0 and the unused tail: no cookie reaches them). `memory` is
/// the engine's memory the layout lies in.
pub fn write_map_table<H: LocalMemory>(
    hypervisor: &mut H,
    memory: &LocalRegion,
    layout: &EngineLayout,
) -> Result<(), BulkError> {
    let mut chunk = [0u8; ENTRIES_PER_WRITE * LDC_MTE_BYTES];
    let mut index = 0u64;
    while index < layout.map_table_entries {
        let count = (layout.map_table_entries - index).min(ENTRIES_PER_WRITE as u64);
        for (slot, entry) in (index..index + count).zip(chunk.chunks_exact_mut(LDC_MTE_BYTES)) {
            let word0 = Region::ALL
                .iter()
                .map(|&region| (layout.region(region), region.permissions()))
                .find(|(exported, _)| {
                    (exported.first_index..exported.first_index + exported.pages()).contains(&slot)
                })
                .map_or(0, |(exported, permissions)| {
                    let page = slot - exported.first_index;
                    map_table_entry(exported.ra + page * PAGE_SIZE as u64, permissions)
                });
            entry[..8].copy_from_slice(&word0.to_be_bytes());
            entry[8..].fill(0);
        }
        #[allow(clippy::cast_possible_truncation)] // at most the chunk's entries
        let bytes = count as usize * LDC_MTE_BYTES;
        let ra = layout.map_table_ra + index * LDC_MTE_BYTES as u64;
        hypervisor
            .local_write(memory, memory.offset_of(ra), &chunk[..bytes])
            .map_err(memory_failure(MemoryUse::MapTable))?;
        index += count;
    }
    Ok(())
}

/// Puts both rings in their initial state: every descriptor FREE, naming
/// its slot's cookie and size (the shim writes only state, length and
/// sequence; the cookies stay the engine's).
pub fn initialise_rings<H: LocalMemory>(
    hypervisor: &mut H,
    memory: &LocalRegion,
    layout: &EngineLayout,
) -> Result<(), BulkError> {
    let slot_bytes = u64::from(layout.ring.slot_bytes());
    for (ring, slots) in [
        (Region::TransmitRing, Region::TransmitSlots),
        (Region::ReceiveRing, Region::ReceiveSlots),
    ] {
        for index in 0..layout.ring.entries() {
            let cookie = layout.slot_cookie(slots, index);
            let descriptor = Descriptor::new(DescriptorState::Free, 0, 0, cookie, slot_bytes);
            let ra = layout.descriptor_ra(ring, index);
            hypervisor
                .local_write(memory, memory.offset_of(ra), &descriptor.to_bytes())
                .map_err(memory_failure(MemoryUse::Descriptor))?;
        }
        // The rest of the ring's page stays zero (no descriptor there).
        let used = u64::from(layout.ring.entries()) * DESCRIPTOR_BYTES as u64;
        let region = layout.region(ring);
        let zeros = [0u8; 256];
        let mut offset = used;
        while offset < region.bytes {
            #[allow(clippy::cast_possible_truncation)] // at most 256
            let length = (region.bytes - offset).min(zeros.len() as u64) as usize;
            hypervisor
                .local_write(
                    memory,
                    memory.offset_of(region.ra + offset),
                    &zeros[..length],
                )
                .map_err(memory_failure(MemoryUse::Descriptor))?;
            offset += length as u64;
        }
    }
    Ok(())
}

/// Checks that the channel still has our map table registered ("re-export"
/// after a reset); registers it again and rewrites it if not. Returns
/// whether it had to.
pub fn ensure_exported<H: Ldc + LocalMemory>(
    hypervisor: &mut H,
    channel: u64,
    memory: &LocalRegion,
    layout: &EngineLayout,
) -> Result<bool, BulkError> {
    let registered = hypervisor
        .ldc_get_map_table(channel)
        .map_err(BulkError::MapTable)?;
    if registered == (layout.map_table_ra, layout.map_table_entries) {
        return Ok(false);
    }
    write_map_table(hypervisor, memory, layout)?;
    let table_bytes = layout.map_table_entries * LDC_MTE_BYTES as u64;
    let table = memory
        .subregion(memory.offset_of(layout.map_table_ra), table_bytes)
        .ok_or(BulkError::MapTable(ldmig_hv::HvError::NoRealAddress))?;
    hypervisor
        .ldc_set_map_table(channel, &table, layout.map_table_entries)
        .map_err(BulkError::MapTable)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldc_transport::ring::RingGeometry;
    use ldmig_hv::abi::ldc::{LDC_COPY_IN, LDC_COPY_OUT};
    use ldmig_hv::HvError;
    use ldmig_sim::ldc::{EndpointConfig, LdcFabric, SIM_MEMORY_BASE};

    #[test]
    fn exported_pages_carry_exactly_their_permissions() {
        let fabric = LdcFabric::new();
        let mut engine_config = EndpointConfig::new(3);
        engine_config.memory_bytes = 2 << 20;
        let (mut engine, mut shim) = fabric
            .create_pair(engine_config, EndpointConfig::new(4))
            .expect("pair");
        let ring = RingGeometry::new(4, 16384).expect("ring");
        let layout = EngineLayout::new(SIM_MEMORY_BASE, 2 << 20, 32, ring).expect("layout");
        let memory = engine
            .local_region(SIM_MEMORY_BASE, 2 << 20)
            .expect("the engine's memory");
        write_map_table(&mut engine, &memory, &layout).expect("table");
        initialise_rings(&mut engine, &memory, &layout).expect("rings");
        assert_eq!(ensure_exported(&mut engine, 3, &memory, &layout), Ok(true));
        assert_eq!(ensure_exported(&mut engine, 3, &memory, &layout), Ok(false));

        let shim_memory = shim
            .local_region(SIM_MEMORY_BASE, 1 << 20)
            .expect("the shim's memory");
        let local = 0x4_0000;
        let transmit_slot = layout.slot_cookie(Region::TransmitSlots, 1);
        let receive_slot = layout.slot_cookie(Region::ReceiveSlots, 1);
        let transmit_ring = layout.region(Region::TransmitRing).cookie(0);
        // Reads everywhere; writes only where the shim must write.
        for cookie in [transmit_slot, receive_slot, transmit_ring] {
            assert_eq!(
                shim.ldc_copy(4, LDC_COPY_IN, cookie, &shim_memory, local, 8),
                Ok(8)
            );
        }
        assert_eq!(
            shim.ldc_copy(4, LDC_COPY_OUT, transmit_slot, &shim_memory, local, 8),
            Err(HvError::NoAccess)
        );
        assert_eq!(
            shim.ldc_copy(4, LDC_COPY_OUT, receive_slot, &shim_memory, local, 8),
            Ok(8)
        );
        // Entry 0 and the tail are empty: no permission at all.
        assert_eq!(
            shim.ldc_copy(4, LDC_COPY_IN, 0, &shim_memory, local, 8),
            Err(HvError::NoAccess)
        );
        let last = layout.map_table_entries - 1;
        assert_eq!(
            shim.ldc_copy(4, LDC_COPY_IN, last << 13, &shim_memory, local, 8),
            Err(HvError::NoAccess)
        );
        // The descriptors name their slots.
        let mut bytes = [0u8; DESCRIPTOR_BYTES];
        shim.ldc_copy(4, LDC_COPY_IN, transmit_ring + 32, &shim_memory, local, 32)
            .expect("descriptor");
        shim.local_read(&shim_memory, local, &mut bytes)
            .expect("read");
        let descriptor = Descriptor::decode(&bytes).expect("a valid descriptor");
        assert_eq!(descriptor.state(), Some(DescriptorState::Free));
        assert_eq!(descriptor.cookie.get(), transmit_slot);
        assert_eq!(descriptor.cookie_size.get(), 16384);
        assert_eq!(
            map_table_entry(
                SIM_MEMORY_BASE + 8192,
                MtePermissions::COPY_R | MtePermissions::COPY_W
            ),
            (SIM_MEMORY_BASE + 8192) | 0x600
        );
    }
}
