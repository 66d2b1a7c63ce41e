//! The migration protocol between the source and target engines (wire
//! version 1): the payload of every frame but `Pages`, each a
//! `wire_struct!` with its decode (the struct's `check`, rules in its
//! `validate`) and its frame type beside it.
//!
//! ```text
//!  source                                           target
//!    | Hello {version, domain shape, options}  ---->  | reserve: create domain,
//!    |                                                |   bind every block at its RA
//!    | <---- HelloAck {accepted | refused + reason}   |
//!    | Pages {records}* , RoundEnd {round, pages} --> |  round 0: every page
//!    | <---- RoundAck {round}                         |  round n: pages dirtied since
//!    |        ... one Pages*/RoundEnd per round ...   |
//!    | [switchover: wait for the last RoundAck, so   |
//!    |  no backlog is in flight when the vCPUs stop]  |
//!    | [suspend vCPUs]                                |
//!    | Suspended, Pages*, VcpuState x vcpus,          |
//!    | Commit {totals} --------------------------->   |  verify counts and CRCs,
//!    |                                                |  load vCPU state
//!    | <---- CommitAck                                |  resume the domain
//!    | [destroy source domain]                        |
//!    | <---- Resumed                                  |
//!
//!  Cancel {reason} either way before Commit: source resumes, target
//!  releases its reservation. Failure {reason} either way on an error.
//!  No CommitAck after Commit: the source domain goes to the error state
//!  (it may already run on the target) and never runs twice.
//! ```
//!
//! The source proposes its newest wire version in `Hello`; the target
//! answers with the version both speak, or refuses with `VersionMismatch`
//! when the source's is older than the oldest it reads.

use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::MemoryBlock;
use ldmig_hv::resources::{MAX_MEMORY_BLOCKS, NAME_CAPACITY};
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use super::codec::{
    wire_enum, wire_struct, BufferTooSmall, DecodeError, EnumField, FlagsField, Reserved, Text,
    WireStruct,
};
use super::frame::{seal_frame, FrameType, FRAME_HEADER_BYTES};

/// Bytes of a domain name on the wire (NUL padded): a
/// [`ldmig_hv::resources::Name`] always fits.
pub const DOMAIN_NAME_BYTES: usize = NAME_CAPACITY;
/// Bytes of the human-readable text in Cancel and Failure.
pub const REASON_TEXT_BYTES: usize = 96;
/// Bytes of the largest `Hello` payload: every memory block a domain may
/// have.
pub const MAX_HELLO_BYTES: usize = Hello::BYTES + MAX_MEMORY_BLOCKS * BlockEntry::BYTES;

/// The payload of a frame: each message knows the frame type it goes in.
pub trait FrameBody: WireStruct {
    /// The frame type that carries it.
    fn frame_type(&self) -> FrameType;
}

/// Writes a frame carrying `body` into `buffer`; returns the frame's size.
pub fn write_frame<T: FrameBody>(
    buffer: &mut [u8],
    sequence: u64,
    body: &T,
) -> Result<usize, BufferTooSmall> {
    let available = buffer.len();
    let room = buffer.get_mut(FRAME_HEADER_BYTES..).ok_or(BufferTooSmall {
        needed: FRAME_HEADER_BYTES + T::BYTES,
        available,
    })?;
    let length = body.encode_into(room).map_err(|short| BufferTooSmall {
        needed: FRAME_HEADER_BYTES + short.needed,
        available,
    })?;
    Ok(seal_frame(buffer, body.frame_type(), sequence, length))
}

/// Writes a frame of `frame_type` with no payload (`Resumed`, `Ping`).
pub fn write_empty_frame(
    buffer: &mut [u8],
    frame_type: FrameType,
    sequence: u64,
) -> Result<usize, BufferTooSmall> {
    if buffer.len() < FRAME_HEADER_BYTES {
        return Err(BufferTooSmall {
            needed: FRAME_HEADER_BYTES,
            available: buffer.len(),
        });
    }
    Ok(seal_frame(buffer, frame_type, sequence, 0))
}

macro_rules! frame_body {
    ($($body:ty => $frame_type:ident,)+) => {
        $(impl FrameBody for $body {
            fn frame_type(&self) -> FrameType {
                FrameType::$frame_type
            }
        })+
    };
}

frame_body! {
    HelloAck => HelloAck,
    RoundEnd => RoundEnd,
    RoundAck => RoundAck,
    Suspended => Suspended,
    VcpuState => VcpuState,
    Commit => Commit,
    CommitAck => CommitAck,
}

