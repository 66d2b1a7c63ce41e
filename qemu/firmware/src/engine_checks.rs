//! Part 1 of the self-test: the no_std engine's page codec on the T1 —
//! CRC32 and zero check, page records of each encoding, a `Pages` frame
//! end to end, and corrupted frames and records refused.

use crate::pages::{pseudo_random_page, text_page, zero_page, SEED};
use crate::selftest::{ensure, ensure_equal, Check, Failure, Note};
use core::fmt::Write;
use ldmig::page::{is_zero, page_crc, Page, PAGE_SIZE};
use ldmig::wire::record::{
    encode_page, parse_record, zero_page_crc, MAX_RECORD_BYTES, RECORD_HEADER_BYTES,
};
use ldmig::wire::{
    seal_frame, DecodeError, Frame, FrameType, FrameWriter, PageDecoder, PageEncoding, PageRecords,
    FRAME_HEADER_BYTES,
};

/// Real address the records of these checks carry (8 KiB aligned).
const RECORD_RA: u64 = 0x1000_2000;
/// Room for a `Pages` frame of three worst-case records.
const FRAME_BUFFER_BYTES: usize = FRAME_HEADER_BYTES + 3 * MAX_RECORD_BYTES;

/// CRC32 known values and the zero-page check.
pub const CRC_AND_ZERO_CHECK: Check = Check {
    name: "page: CRC32 check value and zero-page detection",
    run: crc_and_zero_check,
};

fn crc_and_zero_check(_note: &mut Note) -> Result<(), Failure> {
    // The CRC-32/ISO-HDLC check value of "123456789".
    ensure_equal(
        0xcbf4_3926,
        u64::from(page_crc(b"123456789")),
        "CRC32 of 123456789",
    )?;
    ensure_equal(
        u64::from(zero_page_crc()),
        u64::from(page_crc(&zero_page())),
        "CRC32 of the zero page",
    )?;
    ensure(is_zero(&zero_page()), "a zero page is zero")?;
    let mut last = zero_page();
    last[PAGE_SIZE - 1] = 1;
    ensure(!is_zero(&last), "a page with its last byte set is not zero")?;
    ensure(!is_zero(&text_page()), "a text page is not zero")
}

/// Encodes `page` into one record, parses and decodes it, and checks the
/// encoding, the wire size and the bytes; returns the record's size.
fn record_round_trip(page: &Page, expected: PageEncoding) -> Result<usize, Failure> {
    let mut out = [0u8; MAX_RECORD_BYTES];
    let (encoding, size) = encode_page(RECORD_RA, page, &mut out)
        .map_err(|_| Failure::new("encode_page refused a full-size buffer"))?;
    ensure(encoding == expected, "encoding chosen")?;
    let record = parse_record(&out[..size]).map_err(|_| Failure::new("parse_record"))?;
    ensure_equal(size as u64, record.wire_len() as u64, "record wire length")?;
    ensure_equal(RECORD_RA, record.ra, "record real address")?;
    ensure_equal(
        u64::from(page_crc(page)),
        u64::from(record.crc),
        "record CRC",
    )?;
    let mut decoder = PageDecoder::new();
    let decoded = decoder
        .decode(&record)
        .map_err(|_| Failure::new("PageDecoder refused a good record"))?;
    ensure(decoded == page, "decoded page equals the original")?;
    Ok(size)
}

/// A zero page travels as a header-only record.
pub const ZERO_PAGE_ROUND_TRIP: Check = Check {
    name: "wire: zero page round trip",
    run: zero_page_round_trip,
};

fn zero_page_round_trip(note: &mut Note) -> Result<(), Failure> {
    let size = record_round_trip(&zero_page(), PageEncoding::Zero)?;
    ensure_equal(RECORD_HEADER_BYTES as u64, size as u64, "zero record size")?;
    let _ = write!(note, "Zero record, {size} bytes");
    Ok(())
}

/// A text-like page travels LZ4-compressed.
pub const TEXT_PAGE_ROUND_TRIP: Check = Check {
    name: "wire: text page round trip",
    run: text_page_round_trip,
};

fn text_page_round_trip(note: &mut Note) -> Result<(), Failure> {
    let size = record_round_trip(&text_page(), PageEncoding::Lz4)?;
    ensure(
        size < RECORD_HEADER_BYTES + PAGE_SIZE / 4,
        "LZ4 shrinks text",
    )?;
    let _ = write!(note, "LZ4 record, {PAGE_SIZE} -> {size} bytes");
    Ok(())
}

/// A pseudo-random page travels raw.
pub const RANDOM_PAGE_ROUND_TRIP: Check = Check {
    name: "wire: pseudo-random page round trip",
    run: random_page_round_trip,
};

fn random_page_round_trip(note: &mut Note) -> Result<(), Failure> {
    let size = record_round_trip(&pseudo_random_page(SEED), PageEncoding::Raw)?;
    ensure_equal(
        (RECORD_HEADER_BYTES + PAGE_SIZE) as u64,
        size as u64,
        "raw record size",
    )?;
    let _ = write!(note, "Raw record, {size} bytes, seed {SEED:#x}");
    Ok(())
}

/// Writes a `Pages` frame (sequence 7) of `pages` at consecutive RAs from
/// [`RECORD_RA`] into `buffer`; returns the frame's size.
fn pages_frame(buffer: &mut [u8], pages: &[&Page]) -> Result<usize, Failure> {
    let mut writer = FrameWriter::new(buffer, FrameType::Pages, 7)
        .map_err(|_| Failure::new("FrameWriter::new"))?;
    for (index, page) in pages.iter().enumerate() {
        let ra = RECORD_RA + (index * PAGE_SIZE) as u64;
        let (_, used) = encode_page(ra, page, writer.spare())
            .map_err(|_| Failure::new("encode_page into the frame"))?;
        writer.advance(used);
    }
    Ok(writer.finish())
}

