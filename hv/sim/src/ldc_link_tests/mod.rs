//! Whole-link tests over the simulated LDC: the handshake against a scripted
//! peer (every transition), the data phase's protocol rules, and two links
//! moving messages of every size under each injected fault.

mod connected;
mod faults;
mod handshake;
mod messages;
mod scripted_peer;

use crate::ldc::{LdcFabric, SimLdcEndpoint, SIM_MEMORY_BASE};
use ldmig_hv::ldc::{
    LdcLink, LinkConfig, LinkError, LinkRole, LinkState, QueueConfig, RetryPolicy,
};

/// Where every test link keeps its transmit queue (room for 256 entries).
const TX_RA: u64 = SIM_MEMORY_BASE;
/// Where every test link keeps its receive queue (room for 256 entries).
const RX_RA: u64 = SIM_MEMORY_BASE + 0x4000;
/// Channel numbers of the two sides.
const A_CHANNEL: u64 = 4;
const B_CHANNEL: u64 = 9;

type SimLink = LdcLink<SimLdcEndpoint>;

/// A link configuration with queues of the given sizes.
fn config(channel: u64, tx_entries: u64, rx_entries: u64, role: LinkRole) -> LinkConfig {
    let mut config = LinkConfig::new(
        channel,
        QueueConfig {
            ra: TX_RA,
            entries: tx_entries,
        },
        QueueConfig {
            ra: RX_RA,
            entries: rx_entries,
        },
        role,
    );
    config.retry = RetryPolicy::new(4);
    config
}

/// A fabric with one pair, both endpoints.
fn endpoints() -> (LdcFabric, SimLdcEndpoint, SimLdcEndpoint) {
    let fabric = LdcFabric::new();
    let (a, b) = fabric
        .create_default_pair(A_CHANNEL, B_CHANNEL)
        .expect("pair");
    (fabric, a, b)
}

/// Two open links: A the initiator, B the responder.
fn links(a_config: LinkConfig, b_config: LinkConfig) -> (LdcFabric, SimLink, SimLink) {
    let (fabric, a, b) = endpoints();
    let a = LdcLink::open(a, a_config).expect("A opens");
    let b = LdcLink::open(b, b_config).expect("B opens");
    (fabric, a, b)
}

/// Two links with 128-entry queues.
fn default_links() -> (LdcFabric, SimLink, SimLink) {
    links(
        config(A_CHANNEL, 128, 128, LinkRole::Initiator),
        config(B_CHANNEL, 128, 128, LinkRole::Responder),
    )
}

/// Polls both links in turn until both are connected; panics after `rounds`.
fn connect(a: &mut SimLink, b: &mut SimLink) {
    for _ in 0..32 {
        // Resets are reported once; the links recover by themselves.
        let _ = a.poll();
        let _ = b.poll();
        if a.is_connected() && b.is_connected() {
            return;
        }
    }
    panic!("links did not connect: A {}, B {}", a.state(), b.state());
}

