//! The write generator: which page each store of the guest hits (uniform
//! or a hot set, over the domain's blocks in order), what it writes there
//! (zeros, text-like or random bytes, cut from pools made once from the
//! seed) and how much (a few bytes up to a whole page).

use super::spec::{ContentMix, WorkloadSpec, WriteSpread};
use crate::machine::Machine;
use crate::rng::SplitMix64;
use ldmig_hv::abi::mmu::PAGE_SIZE;
use ldmig_hv::hypervisor::DomainId;

/// Page size in bytes as `u64`.
pub(super) const PAGE: u64 = PAGE_SIZE as u64;
/// Bytes of random content writes are cut from.
const RANDOM_POOL_BYTES: usize = 64 * 1024 + PAGE_SIZE;
/// Bytes of text-like content writes are cut from.
const TEXT_POOL_BYTES: usize = 32 * 1024 + PAGE_SIZE;
/// Longest partial write; one write in `WHOLE_PAGE_ONE_IN` covers a whole page.
const PARTIAL_WRITE_MAX_BYTES: usize = 512;
/// One text or random write in this many rewrites the whole page.
const WHOLE_PAGE_ONE_IN: u64 = 16;
/// Salt of the seed of the stream the writes draw from ("write").
const WRITE_SALT: u64 = 0x0077_7269_7465;
/// Salt of the seed of the content pools ("pool").
const POOL_SALT: u64 = 0x706f_6f6c;
/// Salt of the seed that places the hot set ("hot").
const HOT_SALT: u64 = 0x0068_6f74;

/// The contents of a cleared page.
static ZERO_PAGE: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// What one write puts in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Zero,
    Text,
    Random,
}

/// The domain's pages as the workload numbers them: blocks in order.
pub(super) struct Layout {
    /// (RA, first global page index) of each block.
    blocks: Vec<(u64, u64)>,
    pub(super) total_pages: u64,
    hot_pages: u64,
    hot_start: u64,
    hot_stride: u64,
}

impl Layout {
    pub(super) fn of(machine: &Machine, domain: DomainId, spec: &WorkloadSpec) -> Self {
        let mut blocks = Vec::new();
        let mut total_pages = 0;
        for (block, _) in machine.memory_blocks(domain) {
            blocks.push((block.ra, total_pages));
            total_pages += block.pages();
        }
        let mut layout = Layout {
            blocks,
            total_pages,
            hot_pages: 0,
            hot_start: 0,
            hot_stride: 1,
        };
        if let WriteSpread::HotSet {
            hot_pages_permille, ..
        } = spec.spread
        {
            if hot_pages_permille > 0 && total_pages > 0 {
                let share = u128::from(total_pages) * u128::from(hot_pages_permille) / 1000;
                layout.hot_pages = u64::try_from(share)
                    .unwrap_or(total_pages)
                    .clamp(1, total_pages);
                let mut rng = SplitMix64::new(spec.seed ^ HOT_SALT);
                layout.hot_start = rng.below(total_pages);
                let mut stride = 1 + rng.below(total_pages);
                while greatest_common_divisor(stride, total_pages) != 1 {
                    stride += 1;
                }
                layout.hot_stride = stride;
            }
        }
        layout
    }

    /// The RA of global page `index`.
    pub(super) fn page_ra(&self, index: u64) -> u64 {
        let position = self.blocks.partition_point(|&(_, first)| first <= index);
        let (ra, first) = self.blocks[position.saturating_sub(1)];
        ra + (index - first) * PAGE
    }

    /// The global index of hot page `k`.
    pub(super) fn hot_page(&self, k: u64) -> u64 {
        let step = u128::from(k) * u128::from(self.hot_stride);
        let page = (u128::from(self.hot_start) + step) % u128::from(self.total_pages);
        // Below `total_pages`, a u64: the conversion keeps every bit.
        u64::try_from(page).unwrap_or(0)
    }
}

