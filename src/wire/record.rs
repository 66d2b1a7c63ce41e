//! Page records: one guest page as zero | LZ4 block | raw | delta against
//! the version last sent, with the CRC32 of its uncompressed bytes, and the
//! encoders and checked decoder.

use super::codec::{
    wire_enum, wire_struct, BufferTooSmall, DecodeError, EnumField, Reserved, WireStruct,
};
use super::delta::{apply_delta, encode_delta};
use crate::page::{is_zero, page_crc, Page, PAGE_SIZE};
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

/// Bytes of [`PageRecordHeader`].
pub const RECORD_HEADER_BYTES: usize = core::mem::size_of::<PageRecordHeader>();
/// Room an encoder needs for one record in the worst case: header plus the
/// LZ4 bound of a page (LZ4 writes into that room before raw is chosen).
pub const MAX_RECORD_BYTES: usize = RECORD_HEADER_BYTES + lz4_bound(PAGE_SIZE);

/// The room `lz4_flex` asks for when compressing `input` bytes
/// (`lz4_flex::block::get_maximum_output_size`: 20 + 1.1 × n, looser than
/// the LZ4 format's own n + n/255 + 16); it refuses a smaller output.
pub const fn lz4_bound(input: usize) -> usize {
    20 + input + input / 10
}

/// The CRC32 of an all-zero 8 KiB page (a test checks it), so zero pages
/// cost no CRC on either side.
pub const ZERO_PAGE_CRC: u32 = 0xd8f4_9994;

/// The CRC32 of an all-zero page.
pub fn zero_page_crc() -> u32 {
    ZERO_PAGE_CRC
}

wire_enum! {
    /// How a page's bytes are carried. 0 is reserved as invalid.
    pub enum PageEncoding: u8 {
        /// All zero: header only.
        Zero = 1,
        /// An LZ4 block shorter than a page.
        Lz4 = 2,
        /// The page as is (LZ4 did not shrink it, or compressing did not pay).
        Raw = 3,
        /// The runs that changed since the version last sent
        /// ([`super::delta`]), shorter than a page; wire version 2 on.
        Delta = 4,
    }
}

/// How the encoder is asked to carry a non-zero page (a zero page is
/// always a zero record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeChoice {
    /// An LZ4 block when it is shorter than the page, else raw.
    Lz4,
    /// The same, from the deeper, slower search of [`super::lz4_deep`]:
    /// fewer bytes, for when the link bounds the migration.
    Lz4Deep,
    /// The page as is: no compression (a link faster than compressing).
    Raw,
}

wire_struct! {
    /// The fixed record header. Big-endian, 16 bytes.
    pub struct PageRecordHeader {
        /// Real address of the page in the domain (8 KiB aligned).
        pub ra: U64,
        /// How the data carries the page.
        pub encoding: EnumField<PageEncoding>,
        /// Zero.
        pub reserved: Reserved<1>,
        /// Bytes of data after the header.
        pub length: U16,
        /// CRC32 of the uncompressed page.
        pub crc: U32,
    }
    validate(header) {
        let ra = header.ra.get();
        let length = header.length.get();
        let fits = match header.encoding.get() {
            Some(PageEncoding::Zero) => length == 0,
            Some(PageEncoding::Lz4) => length > 0 && (length as usize) < PAGE_SIZE,
            Some(PageEncoding::Raw) => length as usize == PAGE_SIZE,
            Some(PageEncoding::Delta) => length > 0 && (length as usize) < PAGE_SIZE,
            None => false,
        };
        if !ra.is_multiple_of(PAGE_SIZE as u64) {
            Err(DecodeError::InvalidValue { field: "ra", value: ra })
        } else if !fits {
            Err(DecodeError::InvalidValue { field: "length", value: u64::from(length) })
        } else {
            Ok(())
        }
    }
}

