//! Part 2 of the self-test: the real `ta 0x80` / `ta 0xff` trampolines of
//! `ldmig_hv::trampoline` and the real `ldmig_hv::sun4v::Sun4v`, trapping
//! from the hyperprivileged boot code into our own trap table and the
//! [`crate::hypervisor`] (its two self-test domains); then one page
//! migration through both halves (hypervisor reads, wire codec,
//! hypervisor writes).

use crate::call_table::FIRMWARE_ECHO;
use crate::hypervisor::partition::{
    SELF_TEST_BLOCK_BYTES as GUEST_BLOCK_BYTES, SELF_TEST_BLOCK_PAGES as GUEST_BLOCK_PAGES,
    SELF_TEST_BLOCK_RA as GUEST_BLOCK_RA, SELF_TEST_SOURCE as SOURCE_DOMAIN,
    SELF_TEST_TARGET as TARGET_DOMAIN, SELF_TEST_VCPUS as DOMAIN_VCPUS,
};
use crate::hypervisor::MACHINE;
use crate::pages::{half_used_page, pseudo_random_page, text_page, zero_page, AlignedPage, SEED};
use crate::selftest::{ensure, ensure_equal, Check, Failure, Note};
use core::fmt::Write;
use ldmig::page::{page_crc, Page, PAGE_SIZE};
use ldmig::wire::record::{encode_page, MAX_RECORD_BYTES};
use ldmig::wire::{
    Frame, FrameType, FrameWriter, PageDecoder, PageEncoding, PageRecords, FRAME_HEADER_BYTES,
};
use ldmig_hv::abi::core::{API_GET_VERSION, API_SET_VERSION};
use ldmig_hv::abi::error::{
    EBADALIGN, EBADTRAP, EINVAL, ENORADDR, ENOTSUPPORTED, EOK, EUNAVAILABLE,
};
use ldmig_hv::abi::{group, migration as mig};
use ldmig_hv::hypervisor::{DomainInfo, DomainRunState, GuestMemory, MemoryBlock};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::trampoline::{core_trap, fast_trap, HvCall};
use ldmig_hv::HvError;

/// Hypervisor calls the hypervisor has taken from this (hyperprivileged)
/// code so far.
fn traps_handled() -> u64 {
    MACHINE.with(|machine| machine.statistics.hypercalls_from_hyperprivileged)
}

/// Arguments the echo checks send: distinct in every byte.
const ECHO_ARGUMENTS: [u64; 5] = [
    EOK,
    0x0123_4567_89ab_cdef,
    0xfedc_ba98_7654_3210,
    0x1111_2222_3333_4444,
    0x8000_0000_0000_0001,
];

/// The echo call through the trampoline for `args.len()` arguments.
fn echo(args: &[u64]) -> HvCall {
    // SAFETY: FIRMWARE_ECHO takes no addresses and touches no memory.
    unsafe { fast_trap(FIRMWARE_ECHO, args) }
}

/// `API_SET_VERSION(api_group, major, minor)` through `ta 0xff`.
fn set_version(api_group: u64, major: u64, minor: u64) -> HvCall {
    // SAFETY: API_SET_VERSION takes no addresses.
    unsafe { core_trap(API_SET_VERSION, &[api_group, major, minor]) }
}

/// Runs `call` and checks it trapped exactly once.
fn one_trap<T>(call: impl FnOnce() -> T) -> Result<T, Failure> {
    let before = traps_handled();
    let result = call();
    ensure_equal(before + 1, traps_handled(), "traps taken by one call")?;
    Ok(result)
}

/// Each fast-trap trampoline (0-5 arguments) traps once and comes back with
/// status and RET1-RET4 as the handler left them.
pub const FAST_TRAP_EVERY_ARGUMENT_COUNT: Check = Check {
    name: "trap: ta 0x80 through the trampolines for 0-5 arguments, RET1-RET4 back",
    run: fast_trap_every_argument_count,
};

