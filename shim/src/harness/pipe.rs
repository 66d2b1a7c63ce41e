//! An in-memory link between two engines with a bandwidth, a latency and a
//! window, on the harness's clock (virtual or real), plus injected faults.

use ldmig::transport::{Transport, TransportError};
use ldmig::wire::frame::{seal_frame, Frame, FrameType, FRAME_HEADER_BYTES};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// How the simulated link behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkModel {
    /// Bytes per second each way (0 = unlimited).
    pub bytes_per_second: u64,
    /// One-way latency.
    pub latency_ns: u64,
    /// Bytes that may be in flight each way before `send` says "not now".
    pub window_bytes: u64,
}

impl LinkModel {
    /// 10 GbE-like: 1.25 GB/s, 50 µs, 4 MiB window.
    pub const TEN_GBE: LinkModel = LinkModel {
        bytes_per_second: 1_250_000_000,
        latency_ns: 50_000,
        window_bytes: 4 << 20,
    };
    /// 1 GbE-like: 125 MB/s, 100 µs, 2 MiB window.
    pub const ONE_GBE: LinkModel = LinkModel {
        bytes_per_second: 125_000_000,
        latency_ns: 100_000,
        window_bytes: 2 << 20,
    };
}

/// A fault to inject into one direction of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkFault {
    /// The link goes down after this many frames were accepted (both ways).
    DisconnectAfterFrames(u64),
    /// Flip one bit of the n-th frame accepted in this direction, at the
    /// given byte offset (wrapped to the frame).
    CorruptFrame {
        /// Frame index in this direction.
        frame: u64,
        /// Byte offset.
        offset: usize,
    },
    /// Drop every frame from the n-th on, silently (a peer that vanished).
    SwallowFrom(u64),
    /// Hold back every run of page frames and let it go in reverse order,
    /// renumbered (sequence and CRC sealed anew), when the next frame of
    /// another type comes: what a source whose workers finished the
    /// batches of each run in reverse order would send. Every record of a
    /// round then reaches the target in another order than it was read.
    ReversePageFrames,
}

#[derive(Debug, Default)]
struct Direction {
    queue: VecDeque<(u64, Vec<u8>)>,
    in_flight: u64,
    wire_free_at: u64,
    frames: u64,
    faults: Vec<LinkFault>,
    /// Page frames held back by [`LinkFault::ReversePageFrames`].
    held: Vec<Vec<u8>>,
    /// Sends from this end fail (the link broke in this direction).
    refused: bool,
}

#[derive(Debug)]
struct Link {
    model: LinkModel,
    now_ns: u64,
    down: bool,
    directions: [Direction; 2],
}

impl Direction {
    /// Takes the wire for `length` bytes after what is on it; returns when
    /// they arrive.
    fn occupy(&mut self, model: LinkModel, now: u64, length: usize) -> u64 {
        let wire_ns = if model.bytes_per_second == 0 {
            0
        } else {
            (u128::from(length as u64) * 1_000_000_000 / u128::from(model.bytes_per_second)) as u64
        };
        let start = self.wire_free_at.max(now);
        self.wire_free_at = start + wire_ns;
        start + wire_ns + model.latency_ns
    }

    /// Puts `bytes` on the wire after what is on it.
    fn enqueue(&mut self, model: LinkModel, now: u64, bytes: Vec<u8>) {
        let due = self.occupy(model, now, bytes.len());
        self.in_flight += bytes.len() as u64;
        self.queue.push_back((due, bytes));
    }
}

/// Sends the page frames held back, last first, numbered from the first's
/// sequence number on.
fn release_reversed(direction: &mut Direction, model: LinkModel, now: u64) {
    let held = core::mem::take(&mut direction.held);
    let Some(first) = held.first().and_then(|frame| Frame::peek(frame).ok()) else {
        return;
    };
    for (offset, mut frame) in held.into_iter().rev().enumerate() {
        let payload_len = frame.len().saturating_sub(FRAME_HEADER_BYTES);
        seal_frame(
            &mut frame,
            FrameType::Pages,
            first.1 + offset as u64,
            payload_len,
        );
        direction.enqueue(model, now, frame);
    }
}

/// The shared link; set its time with [`LinkClock::set_now`].
#[derive(Clone, Debug)]
pub struct LinkClock(Arc<Mutex<Link>>);

