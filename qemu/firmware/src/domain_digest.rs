//! A digest of one machine's copy of a domain, for the two-machine run
//! where neither machine can read the other's copy: every page of every
//! memory block (its RA and the CRC32 of its bytes) and every vCPU's
//! state (the CRC32 of its `VcpuState`), folded with 64-bit FNV-1a. Both
//! machines run this same code over `MIG_PAGE_READ` and
//! `MIG_VCPU_GET_STATE`, so equal copies give equal digests.

use crate::pages::AlignedPage;
use ldmig::page::{page_crc, PAGE_SIZE};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, GuestMemory, VcpuControl};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::HvError;
use zerocopy::IntoBytes;

/// FNV-1a's 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a's 64-bit prime.
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The two digests (0 never results from real input in practice; it
/// means "not taken" in the status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainDigest {
    /// Of the memory.
    pub memory: u64,
    /// Of the vCPU states.
    pub vcpus: u64,
}

fn fold(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The digests of `domain` (stopped: its vCPU states are read).
pub fn digest_domain(hv: &mut Sun4v, domain: DomainId) -> Result<DomainDigest, HvError> {
    let info = hv.domain_info(domain)?;
    let mut page = AlignedPage::zeroed();
    let mut memory = FNV_OFFSET;
    for index in 0..info.memory_blocks {
        let block = hv.memory_block(domain, index)?;
        for number in 0..block.pages() {
            let ra = block.ra + number * PAGE_SIZE as u64;
            hv.read_memory(domain, ra, &mut page.0)?;
            memory = fold(memory, &ra.to_be_bytes());
            memory = fold(memory, &page_crc(&page.0).to_be_bytes());
        }
    }
    let mut vcpus = FNV_OFFSET;
    for vcpu in 0..info.vcpus {
        let mut state = VcpuState::zeroed();
        hv.vcpu_state(domain, vcpu, &mut state)?;
        vcpus = fold(vcpus, &page_crc(state.as_bytes()).to_be_bytes());
    }
    Ok(DomainDigest { memory, vcpus })
}
