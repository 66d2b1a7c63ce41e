//! The in-process host glue shared by the daemon and the harness: a
//! simulated engine's LDC channel to the shim's end ([`ldc_hop`]), a
//! hypervisor wrapper that counts what changes a domain ([`counting`]),
//! and the worker threads and buffers of an engine's page pipeline
//! ([`workers`]).

pub mod counting;
pub mod ldc_hop;
pub mod workers;
