//! The self-test runner: runs each [`Check`], prints `ok N name: note` or
//! `FAIL N name: reason`, and counts. The verdict line is printed by main.

use crate::console::Console;
use crate::fixed_text::FixedText;
use core::fmt::{self, Write};

/// One check: a name for the console and the function that runs it.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// What is checked, e.g. `wire: zero page round trip`.
    pub name: &'static str,
    /// Runs the check; may write a short note (sizes, seed) into the [`Note`].
    pub run: fn(&mut Note) -> Result<(), Failure>,
}

/// Why a check failed: what did not hold, and the two values compared when
/// there are numbers to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What did not hold.
    pub what: &'static str,
    /// Expected and actual values, if the check compared numbers.
    pub values: Option<(u64, u64)>,
}

impl Failure {
    /// A failure without numbers.
    pub const fn new(what: &'static str) -> Self {
        Failure { what, values: None }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.values {
            None => f.write_str(self.what),
            Some((expected, actual)) => {
                write!(f, "{} (expected {expected:#x}, got {actual:#x})", self.what)
            }
        }
    }
}

/// `Ok` when `condition` holds, else a failure saying `what`.
pub fn ensure(condition: bool, what: &'static str) -> Result<(), Failure> {
    if condition {
        Ok(())
    } else {
        Err(Failure::new(what))
    }
}

/// `Ok` when `actual == expected`, else a failure showing both.
pub fn ensure_equal(expected: u64, actual: u64, what: &'static str) -> Result<(), Failure> {
    if expected == actual {
        Ok(())
    } else {
        Err(Failure {
            what,
            values: Some((expected, actual)),
        })
    }
}

/// Bytes a check's note can hold; longer notes are cut.
pub const NOTE_BYTES: usize = 120;

/// A short, fixed-size note a check writes about what it saw.
pub type Note = FixedText<NOTE_BYTES>;

/// What a run counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Checks that held.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
}

/// Runs every check in order, printing one line per check.
pub fn run(console: &mut Console, checks: &[Check]) -> Report {
    let mut report = Report::default();
    for (index, check) in checks.iter().enumerate() {
        let mut note = Note::new();
        let number = index + 1;
        let _ = match (check.run)(&mut note) {
            Ok(()) => {
                report.passed += 1;
                if note.is_empty() {
                    writeln!(console, "ok {number} {}", check.name)
                } else {
                    writeln!(console, "ok {number} {}: {}", check.name, note.as_str())
                }
            }
            Err(failure) => {
                report.failed += 1;
                writeln!(console, "FAIL {number} {}: {failure}", check.name)
            }
        };
    }
    report
}
