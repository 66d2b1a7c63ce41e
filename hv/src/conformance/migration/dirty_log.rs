//! Cases of `MIG_DIRTY_LOG_START`, `MIG_DIRTY_LOG_SYNC` and
//! `MIG_DIRTY_LOG_STOP`.

use super::fixture::{bitmap_words, AlignedPage, MigrationFixture, BITMAP_WORDS};
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, succeeds, CaseResult};
use crate::hypervisor::{Hypervisor, MemoryBlock};
use crate::HvError;

/// Checks that the first `bitmap_words(block)` words of `bitmap` have
/// exactly the block's pages set (`all`) or none, and every word after
/// them up to `words` is 0.
fn bitmap_is(bitmap: &[u64], block: &MemoryBlock, all: bool, words: usize) -> CaseResult {
    let pages = block.pages();
    for (index, word) in bitmap.iter().take(words).enumerate() {
        let first_page = index as u64 * 64;
        let expected = if !all || first_page >= pages {
            0
        } else if pages - first_page >= 64 {
            u64::MAX
        } else {
            (1u64 << (pages - first_page)) - 1
        };
        equals("a dirty-bitmap word", *word, expected)?;
    }
    Ok(())
}

define_case! {
    /// Starting marks every page dirty; a sync copies and clears the bits.
    dirty_log_start_marks_every_page_and_sync_clears<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_START, MIG_DIRTY_LOG_SYNC",
    |hypervisor, fixture| {
        let block = fixture.block(1)?;
        let words = bitmap_words(&block);
        let mut bitmap = [0u64; BITMAP_WORDS];
        succeeds("MIG_DIRTY_LOG_START of block 1", hypervisor.dirty_log_start(fixture.domain, 1))?;
        let dirty = succeeds(
            "MIG_DIRTY_LOG_SYNC right after start",
            hypervisor.dirty_log_sync(fixture.domain, 1, &mut bitmap[..words]),
        )?;
        equals("RET1 after start: every page of the block", dirty, block.pages())?;
        bitmap_is(&bitmap, &block, true, words)?;
        let dirty = succeeds(
            "a second MIG_DIRTY_LOG_SYNC",
            hypervisor.dirty_log_sync(fixture.domain, 1, &mut bitmap[..words]),
        )?;
        equals("RET1 of the second sync", dirty, 0)?;
        bitmap_is(&bitmap, &block, false, words)
    }
}

define_case! {
    /// `MIG_PAGE_WRITE` does not mark the page dirty.
    dirty_log_page_write_does_not_mark_dirty<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_SYNC, MIG_PAGE_WRITE",
    |hypervisor, fixture| {
        let block = fixture.block(0)?;
        let words = bitmap_words(&block);
        let mut bitmap = [0u64; BITMAP_WORDS];
        succeeds("MIG_DIRTY_LOG_START of block 0", hypervisor.dirty_log_start(fixture.domain, 0))?;
        succeeds(
            "MIG_DIRTY_LOG_SYNC after start",
            hypervisor.dirty_log_sync(fixture.domain, 0, &mut bitmap[..words]),
        )?;
        let page = AlignedPage::filled(5);
        succeeds("MIG_PAGE_WRITE", hypervisor.write_memory(fixture.domain, block.ra, &page.0[..16]))?;
        let dirty = succeeds(
            "MIG_DIRTY_LOG_SYNC after the write",
            hypervisor.dirty_log_sync(fixture.domain, 0, &mut bitmap[..words]),
        )?;
        equals("pages dirtied by MIG_PAGE_WRITE", dirty, 0)
    }
}

define_case! {
    /// Starting a logging block again marks every page dirty again.
    dirty_log_start_again_resets_every_page_dirty<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_START",
    |hypervisor, fixture| {
        let block = fixture.block(1)?;
        let words = bitmap_words(&block);
        let mut bitmap = [0u64; BITMAP_WORDS];
        succeeds("MIG_DIRTY_LOG_START", hypervisor.dirty_log_start(fixture.domain, 1))?;
        succeeds(
            "MIG_DIRTY_LOG_SYNC",
            hypervisor.dirty_log_sync(fixture.domain, 1, &mut bitmap[..words]),
        )?;
        succeeds("MIG_DIRTY_LOG_START again", hypervisor.dirty_log_start(fixture.domain, 1))?;
        let dirty = succeeds(
            "MIG_DIRTY_LOG_SYNC after the restart",
            hypervisor.dirty_log_sync(fixture.domain, 1, &mut bitmap[..words]),
        )?;
        equals("pages dirty after a restart", dirty, block.pages())
    }
}

