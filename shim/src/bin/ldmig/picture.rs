//! `--timeline FILE.jsonl` and `--plot FILE.svg` of `demo` and
//! `migrate-domain`: collects the progress events of a migration into a
//! [`Timeline`] and writes it, as JSON lines and as a picture, when the
//! migration ends.

use crate::console;
use anyhow::{Context, Result};
use clap::Args;
use ldmig_shim::control::{Event, MigrationInfo};
use ldmig_shim::timeline::{plot, Timeline};
use std::path::PathBuf;

/// The options that ask for a migration's story.
#[derive(Debug, Args, Default, Clone)]
pub struct PictureArgs {
    /// Write the migration's samples over time to this file, one JSON
    /// object a line (samples, rounds, end).
    #[arg(long, value_name = "FILE.jsonl")]
    pub timeline: Option<PathBuf>,
    /// Draw the migration over time into this SVG file: bytes sent per
    /// window, bandwidth estimate, remaining dirty set, dirty pages per
    /// round, vCPU throttle, switchover and downtime.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// Collects one migration's samples when asked to.
pub struct Recorder {
    args: PictureArgs,
    timeline: Timeline,
}

impl Recorder {
    /// A recorder of `domain`'s migration.
    pub fn new(args: &PictureArgs, domain: &str) -> Recorder {
        Recorder {
            args: args.clone(),
            timeline: Timeline::new(domain),
        }
    }

    fn wanted(&self) -> bool {
        self.args.timeline.is_some() || self.args.plot.is_some()
    }

    /// Takes a progress event's statistics.
    pub fn record(&mut self, info: &MigrationInfo) {
        if self.wanted() {
            self.timeline.record(info);
        }
    }

    /// Takes the final event and writes the files asked for (nothing when
    /// no migration ran, as in a dry run).
    pub fn finish(mut self, event: &Event) -> Result<()> {
        if !self.wanted() {
            return Ok(());
        }
        let Some(info) = ldmig_shim::outgoing::migration_of(event) else {
            console::err_line("ldmig: no migration ran: no timeline or picture written");
            return Ok(());
        };
        self.timeline.finish(info);
        if let Some(path) = &self.args.timeline {
            self.timeline
                .write_json_lines(path)
                .with_context(|| format!("writing the timeline {}", path.display()))?;
        }
        if let Some(path) = &self.args.plot {
            plot::write_svg(&self.timeline, path)
                .with_context(|| format!("writing the picture {}", path.display()))?;
        }
        Ok(())
    }
}