impl LinkClock {
    fn lock(&self) -> MutexGuard<'_, Link> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the link's clock to `now_ns` (never backwards).
    pub fn set_now(&self, now_ns: u64) {
        let mut link = self.lock();
        link.now_ns = link.now_ns.max(now_ns);
    }

    /// Injects `fault` into the direction from end `from` (0 = first end).
    pub fn inject(&self, from: usize, fault: LinkFault) {
        self.lock().directions[from & 1].faults.push(fault);
    }

    /// Silently drops every later frame from end `from` (a peer whose
    /// answers stop arriving).
    pub fn swallow_from_now(&self, from: usize) {
        let mut link = self.lock();
        let direction = &mut link.directions[from & 1];
        let next = direction.frames;
        direction.faults.push(LinkFault::SwallowFrom(next));
    }

    /// Makes every later send from end `from` fail with
    /// [`TransportError::Disconnected`]; the other direction still works.
    pub fn refuse_sends_from_now(&self, from: usize) {
        self.lock().directions[from & 1].refused = true;
    }

    /// Takes the link down now.
    pub fn disconnect(&self) {
        self.lock().down = true;
    }

    /// Frames accepted so far from end `from`.
    pub fn frames_sent(&self, from: usize) -> u64 {
        self.lock().directions[from & 1].frames
    }
}

/// One end of an in-memory link.
#[derive(Debug)]
pub struct PipeEnd {
    link: LinkClock,
    side: usize,
}

/// Two connected ends and the clock that drives them.
pub fn pipe(model: LinkModel) -> (PipeEnd, PipeEnd, LinkClock) {
    let link = LinkClock(Arc::new(Mutex::new(Link {
        model,
        now_ns: 0,
        down: false,
        directions: [Direction::default(), Direction::default()],
    })));
    (
        PipeEnd {
            link: link.clone(),
            side: 0,
        },
        PipeEnd {
            link: link.clone(),
            side: 1,
        },
        link,
    )
}

