//! Every handshake transition of the link, provoked by a scripted peer, and
//! resets at each step between two real links.

use super::scripted_peer::{ScriptedPeer, LINK_CHANNEL};
use super::{config, connect, default_links, exchange, SimLink, B_CHANNEL};
use crate::ldc::Side;
use ldmig_hv::abi::ldc::Subtype;
use ldmig_hv::abi::ldc::{LDC_MODE_STREAM, LDC_MODE_UNRELIABLE};
use ldmig_hv::hypervisor::LdcChannelState;
use ldmig_hv::ldc::handshake::{HandshakeState, LinkRole, Version};
use ldmig_hv::ldc::packet::{ControlMessage, Packet, PacketType};
use ldmig_hv::ldc::{HandshakeFailure, LdcLink, LinkError, LinkState, ResetCause};

const TWO_VERSIONS: &[Version] = &[Version::new(2, 1), Version::new(1, 3)];

fn link_with(role: LinkRole, versions: &'static [Version]) -> (ScriptedPeer, SimLink) {
    let mut link_config = config(LINK_CHANNEL, 64, 64, role);
    link_config.versions = versions;
    ScriptedPeer::with_link(link_config)
}

fn state(link: &SimLink) -> LinkState {
    link.state()
}

/// A link of `role` that has sent its first VERS, which the peer took.
fn started(role: LinkRole, versions: &'static [Version]) -> (ScriptedPeer, SimLink) {
    let (mut peer, mut link) = link_with(role, versions);
    link.poll().expect("starts");
    peer.receive();
    (peer, link)
}

/// An initiator whose version 1.0 the peer acknowledged, and whose RTS
/// the peer took.
fn sent_rts() -> (ScriptedPeer, SimLink) {
    let (mut peer, mut link) = started(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::ACK, Version::new(1, 0));
    link.poll().expect("RTS");
    peer.receive();
    (peer, link)
}

fn handshake(state: HandshakeState) -> LinkState {
    LinkState::Handshake(state)
}

#[test]
fn initiator_vers_rts_rtr_rdx_then_data() {
    let (mut peer, mut link) = link_with(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    assert_eq!(state(&link), handshake(HandshakeState::Open));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    peer.expect_version(Subtype::INFO, Version::new(1, 0));
    peer.send_version(Subtype::ACK, Version::new(1, 0));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRts)));
    let rts = peer.receive();
    assert_eq!(rts.len(), 1);
    assert_eq!(
        (rts[0].packet_type, rts[0].subtype, rts[0].control),
        (
            PacketType::Control,
            Subtype::INFO,
            Some(ControlMessage::ReadyToSend)
        )
    );
    assert_eq!((rts[0].env, rts[0].seqid), (LDC_MODE_STREAM, 0));
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(LinkState::Connected));
    let rdx = peer.receive();
    assert_eq!(rdx[0].control, Some(ControlMessage::ReadyForDataExchange));
    assert_eq!((rdx[0].seqid, rdx[0].ackid, rdx[0].env), (1, 0, 0));
    // First data from the peer carries 1 (RTS was 0); the link ACKs it.
    peer.send(Packet::data_fragment(1, true, true, b"hello"));
    let mut buffer = [0u8; 16];
    assert_eq!(link.receive(&mut buffer), Ok(Some(5)));
    assert_eq!(&buffer[..5], b"hello");
    let ack = peer.receive();
    assert_eq!(ack, vec![Packet::data_ack(2, 1)]);
    link.send(b"hi").expect("sent");
    let data = peer.receive();
    assert_eq!((data[0].seqid, data[0].data()), (3, &b"hi"[..]));
    assert_eq!(link.unacknowledged_messages(), 1);
    peer.send(Packet::data_ack(2, 3));
    link.poll().expect("ACK processed");
    assert_eq!(link.unacknowledged_messages(), 0);
}

