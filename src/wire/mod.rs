//! The engine-to-engine wire format: frames that carry page records.
//!
//! Everything is big-endian with fixed-layout `zerocopy` headers, explicit
//! padding that must be zero, and `0` reserved as invalid in every enum.
//!
//! ```text
//! frame  = FrameHeader (24 bytes) | payload (length bytes)
//! FrameHeader: magic "LDMG" u32 | version u16 | frame type u16 | length u32
//!              | crc32 u32 (header with crc = 0, then payload) | sequence u64
//! payload of a Pages frame = record*
//! record = PageRecordHeader (16 bytes) | data (length bytes)
//! PageRecordHeader: real address u64 | encoding u8 | reserved u8
//!                   | length u16 | crc32 of the uncompressed page u32
//! encoding: 1 zero (no data) | 2 LZ4 block (0 < length < 8192) | 3 raw (8192)
//! ```
//!
//! Decoders treat every byte as hostile: every length is bounded before it
//! is used, every failure is a typed error, nothing panics, and a page is
//! handed out only after its CRC matched.

pub mod error;
pub mod frame;
pub mod record;

pub use error::{FrameError, RecordError};
pub use frame::{seal_frame, Frame, FrameHeader, FrameType, FrameWriter, FRAME_HEADER_BYTES};
pub use record::{PageDecoder, PageEncoding, PageRecord, PageRecordHeader, PageRecords};
