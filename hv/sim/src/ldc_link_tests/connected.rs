//! The data phase against a scripted peer: sequence checks, NACK and flush,
//! ACK handling, fragment rules, and the errors of `send` and `receive`.

use super::scripted_peer::{ScriptedPeer, LINK_CHANNEL};
use super::{config, SimLink};
use ldmig_hv::abi::ldc::Subtype;
use ldmig_hv::hypervisor::LdcChannelState;
use ldmig_hv::ldc::fragment::FragmentError;
use ldmig_hv::ldc::handshake::LinkRole;
use ldmig_hv::ldc::packet::{Packet, PacketError, PacketType};
use ldmig_hv::ldc::{LinkError, LinkState, ResetCause, MAX_MESSAGES_IN_FLIGHT, MAX_MESSAGE_SIZE};

/// A connected link (the initiator) and its scripted peer; returns the
/// seqid the peer's next packet must carry.
fn connected(tx_entries: u64) -> (ScriptedPeer, SimLink, u32) {
    let (mut peer, mut link) =
        ScriptedPeer::with_link(config(LINK_CHANNEL, tx_entries, 64, LinkRole::Initiator));
    peer.accept_initiator(&mut link);
    (peer, link, 1)
}

fn reset(cause: ResetCause, unacknowledged: usize) -> Result<LinkState, LinkError> {
    Err(LinkError::Reset {
        cause,
        unacknowledged,
    })
}

#[test]
fn a_bad_sequence_id_is_nacked_and_flushed() {
    let (mut peer, mut link, seqid) = connected(64);
    // First fragment fine, then a gap: NACK with the last good id before
    // the partial message, and everything after it dropped.
    peer.send(Packet::data_fragment(seqid, true, false, &[1; 48]));
    peer.send(Packet::data_fragment(seqid + 2, false, true, &[2; 8]));
    peer.send(Packet::data_fragment(seqid + 3, true, true, &[3; 8]));
    assert_eq!(link.poll(), Ok(LinkState::Connected));
    let nack = peer.receive();
    assert_eq!(nack.len(), 1);
    assert_eq!(
        (nack[0].packet_type, nack[0].subtype),
        (PacketType::Data, Subtype::NACK)
    );
    // Our RDX was 1: the NACK is 2; rcv_nxt rolled back to before the partial message.
    assert_eq!((nack[0].seqid, nack[0].ackid), (2, seqid - 1));
    assert_eq!(link.statistics().nacks_sent, 1);
    let mut buffer = [0u8; 64];
    assert_eq!(link.receive(&mut buffer), Ok(None));
    // The peer may start over from the rolled-back id.
    peer.send(Packet::data_fragment(seqid, true, true, b"again"));
    assert_eq!(link.receive(&mut buffer), Ok(Some(5)));
}

#[test]
fn a_nack_resets_the_link() {
    let (mut peer, mut link, seqid) = connected(64);
    link.send(b"one").expect("sent");
    link.send(b"two").expect("sent");
    peer.receive();
    peer.send(Packet::nack(PacketType::Data, None, seqid, 1));
    assert_eq!(link.poll(), reset(ResetCause::NackReceived, 2));
    assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    assert_eq!(link.unacknowledged_messages(), 0);
}

#[test]
fn acks_must_name_a_sent_packet() {
    let (mut peer, mut link, seqid) = connected(64);
    link.send(b"one").expect("sent as 2");
    peer.send(Packet::data_ack(seqid, 7));
    assert_eq!(link.poll(), reset(ResetCause::UnknownAck { ackid: 7 }, 1));
}

#[test]
fn fragment_rules_and_bad_packets_reset_the_link() {
    let cases: [(Packet, ResetCause); 3] = [
        (
            Packet::data_fragment(1, false, true, b"no start"),
            ResetCause::Fragment(FragmentError::MissingStart),
        ),
        (
            Packet::nack(PacketType::Error, None, 1, 0),
            ResetCause::UnexpectedPacket,
        ),
        (
            Packet::control(
                Subtype::INFO,
                ldmig_hv::ldc::packet::ControlMessage::ReadyToSend,
                3,
                1,
                0,
            ),
            ResetCause::UnexpectedPacket,
        ),
    ];
    for (packet, cause) in cases {
        let (mut peer, mut link, _) = connected(64);
        peer.send(packet);
        assert_eq!(link.poll(), reset(cause, 0));
        assert_eq!(peer.channel_state(), LdcChannelState::Reset);
    }
    // START inside a message.
    let (mut peer, mut link, seqid) = connected(64);
    peer.send(Packet::data_fragment(seqid, true, false, &[0; 48]));
    peer.send(Packet::data_fragment(seqid + 1, true, true, &[0; 8]));
    assert_eq!(
        link.poll(),
        reset(ResetCause::Fragment(FragmentError::UnexpectedStart), 0)
    );
    // A length past the payload.
    let (mut peer, mut link, seqid) = connected(64);
    let mut bytes = Packet::data_fragment(seqid, true, true, &[0; 8]).encode();
    bytes[3] = 0xc0 | 50;
    peer.send_raw(bytes);
    assert_eq!(
        link.poll(),
        reset(
            ResetCause::MalformedPacket(PacketError::PayloadLength(0xc0 | 50)),
            0
        )
    );
    // A message longer than the maximum.
    let (mut peer, mut link, seqid) = connected(64);
    let chunk = [0u8; 48];
    peer.send(Packet::data_fragment(seqid, true, false, &chunk));
    let fragments = u32::try_from(MAX_MESSAGE_SIZE / 48).expect("a few dozen fragments");
    let mut result = Ok(LinkState::Connected);
    for index in 1..=fragments {
        peer.send(Packet::data_fragment(seqid + index, false, false, &chunk));
        result = link.poll();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        reset(ResetCause::Fragment(FragmentError::TooLong), 0)
    );
}

