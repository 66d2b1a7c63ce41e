//! Page-codec benchmark (issue 2): single-core encode and decode throughput
//! of the engine's page records next to memcpy, the C LZ4 library and
//! `lz4_flex` alone, on zero, text-like, random and real-file pages; and
//! the engine's deeper LZ4 search (`ldmig::wire::lz4_deep`, for link-bound
//! migrations): its rate and its bytes against `lz4_flex`'s.
//!
//! Run: `cargo run --release -p ldmig-benches --example codec_bench -- [--quick] [--markdown]`.
//! Every figure is the best of several runs; the runs interleave all the
//! measured operations so that they see the same machine state. Time is
//! the thread's CPU time, so other processes on a shared machine do not
//! count against the code measured (their effect on caches still does).
//!
//! Then, on the file mix, the same encode (and C LZ4) on 1 and on 2
//! threads at once, each thread its own pass over the set as a pipeline
//! worker does: the rate over wall time (the scaling) and over each
//! thread's CPU time (the per-core rate while the other core is busy too).

use ldmig::page::{is_zero, page_crc, Page, PAGE_SIZE};
use ldmig::wire::lz4_deep;
use ldmig::wire::record::{encode_page, parse_record, PageDecoder, PageEncoding, MAX_RECORD_BYTES};
use ldmig_sim::rng::SplitMix64;
use std::hint::black_box;
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIB: usize = 1 << 20;
/// Seed of the synthetic page sets (fixed: every run measures the same bytes).
const SEED: u64 = 0x1d_2024_0002;

/// How much to measure.
struct Settings {
    /// Bytes of each page set.
    set_bytes: usize,
    /// Bytes processed per measurement (whole passes over the set).
    work_bytes: usize,
    /// Measurements per operation; the best counts.
    runs: usize,
    /// Print the table as markdown.
    markdown: bool,
}

impl Settings {
    fn from_args() -> Result<Self, String> {
        let mut settings = Settings {
            set_bytes: 32 * MIB,
            work_bytes: 64 * MIB,
            runs: 10,
            markdown: false,
        };
        for argument in std::env::args().skip(1) {
            match argument.as_str() {
                "--quick" => {
                    settings.set_bytes = 4 * MIB;
                    settings.work_bytes = 16 * MIB;
                    settings.runs = 3;
                }
                "--markdown" => settings.markdown = true,
                "--help" | "-h" => {
                    return Err("usage: codec_bench [--quick] [--markdown]".to_string())
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        Ok(settings)
    }

    fn pages(&self) -> usize {
        self.set_bytes / PAGE_SIZE
    }
}

/// A named set of pages.
struct PageSet {
    name: &'static str,
    pages: Vec<Page>,
}

fn zero_pages(count: usize) -> Vec<Page> {
    vec![[0; PAGE_SIZE]; count]
}

fn random_pages(count: usize, rng: &mut SplitMix64) -> Vec<Page> {
    let mut pages = zero_pages(count);
    for page in &mut pages {
        rng.fill(page);
    }
    pages
}

/// Words of the text-like pages: identifiers, log and prose words.
const WORDS: &[&str] = &[
    "the",
    "domain",
    "page",
    "memory",
    "vcpu",
    "channel",
    "of",
    "to",
    "and",
    "a",
    "in",
    "is",
    "migrate",
    "source",
    "target",
    "guest",
    "real",
    "address",
    "error",
    "return",
    "if",
    "else",
    "for",
    "while",
    "struct",
    "int",
    "char",
    "void",
    "static",
    "const",
    "unsigned",
    "long",
    "ldom",
    "sun4v",
    "hypervisor",
    "firmware",
    "kernel",
    "buffer",
    "length",
    "offset",
    "status",
    "INFO",
    "WARN",
    "DEBUG",
    "request",
    "response",
    "timeout",
    "connection",
    "user",
    "session",
    "with",
    "from",
    "this",
    "that",
    "which",
    "when",
    "then",
    "value",
    "table",
    "index",
    "count",
    "function",
    "module",
    "system",
    "service",
    "network",
    "interface",
    "device",
    "driver",
];
const PUNCTUATION: &[&str] = &[" ", " ", " ", " ", ", ", ". ", "; ", "(", ") ", " = ", "->"];

/// Text like source files and logs: skewed word choice, numbers, lines.
fn text_pages(count: usize, rng: &mut SplitMix64) -> Vec<Page> {
    let mut text = Vec::with_capacity(count * PAGE_SIZE + 64);
    let mut column = 0usize;
    while text.len() < count * PAGE_SIZE {
        // Skewed towards the first words, as in real text.
        let bound = rng.below(WORDS.len() as u64) + 1;
        let word = WORDS[rng.below(bound) as usize];
        text.extend_from_slice(word.as_bytes());
        column += word.len();
        if rng.chance(1, 8) {
            let number = rng.below(100_000);
            text.extend_from_slice(format!(" {number}").as_bytes());
            column += 6;
        }
        if column > 60 + rng.below(30) as usize {
            text.push(b'\n');
            let indent = rng.below(4) as usize * 4;
            text.extend(std::iter::repeat_n(b' ', indent));
            column = indent;
        } else {
            let separator = PUNCTUATION[rng.below(PUNCTUATION.len() as u64) as usize];
            text.extend_from_slice(separator.as_bytes());
            column += separator.len();
        }
    }
    let mut pages = zero_pages(count);
    for (page, chunk) in pages.iter_mut().zip(text.chunks_exact(PAGE_SIZE)) {
        page.copy_from_slice(chunk);
    }
    pages
}

/// Regular files under `root` (no symlinks), sorted by path.
fn files_under(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            if metadata.is_dir() {
                folders.push(entry.path());
            } else if metadata.is_file() {
                files.push((entry.path(), metadata.len()));
            }
        }
    }
    files.sort();
    files
}

fn is_shared_object(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".so") || name.contains(".so.")
}