fn fast_trap_every_argument_count(note: &mut Note) -> Result<(), Failure> {
    let before = traps_handled();
    // 0 arguments: %o0 holds whatever the trampoline had; it must trap and
    // return with the call block intact.
    let call = one_trap(|| echo(&[]))?;
    ensure_equal(FIRMWARE_ECHO, call.function, "function number kept")?;
    for count in 1..=5 {
        let call = one_trap(|| echo(&ECHO_ARGUMENTS[..count]))?;
        ensure_equal(ECHO_ARGUMENTS[0], call.status, "status = ARG0")?;
        // RETn comes from ARGn (n = 1..count-1); the others were not loaded.
        for (argument, ret) in ECHO_ARGUMENTS[1..count].iter().zip(call.rets) {
            ensure_equal(*argument, ret, "RETn = ARGn")?;
        }
    }
    let taken = traps_handled() - before;
    ensure_equal(6, taken, "traps for six calls")?;
    let _ = write!(note, "{taken} traps to tt 0x180, all registers back");
    Ok(())
}

/// Statuses set by the handler map to the typed errors.
pub const STATUS_MAPPING: Check = Check {
    name: "trap: status in %o0 maps to HvError (EOK, EINVAL, ENORADDR, EBADTRAP, EUNAVAILABLE, 99)",
    run: status_mapping,
};

fn status_mapping(_note: &mut Note) -> Result<(), Failure> {
    let table = [
        (EOK, Ok(())),
        (EINVAL, Err(HvError::Invalid)),
        (ENORADDR, Err(HvError::NoRealAddress)),
        (EBADTRAP, Err(HvError::BadTrap)),
        (EUNAVAILABLE, Err(HvError::Unavailable)),
        (99, Err(HvError::Unknown(99))),
    ];
    for (status, expected) in table {
        let mut args = ECHO_ARGUMENTS;
        args[0] = status;
        let call = one_trap(|| echo(&args))?;
        ensure_equal(status, call.status, "status came back")?;
        ensure(
            HvError::check(call.status) == expected,
            "HvError::check mapping",
        )?;
    }
    Ok(())
}

/// A MIGRATION call before `API_SET_VERSION` is refused with EBADTRAP.
pub const MIGRATION_BEFORE_NEGOTIATION: Check = Check {
    name: "trap: MIG_DOMAIN_INFO before negotiation refused (EBADTRAP)",
    run: migration_before_negotiation,
};

fn migration_before_negotiation(_note: &mut Note) -> Result<(), Failure> {
    // Major 0 disables the group, whatever ran before.
    ensure_equal(
        EOK,
        set_version(group::MIGRATION, 0, 0).status,
        "disable MIGRATION",
    )?;
    // SAFETY: MIG_DOMAIN_INFO takes no addresses.
    let call = one_trap(|| unsafe { fast_trap(mig::MIG_DOMAIN_INFO, &[SOURCE_DOMAIN]) })?;
    ensure(
        HvError::check(call.status) == Err(HvError::BadTrap),
        "EBADTRAP",
    )
}

/// API_SET_VERSION / API_GET_VERSION through `ta 0xff` (both core-trap
/// trampolines), with the negotiation rules of hv/API.md.
pub const API_SET_VERSION_RULES: Check = Check {
    name: "trap: ta 0xff API_SET_VERSION/API_GET_VERSION rules",
    run: api_set_version_rules,
};

fn api_set_version_rules(_note: &mut Note) -> Result<(), Failure> {
    let unknown = one_trap(|| set_version(0x4242, 1, 0))?;
    ensure_equal(EINVAL, unknown.status, "unknown group")?;
    let next_major = one_trap(|| set_version(group::MIGRATION, mig::MIGRATION_MAJOR + 1, 0))?;
    ensure_equal(ENOTSUPPORTED, next_major.status, "unsupported major")?;
    let lowered = one_trap(|| set_version(group::MIGRATION, mig::MIGRATION_MAJOR, 7))?;
    ensure_equal(EOK, lowered.status, "known group and major")?;
    ensure_equal(
        mig::MIGRATION_MINOR,
        lowered.rets[0],
        "minor lowered to ours",
    )?;
    // SAFETY: API_GET_VERSION takes no addresses (one argument: core_trap_1).
    let version = one_trap(|| unsafe { core_trap(API_GET_VERSION, &[group::MIGRATION]) })?;
    ensure_equal(EOK, version.status, "API_GET_VERSION status")?;
    ensure_equal(mig::MIGRATION_MAJOR, version.rets[0], "negotiated major")?;
    ensure_equal(mig::MIGRATION_MINOR, version.rets[1], "negotiated minor")
}