bitflags::bitflags! {
    /// What the source's domain is, in `Hello`. Other bits are refused.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct HelloFlags: u16 {
        /// The domain is active: pre-copy its memory while it runs.
        const ACTIVE = 1;
        /// The domain is bound or active: it has memory to copy at all.
        const BOUND = 2;
    }
}

wire_struct! {
    /// `Hello` fixed part; `block_count` [`BlockEntry`]s follow (see
    /// [`Hello::write_frame`] and [`Hello::decode_with_blocks`]).
    pub struct Hello {
        /// Wire version the source proposes (its newest).
        pub wire_version: U16,
        /// What the domain is.
        pub flags: FlagsField<HelloFlags>,
        /// vCPUs of the domain (not 0).
        pub vcpus: U32,
        /// Memory blocks that follow (1 to [`MAX_MEMORY_BLOCKS`]).
        pub block_count: U32,
        /// Crypto units the domain had (to re-add on the target).
        pub crypto_units: U32,
        /// Total pages of the domain.
        pub total_pages: U64,
        /// Largest frame the source will send; the target refuses if its
        /// receive buffer is smaller.
        pub frame_bytes: U32,
        /// Zero.
        pub reserved: Reserved<4>,
        /// Name the domain takes on the target.
        pub name: Text<DOMAIN_NAME_BYTES>,
    }
    validate(hello) {
        let blocks = hello.block_count.get();
        if hello.vcpus.get() == 0 {
            Err(DecodeError::InvalidValue { field: "vcpus", value: 0 })
        } else if blocks == 0 || blocks as usize > MAX_MEMORY_BLOCKS {
            Err(DecodeError::InvalidValue { field: "block_count", value: u64::from(blocks) })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// One memory block in `Hello`.
    pub struct BlockEntry {
        /// Real address.
        pub ra: U64,
        /// Size in bytes.
        pub size: U64,
    }
}

impl Hello {
    /// Writes the `Hello` frame: this fixed part, with `block_count` set to
    /// the number of `blocks`, then the blocks.
    pub fn write_frame(
        &self,
        buffer: &mut [u8],
        sequence: u64,
        blocks: &heapless::Vec<MemoryBlock, MAX_MEMORY_BLOCKS>,
    ) -> Result<usize, BufferTooSmall> {
        let length = Hello::BYTES + blocks.len() * BlockEntry::BYTES;
        let available = buffer.len();
        let short = BufferTooSmall {
            needed: FRAME_HEADER_BYTES + length,
            available,
        };
        let payload = buffer
            .get_mut(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length)
            .ok_or(short)?;
        let hello = Hello {
            // At most MAX_MEMORY_BLOCKS (checked above).
            block_count: U32::new(u32::try_from(blocks.len()).unwrap_or(u32::MAX)),
            ..*self
        };
        let (fixed, rest) = payload.split_at_mut(Hello::BYTES);
        fixed.copy_from_slice(hello.as_bytes());
        for (slot, block) in rest.chunks_exact_mut(BlockEntry::BYTES).zip(blocks) {
            let entry = BlockEntry {
                ra: U64::new(block.ra),
                size: U64::new(block.size),
            };
            slot.copy_from_slice(entry.as_bytes());
        }
        Ok(seal_frame(buffer, FrameType::Hello, sequence, length))
    }

    /// A `Hello` payload: the fixed part, checked, and exactly the
    /// `block_count` blocks it announces.
    pub fn decode_with_blocks(payload: &[u8]) -> Result<(Hello, &[BlockEntry]), DecodeError> {
        if payload.len() > MAX_HELLO_BYTES {
            return Err(DecodeError::TooLong {
                what: "Hello",
                length: payload.len(),
                max: MAX_HELLO_BYTES,
            });
        }
        let (hello, rest) = Hello::decode_prefix(payload)?;
        let expected = hello.block_count.get() as usize * BlockEntry::BYTES;
        let length_error = DecodeError::Length {
            what: "Hello block list",
            expected,
            actual: rest.len(),
        };
        if rest.len() != expected {
            return Err(length_error);
        }
        // Cannot fail: the length is a whole number of entries, of alignment 1.
        let Ok(blocks) = <[BlockEntry]>::ref_from_bytes(rest) else {
            return Err(length_error);
        };
        for block in blocks {
            block.check()?;
        }
        Ok((hello, blocks))
    }
}

wire_enum! {
    /// What the target answered to `Hello`.
    pub enum HelloResult: u16 {
        /// The target reserved the domain.
        Accepted = 1,
        /// The target refused; see the reason.
        Refused = 2,
    }
}

wire_struct! {
    /// Target's answer to `Hello`.
    pub struct HelloAck {
        /// Accepted or refused.
        pub result: EnumField<HelloResult>,
        /// Wire version the target accepted.
        pub wire_version: U16,
        /// [`StopReason`] of a refusal; 0 when accepted.
        pub reason: U16,
        /// Zero.
        pub reserved: Reserved<2>,
        /// Hypervisor status behind a refusal, if any.
        pub hv_status: U64,
        /// RA of the block that failed to bind, if any.
        pub ra: U64,
        /// Size of that block.
        pub size: U64,
    }
    validate(ack) {
        let reason = ack.reason.get();
        let fits = match ack.result.get() {
            Some(HelloResult::Refused) => StopReason::from_raw(reason).is_some(),
            _ => reason == 0,
        };
        if fits {
            Ok(())
        } else {
            Err(DecodeError::InvalidValue { field: "reason", value: u64::from(reason) })
        }
    }
}

impl HelloAck {
    /// The target took the domain, speaking `wire_version`.
    pub fn accepted(wire_version: u16) -> Self {
        HelloAck {
            result: HelloResult::Accepted.into(),
            wire_version: U16::new(wire_version),
            reason: U16::new(0),
            reserved: Reserved::ZERO,
            hv_status: U64::new(0),
            ra: U64::new(0),
            size: U64::new(0),
        }
    }

    /// The target refused for `reason`, with the hypervisor status and the
    /// block (RA, size) behind it, when there are.
    pub fn refused(
        wire_version: u16,
        reason: StopReason,
        hv_status: u64,
        ra: u64,
        size: u64,
    ) -> Self {
        HelloAck {
            result: HelloResult::Refused.into(),
            reason: U16::new(reason.raw()),
            hv_status: U64::new(hv_status),
            ra: U64::new(ra),
            size: U64::new(size),
            ..HelloAck::accepted(wire_version)
        }
    }

    /// The reason of a refusal.
    pub fn stop_reason(&self) -> Option<StopReason> {
        StopReason::from_raw(self.reason.get())
    }
}

wire_struct! {
    /// End of one pre-copy round.
    pub struct RoundEnd {
        /// Round number, from 0.
        pub round: U32,
        /// Zero.
        pub reserved: Reserved<4>,
        /// Page records sent in the round.
        pub pages: U64,
        /// Pages dirtied meanwhile (what the next round will send).
        pub dirty_pages: U64,
    }
}

wire_struct! {
    /// Target's acknowledgement that a round's frames all arrived.
    pub struct RoundAck {
        /// The round acknowledged.
        pub round: U32,
        /// Zero.
        pub reserved: Reserved<4>,
    }
}

wire_struct! {
    /// The source suspended the domain; the final pages follow.
    pub struct Suspended {
        /// Final dirty pages that follow.
        pub dirty_pages: U64,
    }
}

wire_struct! {
    /// The source sent everything; totals for the target to cross-check.
    pub struct Commit {
        /// Page records sent in the whole migration.
        pub total_records: U64,
        /// Page records sent after suspension.
        pub final_records: U64,
        /// vCPU states sent.
        pub vcpus: U32,
        /// Crypto units to add back on the target.
        pub crypto_units: U32,
    }
}

wire_struct! {
    /// Target's acknowledgement of `Commit`: it will resume the domain.
    pub struct CommitAck {
        /// Page records the target applied.
        pub records_applied: U64,
    }
}

/// A vCPU's state travels as the hypervisor ABI lays it out
/// (`ldmig_hv::abi::migration::VcpuState`, big-endian): every bit pattern
/// is a state the hypervisor may hand out, and it has no reserved field,
/// so its check has nothing to refuse beyond its length.
impl WireStruct for VcpuState {
    const NAME: &'static str = "VcpuState";

    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

wire_enum! {
    /// Why a migration stopped. 0 is reserved as invalid.
    pub enum StopReason: u16 {
        /// The administrator cancelled.
        Cancelled = 1,
        /// Pre-copy did not converge within the limits.
        DidNotConverge = 2,
        /// A page or frame failed its checks.
        CorruptData = 3,
        /// A message came out of order or malformed.
        ProtocolViolation = 4,
        /// A hypervisor call failed.
        HypervisorError = 5,
        /// The target could not reserve the domain.
        ReservationFailed = 6,
        /// The peer stopped answering.
        Timeout = 7,
        /// The target's final verification failed.
        VerificationFailed = 8,
        /// The peer speaks no common wire version.
        VersionMismatch = 9,
    }
}

impl StopReason {
    /// A short description.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Cancelled => "cancelled by the administrator",
            StopReason::DidNotConverge => "pre-copy did not converge",
            StopReason::CorruptData => "data failed its integrity check",
            StopReason::ProtocolViolation => "protocol violation",
            StopReason::HypervisorError => "hypervisor call failed",
            StopReason::ReservationFailed => "the target could not reserve the domain",
            StopReason::Timeout => "the peer stopped answering",
            StopReason::VerificationFailed => "the target's final verification failed",
            StopReason::VersionMismatch => "no common protocol version",
        }
    }
}

wire_struct! {
    /// Payload of `Cancel` (reason `Cancelled`) and `Failure` (any other).
    pub struct Stop {
        /// Why.
        pub reason: EnumField<StopReason>,
        /// Zero.
        pub reserved: Reserved<2>,
        /// Reason-specific detail (e.g. a hypervisor status).
        pub detail: U32,
        /// Human-readable text.
        pub text: Text<REASON_TEXT_BYTES>,
    }
}

impl Stop {
    /// A stop message with `text` cut to fit.
    pub fn new(reason: StopReason, detail: u32, text: &str) -> Self {
        Stop {
            reason: reason.into(),
            reserved: Reserved::ZERO,
            detail: U32::new(detail),
            text: Text::new(text),
        }
    }

    /// A stop message whose text is what `text` displays, cut to fit.
    pub fn describing(reason: StopReason, detail: u32, text: &dyn core::fmt::Display) -> Self {
        Stop {
            text: Text::display(text),
            ..Stop::new(reason, detail, "")
        }
    }

    /// The reason (always one after a decode).
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.reason.get()
    }
}

