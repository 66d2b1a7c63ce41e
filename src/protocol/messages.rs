//! Payloads of the protocol's frames: fixed-layout, big-endian, checked.

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Most memory blocks a migrating domain may have.
pub const MAX_MEMORY_BLOCKS: usize = 64;
/// Bytes of a domain name on the wire (NUL padded).
pub const DOMAIN_NAME_BYTES: usize = 64;
/// Bytes of the human-readable text in Cancel and Failure.
pub const REASON_TEXT_BYTES: usize = 96;

/// A payload that does not have the size or values its frame type needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// Wrong payload length.
    Length {
        /// Expected bytes (or minimum).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A field outside its allowed values.
    Field(&'static str),
}

impl core::fmt::Display for MessageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageError::Length { expected, actual } => {
                write!(
                    f,
                    "payload of {actual} bytes where {expected} were expected"
                )
            }
            MessageError::Field(name) => write!(f, "field {name} has an invalid value"),
        }
    }
}

/// Reads a fixed-size message from exactly `payload`.
pub fn read_exact<T: FromBytes + KnownLayout + Immutable>(
    payload: &[u8],
) -> Result<T, MessageError> {
    T::read_from_bytes(payload).map_err(|_| MessageError::Length {
        expected: core::mem::size_of::<T>(),
        actual: payload.len(),
    })
}

/// `Hello` flag: the domain is active (pre-copy its memory while it runs).
pub const HELLO_ACTIVE: u16 = 1;
/// `Hello` flag: the domain is bound or active (has memory to copy at all).
pub const HELLO_BOUND: u16 = 2;

/// `Hello` fixed part; `block_count` [`BlockEntry`]s follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Hello {
    /// Wire version the source proposes (its newest).
    pub wire_version: U16,
    /// `HELLO_*` flags.
    pub flags: U16,
    /// vCPUs of the domain.
    pub vcpus: U32,
    /// Memory blocks that follow.
    pub block_count: U32,
    /// Crypto units the domain had (to re-add on the target).
    pub crypto_units: U32,
    /// Total pages of the domain.
    pub total_pages: U64,
    /// Largest frame the source will send; the target refuses if its
    /// receive buffer is smaller.
    pub frame_bytes: U32,
    /// Zero.
    pub reserved: U32,
    /// Name the domain takes on the target, NUL padded.
    pub name: [u8; DOMAIN_NAME_BYTES],
}

/// One memory block in `Hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct BlockEntry {
    /// Real address.
    pub ra: U64,
    /// Size in bytes.
    pub size: U64,
}

/// `HelloAck` result: the target reserved the domain.
pub const ACK_ACCEPTED: u16 = 1;
/// `HelloAck` result: the target refused; see the reason.
pub const ACK_REFUSED: u16 = 2;

/// Target's answer to `Hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct HelloAck {
    /// `ACK_ACCEPTED` or `ACK_REFUSED`.
    pub result: U16,
    /// Wire version the target accepted.
    pub wire_version: U16,
    /// [`StopReason`] when refused.
    pub reason: U16,
    /// Zero.
    pub reserved: U16,
    /// Hypervisor status behind a refusal, if any.
    pub hv_status: U64,
    /// RA of the block that failed to bind, if any.
    pub ra: U64,
    /// Size of that block.
    pub size: U64,
}

/// End of one pre-copy round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RoundEnd {
    /// Round number, from 0.
    pub round: U32,
    /// Zero.
    pub reserved: U32,
    /// Page records sent in the round.
    pub pages: U64,
    /// Pages dirtied meanwhile (what the next round will send).
    pub dirty_pages: U64,
}

/// Target's acknowledgement that a round's frames all arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RoundAck {
    /// The round acknowledged.
    pub round: U32,
    /// Zero.
    pub reserved: U32,
}

/// The source suspended the domain; the final pages follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Suspended {
    /// Final dirty pages that follow.
    pub dirty_pages: U64,
}

/// The source sent everything; totals for the target to cross-check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
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

/// Target's acknowledgement of `Commit`: it will resume the domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CommitAck {
    /// Page records the target applied.
    pub records_applied: U64,
}

