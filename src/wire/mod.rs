//! Every byte format of the engine, in one codec idiom ([`codec`]).
//!
//! Everything is big-endian, in fixed-layout `zerocopy` structs whose
//! padding is explicit and zero ([`codec::Reserved`]); every enum reserves
//! 0 as invalid (`wire_enum!`); texts are NUL-padded UTF-8
//! ([`codec::Text`]); flags are `bitflags` sets ([`codec::FlagsField`]).
//! Each struct's decode sits beside it; every decoder bounds every length
//! before use, checks in one order (length bound, magic, version, kind,
//! reserved fields, field values, CRC), answers a [`DecodeError`] that
//! names what failed, and never panics.
//!
//! Engine to engine ([`frame`], [`record`], [`delta`], [`messages`]; frame
//! layout version 1, wire version 2):
//! ```text
//! frame  = FrameHeader (24 bytes) | payload (length bytes)
//! FrameHeader: magic "LDMG" u32 | layout version u16 (1) | frame type u16 | length u32
//!              | crc32 u32 (header with crc = 0, then payload) | sequence u64
//! frame types: 1 Hello 2 HelloAck 3 Pages 4 RoundEnd 5 Suspended 6 VcpuState
//!              7 Commit 8 CommitAck 9 Cancel 10 Failure 11 Resumed 12 Ping
//!              13 RoundAck
//! payload of a Pages frame = record*
//! record = PageRecordHeader (16 bytes) | data (length bytes)
//! PageRecordHeader: real address u64 | encoding u8 | reserved u8
//!                   | length u16 | crc32 of the uncompressed page u32
//! encoding: 1 zero (no data) | 2 LZ4 block (0 < length < 8192) | 3 raw (8192)
//!           | 4 delta (0 < length < 8192; wire version 2): run*
//! run = skip u16 | length u16 (> 0) | length new bytes (the page's bytes that
//!       changed since the version last sent, after skip unchanged ones)
//!
//! payloads (bytes)
//!   Hello 96 + 16 x blocks  wire version u16 | flags u16 (1 active, 2 bound)
//!                        | vcpus u32 | block count u32 (1..=64) | crypto units u32
//!                        | total pages u64 | frame bytes u32 | reserved u32
//!                        | name [64] ; then per block: ra u64 | size u64
//!   HelloAck 32          result u16 (1 accepted, 2 refused) | wire version u16
//!                        | reason u16 (StopReason, 0 when accepted) | reserved u16
//!                        | hv status u64 | ra u64 | size u64
//!   RoundEnd 24          round u32 | reserved u32 | pages u64 | dirty pages u64
//!   RoundAck 8           round u32 | reserved u32
//!   Suspended 8          dirty pages u64
//!   VcpuState            ldmig_hv::abi::migration::VcpuState as laid out there
//!   Commit 24            total records u64 | final records u64 | vcpus u32
//!                        | crypto units u32
//!   CommitAck 8          records applied u64
//!   Cancel, Failure 104  reason u16 (StopReason) | reserved u16 | detail u32
//!                        | text [96]
//!   Resumed, Ping 0
//! ```
//!
//! Engine to shim, as LDC messages ([`control`]; control version 1):
//! ```text
//! envelope (16 bytes)
//!   magic u16 = 0x4c43 "LC" | version u8 | kind u8 | session u32
//!   | sequence u32 | body length u16 | reserved u16
//! bodies (bytes)
//!   1 Hello 8            oldest u8 | newest u8 | reserved 6
//!   2 HelloAck 8         version u8 | reserved 3 | max frame bytes u32
//!   3 RingRegister 48    generation u32 | entries u16 | descriptor bytes u16
//!                        | slot bytes u32 | reserved u32 | transmit ring cookie u64
//!                        | receive ring cookie u64 | transmit oldest u64 | receive next u64
//!   4 RingRegistered 8   generation u32 | reserved u32
//!   5 Migrate, 6 DryRun 160  request u32 | downtime limit ms u32 | max rounds u32
//!                        | max time s u32 | max bandwidth u64 | throttle max u8
//!                        | reserved 7 | domain [64] | target domain [64]
//!   7 Status, 8 Cancel, 9 ListDomains, 10 ListFreeMemory 72
//!                        request u32 | reserved u32 | domain [64]
//!  11 Accepted 8         request u32 | reserved u32
//!  12 Phase 16           request u32 | phase u8 | reserved 3 | round u32 | reserved u32
//!  13 Progress 56        request u32 | phase u8 | percent u8 | throttle u8 | reserved u8
//!                        | rounds u32 | reserved u32 | transferred u64 | remaining u64
//!                        | total u64 | bandwidth u64 | expected downtime ns u64
//!  14 Warning 72         request u32 | code u16 | reserved u16 | text [64]
//!  15 Result 120         request u32 | kind u8 | source u8 | reason u16 | rounds u32
//!                        | reserved u32 | total time ns u64 | downtime ns u64
//!                        | transferred u64 | normal pages u64 | zero pages u64 | text [64]
//!  16 DomainEntry 88     request u32 | index u32 | vcpus u32 | state u8 | reserved 3
//!                        | memory bytes u64 | name [64]
//!  17 FreeMemoryEntry 24 request u32 | index u32 | pa u64 | size u64
//!  18 ListEnd 8          request u32 | count u32
//!  19 Error 80           request u32 | code u16 | reserved u16 | detail u64 | text [64]
//! ```
//!
//! The LDC bulk path's ring descriptor, in exported memory ([`descriptor`]):
//! ```text
//! Descriptor (32 bytes): state u8 (1 FREE, 2 READY, 4 DONE) | reserved 3
//!                        | length u32 | sequence u64 | cookie u64 | cookie size u64
//! ```
//! (`[n]` is `n` bytes of NUL-padded UTF-8.)

pub mod codec;
pub mod control;
pub mod delta;
pub mod descriptor;
pub mod frame;
pub mod lz4_deep;
pub mod messages;
pub mod record;
pub mod serial;

pub use codec::{BufferTooSmall, DecodeError, WireStruct};
pub use frame::{
    seal_frame, seal_frame_with_crc, Frame, FrameHeader, FrameType, FrameWriter, FRAME_HEADER_BYTES,
};
pub use record::{PageDecoder, PageEncoding, PageRecord, PageRecordHeader, PageRecords};
