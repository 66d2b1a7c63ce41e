//! `ldmig generate-docs DIR` (hidden): the man pages, one per command
//! (`ldmig.1`, `ldmig-migrate-domain.1`, ...), and the bash, zsh and fish
//! completions, all from the clap definitions in `cli`, with the guide's
//! examples (the README's) in each page's EXAMPLES section. The packaging
//! (`packaging/build-deb`) runs it.

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::{Args, Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `ldmig generate-docs`.
#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// The directory to write `man/*.1` and `completions/*` into.
    pub directory: PathBuf,
}

/// An example of a page: what it shows, and the command lines.
type Example = (&'static str, &'static str);

/// The examples of each command's page (the README's).
fn examples(command: &str) -> &'static [Example] {
    match command {
        "ldmig" => &[
            (
                "Run a live migration between two simulated hosts in one process:",
                "ldmig demo --memory 256M --plot migration.svg",
            ),
            (
                "Talk to the daemon of this machine (the packaged service's socket):",
                "ldmig --control /run/ldmig/control.sock list",
            ),
        ],
        "serve" => &[(
            "Two daemons on one machine, each with its own control socket:",
            "echo 's3cret' > pw\n\
             ldmig --control a.sock serve --host /usr/share/ldmig/hosts/demo-source.toml \\\n    --listen 127.0.0.1:8101 --password-file pw &\n\
             ldmig --control b.sock serve --host /usr/share/ldmig/hosts/demo-target.toml \\\n    --listen 127.0.0.1:8102 --password-file pw &",
        )],
        "migrate-domain" => &[
            (
                "Migrate ldg1 to the daemon at 127.0.0.1:8102, slowed to 20M a second, and draw it:",
                "ldmig --control a.sock migrate-domain -p pw --max-bandwidth 20M \\\n    --plot ldg1.svg --timeline ldg1.jsonl ldg1 127.0.0.1:8102",
            ),
            (
                "The guide's dry run: every check, nothing moves:",
                "$ ldmig --control src.sock migrate-domain -n -p pw ldg-src 127.0.0.1:8102\n\
                 Unable to bind 2G memory region at real address 0x8000000\n\
                 Domain Migration of LDom ldg-src failed",
            ),
        ],
        "list" => &[
            ("The domains and their flags:", "ldmig --control a.sock list"),
            (
                "A migration's progress, on the source or the target:",
                "ldmig --control a.sock list -o status ldg1",
            ),
            (
                "Memory, crypto, network and disk of one domain:",
                "ldmig --control a.sock list -o memory,crypto,network,disk ldg1",
            ),
        ],
        "list-devices" => &[(
            "Free physical memory:",
            "$ ldmig --control dst.sock list-devices memory\n\
             MEMORY\n    PA                   SIZE\n    0x108000000          1G\n    0x188000000          1G",
        )],
        "cancel-operation" => &[(
            "Cancel a migration before its commit (the source domain resumes):",
            "ldmig --control a.sock cancel-operation migration ldg1",
        )],
        "recover-domain" => &[(
            "After a failed migration left ldg1 in the error state, and it does not run on the target:",
            "ldmig --control a.sock recover-domain ldg1 --resume",
        )],
        "stop-domain" => &[(
            "Reboot a migrated domain (memory dynamic reconfiguration is enabled again):",
            "ldmig --control b.sock stop-domain -r ldg1",
        )],
        "add-memory" => &[(
            "Add 256M to ldg1:",
            "ldmig --control b.sock add-memory 256M ldg1",
        )],
        "set-domain" => &[(
            "Let ldg2 migrate to another processor type:",
            "ldmig --control a.sock set-domain cpu-arch=generic ldg2",
        )],
        "set-power-policy" => &[(
            "Switch to the elastic policy (deferred while a migration runs):",
            "ldmig --control b.sock set-power-policy elastic",
        )],
        "demo" => &[
            ("The default: a 1G domain with the moderate workload:", "ldmig demo"),
            (
                "A heavy workload, with its picture and samples:",
                "ldmig demo --workload heavy --plot heavy.svg --timeline heavy.jsonl",
            ),
        ],
        _ => &[],
    }
}

