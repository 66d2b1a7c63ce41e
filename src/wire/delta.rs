//! The delta encoding of a re-sent page (XBZRLE-style, as QEMU's): the runs
//! of bytes that changed since the version of the page last sent, each
//! after the count of unchanged bytes before it.
//!
//! ```text
//! delta = run+
//! run   = DeltaRun { skip u16, length u16 } | length new bytes
//! ```
//!
//! From the start of the page: `skip` bytes stay as they were, then the
//! next `length` bytes (1 or more) are the new ones that follow the run
//! header. The runs cover at most the page; bytes after the last run stay
//! as they were. A delta is only ever carried when it is shorter than a
//! page ([`super::record::PageEncoding::Delta`]), and applies to the
//! version of the page the target holds: the one the source sent last,
//! since a round's end is a barrier (see [`super::messages`]).
//!
//! The decoder bounds every run against the page and the data before it
//! copies a byte, and never panics; the page's CRC32 (in the record
//! header) is checked on the result before anything reaches guest memory.

use super::codec::{wire_struct, DecodeError, WireStruct};
use crate::page::{Page, PAGE_SIZE};
use zerocopy::byteorder::big_endian::U16;
use zerocopy::IntoBytes;

wire_struct! {
    /// One run of changed bytes. Big-endian, 4 bytes.
    pub struct DeltaRun {
        /// Unchanged bytes before the run.
        pub skip: U16,
        /// Changed bytes in the run (they follow this header); not 0.
        pub length: U16,
    }
    validate(run) {
        if run.length.get() == 0 {
            Err(DecodeError::InvalidValue { field: "length", value: 0 })
        } else {
            Ok(())
        }
    }
}

/// Bytes of a [`DeltaRun`] header.
pub const DELTA_RUN_BYTES: usize = core::mem::size_of::<DeltaRun>();

/// Unchanged gaps shorter than this are carried inside the run around
/// them: a new run would cost its header.
const MERGE_GAP: usize = DELTA_RUN_BYTES;

/// Bytes compared at a time while looking for changes.
const WORD: usize = 8;

/// Writes the delta from `old` to `new` into `out`; returns its length, or
/// `None` when the pages are equal (nothing to carry) or when the delta
/// would not fit in `out` (the caller then sends the page another way:
/// `out`'s length is the most the delta may cost).
pub fn encode_delta(old: &Page, new: &Page, out: &mut [u8]) -> Option<usize> {
    let mut written = 0;
    // Where the last run ended (the next `skip` counts from here).
    let mut covered = 0;
    let mut at = 0;
    while at < PAGE_SIZE {
        // Skip equal words, then find the first differing byte.
        match first_difference(old, new, at) {
            None => break,
            Some(start) => {
                let end = end_of_change(old, new, start);
                let run_length = end - start;
                let skip = start - covered;
                let needed = DELTA_RUN_BYTES + run_length;
                let room = out.get_mut(written..written + needed)?;
                let run = DeltaRun {
                    skip: U16::new(u16::try_from(skip).ok()?),
                    length: U16::new(u16::try_from(run_length).ok()?),
                };
                room[..DELTA_RUN_BYTES].copy_from_slice(run.as_bytes());
                room[DELTA_RUN_BYTES..].copy_from_slice(&new[start..end]);
                written += needed;
                covered = end;
                at = end;
            }
        }
    }
    (written > 0).then_some(written)
}

/// The first byte at or after `from` where the pages differ.
fn first_difference(old: &Page, new: &Page, from: usize) -> Option<usize> {
    let mut at = from;
    // Byte by byte to a word boundary, then word by word.
    while at < PAGE_SIZE && !at.is_multiple_of(WORD) {
        if old[at] != new[at] {
            return Some(at);
        }
        at += 1;
    }
    while at < PAGE_SIZE {
        if old[at..at + WORD] != new[at..at + WORD] {
            return (at..at + WORD).find(|&index| old[index] != new[index]);
        }
        at += WORD;
    }
    None
}

/// The end of the change that starts at `start`: the first byte of a run
/// of at least [`MERGE_GAP`] equal bytes after it (or the page's end).
fn end_of_change(old: &Page, new: &Page, start: usize) -> usize {
    let mut at = start;
    let mut equal = 0;
    while at < PAGE_SIZE {
        if old[at] == new[at] {
            equal += 1;
            if equal == MERGE_GAP {
                return at + 1 - MERGE_GAP;
            }
        } else {
            equal = 0;
        }
        at += 1;
    }
    PAGE_SIZE - equal
}

