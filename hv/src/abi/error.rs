//! sun4v hypervisor status codes (returned in `%o0`) and their typed form.
//!
//! Source: [L] `hypervisor.h` (`HV_EOK`...`HV_EUNAVAILABLE`), [O] `hypervisor.h`.
//! Values 18-22 are defined by none of the sources; they map to
//! [`HvError::Unknown`] like any other value outside the table.
//! When a code is added here, add it to `every_code_maps_both_ways` below.

use core::fmt;

/// Success. [L] `HV_EOK`.
pub const EOK: u64 = 0;
/// Invalid CPU id. [L] `HV_ENOCPU`.
pub const ENOCPU: u64 = 1;
/// Invalid real address. [L] `HV_ENORADDR`.
pub const ENORADDR: u64 = 2;
/// Invalid interrupt id. [L] `HV_ENOINTR`.
pub const ENOINTR: u64 = 3;
/// Invalid page-size encoding. [L] `HV_EBADPGSZ`.
pub const EBADPGSZ: u64 = 4;
/// Invalid TSB description. [L] `HV_EBADTSB`.
pub const EBADTSB: u64 = 5;
/// Invalid argument. [L] `HV_EINVAL`.
pub const EINVAL: u64 = 6;
/// Invalid trap or function number. [L] `HV_EBADTRAP`.
pub const EBADTRAP: u64 = 7;
/// Bad address alignment. [L] `HV_EBADALIGN`.
pub const EBADALIGN: u64 = 8;
/// Cannot complete without blocking; retry. [L] `HV_EWOULDBLOCK`.
pub const EWOULDBLOCK: u64 = 9;
/// No access to the resource. [L] `HV_ENOACCESS`.
pub const ENOACCESS: u64 = 10;
/// I/O error. [L] `HV_EIO`.
pub const EIO: u64 = 11;
/// CPU is in the error state. [L] `HV_ECPUERROR`.
pub const ECPUERROR: u64 = 12;
/// Function or request not supported. [L] `HV_ENOTSUPPORTED`.
pub const ENOTSUPPORTED: u64 = 13;
/// No mapping found. [L] `HV_ENOMAP`.
pub const ENOMAP: u64 = 14;
/// Hard resource limit exceeded. [L] `HV_ETOOMANY`.
pub const ETOOMANY: u64 = 15;
/// Invalid or illegal LDC channel. [L] `HV_ECHANNEL`.
pub const ECHANNEL: u64 = 16;
/// Resource busy. [L] `HV_EBUSY`, [I].
pub const EBUSY: u64 = 17;
/// Not available now, may become available. [L] `HV_EUNAVAILABLE`.
pub const EUNAVAILABLE: u64 = 23;

/// A failed hypervisor call: every non-`EOK` status, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HvError {
    /// `ENOCPU` (1): invalid CPU id.
    NoCpu,
    /// `ENORADDR` (2): invalid real address.
    NoRealAddress,
    /// `ENOINTR` (3): invalid interrupt id.
    NoInterrupt,
    /// `EBADPGSZ` (4): invalid page-size encoding.
    BadPageSize,
    /// `EBADTSB` (5): invalid TSB description.
    BadTsb,
    /// `EINVAL` (6): invalid argument.
    Invalid,
    /// `EBADTRAP` (7): invalid trap or function number.
    BadTrap,
    /// `EBADALIGN` (8): bad address alignment.
    BadAlignment,
    /// `EWOULDBLOCK` (9): transient; retry.
    WouldBlock,
    /// `ENOACCESS` (10): no access to the resource.
    NoAccess,
    /// `EIO` (11): I/O error.
    Io,
    /// `ECPUERROR` (12): CPU in error state.
    CpuError,
    /// `ENOTSUPPORTED` (13): function or request not supported.
    NotSupported,
    /// `ENOMAP` (14): no mapping found.
    NoMap,
    /// `ETOOMANY` (15): hard resource limit exceeded.
    TooMany,
    /// `ECHANNEL` (16): invalid or illegal LDC channel.
    Channel,
    /// `EBUSY` (17): resource busy.
    Busy,
    /// `EUNAVAILABLE` (23): not available now.
    Unavailable,
    /// A status no source defines; the raw value is kept.
    Unknown(u64),
}

