//! Cases of `MIG_DOMAIN_CREATE`, `MIG_MEMBLOCK_BIND`, `MIG_DOMAIN_DESTROY`,
//! `MIG_DOMAIN_SET_STATE`, `MIG_CRYPTO_REMOVE` and `MIG_CRYPTO_ADD`.

use super::fixture::{suspended_is, AlignedPage, AlignedVcpuState, MigrationFixture};
use crate::abi::cpu::CPU_STATE_STOPPED;
use crate::abi::mmu::PAGE_SIZE;
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, fails_with, holds, succeeds};
use crate::hypervisor::{DomainRunState, Hypervisor};
use crate::HvError;

const PAGE: u64 = PAGE_SIZE as u64;

define_case! {
    /// A created domain is bound, suspended, NORMAL, with no memory or
    /// crypto units and zeroed, stopped vCPUs numbered from 0.
    create_domain_is_bound_suspended_and_empty<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_CREATE",
    |hypervisor, fixture| {
        let vcpus = fixture.free_strands.min(3);
        let created = succeeds("MIG_DOMAIN_CREATE", hypervisor.create_domain(vcpus))?;
        holds("a new domain number", created != fixture.domain)?;
        let info = succeeds("MIG_DOMAIN_INFO of the new domain", hypervisor.domain_info(created))?;
        equals("its vCPUs", info.vcpus, vcpus)?;
        equals("its memory blocks", info.memory_blocks, 0)?;
        holds("its state is NORMAL", info.state == DomainRunState::Normal)?;
        suspended_is("a new domain is suspended", hypervisor, created, true)?;
        let mut state = AlignedVcpuState::zeroed();
        succeeds(
            "MIG_VCPU_GET_STATE of its last vCPU",
            hypervisor.vcpu_state(created, vcpus - 1, &mut state.0),
        )?;
        equals("vcpu_id", state.0.vcpu_id.get(), vcpus - 1)?;
        equals("cpu_state (stopped)", state.0.cpu_state.get(), CPU_STATE_STOPPED)?;
        equals("pc of a new vCPU", state.0.pc.get(), 0)?;
        let removed = succeeds("MIG_CRYPTO_REMOVE of the new domain", hypervisor.remove_crypto_units(created))?;
        equals("crypto units of a new domain", removed, 0)
    }
}

define_case! {
    /// More vCPUs than free strands is `ETOOMANY`; exactly the free ones fit.
    create_domain_more_vcpus_than_free_strands_is_etoomany<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_CREATE",
    |hypervisor, fixture| {
        fails_with(
            "MIG_DOMAIN_CREATE of one vCPU more than the free strands",
            hypervisor.create_domain(fixture.free_strands + 1),
            HvError::TooMany,
        )?;
        succeeds(
            "MIG_DOMAIN_CREATE of exactly the free strands",
            hypervisor.create_domain(fixture.free_strands),
        )?;
        fails_with(
            "MIG_DOMAIN_CREATE with no strand left",
            hypervisor.create_domain(1),
            HvError::TooMany,
        )
    }
}

define_case! {
    /// Zero vCPUs is `EINVAL`.
    create_domain_zero_vcpus_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_CREATE",
    |hypervisor, _fixture| {
        fails_with("MIG_DOMAIN_CREATE of 0 vCPUs", hypervisor.create_domain(0), HvError::Invalid)
    }
}

define_case! {
    /// A bound block takes the next index, at the RA asked, and reads zero.
    bind_memory_block_binds_zeroed_memory_in_block_order<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, fixture| {
        let created = succeeds("MIG_DOMAIN_CREATE", hypervisor.create_domain(1))?;
        let ra = fixture.block(0)?.ra;
        let size = fixture.bindable_bytes;
        let pa = succeeds("MIG_MEMBLOCK_BIND of a size that fits", hypervisor.bind_memory_block(created, ra, size))?;
        holds("RET1 is 8 KiB aligned", pa.is_multiple_of(PAGE))?;
        succeeds("MIG_MEMBLOCK_BIND of a page after it", hypervisor.bind_memory_block(created, ra + size, PAGE))?;
        let first = succeeds("MIG_MEMBLOCK_INFO of block 0", hypervisor.memory_block(created, 0))?;
        equals("block 0 RA", first.ra, ra)?;
        equals("block 0 size", first.size, size)?;
        let second = succeeds("MIG_MEMBLOCK_INFO of block 1", hypervisor.memory_block(created, 1))?;
        equals("block 1 RA", second.ra, ra + size)?;
        let mut page = AlignedPage::filled(0xff);
        succeeds(
            "MIG_PAGE_READ of the new block's last bytes",
            hypervisor.read_memory(created, ra + size - 64, &mut page.0[..64]),
        )?;
        holds("new memory reads zero", page.0[..64].iter().all(|&byte| byte == 0))
    }
}

