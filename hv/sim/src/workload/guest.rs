//! The running workload: its clock, the write rate under the domain's
//! throttle, the initial fill, and the stores it makes as time passes.

use super::registers::{advance_clocks, boot_registers, step_registers};
use super::spec::WorkloadSpec;
use super::writes::{Layout, WriteGenerator, PAGE};
use crate::machine::Machine;
use crate::rng::SplitMix64;
use ldmig_hv::hypervisor::DomainId;
use ldmig_hv::HvError;

/// Nanoseconds per second.
const NANOS_PER_SECOND: u128 = 1_000_000_000;
/// Salt of the seed of the stream [`Workload::fill_initial`] draws from ("fill").
const FILL_SALT: u64 = 0x6669_6c6c;

/// A running workload bound to one domain.
pub struct Workload {
    spec: WorkloadSpec,
    domain: DomainId,
    fill_rng: SplitMix64,
    writes: WriteGenerator,
    /// Simulated time up to which writes are done.
    cursor_ns: u64,
    /// Writes owed but not yet whole, in page·ns·percent units.
    carry: u128,
    pages_written: u64,
}

impl Workload {
    /// A workload for `domain`; its time starts at 0 ns.
    pub fn new(spec: WorkloadSpec, domain: DomainId) -> Self {
        Workload {
            spec,
            domain,
            fill_rng: SplitMix64::new(spec.seed ^ FILL_SALT),
            writes: WriteGenerator::new(&spec),
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
                let data = self.writes.page(&mut self.fill_rng);
                machine.load_memory(self.domain, ra, data)?;
            }
        }
        let kernel_base = blocks.first().map_or(0, |(block, _)| block.ra);
        let text_bytes = blocks.first().map_or(PAGE, |(block, _)| block.size);
        let vcpus = vcpu_count(machine, self.domain);
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

        let vcpus = vcpu_count(machine, self.domain);
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

    /// One store: the generator picks a page, a content and an extent; it
    /// is written and the registers of the vCPU that made it advance.
    fn write_one(
        &mut self,
        machine: &mut Machine,
        layout: &Layout,
        vcpus: u64,
    ) -> Result<(), HvError> {
        let store = self.writes.next_store(layout);
        machine.guest_write(self.domain, store.ra, store.data)?;
        let vcpu = self.pages_written % vcpus.max(1);
        if let Some(state) = machine.vcpu_state_mut(self.domain, vcpu) {
            step_registers(
                state,
                store.ra,
                store.data.len() as u64,
                self.pages_written,
                store.jump,
                store.target,
            );
        }
        self.pages_written += 1;
        Ok(())
    }
}

/// The number of vCPUs the domain has (0 for an unknown domain).
fn vcpu_count(machine: &Machine, domain: DomainId) -> u64 {
    machine.vcpu_states(domain).len() as u64
}

#[cfg(test)]
mod tests {
    use super::super::registers::{PSTATE_KERNEL, QUEUE_ENTRIES, TSB_ENTRIES};
    use super::super::spec::WriteSpread;
    use super::super::test_machine::machine;
    use super::*;
    use crate::rng::test_seed;
    use ldmig_hv::abi::cpu::CPU_STATE_RUNNING;
    use ldmig_hv::abi::mmu::PAGE_SIZE;
    use ldmig_hv::hypervisor::{DirtyLog, VcpuControl};

    const MS: u64 = 1_000_000;
    const SECOND: u64 = 1_000 * MS;

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
            assert!(state
                .queues
                .iter()
                .all(|queue| queue.entries.get() == QUEUE_ENTRIES));
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
}
