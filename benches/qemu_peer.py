#!/usr/bin/env python3
"""QMP side of benches/qemu_peer.sh: drives one QEMU live migration between
two running qemu-system-x86_64 processes and prints its statistics as JSON
(`migrate`), and turns the collected results of QEMU and ldmig runs into the
comparison table (`table`). Standard library only.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time

MIB = 1 << 20
CHUNK = 4 * MIB


def loopback_bytes():
    """Bytes sent on this network namespace's loopback interface so far (both
    directions of every TCP connection, IP and TCP headers included)."""
    with open("/proc/self/net/dev") as handle:
        for line in handle:
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[8])
    raise QmpError("no loopback interface in /proc/self/net/dev")


class QmpError(Exception):
    """A QMP command failed or QEMU went away."""


class Qmp:
    """A minimal QMP client over a Unix socket."""

    def __init__(self, path, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError as error:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"cannot connect to QMP at {path}: {error}")
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"unexpected QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QmpError("QMP connection closed")
        return json.loads(line)

    def execute(self, command, **arguments):
        """Runs one command; returns its 'return' value, raises on 'error'."""
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid, least, most, window=0.5, busy=0.05):
    """Waits until the process used less than `busy` of a CPU over two
    windows in a row (SeaBIOS has finished probing and halts), at least
    `least` and at most `most` seconds after the call; returns the wait."""
    start = time.monotonic()
    quiet = 0
    before = cpu_seconds(pid)
    while True:
        time.sleep(window)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - before < busy * window else 0
        before = now
        waited = time.monotonic() - start
        if (quiet >= 2 and waited >= least) or waited >= most:
            return waited


def configure(qmp, variant, channels, max_bandwidth, tls_creds=None, client=False):
    """Capabilities and parameters of one side (max_bandwidth: source only;
    tls_creds: the tls-creds-x509 object id, the source being the client)."""
    multifd = variant.startswith("multifd")
    qmp.execute("migrate-set-capabilities",
                capabilities=[{"capability": "multifd", "state": multifd}])
    parameters = {}
    if multifd:
        parameters["multifd-channels"] = channels
        parameters["multifd-compression"] = "zstd" if variant == "multifd-zstd" else "none"
    if tls_creds:
        parameters["tls-creds"] = tls_creds
        if client:
            parameters["tls-hostname"] = "localhost"
    if max_bandwidth is not None:
        parameters["max-bandwidth"] = max_bandwidth
        if variant == "plain-10ms":
            parameters["downtime-limit"] = 10
    if parameters:
        qmp.execute("migrate-set-parameters", **parameters)


def differing_pages(path_a, path_b, page_size):
    """Indexes of the pages that differ between two files of equal length."""
    differ = []
    with open(path_a, "rb") as file_a, open(path_b, "rb") as file_b:
        offset = 0
        while True:
            chunk_a = file_a.read(CHUNK)
            chunk_b = file_b.read(CHUNK)
            if not chunk_a and not chunk_b:
                break
            if chunk_a != chunk_b:
                for start in range(0, max(len(chunk_a), len(chunk_b)), page_size):
                    if chunk_a[start:start + page_size] != chunk_b[start:start + page_size]:
                        differ.append((offset + start) // page_size)
            offset += len(chunk_a)
    return differ


def verify(source, target, data, address, directory):
    """Dumps guest memory from `address` on as long as the data file from
    both (paused) QEMUs and compares: target vs source, source vs the image."""
    length = os.path.getsize(data)
    source_dump = os.path.join(directory, "source.mem")
    target_dump = os.path.join(directory, "target.mem")
    source.execute("pmemsave", val=address, size=length, filename=source_dump)
    target.execute("pmemsave", val=address, size=length, filename=target_dump)
    try:
        moved = differing_pages(source_dump, target_dump, 4096)
        from_image = differing_pages(source_dump, data, 4096)
    finally:
        os.remove(source_dump)
        os.remove(target_dump)
    return {
        "verified_bytes": length,
        "target_differs_from_source_pages": len(moved),
        "source_differs_from_image_pages": len(from_image),
        "source_differs_from_image_at": [hex(address + page * 4096) for page in from_image[:8]],
    }


def migrate(args):
    """One migration; prints a JSON object with QEMU's query-migrate figures."""
    result = {"tool": "qemu", "variant": args.variant, "rep": args.rep,
              "channels": args.channels if args.variant.startswith("multifd") else 1}
    sides = []
    try:
        target = Qmp(args.target)
        sides.append(target)
        source = Qmp(args.source)
        sides.append(source)
        configure(target, args.variant, args.channels, None, args.tls_creds)
        target.execute("migrate-incoming", uri=args.uri)
        configure(source, args.variant, args.channels, args.max_bandwidth, args.tls_creds,
                  client=True)
        status = source.execute("query-status")
        if status.get("status") != "running":
            raise QmpError(f"source is not running: {status}")
        # Let the firmware settle: SeaBIOS probes for a while (under TCG
        # that is a busy vCPU), then, with no boot device, halts.
        if args.source_pid:
            result["settle_s"] = round(wait_until_idle(args.source_pid, args.settle, 60), 2)
        else:
            time.sleep(args.settle)
            result["settle_s"] = args.settle
        pids = [pid for pid in (args.source_pid, args.target_pid) if pid]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        result["parameters"] = source.execute("query-migrate-parameters")
        loopback_before = loopback_bytes()
        source.execute("migrate", uri=args.uri)
        deadline = time.monotonic() + args.timeout
        while True:
            info = source.execute("query-migrate")
            state = info.get("status")
            if state in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                source.execute("migrate_cancel")
                raise QmpError(f"migration still {state} after {args.timeout} s")
            time.sleep(0.02)
        result["status"] = state
        if state != "completed":
            result["error"] = info.get("error-desc", state)
        ram = info.get("ram", {})
        result.update({
            "total_time_ms": info.get("total-time"),
            "setup_time_ms": info.get("setup-time"),
            "downtime_ms": info.get("downtime"),
            "transferred_bytes": ram.get("transferred"),
            "ram_total_bytes": ram.get("total"),
            "zero_pages": ram.get("duplicate"),
            "normal_pages": ram.get("normal"),
            "normal_bytes": ram.get("normal-bytes"),
            "multifd_bytes": ram.get("multifd-bytes"),
            "page_size": ram.get("page-size"),
            "dirty_sync_count": ram.get("dirty-sync-count"),
            "mbps": ram.get("mbps"),
            "raw": info,
        })
        if state == "completed":
            deadline = time.monotonic() + 30
            while target.execute("query-status").get("status") != "running":
                if time.monotonic() > deadline:
                    raise QmpError("target did not resume within 30 s")
                time.sleep(0.02)
            result["target_running"] = True
            # The target runs only after it read the whole stream.
            result["loopback_bytes"] = loopback_bytes() - loopback_before
            if pids:
                result["qemu_cpu_s"] = round(sum(cpu_seconds(pid) for pid in pids) - cpu_before, 2)
            if args.verify_data:
                target.execute("stop")
                result.update(verify(source, target, args.verify_data,
                                     args.verify_address, args.verify_dir))
    except (QmpError, OSError) as error:
        result["status"] = "failed"
        result["error"] = str(error)
    finally:
        for side in sides:
            try:
                side.execute("quit")
            except (QmpError, OSError):
                pass
            side.close()
    print(json.dumps(result))
    return 0 if result.get("status") == "completed" else 1