define_case! {
    /// A size no single free range holds is `ENORADDR`, however much is
    /// free in all.
    bind_memory_block_without_a_contiguous_range_is_enoraddr<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, fixture| {
        let created = succeeds("MIG_DOMAIN_CREATE", hypervisor.create_domain(1))?;
        let ra = fixture.block(0)?.ra;
        fails_with(
            "MIG_MEMBLOCK_BIND larger than every free range",
            hypervisor.bind_memory_block(created, ra, fixture.unbindable_bytes),
            HvError::NoRealAddress,
        )?;
        let info = succeeds("MIG_DOMAIN_INFO", hypervisor.domain_info(created))?;
        equals("blocks after the refused bind", info.memory_blocks, 0)
    }
}

define_case! {
    /// A range overlapping one of the domain's blocks, or wrapping past
    /// 2^64, is `EINVAL`.
    bind_memory_block_overlapping_ra_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, fixture| {
        let block = fixture.block(0)?;
        fails_with(
            "MIG_MEMBLOCK_BIND across the end of a block",
            hypervisor.bind_memory_block(fixture.domain, block.ra + block.size - PAGE, 2 * PAGE),
            HvError::Invalid,
        )?;
        if block.ra >= PAGE {
            fails_with(
                "MIG_MEMBLOCK_BIND over a whole block",
                hypervisor.bind_memory_block(fixture.domain, block.ra - PAGE, block.size + 2 * PAGE),
                HvError::Invalid,
            )?;
        }
        fails_with(
            "MIG_MEMBLOCK_BIND wrapping past 2^64",
            hypervisor.bind_memory_block(fixture.domain, u64::MAX - PAGE + 1, 2 * PAGE),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// Size 0 or an unknown domain is `EINVAL`.
    bind_memory_block_zero_size_or_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, fixture| {
        each_fails_with!(HvError::Invalid;
            "MIG_MEMBLOCK_BIND of size 0" => hypervisor.bind_memory_block(fixture.domain, 0, 0),
            "MIG_MEMBLOCK_BIND to an unknown domain" => hypervisor.bind_memory_block(fixture.unknown_domain, 0, PAGE),
        )
    }
}

define_case! {
    /// An RA or size not a multiple of 8 KiB is `EBADALIGN`.
    bind_memory_block_not_8k_aligned_is_ebadalign<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, _fixture| {
        let created = succeeds("MIG_DOMAIN_CREATE", hypervisor.create_domain(1))?;
        each_fails_with!(HvError::BadAlignment;
            "MIG_MEMBLOCK_BIND at RA 0x1000" => hypervisor.bind_memory_block(created, 0x1000, PAGE),
            "MIG_MEMBLOCK_BIND of 8 KiB + 8" => hypervisor.bind_memory_block(created, 0, PAGE + 8),
        )
    }
}

define_case! {
    /// Checks in the documented order: domain, size 0, alignment, overlap,
    /// free range.
    bind_memory_block_checks_in_the_documented_order<H: Hypervisor, MigrationFixture>,
    calls: "MIG_MEMBLOCK_BIND",
    |hypervisor, fixture| {
        let block = fixture.block(0)?;
        fails_with(
            "size 0 at a misaligned RA: the size is checked first",
            hypervisor.bind_memory_block(fixture.domain, block.ra + 8, 0),
            HvError::Invalid,
        )?;
        fails_with(
            "a misaligned RA inside a block: alignment before overlap",
            hypervisor.bind_memory_block(fixture.domain, block.ra + 8, PAGE),
            HvError::BadAlignment,
        )?;
        fails_with(
            "an overlapping block too large for any range: overlap before the free range",
            hypervisor.bind_memory_block(fixture.domain, block.ra, fixture.unbindable_bytes),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// Destroying a domain frees its strands and memory for the next one.
    destroy_domain_frees_its_strands_and_memory<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_DESTROY",
    |hypervisor, fixture| {
        let ra = fixture.block(0)?.ra;
        let created = succeeds(
            "MIG_DOMAIN_CREATE of every free strand",
            hypervisor.create_domain(fixture.free_strands),
        )?;
        succeeds(
            "MIG_MEMBLOCK_BIND",
            hypervisor.bind_memory_block(created, ra, fixture.bindable_bytes),
        )?;
        succeeds("MIG_DOMAIN_DESTROY", hypervisor.destroy_domain(created))?;
        fails_with(
            "MIG_DOMAIN_INFO of the destroyed domain",
            hypervisor.domain_info(created),
            HvError::Invalid,
        )?;
        let again = succeeds(
            "MIG_DOMAIN_CREATE of every free strand after the destroy",
            hypervisor.create_domain(fixture.free_strands),
        )?;
        holds("domain numbers are not reused", again != created)?;
        succeeds(
            "MIG_MEMBLOCK_BIND of the freed memory",
            hypervisor.bind_memory_block(again, ra, fixture.bindable_bytes),
        )?;
        succeeds("MIG_DOMAIN_DESTROY of a running domain", hypervisor.destroy_domain(fixture.domain))?;
        fails_with(
            "MIG_DOMAIN_INFO of the destroyed running domain",
            hypervisor.domain_info(fixture.domain),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// An unknown domain, or one already destroyed, is `EINVAL`.
    destroy_domain_unknown_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_DESTROY",
    |hypervisor, fixture| {
        fails_with(
            "MIG_DOMAIN_DESTROY of an unknown domain",
            hypervisor.destroy_domain(fixture.unknown_domain),
            HvError::Invalid,
        )?;
        succeeds("MIG_DOMAIN_DESTROY", hypervisor.destroy_domain(fixture.domain))?;
        fails_with(
            "MIG_DOMAIN_DESTROY twice",
            hypervisor.destroy_domain(fixture.domain),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// The state set is the state `MIG_DOMAIN_INFO` reports; MIGRATING
    /// changes nothing else.
    set_domain_state_is_reported_by_domain_info<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_SET_STATE, MIG_DOMAIN_INFO",
    |hypervisor, fixture| {
        succeeds(
            "MIG_DOMAIN_SET_STATE MIGRATING",
            hypervisor.set_domain_state(fixture.domain, DomainRunState::Migrating),
        )?;
        let info = succeeds("MIG_DOMAIN_INFO", hypervisor.domain_info(fixture.domain))?;
        holds("RET3 is MIGRATING", info.state == DomainRunState::Migrating)?;
        suspended_is("a MIGRATING domain keeps running", hypervisor, fixture.domain, false)
    }
}

define_case! {
    /// An unknown domain is `EINVAL`.
    set_domain_state_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_SET_STATE",
    |hypervisor, fixture| {
        fails_with(
            "MIG_DOMAIN_SET_STATE of an unknown domain",
            hypervisor.set_domain_state(fixture.unknown_domain, DomainRunState::Normal),
            HvError::Invalid,
        )
    }
}

define_case! {
    /// Removing gives back every unit (then none); they become free.
    crypto_remove_returns_units_to_the_machine<H: Hypervisor, MigrationFixture>,
    calls: "MIG_CRYPTO_REMOVE, MIG_CRYPTO_ADD",
    |hypervisor, fixture| {
        let removed = succeeds("MIG_CRYPTO_REMOVE", hypervisor.remove_crypto_units(fixture.domain))?;
        equals("RET1 units removed", removed, fixture.crypto_units)?;
        let again = succeeds("MIG_CRYPTO_REMOVE again", hypervisor.remove_crypto_units(fixture.domain))?;
        equals("RET1 of a second remove", again, 0)?;
        let everything = fixture.crypto_units + fixture.free_crypto_units;
        let added = succeeds(
            "MIG_CRYPTO_ADD of every unit",
            hypervisor.add_crypto_units(fixture.domain, everything),
        )?;
        equals("RET1: the removed units were free again", added, everything)
    }
}

define_case! {
    /// Adding gives `min(count, free units)`, possibly 0, never an error.
    crypto_add_gives_fewer_when_the_machine_lacks_units<H: Hypervisor, MigrationFixture>,
    calls: "MIG_CRYPTO_ADD",
    |hypervisor, fixture| {
        let free = fixture.free_crypto_units;
        let added = succeeds(
            "MIG_CRYPTO_ADD of more than are free",
            hypervisor.add_crypto_units(fixture.domain, free + 3),
        )?;
        equals("RET1: the free units", added, free)?;
        let none = succeeds("MIG_CRYPTO_ADD with none free", hypervisor.add_crypto_units(fixture.domain, 2))?;
        equals("RET1 with none free", none, 0)?;
        let zero = succeeds("MIG_CRYPTO_ADD of 0", hypervisor.add_crypto_units(fixture.domain, 0))?;
        equals("RET1 of 0 asked", zero, 0)
    }
}

define_case! {
    /// An unknown domain is `EINVAL` both ways.
    crypto_remove_and_add_unknown_domain_are_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_CRYPTO_REMOVE, MIG_CRYPTO_ADD",
    |hypervisor, fixture| {
        each_fails_with!(HvError::Invalid;
            "MIG_CRYPTO_REMOVE of an unknown domain" => hypervisor.remove_crypto_units(fixture.unknown_domain),
            "MIG_CRYPTO_ADD to an unknown domain" => hypervisor.add_crypto_units(fixture.unknown_domain, 1),
        )?;
        let added = succeeds("MIG_CRYPTO_ADD after the refusal", hypervisor.add_crypto_units(fixture.domain, 1))?;
        equals("the refused add took no unit", added, 1)
    }
}
