//! Seeded property test of the wire decoder: feeds 100 000 random and
//! mutated frames to `Frame::decode`, `PageRecords` and `PageDecoder` and
//! checks every answer against an independent reference of the format.
//!
//! Properties: nothing panics; a frame or record is accepted exactly when
//! the reference accepts it, and refused with exactly the reference's typed
//! error otherwise; a decoded page always passes its CRC and is the very
//! page that CRC certifies (one of the pages the test encoded), so no byte
//! of an altered record reaches the caller unless the alteration left the
//! record valid.

use ldmig::page::{page_crc, Page, PAGE_SIZE};
use ldmig::wire::frame::{FRAME_HEADER_BYTES, FRAME_MAGIC, FRAME_VERSION, MAX_FRAME_PAYLOAD};
use ldmig::wire::record::{encode_page, MAX_RECORD_BYTES, RECORD_HEADER_BYTES};
use ldmig::wire::{
    DecodeError, Frame, FrameType, FrameWriter, PageDecoder, PageEncoding, PageRecord, PageRecords,
};
use ldmig_sim::rng::{test_seed, SplitMix64};
use std::collections::HashMap;

/// Frames fed to the decoder (the issue asks for at least 100 000).
const ITERATIONS: usize = 100_000;
/// Errors of each kind whose `Display` is checked.
const DISPLAY_SAMPLE: usize = 256;

fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn be64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(word)
}

/// The frame CRC as the format defines it: CRC32 of the header with its
/// CRC field zero, then the payload.
fn reference_frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut bytes = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&header[..FRAME_HEADER_BYTES]);
    bytes[12..16].fill(0);
    bytes.extend_from_slice(payload);
    page_crc(&bytes)
}

/// The reference frame header check, in the documented order: header
/// length, magic, version, type, payload bound; the payload length.
fn reference_header(bytes: &[u8]) -> Result<(FrameType, usize), DecodeError> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return Err(DecodeError::Truncated {
            what: "frame header",
            needed: FRAME_HEADER_BYTES,
            available: bytes.len(),
        });
    }
    let magic = be32(&bytes[0..]);
    if magic != FRAME_MAGIC {
        return Err(DecodeError::BadMagic {
            what: "frame",
            expected: FRAME_MAGIC,
            found: magic,
        });
    }
    let version = be16(&bytes[4..]);
    if version != FRAME_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what: "frame",
            found: version,
            oldest: FRAME_VERSION,
            newest: FRAME_VERSION,
        });
    }
    let raw_type = be16(&bytes[6..]);
    // The list of types belongs to the format (its own unit test checks
    // it); here only 0 must be refused and a number must map to itself.
    let frame_type = match FrameType::from_raw(raw_type) {
        Some(frame_type) if raw_type != 0 => {
            assert_eq!(frame_type.raw(), raw_type);
            frame_type
        }
        _ => {
            return Err(DecodeError::InvalidEnum {
                field: "frame_type",
                value: u64::from(raw_type),
            })
        }
    };
    let length = be32(&bytes[8..]) as usize;
    if length > MAX_FRAME_PAYLOAD {
        return Err(DecodeError::TooLong {
            what: "frame payload",
            length,
            max: MAX_FRAME_PAYLOAD,
        });
    }
    Ok((frame_type, length))
}

/// The reference frame decoder: the header, then the payload's length,
/// then the CRC.
fn reference_frame(bytes: &[u8]) -> Result<(Frame<'_>, usize), DecodeError> {
    let (frame_type, length) = reference_header(bytes)?;
    let size = FRAME_HEADER_BYTES + length;
    if bytes.len() < size {
        return Err(DecodeError::Truncated {
            what: "frame",
            needed: size,
            available: bytes.len(),
        });
    }
    let payload = &bytes[FRAME_HEADER_BYTES..size];
    let expected = be32(&bytes[12..]);
    let actual = reference_frame_crc(bytes, payload);
    if actual != expected {
        return Err(DecodeError::CrcMismatch {
            field: "frame crc",
            expected,
            actual,
        });
    }
    let frame = Frame {
        frame_type,
        version: be16(&bytes[4..]),
        sequence: be64(&bytes[16..]),
        payload,
    };
    Ok((frame, size))
}

