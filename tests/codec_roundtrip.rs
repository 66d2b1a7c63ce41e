//! Seeded round trips of random pages of every content kind (zero,
//! text-like, random, mixed, sparse) through `FrameWriter` + `encode_page`
//! into `Pages` frames, and back through `Frame::decode`, `PageRecords` and
//! `PageDecoder`: every page, address and frame field must come back exact.

use ldmig::page::{Page, PAGE_SIZE};
use ldmig::wire::frame::FRAME_HEADER_BYTES;
use ldmig::wire::record::{encode_page, MAX_RECORD_BYTES};
use ldmig::wire::{Frame, FrameType, FrameWriter, PageDecoder, PageEncoding, PageRecords};
use ldmig_sim::rng::{test_seed, SplitMix64};

/// Most pages one frame of these tests carries.
const MAX_PAGES_PER_FRAME: usize = 8;
/// Frames per test.
const FRAMES: usize = 12;
/// A frame buffer that always has room for [`MAX_PAGES_PER_FRAME`] records.
const FRAME_BUFFER_BYTES: usize = FRAME_HEADER_BYTES + MAX_PAGES_PER_FRAME * MAX_RECORD_BYTES;

/// What a generated page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Zero,
    Text,
    Random,
    Mixed,
    Sparse,
}

const KINDS: [Kind; 5] = [
    Kind::Zero,
    Kind::Text,
    Kind::Random,
    Kind::Mixed,
    Kind::Sparse,
];

const WORDS: &[&[u8]] = &[
    b"domain ",
    b"page ",
    b"vcpu ",
    b"ldc ",
    b"migrate ",
    b"the ",
    b"0x8000 ",
    b"error\n",
    b"return; ",
    b"memory ",
    b"hypervisor ",
    b"{ ",
    b"} ",
    b"status=ok ",
];

fn fill_text(bytes: &mut [u8], rng: &mut SplitMix64) {
    let mut position = 0;
    while position < bytes.len() {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let take = word.len().min(bytes.len() - position);
        bytes[position..position + take].copy_from_slice(&word[..take]);
        position += take;
    }
}

/// A page of `kind`.
fn page_of(kind: Kind, rng: &mut SplitMix64) -> Page {
    let mut page = [0u8; PAGE_SIZE];
    match kind {
        Kind::Zero => {}
        Kind::Text => fill_text(&mut page, rng),
        Kind::Random => rng.fill(&mut page),
        Kind::Mixed => {
            // Runs of zero, text, random and repeated bytes.
            let mut position = 0;
            while position < PAGE_SIZE {
                let run = (1 + rng.below(2048) as usize).min(PAGE_SIZE - position);
                let segment = &mut page[position..position + run];
                match rng.below(4) {
                    0 => {}
                    1 => fill_text(segment, rng),
                    2 => rng.fill(segment),
                    _ => segment.fill(rng.next_u64() as u8),
                }
                position += run;
            }
        }
        Kind::Sparse => {
            // A few non-zero bytes, sometimes only at the very end.
            let set = 1 + rng.below(16);
            for _ in 0..set {
                let position = rng.below(PAGE_SIZE as u64) as usize;
                page[position] = 1 + rng.below(255) as u8;
            }
            if rng.chance(1, 4) {
                page[PAGE_SIZE - 1] = 0x80;
            }
        }
    }
    page
}

/// The encoding a page of `kind` must get, where it is certain.
fn required_encoding(kind: Kind) -> Option<PageEncoding> {
    match kind {
        Kind::Zero => Some(PageEncoding::Zero),
        Kind::Text | Kind::Sparse => Some(PageEncoding::Lz4),
        Kind::Random => Some(PageEncoding::Raw),
        Kind::Mixed => None,
    }
}

/// A sent page: where, what, of which kind.
struct SentPage {
    ra: u64,
    page: Page,
    kind: Kind,
}

