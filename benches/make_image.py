#!/usr/bin/env python3
"""Makes the guest-memory image of benches/qemu_peer.sh: real bytes from files
under /usr/lib with runs of zero pages, so that zero-page detection and LZ4 see
what they would see in a real guest.

Two files come out, with the same memory contents:

- IMAGE (SIZE bytes): the whole guest memory, for `ldmig demo --image`. Its
  first MiB is zero (on the x86 side that is where the BIOS lives).
- DATA (SIZE - 1 MiB bytes): IMAGE without that first MiB, for QEMU's
  `-device loader,file=DATA,addr=0x100000,force-raw=on` into a guest of
  `-m SIZE`.

Layout: files under /usr/lib (regular files of more than 4 KiB, in a seeded
shuffle of the sorted list, so the mix depends on the machine but not on
chance), the first --file-bytes of each, every piece padded with zeros to a
4 KiB boundary as in a page cache; between them runs of all-zero 8 KiB pages
(free memory), placed so that the zero 8 KiB pages (the padded runs and any
all-zero page of the files themselves, plus the first MiB) make up
--zero-fraction of the image, spread evenly over it. Zero runs start and end on
8 KiB boundaries, so the 4 KiB and the 8 KiB page views agree on them.

Prints one JSON object with what went in (file counts by kind, zero pages at
8 KiB and at 4 KiB) on stdout. Standard library only.
"""

import argparse
import json
import os
import random
import sys

MIB = 1 << 20
PAGE = 8192
SMALL_PAGE = 4096
HEAD = MIB
ZERO_PAGE = bytes(PAGE)
ZERO_SMALL_PAGE = bytes(SMALL_PAGE)
TEXT_SUFFIXES = (
    ".py", ".pm", ".pl", ".txt", ".h", ".c", ".sh", ".conf", ".cfg", ".ini",
    ".json", ".xml", ".html", ".rst", ".md", ".el", ".tcl", ".rb", ".js",
    ".css", ".mk", ".am", ".in", ".pc", ".la", ".desc", ".ph", ".pod",
)


def parse_size(text):
    """'1G', '256M', '512K' or bytes -> bytes (powers of 1024)."""
    text = text.strip().upper().rstrip("B").rstrip("I")
    units = {"K": 10, "M": 20, "G": 30}
    if text and text[-1] in units:
        return int(text[:-1]) << units[text[-1]]
    return int(text)


def kind_of(path):
    """'shared object', 'text' or 'other', by name."""
    name = os.path.basename(path)
    if ".so" in name and (name.endswith(".so") or ".so." in name):
        return "shared object"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return "other"


def candidate_files(root):
    """Regular files over 4 KiB under root, sorted (no symlinks)."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if os.path.getsize(path) > SMALL_PAGE:
                    found.append(path)
            except OSError:
                continue
    found.sort()
    return found


def data_pages(files, file_bytes, counts):
    """Yields 8 KiB pages of the files' first bytes, each file's piece
    padded to 4 KiB; cycles through the files if memory is larger."""
    pending = b""
    passes = 0
    while True:
        used = 0
        for path in files:
            try:
                with open(path, "rb") as handle:
                    piece = handle.read(file_bytes)
            except OSError:
                continue
            if not piece:
                continue
            used += 1
            counts[kind_of(path)] = counts.get(kind_of(path), 0) + 1
            counts["bytes"] = counts.get("bytes", 0) + len(piece)
            pad = (-len(piece)) % SMALL_PAGE
            pending += piece + bytes(pad)
            whole = len(pending) // PAGE * PAGE
            for offset in range(0, whole, PAGE):
                yield pending[offset:offset + PAGE]
            pending = pending[whole:]
        passes += 1
        counts["passes over the files"] = passes
        if used == 0:
            raise SystemExit("make_image: no readable file under the root")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="guest memory, e.g. 1G, 256M")
    parser.add_argument("--image", required=True, help="whole-memory image (SIZE bytes)")
    parser.add_argument("--data", required=True, help="the image without its first MiB")
    parser.add_argument("--zero-fraction", type=float, default=0.15)
    parser.add_argument("--file-bytes", type=parse_size, default=512 << 10,
                        help="bytes taken from the start of each file")
    parser.add_argument("--root", default="/usr/lib")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    size = parse_size(args.size)
    if size % PAGE or size <= HEAD:
        raise SystemExit("make_image: --size must be a multiple of 8K and more than 1M")
    total_pages = size // PAGE
    head_pages = HEAD // PAGE
    zero_target = round(args.zero_fraction * total_pages)

    rng = random.Random(args.seed)
    files = candidate_files(args.root)
    rng.shuffle(files)
    counts = {}
    source = data_pages(files, args.file_bytes, counts)

    zero_pages = head_pages
    zero_small_pages = head_pages * 2
    written = head_pages
    with open(args.image, "wb") as image, open(args.data, "wb") as data:
        image.write(bytes(HEAD))
        while written < total_pages:
            remaining = total_pages - written
            # Keep the zero pages so far on the straight line to the target.
            due = zero_target * (written + 1) / total_pages
            if zero_pages < due:
                run = min(rng.randint(1, 64), remaining)
                block = ZERO_PAGE * run
                zero_pages += run
                zero_small_pages += 2 * run
            else:
                run = min(rng.randint(8, 512), remaining)
                pages = [next(source) for _ in range(run)]
                for page in pages:
                    if page == ZERO_PAGE:
                        zero_pages += 1
                    zero_small_pages += (page[:SMALL_PAGE] == ZERO_SMALL_PAGE)
                    zero_small_pages += (page[SMALL_PAGE:] == ZERO_SMALL_PAGE)
                block = b"".join(pages)
            image.write(block)
            data.write(block)
            written += run

    summary = {
        "size_bytes": size,
        "files_used": {k: v for k, v in counts.items() if k not in ("bytes",)},
        "file_bytes": counts.get("bytes", 0),
        "file_bytes_each": args.file_bytes,
        "pages_8k": total_pages,
        "zero_pages_8k": zero_pages,
        "zero_fraction_8k": round(zero_pages / total_pages, 4),
        "pages_4k": total_pages * 2,
        "zero_pages_4k": zero_small_pages,
        "zero_fraction_4k": round(zero_small_pages / (total_pages * 2), 4),
        "seed": args.seed,
        "root": args.root,
    }
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