/// The reference size peek: the header checks only.
fn reference_peek(bytes: &[u8]) -> Result<usize, DecodeError> {
    reference_header(bytes).map(|(_, length)| FRAME_HEADER_BYTES + length)
}

/// The reference record parser, checks in the documented order: header
/// length, encoding, reserved byte, alignment, length for the encoding,
/// data length.
fn reference_record(bytes: &[u8]) -> Result<PageRecord<'_>, DecodeError> {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Err(DecodeError::Truncated {
            what: "page record header",
            needed: RECORD_HEADER_BYTES,
            available: bytes.len(),
        });
    }
    let raw_encoding = bytes[8];
    let encoding = match (raw_encoding, PageEncoding::from_raw(raw_encoding)) {
        (1, Some(PageEncoding::Zero)) => PageEncoding::Zero,
        (2, Some(PageEncoding::Lz4)) => PageEncoding::Lz4,
        (3, Some(PageEncoding::Raw)) => PageEncoding::Raw,
        (4, Some(PageEncoding::Delta)) => PageEncoding::Delta,
        (_, None) => {
            return Err(DecodeError::InvalidEnum {
                field: "encoding",
                value: u64::from(raw_encoding),
            })
        }
        (raw, Some(other)) => panic!("encoding {raw} parsed as {other:?}"),
    };
    if bytes[9] != 0 {
        return Err(DecodeError::ReservedNotZero { field: "reserved" });
    }
    let ra = be64(bytes);
    if !ra.is_multiple_of(PAGE_SIZE as u64) {
        return Err(DecodeError::InvalidValue {
            field: "ra",
            value: ra,
        });
    }
    let length = be16(&bytes[10..]);
    let fits = match encoding {
        PageEncoding::Zero => length == 0,
        PageEncoding::Lz4 => length > 0 && (length as usize) < PAGE_SIZE,
        PageEncoding::Raw => length as usize == PAGE_SIZE,
        PageEncoding::Delta => length > 0 && (length as usize) < PAGE_SIZE,
    };
    if !fits {
        return Err(DecodeError::InvalidValue {
            field: "length",
            value: u64::from(length),
        });
    }
    let size = RECORD_HEADER_BYTES + length as usize;
    if bytes.len() < size {
        return Err(DecodeError::Truncated {
            what: "page record",
            needed: size,
            available: bytes.len(),
        });
    }
    Ok(PageRecord {
        ra,
        encoding,
        crc: be32(&bytes[12..]),
        data: &bytes[RECORD_HEADER_BYTES..size],
    })
}

/// What the run reached, so that the test fails if it stops reaching the
/// deep layers.
#[derive(Default, Debug)]
struct Coverage {
    frames_accepted: usize,
    frame_errors: HashMap<&'static str, usize>,
    records_parsed: usize,
    record_errors: HashMap<&'static str, usize>,
    pages_returned: usize,
    altered_pages_returned: usize,
}

/// The refusal a frame error stands for (what the coverage counts).
fn frame_error_name(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::BadMagic { .. } => "BadMagic",
        DecodeError::UnsupportedVersion { .. } => "UnsupportedVersion",
        DecodeError::InvalidEnum {
            field: "frame_type",
            ..
        } => "InvalidFrameType",
        DecodeError::TooLong { .. } => "PayloadTooLarge",
        DecodeError::CrcMismatch { .. } => "CrcMismatch",
        other => panic!("a frame refused with {other:?}"),
    }
}

