//! Messages from 1 byte to the maximum arrive intact under each injected
//! fault, once the link has recovered (reset, re-handshake, the application
//! resends what was unacknowledged).
//!
//! The receiver's queue holds 31 packets, so a 4096-byte message (86
//! packets) arrives in several deliveries and a fault armed between two of
//! them hits the middle of the message.

use super::{
    config, connect, links, messages_of_sizes, SimLink, Transfer, A_CHANNEL, B_CHANNEL, SIZES,
};
use crate::ldc::{LdcFabric, LdcFault, PacketCorruption, Side};
use crate::rng::{test_seed, SplitMix64};
use ldmig_hv::ldc::handshake::LinkRole;
use ldmig_hv::ldc::LdcLink;

/// Sender A (128-entry queues), receiver B (31-packet receive queue).
fn fault_links() -> (LdcFabric, SimLink, SimLink) {
    let (fabric, mut a, mut b) = links(
        config(A_CHANNEL, 128, 128, LinkRole::Initiator),
        config(B_CHANNEL, 128, 32, LinkRole::Responder),
    );
    connect(&mut a, &mut b);
    (fabric, a, b)
}

/// Index of the largest message in `SIZES`.
fn largest() -> usize {
    SIZES.len() - 1
}

/// Transfers the whole size range (contents from `seed`) from A to B over
/// fresh [`fault_links`], `hook` run every round as in [`Transfer::run`];
/// `check` then gets the transfer and both links.
fn transfer_with(
    seed: u64,
    hook: impl FnMut(usize, &Transfer<'_>, &mut SimLink, &mut SimLink),
    check: impl FnOnce(&Transfer<'_>, &SimLink, &SimLink),
) {
    let (_fabric, mut a, mut b) = fault_links();
    let messages = messages_of_sizes(SIZES, seed);
    let mut transfer = Transfer::new(&messages);
    transfer.run(&mut a, &mut b, 1000, hook);
    check(&transfer, &a, &b);
}

/// [`transfer_with`], `calls` EWOULDBLOCKs armed on both ends in every
/// round `r` with `r % period == phase` (`every` is `(period, phase)`).
fn transfer_blocking(
    seed: u64,
    every: (usize, usize),
    calls: u32,
    check: impl FnOnce(&Transfer<'_>, &SimLink, &SimLink),
) {
    let (period, phase) = every;
    let hook = |round: usize, _: &Transfer<'_>, a: &mut SimLink, b: &mut SimLink| {
        if round % period == phase {
            a.hypervisor().inject(LdcFault::WouldBlock { calls });
            b.hypervisor().inject(LdcFault::WouldBlock { calls });
        }
    };
    transfer_with(seed, hook, check);
}

/// Runs the whole size range with `fault` armed on the sender once, right
/// after the largest message went out (so it lands inside it); returns the
/// transfer's counters (resets, duplicates).
fn transfer_with_fault_mid_message(fault: LdcFault) -> (usize, usize) {
    let mut armed = false;
    let mut counters = (0, 0);
    transfer_with(
        10,
        |_, transfer, a, _| {
            if !armed && transfer.next == largest() + 1 {
                a.hypervisor().inject(fault);
                armed = true;
            }
        },
        |transfer, _, _| counters = (transfer.resets, transfer.duplicates),
    );
    assert!(armed, "{fault:?} was armed");
    counters
}

#[test]
fn reset_mid_message() {
    for packets in [0, 1, 40, 85] {
        let mut armed = false;
        transfer_with(
            11,
            |_, transfer, a, _| {
                if !armed && transfer.next == largest() {
                    a.hypervisor().inject(LdcFault::ResetAfterPackets(packets));
                    armed = true;
                }
            },
            |transfer, _, _| {
                assert!(
                    transfer.resets >= 1,
                    "reset after {packets} packets was seen"
                );
            },
        );
    }
}

#[test]
fn corrupted_header_mid_message() {
    for corruption in [
        PacketCorruption::Type,
        PacketCorruption::SequenceId,
        PacketCorruption::Envelope,
    ] {
        let (resets, _) = transfer_with_fault_mid_message(LdcFault::Corrupt(corruption));
        assert!(resets >= 1, "{corruption:?} made the link reset");
    }
}

#[test]
fn out_of_sequence_mid_message() {
    let (resets, _) = transfer_with_fault_mid_message(LdcFault::OutOfSequence);
    assert!(resets >= 1, "the NACK made the sender reset");
}

#[test]
fn would_block_within_the_retry_policy_is_invisible() {
    // Policy: four attempts; three EWOULDBLOCKs are absorbed.
    transfer_blocking(12, (3, 0), 3, |transfer, a, b| {
        assert_eq!((transfer.resets, transfer.timeouts), (0, 0));
        assert!(a.statistics().would_block_retries > 0);
        assert!(b.statistics().would_block_retries > 0);
    });
}

#[test]
fn would_block_beyond_the_retry_policy_times_out_and_recovers() {
    transfer_blocking(13, (4, 1), 6, |transfer, _, _| {
        assert!(transfer.timeouts > 0, "the sender saw a typed timeout");
        assert_eq!(transfer.resets, 0, "a timeout loses nothing");
    });
}

#[test]
fn a_receive_queue_that_looks_full_holds_the_sender_back() {
    transfer_with(
        14,
        |round, _, _, b| {
            if round == 3 {
                b.hypervisor().set_rx_full(true);
            }
            if round == 40 {
                b.hypervisor().set_rx_full(false);
            }
        },
        |transfer, _, _| {
            assert!(transfer.queue_full > 0, "the sender met a full queue");
            assert_eq!(transfer.resets, 0);
        },
    );
}

#[test]
fn the_receiver_vanishes_and_comes_back() {
    let (fabric, mut a, b) = fault_links();
    let pair = a.hypervisor().pair();
    let messages = messages_of_sizes(SIZES, 15);
    let mut transfer = Transfer::new(&messages);
    let mut receiver = Some(b);
    let mut vanished_at = None;
    for round in 0..2000 {
        transfer.send_step(&mut a);
        if round > 2 && vanished_at.is_none() && transfer.next == largest() + 1 {
            // Gone in the middle of the largest message.
            receiver = None;
            vanished_at = Some(round);
        }
        if vanished_at.is_some_and(|at| round == at + 5) {
            let endpoint = fabric.attach(pair, Side::B).expect("a new receiver domain");
            let config = config(B_CHANNEL, 128, 32, LinkRole::Responder);
            receiver = Some(LdcLink::open(endpoint, config).expect("receiver reopens"));
        }
        if let Some(receiver) = receiver.as_mut() {
            transfer.receive_step(receiver);
        }
        if transfer.done(&a) {
            assert!(transfer.resets >= 1, "the sender saw the peer go down");
            return;
        }
    }
    panic!("transfer did not finish after the receiver came back");
}

#[test]
fn payload_corruption_is_left_to_the_layer_above() {
    // LDC carries no checksum: a damaged payload byte arrives as it is.
    let (_fabric, mut a, mut b) = fault_links();
    a.hypervisor()
        .inject(LdcFault::Corrupt(PacketCorruption::Payload));
    a.send(&[0x11; 8]).expect("sent");
    let mut buffer = [0u8; 8];
    let mut got = None;
    for _ in 0..4 {
        if let Some(length) = b.receive(&mut buffer).expect("receive") {
            got = Some(buffer[..length].to_vec());
            break;
        }
    }
    assert_eq!(
        got,
        Some(vec![0xee, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11])
    );
}

#[test]
fn random_faults_soak() {
    let seed = test_seed(0x1dc_50a6);
    let mut rng = SplitMix64::new(seed);
    let (fabric, mut a, mut b) = fault_links();
    let _ = fabric;
    // Distinct sizes, so every message is recognisable.
    let mut sizes: Vec<usize> = (0..40).map(|_| 1 + rng.index(4096)).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let messages = messages_of_sizes(&sizes, seed);
    let mut transfer = Transfer::new(&messages);
    transfer.run(&mut a, &mut b, 20_000, |_, _, a, b| {
        if !rng.chance(1, 12) {
            return;
        }
        let target = if rng.chance(1, 2) { &*a } else { &*b };
        let endpoint = target.hypervisor();
        match rng.below(7) {
            0 => endpoint.inject(LdcFault::ResetAfterPackets(rng.below_u32(90))),
            1 => endpoint.inject(LdcFault::WouldBlock {
                calls: rng.below_u32(8),
            }),
            2 => endpoint.inject(LdcFault::Corrupt(PacketCorruption::Type)),
            3 => endpoint.inject(LdcFault::Corrupt(PacketCorruption::SequenceId)),
            4 => endpoint.inject(LdcFault::Corrupt(PacketCorruption::Envelope)),
            5 => endpoint.inject(LdcFault::OutOfSequence),
            _ => endpoint.reset_channel(),
        }
    });
    println!(
        "seed {seed}: {} messages, {} resets, {} duplicates, {} timeouts",
        messages.len(),
        transfer.resets,
        transfer.duplicates,
        transfer.timeouts
    );
}
