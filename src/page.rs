//! The sun4v 8 KiB page: size, zero-page detection, checksum.

/// Bytes in a sun4v base page.
pub const PAGE_SIZE: usize = ldmig_hv::abi::mmu::PAGE_SIZE;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = ldmig_hv::abi::mmu::PAGE_SHIFT;

/// One page of guest memory.
pub type Page = [u8; PAGE_SIZE];

/// An all-zero page (what a zero-page record decodes to: the target writes
/// it without a scratch page of its own).
pub static ZERO_PAGE: Page = [0; PAGE_SIZE];

/// Bytes checked between early exits of [`is_zero`]: small enough to stop
/// soon on data pages, large enough for the compiler to vectorise.
const ZERO_CHECK_STRIDE: usize = 256;

/// True when every byte of `bytes` is zero.
///
/// ORs 256-byte blocks word by word (the loop vectorises) and stops at the
/// first block with a set bit, so data pages cost little and zero pages run
/// at memory bandwidth.
pub fn is_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(ZERO_CHECK_STRIDE);
    for block in &mut blocks {
        let mut accumulator = 0u64;
        for word in block.chunks_exact(8) {
            accumulator |= u64::from_ne_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
        }
        if accumulator != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&byte| byte == 0)
}

/// CRC32 (IEEE, as `crc32fast`) of a page's uncompressed bytes.
pub fn page_crc(page: &[u8]) -> u32 {
    crc32fast::hash(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_check_finds_any_set_byte() {
        let mut page = [0u8; PAGE_SIZE];
        assert!(is_zero(&page));
        for position in [0, 1, 7, 255, 256, 4095, 8000, PAGE_SIZE - 1] {
            page[position] = 0x40;
            assert!(!is_zero(&page), "missed byte {position}");
            page[position] = 0;
        }
        assert!(is_zero(&page[..13]));
        assert!(!is_zero(&[0, 0, 1]));
        assert!(is_zero(&[]));
    }

    #[test]
    fn crc_of_known_input() {
        // The CRC-32/IEEE check value.
        assert_eq!(page_crc(b"123456789"), 0xcbf4_3926);
        assert_eq!(PAGE_SIZE, 8192);
        assert_eq!(1usize << PAGE_SHIFT, PAGE_SIZE);
    }
}
