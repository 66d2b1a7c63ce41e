//! The records of the serial line between an engine's host (firmware
//! behind a UART) and its shim ([`crate::serial_link`]): a 16-byte header,
//! a payload, a CRC32 of both; the bodies of the two control records.
//!
//! ```text
//! record = RecordHeader (16) | payload (length bytes) | crc32 u32
//!          (the CRC covers the header and the payload)
//! RecordHeader: magic u16 "LS" | version u8 | kind u8 | position u32
//!               | window u32 | length u16 | reserved u16
//! kinds: 1 Data     position = stream offset of the payload's first byte;
//!                   window 0; 1..=1024 payload bytes of the stream
//!        2 Ack      position = stream bytes received in order; window =
//!                   bytes the receiver takes beyond them; no payload
//!        3 Nak      as Ack, and: resend from position now (a record was
//!                   damaged or missing)
//!        4 Status   MachineStatus (host to shim), unsequenced
//!        5 Command  Command (shim to host), unsequenced
//!
//! Command 152     kind u8 (1 Migrate) | reserved 3 | request u32
//!                 | downtime limit ms u32 | reserved u32 | max bandwidth u64
//!                 | domain [64] | target domain [64]
//! MachineStatus 192  role u8 (1 source, 2 target) | state u8 (1 idle,
//!                 2 migrating, 3 finished) | phase u8 (1 setup .. 7 failed)
//!                 | percent u8 | throttle u8 | guest flags u8 (1 present,
//!                 2 running) | stop reason u16 (0 none) | request u32
//!                 | rounds u32 | transferred u64 | remaining u64 | total u64
//!                 | bandwidth u64 | expected downtime ns u64 | downtime ns u64
//!                 | total time ns u64 | dirty syncs u64 | zero pages u64
//!                 | normal pages u64 | compressed pages u64 | hv status u64
//!                 | guest domain u64 | guest progress u64
//!                 | progress at switchover u64 | memory digest u64
//!                 | vcpu digest u64 | records resent u32 | records damaged u32
//!                 | guest name [32]
//! ```

use zerocopy::byteorder::big_endian::{U16, U32, U64};

use super::codec::{check_magic, check_version, wire_enum, wire_struct, DecodeError};
use super::codec::{EnumField, Reserved, Text, WireStruct};
use super::messages::DOMAIN_NAME_BYTES;
use crate::stats::MigrationStatus;

/// "LS" in ASCII.
pub const RECORD_MAGIC: u16 = 0x4c53;
/// The record format's version.
pub const RECORD_VERSION: u8 = 1;
/// Bytes of the header.
pub const RECORD_HEADER_BYTES: usize = core::mem::size_of::<RecordHeader>();
/// Bytes of the CRC after the payload.
pub const RECORD_CRC_BYTES: usize = 4;
/// Most stream bytes one Data record carries.
pub const MAX_DATA_PAYLOAD: usize = 1024;
/// Most payload bytes of any record (the largest body).
pub const MAX_RECORD_PAYLOAD: usize = MAX_DATA_PAYLOAD;
/// Most bytes of a whole record (header, payload, CRC), unescaped.
pub const MAX_RECORD_BYTES: usize = RECORD_HEADER_BYTES + MAX_RECORD_PAYLOAD + RECORD_CRC_BYTES;
/// Bytes of a guest name in a [`MachineStatus`].
pub const GUEST_NAME_BYTES: usize = 32;

wire_enum! {
    /// What a record is.
    pub enum RecordKind: u8 {
        /// Bytes of the reliable stream.
        Data = 1,
        /// The receiver's position and window.
        Ack = 2,
        /// As Ack, asking for a resend from the position.
        Nak = 3,
        /// The host's [`MachineStatus`].
        Status = 4,
        /// A shim's [`Command`].
        Command = 5,
    }
}

