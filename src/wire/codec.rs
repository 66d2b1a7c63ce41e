//! The one codec idiom every engine byte format is written in.
//!
//! A format is a big-endian `zerocopy` struct declared with
//! `wire_struct!`: its fields are big-endian integers (`U16`, `U32`,
//! `U64`, `u8`), wire enums ([`EnumField`], the enum declared with
//! `wire_enum!`, 0 always invalid), flag sets ([`FlagsField`] of a
//! `bitflags` type), NUL-padded UTF-8 text ([`Text`]) and explicit padding
//! ([`Reserved`], zero on the wire). The macro writes the struct's one
//! [`WireStruct::check`], so the struct that lies on the wire is the type
//! callers use: no second, "decoded" copy of it.
//!
//! Every decoder checks in one order and stops at the first failure:
//!
//! ```text
//! length bound -> magic -> version -> kind -> reserved fields -> field values -> CRC
//! ```
//!
//! - *length bound*: nothing is read before the input is known to hold it
//!   (and, where a format has a maximum, not to exceed it);
//! - *magic*, *version*, *kind*: the fields that say what the rest is
//!   (frame header, control envelope, page record's encoding), checked by
//!   the format's decoder with [`check_magic`], [`check_version`] and
//!   [`EnumField::checked`];
//! - *reserved fields* then *field values*: [`WireStruct::check`], made by
//!   `wire_struct!`: every [`Reserved`] field, then every enum, flag set
//!   and text, then the struct's own rules (ranges, fields that depend on
//!   each other) from its `validate` block;
//! - *CRC*, where the format has one, last.
//!
//! Every failure is a [`DecodeError`] that names what failed (the field
//! name as the struct spells it, the value found); nothing panics, whatever
//! the bytes. Encoders write into the caller's buffer and refuse a short
//! one with [`BufferTooSmall`].

use core::fmt;
use core::marker::PhantomData;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Why bytes are not a valid instance of a format. `what` names the
/// structure (a frame, a page record, a control message...), `field` the
/// field as its struct spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    Truncated {
        /// The structure.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// More bytes than the structure may have.
    TooLong {
        /// The structure.
        what: &'static str,
        /// Bytes declared or present.
        length: usize,
        /// Most accepted.
        max: usize,
    },
    /// A fixed-size structure of another size.
    Length {
        /// The structure.
        what: &'static str,
        /// Its size.
        expected: usize,
        /// Bytes declared or present.
        actual: usize,
    },
    /// The magic number is not the format's.
    BadMagic {
        /// The structure.
        what: &'static str,
        /// The format's magic.
        expected: u32,
        /// The magic found.
        found: u32,
    },
    /// A version this code does not read.
    UnsupportedVersion {
        /// The structure.
        what: &'static str,
        /// The version found.
        found: u16,
        /// Oldest version read.
        oldest: u16,
        /// Newest version read.
        newest: u16,
    },
    /// A wire enum value that names no variant (0 never does).
    InvalidEnum {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// Flag bits outside the flag set.
    UnknownFlags {
        /// The field.
        field: &'static str,
        /// The bits found.
        bits: u64,
    },
    /// A reserved field that is not zero.
    ReservedNotZero {
        /// The field.
        field: &'static str,
    },
    /// A text that is not UTF-8, holds a control character, or has bytes
    /// after its first NUL.
    InvalidText {
        /// The field.
        field: &'static str,
    },
    /// A value outside what the format allows for the field.
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// Compressed data that does not decompress.
    Decompress {
        /// The field.
        field: &'static str,
        /// What the decompressor found wrong.
        reason: &'static str,
    },
    /// A CRC32 that does not match the bytes it covers.
    CrcMismatch {
        /// The field holding the CRC.
        field: &'static str,
        /// The CRC the bytes carry.
        expected: u32,
        /// The CRC computed.
        actual: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "{what} truncated: needs {needed} bytes, {available} there"
            ),
            DecodeError::TooLong { what, length, max } => {
                write!(f, "{what} of {length} bytes exceeds the {max}-byte bound")
            }
            DecodeError::Length {
                what,
                expected,
                actual,
            } => write!(f, "{what} of {actual} bytes where {expected} are expected"),
            DecodeError::BadMagic {
                what,
                expected,
                found,
            } => write!(f, "bad {what} magic {found:#x} (expected {expected:#x})"),
            DecodeError::UnsupportedVersion {
                what,
                found,
                oldest,
                newest,
            } => write!(
                f,
                "{what} version {found} not supported (reads {oldest} to {newest})"
            ),
            DecodeError::InvalidEnum { field, value } => {
                write!(f, "field {field}: {value} names no value")
            }
            DecodeError::UnknownFlags { field, bits } => {
                write!(f, "field {field}: unknown flag bits {bits:#x}")
            }
            DecodeError::ReservedNotZero { field } => {
                write!(f, "reserved field {field} is not zero")
            }
            DecodeError::InvalidText { field } => write!(
                f,
                "field {field}: not NUL-padded UTF-8 text without control characters"
            ),
            DecodeError::InvalidValue { field, value } => {
                write!(f, "field {field}: value {value:#x} not allowed")
            }
            DecodeError::Decompress { field, reason } => {
                write!(f, "field {field}: malformed LZ4 block ({reason})")
            }
            DecodeError::CrcMismatch {
                field,
                expected,
                actual,
            } => write!(
                f,
                "{field} mismatch: carried {expected:#010x}, computed {actual:#010x}"
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

/// The caller's buffer cannot hold what is being encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes the buffer has.
    pub available: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer of {} bytes where {} are needed",
            self.available, self.needed
        )
    }
}

