//! Two links moving messages without faults: every size, both directions,
//! queue wraparound with small queues, and two threads.

use super::{
    config, connect, default_links, links, messages_of_sizes, SimLink, Transfer, A_CHANNEL,
    B_CHANNEL, SIZES,
};
use ldmig_hv::ldc::handshake::LinkRole;
use ldmig_hv::ldc::{LinkError, MAX_MESSAGE_SIZE};

#[test]
fn every_size_arrives_intact_both_ways() {
    let (_fabric, mut a, mut b) = default_links();
    connect(&mut a, &mut b);
    let messages = messages_of_sizes(SIZES, 1);
    let mut forward = Transfer::new(&messages);
    forward.run(&mut a, &mut b, 200, |_, _, _, _| {});
    assert_eq!((forward.resets, forward.duplicates), (0, 0));
    let mut backward = Transfer::new(&messages);
    backward.run(&mut b, &mut a, 200, |_, _, _, _| {});
    assert_eq!(b.statistics().messages_sent, SIZES.len() as u64);
    assert_eq!(a.statistics().messages_received, SIZES.len() as u64);
    assert_eq!(a.statistics().acks_sent, SIZES.len() as u64);
}

#[test]
fn queues_wrap_around_many_times() {
    // Eight entries: seven packets, 336-byte messages at most.
    let (_fabric, mut a, mut b) = links(
        config(A_CHANNEL, 8, 8, LinkRole::Initiator),
        config(B_CHANNEL, 8, 8, LinkRole::Responder),
    );
    connect(&mut a, &mut b);
    assert_eq!(a.max_message_size(), 336);
    let sizes: Vec<usize> = (1..=336).step_by(7).chain([336]).collect();
    let messages = messages_of_sizes(&sizes, 2);
    let mut transfer = Transfer::new(&messages);
    transfer.run(&mut a, &mut b, 2000, |_, _, _, _| {});
    assert_eq!(transfer.resets, 0);
    // Far more packets than the queues hold: both wrapped many times.
    assert!(a.statistics().packets_sent > 20 * 8, "{:?}", a.statistics());
    assert!(b.statistics().packets_sent > 5 * 8, "ACKs wrap too");
}

#[test]
fn offsets_keep_wrapping_across_resets() {
    // The transmit queue restarts at its old tail after each reset.
    let (_fabric, mut a, mut b) = links(
        config(A_CHANNEL, 8, 8, LinkRole::Initiator),
        config(B_CHANNEL, 8, 8, LinkRole::Responder),
    );
    let messages = messages_of_sizes(&[5, 100, 200, 300], 3);
    for _ in 0..5 {
        connect(&mut a, &mut b);
        let mut transfer = Transfer::new(&messages);
        transfer.run(&mut a, &mut b, 200, |_, _, _, _| {});
        a.restart().expect("restart");
    }
    assert_eq!(a.statistics().resets, 5);
}

#[test]
fn traffic_flows_both_ways_at_once() {
    let (_fabric, mut a, mut b) = default_links();
    connect(&mut a, &mut b);
    let to_b = messages_of_sizes(&[10, 200, 3000, 48, 1, 4096, 700], 4);
    let to_a = messages_of_sizes(&[4096, 3, 96, 2500, 49, 600, 8], 5);
    let mut forward = Transfer::new(&to_b);
    let mut backward = Transfer::new(&to_a);
    for _ in 0..400 {
        forward.send_step(&mut a);
        backward.send_step(&mut b);
        forward.receive_step(&mut b);
        backward.receive_step(&mut a);
        if forward.done(&a) && backward.done(&b) {
            return;
        }
    }
    panic!("bidirectional transfer did not finish");
}

#[test]
fn links_work_from_two_threads() {
    // Neither side vanishes and no fault is injected, so no reset is
    // legitimate here: any error fails the test. The echo side keeps its
    // endpoint (its domain) until the main side has every echo: dropping it
    // earlier takes the channel DOWN, and the link rightly resets with the
    // echoes still unread in its queue (what made this test flaky when the
    // main thread was descheduled for a while).
    let (_fabric, mut a, mut b) = default_links();
    let messages = messages_of_sizes(&[1, 47, 48, 49, 500, 4096, 1234, 2], 6);
    let expected = messages.len();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let echo_finished = std::sync::Arc::clone(&finished);
    let echo = std::thread::spawn(move || {
        let mut buffer = [0u8; MAX_MESSAGE_SIZE];
        let mut echoed = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // Echo every message back, then keep polling (ACKs for the echoes
        // come in) until the main side has them all.
        while !echo_finished.load(std::sync::atomic::Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            if echoed == expected {
                if let Err(error) = b.poll() {
                    panic!("echo poll: {error}");
                }
                std::thread::yield_now();
                continue;
            }
            match b.receive(&mut buffer) {
                Ok(Some(length)) => loop {
                    match b.send(&buffer[..length]) {
                        Ok(()) => {
                            echoed += 1;
                            break;
                        }
                        Err(LinkError::QueueFull { .. }) => {
                            if let Err(error) = b.poll() {
                                panic!("echo poll: {error}");
                            }
                        }
                        Err(other) => panic!("echo send: {other}"),
                    }
                },
                Ok(None) | Err(LinkError::NotConnected(_)) => std::thread::yield_now(),
                Err(other) => panic!("echo receive: {other}"),
            }
        }
        (echoed, b)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut buffer = [0u8; MAX_MESSAGE_SIZE];
    let mut sent = 0;
    let mut received = 0;
    while received < messages.len() && std::time::Instant::now() < deadline {
        if sent < messages.len() && a.is_connected() {
            match a.send(&messages[sent]) {
                Ok(()) => sent += 1,
                Err(LinkError::QueueFull { .. }) => {}
                Err(other) => panic!("send: {other}"),
            }
        }
        match a.receive(&mut buffer) {
            Ok(Some(length)) => {
                assert_eq!(&buffer[..length], messages[received].as_slice());
                received += 1;
            }
            Ok(None) | Err(LinkError::NotConnected(_)) => std::thread::yield_now(),
            Err(other) => panic!("receive: {other}"),
        }
    }
    finished.store(true, std::sync::atomic::Ordering::Release);
    let (echoed, b) = echo.join().expect("echo thread");
    assert_eq!(received, messages.len(), "echoes arrived in time");
    assert_eq!(echoed, messages.len());
    // Both ends are still there: the echo side's endpoint goes away only now.
    assert!(a.is_connected() && b.is_connected());
}

#[test]
fn unacknowledged_messages_count_until_taken() {
    let (_fabric, mut a, mut b): (_, SimLink, SimLink) = default_links();
    connect(&mut a, &mut b);
    a.send(b"one").expect("sent");
    a.send(b"two").expect("sent");
    let _ = b.poll();
    let _ = a.poll();
    assert_eq!(a.unacknowledged_messages(), 2, "polled, not taken");
    let mut buffer = [0u8; 8];
    assert_eq!(b.receive(&mut buffer), Ok(Some(3)));
    let _ = a.poll();
    assert_eq!(a.unacknowledged_messages(), 1);
}