wire_struct! {
    /// The header of every record.
    pub struct RecordHeader {
        /// [`RECORD_MAGIC`].
        pub magic: U16,
        /// [`RECORD_VERSION`].
        pub version: u8,
        /// What the record is.
        pub kind: EnumField<RecordKind>,
        /// Data: stream offset; Ack, Nak: bytes received in order.
        pub position: U32,
        /// Ack, Nak: bytes taken beyond `position`; otherwise 0.
        pub window: U32,
        /// Payload bytes.
        pub length: U16,
        /// Zero.
        pub reserved: Reserved<2>,
    }
    validate(header) {
        let kind = header.kind.checked("kind")?;
        let length = usize::from(header.length.get());
        let expected = match kind {
            RecordKind::Data if (1..=MAX_DATA_PAYLOAD).contains(&length) => length,
            RecordKind::Data => 0,
            RecordKind::Ack | RecordKind::Nak => 0,
            RecordKind::Status => MachineStatus::BYTES,
            RecordKind::Command => Command::BYTES,
        };
        if length != expected || length == 0 && kind == RecordKind::Data {
            return Err(DecodeError::InvalidValue { field: "length", value: length as u64 });
        }
        if kind != RecordKind::Ack && kind != RecordKind::Nak && header.window.get() != 0 {
            return Err(DecodeError::InvalidValue { field: "window", value: header.window.get().into() });
        }
        Ok::<(), DecodeError>(())
    }
}

/// A decoded record: its header and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The header (checked).
    pub header: RecordHeader,
    /// Its payload (`header.length` bytes).
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    /// The kind (always valid after [`Record::decode`]).
    pub fn kind(&self) -> Option<RecordKind> {
        self.header.kind.get()
    }

    /// A record in exactly `bytes`, checked in the codec's order: length
    /// bound, magic, version, kind, reserved, values, then the CRC.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLong {
                what: "serial record",
                length: bytes.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        let (header, rest) = RecordHeader::read_prefix(bytes)?;
        check_magic(
            "serial record",
            RECORD_MAGIC.into(),
            header.magic.get().into(),
        )?;
        check_version(
            "serial record",
            header.version.into(),
            RECORD_VERSION.into(),
            RECORD_VERSION.into(),
        )?;
        header.check()?;
        let length = usize::from(header.length.get());
        if rest.len() != length + RECORD_CRC_BYTES {
            return Err(DecodeError::Length {
                what: "serial record",
                expected: RECORD_HEADER_BYTES + length + RECORD_CRC_BYTES,
                actual: bytes.len(),
            });
        }
        let (payload, crc) = rest.split_at(length);
        let carried = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32fast::hash(&bytes[..RECORD_HEADER_BYTES + length]);
        if carried != computed {
            return Err(DecodeError::CrcMismatch {
                field: "crc32",
                expected: carried,
                actual: computed,
            });
        }
        Ok(Record { header, payload })
    }
}

impl RecordHeader {
    /// The header of a `kind` record with `length` payload bytes.
    pub fn new(kind: RecordKind, position: u32, window: u32, length: u16) -> Self {
        RecordHeader {
            magic: U16::new(RECORD_MAGIC),
            version: RECORD_VERSION,
            kind: kind.into(),
            position: U32::new(position),
            window: U32::new(window),
            length: U16::new(length),
            reserved: Reserved::ZERO,
        }
    }

    /// The header at the start of `bytes` (unchecked) and the rest.
    fn read_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        use zerocopy::FromBytes;
        RecordHeader::read_from_prefix(bytes).map_err(|_short| DecodeError::Truncated {
            what: "serial record",
            needed: RECORD_HEADER_BYTES,
            available: bytes.len(),
        })
    }
}

/// Writes a whole record (header, `payload`, CRC) into `out`; its size, or
/// `None` when `out` is too small or the payload too long.
pub fn encode_record(
    kind: RecordKind,
    position: u32,
    window: u32,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let length = u16::try_from(payload.len())
        .ok()
        .filter(|&length| usize::from(length) <= MAX_RECORD_PAYLOAD)?;
    let end = RECORD_HEADER_BYTES + payload.len();
    let total = end + RECORD_CRC_BYTES;
    let record = out.get_mut(..total)?;
    RecordHeader::new(kind, position, window, length)
        .encode_into(record)
        .ok()?;
    record[RECORD_HEADER_BYTES..end].copy_from_slice(payload);
    let crc = crc32fast::hash(&record[..end]);
    record[end..].copy_from_slice(&crc.to_be_bytes());
    Some(total)
}

wire_enum! {
    /// What a shim asks of its host.
    pub enum CommandKind: u8 {
        /// Migrate `domain` (as `target_domain`) over the stream.
        Migrate = 1,
    }
}

wire_struct! {
    /// A shim's command to its host.
    pub struct Command {
        /// What to do.
        pub kind: EnumField<CommandKind>,
        /// Zero.
        pub reserved: Reserved<3>,
        /// The shim's number for the request (repeated until the status
        /// shows it taken).
        pub request: U32,
        /// Longest acceptable downtime in milliseconds.
        pub downtime_limit_ms: U32,
        /// Zero.
        pub reserved2: Reserved<4>,
        /// Bandwidth cap in bytes per second (0: none).
        pub max_bandwidth: U64,
        /// The domain to migrate.
        pub domain: Text<DOMAIN_NAME_BYTES>,
        /// Its name on the target.
        pub target_domain: Text<DOMAIN_NAME_BYTES>,
    }
}

