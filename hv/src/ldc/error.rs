//! Typed errors of the LDC link layer, named by what failed.
//!
//! [`LinkError`] is what every public link call returns. A hypervisor
//! failure carries the [`LdcCall`] that failed; a reset carries its
//! [`ResetCause`] and how many sent messages were not yet acknowledged (the
//! application resends those); a handshake that can never succeed carries a
//! [`HandshakeFailure`].

use core::fmt;

use super::fragment::FragmentError;
use super::handshake::Version;
use super::link::LinkState;
use super::packet::PacketError;
use crate::HvError;

/// The LDC hypervisor call (or queue-memory access) that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdcCall {
    /// `LDC_TX_QCONF`.
    TxQconf,
    /// `LDC_TX_QINFO`.
    TxQinfo,
    /// `LDC_TX_GET_STATE`.
    TxGetState,
    /// `LDC_TX_SET_QTAIL`.
    TxSetQtail,
    /// `LDC_RX_QCONF`.
    RxQconf,
    /// `LDC_RX_GET_STATE`.
    RxGetState,
    /// `LDC_RX_SET_QHEAD`.
    RxSetQhead,
    /// `LDC_SET_MAP_TABLE`.
    SetMapTable,
    /// Reading a packet from the receive queue's memory ([`crate::hypervisor::LocalMemory`]).
    ReadQueue,
    /// Writing a packet into the transmit queue's memory.
    WriteQueue,
}

impl LdcCall {
    /// The spec's name of the call (`"LDC_TX_SET_QTAIL"`), or a description
    /// for the queue-memory accesses.
    pub fn name(self) -> &'static str {
        match self {
            LdcCall::TxQconf => "LDC_TX_QCONF",
            LdcCall::TxQinfo => "LDC_TX_QINFO",
            LdcCall::TxGetState => "LDC_TX_GET_STATE",
            LdcCall::TxSetQtail => "LDC_TX_SET_QTAIL",
            LdcCall::RxQconf => "LDC_RX_QCONF",
            LdcCall::RxGetState => "LDC_RX_GET_STATE",
            LdcCall::RxSetQhead => "LDC_RX_SET_QHEAD",
            LdcCall::SetMapTable => "LDC_SET_MAP_TABLE",
            LdcCall::ReadQueue => "receive-queue memory read",
            LdcCall::WriteQueue => "transmit-queue memory write",
        }
    }
}

impl fmt::Display for LdcCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of the two queues of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// The transmit queue.
    Transmit,
    /// The receive queue.
    Receive,
}

impl fmt::Display for QueueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueKind::Transmit => "transmit",
            QueueKind::Receive => "receive",
        })
    }
}

/// A [`super::LinkConfig`] the link refuses before making any call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A queue's entry count is not a power of 2 of at least 2.
    QueueEntries {
        /// Which queue.
        queue: QueueKind,
        /// The count given.
        entries: u64,
    },
    /// A queue's base RA is 0 or not aligned to the queue's size in bytes.
    QueueAlignment {
        /// Which queue.
        queue: QueueKind,
        /// The base RA given.
        ra: u64,
    },
    /// The map table's entry count is not a power of 2 in `2..2^30`.
    MapTableEntries {
        /// The count given.
        entries: u64,
    },
    /// The map table's RA is 0 or not 64-byte aligned.
    MapTableAlignment {
        /// The RA given.
        ra: u64,
    },
    /// The version list is empty, holds 0.0, or its majors do not strictly
    /// decrease.
    Versions,
    /// The retry policy allows no attempt at all.
    RetryAttempts,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::QueueEntries { queue, entries } => write!(
                f,
                "{queue} queue: {entries} entries is not a power of 2 of at least 2"
            ),
            ConfigError::QueueAlignment { queue, ra } => write!(
                f,
                "{queue} queue: base RA {ra:#x} is 0 or not aligned to the queue size"
            ),
            ConfigError::MapTableEntries { entries } => write!(
                f,
                "map table: {entries} entries is not a power of 2 in 2..2^30"
            ),
            ConfigError::MapTableAlignment { ra } => {
                write!(f, "map table: RA {ra:#x} is 0 or not 64-byte aligned")
            }
            ConfigError::Versions => {
                f.write_str("version list: empty, holds 0.0, or majors not strictly decreasing")
            }
            ConfigError::RetryAttempts => f.write_str("retry policy: max_attempts is 0"),
        }
    }
}

