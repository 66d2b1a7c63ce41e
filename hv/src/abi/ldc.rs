//! LDOM group (0x101, v1.0): logical domain channel calls, queue, map-table
//! and cookie layout, and the 64-byte LDC packet.
//!
//! Source: [L] `hypervisor.h` (`HV_FAST_LDC_*`, `LDC_MTE_*`,
//! `HV_LDC_STATE_*`), [L] `arch/sparc/kernel/ldc.c` (packet layout, modes,
//! handshake constants), [O] for the map-table entry's second word, [I]
//! `ldc_impl.h` which agrees with Linux.

use zerocopy::byteorder::big_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Configure the TX queue: channel, base RA, entries. [L] `HV_FAST_LDC_TX_QCONF`.
pub const LDC_TX_QCONF: u64 = 0xe0;
/// Query the TX queue -> RET1 RA, RET2 entries. [L] `HV_FAST_LDC_TX_QINFO`.
pub const LDC_TX_QINFO: u64 = 0xe1;
/// TX state -> RET1 head, RET2 tail, RET3 channel state. [L] `HV_FAST_LDC_TX_GET_STATE`.
pub const LDC_TX_GET_STATE: u64 = 0xe2;
/// Publish TX entries: channel, tail offset. [L] `HV_FAST_LDC_TX_SET_QTAIL`.
pub const LDC_TX_SET_QTAIL: u64 = 0xe3;
/// Configure the RX queue: channel, base RA, entries. [L] `HV_FAST_LDC_RX_QCONF`.
pub const LDC_RX_QCONF: u64 = 0xe4;
/// Query the RX queue -> RET1 RA, RET2 entries. [L] `HV_FAST_LDC_RX_QINFO`.
pub const LDC_RX_QINFO: u64 = 0xe5;
/// RX state -> RET1 head, RET2 tail, RET3 channel state. [L] `HV_FAST_LDC_RX_GET_STATE`.
pub const LDC_RX_GET_STATE: u64 = 0xe6;
/// Consume RX entries: channel, head offset. [L] `HV_FAST_LDC_RX_SET_QHEAD`.
pub const LDC_RX_SET_QHEAD: u64 = 0xe7;
/// Register the map table: channel, table RA, entries. [L] `HV_FAST_LDC_SET_MAP_TABLE`.
pub const LDC_SET_MAP_TABLE: u64 = 0xea;
/// Query the map table -> RET1 RA, RET2 entries. [L] `HV_FAST_LDC_GET_MAP_TABLE`.
pub const LDC_GET_MAP_TABLE: u64 = 0xeb;
/// Copy to/from the peer's exported memory -> RET1 bytes copied. [L] `HV_FAST_LDC_COPY`.
pub const LDC_COPY: u64 = 0xec;
/// Map in a peer cookie -> RET1 RA, RET2 permissions. [L] `HV_FAST_LDC_MAPIN`.
pub const LDC_MAPIN: u64 = 0xed;
/// Unmap a mapped-in RA. [L] `HV_FAST_LDC_UNMAP`.
pub const LDC_UNMAP: u64 = 0xee;
/// Revoke an exported cookie. [L] `HV_FAST_LDC_REVOKE`.
pub const LDC_REVOKE: u64 = 0xef;

/// Channel state: the peer has no RX queue. [L] `HV_LDC_STATE_DOWN`.
pub const LDC_CHANNEL_DOWN: u64 = 0;
/// Channel state: up. [L] `HV_LDC_STATE_UP`.
pub const LDC_CHANNEL_UP: u64 = 1;
/// Channel state: the peer reset its queue since the last read. [L] `HV_LDC_STATE_RESETTING`.
pub const LDC_CHANNEL_RESET: u64 = 2;

/// `LDC_COPY` direction: from the peer's memory into ours. [L] `HV_LDC_COPY_IN`.
pub const LDC_COPY_IN: u64 = 0;
/// `LDC_COPY` direction: from ours into the peer's. [L] `HV_LDC_COPY_OUT`.
pub const LDC_COPY_OUT: u64 = 1;

/// Bytes per queue entry (one packet). [L] ldc.c `LDC_PACKET_SIZE`.
pub const LDC_PACKET_SIZE: usize = 64;

