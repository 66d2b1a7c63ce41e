#!/usr/bin/env bash
# benches/qemu_peer.sh: side-by-side benchmark of ldmig's live migration
# against QEMU's own (qemu-system-x86_64, TCG), moving the same memory contents
# of the same size over loopback TCP on this machine, in one run.
#
#   benches/qemu_peer.sh [--size 1G] [--reps 3] [--markdown] [options]
#
# What it does:
#  1. installs qemu-system-x86 when missing, builds ldmig in release (or takes
#     $LDMIG), makes a SIZE image of real data (benches/make_image.py: first
#     bytes of files under /usr/lib, 15 % zero pages);
#  2. QEMU: a target `-incoming defer` and a source with the image loaded
#     into guest RAM at 1 MiB (`-device loader,...,force-raw=on`, -m SIZE),
#     SeaBIOS idling (no boot device: the migration starts once the source
#     has used < 5 % CPU for 1 s, at least 2 s after its start; under TCG,
#     SeaBIOS's probing first keeps a core busy for a few seconds); over QMP
#     the bandwidth cap is lifted (QEMU's default max-bandwidth is
#     128 MiB/s) or set to --cap, `migrate`, poll `query-migrate`
#     (benches/qemu_peer.py); variants: plain (defaults but the cap), plain
#     with downtime-limit 10 ms, multifd with 2 channels, multifd with 2
#     channels and zstd, and plain and multifd over TLS (`tls-creds-x509`
#     with a CA, server and client certificates made on the spot with
#     openssl, verify-peer on);
#  3. ldmig: `ldmig demo --memory SIZE --image IMAGE --workload idle --json`
#     (SPAKE2 + authenticated encryption always on), once per --workers value
#     given, with --cap as `--max-bandwidth` too;
#  4. every variant REPS times, interleaved (rep 1 of each, then rep 2, ...),
#     and prints the run with the median total time of each.
#
# The runs happen in a private network namespace (`unshare -n`), so the bytes
# counted on its loopback interface are exactly the migrations' bytes, TCP/IP
# headers and both directions included: the same measure for both tools.
# The first QEMU run of each variant also dumps guest memory from both sides
# after the migration (QMP pmemsave) and compares them.
#
# Options:
#   --size SIZE         guest memory (default 1G; 256M for a quick run; <= 1536M)
#   --reps N            repetitions of each variant (default 3)
#   --variants "LIST"   QEMU variants among plain plain-10ms multifd multifd-zstd
#                       plain-tls multifd-tls (default all)
#   --cap BYTES/S       a bandwidth cap for both tools (QEMU max-bandwidth,
#                       ldmig --max-bandwidth), e.g. 125000000 for 1 Gbit/s
#                       (default: none)
#   --workers "LIST"    ldmig runs, one per value: `default` (no --workers
#                       option) or a worker count (default "default")
#   --channels N        multifd channels (default 2)
#   --target-memory M   resident (default): both targets' memory is there
#                       before the migration (QEMU -mem-prealloc; ldmig demo
#                       reserves it, as a real machine's bound memory is);
#                       fresh: both take it from the kernel during the
#                       migration (QEMU's default; ldmig demo
#                       --fresh-target-memory), which in a virtual machine
#                       whose host backs memory lazily costs more than the
#                       copy itself
#   --markdown          print the table as markdown
#   --results FILE      keep the raw results (one JSON object a line)
#   --no-verify         skip the memory dumps
#   --no-netns          run in this network namespace (the loopback byte
#                       counts then include other traffic on the machine)
# Environment: LDMIG (ldmig binary, else built), CARGO_TARGET_DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
size=1G
reps=3
variants="plain plain-10ms multifd multifd-zstd plain-tls multifd-tls"
channels=2
cap=""
workers="default"
markdown=0
results_copy=""
verify=1
netns=1
inner=""
settle=2
target_memory=resident

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --variants) variants=$2; shift 2 ;;
        --channels) channels=$2; shift 2 ;;
        --target-memory) target_memory=$2; shift 2 ;;
        --cap) cap=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --markdown) markdown=1; shift ;;
        --results) results_copy=$2; shift 2 ;;
        --no-verify) verify=0; shift ;;
        --no-netns) netns=0; shift ;;
        --inner) inner=$2; shift 2 ;;  # internal: measure in this directory
        -h|--help) usage; exit 0 ;;
        *) echo "qemu_peer.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "qemu_peer: $*" >&2; }

