//! The reliable-mode handshake: VERS -> RTS -> RTR -> RDX (Linux `ldc.c`
//! `process_version` .. `process_rdx`; `hv/REFERENCES.md`, "LDC link protocol"),
//! as a state machine that turns each received control packet into one step
//! for the link to carry out. It makes no hypervisor call itself.
//!
//! Either side may start (it sends `VERS` INFO as soon as the channel is
//! up); the side that answers a `VERS` INFO with an ACK becomes the peer of
//! that attempt. When both `VERS` INFOs cross, the configured
//! [`LinkRole`] breaks the tie deterministically: the initiator ignores the
//! peer's INFO and waits for the answer to its own, the responder abandons
//! its own and answers the peer's. Crossing RTS packets (from a peer that
//! answers every `VERS`, as Linux does) are resolved the same way.
//!
//! Packets that do not fit the current state but are well formed (a second
//! `VERS` ACK, an RTR nobody asked for) are stale leftovers of an earlier
//! attempt and are ignored; FIFO delivery puts them before any answer to the
//! current attempt. Packets that break the protocol make the link reset.

use core::fmt;

use super::error::{ConfigError, HandshakeFailure, ResetCause};
use super::packet::{ControlMessage, Packet};
use super::sequence::Sequence;
use crate::abi::ldc::Subtype;
use crate::abi::ldc::LDC_MODE_STREAM;

/// An LDC link-protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major: incompatible revisions.
    pub major: u16,
    /// Minor: compatible additions.
    pub minor: u16,
}

impl Version {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The versions this link layer speaks: 1.0, as Linux and illumos.
pub const LINK_VERSIONS: &[Version] = &[Version::new(1, 0)];

/// Checks a version list: not empty, no 0.0, majors strictly decreasing
/// (each entry is a major with the highest minor supported for it).
pub fn validate_versions(versions: &[Version]) -> Result<(), ConfigError> {
    let first_is_valid = versions.first().is_some_and(|v| v.major > 0);
    let decreasing = versions
        .windows(2)
        .all(|pair| pair[0].major > pair[1].major);
    let no_zero = versions.iter().all(|v| v.major > 0);
    if first_is_valid && decreasing && no_zero {
        Ok(())
    } else {
        Err(ConfigError::Versions)
    }
}

/// The answer to a peer's `VERS` INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionAnswer {
    /// ACK with this version (the peer's major, minor lowered to ours).
    Accept(Version),
    /// NACK with our best version of a lower major.
    Counter(Version),
    /// NACK with 0.0: nothing at or below the peer's major.
    Reject,
}

/// How `versions` (a valid list) answers an `offered` version.
pub fn answer_version(versions: &[Version], offered: Version) -> VersionAnswer {
    match versions.iter().find(|ours| ours.major <= offered.major) {
        None => VersionAnswer::Reject,
        Some(ours) if ours.major == offered.major => {
            VersionAnswer::Accept(Version::new(offered.major, offered.minor.min(ours.minor)))
        }
        Some(ours) => VersionAnswer::Counter(*ours),
    }
}

/// Which side keeps its attempt when both `VERS` (or RTS) cross.
/// Exactly one end of a channel must be the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRole {
    /// Keeps its own attempt; ignores a crossing INFO.
    Initiator,
    /// Abandons its own attempt; answers a crossing INFO.
    Responder,
}

/// Where the handshake stands (Linux's `hs_state`, with the side made
/// explicit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeState {
    /// Nothing sent yet in this attempt.
    Open,
    /// We sent `VERS` INFO; waiting for ACK or NACK.
    SentVersion,
    /// We ACKed the peer's `VERS`; waiting for its RTS.
    GotVersion,
    /// We sent RTS; waiting for RTR.
    SentRts,
    /// We sent RTR; waiting for RDX.
    SentRtr,
}

impl fmt::Display for HandshakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeState::Open => "open",
            HandshakeState::SentVersion => "sent VERS",
            HandshakeState::GotVersion => "got VERS",
            HandshakeState::SentRts => "sent RTS",
            HandshakeState::SentRtr => "sent RTR",
        })
    }
}