#[test]
fn responder_vers_rts_rtr_rdx() {
    let (mut peer, mut link) = link_with(LinkRole::Responder, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::GotVersion)));
    // It answered and did not start its own attempt.
    peer.expect_version(Subtype::ACK, Version::new(1, 0));
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRtr)));
    let rtr = peer.receive();
    assert_eq!(rtr[0].control, Some(ControlMessage::ReadyToReceive));
    assert_eq!((rtr[0].env, rtr[0].seqid), (LDC_MODE_STREAM, 0));
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 1, 0);
    assert_eq!(link.poll(), Ok(LinkState::Connected));
    link.send(b"x").expect("sent");
    assert_eq!(peer.receive()[0].seqid, 1);
}

#[test]
fn version_nack_downgrades() {
    let (mut peer, mut link) = link_with(LinkRole::Initiator, TWO_VERSIONS);
    link.poll().expect("starts");
    assert_eq!(peer.receive()[0].version(), Version::new(2, 1));
    peer.send_version(Subtype::NACK, Version::new(1, 5));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    peer.expect_version(Subtype::INFO, Version::new(1, 3));
    peer.send_version(Subtype::ACK, Version::new(1, 2));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRts)));
    assert_eq!(link.version(), Some(Version::new(1, 2)));
}

#[test]
fn version_offers_are_answered_and_countered() {
    let (mut peer, mut link) = link_with(LinkRole::Responder, TWO_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(3, 0));
    // Counter-offer 2.1, then its own attempt (it was open).
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    assert_eq!(
        peer.receive(),
        vec![
            Packet::version_message(Subtype::NACK, Version::new(2, 1)),
            Packet::version_message(Subtype::INFO, Version::new(2, 1)),
        ]
    );
    // The peer downgrades to 2.5: accepted as 2.1 (the responder answers
    // a crossing offer).
    peer.send_version(Subtype::INFO, Version::new(2, 5));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::GotVersion)));
    peer.expect_version(Subtype::ACK, Version::new(2, 1));
    // An answer to the abandoned attempt is stale.
    peer.send_version(Subtype::ACK, Version::new(2, 1));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::GotVersion)));
    assert!(peer.receive().is_empty());
}

#[test]
fn no_common_version_fails() {
    let (mut peer, mut link) = link_with(LinkRole::Responder, TWO_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(0, 9));
    let failure = HandshakeFailure::NoCommonVersion {
        peer: Version::new(0, 9),
    };
    assert_eq!(link.poll(), Err(LinkError::Failed(failure)));
    peer.expect_version(Subtype::NACK, Version::new(0, 0));
    // A counter-offer no lower than what we proposed ends it too.
    let (mut peer, mut link) = started(LinkRole::Initiator, TWO_VERSIONS);
    peer.send_version(Subtype::NACK, Version::new(2, 0));
    assert_eq!(
        link.poll(),
        Err(LinkError::Failed(HandshakeFailure::NoCommonVersion {
            peer: Version::new(2, 0)
        }))
    );
}

#[test]
fn nack_zero_fails_until_restart() {
    let (mut peer, mut link) = started(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::NACK, Version::new(0, 0));
    let failed = Err(LinkError::Failed(HandshakeFailure::VersionRejected));
    assert_eq!(link.poll(), failed);
    assert_eq!(link.poll(), failed);
    assert_eq!(
        link.send(b"x"),
        Err(LinkError::Failed(HandshakeFailure::VersionRejected))
    );
    assert!(matches!(link.state(), LinkState::Failed(_)));
    assert_eq!(link.restart(), Ok(()));
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    assert!(peer.receive().iter().any(Packet::is_version_info));
}

