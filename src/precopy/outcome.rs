//! How a migration ended, and what it left the administrator to do.

use super::policy::GiveUpReason;
use crate::wire::messages::StopReason;
use core::fmt;

/// The state the source domain was left in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceDomainState {
    /// Running on the source, as before the migration.
    Running,
    /// Stopped in the error state: the source sent its final state but the
    /// target's acknowledgement never came, so the domain may already run
    /// on the target. It must not run here until the administrator checked.
    ErrorState,
    /// Torn down: the domain runs on the target.
    Gone,
}

/// Why a migration failed, with what the administrator needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The reason.
    pub reason: StopReason,
    /// Hypervisor status behind the failure, if any (0 = none).
    pub hv_status: u64,
    /// Real address of the memory block involved, if any.
    pub ra: u64,
    /// Size of that block, if any.
    pub size: u64,
    /// The source domain's state afterwards (source side).
    pub source_domain: SourceDomainState,
}

impl Failure {
    /// A failure with no block or status detail.
    pub const fn new(reason: StopReason, source_domain: SourceDomainState) -> Self {
        Failure {
            reason,
            hv_status: 0,
            ra: 0,
            size: 0,
            source_domain,
        }
    }

    /// What the administrator should do next.
    pub fn recovery_advice(&self) -> &'static str {
        match self.source_domain {
            SourceDomainState::Running => "the source domain is running; nothing to recover",
            SourceDomainState::ErrorState => {
                "the source domain is stopped in the error state: check the target; if the domain runs there, \
                 remove it from the source (ldmig recover-domain DOMAIN --remove); if not, resume it on the \
                 source (ldmig recover-domain DOMAIN --resume)"
            }
            SourceDomainState::Gone => "the domain runs on the target",
        }
    }
}

/// The binary units `ldm` writes sizes in, largest first, with their
/// suffixes.
pub const LDM_SIZE_UNITS: [(u64, &str); 4] = [
    (1 << 40, "T"),
    (1 << 30, "G"),
    (1 << 20, "M"),
    (1 << 10, "K"),
];

/// Formats a memory size the way `ldm` prints it: 2G, 512M, 8K, or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LdmSize(pub u64);

impl fmt::Display for LdmSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, suffix) in LDM_SIZE_UNITS {
            if self.0 >= unit && self.0.is_multiple_of(unit) {
                return write!(f, "{}{}", self.0 / unit, suffix);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason == StopReason::ReservationFailed && self.size != 0 {
            write!(
                f,
                "Unable to bind {} memory region at real address {:#x}",
                LdmSize(self.size),
                self.ra
            )?;
        } else {
            write!(f, "{}", self.reason.describe())?;
            if self.hv_status != 0 {
                let name = ldmig_hv::HvError::from_status(self.hv_status)
                    .map_or("EOK", |error| error.name());
                write!(f, " ({name})")?;
            }
        }
        Ok(())
    }
}

/// How a migration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The domain runs on the target; the source copy is gone.
    Completed,
    /// Cancelled before the commit; the source domain runs.
    Cancelled,
    /// Pre-copy did not converge; the source domain runs, untouched.
    GaveUp(GiveUpReason),
    /// Something failed; [`Failure::source_domain`] says where it runs.
    Failed(Failure),
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::TooManyRounds { rounds, dirty_pages } => write!(
                f,
                "pre-copy did not converge after {rounds} rounds ({dirty_pages} pages still dirty): \
                 the domain dirties memory faster than the link sends it"
            ),
            GiveUpReason::TimeLimit { elapsed_ns, dirty_pages } => write!(
                f,
                "pre-copy did not converge within {} s ({dirty_pages} pages still dirty)",
                elapsed_ns / 1_000_000_000
            ),
        }
    }
}

impl Outcome {
    /// The detail word of the `Failure` frame that tells the peer about
    /// this outcome: the hypervisor status of a failed call (the peer's
    /// [`Failure::hv_status`]), 0 otherwise.
    pub(crate) fn stop_detail(&self) -> u32 {
        match self {
            Outcome::Failed(failure) => u32::try_from(failure.hv_status).unwrap_or(u32::MAX),
            Outcome::Completed | Outcome::Cancelled | Outcome::GaveUp(_) => 0,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => write!(f, "completed"),
            Outcome::Cancelled => write!(f, "cancelled; the source domain is running"),
            Outcome::GaveUp(reason) => write!(f, "{reason}; the source domain is running"),
            Outcome::Failed(failure) => write!(f, "{failure}; {}", failure.recovery_advice()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_ldm() {
        assert_eq!(std::format!("{}", LdmSize(2 << 30)), "2G");
        assert_eq!(std::format!("{}", LdmSize(512 << 20)), "512M");
        assert_eq!(std::format!("{}", LdmSize(8192)), "8K");
        assert_eq!(std::format!("{}", LdmSize(1536 << 20)), "1536M");
        assert_eq!(std::format!("{}", LdmSize(100)), "100");
    }

    #[test]
    fn bind_failure_uses_the_guides_words() {
        let failure = Failure {
            reason: StopReason::ReservationFailed,
            hv_status: 2,
            ra: 0x800_0000,
            size: 2 << 30,
            source_domain: SourceDomainState::Running,
        };
        assert_eq!(
            std::format!("{failure}"),
            "Unable to bind 2G memory region at real address 0x8000000"
        );
        let stuck = Failure::new(StopReason::Timeout, SourceDomainState::ErrorState);
        assert!(std::format!("{}", Outcome::Failed(stuck)).contains("error state"));
    }

    #[test]
    fn a_failed_calls_status_is_the_stop_detail() {
        let mut failure = Failure::new(StopReason::HypervisorError, SourceDomainState::Running);
        failure.hv_status = ldmig_hv::HvError::NoRealAddress.status();
        assert_eq!(
            Outcome::Failed(failure).stop_detail(),
            ldmig_hv::HvError::NoRealAddress.status() as u32
        );
        failure.hv_status = u64::MAX;
        assert_eq!(Outcome::Failed(failure).stop_detail(), u32::MAX);
        assert_eq!(Outcome::Cancelled.stop_detail(), 0);
        assert_eq!(Outcome::Completed.stop_detail(), 0);
    }

    #[test]
    fn recovery_advice_names_the_command_that_exists() {
        let stuck = Failure::new(StopReason::Timeout, SourceDomainState::ErrorState);
        let advice = stuck.recovery_advice();
        assert!(
            advice.contains("ldmig recover-domain DOMAIN --remove"),
            "{advice}"
        );
        assert!(
            advice.contains("ldmig recover-domain DOMAIN --resume"),
            "{advice}"
        );
        assert!(!advice.contains("(ldmig recover)"), "{advice}");
    }
}
