//! Typed decode and encode errors of the wire format.

use core::fmt;

/// Why a frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or the declared payload needs.
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The magic is not "LDMG".
    BadMagic(u32),
    /// A version this engine does not speak.
    UnsupportedVersion(u16),
    /// A frame type outside the enum (0 is always invalid).
    InvalidFrameType(u16),
    /// The declared payload exceeds the bound.
    PayloadTooLarge {
        /// Declared length.
        length: u32,
        /// Largest accepted.
        max: usize,
    },
    /// The frame's CRC32 does not match its bytes.
    CrcMismatch {
        /// CRC in the header.
        expected: u32,
        /// CRC computed.
        actual: u32,
    },
    /// The caller's buffer cannot hold the frame being written.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated { needed, available } => {
                write!(
                    f,
                    "frame truncated: needs {needed} bytes, {available} available"
                )
            }
            FrameError::BadMagic(magic) => write!(f, "bad frame magic {magic:#010x}"),
            FrameError::UnsupportedVersion(version) => {
                write!(f, "unsupported wire version {version}")
            }
            FrameError::InvalidFrameType(value) => write!(f, "invalid frame type {value}"),
            FrameError::PayloadTooLarge { length, max } => {
                write!(
                    f,
                    "frame payload of {length} bytes exceeds the {max}-byte bound"
                )
            }
            FrameError::CrcMismatch { expected, actual } => {
                write!(
                    f,
                    "frame CRC mismatch: header {expected:#010x}, computed {actual:#010x}"
                )
            }
            FrameError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "frame buffer too small: needs {needed} bytes, has {available}"
                )
            }
        }
    }
}

/// Why a page record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than the record header or its declared data.
    Truncated {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// An encoding outside the enum (0 is always invalid).
    InvalidEncoding(u8),
    /// The reserved byte is not zero.
    ReservedNotZero(u8),
    /// The data length does not fit the encoding.
    BadLength {
        /// Encoding of the record.
        encoding: u8,
        /// Declared length.
        length: u16,
    },
    /// The page address is not 8 KiB aligned.
    MisalignedAddress(u64),
    /// The LZ4 block is malformed.
    Decompress,
    /// The LZ4 block did not expand to exactly one page.
    WrongDecompressedSize(usize),
    /// The page's CRC32 does not match.
    CrcMismatch {
        /// Real address of the page.
        ra: u64,
        /// CRC in the record.
        expected: u32,
        /// CRC of the decoded bytes.
        actual: u32,
    },
    /// The output buffer cannot hold a worst-case record.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { needed, available } => {
                write!(
                    f,
                    "page record truncated: needs {needed} bytes, {available} available"
                )
            }
            RecordError::InvalidEncoding(value) => write!(f, "invalid page encoding {value}"),
            RecordError::ReservedNotZero(value) => {
                write!(f, "page record reserved byte is {value:#04x}")
            }
            RecordError::BadLength { encoding, length } => {
                write!(
                    f,
                    "page record length {length} does not fit encoding {encoding}"
                )
            }
            RecordError::MisalignedAddress(ra) => {
                write!(f, "page address {ra:#x} is not 8 KiB aligned")
            }
            RecordError::Decompress => write!(f, "malformed LZ4 block"),
            RecordError::WrongDecompressedSize(size) => {
                write!(f, "LZ4 block expanded to {size} bytes, not one page")
            }
            RecordError::CrcMismatch {
                ra,
                expected,
                actual,
            } => write!(
                f,
                "page at {ra:#x} failed its CRC: record {expected:#010x}, computed {actual:#010x}"
            ),
            RecordError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "record buffer too small: needs {needed} bytes, has {available}"
                )
            }
        }
    }
}

impl core::error::Error for FrameError {}
impl core::error::Error for RecordError {}
