//! Reading a migration password file, refusing one that others could read
//! or change.
//!
//! A password file must be a regular file whose first line is the
//! password, owned by the user it is read for (or root), writable by its
//! owner only and not readable by "others" (0600, or 0640 for a shared
//! administrators' group). `serve --password-file` reads the daemon's own;
//! a `migrate-domain -p FILE` names a file the daemon reads for the user
//! who asked, who must own it.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a password file was refused.
#[derive(Debug)]
pub enum PasswordFileError {
    /// It could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// It is not a regular file.
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Others than its owner can change it, or anyone can read it.
    Permissive {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It belongs to another user than the one it is read for (and not root).
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The user it is read for.
        user: u32,
    },
    /// Its first line is empty.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The path is relative (the daemon does not share the client's
    /// working directory).
    Relative {
        /// The path given.
        path: PathBuf,
    },
}

impl fmt::Display for PasswordFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordFileError::Read { path, error } => {
                write!(f, "password file {}: {error}", path.display())
            }
            PasswordFileError::NotAFile { path } => {
                write!(f, "password file {}: not a regular file", path.display())
            }
            PasswordFileError::Permissive { path, mode } => write!(
                f,
                "password file {}: mode {mode:04o} lets others read or change it; chmod 600 {} (or 640 for a group)",
                path.display(),
                path.display()
            ),
            PasswordFileError::WrongOwner { path, owner, user } => write!(
                f,
                "password file {}: owned by user {owner}, not by user {user} who asked for it",
                path.display()
            ),
            PasswordFileError::Empty { path } => {
                write!(f, "password file {}: its first line is empty", path.display())
            }
            PasswordFileError::Relative { path } => write!(
                f,
                "password file {}: give an absolute path (the daemon reads it)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PasswordFileError {}

/// The password in the file at `path`, read for user `user` (who, or
/// root, must own it).
pub fn read_password_file(path: &Path, user: u32) -> Result<String, PasswordFileError> {
    let owned = || path.to_path_buf();
    if !path.is_absolute() {
        return Err(PasswordFileError::Relative { path: owned() });
    }
    let metadata = std::fs::metadata(path).map_err(|error| PasswordFileError::Read {
        path: owned(),
        error,
    })?;
    if !metadata.is_file() {
        return Err(PasswordFileError::NotAFile { path: owned() });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 || mode & 0o004 != 0 {
        return Err(PasswordFileError::Permissive {
            path: owned(),
            mode,
        });
    }
    if metadata.uid() != user && metadata.uid() != 0 {
        return Err(PasswordFileError::WrongOwner {
            path: owned(),
            owner: metadata.uid(),
            user,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|error| PasswordFileError::Read {
        path: owned(),
        error,
    })?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(PasswordFileError::Empty { path: owned() });
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(tag: &str, text: &str, mode: u32) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("ldmig-password-{}-{tag}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn me() -> u32 {
        crate::control_socket::effective_uid()
    }

    #[test]
    fn a_private_file_gives_its_first_line() {
        let path = file("private", "s3cret\nignored\n", 0o600);
        assert_eq!(read_password_file(&path, me()).expect("read"), "s3cret");
        let group = file("group", "s3cret\n", 0o640);
        assert!(read_password_file(&group, me()).is_ok());
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(group);
    }

    #[test]
    fn world_writable_and_world_readable_files_are_refused() {
        for (tag, mode) in [
            ("world-writable", 0o606),
            ("group-writable", 0o620),
            ("world-readable", 0o644),
        ] {
            let path = file(tag, "s3cret\n", mode);
            let error = read_password_file(&path, me()).expect_err("refused");
            assert!(
                matches!(error, PasswordFileError::Permissive { mode: found, .. } if found == mode),
                "{tag}: {error}"
            );
            assert!(error.to_string().contains("chmod 600"), "{error}");
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn directories_empty_files_relative_paths_and_strangers_are_refused() {
        let directory = std::env::temp_dir();
        assert!(matches!(
            read_password_file(&directory, me()),
            Err(PasswordFileError::NotAFile { .. })
        ));
        let empty = file("empty", "\nsecond\n", 0o600);
        assert!(matches!(
            read_password_file(&empty, me()),
            Err(PasswordFileError::Empty { .. })
        ));
        assert!(matches!(
            read_password_file(Path::new("pw"), me()),
            Err(PasswordFileError::Relative { .. })
        ));
        // Read for another user than its owner (root may give its file
        // away to do so; root's own files may be read for anyone).
        let stranger = me().wrapping_add(4242);
        if me() == 0 {
            std::os::unix::fs::chown(&empty, Some(stranger), None).expect("chown");
        }
        let asker = if me() == 0 { 1 } else { stranger };
        let error = read_password_file(&empty, asker).expect_err("refused");
        assert!(
            matches!(error, PasswordFileError::WrongOwner { user, .. } if user == asker),
            "{error}"
        );
        let _ = std::fs::remove_file(empty);
    }
}