impl core::error::Error for BufferTooSmall {}

/// Checks a format's magic number.
pub fn check_magic(what: &'static str, expected: u32, found: u32) -> Result<(), DecodeError> {
    if found == expected {
        Ok(())
    } else {
        Err(DecodeError::BadMagic {
            what,
            expected,
            found,
        })
    }
}

/// Checks that `found` is in `oldest..=newest` (the current and the
/// previous versions a format still reads).
pub fn check_version(
    what: &'static str,
    found: u16,
    oldest: u16,
    newest: u16,
) -> Result<(), DecodeError> {
    if (oldest..=newest).contains(&found) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion {
            what,
            found,
            oldest,
            newest,
        })
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on
/// a character boundary.
pub fn prefix_within(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

// ---- integers and enums -------------------------------------------------

/// An integer width a wire enum or flag set is carried in, with its
/// big-endian wire type.
pub trait WireInt: Copy + Into<u64> {
    /// The big-endian, unaligned type on the wire.
    type BigEndian: FromBytes + IntoBytes + Immutable + KnownLayout + Unaligned + Copy + Eq;
    /// To the wire.
    fn to_big_endian(self) -> Self::BigEndian;
    /// From the wire.
    fn from_big_endian(wire: Self::BigEndian) -> Self;
}

impl WireInt for u8 {
    type BigEndian = u8;
    fn to_big_endian(self) -> u8 {
        self
    }
    fn from_big_endian(wire: u8) -> u8 {
        wire
    }
}

impl WireInt for u16 {
    type BigEndian = U16;
    fn to_big_endian(self) -> U16 {
        U16::new(self)
    }
    fn from_big_endian(wire: U16) -> u16 {
        wire.get()
    }
}

impl WireInt for u32 {
    type BigEndian = U32;
    fn to_big_endian(self) -> U32 {
        U32::new(self)
    }
    fn from_big_endian(wire: U32) -> u32 {
        wire.get()
    }
}

/// An enum declared with `wire_enum!`: numbered from 1, 0 invalid.
pub trait WireEnum: Copy + Eq + fmt::Debug + 'static {
    /// The integer it is carried in.
    type Repr: WireInt;
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// The variant numbered `raw`; `None` for 0 and unknown numbers.
    fn from_repr(raw: Self::Repr) -> Option<Self>;
    /// Its number.
    fn repr(self) -> Self::Repr;
}

