//! Cases of `MIG_DOMAIN_SUSPEND`, `MIG_DOMAIN_RESUME`, `MIG_VCPU_THROTTLE`,
//! `MIG_VCPU_GET_STATE` and `MIG_VCPU_SET_STATE`.

use zerocopy::byteorder::big_endian::U64;

use super::fixture::{suspended_is, AlignedVcpuState, MigrationFixture};
use crate::abi::migration::{
    VcpuState, VCPU_GLOBAL_SETS, VCPU_TRAP_LEVELS, VCPU_TSBS, VCPU_WINDOWS,
};
use crate::conformance::case::define_case;
use crate::conformance::report::{each_fails_with, equals, fails_with, holds, succeeds};
use crate::hypervisor::{DomainRunState, Hypervisor};
use crate::HvError;

define_case! {
    /// Suspending and resuming may be repeated; each has the first one's effect.
    suspend_and_resume_are_idempotent<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_SUSPEND, MIG_DOMAIN_RESUME",
    |hypervisor, fixture| {
        suspended_is("the fixture's domain runs", hypervisor, fixture.domain, false)?;
        succeeds("MIG_DOMAIN_SUSPEND", hypervisor.suspend(fixture.domain))?;
        succeeds("MIG_DOMAIN_SUSPEND again", hypervisor.suspend(fixture.domain))?;
        suspended_is("suspended after MIG_DOMAIN_SUSPEND", hypervisor, fixture.domain, true)?;
        succeeds("MIG_DOMAIN_RESUME", hypervisor.resume(fixture.domain))?;
        succeeds("MIG_DOMAIN_RESUME again", hypervisor.resume(fixture.domain))?;
        suspended_is("running after MIG_DOMAIN_RESUME", hypervisor, fixture.domain, false)
    }
}

define_case! {
    /// An unknown domain is `EINVAL`.
    suspend_and_resume_unknown_domain_are_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_SUSPEND, MIG_DOMAIN_RESUME",
    |hypervisor, fixture| {
        each_fails_with!(HvError::Invalid;
            "MIG_DOMAIN_SUSPEND of an unknown domain" => hypervisor.suspend(fixture.unknown_domain),
            "MIG_DOMAIN_RESUME of an unknown domain" => hypervisor.resume(fixture.unknown_domain),
        )
    }
}

define_case! {
    /// ERROR suspends the domain and RESUME is `ECPUERROR` until recovery.
    resume_in_error_state_is_ecpuerror<H: Hypervisor, MigrationFixture>,
    calls: "MIG_DOMAIN_RESUME, MIG_DOMAIN_SET_STATE",
    |hypervisor, fixture| {
        succeeds(
            "MIG_DOMAIN_SET_STATE ERROR",
            hypervisor.set_domain_state(fixture.domain, DomainRunState::Error),
        )?;
        suspended_is("the ERROR state suspends", hypervisor, fixture.domain, true)?;
        fails_with(
            "MIG_DOMAIN_RESUME in the ERROR state",
            hypervisor.resume(fixture.domain),
            HvError::CpuError,
        )?;
        suspended_is("still suspended after the refused resume", hypervisor, fixture.domain, true)?;
        succeeds(
            "MIG_DOMAIN_SET_STATE NORMAL (recovery)",
            hypervisor.set_domain_state(fixture.domain, DomainRunState::Normal),
        )?;
        succeeds("MIG_DOMAIN_RESUME after recovery", hypervisor.resume(fixture.domain))
    }
}

define_case! {
    /// Every percent from 0 to 99 is accepted; 0 stops throttling.
    throttle_accepts_0_to_99<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_THROTTLE",
    |hypervisor, fixture| {
        for percent in [20, 99, 0, 1] {
            succeeds("MIG_VCPU_THROTTLE of 0-99", hypervisor.throttle(fixture.domain, percent))?;
        }
        Ok(())
    }
}

