//! How the process's allocator keeps freed memory: the relay's frames,
//! records and replay copies (256 KiB each, thousands a second) reuse freed
//! heap memory instead of new pages from the kernel.
//!
//! glibc's malloc maps a buffer of 256 KiB on its own (its threshold starts
//! at 128 KiB and moves up only after such a buffer is freed) and gives heap
//! memory back to the kernel as soon as 512 KiB at its top are free; every
//! new frame then took fresh pages, and their page faults and zeroing were
//! about 4 % of a migration's CPU time in a profile of `ldmig demo`. With
//! fixed thresholds the freed buffers stay in the heap for the next ones.

/// Buffers up to this size come from the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of a heap kept before it is given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 256 << 20;

/// Sets the thresholds (glibc only; elsewhere nothing changes). Call once,
/// early in `main`; returns whether the allocator took them.
pub fn keep_freed_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // mallopt only changes two parameters of glibc's malloc, which it
        // reads under its own locks; any value is valid for both.
        // SAFETY: see the lines above.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_thresholds() {
        assert!(super::keep_freed_buffers());
    }
}
