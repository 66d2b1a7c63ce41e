//! The control messages on the wire: a 16-byte envelope and one fixed,
//! big-endian body per kind (`zerocopy`), typed on decode. Every enum
//! reserves 0; every reserved field must be 0; names and texts are UTF-8,
//! NUL padded; the decoder bounds every length before use and never panics.
//!
//! ```text
//! envelope (16 bytes)
//!   magic u16 = 0x4c43 "LC" | version u8 | kind u8 | session u32
//!   | sequence u32 | body length u16 | reserved u16
//! bodies (bytes)
//!   1 Hello 8            oldest u8 | newest u8 | reserved 6
//!   2 HelloAck 8         version u8 | reserved 3 | max frame bytes u32
//!   3 RingRegister 48    generation u32 | entries u16 | descriptor bytes u16
//!                        | slot bytes u32 | reserved u32 | transmit ring cookie u64
//!                        | receive ring cookie u64 | transmit oldest u64 | receive next u64
//!   4 RingRegistered 8   generation u32 | reserved u32
//!   5 Migrate, 6 DryRun 160  request u32 | downtime limit ms u32 | max rounds u32
//!                        | max time s u32 | max bandwidth u64 | throttle max u8
//!                        | reserved 7 | domain [64] | target domain [64]
//!   7 Status, 8 Cancel, 9 ListDomains, 10 ListFreeMemory 72
//!                        request u32 | reserved u32 | domain [64]
//!  11 Accepted 8         request u32 | reserved u32
//!  12 Phase 16           request u32 | phase u8 | reserved 3 | round u32 | reserved u32
//!  13 Progress 56        request u32 | phase u8 | percent u8 | throttle u8 | reserved u8
//!                        | rounds u32 | reserved u32 | transferred u64 | remaining u64
//!                        | total u64 | bandwidth u64 | expected downtime ns u64
//!  14 Warning 72         request u32 | code u16 | reserved u16 | text [64]
//!  15 Result 120         request u32 | kind u8 | source u8 | reason u16 | rounds u32
//!                        | reserved u32 | total time ns u64 | downtime ns u64
//!                        | transferred u64 | normal pages u64 | zero pages u64 | text [64]
//!  16 DomainEntry 88     request u32 | index u32 | vcpus u32 | state u8 | reserved 3
//!                        | memory bytes u64 | name [64]
//!  17 FreeMemoryEntry 24 request u32 | index u32 | pa u64 | size u64
//!  18 ListEnd 8          request u32 | count u32
//!  19 Error 80           request u32 | code u16 | reserved u16 | detail u64 | text [64]
//! ```

use core::fmt;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::precopy::SourceDomainState;
use crate::stats::MigrationStatus;

/// The control-protocol version this code writes.
pub const CONTROL_VERSION: u8 = 1;
/// The oldest version it still reads.
pub const OLDEST_CONTROL_VERSION: u8 = 1;
/// "LC" in ASCII.
pub const ENVELOPE_MAGIC: u16 = 0x4c43;
/// Bytes of the envelope.
pub const ENVELOPE_BYTES: usize = 16;
/// Largest control message (envelope and body): fits one LDC message.
pub const MAX_CONTROL_MESSAGE: usize = 256;
/// Bytes of a domain name.
pub const NAME_BYTES: usize = 64;
/// Bytes of a text.
pub const TEXT_BYTES: usize = 64;

/// A domain name (at most [`NAME_BYTES`] bytes of UTF-8).
pub type Name = heapless::String<NAME_BYTES>;
/// A human-readable text (at most [`TEXT_BYTES`] bytes of UTF-8).
pub type Text = heapless::String<TEXT_BYTES>;

/// `text` cut to at most `N` bytes at a character boundary.
pub fn bounded<const N: usize>(text: &str) -> heapless::String<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut bounded = heapless::String::new();
    // Cannot fail: at most N bytes.
    let _ = bounded.push_str(&text[..end]);
    bounded
}

