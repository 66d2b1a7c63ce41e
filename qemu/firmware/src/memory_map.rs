//! The physical memory map of the image on `-M niagara` (hw/sparc64/
//! niagara.c: hypervisor RAM at 0x100000, 63 MiB; partition RAM at
//! 0x80000000, `-m` bytes; the PROM at 0xfff0000000). The stack tops the
//! assembly needs are also in `memory_map.h`: keep the two in step.
//!
//! | range | what |
//! |---|---|
//! | `0x0010_0000..0x0020_0000` | boot stack (hyperprivileged boot code, self-test) |
//! | `0x0020_0000..0x0028_0000` | fatal-trap report stack |
//! | `0x0030_0000..0x0040_0000` | hypervisor stack (traps from privileged contexts) |
//! | `0x0040_0000..0x0100_0000` | `.bss` (the hypervisor's state), cleared at reset |
//! | `0x0100_0000..0x0140_0000` | the service domain's memory (RA = PA), its stack at the top |
//! | `0x8000_0000..` | partition RAM: guest domains' memory blocks, bound first fit |
//! | `0xff_f000_0000..` | the PROM: this image (code, read-only data, data) |

/// A physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Bytes.
    pub size: u64,
}

impl Range {
    /// One past the last byte.
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }

    /// Whether `[address, address + length)` lies inside.
    pub fn contains(&self, address: u64, length: u64) -> bool {
        address
            .checked_add(length)
            .is_some_and(|end| address >= self.base && end <= self.end())
    }
}

/// The boot stack (reset.S paints it before the first Rust call).
pub const BOOT_STACK: Range = Range {
    base: 0x0010_0000,
    size: 0x0010_0000,
};
/// The hypervisor's stack for traps from privileged contexts.
pub const HYPERVISOR_STACK: Range = Range {
    base: 0x0030_0000,
    size: 0x0010_0000,
};
/// The service domain's memory: real addresses equal physical ones (it
/// runs with its MMU off); its stack grows down from the top.
pub const SERVICE_MEMORY: Range = Range {
    base: 0x0100_0000,
    size: 0x0040_0000,
};
/// Memory the hypervisor's own code may name as a "caller buffer" when it
/// calls itself through `ta 0x80` (the self-test): hypervisor RAM and the
/// PROM.
pub const HYPERVISOR_CALLER_MEMORY: [Range; 2] = [
    Range {
        base: 0x0010_0000,
        size: 0x03f0_0000,
    },
    Range {
        base: IMAGE_BASE,
        size: 0x0040_0000,
    },
];
/// Partition RAM as qemu/boot gives it (`-m 128M` at 0x80000000).
pub const PARTITION_RAM: Range = Range {
    base: 0x8000_0000,
    size: 0x0800_0000,
};
/// Where the image is linked and loaded (the PROM).
pub const IMAGE_BASE: u64 = 0xff_f000_0000;
/// The most the image may take (linker/niagara.ld asserts it): the guest's
/// code block, a copy of the image, is this big.
pub const IMAGE_LIMIT: u64 = 512 * 1024;
/// The 16550 UART's registers.
pub const UART_BASE: u64 = 0x1f_1000_0000;
/// The hypervisor-description ROM (`1up-hv.bin`): qemu/boot puts the boot
/// options there (boot_options.rs).
pub const HYPERVISOR_DESCRIPTION_ROM: u64 = 0x1f_1208_0000;
/// The word painted over unused stack (`memory_map.h` STACK_PAINT).
pub const STACK_PAINT: u64 = 0x5354_414b_5354_414b;

unsafe extern "C" {
    /// One past the image's last byte (linker/niagara.ld); only its address is used.
    static ldmig_firmware_image_end: u8;
}

/// Bytes of the image as loaded (code, read-only data, data).
pub fn image_bytes() -> u64 {
    (&raw const ldmig_firmware_image_end) as u64 - IMAGE_BASE
}
