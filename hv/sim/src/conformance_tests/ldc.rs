//! The LDC cases against a channel pair of the simulated LDC.

use crate::ldc::{
    LdcFabric, SimLdcEndpoint, SIM_DEFAULT_MEMORY, SIM_MAX_QUEUE_ENTRIES, SIM_MEMORY_BASE,
};
use ldmig_hv::conformance::{ldc_cases, LdcFixture, LdcPair, Side};
use ldmig_hv::hypervisor::LocalMemory;

/// Channel numbers of the two ends.
const A_CHANNEL: u64 = 3;
const B_CHANNEL: u64 = 7;

/// Both endpoints of one simulated channel (and the fabric that holds it).
struct SimPair {
    _fabric: LdcFabric,
    a: SimLdcEndpoint,
    b: SimLdcEndpoint,
}

impl LdcPair for SimPair {
    type End = SimLdcEndpoint;

    fn end(&mut self, side: Side) -> &mut SimLdcEndpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

/// A fresh pair, 1 MiB of memory each, nothing configured.
fn fixture() -> (SimPair, LdcFixture) {
    let fabric = LdcFabric::new();
    let (a, b) = fabric
        .create_default_pair(A_CHANNEL, B_CHANNEL)
        .expect("valid pair");
    let memory = |end: &SimLdcEndpoint| {
        end.local_region(SIM_MEMORY_BASE, SIM_DEFAULT_MEMORY)
            .expect("an endpoint owns its memory")
    };
    let fixture = LdcFixture {
        channels: [A_CHANNEL, B_CHANNEL],
        unknown_channel: 99,
        memory: [memory(&a), memory(&b)],
        max_queue_entries: SIM_MAX_QUEUE_ENTRIES,
    };
    let pair = SimPair {
        _fabric: fabric,
        a,
        b,
    };
    (pair, fixture)
}

/// Runs the LDC case `name` on a fresh pair.
fn run(name: &str) {
    let (mut pair, fixture) = fixture();
    super::run_case(&ldc_cases::<SimPair>(), name, &mut pair, &fixture);
}

macro_rules! ldc_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*

        /// The names above, to check that no case goes without its test.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

ldc_tests![
    queue_configure_info_and_unconfigure,
    qconf_unknown_channel_is_echannel,
    qconf_bad_entry_count_is_einval,
    qconf_misaligned_base_is_ebadalign,
    qconf_queue_past_its_region_is_enoraddr,
    tx_qconf_leaves_the_queue_empty,
    get_state_of_an_unconfigured_queue_is_einval,
    channel_state_down_up_and_reset_once,
    set_qtail_delivers_packets_into_the_peer_queue,
    set_qtail_errors,
    set_qtail_may_only_add_entries,
    delivery_is_partial_when_the_peer_queue_fills,
    packets_to_a_peer_without_receive_queue_are_dropped,
    set_qhead_rules,
    map_table_registration,
    map_table_errors,
    copy_in_and_out_stops_at_the_page_end,
    copy_without_the_copy_permission_is_enoaccess,
    copy_argument_errors,
    copy_cookie_errors,
    copy_checks_alignment_before_arguments_and_channel,
    local_memory_round_trips_by_offset,
    local_memory_rules,
    local_region_mints_only_owned_memory,
];

#[test]
fn every_ldc_case_has_its_test() {
    super::assert_every_case_tested(&ldc_cases::<SimPair>(), TESTED);
}