/// Sends `message` from `from` and returns what `to` receives; after a
/// reset (a fault still armed) it reconnects and sends again.
fn exchange(from: &mut SimLink, to: &mut SimLink, message: &[u8]) -> Vec<u8> {
    let mut buffer = [0u8; ldmig_hv::ldc::MAX_MESSAGE_SIZE];
    for _attempt in 0..4 {
        connect(from, to);
        if from.send(message).is_err() {
            continue;
        }
        for _ in 0..8 {
            match to.receive(&mut buffer) {
                Ok(Some(length)) => {
                    let _ = from.poll();
                    return buffer[..length].to_vec();
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
    panic!("message did not arrive");
}

/// An application moving `messages` from a sender link to a receiver link
/// in order, following the link's contract: after a reset it resends the
/// last `unacknowledged` messages, and the receiver skips duplicates of
/// messages it already has. Anything out of order or damaged panics.
struct Transfer<'m> {
    messages: &'m [Vec<u8>],
    /// Index of the next message to send.
    next: usize,
    /// Messages received in order.
    delivered: usize,
    duplicates: usize,
    resets: usize,
    queue_full: usize,
    timeouts: usize,
}

impl<'m> Transfer<'m> {
    fn new(messages: &'m [Vec<u8>]) -> Self {
        Transfer {
            messages,
            next: 0,
            delivered: 0,
            duplicates: 0,
            resets: 0,
            queue_full: 0,
            timeouts: 0,
        }
    }

    fn note(&mut self, result: Result<(), LinkError>) {
        match result {
            Ok(()) | Err(LinkError::NotConnected(_)) => {}
            Err(LinkError::Reset { unacknowledged, .. }) => {
                assert!(unacknowledged <= self.next, "more unacknowledged than sent");
                self.next -= unacknowledged;
                self.resets += 1;
            }
            Err(LinkError::QueueFull { .. }) => self.queue_full += 1,
            Err(LinkError::Timeout { .. }) => self.timeouts += 1,
            // A damaged RTS/RTR: reported, and the link starts over.
            Err(LinkError::Failed(failure)) if !failure.is_final() => self.resets += 1,
            Err(other) => panic!("sender: unexpected error: {other}"),
        }
    }

    /// The sender's turn: poll, then send the next message if connected.
    fn send_step(&mut self, sender: &mut SimLink) {
        let polled = sender.poll().map(drop);
        self.note(polled);
        if self.next < self.messages.len() && sender.is_connected() {
            match sender.send(&self.messages[self.next]) {
                Ok(()) => self.next += 1,
                Err(error) => self.note(Err(error)),
            }
        }
    }

    /// The receiver's turn: take what is complete.
    fn receive_step(&mut self, receiver: &mut SimLink) {
        let mut buffer = [0u8; ldmig_hv::ldc::MAX_MESSAGE_SIZE];
        loop {
            match receiver.receive(&mut buffer) {
                Ok(Some(length)) => self.arrived(&buffer[..length]),
                Ok(None)
                | Err(LinkError::Reset { .. })
                | Err(LinkError::NotConnected(_))
                | Err(LinkError::Timeout { .. }) => return,
                Err(LinkError::Failed(failure)) if !failure.is_final() => return,
                Err(other) => panic!("receiver: unexpected error: {other}"),
            }
        }
    }

    fn arrived(&mut self, message: &[u8]) {
        let expected = self.messages.get(self.delivered);
        if expected.is_some_and(|expected| expected.as_slice() == message) {
            self.delivered += 1;
        } else {
            assert!(
                self.messages[..self.delivered]
                    .iter()
                    .any(|earlier| earlier.as_slice() == message),
                "message {} out of order or damaged ({} bytes arrived)",
                self.delivered,
                message.len()
            );
            self.duplicates += 1;
        }
    }

    fn done(&self, sender: &SimLink) -> bool {
        self.delivered == self.messages.len()
            && self.next == self.messages.len()
            && sender.unacknowledged_messages() == 0
    }

    /// Runs until every message arrived and was acknowledged; `hook` runs
    /// at the start of each round (to inject faults). Panics after `rounds`.
    fn run(
        &mut self,
        sender: &mut SimLink,
        receiver: &mut SimLink,
        rounds: usize,
        mut hook: impl FnMut(usize, &Transfer<'_>, &mut SimLink, &mut SimLink),
    ) {
        for round in 0..rounds {
            hook(round, self, sender, receiver);
            self.send_step(sender);
            self.receive_step(receiver);
            if self.done(sender) {
                return;
            }
        }
        panic!(
            "transfer stuck: {}/{} delivered, next {}, sender {}, receiver {}",
            self.delivered,
            self.messages.len(),
            self.next,
            sender.state(),
            receiver.state()
        );
    }
}

/// Messages of distinct sizes with seeded random contents.
fn messages_of_sizes(sizes: &[usize], seed: u64) -> Vec<Vec<u8>> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    sizes
        .iter()
        .map(|&size| {
            let mut message = vec![0u8; size];
            rng.fill(&mut message);
            message
        })
        .collect()
}

/// Sizes from 1 byte to the maximum, around every fragment boundary.
const SIZES: &[usize] = &[
    1, 2, 47, 48, 49, 95, 96, 97, 500, 1000, 2047, 2048, 4000, 4095, 4096,
];

#[test]
fn open_checks_the_configuration_and_the_channel() {
    let (_fabric, a, _b) = endpoints();
    let mut bad = config(A_CHANNEL, 128, 128, LinkRole::Initiator);
    bad.tx_queue.entries = 100;
    assert!(matches!(LdcLink::open(a, bad), Err(LinkError::Config(_))));
    let (_fabric, a, _b) = endpoints();
    let wrong_channel = config(A_CHANNEL + 1, 128, 128, LinkRole::Initiator);
    assert_eq!(
        LdcLink::open(a, wrong_channel).err(),
        Some(LinkError::Hypervisor {
            call: ldmig_hv::ldc::LdcCall::TxQinfo,
            error: ldmig_hv::HvError::Channel
        })
    );
}

#[test]
fn links_connect_and_close() {
    let (_fabric, mut a, mut b) = default_links();
    // A opened first: B had no receive queue yet.
    assert_eq!(a.state(), LinkState::Down);
    assert_eq!(
        b.state(),
        LinkState::Handshake(ldmig_hv::ldc::HandshakeState::Open)
    );
    connect(&mut a, &mut b);
    assert_eq!(a.version(), Some(ldmig_hv::ldc::Version::new(1, 0)));
    assert_eq!(b.version(), Some(ldmig_hv::ldc::Version::new(1, 0)));
    assert_eq!(exchange(&mut a, &mut b, b"ping"), b"ping");
    assert_eq!(exchange(&mut b, &mut a, b"pong"), b"pong");
    let (endpoint, result) = b.close();
    assert_eq!(result, Ok(()));
    assert_eq!(
        a.poll(),
        Err(LinkError::Reset {
            cause: ldmig_hv::ldc::ResetCause::PeerDown,
            unacknowledged: 0
        })
    );
    assert_eq!(a.poll(), Ok(LinkState::Down));
    // The same endpoint opens again: the link comes back.
    let mut b =
        LdcLink::open(endpoint, config(B_CHANNEL, 128, 128, LinkRole::Responder)).expect("reopens");
    connect(&mut a, &mut b);
    assert_eq!(a.statistics().handshakes, 2);
}
