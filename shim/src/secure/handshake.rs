//! The secure channel handshake: SPAKE2 from the migration password, then
//! HKDF-SHA256 keys (one per direction) and an HMAC-SHA256 key confirmation
//! each way, so that a wrong password fails here, on both sides.
//!
//! Each side sends, without waiting for the other (both write, then read):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `LDMS` |
//! | 2 | protocol version, big-endian (2) |
//! | 1 | role: 1 initiator, 2 responder (0 is invalid) |
//! | 1 | SPAKE2 message length (33) |
//! | 33 | SPAKE2 (Ed25519) message |
//! | 1 | preferred record cipher: 1 ChaCha20-Poly1305, 2 AES-256-GCM (0 is invalid) |
//! | 1 | ciphers it has: bit 0 ChaCha20-Poly1305 (always), bit 1 AES-256-GCM |
//! | 2 | reserved, zero |
//!
//! then its 32-byte confirmation
//! `HMAC-SHA256(confirm key of its role, SHA-256(initiator hello || responder hello))`:
//! the initiator once it has the responder's hello, the responder once it
//! has checked the initiator's confirmation. So the responder (the target
//! daemon) has judged, and recorded, a wrong guess before the guesser can
//! tell from the answer that it was wrong, and cannot race the back-off
//! with its next try.
//! The keys come from `HKDF-SHA256(salt = that transcript hash, ikm = SPAKE2
//! key)`, with the chosen cipher's name in their labels. Nothing on the
//! wire depends on the password except through the SPAKE2 exchange, so an
//! eavesdropper cannot test password guesses offline, and an active
//! attacker gets one guess per handshake.
//!
//! The record cipher is AES-256-GCM when both hellos prefer it (each side
//! prefers it when its CPU accelerates AES), ChaCha20-Poly1305 otherwise
//! ([`super::aead`]). Both sides compute the choice from the two hellos,
//! and the hellos are the transcript both confirmations cover: a hello
//! altered in transit, to force one cipher or the other (a downgrade),
//! fails the key confirmation on both sides, as a wrong password does.
//!
//! Version 1 (ldmig before this channel negotiated its cipher: 41-byte
//! hellos, ChaCha20-Poly1305 always) is not spoken any more: a version-1
//! peer refuses this side's hello (`UnsupportedVersion { peer_version: 2 }`
//! in its log), and this side refuses the peer's
//! (`UnsupportedVersion { peer_version: 1 }`), both before any key is
//! derived; both machines run the same ldmig to migrate between them.

use super::aead::Aead;
use super::error::{ChannelError, Truncation};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use std::fmt;
use std::io::{self, Read, Write};

/// The protocol name and version, part of the SPAKE2 identities and of the
/// key derivation labels.
pub const PROTOCOL_NAME: &str = "ldmig-migration-v1";
/// The version of the secure channel protocol in the hello (2: the
/// record cipher is negotiated).
pub const PROTOCOL_VERSION: u16 = 2;
/// The magic that starts a hello.
pub const HELLO_MAGIC: [u8; 4] = *b"LDMS";
/// Bytes of a hello (header, SPAKE2 message, cipher offer).
pub const HELLO_LEN: usize = HELLO_HEADER_LEN + SPAKE2_MESSAGE_LEN + CIPHER_OFFER_LEN;
/// Bytes of a key confirmation.
pub const CONFIRMATION_LEN: usize = 32;
/// Bytes each side sends during the handshake, before the first record.
pub const HANDSHAKE_LEN: usize = HELLO_LEN + CONFIRMATION_LEN;

/// Bytes of the hello before the SPAKE2 message.
const HELLO_HEADER_LEN: usize = 8;
/// A SPAKE2 message over Ed25519: the side byte and a compressed point.
const SPAKE2_MESSAGE_LEN: usize = 33;
/// Bytes of the cipher offer: preferred cipher, ciphers had, reserved.
const CIPHER_OFFER_LEN: usize = 4;
/// Where the cipher offer starts in a hello.
const CIPHER_OFFER_AT: usize = HELLO_HEADER_LEN + SPAKE2_MESSAGE_LEN;
/// Bytes of a derived key.
const KEY_LEN: usize = 32;

