//! The service domain's end of the UART: the sun4v console calls
//! (`CONS_WRITE`, `CONS_READ`), which the hypervisor answers with the bytes
//! the UART takes or has, as a [`SerialLine`] for the engine's serial link
//! (the two-machine run) and for the service domain's console text.
//!
//! A write goes on until every byte is out, the UART's pace being the
//! line's flow control, and gives up only when the UART took nothing for
//! [`STALL_LIMIT`] calls in a row (the far end stopped reading): so a
//! record the link writes is never cut by console text the service domain
//! writes next.

use ldmig::serial_link::{LineError, SerialLine};
use ldmig_hv::abi::cpu::{CONS_READ, CONS_WRITE};
use ldmig_hv::abi::error::{EOK, EWOULDBLOCK};
use ldmig_hv::trampoline::fast_trap;

/// `CONS_WRITE` calls in a row that take nothing before a write gives up.
pub const STALL_LIMIT: u32 = 10_000;

/// The console calls as a line.
#[derive(Debug, Default)]
pub struct ConsoleLine;

/// One console call on `bytes` (the service domain's memory: RA = its
/// address): the count moved, 0 for `EWOULDBLOCK`.
fn console_call(function: u64, address: u64, length: u64) -> Result<usize, LineError> {
    // The buffer lies in the service domain's memory and stays put for the
    // call; the hypervisor reads (CONS_WRITE) or writes (CONS_READ) at most
    // `length` bytes of it.
    // SAFETY: the caller passes a live buffer of `length` bytes.
    let call = unsafe { fast_trap(function, &[address, length]) };
    match call.status {
        EOK => Ok(call.rets[0] as usize),
        EWOULDBLOCK => Ok(0),
        status => Err(LineError::Device(status)),
    }
}

impl SerialLine for ConsoleLine {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, LineError> {
        let mut written = 0;
        let mut stalls = 0;
        while written < bytes.len() && stalls < STALL_LIMIT {
            let rest = &bytes[written..];
            let count = console_call(CONS_WRITE, rest.as_ptr() as u64, rest.len() as u64)?;
            written += count;
            stalls = if count == 0 { stalls + 1 } else { 0 };
        }
        Ok(written)
    }

    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, LineError> {
        console_call(CONS_READ, buffer.as_mut_ptr() as u64, buffer.len() as u64)
    }
}