impl HvError {
    /// Maps a raw status to `Ok(())` for `EOK` or the typed error.
    pub fn check(status: u64) -> Result<(), HvError> {
        match Self::from_status(status) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    /// The typed error for a raw status, `None` for `EOK`.
    pub fn from_status(status: u64) -> Option<HvError> {
        Some(match status {
            EOK => return None,
            ENOCPU => HvError::NoCpu,
            ENORADDR => HvError::NoRealAddress,
            ENOINTR => HvError::NoInterrupt,
            EBADPGSZ => HvError::BadPageSize,
            EBADTSB => HvError::BadTsb,
            EINVAL => HvError::Invalid,
            EBADTRAP => HvError::BadTrap,
            EBADALIGN => HvError::BadAlignment,
            EWOULDBLOCK => HvError::WouldBlock,
            ENOACCESS => HvError::NoAccess,
            EIO => HvError::Io,
            ECPUERROR => HvError::CpuError,
            ENOTSUPPORTED => HvError::NotSupported,
            ENOMAP => HvError::NoMap,
            ETOOMANY => HvError::TooMany,
            ECHANNEL => HvError::Channel,
            EBUSY => HvError::Busy,
            EUNAVAILABLE => HvError::Unavailable,
            other => HvError::Unknown(other),
        })
    }

    /// The raw status code, as the hypervisor returns it.
    pub fn status(self) -> u64 {
        match self {
            HvError::NoCpu => ENOCPU,
            HvError::NoRealAddress => ENORADDR,
            HvError::NoInterrupt => ENOINTR,
            HvError::BadPageSize => EBADPGSZ,
            HvError::BadTsb => EBADTSB,
            HvError::Invalid => EINVAL,
            HvError::BadTrap => EBADTRAP,
            HvError::BadAlignment => EBADALIGN,
            HvError::WouldBlock => EWOULDBLOCK,
            HvError::NoAccess => ENOACCESS,
            HvError::Io => EIO,
            HvError::CpuError => ECPUERROR,
            HvError::NotSupported => ENOTSUPPORTED,
            HvError::NoMap => ENOMAP,
            HvError::TooMany => ETOOMANY,
            HvError::Channel => ECHANNEL,
            HvError::Busy => EBUSY,
            HvError::Unavailable => EUNAVAILABLE,
            HvError::Unknown(raw) => raw,
        }
    }

    /// The spec's name of the code (`"ENORADDR"`), for logs and status text.
    pub fn name(self) -> &'static str {
        match self {
            HvError::NoCpu => "ENOCPU",
            HvError::NoRealAddress => "ENORADDR",
            HvError::NoInterrupt => "ENOINTR",
            HvError::BadPageSize => "EBADPGSZ",
            HvError::BadTsb => "EBADTSB",
            HvError::Invalid => "EINVAL",
            HvError::BadTrap => "EBADTRAP",
            HvError::BadAlignment => "EBADALIGN",
            HvError::WouldBlock => "EWOULDBLOCK",
            HvError::NoAccess => "ENOACCESS",
            HvError::Io => "EIO",
            HvError::CpuError => "ECPUERROR",
            HvError::NotSupported => "ENOTSUPPORTED",
            HvError::NoMap => "ENOMAP",
            HvError::TooMany => "ETOOMANY",
            HvError::Channel => "ECHANNEL",
            HvError::Busy => "EBUSY",
            HvError::Unavailable => "EUNAVAILABLE",
            HvError::Unknown(_) => "unknown status",
        }
    }
}

impl fmt::Display for HvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hypervisor call failed: {} ({})",
            self.name(),
            self.status()
        )
    }
}

impl core::error::Error for HvError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_both_ways() {
        let table = [
            (ENOCPU, 1, HvError::NoCpu),
            (ENORADDR, 2, HvError::NoRealAddress),
            (ENOINTR, 3, HvError::NoInterrupt),
            (EBADPGSZ, 4, HvError::BadPageSize),
            (EBADTSB, 5, HvError::BadTsb),
            (EINVAL, 6, HvError::Invalid),
            (EBADTRAP, 7, HvError::BadTrap),
            (EBADALIGN, 8, HvError::BadAlignment),
            (EWOULDBLOCK, 9, HvError::WouldBlock),
            (ENOACCESS, 10, HvError::NoAccess),
            (EIO, 11, HvError::Io),
            (ECPUERROR, 12, HvError::CpuError),
            (ENOTSUPPORTED, 13, HvError::NotSupported),
            (ENOMAP, 14, HvError::NoMap),
            (ETOOMANY, 15, HvError::TooMany),
            (ECHANNEL, 16, HvError::Channel),
            (EBUSY, 17, HvError::Busy),
            (EUNAVAILABLE, 23, HvError::Unavailable),
        ];
        assert_eq!(EOK, 0);
        assert_eq!(HvError::check(EOK), Ok(()));
        for (constant, value, error) in table {
            assert_eq!(constant, value);
            assert_eq!(HvError::from_status(value), Some(error));
            assert_eq!(error.status(), value);
            assert_eq!(HvError::check(value), Err(error));
            assert!(error.name().starts_with('E'));
        }
    }

    #[test]
    fn undefined_codes_are_kept_raw() {
        for raw in [18, 19, 20, 21, 22, 24, u64::MAX] {
            assert_eq!(HvError::from_status(raw), Some(HvError::Unknown(raw)));
            assert_eq!(HvError::Unknown(raw).status(), raw);
        }
    }
}
