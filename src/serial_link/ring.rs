//! A byte ring of fixed capacity: the sender's unacknowledged and unsent
//! stream bytes, the receiver's bytes not yet taken as frames.

/// Up to `N` bytes, first in first out, read at any offset.
#[derive(Debug)]
pub struct ByteRing<const N: usize> {
    bytes: [u8; N],
    start: usize,
    length: usize,
}

impl<const N: usize> Default for ByteRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteRing<N> {
    /// Empty.
    pub const fn new() -> Self {
        ByteRing {
            bytes: [0; N],
            start: 0,
            length: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.length
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Room left.
    pub fn free(&self) -> usize {
        N - self.length
    }

    /// Appends all of `data`, or nothing (false) when it does not fit.
    pub fn push(&mut self, data: &[u8]) -> bool {
        if data.len() > self.free() {
            return false;
        }
        let tail = (self.start + self.length) % N.max(1);
        let first = data.len().min(N - tail);
        self.bytes[tail..tail + first].copy_from_slice(&data[..first]);
        self.bytes[..data.len() - first].copy_from_slice(&data[first..]);
        self.length += data.len();
        true
    }

    /// Copies the bytes at `offset` (from the oldest) into `out`; false if
    /// they are not all held.
    pub fn copy_out(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset
            .checked_add(out.len())
            .is_none_or(|end| end > self.length)
        {
            return false;
        }
        let from = (self.start + offset) % N.max(1);
        let first = out.len().min(N - from);
        out[..first].copy_from_slice(&self.bytes[from..from + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.bytes[..rest]);
        true
    }

    /// Forgets the oldest `count` bytes (at most all).
    pub fn drop_front(&mut self, count: usize) {
        let count = count.min(self.length);
        self.start = (self.start + count) % N.max(1);
        self.length -= count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_wrap_and_copies_read_across_the_end() {
        let mut ring = ByteRing::<8>::new();
        assert!(ring.push(b"abcdef"));
        ring.drop_front(4);
        assert!(ring.push(b"ghijk"));
        assert!(!ring.push(b"xyz"));
        assert_eq!((ring.len(), ring.free()), (7, 1));
        let mut out = [0u8; 6];
        assert!(ring.copy_out(1, &mut out));
        assert_eq!(&out, b"fghijk");
        assert!(!ring.copy_out(2, &mut out));
        ring.drop_front(100);
        assert!(ring.is_empty());
    }
}
