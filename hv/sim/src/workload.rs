//! A seeded, deterministic guest workload: the stores a running domain makes.
//!
//! A [`Workload`] plays the guest's vCPUs. It fills the domain's memory with
//! a mix of zero, text-like and random pages, gives its vCPUs plausible
//! registers, and then, as simulated time passes, writes pages at a rate
//! (pages per second, reduced by the domain's throttle) through
//! [`Machine::guest_write`], so the hypervisor's dirty log sees every store.
//! Writes are uniform over the domain's pages or concentrated on a hot set.
//!
//! Everything follows from the seed and the times passed in: the same seed
//! and the same total time give the same memory and registers, however the
//! time is split between calls of [`Workload::run_until`].

use super::machine::Machine;
use super::rng::SplitMix64;
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::abi::mmu::{TsbDescriptor, PAGE_SIZE};
use ldmig_hv::hypervisor::DomainId;
use ldmig_hv::HvError;
use zerocopy::byteorder::big_endian::{U16, U32, U64};

/// How a workload picks the pages it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteSpread {
    /// Every page of the domain equally likely.
    Uniform,
    /// A hot set of pages takes most writes; the rest are uniform over all pages.
    HotSet {
        /// Share of the domain's pages in the hot set, per mille (at least
        /// one page when non-zero).
        hot_pages_permille: u32,
        /// Share of writes that go to the hot set, per mille.
        hot_writes_permille: u32,
    },
}

/// What a written page holds, as relative weights (per mille by convention;
/// they need not sum to 1000). All zero means every page is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentMix {
    /// Weight of zero pages (a page freed and cleared: the whole page).
    pub zero_permille: u32,
    /// Weight of text-like content (logs, source, configuration: compressible).
    pub text_permille: u32,
    /// Weight of random content (compressed or encrypted data: incompressible).
    pub random_permille: u32,
}

impl ContentMix {
    /// The mix the presets use: 10 % zero, 55 % text, 35 % random.
    pub fn typical() -> Self {
        ContentMix {
            zero_permille: 100,
            text_permille: 550,
            random_permille: 350,
        }
    }
}

/// What a workload does, fully determined by its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Page writes per second of simulated time, before throttling.
    pub pages_per_second: u64,
    /// Which pages get written.
    pub spread: WriteSpread,
    /// What the pages hold.
    pub mix: ContentMix,
    /// Seed of every random choice.
    pub seed: u64,
}

impl WorkloadSpec {
    /// No writes at all (memory still filled by [`Workload::fill_initial`]).
    pub fn idle(seed: u64) -> Self {
        Self::uniform(0, seed)
    }

    /// 5 000 pages/s, uniform.
    pub fn moderate(seed: u64) -> Self {
        Self::uniform(5_000, seed)
    }

    /// 20 000 pages/s; 2 % of the pages take 90 % of the writes.
    pub fn hot(seed: u64) -> Self {
        WorkloadSpec {
            pages_per_second: 20_000,
            spread: WriteSpread::HotSet {
                hot_pages_permille: 20,
                hot_writes_permille: 900,
            },
            mix: ContentMix::typical(),
            seed,
        }
    }

    /// 50 000 pages/s, uniform.
    pub fn heavy(seed: u64) -> Self {
        Self::uniform(50_000, seed)
    }

    /// 2 000 000 pages/s (16 GB/s of 8 KiB pages), uniform: dirties faster
    /// than any link can send.
    pub fn unconvergeable(seed: u64) -> Self {
        Self::uniform(2_000_000, seed)
    }

    /// The preset named `idle`, `moderate`, `hot`, `heavy` or `unconvergeable`.
    pub fn by_name(name: &str, seed: u64) -> Option<Self> {
        match name {
            "idle" => Some(Self::idle(seed)),
            "moderate" => Some(Self::moderate(seed)),
            "hot" => Some(Self::hot(seed)),
            "heavy" => Some(Self::heavy(seed)),
            "unconvergeable" => Some(Self::unconvergeable(seed)),
            _ => None,
        }
    }

    fn uniform(pages_per_second: u64, seed: u64) -> Self {
        WorkloadSpec {
            pages_per_second,
            spread: WriteSpread::Uniform,
            mix: ContentMix::typical(),
            seed,
        }
    }
}

