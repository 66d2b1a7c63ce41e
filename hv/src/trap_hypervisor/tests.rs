//! Tests of the marshalling over a recording `FastTrap`: what reaches the
//! trap, and what is refused before it.

use super::*;
use std::vec::Vec;

/// A hypervisor that records every fast trap, answers `EOK`, and fills
/// a `MIG_PAGE_READ` buffer with its length's low byte.
#[derive(Default)]
struct Recorder {
    calls: Vec<HvCall>,
    refuse_group: Option<u64>,
}

impl FastTrap for Recorder {
    unsafe fn fast_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        let call = HvCall::new(function, args);
        if function == mig::MIG_PAGE_READ {
            let [_, _, address, length, _] = call.args;
            for index in 0..length {
                // SAFETY: the caller vouched for `length` bytes at `address`.
                unsafe { ((address + index) as *mut u8).write(length.to_le_bytes()[0]) };
            }
        }
        self.calls.push(call);
        call
    }

    fn core_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        let mut call = HvCall::new(function, args);
        if Some(call.args[0]) == self.refuse_group {
            call.status = crate::abi::error::ENOTSUPPORTED;
        }
        call
    }
}

/// 64 KiB of 8-byte aligned memory to grant.
#[repr(C, align(8192))]
struct Memory([u8; 0x1_0000]);

fn granted(memory: &mut Memory) -> (TrapHypervisor<Recorder>, LocalRegion) {
    let mut hypervisor = TrapHypervisor::negotiate_with(Recorder::default()).expect("groups");
    let ra = memory.0.as_mut_ptr() as u64;
    // SAFETY: `memory` outlives the handle in each test and nothing else
    // touches it meanwhile.
    let region = unsafe { hypervisor.grant(ra, 0x1_0000) }.expect("a grant");
    (hypervisor, region)
}

#[test]
fn negotiation_fails_with_the_refusing_groups_status() {
    let recorder = Recorder {
        refuse_group: Some(group::MIGRATION),
        ..Recorder::default()
    };
    assert_eq!(
        TrapHypervisor::negotiate_with(recorder).err(),
        Some(HvError::NotSupported)
    );
}

#[test]
fn granted_memory_is_read_and_written_through_regions_only() {
    let mut memory = Memory([0; 0x1_0000]);
    let (mut hypervisor, region) = granted(&mut memory);
    hypervisor
        .local_write(&region, 64, &[9; 16])
        .expect("inside");
    let mut back = [0u8; 16];
    hypervisor
        .local_read(&region, 64, &mut back)
        .expect("inside");
    assert_eq!(back, [9; 16]);
    assert_eq!(
        hypervisor.local_read(&region, 68, &mut back),
        Err(HvError::BadAlignment)
    );
    assert_eq!(
        hypervisor.local_write(&region, 0x1_0000 - 8, &back),
        Err(HvError::NoRealAddress)
    );
    assert!(hypervisor.owns_memory(region.ra(), 0x1_0000));
    assert_eq!(
        hypervisor
            .local_region(region.ra() + 0x8000, 0x1_0000)
            .err(),
        Some(HvError::NoRealAddress),
        "past the grant"
    );
    assert!(
        hypervisor.trap().calls.is_empty(),
        "no trap for local memory"
    );
    drop(hypervisor);
    assert_eq!(&memory.0[64..80], &[9; 16]);
}

#[test]
fn grants_are_bounded() {
    let mut memory = Memory([0; 0x1_0000]);
    let (mut hypervisor, region) = granted(&mut memory);
    for index in 1..MAX_GRANTS as u64 {
        // SAFETY: the same memory again: still the engine's.
        unsafe { hypervisor.grant(region.ra() + index * 8, 8) }.expect("room");
    }
    // SAFETY: as above.
    let full = unsafe { hypervisor.grant(region.ra(), 8) };
    assert_eq!(full, Err(HvError::TooMany));
    // SAFETY: refused before any use.
    let empty = unsafe { hypervisor.grant(region.ra(), 0) };
    assert_eq!(empty, Err(HvError::Invalid));
}

#[test]
fn queues_and_tables_are_checked_against_their_region_before_the_trap() {
    let mut memory = Memory([0; 0x1_0000]);
    let (mut hypervisor, region) = granted(&mut memory);
    let small = region.subregion(0, 1024).expect("1 KiB");
    assert_eq!(
        hypervisor.ldc_tx_qconf(5, &small, 32),
        Err(HvError::NoRealAddress)
    );
    assert_eq!(
        hypervisor.ldc_set_map_table(5, &small, 128),
        Err(HvError::NoRealAddress)
    );
    assert!(
        hypervisor.trap().calls.is_empty(),
        "refused before the trap"
    );
    hypervisor
        .ldc_rx_qconf(5, &small, 16)
        .expect("1 KiB holds 16");
    hypervisor.ldc_rx_qconf(5, &small, 0).expect("unconfigure");
    hypervisor
        .ldc_tx_qconf(5, &small, 3)
        .expect("a bad count is the hypervisor's to refuse");
    let calls = &hypervisor.trap().calls;
    assert_eq!(calls[0].args[..3], [5, small.ra(), 16]);
    assert_eq!(calls[1].args[..3], [5, 0, 0], "unconfigure passes RA 0");
    assert_eq!(calls[2].function, ldc::LDC_TX_QCONF);
}

#[test]
fn copies_name_their_local_range_inside_the_region() {
    let mut memory = Memory([0; 0x1_0000]);
    let (mut hypervisor, region) = granted(&mut memory);
    assert_eq!(
        hypervisor.ldc_copy(5, ldc::LDC_COPY_IN, 0x2000, &region, 0xfff8, 16),
        Err(HvError::NoRealAddress)
    );
    hypervisor
        .ldc_copy(5, ldc::LDC_COPY_IN, 0x2000, &region, 0x100, 64)
        .expect("inside");
    let call = hypervisor.trap().calls[0];
    assert_eq!(
        call.args,
        [5, ldc::LDC_COPY_IN, 0x2000, region.ra() + 0x100, 64]
    );
}

#[test]
fn short_buffers_at_any_address_go_through_an_aligned_page() {
    let mut memory = Memory([0; 0x1_0000]);
    let (mut hypervisor, _) = granted(&mut memory);
    let mut buffer = Memory([0; 0x1_0000]);
    hypervisor
        .read_memory(1, 0x800_0000, &mut buffer.0[3..19])
        .expect("bounced");
    assert_eq!(&buffer.0[3..19], &[16; 16], "copied back from the bounce");
    let address = hypervisor.trap().calls[0].args[2];
    assert_eq!(address % 8, 0, "the hypervisor got an aligned buffer");
    hypervisor
        .write_memory(1, 0x800_0000, &buffer.0[5..8197])
        .expect("a page at any address");
    assert_eq!(
        hypervisor.read_memory(1, 0x800_0000, &mut buffer.0[1..8201]),
        Err(HvError::BadAlignment),
        "longer than a page and misaligned"
    );
    assert_eq!(hypervisor.trap().calls.len(), 2);
    hypervisor
        .read_memory(1, 0x800_0000, &mut buffer.0[..8200])
        .expect("aligned: straight through");
    let direct = hypervisor.trap().calls[2];
    assert_eq!(direct.args[2], buffer.0.as_ptr() as u64);
}