fn is_text(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("py" | "pm" | "pl" | "txt" | "h" | "conf" | "sh" | "json" | "xml")
    )
}

/// Appends the first `limit` bytes of `path` as pages (the last one
/// zero-padded, as in a page cache); false when unreadable.
fn append_file_pages(pages: &mut Vec<Page>, path: &Path, limit: usize) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut bytes = Vec::new();
    if file.take(limit as u64).read_to_end(&mut bytes).is_err() || bytes.is_empty() {
        return false;
    }
    for chunk in bytes.chunks(PAGE_SIZE) {
        let mut page = [0; PAGE_SIZE];
        page[..chunk.len()].copy_from_slice(chunk);
        pages.push(page);
    }
    true
}

/// Files picked evenly over the sorted list `candidates` until `pages` holds
/// `target` pages; each file contributes at most `per_file` bytes.
fn take_files(
    pages: &mut Vec<Page>,
    candidates: &[&(PathBuf, u64)],
    target: usize,
    per_file: usize,
) -> usize {
    let start = pages.len();
    let mut used = 0;
    let wanted = (target * PAGE_SIZE).div_ceil(per_file).max(1);
    let stride = (candidates.len() / wanted).max(1);
    for offset in 0..stride {
        for (path, _) in candidates.iter().skip(offset).step_by(stride) {
            if pages.len() - start >= target {
                return used;
            }
            if append_file_pages(pages, path, per_file) {
                used += 1;
            }
        }
    }
    used
}

/// Pages of real files: 3/4 from shared objects (first 2 MiB of each),
/// 1/4 from text files (whole files, padded to pages), from /usr/lib.
fn file_mix_pages(count: usize) -> (Vec<Page>, String) {
    let files = files_under(Path::new("/usr/lib"));
    let shared: Vec<_> = files
        .iter()
        .filter(|(path, size)| is_shared_object(path) && *size >= MIB as u64)
        .collect();
    let text: Vec<_> = files
        .iter()
        .filter(|(path, size)| is_text(path) && *size > 0)
        .collect();
    let mut pages = Vec::with_capacity(count + 512);
    let binary_files = take_files(&mut pages, &shared, count * 3 / 4, 2 * MIB);
    let binary_pages = pages.len();
    let text_files = take_files(
        &mut pages,
        &text,
        count - binary_pages.min(count),
        256 * 1024,
    );
    pages.truncate(count);
    let text_pages = pages.len() - binary_pages.min(count);
    let description = format!(
        "{binary_pages} pages from {binary_files} .so files, {text_pages} from {text_files} text files under /usr/lib"
    );
    (pages, description)
}

/// The C LZ4 library (lz4 1.10, built by `lz4-sys`).
mod c_lz4 {
    use super::*;

    /// Room `LZ4_compress_default` may need for a page.
    pub fn bound() -> usize {
        // SAFETY: a pure function of its integer argument.
        let bound = unsafe { lz4_sys::LZ4_compressBound(PAGE_SIZE as c_int) };
        bound as usize
    }

