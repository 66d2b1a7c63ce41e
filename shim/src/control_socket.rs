//! The control socket as an access boundary: where it lives, who may use
//! it, and how both ends make sure of the other before anything is said.
//!
//! - **Where**: [`default_control_path`] is `/run/ldmig/ldmig.sock` for
//!   root, `$XDG_RUNTIME_DIR/ldmig/ldmig.sock` for anyone else (a directory
//!   only its user can enter); never a world-writable directory by default.
//! - **Created by the daemon** ([`ControlSocket::bind`]): an existing file
//!   at the path is removed only when it is a stale socket of this user's
//!   (nothing answers on it); any other file is left alone and the daemon
//!   refuses to start, as it does while another daemon answers there. The
//!   socket is bound under a temporary name, given its mode (0600, or 0660
//!   with a configured group) and group whatever the umask, and only then
//!   linked at the path, so it is never reachable with another mode. At
//!   shutdown it is removed only if the path still holds this very socket.
//! - **Checked by the daemon** ([`ControlAccess::allows`]): every
//!   connection's peer credentials (`SO_PEERCRED`): the daemon's own user,
//!   root, or a member of the configured group.
//! - **Checked by the client** ([`connect_checked`]): the socket file and
//!   the process listening on it must belong to the client's user or root;
//!   otherwise the client says nothing (a request may carry a password).

use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket's file name in its directory, when nobody names a path.
pub const SOCKET_NAME: &str = "ldmig.sock";
/// The directory of the default socket when the daemon runs as root.
pub const ROOT_DIRECTORY: &str = "/run/ldmig";

/// Who a connected process is, as the kernel says (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Its process id.
    pub pid: i32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// The credentials of the process at the other end of `stream`.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<Credentials> {
    use std::os::fd::AsRawFd;
    let mut credentials = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut length = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `credentials` is a valid, writable `ucred` and `length` holds
    // its size, as SO_PEERCRED requires; the descriptor belongs to
    // `stream`, alive for the call. The kernel writes at most `length` bytes.
    let status = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut credentials as *mut libc::ucred).cast(),
            &mut length,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Credentials {
        pid: credentials.pid,
        uid: credentials.uid,
        gid: credentials.gid,
    })
}

/// This process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Who may use a daemon's control socket besides its own user and root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlAccess {
    /// Members of this group too (the socket is then 0660 and of this group).
    pub group: Option<u32>,
}

impl ControlAccess {
    /// The socket file's mode.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() {
            0o660
        } else {
            0o600
        }
    }

    /// True when the process `peer` may talk to a daemon run by `owner`.
    pub fn allows(&self, owner: u32, peer: &Credentials) -> bool {
        if peer.uid == owner || peer.uid == 0 {
            return true;
        }
        match self.group {
            Some(group) => peer.gid == group || supplementary_groups(peer.pid).contains(&group),
            None => false,
        }
    }
}