bytes=$(python3 - "$size" <<'EOF'
import sys
text = sys.argv[1].strip().upper().rstrip("B").rstrip("I")
units = {"K": 10, "M": 20, "G": 30}
try:
    value = int(text[:-1]) << units[text[-1]] if text[-1:] in units else int(text)
except ValueError:
    sys.exit(f"qemu_peer.sh: '{sys.argv[1]}' is not a size (e.g. 1G, 256M)")
print(value)
EOF
)
if [ "$bytes" -le $((2 << 20)) ] || [ $((bytes % 8192)) -ne 0 ] || [ "$bytes" -gt $((1536 << 20)) ]; then
    echo "qemu_peer.sh: --size must be a multiple of 8K between 2M and 1536M" >&2
    exit 2
fi
mib=$((bytes >> 20))
case "$target_memory" in
    resident) prealloc=(-mem-prealloc); fresh_args=() ;;
    fresh) prealloc=(); fresh_args=(--fresh-target-memory) ;;
    *) echo "qemu_peer.sh: --target-memory is resident or fresh" >&2; exit 2 ;;
esac
for variant in $variants; do
    case "$variant" in
        plain|plain-10ms|multifd|multifd-zstd|plain-tls|multifd-tls) ;;
        *) echo "qemu_peer.sh: unknown variant $variant (plain plain-10ms multifd multifd-zstd plain-tls multifd-tls)" >&2; exit 2 ;;
    esac
done
if [ -n "$cap" ] && ! [[ "$cap" =~ ^[1-9][0-9]*$ ]]; then
    echo "qemu_peer.sh: --cap takes bytes per second (e.g. 125000000)" >&2
    exit 2
fi
for count in $workers; do
    [ "$count" = default ] || [[ "$count" =~ ^[1-9][0-9]?$ ]] || {
        echo "qemu_peer.sh: --workers takes default or worker counts (e.g. \"1 2\")" >&2; exit 2; }
done

# ---------------------------------------------------------------- measuring
# Runs in the private network namespace; $inner is the work directory the
# outer process made (image, data, results). Starts and ends its own QEMUs.
qemu_pids=()