/// Page size in bytes as `u64`.
const PAGE: u64 = PAGE_SIZE as u64;
/// Bytes of random content writes are cut from.
const RANDOM_POOL_BYTES: usize = 64 * 1024 + PAGE_SIZE;
/// Bytes of text-like content writes are cut from.
const TEXT_POOL_BYTES: usize = 32 * 1024 + PAGE_SIZE;
/// Longest partial write; one write in `WHOLE_PAGE_ONE_IN` covers a whole page.
const PARTIAL_WRITE_MAX_BYTES: u64 = 512;
/// One text or random write in this many rewrites the whole page.
const WHOLE_PAGE_ONE_IN: u64 = 16;
/// Nanoseconds per second.
const NANOS_PER_SECOND: u128 = 1_000_000_000;
/// Salt of the seed of the stream [`Workload::fill_initial`] draws from ("fill").
const FILL_SALT: u64 = 0x6669_6c6c;
/// Salt of the seed of the stream the writes draw from ("write").
const WRITE_SALT: u64 = 0x0077_7269_7465;
/// Salt of the seed of the content pools ("pool").
const POOL_SALT: u64 = 0x706f_6f6c;
/// Salt of the seed that places the hot set ("hot").
const HOT_SALT: u64 = 0x0068_6f74;
/// Offset of each vCPU's private area (fault area, queues, TSBs) from the
/// first block's RA: vCPU `n` uses `[(n + 1) * VCPU_AREA_BYTES, ...)`.
const VCPU_AREA_BYTES: u64 = 0x1_0000;
/// `%pstate` of a vCPU running its kernel: PEF | PRIV | IE.
const PSTATE_KERNEL: u64 = 0x16;
/// `%fprs` with the FPU enabled (FEF).
const FPRS_FEF: u64 = 0x4;
/// `%asi` ASI_PRIMARY.
const ASI_PRIMARY: u64 = 0x80;
/// Entries of each mondo/error queue (64 bytes each: one 8 KiB page).
const QUEUE_ENTRIES: u64 = 128;
/// Entries of each TSB (16 bytes each: one 8 KiB page).
const TSB_ENTRIES: u32 = 512;

/// The contents of a cleared page.
static ZERO_PAGE: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// What one write puts in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Zero,
    Text,
    Random,
}

/// The domain's pages as the workload numbers them: blocks in order.
struct Layout {
    /// (RA, first global page index) of each block.
    blocks: Vec<(u64, u64)>,
    total_pages: u64,
    hot_pages: u64,
    hot_start: u64,
    hot_stride: u64,
}

impl Layout {
    fn of(machine: &Machine, domain: DomainId, spec: &WorkloadSpec) -> Self {
        let mut blocks = Vec::new();
        let mut total_pages = 0;
        for (block, _) in machine.memory_blocks(domain) {
            blocks.push((block.ra, total_pages));
            total_pages += block.pages();
        }
        let mut layout = Layout {
            blocks,
            total_pages,
            hot_pages: 0,
            hot_start: 0,
            hot_stride: 1,
        };
        if let WriteSpread::HotSet {
            hot_pages_permille, ..
        } = spec.spread
        {
            if hot_pages_permille > 0 && total_pages > 0 {
                let share = u128::from(total_pages) * u128::from(hot_pages_permille) / 1000;
                layout.hot_pages = (share as u64).clamp(1, total_pages);
                let mut rng = SplitMix64::new(spec.seed ^ HOT_SALT);
                layout.hot_start = rng.below(total_pages);
                let mut stride = 1 + rng.below(total_pages);
                while greatest_common_divisor(stride, total_pages) != 1 {
                    stride += 1;
                }
                layout.hot_stride = stride;
            }
        }
        layout
    }

    /// The RA of global page `index`.
    fn page_ra(&self, index: u64) -> u64 {
        let position = self.blocks.partition_point(|&(_, first)| first <= index);
        let (ra, first) = self.blocks[position.saturating_sub(1)];
        ra + (index - first) * PAGE
    }

    /// The global index of hot page `k`.
    fn hot_page(&self, k: u64) -> u64 {
        let step = u128::from(k) * u128::from(self.hot_stride);
        ((u128::from(self.hot_start) + step) % u128::from(self.total_pages)) as u64
    }
}

