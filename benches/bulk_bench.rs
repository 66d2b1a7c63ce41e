//! Bulk-path benchmark: the same bytes (default 256 MiB in 256 KiB frames)
//! moved, in one run, (a) through the engine's descriptor ring and
//! `LDC_COPY` on the simulated LDC (both directions), (b) by a plain
//! memcpy, and (c) as LDC messages fragmented into 48-byte packet payloads
//! by the link layer. Best of `--runs` (default 3) interleaved runs.
//! `--mib N`, `--frame-kib N`, `--entries N`, `--runs N`, `--markdown`.

use ldmig_hv::ldc::{LdcLink, LinkConfig, LinkError, LinkRole, QueueConfig, MAX_MESSAGE_SIZE};
use ldmig_shim::host::ldc_hop::SimChannel;
use ldmig_sim::ldc::{EndpointConfig, LdcFabric, SIM_MAX_QUEUE_ENTRIES, SIM_MEMORY_BASE};
use ldmig_sim::rng::SplitMix64;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    mib: usize,
    frame_kib: usize,
    entries: u32,
    runs: usize,
    markdown: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        mib: 256,
        frame_kib: 256,
        entries: 8,
        runs: 3,
        markdown: false,
    };
    let mut args = std::env::args().skip(1);
    let number = |name: &str, value: Option<String>| -> Result<usize, String> {
        let value = value.ok_or(format!("{name} needs a number"))?;
        value.parse().map_err(|_| format!("bad {name} {value}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--markdown" => options.markdown = true,
            "--mib" => options.mib = number("--mib", args.next())?,
            "--frame-kib" => options.frame_kib = number("--frame-kib", args.next())?,
            "--entries" => options.entries = number("--entries", args.next())? as u32,
            "--runs" => options.runs = number("--runs", args.next())?.max(1),
            _ => {
                return Err("usage: bulk_bench [--mib N] [--frame-kib N] [--entries N] \
                            [--runs N] [--markdown]"
                    .into())
            }
        }
    }
    if options.frame_kib == 0 || !options.frame_kib.is_multiple_of(8) {
        return Err("--frame-kib must be a multiple of 8".into());
    }
    Ok(options)
}

/// Which way the frames of a ring benchmark go.
#[derive(Clone, Copy)]
enum Direction {
    /// (a) engine -> shim: the engine writes each frame into its exported
    /// slot; the shim copies it out with `LDC_COPY` and marks it DONE.
    EngineToShim,
    /// (a') shim -> engine: the shim copies each frame out into the
    /// engine's receive slot with `LDC_COPY`; the engine reads its own
    /// memory.
    ShimToEngine,
}

/// Moves `source` into `target` through the ring, `frame` bytes a frame,
/// the sender filling the ring before the receiver empties it.
fn ring(
    direction: Direction,
    source: &[u8],
    target: &mut [u8],
    frame: usize,
    entries: u32,
) -> Duration {
    let SimChannel {
        fabric: _fabric,
        mut engine,
        mut shim,
    } = SimChannel::connect(frame, &[entries], 1).expect("the channel comes up");
    let start = Instant::now();
    let mut frames = source.chunks(frame).zip(target.chunks_mut(frame));
    let mut waiting: Vec<&mut [u8]> = Vec::new();
    let mut next = frames.next();
    while next.is_some() || !waiting.is_empty() {
        if let Some((from, to)) = next.take() {
            let sent = match direction {
                Direction::EngineToShim => engine.send_frame(from).expect("send"),
                Direction::ShimToEngine => shim.put_frame(from).expect("put"),
            };
            if sent {
                waiting.push(to);
                next = frames.next();
            } else {
                next = Some((from, to));
            }
        }
        if next.is_none() || waiting.len() == entries as usize {
            for to in waiting.drain(..) {
                let length = to.len();
                let taken = match direction {
                    Direction::EngineToShim => shim.take_frame(to).expect("take"),
                    Direction::ShimToEngine => engine.receive_frame(to).expect("receive"),
                };
                assert_eq!(taken, Some(length));
            }
        }
    }
    start.elapsed()
}

/// (b) memcpy, frame by frame.
fn memcpy(source: &[u8], target: &mut [u8], frame: usize) -> Duration {
    let start = Instant::now();
    for (from, to) in source.chunks(frame).zip(target.chunks_mut(frame)) {
        to.copy_from_slice(from);
    }
    start.elapsed()
}

