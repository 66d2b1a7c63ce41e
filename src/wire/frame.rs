//! Frames: the unit that crosses the link, with magic, version, type,
//! length, sequence number and a CRC32 over header and payload.

use super::codec::{
    check_magic, check_version, wire_enum, wire_struct, BufferTooSmall, DecodeError, EnumField,
    WireStruct,
};
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::IntoBytes;

/// "LDMG" in ASCII.
pub const FRAME_MAGIC: u32 = 0x4c44_4d47;
/// The layout version of the frame header this engine writes and reads
/// (the header has not changed since wire version 1, so every peer reads
/// every frame; what a frame may carry is the wire version's business).
pub const FRAME_VERSION: u16 = 1;
/// The protocol (wire) version this engine proposes in `Hello`: 2 adds
/// delta records ([`super::record::PageEncoding::Delta`]).
pub const WIRE_VERSION: u16 = 2;
/// The oldest wire version this engine still speaks (current and previous).
pub const OLDEST_WIRE_VERSION: u16 = 1;
/// Bytes of [`FrameHeader`].
pub const FRAME_HEADER_BYTES: usize = core::mem::size_of::<FrameHeader>();
/// Largest payload a decoder accepts: 1 MiB.
pub const MAX_FRAME_PAYLOAD: usize = 1 << 20;

wire_struct! {
    /// The fixed frame header. Big-endian, 24 bytes, no implicit padding.
    pub struct FrameHeader {
        /// [`FRAME_MAGIC`].
        pub magic: U32,
        /// Frame layout version ([`FRAME_VERSION`]).
        pub version: U16,
        /// What the frame carries.
        pub frame_type: EnumField<FrameType>,
        /// Payload bytes after the header.
        pub length: U32,
        /// CRC32 of the header (with this field zero) followed by the payload.
        pub crc: U32,
        /// Per-direction sequence number, from 0.
        pub sequence: U64,
    }
}

wire_enum! {
    /// What a frame carries. 0 is reserved as invalid.
    pub enum FrameType: u16 {
        /// Source to target: protocol version, domain shape, options.
        Hello = 1,
        /// Target to source: accepted version, reservation result.
        HelloAck = 2,
        /// Page records.
        Pages = 3,
        /// End of a pre-copy round (with counts to cross-check).
        RoundEnd = 4,
        /// The source suspended the domain: the final pages follow.
        Suspended = 5,
        /// One vCPU's state.
        VcpuState = 6,
        /// Source finished sending its final state.
        Commit = 7,
        /// Target verified everything and will resume the domain.
        CommitAck = 8,
        /// Either side cancels.
        Cancel = 9,
        /// Either side reports a failure.
        Failure = 10,
        /// Target resumed the domain.
        Resumed = 11,
        /// Keep-alive and bandwidth probe.
        Ping = 12,
        /// Target to source: every frame up to a round's end arrived.
        RoundAck = 13,
    }
}

/// A decoded, checked frame borrowing its payload from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Frame type.
    pub frame_type: FrameType,
    /// Frame layout version the peer wrote.
    pub version: u16,
    /// Sequence number.
    pub sequence: u64,
    /// Payload bytes (CRC already checked).
    pub payload: &'a [u8],
}

fn frame_crc(header: &FrameHeader, payload: &[u8]) -> u32 {
    let mut zeroed = *header;
    zeroed.crc = U32::new(0);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(zeroed.as_bytes());
    hasher.update(payload);
    hasher.finalize()
}

impl<'a> Frame<'a> {
    /// Decodes the frame at the start of `bytes`; returns it and the bytes
    /// it used. Checks, in the codec's order: length of the header, magic,
    /// version, type, payload bound, length of the payload, CRC.
    pub fn decode(bytes: &'a [u8]) -> Result<(Frame<'a>, usize), DecodeError> {
        let (header, frame_type, length) = read_header(bytes)?;
        let rest = &bytes[FRAME_HEADER_BYTES..];
        let payload = rest.get(..length).ok_or(DecodeError::Truncated {
            what: "frame",
            needed: FRAME_HEADER_BYTES + length,
            available: bytes.len(),
        })?;
        let actual = frame_crc(&header, payload);
        if actual != header.crc.get() {
            return Err(DecodeError::CrcMismatch {
                field: "frame crc",
                expected: header.crc.get(),
                actual,
            });
        }
        let frame = Frame {
            frame_type,
            version: header.version.get(),
            sequence: header.sequence.get(),
            payload,
        };
        Ok((frame, FRAME_HEADER_BYTES + length))
    }