fn greatest_common_divisor(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A running workload bound to one domain.
pub struct Workload {
    spec: WorkloadSpec,
    domain: DomainId,
    fill_rng: SplitMix64,
    write_rng: SplitMix64,
    text_pool: Vec<u8>,
    random_pool: Vec<u8>,
    /// Simulated time up to which writes are done.
    cursor_ns: u64,
    /// Writes owed but not yet whole, in page·ns·percent units.
    carry: u128,
    pages_written: u64,
}

impl Workload {
    /// A workload for `domain`; its time starts at 0 ns.
    pub fn new(spec: WorkloadSpec, domain: DomainId) -> Self {
        let mut pool_rng = SplitMix64::new(spec.seed ^ POOL_SALT);
        let mut random_pool = vec![0u8; RANDOM_POOL_BYTES];
        pool_rng.fill(&mut random_pool);
        let text_pool = text_like(&mut pool_rng, TEXT_POOL_BYTES);
        Workload {
            spec,
            domain,
            fill_rng: SplitMix64::new(spec.seed ^ FILL_SALT),
            write_rng: SplitMix64::new(spec.seed ^ WRITE_SALT),
            text_pool,
            random_pool,
            cursor_ns: 0,
            carry: 0,
            pages_written: 0,
        }
    }

    /// The spec the workload was made from.
    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// The domain the workload runs in.
    pub fn domain(&self) -> DomainId {
        self.domain
    }

    /// Moves the workload to another domain (the migrated domain on the
    /// target machine): it goes on from the same time, random streams and
    /// count, so a migrated guest continues where it stopped.
    pub fn set_domain(&mut self, domain: DomainId) {
        self.domain = domain;
    }

    /// Sets the workload's clock without writing anything (to start at a
    /// time other than 0).
    pub fn start_at(&mut self, now_ns: u64) {
        self.cursor_ns = now_ns;
    }

    /// Pages written by [`Workload::run_until`] so far.
    pub fn pages_written(&self) -> u64 {
        self.pages_written
    }

    /// Fills every page of the domain with content of the mix (whole pages,
    /// loaded as a boot loader would: in any run state, not marking pages
    /// dirty) and gives every vCPU plausible registers. `EINVAL` for an
    /// unknown domain.
    pub fn fill_initial(&mut self, machine: &mut Machine) -> Result<(), HvError> {
        if machine.run_state(self.domain).is_none() {
            return Err(HvError::Invalid);
        }
        let blocks = machine.memory_blocks(self.domain);
        for (block, _) in &blocks {
            for page in 0..block.pages() {
                let ra = block.ra + page * PAGE;
                let content = pick_content(&mut self.fill_rng, &self.spec.mix);
                let data = match content {
                    Content::Zero => &ZERO_PAGE[..],
                    Content::Text => cut(&mut self.fill_rng, &self.text_pool, PAGE_SIZE),
                    Content::Random => cut(&mut self.fill_rng, &self.random_pool, PAGE_SIZE),
                };
                machine.load_memory(self.domain, ra, data)?;
            }
        }
        let kernel_base = blocks.first().map_or(0, |(block, _)| block.ra);
        let text_bytes = blocks.first().map_or(PAGE, |(block, _)| block.size);
        let vcpus = machine.vcpu_states(self.domain).len() as u64;
        for vcpu in 0..vcpus {
            if let Some(state) = machine.vcpu_state_mut(self.domain, vcpu) {
                boot_registers(state, &mut self.fill_rng, kernel_base, text_bytes, vcpu);
            }
        }
        Ok(())
    }

    /// Runs the guest from the last call (or 0 ns) to `now_ns`: writes the
    /// pages due at `pages_per_second × (100 − throttle) / 100` (the
    /// throttle read now, applied to the whole interval), each a store of a
    /// few bytes up to a whole page through [`Machine::guest_write`], and
    /// advances the vCPUs' registers. Returns the pages written by this call.
    ///
    /// While the domain is suspended it writes nothing and returns `Ok(0)`,
    /// but its clock moves to `now_ns`: time spent suspended is not caught
    /// up later. A `now_ns` before the clock does nothing. `EINVAL` for an
    /// unknown domain; an error of `guest_write` stops the call.
    pub fn run_until(&mut self, machine: &mut Machine, now_ns: u64) -> Result<u64, HvError> {
        if machine.run_state(self.domain).is_none() {
            return Err(HvError::Invalid);
        }
        if now_ns <= self.cursor_ns {
            return Ok(0);
        }
        let elapsed_ns = now_ns - self.cursor_ns;
        self.cursor_ns = now_ns;
        if !machine.is_running(self.domain) {
            return Ok(0);
        }
        let running_percent = 100 - u128::from(machine.throttle_percent(self.domain).min(100));
        let owed =
            u128::from(elapsed_ns) * u128::from(self.spec.pages_per_second) * running_percent
                + self.carry;
        let per_page = NANOS_PER_SECOND * 100;
        let due = u64::try_from(owed / per_page).unwrap_or(u64::MAX);
        self.carry = owed % per_page;

        let vcpus = machine.vcpu_states(self.domain).len() as u64;
        for vcpu in 0..vcpus {
            if let Some(state) = machine.vcpu_state_mut(self.domain, vcpu) {
                advance_clocks(state, elapsed_ns);
            }
        }
        let layout = Layout::of(machine, self.domain, &self.spec);
        if layout.total_pages == 0 {
            return Ok(0);
        }
        for _ in 0..due {
            self.write_one(machine, &layout, vcpus)?;
        }
        Ok(due)
    }

    /// One store: picks a page, a content and an extent, writes it and
    /// advances the registers of the vCPU that made it.
    fn write_one(
        &mut self,
        machine: &mut Machine,
        layout: &Layout,
        vcpus: u64,
    ) -> Result<(), HvError> {
        let rng = &mut self.write_rng;
        let page = match self.spec.spread {
            WriteSpread::HotSet {
                hot_writes_permille,
                ..
            } if layout.hot_pages > 0 && rng.chance(u64::from(hot_writes_permille), 1000) => {
                layout.hot_page(rng.below(layout.hot_pages))
            }
            _ => rng.below(layout.total_pages),
        };
        let content = pick_content(rng, &self.spec.mix);
        let (offset, data) = match content {
            Content::Zero => (0, &ZERO_PAGE[..]),
            Content::Text | Content::Random => {
                let pool = if content == Content::Text {
                    &self.text_pool
                } else {
                    &self.random_pool
                };
                let length = if rng.below(WHOLE_PAGE_ONE_IN) == 0 {
                    PAGE
                } else {
                    1 + rng.below(PARTIAL_WRITE_MAX_BYTES)
                };
                let offset = rng.below(PAGE - length + 1);
                (offset, cut(rng, pool, length as usize))
            }
        };
        let ra = layout.page_ra(page) + offset;
        machine.guest_write(self.domain, ra, data)?;
        let vcpu = self.pages_written % vcpus.max(1);
        let jump = rng.below(16) == 0;
        let target = rng.next_u64();
        if let Some(state) = machine.vcpu_state_mut(self.domain, vcpu) {
            step_registers(
                state,
                ra,
                data.len() as u64,
                self.pages_written,
                jump,
                target,
            );
        }
        self.pages_written += 1;
        Ok(())
    }
}

/// Picks a content kind with the mix's weights.
fn pick_content(rng: &mut SplitMix64, mix: &ContentMix) -> Content {
    let total = u64::from(mix.zero_permille)
        + u64::from(mix.text_permille)
        + u64::from(mix.random_permille);
    if total == 0 {
        return Content::Zero;
    }
    let draw = rng.below(total);
    if draw < u64::from(mix.zero_permille) {
        Content::Zero
    } else if draw < u64::from(mix.zero_permille) + u64::from(mix.text_permille) {
        Content::Text
    } else {
        Content::Random
    }
}

/// `length` bytes of `pool` from a random offset.
fn cut<'a>(rng: &mut SplitMix64, pool: &'a [u8], length: usize) -> &'a [u8] {
    let start = rng.below((pool.len() - length + 1) as u64) as usize;
    &pool[start..start + length]
}