define_case! {
    /// Above 99 percent, or an unknown domain, is `EINVAL`.
    throttle_above_99_or_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_THROTTLE",
    |hypervisor, fixture| {
        each_fails_with!(HvError::Invalid;
            "MIG_VCPU_THROTTLE of 100" => hypervisor.throttle(fixture.domain, 100),
            "MIG_VCPU_THROTTLE of 255" => hypervisor.throttle(fixture.domain, u8::MAX),
            "MIG_VCPU_THROTTLE of an unknown domain" => hypervisor.throttle(fixture.unknown_domain, 10),
        )
    }
}

define_case! {
    /// A suspended vCPU's state loads and reads back as loaded.
    vcpu_state_round_trips_while_suspended<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_GET_STATE, MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        let vcpu = fixture.vcpus - 1;
        succeeds("MIG_DOMAIN_SUSPEND", hypervisor.suspend(fixture.domain))?;
        let mut state = AlignedVcpuState::zeroed();
        succeeds(
            "MIG_VCPU_GET_STATE of the last vCPU",
            hypervisor.vcpu_state(fixture.domain, vcpu, &mut state.0),
        )?;
        equals("vcpu_id", state.0.vcpu_id.get(), vcpu)?;
        state.0.pc = U64::new(0x40_0000);
        state.0.npc = U64::new(0x40_0004);
        state.0.gl = U64::new(VCPU_GLOBAL_SETS as u64 - 1);
        state.0.tl = U64::new(VCPU_TRAP_LEVELS as u64);
        state.0.cwp = U64::new(VCPU_WINDOWS as u64 - 1);
        state.0.tsb_ctx0_count = U64::new(VCPU_TSBS as u64);
        succeeds(
            "MIG_VCPU_SET_STATE of a loadable state",
            hypervisor.set_vcpu_state(fixture.domain, vcpu, &state.0),
        )?;
        let mut back = AlignedVcpuState::zeroed();
        succeeds(
            "MIG_VCPU_GET_STATE after the load",
            hypervisor.vcpu_state(fixture.domain, vcpu, &mut back.0),
        )?;
        holds("the state read is the state loaded", back.0 == state.0)
    }
}

define_case! {
    /// A vCPU id at or past the domain's count is `ENOCPU`.
    vcpu_state_get_and_set_bad_vcpu_is_enocpu<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_GET_STATE, MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        succeeds("MIG_DOMAIN_SUSPEND", hypervisor.suspend(fixture.domain))?;
        let mut state = AlignedVcpuState::zeroed();
        each_fails_with!(HvError::NoCpu;
            "MIG_VCPU_GET_STATE of the vCPU past the last" => hypervisor.vcpu_state(fixture.domain, fixture.vcpus, &mut state.0),
            "MIG_VCPU_SET_STATE of vCPU 2^64 - 1" => hypervisor.set_vcpu_state(fixture.domain, u64::MAX, &state.0),
        )
    }
}

define_case! {
    /// A running domain's vCPU state is `EBUSY` both ways.
    vcpu_state_get_and_set_while_running_is_ebusy<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_GET_STATE, MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        let mut state = AlignedVcpuState::zeroed();
        each_fails_with!(HvError::Busy;
            "MIG_VCPU_GET_STATE of a running domain" => hypervisor.vcpu_state(fixture.domain, 0, &mut state.0),
            "MIG_VCPU_SET_STATE of a running domain" => hypervisor.set_vcpu_state(fixture.domain, 0, &state.0),
        )
    }
}

define_case! {
    /// The vCPU is checked before the suspension: a bad vCPU of a running
    /// domain is `ENOCPU`, not `EBUSY`.
    vcpu_state_checks_the_vcpu_before_suspension<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_GET_STATE, MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        let mut state = AlignedVcpuState::zeroed();
        each_fails_with!(HvError::NoCpu;
            "MIG_VCPU_GET_STATE of a bad vCPU of a running domain" => hypervisor.vcpu_state(fixture.domain, fixture.vcpus, &mut state.0),
            "MIG_VCPU_SET_STATE of a bad vCPU of a running domain" => hypervisor.set_vcpu_state(fixture.domain, fixture.vcpus, &state.0),
        )
    }
}

