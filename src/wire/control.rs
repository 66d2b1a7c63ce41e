//! The engine–shim control messages on the wire (version 1): a 16-byte
//! envelope and one fixed, big-endian body per kind.
//!
//! Each kind is written once, in the `control_messages!` list below: its
//! number, its role (session set-up, request from the shim, event from the
//! engine) and its body, a `wire_struct!` that is both the bytes on the
//! wire and the type callers use. The list makes [`MessageKind`],
//! [`Message`], the body sizes, the encoder and the decoder. The envelope
//! and body layouts are drawn in [`crate::wire`]'s module docs.
//!
//! Decoding bounds the message (at most [`MAX_CONTROL_MESSAGE`] bytes, at
//! least an envelope), then checks magic, version, kind, the envelope's
//! reserved field, that the body length is the kind's and is what follows,
//! then the body's reserved fields and values: never a panic.

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use super::codec::{
    check_magic, check_version, wire_enum, wire_struct, DecodeError, EnumField, Reserved, Text,
    WireField, WireStruct,
};
use super::descriptor::DESCRIPTOR_BYTES;
use super::messages::{StopReason, DOMAIN_NAME_BYTES};

/// The control-protocol version this code writes.
pub const CONTROL_VERSION: u8 = 1;
/// The oldest version it still reads.
pub const OLDEST_CONTROL_VERSION: u8 = 1;
/// "LC" in ASCII.
pub const ENVELOPE_MAGIC: u16 = 0x4c43;
/// Bytes of the envelope.
pub const ENVELOPE_BYTES: usize = core::mem::size_of::<ControlEnvelope>();
/// Largest control message (envelope and body): fits one LDC message.
pub const MAX_CONTROL_MESSAGE: usize = 256;
/// Bytes of a human-readable text in an event.
pub const TEXT_BYTES: usize = 64;

/// A domain name in a control message.
pub type DomainName = Text<DOMAIN_NAME_BYTES>;

wire_struct! {
    /// The envelope as it lies on the wire.
    pub struct ControlEnvelope {
        /// [`ENVELOPE_MAGIC`].
        pub magic: U16,
        /// Control-protocol version.
        pub version: u8,
        /// What the body is.
        pub kind: EnumField<MessageKind>,
        /// The sender's session id.
        pub session: U32,
        /// The sender's message number in the session, from 1.
        pub sequence: U32,
        /// Body bytes after the envelope.
        pub length: U16,
        /// Zero.
        pub reserved: Reserved<2>,
    }
}

/// The envelope's fields, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Version the sender wrote.
    pub version: u8,
    /// The sender's session id.
    pub session: u32,
    /// The sender's message number.
    pub sequence: u32,
}

