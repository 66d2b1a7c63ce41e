//! The console: the 16550 UART of `-M niagara` at `0x1f10000000` (byte
//! registers, no shift; hw/sparc64/niagara.c), written and read with
//! physical addresses as the hyperprivileged code runs with the MMU
//! bypassed. Text goes out waiting for the transmit register; the
//! `CONS_WRITE`/`CONS_READ` calls move bytes only while the UART takes or
//! has them (QEMU holds the transmit register busy while its character
//! device is blocked: that is the line's flow control).

use core::fmt;

/// Physical address of the UART's registers.
const UART_BASE: usize = crate::memory_map::UART_BASE as usize;
/// Transmit holding register (write), receive buffer register (read).
const THR: usize = 0;
/// FIFO control register (write).
const FCR: usize = 2;
/// FCR: FIFOs on, both cleared.
const FCR_ENABLE_AND_CLEAR: u8 = 0x07;
/// Line status register (read).
const LSR: usize = 5;
/// LSR bit: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 0x20;
/// LSR bit: a received byte waits.
const LSR_DATA_READY: u8 = 0x01;
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

    fn line_status() -> u8 {
        // UART_BASE + LSR is the 16550's line status register, mapped at
        // that physical address on this machine (the MMU is bypassed).
        // SAFETY: a device register; reading it has no side effect.
        unsafe { core::ptr::read_volatile((UART_BASE + LSR) as *const u8) }
    }

    fn transmit(byte: u8) {
        // UART_BASE + THR is the 16550's transmit register.
        // SAFETY: a byte store there sends the byte and touches no memory.
        unsafe { core::ptr::write_volatile((UART_BASE + THR) as *mut u8, byte) };
    }

    /// Waits (boundedly) for the transmit register; whether it is free.
    fn transmitter_ready() -> bool {
        (0..POLL_LIMIT).any(|_| Self::line_status() & LSR_THR_EMPTY != 0)
    }

    /// Sends one byte (after the bounded wait, whatever the UART says: a
    /// stuck status bit must not hang the verdict).
    pub fn put_byte(&mut self, byte: u8) {
        Self::transmitter_ready();
        Self::transmit(byte);
    }

    /// Sends one byte if the UART takes it within the bounded wait.
    pub fn try_put_byte(&mut self, byte: u8) -> bool {
        let ready = Self::transmitter_ready();
        if ready {
            Self::transmit(byte);
        }
        ready
    }

    /// A received byte, if one waits.
    pub fn try_get_byte(&mut self) -> Option<u8> {
        if Self::line_status() & LSR_DATA_READY == 0 {
            return None;
        }
        // UART_BASE + THR read is the receive buffer register: the byte.
        // SAFETY: a device register read; it takes the byte from the UART.
        Some(unsafe { core::ptr::read_volatile((UART_BASE + THR) as *const u8) })
    }

    /// Turns the UART's FIFOs on (16 bytes each way: QEMU then takes up
    /// to 16 received bytes from its character device at once).
    pub fn enable_fifos(&mut self) {
        // UART_BASE + FCR is the 16550's FIFO control register.
        // SAFETY: a device register write; it touches no memory.
        unsafe { core::ptr::write_volatile((UART_BASE + FCR) as *mut u8, FCR_ENABLE_AND_CLEAR) };
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for_terminal(text, |byte| self.put_byte(byte));
        Ok(())
    }
}

/// Gives `put` the bytes of `text` as a terminal wants them: `\r\n` for
/// every `\n`.
pub fn for_terminal(text: &str, mut put: impl FnMut(u8)) {
    for byte in text.bytes() {
        if byte == b'\n' {
            put(b'\r');
        }
        put(byte);
    }
}
