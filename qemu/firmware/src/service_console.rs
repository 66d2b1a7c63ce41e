//! The service domain's console: text goes out through the sun4v
//! `CONS_WRITE` hypercall (a privileged domain has no UART of its own;
//! [`ConsoleLine`]), a line at a time, every line prefixed with the
//! domain's name.

use crate::console_line::ConsoleLine;
use core::fmt;
use ldmig::serial_link::SerialLine;

/// Bytes a line can hold before it goes out anyway.
const LINE_BYTES: usize = 256;
/// What each line starts with.
const PREFIX: &[u8] = b"[primary] ";

/// A line-buffered writer over `CONS_WRITE`.
pub struct ServiceConsole {
    line: [u8; LINE_BYTES],
    length: usize,
}

impl ServiceConsole {
    /// An empty console.
    pub const fn new() -> Self {
        ServiceConsole {
            line: [0; LINE_BYTES],
            length: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.length == 0 {
            self.line[..PREFIX.len()].copy_from_slice(PREFIX);
            self.length = PREFIX.len();
        }
        self.line[self.length] = byte;
        self.length += 1;
        if byte == b'\n' || self.length == LINE_BYTES {
            self.flush();
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if self.length == 0 {
            return;
        }
        // Text nobody reads is dropped: the line is best effort here.
        let _ = ConsoleLine.write(&self.line[..self.length]);
        self.length = 0;
    }
}

impl Default for ServiceConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for ServiceConsole {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        crate::console::for_terminal(text, |byte| self.push(byte));
        Ok(())
    }
}
