//! The shim's logger behind the `log` facade: one line per record on
//! standard error, with the level; under systemd (`JOURNAL_STREAM` set, as
//! systemd does when standard error goes to the journal) each line starts
//! with the syslog priority in angle brackets, which journald reads as the
//! entry's priority. The filter comes from `RUST_LOG` (a level, or
//! `target=level` items separated by commas, as `env_logger` reads them) and
//! is moved by `-v`/`-q`.
//!
//! The engine (`ldmig`) and `ldmig-hv` log through the same facade, so their
//! records (rounds, link resets) land in the daemon's log too.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::OnceLock;

/// Where the lines go and how they look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `LEVEL target: message`, for a terminal or a plain log file.
    Plain,
    /// `<priority>target: message`, for journald's stream reader.
    Journal,
}

impl Style {
    /// [`Style::Journal`] when `journal_stream` (the `JOURNAL_STREAM`
    /// variable) is set, [`Style::Plain`] otherwise.
    pub fn detect(journal_stream: Option<&str>) -> Style {
        match journal_stream {
            Some(value) if !value.is_empty() => Style::Journal,
            _ => Style::Plain,
        }
    }
}

/// A parsed `RUST_LOG`: a default level and per-target levels (the longest
/// matching target prefix wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

/// An item of `RUST_LOG` that names no level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// The item as written.
    pub item: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RUST_LOG item {:?} is not a level (off, error, warn, info, debug, trace) \
             or TARGET=LEVEL",
            self.item
        )
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    /// Everything at `level` and above, whatever the target.
    pub fn at(level: LevelFilter) -> Filter {
        Filter {
            default: level,
            targets: Vec::new(),
        }
    }

    /// Parses `spec` (`info`, `ldmig_shim=debug,warn`, ...) over `default`.
    pub fn parse(spec: &str, default: LevelFilter) -> Result<Filter, FilterError> {
        let mut filter = Filter::at(default);
        for item in spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let error = || FilterError {
                item: item.to_string(),
            };
            match item.split_once('=') {
                Some((target, level)) if !target.is_empty() => {
                    let level = level.parse().map_err(|_| error())?;
                    filter.targets.push((target.to_string(), level));
                }
                Some(_) => return Err(error()),
                None => match item.parse::<LevelFilter>() {
                    Ok(level) => filter.default = level,
                    // A bare name is a target with every level, as in env_logger.
                    Err(_) if is_target_name(item) => {
                        filter.targets.push((item.to_string(), LevelFilter::Trace));
                    }
                    Err(_) => return Err(error()),
                },
            }
        }
        Ok(filter)
    }

    /// Moves every level by `steps` (positive: more verbose, as `-v`).
    pub fn shifted(mut self, steps: i32) -> Filter {
        self.default = shift(self.default, steps);
        for (_, level) in &mut self.targets {
            *level = shift(*level, steps);
        }
        self
    }

    /// The level `target` logs at.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .filter(|(prefix, _)| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, level)| *level)
    }

    /// The most verbose level any target logs at.
    pub fn max_level(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, level)| *level)
            .fold(self.default, Ord::max)
    }
}

fn is_target_name(item: &str) -> bool {
    item.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn shift(level: LevelFilter, steps: i32) -> LevelFilter {
    const ORDER: [LevelFilter; 6] = [
        LevelFilter::Off,
        LevelFilter::Error,
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    let index = ORDER.iter().position(|l| *l == level).unwrap_or(3) as i32;
    ORDER[(index + steps).clamp(0, 5) as usize]
}

/// The syslog priority journald gives a record of `level` (sd-daemon.h
/// `SD_ERR` 3, `SD_WARNING` 4, `SD_INFO` 6, `SD_DEBUG` 7).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One record as a line (no newline).
pub fn format_line(style: Style, level: Level, target: &str, message: &str) -> String {
    match style {
        Style::Plain => format!("{level:<5} {target}: {message}"),
        Style::Journal => format!("<{}>{target}: {message}", syslog_priority(level)),
    }
}

/// The installed logger.
struct StderrLogger {
    filter: Filter,
    style: Style,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(
            self.style,
            record.level(),
            record.target(),
            &record.args().to_string(),
        );
        // Best effort: a closed standard error must not stop the daemon.
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

static LOGGER: OnceLock<StderrLogger> = OnceLock::new();

/// Installs the logger once per process: `RUST_LOG` (or `default` when
/// unset: `info` for a daemon, `warn` for a command whose output is its
/// answer), moved by `verbosity` (`-v` counts up, `-q` down), in the style
/// the environment asks for. A second call keeps the first logger.
pub fn install(default: LevelFilter, verbosity: i32) -> Result<(), FilterError> {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let filter = Filter::parse(&spec, default)?.shifted(verbosity);
    let style = Style::detect(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let max = filter.max_level();
    let logger = LOGGER.get_or_init(|| StderrLogger { filter, style });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_levels_and_targets_parse() {
        let filter = Filter::parse(
            "warn,ldmig_shim=debug,ldmig_hv::ldc=trace",
            LevelFilter::Info,
        )
        .expect("parses");
        assert_eq!(filter.level_for("ldmig"), LevelFilter::Warn);
        assert_eq!(filter.level_for("ldmig_shim::daemon"), LevelFilter::Debug);
        assert_eq!(filter.level_for("ldmig_shimmer"), LevelFilter::Warn);
        assert_eq!(filter.level_for("ldmig_hv::ldc::link"), LevelFilter::Trace);
        assert_eq!(filter.max_level(), LevelFilter::Trace);
        let bare = Filter::parse("ldmig", LevelFilter::Error).expect("a bare target");
        assert_eq!(bare.level_for("ldmig::precopy"), LevelFilter::Trace);
        assert_eq!(bare.level_for("other"), LevelFilter::Error);
        assert_eq!(
            Filter::parse("", LevelFilter::Info).expect("empty"),
            Filter::at(LevelFilter::Info)
        );
    }

    #[test]
    fn rust_log_nonsense_is_refused_by_name() {
        for spec in ["=debug", "ldmig=loud", "not a level!"] {
            let error = Filter::parse(spec, LevelFilter::Info).expect_err(spec);
            assert!(error.to_string().contains("RUST_LOG item"), "{error}");
        }
    }

    #[test]
    fn verbose_and_quiet_move_every_level_within_bounds() {
        let filter = Filter::parse("info,ldmig=warn", LevelFilter::Info).expect("parses");
        let louder = filter.clone().shifted(1);
        assert_eq!(louder.level_for("x"), LevelFilter::Debug);
        assert_eq!(louder.level_for("ldmig"), LevelFilter::Info);
        assert_eq!(filter.clone().shifted(9).level_for("x"), LevelFilter::Trace);
        assert_eq!(filter.shifted(-9).level_for("ldmig"), LevelFilter::Off);
    }

    #[test]
    fn journal_lines_carry_the_syslog_priority() {
        assert_eq!(Style::detect(Some("8:1234")), Style::Journal);
        assert_eq!(Style::detect(Some("")), Style::Plain);
        assert_eq!(Style::detect(None), Style::Plain);
        assert_eq!(
            format_line(
                Style::Journal,
                Level::Warn,
                "ldmig_shim::daemon",
                "peer gone"
            ),
            "<4>ldmig_shim::daemon: peer gone"
        );
        assert_eq!(
            format_line(Style::Plain, Level::Info, "ldmig", "round 3"),
            "INFO  ldmig: round 3"
        );
        assert_eq!(syslog_priority(Level::Error), 3);
        assert_eq!(syslog_priority(Level::Trace), 7);
    }
}
