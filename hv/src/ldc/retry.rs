//! The named retry policy for `EWOULDBLOCK`: how many times the link layer
//! repeats a call the hypervisor says would block, before it gives up with a
//! typed [`LinkError::Timeout`].
//!
//! `EWOULDBLOCK` is transient; Linux (`arch/sparc/kernel/ldc.c`,
//! `set_tx_tail` and `__set_rx_head`) retries 1000 times with a 1 µs delay.
//! The link layer has no clock (it is sans-IO), so the policy counts
//! attempts and spins ([`core::hint::spin_loop`]) between
//! them; a caller that wants a longer wait keeps its own deadline and calls
//! again after a `Timeout`, which loses nothing.

use super::error::{LdcCall, LinkError};
use crate::HvError;

/// How many times to attempt a call that returns `EWOULDBLOCK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Linux's budget: 1000 attempts.
    pub const DEFAULT: RetryPolicy = RetryPolicy { max_attempts: 1000 };

    /// A policy of `max_attempts` attempts.
    pub const fn new(max_attempts: u32) -> Self {
        RetryPolicy { max_attempts }
    }

    /// Runs `operation` until it returns anything but `EWOULDBLOCK`, at most
    /// `max_attempts` times; each repeated attempt adds one to `retries`.
    /// Other errors are returned at once as [`LinkError::Hypervisor`].
    pub fn call<T>(
        &self,
        call: LdcCall,
        retries: &mut u64,
        mut operation: impl FnMut() -> Result<T, HvError>,
    ) -> Result<T, LinkError> {
        let attempts = self.max_attempts.max(1);
        for attempt in 1..=attempts {
            match operation() {
                Ok(value) => return Ok(value),
                Err(HvError::WouldBlock) => {
                    if attempt < attempts {
                        *retries += 1;
                        core::hint::spin_loop();
                    }
                }
                Err(error) => return Err(LinkError::Hypervisor { call, error }),
            }
        }
        log::warn!("{call}: EWOULDBLOCK {attempts} times in a row, giving up for now");
        Err(LinkError::Timeout { call, attempts })
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocking_then_ok(blocks: u32) -> impl FnMut() -> Result<u32, HvError> {
        let mut calls = 0;
        move || {
            calls += 1;
            if calls <= blocks {
                Err(HvError::WouldBlock)
            } else {
                Ok(calls)
            }
        }
    }

    #[test]
    fn retries_through_ewouldblock_within_budget() {
        let policy = RetryPolicy::new(3);
        let mut retries = 0;
        let result = policy.call(LdcCall::TxSetQtail, &mut retries, blocking_then_ok(2));
        assert_eq!(result, Ok(3));
        assert_eq!(retries, 2);
    }

    #[test]
    fn ends_in_a_typed_timeout() {
        let policy = RetryPolicy::new(3);
        let mut retries = 0;
        let result = policy.call(LdcCall::TxSetQtail, &mut retries, blocking_then_ok(3));
        assert_eq!(
            result,
            Err(LinkError::Timeout {
                call: LdcCall::TxSetQtail,
                attempts: 3
            })
        );
        assert_eq!(retries, 2);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let mut retries = 0;
        let result: Result<(), _> =
            RetryPolicy::DEFAULT.call(LdcCall::RxSetQhead, &mut retries, || {
                calls += 1;
                Err(HvError::Invalid)
            });
        assert_eq!(
            result,
            Err(LinkError::Hypervisor {
                call: LdcCall::RxSetQhead,
                error: HvError::Invalid
            })
        );
        assert_eq!((calls, retries), (1, 0));
    }
}
