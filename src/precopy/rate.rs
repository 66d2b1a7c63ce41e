//! Rates and saturating narrowings the state machines share: a count over
//! a time as a per-second rate, and a count the hypervisor or a buffer
//! gives as the narrower field the wire carries.

/// `amount` over `elapsed_ns` as a per-second rate, saturating at
/// `u64::MAX` (a burst over a very short time) and 0 for no time at all.
pub fn per_second(amount: u64, elapsed_ns: u64) -> u64 {
    if elapsed_ns == 0 {
        return 0;
    }
    let rate = u128::from(amount) * 1_000_000_000 / u128::from(elapsed_ns);
    u64::try_from(rate).unwrap_or(u64::MAX)
}

/// `value` as a `u32` wire field, saturating: counts the hypervisor
/// reports (vCPUs, crypto units) are far below it on any real machine.
pub fn saturating_u32(value: impl TryInto<u32>) -> u32 {
    value.try_into().unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_scale_to_seconds_and_saturate() {
        assert_eq!(per_second(1_000, 500_000_000), 2_000);
        assert_eq!(per_second(u64::MAX, 1), u64::MAX);
        assert_eq!(per_second(5, 0), 0);
        assert_eq!(saturating_u32(7u64), 7);
        assert_eq!(saturating_u32(u64::MAX), u32::MAX);
        assert_eq!(saturating_u32(usize::MAX), u32::MAX);
    }
}
