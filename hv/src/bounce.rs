//! Bounce buffers for the real hypervisor calls (`Sun4v`, sparc64): the sun4v ABI
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

/// Whether `bytes` starts at an address the ABI takes as a buffer RA.
pub fn is_aligned(bytes: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// 3 pages and a bit of counting bytes.
    fn counting_bytes() -> Vec<u8> {
        (0..3 * BOUNCE_BYTES + 32)
            .map(|index| index as u8)
            .collect()
    }

    /// The first index of `bytes` at which a slice is misaligned.
    fn misaligned_start(bytes: &[u8]) -> usize {
        (0..8)
            .find(|&start| !is_aligned(&bytes[start..]))
            .expect("some start is misaligned")
    }

    #[test]
    fn aligned_slices_go_through_in_one_call() {
        let mut words = [0u64; 4];
        let bytes = zerocopy::IntoBytes::as_mut_bytes(&mut words[..]);
        let mut calls = Vec::new();
        read_through(bytes, |offset, part| {
            calls.push((offset, part.len()));
            part.fill(7);
            Ok(())
        })
        .expect("the call succeeds");
        assert_eq!(calls, [(0, 32)]);
        assert_eq!(words, [0x0707_0707_0707_0707; 4]);
    }

    #[test]
    fn misaligned_reads_are_staged_a_page_at_a_time() {
        let memory = counting_bytes();
        let mut backing = std::vec![0u8; memory.len() + 8];
        let start = misaligned_start(&backing);
        let length = 3 * BOUNCE_BYTES + 24;
        let buffer = &mut backing[start..start + length];
        let mut offsets = Vec::new();
        read_through(buffer, |offset, part| {
            assert!(is_aligned(part), "the hypervisor sees an aligned buffer");
            offsets.push(offset);
            part.copy_from_slice(&memory[offset as usize..offset as usize + part.len()]);
            Ok(())
        })
        .expect("every call succeeds");
        assert_eq!(offsets, [0, 8192, 16384, 24576]);
        assert_eq!(buffer, &memory[..length]);
    }

    #[test]
    fn misaligned_writes_are_staged_and_errors_stop_the_walk() {
        let memory = counting_bytes();
        let start = misaligned_start(&memory);
        let data = &memory[start..start + 2 * BOUNCE_BYTES];
        let mut written = std::vec![0u8; data.len()];
        let mut calls = 0;
        write_through(data, |offset, part| {
            assert!(is_aligned(part), "the hypervisor sees an aligned buffer");
            calls += 1;
            written[offset as usize..offset as usize + part.len()].copy_from_slice(part);
            Ok(())
        })
        .expect("every call succeeds");
        assert_eq!(calls, 2);
        assert_eq!(written, data);

        let mut failed_calls = 0;
        let outcome = write_through(data, |_, _| {
            failed_calls += 1;
            Err(HvError::NoRealAddress)
        });
        assert_eq!(outcome, Err(HvError::NoRealAddress));
        assert_eq!(failed_calls, 1, "the first failure ends the walk");
    }
}
