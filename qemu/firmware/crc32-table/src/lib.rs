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
    /// Bytes added (what [`Hasher::combine`] needs of the second CRC).
    amount: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// A CRC over no bytes yet.
    pub fn new() -> Self {
        Hasher {
            state: u32::MAX,
            amount: 0,
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut state = self.state;
        for &byte in bytes {
            state = TABLE[usize::from((state as u8) ^ byte)] ^ (state >> 8);
        }
        self.state = state;
        self.amount += bytes.len() as u64;
    }

    /// Makes this the CRC of its bytes followed by `other`'s (zlib's
    /// `crc32_combine`: `other`'s length in zero bits applied to this CRC
    /// by squaring the shift-by-one-bit matrix over GF(2)).
    pub fn combine(&mut self, other: &Hasher) {
        let first = !self.state;
        let second = !other.state;
        self.state = !combine(first, second, other.amount);
        self.amount += other.amount;
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

/// `matrix` × `vector` over GF(2).
fn gf2_times(matrix: &[u32; 32], mut vector: u32) -> u32 {
    let mut sum = 0;
    let mut row = 0;
    while vector != 0 {
        if vector & 1 != 0 {
            sum ^= matrix[row];
        }
        vector >>= 1;
        row += 1;
    }
    sum
}

/// `matrix` squared over GF(2).
fn gf2_square(matrix: &[u32; 32]) -> [u32; 32] {
    let mut square = [0u32; 32];
    for (row, column) in square.iter_mut().zip(matrix) {
        *row = gf2_times(matrix, *column);
    }
    square
}

/// The CRC of A then B from the CRCs of A (`first`) and B (`second`) and
/// B's length.
fn combine(mut first: u32, second: u32, mut length: u64) -> u32 {
    if length == 0 {
        return first;
    }
    // The operator that appends one zero bit, then two, then four.
    let mut one_bit = [0u32; 32];
    one_bit[0] = POLYNOMIAL;
    for (bit, row) in one_bit.iter_mut().enumerate().skip(1) {
        *row = 1 << (bit - 1);
    }
    let two_bits = gf2_square(&one_bit);
    let four_bits = gf2_square(&two_bits);
    // One zero byte (eight bits) first, then doubling: apply the operator
    // for each set bit of the length in bytes.
    let mut operator = gf2_square(&four_bits);
    loop {
        if length & 1 != 0 {
            first = gf2_times(&operator, first);
        }
        length >>= 1;
        if length == 0 {
            break;
        }
        operator = gf2_square(&operator);
    }
    first ^ second
}