/// The refusal a record or page error stands for.
fn record_error_name(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::InvalidEnum {
            field: "encoding", ..
        } => "InvalidEncoding",
        DecodeError::ReservedNotZero { .. } => "ReservedNotZero",
        DecodeError::InvalidValue {
            field: "length", ..
        } => "BadLength",
        DecodeError::InvalidValue { field: "ra", .. } => "MisalignedAddress",
        DecodeError::Decompress { .. } => "Decompress",
        DecodeError::Length {
            what: "decompressed page",
            ..
        } => "WrongDecompressedSize",
        DecodeError::CrcMismatch { .. } => "CrcMismatch",
        DecodeError::InvalidValue {
            field: "encoding",
            value: 4,
        } => "DeltaWithoutBase",
        other => panic!("a record refused with {other:?}"),
    }
}

/// The test's state: what it may return, a decoder, what it reached.
struct Fuzz {
    /// The pages the test encoded, by CRC: the only pages a decoder may return.
    certified: HashMap<u32, Page>,
    /// CRC32 of the zero page.
    zero_page_crc: u32,
    /// Valid records exactly as the encoder wrote them.
    original_records: Vec<Vec<u8>>,
    decoder: PageDecoder,
    coverage: Coverage,
}

impl Fuzz {
    /// Feeds `bytes` to the frame decoder and, for a `Pages` frame, its
    /// payload to the record layer; checks everything against the reference.
    fn feed_frame(&mut self, bytes: &[u8]) {
        let expected = reference_frame(bytes);
        let actual = Frame::decode(bytes);
        assert_eq!(actual, expected, "frame decoder disagrees with the format");
        assert_eq!(Frame::peek_size(bytes), reference_peek(bytes), "peek_size");
        match actual {
            Ok((frame, _)) => {
                self.coverage.frames_accepted += 1;
                if frame.frame_type == FrameType::Pages {
                    self.feed_payload(frame.payload);
                }
            }
            Err(error) => {
                let seen = self
                    .coverage
                    .frame_errors
                    .entry(frame_error_name(&error))
                    .or_default();
                *seen += 1;
                // Display works (checked on a sample: formatting is costly
                // under qemu).
                if *seen <= DISPLAY_SAMPLE {
                    assert!(!error.to_string().is_empty());
                }
            }
        }
    }

    /// Walks the records of `payload`, checking each against the reference
    /// and decoding the accepted ones.
    fn feed_payload(&mut self, payload: &[u8]) {
        let mut records = PageRecords::new(payload);
        let mut rest = payload;
        while !rest.is_empty() {
            let expected = reference_record(rest);
            let actual = records.next().expect("a result while bytes remain");
            assert_eq!(actual, expected, "record parser disagrees with the format");
            match actual {
                Ok(record) => {
                    self.coverage.records_parsed += 1;
                    let original = self
                        .original_records
                        .iter()
                        .any(|bytes| &rest[..record.wire_len()] == bytes.as_slice());
                    rest = &rest[record.wire_len()..];
                    self.decode_page(&record, original);
                }
                Err(error) => {
                    self.count_record_error(&error);
                    assert!(records.next().is_none(), "records after an error");
                    return;
                }
            }
        }
        assert!(records.next().is_none(), "records beyond the payload");
    }

    fn count_record_error(&mut self, error: &DecodeError) {
        let seen = self
            .coverage
            .record_errors
            .entry(record_error_name(error))
            .or_default();
        *seen += 1;
        if *seen <= DISPLAY_SAMPLE {
            assert!(!error.to_string().is_empty());
        }
    }

