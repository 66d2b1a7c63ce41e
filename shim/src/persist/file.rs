//! The state directory on disk: its lock (one daemon at a time) and the
//! crash-safe write of `state.json` (temporary file, `fsync`, rename,
//! `fsync` of the directory).

use super::record::{StateFile, STATE_VERSION};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The state file's name in its directory.
pub const STATE_FILE: &str = "state.json";
/// The largest state file read (a machine's worth of domain records is a
/// few hundred kilobytes at most).
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Why the state directory could not be used.
#[derive(Debug)]
pub enum StateError {
    /// A file system operation failed.
    Io {
        /// What was being done, with the path.
        doing: String,
        /// What the system said.
        error: io::Error,
    },
    /// Another daemon holds the directory's lock.
    Locked(PathBuf),
    /// `state.json` is not a state file this daemon reads.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The state belongs to another host.
    OtherHost {
        /// The file.
        path: PathBuf,
        /// Its host.
        found: String,
        /// This daemon's host.
        expected: String,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io { doing, error } => write!(f, "{doing}: {error}"),
            StateError::Locked(path) => write!(
                f,
                "another ldmig daemon uses the state directory {}",
                path.display()
            ),
            StateError::Unreadable { path, reason } => {
                write!(f, "state file {}: {reason}", path.display())
            }
            StateError::OtherHost {
                path,
                found,
                expected,
            } => write!(
                f,
                "state file {} belongs to host {found:?}, not {expected:?}: give this host its own --state-dir",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// An open, locked state directory.
#[derive(Debug)]
pub struct StateDirectory {
    path: PathBuf,
    /// Held for the daemon's life: the lock is the file's.
    _lock: File,
}

impl StateDirectory {
    /// Opens (creating it, mode 0700) and locks the directory at `path`.
    pub fn open(path: &Path) -> Result<StateDirectory, StateError> {
        let io_error = |doing: String| move |error| StateError::Io { doing, error };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_error(format!("creating {}", path.display())))?;
        let lock_path = path.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_error(format!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked(path.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(StateError::Io {
                    doing: format!("locking {}", lock_path.display()),
                    error,
                })
            }
        }
        Ok(StateDirectory {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state of host `host`, if a state was saved; `Err` for a file
    /// that cannot be read, is not a state file, or is another host's.
    pub fn load(&self, host: &str) -> Result<Option<StateFile>, StateError> {
        let path = self.path.join(STATE_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::Io {
                    doing: format!("reading {}", path.display()),
                    error,
                })
            }
        };
        let mut text = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(file, MAX_STATE_BYTES + 1), &mut text).map_err(
            |error| StateError::Io {
                doing: format!("reading {}", path.display()),
                error,
            },
        )?;
        let unreadable = |reason: String| StateError::Unreadable {
            path: path.clone(),
            reason,
        };
        if text.len() as u64 > MAX_STATE_BYTES {
            return Err(unreadable(format!(
                "longer than {} MiB",
                MAX_STATE_BYTES >> 20
            )));
        }
        let version = serde_json::from_slice::<serde_json::Value>(&text)
            .map_err(|error| unreadable(error.to_string()))?
            .get("version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(STATE_VERSION)) {
            return Err(unreadable(format!(
                "version {version:?}, this ldmig reads version {STATE_VERSION}"
            )));
        }
        let state: StateFile =
            serde_json::from_slice(&text).map_err(|error| unreadable(error.to_string()))?;
        if state.host != host {
            return Err(StateError::OtherHost {
                path,
                found: state.host,
                expected: host.to_string(),
            });
        }
        Ok(Some(state))
    }

    /// Replaces the saved state with `state`, crash-safely: after a crash
    /// at any point, [`Self::load`] gives either the old state or this one.
    pub fn save(&self, state: &StateFile) -> Result<(), StateError> {
        let path = self.path.join(STATE_FILE);
        let temporary = self.path.join(format!("{STATE_FILE}.new"));
        let io_error = |doing: String| move |error| StateError::Io { doing, error };
        let text = serde_json::to_vec_pretty(state).map_err(|error| StateError::Io {
            doing: "encoding the state".into(),
            error: io::Error::other(error),
        })?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io_error(format!("writing {}", temporary.display())))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io_error(format!("writing {}", temporary.display())))?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(io_error(format!(
            "renaming {} into place",
            temporary.display()
        )))?;
        File::open(&self.path)
            .and_then(|directory| directory.sync_all())
            .map_err(io_error(format!("syncing {}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_hv::resources::PowerMode;

    fn scratch(tag: &str) -> PathBuf {
        crate::test_scratch::scratch_path("state", tag)
    }

    /// A fresh state directory for test `tag`, opened: its path and it.
    fn opened(tag: &str) -> (PathBuf, StateDirectory) {
        let path = scratch(tag);
        let directory = StateDirectory::open(&path).expect("opens");
        (path, directory)
    }

    fn state(host: &str) -> StateFile {
        StateFile {
            version: STATE_VERSION,
            host: host.into(),
            power_mode: PowerMode::Performance,
            deferred_power_mode: None,
            delayed_reconfiguration: true,
            domains: Vec::new(),
            departed: vec![super::super::Departed {
                name: "ldg1".into(),
                how: "migrated to t5-b".into(),
            }],
        }
    }

    #[test]
    fn a_saved_state_loads_back_and_a_second_daemon_is_locked_out() {
        let (path, directory) = opened("roundtrip");
        assert_eq!(directory.load("t5-a").expect("nothing yet"), None);
        directory.save(&state("t5-a")).expect("saves");
        assert_eq!(directory.load("t5-a").expect("loads"), Some(state("t5-a")));
        assert!(!path.join("state.json.new").exists(), "renamed into place");
        assert!(matches!(
            StateDirectory::open(&path),
            Err(StateError::Locked(_))
        ));
        assert!(matches!(
            directory.load("t5-b"),
            Err(StateError::OtherHost { .. })
        ));
        drop(directory);
        let reopened = StateDirectory::open(&path).expect("the lock went with the daemon");
        assert_eq!(reopened.load("t5-a").expect("loads"), Some(state("t5-a")));
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn a_torn_write_leaves_the_old_state() {
        let (path, directory) = opened("torn");
        directory.save(&state("t5-a")).expect("saves");
        // A crash between writing the temporary file and the rename.
        std::fs::write(path.join("state.json.new"), b"{\"version\": 1, \"ho").expect("torn");
        assert_eq!(directory.load("t5-a").expect("loads"), Some(state("t5-a")));
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn garbage_and_other_versions_are_refused_with_the_reason() {
        let (path, directory) = opened("garbage");
        std::fs::write(path.join(STATE_FILE), b"not json").expect("write");
        let error = directory.load("t5-a").expect_err("refused");
        assert!(matches!(error, StateError::Unreadable { .. }), "{error}");
        std::fs::write(path.join(STATE_FILE), b"{\"version\": 99}").expect("write");
        let error = directory.load("t5-a").expect_err("refused");
        assert!(error.to_string().contains("version Some(99)"), "{error}");
        let _ = std::fs::remove_dir_all(&path);
    }
}
