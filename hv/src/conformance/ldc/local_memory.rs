//! Cases of [`crate::hypervisor::LocalMemory`]: minting regions and reading
//! and writing by offset.

use super::fixture::{LdcFixture, LdcPair, Side, LOCAL};
use crate::conformance::case::define_case;
use crate::conformance::report::{
    each_fails_with, equals, fails_with, holds, succeeds, ConformanceFailure,
};
use crate::hypervisor::{LocalMemory, LocalRegion};
use crate::HvError;

/// Side A's end and a page of its memory minted at [`LOCAL`].
fn local_page<'p, P: LdcPair>(
    pair: &'p mut P,
    fixture: &LdcFixture,
) -> Result<(&'p mut P::End, LocalRegion), ConformanceFailure> {
    let end = pair.end(Side::A);
    let base = fixture.memory(Side::A).ra() + LOCAL;
    let page = succeeds(
        "minting a page of the caller's memory",
        end.local_region(base, 8192),
    )?;
    Ok((end, page))
}

define_case! {
    /// The example of the `LocalMemory` docs: mint a page, write at an
    /// offset, read back through `offset_of`.
    local_memory_round_trips_by_offset<P: LdcPair, LdcFixture>,
    calls: "LocalMemory",
    |pair, fixture| {
        let (end, page) = local_page(pair, fixture)?;
        let base = page.ra();
        succeeds("a write at offset 64", end.local_write(&page, 64, &7u64.to_be_bytes()))?;
        let mut word = [0u8; 8];
        succeeds("a read at offset_of(base + 64)", end.local_read(&page, page.offset_of(base + 64), &mut word))?;
        equals("the word read back", u64::from_be_bytes(word), 7)?;
        succeeds("a write of 3 bytes", end.local_write(&page, 128, &[1, 2, 3]))?;
        let mut bytes = [0u8; 3];
        succeeds("a read of 3 bytes", end.local_read(&page, 128, &mut bytes))?;
        holds("any length reads back", bytes == [1, 2, 3])
    }
}

define_case! {
    /// An address not a multiple of 8 is `EBADALIGN`; bytes past the region
    /// (or below it) `ENORADDR`, even inside the caller's memory.
    local_memory_rules<P: LdcPair, LdcFixture>,
    calls: "LocalMemory",
    |pair, fixture| {
        let (end, page) = local_page(pair, fixture)?;
        let mut buffer = [0u8; 16];
        each_fails_with!(HvError::BadAlignment;
            "a read at offset 4" => end.local_read(&page, 4, &mut buffer),
            "a write at offset 4" => end.local_write(&page, 4, &buffer),
        )?;
        each_fails_with!(HvError::NoRealAddress;
            "a read across the region's end" => end.local_read(&page, 8192 - 8, &mut buffer),
            "a write past the region's end" => end.local_write(&page, 8192, &buffer[..8]),
            "a read below the region" => end.local_read(&page, page.offset_of(page.ra() - 8), &mut buffer[..8]),
        )?;
        succeeds("the region's last 8 bytes", end.local_write(&page, 8192 - 8, &buffer[..8]))
    }
}

define_case! {
    /// A region is minted only over memory the caller owns: outside it is
    /// `ENORADDR`, length 0 `EINVAL`.
    local_region_mints_only_owned_memory<P: LdcPair, LdcFixture>,
    calls: "LocalMemory",
    |pair, fixture| {
        let memory = fixture.memory(Side::A);
        let end = pair.end(Side::A);
        holds("the fixture's memory is owned", end.owns_memory(memory.ra(), memory.length()))?;
        each_fails_with!(HvError::NoRealAddress;
            "minting RA 0" => end.local_region(0, 8),
            "minting a range wrapping past 2^64" => end.local_region(u64::MAX - 7, 16),
        )?;
        fails_with("minting 0 bytes", end.local_region(memory.ra(), 0), HvError::Invalid)?;
        fails_with(
            "minting the highest page frame",
            end.local_region(super::fixture::NOWHERE, 8192),
            HvError::NoRealAddress,
        )
    }
}
