//! LDOM group (0x101, v1.0): logical domain channel calls, queue, map-table
//! and cookie layout, and the 64-byte LDC packet.
//!
//! Source: [L] `hypervisor.h` (`HV_FAST_LDC_*`, `LDC_MTE_*`,
//! `LDC_CHANNEL_*`, `LDC_COPY_*`, `LDC_MEM_*`), [L] `arch/sparc/kernel/ldc.c`
//! (packet layout, modes, handshake constants), [O] `src/include/hypervisor.h`
//! (`LDC_MAP_*`) and `src/greatlakes/common/include/ldc.h` (the map-table
//! entry's layout and second word), [I] `ldc_impl.h`, which agrees with Linux.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every LDOM function, in number order.
    #[cfg(test)]
    const LDC_FUNCTIONS: [u64];
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
}

/// Channel state: the peer has no RX queue. [L] [O] [I] `LDC_CHANNEL_DOWN`.
pub const LDC_CHANNEL_DOWN: u64 = 0;
/// Channel state: up. [L] [O] [I] `LDC_CHANNEL_UP`.
pub const LDC_CHANNEL_UP: u64 = 1;
/// Channel state: the peer reset its queue since the last read.
/// [O] [I] `LDC_CHANNEL_RESET`; [L] names it `LDC_CHANNEL_RESETTING`.
#[doc(alias = "LDC_CHANNEL_RESETTING")]
pub const LDC_CHANNEL_RESET: u64 = 2;

/// `LDC_COPY` direction: from the peer's memory into ours. [L] [O] `LDC_COPY_IN`.
pub const LDC_COPY_IN: u64 = 0;
/// `LDC_COPY` direction: from ours into the peer's. [L] [O] `LDC_COPY_OUT`.
pub const LDC_COPY_OUT: u64 = 1;

/// Bytes per queue entry (one packet). [L] ldc.c `LDC_PACKET_SIZE`.
pub const LDC_PACKET_SIZE: usize = 64;

bitflags! {
    /// The permission bits of a map-table entry's word 0 (bits 10:4).
    /// [L] hypervisor.h `LDC_MTE_*`; [O] `ldc.h` defines the same bits as
    /// the [`MapPermissions`] shifted left by 4 (`LDC_MTE_PERM_SHIFT`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MtePermissions: u64 {
        /// The peer may `LDC_COPY` into the page (`COPY_OUT` from its side).
        #[doc(alias = "LDC_MTE_COPY_W")]
        const COPY_W = 0x400;
        /// The peer may `LDC_COPY` out of the page (`COPY_IN` on its side).
        #[doc(alias = "LDC_MTE_COPY_R")]
        const COPY_R = 0x200;
        /// The peer's I/O devices may write it (IOMMU mapping).
        #[doc(alias = "LDC_MTE_IOMMU_W")]
        const IOMMU_W = 0x100;
        /// The peer's I/O devices may read it.
        #[doc(alias = "LDC_MTE_IOMMU_R")]
        const IOMMU_R = 0x080;
        /// The peer may execute it once mapped in.
        #[doc(alias = "LDC_MTE_EXEC")]
        const EXEC = 0x040;
        /// The peer may write it once mapped in.
        #[doc(alias = "LDC_MTE_WRITE")]
        const WRITE = 0x020;
        /// The peer may read it once mapped in.
        #[doc(alias = "LDC_MTE_READ")]
        const READ = 0x010;
    }
}

/// Shift from [`MapPermissions`] to [`MtePermissions`]. [O] `LDC_MTE_PERM_SHIFT`.
pub const LDC_MTE_PERM_SHIFT: u32 = 4;

impl MtePermissions {
    /// The same permissions as `LDC_MAPIN` reports them (RET2).
    pub const fn map_permissions(self) -> MapPermissions {
        MapPermissions::from_bits_retain(self.bits() >> LDC_MTE_PERM_SHIFT)
    }
}

