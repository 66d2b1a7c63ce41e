//! Whether a `VcpuState` may be loaded into a vCPU: the rule of
//! `MIG_VCPU_SET_STATE` (hv/API.md: `EINVAL` when `vcpu_id` differs from
//! the vCPU, `cpu_state` is not 1-3, `tl` is above 6, `gl` above 3, a
//! window register above 7, or a TSB count above 4), in one place for
//! every hypervisor that implements the call (the simulated machine, the
//! firmware image's).

use crate::abi::migration::{
    VcpuState, VCPU_GLOBAL_SETS, VCPU_TRAP_LEVELS, VCPU_TSBS, VCPU_WINDOWS,
};

impl VcpuState {
    /// Whether this state may be loaded into vCPU `vcpu` (see the module).
    pub fn loadable_into(&self, vcpu: u64) -> bool {
        let below = |value: u64, bound: usize| value < bound as u64;
        self.vcpu_id.get() == vcpu
            && (1..=3).contains(&self.cpu_state.get())
            && self.tl.get() <= VCPU_TRAP_LEVELS as u64
            && below(self.gl.get(), VCPU_GLOBAL_SETS)
            && [
                self.cwp.get(),
                self.cansave.get(),
                self.canrestore.get(),
                self.cleanwin.get(),
                self.otherwin.get(),
            ]
            .into_iter()
            .all(|value| below(value, VCPU_WINDOWS))
            && self.tsb_ctx0_count.get() <= VCPU_TSBS as u64
            && self.tsb_ctxnon0_count.get() <= VCPU_TSBS as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::byteorder::big_endian::U64;

    fn stopped_vcpu(vcpu: u64) -> VcpuState {
        let mut state = VcpuState::zeroed();
        state.vcpu_id = U64::new(vcpu);
        state.cpu_state = U64::new(1);
        state
    }

    #[test]
    fn a_stopped_vcpu_of_the_right_id_is_loadable() {
        assert!(stopped_vcpu(2).loadable_into(2));
        assert!(!stopped_vcpu(2).loadable_into(1), "another vCPU's state");
        assert!(!VcpuState::zeroed().loadable_into(0), "cpu_state 0");
    }

    #[test]
    fn register_indexes_past_the_hardware_are_refused() {
        let mut state = stopped_vcpu(0);
        state.tl = U64::new(6);
        state.gl = U64::new(3);
        state.cwp = U64::new(7);
        assert!(state.loadable_into(0), "TL 6, GL 3, CWP 7 exist");
        for field in [0, 1, 2, 3] {
            let mut bad = state;
            match field {
                0 => bad.tl = U64::new(7),
                1 => bad.gl = U64::new(4),
                2 => bad.otherwin = U64::new(8),
                _ => bad.tsb_ctx0_count = U64::new(5),
            }
            assert!(!bad.loadable_into(0), "field {field} out of range");
        }
    }
}
