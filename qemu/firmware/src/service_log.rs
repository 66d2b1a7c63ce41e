//! The `log` facade in the service domain: the engine's records (rounds,
//! throttle, suspend, resume, outcome) go out on the service console
//! (`CONS_WRITE`, so on the UART), one line each, behind a `spin` lock (the
//! logger is a `static` that `log` may reach from any caller).

use crate::service_console::ServiceConsole;
use core::fmt::Write;
use log::{LevelFilter, Log, Metadata, Record};

/// What the image logs: the engine's information lines and worse.
const LEVEL: LevelFilter = LevelFilter::Info;

/// The logger: a console of its own, so a record never interleaves with a
/// half-written line of the caller's.
struct ServiceLog {
    console: spin::Mutex<ServiceConsole>,
}

static SERVICE_LOG: ServiceLog = ServiceLog {
    console: spin::Mutex::new(ServiceConsole::new()),
};

impl Log for ServiceLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= LEVEL
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // One strand: the lock is never held by another context; a record
        // logged while one is written (a nested call) is dropped.
        if let Some(mut console) = self.console.try_lock() {
            let _ = writeln!(
                console,
                "{} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {
        if let Some(mut console) = self.console.try_lock() {
            console.flush();
        }
    }
}

/// Routes `log` to the service console, once (the service domain's start).
pub fn install() {
    if log::set_logger(&SERVICE_LOG).is_ok() {
        log::set_max_level(LEVEL);
    }
}
