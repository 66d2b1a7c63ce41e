//! API-group negotiation (`API_SET_VERSION` / `API_GET_VERSION`, core trap
//! `ta 0xff`), per caller as a sun4v hypervisor keeps it per guest: the LDOM
//! group for every caller, the MIGRATION group only for the service domain
//! and the hypervisor's own self-test (a guest sees `EINVAL`, as for a
//! group the hypervisor does not have).

use super::caller::Caller;
use ldmig_hv::abi::error::{EINVAL, ENOTSUPPORTED};
use ldmig_hv::abi::{group, migration as mig};

/// The LDOM group version this hypervisor has.
pub const LDOM_VERSION: (u64, u64) = (1, 0);
/// The MIGRATION group version this hypervisor has.
pub const MIGRATION_VERSION: (u64, u64) = (mig::MIGRATION_MAJOR, mig::MIGRATION_MINOR);
/// Callers whose negotiations are remembered at once.
const MAX_NEGOTIATIONS: usize = 16;

/// One caller's negotiated major for one group (0: disabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Negotiated {
    caller: Caller,
    api_group: u64,
    major: u64,
}

/// Every caller's negotiated groups.
#[derive(Debug)]
pub struct Negotiations {
    entries: heapless::Vec<Negotiated, MAX_NEGOTIATIONS>,
}

impl Default for Negotiations {
    fn default() -> Self {
        Self::new()
    }
}

impl Negotiations {
    /// Nothing negotiated.
    pub const fn new() -> Self {
        Negotiations {
            entries: heapless::Vec::new(),
        }
    }

    /// Forgets `caller`'s negotiations (its domain is gone).
    pub fn forget(&mut self, caller: Caller) {
        self.entries.retain(|entry| entry.caller != caller);
    }

    /// The major `caller` negotiated for `api_group` (0 if none).
    pub fn major(&self, caller: Caller, api_group: u64) -> u64 {
        self.entries
            .iter()
            .find(|entry| entry.caller == caller && entry.api_group == api_group)
            .map_or(0, |entry| entry.major)
    }

    fn record(&mut self, caller: Caller, api_group: u64, major: u64) -> Result<(), u64> {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|entry| entry.caller == caller && entry.api_group == api_group)
        {
            entry.major = major;
            return Ok(());
        }
        self.entries
            .push(Negotiated {
                caller,
                api_group,
                major,
            })
            .map_err(|_| EINVAL)
    }

    /// `API_SET_VERSION`: unknown group (for this caller) EINVAL; major 0
    /// disables; another major ENOTSUPPORTED; a minor above ours is lowered
    /// (RET1 the granted minor).
    pub fn set_version(
        &mut self,
        caller: Caller,
        may_migrate: bool,
        api_group: u64,
        major: u64,
        minor: u64,
    ) -> Result<[u64; 4], u64> {
        let (our_major, our_minor) = version_of(api_group, may_migrate).ok_or(EINVAL)?;
        if major == 0 {
            self.record(caller, api_group, 0)?;
            return Ok([0; 4]);
        }
        if major != our_major {
            return Err(ENOTSUPPORTED);
        }
        self.record(caller, api_group, major)?;
        Ok([minor.min(our_minor), 0, 0, 0])
    }

    /// `API_GET_VERSION`: RET1 the negotiated major (0 if none), RET2 its minor.
    pub fn get_version(
        &self,
        caller: Caller,
        may_migrate: bool,
        api_group: u64,
    ) -> Result<[u64; 4], u64> {
        let (_, our_minor) = version_of(api_group, may_migrate).ok_or(EINVAL)?;
        let major = self.major(caller, api_group);
        let minor = if major == 0 { 0 } else { our_minor };
        Ok([major, minor, 0, 0])
    }
}

fn version_of(api_group: u64, may_migrate: bool) -> Option<(u64, u64)> {
    match api_group {
        group::LDOM => Some(LDOM_VERSION),
        group::MIGRATION if may_migrate => Some(MIGRATION_VERSION),
        _ => None,
    }
}