/// What the link must do after a control packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandshakeStep {
    /// Nothing (stale or crossing packet).
    Ignore,
    /// Send this control packet.
    Send(Packet),
    /// The link is up; send the RDX first when there is one (initiator).
    Connected(Option<Packet>),
    /// The packet breaks the protocol: reset the link.
    Abort(ResetCause),
    /// The handshake can never succeed; tell the peer with the packet, if any.
    Fail(HandshakeFailure, Option<Packet>),
}

/// The handshake of one link.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handshake {
    state: HandshakeState,
    role: LinkRole,
    versions: &'static [Version],
    proposed: Version,
    agreed: Option<Version>,
}

impl Handshake {
    /// A handshake at `Open`; `versions` must be valid.
    pub(crate) fn new(role: LinkRole, versions: &'static [Version]) -> Self {
        let proposed = versions.first().copied().unwrap_or(Version::new(1, 0));
        Handshake {
            state: HandshakeState::Open,
            role,
            versions,
            proposed,
            agreed: None,
        }
    }

    /// Back to `Open`, nothing agreed.
    pub(crate) fn reset(&mut self) {
        *self = Handshake::new(self.role, self.versions);
    }

    /// Current state.
    pub(crate) fn state(&self) -> HandshakeState {
        self.state
    }

    /// The version both sides agreed on, once past `VERS`.
    pub(crate) fn agreed(&self) -> Option<Version> {
        self.agreed
    }

    /// Starts an attempt: our best `VERS` INFO. Only from `Open`.
    pub(crate) fn start(&mut self) -> Packet {
        self.proposed = self.versions.first().copied().unwrap_or(self.proposed);
        self.state = HandshakeState::SentVersion;
        Packet::version_message(Subtype::INFO, self.proposed)
    }

    /// One received control packet.
    pub(crate) fn on_control(&mut self, packet: &Packet, sequence: &mut Sequence) -> HandshakeStep {
        match packet.control {
            Some(ControlMessage::Version) => self.on_version(packet, sequence),
            Some(ControlMessage::ReadyToSend) => self.on_rts(packet, sequence),
            Some(ControlMessage::ReadyToReceive) => self.on_rtr(packet, sequence),
            Some(ControlMessage::ReadyForDataExchange) => self.on_rdx(packet, sequence),
            None => HandshakeStep::Abort(ResetCause::HandshakeViolation),
        }
    }

    fn on_version(&mut self, packet: &Packet, sequence: &mut Sequence) -> HandshakeStep {
        let version = packet.version();
        let subtype = packet.subtype;
        if subtype == Subtype::INFO {
            let crossing = self.state == HandshakeState::SentVersion;
            if crossing && self.role == LinkRole::Initiator {
                return HandshakeStep::Ignore;
            }
            return self.answer(version);
        }
        if self.state != HandshakeState::SentVersion {
            // An answer to an attempt we abandoned or already moved past.
            return HandshakeStep::Ignore;
        }
        if subtype == Subtype::ACK {
            let acceptable =
                version.major == self.proposed.major && version.minor <= self.proposed.minor;
            if !acceptable {
                return HandshakeStep::Abort(ResetCause::HandshakeViolation);
            }
            self.agreed = Some(version);
            self.state = HandshakeState::SentRts;
            // Our RTS carries seqid 0: the peer's first packet will be 1.
            sequence.start_with_rts();
            return HandshakeStep::Send(Packet::control(
                Subtype::INFO,
                ControlMessage::ReadyToSend,
                LDC_MODE_STREAM,
                0,
                0,
            ));
        }
        // NACK: 0.0 ends it; otherwise retry with our best at or below the
        // peer's counter-offer, which must be strictly lower than before.
        if version == Version::new(0, 0) {
            return HandshakeStep::Fail(HandshakeFailure::VersionRejected, None);
        }
        match self
            .versions
            .iter()
            .find(|ours| ours.major <= version.major)
        {
            Some(ours) if ours.major < self.proposed.major => {
                self.proposed = *ours;
                HandshakeStep::Send(Packet::version_message(Subtype::INFO, *ours))
            }
            _ => HandshakeStep::Fail(HandshakeFailure::NoCommonVersion { peer: version }, None),
        }
    }