/// Writes one `Pages` frame of `pages` into `buffer`; returns its size.
fn write_frame(buffer: &mut [u8], sequence: u64, pages: &[SentPage]) -> usize {
    let mut writer = FrameWriter::new(buffer, FrameType::Pages, sequence).expect("header room");
    for sent in pages {
        assert!(
            writer.remaining() >= MAX_RECORD_BYTES,
            "frame buffer sized for the pages"
        );
        let (encoding, used) = encode_page(sent.ra, &sent.page, writer.spare()).expect("room");
        if let Some(required) = required_encoding(sent.kind) {
            assert_eq!(encoding, required, "{:?} page at {:#x}", sent.kind, sent.ra);
        }
        writer.advance(used);
    }
    writer.finish()
}

/// Decodes the frame at the start of `stream` and checks it carries exactly
/// `pages` with `sequence`; returns the bytes it used.
fn check_frame(stream: &[u8], sequence: u64, pages: &[SentPage]) -> usize {
    let size = Frame::peek_size(stream).expect("valid header");
    let (frame, used) = Frame::decode(stream).expect("valid frame");
    assert_eq!(used, size);
    assert_eq!(frame.frame_type, FrameType::Pages);
    assert_eq!(frame.sequence, sequence);
    let mut decoder = PageDecoder::new();
    let mut records = PageRecords::new(frame.payload);
    for sent in pages {
        let record = records
            .next()
            .expect("one record per page")
            .expect("valid record");
        assert_eq!(record.ra, sent.ra);
        let page = decoder.decode(&record).expect("page passes its CRC");
        assert!(
            page == &sent.page,
            "{:?} page at {:#x} came back different",
            sent.kind,
            sent.ra
        );
    }
    assert!(records.next().is_none(), "no records beyond the pages sent");
    used
}

/// Sends `FRAMES` frames of 1..=8 pages, each page's kind drawn by
/// `pick_kind`, as one stream, then decodes the stream frame by frame.
fn round_trip(default_seed: u64, mut pick_kind: impl FnMut(&mut SplitMix64) -> Kind) {
    let mut rng = SplitMix64::new(test_seed(default_seed));
    let mut frames: Vec<(u64, Vec<SentPage>)> = Vec::new();
    let mut stream = Vec::new();
    let mut buffer = vec![0u8; FRAME_BUFFER_BYTES];
    for index in 0..FRAMES {
        let count = 1 + rng.below(MAX_PAGES_PER_FRAME as u64) as usize;
        let pages: Vec<SentPage> = (0..count)
            .map(|_| {
                let kind = pick_kind(&mut rng);
                SentPage {
                    // Any aligned real address, up to the top of the space.
                    ra: rng.next_u64() & !(PAGE_SIZE as u64 - 1),
                    page: page_of(kind, &mut rng),
                    kind,
                }
            })
            .collect();
        let sequence = index as u64 + rng.below(1 << 40);
        let size = write_frame(&mut buffer, sequence, &pages);
        stream.extend_from_slice(&buffer[..size]);
        frames.push((sequence, pages));
    }
    let mut offset = 0;
    for (sequence, pages) in &frames {
        offset += check_frame(&stream[offset..], *sequence, pages);
    }
    assert_eq!(
        offset,
        stream.len(),
        "the stream holds exactly the frames sent"
    );
}

/// One test per page kind: `name` round-trips pages of `kind` only, its
/// stream drawn from `seed`.
macro_rules! one_kind_round_trips {
    ($($name:ident: $kind:ident from $seed:literal,)*) => {$(
        #[test]
        fn $name() {
            round_trip($seed, |_| Kind::$kind);
        }
    )*};
}

one_kind_round_trips! {
    zero_pages_round_trip: Zero from 0x2e70,
    text_like_pages_round_trip: Text from 0x7e47,
    random_pages_round_trip: Random from 0x4a4d,
    mixed_pages_round_trip: Mixed from 0x313e,
    sparse_pages_round_trip: Sparse from 0x5ba5,
}

#[test]
fn frames_of_every_kind_together_round_trip() {
    round_trip(0xa11, |rng| KINDS[rng.below(KINDS.len() as u64) as usize]);
}
