//! Fuzz target: the deeper LZ4 search (`src/wire/lz4_deep`) on any page.
//! The input, repeated to fill 8 KiB (so that it holds matches at every
//! distance), is compressed into buffers of several sizes: a block that
//! fits must decode to the page again (`lz4_flex`, as the target
//! decodes), one that does not fit must give `None`, never a panic.
#![no_main]

use ldmig::page::{Page, PAGE_SIZE};
use ldmig::wire::lz4_deep::compress_into;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let mut page: Page = [0u8; PAGE_SIZE];
    for (at, byte) in page.iter_mut().enumerate() {
        *byte = data[at % data.len()];
    }
    let mut block = [0u8; 2 * PAGE_SIZE];
    let Some(length) = compress_into(&page, &mut block) else {
        panic!("a page always fits twice its size");
    };
    let mut decoded: Page = [0u8; PAGE_SIZE];
    let decoded_length =
        lz4_flex::block::decompress_into(&block[..length], &mut decoded).expect("valid LZ4");
    assert_eq!(decoded_length, PAGE_SIZE);
    assert!(decoded == page, "the block decodes to another page");
    let short = usize::from(data[0]) % (length + 1);
    if short < length {
        assert_eq!(compress_into(&page, &mut block[..short]), None);
    }
});