/// The supplementary groups of process `pid` (`/proc/PID/status`), empty
/// when they cannot be read.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|group| group.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The group id of `name` (a group name, or a number).
pub fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(number) = name.parse::<u32>() {
        return Ok(number);
    }
    let Ok(c_name) = std::ffi::CString::new(name) else {
        return Err(format!("group {name:?}: not a group name"));
    };
    let mut group = std::mem::MaybeUninit::<libc::group>::uninit();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: the name is a
    // NUL-terminated string, `group` and `result` are writable, and the
    // buffer's length is passed with it. getgrnam_r writes only there.
    let status = unsafe {
        libc::getgrnam_r(
            c_name.as_ptr(),
            group.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if status != 0 || result.is_null() {
        return Err(format!("group {name:?}: no such group"));
    }
    // SAFETY: getgrnam_r succeeded and `result` points at `group`, which
    // it filled.
    Ok(unsafe { group.assume_init() }.gr_gid)
}

/// Where the control socket is when nobody says otherwise: under
/// [`ROOT_DIRECTORY`] for root, under `$XDG_RUNTIME_DIR` (else
/// `/run/user/UID`, when it is this user's) for anyone else.
pub fn default_control_path() -> Result<PathBuf, String> {
    let uid = effective_uid();
    if uid == 0 {
        return Ok(Path::new(ROOT_DIRECTORY).join(SOCKET_NAME));
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|directory| directory.is_absolute())
        .or_else(|| {
            let directory = PathBuf::from(format!("/run/user/{uid}"));
            std::fs::metadata(&directory)
                .ok()
                .filter(|metadata| metadata.is_dir() && metadata.uid() == uid)
                .map(|_| directory)
        })
        .ok_or_else(|| {
            "no default control socket: $XDG_RUNTIME_DIR is not set and this user is not root; \
             give --control PATH (or LDMIG_CONTROL)"
                .to_string()
        })?;
    Ok(runtime.join("ldmig").join(SOCKET_NAME))
}

/// Why the daemon could not take its control socket.
#[derive(Debug)]
pub enum ControlSocketError {
    /// Another daemon answers on the path.
    InUse(PathBuf),
    /// The path holds something else than a stale socket of this user's.
    NotOurs {
        /// The path.
        path: PathBuf,
        /// What it is.
        what: String,
    },
    /// A system call failed.
    Io {
        /// What was being done.
        doing: String,
        /// What the system said.
        error: io::Error,
    },
}

impl fmt::Display for ControlSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlSocketError::InUse(path) => write!(
                f,
                "another ldmig daemon answers on {}: not starting a second one there",
                path.display()
            ),
            ControlSocketError::NotOurs { path, what } => write!(
                f,
                "{} is {what}: left alone; remove it yourself or choose another --control",
                path.display()
            ),
            ControlSocketError::Io { doing, error } => write!(f, "{doing}: {error}"),
        }
    }
}

impl std::error::Error for ControlSocketError {}

fn io_error(doing: String) -> impl FnOnce(io::Error) -> ControlSocketError {
    move |error| ControlSocketError::Io { doing, error }
}

/// A daemon's bound control socket; it knows which file is its own.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file, to recognise it at shutdown.
    identity: (u64, u64),
}

impl ControlSocket {
    /// Binds the control socket at `path` with `access`'s mode and group
    /// (see the module docs for what happens to a file already there).
    pub fn bind(path: &Path, access: ControlAccess) -> Result<ControlSocket, ControlSocketError> {
        let directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !directory.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(
                &mut builder,
                if access.group.is_some() { 0o750 } else { 0o700 },
            );
            builder
                .create(directory)
                .map_err(io_error(format!("creating {}", directory.display())))?;
            if let Some(group) = access.group {
                std::os::unix::fs::chown(directory, None, Some(group)).map_err(io_error(
                    format!("giving {} its group", directory.display()),
                ))?;
            }
        }
        remove_stale(path)?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| SOCKET_NAME.to_string());
        let temporary = directory.join(format!(".{name}.{}.binding", std::process::id()));
        // A leftover of a crashed start of this very process id: ours.
        let _ = std::fs::remove_file(&temporary);
        let listener = UnixListener::bind(&temporary)
            .map_err(io_error(format!("binding {}", temporary.display())))?;
        let placed = (|| {
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(access.mode()))
                .map_err(io_error(format!(
                    "setting the mode of {}",
                    temporary.display()
                )))?;
            if let Some(group) = access.group {
                std::os::unix::fs::chown(&temporary, None, Some(group)).map_err(io_error(
                    format!("giving {} its group", temporary.display()),
                ))?;
            }
            // A hard link never replaces a file: whatever appeared at the
            // path since the check stays, and the start fails.
            std::fs::hard_link(&temporary, path).map_err(|error| {
                if error.kind() == io::ErrorKind::AlreadyExists {
                    ControlSocketError::NotOurs {
                        path: path.to_path_buf(),
                        what: "a file that appeared while the daemon started".into(),
                    }
                } else {
                    ControlSocketError::Io {
                        doing: format!("placing the socket at {}", path.display()),
                        error,
                    }
                }
            })
        })();
        let _ = std::fs::remove_file(&temporary);
        placed?;
        let metadata = std::fs::symlink_metadata(path)
            .map_err(io_error(format!("reading {}", path.display())))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
            identity: (metadata.dev(), metadata.ino()),
        })
    }

    /// The listening socket.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if the path still holds this socket.
    pub fn remove(&self) {
        if let Ok(metadata) = std::fs::symlink_metadata(&self.path) {
            if (metadata.dev(), metadata.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Clears the way at `path`: nothing there, or a stale socket of this
/// user's (removed). Anything else is an error and stays.
fn remove_stale(path: &Path) -> Result<(), ControlSocketError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(ControlSocketError::Io {
                doing: format!("checking {}", path.display()),
                error,
            })
        }
    };
    let not_ours = |what: String| ControlSocketError::NotOurs {
        path: path.to_path_buf(),
        what,
    };
    if !metadata.file_type().is_socket() {
        return Err(not_ours(format!("not a socket ({})", kind(&metadata))));
    }
    if metadata.uid() != effective_uid() {
        return Err(not_ours(format!(
            "a socket of user {}, not of this daemon's user",
            metadata.uid()
        )));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ControlSocketError::InUse(path.to_path_buf())),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(io_error(format!(
                "removing the stale socket {}",
                path.display()
            )))
        }
        Err(error) => Err(ControlSocketError::Io {
            doing: format!("checking whether a daemon answers on {}", path.display()),
            error,
        }),
    }
}

