//! The options qemu/boot (and qemu/pair) hand the image: 24 bytes written as
//! `1up-hv.bin`, which QEMU loads into the hypervisor-description ROM
//! (0x1f12080000): the magic `LDMGOPT1`, a flags word, the guest's seed
//! (big-endian). Anything else there (the 8-byte placeholder of a plain
//! boot) means the defaults.

use crate::memory_map::HYPERVISOR_DESCRIPTION_ROM;

/// The first word of the options block: "LDMGOPT1".
pub const OPTIONS_MAGIC: u64 = 0x4c44_4d47_4f50_5431;
/// Flag: damage one page of the target before it resumes (`--corrupt-page`).
pub const FLAG_CORRUPT_PAGE: u64 = 1;
/// Flag: the source machine of a two-machine run (qemu/pair): the guest
/// runs; the engine starts when the shim says so over the UART.
pub const FLAG_PAIR_SOURCE: u64 = 2;
/// Flag: the target machine of a two-machine run: no guest; the engine
/// takes the domain that arrives over the UART.
pub const FLAG_PAIR_TARGET: u64 = 4;
/// The guest workload's seed when qemu/boot gives none (printed, so a run
/// can be repeated).
pub const DEFAULT_SEED: u64 = 0x4c44_4d47_5431_0002;

/// What qemu/boot asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootOptions {
    /// Damage one page in the target (the verdict must turn to fail).
    pub corrupt_page: bool,
    /// The flags word as given ([`FLAG_PAIR_SOURCE`], [`FLAG_PAIR_TARGET`]).
    pub flags: u64,
    /// The guest workload's seed (0: [`DEFAULT_SEED`]).
    pub seed: u64,
}

impl BootOptions {
    /// No options (all zero: the hypervisor's state lives in `.bss`).
    pub const DEFAULT: BootOptions = BootOptions {
        corrupt_page: false,
        flags: 0,
        seed: 0,
    };

    /// The options in the ROM, or the defaults.
    pub fn read() -> BootOptions {
        let word = |index: u64| {
            // The ROM is mapped at this physical address on -M niagara and
            // QEMU loaded at least 8 bytes there (qemu/boot always writes
            // the file); only the first three words are read, and only
            // after the magic matched.
            // SAFETY: a read of ROM; no side effect, no Rust object there.
            unsafe {
                core::ptr::read_volatile((HYPERVISOR_DESCRIPTION_ROM + index * 8) as *const u64)
            }
        };
        if word(0) != OPTIONS_MAGIC {
            return BootOptions::DEFAULT;
        }
        BootOptions {
            corrupt_page: word(1) & FLAG_CORRUPT_PAGE != 0,
            flags: word(1),
            seed: word(2),
        }
    }

    /// Whether this is one machine of a two-machine run.
    pub fn paired(&self) -> bool {
        self.flags & (FLAG_PAIR_SOURCE | FLAG_PAIR_TARGET) != 0
    }

    /// The seed the guest uses.
    pub fn guest_seed(&self) -> u64 {
        if self.seed == 0 {
            DEFAULT_SEED
        } else {
            self.seed
        }
    }
}