/// `Sun4v::negotiate` gets both groups (two core traps).
pub const SUN4V_NEGOTIATE: Check = Check {
    name: "sun4v: Sun4v::negotiate (LDOM 1.0, MIGRATION 2.0)",
    run: sun4v_negotiate,
};

fn sun4v_negotiate(_note: &mut Note) -> Result<(), Failure> {
    let before = traps_handled();
    Sun4v::negotiate().map_err(|_| Failure::new("negotiate refused"))?;
    ensure_equal(before + 2, traps_handled(), "two API_SET_VERSION traps")?;
    for (api_group, major) in [(group::LDOM, 1), (group::MIGRATION, mig::MIGRATION_MAJOR)] {
        // SAFETY: API_GET_VERSION takes no addresses.
        let version = unsafe { core_trap(API_GET_VERSION, &[api_group]) };
        ensure_equal(major, version.rets[0], "group negotiated at its major")?;
    }
    Ok(())
}

fn negotiated() -> Result<Sun4v, Failure> {
    Sun4v::negotiate().map_err(|_| Failure::new("negotiate refused"))
}

/// `Sun4v::domain_info` decodes RET1-RET3; an unknown domain is EINVAL.
pub const SUN4V_DOMAIN_INFO: Check = Check {
    name: "sun4v: domain_info RET1-RET3, unknown domain EINVAL",
    run: sun4v_domain_info,
};

fn sun4v_domain_info(note: &mut Note) -> Result<(), Failure> {
    let mut hypervisor = negotiated()?;
    let info = one_trap(|| hypervisor.domain_info(SOURCE_DOMAIN))?
        .map_err(|_| Failure::new("domain_info of the source domain"))?;
    let expected = DomainInfo {
        vcpus: DOMAIN_VCPUS,
        memory_blocks: 1,
        state: DomainRunState::Normal,
    };
    ensure(info == expected, "4 vCPUs, 1 block, NORMAL")?;
    let unknown = one_trap(|| hypervisor.domain_info(9))?;
    ensure(unknown == Err(HvError::Invalid), "domain 9: EINVAL")?;
    let _ = write!(note, "{} vCPUs, {} block", info.vcpus, info.memory_blocks);
    Ok(())
}

/// `Sun4v::memory_block` decodes RET1-RET2; a block past the end is EINVAL.
pub const SUN4V_MEMORY_BLOCK: Check = Check {
    name: "sun4v: memory_block RA and size, index past the end EINVAL",
    run: sun4v_memory_block,
};

fn sun4v_memory_block(_note: &mut Note) -> Result<(), Failure> {
    let mut hypervisor = negotiated()?;
    let block = hypervisor
        .memory_block(TARGET_DOMAIN, 0)
        .map_err(|_| Failure::new("memory_block 0"))?;
    let expected = MemoryBlock {
        ra: GUEST_BLOCK_RA,
        size: GUEST_BLOCK_BYTES,
    };
    ensure(block == expected, "block 0 RA and size")?;
    ensure(
        hypervisor.memory_block(TARGET_DOMAIN, 1) == Err(HvError::Invalid),
        "block 1: EINVAL",
    )
}

/// The four pages the source domain holds for the memory checks.
fn guest_pages() -> [Page; GUEST_BLOCK_PAGES as usize] {
    [
        zero_page(),
        text_page(),
        pseudo_random_page(SEED),
        half_used_page(),
    ]
}

/// The RA of page `index` of the guest block.
fn page_ra(index: usize) -> u64 {
    GUEST_BLOCK_RA + (index * PAGE_SIZE) as u64
}

/// Writes [`guest_pages`] into the source domain with `MIG_PAGE_WRITE`.
fn fill_source_domain(hypervisor: &mut Sun4v) -> Result<(), Failure> {
    for (index, page) in guest_pages().iter().enumerate() {
        let aligned = AlignedPage::from_page(page);
        hypervisor
            .write_memory(SOURCE_DOMAIN, page_ra(index), &aligned.0)
            .map_err(|_| Failure::new("write_memory to the source domain"))?;
    }
    Ok(())
}

