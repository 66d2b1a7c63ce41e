//! A record sender and receiver under one fixed key, without a handshake,
//! for the record layer's fuzz target only (feature `fuzzing`, which only
//! `fuzz/` turns on): with a known key the target can seal valid records,
//! alter them, and check that the receiver gives back exactly what was
//! sealed or a typed error. Never for a migration: the key is the caller's.

use super::aead::Aead;
use super::halves::{SecureReceiver, SecureSender};
use super::record::{ReceiveState, SendState};
use std::io::{Read, Write};

/// A sender sealing records with `aead` under `key`.
pub fn sender<W: Write>(writer: W, aead: Aead, key: &[u8; 32]) -> SecureSender<W> {
    SecureSender::new(writer, SendState::new(aead, key))
}

/// A receiver opening records sealed with `aead` under `key`.
pub fn receiver<R: Read>(reader: R, aead: Aead, key: &[u8; 32]) -> SecureReceiver<R> {
    SecureReceiver::new(reader, ReceiveState::new(aead, key))
}