def ldmig(args):
    """One `ldmig demo` migration of the image (idle workload); prints its
    JSON summary with the loopback bytes it caused added."""
    import subprocess
    command = [args.ldmig, "demo", "--memory", str(args.size), "--image", args.image,
               "--workload", "idle", "--json"]
    if args.max_bandwidth:
        command += ["--max-bandwidth", str(args.max_bandwidth)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    if args.fresh_target_memory:
        command += ["--fresh-target-memory"]
    before = loopback_bytes()
    finished = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=args.timeout, check=False)
    after = loopback_bytes()
    try:
        result = json.loads(finished.stdout)
    except json.JSONDecodeError:
        result = {"status": "failed",
                  "error": f"exit {finished.returncode}: {finished.stderr.strip()[-500:]}"}
    variant = f"workers-{args.workers}" if args.workers else "default"
    result.update({"tool": "ldmig", "variant": variant, "rep": args.rep,
                   "page_size": 8192, "loopback_bytes": after - before,
                   "exit_code": finished.returncode})
    print(json.dumps(result))
    return 0 if result.get("status") == "completed" else 1


ROWS = [
    ("qemu", "plain", "QEMU plain"),
    ("qemu", "plain-10ms", "QEMU plain, downtime-limit 10 ms"),
    ("qemu", "multifd", "QEMU multifd (2)"),
    ("qemu", "multifd-zstd", "QEMU multifd (2) + zstd"),
    ("qemu", "plain-tls", "QEMU plain + TLS"),
    ("qemu", "multifd-tls", "QEMU multifd (2) + TLS"),
]