/// `length` bytes of text like a system log: words, numbers, punctuation, lines.
fn text_like(rng: &mut SplitMix64, length: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "ldg1",
        "kernel:",
        "vnet0",
        "vdisk",
        "primary",
        "memory",
        "block",
        "strand",
        "cpu",
        "link",
        "up",
        "down",
        "ok",
        "the",
        "domain",
        "service",
        "started",
        "stopped",
        "mondo",
        "queue",
        "interrupt",
        "page",
        "reclaim",
        "zfs",
        "arc",
        "write",
        "read",
        "error",
        "retry",
        "ssh",
        "session",
        "opened",
    ];
    const MONTHS: [&str; 4] = ["Jan", "Feb", "Mar", "Apr"];
    let mut text = Vec::with_capacity(length + 128);
    while text.len() < length {
        let line = format!(
            "{} {:2} {:02}:{:02}:{:02} ",
            MONTHS[rng.below(4) as usize],
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        );
        text.extend_from_slice(line.as_bytes());
        for _ in 0..4 + rng.below(10) {
            text.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            if rng.below(5) == 0 {
                text.extend_from_slice(format!(" {}", rng.below(100_000)).as_bytes());
            }
            text.push(b' ');
        }
        text.push(b'\n');
    }
    text.truncate(length);
    text
}

