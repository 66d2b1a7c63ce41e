//! The shim-to-shim secure channel end to end: records of every size over
//! loopback TCP and an in-memory pipe, a wrong password, and a
//! man-in-the-middle that eavesdrops, flips a bit, replays, drops, inflates
//! or cuts records; plus the bandwidth cap.

use ldmig_shim::secure::handshake::{CONFIRMATION_LEN, HELLO_LEN};
use ldmig_shim::secure::{
    memory_duplex, ChannelError, CloneableStream, SecureChannel, Truncation, RECORD_HEADER_LEN,
};
use ldmig_sim::rng::{test_seed, SplitMix64};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const PASSWORD: &[u8] = b"correct horse battery staple";
/// Guards every blocking read so that a bug fails the test instead of
/// hanging it (generous: qemu-sparc64 is slow).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener")
}

fn address(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("listener address")
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect on loopback");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("read timeout");
    stream
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().expect("accept on loopback");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("read timeout");
    stream
}

/// Record sizes from 0 to 1 MiB: the edges around the tag and type byte,
/// page-sized ones, 1 MiB, and seeded random ones.
fn record_sizes(seed: u64) -> Vec<usize> {
    let mut sizes = vec![0, 1, 2, 15, 16, 17, 255, 8192, 65_535, 65_536, 1 << 20];
    let mut rng = SplitMix64::new(seed);
    for _ in 0..24 {
        sizes.push(rng.below(40_000) as usize);
    }
    sizes.push(200_000 + rng.below(100_000) as usize);
    sizes
}

fn payload(rng: &mut SplitMix64, size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    rng.fill(&mut bytes);
    bytes
}

/// The client sends every record from one thread and reads the echoes from
/// another (split halves); the server echoes each record, then both close.
fn echo_round_trip<S: CloneableStream + Send + 'static>(
    client: SecureChannel<S>,
    mut server: SecureChannel<S>,
    seed: u64,
) {
    let sizes = record_sizes(seed);
    let echo = thread::spawn(move || {
        let mut echoed = 0usize;
        while let Some(record) = server.receive_or_close().expect("server receive") {
            server.send(&record).expect("server echo");
            echoed += 1;
        }
        server.close().expect("server close");
        echoed
    });
    let (mut sender, mut receiver) = client.into_split().expect("split the client");
    let writer_sizes = sizes.clone();
    let writer = thread::spawn(move || {
        let mut rng = SplitMix64::new(seed);
        for size in writer_sizes {
            sender.send(&payload(&mut rng, size)).expect("client send");
        }
        sender.close().expect("client close");
        sender.records_sent()
    });
    let mut rng = SplitMix64::new(seed);
    for (index, size) in sizes.iter().enumerate() {
        let expected = payload(&mut rng, *size);
        let got = receiver.receive().expect("client receive");
        assert_eq!(got.len(), expected.len(), "record {index}: length");
        assert!(got == expected, "record {index} of {size} bytes differs");
    }
    assert!(
        matches!(receiver.receive_or_close(), Ok(None)),
        "the server closed in order"
    );
    let records_sent = writer.join().expect("client writer");
    assert_eq!(records_sent, sizes.len() as u64 + 1, "records and close");
    assert_eq!(echo.join().expect("server"), sizes.len());
}

#[test]
fn records_of_every_size_round_trip_over_loopback_tcp() {
    let seed = test_seed(0x5ec0_0001);
    let listener = listener();
    let target = address(&listener);
    let server = thread::spawn(move || {
        SecureChannel::accept(accept(&listener), PASSWORD).expect("server handshake")
    });
    let client = SecureChannel::connect(connect(target), PASSWORD).expect("client handshake");
    let server = server.join().expect("server thread");
    echo_round_trip(client, server, seed);
}

#[test]
fn records_of_every_size_round_trip_over_an_in_memory_pipe() {
    let seed = test_seed(0x5ec0_0002);
    let (left, mut right) = memory_duplex();
    right.set_read_timeout(Some(READ_TIMEOUT));
    let server =
        thread::spawn(move || SecureChannel::accept(right, PASSWORD).expect("server handshake"));
    let client = SecureChannel::connect(left, PASSWORD).expect("client handshake");
    let server = server.join().expect("server thread");
    echo_round_trip(client, server, seed);
}

