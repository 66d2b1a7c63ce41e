//! Fuzz target: one engine frame from the network (`Frame::decode`), and
//! when it is a page frame, its records through the page decoder. A
//! decoded page always passes its CRC.
#![no_main]

use ldmig::page::page_crc;
use ldmig::wire::{Frame, FrameType, PageDecoder, PageRecords};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((frame, used)) = Frame::decode(data) else {
        return;
    };
    assert!(used <= data.len());
    if frame.frame_type != FrameType::Pages {
        return;
    }
    let mut decoder = PageDecoder::new();
    for record in PageRecords::new(frame.payload) {
        let Ok(record) = record else {
            break;
        };
        if let Ok(page) = decoder.decode(&record) {
            assert_eq!(page_crc(page), record.crc, "a page that fails its CRC came out");
        }
    }
});