    /// Compresses `page` into `out` (at least [`bound`] bytes); returns the size.
    pub fn compress(page: &Page, out: &mut [u8]) -> usize {
        assert!(out.len() >= bound());
        // SAFETY: `page` is readable for PAGE_SIZE bytes, `out` writable for
        // its length, which LZ4 is told and never exceeds.
        let size = unsafe {
            lz4_sys::LZ4_compress_default(
                page.as_ptr() as *const c_char,
                out.as_mut_ptr() as *mut c_char,
                PAGE_SIZE as c_int,
                out.len() as c_int,
            )
        };
        assert!(size > 0, "LZ4_compress_default failed");
        size as usize
    }

    /// Decompresses `block` into `page`; returns the size written.
    pub fn decompress(block: &[u8], page: &mut Page) -> usize {
        // SAFETY: `block` is readable for its length, `page` writable for
        // PAGE_SIZE bytes; LZ4_decompress_safe checks both bounds.
        let size = unsafe {
            lz4_sys::LZ4_decompress_safe(
                block.as_ptr() as *const c_char,
                page.as_mut_ptr() as *mut c_char,
                block.len() as c_int,
                PAGE_SIZE as c_int,
            )
        };
        assert!(size >= 0, "LZ4_decompress_safe refused a block");
        size as usize
    }
}

/// Compressed blocks back to back, with their (offset, length).
struct Blocks {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Blocks {
    fn new(pages: &[Page], mut compress: impl FnMut(&Page, &mut [u8]) -> usize) -> Self {
        let mut out = vec![0u8; c_lz4::bound().max(MAX_RECORD_BYTES)];
        let mut blocks = Blocks {
            bytes: Vec::new(),
            spans: Vec::with_capacity(pages.len()),
        };
        for page in pages {
            let size = compress(page, &mut out);
            blocks.spans.push((blocks.bytes.len(), size));
            blocks.bytes.extend_from_slice(&out[..size]);
        }
        blocks
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans
            .iter()
            .map(|&(offset, length)| &self.bytes[offset..offset + length])
    }
}

/// CPU time of the calling thread, in seconds: the machine is shared, and
/// per-core throughput must not count the time other processes ran.
fn thread_cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        seconds: std::os::raw::c_long,
        nanoseconds: std::os::raw::c_long,
    }
    extern "C" {
        fn clock_gettime(clock: c_int, time: *mut Timespec) -> c_int;
    }
    /// Linux's CLOCK_THREAD_CPUTIME_ID.
    const CLOCK_THREAD_CPUTIME_ID: c_int = 3;
    let mut time = Timespec {
        seconds: 0,
        nanoseconds: 0,
    };
    // `time` has the 64-bit Linux timespec layout (time_t and long are both
    // `long`) and the clock id is a constant Linux defines.
    // SAFETY: `time` is a valid, writable timespec for the whole call.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    time.seconds as f64 + time.nanoseconds as f64 * 1e-9
}

/// The operations measured, in table order.
#[derive(Clone, Copy)]
enum Operation {
    Memcpy,
    ZeroCheck,
    Crc,
    Encode,
    Decode,
    FlexCompress,
    FlexDecompress,
    CCompress,
    CDecompress,
    DeepCompress,
}

const OPERATIONS: [Operation; 10] = [
    Operation::Memcpy,
    Operation::ZeroCheck,
    Operation::Crc,
    Operation::Encode,
    Operation::Decode,
    Operation::FlexCompress,
    Operation::FlexDecompress,
    Operation::CCompress,
    Operation::CDecompress,
    Operation::DeepCompress,
];

/// One page set prepared for every operation.
struct Prepared<'a> {
    pages: &'a [Page],
    records: Vec<u8>,
    encodings: [usize; 3],
    flex: Blocks,
    c: Blocks,
    deep: Blocks,
}

