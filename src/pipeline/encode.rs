//! The source's job: a batch's pages into a frame's payload of records,
//! each as zero, a delta against the cached version (re-sent pages), an
//! LZ4 block or raw, as the batch's choices say; the payload's CRC32 for
//! the frame header; the time each way took.

use super::batch::{Batch, PageKind};
use super::cache::DeltaCache;
use super::rates::{index, EncodeRates, Method, METHODS};
use crate::page::{is_zero, Page};
use crate::wire::record::{
    encode_delta_record, encode_page_as, EncodeChoice, PageEncoding, RECORD_HEADER_BYTES,
};
use crate::wire::FRAME_HEADER_BYTES;

/// Time and bytes per method over one batch.
#[derive(Default)]
struct Costs {
    pages: [u64; METHODS.len()],
    nanoseconds: [u64; METHODS.len()],
    bytes: [u64; METHODS.len()],
}

impl Costs {
    fn add(&mut self, method: Method, nanoseconds: u64, bytes: usize) {
        let at = index(method);
        self.pages[at] += 1;
        self.nanoseconds[at] += nanoseconds;
        self.bytes[at] += bytes as u64;
    }

    fn report(&self, rates: &EncodeRates) {
        for (at, method) in METHODS.into_iter().enumerate() {
            if self.pages[at] > 0 {
                rates.add(method, self.pages[at], self.nanoseconds[at], self.bytes[at]);
            }
        }
    }
}

pub(super) fn encode_batch(
    batch: &mut Batch<'_>,
    cache: Option<&DeltaCache<'_>>,
    rates: &EncodeRates,
    clock: &dyn Fn() -> u64,
) {
    let mut offset = FRAME_HEADER_BYTES;
    let mut costs = Costs::default();
    let cache = cache.filter(|_| batch.kind == PageKind::Resend);
    let Batch {
        pages,
        frame,
        count,
        ras,
        choices,
        delta_limit,
        tally,
        ..
    } = batch;
    let mut started = clock();
    for index in 0..*count {
        let (page, ra, choice) = (&pages[index], ras[index], choices[index]);
        let out = &mut frame[offset..];
        let encoded = match cache {
            Some(cache) => {
                let (delta, missed) = with_cache(cache, ra, page, *delta_limit, out);
                if missed {
                    tally.cache_misses += 1;
                }
                delta
            }
            None => None,
        };
        let (encoding, size) = match encoded {
            Some(size) => (PageEncoding::Delta, size),
            None => match encode_page_as(ra, page, choice, out) {
                Ok(result) => result,
                // The caller sized the frame for its pages' worst case.
                Err(_) => break,
            },
        };
        tally.count(encoding, size - RECORD_HEADER_BYTES);
        if matches!(encoding, PageEncoding::Lz4 | PageEncoding::Raw) {
            let asked = match choice {
                EncodeChoice::Lz4 => Some(&mut tally.lz4_asked),
                EncodeChoice::Lz4Deep => Some(&mut tally.deep_asked),
                EncodeChoice::Raw => None,
            };
            if let Some(asked) = asked {
                asked.0 += 1;
                asked.1 += size as u64;
            }
            if choice == EncodeChoice::Lz4Deep && encoding == PageEncoding::Lz4 {
                tally.deep_compressed += 1;
            }
        }
        offset += size;
        let now = clock();
        let method = match (encoding, choice) {
            (PageEncoding::Delta, _) => Some(Method::Delta),
            // A zero page costs the zero check whatever was asked.
            (PageEncoding::Zero, _) => None,
            (_, EncodeChoice::Lz4) => Some(Method::Lz4),
            (_, EncodeChoice::Lz4Deep) => Some(Method::Lz4Deep),
            (_, EncodeChoice::Raw) => Some(Method::Raw),
        };
        // A delta tried and not taken counts in the cost of the way the
        // page went instead.
        if let Some(method) = method {
            costs.add(method, now.saturating_sub(started), size);
        }
        started = now;
    }
    batch.payload_len = offset - FRAME_HEADER_BYTES;
    batch.payload_crc = crc32fast::Hasher::new();
    batch
        .payload_crc
        .update(&batch.frame[FRAME_HEADER_BYTES..offset]);
    costs.report(rates);
}

/// Looks `ra` up in the cache: writes a delta record into `out` when the
/// line holds its last version and the delta is shorter than `limit`,
/// then refreshes the line with `page` (or empties it for a zero page).
/// Returns the delta's size, if one was written, and whether the line
/// missed.
fn with_cache(
    cache: &DeltaCache<'_>,
    ra: u64,
    page: &Page,
    limit: usize,
    out: &mut [u8],
) -> (Option<usize>, bool) {
    cache.with_line(ra, |line| {
        if is_zero(page) {
            // A zero record is the shortest: no delta; the line goes.
            if *line.tag == ra {
                *line.tag = DeltaCache::EMPTY_TAG;
            }
            return (None, false);
        }
        let hit = *line.tag == ra;
        let delta = if hit && limit > 0 {
            encode_delta_record(ra, page, line.page, limit, out)
        } else {
            None
        };
        *line.tag = ra;
        line.page.copy_from_slice(page);
        (delta, !hit)
    })
}
