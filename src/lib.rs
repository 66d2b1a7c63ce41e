//! ldmig, the engine: live migration of a sun4v logical domain.
//!
//! `no_std`, no heap: every buffer is given by the caller. The engine is
//! generic over [`ldmig_hv::hypervisor::Hypervisor`], so the same code runs
//! over real `ta 0x80` calls in firmware and over the simulated machine.
//!
//! - [`page`]: the 8 KiB page and the zero-page check.
//! - [`rules`]: the guide's migration rules: every pre-migration check, the
//!   dry-run report, the operation locks.
//! - [`wire`]: every byte format, in one codec idiom: frames, page records,
//!   the source-target protocol's messages, the engine-shim control
//!   messages, the LDC ring descriptor.
//! - [`precopy`]: the source and target migration state machines.
//! - [`pipeline`]: their page work (encode, decode), fanned out over the
//!   host's workers through fixed-size queues.
//! - [`stats`]: QEMU-style migration statistics.
//! - [`transport`]: the frame transport trait between the engines.
//! - [`ldc_transport`]: that transport over LDC to the shim: descriptor
//!   rings exported through the map table and read with `LDC_COPY`, and
//!   the engine–shim control protocol as LDC messages.
//! - [`serial_link`]: that transport over a serial line (a UART) to the
//!   shim: a reliable, flow-controlled stream of frames in CRC-checked
//!   records, with console text and the host's status on the same line.
//!
//! The control-domain shim, the secure channel and the harness are the
//! `ldmig-shim` crate; the simulated machine is `ldmig-sim`.
//!
//! # Integrating the engine
//!
//! What an integrator needs is re-exported here, first in these docs: the
//! two state machines and their polls ([`SourceEngine`], [`TargetEngine`]),
//! their configuration and outcome, the buffers they borrow (the dirty
//! bitmap, the [`PagePipeline`] of page batches that workers share), the
//! [`Transport`] between them and the [`EngineEndpoint`] that carries it
//! over LDC, the statistics, and the guide's checks ([`check_migration`]).
//! The engines are sans-IO: nothing happens but in `poll(now_ns)`, each
//! call doing a bounded amount of work.
//!
//! A whole migration between two simulated machines, polled to the end
//! (the integrator's loop is the same over `Sun4v` and an
//! [`EngineEndpoint`]):
//!
//! ```
//! use ldmig::{
//!     BatchBuffers, DirtySet, DomainShape, MigrationConfig, Outcome, PagePipeline,
//!     SourceBuffers, SourceEngine, SourcePoll, TargetEngine, TargetPoll, PAGE_SIZE,
//! };
//! use ldmig_sim::machine::{BlockSpec, DomainSpec, Machine, PhysRange};
//! use ldmig_shim::harness::{pipe, LinkModel};
//!
//! let memory = 1 << 20;
//! let host = |name| Machine::new(name, vec![PhysRange { pa: 0, size: 4 << 20 }], 8, 2);
//! let mut source = host("t5-a");
//! let domain = source
//!     .add_domain(DomainSpec {
//!         name: "ldg1".into(),
//!         vcpus: 1,
//!         blocks: vec![BlockSpec { ra: 0, size: memory, pa: None }],
//!         crypto_units: 0,
//!         active: true,
//!     })
//!     .expect("the domain fits");
//! source.guest_write(domain, 0x2000, b"guest data")?;
//! let blocks: Vec<_> = source.memory_blocks(domain).into_iter().map(|(block, _)| block).collect();
//! let (source_link, target_link, clock) = pipe(LinkModel::TEN_GBE);
//!
//! // The buffers the engines borrow: a dirty bitmap, and a pipeline of
//! // batches (pages read or decoded, the frame they go in) each side.
//! let mut bitmap = vec![0u64; DirtySet::words_needed(&blocks)];
//! let frame_bytes = 64 << 10;
//! let mut pages = vec![[0u8; PAGE_SIZE]; 8];
//! let mut frames = vec![vec![0u8; frame_bytes]; 2];
//! let (source_pages, target_pages) = pages.split_at_mut(4);
//! let (source_frame, target_frame) = frames.split_at_mut(1);
//! let batch = |pages, frame| [BatchBuffers { pages, frame }];
//! let source_pipeline = PagePipeline::new(batch(source_pages, &mut source_frame[0]), None)?;
//! let target_pipeline = PagePipeline::new(batch(target_pages, &mut target_frame[0]), None)?;
//!
//! let config = MigrationConfig::default();
//! let shape = DomainShape { target_name: "ldg1", active: true, crypto_units: 0 };
//! let buffers = SourceBuffers { bitmap: &mut bitmap, pipeline: &source_pipeline };
//! let mut source_engine = SourceEngine::new(source, source_link, domain, shape, config, buffers)?;
//! let mut target_engine = TargetEngine::new(host("t5-b"), target_link, config, &target_pipeline);
//!
//! let mut now = 0;
//! let (mut source_done, mut target_done) = (None, None);
//! while source_done.is_none() || target_done.is_none() {
//!     now += 10_000; // 10 µs a step
//!     clock.set_now(now);
//!     if let SourcePoll::Finished(outcome) = source_engine.poll(now) {
//!         source_done = Some(outcome);
//!     }
//!     if let TargetPoll::Finished(outcome) = target_engine.poll(now) {
//!         target_done = Some(outcome);
//!     }
//!     assert!(now < 60_000_000_000, "a minute of simulated time");
//! }
//! assert_eq!(source_done, Some(Outcome::Completed));
//! assert_eq!(target_done, Some(Outcome::Completed));
//! let stats = source_engine.stats();
//! println!("{} bytes in {} rounds", stats.transferred, stats.rounds);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
// Tests cast freely (their numbers are small by construction).
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]
#![deny(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub use ldc_transport::{EngineConfig, EngineEndpoint};
pub use page::{Page, PAGE_SIZE};
pub use pipeline::{BatchBuffers, DeltaCache, PagePipeline, PipelineError};
pub use precopy::dirty_set::DirtySet;
pub use precopy::source::SourceSetupError;
pub use precopy::{
    DomainShape, Failure, MigrationConfig, Outcome, SourceBuffers, SourceDomainState, SourceEngine,
    SourcePoll, TargetEngine, TargetPoll,
};
pub use rules::{check_migration, CheckReport};
pub use stats::{MigrationStats, MigrationStatus};
pub use transport::{Transport, TransportError};

pub mod ldc_transport;
pub mod page;
pub mod pipeline;
pub mod precopy;
pub mod rules;
pub mod serial_link;
pub mod stats;
pub mod transport;
pub mod wire;
