//! Sequence ids and acknowledgements of a connected link (Linux `ldc.c`
//! `rx_bad_seq`, `process_data_ack`, `send_data_ack`; `hv/REFERENCES.md`).
//!
//! Each direction numbers its packets: every packet sent after the handshake
//! (data, ACK, NACK, RDX) carries `snd_nxt + 1`. The receiver accepts only
//! `rcv_nxt + 1`. After each whole message the receiver sends DATA/ACK with
//! `ackid = rcv_nxt`, acknowledging every packet up to it. The sender keeps
//! the highest acknowledged id, and the last sequence id of each message in
//! flight, so that it knows how many messages a reset may have lost.
//! All arithmetic wraps at 2^32.

/// Messages that may be in flight (sent, not yet acknowledged) at once.
pub const MAX_MESSAGES_IN_FLIGHT: usize = 64;

/// Why an ACK was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnknownAck;

/// Sequence state of one link, reset with every handshake.
#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    /// Last sequence id sent.
    snd_nxt: u32,
    /// Last sequence id received in order.
    rcv_nxt: u32,
    /// Highest sequence id the peer acknowledged.
    acked: u32,
    /// Last sequence id of each unacknowledged message, oldest first
    /// (a ring of `count` entries from `first`).
    in_flight: [u32; MAX_MESSAGES_IN_FLIGHT],
    first: usize,
    count: usize,
}

impl Sequence {
    /// Everything at zero, nothing in flight.
    pub(crate) fn new() -> Self {
        Sequence {
            snd_nxt: 0,
            rcv_nxt: 0,
            acked: 0,
            in_flight: [0; MAX_MESSAGES_IN_FLIGHT],
            first: 0,
            count: 0,
        }
    }

    /// Last sequence id sent.
    #[cfg(test)]
    pub(crate) fn snd_nxt(&self) -> u32 {
        self.snd_nxt
    }

    /// Last sequence id received in order.
    pub(crate) fn rcv_nxt(&self) -> u32 {
        self.rcv_nxt
    }

    /// Sets both counters from the peer's RTS (the peer side of the handshake).
    pub(crate) fn start_from_rts(&mut self, seqid: u32) {
        self.snd_nxt = seqid;
        self.rcv_nxt = seqid;
        self.acked = seqid;
    }

    /// Our RTS goes out with seqid 0: we expect the peer's first packet at 1.
    pub(crate) fn start_with_rts(&mut self) {
        self.rcv_nxt = 0;
    }

    /// Sets the send counter from the peer's RTR (the initiator side).
    pub(crate) fn start_from_rtr(&mut self, seqid: u32) {
        self.snd_nxt = seqid;
        self.acked = seqid;
    }

    /// Counts every packet sent so far (the handshake's RDX) as
    /// acknowledged: only data holds transmit room.
    pub(crate) fn handshake_done(&mut self) {
        self.acked = self.snd_nxt;
    }

    /// Takes the next sequence id for a packet about to be sent.
    pub(crate) fn take_next(&mut self) -> u32 {
        self.snd_nxt = self.snd_nxt.wrapping_add(1);
        self.snd_nxt
    }

    /// The id the next packet will carry, without taking it.
    pub(crate) fn peek_next(&self) -> u32 {
        self.snd_nxt.wrapping_add(1)
    }

    /// Records one message whose last packet carries the current `snd_nxt`.
    pub(crate) fn message_sent(&mut self) {
        let slot = (self.first + self.count) % MAX_MESSAGES_IN_FLIGHT;
        self.in_flight[slot] = self.snd_nxt;
        self.count += 1;
    }

    /// Whether another message may be sent (the in-flight ring has room).
    pub(crate) fn can_send_message(&self) -> bool {
        self.count < MAX_MESSAGES_IN_FLIGHT
    }

    /// Messages sent and not yet acknowledged.
    pub(crate) fn unacknowledged_messages(&self) -> usize {
        self.count
    }

    /// Packets sent after the last acknowledged one; `None` when every data
    /// message is acknowledged (trailing ACK-only packets are never
    /// acknowledged on their own, so they hold no room).
    pub(crate) fn unacknowledged_packets(&self) -> Option<u64> {
        (self.count > 0).then(|| u64::from(self.snd_nxt.wrapping_sub(self.acked)))
    }