    /// Reads only the header of the frame at the start of `bytes` and
    /// returns the whole frame's size, without checking the payload or the
    /// CRC: lets a stream reader know how many bytes to wait for. Checks
    /// what [`Frame::decode`] checks up to the payload bound.
    pub fn peek_size(bytes: &[u8]) -> Result<usize, DecodeError> {
        let (_, _, length) = read_header(bytes)?;
        Ok(FRAME_HEADER_BYTES + length)
    }

    /// Reads only the header of the frame at the start of `bytes`: its
    /// type, sequence number and payload length, checked up to the payload
    /// bound and against the bytes there, but not its CRC (a worker checks
    /// that before it reads a record; see [`Frame::decode`]).
    pub fn peek(bytes: &[u8]) -> Result<(FrameType, u64, usize), DecodeError> {
        let (header, frame_type, length) = read_header(bytes)?;
        if bytes.len() < FRAME_HEADER_BYTES + length {
            return Err(DecodeError::Truncated {
                what: "frame",
                needed: FRAME_HEADER_BYTES + length,
                available: bytes.len(),
            });
        }
        Ok((frame_type, header.sequence.get(), length))
    }
}

/// The header at the start of `bytes`, checked up to the payload bound;
/// its type and payload length.
fn read_header(bytes: &[u8]) -> Result<(FrameHeader, FrameType, usize), DecodeError> {
    // The header has nothing else to check: no reserved field, and the
    // type is checked here as the frame's kind.
    let (header, _) =
        zerocopy::FromBytes::read_from_prefix(bytes).map_err(|_short| DecodeError::Truncated {
            what: "frame header",
            needed: FRAME_HEADER_BYTES,
            available: bytes.len(),
        })?;
    let header: FrameHeader = header;
    check_magic("frame", FRAME_MAGIC, header.magic.get())?;
    check_version("frame", header.version.get(), FRAME_VERSION, FRAME_VERSION)?;
    let frame_type = header.frame_type.checked("frame_type")?;
    header.check()?;
    let length = header.length.get() as usize;
    if length > MAX_FRAME_PAYLOAD {
        return Err(DecodeError::TooLong {
            what: "frame payload",
            length,
            max: MAX_FRAME_PAYLOAD,
        });
    }
    Ok((header, frame_type, length))
}

/// Writes one frame into a caller's buffer: payload first, then
/// [`FrameWriter::finish`] fills in the header with length and CRC.
#[derive(Debug)]
pub struct FrameWriter<'b> {
    buffer: &'b mut [u8],
    length: usize,
    frame_type: FrameType,
    sequence: u64,
}

impl<'b> FrameWriter<'b> {
    /// Starts a frame; the buffer must at least hold the header.
    pub fn new(
        buffer: &'b mut [u8],
        frame_type: FrameType,
        sequence: u64,
    ) -> Result<Self, BufferTooSmall> {
        if buffer.len() < FRAME_HEADER_BYTES {
            return Err(BufferTooSmall {
                needed: FRAME_HEADER_BYTES,
                available: buffer.len(),
            });
        }
        Ok(FrameWriter {
            buffer,
            length: 0,
            frame_type,
            sequence,
        })
    }

    /// Payload bytes written so far.
    pub fn payload_len(&self) -> usize {
        self.length
    }

    /// Room left for payload (bounded by [`MAX_FRAME_PAYLOAD`]).
    pub fn remaining(&self) -> usize {
        let room = self.buffer.len() - FRAME_HEADER_BYTES - self.length;
        room.min(MAX_FRAME_PAYLOAD - self.length)
    }