/// The envelope as it lies on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Envelope {
    /// [`ENVELOPE_MAGIC`].
    pub magic: U16,
    /// Control-protocol version.
    pub version: u8,
    /// [`MessageKind`] as a byte.
    pub kind: u8,
    /// The sender's session id.
    pub session: U32,
    /// The sender's message number in the session, from 1.
    pub sequence: U32,
    /// Body bytes after the envelope.
    pub length: U16,
    /// Zero.
    pub reserved: U16,
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

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident : $raw:ty { $($(#[$vmeta:meta])* $variant:ident = $value:expr,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($raw)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Parses the wire value; `None` for 0 and unknown values.
            pub fn from_raw(raw: $raw) -> Option<Self> {
                match raw {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire value.
            pub fn raw(self) -> $raw {
                self as $raw
            }
        }
    };
}

wire_enum! {
    /// What a control message is. 0 is reserved as invalid.
    MessageKind: u8 {
        /// Shim to engine: the versions it speaks (starts a session).
        Hello = 1,
        /// Engine to shim: the version chosen.
        HelloAck = 2,
        /// Engine to shim: where its rings are.
        RingRegister = 3,
        /// Shim to engine: registration taken.
        RingRegistered = 4,
        /// Request: migrate a domain with options.
        Migrate = 5,
        /// Request: check a migration without doing it.
        DryRun = 6,
        /// Request: where the running migration stands.
        Status = 7,
        /// Request: cancel the running migration.
        Cancel = 8,
        /// Request: the domains of this machine.
        ListDomains = 9,
        /// Request: the free memory ranges of this machine.
        ListFreeMemory = 10,
        /// Event: a request was accepted.
        Accepted = 11,
        /// Event: the migration entered a phase.
        Phase = 12,
        /// Event: progress of the migration.
        Progress = 13,
        /// Event: something the administrator should know.
        Warning = 14,
        /// Event: how a migration or dry run ended, with statistics.
        Result = 15,
        /// Event: one domain of a list.
        DomainEntry = 16,
        /// Event: one free memory range of a list.
        FreeMemoryEntry = 17,
        /// Event: the end of a list.
        ListEnd = 18,
        /// A request failed.
        Error = 19,
    }
}

wire_enum! {
    /// Where a migration stands (QEMU-like, as [`MigrationStatus`]).
    Phase: u8 {
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

impl From<MigrationStatus> for Phase {
    fn from(status: MigrationStatus) -> Self {
        match status {
            MigrationStatus::Setup => Phase::Setup,
            MigrationStatus::Active => Phase::PreCopy,
            MigrationStatus::Switchover => Phase::Switchover,
            MigrationStatus::Committing => Phase::Committing,
            MigrationStatus::Completed => Phase::Completed,
            MigrationStatus::Cancelled => Phase::Cancelled,
            MigrationStatus::Failed => Phase::Failed,
        }
    }
}

wire_enum! {
    /// What a warning is about.
    WarningCode: u16 {
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
    ResultKind: u8 {
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
    SourceState: u8 {
        /// Running on the source.
        Running = 1,
        /// Stopped in the error state (check the target).
        ErrorState = 2,
        /// Torn down: it runs on the target.
        Gone = 3,
    }
}

impl From<SourceDomainState> for SourceState {
    fn from(state: SourceDomainState) -> Self {
        match state {
            SourceDomainState::Running => SourceState::Running,
            SourceDomainState::ErrorState => SourceState::ErrorState,
            SourceDomainState::Gone => SourceState::Gone,
        }
    }
}

wire_enum! {
    /// A domain's state in a list.
    DomainState: u8 {
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
    ErrorCode: u16 {
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

/// Session start: the control-protocol versions the shim speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Oldest.
    pub oldest: u8,
    /// Newest.
    pub newest: u8,
}

/// The engine's answer to [`Hello`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloAck {
    /// The version both speak (the newest in common).
    pub version: u8,
    /// Largest frame the engine's rings carry.
    pub max_frame_bytes: u32,
}

/// Where the engine's rings are and where each direction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRegistration {
    /// Counts registrations of this engine (one per Hello).
    pub generation: u32,
    /// Descriptors per ring.
    pub entries: u32,
    /// Bytes per slot.
    pub slot_bytes: u32,
    /// Cookie of the engine-to-shim ring's first descriptor.
    pub transmit_ring: u64,
    /// Cookie of the shim-to-engine ring's first descriptor.
    pub receive_ring: u64,
    /// The oldest engine-to-shim frame not yet reclaimed.
    pub transmit_oldest: u64,
    /// The next shim-to-engine frame the engine will take.
    pub receive_next: u64,
}

/// The shim took a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRegistered {
    /// The registration's generation.
    pub generation: u32,
}

/// Limits of a migration; 0 means "the engine's default".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Longest acceptable downtime in milliseconds.
    pub downtime_limit_ms: u32,
    /// Pre-copy rounds before giving up.
    pub max_rounds: u32,
    /// Seconds before giving up on a pre-copy that does not converge.
    pub max_time_s: u32,
    /// Bandwidth cap in bytes per second during pre-copy.
    pub max_bandwidth: u64,
    /// Highest vCPU throttle in percent (at most 99).
    pub throttle_max: u8,
}

/// Migrate (or dry-run) a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateRequest {
    /// Request id, chosen by the shim, echoed in every event about it.
    pub request: u32,
    /// The domain here.
    pub domain: Name,
    /// Its name on the target (empty: the same name).
    pub target_domain: Name,
    /// Limits.
    pub options: MigrateOptions,
}

/// A request about a domain (or, with an empty name, the machine or the
/// running migration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRequest {
    /// Request id.
    pub request: u32,
    /// The domain, or empty.
    pub domain: Name,
}

/// The migration entered a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseEvent {
    /// The migrate request.
    pub request: u32,
    /// The phase.
    pub phase: Phase,
    /// The pre-copy round at that moment.
    pub round: u32,
}

/// Progress of a migration (also the answer to Status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The request answered (migrate or status).
    pub request: u32,
    /// Phase.
    pub phase: Phase,
    /// Percent done (0-100).
    pub percent: u8,
    /// vCPU throttle in percent (0-99).
    pub throttle_percent: u8,
    /// Pre-copy rounds done.
    pub rounds: u32,
    /// Bytes sent.
    pub transferred: u64,
    /// Bytes of memory still dirty.
    pub remaining: u64,
    /// Bytes of memory.
    pub total: u64,
    /// Measured bandwidth in bytes per second.
    pub bandwidth: u64,
    /// Expected downtime at the last sync.
    pub expected_downtime_ns: u64,
}

/// Something the administrator should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The request it is about.
    pub request: u32,
    /// What about.
    pub code: WarningCode,
    /// The words.
    pub text: Text,
}

/// How a migration or dry run ended, with its statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationResult {
    /// The migrate or dry-run request.
    pub request: u32,
    /// How it ended.
    pub kind: ResultKind,
    /// Where the source domain is.
    pub source: SourceState,
    /// [`crate::protocol::StopReason`] number of a failure, or 0.
    pub reason: u16,
    /// Pre-copy rounds.
    pub rounds: u32,
    /// Total time.
    pub total_time_ns: u64,
    /// Downtime.
    pub downtime_ns: u64,
    /// Bytes sent.
    pub transferred: u64,
    /// Non-zero pages sent.
    pub normal_pages: u64,
    /// Zero pages sent.
    pub zero_pages: u64,
    /// The outcome in words.
    pub text: Text,
}

