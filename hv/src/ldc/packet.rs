//! The 64-byte LDC packet as the link layer sees it: typed decode (never
//! panics, every byte hostile) and encode for reliable/stream mode.
//!
//! Layout (big-endian, Linux `arch/sparc/kernel/ldc.c` `struct ldc_packet`): type, stype, ctrl, env, seqid u32,
//! then in reliable/stream mode an unused u32 (which carries the version in
//! `VERS` packets: major u16, minor u16 at offset 8), ackid u32 and 48
//! payload bytes. The wire struct is [`crate::abi::ldc::LdcPacket`].

use core::fmt;

use zerocopy::byteorder::big_endian::U32;
use zerocopy::{FromBytes, IntoBytes};

use super::handshake::Version;
use crate::abi::ldc::Subtype;
use crate::abi::ldc::{
    Envelope, LdcPacket, LDC_CTRL, LDC_CTRL_MSK, LDC_DATA, LDC_ERR, LDC_LEN, LDC_PACKET_SIZE,
    LDC_RDX, LDC_RELIABLE_PAYLOAD, LDC_RTR, LDC_RTS, LDC_VERS,
};

/// The packet's `type` byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// `LDC_CTRL` (0x01): handshake.
    Control,
    /// `LDC_DATA` (0x02): data, ACK and NACK.
    Data,
    /// `LDC_ERR` (0x10).
    Error,
}

impl PacketType {
    fn raw(self) -> u8 {
        match self {
            PacketType::Control => LDC_CTRL,
            PacketType::Data => LDC_DATA,
            PacketType::Error => LDC_ERR,
        }
    }
}

/// The `ctrl` byte of a control packet: which handshake message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlMessage {
    /// `LDC_VERS`: version negotiation.
    Version,
    /// `LDC_RTS`: ready to send.
    ReadyToSend,
    /// `LDC_RTR`: ready to receive.
    ReadyToReceive,
    /// `LDC_RDX`: ready for data exchange.
    ReadyForDataExchange,
}

impl ControlMessage {
    fn raw(self) -> u8 {
        match self {
            ControlMessage::Version => LDC_VERS,
            ControlMessage::ReadyToSend => LDC_RTS,
            ControlMessage::ReadyToReceive => LDC_RTR,
            ControlMessage::ReadyForDataExchange => LDC_RDX,
        }
    }

    fn from_raw(raw: u8) -> Option<Self> {
        match raw & LDC_CTRL_MSK {
            LDC_VERS => Some(ControlMessage::Version),
            LDC_RTS => Some(ControlMessage::ReadyToSend),
            LDC_RTR => Some(ControlMessage::ReadyToReceive),
            LDC_RDX => Some(ControlMessage::ReadyForDataExchange),
            _ => None,
        }
    }
}

/// Why 64 bytes are not a packet the link can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// The `type` byte is none of CTRL, DATA, ERR.
    UnknownType(u8),
    /// The `stype` byte is 0, has bits beyond INFO/ACK/NACK, has both ACK
    /// and NACK, or (for a control packet) more than one bit.
    BadSubtype(u8),
    /// A control packet's `ctrl` is none of VERS, RTS, RTR, RDX.
    UnknownControl(u8),
    /// A data packet's `env` length exceeds the 48-byte payload.
    PayloadLength(u8),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::UnknownType(raw) => write!(f, "unknown packet type {raw:#04x}"),
            PacketError::BadSubtype(raw) => write!(f, "bad subtype {raw:#04x}"),
            PacketError::UnknownControl(raw) => write!(f, "unknown control message {raw:#04x}"),
            PacketError::PayloadLength(raw) => write!(
                f,
                "payload length {} exceeds {LDC_RELIABLE_PAYLOAD}",
                raw & LDC_LEN
            ),
        }
    }
}

/// A decoded reliable/stream-mode packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The `type` byte.
    pub packet_type: PacketType,
    /// The `stype` byte.
    pub subtype: Subtype,
    /// The handshake message, for control packets (and NACKs echoing one).
    pub control: Option<ControlMessage>,
    /// Payload length and START/STOP for data; the link mode in RTS/RTR.
    pub env: u8,
    /// Sequence id.
    pub seqid: u32,
    /// The word at offset 8: the version in `VERS` packets, else unused.
    pub word: u32,
    /// Acknowledged sequence id.
    pub ackid: u32,
    /// Payload bytes (only the first `env & 0x3f` count in data packets).
    pub payload: [u8; LDC_RELIABLE_PAYLOAD],
}

impl Packet {
    fn empty(packet_type: PacketType, subtype: Subtype) -> Self {
        Packet {
            packet_type,
            subtype,
            control: None,
            env: 0,
            seqid: 0,
            word: 0,
            ackid: 0,
            payload: [0; LDC_RELIABLE_PAYLOAD],
        }
    }

    /// A control packet (`VERS` excluded: see [`Packet::version_message`]).
    pub fn control(
        subtype: Subtype,
        message: ControlMessage,
        env: u8,
        seqid: u32,
        ackid: u32,
    ) -> Self {
        Packet {
            control: Some(message),
            env,
            seqid,
            ackid,
            ..Packet::empty(PacketType::Control, subtype)
        }
    }