/// The command and its visible subcommands, built (so that the
/// subcommands carry their `ldmig-NAME` display names).
fn commands() -> Vec<Command> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut all = vec![root.clone()];
    all.extend(
        root.get_subcommands()
            .filter(|command| !command.is_hide_set())
            .cloned(),
    );
    all
}

/// The file name of a command's page: `ldmig.1`, `ldmig-list.1`.
fn page_name(command: &Command) -> String {
    Man::new(command.clone()).get_filename()
}

/// The roff of one command's page: clap's sections, then EXAMPLES, and on
/// the main page ENVIRONMENT, FILES and SEE ALSO.
fn page(command: &Command, all: &[Command]) -> Result<Vec<u8>> {
    let mut command = command.clone();
    if command.get_name() == "ldmig" {
        // NAME reads "ldmig - live migration ...", not "ldmig - ldmig: ...".
        command = command.about("live migration of SPARC sun4v logical domains");
    }
    let command = &command;
    let man = Man::new(command.clone())
        .manual("ldmig manual")
        .source(format!("ldmig {}", env!("CARGO_PKG_VERSION")));
    let mut text = Vec::new();
    man.render(&mut text).context("rendering a man page")?;
    let mut roff = Roff::default();
    let examples = examples(command.get_name());
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (what, lines) in examples {
            roff.control("PP", []);
            roff.text([roman(*what)]);
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            for line in lines.lines() {
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
            roff.control("RE", []);
        }
    }
    let root = command.get_name() == "ldmig";
    if root {
        roff.control("SH", ["ENVIRONMENT"]);
        roff.control("TP", []);
        roff.text([bold("LDMIG_CONTROL")]);
        roff.text([roman(
            "The daemon's control socket, when --control is not given.",
        )]);
        roff.control("SH", ["FILES"]);
        for (path, what) in [
            (
                "/etc/ldmig/ldmig.conf",
                "the service's settings (environment variables of ldmig.service)",
            ),
            (
                "/etc/ldmig/host.toml",
                "the host description the service serves",
            ),
            ("/etc/ldmig/password", "the migration password (first line)"),
            ("/run/ldmig/control.sock", "the service's control socket"),
            ("/usr/share/ldmig/hosts/", "example host descriptions"),
        ] {
            roff.control("TP", []);
            roff.text([bold(path)]);
            roff.text([roman(what)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = all
        .iter()
        .filter(|other| other.get_name() != command.get_name())
        .map(|other| {
            let name = page_name(other);
            let (stem, section) = name.rsplit_once('.').unwrap_or((&name, "1"));
            format!("{stem}({section})")
        })
        .collect();
    let mut see_also = if root {
        others
    } else {
        others.into_iter().take(1).collect()
    };
    see_also.push("systemctl(1)".into());
    roff.text([roman(see_also.join(", "))]);
    text.extend_from_slice(roff.to_roff().as_bytes());
    Ok(text)
}

/// Writes every page into `directory/man` and the completions into
/// `directory/completions`; returns the pages' paths.
pub fn write(directory: &Path) -> Result<Vec<PathBuf>> {
    let man = directory.join("man");
    let completions = directory.join("completions");
    for folder in [&man, &completions] {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    let all = commands();
    let mut pages = Vec::new();
    for command in &all {
        let path = man.join(page_name(command));
        std::fs::write(&path, page(command, &all)?)
            .with_context(|| format!("writing {}", path.display()))?;
        pages.push(path);
    }
    for (shell, file) in [
        (Shell::Bash, "ldmig.bash"),
        (Shell::Zsh, "_ldmig"),
        (Shell::Fish, "ldmig.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ldmig", &mut text);
        let path = completions.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(pages)
}

/// Runs `ldmig generate-docs DIR`.
pub fn run(args: &GenerateDocsArgs) -> Result<ExitCode> {
    let pages = write(&args.directory)?;
    crate::console::out_line(&format!(
        "{} man pages in {}, completions in {}",
        pages.len(),
        args.directory.join("man").display(),
        args.directory.join("completions").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let directory =
            std::env::temp_dir().join(format!("ldmig-docs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        directory
    }

    #[test]
    fn every_visible_command_has_a_page_with_its_examples_and_the_completions_exist() {
        let directory = scratch("pages");
        let pages = write(&directory).expect("the docs are written");
        let visible: Vec<String> = Cli::command()
            .get_subcommands()
            .filter(|command| !command.is_hide_set())
            .map(|command| command.get_name().to_string())
            .collect();
        assert!(visible.len() >= 20, "{visible:?}");
        assert_eq!(pages.len(), visible.len() + 1);
        for name in std::iter::once("ldmig".to_string())
            .chain(visible.iter().map(|name| format!("ldmig-{name}")))
        {
            let path = directory.join("man").join(format!("{name}.1"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let title = format!(".TH {name} 1 ");
            assert!(
                text.starts_with(".ie") || text.contains(&title),
                "{name}: no title line"
            );
            assert!(text.contains(&title), "{name}: no `{title}`");
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH DESCRIPTION",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(text.contains(section), "{name}: no {section}");
            }
            // roff takes no line starting with a quote or an unescaped dot
            // that is not a request; every request line is known.
            for line in text.lines().filter(|line| line.starts_with('.')) {
                let request = line[1..].split_whitespace().next().unwrap_or("");
                assert!(
                    [
                        "TH", "SH", "SS", "PP", "TP", "IP", "RS", "RE", "nf", "fi", "br", "ie",
                        "el", "ds", "B", "I", "sp", "in"
                    ]
                    .contains(&request)
                        || request.starts_with('\\'),
                    "{name}: unknown request line {line:?}"
                );
            }
        }
        let migrate = std::fs::read_to_string(directory.join("man/ldmig-migrate-domain.1"))
            .expect("the migrate-domain page");
        assert!(migrate.contains(".SH EXAMPLES"));
        assert!(migrate.contains("Domain Migration of LDom ldg\\-src failed"));
        assert!(migrate.contains("\\-\\-plot"), "the page lists --plot");
        let root = std::fs::read_to_string(directory.join("man/ldmig.1")).expect("ldmig.1");
        assert!(
            root.contains("ldmig\\-migrate\\-domain(1)"),
            "SEE ALSO names the pages"
        );
        assert!(root.contains("LDMIG_CONTROL"));
        for file in ["ldmig.bash", "_ldmig", "ldmig.fish"] {
            let text = std::fs::read_to_string(directory.join("completions").join(file))
                .expect("a completion file");
            assert!(
                text.contains("migrate-domain"),
                "{file} completes the commands"
            );
        }
        let _ = std::fs::remove_dir_all(&directory);
    }

    /// The text of a page `man` formatted for a terminal, without its
    /// overstrikes (`N\x08N` for bold, `_\x08x` for underlined).
    fn plain(text: &str) -> String {
        let mut out: Vec<char> = Vec::with_capacity(text.len());
        for character in text.chars() {
            if character == '\u{8}' {
                out.pop();
            } else {
                out.push(character);
            }
        }
        out.into_iter().collect()
    }

    /// Host only: runs `man -l` (where installed) on every page; a page
    /// that does not render, or makes troff warn, fails.
    #[test]
    fn the_pages_render_with_man_host_only() {
        let Ok(status) = std::process::Command::new("man").arg("--version").output() else {
            eprintln!("skipped: no `man` on this machine");
            return;
        };
        assert!(status.status.success());
        let directory = scratch("render");
        let pages = write(&directory).expect("the docs are written");
        for page in pages {
            let output = std::process::Command::new("man")
                .arg("-l")
                .arg(&page)
                .env("MANWIDTH", "80")
                .env("MAN_KEEP_FORMATTING", "0")
                .output()
                .expect("man runs");
            let text = plain(&String::from_utf8_lossy(&output.stdout));
            let errors = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{}: {errors}", page.display());
            assert!(errors.trim().is_empty(), "{}: {errors}", page.display());
            assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
            if page.ends_with("ldmig-migrate-domain.1") {
                assert!(text.contains("EXAMPLES"), "{text}");
                assert!(
                    text.contains("ldmig --control a.sock migrate-domain"),
                    "{text}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&directory);
    }
}
