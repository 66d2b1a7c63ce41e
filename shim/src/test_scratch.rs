//! Scratch paths of the crate's unit tests: one per test, in the system's
//! temporary directory, named after this process so that concurrent runs
//! never meet.

use std::path::PathBuf;

/// `ldmig-PREFIX-PID-TAG` in the temporary directory, with whatever an
/// earlier run left there removed.
pub(crate) fn scratch_path(prefix: &str, tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ldmig-{prefix}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}