const IDENTITY_INITIATOR: &[u8] = b"ldmig-migration-v1 initiator";
const IDENTITY_RESPONDER: &[u8] = b"ldmig-migration-v1 responder";
const LABEL_KEY_INITIATOR_TO_RESPONDER: &[u8] = b"ldmig-migration-v1 key initiator to responder";
const LABEL_KEY_RESPONDER_TO_INITIATOR: &[u8] = b"ldmig-migration-v1 key responder to initiator";
const LABEL_CONFIRM_INITIATOR: &[u8] = b"ldmig-migration-v1 confirm initiator";
const LABEL_CONFIRM_RESPONDER: &[u8] = b"ldmig-migration-v1 confirm responder";

/// Which end of the handshake this side is. The source shim that opens the
/// TCP connection is the initiator; the listening target shim the responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that opened the connection (SPAKE2 side A).
    Initiator,
    /// The side that accepted the connection (SPAKE2 side B).
    Responder,
}

impl Role {
    fn wire_value(self) -> u8 {
        match self {
            Role::Initiator => 1,
            Role::Responder => 2,
        }
    }

    fn from_wire(value: u8) -> Option<Role> {
        match value {
            1 => Some(Role::Initiator),
            2 => Some(Role::Responder),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Role::Initiator => "initiator",
            Role::Responder => "responder",
        })
    }
}

/// The keys of one session, from this side's point of view.
pub(crate) struct SessionKeys {
    /// The record cipher both sides chose.
    pub(crate) aead: Aead,
    /// Seals the records this side sends.
    pub(crate) send: [u8; KEY_LEN],
    /// Opens the records this side receives.
    pub(crate) receive: [u8; KEY_LEN],
}

/// Runs the handshake as `role` over `stream` with `password`, calling
/// `judged` with whether the peer's key confirmation held once it is
/// checked: a responder checks it before it sends its own.
pub(crate) fn run<S: Read + Write>(
    stream: &mut S,
    role: Role,
    password: &[u8],
    judged: impl FnOnce(bool),
) -> Result<SessionKeys, ChannelError> {
    run_preferring(stream, role, password, Aead::preferred(), judged)
}

/// [`run`], with this side preferring `preferred` (its CPU's choice in
/// [`run`]; tests choose).
pub(crate) fn run_preferring<S: Read + Write>(
    stream: &mut S,
    role: Role,
    password: &[u8],
    preferred: Aead,
    judged: impl FnOnce(bool),
) -> Result<SessionKeys, ChannelError> {
    if password.is_empty() {
        return Err(ChannelError::EmptyPassword);
    }
    let password = Password::new(password);
    let initiator = Identity::new(IDENTITY_INITIATOR);
    let responder = Identity::new(IDENTITY_RESPONDER);
    let (spake, message) = match role {
        Role::Initiator => Spake2::<Ed25519Group>::start_a(&password, &initiator, &responder),
        Role::Responder => Spake2::<Ed25519Group>::start_b(&password, &initiator, &responder),
    };
    let own_hello = encode_hello(role, &message, preferred)?;
    write_all(stream, &own_hello)?;

    let peer_hello = read_hello(stream, role)?;
    let spake_key = spake
        .finish(&peer_hello[HELLO_HEADER_LEN..CIPHER_OFFER_AT])
        .map_err(|error| ChannelError::MalformedHandshake {
            reason: match error {
                spake2::Error::BadSide => "the SPAKE2 message comes from the wrong side",
                spake2::Error::CorruptMessage => "the SPAKE2 message is not a valid curve point",
                spake2::Error::WrongLength => "the SPAKE2 message has the wrong length",
            },
        })?;

    let (initiator_hello, responder_hello) = match role {
        Role::Initiator => (&own_hello, &peer_hello),
        Role::Responder => (&peer_hello, &own_hello),
    };
    let transcript: [u8; 32] = Sha256::new()
        .chain_update(initiator_hello)
        .chain_update(responder_hello)
        .finalize()
        .into();
    let aead = Aead::agree(cipher_offer(initiator_hello), cipher_offer(responder_hello));
    let derivation = Hkdf::<Sha256>::new(Some(&transcript), &spake_key);
    let to_responder = expand_for(&derivation, LABEL_KEY_INITIATOR_TO_RESPONDER, aead);
    let to_initiator = expand_for(&derivation, LABEL_KEY_RESPONDER_TO_INITIATOR, aead);
    let confirm_initiator = expand(&derivation, LABEL_CONFIRM_INITIATOR);
    let confirm_responder = expand(&derivation, LABEL_CONFIRM_RESPONDER);
    let (keys, own_confirm_key, peer_confirm_key) = match role {
        Role::Initiator => (
            SessionKeys {
                aead,
                send: to_responder,
                receive: to_initiator,
            },
            confirm_initiator,
            confirm_responder,
        ),
        Role::Responder => (
            SessionKeys {
                aead,
                send: to_initiator,
                receive: to_responder,
            },
            confirm_responder,
            confirm_initiator,
        ),
    };

    let own_confirmation = confirmation_mac(&own_confirm_key, &transcript).finalize();
    let check_peer = |stream: &mut S| -> Result<bool, ChannelError> {
        let mut peer_confirmation = [0u8; CONFIRMATION_LEN];
        read_exact(stream, &mut peer_confirmation)?;
        Ok(confirmation_mac(&peer_confirm_key, &transcript)
            .verify_slice(&peer_confirmation)
            .is_ok())
    };
    let confirmed = match role {
        Role::Initiator => {
            write_all(stream, &own_confirmation.into_bytes())?;
            let confirmed = check_peer(stream)?;
            judged(confirmed);
            confirmed
        }
        // The responder judges first: whatever `judged` records of a
        // wrong guess is in place before the guesser can learn of it.
        Role::Responder => {
            let confirmed = check_peer(stream)?;
            judged(confirmed);
            write_all(stream, &own_confirmation.into_bytes())?;
            confirmed
        }
    };
    if !confirmed {
        return Err(ChannelError::WrongPassword);
    }
    Ok(keys)
}