/// (c) the link layer's messages: 4 KiB messages, each 86 packets of 48
/// payload bytes through 1024-entry queues.
fn packets(source: &[u8], target: &mut [u8]) -> Duration {
    let fabric = LdcFabric::new();
    let (a, b) = fabric
        .create_pair(EndpointConfig::new(1), EndpointConfig::new(2))
        .expect("pair");
    let entries = SIM_MAX_QUEUE_ENTRIES;
    let queue = |offset: u64| QueueConfig {
        ra: SIM_MEMORY_BASE + offset * entries * 64,
        entries,
    };
    let mut sender = LdcLink::open(
        a,
        LinkConfig::new(1, queue(0), queue(1), LinkRole::Initiator),
    )
    .expect("a");
    let mut receiver = LdcLink::open(
        b,
        LinkConfig::new(2, queue(0), queue(1), LinkRole::Responder),
    )
    .expect("b");
    for _ in 0..64 {
        let _ = sender.poll();
        let _ = receiver.poll();
        if sender.is_connected() && receiver.is_connected() {
            break;
        }
    }
    let start = Instant::now();
    let mut messages = source.chunks(MAX_MESSAGE_SIZE);
    let mut slots = target.chunks_mut(MAX_MESSAGE_SIZE);
    let mut next = messages.next();
    let mut buffer = [0u8; MAX_MESSAGE_SIZE];
    loop {
        while let Some(message) = next {
            match sender.send(message) {
                Ok(()) => next = messages.next(),
                Err(LinkError::QueueFull { .. }) => break,
                Err(error) => panic!("send: {error}"),
            }
        }
        let mut took = false;
        while let Some(length) = receiver.receive(&mut buffer).expect("receive") {
            let slot = slots.next().expect("as many messages as sent");
            slot.copy_from_slice(&buffer[..length]);
            took = true;
        }
        if next.is_none() && !took && sender.unacknowledged_messages() == 0 {
            break;
        }
        let _ = sender.poll();
    }
    start.elapsed()
}

fn rate(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn main() -> ExitCode {
    ldmig_benches::run_with_options(parse, benchmark)
}

/// Runs every path (or workload) of the benchmark and prints the table.
fn benchmark(options: Options) -> ExitCode {
    let bytes = options.mib << 20;
    let frame = options.frame_kib << 10;
    let mut source = vec![0u8; bytes];
    SplitMix64::new(7).fill(&mut source);
    let mut target = vec![0xffu8; bytes];
    let names = [
        "(b) memcpy",
        "(a) ring + LDC_COPY, engine -> shim",
        "(a) ring + LDC_COPY, shim -> engine",
        "(c) 48-byte LDC packets (4 KiB messages)",
    ];
    let mut best = [Duration::MAX; 4];
    for _ in 0..options.runs {
        let times = [
            memcpy(&source, &mut target, frame),
            ring(
                Direction::EngineToShim,
                &source,
                &mut target,
                frame,
                options.entries,
            ),
            ring(
                Direction::ShimToEngine,
                &source,
                &mut target,
                frame,
                options.entries,
            ),
            packets(&source, &mut target),
        ];
        for (best, time) in best.iter_mut().zip(times) {
            *best = (*best).min(time);
        }
        assert!(source == target, "the bytes arrived intact");
        target.fill(0xff);
    }
    let memcpy_rate = rate(bytes, best[0]);
    if options.markdown {
        println!(
            "{} MiB in {} KiB frames, ring of {} slots, best of {} runs\n",
            options.mib, options.frame_kib, options.entries, options.runs
        );
        println!("| path | MB/s | % of memcpy | ms |");
        println!("|---|---:|---:|---:|");
    }
    for (name, time) in names.iter().zip(best) {
        let mbps = rate(bytes, time);
        let percent = 100.0 * mbps / memcpy_rate;
        let ms = time.as_secs_f64() * 1e3;
        if options.markdown {
            println!("| {name} | {mbps:.0} | {percent:.1} | {ms:.1} |");
        } else {
            println!("{name:45} {mbps:9.0} MB/s {percent:6.1} % {ms:9.1} ms");
        }
    }
    ExitCode::SUCCESS
}