    /// A `VERS` packet (INFO, ACK or NACK) carrying `version` at offset 8.
    pub fn version_message(subtype: Subtype, version: Version) -> Self {
        Packet {
            control: Some(ControlMessage::Version),
            word: (u32::from(version.major) << 16) | u32::from(version.minor),
            ..Packet::empty(PacketType::Control, subtype)
        }
    }

    /// One data fragment (DATA/INFO) of at most 48 bytes.
    pub fn data_fragment(seqid: u32, start: bool, stop: bool, chunk: &[u8]) -> Self {
        let length = chunk.len().min(LDC_RELIABLE_PAYLOAD);
        let mut packet = Packet::empty(PacketType::Data, Subtype::INFO);
        packet.payload[..length].copy_from_slice(&chunk[..length]);
        let mut fragment = Envelope::empty();
        fragment.set(Envelope::START, start);
        fragment.set(Envelope::STOP, stop);
        // `length` <= 48: the cast keeps every bit and fits the 6-bit field.
        #[allow(clippy::cast_possible_truncation)]
        let length = length as u8 & LDC_LEN;
        packet.env = length | fragment.bits();
        packet.seqid = seqid;
        packet
    }

    /// A DATA/ACK acknowledging everything up to `ackid`.
    pub fn data_ack(seqid: u32, ackid: u32) -> Self {
        Packet {
            seqid,
            ackid,
            ..Packet::empty(PacketType::Data, Subtype::ACK)
        }
    }

    /// A NACK for a packet of `packet_type` (echoing its control message)
    /// that arrived out of sequence; `ackid` is the last good sequence id.
    pub fn nack(
        packet_type: PacketType,
        control: Option<ControlMessage>,
        seqid: u32,
        ackid: u32,
    ) -> Self {
        Packet {
            control,
            seqid,
            ackid,
            ..Packet::empty(packet_type, Subtype::NACK)
        }
    }

    /// The version of a `VERS` packet.
    pub fn version(&self) -> Version {
        Version {
            major: (self.word >> 16) as u16,
            minor: (self.word & 0xffff) as u16,
        }
    }

    /// Payload length of a data packet (`env & 0x3f`).
    pub fn payload_len(&self) -> usize {
        usize::from(self.env & LDC_LEN)
    }

    /// START bit of a data packet.
    pub fn is_start(&self) -> bool {
        Envelope::from_bits_truncate(self.env).contains(Envelope::START)
    }

    /// STOP bit of a data packet.
    pub fn is_stop(&self) -> bool {
        Envelope::from_bits_truncate(self.env).contains(Envelope::STOP)
    }

    /// The payload bytes a data packet carries.
    pub fn data(&self) -> &[u8] {
        &self.payload[..self.payload_len().min(LDC_RELIABLE_PAYLOAD)]
    }

    /// Whether this is a `VERS` INFO (a peer starting a handshake).
    pub fn is_version_info(&self) -> bool {
        self.packet_type == PacketType::Control
            && self.control == Some(ControlMessage::Version)
            && self.subtype == Subtype::INFO
    }

    /// Decodes 64 bytes. Every byte is checked before use; never panics.
    pub fn decode(bytes: &[u8; LDC_PACKET_SIZE]) -> Result<Packet, PacketError> {
        let raw = LdcPacket::read_from_bytes(bytes.as_slice()).map_err(|_| {
            // Unreachable: the array has exactly the struct's size.
            PacketError::UnknownType(bytes[0])
        })?;
        let packet_type = match raw.packet_type {
            LDC_CTRL => PacketType::Control,
            LDC_DATA => PacketType::Data,
            LDC_ERR => PacketType::Error,
            other => return Err(PacketError::UnknownType(other)),
        };
        let stype = raw.stype;
        let subtype = Subtype::from_bits(stype)
            .filter(|subtype| {
                !subtype.is_empty() && !subtype.contains(Subtype::ACK | Subtype::NACK)
            })
            .ok_or(PacketError::BadSubtype(stype))?;
        let control = match packet_type {
            PacketType::Control => {
                if stype.count_ones() != 1 {
                    return Err(PacketError::BadSubtype(stype));
                }
                Some(
                    ControlMessage::from_raw(raw.ctrl)
                        .ok_or(PacketError::UnknownControl(raw.ctrl))?,
                )
            }
            PacketType::Data | PacketType::Error => ControlMessage::from_raw(raw.ctrl),
        };
        if packet_type == PacketType::Data
            && subtype.contains(Subtype::INFO)
            && usize::from(raw.env & LDC_LEN) > LDC_RELIABLE_PAYLOAD
        {
            return Err(PacketError::PayloadLength(raw.env));
        }
        Ok(Packet {
            packet_type,
            subtype,
            control,
            env: raw.env,
            seqid: raw.seqid.get(),
            word: raw.unused.get(),
            ackid: raw.ackid.get(),
            payload: raw.payload,
        })
    }