    /// Whether `seqid` is the next one expected; if so it becomes `rcv_nxt`.
    pub(crate) fn accept(&mut self, seqid: u32) -> bool {
        if seqid == self.rcv_nxt.wrapping_add(1) {
            self.rcv_nxt = seqid;
            true
        } else {
            false
        }
    }

    /// Rolls `rcv_nxt` back to just before `first_seqid` (the start of a
    /// partial message dropped after a bad sequence id).
    pub(crate) fn roll_back_to_before(&mut self, first_seqid: u32) {
        self.rcv_nxt = first_seqid.wrapping_sub(1);
    }

    /// Applies an ACK: every packet up to `ackid` is acknowledged. Refused
    /// when `ackid` is older than the last ACK or newer than anything sent.
    pub(crate) fn acknowledge(&mut self, ackid: u32) -> Result<(), UnknownAck> {
        let window = self.snd_nxt.wrapping_sub(self.acked);
        let advance = ackid.wrapping_sub(self.acked);
        if advance > window {
            return Err(UnknownAck);
        }
        while self.count > 0 {
            let end = self.in_flight[self.first];
            if end.wrapping_sub(self.acked) > advance {
                break;
            }
            self.first = (self.first + 1) % MAX_MESSAGES_IN_FLIGHT;
            self.count -= 1;
        }
        self.acked = ackid;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_message(sequence: &mut Sequence, packets: u32) -> u32 {
        for _ in 0..packets {
            sequence.take_next();
        }
        sequence.message_sent();
        sequence.snd_nxt()
    }

    #[test]
    fn acks_release_whole_messages() {
        let mut sequence = Sequence::new();
        sequence.start_from_rtr(0);
        let first_end = send_message(&mut sequence, 3);
        let second_end = send_message(&mut sequence, 2);
        assert_eq!((first_end, second_end), (3, 5));
        assert_eq!(sequence.unacknowledged_messages(), 2);
        assert_eq!(sequence.unacknowledged_packets(), Some(5));
        // An ACK in the middle of the second message releases only the first.
        assert_eq!(sequence.acknowledge(4), Ok(()));
        assert_eq!(sequence.unacknowledged_messages(), 1);
        assert_eq!(sequence.unacknowledged_packets(), Some(1));
        assert_eq!(sequence.acknowledge(5), Ok(()));
        assert_eq!(sequence.unacknowledged_packets(), None);
        // An ACK-only packet of ours, then the peer acknowledges it too.
        sequence.take_next();
        assert_eq!(sequence.acknowledge(6), Ok(()));
    }

    #[test]
    fn acks_outside_the_window_are_refused() {
        let mut sequence = Sequence::new();
        sequence.start_from_rtr(10);
        send_message(&mut sequence, 2);
        assert_eq!(sequence.acknowledge(13), Err(UnknownAck));
        assert_eq!(sequence.acknowledge(9), Err(UnknownAck));
        assert_eq!(sequence.acknowledge(12), Ok(()));
        assert_eq!(sequence.acknowledge(11), Err(UnknownAck));
    }

    #[test]
    fn ids_wrap_at_two_to_the_32() {
        let mut sequence = Sequence::new();
        sequence.start_from_rts(u32::MAX - 1);
        assert!(sequence.accept(u32::MAX));
        assert!(sequence.accept(0));
        assert!(!sequence.accept(0));
        let end = send_message(&mut sequence, 3);
        assert_eq!(end, 1);
        assert_eq!(sequence.acknowledge(1), Ok(()));
        assert_eq!(sequence.unacknowledged_messages(), 0);
        sequence.roll_back_to_before(0);
        assert_eq!(sequence.rcv_nxt(), u32::MAX);
    }

    #[test]
    fn in_flight_ring_is_bounded() {
        let mut sequence = Sequence::new();
        for _ in 0..MAX_MESSAGES_IN_FLIGHT {
            assert!(sequence.can_send_message());
            send_message(&mut sequence, 1);
        }
        assert!(!sequence.can_send_message());
        assert_eq!(sequence.acknowledge(2), Ok(()));
        assert_eq!(
            sequence.unacknowledged_messages(),
            MAX_MESSAGES_IN_FLIGHT - 2
        );
        assert!(sequence.can_send_message());
    }
}
