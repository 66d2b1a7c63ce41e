//! ldmig benchmarks: see the examples of this package and BENCHMARKS.md.

use std::process::ExitCode;

/// Runs a benchmark on the options `parse` reads from the command line;
/// when they do not parse, says why on standard error and fails.
pub fn run_with_options<O>(
    parse: impl FnOnce() -> Result<O, String>,
    benchmark: impl FnOnce(O) -> ExitCode,
) -> ExitCode {
    match parse() {
        Ok(options) => benchmark(options),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