impl Transport for PipeEnd {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        let mut guard = self.link.lock();
        let link = &mut *guard;
        if link.down {
            return Err(TransportError::Disconnected);
        }
        let now = link.now_ns;
        let model = link.model;
        let direction = &mut link.directions[self.side];
        if direction.refused {
            return Err(TransportError::Disconnected);
        }
        if direction.in_flight > 0 && direction.in_flight + frame.len() as u64 > model.window_bytes
        {
            return Ok(false);
        }
        let index = direction.frames;
        direction.frames += 1;
        let mut bytes = frame.to_vec();
        let mut swallow = false;
        let mut disconnect = false;
        for fault in &direction.faults {
            match *fault {
                LinkFault::CorruptFrame { frame, offset }
                    if frame == index && !bytes.is_empty() =>
                {
                    let at = offset % bytes.len();
                    bytes[at] ^= 0x10;
                }
                LinkFault::SwallowFrom(first) if index >= first => swallow = true,
                LinkFault::DisconnectAfterFrames(count) if index + 1 >= count => disconnect = true,
                _ => {}
            }
        }
        if !swallow {
            let reversing = direction.faults.contains(&LinkFault::ReversePageFrames);
            match Frame::peek(&bytes) {
                Ok((FrameType::Pages, _, _)) if reversing => direction.held.push(bytes),
                _ => {
                    release_reversed(direction, model, now);
                    direction.enqueue(model, now, bytes);
                }
            }
        } else {
            // A swallowed frame still took its time on the wire.
            direction.occupy(model, now, bytes.len());
        }
        if disconnect {
            link.down = true;
        }
        Ok(true)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let mut guard = self.link.lock();
        let link = &mut *guard;
        let now = link.now_ns;
        let down = link.down;
        let direction = &mut link.directions[1 - self.side];
        match direction.queue.front() {
            Some((due, bytes)) if *due <= now => {
                if bytes.len() > buffer.len() {
                    return Err(TransportError::FrameTooLarge {
                        size: bytes.len(),
                        capacity: buffer.len(),
                    });
                }
                let size = bytes.len();
                buffer[..size].copy_from_slice(bytes);
                direction.in_flight -= size as u64;
                direction.queue.pop_front();
                Ok(Some(size))
            }
            _ if down => Err(TransportError::Disconnected),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_in_order_after_wire_time_and_latency() {
        let model = LinkModel {
            bytes_per_second: 1_000_000,
            latency_ns: 1_000,
            window_bytes: 10_000,
        };
        let (mut left, mut right, clock) = pipe(model);
        assert_eq!(left.send(&[1; 1000]), Ok(true));
        assert_eq!(left.send(&[2; 1000]), Ok(true));
        let mut buffer = [0u8; 2000];
        assert_eq!(right.receive(&mut buffer), Ok(None));
        clock.set_now(1_001_000);
        assert_eq!(right.receive(&mut buffer), Ok(Some(1000)));
        assert_eq!(buffer[0], 1);
        assert_eq!(right.receive(&mut buffer), Ok(None));
        clock.set_now(2_001_000);
        assert_eq!(right.receive(&mut buffer), Ok(Some(1000)));
        assert_eq!(buffer[0], 2);
    }

    #[test]
    fn window_limits_in_flight_bytes() {
        let model = LinkModel {
            bytes_per_second: 0,
            latency_ns: 10,
            window_bytes: 1500,
        };
        let (mut left, mut right, clock) = pipe(model);
        assert_eq!(left.send(&[0; 1000]), Ok(true));
        assert_eq!(left.send(&[0; 1000]), Ok(false));
        clock.set_now(10);
        let mut buffer = [0u8; 1000];
        assert_eq!(right.receive(&mut buffer), Ok(Some(1000)));
        assert_eq!(left.send(&[0; 1000]), Ok(true));
        let mut small = [0u8; 10];
        clock.set_now(20);
        assert!(matches!(
            right.receive(&mut small),
            Err(TransportError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn faults_corrupt_swallow_and_disconnect() {
        let model = LinkModel {
            bytes_per_second: 0,
            latency_ns: 0,
            window_bytes: 1 << 20,
        };
        let (mut left, mut right, clock) = pipe(model);
        clock.inject(
            0,
            LinkFault::CorruptFrame {
                frame: 1,
                offset: 2,
            },
        );
        clock.inject(0, LinkFault::SwallowFrom(2));
        clock.inject(1, LinkFault::DisconnectAfterFrames(1));
        let mut buffer = [0u8; 8];
        for _ in 0..3 {
            assert_eq!(left.send(&[0; 4]), Ok(true));
        }
        assert_eq!(right.receive(&mut buffer), Ok(Some(4)));
        assert_eq!(right.receive(&mut buffer), Ok(Some(4)));
        assert_eq!(buffer[..4], [0, 0, 0x10, 0]);
        assert_eq!(right.receive(&mut buffer), Ok(None));
        assert_eq!(right.send(&[1]), Ok(true));
        assert_eq!(left.send(&[1]), Err(TransportError::Disconnected));
        assert_eq!(left.receive(&mut buffer), Ok(Some(1)));
        assert_eq!(left.receive(&mut buffer), Err(TransportError::Disconnected));
        assert_eq!(clock.frames_sent(0), 3);
    }

    #[test]
    fn page_frames_are_reversed_renumbered_and_resealed_up_to_the_next_other_frame() {
        let model = LinkModel {
            bytes_per_second: 0,
            latency_ns: 0,
            window_bytes: 1 << 20,
        };
        let (mut left, mut right, clock) = pipe(model);
        clock.inject(0, LinkFault::ReversePageFrames);
        let frame = |frame_type, sequence, fill: u8| {
            let mut bytes = vec![fill; FRAME_HEADER_BYTES + 8];
            seal_frame(&mut bytes, frame_type, sequence, 8);
            bytes
        };
        for (sequence, fill) in [(0, 1), (1, 2), (2, 3)] {
            assert_eq!(
                left.send(&frame(FrameType::Pages, sequence, fill)),
                Ok(true)
            );
        }
        let mut buffer = [0u8; 64];
        assert_eq!(right.receive(&mut buffer), Ok(None), "held back");
        assert_eq!(left.send(&frame(FrameType::RoundEnd, 3, 9)), Ok(true));
        let mut arrived = Vec::new();
        while let Ok(Some(size)) = right.receive(&mut buffer) {
            let (frame, _) = Frame::decode(&buffer[..size]).expect("sealed anew");
            arrived.push((frame.frame_type, frame.sequence, frame.payload[0]));
        }
        assert_eq!(
            arrived,
            vec![
                (FrameType::Pages, 0, 3),
                (FrameType::Pages, 1, 2),
                (FrameType::Pages, 2, 1),
                (FrameType::RoundEnd, 3, 9),
            ]
        );
    }
}
