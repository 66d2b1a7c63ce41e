//! The relay over a real loopback connection cut in the middle: every frame
//! reaches the other engine exactly once and in order, both ways, over the
//! resumed connection (authenticated afresh); a relay that may not resume
//! closes its engine's channel instead.

use super::*;
use crate::channel::frame_channel_with_room;
use crate::peer::{FRAME_HEADROOM, FRAME_TAILROOM};
use crate::secure::SecureChannel;
use ldmig::transport::Transport;
use std::net::TcpListener;
use std::sync::atomic::AtomicU32;

const PASSWORD: &[u8] = b"relay test password";
const FRAMES: u64 = 300;

/// A frame that says which one it is (and is no engine frame: the relay
/// does not read frames, except to spot a `Suspended` one).
fn frame(index: u64) -> Vec<u8> {
    let mut bytes = index.to_be_bytes().to_vec();
    bytes.resize(4096 + (index as usize % 7) * 100, (index % 251) as u8);
    bytes
}

/// Sends `FRAMES` frames on `end` while receiving the other side's, and
/// returns the indices received in order.
fn engine(mut end: ChannelEnd, cut_at: Option<(u64, TcpStream)>) -> Vec<u64> {
    let mut sent = 0;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 << 10];
    let mut cut = cut_at;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while (sent < FRAMES || (received.len() as u64) < FRAMES)
        && std::time::Instant::now() < deadline
    {
        if sent < FRAMES && end.send(&frame(sent)).unwrap_or(false) {
            sent += 1;
            if let Some((at, stream)) = cut.take() {
                if sent == at {
                    // The network fails under both relays.
                    let _ = stream.shutdown(Shutdown::Both);
                } else {
                    cut = Some((at, stream));
                }
            }
        }
        match end.receive(&mut buffer) {
            Ok(Some(length)) => {
                let index = u64::from_be_bytes(buffer[..8].try_into().unwrap_or_default());
                assert_eq!(
                    &buffer[..length],
                    frame(index).as_slice(),
                    "frame {index} damaged"
                );
                received.push(index);
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(200)),
            Err(_) => break,
        }
    }
    received
}

/// Both sides of a relay pair over loopback; `resumable` gives them a
/// resume (the source dials the listener again; the target waits).
struct Pair {
    source: (PeerRelay, ChannelEnd, ChannelEnd),
    target: (PeerRelay, ChannelEnd, ChannelEnd),
    /// A handle on the source's first connection, to cut it.
    first: TcpStream,
    resumes: Arc<AtomicU32>,
}

fn counting(resumes: &Arc<AtomicU32>) -> Box<dyn FnMut(ResumeEvent<'_>) + Send> {
    let resumes = resumes.clone();
    Box::new(move |event| {
        if let ResumeEvent::Resumed(_) = event {
            resumes.fetch_add(1, Ordering::SeqCst);
        }
    })
}

fn pair(resumable: bool) -> Pair {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let address = listener.local_addr().expect("address");
    let accepting = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let handle = stream.try_clone().expect("clone");
        let channel = SecureChannel::accept(stream, PASSWORD).expect("handshake");
        (channel, handle, listener)
    });
    let stream = TcpStream::connect(address).expect("connect");
    let first = stream.try_clone().expect("clone");
    let handle = stream.try_clone().expect("clone");
    let channel = SecureChannel::connect(stream, PASSWORD).expect("handshake");
    let (target_channel, target_handle, listener) = accepting.join().expect("accepted");
    let resumes = Arc::new(AtomicU32::new(0));
    let (source_resume, target_resume) = if resumable {
        let (waiting, returning) = mpsc::channel();
        // The target's listener: a returning source names its session.
        std::thread::spawn(move || {
            while let Ok((stream, _)) = listener.accept() {
                let handle = stream.try_clone().expect("clone");
                let Ok(mut channel) = SecureChannel::accept(stream, PASSWORD) else {
                    continue;
                };
                if let Some(PeerRecord::Message(PeerMessage::Resume {
                    session: 7,
                    received,
                })) = channel.receive().ok().and_then(decode)
                {
                    let _ = waiting.send(Returning {
                        channel,
                        stream: handle,
                        received,
                    });
                }
            }
        });
        (
            Resume {
                session: 7,
                reconnect: Reconnect::Dial {
                    dial: Box::new(move || {
                        let stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
                        let handle = stream.try_clone().map_err(|e| e.to_string())?;
                        let channel =
                            SecureChannel::connect(stream, PASSWORD).map_err(|e| e.to_string())?;
                        Ok((channel, handle))
                    }),
                    attempts: 3,
                    first_pause: Duration::from_millis(10),
                },
                on_event: counting(&resumes),
            },
            Resume {
                session: 7,
                reconnect: Reconnect::Await {
                    returning,
                    window: Duration::from_secs(60),
                },
                on_event: counting(&resumes),
            },
        )
    } else {
        (Resume::never(), Resume::never())
    };
    let side = |channel: SecureChannel<TcpStream>, handle: TcpStream, resume: Resume| {
        let (engine_end, relay_end) =
            frame_channel_with_room(1 << 20, FRAME_HEADROOM, FRAME_TAILROOM);
        let relay =
            PeerRelay::start(channel, handle, relay_end.clone(), resume, |_, _| {}).expect("split");
        (relay, engine_end, relay_end)
    };
    Pair {
        source: side(channel, handle, source_resume),
        target: side(target_channel, target_handle, target_resume),
        first,
        resumes,
    }
}

#[test]
fn a_cut_connection_resumes_and_every_frame_arrives_once_in_order() {
    let Pair {
        source,
        target,
        first,
        resumes,
    } = pair(true);
    let target_engine = spawn_engine(target.1.clone());
    let from_target = engine(source.1.clone(), Some((FRAMES / 3, first)));
    let from_source = target_engine.join().expect("target engine");
    let expected: Vec<u64> = (0..FRAMES).collect();
    assert_eq!(from_target, expected, "the source's engine got these");
    assert_eq!(from_source, expected, "the target's engine got these");
    assert!(
        resumes.load(Ordering::SeqCst) >= 2,
        "both sides resumed: {}",
        resumes.load(Ordering::SeqCst)
    );
    source.0.finish(&source.2);
    target.0.finish(&target.2);
}

#[test]
fn without_a_resume_a_cut_closes_the_engines_channel() {
    let Pair {
        source,
        target,
        first,
        resumes,
    } = pair(false);
    let _ = first.shutdown(Shutdown::Both);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(source.1.is_closed() && target.1.is_closed()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(source.1.is_closed() && target.1.is_closed());
    assert_eq!(resumes.load(Ordering::SeqCst), 0);
    source.0.finish(&source.2);
    target.0.finish(&target.2);
}

fn spawn_engine(end: ChannelEnd) -> JoinHandle<Vec<u64>> {
    std::thread::spawn(move || engine(end, None))
}