#[test]
fn a_wrong_password_is_refused_on_both_sides() {
    let listener = listener();
    let target = address(&listener);
    let server =
        thread::spawn(move || SecureChannel::accept(accept(&listener), b"the right password"));
    let client = SecureChannel::connect(connect(target), b"a wrong password");
    let server = server.join().expect("server thread");
    for (side, result) in [("client", client.err()), ("server", server.err())] {
        let error = result.unwrap_or_else(|| panic!("{side}: handshake succeeded"));
        assert!(
            matches!(error, ChannelError::WrongPassword),
            "{side}: {error}"
        );
        assert!(error.to_string().contains("password"), "{side}: {error}");
    }
}

/// What the man in the middle does to the client-to-server records.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Forwards everything (and records it).
    Eavesdrop,
    /// Flips one bit of a record at a byte offset into it.
    FlipBit { record: usize, offset: usize },
    /// Sends a record twice.
    Replay { record: usize },
    /// Does not forward a record.
    Drop { record: usize },
    /// Replaces a record by a header announcing 4 GiB.
    Inflate { record: usize },
    /// Forwards the first bytes of a record, then ends the stream.
    CutInside { record: usize, keep: usize },
    /// Ends the stream just before a record.
    CutBefore { record: usize },
}

/// A loopback proxy between a client and `server`; every byte it sees both
/// ways lands in `transcript`.
struct ManInTheMiddle {
    address: SocketAddr,
    transcript: Arc<Mutex<Vec<u8>>>,
    _proxy: JoinHandle<()>,
}

impl ManInTheMiddle {
    fn start(server: SocketAddr, fault: Fault) -> Self {
        let listener = listener();
        let address = address(&listener);
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&transcript);
        let proxy = thread::spawn(move || {
            let client = accept(&listener);
            let server = connect(server);
            let (client_reader, server_writer) = (
                client.try_clone().expect("clone client"),
                server.try_clone().expect("clone server"),
            );
            let seen_back = Arc::clone(&seen);
            // An error only means that an end hung up (maybe with a reset):
            // the test reads the outcome at the ends. Either way the proxy
            // passes the end on, so that nobody waits for a dead peer.
            let backward = thread::spawn(move || {
                let _ = forward_raw(&server, &client, &seen_back);
                let _ = client.shutdown(Shutdown::Write);
            });
            let _ = forward_records(&client_reader, &server_writer, fault, &seen);
            let _ = server_writer.shutdown(Shutdown::Write);
            let _ = backward.join();
        });
        ManInTheMiddle {
            address,
            transcript,
            _proxy: proxy,
        }
    }

    fn transcript(&self) -> Vec<u8> {
        self.transcript.lock().expect("transcript lock").clone()
    }
}

fn forward_raw(mut from: &TcpStream, mut to: &TcpStream, seen: &Mutex<Vec<u8>>) -> io::Result<()> {
    let mut buffer = [0u8; 16 << 10];
    loop {
        let count = from.read(&mut buffer)?;
        if count == 0 {
            return Ok(());
        }
        seen.lock()
            .expect("transcript lock")
            .extend_from_slice(&buffer[..count]);
        to.write_all(&buffer[..count])?;
    }
}