bitflags! {
    /// Permissions as `LDC_MAPIN` returns them in RET2. [O] hypervisor.h
    /// `LDC_MAP_*` (bits 0-6); [L] defines the first three as `LDC_MEM_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MapPermissions: u64 {
        /// Read. [L] `LDC_MEM_READ`.
        #[doc(alias = "LDC_MAP_R", alias = "LDC_MEM_READ")]
        const READ = 0x01;
        /// Write. [L] `LDC_MEM_WRITE`.
        #[doc(alias = "LDC_MAP_W", alias = "LDC_MEM_WRITE")]
        const WRITE = 0x02;
        /// Execute. [L] `LDC_MEM_EXEC`.
        #[doc(alias = "LDC_MAP_X", alias = "LDC_MEM_EXEC")]
        const EXEC = 0x04;
        /// I/O read.
        #[doc(alias = "LDC_MAP_IOR")]
        const IO_READ = 0x08;
        /// I/O write.
        #[doc(alias = "LDC_MAP_IOW")]
        const IO_WRITE = 0x10;
        /// Copy in (the entry's `COPY_R`).
        #[doc(alias = "LDC_MAP_COPY_IN")]
        const COPY_IN = 0x20;
        /// Copy out (the entry's `COPY_W`).
        #[doc(alias = "LDC_MAP_COPY_OUT")]
        const COPY_OUT = 0x40;
    }
}

impl MapPermissions {
    /// The permissions that make an entry mappable: an entry with none of
    /// them cannot be mapped in (`ENOACCESS`). [O] `LDC_MAPIN_MASK`.
    #[doc(alias = "LDC_MAPIN_MASK")]
    pub const MAPIN_MASK: MapPermissions = MapPermissions::READ
        .union(MapPermissions::WRITE)
        .union(MapPermissions::EXEC)
        .union(MapPermissions::IO_READ)
        .union(MapPermissions::IO_WRITE);
}

/// Page-size code field of word 0, bits 3:0. [L] `LDC_MTE_SZALL`.
pub const LDC_MTE_SZALL: u64 = 0x00f;
/// Real page frame, bits 55:13: the field every source's diagram draws
/// ([L] hypervisor.h comment "pa[55:13]", [O] ldc.h, which also extracts
/// it as bits 55:13 in `ldc.s`). Linux's own `LDC_MTE_PADDR` value,
/// `0x0fffffffffffe000`, masks bits 59:13, past what its comment says.
pub const LDC_MTE_PADDR: u64 = 0x00ff_ffff_ffff_e000;
/// Bytes per map-table entry (MTE word + invalidation cookie word). [O]
/// `LDC_MTE_SIZE`.
#[doc(alias = "LDC_MTE_SIZE")]
pub const LDC_MTE_BYTES: usize = 16;

/// Word 0 of a map-table entry: the page at `ra` (its page-frame bits),
/// `permissions`, page-size code `pgsz_code`.
pub const fn mte_word0(ra: u64, permissions: MtePermissions, pgsz_code: u64) -> u64 {
    (ra & LDC_MTE_PADDR) | permissions.bits() | (pgsz_code & LDC_MTE_SZALL)
}

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
bitflags! {
    /// The `stype` byte: INFO, ACK and NACK bits. [L] ldc.c `LDC_INFO`,
    /// `LDC_ACK`, `LDC_NACK`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Subtype: u8 {
        /// Information (a request or data).
        #[doc(alias = "LDC_INFO")]
        const INFO = 0x01;
        /// Acknowledgement.
        #[doc(alias = "LDC_ACK")]
        const ACK = 0x02;
        /// Negative acknowledgement.
        #[doc(alias = "LDC_NACK")]
        const NACK = 0x04;
    }
}

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
/// env fragment bits, [`Envelope::all`]. [L] `LDC_FRAG_MASK`.
pub const LDC_FRAG_MASK: u8 = 0xc0;

