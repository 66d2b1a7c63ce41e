//! The guest domain's program: what runs in `ldg1`, privileged, with its
//! MMU on, on its own stack and trap table, touching nothing but its own
//! memory blocks (guest_layout.rs). It keeps writing pages of its data
//! block (seeded; zero, text-like, pseudo-random and counting pages),
//! checks before each rewrite that the page still holds what it last
//! wrote there (a page damaged by a migration shows up as an error),
//! counts its slices in a progress counter, and gives the strand back
//! with the sun4v `CPU_YIELD` call after each slice.
//!
//! It knows nothing of migrations: it is stopped at one of its
//! `CPU_YIELD`s on the source and continues from there on the target.

use crate::guest_layout::{GUEST_DATA_RA, GUEST_STATE_RA, GUEST_WORK_FIRST_PAGE, GUEST_WORK_PAGES};
use ldmig_hv::abi::cpu::CPU_YIELD;
use ldmig_hv::trampoline::fast_trap;

/// "LDMGGST1": the state page was initialised.
pub const GUEST_STATE_MAGIC: u64 = 0x4c44_4d47_4753_5431;
/// Pages one slice rewrites.
const WRITES_PER_SLICE: u64 = 3;
/// The hot set: three writes in four go to these pages.
const HOT_PAGES: u64 = 12;
/// 64-bit words per page.
const PAGE_WORDS: u64 = 1024;
const WORK_PAGES: usize = GUEST_WORK_PAGES as usize;

/// The guest's state, at the start of its data block.
#[repr(C)]
pub struct GuestState {
    /// [`GUEST_STATE_MAGIC`] once initialised.
    pub magic: u64,
    /// The seed it was started with.
    pub seed: u64,
    /// Its random generator (SplitMix64 state).
    pub random: u64,
    /// Slices completed: the progress counter.
    pub progress: u64,
    /// Pages written in all.
    pub pages_written: u64,
    /// Pages found not holding what was last written there.
    pub errors: u64,
    /// Index (in the work area) of the first such page, plus one (0: none).
    pub first_error_page: u64,
    /// Per work page: how many times it was written.
    pub generations: [u32; WORK_PAGES],
    /// Per work page: the kind of its current content.
    pub kinds: [u8; WORK_PAGES],
}

/// Byte offset of the progress counter in the state page.
pub const PROGRESS_OFFSET: u64 = core::mem::offset_of!(GuestState, progress) as u64;
/// Byte offset of the error count in the state page.
pub const ERRORS_OFFSET: u64 = core::mem::offset_of!(GuestState, errors) as u64;
/// Byte offset of the magic in the state page.
pub const MAGIC_OFFSET: u64 = core::mem::offset_of!(GuestState, magic) as u64;
const _: () = assert!(core::mem::size_of::<GuestState>() <= 8192);

/// The kinds of page content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Zero,
    Text,
    Random,
    Counting,
}

impl Content {
    fn from_raw(raw: u8) -> Content {
        match raw % 4 {
            0 => Content::Zero,
            1 => Content::Text,
            2 => Content::Random,
            _ => Content::Counting,
        }
    }
}

/// SplitMix64's output function: a good 64-bit mix of a counter.
fn mix(value: u64) -> u64 {
    let mut mixed = value;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// Word `index` of work page `page` in its `generation`-th content.
fn content_word(seed: u64, kind: Content, page: u64, generation: u64, index: u64) -> u64 {
    const TEXT: &[u8; 64] = b"ldg1: a sun4v guest at work, page after page, round after round\n";
    let header = [page, generation];
    match kind {
        Content::Zero => 0,
        Content::Text if index < 2 => header[index as usize],
        Content::Text => {
            let start = (index * 8 % 64) as usize;
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&TEXT[start..start + 8]);
            u64::from_be_bytes(bytes)
        }
        Content::Random => mix(seed ^ (page << 40) ^ (generation << 20) ^ index),
        Content::Counting => (page << 48) | (generation << 24) | index,
    }
}

fn page_words(page: u64) -> *mut u64 {
    (GUEST_DATA_RA + (GUEST_WORK_FIRST_PAGE + page) * 8192) as *mut u64
}

