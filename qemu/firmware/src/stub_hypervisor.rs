//! The stub hypervisor the trampolines trap into: at reset the firmware IS
//! the hyperprivileged code, so `ta 0x80` / `ta 0xff` land in our own trap
//! table (reset.S) and here. It implements a few calls of `hv/API.md` for
//! real — `API_SET_VERSION` / `API_GET_VERSION` for the LDOM and MIGRATION
//! groups, `MIG_DOMAIN_INFO`, `MIG_MEMBLOCK_INFO`, `MIG_PAGE_READ`,
//! `MIG_PAGE_WRITE` — over two small domains whose memory is partition RAM,
//! plus one firmware-private call that echoes its registers.
//!
//! One strand, traps disabled while a call runs: plain atomics loads and
//! stores are enough for the state.

use core::sync::atomic::{AtomicU64, Ordering};
use ldmig_hv::abi::core::{API_GET_VERSION, API_SET_VERSION};
use ldmig_hv::abi::error::{EBADALIGN, EBADTRAP, EINVAL, ENORADDR, ENOTSUPPORTED, EOK};
use ldmig_hv::abi::{group, migration as mig};

/// Firmware-private fast-trap function, outside every API group: returns
/// ARG0 as the status and ARG1-ARG4 as RET1-RET4, so a test sees each
/// argument register go in and each return register come back.
pub const FIRMWARE_ECHO: u64 = 0xfe00;

/// The source domain of the self-test.
pub const SOURCE_DOMAIN: u64 = 1;
/// The target domain of the self-test.
pub const TARGET_DOMAIN: u64 = 2;
/// vCPUs of each domain (what `MIG_DOMAIN_INFO` reports).
pub const DOMAIN_VCPUS: u64 = 4;
/// RA of each domain's single memory block (the same on both sides, as a
/// migration requires).
pub const GUEST_BLOCK_RA: u64 = 0x1000_0000;
/// Pages in each domain's memory block.
pub const GUEST_BLOCK_PAGES: u64 = 4;
/// Bytes in each domain's memory block.
pub const GUEST_BLOCK_BYTES: u64 = GUEST_BLOCK_PAGES * 8192;

/// A domain's memory block: RA range backed by physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestBlock {
    /// Real address of the first byte.
    pub ra: u64,
    /// Bytes.
    pub size: u64,
    /// Physical address of the first byte (partition RAM).
    pub pa: u64,
}

impl GuestBlock {
    /// The physical address of `[ra, ra + length)` if it lies inside the block.
    pub fn physical(&self, ra: u64, length: u64) -> Option<u64> {
        let end = ra.checked_add(length)?;
        if ra >= self.ra && end <= self.ra + self.size {
            Some(self.pa + (ra - self.ra))
        } else {
            None
        }
    }
}

/// A domain the stub knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Hypervisor domain number.
    pub id: u64,
    /// vCPUs.
    pub vcpus: u64,
    /// Its one memory block.
    pub block: GuestBlock,
}

/// Partition RAM of `-M niagara` (`-m` bytes at 0x80000000).
const PARTITION_RAM: u64 = 0x8000_0000;

/// The domains: each one memory block of partition RAM, 1 MiB apart.
pub const DOMAINS: [Domain; 2] = [
    Domain {
        id: SOURCE_DOMAIN,
        vcpus: DOMAIN_VCPUS,
        block: GuestBlock {
            ra: GUEST_BLOCK_RA,
            size: GUEST_BLOCK_BYTES,
            pa: PARTITION_RAM,
        },
    },
    Domain {
        id: TARGET_DOMAIN,
        vcpus: DOMAIN_VCPUS,
        block: GuestBlock {
            ra: GUEST_BLOCK_RA,
            size: GUEST_BLOCK_BYTES,
            pa: PARTITION_RAM + 0x10_0000,
        },
    },
];

/// The calling (firmware's own) memory, base and size: hypervisor RAM
/// (stacks) and the PROM RAM (the image, its data). Buffers must be inside.
pub const CALLER_MEMORY: [(u64, u64); 2] = [(0x10_0000, 0x3f0_0000), (0xff_f000_0000, 0x40_0000)];

/// The LDOM group version this stub has.
const LDOM_VERSION: (u64, u64) = (1, 0);
/// The MIGRATION group version this stub has.
const MIGRATION_VERSION: (u64, u64) = (mig::MIGRATION_MAJOR, mig::MIGRATION_MINOR);

/// Negotiated major of the LDOM group (0: not negotiated).
static LDOM_MAJOR: AtomicU64 = AtomicU64::new(0);
/// Negotiated major of the MIGRATION group (0: not negotiated).
static MIGRATION_MAJOR: AtomicU64 = AtomicU64::new(0);
/// Traps handled since power-on.
static TRAPS: AtomicU64 = AtomicU64::new(0);

/// Power-on state: no group negotiated, every domain's memory zero (memory
/// never written reads as zeros).
pub fn power_on() {
    LDOM_MAJOR.store(0, Ordering::Relaxed);
    MIGRATION_MAJOR.store(0, Ordering::Relaxed);
    TRAPS.store(0, Ordering::Relaxed);
    for domain in &DOMAINS {
        // Each block lies inside the -m 128M of partition RAM QEMU gives.
        // SAFETY: only this stub touches that RAM; no Rust object lives there.
        unsafe {
            core::ptr::write_bytes(domain.block.pa as *mut u8, 0, domain.block.size as usize);
        }
    }
}

/// How many hypervisor traps the stub has handled since power-on.
pub fn traps_handled() -> u64 {
    TRAPS.load(Ordering::Relaxed)
}

