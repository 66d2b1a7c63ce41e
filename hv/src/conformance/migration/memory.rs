//! Cases of `MIG_DOMAIN_INFO`, `MIG_MEMBLOCK_INFO`, `MIG_PAGE_READ` and
//! `MIG_PAGE_WRITE`.

use super::fixture::{AlignedPage, AlignedPages, MigrationFixture};
use crate::abi::mmu::PAGE_SIZE;
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, fails_with, holds, succeeds};
use crate::hypervisor::{DomainRunState, Hypervisor};
use crate::HvError;

define_case! {
    /// `MIG_DOMAIN_INFO` gives the vCPU and block counts and NORMAL.
    domain_info_reports_vcpus_blocks_and_state<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_INFO",
    |hypervisor, fixture| {
        let info = succeeds("MIG_DOMAIN_INFO", hypervisor.domain_info(fixture.domain))?;
        equals("RET1 vCPUs", info.vcpus, fixture.vcpus)?;
        equals("RET2 memory blocks", info.memory_blocks, fixture.blocks.len() as u64)?;
        holds("RET3 state NORMAL", info.state == DomainRunState::Normal)
    }
}

define_case! {
    /// An unknown domain is `EINVAL`.
    domain_info_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_INFO",
    |hypervisor, fixture| {
        fails_with(
            "MIG_DOMAIN_INFO of an unknown domain",
            hypervisor.domain_info(fixture.unknown_domain),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// Blocks come back by index, RA and size.
    memory_block_returns_ra_and_size_by_index<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_INFO",
    |hypervisor, fixture| {
        for (index, expected) in fixture.blocks.iter().enumerate() {
            let block = succeeds(
                "MIG_MEMBLOCK_INFO of an existing block",
                hypervisor.memory_block(fixture.domain, index as u64),
            )?;
            equals("RET1 RA", block.ra, expected.ra)?;
            equals("RET2 size", block.size, expected.size)?;
        }
        Ok(())
    }
}

define_case! {
    /// A block index past the last, or an unknown domain, is `EINVAL`.
    memory_block_bad_index_or_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_INFO",
    |hypervisor, fixture| {
        let count = fixture.blocks.len() as u64;
        each_fails_with!(HvError::Invalid;
            "MIG_MEMBLOCK_INFO of the index past the last block" => hypervisor.memory_block(fixture.domain, count),
            "MIG_MEMBLOCK_INFO of index 2^64 - 1" => hypervisor.memory_block(fixture.domain, u64::MAX),
            "MIG_MEMBLOCK_INFO of an unknown domain" => hypervisor.memory_block(fixture.unknown_domain, 0),
        )
    }
}

define_case! {
    /// What `MIG_PAGE_WRITE` stores `MIG_PAGE_READ` returns, running or
    /// suspended; length 0 copies nothing and succeeds.
    page_write_then_read_round_trips_in_any_run_state<H: Hypervisor, MigrationFixture>,
    calls: "MIG_PAGE_WRITE, MIG_PAGE_READ",
    |hypervisor, fixture| {
        let mut page = AlignedPage::filled(0);
        for (index, byte) in page.0.iter_mut().enumerate() {
            *byte = (index * 7 % 251).to_le_bytes()[0];
        }
        let mut back = AlignedPage::filled(0);
        let second = fixture.block(1)?;
        succeeds("MIG_PAGE_WRITE of a page", hypervisor.write_memory(fixture.domain, second.ra, &page.0))?;
        succeeds("MIG_PAGE_READ of that page", hypervisor.read_memory(fixture.domain, second.ra, &mut back.0))?;
        holds("the page read is the page written", back.0 == page.0)?;
        succeeds("MIG_DOMAIN_SUSPEND", hypervisor.suspend(fixture.domain))?;
        let first = fixture.block(0)?;
        succeeds("MIG_PAGE_WRITE while suspended", hypervisor.write_memory(fixture.domain, first.ra, &page.0))?;
        back.0.fill(0);
        succeeds("MIG_PAGE_READ while suspended", hypervisor.read_memory(fixture.domain, first.ra, &mut back.0))?;
        holds("the page read while suspended is the page written", back.0 == page.0)?;
        succeeds(
            "MIG_PAGE_READ of length 0",
            hypervisor.read_memory(fixture.domain, first.ra + 8, &mut back.0[..0]),
        )
    }
}

define_case! {
    /// A guest RA or length not a multiple of 8 is `EBADALIGN`, and so is a
    /// buffer longer than a page at an address not a multiple of 8.
    page_read_and_write_misaligned_are_ebadalign<H: Hypervisor, MigrationFixture>,
    calls: "MIG_PAGE_READ, MIG_PAGE_WRITE",
    |hypervisor, fixture| {
        let ra = fixture.block(0)?.ra;
        let mut buffer = AlignedPages::filled(0);
        each_fails_with!(HvError::BadAlignment;
            "MIG_PAGE_READ at guest RA + 4" => hypervisor.read_memory(fixture.domain, ra + 4, &mut buffer.0[..16]),
            "MIG_PAGE_READ of 12 bytes" => hypervisor.read_memory(fixture.domain, ra, &mut buffer.0[..12]),
            "MIG_PAGE_READ into a page and 8 bytes at an address not a multiple of 8" => hypervisor.read_memory(fixture.domain, ra, &mut buffer.0[4..PAGE_SIZE + 12]),
            "MIG_PAGE_WRITE at guest RA + 1" => hypervisor.write_memory(fixture.domain, ra + 1, &buffer.0[..16]),
            "MIG_PAGE_WRITE of 9 bytes" => hypervisor.write_memory(fixture.domain, ra, &buffer.0[..9]),
            "MIG_PAGE_WRITE from a page and 8 bytes at an address not a multiple of 8" => hypervisor.write_memory(fixture.domain, ra, &buffer.0[4..PAGE_SIZE + 12]),
        )
    }
}

define_case! {
    /// A buffer of at most a page may be at any address.
    page_read_and_write_take_a_page_buffer_at_any_address<H: Hypervisor, MigrationFixture>,
    calls: "MIG_PAGE_READ, MIG_PAGE_WRITE",
    |hypervisor, fixture| {
        let ra = fixture.block(0)?.ra;
        let mut buffer = AlignedPages::filled(0);
        for (index, byte) in buffer.0.iter_mut().enumerate() {
            *byte = index.to_le_bytes()[0] ^ 0x3c;
        }
        succeeds(
            "MIG_PAGE_WRITE of a page from an address not a multiple of 8",
            hypervisor.write_memory(fixture.domain, ra, &buffer.0[3..PAGE_SIZE + 3]),
        )?;
        let mut back = AlignedPages::filled(0);
        succeeds(
            "MIG_PAGE_READ of that page into an address not a multiple of 8",
            hypervisor.read_memory(fixture.domain, ra, &mut back.0[5..PAGE_SIZE + 5]),
        )?;
        holds(
            "the page read is the page written",
            back.0[5..PAGE_SIZE + 5] == buffer.0[3..PAGE_SIZE + 3],
        )
    }
}

define_case! {
    /// A range outside every block, or across two adjacent blocks, is `ENORADDR`.
    page_read_and_write_outside_or_across_blocks_are_enoraddr<H: Hypervisor, MigrationFixture>,
    calls: "MIG_PAGE_READ, MIG_PAGE_WRITE",
    |hypervisor, fixture| {
        let first = fixture.block(0)?;
        let second = fixture.block(1)?;
        holds(
            "the fixture's blocks 0 and 1 are adjacent in RA space",
            first.ra + first.size == second.ra,
        )?;
        let highest = fixture
            .blocks
            .iter()
            .map(|block| block.ra + block.size)
            .max()
            .unwrap_or(0);
        let mut buffer = AlignedPage::filled(0);
        let candidates = [first.ra.wrapping_sub(16), highest, 0, u64::MAX - 7];
        for ra in candidates {
            if fixture.touches_a_block(ra, 16) {
                continue;
            }
            each_fails_with!(HvError::NoRealAddress;
                "MIG_PAGE_READ outside every block" => hypervisor.read_memory(fixture.domain, ra, &mut buffer.0[..16]),
                "MIG_PAGE_WRITE outside every block" => hypervisor.write_memory(fixture.domain, ra, &buffer.0[..16]),
            )?;
        }
        each_fails_with!(HvError::NoRealAddress;
            "MIG_PAGE_READ across the end of block 0 into block 1" => hypervisor.read_memory(fixture.domain, second.ra - 8, &mut buffer.0[..16]),
            "MIG_PAGE_WRITE across the end of block 0 into block 1" => hypervisor.write_memory(fixture.domain, second.ra - 8, &buffer.0[..16]),
        )
    }
}

define_case! {
    /// An unknown domain is `EINVAL`.
    page_read_and_write_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_PAGE_READ, MIG_PAGE_WRITE",
    |hypervisor, fixture| {
        let ra = fixture.block(0)?.ra;
        let mut buffer = AlignedPage::filled(0);
        each_fails_with!(HvError::Invalid;
            "MIG_PAGE_READ of an unknown domain" => hypervisor.read_memory(fixture.unknown_domain, ra, &mut buffer.0[..8]),
            "MIG_PAGE_WRITE of an unknown domain" => hypervisor.write_memory(fixture.unknown_domain, ra, &buffer.0[..8]),
        )
    }
}