    fn answer(&mut self, offered: Version) -> HandshakeStep {
        match answer_version(self.versions, offered) {
            VersionAnswer::Accept(version) => {
                self.agreed = Some(version);
                self.state = HandshakeState::GotVersion;
                HandshakeStep::Send(Packet::version_message(Subtype::ACK, version))
            }
            // State unchanged: the peer retries with a lower version.
            VersionAnswer::Counter(version) => {
                HandshakeStep::Send(Packet::version_message(Subtype::NACK, version))
            }
            VersionAnswer::Reject => HandshakeStep::Fail(
                HandshakeFailure::NoCommonVersion { peer: offered },
                Some(Packet::version_message(Subtype::NACK, Version::new(0, 0))),
            ),
        }
    }

    /// The peer's NACK of what we sent in state `sent` (our RTS or RTR):
    /// its mode differs. In any other state the NACK is stale.
    fn refused(&self, sent: HandshakeState, peer_mode: u8) -> HandshakeStep {
        if self.state != sent {
            return HandshakeStep::Ignore;
        }
        HandshakeStep::Fail(Self::mode_failure(peer_mode), None)
    }

    /// Our stream mode against the peer's `peer_mode`.
    fn mode_failure(peer_mode: u8) -> HandshakeFailure {
        HandshakeFailure::ModeMismatch {
            local: LDC_MODE_STREAM,
            peer: peer_mode,
        }
    }

    fn mode_mismatch(message: ControlMessage, peer_mode: u8) -> HandshakeStep {
        HandshakeStep::Fail(
            Self::mode_failure(peer_mode),
            Some(Packet::control(
                Subtype::NACK,
                message,
                LDC_MODE_STREAM,
                0,
                0,
            )),
        )
    }

    fn on_rts(&mut self, packet: &Packet, sequence: &mut Sequence) -> HandshakeStep {
        if packet.subtype == Subtype::NACK {
            // The peer refused our RTS: its mode differs.
            return self.refused(HandshakeState::SentRts, packet.env);
        }
        if packet.subtype != Subtype::INFO {
            return HandshakeStep::Ignore;
        }
        let peer_of_this_attempt = match self.state {
            HandshakeState::GotVersion => true,
            // Crossing RTS: the responder yields.
            HandshakeState::SentRts => self.role == LinkRole::Responder,
            _ => false,
        };
        if !peer_of_this_attempt {
            return HandshakeStep::Ignore;
        }
        if packet.env != LDC_MODE_STREAM {
            return Self::mode_mismatch(ControlMessage::ReadyToSend, packet.env);
        }
        sequence.start_from_rts(packet.seqid);
        self.state = HandshakeState::SentRtr;
        HandshakeStep::Send(Packet::control(
            Subtype::INFO,
            ControlMessage::ReadyToReceive,
            LDC_MODE_STREAM,
            0,
            0,
        ))
    }

    fn on_rtr(&mut self, packet: &Packet, sequence: &mut Sequence) -> HandshakeStep {
        if packet.subtype == Subtype::NACK {
            return self.refused(HandshakeState::SentRtr, packet.env);
        }
        if packet.subtype != Subtype::INFO || self.state != HandshakeState::SentRts {
            return HandshakeStep::Ignore;
        }
        if packet.env != LDC_MODE_STREAM {
            return Self::mode_mismatch(ControlMessage::ReadyToReceive, packet.env);
        }
        sequence.start_from_rtr(packet.seqid);
        let seqid = sequence.take_next();
        sequence.handshake_done();
        let rdx = Packet::control(
            Subtype::INFO,
            ControlMessage::ReadyForDataExchange,
            0,
            seqid,
            sequence.rcv_nxt(),
        );
        HandshakeStep::Connected(Some(rdx))
    }

