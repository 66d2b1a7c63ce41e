//! The source's delta cache: the version last sent of re-sent pages, in a
//! bounded, direct-mapped cache over caller-lent pages (QEMU's XBZRLE
//! cache), sharded behind spin locks so that workers use it at once.
//!
//! Invariant: a line tagged with an RA holds exactly the bytes the target
//! was last sent for that page. Every page a worker encodes with the cache
//! on refreshes its line (or empties it for a zero page), under the line's
//! shard lock, whatever encoding it went as; a round's pages are distinct,
//! and rounds are barriers, so the line and the target's page never
//! disagree.

use crate::page::{Page, PAGE_SHIFT};

/// Shards (locks) of the cache.
pub const DELTA_CACHE_SHARDS: usize = 64;
/// The tag of an empty line (no page has this RA: it is not page aligned).
const EMPTY: u64 = u64::MAX;

/// One shard's lines: tags and pages, indexed alike.
#[derive(Debug)]
pub struct CacheLine<'c> {
    /// The RA of the page held.
    pub tag: &'c mut u64,
    /// The version last sent of that page.
    pub page: &'c mut Page,
}

#[derive(Debug)]
struct Shard<'c> {
    tags: &'c mut [u64],
    pages: &'c mut [Page],
}

/// The cache: [`DELTA_CACHE_SHARDS`] shards of direct-mapped lines.
#[derive(Debug)]
pub struct DeltaCache<'c> {
    shards: heapless::Vec<spin::Mutex<Shard<'c>>, DELTA_CACHE_SHARDS>,
    lines_per_shard: usize,
}

impl<'c> DeltaCache<'c> {
    /// A cache over `pages` (one line each) and `tags` (as many), both
    /// lent by the caller; lines are grouped in [`DELTA_CACHE_SHARDS`]
    /// shards, so the cache holds a multiple of that many lines (`None`
    /// when fewer pages or tags than shards are given).
    pub fn new(pages: &'c mut [Page], tags: &'c mut [u64]) -> Option<Self> {
        let lines = pages.len().min(tags.len());
        let lines_per_shard = lines / DELTA_CACHE_SHARDS;
        if lines_per_shard == 0 {
            return None;
        }
        let mut shards = heapless::Vec::new();
        let mut pages = pages;
        let mut tags = tags;
        for _ in 0..DELTA_CACHE_SHARDS {
            let (shard_pages, rest_pages) = pages.split_at_mut(lines_per_shard);
            let (shard_tags, rest_tags) = tags.split_at_mut(lines_per_shard);
            shard_tags.fill(EMPTY);
            // Cannot fail: exactly DELTA_CACHE_SHARDS pushes.
            let _ = shards.push(spin::Mutex::new(Shard {
                tags: shard_tags,
                pages: shard_pages,
            }));
            pages = rest_pages;
            tags = rest_tags;
        }
        Some(DeltaCache {
            shards,
            lines_per_shard,
        })
    }

    /// Lines in the cache.
    pub fn lines(&self) -> usize {
        self.lines_per_shard * DELTA_CACHE_SHARDS
    }

    /// Runs `use_line` on the line `ra` maps to, under its shard's lock.
    pub fn with_line<R>(&self, ra: u64, use_line: impl FnOnce(CacheLine<'_>) -> R) -> R {
        let page_number = ra >> PAGE_SHIFT;
        // Fibonacci hashing spreads neighbouring pages over the shards.
        let hash = page_number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let shard_index = (hash >> 58) as usize % DELTA_CACHE_SHARDS;
        let line = (page_number as usize) % self.lines_per_shard;
        let mut shard = self.shards[shard_index].lock();
        let Shard { tags, pages } = &mut *shard;
        use_line(CacheLine {
            tag: &mut tags[line],
            page: &mut pages[line],
        })
    }

    /// True when `tag` marks an empty line.
    pub fn is_empty_tag(tag: u64) -> bool {
        tag == EMPTY
    }

    /// The tag of an emptied line.
    pub const EMPTY_TAG: u64 = EMPTY;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PAGE_SIZE;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn lines_hold_their_pages_and_collisions_replace_them() {
        let mut pages: Vec<Page> = vec![[0u8; PAGE_SIZE]; 2 * DELTA_CACHE_SHARDS + 5];
        let mut tags = vec![0u64; pages.len()];
        let cache = DeltaCache::new(&mut pages, &mut tags).expect("enough lines");
        assert_eq!(cache.lines(), 2 * DELTA_CACHE_SHARDS);
        let ra = 0x8000_0000u64;
        assert!(cache.with_line(ra, |line| DeltaCache::is_empty_tag(*line.tag)));
        cache.with_line(ra, |line| {
            *line.tag = ra;
            line.page[0] = 42;
        });
        assert_eq!(
            cache.with_line(ra, |line| (*line.tag, line.page[0])),
            (ra, 42)
        );
        // Some other page maps to the same line: it finds another tag.
        let collision = (1..10_000u64)
            .map(|index| ra + index * PAGE_SIZE as u64)
            .find(|&other| cache.with_line(other, |line| *line.tag == ra))
            .expect("a colliding page");
        assert_ne!(collision, ra);
        let mut none: Vec<Page> = vec![[0u8; PAGE_SIZE]; 3];
        let mut few = vec![0u64; 3];
        assert!(DeltaCache::new(&mut none, &mut few).is_none());
    }
}