/// The registers of a vCPU that has booted its kernel.
fn boot_registers(
    state: &mut VcpuState,
    rng: &mut SplitMix64,
    kernel_base: u64,
    text_bytes: u64,
    vcpu: u64,
) {
    let area = kernel_base + (vcpu + 1) * VCPU_AREA_BYTES;
    let pc = kernel_base + 4 * rng.below((text_bytes / 4).max(1));
    state.pc = U64::new(pc);
    state.npc = U64::new(pc + 4);
    for set in state.globals.iter_mut() {
        for register in set.iter_mut() {
            *register = U64::new(rng.next_u64());
        }
    }
    for window in state.windows.iter_mut() {
        for register in window.iter_mut() {
            *register = U64::new(rng.next_u64());
        }
    }
    for register in state.float.iter_mut() {
        *register = U64::new(rng.next_u64());
    }
    state.fsr = U64::new(0);
    state.gsr = U64::new(rng.below(1 << 32));
    state.fprs = U64::new(FPRS_FEF);
    for (level, trap) in state.trap_levels.iter_mut().enumerate() {
        let tpc = kernel_base + 4 * rng.below((text_bytes / 4).max(1));
        trap.tpc = U64::new(tpc);
        trap.tnpc = U64::new(tpc + 4);
        // TSTATE: CCR [39:32], ASI [31:24], PSTATE [20:8], CWP [4:0].
        let ccr = rng.below(256);
        let cwp = rng.below(8);
        trap.tstate = U64::new((ccr << 32) | (ASI_PRIMARY << 24) | (PSTATE_KERNEL << 8) | cwp);
        trap.tt = U64::new(0x40 + level as u64);
    }
    state.y = U64::new(rng.below(1 << 32));
    state.ccr = U64::new(rng.below(256));
    state.asi = U64::new(ASI_PRIMARY);
    state.pstate = U64::new(PSTATE_KERNEL);
    state.pil = U64::new(0);
    state.tl = U64::new(0);
    state.gl = U64::new(0);
    let canrestore = rng.below(7);
    state.cwp = U64::new(rng.below(8));
    state.canrestore = U64::new(canrestore);
    state.cansave = U64::new(6 - canrestore);
    state.cleanwin = U64::new(7);
    state.otherwin = U64::new(0);
    state.wstate = U64::new(0);
    state.tba = U64::new(kernel_base & !0x7fff);
    state.rtba = U64::new(kernel_base & !0x7fff);
    let tick = rng.next_u64() >> 8;
    state.tick = U64::new(tick);
    state.tick_cmpr = U64::new(tick + 10_000_000);
    let stick = rng.next_u64() >> 8;
    state.stick = U64::new(stick);
    state.stick_cmpr = U64::new(stick + 1_000_000);
    state.softint = U64::new(0);
    state.primary_context = U64::new(1 + rng.below(8191));
    state.secondary_context = U64::new(0);
    state.fault_area_ra = U64::new(area);
    let tsb = |base: u64, context: u32| TsbDescriptor {
        pgsz_idx: U16::new(0),
        assoc: U16::new(1),
        num_ttes: U32::new(TSB_ENTRIES),
        ctx_idx: U32::new(context),
        pgsz_mask: U32::new(0b1001),
        tsb_base: U64::new(base),
        resv: U64::new(0),
    };
    state.tsb_ctx0_count = U64::new(1);
    state.tsb_ctx0[0] = tsb(area + 5 * PAGE, 0);
    state.tsb_ctxnon0_count = U64::new(1);
    state.tsb_ctxnon0[0] = tsb(area + 6 * PAGE, 1);
    for (index, queue) in state.queues.iter_mut().enumerate() {
        queue.base_ra = U64::new(area + (1 + index as u64) * PAGE);
        queue.entries = U64::new(QUEUE_ENTRIES);
        let position = 64 * rng.below(QUEUE_ENTRIES);
        queue.head = U64::new(position);
        queue.tail = U64::new(position);
    }
    state.scratchpad[0] = U64::new(area);
    state.scratchpad[1] = U64::new(area + 5 * PAGE);
    for register in state.scratchpad[2..].iter_mut() {
        *register = U64::new(rng.next_u64());
    }
}

/// Time passes on a running vCPU: `%tick` and `%stick` count nanoseconds.
fn advance_clocks(state: &mut VcpuState, elapsed_ns: u64) {
    state.tick = U64::new(state.tick.get().wrapping_add(elapsed_ns));
    state.stick = U64::new(state.stick.get().wrapping_add(elapsed_ns));
}

