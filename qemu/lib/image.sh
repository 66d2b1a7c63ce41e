# shellcheck shell=bash
# ldmig: the firmware image and the ROM folder QEMU boots it from, shared by
# qemu/boot and qemu/pair (sourced). The caller sets ROOT and WORK and
# defines fail(); build_image sets IMAGE and SIZE.
#
# CARGO_TARGET_DIR: cargo builds in its firmware/ subfolder (default
# target/firmware): the image's static relocation model must not thrash the
# workspace's PIC builds.

SPARC=sparc64-unknown-linux-gnu
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/firmware

# QEMU loads reset.bin at the PROM base, q.bin at +0x10000 and openboot.bin
# at +0x80000 (hw/sparc64/niagara.c) and refuses overlapping files: a larger
# image is cut at those offsets, so it lands in the PROM exactly as linked.
Q_OFFSET=$((0x10000))
OBP_OFFSET=$((0x80000))
PROM_BYTES=$((0x400000))

for tool in qemu-system-sparc64 sparc64-linux-gnu-objcopy sparc64-linux-gnu-gcc; do
    command -v "$tool" >/dev/null || fail "$tool is missing (qemu/check installs it)"
done

# Runs cargo in the firmware crate; fails with the log and `what` on error.
# From the crate's folder: its .cargo/config.toml (target, static
# relocation model) applies on top of the repository's (cross linker).
firmware_cargo() { # what-failed cargo-arguments...
    local what=$1
    shift
    if ! (cd "$ROOT/qemu/firmware" && RUSTC_BOOTSTRAP=1 cargo "$@") >"$WORK/cargo.log" 2>&1; then
        cat "$WORK/cargo.log" >&2
        fail "$what"
    fi
}

# Lints (with "lint"), builds (incremental) and flattens the image into
# $WORK/image.bin. The crate is outside the root workspace, so the
# workspace's fmt and clippy steps do not see it.
build_image() { # [lint]
    local build_std=(--release --target "$SPARC" --target-dir "$TARGET_DIR"
        -Zbuild-std=core -Zbuild-std-features=compiler-builtins-mem)
    if [ "${1:-}" = lint ]; then
        firmware_cargo "the firmware crate is not formatted (cargo fmt in qemu/firmware)" fmt --check
        firmware_cargo "clippy found problems in the firmware crate" clippy --quiet "${build_std[@]}" -- -D warnings
    fi
    firmware_cargo "the firmware image did not build" build --quiet "${build_std[@]}"
    IMAGE="$WORK/image.bin"
    sparc64-linux-gnu-objcopy -O binary "$TARGET_DIR/$SPARC/release/ldmig-firmware" "$IMAGE"
    SIZE=$(stat -c %s "$IMAGE")
    [ "$SIZE" -le "$PROM_BYTES" ] || fail "image of $SIZE bytes does not fit the 4 MiB PROM"
}

be64() { # value: 8 bytes, big-endian
    local hex
    hex=$(printf '%016x' "$1")
    # shellcheck disable=SC2059 # the format is the bytes
    printf "$(sed 's/../\\x&/g' <<<"$hex")"
}

# A fresh ROM folder for the image with its boot options
# (qemu/firmware/src/boot_options.rs): QEMU loads 1up-hv.bin into the
# hypervisor-description ROM, where the image reads "LDMGOPT1", a flags
# word (1 --corrupt-page, 2 pair source, 4 pair target) and the seed,
# big-endian. QEMU must run from an empty directory (a reset.bin in the
# current directory would win over -L).
make_rom() { # folder flags seed
    local rom=$1 name
    mkdir -p "$rom"
    placeholder() { head -c 8 /dev/zero >"$1"; }
    cut_image() { # name offset length
        if [ "$SIZE" -gt "$2" ]; then
            tail -c +$(($2 + 1)) "$IMAGE" | head -c "$3" >"$rom/$1"
        else
            placeholder "$rom/$1"
        fi
    }
    head -c "$Q_OFFSET" "$IMAGE" >"$rom/reset.bin"
    cut_image q.bin "$Q_OFFSET" $((OBP_OFFSET - Q_OFFSET))
    cut_image openboot.bin "$OBP_OFFSET" $((PROM_BYTES - OBP_OFFSET))
    for name in nvram1 1up-md.bin; do
        placeholder "$rom/$name"
    done
    {
        printf 'LDMGOPT1'
        be64 "$2"
        be64 "$3"
    } >"$rom/1up-hv.bin"
    [ "$(stat -c %s "$rom/1up-hv.bin")" -eq 24 ] || fail "could not write the boot options"
}