define_case! {
    /// An unknown domain is `EINVAL`, whatever the vCPU.
    vcpu_state_get_and_set_unknown_domain_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_GET_STATE, MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        let mut state = AlignedVcpuState::zeroed();
        each_fails_with!(HvError::Invalid;
            "MIG_VCPU_GET_STATE of an unknown domain" => hypervisor.vcpu_state(fixture.unknown_domain, u64::MAX, &mut state.0),
            "MIG_VCPU_SET_STATE of an unknown domain" => hypervisor.set_vcpu_state(fixture.unknown_domain, 0, &state.0),
        )
    }
}

/// The ways a state cannot be loaded into vCPU `vcpu` (`hv/API.md`,
/// `MIG_VCPU_SET_STATE`), each with what it breaks.
fn unloadable(base: &VcpuState, vcpu: u64) -> [(&'static str, VcpuState); 11] {
    let with = |change: fn(&mut VcpuState, u64)| {
        let mut state = *base;
        change(&mut state, vcpu);
        state
    };
    [
        (
            "MIG_VCPU_SET_STATE with another vcpu_id",
            with(|s, v| s.vcpu_id = U64::new(v + 1)),
        ),
        (
            "MIG_VCPU_SET_STATE with cpu_state 0",
            with(|s, _| s.cpu_state = U64::new(0)),
        ),
        (
            "MIG_VCPU_SET_STATE with cpu_state 4",
            with(|s, _| s.cpu_state = U64::new(4)),
        ),
        (
            "MIG_VCPU_SET_STATE with tl 7",
            with(|s, _| s.tl = U64::new(7)),
        ),
        (
            "MIG_VCPU_SET_STATE with gl 4",
            with(|s, _| s.gl = U64::new(4)),
        ),
        (
            "MIG_VCPU_SET_STATE with cwp 8",
            with(|s, _| s.cwp = U64::new(8)),
        ),
        (
            "MIG_VCPU_SET_STATE with cansave 8",
            with(|s, _| s.cansave = U64::new(8)),
        ),
        (
            "MIG_VCPU_SET_STATE with canrestore 9",
            with(|s, _| s.canrestore = U64::new(9)),
        ),
        (
            "MIG_VCPU_SET_STATE with otherwin 8",
            with(|s, _| s.otherwin = U64::new(8)),
        ),
        (
            "MIG_VCPU_SET_STATE with cleanwin 8",
            with(|s, _| s.cleanwin = U64::new(8)),
        ),
        (
            "MIG_VCPU_SET_STATE with 5 TSBs",
            with(|s, _| s.tsb_ctxnon0_count = U64::new(5)),
        ),
    ]
}

define_case! {
    /// A state that cannot be loaded is `EINVAL` and loads nothing.
    set_vcpu_state_unloadable_state_is_einval<H: Hypervisor, MigrationFixture>,
    calls: "MIG_VCPU_SET_STATE",
    |hypervisor, fixture| {
        let vcpu = fixture.vcpus - 1;
        succeeds("MIG_DOMAIN_SUSPEND", hypervisor.suspend(fixture.domain))?;
        let mut before = AlignedVcpuState::zeroed();
        succeeds(
            "MIG_VCPU_GET_STATE before",
            hypervisor.vcpu_state(fixture.domain, vcpu, &mut before.0),
        )?;
        for (what, state) in unloadable(&before.0, vcpu) {
            let state = AlignedVcpuState(state);
            fails_with(what, hypervisor.set_vcpu_state(fixture.domain, vcpu, &state.0), HvError::Invalid)?;
            let mut after = AlignedVcpuState::zeroed();
            succeeds(
                "MIG_VCPU_GET_STATE after a refused load",
                hypervisor.vcpu_state(fixture.domain, vcpu, &mut after.0),
            )?;
            holds("a refused load changes nothing", after.0 == before.0)?;
        }
        Ok(())
    }
}
