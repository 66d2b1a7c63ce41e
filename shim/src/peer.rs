//! What two shims say to each other over their secure channel: JSON control
//! messages and the engines' frames, one record each, told apart by a tag.
//!
//! ```text
//!  source shim                                  target shim
//!    | Begin {source host, domain, dry run} --->  |  run every check
//!    | <--- Checks {failed, report, findings}     |
//!    | Start {session} ------------------------->  |  lock, start the engine
//!    | Frame* <=================================> Frame*   (engine <-> engine)
//!    | Ack {frames} <============================> Ack {frames}  (every 8 frames)
//!    | Probe ----------------------------------->  |  just before the commit
//!    | <--- ProbeReply                             |  (the link is alive)
//!    | <--- Report {digests}                       |  after the domain resumed
//!  Abort {reason} either way ends it; Held {held} either way (test hooks)
//!  says a side holds the migration, so the other's clock stands still.
//!
//!  after a cut during pre-copy, on a new connection (authenticated afresh):
//!    | Resume {session, received} ------------->  |  the listener finds the migration
//!    | <--- Resumed {received}                     |  (or Abort: no such migration)
//!    | Frame* again after each side's count, then as before
//! ```

use crate::channel::QueuedFrame;
use ldmig_hv::resources::{DomainRequirements, HostResources};
use serde::{Deserialize, Serialize};

/// Tag of a JSON control record.
const TAG_CONTROL: u8 = b'J';
/// Tag of an engine frame record.
pub const TAG_FRAME: u8 = b'F';
/// Room an engine frame needs before it to be sealed in place: the secure
/// record's header and this record's [`TAG_FRAME`] byte
/// ([`frame_record_in_place`]).
pub const FRAME_HEADROOM: usize = crate::secure::RECORD_HEADER_LEN + 1;
/// Room after it: the secure record's type byte and its AEAD tag.
pub const FRAME_TAILROOM: usize = crate::secure::RECORD_OVERHEAD - crate::secure::RECORD_HEADER_LEN;

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
    /// Source: go ahead. `session` names the migration if the source
    /// comes back after a cut ([`PeerMessage::Resume`]).
    Start {
        /// The migration's session (random; 0: it never resumes).
        #[serde(default)]
        session: u64,
    },
    /// Either side: the first `frames` engine frames from the other side
    /// went to this side's engine (the other may let them go).
    Ack {
        /// Frames received and handed on, from the start.
        frames: u64,
    },
    /// Source, first on a new connection after a cut: go on with the
    /// migration `session`; this side received `received` frames.
    Resume {
        /// The session of the `Start`.
        session: u64,
        /// Frames the source's engine got from the target so far.
        received: u64,
    },
    /// Target: resumed; this side received `received` frames.
    Resumed {
        /// Frames the target's engine got from the source so far.
        received: u64,
    },
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
    /// An engine frame (from its start in the record's buffer).
    Frame(QueuedFrame),
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

/// Puts the tag before an engine frame queued with [`FRAME_HEADROOM`]
/// bytes before it; returns where the record's payload (the tag) starts,
/// for [`crate::secure::SecureSender::send_in_place`]. `None` when the
/// frame has no room before it.
pub fn frame_record_in_place(frame: &mut QueuedFrame) -> Option<usize> {
    let tag_at = frame.start.checked_sub(1)?;
    if tag_at < crate::secure::RECORD_HEADER_LEN {
        return None;
    }
    frame.bytes[tag_at] = TAG_FRAME;
    Some(tag_at)
}

/// Decodes a record; `None` for an unknown tag or bad JSON. A frame keeps
/// the record's buffer (no copy), starting after the tag.
pub fn decode(record: Vec<u8>) -> Option<PeerRecord> {
    match *record.first()? {
        TAG_CONTROL => serde_json::from_slice(&record[1..])
            .ok()
            .map(PeerRecord::Message),
        TAG_FRAME => Some(PeerRecord::Frame(QueuedFrame {
            bytes: record,
            start: 1,
        })),
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
            matches!(decode(encode_frame(&[1, 2])), Some(PeerRecord::Frame(frame)) if frame.frame() == [1, 2])
        );
        let mut queued = QueuedFrame {
            bytes: [vec![0; FRAME_HEADROOM], vec![3, 4]].concat(),
            start: FRAME_HEADROOM,
        };
        let at = frame_record_in_place(&mut queued).expect("room");
        assert!(matches!(
            decode(queued.bytes[at..].to_vec()),
            Some(PeerRecord::Frame(frame)) if frame.frame() == [3, 4]
        ));
        let mut cramped = QueuedFrame::whole(vec![1, 2]);
        assert_eq!(frame_record_in_place(&mut cramped), None);
        assert!(decode(vec![]).is_none());
        assert!(decode(vec![b'X', 1]).is_none());
        assert!(decode(vec![b'J', b'{']).is_none());
    }
}
