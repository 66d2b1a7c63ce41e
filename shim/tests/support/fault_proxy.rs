//! A fault proxy between two shims: it forwards the secure channel record
//! by record (after the handshake's fixed bytes) both ways, until the test
//! tells it to cut the connection (for good, or once: the network comes
//! back), stall it (forward nothing more, keep it
//! open), or damage the next record: flip a bit in it, send it twice, or
//! swap it with the one after it.

use ldmig_shim::secure::HANDSHAKE_LEN;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a record to be reordered waits for the one after it.
const REORDER_WAIT: Duration = Duration::from_secs(2);

/// What the proxy does with the records now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards them.
    Forward,
    /// Forwards nothing more; the connections stay open.
    Stalled,
    /// Closed every connection.
    Cut,
}

/// A damage to the next record (either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// One bit of its ciphertext flipped.
    Corrupt,
    /// Sent twice.
    Duplicate,
    /// Sent after the record that follows it (or, when none follows
    /// within two seconds, the connection cut there).
    Reorder,
}

#[derive(Debug)]
struct Control {
    mode: Mode,
    /// Records still forwarded before a stall (`None`: no stall coming).
    stall_after: Option<u64>,
    armed: Option<Damage>,
    /// Which bit a corruption flips (the seed's choice).
    bit: usize,
    streams: Vec<TcpStream>,
    records: u64,
    connections: u64,
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultProxy {
    /// Where the source connects.
    pub address: String,
    control: Arc<Mutex<Control>>,
}

impl FaultProxy {
    /// A proxy to `target`; `seed` picks the bit a corruption flips.
    pub fn start(target: &str, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let address = listener.local_addr().expect("address").to_string();
        let control = Arc::new(Mutex::new(Control {
            mode: Mode::Forward,
            stall_after: None,
            armed: None,
            bit: (seed as usize).wrapping_mul(2_654_435_761),
            streams: Vec::new(),
            records: 0,
            connections: 0,
        }));
        let shared = control.clone();
        let target = target.to_string();
        std::thread::spawn(move || {
            for source in listener.incoming() {
                let Ok(source) = source else { return };
                if lock(&shared).mode == Mode::Cut {
                    let _ = source.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(target) = TcpStream::connect(&target) else {
                    let _ = source.shutdown(Shutdown::Both);
                    continue;
                };
                let (Ok(source_back), Ok(target_back)) = (source.try_clone(), target.try_clone())
                else {
                    continue;
                };
                {
                    let mut control = lock(&shared);
                    control.connections += 1;
                    for stream in [&source, &target] {
                        if let Ok(clone) = stream.try_clone() {
                            control.streams.push(clone);
                        }
                    }
                }
                let forward = shared.clone();
                std::thread::spawn(move || pump(source, target, &forward));
                let backward = shared.clone();
                std::thread::spawn(move || pump(target_back, source_back, &backward));
            }
        });
        FaultProxy { address, control }
    }

    /// Closes every connection (and refuses new ones).
    pub fn cut(&self) {
        let mut control = lock(&self.control);
        control.mode = Mode::Cut;
        for stream in control.streams.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Closes every connection now, and forwards new ones: a network that
    /// failed and came back.
    pub fn drop_connections(&self) {
        let mut control = lock(&self.control);
        for stream in control.streams.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Connections the proxy forwarded so far (each resume is one more).
    pub fn connections(&self) -> u64 {
        lock(&self.control).connections
    }

    /// Forwards nothing more, keeping the connections open.
    pub fn stall(&self) {
        lock(&self.control).mode = Mode::Stalled;
    }

    /// Forwards `records` more records (either way), then stalls.
    pub fn stall_after(&self, records: u64) {
        let mut control = lock(&self.control);
        if records == 0 {
            control.mode = Mode::Stalled;
        } else {
            control.stall_after = Some(records);
        }
    }

    /// Damages the next record that comes, either way.
    pub fn arm(&self, damage: Damage) {
        lock(&self.control).armed = Some(damage);
    }

    /// Records forwarded so far (both ways).
    pub fn records(&self) -> u64 {
        lock(&self.control).records
    }
}

fn lock(control: &Mutex<Control>) -> MutexGuard<'_, Control> {
    control
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads one record (12-byte header, then its ciphertext).
fn read_record(from: &mut TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 12];
    from.read_exact(&mut header).ok()?;
    let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let mut record = header.to_vec();
    record.resize(12 + length.min(8 << 20), 0);
    from.read_exact(&mut record[12..]).ok()?;
    Some(record)
}

/// Forwards `from` to `to` record by record, applying the control.
fn pump(mut from: TcpStream, mut to: TcpStream, control: &Mutex<Control>) {
    // The handshake's bytes go as they come (each side waits for the
    // other's hello before it sends its confirmation).
    let mut left = HANDSHAKE_LEN;
    let mut chunk = [0u8; HANDSHAKE_LEN];
    while left > 0 {
        match from.read(&mut chunk[..left]) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(count) => {
                if to.write_all(&chunk[..count]).is_err() {
                    return;
                }
                left -= count;
            }
        }
    }
    while let Some(record) = read_record(&mut from) {
        loop {
            let mode = lock(control).mode;
            match mode {
                Mode::Forward => break,
                Mode::Cut => return,
                Mode::Stalled => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let (damage, bit) = {
            let mut control = lock(control);
            control.records += 1;
            if let Some(left) = control.stall_after {
                control.stall_after = (left > 1).then(|| left - 1);
                if left == 1 {
                    control.mode = Mode::Stalled;
                }
            }
            (control.armed.take(), control.bit)
        };
        let sent = match damage {
            None => to.write_all(&record),
            Some(Damage::Corrupt) => {
                let mut damaged = record.clone();
                let body = damaged.len() - 12;
                let position = 12 + bit % body.max(1);
                if position < damaged.len() {
                    damaged[position] ^= 1 << (bit % 8);
                }
                to.write_all(&damaged)
            }
            Some(Damage::Duplicate) => to.write_all(&record).and_then(|()| to.write_all(&record)),
            Some(Damage::Reorder) => {
                // The record waits for the next one this way; if the sender
                // waits for an answer first, none comes: then the network
                // fails instead (either way the stream is damaged here).
                let _ = from.set_read_timeout(Some(REORDER_WAIT));
                let next = read_record(&mut from);
                let _ = from.set_read_timeout(None);
                match next {
                    Some(next) => to.write_all(&next).and_then(|()| to.write_all(&record)),
                    None => {
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