/// A parsed record whose lengths were checked; its page is not decoded yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRecord<'a> {
    /// Real address of the page.
    pub ra: u64,
    /// Encoding.
    pub encoding: PageEncoding,
    /// CRC32 of the uncompressed page.
    pub crc: u32,
    /// Encoded data.
    pub data: &'a [u8],
}

impl PageRecord<'_> {
    /// Bytes this record takes on the wire.
    pub fn wire_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.data.len()
    }
}

/// Encodes one page at `ra` into `out` (zero, else LZ4, else raw);
/// returns the encoding chosen and the bytes written. `out` must hold
/// [`MAX_RECORD_BYTES`].
pub fn encode_page(
    ra: u64,
    page: &Page,
    out: &mut [u8],
) -> Result<(PageEncoding, usize), BufferTooSmall> {
    encode_page_as(ra, page, EncodeChoice::Lz4, out)
}

/// Encodes one page at `ra` into `out` as `choice` says (a zero page is
/// always a zero record); returns the encoding used and the bytes written.
/// `out` must hold [`MAX_RECORD_BYTES`].
pub fn encode_page_as(
    ra: u64,
    page: &Page,
    choice: EncodeChoice,
    out: &mut [u8],
) -> Result<(PageEncoding, usize), BufferTooSmall> {
    if out.len() < MAX_RECORD_BYTES {
        return Err(BufferTooSmall {
            needed: MAX_RECORD_BYTES,
            available: out.len(),
        });
    }
    let (header_bytes, data) = out.split_at_mut(RECORD_HEADER_BYTES);
    let (encoding, length, crc) = if is_zero(page) {
        (PageEncoding::Zero, 0, zero_page_crc())
    } else {
        let crc = page_crc(page);
        let compressed = match choice {
            EncodeChoice::Lz4 => lz4_flex::block::compress_into(page, data).ok(),
            EncodeChoice::Lz4Deep => super::lz4_deep::compress_into(page, &mut data[..PAGE_SIZE]),
            EncodeChoice::Raw => None,
        };
        match compressed {
            Some(compressed) if compressed < PAGE_SIZE => (PageEncoding::Lz4, compressed, crc),
            _ => {
                data[..PAGE_SIZE].copy_from_slice(page);
                (PageEncoding::Raw, PAGE_SIZE, crc)
            }
        }
    };
    write_header(header_bytes, ra, encoding, length, crc);
    Ok((encoding, RECORD_HEADER_BYTES + length))
}

/// Encodes `page` at `ra` as a delta against `base` (the version of the
/// page last sent) into `out`, when the page is not zero and the delta
/// takes fewer than `limit` data bytes (and fewer than a page); returns the
/// bytes written, or `None` (send the page another way).
pub fn encode_delta_record(
    ra: u64,
    page: &Page,
    base: &Page,
    limit: usize,
    out: &mut [u8],
) -> Option<usize> {
    let limit = limit.min(PAGE_SIZE - 1);
    let (header_bytes, data) = out.split_at_mut_checked(RECORD_HEADER_BYTES)?;
    let room = data.get_mut(..limit.min(data.len()))?;
    let length = encode_delta(base, page, room)?;
    write_header(
        header_bytes,
        ra,
        PageEncoding::Delta,
        length,
        page_crc(page),
    );
    Some(RECORD_HEADER_BYTES + length)
}

/// A record's data length as its header carries it.
fn page_record_length(length: usize) -> u16 {
    // Below PAGE_SIZE + 1 for every encoding: fits a u16.
    #[allow(clippy::cast_possible_truncation)]
    let length = length as u16;
    length
}

fn write_header(out: &mut [u8], ra: u64, encoding: PageEncoding, length: usize, crc: u32) {
    let header = PageRecordHeader {
        ra: U64::new(ra),
        encoding: encoding.into(),
        reserved: Reserved::ZERO,
        length: U16::new(page_record_length(length)),
        crc: U32::new(crc),
    };
    out.copy_from_slice(header.as_bytes());
}