    /// The 64 bytes of the packet.
    pub fn encode(&self) -> [u8; LDC_PACKET_SIZE] {
        let raw = LdcPacket {
            packet_type: self.packet_type.raw(),
            stype: self.subtype.bits(),
            ctrl: self.control.map_or(0, ControlMessage::raw),
            env: self.env,
            seqid: U32::new(self.seqid),
            unused: U32::new(self.word),
            ackid: U32::new(self.ackid),
            payload: self.payload,
        };
        let mut bytes = [0u8; LDC_PACKET_SIZE];
        bytes.copy_from_slice(raw.as_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::ldc::LDC_MODE_STREAM;

    #[test]
    fn control_packets_round_trip() {
        let rts = Packet::control(
            Subtype::INFO,
            ControlMessage::ReadyToSend,
            LDC_MODE_STREAM,
            0,
            0,
        );
        let bytes = rts.encode();
        assert_eq!(
            &bytes[..4],
            &[LDC_CTRL, Subtype::INFO.bits(), LDC_RTS, LDC_MODE_STREAM]
        );
        assert_eq!(Packet::decode(&bytes), Ok(rts));

        let vers = Packet::version_message(Subtype::NACK, Version::new(1, 3));
        let bytes = vers.encode();
        // Major 1, minor 3 at offset 8, big-endian.
        assert_eq!(&bytes[8..12], &[0, 1, 0, 3]);
        let decoded = Packet::decode(&bytes).expect("valid VERS");
        assert_eq!(decoded.version(), Version::new(1, 3));
        assert!(!decoded.is_version_info());
        assert!(Packet::version_message(Subtype::INFO, Version::new(1, 0)).is_version_info());
    }

    #[test]
    fn data_fragments_carry_length_and_fragment_bits() {
        let chunk = [0xabu8; 20];
        let packet = Packet::data_fragment(0x0102_0304, true, false, &chunk);
        let bytes = packet.encode();
        assert_eq!(bytes[0], LDC_DATA);
        assert_eq!(bytes[3], 20 | Envelope::START.bits());
        assert_eq!(&bytes[4..8], &[1, 2, 3, 4]);
        assert_eq!(&bytes[16..36], &chunk);
        let decoded = Packet::decode(&bytes).expect("valid data");
        assert_eq!(decoded.data(), &chunk);
        assert!(decoded.is_start() && !decoded.is_stop());
        let ack = Packet::decode(&Packet::data_ack(9, 7).encode()).expect("valid ack");
        assert!(ack.subtype.contains(Subtype::ACK) && !ack.subtype.contains(Subtype::INFO));
        assert_eq!((ack.seqid, ack.ackid), (9, 7));
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        let good = Packet::data_fragment(1, true, true, &[1, 2, 3]).encode();
        let mut bytes = good;
        bytes[0] = 0x7f;
        assert_eq!(Packet::decode(&bytes), Err(PacketError::UnknownType(0x7f)));
        let mut bytes = good;
        bytes[1] = 0;
        assert_eq!(Packet::decode(&bytes), Err(PacketError::BadSubtype(0)));
        bytes[1] = 0x08;
        assert_eq!(Packet::decode(&bytes), Err(PacketError::BadSubtype(0x08)));
        bytes[1] = (Subtype::ACK | Subtype::NACK).bits();
        assert_eq!(Packet::decode(&bytes), Err(PacketError::BadSubtype(0x06)));
        let mut bytes = good;
        bytes[3] = 49 | Envelope::START.bits();
        assert_eq!(
            Packet::decode(&bytes),
            Err(PacketError::PayloadLength(49 | Envelope::START.bits()))
        );
        let mut control = Packet::version_message(Subtype::INFO, Version::new(1, 0)).encode();
        control[2] = 0x09;
        assert_eq!(
            Packet::decode(&control),
            Err(PacketError::UnknownControl(0x09))
        );
        control[2] = LDC_VERS;
        control[1] = (Subtype::INFO | Subtype::ACK).bits();
        assert_eq!(Packet::decode(&control), Err(PacketError::BadSubtype(0x03)));
    }

    #[test]
    fn decode_never_panics_on_any_first_bytes() {
        // Every value of the four header bytes that decide the decode path,
        // with a fixed body: none panics, and whatever decodes re-encodes to
        // a packet that decodes the same.
        let mut bytes = [0x5au8; LDC_PACKET_SIZE];
        for packet_type in [0u8, LDC_CTRL, LDC_DATA, LDC_ERR, 0x03, 0xff] {
            for stype in 0..=0xffu8 {
                for ctrl in [0u8, 1, 2, 3, 4, 5, 0x0f, 0xf1] {
                    for env in [0u8, 1, 48, 49, 0x3f, 0x40, 0x80, 0xff] {
                        bytes[..4].copy_from_slice(&[packet_type, stype, ctrl, env]);
                        if let Ok(packet) = Packet::decode(&bytes) {
                            assert_eq!(Packet::decode(&packet.encode()), Ok(packet));
                            assert!(packet.data().len() <= LDC_RELIABLE_PAYLOAD);
                        }
                    }
                }
            }
        }
    }
}