    fn on_rdx(&mut self, packet: &Packet, sequence: &mut Sequence) -> HandshakeStep {
        if packet.subtype != Subtype::INFO || self.state != HandshakeState::SentRtr {
            return HandshakeStep::Ignore;
        }
        if !sequence.accept(packet.seqid) {
            return HandshakeStep::Abort(ResetCause::HandshakeViolation);
        }
        HandshakeStep::Connected(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_VERSIONS: &[Version] = &[Version::new(2, 1), Version::new(1, 3)];

    fn info(version: Version) -> Packet {
        Packet::version_message(Subtype::INFO, version)
    }

    fn sent(step: HandshakeStep) -> Packet {
        match step {
            HandshakeStep::Send(packet) => packet,
            other => panic!("expected a packet to send, got {other:?}"),
        }
    }

    #[test]
    fn version_lists_are_validated() {
        assert_eq!(validate_versions(LINK_VERSIONS), Ok(()));
        assert_eq!(validate_versions(TWO_VERSIONS), Ok(()));
        assert_eq!(validate_versions(&[]), Err(ConfigError::Versions));
        assert_eq!(
            validate_versions(&[Version::new(0, 0)]),
            Err(ConfigError::Versions)
        );
        assert_eq!(
            validate_versions(&[Version::new(1, 0), Version::new(2, 0)]),
            Err(ConfigError::Versions)
        );
        assert_eq!(
            validate_versions(&[Version::new(1, 0), Version::new(1, 1)]),
            Err(ConfigError::Versions)
        );
    }

    #[test]
    fn answers_follow_the_spec() {
        // Same major: ACK, minor lowered to ours.
        assert_eq!(
            answer_version(TWO_VERSIONS, Version::new(2, 7)),
            VersionAnswer::Accept(Version::new(2, 1))
        );
        assert_eq!(
            answer_version(TWO_VERSIONS, Version::new(1, 0)),
            VersionAnswer::Accept(Version::new(1, 0))
        );
        // Unknown higher major: NACK with our best lower one.
        assert_eq!(
            answer_version(TWO_VERSIONS, Version::new(5, 0)),
            VersionAnswer::Counter(Version::new(2, 1))
        );
        // Below everything we have: NACK 0.0.
        assert_eq!(
            answer_version(&[Version::new(3, 0)], Version::new(2, 9)),
            VersionAnswer::Reject
        );
    }

    #[test]
    fn initiator_walks_vers_rts_rtr_rdx() {
        let mut handshake = Handshake::new(LinkRole::Initiator, TWO_VERSIONS);
        let mut sequence = Sequence::new();
        assert_eq!(handshake.start(), info(Version::new(2, 1)));
        // NACK 1.5: downgrade to our 1.3.
        let nack = Packet::version_message(Subtype::NACK, Version::new(1, 5));
        assert_eq!(
            sent(handshake.on_control(&nack, &mut sequence)),
            info(Version::new(1, 3))
        );
        // ACK 1.2 (minor lowered by the peer).
        let ack = Packet::version_message(Subtype::ACK, Version::new(1, 2));
        let rts = sent(handshake.on_control(&ack, &mut sequence));
        assert_eq!(rts.control, Some(ControlMessage::ReadyToSend));
        assert_eq!((rts.env, rts.seqid), (LDC_MODE_STREAM, 0));
        assert_eq!(handshake.state(), HandshakeState::SentRts);
        assert_eq!(handshake.agreed(), Some(Version::new(1, 2)));
        // A duplicate ACK now is stale.
        assert_eq!(
            handshake.on_control(&ack, &mut sequence),
            HandshakeStep::Ignore
        );
        let rtr = Packet::control(Subtype::INFO, ControlMessage::ReadyToReceive, 3, 0, 0);
        match handshake.on_control(&rtr, &mut sequence) {
            HandshakeStep::Connected(Some(rdx)) => {
                assert_eq!(rdx.control, Some(ControlMessage::ReadyForDataExchange));
                assert_eq!((rdx.seqid, rdx.ackid, rdx.env), (1, 0, 0));
            }
            other => panic!("expected connected, got {other:?}"),
        }
    }

    #[test]
    fn peer_walks_vers_rts_rtr_rdx() {
        let mut handshake = Handshake::new(LinkRole::Responder, LINK_VERSIONS);
        let mut sequence = Sequence::new();
        let ack = sent(handshake.on_control(&info(Version::new(1, 4)), &mut sequence));
        assert_eq!(
            (ack.subtype, ack.version()),
            (Subtype::ACK, Version::new(1, 0))
        );
        assert_eq!(handshake.state(), HandshakeState::GotVersion);
        let rts = Packet::control(Subtype::INFO, ControlMessage::ReadyToSend, 3, 0, 0);
        let rtr = sent(handshake.on_control(&rts, &mut sequence));
        assert_eq!(rtr.control, Some(ControlMessage::ReadyToReceive));
        assert_eq!(handshake.state(), HandshakeState::SentRtr);
        let bad_rdx = Packet::control(Subtype::INFO, ControlMessage::ReadyForDataExchange, 0, 7, 0);
        let mut copy = handshake;
        let mut copy_sequence = sequence.clone();
        assert_eq!(
            copy.on_control(&bad_rdx, &mut copy_sequence),
            HandshakeStep::Abort(ResetCause::HandshakeViolation)
        );
        let rdx = Packet::control(Subtype::INFO, ControlMessage::ReadyForDataExchange, 0, 1, 0);
        assert_eq!(
            handshake.on_control(&rdx, &mut sequence),
            HandshakeStep::Connected(None)
        );
        assert_eq!(sequence.rcv_nxt(), 1);
    }

    #[test]
    fn crossing_version_infos_follow_the_role() {
        let mut sequence = Sequence::new();
        let mut initiator = Handshake::new(LinkRole::Initiator, LINK_VERSIONS);
        initiator.start();
        assert_eq!(
            initiator.on_control(&info(Version::new(1, 0)), &mut sequence),
            HandshakeStep::Ignore
        );
        assert_eq!(initiator.state(), HandshakeState::SentVersion);
        let mut responder = Handshake::new(LinkRole::Responder, LINK_VERSIONS);
        responder.start();
        let ack = sent(responder.on_control(&info(Version::new(1, 0)), &mut sequence));
        assert_eq!(ack.subtype, Subtype::ACK);
        assert_eq!(responder.state(), HandshakeState::GotVersion);
    }

    #[test]
    fn nack_zero_and_exhausted_versions_fail() {
        let mut sequence = Sequence::new();
        let mut handshake = Handshake::new(LinkRole::Initiator, TWO_VERSIONS);
        handshake.start();
        let zero = Packet::version_message(Subtype::NACK, Version::new(0, 0));
        assert_eq!(
            handshake.on_control(&zero, &mut sequence),
            HandshakeStep::Fail(HandshakeFailure::VersionRejected, None)
        );
        const ONLY_TWO: &[Version] = &[Version::new(2, 0)];
        let mut handshake = Handshake::new(LinkRole::Initiator, ONLY_TWO);
        handshake.start();
        let lower = Packet::version_message(Subtype::NACK, Version::new(1, 0));
        assert_eq!(
            handshake.on_control(&lower, &mut sequence),
            HandshakeStep::Fail(
                HandshakeFailure::NoCommonVersion {
                    peer: Version::new(1, 0)
                },
                None
            )
        );
    }

    #[test]
    fn mode_mismatch_fails_and_tells_the_peer() {
        let mut sequence = Sequence::new();
        let mut handshake = Handshake::new(LinkRole::Responder, LINK_VERSIONS);
        sent(handshake.on_control(&info(Version::new(1, 0)), &mut sequence));
        let rts = Packet::control(Subtype::INFO, ControlMessage::ReadyToSend, 1, 0, 0);
        match handshake.on_control(&rts, &mut sequence) {
            HandshakeStep::Fail(
                HandshakeFailure::ModeMismatch { local: 3, peer: 1 },
                Some(nack),
            ) => {
                assert_eq!(nack.subtype, Subtype::NACK);
                assert_eq!(nack.control, Some(ControlMessage::ReadyToSend));
            }
            other => panic!("expected a mode mismatch, got {other:?}"),
        }
    }
}