#[test]
fn mode_mismatch_fails_in_both_directions() {
    let mismatch = Err(LinkError::Failed(HandshakeFailure::ModeMismatch {
        local: LDC_MODE_STREAM,
        peer: LDC_MODE_UNRELIABLE,
    }));
    // The peer's RTS names another mode: NACK it, fail.
    let (mut peer, mut link) = link_with(LinkRole::Responder, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    link.poll().expect("answers");
    peer.receive();
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_UNRELIABLE, 0, 0);
    assert_eq!(link.poll(), mismatch);
    // Not final (a damaged RTS looks the same): reset, and a new attempt.
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    let nack = peer.receive();
    assert_eq!(
        (nack[0].subtype, nack[0].control, nack[0].env),
        (
            Subtype::NACK,
            Some(ControlMessage::ReadyToSend),
            LDC_MODE_STREAM
        )
    );
    assert_eq!(link.state(), handshake(HandshakeState::SentVersion));
    assert!(nack[1..].iter().any(Packet::is_version_info));
    // The peer's RTR names another mode.
    let (mut peer, mut link) = sent_rts();
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_UNRELIABLE, 0, 0);
    assert_eq!(link.poll(), mismatch);
    assert_eq!(peer.receive()[0].subtype, Subtype::NACK);
    // The peer refuses our RTS.
    let (mut peer, mut link) = sent_rts();
    peer.send(Packet::control(
        Subtype::NACK,
        ControlMessage::ReadyToSend,
        LDC_MODE_UNRELIABLE,
        0,
        0,
    ));
    assert_eq!(link.poll(), mismatch);
}

#[test]
fn crossing_version_infos_follow_the_role() {
    // Initiator: keeps its attempt, ignores the peer's.
    let (mut peer, mut link) = started(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    assert!(peer.receive().is_empty());
    peer.send_version(Subtype::ACK, Version::new(1, 0));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRts)));
    // Responder: abandons its attempt, answers the peer's.
    let (mut peer, mut link) = started(LinkRole::Responder, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::GotVersion)));
    peer.expect_version(Subtype::ACK, Version::new(1, 0));
}

#[test]
fn crossing_rts_follows_the_role() {
    fn to_sent_rts(role: LinkRole) -> (ScriptedPeer, SimLink) {
        let (mut peer, mut link) = started(role, ldmig_hv::ldc::LINK_VERSIONS);
        peer.send_version(Subtype::ACK, Version::new(1, 0));
        assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRts)));
        peer.receive();
        (peer, link)
    }
    // Initiator: ignores the peer's RTS, completes on the RTR to its own.
    let (mut peer, mut link) = to_sent_rts(LinkRole::Initiator);
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRts)));
    assert!(peer.receive().is_empty());
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(LinkState::Connected));
    // Responder: answers the peer's RTS, ignores the RTR to its own.
    let (mut peer, mut link) = to_sent_rts(LinkRole::Responder);
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRtr)));
    assert_eq!(
        peer.receive()[0].control,
        Some(ControlMessage::ReadyToReceive)
    );
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentRtr)));
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 1, 0);
    assert_eq!(link.poll(), Ok(LinkState::Connected));
}

#[test]
fn stale_handshake_packets_are_ignored() {
    let (mut peer, mut link) = started(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 1, 0);
    peer.send(Packet::data_fragment(1, true, true, b"old"));
    peer.send(Packet::data_ack(5, 5));
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    assert!(peer.receive().is_empty());
    // In GotVersion: an RTR or RDX nobody asked for.
    let (mut peer, mut link) = link_with(LinkRole::Responder, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    link.poll().expect("answers");
    peer.receive();
    peer.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 1, 0);
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::GotVersion)));
    assert!(peer.receive().is_empty());
}

#[test]
fn protocol_violations_in_the_handshake_reset_the_link() {
    // A malformed packet.
    let (mut peer, mut link) = started(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    let mut garbage = Packet::version_message(Subtype::ACK, Version::new(1, 0)).encode();
    garbage[0] = 0x33;
    peer.send_raw(garbage);
    // Silent while not connected; the peer sees RESET; a new attempt starts.
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    assert!(peer.receive().iter().any(Packet::is_version_info));
    assert_eq!(link.statistics().resets, 1);
    // An ACK for a version never proposed.
    peer.send_version(Subtype::ACK, Version::new(7, 0));
    link.poll().expect("resets and restarts");
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    assert_eq!(link.statistics().resets, 2);
    // An RDX with the wrong sequence id.
    let (mut peer, mut link) = link_with(LinkRole::Responder, ldmig_hv::ldc::LINK_VERSIONS);
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    link.poll().expect("answers");
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    link.poll().expect("RTR");
    peer.receive();
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 5, 0);
    link.poll().expect("resets");
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    assert_eq!(link.state(), handshake(HandshakeState::SentVersion));
}

