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

use super::state::{MapTable, Mapping, Pair};
use super::{SIM_MAPIN_BASE, SIM_MAX_MAPPINGS};
use ldmig_hv::abi::ldc::{
    split_cookie, LDC_COPY_IN, LDC_COPY_OUT, LDC_MTE_BYTES, LDC_MTE_COPY_R, LDC_MTE_COPY_W,
    LDC_MTE_EXEC, LDC_MTE_PADDR, LDC_MTE_READ, LDC_MTE_SZALL, LDC_MTE_WRITE,
};
use ldmig_hv::abi::mmu::{page_size_bytes, PGSZ_16G};
use ldmig_hv::HvError;

/// MAPIN permission bits (sun4v-facts §3.4): read, write, exec.
const MAP_READ: u64 = 1;
const MAP_WRITE: u64 = 2;
const MAP_EXEC: u64 = 4;

/// Spacing of mapped-in pages in the importer's RA space (the largest page).
const MAPPING_STRIDE: u64 = 1 << 34;

/// Tag of the revoke cookies the simulated hypervisor hands out.
const REVOKE_COOKIE_TAG: u64 = 0x5256_0000_0000_0000;

/// A map-table entry found through a cookie.
struct Entry {
    index: u64,
    word0: u64,
    page_ra: u64,
    page_bytes: u64,
    offset: u64,
}

impl Pair {
    /// Reads word `word` of entry `index` of `side`'s table.
    fn table_word(&self, side: usize, table: MapTable, index: u64, word: u64) -> Option<u64> {
        let end = &self.ends[side];
        let ra = table.ra + index * LDC_MTE_BYTES as u64 + word * 8;
        let range = end.memory_range(ra, 8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&end.memory[range]);
        Some(u64::from_be_bytes(bytes))
    }

    fn set_table_word(&mut self, side: usize, table: MapTable, index: u64, value: u64) {
        let end = &mut self.ends[side];
        let ra = table.ra + index * LDC_MTE_BYTES as u64 + 8;
        if let Some(range) = end.memory_range(ra, 8) {
            end.memory[range].copy_from_slice(&value.to_be_bytes());
        }
    }

    /// Looks a cookie up in `exporter`'s table: ENOMAP without a table or
    /// for an index past it, EBADPGSZ for a bad or mismatched page size,
    /// ENORADDR for a page outside the exporter's memory.
    fn lookup(&self, exporter: usize, cookie: u64) -> Result<Entry, HvError> {
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
        if word0 == 0 {
            return Err(HvError::NoMap);
        }
        if word0 & LDC_MTE_SZALL != code {
            return Err(HvError::BadPageSize);
        }
        let page_bytes = page_size_bytes(code);
        let page_ra = word0 & LDC_MTE_PADDR;
        if !page_ra.is_multiple_of(page_bytes) {
            return Err(HvError::BadPageSize);
        }
        end.memory_range(page_ra, page_bytes)
            .ok_or(HvError::NoRealAddress)?;
        Ok(Entry {
            index,
            word0,
            page_ra,
            page_bytes,
            offset,
        })
    }

    pub(super) fn set_map_table(
        &mut self,
        side: usize,
        channel: u64,
        ra: u64,
        entries: u64,
    ) -> Result<(), HvError> {
        self.check_channel(side, channel)?;
        let end = &mut self.ends[side];
        if entries == 0 {
            end.map_table = None;
            return Ok(());
        }
        if !(2..(1 << 30)).contains(&entries) || !entries.is_power_of_two() {
            return Err(HvError::Invalid);
        }
        if !ra.is_multiple_of(64) {
            return Err(HvError::BadAlignment);
        }
        end.memory_range(ra, entries * LDC_MTE_BYTES as u64)
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

    /// `LDC_COPY`: copies up to the end of the remote page; returns bytes copied.
    pub(super) fn copy(
        &mut self,
        side: usize,
        channel: u64,
        direction: u64,
        cookie: u64,
        local_ra: u64,
        length: u64,
    ) -> Result<u64, HvError> {
        self.check_channel(side, channel)?;
        if direction > LDC_COPY_OUT || length == 0 {
            return Err(HvError::Invalid);
        }
        if !cookie.is_multiple_of(8) || !local_ra.is_multiple_of(8) || !length.is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        let exporter = 1 - side;
        let entry = self.lookup(exporter, cookie)?;
        let needed = if direction == LDC_COPY_IN {
            LDC_MTE_COPY_R
        } else {
            LDC_MTE_COPY_W
        };
        if entry.word0 & needed == 0 {
            return Err(HvError::NoMap);
        }
        let count = length.min(entry.page_bytes - entry.offset);
        let remote = self.ends[exporter]
            .memory_range(entry.page_ra + entry.offset, count)
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
        if direction == LDC_COPY_IN {
            local_end.memory[local].copy_from_slice(&remote_end.memory[remote]);
        } else {
            remote_end.memory[remote].copy_from_slice(&local_end.memory[local]);
        }
        Ok(count)
    }

    /// `LDC_MAPIN`: maps the peer's page into this endpoint; returns (RA of
    /// the cookie's byte, permissions).
    pub(super) fn mapin(
        &mut self,
        side: usize,
        channel: u64,
        cookie: u64,
    ) -> Result<(u64, u64), HvError> {
        self.check_channel(side, channel)?;
        let exporter = 1 - side;
        let entry = self.lookup(exporter, cookie)?;
        let mut permissions = 0;
        for (bit, permission) in [
            (LDC_MTE_READ, MAP_READ),
            (LDC_MTE_WRITE, MAP_WRITE),
            (LDC_MTE_EXEC, MAP_EXEC),
        ] {
            if entry.word0 & bit != 0 {
                permissions |= permission;
            }
        }
        if permissions == 0 {
            return Err(HvError::NoMap);
        }
        let importer = &mut self.ends[side];
        if importer.mappings.len() >= SIM_MAX_MAPPINGS {
            return Err(HvError::TooMany);
        }
        importer.next_mapping += 1;
        let id = importer.next_mapping;
        let mapping = Mapping {
            ra: SIM_MAPIN_BASE + id * MAPPING_STRIDE,
            page_bytes: entry.page_bytes,
            exporter_ra: entry.page_ra,
            permissions,
            table_index: entry.index,
            revoke_cookie: REVOKE_COOKIE_TAG | ((side as u64) << 32) | id,
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

    /// Where `[ra, ra + length)` lives: this endpoint's memory, or a page it
    /// mapped in (then the permission `needed` is checked).
    fn resolve(
        &self,
        side: usize,
        ra: u64,
        length: u64,
        needed: u64,
    ) -> Result<(usize, std::ops::Range<usize>), HvError> {
        if !ra.is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
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
        if mapping.permissions & needed == 0 {
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
        ra: u64,
        buffer: &mut [u8],
    ) -> Result<(), HvError> {
        let (owner, range) = self.resolve(side, ra, buffer.len() as u64, MAP_READ)?;
        buffer.copy_from_slice(&self.ends[owner].memory[range]);
        Ok(())
    }

    pub(super) fn local_write(&mut self, side: usize, ra: u64, data: &[u8]) -> Result<(), HvError> {
        let (owner, range) = self.resolve(side, ra, data.len() as u64, MAP_WRITE)?;
        self.ends[owner].memory[range].copy_from_slice(data);
        Ok(())
    }
}
