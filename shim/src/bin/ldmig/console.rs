//! Writing to standard output and standard error without ever panicking.
//!
//! `println!` panics when its pipe is closed (`ldmig --json list | head
//! -3`). Here standard output is written with errors returned: a closed
//! pipe becomes [`Closed`], which `main` turns into a quiet exit with the
//! status a shell shows for a command killed by `SIGPIPE` (141), as `ls`
//! or `grep` end in the same pipeline. Standard error is best effort: its
//! messages are dropped when nobody reads them.

use std::fmt;
use std::io::{self, Write};

/// The exit status of a command whose output pipe closed: 128 + SIGPIPE.
pub const CLOSED_PIPE_STATUS: u8 = 128 + 13;

/// Standard output's reader went away.
#[derive(Debug)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for Closed {}

/// Writes `text` to `writer` and flushes it; a broken pipe is [`Closed`],
/// any other failure an I/O error.
pub fn write_to(writer: &mut impl Write, text: &str) -> anyhow::Result<()> {
    match writer
        .write_all(text.as_bytes())
        .and_then(|()| writer.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Err(Closed.into()),
        Err(error) => Err(anyhow::Error::new(error).context("writing to standard output")),
    }
}

/// Writes `text` to standard output.
pub fn out(text: &str) -> anyhow::Result<()> {
    write_to(&mut io::stdout().lock(), text)
}

/// Writes `text` and a new line to standard output.
pub fn out_line(text: &str) -> anyhow::Result<()> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    out(&line)
}

/// Writes `text` and a new line to standard error, if anyone reads it.
pub fn err_line(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}").and_then(|()| stderr.flush());
}

/// True when `error` is (or was caused by) a closed standard output.
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<Closed>()
            || cause
                .downcast_ref::<io::Error>()
                .is_some_and(|error| error.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader is gone.
    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_an_error_to_exit_on_not_a_panic() {
        let error = write_to(&mut BrokenPipe, "NAME\n").expect_err("the pipe is closed");
        assert!(is_closed(&error), "{error:#}");
        let mut buffer = Vec::new();
        write_to(&mut buffer, "NAME\n").expect("a vector takes it");
        assert_eq!(buffer, b"NAME\n");
        let other = anyhow::anyhow!("the daemon connection broke");
        assert!(!is_closed(&other));
    }
}