def rows(results):
    """The table's rows: the QEMU variants, then one ldmig row per worker
    setting that ran (in the order they first appear)."""
    found = list(ROWS)
    for result in results:
        if result.get("tool") != "ldmig":
            continue
        variant = result.get("variant")
        name = ("ldmig (idle guest)" if variant == "default"
                else f"ldmig (idle guest), {variant.split('-')[1]} workers")
        if ("ldmig", variant, name) not in found:
            found.append(("ldmig", variant, name))
    return found


def load(path):
    """The results file: one JSON object a line."""
    results = []
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line:
                results.append(json.loads(line))
    return results


def representative(runs):
    """The completed run with the median total time (lower median for an
    even count), and the list of the completed runs' total times."""
    done = [run for run in runs if run.get("status") == "completed"]
    if not done:
        return None, []
    done.sort(key=lambda run: run["total_time_ms"])
    return done[(len(done) - 1) // 2], [run["total_time_ms"] for run in done]


def table(args):
    """Prints the comparison table (markdown with --markdown)."""
    results = load(args.results)
    size = args.size
    header = ["run", "runs ok", "total ms (median; min-max)", "setup ms", "downtime ms",
              "sent MiB (own count)", "loopback MiB", "loopback / memory", "zero pages",
              "zero MiB", "loopback MB/s", "memory GiB/s", "syncs / rounds",
              "memory identical"]
    lines = []
    medians = {}
    for tool, variant, name in rows(results):
        runs = [r for r in results if r.get("tool") == tool and r.get("variant") == variant]
        if not runs:
            continue
        best, times = representative(runs)
        if best is None:
            errors = "; ".join(sorted({str(r.get("error")) for r in runs}))
            lines.append([name, f"0/{len(runs)}", f"failed: {errors}"] + [""] * (len(header) - 3))
            continue
        total = best["total_time_ms"]
        wire = best["loopback_bytes"]
        medians[name] = (tool, total, wire, best["downtime_ms"])
        page_size = best.get("page_size") or 8192
        if tool == "qemu":
            syncs = str(best.get("dirty_sync_count"))
            verified = [r for r in runs if "target_differs_from_source_pages" in r]
            if verified:
                same = all(r["target_differs_from_source_pages"] == 0 for r in verified)
                identical = f"{str(same).lower()} ({len(verified)} checked)"
            else:
                identical = "not checked"
        else:
            syncs = str(best.get("rounds"))
            identical = str(all(r.get("memory_identical") for r in runs
                                if r.get("status") == "completed")).lower()
        spread = f"{total:.0f}; {min(times):.0f}-{max(times):.0f}" if len(times) > 1 else f"{total:.0f}"
        lines.append([
            name,
            f"{len(times)}/{len(runs)}",
            spread,
            f"{best['setup_time_ms']:.1f}",
            f"{best['downtime_ms']:.2f}" if tool == "ldmig" else f"{best['downtime_ms']}",
            f"{best['transferred_bytes'] / MIB:.1f}",
            f"{wire / MIB:.1f}",
            f"{wire / size:.3f}",
            f"{best['zero_pages']} x {page_size // 1024} KiB",
            f"{best['zero_pages'] * page_size / MIB:.1f}",
            f"{wire / 1e6 / (total / 1000):.0f}",
            f"{size / (1 << 30) / (total / 1000):.2f}",
            syncs,
            identical,
        ])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + ["---"]) + "|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for line in lines:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths)))
    qemu = {name: value for name, value in medians.items() if value[0] == "qemu"}
    ours = {name: value for name, value in medians.items() if value[0] == "ldmig"}
    if qemu and ours:
        print("\nRatios (ldmig / QEMU, median runs): total time, bytes on loopback")
        for name, (_, total, wire, downtime) in ours.items():
            parts = [f"{other}: time {total / other_total:.2f}x, bytes {wire / other_wire:.2f}x"
                     for other, (_, other_total, other_wire, _) in qemu.items()]
            best_time = min(other_total for _, other_total, _, _ in qemu.values())
            fewest = min(other_wire for _, _, other_wire, _ in qemu.values())
            print(f"- {name} (downtime {downtime:.2f} ms): " + "; ".join(parts) +
                  f"; against QEMU's best time {total / best_time:.2f}x, fewest bytes "
                  f"{wire / fewest:.2f}x")
    checks = []
    where = []
    for tool, variant, name in rows(results):
        for run in results:
            if run.get("tool") == tool and run.get("variant") == variant \
                    and "source_differs_from_image_pages" in run:
                checks.append(f"{name}: {run['target_differs_from_source_pages']} of "
                              f"{run['verified_bytes'] // 4096} differ between target and source, "
                              f"source vs image {run['source_differs_from_image_pages']}")
                where = run["source_differs_from_image_at"]
                break
    settles = [r["settle_s"] for r in results if r.get("tool") == "qemu" and "settle_s" in r]
    cpus = [r["qemu_cpu_s"] for r in results if r.get("tool") == "qemu" and "qemu_cpu_s" in r]
    if settles:
        print(f"\nQEMU migrations began {min(settles):.1f}-{max(settles):.1f} s after QMP came up, "
              f"once the source used under 5 % CPU" +
              (f"; CPU time of both QEMUs during a migration {min(cpus):.2f}-{max(cpus):.2f} s"
               if cpus else "") + ".")
    if checks:
        firmware = f" Source vs image: firmware writes (first at {where[0]})." if where else ""
        print("\nMemory check (first run of each QEMU variant: guest memory from 1 MiB up, "
              "dumped with pmemsave from both sides after the migration, in 4 KiB pages): "
              + "; ".join(checks) + "." + firmware)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("migrate", help="one QEMU migration, JSON on stdout")
    run.add_argument("--source", required=True, help="source QMP socket")
    run.add_argument("--target", required=True, help="target QMP socket (-incoming defer)")
    run.add_argument("--uri", required=True, help="e.g. tcp:127.0.0.1:4444")
    run.add_argument("--variant", choices=["plain", "plain-10ms", "multifd", "multifd-zstd",
                                           "plain-tls", "multifd-tls"], default="plain")
    run.add_argument("--tls-creds", help="id of both QEMUs' tls-creds-x509 object")
    run.add_argument("--channels", type=int, default=2)
    run.add_argument("--max-bandwidth", type=int, default=1 << 40,
                     help="bytes/s; QEMU's default is 128 MiB/s")
    run.add_argument("--settle", type=float, default=2.0,
                     help="seconds the source runs at least before the migration")
    run.add_argument("--source-pid", type=int,
                     help="wait until this (the source QEMU) is idle, up to 60 s")
    run.add_argument("--target-pid", type=int, help="the target QEMU (for its CPU time)")
    run.add_argument("--timeout", type=float, default=300.0)
    run.add_argument("--rep", type=int, default=1)
    run.add_argument("--verify-data", help="the loaded image: compare memory after")
    run.add_argument("--verify-address", type=lambda text: int(text, 0), default=0x100000)
    run.add_argument("--verify-dir", default="/tmp")
    own = commands.add_parser("ldmig", help="one ldmig demo migration, JSON on stdout")
    own.add_argument("--ldmig", required=True, help="the ldmig binary")
    own.add_argument("--size", type=int, required=True, help="guest memory in bytes")
    own.add_argument("--image", required=True)
    own.add_argument("--rep", type=int, default=1)
    own.add_argument("--max-bandwidth", type=int, help="bytes/s (ldmig --max-bandwidth)")
    own.add_argument("--workers", type=int, help="ldmig --workers (default: its own)")
    own.add_argument("--fresh-target-memory", action="store_true",
                     help="ldmig demo --fresh-target-memory")
    own.add_argument("--timeout", type=float, default=300.0)
    show = commands.add_parser("table", help="the comparison table")
    show.add_argument("--results", required=True)
    show.add_argument("--size", type=int, required=True, help="guest memory in bytes")
    show.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    return {"migrate": migrate, "ldmig": ldmig, "table": table}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
