//! Which vCPU the strand runs. A vCPU leaves the strand only by a
//! hypercall; on `CPU_YIELD` the next runnable vCPU in slot order runs
//! (round robin), every other call returns to the caller. A guest domain
//! throttled to `p` % (`MIG_VCPU_THROTTLE`) gets only `100 - p` of every
//! 100 turns it would have: the rest it yields (its slice is skipped).
//!
//! Switching sets the LSU control register for the next vCPU (guests run
//! with their MMU on, the service domain with it off) and drops the TLBs
//! when another guest's translations are in them.

use super::domain::{DomainKind, MAX_VCPUS};
use super::{Machine, MAX_DOMAINS};
use crate::context_switch::set_current_vcpu_state;
use crate::cpu_registers::{set_lsu_control, LSU_DMMU_ENABLE, LSU_IMMU_ENABLE};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::DomainId;

/// A throttle credit of this much buys one slice (a guest throttled to
/// `p` % earns `100 - p` per turn).
const SLICE_CREDIT: u16 = 100;

/// A vCPU: its domain and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuId {
    /// The domain.
    pub domain: DomainId,
    /// The vCPU inside it.
    pub vcpu: usize,
}

/// The running vCPU and each slot's throttle credit.
#[derive(Debug)]
pub struct Scheduler {
    current: Option<VcpuId>,
    credits: [u16; MAX_DOMAINS],
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    /// Nothing running yet (all zero: the machine lives in `.bss`).
    pub const fn new() -> Self {
        Scheduler {
            current: None,
            credits: [0; MAX_DOMAINS],
        }
    }

    /// The vCPU on the strand (none before the first privileged context).
    pub fn current(&self) -> Option<VcpuId> {
        self.current
    }

    /// A new domain in `slot` starts with no credit.
    pub fn reset_slot(&mut self, slot: usize) {
        if let Some(credit) = self.credits.get_mut(slot) {
            *credit = 0;
        }
    }
}

impl Machine {
    /// The vCPU to run after `current` yielded: the next runnable one in
    /// slot order, a throttled guest passing its turn when its credit is
    /// short; `current` again if nothing else may run.
    pub fn next_after_yield(&mut self, current: VcpuId) -> VcpuId {
        let start = self.slot_of(current.domain).unwrap_or(0);
        let order = (1..=MAX_DOMAINS * MAX_VCPUS).map(|step| {
            let position = (start * MAX_VCPUS + current.vcpu + step) % (MAX_DOMAINS * MAX_VCPUS);
            (position / MAX_VCPUS, position % MAX_VCPUS)
        });
        for (slot, vcpu) in order {
            let Some(domain) = self.domain_in_slot(slot) else {
                continue;
            };
            if !domain.vcpu_runnable(vcpu) {
                continue;
            }
            let (id, throttle) = (domain.id, domain.throttle_percent);
            if domain.kind == DomainKind::Guest && throttle > 0 {
                let credit = &mut self.scheduler.credits[slot];
                *credit += SLICE_CREDIT - u16::from(throttle);
                if *credit < SLICE_CREDIT {
                    self.statistics.throttled_slices += 1;
                    continue;
                }
                *credit -= SLICE_CREDIT;
            }
            return VcpuId { domain: id, vcpu };
        }
        current
    }

    /// Puts `next` on the strand: the vCPU the context switch resumes.
    /// Returns its save area for the assembly.
    pub fn switch_to(&mut self, next: VcpuId) -> *mut VcpuState {
        if self.scheduler.current != Some(next) {
            self.statistics.context_switches += 1;
        }
        let kind = self
            .domain(next.domain)
            .map_or(DomainKind::Service, |domain| domain.kind);
        if kind == DomainKind::Guest {
            if self.tlb_owner != Some(next.domain) {
                if let Some(previous) = self.tlb_owner {
                    self.drop_tlbs_of(previous);
                }
            }
            set_lsu_control(LSU_IMMU_ENABLE | LSU_DMMU_ENABLE);
        } else {
            set_lsu_control(0);
        }
        self.scheduler.current = Some(next);
        let state: *mut VcpuState = match self.domain_mut(next.domain) {
            Some(domain) => &mut domain.vcpus[next.vcpu],
            None => core::ptr::null_mut(),
        };
        set_current_vcpu_state(state);
        state
    }
}