impl<'a> Prepared<'a> {
    fn new(pages: &'a [Page]) -> Self {
        let mut records = Vec::new();
        let mut encodings = [0; 3];
        let mut out = vec![0u8; MAX_RECORD_BYTES];
        for (index, page) in pages.iter().enumerate() {
            let (encoding, size) =
                encode_page((index * PAGE_SIZE) as u64, page, &mut out).expect("room for a record");
            encodings[match encoding {
                PageEncoding::Zero => 0,
                PageEncoding::Lz4 => 1,
                // encode_page never writes a delta (it has no base).
                PageEncoding::Raw | PageEncoding::Delta => 2,
            }] += 1;
            records.extend_from_slice(&out[..size]);
        }
        let flex = Blocks::new(pages, |page, out| {
            lz4_flex::block::compress_into(page, out).expect("room for a block")
        });
        let c = Blocks::new(pages, c_lz4::compress);
        let deep = Blocks::new(pages, |page, out| {
            lz4_deep::compress_into(page, out).expect("room for a block")
        });
        let prepared = Prepared {
            pages,
            records,
            encodings,
            flex,
            c,
            deep,
        };
        prepared.verify();
        prepared
    }

    /// Every decoder gives back exactly the original pages.
    fn verify(&self) {
        let mut decoder = PageDecoder::new();
        let mut offset = 0;
        for page in self.pages {
            let record = parse_record(&self.records[offset..]).expect("own record parses");
            offset += record.wire_len();
            assert_eq!(decoder.decode(&record).expect("own record decodes"), page);
        }
        assert_eq!(offset, self.records.len());
        let mut out = [0u8; PAGE_SIZE];
        for (block, page) in self
            .flex
            .iter()
            .chain(self.deep.iter())
            .zip(self.pages.iter().cycle())
        {
            let size = lz4_flex::block::decompress_into(block, &mut out).expect("own block");
            assert_eq!((size, &out), (PAGE_SIZE, page));
        }
        for (block, page) in self.c.iter().zip(self.pages) {
            assert_eq!(
                (c_lz4::decompress(block, &mut out), &out),
                (PAGE_SIZE, page)
            );
        }
    }

    fn bytes(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// One pass of `operation` over the set.
    fn pass(&self, operation: Operation, scratch: &mut [u8], page_out: &mut Page) {
        match operation {
            Operation::Memcpy => {
                for page in self.pages {
                    page_out.copy_from_slice(black_box(page));
                    black_box(&mut *page_out);
                }
            }
            Operation::ZeroCheck => {
                for page in self.pages {
                    black_box(is_zero(black_box(page)));
                }
            }
            Operation::Crc => {
                for page in self.pages {
                    black_box(page_crc(black_box(page)));
                }
            }
            Operation::Encode => {
                for (index, page) in self.pages.iter().enumerate() {
                    let encoded = encode_page((index * PAGE_SIZE) as u64, black_box(page), scratch);
                    black_box(encoded.expect("room for a record"));
                }
            }
            Operation::Decode => {
                let mut decoder = PageDecoder::new();
                let mut rest = &self.records[..];
                while !rest.is_empty() {
                    let record = parse_record(rest).expect("own record parses");
                    rest = &rest[record.wire_len()..];
                    black_box(decoder.decode(&record).expect("own record decodes"));
                }
            }
            Operation::FlexCompress => {
                for page in self.pages {
                    let size = lz4_flex::block::compress_into(black_box(page), scratch);
                    black_box(size.expect("room for a block"));
                }
            }
            Operation::FlexDecompress => {
                for block in self.flex.iter() {
                    let size = lz4_flex::block::decompress_into(black_box(block), page_out);
                    black_box(size.expect("own block"));
                    black_box(&mut *page_out);
                }
            }
            Operation::CCompress => {
                for page in self.pages {
                    black_box(c_lz4::compress(black_box(page), scratch));
                }
            }
            Operation::CDecompress => {
                for block in self.c.iter() {
                    black_box(c_lz4::decompress(black_box(block), page_out));
                    black_box(&mut *page_out);
                }
            }
            Operation::DeepCompress => {
                for page in self.pages {
                    let size = lz4_deep::compress_into(black_box(page), scratch);
                    black_box(size.expect("room for a block"));
                }
            }
        }
    }

    /// Bytes per CPU second of `operation` over `work_bytes` (whole passes).
    fn measure(&self, operation: Operation, work_bytes: usize) -> f64 {
        let mut scratch = vec![0u8; c_lz4::bound().max(MAX_RECORD_BYTES)];
        let mut page_out = [0u8; PAGE_SIZE];
        let passes = work_bytes.div_ceil(self.bytes()).max(1);
        let start = thread_cpu_seconds();
        for _ in 0..passes {
            self.pass(operation, &mut scratch, &mut page_out);
        }
        (passes * self.bytes()) as f64 / (thread_cpu_seconds() - start)
    }
}

/// Results of one page set.
struct Row {
    name: &'static str,
    encodings: [usize; 3],
    /// Best bytes per second, by [`OPERATIONS`] index.
    best: [f64; OPERATIONS.len()],
    ratio: f64,
    c_ratio: f64,
    /// Bytes of the deep search's blocks over `lz4_flex`'s.
    deep_bytes: f64,
}

impl Row {
    fn rate(&self, operation: Operation) -> f64 {
        self.best[operation as usize]
    }