    /// Decodes one parsed record: a page comes back only if it is the page
    /// its CRC certifies; otherwise the error fits the record.
    fn decode_page(&mut self, record: &PageRecord<'_>, original: bool) {
        match self.decoder.decode(record) {
            Ok(page) => {
                // The certified pages are keyed by their CRC, so equality
                // also proves that the page passed the CRC in its record.
                let certified = self
                    .certified
                    .get(&record.crc)
                    .expect("a page no encoder produced came back");
                assert!(page == certified, "a page that fails its CRC came back");
                match record.encoding {
                    PageEncoding::Zero => assert!(page.iter().all(|&byte| byte == 0)),
                    PageEncoding::Raw => assert_eq!(&page[..], record.data),
                    PageEncoding::Lz4 => {}
                    PageEncoding::Delta => panic!("a delta decoded without its base"),
                }
                self.coverage.pages_returned += 1;
                if !original {
                    self.coverage.altered_pages_returned += 1;
                }
            }
            Err(error) => {
                match (record.encoding, error) {
                    (
                        encoding @ (PageEncoding::Zero | PageEncoding::Raw),
                        DecodeError::CrcMismatch {
                            field: "crc",
                            expected,
                            actual,
                        },
                    ) => {
                        let crc = if encoding == PageEncoding::Zero {
                            self.zero_page_crc
                        } else {
                            page_crc(record.data)
                        };
                        assert_eq!(actual, crc);
                        assert_eq!(expected, record.crc);
                        assert_ne!(actual, expected);
                    }
                    (
                        PageEncoding::Lz4,
                        DecodeError::CrcMismatch {
                            field: "crc",
                            expected,
                            ..
                        },
                    ) => {
                        assert_eq!(expected, record.crc);
                    }
                    (PageEncoding::Lz4, DecodeError::Decompress { field: "data", .. }) => {}
                    // A delta needs the page it applies onto.
                    (
                        PageEncoding::Delta,
                        DecodeError::InvalidValue {
                            field: "encoding",
                            value: 4,
                        },
                    ) => {}
                    (
                        PageEncoding::Lz4,
                        DecodeError::Length {
                            what: "decompressed page",
                            expected: PAGE_SIZE,
                            actual,
                        },
                    ) => {
                        assert!(actual < PAGE_SIZE, "size {actual}");
                    }
                    (encoding, error) => {
                        panic!("{encoding:?} record refused with unfitting {error:?}")
                    }
                }
                assert!(!original, "a valid record was refused: {error}");
                self.count_record_error(&error);
            }
        }
    }
}

/// Sets the frame CRC of `bytes` to match its header and declared payload,
/// when the declared payload is all there.
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < FRAME_HEADER_BYTES {
        return;
    }
    let length = be32(&bytes[8..]) as usize;
    if length > bytes.len() - FRAME_HEADER_BYTES {
        return;
    }
    let crc = reference_frame_crc(
        bytes,
        &bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length],
    );
    bytes[12..16].copy_from_slice(&crc.to_be_bytes());
}

/// A valid frame header for `payload_length` bytes (CRC left zero).
fn header(frame_type: u16, payload_length: u32, sequence: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FRAME_HEADER_BYTES);
    bytes.extend_from_slice(&FRAME_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&FRAME_VERSION.to_be_bytes());
    bytes.extend_from_slice(&frame_type.to_be_bytes());
    bytes.extend_from_slice(&payload_length.to_be_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&sequence.to_be_bytes());
    bytes
}

/// Pages to encode: zero, highly compressible, sparse, text-like, random.
fn corpus_pages(rng: &mut SplitMix64) -> Vec<Page> {
    let mut pages = vec![[0u8; PAGE_SIZE]];
    for pattern in [&b"sun4v"[..], b"ldom-migrate 0123456789abcdef "] {
        let mut page = [0u8; PAGE_SIZE];
        for (index, byte) in page.iter_mut().enumerate() {
            *byte = pattern[index % pattern.len()];
        }
        pages.push(page);
    }
    for _ in 0..3 {
        let mut page = [0u8; PAGE_SIZE];
        for _ in 0..1 + rng.below(12) {
            page[rng.below(PAGE_SIZE as u64) as usize] = rng.next_u64() as u8 | 1;
        }
        pages.push(page);
    }
    let words: [&[u8]; 6] = [
        b"page ", b"domain ", b"vcpu ", b"0x4000 ", b"ok\n", b"cookie ",
    ];
    let mut text = [0u8; PAGE_SIZE];
    let mut position = 0;
    while position < PAGE_SIZE {
        let word = words[rng.below(words.len() as u64) as usize];
        let take = word.len().min(PAGE_SIZE - position);
        text[position..position + take].copy_from_slice(&word[..take]);
        position += take;
    }
    pages.push(text);
    let mut random = [0u8; PAGE_SIZE];
    rng.fill(&mut random);
    pages.push(random);
    pages
}