/// Words a [`fill_words`] call writes itself, below which it stops halving.
const FILL_LEAF_WORDS: u64 = 32;

/// Writes words `first..first + count` of `page`, halving the range
/// recursively: the guest's call depth then passes the 8 register windows,
/// so its own window spill and fill handlers (its trap table, TL 1) run,
/// storing to its stack through its MMU, where they fault (TL 2) into the
/// hypervisor like any other store.
#[inline(never)]
fn fill_words(seed: u64, kind: Content, page: u64, generation: u64, first: u64, count: u64) {
    if count > FILL_LEAF_WORDS {
        let half = count / 2;
        fill_words(seed, kind, page, generation, first, half);
        fill_words(seed, kind, page, generation, first + half, count - half);
        return;
    }
    let words = page_words(page);
    for word in first..first + count {
        let value = content_word(seed, kind, page, generation, word);
        // `words` is work page `page` of the guest's own data block
        // (page < GUEST_WORK_PAGES, word < PAGE_WORDS), mapped by the
        // hypervisor.
        // SAFETY: nothing else in the guest references that memory.
        unsafe { words.add(word as usize).write_volatile(value) };
    }
}

fn write_page(state: &mut GuestState, page: u64) {
    let index = page as usize;
    let kind = Content::from_raw(state.kinds[index]);
    let generation = u64::from(state.generations[index]);
    fill_words(state.seed, kind, page, generation, 0, PAGE_WORDS);
    state.pages_written += 1;
}

/// Whether the page still holds its last content (first two and last word).
fn page_intact(state: &GuestState, page: u64) -> bool {
    let index = page as usize;
    let kind = Content::from_raw(state.kinds[index]);
    let generation = u64::from(state.generations[index]);
    let words = page_words(page);
    [0, 1, PAGE_WORDS - 1].into_iter().all(|word| {
        // As in write_page: the guest's own work page.
        // SAFETY: read only; nothing else references it.
        let value = unsafe { words.add(word as usize).read_volatile() };
        value == content_word(state.seed, kind, page, generation, word)
    })
}

fn rewrite(state: &mut GuestState, page: u64, kind: u8) {
    if !page_intact(state, page) {
        state.errors += 1;
        if state.first_error_page == 0 {
            state.first_error_page = page + 1;
        }
    }
    let index = page as usize;
    state.generations[index] = state.generations[index].wrapping_add(1);
    state.kinds[index] = kind;
    write_page(state, page);
}

/// One slice of work: a few pages rewritten, the counter bumped.
fn slice(state: &mut GuestState) {
    for _ in 0..WRITES_PER_SLICE {
        let random = next_random(&mut state.random);
        let choice = random >> 8;
        let page = if !random.is_multiple_of(4) {
            choice % HOT_PAGES
        } else {
            choice % GUEST_WORK_PAGES
        };
        rewrite(state, page, (random >> 56) as u8);
    }
    state.progress += 1;
}

fn initialise(state: &mut GuestState, seed: u64) {
    state.magic = GUEST_STATE_MAGIC;
    state.seed = seed;
    state.random = seed;
    for page in 0..GUEST_WORK_PAGES {
        let kind = (next_random(&mut state.random) >> 56) as u8;
        state.kinds[page as usize] = kind;
        state.generations[page as usize] = 0;
        write_page(state, page);
    }
}

fn cpu_yield() {
    // SAFETY: CPU_YIELD takes no addresses.
    unsafe { fast_trap(CPU_YIELD, &[]) };
}

/// The guest's entry, where its vCPU starts (hypervisor/partition.rs sets
/// the PC, the stack and `%o0` = the seed).
#[no_mangle]
pub extern "C" fn ldmig_guest_main(seed: u64) -> ! {
    // GUEST_STATE_RA is page 0 of the guest's data block, mapped by the
    // hypervisor and zero at first boot; only this program uses it.
    // SAFETY: the one reference to the state, for the guest's lifetime.
    let state = unsafe { &mut *(GUEST_STATE_RA as *mut GuestState) };
    if state.magic != GUEST_STATE_MAGIC {
        initialise(state, seed);
    }
    loop {
        cpu_yield();
        slice(state);
    }
}
