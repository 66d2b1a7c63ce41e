//! Typed errors of the bulk path and its endpoints, named by what failed,
//! and how they reach the engine through [`crate::transport::TransportError`].

use core::fmt;

use ldmig_hv::ldc::{LinkError, ResetCause};
use ldmig_hv::HvError;

use super::layout::LayoutError;
use super::ring::GeometryError;
use crate::transport::TransportError;
use crate::wire::codec::DecodeError;
use crate::wire::descriptor::DescriptorState;

/// What a local-memory access was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryUse {
    /// Writing the map table.
    MapTable,
    /// Reading or writing a descriptor.
    Descriptor,
    /// Reading or writing a frame slot or copy buffer.
    Frame,
}

impl fmt::Display for MemoryUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryUse::MapTable => "map table",
            MemoryUse::Descriptor => "descriptor",
            MemoryUse::Frame => "frame buffer",
        })
    }
}

/// Why a descriptor the peer wrote cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorFault {
    /// It does not decode (a state byte that names no state, reserved
    /// bytes set).
    Malformed(DecodeError),
    /// A state the ring's reader or writer never leaves there.
    UnexpectedState(DescriptorState),
    /// READY, but for another frame than the one due.
    Sequence {
        /// The frame due.
        expected: u64,
        /// The frame it names.
        found: u64,
    },
    /// Its frame is longer than its slot.
    Length(u32),
    /// Its cookie or cookie size is not what the registration promised.
    Cookie(u64),
}

impl fmt::Display for DescriptorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorFault::Malformed(error) => write!(f, "{error}"),
            DescriptorFault::UnexpectedState(state) => write!(f, "unexpected state {state}"),
            DescriptorFault::Sequence { expected, found } => {
                write!(f, "frame {found} where frame {expected} was due")
            }
            DescriptorFault::Length(length) => write!(f, "{length}-byte frame overruns its slot"),
            DescriptorFault::Cookie(cookie) => write!(f, "unusable slot cookie {cookie:#x}"),
        }
    }
}

/// A failure of the bulk path or of its control channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkError {
    /// The ring shape is refused.
    Geometry(GeometryError),
    /// The memory layout does not fit.
    Layout(LayoutError),
    /// The LDC link failed in a way it does not recover from by itself.
    Link(LinkError),
    /// `LDC_SET_MAP_TABLE` or `LDC_GET_MAP_TABLE` failed.
    MapTable(HvError),
    /// A local-memory access failed.
    Memory {
        /// What it was for.
        what: MemoryUse,
        /// The hypervisor's answer.
        error: HvError,
    },
    /// `LDC_COPY` failed.
    Copy {
        /// `LDC_COPY_IN` (0) or `LDC_COPY_OUT` (1).
        direction: u64,
        /// The cookie of the failing call.
        cookie: u64,
        /// The hypervisor's answer.
        error: HvError,
    },
    /// `LDC_COPY` copied nothing (or more than asked): no progress possible.
    CopyStalled {
        /// The cookie of the failing call.
        cookie: u64,
    },
    /// An `LDC_COPY` argument is not 8-byte aligned.
    CopyAlignment {
        /// The cookie asked for.
        cookie: u64,
        /// The local RA asked for.
        local_ra: u64,
        /// The length asked for.
        length: u64,
    },
    /// A frame is longer than a slot or the caller's buffer.
    FrameTooLarge {
        /// Frame bytes.
        size: usize,
        /// Room available.
        capacity: usize,
    },
    /// The peer wrote a descriptor that cannot be used.
    BadDescriptor {
        /// Descriptor index.
        index: u32,
        /// What is wrong.
        fault: DescriptorFault,
    },
    /// The engine registered rings this shim cannot use.
    BadRegistration(&'static str),
    /// A control message could not be encoded or was refused.
    Message(DecodeError),
    /// The peer speaks no control-protocol version of ours.
    NoCommonVersion {
        /// Oldest version offered.
        oldest: u8,
        /// Newest version offered.
        newest: u8,
    },
    /// Too many control messages wait to be sent.
    Backlog,
    /// The endpoint is in use elsewhere (a shared endpoint borrowed twice).
    Busy,
}

