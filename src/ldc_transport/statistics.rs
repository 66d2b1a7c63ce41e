//! Counters of one end of the bulk path.

/// What one endpoint (engine or shim side) moved and met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkStatistics {
    /// Frames this side put into a ring.
    pub frames_sent: u64,
    /// Frames this side took out of a ring.
    pub frames_received: u64,
    /// Bytes of those frames sent.
    pub bytes_sent: u64,
    /// Bytes of those frames received.
    pub bytes_received: u64,
    /// Sends refused because the ring was full.
    pub ring_full: u64,
    /// LDC link resets met (the link recovered by itself each time).
    pub link_resets: u64,
    /// Ring registrations sent (engine) or taken (shim).
    pub registrations: u64,
    /// Times the engine found its map table gone and exported it again.
    pub reexports: u64,
    /// `LDC_COPY` calls made (shim).
    pub copy_calls: u64,
}