/// One domain of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainEntry {
    /// The list request.
    pub request: u32,
    /// Position in the list, from 0.
    pub index: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// State.
    pub state: DomainState,
    /// Bytes of memory.
    pub memory_bytes: u64,
    /// Name.
    pub name: Name,
}

/// One free memory range of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeMemoryEntry {
    /// The list request.
    pub request: u32,
    /// Position in the list, from 0.
    pub index: u32,
    /// Physical address.
    pub pa: u64,
    /// Bytes.
    pub size: u64,
}

/// The end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListEnd {
    /// The list request.
    pub request: u32,
    /// Entries sent.
    pub count: u32,
}

/// A request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    /// The request (0 when it could not be read).
    pub request: u32,
    /// Why.
    pub code: ErrorCode,
    /// A number that helps (a version, a hypervisor status...), or 0.
    pub detail: u64,
    /// The words.
    pub text: Text,
}

/// A control message, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// See [`MessageKind::Hello`].
    Hello(Hello),
    /// See [`MessageKind::HelloAck`].
    HelloAck(HelloAck),
    /// See [`MessageKind::RingRegister`].
    RingRegister(RingRegistration),
    /// See [`MessageKind::RingRegistered`].
    RingRegistered(RingRegistered),
    /// See [`MessageKind::Migrate`].
    Migrate(MigrateRequest),
    /// See [`MessageKind::DryRun`].
    DryRun(MigrateRequest),
    /// See [`MessageKind::Status`].
    Status(DomainRequest),
    /// See [`MessageKind::Cancel`].
    Cancel(DomainRequest),
    /// See [`MessageKind::ListDomains`].
    ListDomains(DomainRequest),
    /// See [`MessageKind::ListFreeMemory`].
    ListFreeMemory(DomainRequest),
    /// See [`MessageKind::Accepted`]: the request id.
    Accepted(u32),
    /// See [`MessageKind::Phase`].
    Phase(PhaseEvent),
    /// See [`MessageKind::Progress`].
    Progress(Progress),
    /// See [`MessageKind::Warning`].
    Warning(Warning),
    /// See [`MessageKind::Result`].
    Result(MigrationResult),
    /// See [`MessageKind::DomainEntry`].
    DomainEntry(DomainEntry),
    /// See [`MessageKind::FreeMemoryEntry`].
    FreeMemoryEntry(FreeMemoryEntry),
    /// See [`MessageKind::ListEnd`].
    ListEnd(ListEnd),
    /// See [`MessageKind::Error`].
    Error(ErrorReport),
}

impl Message {
    /// Its kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Hello(_) => MessageKind::Hello,
            Message::HelloAck(_) => MessageKind::HelloAck,
            Message::RingRegister(_) => MessageKind::RingRegister,
            Message::RingRegistered(_) => MessageKind::RingRegistered,
            Message::Migrate(_) => MessageKind::Migrate,
            Message::DryRun(_) => MessageKind::DryRun,
            Message::Status(_) => MessageKind::Status,
            Message::Cancel(_) => MessageKind::Cancel,
            Message::ListDomains(_) => MessageKind::ListDomains,
            Message::ListFreeMemory(_) => MessageKind::ListFreeMemory,
            Message::Accepted(_) => MessageKind::Accepted,
            Message::Phase(_) => MessageKind::Phase,
            Message::Progress(_) => MessageKind::Progress,
            Message::Warning(_) => MessageKind::Warning,
            Message::Result(_) => MessageKind::Result,
            Message::DomainEntry(_) => MessageKind::DomainEntry,
            Message::FreeMemoryEntry(_) => MessageKind::FreeMemoryEntry,
            Message::ListEnd(_) => MessageKind::ListEnd,
            Message::Error(_) => MessageKind::Error,
        }
    }

    /// The request a request or event is about (`None` for session messages).
    pub fn request(&self) -> Option<u32> {
        Some(match self {
            Message::Hello(_)
            | Message::HelloAck(_)
            | Message::RingRegister(_)
            | Message::RingRegistered(_) => return None,
            Message::Migrate(request) | Message::DryRun(request) => request.request,
            Message::Status(request)
            | Message::Cancel(request)
            | Message::ListDomains(request)
            | Message::ListFreeMemory(request) => request.request,
            Message::Accepted(request) => *request,
            Message::Phase(event) => event.request,
            Message::Progress(event) => event.request,
            Message::Warning(event) => event.request,
            Message::Result(event) => event.request,
            Message::DomainEntry(event) => event.request,
            Message::FreeMemoryEntry(event) => event.request,
            Message::ListEnd(event) => event.request,
            Message::Error(event) => event.request,
        })
    }

    /// Whether the shim sends it to the engine.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::Migrate(_)
                | Message::DryRun(_)
                | Message::Status(_)
                | Message::Cancel(_)
                | Message::ListDomains(_)
                | Message::ListFreeMemory(_)
        )
    }
}

