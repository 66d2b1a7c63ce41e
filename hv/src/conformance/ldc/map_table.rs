//! Cases of `LDC_SET_MAP_TABLE`, `LDC_GET_MAP_TABLE` and `LDC_COPY`: B
//! exports pages through its map table, A copies in and out.

use super::fixture::{
    export, part, write_entry, LdcFixture, LdcPair, Side, LOCAL, NOWHERE, PAGE, TABLE,
    TABLE_ENTRIES,
};
use crate::abi::ldc::{
    make_cookie, mte_word0, MtePermissions, LDC_COPY_IN, LDC_COPY_OUT, LDC_MTE_BYTES,
};
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, fails_with, holds, succeeds};
use crate::hypervisor::{Ldc, LocalMemory};
use crate::HvError;

const MTE: u64 = LDC_MTE_BYTES as u64;

define_case! {
    /// A table registers and reads back; 0 entries unregisters it.
    map_table_registration<P: LdcPair, LdcFixture>,
    calls: "LDC_SET_MAP_TABLE, LDC_GET_MAP_TABLE",
    |pair, fixture| {
        let channel = fixture.channel(Side::B);
        let table = part(fixture, Side::B, TABLE, 64 * MTE)?;
        let end = pair.end(Side::B);
        let (_, entries) = succeeds("LDC_GET_MAP_TABLE before any", end.ldc_get_map_table(channel))?;
        equals("entries before any table", entries, 0)?;
        succeeds("LDC_SET_MAP_TABLE of 64 entries", end.ldc_set_map_table(channel, &table, 64))?;
        let (ra, entries) = succeeds("LDC_GET_MAP_TABLE", end.ldc_get_map_table(channel))?;
        equals("RET1 table RA", ra, table.ra())?;
        equals("RET2 entries", entries, 64)?;
        succeeds("LDC_SET_MAP_TABLE of 0 entries", end.ldc_set_map_table(channel, &table, 0))?;
        let (_, entries) = succeeds("LDC_GET_MAP_TABLE once unregistered", end.ldc_get_map_table(channel))?;
        equals("entries once unregistered", entries, 0)
    }
}

define_case! {
    /// Counts not a power of 2 in `2..2^30` are `EINVAL`, a table RA not
    /// 64-byte aligned `EBADALIGN` (checked before the channel), a table
    /// past its region `ENORADDR`, another channel `ECHANNEL`.
    map_table_errors<P: LdcPair, LdcFixture>,
    calls: "LDC_SET_MAP_TABLE, LDC_GET_MAP_TABLE",
    |pair, fixture| {
        let channel = fixture.channel(Side::B);
        let table = part(fixture, Side::B, TABLE, 64 * MTE)?;
        let misaligned = part(fixture, Side::B, TABLE + 32, 8 * MTE)?;
        let end = pair.end(Side::B);
        for entries in [3, 1, 1 << 30] {
            fails_with("LDC_SET_MAP_TABLE of a bad count", end.ldc_set_map_table(channel, &table, entries), HvError::Invalid)?;
        }
        each_fails_with!(HvError::BadAlignment;
            "LDC_SET_MAP_TABLE at RA + 32" => end.ldc_set_map_table(channel, &misaligned, 8),
            "LDC_SET_MAP_TABLE misaligned on another channel: alignment first" => end.ldc_set_map_table(fixture.unknown_channel, &misaligned, 8),
        )?;
        fails_with("LDC_SET_MAP_TABLE of 128 entries in 64", end.ldc_set_map_table(channel, &table, 128), HvError::NoRealAddress)?;
        each_fails_with!(HvError::Channel;
            "LDC_SET_MAP_TABLE of another channel" => end.ldc_set_map_table(fixture.unknown_channel, &table, 8),
            "LDC_GET_MAP_TABLE of another channel" => end.ldc_get_map_table(fixture.unknown_channel),
        )
    }
}

