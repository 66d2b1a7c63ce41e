//! Assembles the image's assembly (`src/*.S`: reset and the hyperprivileged
//! trap table, the context switch, the privileged trap tables, the CPU
//! register accessors) with the cross gcc and links the image with
//! `linker/niagara.ld`: bare metal, no C start files, no libc, a static
//! non-PIE executable at the PROM base.

use std::path::PathBuf;

/// The assembly of the image, one concern per file.
const ASSEMBLY: [&str; 4] = [
    "src/reset.S",
    "src/context_switch.S",
    "src/privileged_trap_tables.S",
    "src/cpu_registers.S",
];

fn main() {
    for file in ASSEMBLY {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=src/vcpu_state_offsets.h");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = manifest.join("../../linker/niagara.ld");
    println!("cargo:rerun-if-changed={}", script.display());

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "sparc64" {
        // main.rs refuses to compile for anything else, with the reason.
        return;
    }
    // -fno-pic: `setx symbol` under gcc's default PIC assembled a wrong
    // address (measured on QEMU 7.2 -M niagara; hv/REFERENCES.md, QEMU niagara).
    let objects = cc::Build::new()
        .files(ASSEMBLY)
        .flag("-mcpu=niagara")
        .flag("-fno-pic")
        .compile_intermediates();
    // Objects, not an archive: nothing in Rust names the trap table, and an
    // archive member nobody references would be left out of the link.
    for object in objects {
        println!("cargo:rustc-link-arg-bins={}", object.display());
    }
    for argument in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={argument}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=none");
    // The link map, next to the build script's output, for debugging.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    println!(
        "cargo:rustc-link-arg-bins=-Wl,-Map,{}",
        out.join("firmware.map").display()
    );
}