/// Why bytes are not a control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than an envelope.
    Truncated(usize),
    /// More bytes than [`MAX_CONTROL_MESSAGE`].
    TooLong(usize),
    /// The magic is not "LC".
    BadMagic(u16),
    /// A version this code does not read.
    UnsupportedVersion(u8),
    /// A kind byte that names no kind.
    UnknownKind(u8),
    /// The body length is not the kind's, or not what follows.
    Length {
        /// The kind.
        kind: MessageKind,
        /// Its body size.
        expected: usize,
        /// What the envelope says or what follows.
        actual: usize,
    },
    /// A field outside its values (reserved bits set, unknown enum value,
    /// bad name...).
    Field(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated(length) => {
                write!(
                    f,
                    "{length} bytes: shorter than the {ENVELOPE_BYTES}-byte envelope"
                )
            }
            DecodeError::TooLong(length) => {
                write!(f, "{length} bytes: longer than {MAX_CONTROL_MESSAGE}")
            }
            DecodeError::BadMagic(magic) => write!(f, "bad magic {magic:#06x}"),
            DecodeError::UnsupportedVersion(version) => {
                write!(f, "control-protocol version {version} not supported")
            }
            DecodeError::UnknownKind(kind) => write!(f, "unknown message kind {kind}"),
            DecodeError::Length {
                kind,
                expected,
                actual,
            } => write!(
                f,
                "{kind:?} body of {actual} bytes where {expected} are expected"
            ),
            DecodeError::Field(name) => write!(f, "field {name} has an invalid value"),
        }
    }
}