fn count_trap() {
    TRAPS.store(TRAPS.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// RET1-RET4 of a successful call, or the error status.
type Outcome = Result<[u64; 4], u64>;

fn write_back(outs: &mut [u64; 6], outcome: Outcome) {
    match outcome {
        Ok(rets) => {
            outs[0] = EOK;
            outs[1..5].copy_from_slice(&rets);
        }
        Err(status) => outs[0] = status,
    }
}

/// `ta 0x80`: function in `%o5`, ARG0-ARG4 in `%o0`-`%o4`.
pub fn fast_trap(outs: &mut [u64; 6]) {
    count_trap();
    let function = outs[5];
    let args = [outs[0], outs[1], outs[2], outs[3], outs[4]];
    if function == FIRMWARE_ECHO {
        // Status = ARG0, RET1-RET4 = ARG1-ARG4: the registers stay as they came.
        return;
    }
    let outcome = if (mig::MIG_DOMAIN_INFO..=mig::MIG_DOMAIN_SET_STATE).contains(&function) {
        if MIGRATION_MAJOR.load(Ordering::Relaxed) == 0 {
            Err(EBADTRAP)
        } else {
            migration_call(function, args)
        }
    } else {
        Err(EBADTRAP)
    };
    write_back(outs, outcome);
}

/// `ta 0xff`: the core trap.
pub fn core_trap(outs: &mut [u64; 6]) {
    count_trap();
    let outcome = match outs[5] {
        API_SET_VERSION => set_version(outs[0], outs[1], outs[2]),
        API_GET_VERSION => get_version(outs[0]),
        _ => Err(EBADTRAP),
    };
    write_back(outs, outcome);
}

fn group_state(api_group: u64) -> Option<(&'static AtomicU64, (u64, u64))> {
    match api_group {
        group::LDOM => Some((&LDOM_MAJOR, LDOM_VERSION)),
        group::MIGRATION => Some((&MIGRATION_MAJOR, MIGRATION_VERSION)),
        _ => None,
    }
}

/// Unknown group EINVAL; major 0 disables; another major ENOTSUPPORTED; a
/// minor above ours is lowered (RET1 the granted minor).
fn set_version(api_group: u64, major: u64, minor: u64) -> Outcome {
    let (negotiated, (our_major, our_minor)) = group_state(api_group).ok_or(EINVAL)?;
    if major == 0 {
        negotiated.store(0, Ordering::Relaxed);
        return Ok([0; 4]);
    }
    if major != our_major {
        return Err(ENOTSUPPORTED);
    }
    negotiated.store(major, Ordering::Relaxed);
    Ok([minor.min(our_minor), 0, 0, 0])
}

/// RET1 the negotiated major (0 if none), RET2 its minor.
fn get_version(api_group: u64) -> Outcome {
    let (negotiated, (_, our_minor)) = group_state(api_group).ok_or(EINVAL)?;
    let major = negotiated.load(Ordering::Relaxed);
    let minor = if major == 0 { 0 } else { our_minor };
    Ok([major, minor, 0, 0])
}

fn domain(id: u64) -> Result<&'static Domain, u64> {
    DOMAINS.iter().find(|domain| domain.id == id).ok_or(EINVAL)
}

fn migration_call(function: u64, args: [u64; 5]) -> Outcome {
    match function {
        mig::MIG_DOMAIN_INFO => {
            let domain = domain(args[0])?;
            Ok([domain.vcpus, 1, mig::MIG_DOMAIN_STATE_NORMAL, 0])
        }
        mig::MIG_MEMBLOCK_INFO => {
            let domain = domain(args[0])?;
            if args[1] != 0 {
                return Err(EINVAL);
            }
            Ok([domain.block.ra, domain.block.size, 0, 0])
        }
        mig::MIG_PAGE_READ => copy_guest_memory(args, Direction::FromGuest),
        mig::MIG_PAGE_WRITE => copy_guest_memory(args, Direction::ToGuest),
        // Part of the group, not of this stub.
        _ => Err(ENOTSUPPORTED),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    FromGuest,
    ToGuest,
}

fn in_caller_memory(address: u64, length: u64) -> bool {
    let Some(end) = address.checked_add(length) else {
        return false;
    };
    CALLER_MEMORY
        .iter()
        .any(|&(base, size)| address >= base && end <= base + size)
}

/// `MIG_PAGE_READ` / `MIG_PAGE_WRITE`: ARG0 domain, ARG1 guest RA, ARG2
/// buffer RA, ARG3 length; the checks in the order hv/API.md gives them.
fn copy_guest_memory(args: [u64; 5], direction: Direction) -> Outcome {
    let [domain_id, guest_ra, buffer, length, _] = args;
    let domain = domain(domain_id)?;
    if !guest_ra.is_multiple_of(8) || !buffer.is_multiple_of(8) || !length.is_multiple_of(8) {
        return Err(EBADALIGN);
    }
    if !in_caller_memory(buffer, length) {
        return Err(ENORADDR);
    }
    let guest = domain.block.physical(guest_ra, length).ok_or(ENORADDR)?;
    let (source, destination) = match direction {
        Direction::FromGuest => (guest, buffer),
        Direction::ToGuest => (buffer, guest),
    };
    // Both ranges were checked above: `guest` is inside the domain's block
    // of partition RAM (no Rust object there), `buffer` inside the caller's
    // memory, which the caller vouched (ldmig_hv's `fast_trap` contract) is
    // `length` bytes no Rust reference uses while the call runs. The
    // hyperprivileged code runs with physical addresses.
    // SAFETY: both are valid, non-overlapping, unaliased `length`-byte ranges.
    unsafe {
        core::ptr::copy(source as *const u8, destination as *mut u8, length as usize);
    }
    Ok([length, 0, 0, 0])
}