define_case! {
    /// Bitmap words past the block's come back 0.
    dirty_log_sync_zeroes_bitmap_words_past_the_block<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_SYNC",
    |hypervisor, fixture| {
        let block = fixture.block(1)?;
        let words = (bitmap_words(&block) + 2).min(BITMAP_WORDS);
        let mut bitmap = [u64::MAX; BITMAP_WORDS];
        succeeds("MIG_DIRTY_LOG_START", hypervisor.dirty_log_start(fixture.domain, 1))?;
        let dirty = succeeds(
            "MIG_DIRTY_LOG_SYNC with two spare words",
            hypervisor.dirty_log_sync(fixture.domain, 1, &mut bitmap[..words]),
        )?;
        equals("RET1", dirty, block.pages())?;
        bitmap_is(&bitmap, &block, true, words)
    }
}

define_case! {
    /// A bitmap shorter than `ceil(pages / 64)` words is `EINVAL`.
    dirty_log_sync_bitmap_too_small_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_SYNC",
    |hypervisor, fixture| {
        let block = fixture.block(0)?;
        let mut bitmap = [0u64; BITMAP_WORDS];
        succeeds("MIG_DIRTY_LOG_START", hypervisor.dirty_log_start(fixture.domain, 0))?;
        each_fails_with!(HvError::Invalid;
            "MIG_DIRTY_LOG_SYNC into one word less than the block needs" => hypervisor.dirty_log_sync(fixture.domain, 0, &mut bitmap[..bitmap_words(&block) - 1]),
            "MIG_DIRTY_LOG_SYNC into an empty bitmap" => hypervisor.dirty_log_sync(fixture.domain, 0, &mut []),
        )
    }
}

define_case! {
    /// SYNC and STOP without logging on are `EINVAL`; a stop ends it.
    dirty_log_sync_and_stop_without_start_are_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_SYNC, MIG_DIRTY_LOG_STOP",
    |hypervisor, fixture| {
        let block = fixture.block(0)?;
        let words = bitmap_words(&block);
        let mut bitmap = [0u64; BITMAP_WORDS];
        each_fails_with!(HvError::Invalid;
            "MIG_DIRTY_LOG_SYNC before any start" => hypervisor.dirty_log_sync(fixture.domain, 0, &mut bitmap[..words]),
            "MIG_DIRTY_LOG_STOP before any start" => hypervisor.dirty_log_stop(fixture.domain, 0),
        )?;
        succeeds("MIG_DIRTY_LOG_START", hypervisor.dirty_log_start(fixture.domain, 0))?;
        succeeds("MIG_DIRTY_LOG_STOP", hypervisor.dirty_log_stop(fixture.domain, 0))?;
        each_fails_with!(HvError::Invalid;
            "MIG_DIRTY_LOG_STOP of a stopped block" => hypervisor.dirty_log_stop(fixture.domain, 0),
            "MIG_DIRTY_LOG_SYNC of a stopped block" => hypervisor.dirty_log_sync(fixture.domain, 0, &mut bitmap[..words]),
        )
    }
}

define_case! {
    /// A block past the last, or an unknown domain, is `EINVAL` for all three.
    dirty_log_bad_block_or_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DIRTY_LOG_START, MIG_DIRTY_LOG_SYNC, MIG_DIRTY_LOG_STOP",
    |hypervisor, fixture| {
        let past = fixture.blocks.len() as u64;
        let mut bitmap = [0u64; BITMAP_WORDS];
        each_fails_with!(HvError::Invalid;
            "MIG_DIRTY_LOG_START of a block past the last" => hypervisor.dirty_log_start(fixture.domain, past),
            "MIG_DIRTY_LOG_SYNC of a block past the last" => hypervisor.dirty_log_sync(fixture.domain, past, &mut bitmap),
            "MIG_DIRTY_LOG_STOP of a block past the last" => hypervisor.dirty_log_stop(fixture.domain, past),
            "MIG_DIRTY_LOG_START of an unknown domain" => hypervisor.dirty_log_start(fixture.unknown_domain, 0),
            "MIG_DIRTY_LOG_SYNC of an unknown domain" => hypervisor.dirty_log_sync(fixture.unknown_domain, 0, &mut bitmap),
            "MIG_DIRTY_LOG_STOP of an unknown domain" => hypervisor.dirty_log_stop(fixture.unknown_domain, 0),
        )
    }
}