// ---- wire bodies -------------------------------------------------------

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct HelloWire {
    oldest: u8,
    newest: u8,
    reserved: [u8; 6],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct HelloAckWire {
    version: u8,
    reserved: [u8; 3],
    max_frame_bytes: U32,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct RingRegisterWire {
    generation: U32,
    entries: U16,
    descriptor_bytes: U16,
    slot_bytes: U32,
    reserved: U32,
    transmit_ring: U64,
    receive_ring: U64,
    transmit_oldest: U64,
    receive_next: U64,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct PairWire {
    first: U32,
    second: U32,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct MigrateWire {
    request: U32,
    downtime_limit_ms: U32,
    max_rounds: U32,
    max_time_s: U32,
    max_bandwidth: U64,
    throttle_max: u8,
    reserved: [u8; 7],
    domain: [u8; NAME_BYTES],
    target_domain: [u8; NAME_BYTES],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct DomainRequestWire {
    request: U32,
    reserved: U32,
    domain: [u8; NAME_BYTES],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct PhaseWire {
    request: U32,
    phase: u8,
    reserved: [u8; 3],
    round: U32,
    reserved2: U32,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct ProgressWire {
    request: U32,
    phase: u8,
    percent: u8,
    throttle: u8,
    reserved: u8,
    rounds: U32,
    reserved2: U32,
    transferred: U64,
    remaining: U64,
    total: U64,
    bandwidth: U64,
    expected_downtime_ns: U64,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct WarningWire {
    request: U32,
    code: U16,
    reserved: U16,
    text: [u8; TEXT_BYTES],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct ResultWire {
    request: U32,
    kind: u8,
    source: u8,
    reason: U16,
    rounds: U32,
    reserved: U32,
    total_time_ns: U64,
    downtime_ns: U64,
    transferred: U64,
    normal_pages: U64,
    zero_pages: U64,
    text: [u8; TEXT_BYTES],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct DomainEntryWire {
    request: U32,
    index: U32,
    vcpus: U32,
    state: u8,
    reserved: [u8; 3],
    memory_bytes: U64,
    name: [u8; NAME_BYTES],
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct FreeMemoryEntryWire {
    request: U32,
    index: U32,
    pa: U64,
    size: U64,
}

#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct ErrorWire {
    request: U32,
    code: U16,
    reserved: U16,
    detail: U64,
    text: [u8; TEXT_BYTES],
}

/// Body bytes of each kind.
pub fn body_bytes(kind: MessageKind) -> usize {
    use core::mem::size_of;
    match kind {
        MessageKind::Hello => size_of::<HelloWire>(),
        MessageKind::HelloAck => size_of::<HelloAckWire>(),
        MessageKind::RingRegister => size_of::<RingRegisterWire>(),
        MessageKind::RingRegistered | MessageKind::Accepted | MessageKind::ListEnd => {
            size_of::<PairWire>()
        }
        MessageKind::Migrate | MessageKind::DryRun => size_of::<MigrateWire>(),
        MessageKind::Status
        | MessageKind::Cancel
        | MessageKind::ListDomains
        | MessageKind::ListFreeMemory => size_of::<DomainRequestWire>(),
        MessageKind::Phase => size_of::<PhaseWire>(),
        MessageKind::Progress => size_of::<ProgressWire>(),
        MessageKind::Warning => size_of::<WarningWire>(),
        MessageKind::Result => size_of::<ResultWire>(),
        MessageKind::DomainEntry => size_of::<DomainEntryWire>(),
        MessageKind::FreeMemoryEntry => size_of::<FreeMemoryEntryWire>(),
        MessageKind::Error => size_of::<ErrorWire>(),
    }
}

/// `text` as `N` NUL-padded bytes, control characters replaced by `?`
/// (the decoder refuses them: names and texts end up on terminals).
fn text_bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut bytes = [0u8; N];
    let mut at = 0;
    for character in bounded::<N>(text).chars() {
        let character = if character.is_control() {
            '?'
        } else {
            character
        };
        let mut utf8 = [0u8; 4];
        let encoded = character.encode_utf8(&mut utf8).as_bytes();
        bytes[at..at + encoded.len()].copy_from_slice(encoded);
        at += encoded.len();
    }
    bytes
}

fn parse_text<const N: usize>(
    bytes: &[u8; N],
    field: &'static str,
) -> Result<heapless::String<N>, DecodeError> {
    let length = bytes.iter().position(|&byte| byte == 0).unwrap_or(N);
    let (text, padding) = bytes.split_at(length);
    if padding.iter().any(|&byte| byte != 0) {
        return Err(DecodeError::Field(field));
    }
    let text = core::str::from_utf8(text).map_err(|_| DecodeError::Field(field))?;
    if text.chars().any(char::is_control) {
        return Err(DecodeError::Field(field));
    }
    Ok(bounded::<N>(text))
}

fn zero<T: IntoBytes + Immutable>(field: &T, name: &'static str) -> Result<(), DecodeError> {
    if field.as_bytes().iter().all(|&byte| byte == 0) {
        Ok(())
    } else {
        Err(DecodeError::Field(name))
    }
}

fn parse<T: FromBytes + KnownLayout + Immutable>(body: &[u8]) -> Result<T, DecodeError> {
    T::read_from_bytes(body).map_err(|_| DecodeError::Field("body"))
}

fn put<T: IntoBytes + Immutable>(body: &T, out: &mut [u8]) -> usize {
    let bytes = body.as_bytes();
    out[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

fn pair(first: u32, second: u32) -> PairWire {
    PairWire {
        first: U32::new(first),
        second: U32::new(second),
    }
}

fn encode_body(message: &Message, out: &mut [u8]) -> usize {
    match message {
        Message::Hello(hello) => put(
            &HelloWire {
                oldest: hello.oldest,
                newest: hello.newest,
                reserved: [0; 6],
            },
            out,
        ),
        Message::HelloAck(ack) => put(
            &HelloAckWire {
                version: ack.version,
                reserved: [0; 3],
                max_frame_bytes: U32::new(ack.max_frame_bytes),
            },
            out,
        ),
        Message::RingRegister(ring) => put(
            &RingRegisterWire {
                generation: U32::new(ring.generation),
                entries: U16::new(ring.entries.min(u32::from(u16::MAX)) as u16),
                descriptor_bytes: U16::new(super::super::ring::DESCRIPTOR_BYTES as u16),
                slot_bytes: U32::new(ring.slot_bytes),
                reserved: U32::new(0),
                transmit_ring: U64::new(ring.transmit_ring),
                receive_ring: U64::new(ring.receive_ring),
                transmit_oldest: U64::new(ring.transmit_oldest),
                receive_next: U64::new(ring.receive_next),
            },
            out,
        ),
        Message::RingRegistered(registered) => put(&pair(registered.generation, 0), out),
        Message::Migrate(request) | Message::DryRun(request) => put(
            &MigrateWire {
                request: U32::new(request.request),
                downtime_limit_ms: U32::new(request.options.downtime_limit_ms),
                max_rounds: U32::new(request.options.max_rounds),
                max_time_s: U32::new(request.options.max_time_s),
                max_bandwidth: U64::new(request.options.max_bandwidth),
                throttle_max: request.options.throttle_max,
                reserved: [0; 7],
                domain: text_bytes(&request.domain),
                target_domain: text_bytes(&request.target_domain),
            },
            out,
        ),
        Message::Status(request)
        | Message::Cancel(request)
        | Message::ListDomains(request)
        | Message::ListFreeMemory(request) => put(
            &DomainRequestWire {
                request: U32::new(request.request),
                reserved: U32::new(0),
                domain: text_bytes(&request.domain),
            },
            out,
        ),
        Message::Accepted(request) => put(&pair(*request, 0), out),
        Message::Phase(event) => put(
            &PhaseWire {
                request: U32::new(event.request),
                phase: event.phase.raw(),
                reserved: [0; 3],
                round: U32::new(event.round),
                reserved2: U32::new(0),
            },
            out,
        ),
        Message::Progress(event) => put(
            &ProgressWire {
                request: U32::new(event.request),
                phase: event.phase.raw(),
                percent: event.percent,
                throttle: event.throttle_percent,
                reserved: 0,
                rounds: U32::new(event.rounds),
                reserved2: U32::new(0),
                transferred: U64::new(event.transferred),
                remaining: U64::new(event.remaining),
                total: U64::new(event.total),
                bandwidth: U64::new(event.bandwidth),
                expected_downtime_ns: U64::new(event.expected_downtime_ns),
            },
            out,
        ),
        Message::Warning(event) => put(
            &WarningWire {
                request: U32::new(event.request),
                code: U16::new(event.code.raw()),
                reserved: U16::new(0),
                text: text_bytes(&event.text),
            },
            out,
        ),
        Message::Result(event) => put(
            &ResultWire {
                request: U32::new(event.request),
                kind: event.kind.raw(),
                source: event.source.raw(),
                reason: U16::new(event.reason),
                rounds: U32::new(event.rounds),
                reserved: U32::new(0),
                total_time_ns: U64::new(event.total_time_ns),
                downtime_ns: U64::new(event.downtime_ns),
                transferred: U64::new(event.transferred),
                normal_pages: U64::new(event.normal_pages),
                zero_pages: U64::new(event.zero_pages),
                text: text_bytes(&event.text),
            },
            out,
        ),
        Message::DomainEntry(entry) => put(
            &DomainEntryWire {
                request: U32::new(entry.request),
                index: U32::new(entry.index),
                vcpus: U32::new(entry.vcpus),
                state: entry.state.raw(),
                reserved: [0; 3],
                memory_bytes: U64::new(entry.memory_bytes),
                name: text_bytes(&entry.name),
            },
            out,
        ),
        Message::FreeMemoryEntry(entry) => put(
            &FreeMemoryEntryWire {
                request: U32::new(entry.request),
                index: U32::new(entry.index),
                pa: U64::new(entry.pa),
                size: U64::new(entry.size),
            },
            out,
        ),
        Message::ListEnd(end) => put(&pair(end.request, end.count), out),
        Message::Error(report) => put(
            &ErrorWire {
                request: U32::new(report.request),
                code: U16::new(report.code.raw()),
                reserved: U16::new(0),
                detail: U64::new(report.detail),
                text: text_bytes(&report.text),
            },
            out,
        ),
    }
}

/// Writes `message` with `header` into `out`; returns the bytes used.
pub fn encode(header: Header, message: &Message, out: &mut [u8; MAX_CONTROL_MESSAGE]) -> usize {
    let kind = message.kind();
    let length = body_bytes(kind);
    let envelope = Envelope {
        magic: U16::new(ENVELOPE_MAGIC),
        version: header.version,
        kind: kind.raw(),
        session: U32::new(header.session),
        sequence: U32::new(header.sequence),
        length: U16::new(length as u16),
        reserved: U16::new(0),
    };
    out[..ENVELOPE_BYTES].copy_from_slice(envelope.as_bytes());
    let written = encode_body(message, &mut out[ENVELOPE_BYTES..]);
    ENVELOPE_BYTES + written
}

/// Reads the envelope: checks size bounds, magic, version, kind and that
/// the body length is the kind's and is what follows.
pub fn decode_header(bytes: &[u8]) -> Result<(Header, MessageKind, &[u8]), DecodeError> {
    if bytes.len() > MAX_CONTROL_MESSAGE {
        return Err(DecodeError::TooLong(bytes.len()));
    }
    let (envelope, body) =
        Envelope::read_from_prefix(bytes).map_err(|_| DecodeError::Truncated(bytes.len()))?;
    if envelope.magic.get() != ENVELOPE_MAGIC {
        return Err(DecodeError::BadMagic(envelope.magic.get()));
    }
    if !(OLDEST_CONTROL_VERSION..=CONTROL_VERSION).contains(&envelope.version) {
        return Err(DecodeError::UnsupportedVersion(envelope.version));
    }
    let kind =
        MessageKind::from_raw(envelope.kind).ok_or(DecodeError::UnknownKind(envelope.kind))?;
    zero(&envelope.reserved, "envelope reserved")?;
    let expected = body_bytes(kind);
    let declared = usize::from(envelope.length.get());
    if declared != expected || body.len() != expected {
        return Err(DecodeError::Length {
            kind,
            expected,
            actual: if declared != expected {
                declared
            } else {
                body.len()
            },
        });
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

fn domain_request(body: &[u8]) -> Result<DomainRequest, DecodeError> {
    let wire: DomainRequestWire = parse(body)?;
    zero(&wire.reserved, "reserved")?;
    Ok(DomainRequest {
        request: wire.request.get(),
        domain: parse_text(&wire.domain, "domain")?,
    })
}

fn migrate_request(body: &[u8]) -> Result<MigrateRequest, DecodeError> {
    let wire: MigrateWire = parse(body)?;
    zero(&wire.reserved, "reserved")?;
    if wire.throttle_max > 99 {
        return Err(DecodeError::Field("throttle max"));
    }
    let domain = parse_text(&wire.domain, "domain")?;
    if domain.is_empty() {
        return Err(DecodeError::Field("domain"));
    }
    let target_domain = parse_text(&wire.target_domain, "target domain")?;
    Ok(MigrateRequest {
        request: wire.request.get(),
        domain,
        target_domain,
        options: MigrateOptions {
            downtime_limit_ms: wire.downtime_limit_ms.get(),
            max_rounds: wire.max_rounds.get(),
            max_time_s: wire.max_time_s.get(),
            max_bandwidth: wire.max_bandwidth.get(),
            throttle_max: wire.throttle_max,
        },
    })
}

/// Decodes a body of `kind` (exactly its size): every enum, reserved field,
/// name and bound checked.
pub fn decode_body(kind: MessageKind, body: &[u8]) -> Result<Message, DecodeError> {
    Ok(match kind {
        MessageKind::Hello => {
            let wire: HelloWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            if wire.oldest == 0 || wire.oldest > wire.newest {
                return Err(DecodeError::Field("versions"));
            }
            Message::Hello(Hello {
                oldest: wire.oldest,
                newest: wire.newest,
            })
        }
        MessageKind::HelloAck => {
            let wire: HelloAckWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            if wire.version == 0 {
                return Err(DecodeError::Field("version"));
            }
            Message::HelloAck(HelloAck {
                version: wire.version,
                max_frame_bytes: wire.max_frame_bytes.get(),
            })
        }
        MessageKind::RingRegister => {
            let wire: RingRegisterWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            let entries = u32::from(wire.entries.get());
            super::super::ring::RingGeometry::new(entries, wire.slot_bytes.get())
                .map_err(|_| DecodeError::Field("ring geometry"))?;
            if usize::from(wire.descriptor_bytes.get()) != super::super::ring::DESCRIPTOR_BYTES {
                return Err(DecodeError::Field("descriptor bytes"));
            }
            let cookie_ok = |cookie: u64| cookie != 0 && cookie.is_multiple_of(8);
            if !cookie_ok(wire.transmit_ring.get()) || !cookie_ok(wire.receive_ring.get()) {
                return Err(DecodeError::Field("ring cookie"));
            }
            Message::RingRegister(RingRegistration {
                generation: wire.generation.get(),
                entries,
                slot_bytes: wire.slot_bytes.get(),
                transmit_ring: wire.transmit_ring.get(),
                receive_ring: wire.receive_ring.get(),
                transmit_oldest: wire.transmit_oldest.get(),
                receive_next: wire.receive_next.get(),
            })
        }
        MessageKind::RingRegistered => {
            let wire: PairWire = parse(body)?;
            zero(&wire.second, "reserved")?;
            Message::RingRegistered(RingRegistered {
                generation: wire.first.get(),
            })
        }
        MessageKind::Migrate => Message::Migrate(migrate_request(body)?),
        MessageKind::DryRun => Message::DryRun(migrate_request(body)?),
        MessageKind::Status => Message::Status(domain_request(body)?),
        MessageKind::Cancel => Message::Cancel(domain_request(body)?),
        MessageKind::ListDomains => Message::ListDomains(domain_request(body)?),
        MessageKind::ListFreeMemory => Message::ListFreeMemory(domain_request(body)?),
        MessageKind::Accepted => {
            let wire: PairWire = parse(body)?;
            zero(&wire.second, "reserved")?;
            Message::Accepted(wire.first.get())
        }
        MessageKind::Phase => {
            let wire: PhaseWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            zero(&wire.reserved2, "reserved")?;
            Message::Phase(PhaseEvent {
                request: wire.request.get(),
                phase: Phase::from_raw(wire.phase).ok_or(DecodeError::Field("phase"))?,
                round: wire.round.get(),
            })
        }
        MessageKind::Progress => {
            let wire: ProgressWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            zero(&wire.reserved2, "reserved")?;
            if wire.percent > 100 {
                return Err(DecodeError::Field("percent"));
            }
            if wire.throttle > 99 {
                return Err(DecodeError::Field("throttle"));
            }
            Message::Progress(Progress {
                request: wire.request.get(),
                phase: Phase::from_raw(wire.phase).ok_or(DecodeError::Field("phase"))?,
                percent: wire.percent,
                throttle_percent: wire.throttle,
                rounds: wire.rounds.get(),
                transferred: wire.transferred.get(),
                remaining: wire.remaining.get(),
                total: wire.total.get(),
                bandwidth: wire.bandwidth.get(),
                expected_downtime_ns: wire.expected_downtime_ns.get(),
            })
        }
        MessageKind::Warning => {
            let wire: WarningWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            Message::Warning(Warning {
                request: wire.request.get(),
                code: WarningCode::from_raw(wire.code.get())
                    .ok_or(DecodeError::Field("warning code"))?,
                text: parse_text(&wire.text, "text")?,
            })
        }
        MessageKind::Result => {
            let wire: ResultWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            if wire.reason != 0
                && crate::protocol::StopReason::from_raw(wire.reason.get()).is_none()
            {
                return Err(DecodeError::Field("reason"));
            }
            Message::Result(MigrationResult {
                request: wire.request.get(),
                kind: ResultKind::from_raw(wire.kind).ok_or(DecodeError::Field("result kind"))?,
                source: SourceState::from_raw(wire.source)
                    .ok_or(DecodeError::Field("source state"))?,
                reason: wire.reason.get(),
                rounds: wire.rounds.get(),
                total_time_ns: wire.total_time_ns.get(),
                downtime_ns: wire.downtime_ns.get(),
                transferred: wire.transferred.get(),
                normal_pages: wire.normal_pages.get(),
                zero_pages: wire.zero_pages.get(),
                text: parse_text(&wire.text, "text")?,
            })
        }
        MessageKind::DomainEntry => {
            let wire: DomainEntryWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            let name = parse_text(&wire.name, "name")?;
            if name.is_empty() {
                return Err(DecodeError::Field("name"));
            }
            Message::DomainEntry(DomainEntry {
                request: wire.request.get(),
                index: wire.index.get(),
                vcpus: wire.vcpus.get(),
                state: DomainState::from_raw(wire.state)
                    .ok_or(DecodeError::Field("domain state"))?,
                memory_bytes: wire.memory_bytes.get(),
                name,
            })
        }
        MessageKind::FreeMemoryEntry => {
            let wire: FreeMemoryEntryWire = parse(body)?;
            Message::FreeMemoryEntry(FreeMemoryEntry {
                request: wire.request.get(),
                index: wire.index.get(),
                pa: wire.pa.get(),
                size: wire.size.get(),
            })
        }
        MessageKind::ListEnd => {
            let wire: PairWire = parse(body)?;
            Message::ListEnd(ListEnd {
                request: wire.first.get(),
                count: wire.second.get(),
            })
        }
        MessageKind::Error => {
            let wire: ErrorWire = parse(body)?;
            zero(&wire.reserved, "reserved")?;
            Message::Error(ErrorReport {
                request: wire.request.get(),
                code: ErrorCode::from_raw(wire.code.get())
                    .ok_or(DecodeError::Field("error code"))?,
                detail: wire.detail.get(),
                text: parse_text(&wire.text, "text")?,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use ldmig_sim::rng::{test_seed, SplitMix64};
    use std::vec::Vec;

    const HEADER: Header = Header {
        version: CONTROL_VERSION,
        session: 0x1234_5678,
        sequence: 42,
    };

    /// One message of every kind, with non-trivial values.
    pub(crate) fn samples() -> Vec<Message> {
        let name = |text: &str| bounded::<NAME_BYTES>(text);
        let text = |words: &str| bounded::<TEXT_BYTES>(words);
        vec![
            Message::Hello(Hello {
                oldest: 1,
                newest: 3,
            }),
            Message::HelloAck(HelloAck {
                version: 1,
                max_frame_bytes: 256 << 10,
            }),
            Message::RingRegister(RingRegistration {
                generation: 7,
                entries: 8,
                slot_bytes: 256 << 10,
                transmit_ring: 0x2000,
                receive_ring: 0x4000,
                transmit_oldest: 99,
                receive_next: 12,
            }),
            Message::RingRegistered(RingRegistered { generation: 7 }),
            Message::Migrate(MigrateRequest {
                request: 1,
                domain: name("ldg1"),
                target_domain: name("ldg1-copy"),
                options: MigrateOptions {
                    downtime_limit_ms: 300,
                    max_rounds: 30,
                    max_time_s: 600,
                    max_bandwidth: 1 << 30,
                    throttle_max: 99,
                },
            }),
            Message::DryRun(MigrateRequest {
                request: 2,
                domain: name("ldg2"),
                target_domain: name("ldg2"),
                options: MigrateOptions::default(),
            }),
            Message::Status(DomainRequest {
                request: 3,
                domain: name(""),
            }),
            Message::Cancel(DomainRequest {
                request: 4,
                domain: name("ldg1"),
            }),
            Message::ListDomains(DomainRequest {
                request: 5,
                domain: name(""),
            }),
            Message::ListFreeMemory(DomainRequest {
                request: 6,
                domain: name(""),
            }),
            Message::Accepted(1),
            Message::Phase(PhaseEvent {
                request: 1,
                phase: Phase::PreCopy,
                round: 2,
            }),
            Message::Progress(Progress {
                request: 1,
                phase: Phase::Switchover,
                percent: 97,
                throttle_percent: 30,
                rounds: 4,
                transferred: 1 << 33,
                remaining: 4096,
                total: 1 << 32,
                bandwidth: 125_000_000,
                expected_downtime_ns: 12_000_000,
            }),
            Message::Warning(Warning {
                request: 1,
                code: WarningCode::CryptoUnits,
                text: text("2 of 4 crypto units added back"),
            }),
            Message::Result(MigrationResult {
                request: 1,
                kind: ResultKind::Failed,
                source: SourceState::ErrorState,
                reason: 7,
                rounds: 5,
                total_time_ns: 9_000_000_000,
                downtime_ns: 200_000_000,
                transferred: 5 << 30,
                normal_pages: 500_000,
                zero_pages: 24_288,
                text: text("the peer stopped answering"),
            }),
            Message::DomainEntry(DomainEntry {
                request: 5,
                index: 0,
                vcpus: 8,
                state: DomainState::Active,
                memory_bytes: 4 << 30,
                name: name("ldg1"),
            }),
            Message::FreeMemoryEntry(FreeMemoryEntry {
                request: 6,
                index: 1,
                pa: 0x4_0000_0000,
                size: 2 << 30,
            }),
            Message::ListEnd(ListEnd {
                request: 6,
                count: 2,
            }),
            Message::Error(ErrorReport {
                request: 4,
                code: ErrorCode::CancelRefused,
                detail: 0,
                text: text("the source already committed"),
            }),
        ]
    }

    #[test]
    fn layouts_are_fixed() {
        assert_eq!(size_of::<Envelope>(), ENVELOPE_BYTES);
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
        for (kind, bytes) in expected {
            assert_eq!(body_bytes(kind), bytes, "{kind:?}");
            assert!(ENVELOPE_BYTES + bytes <= MAX_CONTROL_MESSAGE);
        }
        for raw in 1..=19u8 {
            assert!(MessageKind::from_raw(raw).is_some());
        }
    }

    #[test]
    fn every_enum_reserves_zero() {
        assert_eq!(MessageKind::from_raw(0), None);
        assert_eq!(MessageKind::from_raw(20), None);
        assert_eq!(Phase::from_raw(0), None);
        assert_eq!(WarningCode::from_raw(0), None);
        assert_eq!(ResultKind::from_raw(0), None);
        assert_eq!(SourceState::from_raw(0), None);
        assert_eq!(DomainState::from_raw(0), None);
        assert_eq!(ErrorCode::from_raw(0), None);
        assert_eq!(Phase::from(MigrationStatus::Active), Phase::PreCopy);
        assert_eq!(
            SourceState::from(SourceDomainState::ErrorState),
            SourceState::ErrorState
        );
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
        }
    }

    #[test]
    fn decoder_names_what_is_wrong() {
        let mut out = [0u8; MAX_CONTROL_MESSAGE];
        let message = Message::Accepted(3);
        let length = encode(HEADER, &message, &mut out);
        assert_eq!(decode(&out[..10]), Err(DecodeError::Truncated(10)));
        assert_eq!(
            decode(&[0u8; MAX_CONTROL_MESSAGE + 1]),
            Err(DecodeError::TooLong(MAX_CONTROL_MESSAGE + 1))
        );
        assert_eq!(
            decode(&out[..length - 1]),
            Err(DecodeError::Length {
                kind: MessageKind::Accepted,
                expected: 8,
                actual: 7
            })
        );
        let mut bad = out;
        bad[0] = 0;
        assert_eq!(decode(&bad[..length]), Err(DecodeError::BadMagic(0x0043)));
        let mut bad = out;
        bad[2] = 9;
        assert_eq!(
            decode(&bad[..length]),
            Err(DecodeError::UnsupportedVersion(9))
        );
        let mut bad = out;
        bad[3] = 0;
        assert_eq!(decode(&bad[..length]), Err(DecodeError::UnknownKind(0)));
        let mut bad = out;
        bad[ENVELOPE_BYTES + 7] = 1;
        assert_eq!(decode(&bad[..length]), Err(DecodeError::Field("reserved")));

        let mut migrate = samples()[4].clone();
        if let Message::Migrate(request) = &mut migrate {
            request.options.throttle_max = 100;
        }
        let length = encode(HEADER, &migrate, &mut out);
        assert_eq!(
            decode(&out[..length]),
            Err(DecodeError::Field("throttle max"))
        );
        // A name with bytes after its NUL, or invalid UTF-8.
        let length = encode(HEADER, &samples()[4], &mut out);
        let name_at = ENVELOPE_BYTES + 32;
        let mut bad = out;
        bad[name_at + 10] = b'x';
        assert_eq!(decode(&bad[..length]), Err(DecodeError::Field("domain")));
        let mut bad = out;
        bad[name_at] = 0xff;
        assert_eq!(decode(&bad[..length]), Err(DecodeError::Field("domain")));
    }

    #[test]
    fn names_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40);
        let name = bounded::<NAME_BYTES>(&long);
        assert_eq!(name.len(), 64);
        let odd = format!("a{long}");
        assert_eq!(bounded::<NAME_BYTES>(&odd).len(), 63);
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