/// Pages written with `MIG_PAGE_WRITE` read back with `MIG_PAGE_READ`.
pub const SUN4V_MEMORY_ROUND_TRIP: Check = Check {
    name: "sun4v: write_memory then read_memory, 4 pages, unwritten memory reads zero",
    run: sun4v_memory_round_trip,
};

fn sun4v_memory_round_trip(note: &mut Note) -> Result<(), Failure> {
    let mut hypervisor = negotiated()?;
    let before = traps_handled();
    fill_source_domain(&mut hypervisor)?;
    let mut buffer = AlignedPage::zeroed();
    for (index, page) in guest_pages().iter().enumerate() {
        hypervisor
            .read_memory(SOURCE_DOMAIN, page_ra(index), &mut buffer.0)
            .map_err(|_| Failure::new("read_memory from the source domain"))?;
        ensure(&buffer.0 == page, "page read back equals page written")?;
    }
    buffer.0.fill(0xa5);
    hypervisor
        .read_memory(TARGET_DOMAIN, page_ra(3), &mut buffer.0)
        .map_err(|_| Failure::new("read_memory from the target domain"))?;
    ensure(
        buffer.0.iter().all(|&byte| byte == 0),
        "never-written memory reads zero",
    )?;
    let taken = traps_handled() - before;
    ensure_equal(9, taken, "traps for 4 writes and 5 reads")?;
    let _ = write!(note, "{taken} traps, {} KiB copied", 9 * PAGE_SIZE / 1024);
    Ok(())
}

/// The error paths of `MIG_PAGE_READ`, through `Sun4v` and raw traps.
pub const SUN4V_MEMORY_ERRORS: Check = Check {
    name: "sun4v: read_memory errors EINVAL, EBADALIGN, ENORADDR; misaligned slices staged",
    run: sun4v_memory_errors,
};

fn sun4v_memory_errors(_note: &mut Note) -> Result<(), Failure> {
    let mut hypervisor = negotiated()?;
    let mut buffer = AlignedPage::zeroed();
    let page = &mut buffer.0;
    ensure(
        hypervisor.read_memory(9, GUEST_BLOCK_RA, page) == Err(HvError::Invalid),
        "unknown domain: EINVAL",
    )?;
    ensure(
        hypervisor.read_memory(SOURCE_DOMAIN, GUEST_BLOCK_RA + 4, &mut page[..8])
            == Err(HvError::BadAlignment),
        "guest RA not a multiple of 8: EBADALIGN",
    )?;
    // `Sun4v` copies a buffer of up to a page at another address through an
    // aligned page; the hypervisor's own check needs the bare trap.
    let misaligned = Sun4v::real_address(&page[4..12]);
    // SAFETY: the call is refused before any copy (that is what is checked);
    // the 8 bytes named are inside `page`, borrowed for the call.
    let call = unsafe {
        fast_trap(
            mig::MIG_PAGE_READ,
            &[SOURCE_DOMAIN, GUEST_BLOCK_RA, misaligned, 8],
        )
    };
    ensure_equal(
        EBADALIGN,
        call.status,
        "buffer RA not a multiple of 8: EBADALIGN",
    )?;
    // ... and Sun4v stages such a slice through an aligned buffer: the
    // bytes of the text page (page 1) arrive all the same.
    fill_source_domain(&mut hypervisor)?;
    let text_ra = page_ra(1) + 8;
    page.fill(0xa5);
    hypervisor
        .read_memory(SOURCE_DOMAIN, text_ra, &mut page[4..12])
        .map_err(|_| Failure::new("Sun4v read_memory into a misaligned slice"))?;
    ensure(
        page[4..12] == text_page()[8..16],
        "a misaligned slice gets the guest's bytes",
    )?;
    ensure(
        hypervisor.read_memory(SOURCE_DOMAIN, GUEST_BLOCK_RA, &mut page[4..12]) == Ok(()),
        "Sun4v takes a short buffer at any address",
    )?;
    ensure(
        hypervisor.read_memory(SOURCE_DOMAIN, GUEST_BLOCK_RA - 0x2000, page)
            == Err(HvError::NoRealAddress),
        "guest RA below the block: ENORADDR",
    )?;
    let last = GUEST_BLOCK_RA + GUEST_BLOCK_BYTES - 8;
    ensure(
        hypervisor.read_memory(SOURCE_DOMAIN, last, &mut page[..16]) == Err(HvError::NoRealAddress),
        "range past the block's end: ENORADDR",
    )?;
    // A buffer outside the caller's memory (partition RAM): the
    // hypervisor refuses it before touching anything.
    // The call is refused before any copy (that is what is checked).
    // SAFETY: no memory is read or written.
    let outside = unsafe {
        fast_trap(
            mig::MIG_PAGE_READ,
            &[SOURCE_DOMAIN, GUEST_BLOCK_RA, 0x8000_0000, 8],
        )
    };
    ensure_equal(
        ENORADDR,
        outside.status,
        "buffer outside the caller: ENORADDR",
    )
}