/// Why a link was reset and its handshake restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCause {
    /// The hypervisor reported the channel RESET: the peer reconfigured its
    /// receive queue, or the channel itself was reset.
    ChannelReset,
    /// The hypervisor reported the channel DOWN: the peer has no receive
    /// queue (it closed, or its domain went away).
    PeerDown,
    /// The peer sent a new `VERS` INFO while the link was connected.
    PeerRestarted,
    /// The peer sent a NACK: it saw one of our packets out of sequence.
    NackReceived,
    /// An ACK named a sequence id we never sent.
    UnknownAck {
        /// The ackid received.
        ackid: u32,
    },
    /// A packet did not decode.
    MalformedPacket(PacketError),
    /// Data fragments broke the START/STOP rules or the maximum message size.
    Fragment(FragmentError),
    /// A handshake packet broke the protocol (an ACK for a version we did
    /// not propose, an RDX with the wrong sequence id).
    HandshakeViolation,
    /// A control or error packet arrived where only data may come.
    UnexpectedPacket,
    /// More control packets waited for transmit room than the link can hold.
    TransmitStalled,
    /// The application asked for it ([`super::LdcLink::restart`]).
    LocalRestart,
}

impl fmt::Display for ResetCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetCause::ChannelReset => f.write_str("the hypervisor reported the channel reset"),
            ResetCause::PeerDown => f.write_str("the peer has no receive queue (channel down)"),
            ResetCause::PeerRestarted => f.write_str("the peer restarted the handshake"),
            ResetCause::NackReceived => f.write_str("the peer NACKed a packet"),
            ResetCause::UnknownAck { ackid } => {
                write!(f, "ACK for sequence id {ackid:#x}, which was never sent")
            }
            ResetCause::MalformedPacket(error) => write!(f, "malformed packet: {error}"),
            ResetCause::Fragment(error) => write!(f, "bad fragment: {error}"),
            ResetCause::HandshakeViolation => f.write_str("handshake packet out of protocol"),
            ResetCause::UnexpectedPacket => f.write_str("control or error packet in data phase"),
            ResetCause::TransmitStalled => f.write_str("control packets stalled for transmit room"),
            ResetCause::LocalRestart => f.write_str("restart requested"),
        }
    }
}

/// A handshake that cannot succeed with this peer: the link stays failed
/// until [`super::LdcLink::restart`] when [`HandshakeFailure::is_final`],
/// else it is reported and the link starts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer answered our `VERS` with a NACK carrying 0.0: it supports no
    /// version at or below ours.
    VersionRejected,
    /// No version both sides support (the peer's offer or counter-offer is
    /// below every version we have).
    NoCommonVersion {
        /// The peer's last offer.
        peer: Version,
    },
    /// The peer runs another link mode (RTS/RTR `env`).
    ModeMismatch {
        /// Our mode (always `LDC_MODE_STREAM`, 3).
        local: u8,
        /// The peer's mode.
        peer: u8,
    },
}

impl HandshakeFailure {
    /// Whether the link stays failed until [`super::LdcLink::restart`]. A
    /// version refusal is final; a mode mismatch is reported and the link
    /// starts over (a damaged RTS or RTR looks the same, and a reset costs
    /// little), so an application that sees it again and again gives up.
    pub fn is_final(self) -> bool {
        match self {
            HandshakeFailure::VersionRejected | HandshakeFailure::NoCommonVersion { .. } => true,
            HandshakeFailure::ModeMismatch { .. } => false,
        }
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeFailure::VersionRejected => {
                f.write_str("the peer rejected every LDC version (NACK 0.0)")
            }
            HandshakeFailure::NoCommonVersion { peer } => {
                write!(f, "no common LDC version (the peer offered {peer})")
            }
            HandshakeFailure::ModeMismatch { local, peer } => {
                write!(f, "link mode mismatch: ours {local}, the peer's {peer}")
            }
        }
    }
}

