//! The host's side of an engine's page pipeline: the buffers its batches
//! and delta cache borrow ([`PipelineStorage`]), and the worker threads
//! that call [`PagePipeline::work`] while the engine runs ([`with_workers`]).
//!
//! Workers sleep on a condition variable when nothing is queued; the
//! thread that drives the engine wakes them after each poll that queued
//! work ([`Workers::wake`]), so idle workers cost no CPU on a machine
//! whose cores the engines, relays and encryption share.
//!
//! Workers time their work on the host's clock ([`WorkTiming::HostClock`])
//! for the compression policy, except in a run on a virtual clock: there
//! page work takes no time, on workers as within the engine's polls, so
//! the workers' clock does not move ([`WorkTiming::Untimed`]) and the
//! driver waits for them before it moves its clock ([`Workers::wait_idle`]).
//! A virtual run's choices then do not depend on the host's speed.

use ldmig::page::{Page, PAGE_SIZE};
use ldmig::pipeline::{BatchBuffers, DeltaCache, PagePipeline, DELTA_CACHE_SHARDS, MAX_BATCHES};
use ldmig::wire::record::MAX_RECORD_BYTES;
use ldmig::wire::FRAME_HEADER_BYTES;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines of a source's delta cache at most: 64 MiB, QEMU's default
/// `xbzrle-cache-size`.
pub const DELTA_CACHE_LINES: usize = 8192;
/// Pages a target batch expands LZ4 records into (a 256 KiB frame of LZ4
/// pages at a ratio of 2 holds about 60).
const TARGET_BATCH_PAGES: usize = 64;

/// The worker count `--workers` defaults to: the machine's cores.
pub fn default_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |cores| cores.get() as u32)
}

/// Which engine a pipeline serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Encodes pages into frames (with a delta cache of this many lines
    /// at most; 0: no deltas).
    Source {
        /// Lines of the delta cache.
        cache_lines: usize,
    },
    /// Decodes received frames.
    Target,
}

/// The heap memory a pipeline's batches and cache borrow.
pub struct PipelineStorage {
    frames: Vec<Vec<u8>>,
    pages: Vec<Vec<Page>>,
    cache_pages: Vec<Page>,
    cache_tags: Vec<u64>,
}

impl PipelineStorage {
    /// Storage for `workers` workers (0: the state machine alone) and
    /// frames of `frame_bytes`: twice as many batches as workers, plus
    /// two, so that workers never wait for the state machine.
    pub fn new(side: Side, workers: u32, frame_bytes: usize) -> Self {
        let batches = (2 * workers as usize + 2).clamp(2, MAX_BATCHES);
        let pages_per_batch = match side {
            Side::Source { .. } => ((frame_bytes - FRAME_HEADER_BYTES) / MAX_RECORD_BYTES).max(1),
            Side::Target => TARGET_BATCH_PAGES,
        };
        let cache_lines = match side {
            Side::Source { cache_lines } => {
                cache_lines.min(DELTA_CACHE_LINES) / DELTA_CACHE_SHARDS * DELTA_CACHE_SHARDS
            }
            Side::Target => 0,
        };
        PipelineStorage {
            frames: (0..batches).map(|_| vec![0u8; frame_bytes]).collect(),
            pages: (0..batches)
                .map(|_| vec![[0u8; PAGE_SIZE]; pages_per_batch])
                .collect(),
            cache_pages: vec![[0u8; PAGE_SIZE]; cache_lines],
            cache_tags: vec![0u64; cache_lines],
        }
    }

    /// The pipeline over this storage.
    pub fn pipeline(&mut self) -> Result<PagePipeline<'_>, String> {
        let cache = DeltaCache::new(&mut self.cache_pages, &mut self.cache_tags);
        let buffers = self
            .frames
            .iter_mut()
            .zip(self.pages.iter_mut())
            .map(|(frame, pages)| BatchBuffers { pages, frame });
        PagePipeline::new(buffers, cache).map_err(|error| error.to_string())
    }
}

/// The clock the workers time their work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkTiming {
    /// The host's monotonic clock: the policy weighs real work.
    HostClock,
    /// A clock that does not move: work measures as taking no time (a run
    /// on a virtual clock, where the driver waits for the workers).
    Untimed,
}

/// The worker threads of one pipeline, as the engine's thread sees them.
pub struct Workers {
    wake: Condvar,
    asleep: Mutex<()>,
    stop: AtomicBool,
    count: u32,
    /// Worker threads that were started (fewer than `count` when the host
    /// refused some).
    started: AtomicU32,
    /// Workers inside [`PagePipeline::work`] (raised before a batch is
    /// taken from the queue, lowered once it is back).
    busy: AtomicU32,
}

impl Workers {
    /// Wakes the workers when work is queued (call after each poll).
    pub fn wake(&self, pipeline: &PagePipeline<'_>) {
        if self.count > 0 && pipeline.has_queued() {
            // Taken so that a worker between its check and its wait
            // cannot miss the notification.
            let _asleep = self
                .asleep
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.wake.notify_all();
        }
    }

    /// Worker threads running.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Waits until no batch is queued and no worker is working on one
    /// (call after [`Workers::wake`]; at once without workers: the engine
    /// did its work in its poll).
    pub fn wait_idle(&self, pipeline: &PagePipeline<'_>) {
        if self.started.load(Ordering::SeqCst) == 0 {
            return;
        }
        // `busy` goes up before a worker takes a batch from the queue, so
        // an empty queue read after an idle count misses no batch. A
        // worker that slept through the wake looks again within 1 ms.
        while self.busy.load(Ordering::SeqCst) > 0 || pipeline.has_queued() {
            std::thread::yield_now();
        }
    }
}

/// Runs `count` worker threads over `pipeline` while `body` runs (none for
/// 0: the engine then works within its polls), and returns what `body`
/// returned once they stopped.
pub fn with_workers<R>(
    pipeline: &PagePipeline<'_>,
    count: u32,
    timing: WorkTiming,
    body: impl FnOnce(&Workers) -> R,
) -> R {
    let workers = Workers {
        wake: Condvar::new(),
        asleep: Mutex::new(()),
        stop: AtomicBool::new(false),
        count,
        started: AtomicU32::new(0),
        busy: AtomicU32::new(0),
    };
    std::thread::scope(|scope| {
        for index in 0..count {
            let workers = &workers;
            let spawned = std::thread::Builder::new()
                .name(format!("ldmig-worker-{index}"))
                .spawn_scoped(scope, move || work(pipeline, workers, timing));
            if spawned.is_err() {
                // Fewer workers than asked: the others still take the work.
                break;
            }
            workers.started.fetch_add(1, Ordering::SeqCst);
        }
        let result = body(&workers);
        workers.stop.store(true, Ordering::SeqCst);
        workers.wake.notify_all();
        result
    })
}

fn work(pipeline: &PagePipeline<'_>, workers: &Workers, timing: WorkTiming) {
    let start = Instant::now();
    let clock = move || match timing {
        WorkTiming::HostClock => start.elapsed().as_nanos() as u64,
        WorkTiming::Untimed => 0,
    };
    while !workers.stop.load(Ordering::SeqCst) {
        workers.busy.fetch_add(1, Ordering::SeqCst);
        let worked = pipeline.work(&clock);
        workers.busy.fetch_sub(1, Ordering::SeqCst);
        if worked {
            continue;
        }
        let guard = workers
            .asleep
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if pipeline.has_queued() || workers.stop.load(Ordering::SeqCst) {
            continue;
        }
        // A wake between the check and the wait is caught by the timeout.
        let _ = workers.wake.wait_timeout(guard, Duration::from_millis(1));
    }
}