fn greatest_common_divisor(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One store the generator chose, and the control flow around it (drawn
/// from the same stream, so that a seed replays the registers too).
pub(super) struct Store<'a> {
    /// Where it writes.
    pub(super) ra: u64,
    /// What it writes.
    pub(super) data: &'a [u8],
    /// Whether the vCPU branches after it.
    pub(super) jump: bool,
    /// The branch target bits (and the condition codes the store leaves).
    pub(super) target: u64,
}

/// The stores of one workload: its random stream and content pools.
pub(super) struct WriteGenerator {
    spread: WriteSpread,
    mix: ContentMix,
    rng: SplitMix64,
    text_pool: Vec<u8>,
    random_pool: Vec<u8>,
}

impl WriteGenerator {
    /// The generator of `spec`: pools and stream from its seed.
    pub(super) fn new(spec: &WorkloadSpec) -> Self {
        let mut pool_rng = SplitMix64::new(spec.seed ^ POOL_SALT);
        let mut random_pool = vec![0u8; RANDOM_POOL_BYTES];
        pool_rng.fill(&mut random_pool);
        let text_pool = text_like(&mut pool_rng, TEXT_POOL_BYTES);
        WriteGenerator {
            spread: spec.spread,
            mix: spec.mix,
            rng: SplitMix64::new(spec.seed ^ WRITE_SALT),
            text_pool,
            random_pool,
        }
    }

    /// A whole page of the mix's content, drawn from `rng` (the initial
    /// fill has its own stream).
    pub(super) fn page(&self, rng: &mut SplitMix64) -> &[u8] {
        match pick_content(rng, &self.mix) {
            Content::Zero => &ZERO_PAGE[..],
            Content::Text => cut(rng, &self.text_pool, PAGE_SIZE),
            Content::Random => cut(rng, &self.random_pool, PAGE_SIZE),
        }
    }

    /// The next store over `layout` (which must have pages): a page by
    /// the spread, a content by the mix, an extent from a few bytes to the
    /// whole page.
    pub(super) fn next_store(&mut self, layout: &Layout) -> Store<'_> {
        let rng = &mut self.rng;
        let page = match self.spread {
            WriteSpread::HotSet {
                hot_writes_permille,
                ..
            } if layout.hot_pages > 0 && rng.chance(u64::from(hot_writes_permille), 1000) => {
                layout.hot_page(rng.below(layout.hot_pages))
            }
            _ => rng.below(layout.total_pages),
        };
        let content = pick_content(rng, &self.mix);
        let (offset, data) = match content {
            Content::Zero => (0, &ZERO_PAGE[..]),
            Content::Text | Content::Random => {
                let pool = if content == Content::Text {
                    &self.text_pool
                } else {
                    &self.random_pool
                };
                let length = if rng.below(WHOLE_PAGE_ONE_IN) == 0 {
                    PAGE_SIZE
                } else {
                    1 + rng.index(PARTIAL_WRITE_MAX_BYTES)
                };
                let offset = rng.below(PAGE - length as u64 + 1);
                (offset, cut(rng, pool, length))
            }
        };
        let jump = rng.below(16) == 0;
        let target = rng.next_u64();
        Store {
            ra: layout.page_ra(page) + offset,
            data,
            jump,
            target,
        }
    }
}

/// Picks a content kind with the mix's weights.
fn pick_content(rng: &mut SplitMix64, mix: &ContentMix) -> Content {
    let total = u64::from(mix.zero_permille)
        + u64::from(mix.text_permille)
        + u64::from(mix.random_permille);
    if total == 0 {
        return Content::Zero;
    }
    let draw = rng.below(total);
    if draw < u64::from(mix.zero_permille) {
        Content::Zero
    } else if draw < u64::from(mix.zero_permille) + u64::from(mix.text_permille) {
        Content::Text
    } else {
        Content::Random
    }
}

/// `length` bytes of `pool` from a random offset.
fn cut<'a>(rng: &mut SplitMix64, pool: &'a [u8], length: usize) -> &'a [u8] {
    let start = rng.index(pool.len() - length + 1);
    &pool[start..start + length]
}

/// `length` bytes of text like a system log: words, numbers, punctuation, lines.
fn text_like(rng: &mut SplitMix64, length: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "ldg1",
        "kernel:",
        "vnet0",
        "vdisk",
        "primary",
        "memory",
        "block",
        "strand",
        "cpu",
        "link",
        "up",
        "down",
        "ok",
        "the",
        "domain",
        "service",
        "started",
        "stopped",
        "mondo",
        "queue",
        "interrupt",
        "page",
        "reclaim",
        "zfs",
        "arc",
        "write",
        "read",
        "error",
        "retry",
        "ssh",
        "session",
        "opened",
    ];
    const MONTHS: [&str; 4] = ["Jan", "Feb", "Mar", "Apr"];
    let mut text = Vec::with_capacity(length + 128);
    while text.len() < length {
        let line = format!(
            "{} {:2} {:02}:{:02}:{:02} ",
            MONTHS[rng.index(MONTHS.len())],
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        );
        text.extend_from_slice(line.as_bytes());
        for _ in 0..4 + rng.below(10) {
            text.extend_from_slice(WORDS[rng.index(WORDS.len())].as_bytes());
            if rng.below(5) == 0 {
                text.extend_from_slice(format!(" {}", rng.below(100_000)).as_bytes());
            }
            text.push(b' ');
        }
        text.push(b'\n');
    }
    text.truncate(length);
    text
}

#[cfg(test)]
mod tests {
    use super::super::test_machine::machine;
    use super::*;

    #[test]
    fn content_mix_weights_pick_every_kind() {
        let mut rng = SplitMix64::new(1);
        let only_text = ContentMix {
            zero_permille: 0,
            text_permille: 1,
            random_permille: 0,
        };
        let nothing = ContentMix {
            zero_permille: 0,
            text_permille: 0,
            random_permille: 0,
        };
        for _ in 0..100 {
            assert_eq!(pick_content(&mut rng, &only_text), Content::Text);
            assert_eq!(pick_content(&mut rng, &nothing), Content::Zero);
        }
    }

    #[test]
    fn hot_pages_are_distinct_and_inside_the_domain() {
        let (machine, domain) = machine();
        let spec = WorkloadSpec {
            spread: WriteSpread::HotSet {
                hot_pages_permille: 500,
                hot_writes_permille: 1000,
            },
            ..WorkloadSpec::hot(9)
        };
        let layout = Layout::of(&machine, domain, &spec);
        assert_eq!(layout.total_pages, 256);
        assert_eq!(layout.hot_pages, 128);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..layout.hot_pages {
            let page = layout.hot_page(k);
            assert!(page < 256);
            assert!(seen.insert(page), "hot page {page} repeated");
        }
        assert_eq!(layout.page_ra(0), 0x800_0000);
        assert_eq!(layout.page_ra(191), 0x800_0000 + 191 * PAGE);
        assert_eq!(layout.page_ra(192), 0x4000_0000);
        assert_eq!(layout.page_ra(255), 0x4000_0000 + 63 * PAGE);
    }
}
