//! `LDC_COPY` of a whole range: the hypervisor may copy less than asked
//! (it stops at the end of the exporter's page), so the copy loops,
//! advancing the cookie, until every byte moved. Cookie, local RA and
//! length must be 8-byte aligned (OpenSPARC `hcall_ldc_copy`, `hv/API.md`
//! LDC_COPY); the exporter's
//! consecutive pages have consecutive map-table entries, so the cookie
//! space of a range is contiguous.

use ldmig_hv::abi::ldc::{LDC_COPY_IN, LDC_COPY_OUT};
use ldmig_hv::hypervisor::{Ldc, LocalRegion};

use ldmig::ldc_transport::error::BulkError;

/// Which way bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyDirection {
    /// From the peer's exported memory into ours (`LDC_COPY_IN`).
    In,
    /// From ours into the peer's exported memory (`LDC_COPY_OUT`).
    Out,
}

impl CopyDirection {
    /// The `LDC_COPY` direction argument.
    pub fn raw(self) -> u64 {
        match self {
            CopyDirection::In => LDC_COPY_IN,
            CopyDirection::Out => LDC_COPY_OUT,
        }
    }
}

/// Copies `length` bytes between the peer's cookie space at `cookie` and
/// our memory at `offset` of `local`; returns the number of `LDC_COPY`
/// calls made.
pub fn copy_all<H: Ldc>(
    hypervisor: &mut H,
    channel: u64,
    direction: CopyDirection,
    cookie: u64,
    local: &LocalRegion,
    offset: u64,
    length: u64,
) -> Result<u64, BulkError> {
    let local_ra = local.ra().wrapping_add(offset);
    let aligned = |value: u64| value.is_multiple_of(8);
    if !aligned(cookie) || !aligned(local_ra) || !aligned(length) {
        return Err(BulkError::CopyAlignment {
            cookie,
            local_ra,
            length,
        });
    }
    let mut done = 0u64;
    let mut calls = 0u64;
    while done < length {
        let at = cookie + done;
        let left = length - done;
        let copied = hypervisor
            .ldc_copy(channel, direction.raw(), at, local, offset + done, left)
            .map_err(|error| BulkError::Copy {
                direction: direction.raw(),
                cookie: at,
                error,
            })?;
        calls += 1;
        if copied == 0 || copied > left || !aligned(copied) {
            return Err(BulkError::CopyStalled { cookie: at });
        }
        done += copied;
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_hv::abi::ldc::{make_cookie, mte_word0, MtePermissions};
    use ldmig_hv::hypervisor::LocalMemory;
    use ldmig_hv::HvError;
    use ldmig_sim::ldc::{EndpointConfig, LdcFabric, SIM_DEFAULT_MEMORY, SIM_MEMORY_BASE};

    const TABLE: u64 = 0;
    const PAGES: u64 = 0x2_0000;

    #[test]
    fn copies_across_pages_in_both_directions() {
        let fabric = LdcFabric::new();
        let (mut importer, mut exporter) = fabric
            .create_pair(EndpointConfig::new(1), EndpointConfig::new(2))
            .expect("pair");
        let exported = exporter
            .local_region(SIM_MEMORY_BASE, SIM_DEFAULT_MEMORY)
            .expect("the exporter's memory");
        let ours = importer
            .local_region(SIM_MEMORY_BASE, SIM_DEFAULT_MEMORY)
            .expect("the importer's memory");
        let table = exported.subregion(TABLE, 8 * 16).expect("table");
        exporter.ldc_set_map_table(2, &table, 8).expect("table");
        for page in 0..3u64 {
            let permissions = MtePermissions::COPY_R | MtePermissions::COPY_W;
            let word0 = mte_word0(exported.ra() + PAGES + page * 8192, permissions, 0);
            let mut entry = [0u8; 16];
            entry[..8].copy_from_slice(&word0.to_be_bytes());
            exporter
                .local_write(&table, (page + 1) * 16, &entry)
                .expect("entry");
        }
        let pattern: Vec<u8> = (0..3 * 8192u32).map(|i| (i % 251) as u8).collect();
        exporter
            .local_write(&exported, PAGES, &pattern)
            .expect("fill");
        // From the middle of page 0 to the middle of page 2: three calls.
        let cookie = make_cookie(0, 1, 4096);
        let local = 0x8_0000;
        let calls = copy_all(
            &mut importer,
            1,
            CopyDirection::In,
            cookie,
            &ours,
            local,
            16384,
        )
        .expect("copy in");
        assert_eq!(calls, 3);
        let mut copied = vec![0u8; 16384];
        importer
            .local_read(&ours, local, &mut copied)
            .expect("read");
        assert_eq!(copied, pattern[4096..4096 + 16384]);
        importer
            .local_write(&ours, local, &[0xa5; 16384])
            .expect("overwrite");
        copy_all(
            &mut importer,
            1,
            CopyDirection::Out,
            cookie,
            &ours,
            local,
            16384,
        )
        .expect("copy out");
        let mut back = vec![0u8; 3 * 8192];
        exporter
            .local_read(&exported, PAGES, &mut back)
            .expect("read back");
        assert!(back[4096..4096 + 16384].iter().all(|&byte| byte == 0xa5));
        assert_eq!(back[..4096], pattern[..4096]);
        assert_eq!(
            copy_all(
                &mut importer,
                1,
                CopyDirection::In,
                cookie + 4,
                &ours,
                local,
                8
            ),
            Err(BulkError::CopyAlignment {
                cookie: cookie + 4,
                local_ra: ours.ra() + local,
                length: 8
            })
        );
        // Past the last exported page (an empty entry): the hypervisor's
        // error, named.
        assert_eq!(
            copy_all(
                &mut importer,
                1,
                CopyDirection::In,
                make_cookie(0, 5, 0),
                &ours,
                local,
                8
            ),
            Err(BulkError::Copy {
                direction: 0,
                cookie: make_cookie(0, 5, 0),
                error: HvError::NoAccess
            })
        );
    }
}
