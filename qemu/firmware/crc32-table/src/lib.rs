//! CRC-32/ISO-HDLC (the IEEE polynomial, reflected, as zlib and
//! `crc32fast`) with one 256-entry table computed at compile time: the
//! part of `crc32fast`'s API the ldmig engine uses (`hash`, `Hasher`), for
//! the firmware image only (see Cargo.toml). The image's self-test checks
//! the standard check value (`"123456789"` gives `0xcbf43926`).
#![no_std]

/// The reflected IEEE polynomial.
const POLYNOMIAL: u32 = 0xedb8_8320;

/// `TABLE[b]`: the CRC of the byte `b` alone, without the pre- and
/// post-inversion.
static TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// A running CRC-32.
#[derive(Clone, Debug)]
pub struct Hasher {
    state: u32,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// A CRC over no bytes yet.
    pub fn new() -> Self {
        Hasher { state: u32::MAX }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut state = self.state;
        for &byte in bytes {
            state = TABLE[usize::from((state as u8) ^ byte)] ^ (state >> 8);
        }
        self.state = state;
    }

    /// The CRC of every byte added.
    pub fn finalize(self) -> u32 {
        !self.state
    }
}

/// The CRC-32 of `bytes`.
pub fn hash(bytes: &[u8]) -> u32 {
    let mut hasher = Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}