/// Declares a wire enum: a `#[repr]` enum whose variants carry explicit
/// numbers, none of them 0 (a variant numbered 0 does not compile), with
/// `from_raw`/`raw`, `ALL` and [`WireEnum`].
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ty {
            $($(#[$variant_meta:meta])* $variant:ident = $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant = $value,)+
        }

        // 0 is reserved as invalid in every wire enum.
        const _: () = {
            $(assert!(
                $value != 0,
                concat!(stringify!($name), "::", stringify!($variant), " is numbered 0")
            );)+
        };

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The variant numbered `raw`; `None` for 0 and unknown numbers.
            pub const fn from_raw(raw: $repr) -> Option<Self> {
                match raw {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Its number on the wire.
            pub const fn raw(self) -> $repr {
                self as $repr
            }
        }

        impl $crate::wire::codec::WireEnum for $name {
            type Repr = $repr;
            const ALL: &'static [Self] = $name::ALL;
            fn from_repr(raw: $repr) -> Option<Self> {
                $name::from_raw(raw)
            }
            fn repr(self) -> $repr {
                self.raw()
            }
        }
    };
}
pub(crate) use wire_enum;

/// A wire enum as it lies in a struct: its number, big-endian. Any bytes
/// read into it; [`WireStruct::check`] refuses a number that names no
/// variant.
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(transparent)]
pub struct EnumField<E: WireEnum>(<E::Repr as WireInt>::BigEndian, PhantomData<E>);

impl<E: WireEnum> EnumField<E> {
    /// `value` as it goes on the wire.
    pub fn new(value: E) -> Self {
        EnumField(value.repr().to_big_endian(), PhantomData)
    }

    /// The number as it lies on the wire.
    pub fn raw(self) -> E::Repr {
        E::Repr::from_big_endian(self.0)
    }

    /// The variant; `None` for a number that names none (never after a
    /// successful decode).
    pub fn get(self) -> Option<E> {
        E::from_repr(self.raw())
    }

    /// The variant, or the error naming `field`.
    pub fn checked(self, field: &'static str) -> Result<E, DecodeError> {
        self.get().ok_or(DecodeError::InvalidEnum {
            field,
            value: self.raw().into(),
        })
    }
}

impl<E: WireEnum> From<E> for EnumField<E> {
    fn from(value: E) -> Self {
        EnumField::new(value)
    }
}

impl<E: WireEnum> PartialEq<E> for EnumField<E> {
    fn eq(&self, other: &E) -> bool {
        self.get() == Some(*other)
    }
}

impl<E: WireEnum> fmt::Debug for EnumField<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(value) => write!(f, "{value:?}"),
            None => {
                let raw: u64 = self.raw().into();
                write!(f, "invalid({raw})")
            }
        }
    }
}

/// A `bitflags` set as it lies in a struct, big-endian. Any bytes read
/// into it; [`WireStruct::check`] refuses bits outside the set.
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(transparent)]
pub struct FlagsField<F: bitflags::Flags>(<F::Bits as WireInt>::BigEndian, PhantomData<F>)
where
    F::Bits: WireInt;

impl<F: bitflags::Flags> FlagsField<F>
where
    F::Bits: WireInt,
{
    /// `flags` as they go on the wire.
    pub fn new(flags: F) -> Self {
        FlagsField(flags.bits().to_big_endian(), PhantomData)
    }

    /// The bits as they lie on the wire.
    pub fn bits(&self) -> F::Bits {
        F::Bits::from_big_endian(self.0)
    }

    /// The flags; `None` when a bit outside the set is on (never after a
    /// successful decode).
    pub fn get(&self) -> Option<F> {
        F::from_bits(self.bits())
    }
}

impl<F: bitflags::Flags> From<F> for FlagsField<F>
where
    F::Bits: WireInt,
{
    fn from(flags: F) -> Self {
        FlagsField::new(flags)
    }
}

impl<F: bitflags::Flags> fmt::Debug for FlagsField<F>
where
    F::Bits: WireInt,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits: u64 = self.bits().into();
        write!(f, "{bits:#x}")
    }
}

// ---- padding and text ---------------------------------------------------

/// `N` bytes of explicit padding: zero on the wire, checked zero on decode.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(transparent)]
pub struct Reserved<const N: usize>([u8; N]);

impl<const N: usize> Default for Reserved<N> {
    fn default() -> Self {
        Reserved::ZERO
    }
}

impl<const N: usize> Reserved<N> {
    /// Zero, as every encoder writes it.
    pub const ZERO: Self = Reserved([0; N]);
}

/// UTF-8 text in `N` bytes, NUL padded. Built cut to fit at a character
/// boundary, control characters written as `?` (texts end up on
/// terminals); decoded strictly: UTF-8, no control character, nothing but
/// NULs after the first NUL.
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(transparent)]
pub struct Text<const N: usize>([u8; N]);

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Text::EMPTY
    }
}

impl<const N: usize> Text<N> {
    /// The empty text.
    pub const EMPTY: Self = Text([0; N]);