stop_qemus() {
    local pid
    for pid in "${qemu_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${qemu_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    qemu_pids=()
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 15 s for the QEMUs to leave after QMP quit, then ends them.
reap_qemus() {
    local pid waited=0
    while [ $waited -lt 150 ]; do
        local alive=0
        for pid in "${qemu_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.1
        waited=$((waited + 1))
    done
    stop_qemus
}

helper_pid=""

# Runs a helper in the background and waits, so that a signal is handled at once.
helper() {
    "$@" &
    helper_pid=$!
    local status=0
    wait "$helper_pid" || status=$?
    helper_pid=""
    return $status
}

run_qemu() {
    local variant=$1 rep=$2 work=$inner port source_qmp target_qmp verify_args=()
    port=$(free_port)
    source_qmp=$work/source.qmp
    target_qmp=$work/target.qmp
    rm -f "$source_qmp" "$target_qmp"
    local common=(qemu-system-x86_64 -machine pc,accel=tcg -m "${mib}M" -nographic
                  -nodefaults -display none) target_tls=() source_tls=() tls_args=()
    if [[ "$variant" == *-tls ]]; then
        target_tls=(-object "tls-creds-x509,id=tls0,dir=$work/tls/server,endpoint=server,verify-peer=on")
        source_tls=(-object "tls-creds-x509,id=tls0,dir=$work/tls/client,endpoint=client,verify-peer=on")
        tls_args=(--tls-creds tls0)
    fi
    "${common[@]}" "${prealloc[@]}" "${target_tls[@]}" -qmp "unix:$target_qmp,server=on,wait=off" -incoming defer \
        </dev/null >"$work/target.log" 2>&1 &
    qemu_pids+=($!)
    "${common[@]}" "${source_tls[@]}" -qmp "unix:$source_qmp,server=on,wait=off" \
        -device "loader,file=$work/data.img,addr=0x100000,force-raw=on" \
        </dev/null >"$work/source.log" 2>&1 &
    qemu_pids+=($!)
    if [ "$verify" -eq 1 ] && [ "$rep" -eq 1 ]; then
        verify_args=(--verify-data "$work/data.img" --verify-dir "$work")
    fi
    say "rep $rep: QEMU $variant (tcp:127.0.0.1:$port)"
    if ! helper python3 "$here/qemu_peer.py" migrate --source "$source_qmp" --target "$target_qmp" \
            --uri "tcp:127.0.0.1:$port" --variant "$variant" --channels "$channels" \
            --settle "$settle" --source-pid "${qemu_pids[1]}" --target-pid "${qemu_pids[0]}" \
            --rep "$rep" "${cap_args[@]}" "${tls_args[@]}" "${verify_args[@]}" \
            >>"$work/results.jsonl"; then
        say "QEMU $variant failed; source log:"; tail -5 "$work/source.log" >&2 || true
        say "target log:"; tail -5 "$work/target.log" >&2 || true
    fi
    reap_qemus
}

run_ldmig() {
    local rep=$1 count=$2 worker_args=()
    [ "$count" = default ] || worker_args=(--workers "$count")
    say "rep $rep: ldmig demo (workers: $count)"
    if ! helper python3 "$here/qemu_peer.py" ldmig --ldmig "$LDMIG" --size "$bytes" \
            --image "$inner/memory.img" --rep "$rep" "${cap_args[@]}" "${worker_args[@]}" \
            "${fresh_args[@]}" \
            >>"$inner/results.jsonl"; then
        say "ldmig failed: $(tail -1 "$inner/results.jsonl")"
    fi
}

cap_args=()
[ -z "$cap" ] || cap_args=(--max-bandwidth "$cap")

# A CA and server and client certificates for QEMU's TLS variants, in the
# layout tls-creds-x509 reads (ca-cert.pem, {server,client}-{cert,key}.pem).
make_certificates() {
    local dir=$1 side
    mkdir -p "$dir/server" "$dir/client"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=qemu-peer-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$dir/ca-key.pem" -out "$dir/ca-cert.pem" 2>/dev/null
    for side in server client; do
        local usage=serverAuth
        [ "$side" = client ] && usage=clientAuth
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
            -keyout "$dir/$side/$side-key.pem" -out "$dir/$side.csr" 2>/dev/null
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' \
            "$usage" >"$dir/$side.ext"
        openssl x509 -req -in "$dir/$side.csr" -CA "$dir/ca-cert.pem" -CAkey "$dir/ca-key.pem" \
            -CAcreateserial -days 2 -extfile "$dir/$side.ext" -out "$dir/$side/$side-cert.pem" 2>/dev/null
        cp "$dir/ca-cert.pem" "$dir/$side/ca-cert.pem"
    done
}

if [ -n "$inner" ]; then
    trap 'if [ -n "$helper_pid" ]; then kill -TERM "$helper_pid" 2>/dev/null || true; fi; stop_qemus' EXIT
    trap 'exit 130' INT TERM
    if [ "$netns" -eq 1 ]; then
        ip link set lo up
    fi
    for rep in $(seq 1 "$reps"); do
        for variant in $variants; do
            run_qemu "$variant" "$rep"
        done
        for count in $workers; do
            run_ldmig "$rep" "$count"
        done
    done
    exit 0
fi

# ---------------------------------------------------------------- setting up
work=""
inner_pid=""
cleanup() {
    if [ -n "$inner_pid" ]; then
        kill -TERM "$inner_pid" 2>/dev/null || true
        wait "$inner_pid" 2>/dev/null || true
    fi
    if [ -n "$work" ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v qemu-system-x86_64 >/dev/null; then
    say "installing qemu-system-x86"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq qemu-system-x86 >/dev/null 2>&1
fi
if [ "$netns" -eq 1 ] && ! command -v ip >/dev/null; then
    say "installing iproute2"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq iproute2 >/dev/null 2>&1
fi
if [ "$netns" -eq 1 ] && ! unshare -n true 2>/dev/null; then
    say "cannot make a network namespace here; measuring in this one (--no-netns)"
    netns=0
fi

if [ -z "${LDMIG:-}" ]; then
    say "building ldmig (release)"
    (cd "$root" && cargo build --release --quiet)
    LDMIG=${CARGO_TARGET_DIR:-$root/target}/release/ldmig
fi
export LDMIG
[ -x "$LDMIG" ] || { echo "qemu_peer.sh: no ldmig binary at $LDMIG" >&2; exit 1; }

work=$(mktemp -d /tmp/qemu-peer.XXXXXX)
say "making the ${mib} MiB image"
python3 "$here/make_image.py" --size "$bytes" --image "$work/memory.img" \
    --data "$work/data.img" >"$work/image.json"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ " $variants " == *-tls* ]]; then
    command -v openssl >/dev/null || { echo "qemu_peer.sh: the TLS variants need openssl" >&2; exit 1; }
    make_certificates "$work/tls"
fi
args=(--size "$bytes" --reps "$reps" --variants "$variants" --channels "$channels"
      --workers "$workers" --target-memory "$target_memory" --inner "$work")
[ -z "$cap" ] || args+=(--cap "$cap")
[ "$verify" -eq 1 ] || args+=(--no-verify)
if [ "$netns" -eq 1 ]; then
    unshare -n bash "$0" "${args[@]}" &
else
    bash "$0" "${args[@]}" --no-netns &
fi
inner_pid=$!
wait "$inner_pid" || { inner_pid=""; echo "qemu_peer.sh: the measurements failed" >&2; exit 1; }
inner_pid=""
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

[ -z "$results_copy" ] || cp "$work/results.jsonl" "$results_copy"

model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
qemu_version=$(qemu-system-x86_64 --version | head -1)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
image=$(python3 - "$work/image.json" <<'EOF2'
import json, sys
s = json.load(open(sys.argv[1]))
kinds = ", ".join(f"{v} {k}" for k, v in s["files_used"].items() if not k.startswith("passes"))
print(f"{s['size_bytes'] >> 20} MiB: first MiB zero, then the first {s['file_bytes_each'] >> 10} KiB "
      f"of files under {s['root']} ({kinds}; {s['file_bytes'] / 2**20:.0f} MiB of file bytes, "
      f"each piece padded to 4 KiB) between runs of zero pages: "
      f"{100 * s['zero_fraction_8k']:.1f} % zero at 8 KiB ({s['zero_pages_8k']} pages), "
      f"{100 * s['zero_fraction_4k']:.1f} % at 4 KiB ({s['zero_pages_4k']} pages)")
EOF2
)

echo "Machine: $model, $(nproc) CPUs; load average $load_before before, $load_after after"
if [ -n "$cap" ]; then
    cap_text="max-bandwidth $cap bytes/s ($((cap * 8 / 1000000)) Mbit/s), the same cap for ldmig (--max-bandwidth)"
else
    cap_text="max-bandwidth lifted to 1 TiB/s, ldmig uncapped"
fi
echo "Target memory: $target_memory (QEMU target${prealloc:+ -mem-prealloc}; ldmig demo${fresh_args:+ --fresh-target-memory})"
echo "QEMU: $qemu_version, qemu-system-x86_64 -machine pc,accel=tcg -m ${mib}M, SeaBIOS idle; $cap_text; other parameters default (downtime-limit 300 ms but in the 10 ms row); TLS rows: tls-creds-x509, RSA 2048 certificates, verify-peer on"
echo "ldmig: $LDMIG (commit $commit), demo --workload idle, SPAKE2 + authenticated encryption, workers: $workers"
echo "Image: $image"
echo "Runs: $reps of each, interleaved; each row is the run with the median total time"
echo
table_args=(--results "$work/results.jsonl" --size "$bytes")
[ "$markdown" -eq 0 ] || table_args+=(--markdown)
python3 "$here/qemu_peer.py" table "${table_args[@]}"