#[test]
fn peer_reset_and_restart_while_connected() {
    let (mut peer, mut link) = link_with(LinkRole::Initiator, ldmig_hv::ldc::LINK_VERSIONS);
    peer.accept_initiator(&mut link);
    link.send(b"in flight").expect("sent");
    // The peer starts over with VERS INFO: reset reported, answered.
    peer.send_version(Subtype::INFO, Version::new(1, 0));
    assert_eq!(
        link.poll(),
        Err(LinkError::Reset {
            cause: ResetCause::PeerRestarted,
            unacknowledged: 1
        })
    );
    assert_eq!(link.state(), handshake(HandshakeState::GotVersion));
    let sent = peer.receive();
    assert_eq!(
        sent.last(),
        Some(&Packet::version_message(Subtype::ACK, Version::new(1, 0)))
    );
    // Connected again, then the peer reconfigures its queues: RESET.
    peer.send_control(ControlMessage::ReadyToSend, LDC_MODE_STREAM, 0, 0);
    link.poll().expect("RTR");
    peer.send_control(ControlMessage::ReadyForDataExchange, 0, 1, 0);
    assert_eq!(link.poll(), Ok(LinkState::Connected));
    peer.reconfigure();
    assert_eq!(
        link.poll(),
        Err(LinkError::Reset {
            cause: ResetCause::ChannelReset,
            unacknowledged: 0
        })
    );
    // It restarted at once.
    assert_eq!(link.poll(), Ok(handshake(HandshakeState::SentVersion)));
}

/// How the handshake is interrupted in [`reset_at_each_handshake_step`].
#[derive(Clone, Copy, Debug)]
enum Interruption {
    /// The hypervisor resets the channel.
    ChannelReset,
    /// The peer restarts (reconfigures its queues).
    PeerRestart,
    /// The peer's domain goes away and a new one opens the channel.
    PeerVanishes,
    /// The peer's next packet arrives damaged.
    CorruptPacket,
}

#[test]
fn reset_at_each_handshake_step() {
    for interruption in [
        Interruption::ChannelReset,
        Interruption::PeerRestart,
        Interruption::PeerVanishes,
        Interruption::CorruptPacket,
    ] {
        // Steps: polls done before the interruption, alternating A, B. Six
        // polls complete the handshake (VERS, ACK, RTS, RTR, RDX, done).
        for step in 0..=7 {
            let (fabric, mut a, mut b) = default_links();
            for poll in 0..step {
                let _ = if poll % 2 == 0 { a.poll() } else { b.poll() };
            }
            match interruption {
                Interruption::ChannelReset => a.hypervisor().reset_channel(),
                Interruption::PeerRestart => b.restart().expect("restart"),
                Interruption::PeerVanishes => {
                    drop(b);
                    let _ = a.poll();
                    let endpoint = fabric
                        .attach(a.hypervisor().pair(), Side::B)
                        .expect("attach");
                    b = LdcLink::open(endpoint, config(B_CHANNEL, 128, 128, LinkRole::Responder))
                        .expect("reopens");
                }
                Interruption::CorruptPacket => b.hypervisor().inject(
                    crate::ldc::LdcFault::Corrupt(crate::ldc::PacketCorruption::Type),
                ),
            }
            connect(&mut a, &mut b);
            let context = format!("{interruption:?} after {step} polls");
            assert_eq!(exchange(&mut a, &mut b, b"after"), b"after", "{context}");
            assert_eq!(exchange(&mut b, &mut a, b"reset"), b"reset", "{context}");
        }
    }
}
