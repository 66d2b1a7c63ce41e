//! LDC shared memory in the simulated hypervisor: the map table
//! (`LDC_SET_MAP_TABLE`/`LDC_GET_MAP_TABLE`), `LDC_COPY` in both
//! directions, `LDC_MAPIN`/`LDC_UNMAP`/`LDC_REVOKE`, and the endpoints'
//! real-address memory access including mapped-in pages.
//!
//! A cookie is `(page-size code << 60) | (table index << page shift) |
//! offset` ([`ldmig_hv::abi::ldc::split_cookie`]); the entry at that index of
//! the exporter's table gives the page (MTE word 0: RA bits 55:13,
//! permissions, page-size code), and word 1 holds the revoke cookie the
//! hypervisor writes when the page is mapped in.
//!
//! `LDC_COPY` and `LDC_MAPIN` check in the order of the OpenSPARC
//! hypervisor (`src/greatlakes/common/src/ldc.s`, `hcall_ldc_copy` and
//! `hcall_ldc_mapin`), with the same status for each check; `hv/API.md`
//! lists the order.

use super::state::{MapTable, Mapping, Pair};
use super::{SIM_MAPIN_BASE, SIM_MAX_MAPPINGS};
use ldmig_hv::abi::ldc::{
    split_cookie, MapPermissions, MtePermissions, LDC_COPY_IN, LDC_COPY_OUT, LDC_MTE_BYTES,
    LDC_MTE_PADDR, LDC_MTE_SZALL,
};
use ldmig_hv::abi::mmu::{page_size_bytes, PGSZ_16G};
use ldmig_hv::hypervisor::LocalRegion;
use ldmig_hv::HvError;

/// One `LDC_COPY` as the caller asks it: the peer's page at `cookie`, and
/// `length` bytes at `offset` of the caller's `local` region.
#[derive(Clone, Copy, Debug)]
pub(super) struct CopyRequest<'a> {
    /// The caller's channel.
    pub(super) channel: u64,
    /// [`LDC_COPY_IN`] or [`LDC_COPY_OUT`].
    pub(super) direction: u64,
    /// Names the exporter's map-table entry and the offset in its page.
    pub(super) cookie: u64,
    /// The caller's memory the bytes come from or go to.
    pub(super) local: &'a LocalRegion,
    /// Where in `local`.
    pub(super) offset: u64,
    /// Bytes asked for.
    pub(super) length: u64,
}

/// Spacing of mapped-in pages in the importer's RA space (the largest page).
const MAPPING_STRIDE: u64 = 1 << 34;

/// Tag of the revoke cookies the simulated hypervisor hands out.
const REVOKE_COOKIE_TAG: u64 = 0x5256_0000_0000_0000;

/// Bytes of one map-table entry, as a `u64`.
const MTE_BYTES: u64 = LDC_MTE_BYTES as u64;

/// A map-table entry found through a cookie (its table checks passed).
struct Entry {
    index: u64,
    code: u64,
    word0: u64,
    offset: u64,
}

impl Entry {
    fn permissions(&self) -> MtePermissions {
        MtePermissions::from_bits_truncate(self.word0)
    }
}

/// The page an entry names, once its size and address are checked.
struct Page {
    ra: u64,
    bytes: u64,
}

impl Pair {
    /// Reads word `word` of entry `index` of `side`'s table.
    fn table_word(&self, side: usize, table: MapTable, index: u64, word: u64) -> Option<u64> {
        let end = &self.ends[side];
        let ra = table.ra + index * MTE_BYTES + word * 8;
        let range = end.memory_range(ra, 8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&end.memory[range]);
        Some(u64::from_be_bytes(bytes))
    }

    fn set_table_word(&mut self, side: usize, table: MapTable, index: u64, value: u64) {
        let end = &mut self.ends[side];
        let ra = table.ra + index * MTE_BYTES + 8;
        if let Some(range) = end.memory_range(ra, 8) {
            end.memory[range].copy_from_slice(&value.to_be_bytes());
        }
    }

