//! Fuzz target: the record layer's receiver (`shim/src/secure/record`).
//! The input is payloads to seal under a fixed key (with either cipher), a close record or
//! not, and alterations of the sealed stream (bit flips, a cut, raw bytes
//! spliced in). The receiver must give back exactly the payloads sealed
//! when nothing was altered, and otherwise the payloads before the first
//! altered record followed by a typed error (tampered, replayed, out of
//! order, too long, truncated), never a changed payload.
#![no_main]

use ldmig_shim::secure::{fixed_key, Aead};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    // Sections split by 0xFE: flags, up to 8 payloads, then alterations
    // (three bytes each: kind, offset).
    let mut sections = data.split(|&byte| byte == 0xfe);
    let Some(header) = sections.next() else {
        return;
    };
    let close = header.first().is_some_and(|&byte| byte & 1 == 1);
    // Both ciphers the handshake may agree on.
    let aead = if header.first().is_some_and(|&byte| byte & 2 == 2) {
        Aead::Aes256Gcm
    } else {
        Aead::ChaCha20Poly1305
    };
    let payloads: Vec<&[u8]> = sections.by_ref().take(8).collect();
    let alterations: Vec<u8> = sections.flatten().copied().collect();

    let mut stream = Vec::new();
    let mut boundaries = Vec::new();
    {
        let mut sender = fixed_key::sender(&mut stream, aead, &KEY);
        for payload in &payloads {
            sender.send(payload).expect("a payload of at most 4 MiB seals");
        }
        if close {
            sender.close().expect("close seals");
        }
    }
    // Where each record ends, to know which ones an alteration touched.
    let mut offset = 0usize;
    while offset + 4 <= stream.len() {
        let length = u32::from_be_bytes([
            stream[offset],
            stream[offset + 1],
            stream[offset + 2],
            stream[offset + 3],
        ]) as usize;
        offset += 12 + length;
        boundaries.push(offset);
    }
    let mut first_altered = usize::MAX;
    for alteration in alterations.chunks(3) {
        let [kind, high, low] = [
            alteration[0],
            *alteration.get(1).unwrap_or(&0),
            *alteration.get(2).unwrap_or(&0),
        ];
        if stream.is_empty() {
            break;
        }
        let at = usize::from(u16::from_be_bytes([high, low])) % stream.len();
        match kind % 3 {
            0 => stream[at] ^= 1 << (kind % 8),
            1 => stream.truncate(at),
            _ => stream.insert(at, kind),
        }
        first_altered = first_altered.min(at);
    }
    let intact = boundaries.iter().take_while(|&&end| end <= first_altered).count();

    let mut receiver = fixed_key::receiver(stream.as_slice(), aead, &KEY);
    let mut index = 0;
    loop {
        match receiver.receive_or_close() {
            Ok(Some(payload)) => {
                assert!(index < payloads.len(), "more payloads than sealed");
                assert_eq!(payload, payloads[index], "a payload came out changed");
                index += 1;
            }
            Ok(None) => {
                assert!(close, "a close record that was never sealed");
                assert_eq!(index, payloads.len(), "closed before the end");
                break;
            }
            Err(_) => {
                assert!(
                    first_altered != usize::MAX || !close,
                    "an intact closed stream failed"
                );
                assert!(index >= intact.min(payloads.len()), "intact records lost");
                break;
            }
        }
    }
});