fn encode_hello(
    role: Role,
    message: &[u8],
    preferred: Aead,
) -> Result<[u8; HELLO_LEN], ChannelError> {
    if message.len() != SPAKE2_MESSAGE_LEN {
        return Err(ChannelError::MalformedHandshake {
            reason: "this side's SPAKE2 message has an unexpected length",
        });
    }
    let mut hello = [0u8; HELLO_LEN];
    hello[0..4].copy_from_slice(&HELLO_MAGIC);
    hello[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    hello[6] = role.wire_value();
    hello[7] = SPAKE2_MESSAGE_LEN as u8;
    hello[HELLO_HEADER_LEN..CIPHER_OFFER_AT].copy_from_slice(message);
    hello[CIPHER_OFFER_AT] = preferred.wire_value();
    hello[CIPHER_OFFER_AT + 1] = Aead::all_supported();
    Ok(hello)
}

/// The cipher a (checked) hello prefers and the set it has.
fn cipher_offer(hello: &[u8; HELLO_LEN]) -> (Aead, u8) {
    let preferred = Aead::from_wire(hello[CIPHER_OFFER_AT]).unwrap_or(Aead::ChaCha20Poly1305);
    (preferred, hello[CIPHER_OFFER_AT + 1])
}

/// Reads and checks the peer's hello; the length is checked before the
/// message is read.
fn read_hello<S: Read>(stream: &mut S, own_role: Role) -> Result<[u8; HELLO_LEN], ChannelError> {
    let mut hello = [0u8; HELLO_LEN];
    read_exact(stream, &mut hello[..HELLO_HEADER_LEN])?;
    if hello[0..4] != HELLO_MAGIC {
        return Err(ChannelError::NotLdmigPeer);
    }
    let peer_version = u16::from_be_bytes([hello[4], hello[5]]);
    if peer_version != PROTOCOL_VERSION {
        return Err(ChannelError::UnsupportedVersion { peer_version });
    }
    match Role::from_wire(hello[6]) {
        None => {
            return Err(ChannelError::MalformedHandshake {
                reason: "invalid role",
            })
        }
        Some(peer_role) if peer_role == own_role => {
            return Err(ChannelError::RoleConflict { role: own_role })
        }
        Some(_) => {}
    }
    if usize::from(hello[7]) != SPAKE2_MESSAGE_LEN {
        return Err(ChannelError::MalformedHandshake {
            reason: "the SPAKE2 message length is not 33",
        });
    }
    read_exact(stream, &mut hello[HELLO_HEADER_LEN..])?;
    let preferred =
        Aead::from_wire(hello[CIPHER_OFFER_AT]).ok_or(ChannelError::MalformedHandshake {
            reason: "the preferred record cipher names no cipher",
        })?;
    let supported = hello[CIPHER_OFFER_AT + 1];
    if supported & !Aead::all_supported() != 0 || supported & preferred.supported_bit() == 0 {
        return Err(ChannelError::MalformedHandshake {
            reason: "the record ciphers offered are unknown or miss the preferred one",
        });
    }
    if hello[CIPHER_OFFER_AT + 2..] != [0, 0] {
        return Err(ChannelError::MalformedHandshake {
            reason: "the reserved bytes of the cipher offer are not zero",
        });
    }
    Ok(hello)
}

fn expand(derivation: &Hkdf<Sha256>, label: &[u8]) -> [u8; KEY_LEN] {
    expand_parts(derivation, &[label])
}

/// A record key: its label followed by the cipher's name.
fn expand_for(derivation: &Hkdf<Sha256>, label: &[u8], aead: Aead) -> [u8; KEY_LEN] {
    expand_parts(derivation, &[label, b" ", aead.name().as_bytes()])
}

fn expand_parts(derivation: &Hkdf<Sha256>, info: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    derivation
        .expand_multi_info(info, &mut key)
        .expect("HKDF-SHA256 expands up to 8160 bytes; 32 are asked");
    key
}

fn confirmation_mac(key: &[u8; KEY_LEN], transcript: &[u8; 32]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(b"ldmig-migration-v1 key confirmation");
    mac.update(transcript);
    mac
}

fn write_all<S: Write>(stream: &mut S, bytes: &[u8]) -> Result<(), ChannelError> {
    stream
        .write_all(bytes)
        .and_then(|()| stream.flush())
        .map_err(map_io)
}

/// `read_exact` that reports an early end as a truncated handshake.
fn read_exact<S: Read>(stream: &mut S, buffer: &mut [u8]) -> Result<(), ChannelError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match stream.read(&mut buffer[filled..]) {
            Ok(0) => {
                return Err(ChannelError::Truncated(Truncation::Handshake {
                    received: filled,
                    expected: buffer.len(),
                }))
            }
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(map_io(error)),
        }
    }
    Ok(())
}

