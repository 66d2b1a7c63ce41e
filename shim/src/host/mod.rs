//! The in-process host glue shared by the daemon and the harness: a
//! simulated engine's LDC channel to the shim's end ([`ldc_hop`]) and a
//! hypervisor wrapper that counts what changes a domain ([`counting`]).

pub mod counting;
pub mod ldc_hop;