/// Forwards the handshake untouched, then record by record, applying
/// `fault`, until the client's stream ends or the fault cuts it.
fn forward_records(
    mut from: &TcpStream,
    mut to: &TcpStream,
    fault: Fault,
    seen: &Mutex<Vec<u8>>,
) -> io::Result<()> {
    // The hello, then (after the peer's hello) the confirmation.
    for length in [HELLO_LEN, CONFIRMATION_LEN] {
        let mut message = vec![0u8; length];
        from.read_exact(&mut message)?;
        seen.lock()
            .expect("transcript lock")
            .extend_from_slice(&message);
        to.write_all(&message)?;
    }
    for index in 0usize.. {
        let mut record = vec![0u8; RECORD_HEADER_LEN];
        if let Err(error) = from.read_exact(&mut record) {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                break;
            }
            return Err(error);
        }
        let mut length = [0u8; 4];
        length.copy_from_slice(&record[..4]);
        record.resize(RECORD_HEADER_LEN + u32::from_be_bytes(length) as usize, 0);
        from.read_exact(&mut record[RECORD_HEADER_LEN..])?;
        seen.lock()
            .expect("transcript lock")
            .extend_from_slice(&record);
        match fault {
            Fault::FlipBit { record: at, offset } if at == index => {
                record[offset] ^= 0x04;
                to.write_all(&record)?;
            }
            Fault::Replay { record: at } if at == index => {
                to.write_all(&record)?;
                to.write_all(&record)?;
            }
            Fault::Drop { record: at } if at == index => {}
            Fault::Inflate { record: at } if at == index => {
                record[..4].copy_from_slice(&u32::MAX.to_be_bytes());
                to.write_all(&record[..RECORD_HEADER_LEN])?;
                break;
            }
            Fault::CutInside { record: at, keep } if at == index => {
                to.write_all(&record[..keep])?;
                break;
            }
            Fault::CutBefore { record: at } if at == index => break,
            _ => to.write_all(&record)?,
        }
    }
    Ok(())
}

/// The payloads the client sends through the proxy: short and distinct.
fn numbered_payload(index: usize) -> Vec<u8> {
    format!("page record number {index:04} of the migration stream").into_bytes()
}