wire_enum! {
    /// Which side of a migration the host is.
    pub enum MachineRole: u8 {
        /// It runs the domain to migrate.
        Source = 1,
        /// It takes an incoming domain.
        Target = 2,
    }
}

wire_enum! {
    /// Where the host's migration stands.
    pub enum MachineState: u8 {
        /// None started.
        Idle = 1,
        /// Its engine runs.
        Migrating = 2,
        /// Its engine finished (the phase says how).
        Finished = 3,
    }
}

wire_enum! {
    /// The engine's [`MigrationStatus`] on the line.
    pub enum MachinePhase: u8 {
        /// Setup.
        Setup = 1,
        /// Pre-copy.
        Active = 2,
        /// Suspended, last pages.
        Switchover = 3,
        /// Final state sent.
        Committing = 4,
        /// Runs on the target.
        Completed = 5,
        /// Cancelled.
        Cancelled = 6,
        /// Failed.
        Failed = 7,
    }
}

impl From<MigrationStatus> for MachinePhase {
    fn from(status: MigrationStatus) -> Self {
        match status {
            MigrationStatus::Setup => MachinePhase::Setup,
            MigrationStatus::Active => MachinePhase::Active,
            MigrationStatus::Switchover => MachinePhase::Switchover,
            MigrationStatus::Committing => MachinePhase::Committing,
            MigrationStatus::Completed => MachinePhase::Completed,
            MigrationStatus::Cancelled => MachinePhase::Cancelled,
            MigrationStatus::Failed => MachinePhase::Failed,
        }
    }
}

impl From<MachinePhase> for MigrationStatus {
    fn from(phase: MachinePhase) -> Self {
        match phase {
            MachinePhase::Setup => MigrationStatus::Setup,
            MachinePhase::Active => MigrationStatus::Active,
            MachinePhase::Switchover => MigrationStatus::Switchover,
            MachinePhase::Committing => MigrationStatus::Committing,
            MachinePhase::Completed => MigrationStatus::Completed,
            MachinePhase::Cancelled => MigrationStatus::Cancelled,
            MachinePhase::Failed => MigrationStatus::Failed,
        }
    }
}

/// [`MachineStatus::guest_flags`]: the host has a guest domain.
pub const GUEST_PRESENT: u8 = 1;
/// [`MachineStatus::guest_flags`]: the guest runs (not suspended).
pub const GUEST_RUNNING: u8 = 2;