define_case! {
    /// `COPY_IN` and `COPY_OUT` move bytes both ways; a copy stops at the
    /// end of the remote page (RET1 says how far it got).
    copy_in_and_out_stops_at_the_page_end<P: LdcPair, LdcFixture>,
    calls: "LDC_COPY",
    |pair, fixture| {
        let page = export(pair, fixture, 2, MtePermissions::COPY_R | MtePermissions::COPY_W)?;
        let cookie = make_cookie(0, 2, 0);
        let channel = fixture.channel(Side::A);
        let (a, b) = (fixture.memory(Side::A), fixture.memory(Side::B));
        let copied = succeeds("LDC_COPY in", pair.end(Side::A).ldc_copy(channel, LDC_COPY_IN, cookie + 64, &a, LOCAL, 256))?;
        equals("RET1 of a copy inside the page", copied, 256)?;
        let (mut here, mut there) = ([0u8; 256], [0u8; 256]);
        succeeds("reading what was copied in", pair.end(Side::A).local_read(&a, LOCAL, &mut here))?;
        succeeds("reading the exported page", pair.end(Side::B).local_read(&b, page + 64, &mut there))?;
        holds("the bytes copied in are the page's", here == there)?;
        succeeds("writing the local buffer", pair.end(Side::A).local_write(&a, LOCAL, &[0x5a; 64]))?;
        let copied = succeeds("LDC_COPY out", pair.end(Side::A).ldc_copy(channel, LDC_COPY_OUT, cookie + 8, &a, LOCAL, 64))?;
        equals("RET1 of a copy out", copied, 64)?;
        succeeds("reading the exported page", pair.end(Side::B).local_read(&b, page + 8, &mut there[..64]))?;
        holds("the page holds the bytes copied out", there[..64].iter().all(|&byte| byte == 0x5a))?;
        let copied = succeeds(
            "LDC_COPY across the end of the remote page",
            pair.end(Side::A).ldc_copy(channel, LDC_COPY_IN, cookie + PAGE - 16, &a, LOCAL, 64),
        )?;
        equals("RET1 stops at the end of the page", copied, 16)
    }
}

define_case! {
    /// `COPY_IN` needs the entry's `COPY_R`, `COPY_OUT` its `COPY_W`; an
    /// entry without it, or an empty entry, is `ENOACCESS`.
    copy_without_the_copy_permission_is_enoaccess<P: LdcPair, LdcFixture>,
    calls: "LDC_COPY",
    |pair, fixture| {
        export(pair, fixture, 3, MtePermissions::COPY_R)?;
        export(pair, fixture, 4, MtePermissions::COPY_W)?;
        export(pair, fixture, 5, MtePermissions::READ | MtePermissions::WRITE)?;
        let channel = fixture.channel(Side::A);
        let a = fixture.memory(Side::A);
        let end = pair.end(Side::A);
        let (read_only, write_only, mapped_only) = (make_cookie(0, 3, 0), make_cookie(0, 4, 0), make_cookie(0, 5, 0));
        equals("LDC_COPY in with COPY_R", succeeds("LDC_COPY in", end.ldc_copy(channel, LDC_COPY_IN, read_only, &a, LOCAL, 8))?, 8)?;
        each_fails_with!(HvError::NoAccess;
            "LDC_COPY out without COPY_W" => end.ldc_copy(channel, LDC_COPY_OUT, read_only, &a, LOCAL, 8),
            "LDC_COPY in without COPY_R" => end.ldc_copy(channel, LDC_COPY_IN, write_only, &a, LOCAL, 8),
        )?;
        equals("LDC_COPY out with COPY_W", succeeds("LDC_COPY out", end.ldc_copy(channel, LDC_COPY_OUT, write_only, &a, LOCAL, 8))?, 8)?;
        each_fails_with!(HvError::NoAccess;
            "LDC_COPY in of a page exported READ | WRITE only" => end.ldc_copy(channel, LDC_COPY_IN, mapped_only, &a, LOCAL, 8),
            "LDC_COPY in of an empty entry" => end.ldc_copy(channel, LDC_COPY_IN, make_cookie(0, 9, 0), &a, LOCAL, 8),
        )
    }
}

