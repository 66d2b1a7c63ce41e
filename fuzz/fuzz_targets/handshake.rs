//! Fuzz target: the secure channel handshake (`shim/src/secure/handshake`)
//! against a peer whose every byte is the input: its hello (magic,
//! version, role, SPAKE2 message length and point) and its confirmation.
//! This side plays the initiator or the responder (first byte). A peer
//! that does not know the password never completes it.
#![no_main]

use ldmig_shim::secure::SecureChannel;
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read, Write};

/// Reads the input, swallows what this side writes.
struct ScriptedPeer<'a> {
    input: &'a [u8],
}

impl Read for ScriptedPeer<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.input.read(buffer)
    }
}

impl Write for ScriptedPeer<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&role, input)) = data.split_first() else {
        return;
    };
    let stream = ScriptedPeer { input };
    let result = if role & 1 == 0 {
        SecureChannel::connect(stream, b"fuzz password")
    } else {
        SecureChannel::accept(stream, b"fuzz password")
    };
    assert!(result.is_err(), "a scripted peer completed a handshake");
});