/// Why a migration stopped. 0 is reserved as invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum StopReason {
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

impl StopReason {
    /// Parses a reason number; `None` for 0 and unknown values.
    pub fn from_raw(raw: u16) -> Option<Self> {
        Some(match raw {
            1 => StopReason::Cancelled,
            2 => StopReason::DidNotConverge,
            3 => StopReason::CorruptData,
            4 => StopReason::ProtocolViolation,
            5 => StopReason::HypervisorError,
            6 => StopReason::ReservationFailed,
            7 => StopReason::Timeout,
            8 => StopReason::VerificationFailed,
            9 => StopReason::VersionMismatch,
            _ => return None,
        })
    }

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

/// Payload of `Cancel` and `Failure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Stop {
    /// [`StopReason`].
    pub reason: U16,
    /// Zero.
    pub reserved: U16,
    /// Reason-specific detail (e.g. a hypervisor status).
    pub detail: U32,
    /// Human-readable text, NUL padded.
    pub text: [u8; REASON_TEXT_BYTES],
}

impl Stop {
    /// A stop message with `text` cut to fit.
    pub fn new(reason: StopReason, detail: u32, text: &str) -> Self {
        let mut message = Stop {
            reason: U16::new(reason as u16),
            reserved: U16::new(0),
            detail: U32::new(detail),
            text: [0; REASON_TEXT_BYTES],
        };
        copy_text(&mut message.text, text);
        message
    }

    /// The reason, checked.
    pub fn stop_reason(&self) -> Result<StopReason, MessageError> {
        StopReason::from_raw(self.reason.get()).ok_or(MessageError::Field("reason"))
    }
}

/// Copies `text` into a NUL-padded field, cut at a character boundary.
pub fn copy_text(field: &mut [u8], text: &str) {
    let mut end = text.len().min(field.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    field.fill(0);
    field[..end].copy_from_slice(&text.as_bytes()[..end]);
}

/// The text of a NUL-padded field; invalid UTF-8 yields the valid prefix.
pub fn field_text(field: &[u8]) -> &str {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    match core::str::from_utf8(&field[..end]) {
        Ok(text) => text,
        Err(error) => core::str::from_utf8(&field[..error.valid_up_to()]).unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_sizes() {
        assert_eq!(core::mem::size_of::<Hello>(), 96);
        assert_eq!(core::mem::size_of::<BlockEntry>(), 16);
        assert_eq!(core::mem::size_of::<HelloAck>(), 32);
        assert_eq!(core::mem::size_of::<RoundEnd>(), 24);
        assert_eq!(core::mem::size_of::<Suspended>(), 8);
        assert_eq!(core::mem::size_of::<RoundAck>(), 8);
        assert_eq!(core::mem::size_of::<Commit>(), 24);
        assert_eq!(core::mem::size_of::<CommitAck>(), 8);
        assert_eq!(core::mem::size_of::<Stop>(), 104);
    }

    #[test]
    fn reasons_reserve_zero_and_round_trip() {
        assert_eq!(StopReason::from_raw(0), None);
        assert_eq!(StopReason::from_raw(10), None);
        for raw in 1..=9 {
            let reason = StopReason::from_raw(raw).expect("defined");
            assert_eq!(reason as u16, raw);
            assert!(!reason.describe().is_empty());
        }
    }

    #[test]
    fn text_fields_are_bounded_and_checked() {
        let stop = Stop::new(StopReason::Timeout, 7, "é".repeat(60).as_str());
        let text = field_text(&stop.text);
        assert!(text.len() <= REASON_TEXT_BYTES && text.chars().all(|c| c == 'é'));
        assert_eq!(field_text(&[b'o', b'k', 0, b'x']), "ok");
        assert_eq!(field_text(&[b'o', 0xff, b'k']), "o");
        assert_eq!(
            read_exact::<Suspended>(&[0; 7]),
            Err(MessageError::Length {
                expected: 8,
                actual: 7
            })
        );
        let mut bad = stop;
        bad.reason = U16::new(0);
        assert_eq!(bad.stop_reason(), Err(MessageError::Field("reason")));
    }
}