fn kind(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Why a client would not talk to the socket at a path.
#[derive(Debug)]
pub enum ConnectError {
    /// Nothing to connect to (or the connection failed).
    Unreachable(io::Error),
    /// The socket file or its listener belongs to another user.
    Untrusted {
        /// Whose it is.
        uid: u32,
        /// The file (`socket`) or the listening process (`daemon`).
        what: &'static str,
    },
    /// The path is not a socket.
    NotASocket,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Unreachable(error) => write!(f, "{error}"),
            ConnectError::Untrusted { uid, what } => write!(
                f,
                "the {what} belongs to user {uid}, neither you nor root: nothing was sent to it"
            ),
            ConnectError::NotASocket => f.write_str("it is not a socket: nothing was sent to it"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Connects to the daemon at `path` once the socket file and the process
/// listening on it are known to belong to this user or root.
pub fn connect_checked(path: &Path) -> Result<UnixStream, ConnectError> {
    let me = effective_uid();
    let trusted = |uid: u32| uid == me || uid == 0;
    let metadata = std::fs::metadata(path).map_err(ConnectError::Unreachable)?;
    if !metadata.file_type().is_socket() {
        return Err(ConnectError::NotASocket);
    }
    if !trusted(metadata.uid()) {
        return Err(ConnectError::Untrusted {
            uid: metadata.uid(),
            what: "socket",
        });
    }
    let stream = UnixStream::connect(path).map_err(ConnectError::Unreachable)?;
    let daemon = peer_credentials(&stream).map_err(ConnectError::Unreachable)?;
    if !trusted(daemon.uid) {
        return Err(ConnectError::Untrusted {
            uid: daemon.uid,
            what: "daemon",
        });
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let directory = crate::test_scratch::scratch_path("control-socket", tag);
        std::fs::create_dir_all(&directory).expect("scratch directory");
        directory
    }

    /// The scratch directory of test `tag` and the control socket's path
    /// in it.
    fn scratch_socket(tag: &str) -> (PathBuf, PathBuf) {
        let directory = scratch(tag);
        let path = directory.join("control.sock");
        (directory, path)
    }

    #[test]
    fn the_socket_gets_its_mode_whatever_the_umask() {
        let (directory, path) = scratch_socket("mode");
        // SAFETY: umask has no preconditions; the old mask is put back.
        let old = unsafe { libc::umask(0) };
        let socket = ControlSocket::bind(&path, ControlAccess::default());
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let socket = socket.expect("binds");
        let mode = std::fs::metadata(&path).expect("socket file").mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        let with_group = ControlAccess {
            group: Some(std::fs::metadata(&directory).expect("dir").gid()),
        };
        assert_eq!(with_group.mode(), 0o660);
        socket.remove();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn only_a_stale_socket_of_ours_is_replaced() {
        let (directory, path) = scratch_socket("stale");
        // A regular file stays, and the daemon does not start.
        std::fs::write(&path, b"precious").expect("file");
        let error = ControlSocket::bind(&path, ControlAccess::default()).expect_err("refused");
        assert!(
            matches!(error, ControlSocketError::NotOurs { .. }),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).expect("still there"), b"precious");
        std::fs::remove_file(&path).expect("cleanup");
        // A directory too.
        std::fs::create_dir(&path).expect("dir");
        let error = ControlSocket::bind(&path, ControlAccess::default()).expect_err("refused");
        assert!(error.to_string().contains("a directory"), "{error}");
        std::fs::remove_dir(&path).expect("cleanup");
        // A live socket: another daemon answers, so no second one.
        let first = ControlSocket::bind(&path, ControlAccess::default()).expect("binds");
        let error = ControlSocket::bind(&path, ControlAccess::default()).expect_err("refused");
        assert!(matches!(error, ControlSocketError::InUse(_)), "{error}");
        assert!(connect_checked(&path).is_ok(), "the first still answers");
        // A stale one (its listener gone, the file left) is replaced.
        drop(first);
        let second = ControlSocket::bind(&path, ControlAccess::default()).expect("replaces");
        assert!(connect_checked(&path).is_ok());
        second.remove();
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn shutdown_removes_only_its_own_socket() {
        let (directory, path) = scratch_socket("own");
        let socket = ControlSocket::bind(&path, ControlAccess::default()).expect("binds");
        std::fs::remove_file(&path).expect("someone removes it");
        std::fs::write(&path, b"another file").expect("and puts a file there");
        socket.remove();
        assert_eq!(std::fs::read(&path).expect("kept"), b"another file");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn peers_are_checked_by_credentials() {
        let (left, _right) = UnixStream::pair().expect("pair");
        let me = peer_credentials(&left).expect("credentials");
        assert_eq!(me.uid, effective_uid());
        assert_eq!(me.pid, std::process::id() as i32);
        let access = ControlAccess::default();
        assert!(access.allows(me.uid, &me));
        let stranger = Credentials {
            pid: 1,
            uid: me.uid.wrapping_add(12345),
            gid: 54321,
        };
        let owner = me.uid.wrapping_add(1);
        assert!(!access.allows(owner, &stranger));
        assert!(ControlAccess { group: Some(54321) }.allows(owner, &stranger));
        let root = Credentials { uid: 0, ..stranger };
        assert!(access.allows(owner, &root));
        assert_eq!(group_id("4242"), Ok(4242));
        assert!(group_id("no-such-group-ldmig").is_err());
    }

    #[test]
    fn the_client_refuses_what_is_not_a_socket() {
        let directory = scratch("client");
        let path = directory.join("not-a-socket");
        std::fs::write(&path, b"x").expect("file");
        assert!(matches!(
            connect_checked(&path),
            Err(ConnectError::NotASocket)
        ));
        assert!(matches!(
            connect_checked(&directory.join("missing")),
            Err(ConnectError::Unreachable(_))
        ));
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn the_client_refuses_a_socket_of_another_user() {
        if effective_uid() != 0 {
            // Only root can give a socket to another user; the check itself
            // is the same comparison the stranger test above makes.
            return;
        }
        let (directory, path) = scratch_socket("stranger");
        let socket = ControlSocket::bind(&path, ControlAccess::default()).expect("binds");
        std::os::unix::fs::chown(&path, Some(65534), None).expect("give it to nobody");
        match connect_checked(&path) {
            Err(ConnectError::Untrusted { uid: 65534, what }) => assert_eq!(what, "socket"),
            other => panic!("talked to nobody's socket: {other:?}"),
        }
        socket.remove();
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn the_default_path_is_never_in_a_shared_directory() {
        match default_control_path() {
            Ok(path) => {
                assert!(path.ends_with(SOCKET_NAME));
                assert!(!path.starts_with("/tmp"), "{}", path.display());
            }
            Err(message) => assert!(message.contains("--control"), "{message}"),
        }
    }
}
