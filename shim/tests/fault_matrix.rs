//! The fault matrix on real processes: two `ldmig serve` processes and a
//! fault proxy between them; each fault at each phase of a live migration,
//! for several seeds; the test prints the matrix.
//!
//! Faults: the network cut (for good), cut once (it comes back: during
//! pre-copy the shims reconnect, authenticate afresh and the migration
//! goes on where it was), stalled (nothing forwarded, the connections
//! open), a corrupted, duplicated or reordered record (during pre-copy
//! resumed as a cut: the receiver drops the connection); `kill -9` of the
//! source daemon or of the target daemon (then started again from its
//! state directory); `SIGSTOP` of either for longer than the peer timeout
//! (then `SIGCONT`); the target out of memory; a cancel. Phases: setup,
//! round 0, later rounds, throttled, suspend, final pages, vCPU state, the
//! commit (the source about to send it), its acknowledgement (the target
//! about to send it), after completion.
//!
//! Each fault lands exactly at its phase: the daemons run with the hidden
//! `--hold-at POINT` hook, which holds the migration there (both engines'
//! clocks standing still) until the test has put the fault in place and
//! sends `release-migration` (`--then stop|kill` makes the held daemon stop
//! or kill itself the moment it goes on). The guest writes one page per
//! frame under the hooks, so later rounds, final pages and throttling come
//! by counts. Nothing here waits for a time to pass: a stalled or stopped
//! peer is noticed by the daemons' own peer timeout (15 s in those cells,
//! 120 s in the others, so that a busy machine changes no outcome), and
//! the test waits for what the daemons say.
//!
//! Every cell asserts: never two runnable copies; before the commit, the
//! source runs the domain and the target holds nothing; after completion,
//! the target runs it; otherwise exactly one runs, or one side is in the
//! error state with recovery text, and doing what it says leaves exactly
//! one running; the failure's message names its cause; a completed
//! migration's memory and vCPU digests are equal on both sides.
//!
//! A simulated machine lives in its daemon's process: a daemon killed with
//! `SIGKILL` loses its machine's memory, and a domain it runs after its
//! restart boots afresh. What a kill cell checks is where the domain runs.
//!
//! Host only: it starts `ldmig` processes. `qemu/check` runs one seed;
//! `LDMIG_FAULT_SEEDS=3` (or more) runs the full matrix, whose table is in
//! tests/README.md. `LDMIG_FAULT_FILTER=TEXT` runs only the cells whose
//! "phase/fault" names contain TEXT.
//!
//! A resumed cell also asserts that the migration did resume (the source
//! counts a resume, the proxy saw a second connection) rather than start
//! again. A cut for good during pre-copy shows the bounded retries: the
//! source tries again five times, then fails cleanly and runs the domain.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::fault_proxy::{Damage, FaultProxy};
use support::processes::{host_toml, ldmig, password_file, scratch, serve_with, text, Host};

/// The peer timeout of the daemons of a stall or stop cell: the fault
/// lasts until the other side gave up on the silent one. Long enough that
/// an answer delayed by a saturated machine (6 s were seen under a load
/// of 20 on 2 cores) is not taken for the fault.
const SHORT_PEER_TIMEOUT_MS: &str = "15000";
/// The peer timeout of every other cell: long, so that a machine busy
/// with other work never makes a daemon give up on a peer that answers.
const LONG_PEER_TIMEOUT_MS: &str = "120000";
/// Cells run at once.
const PARALLEL_CELLS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Setup,
    RoundZero,
    LaterRounds,
    Throttled,
    Suspend,
    FinalPages,
    VcpuState,
    Commit,
    Acknowledgement,
    AfterCompletion,
}