/// Applies `delta` to `page` (the version the source sent last), checking
/// every run against the page and the data before copying it. On error the
/// page may hold part of the delta: callers apply it to a scratch copy.
pub fn apply_delta(page: &mut Page, delta: &[u8]) -> Result<(), DecodeError> {
    let mut rest = delta;
    let mut position = 0usize;
    if rest.is_empty() {
        return Err(DecodeError::Truncated {
            what: "DeltaRun",
            needed: DELTA_RUN_BYTES,
            available: 0,
        });
    }
    while !rest.is_empty() {
        let (run, after) = DeltaRun::decode_prefix(rest)?;
        let start = position + usize::from(run.skip.get());
        let length = usize::from(run.length.get());
        let end = start + length;
        if end > PAGE_SIZE {
            return Err(DecodeError::InvalidValue {
                field: "skip",
                value: end as u64,
            });
        }
        let bytes = after.get(..length).ok_or(DecodeError::Truncated {
            what: "delta run",
            needed: DELTA_RUN_BYTES + length,
            available: rest.len(),
        })?;
        page[start..end].copy_from_slice(bytes);
        rest = &after[length..];
        position = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_sim::rng::{test_seed, SplitMix64};

    fn random_page(rng: &mut SplitMix64) -> Page {
        let mut page = [0u8; PAGE_SIZE];
        rng.fill(&mut page);
        page
    }

    #[test]
    fn delta_run_layout() {
        assert_eq!(DELTA_RUN_BYTES, 4);
        assert_eq!(core::mem::offset_of!(DeltaRun, length), 2);
    }

    #[test]
    fn delta_round_trips_sparse_and_dense_changes() {
        let seed = test_seed(0xde17a);
        println!("seed {seed}");
        let mut rng = SplitMix64::new(seed);
        let mut out = [0u8; PAGE_SIZE];
        for case in 0..400 {
            let old = random_page(&mut rng);
            let mut new = old;
            // A few writes of a few bytes up to whole stretches.
            for _ in 0..1 + rng.below(12) {
                let length = 1 + rng.below(if case % 4 == 0 { 2048 } else { 64 }) as usize;
                let at = rng.below((PAGE_SIZE - length) as u64 + 1) as usize;
                rng.fill(&mut new[at..at + length]);
            }
            if case % 50 == 0 {
                new[PAGE_SIZE - 1] ^= 0xff;
                new[0] ^= 0x01;
            }
            match encode_delta(&old, &new, &mut out) {
                Some(length) => {
                    let mut page = old;
                    apply_delta(&mut page, &out[..length]).expect("own delta applies");
                    assert_eq!(page, new, "seed {seed} case {case}");
                }
                None => assert_eq!(old, new, "seed {seed} case {case}: no delta"),
            }
        }
    }

    #[test]
    fn equal_pages_and_short_room_give_no_delta() {
        let page = [7u8; PAGE_SIZE];
        let mut out = [0u8; 64];
        assert_eq!(encode_delta(&page, &page, &mut out), None);
        let mut changed = page;
        changed[100..200].fill(9);
        // 4 header bytes and 100 changed ones do not fit in 64.
        assert_eq!(encode_delta(&page, &changed, &mut out), None);
        let mut big = [0u8; 256];
        assert_eq!(encode_delta(&page, &changed, &mut big), Some(104));
        // Gaps shorter than a run header are merged into one run.
        let mut near = page;
        near[10] = 1;
        near[12] = 1;
        near[3000] = 1;
        assert_eq!(encode_delta(&page, &near, &mut big), Some(2 * 4 + 3 + 1));
    }

    #[test]
    fn bad_deltas_are_typed_errors() {
        let mut page = [0u8; PAGE_SIZE];
        let run = |skip: u16, length: u16| {
            DeltaRun {
                skip: U16::new(skip),
                length: U16::new(length),
            }
            .as_bytes()
            .to_vec()
        };
        assert!(matches!(
            apply_delta(&mut page, &[]),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(
            apply_delta(&mut page, &run(0, 0)),
            Err(DecodeError::InvalidValue {
                field: "length",
                value: 0
            })
        );
        let mut past_the_end = run(8190, 4);
        past_the_end.extend_from_slice(&[1; 4]);
        assert_eq!(
            apply_delta(&mut page, &past_the_end),
            Err(DecodeError::InvalidValue {
                field: "skip",
                value: 8194
            })
        );
        let mut short = run(0, 10);
        short.extend_from_slice(&[1; 9]);
        assert!(matches!(
            apply_delta(&mut page, &short),
            Err(DecodeError::Truncated {
                what: "delta run",
                ..
            })
        ));
        assert!(matches!(
            apply_delta(&mut page, &[0, 1]),
            Err(DecodeError::Truncated {
                what: "DeltaRun",
                ..
            })
        ));
        assert!(page.iter().all(|&byte| byte == 0));
    }

    #[test]
    fn seeded_fuzz_of_deltas_never_panics() {
        let seed = test_seed(0xf022);
        println!("seed {seed}");
        let mut rng = SplitMix64::new(seed);
        let mut accepted = 0;
        for _ in 0..5000 {
            let mut bytes = std::vec![0u8; rng.below(64) as usize];
            rng.fill(&mut bytes);
            // Mostly small skips, so that some deltas are valid.
            for chunk in bytes.chunks_mut(8) {
                chunk[0] &= 0x1f;
            }
            let mut page = [0u8; PAGE_SIZE];
            if apply_delta(&mut page, &bytes).is_ok() {
                accepted += 1;
            }
        }
        println!("seed {seed}: {accepted} of 5000 accepted");
    }
}