/// Runs a client that sends `records` payloads and a close record through
/// a proxy with `fault`; returns what the server received before its error
/// (or `Ok` on a clean close), and the proxy's transcript.
fn through_man_in_the_middle(
    fault: Fault,
    records: usize,
) -> (Vec<Vec<u8>>, Result<(), ChannelError>, Vec<u8>) {
    let listener = listener();
    let middle = ManInTheMiddle::start(address(&listener), fault);
    let client_address = middle.address;
    let client = thread::spawn(move || {
        let mut channel =
            SecureChannel::connect(connect(client_address), PASSWORD).expect("client handshake");
        // The server may hang up at the fault; the client's own errors do
        // not matter to these tests.
        for index in 0..records {
            if channel.send(&numbered_payload(index)).is_err() {
                return;
            }
        }
        let _ = channel.close();
        // Hold the connection until the server has read everything.
        let _ = channel.receive_or_close();
    });
    let mut server = SecureChannel::accept(accept(&listener), PASSWORD).expect("server handshake");
    let mut received = Vec::new();
    let end = loop {
        match server.receive_or_close() {
            Ok(Some(payload)) => received.push(payload),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    drop(server);
    client.join().expect("client thread");
    (received, end, middle.transcript())
}

fn assert_first_records(received: &[Vec<u8>], count: usize) {
    assert_eq!(received.len(), count, "records delivered before the fault");
    for (index, payload) in received.iter().enumerate() {
        assert_eq!(payload, &numbered_payload(index), "record {index}");
    }
}

#[test]
fn an_eavesdropper_sees_neither_the_password_nor_the_data() {
    let (received, end, transcript) = through_man_in_the_middle(Fault::Eavesdrop, 4);
    end.expect("clean close through a passive proxy");
    assert_first_records(&received, 4);
    let contains = |needle: &[u8]| transcript.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(PASSWORD), "the password crossed the wire");
    let password_hash = Sha256::digest(PASSWORD);
    assert!(
        !contains(password_hash.as_slice()),
        "a hash of the password crossed the wire"
    );
    assert!(
        !contains(b"page record number"),
        "plaintext crossed the wire"
    );
    // Handshake both ways, then 4 records and the close record.
    assert!(transcript.len() > 2 * (HELLO_LEN + CONFIRMATION_LEN));
}

#[test]
fn a_flipped_bit_is_reported_as_tampering() {
    let fault = Fault::FlipBit {
        record: 2,
        offset: RECORD_HEADER_LEN + 5,
    };
    let (received, end, _) = through_man_in_the_middle(fault, 5);
    assert_first_records(&received, 2);
    let error = end.expect_err("a tampered stream");
    assert!(
        matches!(error, ChannelError::Tampered { sequence: 2 }),
        "{error}"
    );
    assert!(error.is_security_failure());
    assert!(error.to_string().contains("tampered"), "{error}");
}

#[test]
fn a_replayed_record_is_reported_as_a_replay() {
    let (received, end, _) = through_man_in_the_middle(Fault::Replay { record: 1 }, 4);
    assert_first_records(&received, 2);
    let error = end.expect_err("a replayed record");
    assert!(
        matches!(
            error,
            ChannelError::Replayed {
                sequence: 1,
                expected: 2
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("replayed"), "{error}");
}

#[test]
fn a_dropped_record_is_reported_as_out_of_order() {
    let (received, end, _) = through_man_in_the_middle(Fault::Drop { record: 1 }, 4);
    assert_first_records(&received, 1);
    let error = end.expect_err("a missing record");
    assert!(
        matches!(
            error,
            ChannelError::OutOfOrder {
                sequence: 2,
                expected: 1
            }
        ),
        "{error}"
    );
}

#[test]
fn an_inflated_length_is_refused_before_reading() {
    let (received, end, _) = through_man_in_the_middle(Fault::Inflate { record: 1 }, 3);
    assert_first_records(&received, 1);
    let error = end.expect_err("a 4 GiB record");
    assert!(
        matches!(
            error,
            ChannelError::RecordTooLong {
                length: u32::MAX,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_stream_cut_inside_a_record_is_truncated() {
    let fault = Fault::CutInside {
        record: 2,
        keep: 20,
    };
    let (received, end, _) = through_man_in_the_middle(fault, 4);
    assert_first_records(&received, 2);
    let error = end.expect_err("a cut stream");
    let record_len = RECORD_HEADER_LEN + numbered_payload(2).len() + 17;
    match error {
        ChannelError::Truncated(Truncation::MidRecord { received, expected }) => {
            assert_eq!((received, expected), (20, record_len));
        }
        other => panic!("expected a mid-record truncation, got {other}"),
    }
}

#[test]
fn a_stream_cut_between_records_without_close_is_truncated() {
    let (received, end, _) = through_man_in_the_middle(Fault::CutBefore { record: 3 }, 5);
    assert_first_records(&received, 3);
    let error = end.expect_err("a stream without its close record");
    assert!(
        matches!(
            error,
            ChannelError::Truncated(Truncation::WithoutClose {
                records_received: 3
            })
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("without the peer's close record"),
        "{error}"
    );
}

#[test]
fn the_bandwidth_cap_slows_the_sender() {
    let (left, mut right) = memory_duplex();
    right.set_read_timeout(Some(READ_TIMEOUT));
    let server =
        thread::spawn(move || SecureChannel::accept(right, PASSWORD).expect("server handshake"));
    let mut client = SecureChannel::connect(left, PASSWORD).expect("client handshake");
    let mut server = server.join().expect("server thread");

    // The bucket holds 0.1 s of the rate (6.4 KiB): a 64 KiB record at
    // 64 KiB/s runs it into debt on its own, however fast or slow the
    // machine, so the sender must wait (about 1 s) before it goes out. No
    // time is asserted: the count of held-back records is.
    let rate = NonZeroU64::new(64 << 10).expect("64 KiB/s");
    client.set_max_bandwidth(Some(rate));
    assert_eq!(client.max_bandwidth(), Some(rate));
    let record = vec![0x5Au8; 64 << 10];
    assert_eq!(client.throttle_waits(), 0);
    client.send(&record).expect("capped send");
    assert_eq!(
        client.throttle_waits(),
        1,
        "the cap did not hold the record back"
    );
    client.set_max_bandwidth(None);
    client.send(&record).expect("uncapped send");
    assert_eq!(client.throttle_waits(), 1, "no cap, no wait");
    client.close().expect("close");
    for _ in 0..2 {
        assert_eq!(server.receive().expect("receive").len(), record.len());
    }
    assert!(matches!(server.receive_or_close(), Ok(None)));
}