    /// Finds a cookie's entry in `exporter`'s table: `ENOMAP` without a
    /// table (or without a peer), `EBADPGSZ` for a page-size code that does
    /// not exist, `ENOMAP` for an index past the table.
    fn entry(&self, exporter: usize, cookie: u64) -> Result<Entry, HvError> {
        let end = &self.ends[exporter];
        let table = end
            .map_table
            .filter(|_| end.attached)
            .ok_or(HvError::NoMap)?;
        let (code, index, offset) = split_cookie(cookie);
        if code > PGSZ_16G {
            return Err(HvError::BadPageSize);
        }
        if index >= table.entries {
            return Err(HvError::NoMap);
        }
        let word0 = self
            .table_word(exporter, table, index, 0)
            .ok_or(HvError::NoMap)?;
        Ok(Entry {
            index,
            code,
            word0,
            offset,
        })
    }

    /// The page of an entry: `EBADPGSZ` when the entry's page-size code is
    /// not the cookie's, `misaligned` when the page RA is not aligned to
    /// its size, `ENORADDR` when the page is not in the exporter's memory.
    fn page(&self, exporter: usize, entry: &Entry, misaligned: HvError) -> Result<Page, HvError> {
        if entry.word0 & LDC_MTE_SZALL != entry.code {
            return Err(HvError::BadPageSize);
        }
        let bytes = page_size_bytes(entry.code);
        let ra = entry.word0 & LDC_MTE_PADDR;
        if !ra.is_multiple_of(bytes) {
            return Err(misaligned);
        }
        self.ends[exporter]
            .memory_range(ra, bytes)
            .ok_or(HvError::NoRealAddress)?;
        Ok(Page { ra, bytes })
    }