/// Everything a link call can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The configuration was refused before any call.
    Config(ConfigError),
    /// A hypervisor call (or queue-memory access) failed.
    Hypervisor {
        /// The call.
        call: LdcCall,
        /// The status it returned.
        error: HvError,
    },
    /// A call kept returning `EWOULDBLOCK` for every attempt the
    /// [`super::RetryPolicy`] allows. Nothing was lost: call again later.
    Timeout {
        /// The call.
        call: LdcCall,
        /// Attempts made.
        attempts: u32,
    },
    /// Not enough transmit room for the message now (unacknowledged
    /// packets, or the peer is slow to drain its queue): poll and retry.
    QueueFull {
        /// Packets the message needs.
        needed: u64,
        /// Packets free now.
        free: u64,
    },
    /// The handshake has not completed.
    NotConnected(LinkState),
    /// The link was reset (reported once, by the call that saw it); the
    /// handshake restarts by itself on the next polls. The last
    /// `unacknowledged` messages sent may not have reached the peer's
    /// application: resend them once connected again.
    Reset {
        /// Why.
        cause: ResetCause,
        /// Messages sent but not acknowledged when the reset happened.
        unacknowledged: usize,
    },
    /// The handshake failed: for good when [`HandshakeFailure::is_final`]
    /// (until [`super::LdcLink::restart`]), else the link already started
    /// over.
    Failed(HandshakeFailure),
    /// The message is larger than [`super::LdcLink::max_message_size`].
    MessageTooLarge {
        /// Its size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// An empty message was given to send.
    EmptyMessage,
    /// The receive buffer is smaller than the waiting message (which stays
    /// waiting).
    BufferTooSmall {
        /// The message's size.
        needed: usize,
        /// The buffer's size.
        available: usize,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Config(error) => write!(f, "LDC link configuration refused: {error}"),
            LinkError::Hypervisor { call, error } => write!(f, "{call} failed: {error}"),
            LinkError::Timeout { call, attempts } => {
                write!(f, "{call} returned EWOULDBLOCK {attempts} times in a row")
            }
            LinkError::QueueFull { needed, free } => write!(
                f,
                "LDC transmit queue full: the message needs {needed} packets, {free} free"
            ),
            LinkError::NotConnected(state) => write!(f, "LDC link not connected ({state})"),
            LinkError::Reset {
                cause,
                unacknowledged,
            } => write!(
                f,
                "LDC link reset ({cause}); {unacknowledged} sent messages unacknowledged"
            ),
            LinkError::Failed(failure) => write!(f, "LDC handshake failed: {failure}"),
            LinkError::MessageTooLarge { size, max } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the LDC maximum of {max}"
                )
            }
            LinkError::EmptyMessage => f.write_str("empty LDC message"),
            LinkError::BufferTooSmall { needed, available } => write!(
                f,
                "receive buffer of {available} bytes is too small for a {needed}-byte message"
            ),
        }
    }
}

impl core::error::Error for LinkError {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;

    #[test]
    fn call_names_are_the_spec_names() {
        assert_eq!(LdcCall::TxSetQtail.to_string(), "LDC_TX_SET_QTAIL");
        assert_eq!(LdcCall::RxSetQhead.name(), "LDC_RX_SET_QHEAD");
        assert_eq!(LdcCall::SetMapTable.name(), "LDC_SET_MAP_TABLE");
    }

    #[test]
    fn errors_display_their_cause() {
        let error = LinkError::Hypervisor {
            call: LdcCall::TxQconf,
            error: HvError::BadAlignment,
        };
        let text = error.to_string();
        assert!(
            text.contains("LDC_TX_QCONF") && text.contains("EBADALIGN"),
            "{text}"
        );
        let reset = LinkError::Reset {
            cause: ResetCause::UnknownAck { ackid: 0x42 },
            unacknowledged: 3,
        };
        let text = reset.to_string();
        assert!(text.contains("0x42") && text.contains('3'), "{text}");
        let failed = LinkError::Failed(HandshakeFailure::ModeMismatch { local: 3, peer: 1 });
        assert!(failed.to_string().contains("ours 3"));
    }
}