    /// `text`, cut to `N` bytes at a character boundary.
    pub fn new(text: &str) -> Self {
        let mut bytes = [0u8; N];
        let mut at = 0;
        for character in text.chars() {
            let character = if character.is_control() {
                '?'
            } else {
                character
            };
            let mut utf8 = [0u8; 4];
            let encoded = character.encode_utf8(&mut utf8).as_bytes();
            let Some(room) = bytes.get_mut(at..at + encoded.len()) else {
                break;
            };
            room.copy_from_slice(encoded);
            at += encoded.len();
        }
        Text(bytes)
    }

    /// What `value` displays as, cut to fit.
    pub fn display(value: &dyn fmt::Display) -> Self {
        let mut writer = TextWriter {
            text: Text::EMPTY,
            length: 0,
        };
        // The writer cuts instead of failing.
        let _ = fmt::write(&mut writer, format_args!("{value}"));
        writer.text
    }

    /// The text (up to its first NUL; for bytes that never passed a
    /// check, the valid UTF-8 prefix of that).
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&byte| byte == 0).unwrap_or(N);
        let text = &self.0[..end];
        match core::str::from_utf8(text) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&text[..error.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// True for the empty text.
    pub fn is_empty(&self) -> bool {
        self.0.first().is_none_or(|&byte| byte == 0)
    }

    /// The text, or the error naming `field` when its bytes are not a
    /// valid text.
    pub fn checked(&self, field: &'static str) -> Result<&str, DecodeError> {
        let invalid = DecodeError::InvalidText { field };
        let end = self.0.iter().position(|&byte| byte == 0).unwrap_or(N);
        let (text, padding) = self.0.split_at(end);
        if padding.iter().any(|&byte| byte != 0) {
            return Err(invalid);
        }
        let text = core::str::from_utf8(text).map_err(|_utf8| invalid)?;
        if text.chars().any(char::is_control) {
            return Err(invalid);
        }
        Ok(text)
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq<str> for Text<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for Text<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Formats into a [`Text`], cutting what does not fit.
struct TextWriter<const N: usize> {
    text: Text<N>,
    length: usize,
}

impl<const N: usize> fmt::Write for TextWriter<N> {
    fn write_str(&mut self, part: &str) -> fmt::Result {
        let rest = Text::<N>::new(part);
        let rest = prefix_within(rest.as_str(), N - self.length);
        self.text.0[self.length..self.length + rest.len()].copy_from_slice(rest.as_bytes());
        self.length += rest.len();
        Ok(())
    }
}

// ---- structs -------------------------------------------------------------

/// A field of a `wire_struct!` struct: what its check looks at.
pub trait WireField {
    /// The reserved-field pass: fails when a reserved field is not zero.
    fn check_reserved(&self, field: &'static str) -> Result<(), DecodeError> {
        let _ = field;
        Ok(())
    }

    /// The field-value pass: fails when an enum, flag set or text is not
    /// valid.
    fn check_value(&self, field: &'static str) -> Result<(), DecodeError> {
        let _ = field;
        Ok(())
    }
}

impl WireField for u8 {}
impl WireField for U16 {}
impl WireField for U32 {}
impl WireField for U64 {}

impl<const N: usize> WireField for Reserved<N> {
    fn check_reserved(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.0.iter().all(|&byte| byte == 0) {
            Ok(())
        } else {
            Err(DecodeError::ReservedNotZero { field })
        }
    }
}

impl<const N: usize> WireField for Text<N> {
    fn check_value(&self, field: &'static str) -> Result<(), DecodeError> {
        self.checked(field).map(|_| ())
    }
}

impl<E: WireEnum> WireField for EnumField<E> {
    fn check_value(&self, field: &'static str) -> Result<(), DecodeError> {
        self.checked(field).map(|_| ())
    }
}

impl<F: bitflags::Flags> WireField for FlagsField<F>
where
    F::Bits: WireInt,
{
    fn check_value(&self, field: &'static str) -> Result<(), DecodeError> {
        match self.get() {
            Some(_) => Ok(()),
            None => Err(DecodeError::UnknownFlags {
                field,
                bits: self.bits().into(),
            }),
        }
    }
}

/// A fixed-layout, big-endian struct on the wire, with its check.
pub trait WireStruct: FromBytes + IntoBytes + Immutable + KnownLayout + Copy {
    /// What errors call it.
    const NAME: &'static str;
    /// Its size on the wire.
    const BYTES: usize = core::mem::size_of::<Self>();

    /// Checks a struct read from the wire: reserved fields, then field
    /// values, then the struct's own rules.
    fn check(&self) -> Result<(), DecodeError>;

    /// The struct in exactly `bytes`, checked.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() != Self::BYTES {
            return Err(DecodeError::Length {
                what: Self::NAME,
                expected: Self::BYTES,
                actual: bytes.len(),
            });
        }
        let (value, _) = Self::decode_prefix(bytes)?;
        Ok(value)
    }

    /// The struct at the start of `bytes`, checked, and the bytes after it.
    fn decode_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        let truncated = DecodeError::Truncated {
            what: Self::NAME,
            needed: Self::BYTES,
            available: bytes.len(),
        };
        let (value, rest) = Self::read_from_prefix(bytes).map_err(|_short| truncated)?;
        value.check()?;
        Ok((value, rest))
    }

    /// Writes the struct at the start of `out`; returns its size.
    fn encode_into(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let bytes = self.as_bytes();
        let available = out.len();
        let target = out.get_mut(..bytes.len()).ok_or(BufferTooSmall {
            needed: bytes.len(),
            available,
        })?;
        target.copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

/// Declares a wire struct: `#[repr(C)]`, `zerocopy`, big-endian fields
/// (see the module docs), and its [`WireStruct`] impl whose `check` runs
/// every field's reserved check, then every field's value check, then the
/// optional `validate(this) { ... }` block (the struct's own rules, a
/// `Result<(), DecodeError>`).
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $type:ty,)+
        }
        $(validate($this:ident) $validate:block)?
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout,
        )]
        #[repr(C)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $type,)+
        }

        impl $crate::wire::codec::WireStruct for $name {
            const NAME: &'static str = stringify!($name);

            fn check(&self) -> Result<(), $crate::wire::codec::DecodeError> {
                use $crate::wire::codec::WireField as _;
                $(self.$field.check_reserved(stringify!($field))?;)+
                $(self.$field.check_value(stringify!($field))?;)+
                $({
                    let $this = self;
                    $validate?;
                })?
                Ok(())
            }
        }
    };
}
pub(crate) use wire_struct;

