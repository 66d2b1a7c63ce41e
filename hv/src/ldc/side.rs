//! One of the two ends of an LDC channel pair, as a simulator that makes
//! pairs and the conformance fixture that drives both ends name them.

/// One end of a channel pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first end: the one a pair is made for and the conformance cases
    /// mostly configure and send from.
    A,
    /// Its peer (the exporter in the shared-memory cases).
    B,
}

impl Side {
    /// 0 for [`Side::A`], 1 for [`Side::B`]: an index into per-end arrays.
    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Side;

    #[test]
    fn sides_index_apart_and_pair_up() {
        assert_eq!((Side::A.index(), Side::B.index()), (0, 1));
        assert_eq!(Side::A.peer(), Side::B);
        assert_eq!(Side::B.peer().peer(), Side::B);
    }
}