impl Phase {
    const ALL: [Phase; 10] = [
        Phase::Setup,
        Phase::RoundZero,
        Phase::LaterRounds,
        Phase::Throttled,
        Phase::Suspend,
        Phase::FinalPages,
        Phase::VcpuState,
        Phase::Commit,
        Phase::Acknowledgement,
        Phase::AfterCompletion,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::RoundZero => "round 0",
            Phase::LaterRounds => "later rounds",
            Phase::Throttled => "throttled",
            Phase::Suspend => "suspend",
            Phase::FinalPages => "final pages",
            Phase::VcpuState => "vCPU state",
            Phase::Commit => "commit",
            Phase::Acknowledgement => "commit ack",
            Phase::AfterCompletion => "after completion",
        }
    }

    /// The hook point, and whether the target (not the source) holds.
    fn hold(self) -> Option<(&'static str, bool)> {
        Some(match self {
            Phase::Setup => ("setup", false),
            Phase::RoundZero => ("round-0", false),
            Phase::LaterRounds => ("later-rounds", false),
            Phase::Throttled => ("throttled", false),
            Phase::Suspend => ("suspend", false),
            Phase::FinalPages => ("final-pages", false),
            Phase::VcpuState => ("vcpu-state", false),
            Phase::Commit => ("commit", false),
            Phase::Acknowledgement => ("commit-ack", true),
            Phase::AfterCompletion => return None,
        })
    }

    /// During pre-copy: a cut here is resumed.
    fn pre_copy(self) -> bool {
        matches!(
            self,
            Phase::RoundZero | Phase::LaterRounds | Phase::Throttled
        )
    }

    /// Before the commit can have reached the target.
    fn before_commit(self) -> bool {
        self <= Phase::VcpuState
    }

    /// The migration's downtime limit: 0 never fits, so rounds go on (and
    /// throttle) until the hold; the default lets it converge. A resumed
    /// cut in later rounds converges after it (later rounds come anyway:
    /// the guest writes a page per frame), so that it can complete.
    fn downtime_limit(self, fault: Fault) -> &'static str {
        match self {
            Phase::LaterRounds if resumed(self, fault) => "300",
            Phase::LaterRounds | Phase::Throttled => "0",
            _ => "300",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Cut,
    CutOnce,
    Stall,
    Corrupt,
    Duplicate,
    Reorder,
    KillSource,
    KillTarget,
    StopSource,
    StopTarget,
    OutOfMemory,
    Cancel,
}

impl Fault {
    /// Every fault of the matrix.
    const ALL: [Fault; 12] = [
        Fault::Cut,
        Fault::CutOnce,
        Fault::Stall,
        Fault::Corrupt,
        Fault::Duplicate,
        Fault::Reorder,
        Fault::KillSource,
        Fault::KillTarget,
        Fault::StopSource,
        Fault::StopTarget,
        Fault::OutOfMemory,
        Fault::Cancel,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::Cut => "cut",
            Fault::CutOnce => "cut once",
            Fault::Stall => "stall",
            Fault::Corrupt => "corrupt",
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
            Fault::KillSource => "kill -9 source",
            Fault::KillTarget => "kill -9 target",
            Fault::StopSource => "SIGSTOP source",
            Fault::StopTarget => "SIGSTOP target",
            Fault::OutOfMemory => "target OOM",
            Fault::Cancel => "cancel",
        }
    }

    /// Words one of which the migration's failure message must hold: the
    /// cause as the source can know it.
    fn causes(self) -> &'static [&'static str] {
        match self {
            Fault::Cancel => &["cancel"],
            Fault::OutOfMemory => &["hypervisor", "reserve", "memory", "ETOOMANY", "limit"],
            Fault::KillSource => &["daemon connection broke", "closed the connection"],
            _ => &[
                "stopped answering",
                "broke",
                "connection",
                "closed",
                "failed its integrity",
            ],
        }
    }
}

/// Where the domain is once a cell settled, before any recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Placement {
    source: Option<String>,
    target: Option<String>,
}

/// What a cell may end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    /// The source runs it; the target holds nothing; no error anywhere.
    SourceRuns,
    /// The target runs it; the source holds nothing.
    TargetRuns,
    /// Exactly one runs, or an error state whose recovery leaves one.
    OneOrRecoverable,
}

/// During pre-copy the shims resume after this fault: the connection
/// breaks (a cut that heals, or a damaged record the receiver drops it
/// for) and a new one comes up.
fn resumed(phase: Phase, fault: Fault) -> bool {
    phase.pre_copy()
        && matches!(
            fault,
            Fault::CutOnce | Fault::Corrupt | Fault::Duplicate | Fault::Reorder
        )
}

