//! LZ4 blocks from a deeper search: hash chains over the whole page and a
//! one-step lazy parse, for when the link, not the workers, bounds a
//! migration (a capped or slow link). The output is a standard LZ4 block
//! that any LZ4 decoder reads (`lz4_flex::block::decompress_into` here);
//! only the encoder spends more time to find longer and nearer matches.
//!
//! `lz4_flex`'s block encoder keeps one candidate per hash and skips ahead
//! on incompressible input. This one keeps every earlier position of the
//! page in a chain per hash, tries up to [`MAX_ATTEMPTS`] of them, and,
//! before taking a match, checks whether the next position starts a longer
//! one (then the current byte goes as a literal). On the real-file image of
//! `benches/qemu_peer.sh` it sends about 7 % fewer bytes than `lz4_flex`,
//! at a fifth of its speed (BENCHMARKS.md, "Issue 12").
//!
//! The block follows the format's end rules (LZ4 Block Format, "End of
//! block conditions"): the last [`LAST_LITERALS`] bytes are literals and no
//! match starts within the last [`MATCH_FIND_LIMIT`] bytes.

use crate::page::{Page, PAGE_SIZE};

/// The shortest match the format can express.
const MIN_MATCH: usize = 4;
/// Bytes at the end of a block that are always literals.
const LAST_LITERALS: usize = 5;
/// No match starts in the last this many bytes of a block.
const MATCH_FIND_LIMIT: usize = 12;
/// Chain entries tried per position.
pub const MAX_ATTEMPTS: usize = 8;
/// A match this long is taken without looking for a longer one.
const GOOD_LENGTH: usize = 32;
/// After `2^SKIP_STRENGTH` positions without a match in a row, every
/// other position is searched, then every third, and so on.
const SKIP_STRENGTH: u32 = 6;
/// Bits of the hash of four bytes.
const HASH_BITS: u32 = 13;
/// "No earlier position": chains and heads hold positions plus one.
const NONE: u16 = 0;

// Positions plus one fit a u16 (the page is 8 KiB), and every offset fits
// the format's 16-bit offset.
const _: () = assert!(PAGE_SIZE < u16::MAX as usize);

/// Every earlier position of the page, chained by the hash of its first
/// four bytes.
struct Chains {
    heads: [u16; 1 << HASH_BITS],
    previous: [u16; PAGE_SIZE],
    /// The first position not inserted yet.
    next: usize,
}

fn read_u32(page: &Page, at: usize) -> u32 {
    u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]])
}

