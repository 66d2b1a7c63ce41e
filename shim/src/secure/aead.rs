//! The record ciphers the secure channel negotiates: AES-256-GCM where the
//! CPU accelerates AES and carry-less multiplication (AES-NI and
//! PCLMULQDQ on x86_64, AES and PMULL on aarch64), ChaCha20-Poly1305
//! otherwise (both RustCrypto, both built and tested on sparc64).
//!
//! Each side says in its hello which ciphers it has and which it prefers
//! (its own CPU's choice); both pick AES-256-GCM only when both prefer it,
//! since software AES is several times slower than ChaCha20 (a side
//! without AES instructions, sparc64 here, prefers ChaCha20). The hellos
//! are the handshake transcript that the keys and both key confirmations
//! are bound to, so a hello altered to force the other cipher fails the
//! confirmation on both sides (see [`super::handshake`]).

// Two generations of RustCrypto's AEAD traits: aes-gcm 0.11 (about twice
// the GHASH speed of 0.10 with PCLMULQDQ) and chacha20poly1305 0.10 (faster
// here than 0.11 in a side-by-side run of both).
use aes_gcm::aead::{AeadInOut, KeyInit as _};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use std::fmt;

/// Bytes of a record cipher's nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of a record cipher's tag.
pub const TAG_LEN: usize = 16;

/// A record cipher, as the hello names it (0 is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aead {
    /// ChaCha20-Poly1305 (RFC 8439): fast everywhere in software.
    ChaCha20Poly1305,
    /// AES-256-GCM: fastest where the CPU has AES instructions.
    Aes256Gcm,
}

/// Bit of each cipher in the hello's set of supported ciphers.
const SUPPORTED_CHACHA20: u8 = 1;
const SUPPORTED_AES256GCM: u8 = 2;

impl Aead {
    /// Every cipher this build has.
    pub const ALL: [Aead; 2] = [Aead::ChaCha20Poly1305, Aead::Aes256Gcm];

    /// Its number in the hello.
    pub fn wire_value(self) -> u8 {
        match self {
            Aead::ChaCha20Poly1305 => 1,
            Aead::Aes256Gcm => 2,
        }
    }

    /// The cipher numbered `value`; `None` for 0 and unknown numbers.
    pub fn from_wire(value: u8) -> Option<Aead> {
        Aead::ALL
            .into_iter()
            .find(|aead| aead.wire_value() == value)
    }

    /// Its bit in the hello's supported set.
    pub(crate) fn supported_bit(self) -> u8 {
        match self {
            Aead::ChaCha20Poly1305 => SUPPORTED_CHACHA20,
            Aead::Aes256Gcm => SUPPORTED_AES256GCM,
        }
    }

    /// The set of every cipher this build has.
    pub(crate) fn all_supported() -> u8 {
        SUPPORTED_CHACHA20 | SUPPORTED_AES256GCM
    }

    /// Its name, as key derivation labels and messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Aead::ChaCha20Poly1305 => "ChaCha20-Poly1305",
            Aead::Aes256Gcm => "AES-256-GCM",
        }
    }

    /// What this machine's CPU makes fastest.
    pub fn preferred() -> Aead {
        if aes_is_accelerated() {
            Aead::Aes256Gcm
        } else {
            Aead::ChaCha20Poly1305
        }
    }

    /// The cipher two sides use: AES-256-GCM when both have it and prefer
    /// it, ChaCha20-Poly1305 otherwise (every build has it).
    pub fn agree(initiator: (Aead, u8), responder: (Aead, u8)) -> Aead {
        let both_have_aes = initiator.1 & responder.1 & SUPPORTED_AES256GCM != 0;
        if both_have_aes && initiator.0 == Aead::Aes256Gcm && responder.0 == Aead::Aes256Gcm {
            Aead::Aes256Gcm
        } else {
            Aead::ChaCha20Poly1305
        }
    }
}

