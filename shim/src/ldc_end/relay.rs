//! Moving frames between the shim's end of an engine channel and the link
//! to the peer shim (any two [`Transport`]s), without heap and without
//! losing a frame when one side has no room: a frame taken from one side
//! waits in the caller's buffer until the other side takes it.

use ldmig::transport::{Transport, TransportError};

/// Frames moved by one relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStatistics {
    /// Frames from the engine to the network.
    pub to_network: u64,
    /// Frames from the network to the engine.
    pub to_engine: u64,
}

/// The relay's state: which buffer holds a frame not yet delivered. The
/// buffers themselves are the caller's (the same two on every call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRelay {
    to_network: Option<usize>,
    to_engine: Option<usize>,
    statistics: RelayStatistics,
}

impl FrameRelay {
    /// Nothing held.
    pub const fn new() -> Self {
        FrameRelay {
            to_network: None,
            to_engine: None,
            statistics: RelayStatistics {
                to_network: 0,
                to_engine: 0,
            },
        }
    }

    /// Frames moved so far.
    pub fn statistics(&self) -> RelayStatistics {
        self.statistics
    }

    /// Whether a frame waits in one of the buffers.
    pub fn is_holding(&self) -> bool {
        self.to_network.is_some() || self.to_engine.is_some()
    }

    /// Moves up to `budget` frames each way: engine to network through
    /// `outbound`, network to engine through `inbound` (each as large as
    /// the largest frame). Returns the frames moved; the first error of
    /// either side ends the call (a held frame stays held).
    pub fn pump<E: Transport, N: Transport>(
        &mut self,
        engine: &mut E,
        network: &mut N,
        outbound: &mut [u8],
        inbound: &mut [u8],
        budget: usize,
    ) -> Result<usize, TransportError> {
        let mut moved = 0;
        for _ in 0..budget {
            let before = moved;
            if forward(&mut self.to_network, engine, network, outbound)? {
                self.statistics.to_network += 1;
                moved += 1;
            }
            if forward(&mut self.to_engine, network, engine, inbound)? {
                self.statistics.to_engine += 1;
                moved += 1;
            }
            if moved == before {
                break;
            }
        }
        Ok(moved)
    }
}

/// One direction of the relay: takes a frame from `from` into `buffer`
/// unless one waits there already (`held` is its length), and hands it to
/// `to`; `true` when `to` took it.
fn forward<F: Transport, T: Transport>(
    held: &mut Option<usize>,
    from: &mut F,
    to: &mut T,
    buffer: &mut [u8],
) -> Result<bool, TransportError> {
    if held.is_none() {
        *held = from.receive(buffer)?;
    }
    let Some(length) = *held else {
        return Ok(false);
    };
    let frame = buffer.get(..length).unwrap_or(&[]);
    if !to.send(frame)? {
        return Ok(false);
    }
    *held = None;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A transport with a bounded queue each way.
    struct Queue {
        incoming: VecDeque<Vec<u8>>,
        outgoing: Vec<Vec<u8>>,
        room: usize,
    }

    impl Transport for Queue {
        fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
            if self.outgoing.len() >= self.room {
                return Ok(false);
            }
            self.outgoing.push(frame.to_vec());
            Ok(true)
        }

        fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
            let Some(frame) = self.incoming.pop_front() else {
                return Ok(None);
            };
            buffer[..frame.len()].copy_from_slice(&frame);
            Ok(Some(frame.len()))
        }
    }

    #[test]
    fn a_frame_without_room_is_held_not_lost() {
        let mut engine = Queue {
            incoming: (0..5u8).map(|i| vec![i; 10 + i as usize]).collect(),
            outgoing: Vec::new(),
            room: 10,
        };
        let mut network = Queue {
            incoming: [vec![9u8; 3]].into(),
            outgoing: Vec::new(),
            room: 2,
        };
        let (mut outbound, mut inbound) = ([0u8; 64], [0u8; 64]);
        let mut relay = FrameRelay::new();
        let moved = relay
            .pump(&mut engine, &mut network, &mut outbound, &mut inbound, 16)
            .expect("pump");
        assert_eq!(moved, 3);
        assert!(relay.is_holding(), "the third engine frame waits");
        assert_eq!(engine.outgoing, vec![vec![9u8; 3]]);
        network.room = 10;
        relay
            .pump(&mut engine, &mut network, &mut outbound, &mut inbound, 16)
            .expect("pump");
        assert_eq!(network.outgoing.len(), 5);
        for (i, frame) in network.outgoing.iter().enumerate() {
            assert_eq!(frame, &vec![i as u8; 10 + i]);
        }
        assert_eq!(
            relay.statistics(),
            RelayStatistics {
                to_network: 5,
                to_engine: 1
            }
        );
        assert!(!relay.is_holding());
    }
}