fn hash(page: &Page, at: usize) -> usize {
    (read_u32(page, at).wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

fn read_u64(page: &Page, at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&page[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Bytes equal from `earlier` and `at` on, up to `limit` (exclusive) for
/// `at`: eight at a time, then one at a time.
fn common_length(page: &Page, earlier: usize, at: usize, limit: usize) -> usize {
    let mut length = 0;
    while at + length + 8 <= limit {
        let differ = read_u64(page, earlier + length) ^ read_u64(page, at + length);
        if differ != 0 {
            return length + (differ.trailing_zeros() / 8) as usize;
        }
        length += 8;
    }
    while at + length < limit && page[earlier + length] == page[at + length] {
        length += 1;
    }
    length
}

impl Chains {
    fn new() -> Self {
        Chains {
            heads: [NONE; 1 << HASH_BITS],
            previous: [NONE; PAGE_SIZE],
            next: 0,
        }
    }

    /// Inserts every position before `at`.
    fn insert_up_to(&mut self, page: &Page, at: usize) {
        while self.next < at {
            let head = &mut self.heads[hash(page, self.next)];
            self.previous[self.next] = *head;
            #[allow(clippy::cast_possible_truncation)] // at most PAGE_SIZE: a u16
            let position = (self.next + 1) as u16;
            *head = position;
            self.next += 1;
        }
    }

    /// The longest match for `at` among earlier positions: (offset,
    /// length), with the match ending before `limit`.
    fn longest(&mut self, page: &Page, at: usize, limit: usize) -> Option<(usize, usize)> {
        self.insert_up_to(page, at);
        let want = read_u32(page, at);
        let mut best: Option<(usize, usize)> = None;
        let mut candidate = self.heads[hash(page, at)];
        for _ in 0..MAX_ATTEMPTS {
            if candidate == NONE {
                break;
            }
            let earlier = usize::from(candidate) - 1;
            let best_length = best.map_or(MIN_MATCH - 1, |(_, length)| length);
            // Cheap rejections first: the four bytes, then the byte that
            // would make it longer than the best.
            if read_u32(page, earlier) == want
                && at + best_length < limit
                && page[earlier + best_length] == page[at + best_length]
            {
                let length = common_length(page, earlier, at, limit);
                if length > best_length {
                    best = Some((at - earlier, length));
                    if length >= GOOD_LENGTH || at + length == limit {
                        break;
                    }
                }
            }
            candidate = self.previous[earlier];
        }
        best
    }
}

/// Writes LZ4 blocks into a bounded buffer; `None` once it is full.
struct BlockWriter<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl BlockWriter<'_> {
    fn byte(&mut self, value: u8) -> Option<()> {
        *self.out.get_mut(self.at)? = value;
        self.at += 1;
        Some(())
    }

    fn bytes(&mut self, values: &[u8]) -> Option<()> {
        let end = self.at.checked_add(values.len())?;
        self.out.get_mut(self.at..end)?.copy_from_slice(values);
        self.at = end;
        Some(())
    }

    /// The 255-runs of a length past its token's 15.
    fn length_tail(&mut self, mut rest: usize) -> Option<()> {
        while rest >= 255 {
            self.byte(255)?;
            rest -= 255;
        }
        #[allow(clippy::cast_possible_truncation)] // below 255
        self.byte(rest as u8)
    }

    /// One sequence: `literals`, then a match of `length` at `offset` back
    /// (none for the block's last sequence).
    // The nibbles are at most 15 and the offset below PAGE_SIZE: the casts
    // keep every bit.
    #[allow(clippy::cast_possible_truncation)]
    fn sequence(&mut self, literals: &[u8], matched: Option<(usize, usize)>) -> Option<()> {
        let literal_nibble = literals.len().min(15) as u8;
        let match_nibble = matched.map_or(0, |(_, length)| (length - MIN_MATCH).min(15) as u8);
        self.byte(literal_nibble << 4 | match_nibble)?;
        if literals.len() >= 15 {
            self.length_tail(literals.len() - 15)?;
        }
        self.bytes(literals)?;
        if let Some((offset, length)) = matched {
            self.bytes(&(offset as u16).to_le_bytes())?;
            if length - MIN_MATCH >= 15 {
                self.length_tail(length - MIN_MATCH - 15)?;
            }
        }
        Some(())
    }
}

/// Compresses `page` into `out` as one LZ4 block; returns its length, or
/// `None` when it does not fit `out`.
pub fn compress_into(page: &Page, out: &mut [u8]) -> Option<usize> {
    let mut chains = Chains::new();
    let mut writer = BlockWriter { out, at: 0 };
    // Matches end before this (the last literals), and start before
    // `start_limit`.
    let match_limit = PAGE_SIZE - LAST_LITERALS;
    let start_limit = PAGE_SIZE - MATCH_FIND_LIMIT;
    let mut anchor = 0;
    let mut at = 0;
    let mut misses = 0;
    while at < start_limit {
        let Some(mut found) = chains.longest(page, at, match_limit) else {
            // Incompressible bytes: search ever more sparsely, as LZ4's
            // own encoder does.
            misses += 1;
            at += 1 + (misses >> SKIP_STRENGTH);
            continue;
        };
        misses = 0;
        // Lazy: a longer match one byte on sends this byte as a literal.
        while found.1 < GOOD_LENGTH && at + 1 < start_limit {
            match chains.longest(page, at + 1, match_limit) {
                Some(next) if next.1 > found.1 => {
                    at += 1;
                    found = next;
                }
                _ => break,
            }
        }
        writer.sequence(&page[anchor..at], Some(found))?;
        at += found.1;
        anchor = at;
    }
    writer.sequence(&page[anchor..], None)?;
    Some(writer.at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompressed(block: &[u8]) -> Page {
        let mut page = [0u8; PAGE_SIZE];
        let length = lz4_flex::block::decompress_into(block, &mut page).expect("valid LZ4");
        assert_eq!(length, PAGE_SIZE);
        page
    }

    /// A length of a sequence: its token nibble, then while the nibble is
    /// 15, the bytes that follow until one is under 255.
    fn length(block: &[u8], at: &mut usize, nibble: u8) -> usize {
        let mut length = usize::from(nibble);
        if nibble == 15 {
            while block[*at] == 255 {
                length += 255;
                *at += 1;
            }
            length += usize::from(block[*at]);
            *at += 1;
        }
        length
    }

    /// Walks the block's sequences and checks the end rules: the last
    /// five bytes are literals and no match starts in the last twelve.
    fn assert_end_rules(block: &[u8]) {
        let (mut at, mut output) = (0, 0usize);
        loop {
            let token = block[at];
            at += 1;
            let literals = length(block, &mut at, token >> 4);
            at += literals;
            output += literals;
            if at == block.len() {
                assert!(literals >= LAST_LITERALS.min(output), "short last literals");
                return;
            }
            assert!(
                output <= PAGE_SIZE - MATCH_FIND_LIMIT,
                "a match starts at {output}"
            );
            at += 2;
            output += length(block, &mut at, token & 15) + MIN_MATCH;
            assert!(
                output <= PAGE_SIZE - LAST_LITERALS,
                "a match ends at {output}"
            );
        }
    }

    /// A page of text-like bytes: words from a small vocabulary, in a
    /// pseudo-random order.
    fn text_page(seed: u32) -> Page {
        const WORDS: [&[u8]; 12] = [
            b"migration ",
            b"domain ",
            b"page ",
            b"the ",
            b"of ",
            b"sun4v ",
            b"hypervisor ",
            b"dirty ",
            b"round ",
            b"\n",
            b"ldmig ",
            b"LDC ",
        ];
        let mut page = [0u8; PAGE_SIZE];
        let (mut state, mut at) = (seed | 1, 0);
        while at < PAGE_SIZE {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            for &byte in WORDS[(state % 12) as usize] {
                if at < PAGE_SIZE {
                    page[at] = byte;
                    at += 1;
                }
            }
        }
        page
    }

    fn noise_page(seed: u32) -> Page {
        let mut page = [0u8; PAGE_SIZE];
        let mut state = seed | 1;
        for byte in page.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *byte = (state >> 24) as u8;
        }
        page
    }

    fn pages() -> [Page; 7] {
        let mut runs = [0u8; PAGE_SIZE];
        for (at, byte) in runs.iter_mut().enumerate() {
            *byte = (at / 300) as u8;
        }
        let mut half = noise_page(7);
        half[PAGE_SIZE / 2..].fill(0xab);
        let mut tail = [0u8; PAGE_SIZE];
        tail[PAGE_SIZE - 3..].copy_from_slice(b"end");
        [
            text_page(1),
            text_page(99),
            noise_page(3),
            runs,
            half,
            [0x55; PAGE_SIZE],
            tail,
        ]
    }

    #[test]
    fn every_block_decodes_to_its_page_and_keeps_the_end_rules() {
        let mut block = [0u8; 2 * PAGE_SIZE];
        for (index, page) in pages().iter().enumerate() {
            let length = compress_into(page, &mut block).expect("fits twice a page");
            assert_eq!(&decompressed(&block[..length]), page, "page {index}");
            assert_end_rules(&block[..length]);
        }
    }

    #[test]
    fn it_sends_fewer_bytes_than_lz4_flex_on_text() {
        let (mut deep, mut flex) = ([0u8; 2 * PAGE_SIZE], [0u8; 2 * PAGE_SIZE]);
        for seed in [1, 5, 17, 99] {
            let page = text_page(seed);
            let deep_length = compress_into(&page, &mut deep).expect("fits");
            let flex_length = lz4_flex::block::compress_into(&page, &mut flex).expect("fits");
            assert!(
                deep_length < flex_length,
                "seed {seed}: {deep_length} >= {flex_length}"
            );
        }
    }

    #[test]
    fn a_full_buffer_gives_none_never_a_panic() {
        let mut block = [0u8; 2 * PAGE_SIZE];
        for page in pages() {
            let length = compress_into(&page, &mut block).expect("fits");
            for size in [0, 1, length / 2, length - 1] {
                assert_eq!(compress_into(&page, &mut block[..size]), None, "{size}");
            }
            assert_eq!(compress_into(&page, &mut block[..length]), Some(length));
        }
    }
}