    /// The cells of the table, in [`HEADERS`] order.
    fn cells(&self) -> Vec<String> {
        let gb = |operation| format!("{:.1}", self.rate(operation) / 1e9);
        let mb = |operation| format!("{:.0}", self.rate(operation) / 1e6);
        let c = self.rate(Operation::CCompress);
        vec![
            self.name.to_string(),
            format!(
                "{}/{}/{}",
                self.encodings[0], self.encodings[1], self.encodings[2]
            ),
            gb(Operation::Memcpy),
            gb(Operation::ZeroCheck),
            gb(Operation::Crc),
            mb(Operation::Encode),
            mb(Operation::Decode),
            format!("{:.2}", self.ratio),
            mb(Operation::FlexCompress),
            mb(Operation::FlexDecompress),
            mb(Operation::CCompress),
            mb(Operation::CDecompress),
            format!("{:.2}", self.c_ratio),
            format!("{:.2}", self.rate(Operation::Encode) / c),
            format!("{:.2}", self.rate(Operation::FlexCompress) / c),
            mb(Operation::DeepCompress),
            format!("{:.3}", self.deep_bytes),
        ]
    }
}

const HEADERS: [&str; 17] = [
    "page set",
    "zero/lz4/raw",
    "memcpy GB/s",
    "is_zero GB/s",
    "CRC32 GB/s",
    "encode MB/s",
    "decode MB/s",
    "ratio",
    "lz4_flex enc MB/s",
    "lz4_flex dec MB/s",
    "C lz4 enc MB/s",
    "C lz4 dec MB/s",
    "C ratio",
    "encode / C",
    "lz4_flex / C",
    "deep enc MB/s",
    "deep / lz4_flex bytes",
];

fn print_table(rows: &[Row], markdown: bool) {
    let lines: Vec<Vec<String>> = std::iter::once(HEADERS.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().map(Row::cells))
        .collect();
    if markdown {
        let line = |cells: &[String]| println!("| {} |", cells.join(" | "));
        line(&lines[0]);
        let rule: Vec<String> = (0..HEADERS.len())
            .map(|column| if column < 2 { "---" } else { "---:" }.to_string())
            .collect();
        line(&rule);
        lines[1..].iter().for_each(|cells| line(cells));
        return;
    }
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|column| {
            lines
                .iter()
                .map(|cells| cells[column].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for cells in &lines {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                if column < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        println!("{}", padded.join("  "));
    }
}

fn run_set(set: &PageSet, settings: &Settings) -> Row {
    let prepared = Prepared::new(&set.pages);
    let mut best = [0f64; OPERATIONS.len()];
    for _ in 0..settings.runs {
        for operation in OPERATIONS {
            let rate = prepared.measure(operation, settings.work_bytes);
            best[operation as usize] = best[operation as usize].max(rate);
        }
    }
    Row {
        name: set.name,
        encodings: prepared.encodings,
        best,
        ratio: prepared.bytes() as f64 / prepared.records.len() as f64,
        c_ratio: prepared.bytes() as f64 / prepared.c.bytes.len() as f64,
        deep_bytes: prepared.deep.bytes.len() as f64 / prepared.flex.bytes.len() as f64,
    }
}

fn main() {
    let settings = match Settings::from_args() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let count = settings.pages();
    let mut rng = SplitMix64::new(SEED);
    let (file_pages, file_description) = file_mix_pages(count);
    let sets = [
        PageSet {
            name: "zero",
            pages: zero_pages(count),
        },
        PageSet {
            name: "text-like",
            pages: text_pages(count, &mut rng),
        },
        PageSet {
            name: "random",
            pages: random_pages(count, &mut rng),
        },
        PageSet {
            name: "file mix",
            pages: file_pages,
        },
    ];
    eprintln!(
        "codec_bench: {} MiB per set, {} MiB per measurement, best of {} runs, one thread, thread CPU time",
        settings.set_bytes / MIB,
        settings.work_bytes / MIB,
        settings.runs
    );
    eprintln!("file mix: {file_description}");
    let rows: Vec<Row> = sets
        .iter()
        .filter(|set| !set.pages.is_empty())
        .map(|set| {
            eprintln!("measuring {} ({} pages)", set.name, set.pages.len());
            run_set(set, &settings)
        })
        .collect();
    print_table(&rows, settings.markdown);
    report_targets(&rows);
    if let Some(file_mix) = sets.iter().find(|set| set.name == "file mix") {
        if !file_mix.pages.is_empty() {
            report_scaling(&file_mix.pages, &settings);
        }
    }
}

/// Rate of `operation` over `pages` on `threads` threads at once, each
/// processing `settings.work_bytes`: (bytes per second of wall time, all
/// threads together; bytes per second of CPU time, per thread), the best
/// of the runs.
fn parallel_rate(
    pages: &[Page],
    threads: usize,
    settings: &Settings,
    operation: &(dyn Fn(&Page, &mut [u8]) + Sync),
) -> (f64, f64) {
    let passes = (settings.work_bytes / (pages.len() * PAGE_SIZE)).max(1);
    let bytes = (passes * pages.len() * PAGE_SIZE) as f64;
    let mut best = (0.0f64, 0.0f64);
    for _ in 0..settings.runs.min(5) {
        let start = Instant::now();
        let cpu_seconds: Vec<f64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = vec![0u8; c_lz4::bound().max(MAX_RECORD_BYTES)];
                        let cpu_start = thread_cpu_seconds();
                        for _ in 0..passes {
                            for page in pages {
                                operation(page, &mut out);
                                black_box(&out);
                            }
                        }
                        thread_cpu_seconds() - cpu_start
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a benchmark thread"))
                .collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds.iter().sum::<f64>() / threads as f64;
        best.0 = best.0.max(bytes * threads as f64 / wall);
        best.1 = best.1.max(bytes / cpu);
    }
    best
}

/// Encode and C LZ4 on 1 and 2 threads over the file mix.
fn report_scaling(pages: &[Page], settings: &Settings) {
    let encode = |page: &Page, out: &mut [u8]| {
        black_box(encode_page(0, page, out).expect("room for a record"));
    };
    let c_compress = |page: &Page, out: &mut [u8]| {
        black_box(c_lz4::compress(page, out));
    };
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    println!();
    println!(
        "worker scaling on the file mix ({} pages, {cores} cores here):",
        pages.len()
    );
    println!(
        "| threads | encode MB/s (wall, all) | encode MB/s per core (CPU) | C lz4 MB/s (wall, all) | C lz4 MB/s per core (CPU) | encode / C per core |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut one_thread = 0.0;
    for threads in [1, 2] {
        let (encode_wall, encode_cpu) = parallel_rate(pages, threads, settings, &encode);
        let (c_wall, c_cpu) = parallel_rate(pages, threads, settings, &c_compress);
        if threads == 1 {
            one_thread = encode_wall;
        }
        println!(
            "| {threads} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
            encode_wall / 1e6,
            encode_cpu / 1e6,
            c_wall / 1e6,
            c_cpu / 1e6,
            encode_cpu / c_cpu
        );
        if threads == 2 && one_thread > 0.0 {
            println!(
                "2 threads / 1 thread (encode, wall): {:.2}x",
                encode_wall / one_thread
            );
        }
    }
}

/// The targets: encode >= 0.9x C LZ4 per core on every set, and
/// the zero-page check >= 5 GB/s on zero pages.
fn report_targets(rows: &[Row]) {
    let worst = |operation| {
        rows.iter()
            .map(|row| {
                (
                    row.rate(operation) / row.rate(Operation::CCompress),
                    row.name,
                )
            })
            .fold((f64::INFINITY, ""), |a, b| if b.0 < a.0 { b } else { a })
    };
    let (encode, encode_set) = worst(Operation::Encode);
    let (flex, flex_set) = worst(Operation::FlexCompress);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!();
    println!(
        "target encode >= 0.9x C lz4: {} (worst: encode {encode:.2}x on {encode_set}; lz4_flex alone {flex:.2}x on {flex_set})",
        verdict(encode >= 0.9)
    );
    if let Some(zero) = rows.iter().find(|row| row.name == "zero") {
        let rate = zero.rate(Operation::ZeroCheck) / 1e9;
        println!(
            "target zero-page check >= 5 GB/s: {} ({rate:.1} GB/s)",
            verdict(rate >= 5.0)
        );
    }
}
