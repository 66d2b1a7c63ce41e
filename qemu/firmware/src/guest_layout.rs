//! The guest domain `ldg1` as the hypervisor builds it at boot and as the
//! guest program and the migration driver see it: two memory blocks, one
//! vCPU, one crypto unit.
//!
//! - Code block: a copy of this image at RA = the image's link address
//!   (`0xfff0000000`, 512 KiB): the guest's text, read-only data and trap
//!   table, fetched and read through its MMU like any guest kernel's. The
//!   guest never writes it.
//! - Data block: 1 MiB at RA `0x10000000`: page 0 the guest's state (its
//!   progress counter, its RNG, what it last wrote to each page), pages
//!   1-112 the pages its workload writes, the rest its stack.
//!
//! Every address the guest uses is a real address in one of these blocks,
//! so it runs unchanged wherever the blocks are in physical memory: on the
//! target they are bound at the same RAs on other physical ranges.

use crate::memory_map::{IMAGE_BASE, IMAGE_LIMIT};

/// The guest's name on the console.
pub const GUEST_NAME: &str = "ldg1";
/// RA of the code block (the image's link address).
pub const GUEST_CODE_RA: u64 = IMAGE_BASE;
/// Bytes of the code block.
pub const GUEST_CODE_BYTES: u64 = IMAGE_LIMIT;
/// RA of the data block.
pub const GUEST_DATA_RA: u64 = 0x1000_0000;
/// Bytes of the data block.
pub const GUEST_DATA_BYTES: u64 = 0x10_0000;
/// RA of the guest's state (`guest_workload::GuestState`), page 0.
pub const GUEST_STATE_RA: u64 = GUEST_DATA_RA;
/// First page (of the data block) the workload writes.
pub const GUEST_WORK_FIRST_PAGE: u64 = 1;
/// Pages the workload writes.
pub const GUEST_WORK_PAGES: u64 = 112;
/// Top of the guest's stack (the data block's end).
pub const GUEST_STACK_TOP: u64 = GUEST_DATA_RA + GUEST_DATA_BYTES;
/// The MMU context the guest's vCPU runs in (its primary context).
pub const GUEST_PRIMARY_CONTEXT: u64 = 1;
/// Crypto units the guest holds.
pub const GUEST_CRYPTO_UNITS: u64 = 1;
/// vCPUs of the guest.
pub const GUEST_VCPUS: usize = 1;
