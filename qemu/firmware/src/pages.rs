//! The pages the self-test moves: all-zero, text-like (compresses), and
//! seeded pseudo-random (does not compress), plus the generator behind it.

use ldmig::page::{Page, PAGE_SIZE};

/// The seed of every pseudo-random page of the self-test (printed by the
/// checks that use it, so a failure can be replayed on the host).
pub const SEED: u64 = 0x4c44_4d47_5431_0001;

/// SplitMix64 (Steele, Lea, Flood 2014): small, seedable, good enough to
/// make a page LZ4 cannot shrink.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }
}

/// An all-zero page.
pub fn zero_page() -> Page {
    [0; PAGE_SIZE]
}

/// A page of repeated text, like a guest's kernel log: LZ4 shrinks it.
pub fn text_page() -> Page {
    let text = b"sun4v ldom ldg-src: migrate-domain to target, pre-copy round 3; ";
    let mut page = [0u8; PAGE_SIZE];
    for (index, byte) in page.iter_mut().enumerate() {
        *byte = text[index % text.len()];
    }
    page
}

/// A pseudo-random page from `seed`: LZ4 cannot shrink it (a raw record).
pub fn pseudo_random_page(seed: u64) -> Page {
    let mut generator = SplitMix64::new(seed);
    let mut page = [0u8; PAGE_SIZE];
    for chunk in page.chunks_exact_mut(8) {
        chunk.copy_from_slice(&generator.next_u64().to_be_bytes());
    }
    page
}

/// A page half zero, half counting bytes: a typical partly used page.
pub fn half_used_page() -> Page {
    let mut page = [0u8; PAGE_SIZE];
    for (index, byte) in page[PAGE_SIZE / 2..].iter_mut().enumerate() {
        *byte = (index % 251) as u8;
    }
    page
}

/// A page aligned for hypervisor calls, whose buffer RAs must be multiples
/// of 8 (a plain `[u8; 8192]` may sit at any address).
#[derive(Clone, Debug)]
#[repr(C, align(8))]
pub struct AlignedPage(pub Page);

impl AlignedPage {
    /// An aligned copy of `page`.
    pub fn from_page(page: &Page) -> Self {
        AlignedPage(*page)
    }

    /// An aligned zero page.
    pub fn zeroed() -> Self {
        AlignedPage([0; PAGE_SIZE])
    }
}