/// The outcome a fault at a phase must have.
fn expected_outcome(phase: Phase, fault: Fault) -> Expected {
    match (phase, fault) {
        (Phase::AfterCompletion, _) => Expected::TargetRuns,
        // Throttled, it never converges (downtime limit 0): after the
        // resume it goes on until it gives up, as it would without the cut.
        (Phase::Throttled, fault) if resumed(Phase::Throttled, fault) => Expected::SourceRuns,
        (phase, fault) if resumed(phase, fault) => Expected::TargetRuns,
        (phase, _) if phase.before_commit() => Expected::SourceRuns,
        _ => Expected::OneOrRecoverable,
    }
}

/// One cell's result.
#[derive(Clone, Debug)]
struct CellResult {
    phase: Phase,
    fault: Fault,
    seed: u64,
    /// `ok`, or what went wrong.
    verdict: Result<String, String>,
}

/// `ldmig --json list ldg1` on `host`: its listing, `None` if it has none.
fn ldg1(host: &Host) -> Option<serde_json::Value> {
    let output = ldmig(&host.control, &["--json", "list"]);
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    answer["domains"]
        .as_array()?
        .iter()
        .find(|domain| domain["name"] == "ldg1")
        .cloned()
}

fn migrating(domain: &serde_json::Value) -> bool {
    let flags = domain["flags"].as_str().unwrap_or("");
    matches!(flags.chars().nth(5), Some('s' | 't'))
}

fn held(host: &Host) -> bool {
    ldg1(host).is_some_and(|domain| domain["migration"]["held"] == true)
}

/// Waits until `done` (a generous safety net, never a timed assertion).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("never happened: {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// The two daemons of a cell and its proxy.
struct Cell {
    directory: PathBuf,
    password: PathBuf,
    source: Host,
    target: Host,
    proxy: FaultProxy,
    phase: Phase,
    fault: Fault,
}

impl Cell {
    fn start(phase: Phase, fault: Fault, seed: u64) -> Cell {
        let name = format!(
            "{}-{}-{seed}",
            phase.name().replace(' ', "_"),
            fault.name().replace([' ', '-'], "_")
        );
        let directory = scratch("matrix", &name);
        let password = directory.join("password");
        password_file(&password, "matrix password\n");
        let seed_text = seed.to_string();
        // After completion a stall or stop comes once the migration ended:
        // nothing waits for it, and the migration itself gets the long one.
        let timeout = match fault {
            Fault::Stall | Fault::StopSource | Fault::StopTarget
                if phase != Phase::AfterCompletion =>
            {
                SHORT_PEER_TIMEOUT_MS
            }
            _ => LONG_PEER_TIMEOUT_MS,
        };
        let common = vec![
            "--workload",
            "idle",
            "--seed",
            &seed_text,
            "--peer-timeout-ms",
            timeout,
        ];
        let mut source_options = common.clone();
        let mut target_options = common.clone();
        if let Some((point, on_target)) = phase.hold() {
            let options = if on_target {
                &mut target_options
            } else {
                &mut source_options
            };
            options.extend(["--hold-at", point]);
        }
        let source = serve_with(
            &directory,
            "t5-a",
            &host_toml("t5-a", Some("4M")),
            &password,
            &source_options,
        );
        let target = serve_with(
            &directory,
            "t5-b",
            &host_toml("t5-b", None),
            &password,
            &target_options,
        );
        let proxy = FaultProxy::start(&target.address, seed);
        Cell {
            directory,
            password,
            source,
            target,
            proxy,
            phase,
            fault,
        }
    }

    fn holder(&self) -> &Host {
        match self.phase.hold() {
            Some((_, true)) => &self.target,
            _ => &self.source,
        }
    }

    fn release(&self, then: &str) -> Result<(), String> {
        let output = ldmig(
            &self.holder().control,
            &["release-migration", "--then", then, "ldg1"],
        );
        check(output.status.success(), || {
            format!("release refused: {}", text(&output))
        })
    }