/// Makes, from one list of `number role Kind(Body)`, the [`MessageKind`]
/// enum, the [`Message`] enum, the body sizes and both codec directions.
/// A role is `session` (set-up, no request id), `request` (shim to engine)
/// or `event` (engine to shim); requests and events carry a `request` id.
macro_rules! control_messages {
    (@request session $body:ident) => {{
        let _ = $body;
        None
    }};
    (@request $role:ident $body:ident) => { Some($body.request.get()) };
    (@is_request request) => { true };
    (@is_request $role:ident) => { false };
    (
        $(
            $(#[$doc:meta])*
            $number:literal $role:ident $kind:ident($body:ty),
        )+
    ) => {
        wire_enum! {
            /// What a control message is. 0 is reserved as invalid.
            pub enum MessageKind: u8 {
                $($(#[$doc])* $kind = $number,)+
            }
        }

        /// A control message, typed: one variant per kind, holding its body.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Message {
            $($(#[$doc])* $kind($body),)+
        }

        // Every message fits one LDC message.
        const _: () = {
            $(assert!(ENVELOPE_BYTES + <$body as WireStruct>::BYTES <= MAX_CONTROL_MESSAGE);)+
        };

        impl Message {
            /// Its kind.
            pub fn kind(&self) -> MessageKind {
                match self {
                    $(Message::$kind(_) => MessageKind::$kind,)+
                }
            }

            /// The request a request or event is about (`None` for session
            /// messages).
            pub fn request(&self) -> Option<u32> {
                match self {
                    $(Message::$kind(body) => control_messages!(@request $role body),)+
                }
            }

            /// Whether the shim sends it to the engine.
            pub fn is_request(&self) -> bool {
                match self {
                    $(Message::$kind(_) => control_messages!(@is_request $role),)+
                }
            }

            /// The body's bytes.
            fn body(&self) -> &[u8] {
                match self {
                    $(Message::$kind(body) => body.as_bytes(),)+
                }
            }
        }

        /// Body bytes of each kind.
        pub fn body_bytes(kind: MessageKind) -> usize {
            match kind {
                $(MessageKind::$kind => <$body as WireStruct>::BYTES,)+
            }
        }

        /// Decodes a body of `kind` (exactly its size): every reserved
        /// field, enum, text and bound checked.
        pub fn decode_body(kind: MessageKind, body: &[u8]) -> Result<Message, DecodeError> {
            Ok(match kind {
                $(MessageKind::$kind => Message::$kind(<$body as WireStruct>::decode(body)?),)+
            })
        }
    };
}

control_messages! {
    /// Shim to engine: the versions it speaks (starts a session).
    1 session Hello(SessionHello),
    /// Engine to shim: the version chosen.
    2 session HelloAck(SessionHelloAck),
    /// Engine to shim: where its rings are.
    3 session RingRegister(RingRegistration),
    /// Shim to engine: registration taken.
    4 session RingRegistered(RingRegistered),
    /// Request: migrate a domain with options.
    5 request Migrate(MigrateRequest),
    /// Request: check a migration without doing it.
    6 request DryRun(MigrateRequest),
    /// Request: where the running migration stands.
    7 request Status(DomainRequest),
    /// Request: cancel the running migration.
    8 request Cancel(DomainRequest),
    /// Request: the domains of this machine.
    9 request ListDomains(DomainRequest),
    /// Request: the free memory ranges of this machine.
    10 request ListFreeMemory(DomainRequest),
    /// Event: a request was accepted.
    11 event Accepted(Accepted),
    /// Event: the migration entered a phase.
    12 event Phase(PhaseEvent),
    /// Event: progress of the migration.
    13 event Progress(ProgressEvent),
    /// Event: something the administrator should know.
    14 event Warning(Warning),
    /// Event: how a migration or dry run ended, with statistics.
    15 event Result(MigrationResult),
    /// Event: one domain of a list.
    16 event DomainEntry(DomainEntry),
    /// Event: one free memory range of a list.
    17 event FreeMemoryEntry(FreeMemoryEntry),
    /// Event: the end of a list.
    18 event ListEnd(ListEnd),
    /// A request failed.
    19 event Error(ErrorReport),
}

wire_enum! {
    /// Where a migration stands (QEMU-like, as `stats::MigrationStatus`).
    pub enum Phase: u8 {
        /// Negotiating and reserving the target.
        Setup = 1,
        /// Pre-copy rounds while the domain runs.
        PreCopy = 2,
        /// Domain suspended: last pages and vCPU state.
        Switchover = 3,
        /// Final state sent; waiting for the target.
        Committing = 4,
        /// The domain runs on the target.
        Completed = 5,
        /// Cancelled; the source domain runs.
        Cancelled = 6,
        /// Failed.
        Failed = 7,
    }
}

wire_enum! {
    /// What a warning is about.
    pub enum WarningCode: u16 {
        /// A dry-run or pre-migration check that does not stop the migration.
        Check = 1,
        /// Fewer crypto units on the target.
        CryptoUnits = 2,
        /// The vCPUs are being throttled.
        Throttle = 3,
        /// The LDC link to the shim was reset (and recovered).
        LinkReset = 4,
    }
}

wire_enum! {
    /// How a request that ran ended.
    pub enum ResultKind: u8 {
        /// The domain runs on the target.
        Completed = 1,
        /// Cancelled before the commit.
        Cancelled = 2,
        /// Pre-copy did not converge.
        GaveUp = 3,
        /// Failed.
        Failed = 4,
        /// Dry run: every check passed.
        DryRunPassed = 5,
        /// Dry run: at least one check failed.
        DryRunFailed = 6,
    }
}

wire_enum! {
    /// Where the source domain is after a migration.
    pub enum SourceState: u8 {
        /// Running on the source.
        Running = 1,
        /// Stopped in the error state (check the target).
        ErrorState = 2,
        /// Torn down: it runs on the target.
        Gone = 3,
    }
}

wire_enum! {
    /// A domain's state in a domain list.
    pub enum DomainListState: u8 {
        /// Running.
        Active = 1,
        /// Bound, not running.
        Bound = 2,
        /// Being migrated.
        Migrating = 3,
        /// Left in the error state by a failed migration.
        Error = 4,
    }
}

wire_enum! {
    /// Why a request failed.
    pub enum ErrorCode: u16 {
        /// No common control-protocol version.
        UnsupportedVersion = 1,
        /// A request before the session was set up (no Hello yet).
        NotReady = 2,
        /// A migration or dry run already runs.
        Busy = 3,
        /// Status or cancel with no migration running.
        NotMigrating = 4,
        /// No such domain.
        UnknownDomain = 5,
        /// Cancel refused: the source already committed.
        CancelRefused = 6,
        /// A malformed or unexpected message.
        BadRequest = 7,
        /// The host could not carry the request out.
        HostFailure = 8,
    }
}

wire_struct! {
    /// Session start: the control-protocol versions the shim speaks.
    pub struct SessionHello {
        /// Oldest (not 0).
        pub oldest: u8,
        /// Newest (not older than `oldest`).
        pub newest: u8,
        /// Zero.
        pub reserved: Reserved<6>,
    }
    validate(hello) {
        if hello.oldest == 0 || hello.oldest > hello.newest {
            Err(DecodeError::InvalidValue { field: "oldest", value: u64::from(hello.oldest) })
        } else {
            Ok(())
        }
    }
}

impl SessionHello {
    /// A hello offering `oldest..=newest`.
    pub fn new(oldest: u8, newest: u8) -> Self {
        SessionHello {
            oldest,
            newest,
            reserved: Reserved::ZERO,
        }
    }
}

wire_struct! {
    /// The engine's answer to [`SessionHello`].
    pub struct SessionHelloAck {
        /// The version both speak (the newest in common; not 0).
        pub version: u8,
        /// Zero.
        pub reserved: Reserved<3>,
        /// Largest frame the engine's rings carry.
        pub max_frame_bytes: U32,
    }
    validate(ack) {
        if ack.version == 0 {
            Err(DecodeError::InvalidValue { field: "version", value: 0 })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// Where the engine's rings are and where each direction stands. The
    /// ring's shape (entries, slot bytes) is checked by the shim when it
    /// takes the registration (`ldc_transport::ring::RingGeometry`).
    pub struct RingRegistration {
        /// Counts registrations of this engine (one per Hello).
        pub generation: U32,
        /// Descriptors per ring.
        pub entries: U16,
        /// Bytes of one descriptor ([`DESCRIPTOR_BYTES`]).
        pub descriptor_bytes: U16,
        /// Bytes per slot.
        pub slot_bytes: U32,
        /// Zero.
        pub reserved: Reserved<4>,
        /// Cookie of the engine-to-shim ring's first descriptor (not 0,
        /// 8-byte aligned).
        pub transmit_ring: U64,
        /// Cookie of the shim-to-engine ring's first descriptor (likewise).
        pub receive_ring: U64,
        /// The oldest engine-to-shim frame not yet reclaimed.
        pub transmit_oldest: U64,
        /// The next shim-to-engine frame the engine will take.
        pub receive_next: U64,
    }
    validate(ring) {
        let cookie_fits = |cookie: u64| cookie != 0 && cookie.is_multiple_of(8);
        if usize::from(ring.descriptor_bytes.get()) != DESCRIPTOR_BYTES {
            Err(DecodeError::InvalidValue {
                field: "descriptor_bytes",
                value: u64::from(ring.descriptor_bytes.get()),
            })
        } else if !cookie_fits(ring.transmit_ring.get()) {
            Err(DecodeError::InvalidValue { field: "transmit_ring", value: ring.transmit_ring.get() })
        } else if !cookie_fits(ring.receive_ring.get()) {
            Err(DecodeError::InvalidValue { field: "receive_ring", value: ring.receive_ring.get() })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// The shim took a registration.
    pub struct RingRegistered {
        /// The registration's generation.
        pub generation: U32,
        /// Zero.
        pub reserved: Reserved<4>,
    }
}

wire_struct! {
    /// Limits of a migration; 0 means "the engine's default".
    pub struct MigrateOptions {
        /// Longest acceptable downtime in milliseconds.
        pub downtime_limit_ms: U32,
        /// Pre-copy rounds before giving up.
        pub max_rounds: U32,
        /// Seconds before giving up on a pre-copy that does not converge.
        pub max_time_s: U32,
        /// Bandwidth cap in bytes per second during pre-copy.
        pub max_bandwidth: U64,
        /// Highest vCPU throttle in percent (at most 99).
        pub throttle_max: u8,
        /// Zero.
        pub reserved: Reserved<7>,
    }
    validate(options) {
        if options.throttle_max > 99 {
            Err(DecodeError::InvalidValue {
                field: "throttle_max",
                value: u64::from(options.throttle_max),
            })
        } else {
            Ok(())
        }
    }
}

impl Default for MigrateOptions {
    fn default() -> Self {
        zerocopy::FromZeros::new_zeroed()
    }
}

/// Nested in [`MigrateRequest`]: its whole check runs in the request's
/// field-value pass.
impl WireField for MigrateOptions {
    fn check_value(&self, _field: &'static str) -> Result<(), DecodeError> {
        self.check()
    }
}

wire_struct! {
    /// Migrate (or dry-run) a domain.
    pub struct MigrateRequest {
        /// Request id, chosen by the shim, echoed in every event about it.
        pub request: U32,
        /// Limits.
        pub options: MigrateOptions,
        /// The domain here (not empty).
        pub domain: DomainName,
        /// Its name on the target (empty: the same name).
        pub target_domain: DomainName,
    }
    validate(request) {
        if request.domain.is_empty() {
            Err(DecodeError::InvalidValue { field: "domain", value: 0 })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// A request about a domain (or, with an empty name, the machine or
    /// the running migration).
    pub struct DomainRequest {
        /// Request id.
        pub request: U32,
        /// Zero.
        pub reserved: Reserved<4>,
        /// The domain, or empty.
        pub domain: DomainName,
    }
}

impl DomainRequest {
    /// Request `request` about `domain`.
    pub fn new(request: u32, domain: &str) -> Self {
        DomainRequest {
            request: U32::new(request),
            reserved: Reserved::ZERO,
            domain: Text::new(domain),
        }
    }
}

wire_struct! {
    /// A request was accepted.
    pub struct Accepted {
        /// The request.
        pub request: U32,
        /// Zero.
        pub reserved: Reserved<4>,
    }
}

impl Accepted {
    /// Request `request` accepted.
    pub fn new(request: u32) -> Self {
        Accepted {
            request: U32::new(request),
            reserved: Reserved::ZERO,
        }
    }
}

wire_struct! {
    /// The migration entered a phase.
    pub struct PhaseEvent {
        /// The migrate request.
        pub request: U32,
        /// The phase.
        pub phase: EnumField<Phase>,
        /// Zero.
        pub reserved: Reserved<3>,
        /// The pre-copy round at that moment.
        pub round: U32,
        /// Zero.
        pub reserved2: Reserved<4>,
    }
}

wire_struct! {
    /// Progress of a migration (also the answer to Status).
    pub struct ProgressEvent {
        /// The request answered (migrate or status).
        pub request: U32,
        /// Phase.
        pub phase: EnumField<Phase>,
        /// Percent done (0-100).
        pub percent: u8,
        /// vCPU throttle in percent (0-99).
        pub throttle_percent: u8,
        /// Zero.
        pub reserved: Reserved<1>,
        /// Pre-copy rounds done.
        pub rounds: U32,
        /// Zero.
        pub reserved2: Reserved<4>,
        /// Bytes sent.
        pub transferred: U64,
        /// Bytes of memory still dirty.
        pub remaining: U64,
        /// Bytes of memory.
        pub total: U64,
        /// Measured bandwidth in bytes per second.
        pub bandwidth: U64,
        /// Expected downtime at the last sync.
        pub expected_downtime_ns: U64,
    }
    validate(progress) {
        if progress.percent > 100 {
            Err(DecodeError::InvalidValue { field: "percent", value: u64::from(progress.percent) })
        } else if progress.throttle_percent > 99 {
            Err(DecodeError::InvalidValue {
                field: "throttle_percent",
                value: u64::from(progress.throttle_percent),
            })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// Something the administrator should know.
    pub struct Warning {
        /// The request it is about.
        pub request: U32,
        /// What about.
        pub code: EnumField<WarningCode>,
        /// Zero.
        pub reserved: Reserved<2>,
        /// The words.
        pub text: Text<TEXT_BYTES>,
    }
}

wire_struct! {
    /// How a migration or dry run ended, with its statistics.
    pub struct MigrationResult {
        /// The migrate or dry-run request.
        pub request: U32,
        /// How it ended.
        pub kind: EnumField<ResultKind>,
        /// Where the source domain is.
        pub source: EnumField<SourceState>,
        /// [`StopReason`] number of a failure, or 0.
        pub reason: U16,
        /// Pre-copy rounds.
        pub rounds: U32,
        /// Zero.
        pub reserved: Reserved<4>,
        /// Total time.
        pub total_time_ns: U64,
        /// Downtime.
        pub downtime_ns: U64,
        /// Bytes sent.
        pub transferred: U64,
        /// Non-zero pages sent.
        pub normal_pages: U64,
        /// Zero pages sent.
        pub zero_pages: U64,
        /// The outcome in words.
        pub text: Text<TEXT_BYTES>,
    }
    validate(result) {
        let reason = result.reason.get();
        if reason != 0 && StopReason::from_raw(reason).is_none() {
            Err(DecodeError::InvalidValue { field: "reason", value: u64::from(reason) })
        } else {
            Ok(())
        }
    }
}

wire_struct! {
    /// One domain of a list.
    pub struct DomainEntry {
        /// The list request.
        pub request: U32,
        /// Position in the list, from 0.
        pub index: U32,
        /// vCPUs.
        pub vcpus: U32,
        /// State.
        pub state: EnumField<DomainListState>,
        /// Zero.
        pub reserved: Reserved<3>,
        /// Bytes of memory.
        pub memory_bytes: U64,
        /// Name (not empty).
        pub name: DomainName,
    }
    validate(entry) {
        if entry.name.is_empty() {
            Err(DecodeError::InvalidValue { field: "name", value: 0 })
        } else {
            Ok(())
        }
    }
}

impl DomainEntry {
    /// Entry `index` of list `request`: the domain `name` in `state`, with
    /// `vcpus` and `memory_bytes`.
    pub fn new(
        request: u32,
        index: u32,
        name: &str,
        state: DomainListState,
        vcpus: u32,
        memory_bytes: u64,
    ) -> Self {
        DomainEntry {
            request: U32::new(request),
            index: U32::new(index),
            vcpus: U32::new(vcpus),
            state: state.into(),
            reserved: Reserved::ZERO,
            memory_bytes: U64::new(memory_bytes),
            name: Text::new(name),
        }
    }
}

wire_struct! {
    /// One free memory range of a list.
    pub struct FreeMemoryEntry {
        /// The list request.
        pub request: U32,
        /// Position in the list, from 0.
        pub index: U32,
        /// Physical address.
        pub pa: U64,
        /// Bytes.
        pub size: U64,
    }
}

wire_struct! {
    /// The end of a list.
    pub struct ListEnd {
        /// The list request.
        pub request: U32,
        /// Entries sent.
        pub count: U32,
    }
}

wire_struct! {
    /// A request failed.
    pub struct ErrorReport {
        /// The request (0 when it could not be read).
        pub request: U32,
        /// Why.
        pub code: EnumField<ErrorCode>,
        /// Zero.
        pub reserved: Reserved<2>,
        /// A number that helps (a version, a hypervisor status...), or 0.
        pub detail: U64,
        /// The words.
        pub text: Text<TEXT_BYTES>,
    }
}

impl ErrorReport {
    /// Request `request` failed with `code`, `detail` and `text`.
    pub fn new(request: u32, code: ErrorCode, detail: u64, text: &str) -> Self {
        ErrorReport {
            request: U32::new(request),
            code: code.into(),
            reserved: Reserved::ZERO,
            detail: U64::new(detail),
            text: Text::new(text),
        }
    }
}

/// Writes `message` with `header` into `out`; returns the bytes used.
pub fn encode(header: Header, message: &Message, out: &mut [u8; MAX_CONTROL_MESSAGE]) -> usize {
    let body = message.body();
    #[allow(clippy::cast_possible_truncation)]
    // every body fits MAX_CONTROL_MESSAGE (checked at compile time)
    let body_length = body.len() as u16;
    let envelope = ControlEnvelope {
        magic: U16::new(ENVELOPE_MAGIC),
        version: header.version,
        kind: message.kind().into(),
        session: U32::new(header.session),
        sequence: U32::new(header.sequence),
        length: U16::new(body_length),
        reserved: Reserved::ZERO,
    };
    out[..ENVELOPE_BYTES].copy_from_slice(envelope.as_bytes());
    // Cannot overrun: every body fits (checked at compile time above).
    out[ENVELOPE_BYTES..ENVELOPE_BYTES + body.len()].copy_from_slice(body);
    ENVELOPE_BYTES + body.len()
}

/// Reads the envelope, in the codec's order: size bounds, magic, version,
/// kind, reserved field, then that the body length is the kind's and is
/// what follows.
pub fn decode_header(bytes: &[u8]) -> Result<(Header, MessageKind, &[u8]), DecodeError> {
    if bytes.len() > MAX_CONTROL_MESSAGE {
        return Err(DecodeError::TooLong {
            what: "control message",
            length: bytes.len(),
            max: MAX_CONTROL_MESSAGE,
        });
    }
    let (envelope, body) =
        ControlEnvelope::read_from_prefix(bytes).map_err(|_short| DecodeError::Truncated {
            what: "control envelope",
            needed: ENVELOPE_BYTES,
            available: bytes.len(),
        })?;
    check_magic(
        "control message",
        u32::from(ENVELOPE_MAGIC),
        u32::from(envelope.magic.get()),
    )?;
    check_version(
        "control message",
        u16::from(envelope.version),
        u16::from(OLDEST_CONTROL_VERSION),
        u16::from(CONTROL_VERSION),
    )?;
    let kind = envelope.kind.checked("kind")?;
    envelope.check()?;
    let expected = body_bytes(kind);
    let declared = usize::from(envelope.length.get());
    for actual in [declared, body.len()] {
        if actual != expected {
            return Err(DecodeError::Length {
                what: "control message body",
                expected,
                actual,
            });
        }
    }
    let header = Header {
        version: envelope.version,
        session: envelope.session.get(),
        sequence: envelope.sequence.get(),
    };
    Ok((header, kind, body))
}

/// Decodes one whole message (see [`decode_header`] and [`decode_body`]).
pub fn decode(bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    let (header, kind, body) = decode_header(bytes)?;
    Ok((header, decode_body(kind, body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_sim::rng::{test_seed, SplitMix64};
    use std::vec::Vec;

    const HEADER: Header = Header {
        version: CONTROL_VERSION,
        session: 0x1234_5678,
        sequence: 42,
    };

    /// One message of every kind, with non-trivial values.
    pub(crate) fn samples() -> Vec<Message> {
        let name = |text: &str| DomainName::new(text);
        let text = |words: &str| Text::<TEXT_BYTES>::new(words);
        vec![
            Message::Hello(SessionHello::new(1, 3)),
            Message::HelloAck(SessionHelloAck {
                version: 1,
                reserved: Reserved::ZERO,
                max_frame_bytes: U32::new(256 << 10),
            }),
            Message::RingRegister(RingRegistration {
                generation: U32::new(7),
                entries: U16::new(8),
                descriptor_bytes: U16::new(DESCRIPTOR_BYTES as u16),
                slot_bytes: U32::new(256 << 10),
                reserved: Reserved::ZERO,
                transmit_ring: U64::new(0x2000),
                receive_ring: U64::new(0x4000),
                transmit_oldest: U64::new(99),
                receive_next: U64::new(12),
            }),
            Message::RingRegistered(RingRegistered {
                generation: U32::new(7),
                reserved: Reserved::ZERO,
            }),
            Message::Migrate(MigrateRequest {
                request: U32::new(1),
                options: MigrateOptions {
                    downtime_limit_ms: U32::new(300),
                    max_rounds: U32::new(30),
                    max_time_s: U32::new(600),
                    max_bandwidth: U64::new(1 << 30),
                    throttle_max: 99,
                    reserved: Reserved::ZERO,
                },
                domain: name("ldg1"),
                target_domain: name("ldg1-copy"),
            }),
            Message::DryRun(MigrateRequest {
                request: U32::new(2),
                options: MigrateOptions::default(),
                domain: name("ldg2"),
                target_domain: name("ldg2"),
            }),
            Message::Status(DomainRequest::new(3, "")),
            Message::Cancel(DomainRequest::new(4, "ldg1")),
            Message::ListDomains(DomainRequest::new(5, "")),
            Message::ListFreeMemory(DomainRequest::new(6, "")),
            Message::Accepted(Accepted::new(1)),
            Message::Phase(PhaseEvent {
                request: U32::new(1),
                phase: Phase::PreCopy.into(),
                reserved: Reserved::ZERO,
                round: U32::new(2),
                reserved2: Reserved::ZERO,
            }),
            Message::Progress(ProgressEvent {
                request: U32::new(1),
                phase: Phase::Switchover.into(),
                percent: 97,
                throttle_percent: 30,
                reserved: Reserved::ZERO,
                rounds: U32::new(4),
                reserved2: Reserved::ZERO,
                transferred: U64::new(1 << 33),
                remaining: U64::new(4096),
                total: U64::new(1 << 32),
                bandwidth: U64::new(125_000_000),
                expected_downtime_ns: U64::new(12_000_000),
            }),
            Message::Warning(Warning {
                request: U32::new(1),
                code: WarningCode::CryptoUnits.into(),
                reserved: Reserved::ZERO,
                text: text("2 of 4 crypto units added back"),
            }),
            Message::Result(MigrationResult {
                request: U32::new(1),
                kind: ResultKind::Failed.into(),
                source: SourceState::ErrorState.into(),
                reason: U16::new(7),
                rounds: U32::new(5),
                reserved: Reserved::ZERO,
                total_time_ns: U64::new(9_000_000_000),
                downtime_ns: U64::new(200_000_000),
                transferred: U64::new(5 << 30),
                normal_pages: U64::new(500_000),
                zero_pages: U64::new(24_288),
                text: text("the peer stopped answering"),
            }),
            Message::DomainEntry(DomainEntry {
                request: U32::new(5),
                index: U32::new(0),
                vcpus: U32::new(8),
                state: DomainListState::Active.into(),
                reserved: Reserved::ZERO,
                memory_bytes: U64::new(4 << 30),
                name: name("ldg1"),
            }),
            Message::FreeMemoryEntry(FreeMemoryEntry {
                request: U32::new(6),
                index: U32::new(1),
                pa: U64::new(0x4_0000_0000),
                size: U64::new(2 << 30),
            }),
            Message::ListEnd(ListEnd {
                request: U32::new(6),
                count: U32::new(2),
            }),
            Message::Error(ErrorReport::new(
                4,
                ErrorCode::CancelRefused,
                0,
                "the source already committed",
            )),
        ]
    }

    #[test]
    fn layouts_are_fixed() {
        assert_eq!(ENVELOPE_BYTES, 16);
        let expected = [
            (MessageKind::Hello, 8),
            (MessageKind::HelloAck, 8),
            (MessageKind::RingRegister, 48),
            (MessageKind::RingRegistered, 8),
            (MessageKind::Migrate, 160),
            (MessageKind::DryRun, 160),
            (MessageKind::Status, 72),
            (MessageKind::Cancel, 72),
            (MessageKind::ListDomains, 72),
            (MessageKind::ListFreeMemory, 72),
            (MessageKind::Accepted, 8),
            (MessageKind::Phase, 16),
            (MessageKind::Progress, 56),
            (MessageKind::Warning, 72),
            (MessageKind::Result, 120),
            (MessageKind::DomainEntry, 88),
            (MessageKind::FreeMemoryEntry, 24),
            (MessageKind::ListEnd, 8),
            (MessageKind::Error, 80),
        ];
        assert_eq!(MessageKind::ALL.len(), expected.len());
        for (kind, bytes) in expected {
            assert_eq!(body_bytes(kind), bytes, "{kind:?}");
            assert!(ENVELOPE_BYTES + bytes <= MAX_CONTROL_MESSAGE);
        }
        for raw in 1..=19u8 {
            assert_eq!(MessageKind::from_raw(raw).map(MessageKind::raw), Some(raw));
        }
        // The kind numbers, as the module docs list them.
        let numbers: Vec<u8> = samples()
            .iter()
            .map(|message| message.kind().raw())
            .collect();
        assert_eq!(numbers, (1..=19).collect::<Vec<u8>>());
    }

    #[test]
    fn every_enum_reserves_zero() {
        assert_eq!(MessageKind::from_raw(0), None);
        assert_eq!(MessageKind::from_raw(20), None);
        assert_eq!(Phase::from_raw(0), None);
        assert_eq!(WarningCode::from_raw(0), None);
        assert_eq!(ResultKind::from_raw(0), None);
        assert_eq!(SourceState::from_raw(0), None);
        assert_eq!(DomainListState::from_raw(0), None);
        assert_eq!(ErrorCode::from_raw(0), None);
    }

    #[test]
    fn every_message_round_trips_big_endian() {
        for message in samples() {
            let mut out = [0u8; MAX_CONTROL_MESSAGE];
            let length = encode(HEADER, &message, &mut out);
            assert_eq!(length, ENVELOPE_BYTES + body_bytes(message.kind()));
            assert_eq!(&out[..2], &[0x4c, 0x43]);
            assert_eq!(out[3], message.kind().raw());
            assert_eq!(&out[4..8], &[0x12, 0x34, 0x56, 0x78]);
            assert_eq!(&out[8..12], &[0, 0, 0, 42]);
            let decoded = decode(&out[..length]).expect("decodes");
            assert_eq!(decoded, (HEADER, message));
            assert_eq!(
                message.request().is_some(),
                message.kind().raw() > 4,
                "{message:?}"
            );
            assert_eq!(
                message.is_request(),
                (5..=10).contains(&message.kind().raw())
            );
        }
    }

    #[test]
    fn decoder_names_what_is_wrong() {
        let mut out = [0u8; MAX_CONTROL_MESSAGE];
        let message = Message::Accepted(Accepted::new(3));
        let length = encode(HEADER, &message, &mut out);
        assert_eq!(
            decode(&out[..10]),
            Err(DecodeError::Truncated {
                what: "control envelope",
                needed: 16,
                available: 10
            })
        );
        assert_eq!(
            decode(&[0u8; MAX_CONTROL_MESSAGE + 1]),
            Err(DecodeError::TooLong {
                what: "control message",
                length: MAX_CONTROL_MESSAGE + 1,
                max: MAX_CONTROL_MESSAGE
            })
        );
        assert_eq!(
            decode(&out[..length - 1]),
            Err(DecodeError::Length {
                what: "control message body",
                expected: 8,
                actual: 7
            })
        );
        let mut bad = out;
        bad[0] = 0;
        assert!(matches!(
            decode(&bad[..length]),
            Err(DecodeError::BadMagic { found: 0x0043, .. })
        ));
        let mut bad = out;
        bad[2] = 9;
        assert!(matches!(
            decode(&bad[..length]),
            Err(DecodeError::UnsupportedVersion { found: 9, .. })
        ));
        let reserved = DecodeError::ReservedNotZero { field: "reserved" };
        crate::wire::codec::assert_refusals(
            &out[..length],
            decode,
            &[
                (
                    3,
                    0,
                    DecodeError::InvalidEnum {
                        field: "kind",
                        value: 0,
                    },
                ),
                (15, 1, reserved),
                (ENVELOPE_BYTES + 7, 1, reserved),
            ],
        );

        let mut migrate = samples()[4];
        if let Message::Migrate(request) = &mut migrate {
            request.options.throttle_max = 100;
        }
        let length = encode(HEADER, &migrate, &mut out);
        assert_eq!(
            decode(&out[..length]),
            Err(DecodeError::InvalidValue {
                field: "throttle_max",
                value: 100
            })
        );
        // A name with bytes after its NUL, or invalid UTF-8, or empty.
        let length = encode(HEADER, &samples()[4], &mut out);
        let name_at = ENVELOPE_BYTES + 32;
        let text = DecodeError::InvalidText { field: "domain" };
        crate::wire::codec::assert_refusals(
            &out[..length],
            decode,
            &[(name_at + 10, b'x', text), (name_at, 0xff, text)],
        );
        let mut bad = out;
        bad[name_at..name_at + 4].fill(0);
        assert_eq!(
            decode(&bad[..length]),
            Err(DecodeError::InvalidValue {
                field: "domain",
                value: 0
            })
        );
    }

    #[test]
    fn seeded_fuzz_never_panics_and_accepts_only_valid_messages() {
        let seed = test_seed(0x1dc);
        println!("seed {seed}");
        let mut rng = SplitMix64::new(seed);
        let samples = samples();
        let mut accepted = 0;
        for round in 0..20_000u32 {
            let mut bytes = [0u8; MAX_CONTROL_MESSAGE + 8];
            let sample = &samples[round as usize % samples.len()];
            let mut encoded = [0u8; MAX_CONTROL_MESSAGE];
            let mut length = encode(HEADER, sample, &mut encoded);
            bytes[..length].copy_from_slice(&encoded[..length]);
            match rng.next_u64() % 4 {
                // Flip a few bytes of a valid message.
                0 | 1 => {
                    for _ in 0..1 + rng.next_u64() % 3 {
                        let at = (rng.next_u64() as usize) % length;
                        bytes[at] ^= 1 << (rng.next_u64() % 8);
                    }
                }
                // Cut or extend it.
                2 => length = (rng.next_u64() as usize) % bytes.len(),
                // Pure noise behind a valid envelope start.
                _ => {
                    rng.fill(&mut bytes[4..]);
                    length = (rng.next_u64() as usize) % bytes.len();
                }
            }
            if let Ok((header, message)) = decode(&bytes[..length]) {
                accepted += 1;
                // Whatever is accepted re-encodes to the same bytes.
                let mut again = [0u8; MAX_CONTROL_MESSAGE];
                let written = encode(header, &message, &mut again);
                assert_eq!(written, length, "seed {seed} round {round}");
                assert_eq!(
                    &again[..written],
                    &bytes[..length],
                    "seed {seed} round {round}"
                );
            }
        }
        // Single bit flips in numbers and names keep some messages valid.
        assert!(accepted > 0, "seed {seed}: nothing decoded");
    }
}