impl FrameBody for Stop {
    fn frame_type(&self) -> FrameType {
        if self.reason == StopReason::Cancelled {
            FrameType::Cancel
        } else {
            FrameType::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::Frame;
    use ldmig_sim::rng::{test_seed, SplitMix64};
    use std::vec::Vec;

    #[test]
    fn message_sizes() {
        assert_eq!(Hello::BYTES, 96);
        assert_eq!(BlockEntry::BYTES, 16);
        assert_eq!(HelloAck::BYTES, 32);
        assert_eq!(RoundEnd::BYTES, 24);
        assert_eq!(Suspended::BYTES, 8);
        assert_eq!(RoundAck::BYTES, 8);
        assert_eq!(Commit::BYTES, 24);
        assert_eq!(CommitAck::BYTES, 8);
        assert_eq!(Stop::BYTES, 104);
        assert_eq!(DOMAIN_NAME_BYTES, 64);
        assert_eq!(MAX_HELLO_BYTES, 96 + 64 * 16);
    }

    #[test]
    fn reasons_reserve_zero_and_round_trip() {
        assert_eq!(StopReason::from_raw(0), None);
        assert_eq!(StopReason::from_raw(10), None);
        for raw in 1..=9 {
            let reason = StopReason::from_raw(raw).expect("defined");
            assert_eq!(reason.raw(), raw);
            assert!(!reason.describe().is_empty());
        }
        assert_eq!(HelloResult::from_raw(0), None);
        assert_eq!(HelloResult::ALL.len(), 2);
    }

    fn hello() -> Hello {
        Hello {
            wire_version: U16::new(1),
            flags: (HelloFlags::ACTIVE | HelloFlags::BOUND).into(),
            vcpus: U32::new(4),
            block_count: U32::new(0),
            crypto_units: U32::new(1),
            total_pages: U64::new(3),
            frame_bytes: U32::new(1 << 18),
            reserved: Reserved::ZERO,
            name: Text::new("ldg1"),
        }
    }

    #[test]
    fn hello_carries_its_blocks_and_bounds_them() {
        let mut blocks = heapless::Vec::<MemoryBlock, MAX_MEMORY_BLOCKS>::new();
        blocks
            .push(MemoryBlock {
                ra: 0x8000_0000,
                size: 16384,
            })
            .expect("room");
        blocks
            .push(MemoryBlock {
                ra: 0x1_0000_0000,
                size: 8192,
            })
            .expect("room");
        let mut buffer = [0u8; 512];
        let size = hello().write_frame(&mut buffer, 0, &blocks).expect("room");
        assert_eq!(size, FRAME_HEADER_BYTES + 96 + 32);
        let (frame, _) = Frame::decode(&buffer[..size]).expect("frame");
        assert_eq!(frame.frame_type, FrameType::Hello);
        let (decoded, entries) = Hello::decode_with_blocks(frame.payload).expect("hello");
        assert_eq!(decoded.block_count.get(), 2);
        assert_eq!(decoded.name, "ldg1");
        assert_eq!(
            decoded.flags.get(),
            Some(HelloFlags::ACTIVE | HelloFlags::BOUND)
        );
        assert_eq!(
            (entries[1].ra.get(), entries[1].size.get()),
            (0x1_0000_0000, 8192)
        );
        let payload = frame.payload.to_vec();

        // One block short, a count of 0 or past the bound, reserved bits.
        assert!(matches!(
            Hello::decode_with_blocks(&payload[..payload.len() - 16]),
            Err(DecodeError::Length {
                what: "Hello block list",
                expected: 32,
                actual: 16
            })
        ));
        let count = |value| DecodeError::InvalidValue {
            field: "block_count",
            value,
        };
        crate::wire::codec::assert_refusals(
            &payload,
            |bytes| Hello::decode_with_blocks(bytes).map(|(hello, _)| hello),
            &[
                (11, 0, count(0)),
                (11, 65, count(65)),
                (
                    3,
                    4,
                    DecodeError::UnknownFlags {
                        field: "flags",
                        bits: 4,
                    },
                ),
                (28, 1, DecodeError::ReservedNotZero { field: "reserved" }),
                (
                    7,
                    0,
                    DecodeError::InvalidValue {
                        field: "vcpus",
                        value: 0,
                    },
                ),
            ],
        );
        let long = [0u8; MAX_HELLO_BYTES + 1];
        assert!(matches!(
            Hello::decode_with_blocks(&long),
            Err(DecodeError::TooLong { .. })
        ));
        let mut small = [0u8; 100];
        assert!(hello().write_frame(&mut small, 0, &blocks).is_err());
    }

    #[test]
    fn acks_and_stops_check_their_fields() {
        let ack = HelloAck::refused(1, StopReason::ReservationFailed, 2, 0x8000, 8192);
        assert_eq!(HelloAck::decode(ack.as_bytes()), Ok(ack));
        assert_eq!(ack.stop_reason(), Some(StopReason::ReservationFailed));
        let mut bad = ack;
        bad.reason = U16::new(0);
        assert_eq!(
            HelloAck::decode(bad.as_bytes()),
            Err(DecodeError::InvalidValue {
                field: "reason",
                value: 0
            })
        );
        let mut bad = HelloAck::accepted(1);
        bad.reason = U16::new(3);
        assert!(HelloAck::decode(bad.as_bytes()).is_err());

        let stop = Stop::new(StopReason::Timeout, 7, "é".repeat(60).as_str());
        let text = stop.text.as_str();
        assert!(text.len() <= REASON_TEXT_BYTES && text.chars().all(|c| c == 'é'));
        assert_eq!(Stop::decode(stop.as_bytes()), Ok(stop));
        assert_eq!(stop.frame_type(), FrameType::Failure);
        let cancel = Stop::describing(StopReason::Cancelled, 0, &"by request");
        assert_eq!(cancel.frame_type(), FrameType::Cancel);
        assert_eq!(cancel.text, "by request");
        assert_eq!(
            Suspended::decode(&[0; 7]),
            Err(DecodeError::Length {
                what: "Suspended",
                expected: 8,
                actual: 7
            })
        );
        let mut bad = stop;
        bad.reason = zerocopy::FromZeros::new_zeroed();
        assert_eq!(
            Stop::decode(bad.as_bytes()),
            Err(DecodeError::InvalidEnum {
                field: "reason",
                value: 0
            })
        );
        let mut bytes = RoundAck {
            round: U32::new(1),
            reserved: Reserved::ZERO,
        }
        .as_bytes()
        .to_vec();
        bytes[7] = 1;
        assert_eq!(
            RoundAck::decode(&bytes),
            Err(DecodeError::ReservedNotZero { field: "reserved" })
        );
    }

    #[test]
    fn every_body_goes_in_its_frame_type() {
        let mut buffer = [0u8; 256];
        let commit = Commit {
            total_records: U64::new(10),
            final_records: U64::new(2),
            vcpus: U32::new(4),
            crypto_units: U32::new(0),
        };
        let size = write_frame(&mut buffer, 5, &commit).expect("room");
        let (frame, _) = Frame::decode(&buffer[..size]).expect("frame");
        assert_eq!((frame.frame_type, frame.sequence), (FrameType::Commit, 5));
        assert_eq!(Commit::decode(frame.payload), Ok(commit));
        let size = write_empty_frame(&mut buffer, FrameType::Resumed, 6).expect("room");
        assert_eq!(size, FRAME_HEADER_BYTES);
        assert!(write_frame(&mut buffer[..30], 0, &commit).is_err());
        assert!(write_empty_frame(&mut buffer[..3], FrameType::Ping, 0).is_err());
    }

    /// What the decoder of payload `kind` makes of `bytes`, encoded again.
    fn decode_again(kind: usize, bytes: &[u8]) -> Option<Vec<u8>> {
        fn again<T: WireStruct>(bytes: &[u8]) -> Option<Vec<u8>> {
            T::decode(bytes)
                .ok()
                .map(|message| message.as_bytes().to_vec())
        }
        match kind {
            0 => Hello::decode_with_blocks(bytes)
                .ok()
                .map(|(hello, blocks)| {
                    let mut encoded = hello.as_bytes().to_vec();
                    encoded.extend_from_slice(blocks.as_bytes());
                    encoded
                }),
            1 => again::<HelloAck>(bytes),
            2 => again::<RoundEnd>(bytes),
            3 => again::<RoundAck>(bytes),
            4 => again::<Suspended>(bytes),
            5 => again::<Commit>(bytes),
            6 => again::<CommitAck>(bytes),
            _ => again::<Stop>(bytes),
        }
    }

    #[test]
    fn seeded_fuzz_of_every_payload_never_panics_and_accepts_only_valid_ones() {
        let seed = test_seed(0x3e55_a9e5);
        println!("seed {seed}");
        let mut rng = SplitMix64::new(seed);
        let mut hello_payload = hello().as_bytes().to_vec();
        hello_payload[11] = 2;
        for (ra, size) in [(0x8000_0000u64, 16384u64), (0x1_0000_0000, 8192)] {
            hello_payload.extend_from_slice(
                BlockEntry {
                    ra: U64::new(ra),
                    size: U64::new(size),
                }
                .as_bytes(),
            );
        }
        let samples: Vec<Vec<u8>> = vec![
            hello_payload,
            HelloAck::refused(1, StopReason::ReservationFailed, 2, 0x8000, 8192)
                .as_bytes()
                .to_vec(),
            RoundEnd {
                round: U32::new(3),
                reserved: Reserved::ZERO,
                pages: U64::new(100),
                dirty_pages: U64::new(7),
            }
            .as_bytes()
            .to_vec(),
            RoundAck {
                round: U32::new(3),
                reserved: Reserved::ZERO,
            }
            .as_bytes()
            .to_vec(),
            Suspended {
                dirty_pages: U64::new(9),
            }
            .as_bytes()
            .to_vec(),
            Commit {
                total_records: U64::new(10),
                final_records: U64::new(2),
                vcpus: U32::new(4),
                crypto_units: U32::new(1),
            }
            .as_bytes()
            .to_vec(),
            CommitAck {
                records_applied: U64::new(10),
            }
            .as_bytes()
            .to_vec(),
            Stop::new(StopReason::Timeout, 7, "the peer stopped answering")
                .as_bytes()
                .to_vec(),
        ];
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..20_000usize {
            let kind = round % samples.len();
            let sample = &samples[kind];
            assert_eq!(
                decode_again(kind, sample).as_ref(),
                Some(sample),
                "kind {kind}"
            );
            let mut bytes = sample.clone();
            match rng.below(4) {
                // A few flipped bits.
                0 | 1 => {
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(bytes.len() as u64) as usize;
                        bytes[at] ^= 1 << rng.below(8);
                    }
                }
                // Cut or extended.
                2 => bytes.resize(rng.below(sample.len() as u64 + 24) as usize, 0),
                // Noise of about the right size.
                _ => {
                    bytes.resize(sample.len() + rng.below(3) as usize, 0);
                    rng.fill(&mut bytes);
                }
            }
            match decode_again(kind, &bytes) {
                // Whatever is accepted is exactly what it re-encodes to.
                Some(again) => {
                    assert_eq!(again, bytes, "seed {seed} round {round}");
                    accepted += 1;
                }
                None => refused += 1,
            }
        }
        assert!(
            accepted > 0 && refused > 0,
            "seed {seed}: {accepted} accepted, {refused} refused"
        );
    }
}