    /// Runs the cell; `Ok` says how it ended.
    fn run(&mut self) -> Result<String, String> {
        let control = self.source.control.clone();
        let target = self.proxy.address.clone();
        let downtime = self.phase.downtime_limit(self.fault).to_string();
        let migration = std::thread::spawn(move || {
            ldmig(
                &control,
                &[
                    "--json",
                    "migrate-domain",
                    "--downtime-limit",
                    &downtime,
                    "ldg1",
                    &target,
                ],
            )
        });
        if self.phase == Phase::AfterCompletion {
            let output = migration
                .join()
                .map_err(|_| "migration thread".to_string())?;
            check(output.status.success(), || {
                format!("the migration itself failed: {}", text(&output))
            })?;
            self.fault_after_completion()?;
            return self.settle_and_check(&output);
        }
        wait_until("the hold point", || {
            migration.is_finished() || held(self.holder())
        })?;
        if migration.is_finished() {
            let output = migration
                .join()
                .map_err(|_| "migration thread".to_string())?;
            return Err(format!("the phase was never reached: {}", text(&output)));
        }
        self.inject(&migration)?;
        let output = migration
            .join()
            .map_err(|_| "migration thread".to_string())?;
        self.recover_processes()?;
        self.settle_and_check(&output)
    }

    /// Puts the fault in place at the hold and lets the migration go on.
    fn inject(&mut self, migration: &std::thread::JoinHandle<Output>) -> Result<(), String> {
        let target_holds = matches!(self.phase.hold(), Some((_, true)));
        match self.fault {
            Fault::Cut => {
                self.proxy.cut();
                self.release("continue")
            }
            Fault::CutOnce => {
                self.proxy.drop_connections();
                self.release("continue")
            }
            Fault::Stall => {
                // The held side's "going on" passes (else the other side's
                // clock would stand still for ever), then nothing does.
                self.proxy.stall_after(1);
                self.release("continue")?;
                // The stall lasts until the source gave up (its peer
                // timeout), then the network comes back as a cut.
                wait_until("the source gives up on the stall", || {
                    migration.is_finished()
                })?;
                self.proxy.cut();
                Ok(())
            }
            Fault::Corrupt | Fault::Duplicate | Fault::Reorder => {
                self.proxy.arm(match self.fault {
                    Fault::Corrupt => Damage::Corrupt,
                    Fault::Duplicate => Damage::Duplicate,
                    _ => Damage::Reorder,
                });
                self.release("continue")
            }
            Fault::KillSource if target_holds => {
                self.source.kill9();
                self.release("continue")
            }
            Fault::KillSource => {
                self.release("kill")?;
                self.source.wait_exit();
                Ok(())
            }
            Fault::KillTarget if target_holds => {
                self.release("kill")?;
                self.target.wait_exit();
                Ok(())
            }
            Fault::KillTarget => {
                self.target.kill9();
                self.release("continue")
            }
            Fault::StopSource if target_holds => {
                self.source.stop();
                self.release("continue")?;
                wait_until("the target settles without the source", || {
                    ldg1(&self.target).is_none_or(|domain| !migrating(&domain))
                })?;
                self.source.cont();
                Ok(())
            }
            Fault::StopSource => {
                self.release("stop")?;
                wait_until("the target gives up on the stopped source", || {
                    self.target
                        .log_text()
                        .contains("incoming migration of ldg1")
                })?;
                self.source.cont();
                Ok(())
            }
            Fault::StopTarget => {
                if target_holds {
                    self.release("stop")?;
                } else {
                    self.target.stop();
                    self.release("continue")?;
                }
                wait_until("the source gives up on the stopped target", || {
                    migration.is_finished()
                })?;
                self.target.cont();
                Ok(())
            }
            Fault::OutOfMemory => {
                let output = ldmig(&self.target.control, &["inject-fault", "out-of-memory"]);
                check(output.status.success(), || text(&output))?;
                self.release("continue")
            }
            Fault::Cancel => {
                let control = self.source.control.clone();
                let cancel = std::thread::spawn(move || {
                    ldmig(&control, &["cancel-operation", "migration", "ldg1"])
                });
                if target_holds {
                    // The source is past the commit: the cancel is refused
                    // at once; then the target goes on.
                    let output = cancel.join().map_err(|_| "cancel thread".to_string())?;
                    check(!output.status.success(), || {
                        format!("a cancel after the commit was accepted: {}", text(&output))
                    })?;
                    self.release("continue")
                } else {
                    let _ = cancel.join();
                    Ok(())
                }
            }
        }
    }

