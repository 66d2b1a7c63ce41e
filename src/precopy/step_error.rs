//! Why one step of a source or target engine stopped: the typed cause a
//! state machine maps to its outcome, and whose words go to the peer in
//! the `Failure` frame.

use crate::transport::TransportError;
use crate::wire::codec::{BufferTooSmall, DecodeError};
use crate::wire::messages::StopReason;
use crate::wire::FrameType;
use core::fmt;
use ldmig_hv::HvError;

/// Why one step of work stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepError {
    /// The link failed or stayed silent.
    Transport(TransportError),
    /// A hypervisor call failed.
    Hypervisor(HvError),
    /// A frame or a page record failed its checks (nothing of it was
    /// written to guest memory).
    Corrupt(DecodeError),
    /// The source's counts or vCPUs do not match what arrived.
    Verify,
    /// A control payload failed its checks.
    Malformed(DecodeError),
    /// A valid frame the peer may not send now.
    Unexpected(FrameType),
    /// A frame out of sequence.
    Sequence {
        /// The sequence number due.
        expected: u64,
        /// The one that came.
        found: u64,
    },
    /// A `RoundAck` for a round that is not the next one sent.
    RoundAck(u32),
    /// Something else the protocol does not allow.
    Protocol(&'static str),
    /// A frame did not fit its buffer (a sizing bug: buffers are checked).
    Encode(BufferTooSmall),
}

impl StepError {
    /// The reason the peer and the outcome are given.
    pub(crate) fn stop_reason(self) -> StopReason {
        match self {
            StepError::Transport(_) => StopReason::Timeout,
            StepError::Hypervisor(_) => StopReason::HypervisorError,
            StepError::Corrupt(_) => StopReason::CorruptData,
            StepError::Verify => StopReason::VerificationFailed,
            StepError::Malformed(_)
            | StepError::Unexpected(_)
            | StepError::Sequence { .. }
            | StepError::RoundAck(_)
            | StepError::Protocol(_)
            | StepError::Encode(_) => StopReason::ProtocolViolation,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Transport(error) => write!(f, "link: {error:?}"),
            StepError::Hypervisor(error) => write!(f, "hypervisor call failed: {error}"),
            StepError::Corrupt(error) => write!(f, "corrupt data: {error}"),
            StepError::Verify => f.write_str("the final verification failed"),
            StepError::Malformed(error) => write!(f, "protocol violation: {error}"),
            StepError::Unexpected(frame_type) => {
                write!(f, "protocol violation: unexpected {frame_type:?} frame")
            }
            StepError::Sequence { expected, found } => {
                write!(
                    f,
                    "protocol violation: frame {found} where {expected} was due"
                )
            }
            StepError::RoundAck(round) => {
                write!(f, "protocol violation: acknowledgement of round {round}")
            }
            StepError::Protocol(what) => write!(f, "protocol violation: {what}"),
            StepError::Encode(error) => write!(f, "frame encoding: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_a_reason_and_words() {
        let decode = DecodeError::ReservedNotZero { field: "reserved" };
        for (error, reason) in [
            (
                StepError::Transport(TransportError::Disconnected),
                StopReason::Timeout,
            ),
            (StepError::Corrupt(decode), StopReason::CorruptData),
            (StepError::Verify, StopReason::VerificationFailed),
            (StepError::Malformed(decode), StopReason::ProtocolViolation),
            (StepError::RoundAck(3), StopReason::ProtocolViolation),
        ] {
            assert_eq!(error.stop_reason(), reason);
            assert!(!std::format!("{error}").is_empty());
        }
        let text = std::format!("{}", StepError::Malformed(decode));
        assert!(text.contains("reserved"), "{text}");
    }
}
