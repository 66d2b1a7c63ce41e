//! The typed errors of the secure channel: one variant per way a handshake or
//! a record can fail, so that the shim can tell a wrong password from a
//! tampered, replayed or cut stream.

use super::handshake::Role;
use std::fmt;
use std::io;

/// Where a stream ended too early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// During the handshake, after `received` of the `expected` bytes of the
    /// current handshake message.
    Handshake {
        /// Bytes of the message that arrived.
        received: usize,
        /// Bytes the message has.
        expected: usize,
    },
    /// Inside a record, after `received` of its `expected` bytes (header
    /// included).
    MidRecord {
        /// Bytes of the record that arrived.
        received: usize,
        /// Bytes the record has (header included; 12 while the header itself
        /// was cut).
        expected: usize,
    },
    /// Between two records, without the peer's authenticated close record.
    WithoutClose {
        /// Records received before the end.
        records_received: u64,
    },
}

impl fmt::Display for Truncation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Truncation::Handshake { received, expected } => write!(
                formatter,
                "during the handshake ({received} of {expected} bytes of a handshake message)"
            ),
            Truncation::MidRecord { received, expected } => write!(
                formatter,
                "in the middle of a record ({received} of {expected} bytes)"
            ),
            Truncation::WithoutClose { records_received } => write!(
                formatter,
                "after {records_received} records, without the peer's close record"
            ),
        }
    }
}

/// Why the secure channel failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChannelError {
    /// The migration password is empty.
    EmptyPassword,
    /// The peer's first bytes are not an ldmig secure channel hello.
    NotLdmigPeer,
    /// The peer speaks a version of the channel protocol this side does not.
    UnsupportedVersion {
        /// The version the peer announced.
        peer_version: u16,
    },
    /// Both ends took the same handshake role.
    RoleConflict {
        /// The role both ends took.
        role: Role,
    },
    /// A handshake message is malformed.
    MalformedHandshake {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key confirmation failed: the peer does not hold the same migration
    /// password (or someone altered the handshake).
    WrongPassword,
    /// A record failed authentication: its bytes were altered in transit.
    Tampered {
        /// The sequence number the record claims.
        sequence: u64,
    },
    /// An authentic record arrived again: a replay.
    Replayed {
        /// The sequence number of the replayed record.
        sequence: u64,
        /// The sequence number this side expected.
        expected: u64,
    },
    /// An authentic record arrived ahead of its turn: records were dropped or
    /// reordered.
    OutOfOrder {
        /// The sequence number of the record that arrived.
        sequence: u64,
        /// The sequence number this side expected.
        expected: u64,
    },
    /// A record header announces more bytes than a record may hold.
    RecordTooLong {
        /// The announced ciphertext length.
        length: u32,
        /// The largest ciphertext length allowed.
        max: u32,
    },
    /// A record header announces fewer bytes than the smallest record.
    RecordTooShort {
        /// The announced ciphertext length.
        length: u32,
        /// The smallest ciphertext length allowed.
        min: u32,
    },
    /// An authentic record has a record type this side does not know.
    UnknownRecordType {
        /// The record type byte.
        record_type: u8,
    },
    /// The payload given to `send` is larger than a record may hold.
    PayloadTooLarge {
        /// The payload length.
        length: usize,
        /// The largest payload allowed.
        max: usize,
    },
    /// The stream ended early.
    Truncated(Truncation),
    /// The channel was closed in order (by the peer's close record on the
    /// receiving side, by `close` on the sending side).
    Closed,
    /// The read timeout of the underlying stream expired; the receive can be
    /// retried and resumes where it stopped.
    TimedOut,
    /// This half failed earlier and can no longer be used.
    Broken,
    /// 2^64 - 1 records were sent in one direction: the keys must not be used
    /// further.
    SequenceExhausted,
    /// A payload sealed in place left less room before it than a record
    /// header (a caller's sizing bug).
    NoHeadroom {
        /// Bytes before the payload.
        available: usize,
        /// Bytes a record header takes.
        needed: usize,
    },
    /// The underlying stream failed.
    Io(io::Error),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::EmptyPassword => formatter.write_str("the migration password is empty"),
            ChannelError::NotLdmigPeer => {
                formatter.write_str("the peer is not an ldmig migration shim (bad hello magic)")
            }
            ChannelError::UnsupportedVersion { peer_version } => write!(
                formatter,
                "the peer speaks secure channel version {peer_version}, this side speaks {}",
                super::handshake::PROTOCOL_VERSION
            ),
            ChannelError::RoleConflict { role } => write!(
                formatter,
                "both ends of the handshake took the {role} role"
            ),
            ChannelError::MalformedHandshake { reason } => {
                write!(formatter, "malformed handshake message: {reason}")
            }
            ChannelError::WrongPassword => formatter.write_str(
                "authentication failed: the peer does not know the same migration password \
                 (or the handshake was altered in transit)",
            ),
            ChannelError::Tampered { sequence } => write!(
                formatter,
                "record {sequence} failed authentication: the stream was tampered with"
            ),
            ChannelError::Replayed { sequence, expected } => write!(
                formatter,
                "record {sequence} was replayed (expected record {expected})"
            ),
            ChannelError::OutOfOrder { sequence, expected } => write!(
                formatter,
                "record {sequence} arrived out of order (expected record {expected}): \
                 records were dropped or reordered"
            ),
            ChannelError::RecordTooLong { length, max } => write!(
                formatter,
                "record of {length} bytes announced, more than the {max} bytes allowed"
            ),
            ChannelError::RecordTooShort { length, min } => write!(
                formatter,
                "record of {length} bytes announced, less than the {min} bytes of the smallest record"
            ),
            ChannelError::UnknownRecordType { record_type } => {
                write!(formatter, "authentic record of unknown type {record_type}")
            }
            ChannelError::PayloadTooLarge { length, max } => write!(
                formatter,
                "payload of {length} bytes is larger than the {max} bytes a record holds"
            ),
            ChannelError::Truncated(truncation) => {
                write!(formatter, "the stream was cut {truncation}")
            }
            ChannelError::Closed => formatter.write_str("the secure channel was closed"),
            ChannelError::TimedOut => {
                formatter.write_str("timed out waiting for the peer (the receive can be retried)")
            }
            ChannelError::Broken => {
                formatter.write_str("the secure channel failed earlier and cannot be used")
            }
            ChannelError::NoHeadroom { available, needed } => write!(
                formatter,
                "{available} bytes before the payload where a record header needs {needed}"
            ),
            ChannelError::SequenceExhausted => {
                formatter.write_str("the record sequence numbers of this channel are exhausted")
            }
            ChannelError::Io(error) => write!(formatter, "secure channel I/O error: {error}"),
        }
    }
}

