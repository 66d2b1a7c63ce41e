//! The shim's end of a machine's serial line: the TCP character device
//! QEMU puts behind the machine's UART (`-serial tcp:HOST:PORT,server=on`),
//! as a non-blocking [`SerialLine`].

use ldmig::serial_link::{LineError, SerialLine};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A connected, non-blocking TCP stream to a UART's character device.
#[derive(Debug)]
pub struct TcpLine {
    stream: TcpStream,
}

impl TcpLine {
    /// Connects to `address`, trying again until `patience` ran out (the
    /// machine may still be starting).
    pub fn connect(address: &str, patience: Duration) -> Result<TcpLine, String> {
        let deadline = Instant::now() + patience;
        loop {
            match TcpStream::connect(address) {
                Ok(stream) => {
                    return TcpLine::from_stream(stream)
                        .map_err(|error| format!("the serial line {address}: {error}"));
                }
                Err(error) if Instant::now() >= deadline => {
                    return Err(format!("cannot reach the serial line {address}: {error}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl TcpLine {
    /// A connected stream as a line (made non-blocking).
    pub fn from_stream(stream: TcpStream) -> std::io::Result<TcpLine> {
        let _ = stream.set_nodelay(true);
        stream.set_nonblocking(true)?;
        Ok(TcpLine { stream })
    }
}

fn line_error(error: &std::io::Error) -> LineError {
    match error.kind() {
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            LineError::Closed
        }
        _ => LineError::Device(error.raw_os_error().unwrap_or(0) as u64),
    }
}

/// What a non-blocking read or write of `asked` bytes did, as the line
/// reports it: 0 when the stream would block, `Closed` when it moved
/// nothing of a non-empty buffer (end of stream).
fn moved(result: std::io::Result<usize>, asked: usize) -> Result<usize, LineError> {
    match result {
        Ok(0) if asked > 0 => Err(LineError::Closed),
        Ok(count) => Ok(count),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            Ok(0)
        }
        Err(error) => Err(line_error(&error)),
    }
}

impl SerialLine for TcpLine {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, LineError> {
        moved(self.stream.write(bytes), bytes.len())
    }

    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, LineError> {
        moved(self.stream.read(buffer), buffer.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn bytes_cross_and_a_closed_peer_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("bound").to_string();
        let mut line = TcpLine::connect(&address, Duration::from_secs(5)).expect("connects");
        let (mut peer, _) = listener.accept().expect("accepted");
        let mut buffer = [0u8; 16];
        assert_eq!(line.read(&mut buffer), Ok(0), "nothing yet");
        assert_eq!(line.write(b"ping"), Ok(4));
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"ping");
        peer.write_all(b"pong").expect("write");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut count = 0;
        while count == 0 && Instant::now() < deadline {
            count = line.read(&mut buffer).expect("readable");
        }
        assert_eq!(&buffer[..count], b"pong");
        drop(peer);
        let mut result = Ok(0);
        while result == Ok(0) && Instant::now() < deadline {
            result = line.read(&mut buffer);
        }
        assert_eq!(result, Err(LineError::Closed));
    }

    #[test]
    fn nobody_listening_is_an_error_after_the_patience() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("bound").to_string();
        drop(listener);
        let error = TcpLine::connect(&address, Duration::from_millis(200)).expect_err("refused");
        assert!(error.contains("cannot reach the serial line"), "{error}");
    }
}
