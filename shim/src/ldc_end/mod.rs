//! The shim's end of an engine's LDC channel (see `ldmig::ldc_transport`
//! for the whole picture): it reads the engine's exported transmit ring
//! and writes its receive ring with `LDC_COPY` only, speaks the control
//! protocol's shim side, and relays frames to the peer link.
//!
//! - [`endpoint`]: [`ShimEndpoint`], the shim's end;
//! - [`layout`]: where its queues and copy buffers live;
//! - [`copy`]: `LDC_COPY` of a whole range;
//! - [`control`]: [`ShimControl`], the shim side's requests and event queue;
//! - [`relay`]: frames between the shim's end and the peer link.

pub mod control;
pub mod copy;
pub mod endpoint;
pub mod layout;
pub mod relay;

pub use control::ShimControl;
pub use endpoint::{ShimConfig, ShimEndpoint, ShimSession};
pub use layout::ShimLayout;
pub use relay::{FrameRelay, RelayStatistics};

#[cfg(test)]
mod tests;