/// Map-table entry (word 0) bit: copy-write allowed. [L] `LDC_MTE_COPY_W`.
pub const LDC_MTE_COPY_W: u64 = 0x400;
/// Copy-read allowed. [L] `LDC_MTE_COPY_R`.
pub const LDC_MTE_COPY_R: u64 = 0x200;
/// IOMMU write. [L] `LDC_MTE_IOMMU_W`.
pub const LDC_MTE_IOMMU_W: u64 = 0x100;
/// IOMMU read. [L] `LDC_MTE_IOMMU_R`.
pub const LDC_MTE_IOMMU_R: u64 = 0x080;
/// Execute. [L] `LDC_MTE_EXEC`.
pub const LDC_MTE_EXEC: u64 = 0x040;
/// Write. [L] `LDC_MTE_WRITE`.
pub const LDC_MTE_WRITE: u64 = 0x020;
/// Read. [L] `LDC_MTE_READ`.
pub const LDC_MTE_READ: u64 = 0x010;
/// Page-size code field, bits 3:0. [L] `LDC_MTE_SZALL`.
pub const LDC_MTE_SZALL: u64 = 0x00f;
/// Real page frame, bits 55:13. [L] `LDC_MTE_PADDR`.
pub const LDC_MTE_PADDR: u64 = 0x0fff_ffff_ffff_e000;
/// Bytes per map-table entry (MTE word + invalidation cookie word). [O].
pub const LDC_MTE_BYTES: usize = 16;

/// Cookie page-size field: bits 63:60. [L] `COOKIE_PGSZ_CODE`.
pub const COOKIE_PGSZ_CODE: u64 = 0xf000_0000_0000_0000;
/// Shift of the cookie page-size field. [L] `COOKIE_PGSZ_CODE_SHIFT`.
pub const COOKIE_PGSZ_CODE_SHIFT: u32 = 60;

/// Builds a cookie: `(code << 60) | (index << page_shift) | offset`,
/// `page_shift = 13 + 3 × code`. [L] ldc.c `make_cookie`.
pub const fn make_cookie(pgsz_code: u64, index: u64, offset: u64) -> u64 {
    let shift = 13 + 3 * pgsz_code;
    (pgsz_code << COOKIE_PGSZ_CODE_SHIFT) | (index << shift) | (offset & ((1 << shift) - 1))
}

/// Splits a cookie into (page-size code, table index, offset in page).
pub const fn split_cookie(cookie: u64) -> (u64, u64, u64) {
    let code = (cookie & COOKIE_PGSZ_CODE) >> COOKIE_PGSZ_CODE_SHIFT;
    let shift = 13 + 3 * code;
    let body = cookie & !COOKIE_PGSZ_CODE;
    (code, body >> shift, body & ((1 << shift) - 1))
}

/// Packet type: control. [L] ldc.c `LDC_CTRL`.
pub const LDC_CTRL: u8 = 0x01;
/// Packet type: data. [L] `LDC_DATA`.
pub const LDC_DATA: u8 = 0x02;
/// Packet type: error. [L] `LDC_ERR`.
pub const LDC_ERR: u8 = 0x10;
/// Subtype bit: info. [L] `LDC_INFO`.
pub const LDC_INFO: u8 = 0x01;
/// Subtype bit: ack. [L] `LDC_ACK`.
pub const LDC_ACK: u8 = 0x02;
/// Subtype bit: nack. [L] `LDC_NACK`.
pub const LDC_NACK: u8 = 0x04;
/// Control message: version. [L] `LDC_VERS`.
pub const LDC_VERS: u8 = 0x01;
/// Control message: ready to send. [L] `LDC_RTS`.
pub const LDC_RTS: u8 = 0x02;
/// Control message: ready to receive. [L] `LDC_RTR`.
pub const LDC_RTR: u8 = 0x03;
/// Control message: ready for data exchange. [L] `LDC_RDX`.
pub const LDC_RDX: u8 = 0x04;
/// Mask of the ctrl byte. [L] `LDC_CTRL_MSK`.
pub const LDC_CTRL_MSK: u8 = 0x0f;
/// env bits 5:0: payload length. [L] `LDC_LEN`.
pub const LDC_LEN: u8 = 0x3f;
/// env bit: first fragment. [L] `LDC_FRAG_START`.
pub const LDC_FRAG_START: u8 = 0x40;
/// env bit: last fragment. [L] `LDC_FRAG_STOP`.
pub const LDC_FRAG_STOP: u8 = 0x80;
/// env fragment mask. [L] `LDC_FRAG_MASK`.
pub const LDC_FRAG_MASK: u8 = 0xc0;

/// Link mode: raw, no header. [L] `LDC_MODE_RAW`.
pub const LDC_MODE_RAW: u8 = 0;
/// Link mode: unreliable (56-byte payload). [L] `LDC_MODE_UNRELIABLE`.
pub const LDC_MODE_UNRELIABLE: u8 = 1;
/// Link mode: stream / reliable (48-byte payload). [L] `LDC_MODE_STREAM`.
pub const LDC_MODE_STREAM: u8 = 3;
/// Payload bytes of a reliable/stream packet.
pub const LDC_RELIABLE_PAYLOAD: usize = 48;
/// Payload bytes of an unreliable packet.
pub const LDC_UNRELIABLE_PAYLOAD: usize = 56;

