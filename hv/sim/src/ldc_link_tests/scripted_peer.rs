//! A peer driven packet by packet by the test: raw queue calls on a
//! simulated endpoint, no link layer, so each handshake transition of the
//! link under test can be provoked and checked exactly.

use super::{endpoints, SimLink, A_CHANNEL, B_CHANNEL, RX_RA, TX_RA};
use crate::ldc::SimLdcEndpoint;
use ldmig_hv::abi::ldc::Subtype;
use ldmig_hv::abi::ldc::{LDC_MODE_STREAM, LDC_PACKET_SIZE};
use ldmig_hv::hypervisor::{Ldc, LdcChannelState, LocalMemory, LocalRegion};
use ldmig_hv::ldc::handshake::Version;
use ldmig_hv::ldc::packet::{ControlMessage, Packet};
use ldmig_hv::ldc::{LdcLink, LinkConfig};

/// Queue size of the scripted peer.
const ENTRIES: u64 = 64;

/// The test's hand on the other end of the channel.
pub(super) struct ScriptedPeer {
    endpoint: SimLdcEndpoint,
    tx: LocalRegion,
    rx: LocalRegion,
}

impl ScriptedPeer {
    /// Configures the peer's queues first, then opens the link under test
    /// (side A) with `config`.
    pub(super) fn with_link(config: LinkConfig) -> (ScriptedPeer, SimLink) {
        let (_fabric, a, b) = endpoints();
        let region = |ra| {
            b.local_region(ra, ENTRIES * 64)
                .expect("the peer's queues are its memory")
        };
        let (tx, rx) = (region(TX_RA), region(RX_RA));
        let mut peer = ScriptedPeer {
            endpoint: b,
            tx,
            rx,
        };
        peer.configure();
        let link = LdcLink::open(a, config).expect("link opens");
        (peer, link)
    }

    fn configure(&mut self) {
        self.endpoint
            .ldc_tx_qconf(B_CHANNEL, &self.tx, ENTRIES)
            .expect("peer TX");
        self.endpoint
            .ldc_rx_qconf(B_CHANNEL, &self.rx, ENTRIES)
            .expect("peer RX");
    }

    /// The peer resets its queues (the link sees RESET).
    pub(super) fn reconfigure(&mut self) {
        self.configure();
    }

    /// Sends one packet.
    pub(super) fn send(&mut self, packet: Packet) {
        self.send_raw(packet.encode());
    }

    /// Sends 64 raw bytes.
    pub(super) fn send_raw(&mut self, bytes: [u8; LDC_PACKET_SIZE]) {
        let state = self
            .endpoint
            .ldc_tx_get_state(B_CHANNEL)
            .expect("peer TX state");
        self.endpoint
            .local_write(&self.tx, state.tail, &bytes)
            .expect("peer TX memory");
        let tail = (state.tail + 64) % (ENTRIES * 64);
        self.endpoint
            .ldc_tx_set_qtail(B_CHANNEL, tail)
            .expect("peer publishes");
    }

    /// Takes every packet the link sent, decoded.
    pub(super) fn receive(&mut self) -> Vec<Packet> {
        let state = self
            .endpoint
            .ldc_rx_get_state(B_CHANNEL)
            .expect("peer RX state");
        let mut head = state.head;
        let mut packets = Vec::new();
        while head != state.tail {
            let mut bytes = [0u8; LDC_PACKET_SIZE];
            self.endpoint
                .local_read(&self.rx, head, &mut bytes)
                .expect("peer RX memory");
            packets.push(Packet::decode(&bytes).expect("the link sends valid packets"));
            head = (head + 64) % (ENTRIES * 64);
        }
        self.endpoint
            .ldc_rx_set_qhead(B_CHANNEL, state.tail)
            .expect("peer consumes");
        packets
    }

    /// Asserts that the link sent exactly one VERS packet: `subtype`,
    /// `version`.
    #[track_caller]
    pub(super) fn expect_version(&mut self, subtype: Subtype, version: Version) {
        assert_eq!(
            self.receive(),
            vec![Packet::version_message(subtype, version)]
        );
    }

    /// The channel state the peer reads (consumes a RESET).
    pub(super) fn channel_state(&mut self) -> LdcChannelState {
        self.endpoint
            .ldc_rx_get_state(B_CHANNEL)
            .expect("peer RX state")
            .state
    }

    /// Sends `VERS` with `subtype` and `version`.
    pub(super) fn send_version(&mut self, subtype: Subtype, version: Version) {
        self.send(Packet::version_message(subtype, version));
    }

    /// Sends RTS, RTR or RDX INFO.
    pub(super) fn send_control(
        &mut self,
        message: ControlMessage,
        env: u8,
        seqid: u32,
        ackid: u32,
    ) {
        self.send(Packet::control(Subtype::INFO, message, env, seqid, ackid));
    }

    /// Walks the link (which must have sent `VERS` INFO 1.0 as the
    /// initiator) to connected: ACK, RTR; returns the RDX's seqid.
    pub(super) fn accept_initiator(&mut self, link: &mut SimLink) -> u32 {
        let _ = link.poll();
        let sent = self.receive();
        assert!(sent.iter().any(Packet::is_version_info), "{sent:?}");
        self.send_version(Subtype::ACK, Version::new(1, 0));
        let _ = link.poll();
        let rts = self.receive();
        assert_eq!(rts.len(), 1);
        self.send_control(ControlMessage::ReadyToReceive, LDC_MODE_STREAM, 0, 0);
        let _ = link.poll();
        assert!(link.is_connected(), "{}", link.state());
        let rdx = self.receive();
        assert_eq!(rdx[0].control, Some(ControlMessage::ReadyForDataExchange));
        rdx[0].seqid
    }
}

/// The channel number of the link under test.
pub(super) const LINK_CHANNEL: u64 = A_CHANNEL;