    /// The unwritten payload area, for encoders that write in place; call
    /// [`FrameWriter::advance`] with what they used.
    pub fn spare(&mut self) -> &mut [u8] {
        let end = FRAME_HEADER_BYTES + self.length + self.remaining();
        &mut self.buffer[FRAME_HEADER_BYTES + self.length..end]
    }

    /// Counts `bytes` written into [`FrameWriter::spare`].
    pub fn advance(&mut self, bytes: usize) {
        self.length += bytes.min(self.remaining());
    }

    /// Appends raw payload bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        if bytes.len() > self.remaining() {
            return Err(BufferTooSmall {
                needed: FRAME_HEADER_BYTES + self.length + bytes.len(),
                available: self.buffer.len(),
            });
        }
        let start = FRAME_HEADER_BYTES + self.length;
        self.buffer[start..start + bytes.len()].copy_from_slice(bytes);
        self.length += bytes.len();
        Ok(())
    }

    /// Writes the header; returns the whole frame's size in bytes.
    pub fn finish(self) -> usize {
        seal_frame(self.buffer, self.frame_type, self.sequence, self.length)
    }
}

/// Writes the header of a frame whose `payload_len` payload bytes already
/// sit after the header space in `buffer`; returns the frame's size.
/// `buffer` must hold header and payload (callers size it with
/// [`FRAME_HEADER_BYTES`]); a shorter buffer seals an empty frame.
pub fn seal_frame(
    buffer: &mut [u8],
    frame_type: FrameType,
    sequence: u64,
    payload_len: usize,
) -> usize {
    let payload_len = payload_len.min(buffer.len().saturating_sub(FRAME_HEADER_BYTES));
    let (_, rest) = buffer.split_at(FRAME_HEADER_BYTES.min(buffer.len()));
    let mut payload_crc = crc32fast::Hasher::new();
    payload_crc.update(&rest[..payload_len]);
    seal_frame_with_crc(buffer, frame_type, sequence, payload_len, &payload_crc)
}

