//! The in-process host glue shared by the daemon and the harness: a
//! simulated engine's LDC channel to the shim's end ([`ldc_hop`]), a
//! hypervisor wrapper that counts what changes a domain ([`counting`]),
//! the worker threads and buffers of an engine's page pipeline
//! ([`workers`]), and a transport that shows the daemon each frame's type
//! ([`watched`]).

pub mod counting;
pub mod ldc_hop;
pub mod watched;
pub mod workers;
