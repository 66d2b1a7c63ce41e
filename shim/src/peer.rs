//! What two shims say to each other over their secure channel: JSON control
//! messages and the engines' frames, one record each, told apart by a tag.
//!
//! ```text
//!  source shim                                  target shim
//!    | Begin {source host, domain, dry run} --->  |  run every check
//!    | <--- Checks {failed, report, findings}     |
//!    | Start ----------------------------------->  |  lock, start the engine
//!    | Frame* <=================================> Frame*   (engine <-> engine)
//!    | Probe ----------------------------------->  |  just before the commit
//!    | <--- ProbeReply                             |  (the link is alive)
//!    | <--- Report {digests}                       |  after the domain resumed
//!  Abort {reason} either way ends it; Held {held} either way (test hooks)
//!  says a side holds the migration, so the other's clock stands still.
//! ```

use ldmig_hv::resources::{DomainRequirements, HostResources};
use serde::{Deserialize, Serialize};

/// Tag of a JSON control record.
const TAG_CONTROL: u8 = b'J';
/// Tag of an engine frame record.
const TAG_FRAME: u8 = b'F';

/// A control message between shims.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PeerMessage {
    /// Source asks to migrate (or check) a domain.
    Begin {
        /// The source machine, for the checks that need both sides.
        source: Box<HostResources>,
        /// The domain and what it needs.
        domain: Box<DomainRequirements>,
        /// The name the domain takes on the target.
        target_domain: String,
        /// Only check.
        dry_run: bool,
    },
    /// The target's verdict.
    Checks {
        /// A check failed.
        failed: bool,
        /// The report, as the administrator reads it.
        report: String,
        /// Every finding, one per line.
        findings: Vec<String>,
    },
    /// Source: go ahead.
    Start,
    /// Target: the domain runs here; digests at resumption.
    Report {
        /// Memory digest.
        memory_digest: String,
        /// vCPU digest.
        vcpu_digest: String,
    },
    /// Target: an inactive domain's configuration was taken.
    Configured,
    /// Either side stops.
    Abort {
        /// Why.
        reason: String,
    },
    /// Source: is the link alive? Sent just before the commit: the source
    /// lets its commit go only once the target's shim answered.
    Probe {
        /// Echoed in the answer.
        id: u64,
    },
    /// Target: the answer to a [`PeerMessage::Probe`].
    ProbeReply {
        /// The probe's id.
        id: u64,
    },
    /// Test hooks: this side holds the migration (`held`) or goes on; the
    /// other side's engine clock stands still meanwhile, so no timeout
    /// runs out while a test holds a migration at a phase.
    Held {
        /// Holding (true) or going on (false).
        held: bool,
    },
}

/// One record from the peer.
#[derive(Debug)]
pub enum PeerRecord {
    /// A control message.
    Message(PeerMessage),
    /// An engine frame.
    Frame(Vec<u8>),
}

/// Encodes a control message.
pub fn encode_message(message: &PeerMessage) -> Vec<u8> {
    let mut bytes = vec![TAG_CONTROL];
    // Serialising these plain types cannot fail.
    bytes.extend(serde_json::to_vec(message).unwrap_or_default());
    bytes
}

/// Encodes an engine frame.
pub fn encode_frame(frame: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(frame.len() + 1);
    bytes.push(TAG_FRAME);
    bytes.extend_from_slice(frame);
    bytes
}

/// Decodes a record; `None` for an unknown tag or bad JSON.
pub fn decode(mut record: Vec<u8>) -> Option<PeerRecord> {
    match *record.first()? {
        TAG_CONTROL => serde_json::from_slice(&record[1..])
            .ok()
            .map(PeerRecord::Message),
        TAG_FRAME => {
            record.remove(0);
            Some(PeerRecord::Frame(record))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let message = PeerMessage::Abort { reason: "x".into() };
        assert!(matches!(
            decode(encode_message(&message)),
            Some(PeerRecord::Message(PeerMessage::Abort { .. }))
        ));
        assert!(
            matches!(decode(encode_frame(&[1, 2])), Some(PeerRecord::Frame(frame)) if frame == [1, 2])
        );
        assert!(decode(vec![]).is_none());
        assert!(decode(vec![b'X', 1]).is_none());
        assert!(decode(vec![b'J', b'{']).is_none());
    }
}