    fn fault_after_completion(&mut self) -> Result<(), String> {
        match self.fault {
            Fault::Cut => self.proxy.cut(),
            Fault::CutOnce => self.proxy.drop_connections(),
            Fault::Stall => self.proxy.stall(),
            Fault::Corrupt => self.proxy.arm(Damage::Corrupt),
            Fault::Duplicate => self.proxy.arm(Damage::Duplicate),
            Fault::Reorder => self.proxy.arm(Damage::Reorder),
            Fault::KillSource => self.source.kill9(),
            Fault::KillTarget => self.target.kill9(),
            Fault::StopSource => {
                self.source.stop();
                self.source.cont();
            }
            Fault::StopTarget => {
                self.target.stop();
                self.target.cont();
            }
            Fault::OutOfMemory => {
                let output = ldmig(&self.target.control, &["inject-fault", "out-of-memory"]);
                check(output.status.success(), || text(&output))?;
            }
            Fault::Cancel => {
                let output = ldmig(
                    &self.source.control,
                    &["cancel-operation", "migration", "ldg1"],
                );
                check(!output.status.success(), || {
                    format!("a finished migration was cancelled: {}", text(&output))
                })?;
            }
        }
        self.recover_processes()
    }

    /// Starts killed daemons again from their state directories; makes
    /// stopped ones go on; clears the out-of-memory fault.
    fn recover_processes(&mut self) -> Result<(), String> {
        self.source.cont();
        self.target.cont();
        for host in [&mut self.source, &mut self.target] {
            if host.exited() {
                host.restart();
            }
        }
        let output = ldmig(&self.target.control, &["inject-fault", "none"]);
        check(output.status.success(), || text(&output))
    }