/// Test helper: each `(at, byte, error)` sets `good[at] = byte` and checks
/// that `decode` refuses the result with exactly `error`.
#[cfg(test)]
pub(crate) fn assert_refusals<T: fmt::Debug>(
    good: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
    cases: &[(usize, u8, DecodeError)],
) {
    for &(at, byte, error) in cases {
        let mut bad = good.to_vec();
        bad[at] = byte;
        assert_eq!(
            decode(&bad).err(),
            Some(error),
            "byte {at} set to {byte:#x}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    bitflags::bitflags! {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        struct TestFlags: u16 {
            const ONE = 1;
            const TWO = 2;
        }
    }

    wire_enum! {
        /// A test enum.
        enum Colour: u16 {
            /// Red.
            Red = 1,
            /// Blue.
            Blue = 7,
        }
    }

    wire_struct! {
        /// A struct of every field type.
        struct Sample {
            number: U32,
            colour: EnumField<Colour>,
            flags: FlagsField<TestFlags>,
            reserved: Reserved<2>,
            name: Text<6>,
            count: u8,
            reserved2: Reserved<1>,
        }
        validate(sample) {
            if sample.count > 9 {
                Err(DecodeError::InvalidValue { field: "count", value: u64::from(sample.count) })
            } else {
                Ok(())
            }
        }
    }

    fn sample() -> Sample {
        Sample {
            number: 0x0102_0304.into(),
            colour: Colour::Blue.into(),
            flags: TestFlags::TWO.into(),
            reserved: Reserved::ZERO,
            name: Text::new("ldg1"),
            count: 3,
            reserved2: Reserved::ZERO,
        }
    }

    #[test]
    fn a_struct_is_its_bytes_big_endian() {
        assert_eq!(Sample::BYTES, 18);
        let bytes = sample().as_bytes().to_vec();
        assert_eq!(
            bytes,
            [1, 2, 3, 4, 0, 7, 0, 2, 0, 0, b'l', b'd', b'g', b'1', 0, 0, 3, 0]
        );
        assert_eq!(Sample::decode(&bytes), Ok(sample()));
        let mut out = [0u8; 20];
        assert_eq!(sample().encode_into(&mut out), Ok(18));
        assert_eq!(
            sample().encode_into(&mut out[..17]),
            Err(BufferTooSmall {
                needed: 18,
                available: 17
            })
        );
    }

    #[test]
    fn checks_run_in_the_one_order_and_name_the_field() {
        let good = sample().as_bytes().to_vec();
        assert_eq!(
            Sample::decode(&good[..17]),
            Err(DecodeError::Length {
                what: "Sample",
                expected: 18,
                actual: 17
            })
        );
        assert!(matches!(
            Sample::decode_prefix(&good[..17]),
            Err(DecodeError::Truncated { needed: 18, .. })
        ));
        // A bad enum and a reserved byte set: the reserved pass comes first.
        let mut bad = good.clone();
        bad[5] = 0;
        bad[17] = 1;
        assert_eq!(
            Sample::decode(&bad),
            Err(DecodeError::ReservedNotZero { field: "reserved2" })
        );
        let text = DecodeError::InvalidText { field: "name" };
        assert_refusals(
            &good,
            Sample::decode,
            &[
                (
                    5,
                    0,
                    DecodeError::InvalidEnum {
                        field: "colour",
                        value: 0,
                    },
                ),
                (
                    7,
                    4,
                    DecodeError::UnknownFlags {
                        field: "flags",
                        bits: 4,
                    },
                ),
                // Invalid UTF-8, then a byte after the NUL.
                (13, 0xff, text),
                (15, b'x', text),
                (
                    16,
                    10,
                    DecodeError::InvalidValue {
                        field: "count",
                        value: 10,
                    },
                ),
            ],
        );
    }

    #[test]
    fn wire_enums_reserve_zero_and_round_trip() {
        assert_eq!(Colour::from_raw(0), None);
        assert_eq!(Colour::from_raw(2), None);
        for colour in Colour::ALL {
            assert_eq!(Colour::from_raw(colour.raw()), Some(*colour));
        }
        let field = EnumField::new(Colour::Red);
        assert_eq!(field, Colour::Red);
        assert_eq!(field.get(), Some(Colour::Red));
        assert_eq!(std::format!("{field:?}"), "Red");
        let zero: EnumField<Colour> = zerocopy::FromZeros::new_zeroed();
        assert_eq!(zero.get(), None);
        assert_eq!(std::format!("{zero:?}"), "invalid(0)");
    }

    #[test]
    fn texts_are_cut_at_a_character_boundary_and_checked_strictly() {
        let long = "é".repeat(40);
        assert_eq!(Text::<64>::new(&long).as_str().len(), 64);
        let odd = std::format!("a{long}");
        assert_eq!(Text::<64>::new(&odd).as_str().len(), 63);
        assert_eq!(Text::<8>::new("a\nb").as_str(), "a?b");
        assert_eq!(Text::<8>::new("ldg1"), "ldg1");
        assert!(Text::<8>::EMPTY.is_empty());
        assert_eq!(Text::<8>::EMPTY.checked("t"), Ok(""));
        assert_eq!(Text::<4>::display(&12345).as_str(), "1234");
        assert_eq!(Text::<5>::display(&"é".repeat(3)).as_str(), "éé");
        let invalid = Text::<3>::read_from_bytes(&[b'o', 0xff, b'k']).expect("3 bytes");
        assert_eq!(invalid.as_str(), "o");
        assert_eq!(
            invalid.checked("t"),
            Err(DecodeError::InvalidText { field: "t" })
        );
        let control = Text::<3>::read_from_bytes(&[b'o', 7, 0]).expect("3 bytes");
        assert!(control.checked("t").is_err());
        assert_eq!(prefix_within("aé", 2), "a");
    }

    #[test]
    fn envelope_checks_and_errors_display() {
        assert_eq!(check_magic("frame", 1, 1), Ok(()));
        assert!(check_magic("frame", 1, 2).is_err());
        assert_eq!(check_version("frame", 2, 1, 2), Ok(()));
        assert!(check_version("frame", 3, 1, 2).is_err());
        assert!(check_version("frame", 0, 1, 2).is_err());
        let error = DecodeError::ReservedNotZero { field: "reserved" };
        assert!(std::format!("{error}").contains("reserved"));
    }
}