/// Three records in one frame: encoded, decoded, CRCs checked.
pub const PAGES_FRAME_ROUND_TRIP: Check = Check {
    name: "wire: Pages frame of 3 records, frame and page CRCs checked",
    run: pages_frame_round_trip,
};

fn pages_frame_round_trip(note: &mut Note) -> Result<(), Failure> {
    let pages = [zero_page(), text_page(), pseudo_random_page(SEED)];
    let mut buffer = [0u8; FRAME_BUFFER_BYTES];
    let size = pages_frame(&mut buffer, &[&pages[0], &pages[1], &pages[2]])?;
    ensure(&buffer[..4] == b"LDMG", "big-endian magic on the wire")?;
    let (frame, used) = Frame::decode(&buffer[..size])
        .map_err(|_| Failure::new("Frame::decode of a good frame"))?;
    ensure_equal(size as u64, used as u64, "bytes used by the frame")?;
    ensure(frame.frame_type == FrameType::Pages, "frame type Pages")?;
    ensure_equal(7, frame.sequence, "sequence number")?;
    let mut decoder = PageDecoder::new();
    let mut count = 0;
    for (index, record) in PageRecords::new(frame.payload).enumerate() {
        let record = record.map_err(|_| Failure::new("record of a good frame"))?;
        let expected = pages
            .get(index)
            .ok_or(Failure::new("more records than pages"))?;
        ensure_equal(
            RECORD_RA + (index * PAGE_SIZE) as u64,
            record.ra,
            "record RA",
        )?;
        let page = decoder
            .decode(&record)
            .map_err(|_| Failure::new("page of a good record"))?;
        ensure(page == expected, "decoded page equals the original")?;
        count += 1;
    }
    ensure_equal(3, count, "records in the frame")?;
    let _ = write!(note, "{size} bytes for 3 pages");
    Ok(())
}

/// Damaged frames give typed errors and no payload.
pub const CORRUPTED_FRAME_REFUSED: Check = Check {
    name: "wire: corrupted, truncated and foreign frames refused",
    run: corrupted_frame_refused,
};

fn corrupted_frame_refused(note: &mut Note) -> Result<(), Failure> {
    let page = text_page();
    let mut buffer = [0u8; FRAME_BUFFER_BYTES];
    let size = pages_frame(&mut buffer, &[&page])?;
    let frame = &mut buffer[..size];
    ensure(Frame::decode(frame).is_ok(), "the intact frame decodes")?;

    frame[FRAME_HEADER_BYTES + 20] ^= 0x40;
    ensure(
        matches!(Frame::decode(frame), Err(DecodeError::CrcMismatch { .. })),
        "one flipped payload bit: CRC mismatch",
    )?;
    frame[FRAME_HEADER_BYTES + 20] ^= 0x40;

    frame[12] ^= 0xff;
    ensure(
        matches!(Frame::decode(frame), Err(DecodeError::CrcMismatch { .. })),
        "damaged CRC field: CRC mismatch",
    )?;
    frame[12] ^= 0xff;

    frame[0] = b'X';
    ensure(
        matches!(Frame::decode(frame), Err(DecodeError::BadMagic { .. })),
        "foreign magic refused",
    )?;
    frame[0] = b'L';

    ensure(
        matches!(
            Frame::decode(&frame[..size - 1]),
            Err(DecodeError::Truncated { .. })
        ),
        "one byte short: truncated",
    )?;
    ensure(Frame::decode(frame).is_ok(), "restored frame decodes again")?;
    let _ = write!(note, "CRC, magic and length checks on a {size}-byte frame");
    Ok(())
}

/// A record whose page was damaged before the frame was sealed: the frame
/// CRC holds, the page CRC catches it, and no page comes out.
pub const CORRUPTED_RECORD_REFUSED: Check = Check {
    name: "wire: damaged page inside a valid frame refused by the page CRC",
    run: corrupted_record_refused,
};

fn corrupted_record_refused(note: &mut Note) -> Result<(), Failure> {
    let page = pseudo_random_page(SEED ^ 1);
    let mut buffer = [0u8; FRAME_BUFFER_BYTES];
    let size = pages_frame(&mut buffer, &[&page])?;
    // Flip a bit of the raw page data, then seal the frame again over it.
    buffer[FRAME_HEADER_BYTES + RECORD_HEADER_BYTES + 100] ^= 0x01;
    let resealed = seal_frame(&mut buffer, FrameType::Pages, 7, size - FRAME_HEADER_BYTES);
    ensure_equal(size as u64, resealed as u64, "resealed frame size")?;
    let (frame, _) = Frame::decode(&buffer[..size])
        .map_err(|_| Failure::new("the resealed frame passes its own CRC"))?;
    let mut records = PageRecords::new(frame.payload);
    let record = records
        .next()
        .ok_or(Failure::new("one record"))?
        .map_err(|_| Failure::new("the record header is intact"))?;
    let mut decoder = PageDecoder::new();
    let outcome = decoder.decode(&record).map(|_| ());
    ensure(
        record.ra == RECORD_RA && matches!(outcome, Err(DecodeError::CrcMismatch { .. })),
        "page CRC mismatch reported for the record's RA",
    )?;
    let _ = write!(
        note,
        "CrcMismatch at RA {RECORD_RA:#x}, seed {:#x}",
        SEED ^ 1
    );
    Ok(())
}