/// Parses the record at the start of `bytes`, in the codec's order:
/// header length, encoding (the record's kind), reserved byte, address
/// alignment, length for the encoding, data length. The page's CRC is
/// checked when [`PageDecoder::decode`] has the page.
pub fn parse_record(bytes: &[u8]) -> Result<PageRecord<'_>, DecodeError> {
    let (header, rest) =
        PageRecordHeader::read_from_prefix(bytes).map_err(|_short| DecodeError::Truncated {
            what: "page record header",
            needed: RECORD_HEADER_BYTES,
            available: bytes.len(),
        })?;
    let encoding = header.encoding.checked("encoding")?;
    header.check()?;
    let length = usize::from(header.length.get());
    let data = rest.get(..length).ok_or(DecodeError::Truncated {
        what: "page record",
        needed: RECORD_HEADER_BYTES + length,
        available: bytes.len(),
    })?;
    Ok(PageRecord {
        ra: header.ra.get(),
        encoding,
        crc: header.crc.get(),
        data,
    })
}

/// Iterates over the records of a `Pages` payload. After the first error it
/// yields nothing more (the rest of the payload cannot be trusted).
#[derive(Clone, Debug)]
pub struct PageRecords<'a> {
    rest: &'a [u8],
}

impl<'a> PageRecords<'a> {
    /// Records of `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        PageRecords { rest: payload }
    }
}

impl<'a> Iterator for PageRecords<'a> {
    type Item = Result<PageRecord<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_record(self.rest) {
            Ok(record) => {
                self.rest = &self.rest[record.wire_len()..];
                Some(Ok(record))
            }
            Err(error) => {
                self.rest = &[];
                Some(Err(error))
            }
        }
    }
}

/// What an LZ4 decompression error says, in words.
pub(crate) fn lz4_reason(error: &lz4_flex::block::DecompressError) -> &'static str {
    use lz4_flex::block::DecompressError;
    match error {
        DecompressError::OutputTooSmall { .. } => "expands past one page",
        DecompressError::LiteralOutOfBounds => "literal past the end of the block",
        DecompressError::ExpectedAnotherByte => "block ends early",
        DecompressError::OffsetZero => "match offset 0",
        DecompressError::OffsetOutOfBounds => "match offset before the page",
        _ => "malformed block",
    }
}

/// Expands the LZ4 block `data` into `page`, which it must fill exactly.
pub(crate) fn decompress_page(data: &[u8], page: &mut Page) -> Result<(), DecodeError> {
    let size =
        lz4_flex::block::decompress_into(data, page).map_err(|error| DecodeError::Decompress {
            field: "data",
            reason: lz4_reason(&error),
        })?;
    if size != PAGE_SIZE {
        return Err(DecodeError::Length {
            what: "decompressed page",
            expected: PAGE_SIZE,
            actual: size,
        });
    }
    Ok(())
}

/// Decodes records into checked pages. Holds the scratch page LZ4 expands
/// into, so a page reaches the caller only after its CRC matched.
#[derive(Clone)]
pub struct PageDecoder {
    scratch: Page,
}

impl Default for PageDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PageDecoder {
    /// A decoder with its own scratch page.
    pub const fn new() -> Self {
        PageDecoder {
            scratch: [0; PAGE_SIZE],
        }
    }

    /// The page a record carries, after its CRC was checked. The page
    /// borrows from the record (raw) or from the decoder's scratch (zero,
    /// LZ4: no 8 KiB static of zeros in a firmware image).
    pub fn decode<'s>(&'s mut self, record: &PageRecord<'s>) -> Result<&'s Page, DecodeError> {
        let page: &Page = match record.encoding {
            PageEncoding::Zero => {
                self.scratch.fill(0);
                &self.scratch
            }
            PageEncoding::Raw => record
                .data
                .try_into()
                .map_err(|_wrong| DecodeError::Length {
                    what: "raw page",
                    expected: PAGE_SIZE,
                    actual: record.data.len(),
                })?,
            PageEncoding::Delta => {
                return Err(DecodeError::InvalidValue {
                    field: "encoding",
                    value: u64::from(PageEncoding::Delta.raw()),
                })
            }
            PageEncoding::Lz4 => {
                decompress_page(record.data, &mut self.scratch)?;
                &self.scratch
            }
        };
        let actual = match record.encoding {
            PageEncoding::Zero => ZERO_PAGE_CRC,
            PageEncoding::Lz4 | PageEncoding::Raw | PageEncoding::Delta => page_crc(page),
        };
        check_crc(record.crc, actual)?;
        Ok(page)
    }