/// A vCPU executed a store to `ra` of `length` bytes: the PC moves on (or
/// jumps), the store's operands sit in globals and a local.
fn step_registers(
    state: &mut VcpuState,
    ra: u64,
    length: u64,
    count: u64,
    jump: bool,
    target: u64,
) {
    let pc = state.npc.get();
    let npc = if jump {
        (pc & !0xfffff) | (target & 0xffffc)
    } else {
        pc.wrapping_add(4)
    };
    state.pc = U64::new(pc);
    state.npc = U64::new(npc);
    let gl = (state.gl.get() as usize).min(state.globals.len() - 1);
    state.globals[gl][1] = U64::new(ra);
    state.globals[gl][2] = U64::new(length);
    let cwp = (state.cwp.get() as usize).min(state.windows.len() - 1);
    state.windows[cwp][0] = U64::new(count);
    state.ccr = U64::new(target >> 56);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{BlockSpec, DomainSpec, PhysRange};
    use crate::rng::test_seed;
    use ldmig_hv::abi::cpu::CPU_STATE_RUNNING;
    use ldmig_hv::hypervisor::{DirtyLog, VcpuControl};

    const MIB: u64 = 1 << 20;
    const MS: u64 = 1_000_000;
    const SECOND: u64 = 1_000 * MS;

    /// A machine with one running domain of two blocks (1.5 MiB + 512 KiB,
    /// 256 pages) and 2 vCPUs.
    fn machine() -> (Machine, DomainId) {
        let mut machine = Machine::new(
            "t5-a",
            vec![PhysRange {
                pa: 0,
                size: 8 * MIB,
            }],
            4,
            0,
        );
        let domain = machine
            .add_domain(DomainSpec {
                name: "ldg1".to_string(),
                vcpus: 2,
                blocks: vec![
                    BlockSpec {
                        ra: 0x800_0000,
                        size: 3 * MIB / 2,
                        pa: None,
                    },
                    BlockSpec {
                        ra: 0x4000_0000,
                        size: MIB / 2,
                        pa: None,
                    },
                ],
                crypto_units: 0,
                active: true,
            })
            .expect("fits");
        (machine, domain)
    }

    fn total_pages(machine: &Machine, domain: DomainId) -> u64 {
        machine
            .memory_blocks(domain)
            .iter()
            .map(|(block, _)| block.pages())
            .sum()
    }

    /// Pages dirtied since logging started, over every block (logging must be on).
    fn dirty_pages(machine: &mut Machine, domain: DomainId) -> u64 {
        let mut bitmap = vec![0u64; 4];
        let mut count = 0;
        for block in 0..2 {
            count += machine
                .dirty_log_sync(domain, block, &mut bitmap)
                .expect("logging is on");
        }
        count
    }

    fn start_logging(machine: &mut Machine, domain: DomainId) {
        for block in 0..2 {
            machine
                .dirty_log_start(domain, block)
                .expect("block exists");
        }
        dirty_pages(machine, domain);
    }

    /// Runs `spec` from a fresh machine: fill, then `steps` calls up to `until_ns`.
    fn run(spec: WorkloadSpec, until_ns: u64, steps: u64) -> (Machine, DomainId, Workload) {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(spec, domain);
        workload.fill_initial(&mut machine).expect("domain exists");
        for step in 1..=steps {
            workload
                .run_until(&mut machine, until_ns * step / steps)
                .expect("domain runs");
        }
        (machine, domain, workload)
    }

    #[test]
    fn presets_by_name() {
        let seed = 5;
        for (name, rate) in [
            ("idle", 0),
            ("moderate", 5_000),
            ("hot", 20_000),
            ("heavy", 50_000),
            ("unconvergeable", 2_000_000),
        ] {
            let spec = WorkloadSpec::by_name(name, seed).expect("a preset");
            assert_eq!(spec.pages_per_second, rate, "{name}");
            assert_eq!(spec.seed, seed);
        }
        assert_eq!(
            WorkloadSpec::hot(1).spread,
            WriteSpread::HotSet {
                hot_pages_permille: 20,
                hot_writes_permille: 900
            }
        );
        assert_eq!(WorkloadSpec::heavy(1).spread, WriteSpread::Uniform);
        assert_eq!(WorkloadSpec::by_name("busy", seed), None);
    }

    #[test]
    fn same_seed_same_memory_and_registers_however_time_is_split() {
        let seed = test_seed(0x5eed);
        let spec = WorkloadSpec::hot(seed);
        let (first, domain, _) = run(spec, 50 * MS, 1);
        let (second, _, _) = run(spec, 50 * MS, 7);
        assert!(first.memory_image(domain) == second.memory_image(domain));
        assert_eq!(first.vcpu_states(domain), second.vcpu_states(domain));
        let (other, _, _) = run(WorkloadSpec::hot(seed ^ 1), 50 * MS, 1);
        assert!(first.memory_image(domain) != other.memory_image(domain));
    }

    #[test]
    fn rate_is_pages_per_simulated_second() {
        let seed = test_seed(11);
        let (_, _, workload) = run(WorkloadSpec::moderate(seed), SECOND, 100);
        assert_eq!(workload.pages_written(), 5_000);
        let (_, _, workload) = run(WorkloadSpec::heavy(seed), 100 * MS, 3);
        assert_eq!(workload.pages_written(), 5_000);
        let (_, _, workload) = run(WorkloadSpec::unconvergeable(seed), 2 * MS, 1);
        assert_eq!(workload.pages_written(), 4_000);
        let (_, _, workload) = run(WorkloadSpec::idle(seed), SECOND, 10);
        assert_eq!(workload.pages_written(), 0);
    }

    #[test]
    fn fractional_pages_carry_over_between_calls() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(3), domain);
        let mut written = 0;
        // 5 000 pages/s is one page every 200 µs; step by 70 µs.
        for step in 1..=1_000u64 {
            written += workload
                .run_until(&mut machine, step * 70_000)
                .expect("domain runs");
        }
        assert_eq!(written, 350);
        assert_eq!(workload.pages_written(), 350);
    }

    #[test]
    fn throttle_reduces_the_write_rate() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(4), domain);
        machine.throttle(domain, 60).expect("valid");
        assert_eq!(workload.run_until(&mut machine, SECOND), Ok(2_000));
        machine.throttle(domain, 99).expect("valid");
        assert_eq!(workload.run_until(&mut machine, 2 * SECOND), Ok(50));
        machine.throttle(domain, 0).expect("valid");
        assert_eq!(workload.run_until(&mut machine, 3 * SECOND), Ok(5_000));
    }

    #[test]
    fn suspended_domain_gets_no_writes_and_time_is_not_caught_up() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(6), domain);
        workload.fill_initial(&mut machine).expect("domain exists");
        workload
            .run_until(&mut machine, SECOND / 2)
            .expect("domain runs");
        machine.suspend(domain).expect("domain exists");
        let image = machine.memory_image(domain);
        let registers = machine.vcpu_states(domain);
        assert_eq!(workload.run_until(&mut machine, SECOND), Ok(0));
        assert!(machine.memory_image(domain) == image);
        assert_eq!(machine.vcpu_states(domain), registers);
        machine.resume(domain).expect("domain exists");
        assert_eq!(workload.run_until(&mut machine, 3 * SECOND / 2), Ok(2_500));
        assert_eq!(workload.pages_written(), 5_000);
    }

    #[test]
    fn writes_go_through_the_dirty_log() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(8), domain);
        start_logging(&mut machine, domain);
        workload.fill_initial(&mut machine).expect("domain exists");
        assert_eq!(
            dirty_pages(&mut machine, domain),
            0,
            "fill is not a guest store"
        );
        workload
            .run_until(&mut machine, 10 * MS)
            .expect("domain runs");
        let dirty = dirty_pages(&mut machine, domain);
        assert!(dirty > 0 && dirty <= 50, "50 writes dirtied {dirty} pages");
    }

    #[test]
    fn hot_set_concentrates_writes_on_few_pages() {
        let seed = test_seed(12);
        let writes_in = |spec: WorkloadSpec| {
            let (mut machine, domain) = machine();
            start_logging(&mut machine, domain);
            let mut workload = Workload::new(spec, domain);
            // 20 000 pages/s for 25 ms: 500 writes over 256 pages.
            let written = workload.run_until(&mut machine, 25 * MS).expect("runs");
            assert_eq!(written, 500);
            dirty_pages(&mut machine, domain)
        };
        let uniform = writes_in(WorkloadSpec {
            spread: WriteSpread::Uniform,
            ..WorkloadSpec::hot(seed)
        });
        let hot = writes_in(WorkloadSpec::hot(seed));
        // Uniform: ~221 distinct pages expected; hot set of 5 pages taking
        // 90 % of writes: ~5 + 45 at most.
        assert!(uniform > 180, "uniform dirtied {uniform}");
        assert!(hot < 60, "hot set dirtied {hot}");
    }

    #[test]
    fn fill_initial_follows_the_content_mix() {
        let seed = test_seed(13);
        let (machine, domain, _) = run(WorkloadSpec::idle(seed), 0, 1);
        let pages = total_pages(&machine, domain);
        let (mut zero, mut text, mut random) = (0u64, 0u64, 0u64);
        for (_, bytes) in machine.memory_image(domain) {
            for page in bytes.chunks(PAGE_SIZE) {
                if page.iter().all(|&byte| byte == 0) {
                    zero += 1;
                } else if page
                    .iter()
                    .all(|&byte| byte == b'\n' || (0x20..0x7f).contains(&byte))
                {
                    text += 1;
                } else {
                    random += 1;
                }
            }
        }
        assert_eq!(zero + text + random, pages);
        // Expected 10 % / 55 % / 35 % of 256 pages: 25.6 / 140.8 / 89.6.
        assert!((10..=45).contains(&zero), "zero pages {zero}");
        assert!((110..=170).contains(&text), "text pages {text}");
        assert!((65..=115).contains(&random), "random pages {random}");
    }

    #[test]
    fn content_mix_weights_pick_every_kind() {
        let mut rng = SplitMix64::new(1);
        let only_text = ContentMix {
            zero_permille: 0,
            text_permille: 1,
            random_permille: 0,
        };
        let nothing = ContentMix {
            zero_permille: 0,
            text_permille: 0,
            random_permille: 0,
        };
        for _ in 0..100 {
            assert_eq!(pick_content(&mut rng, &only_text), Content::Text);
            assert_eq!(pick_content(&mut rng, &nothing), Content::Zero);
        }
    }

    #[test]
    fn fill_initial_gives_loadable_plausible_registers() {
        let (mut machine, domain, _) = run(WorkloadSpec::idle(21), 0, 1);
        machine.suspend(domain).expect("domain exists");
        for (vcpu, state) in machine.vcpu_states(domain).iter().enumerate() {
            assert_eq!(state.vcpu_id.get(), vcpu as u64);
            assert_eq!(state.cpu_state.get(), CPU_STATE_RUNNING);
            assert_eq!(state.pstate.get(), PSTATE_KERNEL);
            assert_eq!(state.tba.get(), 0x800_0000);
            assert_eq!(state.npc.get(), state.pc.get() + 4);
            assert_eq!(
                state.cansave.get() + state.canrestore.get() + state.otherwin.get(),
                6
            );
            assert_eq!(state.tsb_ctx0_count.get(), 1);
            assert_eq!(state.tsb_ctx0[0].num_ttes.get(), TSB_ENTRIES);
            assert!(state.queues.iter().all(|queue| queue.entries.get() == 128));
            assert_ne!(state.primary_context.get(), 0);
            assert_ne!(state.globals[1][3].get(), state.globals[2][3].get());
            machine
                .set_vcpu_state(domain, vcpu as u64, state)
                .expect("the hypervisor accepts the state");
        }
        let states = machine.vcpu_states(domain);
        assert_ne!(states[0], states[1]);
    }

    #[test]
    fn run_until_advances_pc_and_clocks() {
        let (mut machine, domain, mut workload) = run(WorkloadSpec::moderate(22), 0, 1);
        let before = machine.vcpu_states(domain);
        workload
            .run_until(&mut machine, 10 * MS)
            .expect("domain runs");
        let after = machine.vcpu_states(domain);
        for (old, new) in before.iter().zip(&after) {
            assert_ne!(old.pc, new.pc);
            assert_eq!(new.tick.get(), old.tick.get() + 10 * MS);
            assert_eq!(new.stick.get(), old.stick.get() + 10 * MS);
        }
    }

    #[test]
    fn run_until_going_back_in_time_does_nothing() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(2), domain);
        workload.start_at(SECOND);
        assert_eq!(workload.run_until(&mut machine, SECOND / 2), Ok(0));
        assert_eq!(workload.run_until(&mut machine, SECOND), Ok(0));
        assert_eq!(
            workload.run_until(&mut machine, SECOND + SECOND / 10),
            Ok(500)
        );
    }

    #[test]
    fn workload_on_unknown_domain_is_einval() {
        let (mut machine, domain) = machine();
        let mut workload = Workload::new(WorkloadSpec::moderate(2), domain + 1);
        assert_eq!(workload.fill_initial(&mut machine), Err(HvError::Invalid));
        assert_eq!(
            workload.run_until(&mut machine, SECOND),
            Err(HvError::Invalid)
        );
        workload.set_domain(domain);
        assert_eq!(workload.domain(), domain);
        assert_eq!(workload.run_until(&mut machine, SECOND), Ok(5_000));
    }

    #[test]
    fn hot_pages_are_distinct_and_inside_the_domain() {
        let (machine, domain) = machine();
        let spec = WorkloadSpec {
            spread: WriteSpread::HotSet {
                hot_pages_permille: 500,
                hot_writes_permille: 1000,
            },
            ..WorkloadSpec::hot(9)
        };
        let layout = Layout::of(&machine, domain, &spec);
        assert_eq!(layout.total_pages, 256);
        assert_eq!(layout.hot_pages, 128);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..layout.hot_pages {
            let page = layout.hot_page(k);
            assert!(page < 256);
            assert!(seen.insert(page), "hot page {page} repeated");
        }
        assert_eq!(layout.page_ra(0), 0x800_0000);
        assert_eq!(layout.page_ra(191), 0x800_0000 + 191 * PAGE);
        assert_eq!(layout.page_ra(192), 0x4000_0000);
        assert_eq!(layout.page_ra(255), 0x4000_0000 + 63 * PAGE);
    }
}
