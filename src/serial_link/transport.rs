//! The engine's [`Transport`] over a [`SerialLink`] it shares with its
//! host: the engine queues and takes whole frames; the host pumps the link
//! ([`SerialLink::poll`]) between engine polls, and reads the control
//! records and the console text.

use super::link::{SerialLine, SerialLink};
use crate::transport::{Transport, TransportError};
use core::cell::RefCell;

/// A [`Transport`] over a link the host also holds.
pub struct SerialTransport<'l, L: SerialLine, const TX: usize, const RX: usize> {
    link: &'l RefCell<SerialLink<L, TX, RX>>,
}

impl<'l, L: SerialLine, const TX: usize, const RX: usize> SerialTransport<'l, L, TX, RX> {
    /// The engine's end of `link`.
    pub fn new(link: &'l RefCell<SerialLink<L, TX, RX>>) -> Self {
        SerialTransport { link }
    }
}

impl<L: SerialLine, const TX: usize, const RX: usize> Transport for SerialTransport<'_, L, TX, RX> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        self.link
            .borrow_mut()
            .queue_frame(frame)
            .map_err(|error| TransportError::Link(error.code()))
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        self.link
            .borrow_mut()
            .take_frame(buffer)
            .map_err(|error| TransportError::Link(error.code()))
    }
}
