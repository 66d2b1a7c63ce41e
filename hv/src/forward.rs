//! Forwarding impls of the `Hypervisor` traits, for wrappers that pass every
//! call on to a hypervisor they hold (a lock guard, a field).
//!
//! A wrapper that does something of its own in a few calls (counts them, runs
//! a hook) forwards the traits it leaves alone with these macros and writes
//! only the others by hand. Each macro takes the impl's generics in brackets,
//! the wrapper type, and after `=>` the tokens that reach the inner
//! hypervisor from `self` (`.inner`, `.lock()`):
//!
//! ```
//! use ldmig_hv::hypervisor::DirtyLog;
//!
//! struct Logged<H> {
//!     inner: H,
//! }
//! ldmig_hv::forward_dirty_log!(impl[H: DirtyLog] for Logged<H> => .inner);
//! ```

/// Implements [`GuestMemory`](crate::hypervisor::GuestMemory) by forwarding
/// every call.
#[macro_export]
macro_rules! forward_guest_memory {
    (impl[$($generics:tt)*] for $wrapper:ty => $($inner:tt)+) => {
        impl<$($generics)*> $crate::hypervisor::GuestMemory for $wrapper {
            fn domain_info(
                &mut self,
                domain: $crate::hypervisor::DomainId,
            ) -> Result<$crate::hypervisor::DomainInfo, $crate::HvError> {
                self $($inner)+ .domain_info(domain)
            }
            fn memory_block(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                index: u64,
            ) -> Result<$crate::hypervisor::MemoryBlock, $crate::HvError> {
                self $($inner)+ .memory_block(domain, index)
            }
            fn read_memory(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                ra: u64,
                buffer: &mut [u8],
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .read_memory(domain, ra, buffer)
            }
            fn write_memory(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                ra: u64,
                data: &[u8],
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .write_memory(domain, ra, data)
            }
        }
    };
}

/// Implements [`DirtyLog`](crate::hypervisor::DirtyLog) by forwarding every
/// call.
#[macro_export]
macro_rules! forward_dirty_log {
    (impl[$($generics:tt)*] for $wrapper:ty => $($inner:tt)+) => {
        impl<$($generics)*> $crate::hypervisor::DirtyLog for $wrapper {
            fn dirty_log_start(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                block: u64,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .dirty_log_start(domain, block)
            }
            fn dirty_log_sync(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                block: u64,
                bitmap: &mut [u64],
            ) -> Result<u64, $crate::HvError> {
                self $($inner)+ .dirty_log_sync(domain, block, bitmap)
            }
            fn dirty_log_stop(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                block: u64,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .dirty_log_stop(domain, block)
            }
        }
    };
}

/// Implements [`VcpuControl`](crate::hypervisor::VcpuControl) by forwarding
/// every call.
#[macro_export]
macro_rules! forward_vcpu_control {
    (impl[$($generics:tt)*] for $wrapper:ty => $($inner:tt)+) => {
        impl<$($generics)*> $crate::hypervisor::VcpuControl for $wrapper {
            fn suspend(
                &mut self,
                domain: $crate::hypervisor::DomainId,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .suspend(domain)
            }
            fn resume(
                &mut self,
                domain: $crate::hypervisor::DomainId,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .resume(domain)
            }
            fn throttle(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                percent: u8,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .throttle(domain, percent)
            }
            fn vcpu_state(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                vcpu: u64,
                state: &mut $crate::abi::migration::VcpuState,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .vcpu_state(domain, vcpu, state)
            }
            fn set_vcpu_state(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                vcpu: u64,
                state: &$crate::abi::migration::VcpuState,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .set_vcpu_state(domain, vcpu, state)
            }
        }
    };
}

/// Implements [`DomainControl`](crate::hypervisor::DomainControl) by
/// forwarding every call.
#[macro_export]
macro_rules! forward_domain_control {
    (impl[$($generics:tt)*] for $wrapper:ty => $($inner:tt)+) => {
        impl<$($generics)*> $crate::hypervisor::DomainControl for $wrapper {
            fn create_domain(
                &mut self,
                vcpus: u64,
            ) -> Result<$crate::hypervisor::DomainId, $crate::HvError> {
                self $($inner)+ .create_domain(vcpus)
            }
            fn bind_memory_block(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                ra: u64,
                size: u64,
            ) -> Result<u64, $crate::HvError> {
                self $($inner)+ .bind_memory_block(domain, ra, size)
            }
            fn destroy_domain(
                &mut self,
                domain: $crate::hypervisor::DomainId,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .destroy_domain(domain)
            }
            fn set_domain_state(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                state: $crate::hypervisor::DomainRunState,
            ) -> Result<(), $crate::HvError> {
                self $($inner)+ .set_domain_state(domain, state)
            }
            fn remove_crypto_units(
                &mut self,
                domain: $crate::hypervisor::DomainId,
            ) -> Result<u64, $crate::HvError> {
                self $($inner)+ .remove_crypto_units(domain)
            }
            fn add_crypto_units(
                &mut self,
                domain: $crate::hypervisor::DomainId,
                count: u64,
            ) -> Result<u64, $crate::HvError> {
                self $($inner)+ .add_crypto_units(domain, count)
            }
        }
    };
}

/// Implements all four traits of [`Hypervisor`](crate::hypervisor::Hypervisor)
/// by forwarding every call.
#[macro_export]
macro_rules! forward_hypervisor {
    (impl[$($generics:tt)*] for $wrapper:ty => $($inner:tt)+) => {
        $crate::forward_guest_memory!(impl[$($generics)*] for $wrapper => $($inner)+);
        $crate::forward_dirty_log!(impl[$($generics)*] for $wrapper => $($inner)+);
        $crate::forward_vcpu_control!(impl[$($generics)*] for $wrapper => $($inner)+);
        $crate::forward_domain_control!(impl[$($generics)*] for $wrapper => $($inner)+);
    };
}