wire_struct! {
    /// What a host tells its shim, again and again: its migration's
    /// progress and outcome, its guest, the domain's digests at the
    /// switchover, its end of the line.
    pub struct MachineStatus {
        /// Source or target.
        pub role: EnumField<MachineRole>,
        /// Idle, migrating, finished.
        pub state: EnumField<MachineState>,
        /// The engine's status.
        pub phase: EnumField<MachinePhase>,
        /// Progress in percent.
        pub percent: u8,
        /// vCPU throttle in percent.
        pub throttle: u8,
        /// [`GUEST_PRESENT`], [`GUEST_RUNNING`].
        pub guest_flags: u8,
        /// `StopReason` of a failure (0: none).
        pub stop_reason: U16,
        /// The last command taken (0: none).
        pub request: U32,
        /// Pre-copy rounds.
        pub rounds: U32,
        /// Bytes the engine sent.
        pub transferred: U64,
        /// Bytes still dirty.
        pub remaining: U64,
        /// Bytes of guest memory.
        pub total: U64,
        /// Measured bandwidth, bytes per second.
        pub bandwidth: U64,
        /// Expected downtime.
        pub expected_downtime_ns: U64,
        /// Downtime (0 until known).
        pub downtime_ns: U64,
        /// Since the engine started.
        pub total_time_ns: U64,
        /// Dirty-log syncs.
        pub dirty_syncs: U64,
        /// Zero pages sent.
        pub zero_pages: U64,
        /// Non-zero pages sent.
        pub normal_pages: U64,
        /// Pages sent LZ4-compressed.
        pub compressed_pages: U64,
        /// Hypervisor status behind a failure (0: none).
        pub hv_status: U64,
        /// The guest's domain number here (0: none).
        pub guest_domain: U64,
        /// The guest's own progress counter, as the host reads it.
        pub guest_progress: U64,
        /// That counter when the domain was stopped for the switchover.
        pub progress_at_switchover: U64,
        /// Digest of the domain's memory at the switchover (0: not yet).
        pub memory_digest: U64,
        /// Digest of its vCPU states at the switchover (0: not yet).
        pub vcpu_digest: U64,
        /// Records the host's end sent again.
        pub records_resent: U32,
        /// Damaged records the host's end received.
        pub records_damaged: U32,
        /// The guest's name.
        pub guest_name: Text<GUEST_NAME_BYTES>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::assert_refusals;
    use std::vec::Vec;
    use zerocopy::{FromZeros, IntoBytes};

    fn data_record(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let size = encode_record(RecordKind::Data, 0x1234, 0, payload, &mut out).expect("fits");
        out[..size].to_vec()
    }

    #[test]
    fn sizes_are_the_documented_ones() {
        assert_eq!(RECORD_HEADER_BYTES, 16);
        assert_eq!(Command::BYTES, 152);
        assert_eq!(MachineStatus::BYTES, 192);
        assert_eq!(MAX_RECORD_BYTES, 1044);
    }

    #[test]
    fn a_record_round_trips_and_its_bytes_are_big_endian() {
        let bytes = data_record(b"abc");
        assert_eq!(
            &bytes[..16],
            &[0x4c, 0x53, 1, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 3, 0, 0]
        );
        let record = Record::decode(&bytes).expect("valid");
        assert_eq!(record.kind(), Some(RecordKind::Data));
        assert_eq!(record.header.position.get(), 0x1234);
        assert_eq!(record.payload, b"abc");
        let crc = crc32fast::hash(&bytes[..19]).to_be_bytes();
        assert_eq!(&bytes[19..], &crc);
    }

    #[test]
    fn damaged_records_are_refused_in_the_codec_order() {
        let good = data_record(b"abcdefgh");
        let decode = |bytes: &[u8]| Record::decode(bytes).map(|_| ());
        assert_refusals(
            &good,
            decode,
            &[
                (
                    0,
                    0x4d,
                    DecodeError::BadMagic {
                        what: "serial record",
                        expected: 0x4c53,
                        found: 0x4d53,
                    },
                ),
                (
                    2,
                    2,
                    DecodeError::UnsupportedVersion {
                        what: "serial record",
                        found: 2,
                        oldest: 1,
                        newest: 1,
                    },
                ),
                (
                    3,
                    0,
                    DecodeError::InvalidEnum {
                        field: "kind",
                        value: 0,
                    },
                ),
                (14, 1, DecodeError::ReservedNotZero { field: "reserved" }),
                (
                    11,
                    1,
                    DecodeError::InvalidValue {
                        field: "window",
                        value: 1,
                    },
                ),
            ],
        );
        let mut flipped = good.clone();
        flipped[17] ^= 0x10;
        assert!(matches!(
            Record::decode(&flipped),
            Err(DecodeError::CrcMismatch { .. })
        ));
        assert!(matches!(
            Record::decode(&good[..good.len() - 1]),
            Err(DecodeError::Length { .. })
        ));
        assert!(matches!(
            Record::decode(&good[..5]),
            Err(DecodeError::Truncated { .. })
        ));
        let too_long = [0u8; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            Record::decode(&too_long),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn lengths_must_be_the_kinds() {
        let mut out = [0u8; MAX_RECORD_BYTES];
        let size = encode_record(RecordKind::Ack, 1, 2, b"x", &mut out).expect("fits");
        assert_eq!(
            Record::decode(&out[..size]).err(),
            Some(DecodeError::InvalidValue {
                field: "length",
                value: 1
            })
        );
        let size = encode_record(RecordKind::Data, 1, 0, b"", &mut out).expect("fits");
        assert!(Record::decode(&out[..size]).is_err());
        let status = MachineStatus::new_zeroed();
        let size =
            encode_record(RecordKind::Status, 0, 0, status.as_bytes(), &mut out).expect("fits");
        // All-zero enums are invalid: the record decodes, the body does not.
        let record = Record::decode(&out[..size]).expect("the record is valid");
        assert!(MachineStatus::decode(record.payload).is_err());
        assert_eq!(
            encode_record(RecordKind::Data, 0, 0, &[0; MAX_DATA_PAYLOAD + 1], &mut out),
            None
        );
    }

    #[test]
    fn phases_map_both_ways() {
        for phase in MachinePhase::ALL {
            assert_eq!(MachinePhase::from(MigrationStatus::from(*phase)), *phase);
        }
    }
}