/// Valid frames: `Pages` frames of 1..=3 records (raw pages rarely, as
/// they are costly to check) and a few small frames of other types. The
/// records written go to `original_records`.
fn corpus_frames(
    rng: &mut SplitMix64,
    pages: &[Page],
    original_records: &mut Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let raw_index = pages.len() - 1;
    let mut frames = Vec::new();
    let mut buffer = vec![0u8; FRAME_HEADER_BYTES + 3 * MAX_RECORD_BYTES];
    let mut record = vec![0u8; MAX_RECORD_BYTES];
    for sequence in 0..24u64 {
        let mut writer =
            FrameWriter::new(&mut buffer, FrameType::Pages, sequence).expect("header room");
        for _ in 0..1 + rng.below(3) {
            let mut index = rng.below(pages.len() as u64) as usize;
            if index == raw_index && !sequence.is_multiple_of(8) {
                index = rng.below(raw_index as u64) as usize;
            }
            let ra = rng.below(1 << 30) * PAGE_SIZE as u64;
            let (_, used) = encode_page(ra, &pages[index], &mut record).expect("room");
            writer.push(&record[..used]).expect("frame room");
            original_records.push(record[..used].to_vec());
        }
        let size = writer.finish();
        frames.push(buffer[..size].to_vec());
    }
    for (frame_type, payload) in [
        (FrameType::Hello, &b"hello"[..]),
        (FrameType::Ping, b"ping1234"),
        (FrameType::Cancel, b""),
    ] {
        frames.push(sealed(frame_type.raw(), payload, 7));
    }
    frames
}

/// `min..=max` random bytes.
fn random_bytes(rng: &mut SplitMix64, min: usize, max: usize) -> Vec<u8> {
    let length = min + rng.below((max - min + 1) as u64) as usize;
    let mut bytes = vec![0u8; length];
    rng.fill(&mut bytes);
    bytes
}

/// Alters a valid frame 1..=3 times: bit flips, random bytes, truncation,
/// extension, changed frame or record length fields, changed record
/// encodings; then, a third of the time, reseals the frame CRC so that the
/// altered payload reaches the record layer.
fn mutate(rng: &mut SplitMix64, frame: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        match rng.below(8) {
            0 | 1 if !frame.is_empty() => {
                let position = rng.below(frame.len() as u64) as usize;
                frame[position] ^= 1 << rng.below(8);
            }
            2 if !frame.is_empty() => {
                let position = rng.below(frame.len() as u64) as usize;
                frame[position] = rng.next_u64() as u8;
            }
            3 => {
                let keep = rng.below(frame.len() as u64 + 1) as usize;
                frame.truncate(keep);
            }
            4 => {
                let extra = random_bytes(rng, 1, 32);
                frame.extend_from_slice(&extra);
            }
            5 if frame.len() >= FRAME_HEADER_BYTES => {
                let length = be32(&frame[8..]);
                let new_length = match rng.below(4) {
                    0 => rng.next_u64() as u32,
                    1 => length.wrapping_add(1 + rng.below(16) as u32),
                    2 => length.wrapping_sub(1 + rng.below(16) as u32),
                    _ => rng.below(MAX_FRAME_PAYLOAD as u64 + 2) as u32,
                };
                frame[8..12].copy_from_slice(&new_length.to_be_bytes());
            }
            6 | 7 if frame.len() >= FRAME_HEADER_BYTES + RECORD_HEADER_BYTES => {
                // A record header field in the payload: the first record's
                // length or encoding, or one at a random offset.
                let record = if rng.chance(1, 2) {
                    FRAME_HEADER_BYTES
                } else {
                    FRAME_HEADER_BYTES
                        + rng.below((frame.len() - FRAME_HEADER_BYTES - RECORD_HEADER_BYTES) as u64)
                            as usize
                };
                if rng.chance(1, 2) {
                    let length = be16(&frame[record + 10..]);
                    let new_length = match rng.below(3) {
                        0 => rng.next_u64() as u16,
                        1 => length.wrapping_add(1 + rng.below(8) as u16),
                        _ => length.wrapping_sub(1 + rng.below(8) as u16),
                    };
                    frame[record + 10..record + 12].copy_from_slice(&new_length.to_be_bytes());
                } else {
                    frame[record + 8] = rng.below(5) as u8;
                }
            }
            _ => {}
        }
    }
    if rng.chance(1, 3) {
        reseal(frame);
    }
}