/// An LDC packet in reliable/stream mode: 64 bytes, big-endian. [L] `struct ldc_packet`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct LdcPacket {
    /// `LDC_CTRL`, `LDC_DATA` or `LDC_ERR`.
    pub packet_type: u8,
    /// `LDC_INFO`, `LDC_ACK`, `LDC_NACK` bits.
    pub stype: u8,
    /// Control message (`LDC_VERS`...) for control packets.
    pub ctrl: u8,
    /// Payload length and fragment bits, or the link mode in RTS/RTR.
    pub env: u8,
    /// Sequence id.
    pub seqid: U32,
    /// Unused in reliable mode (first payload word in unreliable mode).
    pub unused: U32,
    /// Acknowledged sequence id.
    pub ackid: U32,
    /// Payload.
    pub payload: [u8; LDC_RELIABLE_PAYLOAD],
}

/// The version carried by a VERS control packet at offset 8. [L] `struct ldc_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct LdcVersion {
    /// Major.
    pub major: zerocopy::byteorder::big_endian::U16,
    /// Minor.
    pub minor: zerocopy::byteorder::big_endian::U16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_numbers_match_the_spec() {
        let table = [
            (LDC_TX_QCONF, 0xe0),
            (LDC_TX_QINFO, 0xe1),
            (LDC_TX_GET_STATE, 0xe2),
            (LDC_TX_SET_QTAIL, 0xe3),
            (LDC_RX_QCONF, 0xe4),
            (LDC_RX_QINFO, 0xe5),
            (LDC_RX_GET_STATE, 0xe6),
            (LDC_RX_SET_QHEAD, 0xe7),
            (LDC_SET_MAP_TABLE, 0xea),
            (LDC_GET_MAP_TABLE, 0xeb),
            (LDC_COPY, 0xec),
            (LDC_MAPIN, 0xed),
            (LDC_UNMAP, 0xee),
            (LDC_REVOKE, 0xef),
        ];
        for (value, expected) in table {
            assert_eq!(value, expected);
        }
    }

    #[test]
    fn states_bits_and_packet_constants_match_the_spec() {
        assert_eq!(
            (LDC_CHANNEL_DOWN, LDC_CHANNEL_UP, LDC_CHANNEL_RESET),
            (0, 1, 2)
        );
        assert_eq!((LDC_COPY_IN, LDC_COPY_OUT), (0, 1));
        assert_eq!(
            [
                LDC_MTE_COPY_W,
                LDC_MTE_COPY_R,
                LDC_MTE_IOMMU_W,
                LDC_MTE_IOMMU_R
            ],
            [0x400, 0x200, 0x100, 0x080]
        );
        assert_eq!(
            [LDC_MTE_EXEC, LDC_MTE_WRITE, LDC_MTE_READ],
            [0x40, 0x20, 0x10]
        );
        assert_eq!(LDC_MTE_SZALL, 0xf);
        assert_eq!(LDC_MTE_PADDR, 0x0fff_ffff_ffff_e000);
        assert_eq!(LDC_MTE_BYTES, 16);
        assert_eq!((LDC_CTRL, LDC_DATA, LDC_ERR), (0x01, 0x02, 0x10));
        assert_eq!((LDC_INFO, LDC_ACK, LDC_NACK), (0x01, 0x02, 0x04));
        assert_eq!((LDC_VERS, LDC_RTS, LDC_RTR, LDC_RDX), (1, 2, 3, 4));
        assert_eq!(
            (LDC_LEN, LDC_FRAG_START, LDC_FRAG_STOP, LDC_FRAG_MASK),
            (0x3f, 0x40, 0x80, 0xc0)
        );
        assert_eq!(
            (LDC_MODE_RAW, LDC_MODE_UNRELIABLE, LDC_MODE_STREAM),
            (0, 1, 3)
        );
        assert_eq!(LDC_PACKET_SIZE, 64);
    }

    #[test]
    fn packet_layout() {
        assert_eq!(core::mem::size_of::<LdcPacket>(), LDC_PACKET_SIZE);
        assert_eq!(core::mem::offset_of!(LdcPacket, seqid), 4);
        assert_eq!(core::mem::offset_of!(LdcPacket, ackid), 12);
        assert_eq!(core::mem::offset_of!(LdcPacket, payload), 16);
        assert_eq!(core::mem::size_of::<LdcVersion>(), 4);
    }

    #[test]
    fn cookies_round_trip() {
        assert_eq!(make_cookie(0, 1, 0), 1 << 13);
        assert_eq!(make_cookie(1, 2, 5), (1 << 60) | (2 << 16) | 5);
        for code in 0..4 {
            for index in [0u64, 1, 77, 8191] {
                let cookie = make_cookie(code, index, 40);
                assert_eq!(split_cookie(cookie), (code, index, 40));
            }
        }
    }
}