impl std::error::Error for ChannelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChannelError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl ChannelError {
    /// True when the error means the peer closed the channel in order.
    pub fn is_closed(&self) -> bool {
        matches!(self, ChannelError::Closed)
    }

    /// True for failures of authentication or integrity: a wrong password, a
    /// tampered, replayed or reordered record.
    pub fn is_security_failure(&self) -> bool {
        matches!(
            self,
            ChannelError::WrongPassword
                | ChannelError::Tampered { .. }
                | ChannelError::Replayed { .. }
                | ChannelError::OutOfOrder { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_failed() {
        let cases: [(ChannelError, &str); 6] = [
            (ChannelError::WrongPassword, "password"),
            (ChannelError::Tampered { sequence: 3 }, "tampered"),
            (
                ChannelError::Replayed {
                    sequence: 1,
                    expected: 2,
                },
                "replayed",
            ),
            (
                ChannelError::OutOfOrder {
                    sequence: 5,
                    expected: 2,
                },
                "out of order",
            ),
            (
                ChannelError::RecordTooLong { length: 9, max: 8 },
                "more than",
            ),
            (
                ChannelError::Truncated(Truncation::WithoutClose {
                    records_received: 4,
                }),
                "without the peer's close record",
            ),
        ];
        for (error, needle) in cases {
            let text = error.to_string();
            assert!(text.contains(needle), "{text:?} lacks {needle:?}");
        }
    }

    #[test]
    fn security_failures_are_classified() {
        assert!(ChannelError::WrongPassword.is_security_failure());
        assert!(ChannelError::Tampered { sequence: 0 }.is_security_failure());
        assert!(!ChannelError::Closed.is_security_failure());
        assert!(ChannelError::Closed.is_closed());
        assert!(!ChannelError::TimedOut.is_closed());
    }
}
