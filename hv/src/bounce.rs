//! Bounce buffers for [`crate::sun4v::Sun4v`] (sparc64 only): the sun4v ABI
//! wants every buffer RA 8-byte aligned (`EBADALIGN` otherwise, hv/API.md),
//! but the `Hypervisor` traits take plain byte slices, which may start
//! anywhere — a raw page record inside a frame, a decoder's scratch page,
//! a `VcpuState` field of an engine. An aligned slice goes to the
//! hypervisor as it is; any other is staged through an aligned buffer on
//! the stack, a page at a time (so a call on a slice longer than a page
//! becomes several calls, the earlier ones done if a later one fails).

use crate::HvError;

/// Bytes staged per call: one 8 KiB page.
pub const BOUNCE_BYTES: usize = 8192;
/// The alignment the ABI wants.
const ALIGNMENT: usize = 8;

#[repr(C, align(8))]
struct Bounce([u8; BOUNCE_BYTES]);

fn is_aligned(bytes: &[u8]) -> bool {
    (bytes.as_ptr() as usize).is_multiple_of(ALIGNMENT)
}

/// Fills `buffer` through `call(offset, aligned_part)`, which must fill
/// `aligned_part` with the bytes at `offset` of the whole.
pub fn read_through(
    buffer: &mut [u8],
    mut call: impl FnMut(u64, &mut [u8]) -> Result<(), HvError>,
) -> Result<(), HvError> {
    if is_aligned(buffer) {
        return call(0, buffer);
    }
    let mut bounce = Bounce([0; BOUNCE_BYTES]);
    for (index, part) in buffer.chunks_mut(BOUNCE_BYTES).enumerate() {
        let staging = &mut bounce.0[..part.len()];
        call((index * BOUNCE_BYTES) as u64, staging)?;
        part.copy_from_slice(staging);
    }
    Ok(())
}

/// Hands `data` to `call(offset, aligned_part)`, which must store
/// `aligned_part` at `offset` of the whole.
pub fn write_through(
    data: &[u8],
    mut call: impl FnMut(u64, &[u8]) -> Result<(), HvError>,
) -> Result<(), HvError> {
    if is_aligned(data) {
        return call(0, data);
    }
    let mut bounce = Bounce([0; BOUNCE_BYTES]);
    for (index, part) in data.chunks(BOUNCE_BYTES).enumerate() {
        let staging = &mut bounce.0[..part.len()];
        staging.copy_from_slice(part);
        call((index * BOUNCE_BYTES) as u64, staging)?;
    }
    Ok(())
}
