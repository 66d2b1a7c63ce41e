//! An in-memory duplex byte stream with TCP-like behaviour (blocking reads,
//! read timeouts, end of stream when every writer of a direction is gone,
//! `try_clone`), for running the secure channel in one process: tests and
//! in-process demos. Buffers are unbounded: writes never block.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One direction of the duplex: a byte queue and who may still use it.
#[derive(Default)]
struct Direction {
    state: Mutex<DirectionState>,
    readable: Condvar,
}

#[derive(Default)]
struct DirectionState {
    bytes: VecDeque<u8>,
    /// Handles that may still write into this direction.
    writers: usize,
    /// Handles that may still read from this direction.
    readers: usize,
}

impl Direction {
    fn lock(&self) -> MutexGuard<'_, DirectionState> {
        // A panic while holding the lock leaves the queue consistent (every
        // update is a single push or drain), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One end of an in-memory duplex made by [`memory_duplex`].
pub struct MemoryStream {
    incoming: Arc<Direction>,
    outgoing: Arc<Direction>,
    read_timeout: Option<Duration>,
    write_open: bool,
}

/// Two connected ends: what one writes, the other reads.
pub fn memory_duplex() -> (MemoryStream, MemoryStream) {
    let left_to_right = Arc::new(Direction::default());
    let right_to_left = Arc::new(Direction::default());
    for direction in [&left_to_right, &right_to_left] {
        let mut state = direction.lock();
        state.writers = 1;
        state.readers = 1;
    }
    let left = MemoryStream {
        incoming: Arc::clone(&right_to_left),
        outgoing: Arc::clone(&left_to_right),
        read_timeout: None,
        write_open: true,
    };
    let right = MemoryStream {
        incoming: left_to_right,
        outgoing: right_to_left,
        read_timeout: None,
        write_open: true,
    };
    (left, right)
}

impl MemoryStream {
    /// Sets how long a read waits for bytes before failing with
    /// `ErrorKind::WouldBlock` (as a `TcpStream` does on Unix); `None` waits
    /// forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Ends this handle's writing: once every handle of this end has shut
    /// down or been dropped, the peer reads end of stream.
    pub fn shutdown_write(&mut self) {
        if self.write_open {
            self.write_open = false;
            self.outgoing.lock().writers -= 1;
            self.outgoing.readable.notify_all();
        }
    }

    /// Another handle on the same end (like `TcpStream::try_clone`).
    pub fn try_clone(&self) -> io::Result<MemoryStream> {
        self.incoming.lock().readers += 1;
        if self.write_open {
            self.outgoing.lock().writers += 1;
        }
        Ok(MemoryStream {
            incoming: Arc::clone(&self.incoming),
            outgoing: Arc::clone(&self.outgoing),
            read_timeout: self.read_timeout,
            write_open: self.write_open,
        })
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let deadline = self.read_timeout.map(|timeout| Instant::now() + timeout);
        let mut state = self.incoming.lock();
        loop {
            if !state.bytes.is_empty() {
                let count = buffer.len().min(state.bytes.len());
                for (slot, byte) in buffer.iter_mut().zip(state.bytes.drain(..count)) {
                    *slot = byte;
                }
                return Ok(count);
            }
            if state.writers == 0 {
                return Ok(0);
            }
            state = match deadline {
                None => self
                    .incoming
                    .readable
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "memory stream read timed out",
                        ));
                    }
                    self.incoming
                        .readable
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl Write for MemoryStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.write_open {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "memory stream was shut down for writing",
            ));
        }
        let mut state = self.outgoing.lock();
        if state.readers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "memory stream peer is gone",
            ));
        }
        state.bytes.extend(bytes);
        drop(state);
        self.outgoing.readable.notify_all();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        self.shutdown_write();
        self.incoming.lock().readers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn bytes_cross_both_ways_in_order() {
        let (mut left, mut right) = memory_duplex();
        left.write_all(b"hello ").expect("write");
        left.write_all(b"right").expect("write");
        right.write_all(b"hi left").expect("write");
        let mut got = [0u8; 11];
        right.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hello right");
        let mut got = [0u8; 7];
        left.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hi left");
    }

    #[test]
    fn reader_blocks_until_a_writer_writes() {
        let (mut left, mut right) = memory_duplex();
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            left.write_all(b"late").expect("write");
            left
        });
        let mut got = [0u8; 4];
        right.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"late");
        drop(writer.join().expect("writer"));
    }

    #[test]
    fn end_of_stream_only_when_every_writer_is_gone() {
        let (mut left, mut right) = memory_duplex();
        let clone = left.try_clone().expect("clone");
        left.shutdown_write();
        right.set_read_timeout(Some(Duration::from_millis(10)));
        let mut byte = [0u8; 1];
        let error = right.read(&mut byte).expect_err("a clone still writes");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        drop(clone);
        assert_eq!(right.read(&mut byte).expect("eof"), 0);
        assert!(left.write_all(b"x").is_err(), "shut down for writing");
    }

    #[test]
    fn writing_to_a_dropped_peer_fails() {
        let (mut left, right) = memory_duplex();
        drop(right);
        let error = left.write_all(b"x").expect_err("peer gone");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }
}
