//! How records and console text share one byte line: a record is the byte
//! [`START`], its bytes escaped, and [`END`]; everything between records is
//! console text. The three special bytes never occur in UTF-8 text (0xc0
//! and 0xc1 are never valid in UTF-8) except [`ESCAPE`], which inside a
//! record stands before any special byte of the record, that byte XOR
//! 0x20. A [`LineDecoder`] splits the received bytes back into text and
//! records; a record cut short, too long or wrongly escaped is reported
//! damaged, and the decoder resynchronises at the next [`START`].

use crate::wire::serial::MAX_RECORD_BYTES;

/// Opens a record.
pub const START: u8 = 0xc1;
/// Closes a record.
pub const END: u8 = 0xc0;
/// Inside a record: the next byte is a special byte XOR [`ESCAPE_XOR`].
pub const ESCAPE: u8 = 0xdb;
/// What an escaped byte is XORed with.
pub const ESCAPE_XOR: u8 = 0x20;
/// Most bytes one record takes on the line (every byte escaped).
pub const MAX_LINE_RECORD_BYTES: usize = 2 + 2 * MAX_RECORD_BYTES;

fn is_special(byte: u8) -> bool {
    matches!(byte, START | END | ESCAPE)
}

/// Writes `record` framed and escaped into `out`; the bytes written, or
/// `None` when `out` is too small.
pub fn frame_record(record: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut at = 0;
    let mut put = |byte: u8| -> Option<()> {
        *out.get_mut(at)? = byte;
        at += 1;
        Some(())
    };
    put(START)?;
    for &byte in record {
        if is_special(byte) {
            put(ESCAPE)?;
            put(byte ^ ESCAPE_XOR)?;
        } else {
            put(byte)?;
        }
    }
    put(END)?;
    Some(at)
}

/// What one received byte completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEvent {
    /// Nothing yet (inside a record).
    Nothing,
    /// A byte of console text.
    Text(u8),
    /// A whole record: its unescaped bytes are [`LineDecoder::record`].
    Record,
    /// A record was damaged (cut by a new START, longer than a record can
    /// be, or wrongly escaped): dropped.
    Damaged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    Record,
    Escaped,
    /// Skipping the rest of a damaged record, up to its END.
    Skipping,
}

/// Splits received bytes into console text and records.
#[derive(Debug)]
pub struct LineDecoder {
    state: State,
    record: [u8; MAX_RECORD_BYTES],
    length: usize,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// Between records.
    pub const fn new() -> Self {
        LineDecoder {
            state: State::Text,
            record: [0; MAX_RECORD_BYTES],
            length: 0,
        }
    }

    /// The record a [`LineEvent::Record`] completed.
    pub fn record(&self) -> &[u8] {
        &self.record[..self.length]
    }

    fn damaged(&mut self, next: State) -> LineEvent {
        self.state = next;
        self.length = 0;
        LineEvent::Damaged
    }

    /// Takes one received byte.
    pub fn push(&mut self, byte: u8) -> LineEvent {
        match (self.state, byte) {
            (State::Text, START) | (State::Skipping, START) => {
                self.state = State::Record;
                self.length = 0;
                LineEvent::Nothing
            }
            (State::Text, _) => LineEvent::Text(byte),
            (State::Skipping, END) => {
                self.state = State::Text;
                LineEvent::Nothing
            }
            (State::Skipping, _) => LineEvent::Nothing,
            (State::Record | State::Escaped, START) => {
                // A record cut short: the new one starts here.
                self.damaged(State::Record)
            }
            (State::Record, END) => {
                self.state = State::Text;
                LineEvent::Record
            }
            (State::Record, ESCAPE) => {
                self.state = State::Escaped;
                LineEvent::Nothing
            }
            (State::Escaped, _) if !is_special(byte ^ ESCAPE_XOR) => self.damaged(State::Skipping),
            (State::Record | State::Escaped, _) => {
                let byte = if self.state == State::Escaped {
                    byte ^ ESCAPE_XOR
                } else {
                    byte
                };
                self.state = State::Record;
                match self.record.get_mut(self.length) {
                    Some(slot) => {
                        *slot = byte;
                        self.length += 1;
                        LineEvent::Nothing
                    }
                    None => self.damaged(State::Skipping),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn decode_all(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>, usize) {
        let mut decoder = LineDecoder::new();
        let (mut text, mut records, mut damaged) = (Vec::new(), Vec::new(), 0);
        for &byte in bytes {
            match decoder.push(byte) {
                LineEvent::Nothing => {}
                LineEvent::Text(byte) => text.push(byte),
                LineEvent::Record => records.push(decoder.record().to_vec()),
                LineEvent::Damaged => damaged += 1,
            }
        }
        (text, records, damaged)
    }

    #[test]
    fn records_and_text_share_the_line() {
        let record = [1u8, START, 2, END, ESCAPE, 3];
        let mut framed = [0u8; 32];
        let size = frame_record(&record, &mut framed).expect("fits");
        assert_eq!(
            &framed[..size],
            &[START, 1, ESCAPE, 0xe1, 2, ESCAPE, 0xe0, ESCAPE, 0xfb, 3, END]
        );
        let mut line = b"boot: hello\r\n".to_vec();
        line.extend_from_slice(&framed[..size]);
        line.extend_from_slice("ünï\n".as_bytes());
        line.extend_from_slice(&framed[..size]);
        let (text, records, damaged) = decode_all(&line);
        assert_eq!(text, "boot: hello\r\nünï\n".as_bytes());
        assert_eq!(records, [record.to_vec(), record.to_vec()]);
        assert_eq!(damaged, 0);
        assert_eq!(frame_record(&record, &mut [0u8; 10]), None);
    }

    #[test]
    fn damaged_records_are_reported_and_the_decoder_resynchronises() {
        let mut framed = [0u8; 16];
        let size = frame_record(b"ok", &mut framed).expect("fits");
        let good = &framed[..size];
        // Cut by a START, wrongly escaped, unterminated escape, too long.
        let mut line = vec![START, b'x'];
        line.extend_from_slice(good);
        line.extend_from_slice(&[START, b'a', ESCAPE, b'q', b'b', END]);
        line.extend_from_slice(good);
        line.extend_from_slice(&[START, ESCAPE, END]);
        line.extend_from_slice(good);
        line.push(START);
        line.extend(std::iter::repeat_n(7u8, MAX_RECORD_BYTES + 5));
        line.push(END);
        line.extend_from_slice(b"t");
        line.extend_from_slice(good);
        let (text, records, damaged) = decode_all(&line);
        assert_eq!(records.len(), 4);
        assert!(records.iter().all(|record| record == b"ok"));
        assert_eq!(damaged, 4);
        assert_eq!(text, b"t");
    }
}
