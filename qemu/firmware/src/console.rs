//! The console: the 16550 UART of `-M niagara` at `0x1f10000000` (byte
//! registers, no shift; hw/sparc64/niagara.c), written with physical
//! addresses as the hyperprivileged code runs with the MMU bypassed.

use core::fmt;

/// Physical address of the UART's registers.
const UART_BASE: usize = crate::memory_map::UART_BASE as usize;
/// Transmit holding register (write).
const THR: usize = 0;
/// Line status register (read).
const LSR: usize = 5;
/// LSR bit: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 0x20;
/// How many times to poll LSR before writing anyway (QEMU's UART is always
/// ready; a stuck bit must not hang the verdict).
const POLL_LIMIT: u32 = 100_000;

/// Writes text to the UART; `\n` goes out as `\r\n`.
#[derive(Debug, Default)]
pub struct Console {
    _private: (),
}

impl Console {
    /// The console (the UART needs no set-up for output under QEMU).
    pub const fn new() -> Self {
        Console { _private: () }
    }

    /// Sends one byte.
    pub fn put_byte(&mut self, byte: u8) {
        for _ in 0..POLL_LIMIT {
            // UART_BASE + LSR is the 16550's line status register, mapped at
            // that physical address on this machine (the MMU is bypassed).
            // SAFETY: a device register; reading it has no side effect.
            let status = unsafe { core::ptr::read_volatile((UART_BASE + LSR) as *const u8) };
            if status & LSR_THR_EMPTY != 0 {
                break;
            }
        }
        // UART_BASE + THR is the 16550's transmit register.
        // SAFETY: a byte store there sends the byte and touches no memory.
        unsafe { core::ptr::write_volatile((UART_BASE + THR) as *mut u8, byte) };
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.put_byte(b'\r');
            }
            self.put_byte(byte);
        }
        Ok(())
    }
}
