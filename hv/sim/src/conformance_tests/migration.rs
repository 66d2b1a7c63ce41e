//! The migration cases against the simulated machine twice: through its
//! trait implementation ([`Machine`]) and through the real marshalling
//! over its trap dispatcher ([`TrapHypervisor`] over [`MachineTraps`]),
//! which checks the function numbers, argument registers and returns.

use crate::machine::test_machine::{machine_with_domain, BLOCKS, MIB};
use crate::machine::{Machine, MachineTraps};
use ldmig_hv::conformance::{migration_cases, MigrationFixture};
use ldmig_hv::hypervisor::{Hypervisor, MemoryBlock};
use ldmig_hv::trap_hypervisor::TrapHypervisor;

/// The test machine of `machine::test_machine` (its domain "ldg1", 2.75 MiB
/// and 4 MiB free, 6 strands and 2 crypto units free) as a fixture.
fn fixture() -> (Machine, MigrationFixture) {
    let (machine, domain) = machine_with_domain();
    let fixture = MigrationFixture {
        domain,
        vcpus: 2,
        blocks: BLOCKS
            .iter()
            .map(|&(ra, size)| MemoryBlock { ra, size })
            .collect(),
        crypto_units: 2,
        free_crypto_units: 2,
        free_strands: 6,
        unknown_domain: 77,
        bindable_bytes: MIB,
        unbindable_bytes: 5 * MIB,
    };
    (machine, fixture)
}

/// Runs the migration case `name` on `hypervisor`, set up as `fixture`.
fn run<H: Hypervisor>(name: &str, mut hypervisor: H, fixture: &MigrationFixture) {
    super::run_case(&migration_cases::<H>(), name, &mut hypervisor, fixture);
}

/// The case `name` on a fresh machine, through its traits.
fn run_on_machine(name: &str) {
    let (machine, fixture) = fixture();
    run(name, machine, &fixture);
}

/// The case `name` on a fresh machine, through its fast traps.
fn run_through_traps(name: &str) {
    let (machine, fixture) = fixture();
    let hypervisor = TrapHypervisor::negotiate_with(MachineTraps::new(machine))
        .expect("the machine has both groups");
    run(name, hypervisor, &fixture);
}

macro_rules! migration_tests {
    ($($name:ident),* $(,)?) => {
        /// Through the machine's trait implementation.
        mod machine {
            $(
                #[test]
                fn $name() {
                    super::run_on_machine(stringify!($name));
                }
            )*
        }

        /// Through `TrapHypervisor` over the machine's trap dispatcher.
        mod traps {
            $(
                #[test]
                fn $name() {
                    super::run_through_traps(stringify!($name));
                }
            )*
        }

        /// The names above, to check that no case goes without its tests.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

migration_tests![
    domain_info_reports_vcpus_blocks_and_state,
    domain_info_unknown_domain_is_einval,
    memory_block_returns_ra_and_size_by_index,
    memory_block_bad_index_or_domain_is_einval,
    dirty_log_start_marks_every_page_and_sync_clears,
    dirty_log_page_write_does_not_mark_dirty,
    dirty_log_start_again_resets_every_page_dirty,
    dirty_log_sync_zeroes_bitmap_words_past_the_block,
    dirty_log_sync_bitmap_too_small_is_einval,
    dirty_log_sync_and_stop_without_start_are_einval,
    dirty_log_bad_block_or_domain_is_einval,
    page_write_then_read_round_trips_in_any_run_state,
    page_read_and_write_misaligned_are_ebadalign,
    page_read_and_write_take_a_page_buffer_at_any_address,
    page_read_and_write_outside_or_across_blocks_are_enoraddr,
    page_read_and_write_unknown_domain_is_einval,
    suspend_and_resume_are_idempotent,
    suspend_and_resume_unknown_domain_are_einval,
    resume_in_error_state_is_ecpuerror,
    vcpu_state_round_trips_while_suspended,
    vcpu_state_get_and_set_bad_vcpu_is_enocpu,
    vcpu_state_get_and_set_while_running_is_ebusy,
    vcpu_state_checks_the_vcpu_before_suspension,
    vcpu_state_get_and_set_unknown_domain_is_einval,
    set_vcpu_state_unloadable_state_is_einval,
    create_domain_is_bound_suspended_and_empty,
    create_domain_more_vcpus_than_free_strands_is_etoomany,
    create_domain_zero_vcpus_is_einval,
    bind_memory_block_binds_zeroed_memory_in_block_order,
    bind_memory_block_without_a_contiguous_range_is_enoraddr,
    bind_memory_block_overlapping_ra_is_einval,
    bind_memory_block_zero_size_or_unknown_domain_is_einval,
    bind_memory_block_not_8k_aligned_is_ebadalign,
    bind_memory_block_checks_in_the_documented_order,
    destroy_domain_frees_its_strands_and_memory,
    destroy_domain_unknown_is_einval,
    throttle_accepts_0_to_99,
    throttle_above_99_or_unknown_domain_is_einval,
    set_domain_state_is_reported_by_domain_info,
    set_domain_state_unknown_domain_is_einval,
    crypto_remove_returns_units_to_the_machine,
    crypto_add_gives_fewer_when_the_machine_lacks_units,
    crypto_remove_and_add_unknown_domain_are_einval,
];

#[test]
fn every_migration_case_has_its_test() {
    super::assert_every_case_tested(&migration_cases::<Machine>(), TESTED);
}
