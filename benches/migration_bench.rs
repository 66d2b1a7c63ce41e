//! Whole-migration benchmark: a 1 GiB domain under each workload migrated
//! over the simulated 10 GbE link (virtual time, so link-bound numbers are
//! repeatable), all in one run. `--memory MiB`, `--markdown`, `--seed N`,
//! `--link 10g|1g`.

use ldmig_shim::harness::{run, LinkModel, Scenario};
use ldmig_sim::workload::WorkloadSpec;
use std::process::ExitCode;

struct Options {
    memory_mib: u64,
    markdown: bool,
    seed: u64,
    link: LinkModel,
    link_name: &'static str,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        memory_mib: 1024,
        markdown: false,
        seed: 1,
        link: LinkModel::TEN_GBE,
        link_name: "10 GbE",
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--markdown" => options.markdown = true,
            "--memory" => {
                let value = args.next().ok_or("--memory needs a size in MiB")?;
                options.memory_mib = value.parse().map_err(|_| format!("bad --memory {value}"))?;
            }
            "--seed" => {
                let value = args.next().ok_or("--seed needs a number")?;
                options.seed = value.parse().map_err(|_| format!("bad --seed {value}"))?;
            }
            "--link" => match args.next().as_deref() {
                Some("10g") => (options.link, options.link_name) = (LinkModel::TEN_GBE, "10 GbE"),
                Some("1g") => (options.link, options.link_name) = (LinkModel::ONE_GBE, "1 GbE"),
                other => return Err(format!("--link takes 10g or 1g, not {other:?}")),
            },
            "--help" | "-h" => {
                return Err(
                    "usage: migration_bench [--memory MiB] [--seed N] [--link 10g|1g] [--markdown]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    ldmig_benches::run_with_options(parse, benchmark)
}

/// Runs every path (or workload) of the benchmark and prints the table.
fn benchmark(options: Options) -> ExitCode {
    let workloads = [
        ("idle", WorkloadSpec::idle(options.seed)),
        (
            "moderate (5 000 pages/s)",
            WorkloadSpec::moderate(options.seed),
        ),
        ("hot set (20 000 pages/s)", WorkloadSpec::hot(options.seed)),
        ("heavy (50 000 pages/s)", WorkloadSpec::heavy(options.seed)),
        (
            "faster than the link (2 M pages/s)",
            WorkloadSpec::unconvergeable(options.seed),
        ),
    ];
    let header = [
        "workload",
        "outcome",
        "total ms",
        "downtime ms",
        "rounds",
        "throttle %",
        "sent MiB",
        "zero pages",
        "compression",
        "memory equal",
        "host s",
    ];
    if options.markdown {
        println!(
            "{} MiB domain, {} link (simulated, virtual time), seed {}\n",
            options.memory_mib, options.link_name, options.seed
        );
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
    } else {
        println!("{}", header.join("\t"));
    }
    for (name, workload) in workloads {
        let mut scenario = Scenario::new(options.seed, options.memory_mib << 20, workload);
        scenario.link = options.link;
        scenario.continue_ns = 0;
        let report = match run(&scenario) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("{name}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let outcome = report
            .source_outcome
            .map_or("stuck".to_string(), |outcome| match outcome {
                ldmig::precopy::Outcome::Completed => "completed".into(),
                ldmig::precopy::Outcome::GaveUp(_) => "gave up".into(),
                other => format!("{other}"),
            });
        let row = [
            name.to_string(),
            outcome,
            format!("{:.0}", report.migration_ns as f64 / 1e6),
            report
                .downtime_ns
                .map_or("-".into(), |ns| format!("{:.2}", ns as f64 / 1e6)),
            report.source.rounds.to_string(),
            report.source.cpu_throttle_percentage.to_string(),
            format!("{:.1}", report.source.transferred as f64 / (1 << 20) as f64),
            report.source.duplicate.to_string(),
            format!("{:.2}", report.source.compression_ratio()),
            report
                .memory_identical
                .map_or("-".into(), |equal| equal.to_string()),
            format!("{:.1}", report.host_ns as f64 / 1e9),
        ];
        if options.markdown {
            println!("| {} |", row.join(" | "));
        } else {
            println!("{}", row.join("\t"));
        }
    }
    ExitCode::SUCCESS
}
