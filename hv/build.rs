//! Assembles the sparc64 `ta 0x80` trampolines with the cross gcc; nothing on
//! other targets (the trap path is not compiled there at all).

fn main() {
    println!("cargo:rerun-if-changed=src/trampoline.S");
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "sparc64" {
        cc::Build::new()
            .file("src/trampoline.S")
            .flag("-mcpu=niagara")
            .compile("ldmig_trampoline");
    }
}