#[test]
fn send_and_receive_errors() {
    let (mut peer, mut link) =
        ScriptedPeer::with_link(config(LINK_CHANNEL, 8, 64, LinkRole::Initiator));
    assert_eq!(
        link.send(b"early"),
        Err(LinkError::NotConnected(link.state()))
    );
    let mut buffer = [0u8; 8];
    assert!(matches!(
        link.receive(&mut buffer),
        Err(LinkError::NotConnected(_))
    ));
    peer.accept_initiator(&mut link);
    assert_eq!(link.send(b""), Err(LinkError::EmptyMessage));
    // Eight entries hold seven packets: 336 bytes.
    assert_eq!(link.max_message_size(), 7 * 48);
    assert_eq!(
        link.send(&[0; 337]),
        Err(LinkError::MessageTooLarge {
            size: 337,
            max: 336
        })
    );
    link.send(&[1; 336]).expect("exactly the maximum");
    peer.send(Packet::data_fragment(1, true, true, &[9; 20]));
    let mut small = [0u8; 10];
    assert_eq!(
        link.receive(&mut small),
        Err(LinkError::BufferTooSmall {
            needed: 20,
            available: 10
        })
    );
    let mut big = [0u8; 32];
    assert_eq!(link.receive(&mut big), Ok(Some(20)));
}

#[test]
fn transmit_room_is_measured_against_acknowledged_packets() {
    // 16 entries: 15 packets may be unacknowledged, whatever the
    // hypervisor already delivered.
    let (mut peer, mut link, seqid) = connected(16);
    // The RDX (seqid 1) is acknowledged by nobody yet, but it is no data.
    for index in 0..15u8 {
        link.send(&[index]).expect("room");
    }
    assert_eq!(
        link.send(&[15]),
        Err(LinkError::QueueFull { needed: 1, free: 0 })
    );
    let sent = peer.receive();
    assert_eq!(sent.len(), 15, "all delivered, none acknowledged");
    // ACK the first three messages (seqids 2, 3, 4).
    peer.send(Packet::data_ack(seqid, 4));
    link.poll().expect("ACK");
    assert_eq!(link.unacknowledged_messages(), 12);
    for index in 0..3u8 {
        link.send(&[index]).expect("room again");
    }
    assert!(matches!(link.send(&[0]), Err(LinkError::QueueFull { .. })));
}

#[test]
fn messages_in_flight_are_bounded() {
    let (mut peer, mut link, seqid) = connected(128);
    for index in 0..MAX_MESSAGES_IN_FLIGHT {
        link.send(&[u8::try_from(index).expect("64 messages")])
            .expect("room");
    }
    assert_eq!(
        link.send(&[0]),
        Err(LinkError::QueueFull { needed: 1, free: 0 })
    );
    peer.receive();
    let in_flight = u32::try_from(MAX_MESSAGES_IN_FLIGHT).expect("64 messages");
    peer.send(Packet::data_ack(seqid, 1 + in_flight));
    link.poll().expect("ACK");
    assert_eq!(link.unacknowledged_messages(), 0);
    link.send(&[0]).expect("room again");
}

#[test]
fn one_message_waits_and_the_rest_stays_queued() {
    let (mut peer, mut link, seqid) = connected(64);
    peer.send(Packet::data_fragment(seqid, true, true, b"first"));
    peer.send(Packet::data_fragment(seqid + 1, true, true, b"second"));
    link.poll().expect("poll");
    link.poll().expect("poll again: nothing lost");
    assert!(
        peer.receive().is_empty(),
        "no ACK before the application takes it"
    );
    let mut buffer = [0u8; 16];
    assert_eq!(link.receive(&mut buffer), Ok(Some(5)));
    assert_eq!(&buffer[..5], b"first");
    assert_eq!(peer.receive(), vec![Packet::data_ack(2, seqid)]);
    assert_eq!(link.receive(&mut buffer), Ok(Some(6)));
    assert_eq!(&buffer[..6], b"second");
    assert_eq!(peer.receive(), vec![Packet::data_ack(3, seqid + 1)]);
    assert_eq!(link.receive(&mut buffer), Ok(None));
    assert_eq!(link.statistics().messages_received, 2);
}

#[test]
fn would_block_on_the_head_is_retried_then_times_out() {
    let (mut peer, mut link, seqid) = connected(64);
    // Three EWOULDBLOCKs fit in the policy of four attempts.
    peer.send(Packet::data_fragment(seqid, true, true, b"a"));
    link.hypervisor()
        .inject(crate::ldc::LdcFault::WouldBlock { calls: 3 });
    let mut buffer = [0u8; 8];
    assert_eq!(link.receive(&mut buffer), Ok(Some(1)));
    assert_eq!(link.statistics().would_block_retries, 3);
    // Four do not: a typed timeout, nothing lost, the next poll catches up.
    peer.send(Packet::data_fragment(seqid + 1, true, true, b"b"));
    peer.receive();
    link.hypervisor()
        .inject(crate::ldc::LdcFault::WouldBlock { calls: 4 });
    assert_eq!(
        link.poll(),
        Err(LinkError::Timeout {
            call: ldmig_hv::ldc::LdcCall::RxSetQhead,
            attempts: 4
        })
    );
    assert_eq!(link.receive(&mut buffer), Ok(Some(1)));
    assert_eq!(&buffer[..1], b"b");
}