/// A sealed frame of `payload` with `raw_type`.
fn sealed(raw_type: u16, payload: &[u8], sequence: u64) -> Vec<u8> {
    let mut frame = header(raw_type, payload.len() as u32, sequence);
    frame.extend_from_slice(payload);
    reseal(&mut frame);
    frame
}

/// Random bytes behind a valid, sealed header (mostly `Pages`, sometimes
/// an undefined type or version): reaches the record parser with noise.
fn random_payload_frame(rng: &mut SplitMix64) -> Vec<u8> {
    let raw_type = if rng.chance(1, 2) {
        FrameType::Pages as u16
    } else {
        rng.below(40) as u16
    };
    let payload = random_bytes(rng, 0, 63);
    let mut frame = sealed(raw_type, &payload, rng.next_u64());
    if rng.chance(1, 10) {
        frame[4..6].copy_from_slice(&(rng.below(3) as u16).to_be_bytes());
        reseal(&mut frame);
    }
    frame
}

/// A sealed `Pages` frame of 1..=3 records with plausible but hostile
/// headers: right or random encodings, lengths, CRCs and addresses; LZ4
/// data taken from valid records and damaged, or random.
fn crafted_records_frame(
    rng: &mut SplitMix64,
    lz4_blocks: &[(Vec<u8>, u32)],
    pages: &[Page],
) -> Vec<u8> {
    let mut payload = Vec::new();
    for _ in 0..1 + rng.below(3) {
        // Raw records (8 KiB each) are the rarest: they cost the most.
        let encoding = match rng.below(16) {
            0..=6 => 1,
            7..=13 => 2,
            14 => 3,
            _ => rng.next_u64() as u8,
        };
        let (mut data, mut crc) = match encoding {
            1 => (Vec::new(), page_crc(&pages[0])),
            2 => {
                let (block, crc) = &lz4_blocks[rng.below(lz4_blocks.len() as u64) as usize];
                let mut data = block.clone();
                match rng.below(4) {
                    0 => {
                        let position = rng.below(data.len() as u64) as usize;
                        data[position] ^= 1 << rng.below(8);
                    }
                    1 => data.truncate(1 + rng.below(data.len() as u64) as usize),
                    2 => data.extend_from_slice(&random_bytes(rng, 1, 8)),
                    _ => data = random_bytes(rng, 1, 64),
                }
                (data, *crc)
            }
            3 if rng.chance(1, 2) => {
                let page = &pages[rng.below(pages.len() as u64) as usize];
                (page.to_vec(), page_crc(page))
            }
            3 => (
                random_bytes(rng, PAGE_SIZE, PAGE_SIZE),
                rng.next_u64() as u32,
            ),
            _ => (random_bytes(rng, 0, 31), rng.next_u64() as u32),
        };
        if rng.chance(1, 4) {
            crc = rng.next_u64() as u32;
        }
        let mut length = data.len() as u16;
        if rng.chance(1, 8) {
            length = rng.next_u64() as u16;
        }
        if rng.chance(1, 16) {
            data.truncate(rng.below(data.len() as u64 + 1) as usize);
        }
        let ra = if rng.chance(15, 16) {
            rng.below(1 << 40) * PAGE_SIZE as u64
        } else {
            rng.next_u64()
        };
        let reserved = if rng.chance(31, 32) {
            0
        } else {
            rng.next_u64() as u8
        };
        payload.extend_from_slice(&ra.to_be_bytes());
        payload.extend_from_slice(&[encoding, reserved]);
        payload.extend_from_slice(&length.to_be_bytes());
        payload.extend_from_slice(&crc.to_be_bytes());
        payload.extend_from_slice(&data);
    }
    sealed(FrameType::Pages as u16, &payload, rng.next_u64())
}