impl BulkError {
    /// A number for [`TransportError::Link`]: `0xb0_00_00_00` plus the
    /// variant, plus the sun4v status for hypervisor failures.
    pub fn code(&self) -> u32 {
        let status = |error: &HvError| (error.status() & 0xffff) as u32;
        0xb000_0000
            | match self {
                BulkError::Geometry(_) => 0x01_0000,
                BulkError::Layout(_) => 0x02_0000,
                BulkError::Link(_) => 0x03_0000,
                BulkError::MapTable(error) => 0x04_0000 | status(error),
                BulkError::Memory { error, .. } => 0x05_0000 | status(error),
                BulkError::Copy { error, .. } => 0x06_0000 | status(error),
                BulkError::CopyStalled { .. } => 0x07_0000,
                BulkError::CopyAlignment { .. } => 0x08_0000,
                BulkError::FrameTooLarge { .. } => 0x09_0000,
                BulkError::BadDescriptor { .. } => 0x0a_0000,
                BulkError::BadRegistration(_) => 0x0b_0000,
                BulkError::Message(_) => 0x0c_0000,
                BulkError::NoCommonVersion { .. } => 0x0d_0000,
                BulkError::Backlog => 0x0e_0000,
                BulkError::Busy => 0x0f_0000,
            }
    }

    /// How the engine sees it: a size problem stays one, a link that
    /// failed for good is a disconnection, the rest a coded link error.
    pub fn to_transport(&self) -> TransportError {
        match *self {
            BulkError::FrameTooLarge { size, capacity } => {
                TransportError::FrameTooLarge { size, capacity }
            }
            BulkError::Link(LinkError::Failed(_))
            | BulkError::Link(LinkError::Reset {
                cause: ResetCause::PeerDown,
                ..
            })
            | BulkError::NoCommonVersion { .. } => TransportError::Disconnected,
            _ => TransportError::Link(self.code()),
        }
    }
}

impl fmt::Display for BulkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkError::Geometry(error) => write!(f, "bulk ring: {error}"),
            BulkError::Layout(error) => write!(f, "bulk layout: {error}"),
            BulkError::Link(error) => write!(f, "control link: {error}"),
            BulkError::MapTable(error) => write!(f, "map table registration failed: {error}"),
            BulkError::Memory { what, error } => write!(f, "{what} access failed: {error}"),
            BulkError::Copy {
                direction,
                cookie,
                error,
            } => {
                let way = if *direction == 0 { "in" } else { "out" };
                write!(f, "LDC_COPY {way} at cookie {cookie:#x} failed: {error}")
            }
            BulkError::CopyStalled { cookie } => {
                write!(f, "LDC_COPY at cookie {cookie:#x} made no progress")
            }
            BulkError::CopyAlignment {
                cookie,
                local_ra,
                length,
            } => write!(
                f,
                "LDC_COPY of {length} bytes between cookie {cookie:#x} and RA {local_ra:#x} is not 8-byte aligned"
            ),
            BulkError::FrameTooLarge { size, capacity } => {
                write!(f, "a {size}-byte frame does not fit in {capacity} bytes")
            }
            BulkError::BadDescriptor { index, fault } => {
                write!(f, "descriptor {index}: {fault}")
            }
            BulkError::BadRegistration(why) => write!(f, "ring registration refused: {why}"),
            BulkError::Message(error) => write!(f, "control message: {error}"),
            BulkError::NoCommonVersion { oldest, newest } => write!(
                f,
                "no common control-protocol version (the shim speaks {oldest} to {newest})"
            ),
            BulkError::Backlog => f.write_str("too many control messages wait to be sent"),
            BulkError::Busy => f.write_str("the endpoint is already in use"),
        }
    }
}

impl From<LinkError> for BulkError {
    fn from(error: LinkError) -> Self {
        BulkError::Link(error)
    }
}

impl From<LayoutError> for BulkError {
    fn from(error: LayoutError) -> Self {
        BulkError::Layout(error)
    }
}

impl From<GeometryError> for BulkError {
    fn from(error: GeometryError) -> Self {
        BulkError::Geometry(error)
    }
}

impl core::error::Error for BulkError {}

/// Maps a hypervisor failure while touching local memory used for `what`.
pub fn memory_failure(what: MemoryUse) -> impl Fn(ldmig_hv::HvError) -> BulkError {
    move |error| BulkError::Memory { what, error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn codes_are_distinct_and_carry_the_status() {
        let hv = BulkError::Copy {
            direction: 0,
            cookie: 8,
            error: HvError::NoMap,
        };
        assert_eq!(hv.code(), 0xb006_0000 | 14);
        assert_eq!(hv.to_transport(), TransportError::Link(0xb006_000e));
        assert_eq!(
            BulkError::FrameTooLarge {
                size: 9,
                capacity: 8
            }
            .to_transport(),
            TransportError::FrameTooLarge {
                size: 9,
                capacity: 8
            }
        );
        assert_eq!(
            BulkError::NoCommonVersion {
                oldest: 2,
                newest: 3
            }
            .to_transport(),
            TransportError::Disconnected
        );
        assert!(hv.to_string().contains("LDC_COPY in"));
    }
}