    /// Waits for both daemons to settle, then checks the placement, the
    /// message and the recovery.
    fn settle_and_check(&mut self, output: &Output) -> Result<String, String> {
        wait_until("both daemons settle", || {
            ldg1(&self.source).is_none_or(|domain| !migrating(&domain))
                && ldg1(&self.target).is_none_or(|domain| !migrating(&domain))
        })?;
        let source = ldg1(&self.source);
        let target = ldg1(&self.target);
        let state = |domain: &Option<serde_json::Value>| {
            domain
                .as_ref()
                .and_then(|domain| domain["state"].as_str().map(str::to_string))
        };
        let placement = Placement {
            source: state(&source),
            target: state(&target),
        };
        let active = |side: &Option<String>| side.as_deref() == Some("active");
        check(
            !(active(&placement.source) && active(&placement.target)),
            || format!("two runnable copies: {placement:?}"),
        )?;
        let said = text(output);
        let completed = output.status.success();
        if completed {
            let report: serde_json::Value =
                serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())?;
            let info = &report["migration"];
            if info["peer_memory_digest"].is_null() {
                // The target never said it runs the domain (it failed to
                // resume it after its acknowledgement): it must not list
                // it as running.
                check(placement.target.as_deref() != Some("active"), || {
                    format!("the target runs a copy it never reported: {info}")
                })?;
            } else {
                check(
                    info["memory_digest"] == info["peer_memory_digest"]
                        && info["vcpu_digest"] == info["peer_vcpu_digest"],
                    || format!("the target's copy differs: {info}"),
                )?;
            }
        } else if resumed(self.phase, self.fault) {
            // Resumed, then it ended for its own reason (never converging).
            check(said.contains("did not converge"), || {
                format!("a resumed migration failed for another reason: {said}")
            })?;
        } else {
            let cause = self.fault.causes();
            check(cause.iter().any(|word| said.contains(word)), || {
                format!("the message does not name the cause ({cause:?}): {said}")
            })?;
            if self.fault == Fault::Cut && self.phase.pre_copy() {
                // Bounded retries, then a clean failure that says so.
                check(said.contains("could not be resumed"), || {
                    format!("a cut for good during pre-copy did not say it tried to resume: {said}")
                })?;
            }
        }
        if resumed(self.phase, self.fault) {
            // It went on where it was: one engine run, a second connection.
            let report: serde_json::Value =
                serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())?;
            let resumes = report["migration"]["resumes"].as_u64().unwrap_or(0);
            check(resumes >= 1 && self.proxy.connections() >= 2, || {
                format!(
                    "no resume ({resumes} resumes, {} connections): {said}",
                    self.proxy.connections()
                )
            })?;
        }
        match expected_outcome(self.phase, self.fault) {
            Expected::SourceRuns => check(
                active(&placement.source) && placement.target.is_none(),
                || {
                    format!(
                        "before the commit the source must run it alone: {placement:?}; {said}; source lists: {}",
                        text(&ldmig(&self.source.control, &["list"]))
                    )
                },
            )?,
            Expected::TargetRuns => check(
                placement.source.is_none() && active(&placement.target),
                || format!("after completion the target runs it: {placement:?}"),
            )?,
            Expected::OneOrRecoverable => self.recover(&placement, &source, &target)?,
        }
        Ok(format!(
            "{} / {}",
            placement.source.as_deref().unwrap_or("-"),
            placement.target.as_deref().unwrap_or("-")
        ))
    }

    /// Exactly one runs, or the error state's recovery leaves one.
    fn recover(
        &self,
        placement: &Placement,
        source: &Option<serde_json::Value>,
        target: &Option<serde_json::Value>,
    ) -> Result<(), String> {
        let running = [&placement.source, &placement.target]
            .iter()
            .filter(|side| side.as_deref() == Some("active"))
            .count();
        let errors: Vec<(&Host, &serde_json::Value)> =
            [(&self.source, source), (&self.target, target)]
                .into_iter()
                .filter_map(|(host, domain)| {
                    domain
                        .as_ref()
                        .filter(|domain| domain["state"] == "error")
                        .map(|domain| (host, domain))
                })
                .collect();
        if errors.is_empty() {
            return check(running == 1, || {
                format!("neither one copy nor an error state: {placement:?}")
            });
        }
        for (_, domain) in &errors {
            let recovery = domain["migration"]["recovery"].as_str().unwrap_or("");
            check(recovery.contains("recover-domain"), || {
                format!("an error state without recovery text: {domain}")
            })?;
        }
        // What the recovery text says: remove it where it does not run,
        // resume it where nothing else runs it.
        for (index, (host, _)) in errors.iter().enumerate() {
            let action = if running == 1 || index > 0 {
                "--remove"
            } else {
                "--resume"
            };
            let output = ldmig(&host.control, &["recover-domain", "ldg1", action]);
            check(output.status.success(), || {
                format!("recover-domain {action} failed: {}", text(&output))
            })?;
        }
        let after = [ldg1(&self.source), ldg1(&self.target)]
            .iter()
            .filter(|domain| {
                domain
                    .as_ref()
                    .is_some_and(|domain| domain["state"] == "active")
            })
            .count();
        check(after == 1, || {
            format!("{after} copies run after the recovery")
        })
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        let _ = &self.password;
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Runs every cell for `seeds`, `PARALLEL_CELLS` at a time.
fn run_matrix(seeds: &[u64]) -> Vec<CellResult> {
    let filter = std::env::var("LDMIG_FAULT_FILTER").unwrap_or_default();
    let mut cells: Vec<(Phase, Fault, u64)> = Vec::new();
    for &seed in seeds {
        for phase in Phase::ALL {
            for fault in Fault::ALL {
                if format!("{}/{}", phase.name(), fault.name()).contains(&filter) {
                    cells.push((phase, fault, seed));
                }
            }
        }
    }
    let queue = Mutex::new(cells.into_iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_CELLS {
            scope.spawn(|| loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .next();
                let Some((phase, fault, seed)) = next else {
                    return;
                };
                let mut cell = Cell::start(phase, fault, seed);
                let verdict = cell.run();
                if let Err(problem) = &verdict {
                    eprintln!(
                        "FAILED {} at {} (seed {seed}): {problem}\nsource log:\n{}\ntarget log:\n{}",
                        fault.name(),
                        phase.name(),
                        cell.source.log_text(),
                        cell.target.log_text()
                    );
                }
                results
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(CellResult {
                        phase,
                        fault,
                        seed,
                        verdict,
                    });
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The matrix as a table: faults down, phases across; each cell says how
/// many seeds passed, and where the domain ended (source / target) for
/// the first seed.
fn table(results: &[CellResult], seeds: usize) -> String {
    let mut by_cell: BTreeMap<(Fault, Phase), Vec<&CellResult>> = BTreeMap::new();
    for result in results {
        by_cell
            .entry((result.fault, result.phase))
            .or_default()
            .push(result);
    }
    let mut text = format!(
        "fault matrix: {} faults x {} phases x {seeds} seed(s); cell = seeds passed/run, then where ldg1 ended (source / target) before any recovery\n\n| fault \\ phase |",
        Fault::ALL.len(),
        Phase::ALL.len()
    );
    for phase in Phase::ALL {
        text.push_str(&format!(" {} |", phase.name()));
    }
    text.push_str("\n|---|");
    for _ in Phase::ALL {
        text.push_str("---|");
    }
    text.push('\n');
    for fault in Fault::ALL {
        text.push_str(&format!("| {} |", fault.name()));
        for phase in Phase::ALL {
            let cell = by_cell.get(&(fault, phase)).cloned().unwrap_or_default();
            let passed = cell.iter().filter(|result| result.verdict.is_ok()).count();
            let ending = cell
                .iter()
                .min_by_key(|result| result.seed)
                .map(|result| match &result.verdict {
                    Ok(ending) => ending.clone(),
                    Err(_) => "FAILED".into(),
                })
                .unwrap_or_default();
            text.push_str(&format!(" {passed}/{} {ending} |", cell.len()));
        }
        text.push('\n');
    }
    text
}

fn seeds() -> Vec<u64> {
    let count = std::env::var("LDMIG_FAULT_SEEDS")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (1..=count).map(|index| 0x5eed_0000 + index).collect()
}

#[test]
#[cfg_attr(
    target_arch = "sparc64",
    ignore = "host only: starts the ldmig binary as child processes"
)]
fn host_only_fault_matrix_on_two_serve_processes() {
    let seeds = seeds();
    eprintln!("fault matrix seeds: {seeds:?} (LDMIG_FAULT_SEEDS=N for N seeds)");
    let results = run_matrix(&seeds);
    let printed = table(&results, seeds.len());
    println!("{printed}");
    // qemu/check prints it from here.
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-matrix.md"),
        &printed,
    );
    let failed: Vec<String> = results
        .iter()
        .filter_map(|result| {
            result.verdict.as_ref().err().map(|problem| {
                format!(
                    "{} at {} (seed {}): {problem}",
                    result.fault.name(),
                    result.phase.name(),
                    result.seed
                )
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} cells failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The matrix's own bookkeeping: every cell has an expected outcome, the
/// hold points name real hooks, and the table lists every cell.
#[test]
fn the_fault_matrix_covers_every_fault_at_every_phase() {
    let mut cells = 0;
    for phase in Phase::ALL {
        if let Some((point, _)) = phase.hold() {
            assert!(
                ldmig_shim::hooks::HoldPoint::from_name(point).is_some(),
                "{point} is no hook"
            );
        }
        for fault in Fault::ALL {
            let _ = expected_outcome(phase, fault);
            assert!(!fault.causes().is_empty());
            cells += 1;
        }
    }
    assert_eq!(cells, 120);
    let results: Vec<CellResult> = Phase::ALL
        .iter()
        .flat_map(|&phase| {
            Fault::ALL.iter().map(move |&fault| CellResult {
                phase,
                fault,
                seed: 1,
                verdict: Ok("active / -".into()),
            })
        })
        .collect();
    let printed = table(&results, 1);
    assert_eq!(printed.matches("1/1 active / -").count(), 120, "{printed}");
    // Resumed cells are the healing faults during pre-copy, and only those.
    assert!(resumed(Phase::LaterRounds, Fault::CutOnce));
    assert!(!resumed(Phase::LaterRounds, Fault::Cut));
    assert!(!resumed(Phase::Suspend, Fault::CutOnce));
    assert!(!resumed(Phase::Setup, Fault::Corrupt));
}
