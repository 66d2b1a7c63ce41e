//! Text written with `core::fmt` into a fixed buffer (no heap): a check's
//! note, the verdict's list of failures. Longer text is cut at a character
//! boundary.

use core::fmt;

/// Up to `N` bytes of text.
#[derive(Clone, Debug)]
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    length: usize,
}

impl<const N: usize> FixedText<N> {
    /// Empty text.
    pub const fn new() -> Self {
        FixedText {
            bytes: [0; N],
            length: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `str`s are copied in (cut at a char boundary), so
        // this never fails; an empty text is the fallback all the same.
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("")
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedText<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = N - self.length;
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.length..self.length + take].copy_from_slice(&text.as_bytes()[..take]);
        self.length += take;
        Ok(())
    }
}