/// One migration of the source domain's memory, in miniature: pages read
/// with `MIG_PAGE_READ`, sent as one `Pages` frame, decoded and checked,
/// written to the target with `MIG_PAGE_WRITE`, read back and compared.
pub const MIGRATE_PAGES_THROUGH_THE_WIRE: Check = Check {
    name: "migrate: 4 pages source -> Pages frame -> target, CRCs equal",
    run: migrate_pages_through_the_wire,
};

/// Room for a `Pages` frame of the whole guest block.
const BLOCK_FRAME_BYTES: usize = FRAME_HEADER_BYTES + GUEST_BLOCK_PAGES as usize * MAX_RECORD_BYTES;

fn migrate_pages_through_the_wire(note: &mut Note) -> Result<(), Failure> {
    let mut hypervisor = negotiated()?;
    fill_source_domain(&mut hypervisor)?;

    // Source side: read each page of the block and encode it.
    let mut frame_buffer = [0u8; BLOCK_FRAME_BYTES];
    let mut writer = FrameWriter::new(&mut frame_buffer, FrameType::Pages, 1)
        .map_err(|_| Failure::new("FrameWriter::new"))?;
    let mut source_crcs = [0u32; GUEST_BLOCK_PAGES as usize];
    let mut encodings = [0usize; 4];
    let mut page = AlignedPage::zeroed();
    for (index, crc) in source_crcs.iter_mut().enumerate() {
        hypervisor
            .read_memory(SOURCE_DOMAIN, page_ra(index), &mut page.0)
            .map_err(|_| Failure::new("read_memory on the source"))?;
        *crc = page_crc(&page.0);
        let (encoding, used) = encode_page(page_ra(index), &page.0, writer.spare())
            .map_err(|_| Failure::new("encode_page"))?;
        encodings[encoding as usize] += 1;
        writer.advance(used);
    }
    let size = writer.finish();

    // Target side: check the frame, decode each record, write the page.
    let (frame, _) =
        Frame::decode(&frame_buffer[..size]).map_err(|_| Failure::new("Frame::decode"))?;
    let mut decoder = PageDecoder::new();
    let mut written = 0;
    for record in PageRecords::new(frame.payload) {
        let record = record.map_err(|_| Failure::new("record"))?;
        let decoded = decoder
            .decode(&record)
            .map_err(|_| Failure::new("page CRC"))?;
        let aligned = AlignedPage::from_page(decoded);
        hypervisor
            .write_memory(TARGET_DOMAIN, record.ra, &aligned.0)
            .map_err(|_| Failure::new("write_memory on the target"))?;
        written += 1;
    }
    ensure_equal(GUEST_BLOCK_PAGES, written, "pages written on the target")?;

    // The target's memory now equals the source's.
    for (index, crc) in source_crcs.iter().enumerate() {
        hypervisor
            .read_memory(TARGET_DOMAIN, page_ra(index), &mut page.0)
            .map_err(|_| Failure::new("read_memory on the target"))?;
        ensure_equal(
            u64::from(*crc),
            u64::from(page_crc(&page.0)),
            "target page CRC",
        )?;
    }
    let _ = write!(
        note,
        "{size}-byte frame ({} zero, {} LZ4, {} raw)",
        encodings[PageEncoding::Zero as usize],
        encodings[PageEncoding::Lz4 as usize],
        encodings[PageEncoding::Raw as usize]
    );
    Ok(())
}
