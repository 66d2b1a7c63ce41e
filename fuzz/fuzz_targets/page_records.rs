//! Fuzz target: a page frame's payload as records (`PageRecords`,
//! `parse_record`) and each record through the page decoder (zero, LZ4,
//! raw), without a frame around them.
#![no_main]

use ldmig::page::page_crc;
use ldmig::wire::record::parse_record;
use ldmig::wire::{PageDecoder, PageRecords};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_record(data);
    let mut decoder = PageDecoder::new();
    for record in PageRecords::new(data) {
        let Ok(record) = record else {
            break;
        };
        if let Ok(page) = decoder.decode(&record) {
            assert_eq!(page_crc(page), record.crc);
        }
    }
});