impl fmt::Display for Aead {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// True when the CPU has the instructions AES-GCM needs to be fast.
fn aes_is_accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// One direction's keyed cipher.
#[derive(Clone)]
pub(crate) enum RecordCipher {
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
    Aes256Gcm(Box<aes_gcm::Aes256Gcm>),
}

/// The cipher refused the input (a length past its limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CipherRefused;

impl RecordCipher {
    pub(crate) fn new(aead: Aead, key: &[u8; 32]) -> Self {
        match aead {
            Aead::ChaCha20Poly1305 => RecordCipher::ChaCha20Poly1305(Box::new(
                ChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key)),
            )),
            Aead::Aes256Gcm => {
                RecordCipher::Aes256Gcm(Box::new(aes_gcm::Aes256Gcm::new(&aes_gcm::Key::<
                    aes_gcm::Aes256Gcm,
                >::from(
                    *key
                ))))
            }
        }
    }

    /// Encrypts `buffer` in place; returns the tag.
    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        associated: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CipherRefused> {
        let tag = match self {
            RecordCipher::ChaCha20Poly1305(cipher) => cipher
                .encrypt_in_place_detached(nonce.into(), associated, buffer)
                .map_err(|_| CipherRefused)?
                .into(),
            RecordCipher::Aes256Gcm(cipher) => cipher
                .encrypt_inout_detached(&(*nonce).into(), associated, buffer.into())
                .map_err(|_| CipherRefused)?
                .into(),
        };
        Ok(tag)
    }

    /// Checks `tag` and decrypts `buffer` in place (left as it was when
    /// the tag does not match).
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        associated: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CipherRefused> {
        match self {
            RecordCipher::ChaCha20Poly1305(cipher) => cipher
                .decrypt_in_place_detached(nonce.into(), associated, buffer, tag.into())
                .map_err(|_| CipherRefused),
            RecordCipher::Aes256Gcm(cipher) => cipher
                .decrypt_inout_detached(&(*nonce).into(), associated, buffer.into(), &(*tag).into())
                .map_err(|_| CipherRefused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_are_numbered_from_one_and_agree_on_aes_only_when_both_prefer_it() {
        assert_eq!(Aead::from_wire(0), None);
        assert_eq!(Aead::from_wire(3), None);
        for aead in Aead::ALL {
            assert_eq!(Aead::from_wire(aead.wire_value()), Some(aead));
        }
        let all = Aead::all_supported();
        let aes = (Aead::Aes256Gcm, all);
        let chacha = (Aead::ChaCha20Poly1305, all);
        assert_eq!(Aead::agree(aes, aes), Aead::Aes256Gcm);
        assert_eq!(Aead::agree(aes, chacha), Aead::ChaCha20Poly1305);
        assert_eq!(Aead::agree(chacha, aes), Aead::ChaCha20Poly1305);
        // A peer without AES-GCM never gets it, whatever it prefers.
        assert_eq!(
            Aead::agree(aes, (Aead::Aes256Gcm, SUPPORTED_CHACHA20)),
            Aead::ChaCha20Poly1305
        );
    }

    #[test]
    fn aes256gcm_matches_the_nist_vector_and_both_ciphers_round_trip() {
        // NIST GCM test case 14: AES-256, zero key and IV, one zero block.
        let cipher = RecordCipher::new(Aead::Aes256Gcm, &[0; 32]);
        let mut block = [0u8; 16];
        let tag = cipher.seal(&[0; NONCE_LEN], b"", &mut block).expect("seal");
        assert_eq!(
            block,
            [
                0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3,
                0x9d, 0x18
            ]
        );
        assert_eq!(
            tag,
            [
                0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0, 0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a,
                0xb9, 0x19
            ]
        );
        for aead in Aead::ALL {
            let cipher = RecordCipher::new(aead, &[7; 32]);
            let mut data = *b"a page of guest memory, or a part of one";
            let tag = cipher
                .seal(&[1; NONCE_LEN], b"header", &mut data)
                .expect("seal");
            assert_ne!(&data, b"a page of guest memory, or a part of one");
            let mut altered = data;
            altered[3] ^= 1;
            assert_eq!(
                cipher.open(&[1; NONCE_LEN], b"header", &mut altered, &tag),
                Err(CipherRefused),
                "{aead}"
            );
            assert_eq!(
                cipher.open(&[2; NONCE_LEN], b"header", &mut data.clone(), &tag),
                Err(CipherRefused),
                "{aead}: another nonce"
            );
            cipher
                .open(&[1; NONCE_LEN], b"header", &mut data, &tag)
                .expect("open");
            assert_eq!(&data, b"a page of guest memory, or a part of one");
        }
    }
}
