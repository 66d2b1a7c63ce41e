//! The target's job: check a received `Pages` frame (its CRC32 first), then
//! parse its records and check each page: LZ4 blocks are expanded into
//! the batch's pages, raw pages are checked where they lie in the frame,
//! zero pages need nothing, deltas are left to the state machine (they
//! apply onto the page it holds). Nothing is written anywhere else; the
//! state machine writes the checked pages.

use super::batch::{Batch, DecodedRecord};
use crate::page::{page_crc, Page};
use crate::wire::record::{decompress_page, parse_record, PageEncoding, ZERO_PAGE_CRC};
use crate::wire::{DecodeError, Frame, FRAME_HEADER_BYTES};

pub(super) fn decode_batch(batch: &mut Batch<'_>) {
    let Batch {
        pages,
        frame,
        frame_len,
        decoded,
        resume_at,
        error,
        ..
    } = batch;
    let bytes = &frame[..*frame_len];
    let payload_len = match Frame::decode(bytes) {
        Ok((frame, _)) => frame.payload.len(),
        Err(decode_error) => {
            *error = Some(decode_error);
            return;
        }
    };
    let payload = &bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + payload_len];
    let mut offset = 0;
    let mut next_page = 0;
    while offset < payload.len() {
        if decoded.is_full() {
            break;
        }
        let record = match parse_record(&payload[offset..]) {
            Ok(record) => record,
            Err(decode_error) => {
                *error = Some(decode_error);
                return;
            }
        };
        let location = match record.encoding {
            PageEncoding::Zero => {
                if record.crc != ZERO_PAGE_CRC {
                    *error = Some(crc_error(record.crc, ZERO_PAGE_CRC));
                    return;
                }
                0
            }
            PageEncoding::Raw => {
                let actual = page_crc(record.data);
                if actual != record.crc {
                    *error = Some(crc_error(record.crc, actual));
                    return;
                }
                FRAME_HEADER_BYTES + offset + (record.wire_len() - record.data.len())
            }
            PageEncoding::Lz4 => {
                let Some(page) = pages.get_mut(next_page) else {
                    // No page left: the state machine decodes the rest.
                    break;
                };
                if let Err(decode_error) = expand(record.data, page, record.crc) {
                    *error = Some(decode_error);
                    return;
                }
                next_page += 1;
                next_page - 1
            }
            PageEncoding::Delta => FRAME_HEADER_BYTES + offset,
        };
        // Cannot fail: checked not full above.
        let _ = decoded.push(DecodedRecord {
            ra: record.ra,
            encoding: record.encoding,
            location,
        });
        offset += record.wire_len();
    }
    *resume_at = offset;
}

fn expand(data: &[u8], page: &mut Page, crc: u32) -> Result<(), DecodeError> {
    decompress_page(data, page)?;
    let actual = page_crc(page);
    if actual != crc {
        return Err(crc_error(crc, actual));
    }
    Ok(())
}

fn crc_error(expected: u32, actual: u32) -> DecodeError {
    DecodeError::CrcMismatch {
        field: "crc",
        expected,
        actual,
    }
}