bitflags! {
    /// The fragment bits of a data packet's `env` byte (bits 5:0 are the
    /// length, [`LDC_LEN`]). [L] ldc.c `LDC_START`, `LDC_STOP`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Envelope: u8 {
        /// First fragment of a message.
        #[doc(alias = "LDC_START")]
        const START = 0x40;
        /// Last fragment of a message.
        #[doc(alias = "LDC_STOP")]
        const STOP = 0x80;
    }
}

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
    /// [`Subtype`] bits.
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
    use crate::abi::{assert_in_number_order, assert_layout};

    #[test]
    fn function_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(
            LDC_FUNCTIONS,
            [0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef]
        );
        assert_in_number_order(&LDC_FUNCTIONS);
    }

    #[test]
    fn states_bits_and_packet_constants_match_the_spec() {
        assert_eq!(
            (LDC_CHANNEL_DOWN, LDC_CHANNEL_UP, LDC_CHANNEL_RESET),
            (0, 1, 2)
        );
        assert_eq!((LDC_COPY_IN, LDC_COPY_OUT), (0, 1));
        assert_eq!(LDC_MTE_SZALL, 0xf);
        assert_eq!(LDC_MTE_PADDR, 0x00ff_ffff_ffff_e000);
        assert_eq!(LDC_MTE_PADDR.trailing_zeros(), 13);
        assert_eq!(64 - LDC_MTE_PADDR.leading_zeros(), 56, "bits 55:13");
        assert_eq!(LDC_MTE_BYTES, 16);
        assert_eq!((LDC_CTRL, LDC_DATA, LDC_ERR), (0x01, 0x02, 0x10));
        assert_eq!((LDC_VERS, LDC_RTS, LDC_RTR, LDC_RDX), (1, 2, 3, 4));
        assert_eq!((LDC_LEN, LDC_FRAG_MASK), (0x3f, 0xc0));
        assert_eq!(
            (LDC_MODE_RAW, LDC_MODE_UNRELIABLE, LDC_MODE_STREAM),
            (0, 1, 3)
        );
        assert_eq!(LDC_PACKET_SIZE, 64);
    }

    #[test]
    fn flag_sets_match_the_spec() {
        let mte = [
            (MtePermissions::COPY_W, 0x400),
            (MtePermissions::COPY_R, 0x200),
            (MtePermissions::IOMMU_W, 0x100),
            (MtePermissions::IOMMU_R, 0x080),
            (MtePermissions::EXEC, 0x040),
            (MtePermissions::WRITE, 0x020),
            (MtePermissions::READ, 0x010),
        ];
        for (flag, value) in mte {
            assert_eq!(flag.bits(), value, "{flag:?}");
        }
        let map = [
            (MapPermissions::READ, 0x01),
            (MapPermissions::WRITE, 0x02),
            (MapPermissions::EXEC, 0x04),
            (MapPermissions::IO_READ, 0x08),
            (MapPermissions::IO_WRITE, 0x10),
            (MapPermissions::COPY_IN, 0x20),
            (MapPermissions::COPY_OUT, 0x40),
        ];
        for (flag, value) in map {
            assert_eq!(flag.bits(), value, "{flag:?}");
        }
        assert_eq!(MapPermissions::MAPIN_MASK.bits(), 0x1f);
        assert_eq!(
            MtePermissions::all().map_permissions(),
            MapPermissions::all()
        );
        assert_eq!(
            MtePermissions::COPY_R.map_permissions(),
            MapPermissions::COPY_IN
        );
        assert_eq!(
            (
                Subtype::INFO.bits(),
                Subtype::ACK.bits(),
                Subtype::NACK.bits()
            ),
            (0x01, 0x02, 0x04)
        );
        assert_eq!(
            (Envelope::START.bits(), Envelope::STOP.bits()),
            (0x40, 0x80)
        );
        assert_eq!(Envelope::all().bits(), LDC_FRAG_MASK);
        assert_eq!(Envelope::all().bits() & LDC_LEN, 0);
    }

    #[test]
    fn mte_word0_keeps_only_the_page_frame() {
        let word = mte_word0(0xff12_3456_789a_bcde, MtePermissions::COPY_R, 1);
        assert_eq!(word, 0x0012_3456_789a_a000 | 0x200 | 1);
        assert_eq!(word & LDC_MTE_PADDR, 0x0012_3456_789a_a000);
    }

    #[test]
    fn packet_layout() {
        assert_layout!(LdcPacket { seqid: 4, ackid: 12, payload: 16 }, size: LDC_PACKET_SIZE);
        assert_layout!(LdcVersion { major: 0, minor: 2 }, size: 4);
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