#[test]
fn decoder_refuses_every_bad_frame_and_never_forges_a_page() {
    let seed = test_seed(0x00de_c0de_f022);
    let mut rng = SplitMix64::new(seed);
    let pages = corpus_pages(&mut rng);
    let mut original_records = Vec::new();
    let frames = corpus_frames(&mut rng, &pages, &mut original_records);
    let lz4_blocks: Vec<(Vec<u8>, u32)> = original_records
        .iter()
        .filter_map(|bytes| reference_record(bytes).ok())
        .filter(|record| record.encoding == PageEncoding::Lz4)
        .map(|record| (record.data.to_vec(), record.crc))
        .collect();
    assert!(!lz4_blocks.is_empty());
    let mut fuzz = Fuzz {
        certified: pages.iter().map(|page| (page_crc(page), *page)).collect(),
        zero_page_crc: page_crc(&[0; PAGE_SIZE]),
        original_records,
        decoder: PageDecoder::new(),
        coverage: Coverage::default(),
    };
    // The unaltered corpus decodes, every page.
    for frame in &frames {
        fuzz.feed_frame(frame);
    }
    assert_eq!(fuzz.coverage.frames_accepted, frames.len());
    assert_eq!(fuzz.coverage.pages_returned, fuzz.original_records.len());

    for _ in 0..ITERATIONS {
        // Mostly cheap inputs: a page decode costs 8 KiB of LZ4 and CRC,
        // and the suite also runs under qemu-sparc64.
        let input = match rng.below(20) {
            0..=8 => {
                let max = if rng.chance(9, 10) { 47 } else { 399 };
                let noise = random_bytes(&mut rng, 0, max);
                // Noise is also a hostile payload for the record layer.
                fuzz.feed_payload(&noise);
                noise
            }
            9..=13 => random_payload_frame(&mut rng),
            14..=18 => {
                let mut frame = frames[rng.below(frames.len() as u64) as usize].clone();
                mutate(&mut rng, &mut frame);
                frame
            }
            _ => crafted_records_frame(&mut rng, &lz4_blocks, &pages),
        };
        fuzz.feed_frame(&input);
    }

    let coverage = &fuzz.coverage;
    println!("seed {seed}: {coverage:#?}");
    // The run must have reached every layer and every refusal.
    assert!(coverage.frames_accepted > ITERATIONS / 10, "{coverage:?}");
    let frame_errors = [
        "Truncated",
        "BadMagic",
        "UnsupportedVersion",
        "InvalidFrameType",
        "PayloadTooLarge",
        "CrcMismatch",
    ];
    let record_errors = [
        "Truncated",
        "InvalidEncoding",
        "ReservedNotZero",
        "BadLength",
        "MisalignedAddress",
        "Decompress",
        "WrongDecompressedSize",
        "CrcMismatch",
    ];
    for (layer, counts, names) in [
        ("frame", &coverage.frame_errors, &frame_errors[..]),
        ("record", &coverage.record_errors, &record_errors[..]),
    ] {
        for name in names {
            let seen = counts.get(name).copied().unwrap_or(0);
            assert!(
                seen >= 20,
                "{layer} error {name} seen {seen} times: {coverage:?}"
            );
        }
    }
    assert!(coverage.pages_returned > ITERATIONS / 40, "{coverage:?}");
    assert!(coverage.altered_pages_returned > 0, "{coverage:?}");
}