/// Like [`seal_frame`], for a payload whose CRC32 is already computed
/// (`payload_crc` has hashed exactly the `payload_len` payload bytes):
/// the header's CRC is the payload's combined with the header's own, so
/// the payload is not read again (workers hash what they write).
pub fn seal_frame_with_crc(
    buffer: &mut [u8],
    frame_type: FrameType,
    sequence: u64,
    payload_len: usize,
    payload_crc: &crc32fast::Hasher,
) -> usize {
    let payload_len = payload_len.min(buffer.len().saturating_sub(FRAME_HEADER_BYTES));
    let mut header = FrameHeader {
        magic: U32::new(FRAME_MAGIC),
        version: U16::new(FRAME_VERSION),
        frame_type: frame_type.into(),
        // At most MAX_FRAME_PAYLOAD (callers' buffers), which fits a u32.
        length: U32::new(u32::try_from(payload_len).unwrap_or(u32::MAX)),
        crc: U32::new(0),
        sequence: U64::new(sequence),
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header.as_bytes());
    hasher.combine(payload_crc);
    header.crc = U32::new(hasher.finalize());
    if let Some(target) = buffer.get_mut(..FRAME_HEADER_BYTES) {
        target.copy_from_slice(header.as_bytes());
    }
    FRAME_HEADER_BYTES + payload_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        assert_eq!(FRAME_HEADER_BYTES, 24);
        assert_eq!(core::mem::offset_of!(FrameHeader, length), 8);
        assert_eq!(core::mem::offset_of!(FrameHeader, crc), 12);
        assert_eq!(core::mem::offset_of!(FrameHeader, sequence), 16);
        assert_eq!(&FRAME_MAGIC.to_be_bytes(), b"LDMG");
    }

    #[test]
    fn frame_types_reserve_zero() {
        assert_eq!(FrameType::from_raw(0), None);
        for raw in 1..=13u16 {
            let frame_type = FrameType::from_raw(raw).expect("defined type");
            assert_eq!(frame_type.raw(), raw);
        }
        assert_eq!(FrameType::ALL.len(), 13);
        assert_eq!(FrameType::from_raw(14), None);
    }

    #[test]
    fn round_trip_and_every_check() {
        let mut buffer = [0u8; 128];
        let mut writer = FrameWriter::new(&mut buffer, FrameType::Ping, 42).expect("room");
        writer.push(b"hello").expect("room");
        let size = writer.finish();
        assert_eq!(size, FRAME_HEADER_BYTES + 5);
        assert_eq!(Frame::peek_size(&buffer), Ok(size));
        let (frame, used) = Frame::decode(&buffer[..size]).expect("valid frame");
        assert_eq!(used, size);
        assert_eq!(
            (frame.frame_type, frame.sequence, frame.payload),
            (FrameType::Ping, 42, &b"hello"[..])
        );
        // Big-endian on the wire whatever the host.
        assert_eq!(&buffer[0..4], b"LDMG");
        assert_eq!(&buffer[16..24], &42u64.to_be_bytes());

        assert!(matches!(
            Frame::decode(&buffer[..size - 1]),
            Err(DecodeError::Truncated { what: "frame", .. })
        ));
        assert!(matches!(
            Frame::decode(&buffer[..10]),
            Err(DecodeError::Truncated {
                what: "frame header",
                ..
            })
        ));
        let mut bad = buffer;
        bad[0] = b'X';
        assert!(matches!(
            Frame::decode(&bad[..size]),
            Err(DecodeError::BadMagic { what: "frame", .. })
        ));
        crate::wire::codec::assert_refusals(
            &buffer[..size],
            |bytes| Frame::decode(bytes).map(|(frame, _)| frame.sequence),
            &[
                (
                    5,
                    9,
                    DecodeError::UnsupportedVersion {
                        what: "frame",
                        found: 9,
                        oldest: FRAME_VERSION,
                        newest: FRAME_VERSION,
                    },
                ),
                (
                    7,
                    0,
                    DecodeError::InvalidEnum {
                        field: "frame_type",
                        value: 0,
                    },
                ),
            ],
        );
        let mut bad = buffer;
        bad[8] = 0x7f;
        assert!(matches!(
            Frame::decode(&bad[..size]),
            Err(DecodeError::TooLong { .. })
        ));
        assert_eq!(Frame::peek_size(&bad), Frame::decode(&bad).map(|(_, n)| n));
        let mut bad = buffer;
        bad[FRAME_HEADER_BYTES] ^= 1;
        assert!(matches!(
            Frame::decode(&bad[..size]),
            Err(DecodeError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn writer_refuses_overflow() {
        let mut small = [0u8; 10];
        assert!(FrameWriter::new(&mut small, FrameType::Ping, 0).is_err());
        let mut buffer = [0u8; 30];
        let mut writer = FrameWriter::new(&mut buffer, FrameType::Ping, 0).expect("room");
        assert_eq!(writer.remaining(), 6);
        assert!(writer.push(&[1; 7]).is_err());
        assert!(writer.push(&[1; 6]).is_ok());
        assert_eq!(writer.remaining(), 0);
    }

    #[test]
    fn a_payload_crc_computed_ahead_seals_the_same_frame() {
        let mut buffer = [0u8; 64];
        buffer[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + 9].copy_from_slice(b"123456789");
        let mut other = buffer;
        let size = seal_frame(&mut buffer, FrameType::Pages, 7, 9);
        let mut payload_crc = crc32fast::Hasher::new();
        payload_crc.update(b"123456789");
        assert_eq!(
            seal_frame_with_crc(&mut other, FrameType::Pages, 7, 9, &payload_crc),
            size
        );
        assert_eq!(buffer, other);
        assert_eq!(Frame::peek(&buffer[..size]), Ok((FrameType::Pages, 7, 9)));
        assert!(Frame::peek(&buffer[..size - 1]).is_err());
        Frame::decode(&other[..size]).expect("valid frame");
    }
}