fn map_io(error: io::Error) -> ChannelError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChannelError::TimedOut,
        _ => ChannelError::Io(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::memory::memory_duplex;
    use std::thread;

    fn pair(
        initiator_password: &'static [u8],
        responder_password: &'static [u8],
    ) -> (
        Result<SessionKeys, ChannelError>,
        Result<SessionKeys, ChannelError>,
    ) {
        let (mut left, mut right) = memory_duplex();
        let responder =
            thread::spawn(move || run(&mut right, Role::Responder, responder_password, |_| {}));
        let initiator = run(&mut left, Role::Initiator, initiator_password, |_| {});
        let responder = responder.join().expect("responder thread");
        (initiator, responder)
    }

    #[test]
    fn same_password_gives_crossed_direction_keys() {
        let (initiator, responder) = pair(b"hunter2", b"hunter2");
        let initiator = initiator.expect("initiator handshake");
        let responder = responder.expect("responder handshake");
        assert_eq!(initiator.send, responder.receive);
        assert_eq!(initiator.receive, responder.send);
        assert_ne!(initiator.send, initiator.receive, "one key per direction");
    }

    #[test]
    fn wrong_password_fails_on_both_sides() {
        let (initiator, responder) = pair(b"hunter2", b"hunter3");
        assert!(matches!(initiator, Err(ChannelError::WrongPassword)));
        assert!(matches!(responder, Err(ChannelError::WrongPassword)));
    }

    #[test]
    fn the_responder_judges_a_wrong_guess_before_the_initiator_learns_it() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let recorded = Arc::new(AtomicBool::new(false));
        let (mut left, mut right) = memory_duplex();
        let record = Arc::clone(&recorded);
        let responder = thread::spawn(move || {
            run(&mut right, Role::Responder, b"hunter2", |confirmed| {
                assert!(!confirmed, "the initiator's guess is wrong");
                // A slow record (a daemon's lock, a log line).
                thread::sleep(std::time::Duration::from_millis(200));
                record.store(true, Ordering::SeqCst);
            })
        });
        let mut initiator_verdict = None;
        let initiator = run(&mut left, Role::Initiator, b"hunter3", |confirmed| {
            initiator_verdict = Some(confirmed);
        });
        assert!(matches!(initiator, Err(ChannelError::WrongPassword)));
        assert_eq!(initiator_verdict, Some(false));
        assert!(
            recorded.load(Ordering::SeqCst),
            "the initiator learnt of its wrong guess before the responder recorded it"
        );
        assert!(matches!(
            responder.join().expect("responder thread"),
            Err(ChannelError::WrongPassword)
        ));
    }

    #[test]
    fn empty_password_is_refused_before_sending() {
        let (mut left, _right) = memory_duplex();
        assert!(matches!(
            run(&mut left, Role::Initiator, b"", |_| {}),
            Err(ChannelError::EmptyPassword)
        ));
    }

    /// Feeds a scripted peer hello to `run` and returns its error.
    fn error_for_peer_hello(hello: &[u8]) -> ChannelError {
        let (mut left, mut right) = memory_duplex();
        right.write_all(hello).expect("script the peer");
        right.shutdown_write();
        let result = run(&mut left, Role::Initiator, b"hunter2", |_| {});
        drop(right);
        match result {
            Ok(_) => panic!("a scripted hello cannot complete a handshake"),
            Err(error) => error,
        }
    }

    fn valid_responder_hello() -> [u8; HELLO_LEN] {
        let (_, message) = Spake2::<Ed25519Group>::start_b(
            &Password::new(b"hunter2"),
            &Identity::new(IDENTITY_INITIATOR),
            &Identity::new(IDENTITY_RESPONDER),
        );
        encode_hello(Role::Responder, &message, Aead::ChaCha20Poly1305).expect("encode")
    }

    #[test]
    fn bad_hellos_are_refused_with_their_reason() {
        let good = valid_responder_hello();

        let mut bad_magic = good;
        bad_magic[0] = b'X';
        assert!(matches!(
            error_for_peer_hello(&bad_magic),
            ChannelError::NotLdmigPeer
        ));

        let mut bad_version = good;
        bad_version[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert!(matches!(
            error_for_peer_hello(&bad_version),
            ChannelError::UnsupportedVersion { peer_version: 7 }
        ));

        let mut same_role = good;
        same_role[6] = Role::Initiator.wire_value();
        assert!(matches!(
            error_for_peer_hello(&same_role),
            ChannelError::RoleConflict {
                role: Role::Initiator
            }
        ));

        let mut bad_role = good;
        bad_role[6] = 0;
        assert!(matches!(
            error_for_peer_hello(&bad_role),
            ChannelError::MalformedHandshake { .. }
        ));

        let mut long_message = good;
        long_message[7] = 255;
        assert!(matches!(
            error_for_peer_hello(&long_message),
            ChannelError::MalformedHandshake { .. }
        ));

        let mut wrong_side = good;
        wrong_side[HELLO_HEADER_LEN] = b'A';
        assert!(matches!(
            error_for_peer_hello(&wrong_side),
            ChannelError::MalformedHandshake { .. }
        ));

        assert!(matches!(
            error_for_peer_hello(&good[..20]),
            ChannelError::Truncated(Truncation::Handshake {
                received: 12,
                expected: 37
            })
        ));
        for (at, byte) in [
            (CIPHER_OFFER_AT, 0),
            (CIPHER_OFFER_AT, 3),
            (CIPHER_OFFER_AT + 1, 0),
            (CIPHER_OFFER_AT + 1, 4),
            (CIPHER_OFFER_AT + 3, 1),
        ] {
            let mut bad_offer = good;
            bad_offer[at] = byte;
            assert!(
                matches!(
                    error_for_peer_hello(&bad_offer),
                    ChannelError::MalformedHandshake { .. }
                ),
                "byte {at} = {byte}"
            );
        }
        // A version-1 peer (41-byte hello, no cipher offer) is refused by
        // its version, before anything else.
        let mut old = good;
        old[4..6].copy_from_slice(&1u16.to_be_bytes());
        assert!(matches!(
            error_for_peer_hello(&old[..41]),
            ChannelError::UnsupportedVersion { peer_version: 1 }
        ));
        // A valid hello but no confirmation: cut during the handshake.
        assert!(matches!(
            error_for_peer_hello(&good),
            ChannelError::Truncated(Truncation::Handshake {
                received: 0,
                expected: CONFIRMATION_LEN
            })
        ));
    }

    /// Relays one side's hello (with the bytes `alter` names changed), then
    /// its confirmation, as each arrives.
    fn relay_handshake(from: &mut impl Read, to: &mut impl Write, alter: &[(usize, u8)]) {
        for (part, length) in [(0, HELLO_LEN), (1, CONFIRMATION_LEN)] {
            let mut bytes = vec![0u8; length];
            if from.read_exact(&mut bytes).is_err() {
                return;
            }
            if part == 0 {
                for &(at, byte) in alter {
                    bytes[at] = byte;
                }
            }
            if to.write_all(&bytes).is_err() {
                return;
            }
        }
    }

    /// Runs a handshake with each side preferring the cipher given, with
    /// `alter` applied to the initiator's bytes on their way.
    fn negotiated(
        initiator: Aead,
        responder: Aead,
        alter: &[(usize, u8)],
    ) -> (
        Result<SessionKeys, ChannelError>,
        Result<SessionKeys, ChannelError>,
    ) {
        let (mut left, right) = memory_duplex();
        let (mut middle_left, mut middle_right) = memory_duplex();
        let responder = thread::spawn(move || {
            run_preferring(&mut middle_right, Role::Responder, b"pw", responder, |_| {})
        });
        // The man in the middle: relays both ways, changing one byte of
        // the initiator's hello.
        let mut from_initiator = right.try_clone().expect("clone");
        let mut to_initiator = right;
        let mut from_responder = middle_left.try_clone().expect("clone");
        let alter = alter.to_vec();
        let forward = thread::spawn(move || {
            relay_handshake(&mut from_initiator, &mut middle_left, &alter);
        });
        let backward = thread::spawn(move || {
            relay_handshake(&mut from_responder, &mut to_initiator, &[]);
        });
        let initiator = run_preferring(&mut left, Role::Initiator, b"pw", initiator, |_| {});
        let responder = responder.join().expect("responder thread");
        forward.join().expect("forward");
        backward.join().expect("backward");
        (initiator, responder)
    }

    #[test]
    fn both_sides_agree_on_the_cipher_and_aes_only_when_both_prefer_it() {
        for (initiator, responder, expected) in [
            (Aead::Aes256Gcm, Aead::Aes256Gcm, Aead::Aes256Gcm),
            (
                Aead::Aes256Gcm,
                Aead::ChaCha20Poly1305,
                Aead::ChaCha20Poly1305,
            ),
            (
                Aead::ChaCha20Poly1305,
                Aead::Aes256Gcm,
                Aead::ChaCha20Poly1305,
            ),
            (
                Aead::ChaCha20Poly1305,
                Aead::ChaCha20Poly1305,
                Aead::ChaCha20Poly1305,
            ),
        ] {
            let (left, right) = negotiated(initiator, responder, &[]);
            let (left, right) = (left.expect("initiator"), right.expect("responder"));
            assert_eq!((left.aead, right.aead), (expected, expected));
            assert_eq!(left.send, right.receive);
        }
        // The same password gives other keys under the other cipher.
        let (aes, _) = negotiated(Aead::Aes256Gcm, Aead::Aes256Gcm, &[]);
        let (chacha, _) = negotiated(Aead::ChaCha20Poly1305, Aead::ChaCha20Poly1305, &[]);
        assert_ne!(aes.expect("aes").send, chacha.expect("chacha").send);
    }

    #[test]
    fn a_cipher_downgrade_in_transit_fails_the_confirmation_on_both_sides() {
        // Both prefer AES-256-GCM; the initiator's hello is changed on its
        // way to prefer ChaCha20 (or to hide its AES), which would make the
        // responder pick ChaCha20: the transcripts differ.
        let prefer_chacha = Aead::ChaCha20Poly1305.wire_value();
        let only_chacha = Aead::ChaCha20Poly1305.supported_bit();
        let downgrades: [&[(usize, u8)]; 2] = [
            &[(CIPHER_OFFER_AT, prefer_chacha)],
            &[
                (CIPHER_OFFER_AT, prefer_chacha),
                (CIPHER_OFFER_AT + 1, only_chacha),
            ],
        ];
        for alter in downgrades {
            let (initiator, responder) = negotiated(Aead::Aes256Gcm, Aead::Aes256Gcm, alter);
            assert!(
                matches!(initiator, Err(ChannelError::WrongPassword)),
                "{alter:?}"
            );
            assert!(
                matches!(responder, Err(ChannelError::WrongPassword)),
                "{alter:?}"
            );
        }
    }
}