    /// The page a delta record makes of `base` (the version of the page
    /// the target holds), after its CRC was checked; `base` itself is left
    /// as it was (the delta goes onto the decoder's scratch copy).
    pub fn decode_delta<'s>(
        &'s mut self,
        record: &PageRecord<'_>,
        base: &Page,
    ) -> Result<&'s Page, DecodeError> {
        if record.encoding != PageEncoding::Delta {
            return Err(DecodeError::InvalidValue {
                field: "encoding",
                value: u64::from(record.encoding.raw()),
            });
        }
        self.scratch.copy_from_slice(base);
        apply_delta(&mut self.scratch, record.data)?;
        check_crc(record.crc, page_crc(&self.scratch))?;
        Ok(&self.scratch)
    }
}

fn check_crc(expected: u32, actual: u32) -> Result<(), DecodeError> {
    if actual == expected {
        Ok(())
    } else {
        Err(DecodeError::CrcMismatch {
            field: "crc",
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn text_page() -> Page {
        let mut page = [0u8; PAGE_SIZE];
        let text = b"sun4v logical domain channel; migrate-domain ldg-src target ";
        for (index, byte) in page.iter_mut().enumerate() {
            *byte = text[index % text.len()];
        }
        page
    }

    fn round_trip(page: &Page) -> PageEncoding {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let (encoding, size) = encode_page(0x8000_2000, page, &mut out).expect("room");
        let record = parse_record(&out[..size]).expect("valid record");
        assert_eq!(record.wire_len(), size);
        let mut decoder = PageDecoder::new();
        assert_eq!(decoder.decode(&record).expect("valid page"), page);
        encoding
    }

    #[test]
    fn each_encoding_round_trips() {
        assert_eq!(round_trip(&[0; PAGE_SIZE]), PageEncoding::Zero);
        assert_eq!(round_trip(&text_page()), PageEncoding::Lz4);
        let mut random = [0u8; PAGE_SIZE];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for byte in random.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        assert_eq!(round_trip(&random), PageEncoding::Raw);
    }

    #[test]
    fn zero_page_crc_is_the_crc_of_a_zero_page() {
        assert_eq!(ZERO_PAGE_CRC, page_crc(&[0; PAGE_SIZE]));
    }

    #[test]
    fn header_layout_and_encodings() {
        assert_eq!(RECORD_HEADER_BYTES, 16);
        assert_eq!(core::mem::offset_of!(PageRecordHeader, encoding), 8);
        assert_eq!(core::mem::offset_of!(PageRecordHeader, length), 10);
        assert_eq!(core::mem::offset_of!(PageRecordHeader, crc), 12);
        assert_eq!(PageEncoding::from_raw(0), None);
        assert_eq!(PageEncoding::from_raw(5), None);
        assert_eq!(PageEncoding::ALL.len(), 4);
        assert_eq!(
            lz4_bound(PAGE_SIZE),
            lz4_flex::block::get_maximum_output_size(PAGE_SIZE)
        );
    }

    #[test]
    fn corrupted_record_never_yields_a_page() {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let (_, size) = encode_page(0, &text_page(), &mut out).expect("room");
        let mut decoder = PageDecoder::new();
        for position in RECORD_HEADER_BYTES..size {
            let mut bad = out;
            bad[position] ^= 0x20;
            if let Ok(record) = parse_record(&bad[..size]) {
                assert!(
                    decoder.decode(&record).is_err(),
                    "byte {position} flipped went unnoticed"
                );
            }
        }
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let (_, size) = encode_page(0x4000, &[0; PAGE_SIZE], &mut out).expect("room");
        assert_eq!(size, RECORD_HEADER_BYTES);
        crate::wire::codec::assert_refusals(
            &out[..size],
            |bytes| parse_record(bytes).map(|record| record.ra),
            &[
                (
                    8,
                    0,
                    DecodeError::InvalidEnum {
                        field: "encoding",
                        value: 0,
                    },
                ),
                (9, 1, DecodeError::ReservedNotZero { field: "reserved" }),
                (
                    7,
                    1,
                    DecodeError::InvalidValue {
                        field: "ra",
                        value: 0x4001,
                    },
                ),
                (
                    11,
                    1,
                    DecodeError::InvalidValue {
                        field: "length",
                        value: 1,
                    },
                ),
            ],
        );
        assert!(matches!(
            parse_record(&out[..5]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut small = [0u8; 100];
        assert!(encode_page(0, &[0; PAGE_SIZE], &mut small).is_err());
    }

    #[test]
    fn records_iterator_stops_at_first_error() {
        let mut payload = [0u8; 3 * RECORD_HEADER_BYTES];
        for index in 0..3 {
            let mut out = [0u8; MAX_RECORD_BYTES];
            encode_page(index as u64 * 8192, &[0; PAGE_SIZE], &mut out).expect("room");
            payload[index * 16..index * 16 + 16].copy_from_slice(&out[..16]);
        }
        assert_eq!(PageRecords::new(&payload).filter(|r| r.is_ok()).count(), 3);
        payload[16 + 8] = 9;
        let results: Vec<_> = PageRecords::new(&payload).collect();
        assert_eq!(results.len(), 2);
        assert!(results[1].is_err());
    }

    #[test]
    fn a_raw_choice_never_compresses_and_a_zero_page_stays_zero() {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let text = text_page();
        let (encoding, size) = encode_page_as(0, &text, EncodeChoice::Raw, &mut out).expect("room");
        assert_eq!(
            (encoding, size),
            (PageEncoding::Raw, RECORD_HEADER_BYTES + PAGE_SIZE)
        );
        let record = parse_record(&out[..size]).expect("record");
        assert_eq!(PageDecoder::new().decode(&record).expect("page"), &text);
        let (encoding, _) =
            encode_page_as(0, &[0; PAGE_SIZE], EncodeChoice::Raw, &mut out).expect("room");
        assert_eq!(encoding, PageEncoding::Zero);
    }

    #[test]
    fn delta_records_round_trip_onto_the_base_and_check_their_crc() {
        let base = text_page();
        let mut page = base;
        page[100..140].fill(0xee);
        page[5000] = 3;
        let mut out = [0u8; MAX_RECORD_BYTES];
        let size = encode_delta_record(0x6000, &page, &base, PAGE_SIZE, &mut out).expect("delta");
        assert!(size < RECORD_HEADER_BYTES + 64, "{size} bytes");
        let record = parse_record(&out[..size]).expect("record");
        assert_eq!(record.encoding, PageEncoding::Delta);
        let mut decoder = PageDecoder::new();
        assert_eq!(decoder.decode_delta(&record, &base).expect("page"), &page);
        // Without its base a delta is no page.
        assert!(decoder.decode(&record).is_err());
        // Onto another base, the CRC catches it.
        let other = [1u8; PAGE_SIZE];
        assert!(matches!(
            decoder.decode_delta(&record, &other),
            Err(DecodeError::CrcMismatch { .. })
        ));
        // A limit below the delta's size: no delta record.
        assert_eq!(
            encode_delta_record(0x6000, &page, &base, 20, &mut out),
            None
        );
        assert_eq!(
            encode_delta_record(0x6000, &base, &base, PAGE_SIZE, &mut out),
            None
        );
    }
}
