//! The dry-run report: every finding of every check, printed in the guide's
//! words.
//!
//! Printed, a report is one line per finding: failures first (in the order
//! the checks ran), then warnings (`Warning: `), then notes (`Note: `). When
//! any check failed, the last line is the guide's
//! `Domain Migration of LDom <domain> failed`. A report without failures
//! prints only its warnings and notes (nothing at all when there are none,
//! like `ldm migrate-domain -n`). Warnings about an inactive domain's binding
//! constraints say that binding it on the target will fail later.

use crate::rules::finding::{Finding, RuleSet, Severity};
use core::fmt;
use ldmig_hv::resources::{self, DomainState, Name};

/// Findings one report holds; more are counted, not kept.
pub const MAX_FINDINGS: usize = 32;

/// One finding and its severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What was found.
    pub finding: Finding,
    /// How serious it is for this domain.
    pub severity: Severity,
}

/// The result of every migration check for one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    domain: Name,
    state: DomainState,
    entries: heapless::Vec<Entry, MAX_FINDINGS>,
    failed_rules: RuleSet,
    failures: usize,
    omitted: usize,
}

impl CheckReport {
    /// An empty report for `domain` (names longer than
    /// [`resources::NAME_CAPACITY`] are cut) in `state`.
    pub fn new(domain: &str, state: DomainState) -> Self {
        CheckReport {
            domain: truncated_name(domain),
            state,
            entries: heapless::Vec::new(),
            failed_rules: RuleSet::new(),
            failures: 0,
            omitted: 0,
        }
    }

    /// Records a finding. When the report is full, a failure takes the place
    /// of the last warning or note; any other finding is counted (a failure
    /// still fails the report) but not kept.
    pub fn push(&mut self, severity: Severity, finding: Finding) {
        if severity == Severity::Failure {
            self.failures += 1;
            self.failed_rules.insert(finding.rule());
            if self.entries.is_full() {
                let last_lesser = self
                    .entries
                    .iter()
                    .rposition(|entry| entry.severity != Severity::Failure);
                if let Some(index) = last_lesser {
                    self.entries.remove(index);
                    self.omitted += 1;
                }
            }
        }
        if self.entries.push(Entry { finding, severity }).is_err() {
            self.omitted += 1;
        }
    }

    /// The domain checked.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The domain's state.
    pub fn state(&self) -> DomainState {
        self.state
    }

    /// Every kept finding, in the order the checks ran.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The kept findings of `severity`, in the order the checks ran.
    pub fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.entries
            .iter()
            .filter(move |entry| entry.severity == severity)
            .map(|entry| &entry.finding)
    }

    /// The failures.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.with_severity(Severity::Failure)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.with_severity(Severity::Warning)
    }

    /// The notes.
    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.with_severity(Severity::Note)
    }

    /// Number of failures, kept or not.
    pub fn failure_count(&self) -> usize {
        self.failures
    }

    /// True when at least one check failed: the migration must not start
    /// (and a dry run exits non-zero).
    pub fn failed(&self) -> bool {
        self.failures > 0
    }

    /// The rules with at least one failure.
    pub fn failed_rules(&self) -> RuleSet {
        self.failed_rules
    }

    /// Findings counted but not kept because the report was full.
    pub fn omitted(&self) -> usize {
        self.omitted
    }
}

/// `text` as a [`Name`], cut at the capacity on a character boundary.
pub(crate) fn truncated_name(text: &str) -> Name {
    let mut name = Name::new();
    // Cannot fail: at most NAME_CAPACITY bytes are pushed.
    let _ = name.push_str(crate::wire::codec::prefix_within(
        text,
        resources::NAME_CAPACITY,
    ));
    name
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for severity in [Severity::Failure, Severity::Warning, Severity::Note] {
            for finding in self.with_severity(severity) {
                match severity {
                    Severity::Failure => {}
                    Severity::Warning => f.write_str("Warning: ")?,
                    Severity::Note => f.write_str("Note: ")?,
                }
                write!(f, "{finding}")?;
                if severity == Severity::Warning
                    && self.state == DomainState::Inactive
                    && finding.is_binding_constraint()
                {
                    write!(
                        f,
                        " (the domain is inactive: binding {} on the target machine will fail until this is resolved)",
                        self.domain
                    )?;
                }
                writeln!(f)?;
            }
        }
        if self.omitted > 0 {
            writeln!(
                f,
                "({} more findings not shown: the report holds {})",
                self.omitted, MAX_FINDINGS
            )?;
        }
        if self.failed() {
            writeln!(f, "Domain Migration of LDom {} failed", self.domain)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldmig_hv::resources::MemorySize;

    #[test]
    fn failures_come_first_and_the_verdict_last() {
        let mut report = CheckReport::new("ldg-src", DomainState::Active);
        report.push(Severity::Warning, Finding::NiuConstraintUnsatisfied);
        report.push(
            Severity::Failure,
            Finding::UnableToBindMemory {
                size: MemorySize(2 << 30),
                real_address: 0x800_0000,
            },
        );
        let text = std::format!("{report}");
        let lines: std::vec::Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "Unable to bind 2G memory region at real address 0x8000000"
        );
        assert!(lines[1].starts_with("Warning: "), "{text}");
        assert_eq!(lines[2], "Domain Migration of LDom ldg-src failed");
        assert!(report.failed());
        assert_eq!(report.failure_count(), 1);
    }

    #[test]
    fn a_clean_report_prints_nothing() {
        let report = CheckReport::new("ldg1", DomainState::Bound);
        assert!(!report.failed());
        assert_eq!(std::format!("{report}"), "");
    }

    #[test]
    fn a_full_report_still_counts_and_fails() {
        let mut report = CheckReport::new("ldg1", DomainState::Active);
        for _ in 0..MAX_FINDINGS {
            report.push(Severity::Warning, Finding::NiuConstraintUnsatisfied);
        }
        report.push(
            Severity::Failure,
            Finding::DomainDelayedReconfigurationPending,
        );
        report.push(Severity::Note, Finding::NiuConstraintUnsatisfied);
        assert_eq!(report.entries().len(), MAX_FINDINGS);
        assert_eq!(report.omitted(), 2);
        assert!(report.failed());
        assert_eq!(report.failures().count(), 1, "the failure is kept");
        let text = std::format!("{report}");
        assert!(text.contains("2 more findings not shown"), "{text}");
        assert!(
            text.ends_with("Domain Migration of LDom ldg1 failed\n"),
            "{text}"
        );
    }

    #[test]
    fn long_domain_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(20);
        let name = truncated_name(&long);
        assert!(name.len() <= resources::NAME_CAPACITY);
        assert!(long.starts_with(name.as_str()));
    }
}
