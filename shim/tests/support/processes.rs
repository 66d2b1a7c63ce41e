//! `ldmig serve` processes for the host-only tests: started on a kernel-
//! chosen port (read back from the daemon's first line, so no port is
//! guessed), their standard error kept for the test, and the signals a
//! test sends them (kill -9, stop, continue), and `ldmig` commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ldmig` binary.
pub const BINARY: &str = env!("CARGO_BIN_EXE_ldmig");

/// One `ldmig serve` process.
pub struct Host {
    /// The process.
    pub child: Child,
    /// Its control socket.
    pub control: PathBuf,
    /// Where peers reach it.
    pub address: String,
    /// What it wrote on standard error so far.
    pub log: Arc<Mutex<String>>,
    /// How it was started (to start it again after a kill).
    arguments: Vec<String>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.cont();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.control);
    }
}

impl Host {
    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `SIGSTOP`.
    pub fn stop(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// `SIGCONT`.
    pub fn cont(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory preconditions; the pid is our child's
        // (not yet reaped, so it names no other process).
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// True once the process ended (by itself or a signal).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to end by itself.
    pub fn wait_exit(&mut self) {
        let _ = self.child.wait();
    }

    /// Starts it again as it was started (a new port), once it is gone.
    pub fn restart(&mut self) {
        self.kill9();
        let (child, address, log) = spawn(&self.arguments, &self.control);
        self.child = child;
        self.address = address;
        self.log = log;
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// A scratch directory for one test.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("ldmig-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

/// A test's scratch directory with the migration password file its
/// daemons share; the directory goes when the test passed (a failed one
/// leaves it to look at).
pub struct Scratch {
    /// The directory.
    pub directory: PathBuf,
    /// DIRECTORY/password, mode 0600.
    pub password: PathBuf,
}

impl Scratch {
    /// DIRECTORY for test `name` of the file `prefix`, its password file
    /// holding `password`.
    pub fn new(prefix: &str, name: &str, password: &str) -> Scratch {
        let directory = scratch(prefix, name);
        let password_path = directory.join("password");
        password_file(&password_path, password);
        Scratch {
            directory,
            password: password_path,
        }
    }

    /// The password file's path, as `-p` takes it.
    pub fn password_arg(&self) -> &str {
        self.password.to_str().expect("utf-8 path")
    }

    /// `ldmig serve` of the host `toml` in this directory, with the
    /// password file and `options` more (see [`serve_with`]).
    pub fn serve(&self, name: &str, toml: &str, options: &[&str]) -> Host {
        serve_with(&self.directory, name, toml, &self.password, options)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

/// A small SPARC T5 host file of the process tests (every loopback port an
/// allowed target), with `ldg1` active on `ldg1_memory` bytes (a size such
/// as `"8M"`) when given.
pub fn host_toml(name: &str, ldg1_memory: Option<&str>) -> String {
    let mut text = format!(
        "[host]\nname = \"{name}\"\ncpu_type = \"SPARC T5\"\ncpu_frequency_mhz = 3600\nstrands = 64\n\
         engine_versions = {{ oldest = 1, newest = 1 }}\n\n[[memory]]\npa = 0x8000000\nsize = \"256M\"\n\n\
         [services]\nconsole_concentrator = \"primary-vcc0\"\nvirtual_switches = [\"primary-vsw0\"]\n{}",
        super::ALLOW_LOOPBACK
    );
    if let Some(size) = ldg1_memory {
        text.push_str(&format!(
            "\n[[domain]]\nname = \"ldg1\"\nstate = \"active\"\nvcpus = 4\n\
             memory = [{{ ra = 0x8000000, pa = 0x8000000, size = \"{size}\" }}]\n\
             network = [{{ name = \"vnet0\", switch = \"primary-vsw0\" }}]\n",
        ));
    }
    text
}

/// A password file the daemons accept: this user's, mode 0600.
pub fn password_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("password file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// `ldmig serve` of the host `toml` (written to DIRECTORY/NAME.toml), its
/// socket DIRECTORY/NAME.sock and state DIRECTORY/NAME.state, with
/// `options` more.
pub fn serve_with(
    directory: &Path,
    name: &str,
    toml: &str,
    password_file: &Path,
    options: &[&str],
) -> Host {
    let description = directory.join(format!("{name}.toml"));
    std::fs::write(&description, toml).expect("write description");
    let control = directory.join(format!("{name}.sock"));
    let path = |path: &Path| path.to_str().expect("utf-8 path").to_string();
    let mut arguments = vec![
        "--control".to_string(),
        path(&control),
        "serve".into(),
        "--host".into(),
        path(&description),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--password-file".into(),
        path(password_file),
        "--state-dir".into(),
        path(&directory.join(format!("{name}.state"))),
    ];
    arguments.extend(options.iter().map(|option| option.to_string()));
    let (child, address, log) = spawn(&arguments, &control);
    Host {
        child,
        control,
        address,
        log,
        arguments,
    }
}

/// `ldmig --control CONTROL serve` of the host file `host` with the
/// password file `password` and the state directory `state`, listening on
/// a kernel-chosen port: for a test that starts the daemon its own way
/// (as another user, on a wrong file, on a taken socket).
pub fn serve_command(control: &Path, host: &Path, password: &Path, state: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("--control")
        .arg(control)
        .args(["serve", "--listen", "127.0.0.1:0", "--host"])
        .arg(host)
        .arg("--password-file")
        .arg(password)
        .arg("--state-dir")
        .arg(state);
    command
}

/// Waits until `done` holds; panics naming `what` after a minute.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `ldmig ARGUMENTS` and waits for its "serving" line.
fn spawn(arguments: &[String], control: &Path) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = Command::new(BINARY)
        .args(arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ldmig serve starts");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped");
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(rest) = text.split("serving host on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap_or("").to_string();
            return (child, address, log);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "ldmig serve ({}) ended with {status}: {text}",
                control.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "ldmig serve never served: {text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `ldmig --control CONTROL ARGS`.
pub fn ldmig(control: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(["--control", control.to_str().expect("utf-8 path")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ldmig runs")
}

/// `ldmig --control CONTROL ARGS` on a thread of its own, for a command
/// (a migration) the test watches while it runs.
pub fn ldmig_in_background(control: &Path, args: &[&str]) -> std::thread::JoinHandle<Output> {
    let control = control.to_path_buf();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ldmig(&control, &args)
    })
}

/// Everything a command printed.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