define_case! {
    /// A direction above 1 or length 0 is `EINVAL`; a cookie, local address
    /// or length not a multiple of 8 `EBADALIGN`; a local range past its
    /// region `ENORADDR`; another channel `ECHANNEL`.
    copy_argument_errors<P: LdcPair, LdcFixture>,
    calls: "LDC_COPY",
    |pair, fixture| {
        export(pair, fixture, 1, MtePermissions::COPY_R | MtePermissions::COPY_W)?;
        let channel = fixture.channel(Side::A);
        let a = fixture.memory(Side::A);
        let small = part(fixture, Side::A, LOCAL, 16)?;
        let cookie = make_cookie(0, 1, 0);
        let end = pair.end(Side::A);
        each_fails_with!(HvError::Invalid;
            "LDC_COPY direction 2" => end.ldc_copy(channel, 2, cookie, &a, LOCAL, 8),
            "LDC_COPY of length 0" => end.ldc_copy(channel, LDC_COPY_IN, cookie, &a, LOCAL, 0),
        )?;
        each_fails_with!(HvError::BadAlignment;
            "LDC_COPY at cookie + 4" => end.ldc_copy(channel, LDC_COPY_IN, cookie + 4, &a, LOCAL, 8),
            "LDC_COPY to local + 4" => end.ldc_copy(channel, LDC_COPY_IN, cookie, &a, LOCAL + 4, 8),
            "LDC_COPY of 12 bytes" => end.ldc_copy(channel, LDC_COPY_IN, cookie, &a, LOCAL, 12),
        )?;
        fails_with("LDC_COPY of 24 bytes into 16", end.ldc_copy(channel, LDC_COPY_IN, cookie, &small, 0, 24), HvError::NoRealAddress)?;
        fails_with("LDC_COPY on another channel", end.ldc_copy(fixture.unknown_channel, LDC_COPY_IN, cookie, &a, LOCAL, 8), HvError::Channel)
    }
}

define_case! {
    /// No map table at the peer or an index past it is `ENOMAP`; a
    /// page-size code above 7 or unlike the entry's `EBADPGSZ`; a page
    /// outside the exporter's memory `ENORADDR`.
    copy_cookie_errors<P: LdcPair, LdcFixture>,
    calls: "LDC_COPY",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let a = fixture.memory(Side::A);
        let cookie = make_cookie(0, 1, 0);
        fails_with(
            "LDC_COPY with no map table at the peer",
            pair.end(Side::A).ldc_copy(channel, LDC_COPY_IN, cookie, &a, LOCAL, 8),
            HvError::NoMap,
        )?;
        export(pair, fixture, 1, MtePermissions::COPY_R | MtePermissions::COPY_W)?;
        let table = part(fixture, Side::B, TABLE, TABLE_ENTRIES * MTE)?;
        let b = fixture.memory(Side::B);
        // Entry 5: a 64 KiB page-size code; entry 6: a page nowhere.
        write_entry(pair.end(Side::B), &table, 5, mte_word0(b.ra(), MtePermissions::COPY_R, 1))?;
        write_entry(pair.end(Side::B), &table, 6, mte_word0(NOWHERE, MtePermissions::COPY_R, 0))?;
        let end = pair.end(Side::A);
        fails_with(
            "LDC_COPY of an index past the table",
            end.ldc_copy(channel, LDC_COPY_IN, make_cookie(0, TABLE_ENTRIES, 0), &a, LOCAL, 8),
            HvError::NoMap,
        )?;
        each_fails_with!(HvError::BadPageSize;
            "LDC_COPY of page-size code 8" => end.ldc_copy(channel, LDC_COPY_IN, 8 << 60, &a, LOCAL, 8),
            "LDC_COPY of an 8 KiB cookie to a 64 KiB entry" => end.ldc_copy(channel, LDC_COPY_IN, make_cookie(0, 5, 0), &a, LOCAL, 8),
        )?;
        fails_with(
            "LDC_COPY of a page outside the exporter's memory",
            end.ldc_copy(channel, LDC_COPY_IN, make_cookie(0, 6, 0), &a, LOCAL, 8),
            HvError::NoRealAddress,
        )
    }
}

define_case! {
    /// Alignment is checked before the arguments and the channel, the
    /// cookie's table lookup before the permission (OpenSPARC's order).
    copy_checks_alignment_before_arguments_and_channel<P: LdcPair, LdcFixture>,
    calls: "LDC_COPY",
    |pair, fixture| {
        let channel = fixture.channel(Side::A);
        let a = fixture.memory(Side::A);
        let end = pair.end(Side::A);
        let cookie = make_cookie(0, 1, 0) + 4;
        each_fails_with!(HvError::BadAlignment;
            "misaligned and direction 2" => end.ldc_copy(channel, 2, cookie, &a, LOCAL, 8),
            "misaligned on another channel" => end.ldc_copy(fixture.unknown_channel, LDC_COPY_IN, cookie, &a, LOCAL, 8),
        )?;
        fails_with(
            "length 0 on another channel",
            end.ldc_copy(fixture.unknown_channel, LDC_COPY_IN, cookie - 4, &a, LOCAL, 0),
            HvError::Invalid,
        )?;
        fails_with(
            "an empty entry with no table at the peer: the table first",
            end.ldc_copy(channel, LDC_COPY_IN, make_cookie(0, 1, 0), &a, LOCAL, 8),
            HvError::NoMap,
        )
    }
}