    /// `LDC_SET_MAP_TABLE`, checked in OpenSPARC's order: table alignment,
    /// channel, 0 entries (unregister), entry count, memory.
    pub(super) fn set_map_table(
        &mut self,
        side: usize,
        channel: u64,
        table: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError> {
        // The RA the real call passes: 0 to unregister.
        let ra = if entries == 0 { 0 } else { table.ra() };
        if !ra.is_multiple_of(64) {
            return Err(HvError::BadAlignment);
        }
        self.check_channel(side, channel)?;
        let end = &mut self.ends[side];
        if entries == 0 {
            end.map_table = None;
            return Ok(());
        }
        if !(2..(1 << 30)).contains(&entries) || !entries.is_power_of_two() {
            return Err(HvError::Invalid);
        }
        let bytes = entries * MTE_BYTES;
        table
            .address_of(0, bytes)
            .and_then(|ra| end.memory_range(ra, bytes))
            .ok_or(HvError::NoRealAddress)?;
        end.map_table = Some(MapTable { ra, entries });
        Ok(())
    }

    pub(super) fn get_map_table(
        &mut self,
        side: usize,
        channel: u64,
    ) -> Result<(u64, u64), HvError> {
        self.check_channel(side, channel)?;
        Ok(self.ends[side]
            .map_table
            .map_or((0, 0), |table| (table.ra, table.entries)))
    }

    /// `LDC_COPY`: copies up to the end of the remote page; returns bytes
    /// copied. Checks, in OpenSPARC's order: alignment of the cookie, the
    /// local RA and the length (`EBADALIGN`), direction and length
    /// (`EINVAL`), channel, the local range (`ENORADDR`), the entry
    /// ([`Pair::entry`]), the copy permission (`ENOACCESS`: `COPY_R` to copy
    /// in, `COPY_W` to copy out; an empty entry has neither), then the page
    /// ([`Pair::page`], a misaligned page `EBADPGSZ`).
    pub(super) fn copy(&mut self, side: usize, request: &CopyRequest<'_>) -> Result<u64, HvError> {
        let local_ra = request.local.ra().wrapping_add(request.offset);
        if !(request.cookie | local_ra | request.length).is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        if request.direction > LDC_COPY_OUT || request.length == 0 {
            return Err(HvError::Invalid);
        }
        self.check_channel(side, request.channel)?;
        request
            .local
            .address_of(request.offset, request.length)
            .and_then(|ra| self.ends[side].memory_range(ra, request.length))
            .ok_or(HvError::NoRealAddress)?;
        let exporter = 1 - side;
        let entry = self.entry(exporter, request.cookie)?;
        let needed = if request.direction == LDC_COPY_IN {
            MtePermissions::COPY_R
        } else {
            MtePermissions::COPY_W
        };
        if !entry.permissions().contains(needed) {
            return Err(HvError::NoAccess);
        }
        let page = self.page(exporter, &entry, HvError::BadPageSize)?;
        let count = request.length.min(page.bytes - entry.offset);
        let remote = self.ends[exporter]
            .memory_range(page.ra + entry.offset, count)
            .ok_or(HvError::NoRealAddress)?;
        let local = self.ends[side]
            .memory_range(local_ra, count)
            .ok_or(HvError::NoRealAddress)?;
        let [first, second] = &mut self.ends;
        let (local_end, remote_end) = if side == 0 {
            (first, second)
        } else {
            (second, first)
        };
        if request.direction == LDC_COPY_IN {
            local_end.memory[local].copy_from_slice(&remote_end.memory[remote]);
        } else {
            remote_end.memory[remote].copy_from_slice(&local_end.memory[local]);
        }
        Ok(count)
    }

    /// `LDC_MAPIN`: maps the peer's page into this endpoint; returns (RA
    /// of the cookie's byte, the entry's permissions). Checks, in
    /// OpenSPARC's order: channel, the entry ([`Pair::entry`]), a mappable
    /// permission (`ENOACCESS` without any of [`MapPermissions::MAPIN_MASK`];
    /// an empty entry has none), the page ([`Pair::page`], a misaligned page
    /// `EBADALIGN`), room for the mapping (`ETOOMANY`).
    pub(super) fn mapin(
        &mut self,
        side: usize,
        channel: u64,
        cookie: u64,
    ) -> Result<(u64, MapPermissions), HvError> {
        self.check_channel(side, channel)?;
        let exporter = 1 - side;
        let entry = self.entry(exporter, cookie)?;
        let permissions = entry.permissions().map_permissions();
        if !permissions.intersects(MapPermissions::MAPIN_MASK) {
            return Err(HvError::NoAccess);
        }
        let page = self.page(exporter, &entry, HvError::BadAlignment)?;
        let importer = &mut self.ends[side];
        if importer.mappings.len() >= SIM_MAX_MAPPINGS {
            return Err(HvError::TooMany);
        }
        importer.next_mapping += 1;
        let id = importer.next_mapping;
        let side_tag = if side == 0 { 0 } else { 1 << 32 };
        let mapping = Mapping {
            ra: SIM_MAPIN_BASE + id * MAPPING_STRIDE,
            page_bytes: page.bytes,
            exporter_ra: page.ra,
            permissions,
            table_index: entry.index,
            revoke_cookie: REVOKE_COOKIE_TAG | side_tag | id,
        };
        importer.mappings.push(mapping);
        if let Some(table) = self.ends[exporter].map_table {
            self.set_table_word(exporter, table, entry.index, mapping.revoke_cookie);
        }
        Ok((mapping.ra + entry.offset, permissions))
    }

    /// `LDC_UNMAP`: ENOMAP unless `ra` lies in a page mapped in.
    pub(super) fn unmap(&mut self, side: usize, ra: u64) -> Result<(), HvError> {
        let importer = &mut self.ends[side];
        let position = importer
            .mappings
            .iter()
            .position(|mapping| (mapping.ra..mapping.ra + mapping.page_bytes).contains(&ra))
            .ok_or(HvError::NoMap)?;
        let mapping = importer.mappings.remove(position);
        let exporter = 1 - side;
        if let Some(table) = self.ends[exporter].map_table {
            let word1 = self.table_word(exporter, table, mapping.table_index, 1);
            if word1 == Some(mapping.revoke_cookie) {
                self.set_table_word(exporter, table, mapping.table_index, 0);
            }
        }
        Ok(())
    }

    /// `LDC_REVOKE` by the exporter: ENOMAP without a table or past it,
    /// EINVAL when no mapping of that entry has that revoke cookie.
    pub(super) fn revoke(
        &mut self,
        side: usize,
        channel: u64,
        cookie: u64,
        revoke_cookie: u64,
    ) -> Result<(), HvError> {
        self.check_channel(side, channel)?;
        let table = self.ends[side].map_table.ok_or(HvError::NoMap)?;
        let (code, index, _) = split_cookie(cookie);
        if code > PGSZ_16G {
            return Err(HvError::BadPageSize);
        }
        if index >= table.entries {
            return Err(HvError::NoMap);
        }
        let importer = &mut self.ends[1 - side];
        let position = importer
            .mappings
            .iter()
            .position(|mapping| {
                mapping.table_index == index && mapping.revoke_cookie == revoke_cookie
            })
            .ok_or(HvError::Invalid)?;
        importer.mappings.remove(position);
        self.set_table_word(side, table, index, 0);
        Ok(())
    }

    /// Whether `[ra, ra + length)` is this endpoint's memory or lies in
    /// one page it mapped in.
    pub(super) fn owns(&self, side: usize, ra: u64, length: u64) -> bool {
        let end = &self.ends[side];
        if ra < SIM_MAPIN_BASE {
            return end.memory_range(ra, length).is_some();
        }
        end.mappings.iter().any(|mapping| {
            ra.checked_sub(mapping.ra)
                .and_then(|offset| offset.checked_add(length))
                .is_some_and(|end| end <= mapping.page_bytes)
        })
    }

    /// Where `[offset, offset + length)` of `region` lives: this endpoint's
    /// memory, or a page it mapped in (then the permission `needed` is
    /// checked). The address must be 8-byte aligned.
    fn resolve(
        &self,
        side: usize,
        region: &LocalRegion,
        offset: u64,
        length: u64,
        needed: MapPermissions,
    ) -> Result<(usize, std::ops::Range<usize>), HvError> {
        if !region.ra().wrapping_add(offset).is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        let ra = region
            .address_of(offset, length)
            .ok_or(HvError::NoRealAddress)?;
        let end = &self.ends[side];
        if ra < SIM_MAPIN_BASE {
            return end
                .memory_range(ra, length)
                .map(|range| (side, range))
                .ok_or(HvError::NoRealAddress);
        }
        let mapping = end
            .mappings
            .iter()
            .find(|mapping| (mapping.ra..mapping.ra + mapping.page_bytes).contains(&ra))
            .ok_or(HvError::NoRealAddress)?;
        if !mapping.permissions.contains(needed) {
            return Err(HvError::NoAccess);
        }
        let offset = ra - mapping.ra;
        if offset + length > mapping.page_bytes {
            return Err(HvError::NoRealAddress);
        }
        let exporter = 1 - side;
        self.ends[exporter]
            .memory_range(mapping.exporter_ra + offset, length)
            .map(|range| (exporter, range))
            .ok_or(HvError::NoRealAddress)
    }

    pub(super) fn local_read(
        &mut self,
        side: usize,
        region: &LocalRegion,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<(), HvError> {
        let length = buffer.len() as u64;
        let (owner, range) = self.resolve(side, region, offset, length, MapPermissions::READ)?;
        buffer.copy_from_slice(&self.ends[owner].memory[range]);
        Ok(())
    }

    pub(super) fn local_write(
        &mut self,
        side: usize,
        region: &LocalRegion,
        offset: u64,
        data: &[u8],
    ) -> Result<(), HvError> {
        let length = data.len() as u64;
        let (owner, range) = self.resolve(side, region, offset, length, MapPermissions::WRITE)?;
        self.ends[owner].memory[range].copy_from_slice(data);
        Ok(())
    }
}
