//! `slipway ci`: one development build of a local repository, like `act` for
//! GitHub Actions. Output and exit codes are a contract scripts rely on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use slipway_engine::{BuildReport, DevelopmentRequest, OdooRequest, TemplateUse};
use slipway_image::{BuildOptions, OdooVersion};
use slipway_odoo_log::Status;

use super::sources::SourceArgs;
use crate::progress::Progress;
use crate::{absolute, setup};

const EXIT_FAILED: u8 = 1;
/// Conventional exit code after SIGINT.
const EXIT_INTERRUPTED: u8 = 130;
/// Tracebacks in the human summary are cut to this many lines (the log has all).
const TRACEBACK_LINES_SHOWN: usize = 25;

#[derive(Args)]
pub struct CiArgs {
    /// The git repository to build (its HEAD commit; uncommitted changes are ignored).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Odoo series (`17.0`): Debian's packaged Odoo of it (14.0, 19.0), or
    /// the series the Odoo of --odoo-repo must be.
    #[arg(long, value_name = "SERIES")]
    odoo: String,
    #[command(flatten)]
    sources: SourceArgs,
    /// Modules to install and test (default: every installable addon found).
    #[arg(long, value_delimiter = ',', value_name = "a,b")]
    modules: Option<Vec<String>>,
    /// Odoo test tags (default: the selected modules' own tests, `/a,/b`).
    #[arg(long, value_name = "SPEC")]
    test_tags: Option<String>,
    /// Install everything from scratch instead of starting from a cached
    /// template database of the dependencies.
    #[arg(long)]
    no_template: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Keep the database and data dir, and print how to start Odoo on them.
    #[arg(long)]
    keep: bool,
    /// A regular expression: log records matching it do not count as errors or
    /// warnings (repeatable).
    #[arg(long = "ignore-log", value_name = "REGEX")]
    ignore_log: Vec<String>,
    /// Wall-clock limit of the Odoo run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    timeout: u64,
    /// Debian mirror, should the image have to be built.
    #[arg(long, env = "SLIPWAY_MIRROR", default_value = slipway_image::DEFAULT_MIRROR)]
    mirror: String,
}

pub async fn run(args: CiArgs) -> Result<ExitCode> {
    let series: OdooVersion = args.odoo.parse()?;
    let sources = args.sources.specs(series)?;
    let repo = absolute(args.path.clone());
    let head = slipway_checkout::resolve_head(&repo)?;
    if head.has_uncommitted_changes {
        eprintln!(
            "notice: {} has uncommitted changes; building commit {} without them",
            repo.display(),
            &head.commit[..12]
        );
    }
    let progress = Arc::new(Progress::new());
    let engine = Arc::new(setup::engine().await?);
    let reaped = engine.reap_orphans().await?;
    if reaped > 0 {
        tracing::info!(reaped, "cleaned up after interrupted builds");
    }
    engine.collect_old();
    let odoo = engine
        .prepare_odoo(
            &OdooRequest {
                series,
                sources,
                image_options: BuildOptions {
                    mirror: args.mirror.clone(),
                },
            },
            progress.as_ref(),
        )
        .await;
    progress.finish();
    let odoo = odoo?;
    let request = DevelopmentRequest {
        repo,
        commit: head.commit,
        subdir: head.subdir,
        submodules: slipway_checkout::SubmoduleSources::LocalAllowed,
        odoo,
        modules: args.modules.clone(),
        test_tags: args.test_tags.clone(),
        use_template: !args.no_template,
        keep: args.keep,
        ignore_rules: args.ignore_log.clone(),
        time_limit: Duration::from_secs(args.timeout.max(1)),
        service: slipway_engine::ServiceOptions::default(),
    };
    let build = Arc::new(engine.prepare()?);
    let mut task = {
        let (engine, build, progress) = (engine.clone(), build.clone(), progress.clone());
        tokio::spawn(async move {
            engine
                .run_development(&build, &request, progress.as_ref())
                .await
        })
    };
    let outcome = tokio::select! {
        joined = &mut task => joined,
        signal = interrupted() => {
            // Wait for the task to be gone (its sandbox killed on drop) so that
            // nothing it does races with the cleanup.
            task.abort();
            let _ = task.await;
            progress.finish();
            eprintln!("{signal}: stopping the build and removing what it created…");
            engine.discard(&build).await.context("cleaning up the interrupted build")?;
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    progress.finish();
    let report = match outcome {
        Ok(result) => result?,
        Err(panic) => {
            engine
                .discard(&build)
                .await
                .context("cleaning up after the crashed build")?;
            anyhow::bail!("the build crashed ({panic}); everything it created has been removed");
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report.run_report()).expect("report serializes")
        );
    } else {
        print_summary(&report);
    }
    Ok(match report.status {
        Status::Success | Status::Warning => ExitCode::SUCCESS,
        Status::Failed => ExitCode::from(EXIT_FAILED),
    })
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = terminate.recv() => "terminated",
        _ = hangup.recv() => "hung up",
    }
}

fn print_summary(report: &BuildReport) {
    let (mark, word) = match report.status {
        Status::Success => ("✔", "success"),
        Status::Warning => ("⚠", "warning"),
        Status::Failed => ("✘", "failed"),
    };
    println!(
        "{mark} {word} · commit {} · Odoo {} · {:.1} s",
        &report.commit[..12],
        report.odoo,
        report.duration_s
    );
    println!("modules: {}", report.modules.join(", "));
    println!(
        "time: {:.1} s in Odoo, {:.1} s slipway's own",
        report.odoo_seconds,
        (report.duration_s - report.odoo_seconds).max(0.0)
    );
    let tests = &report.tests;
    println!(
        "tests: {} run, {} failed, {} errors, {} skipped",
        tests.run, tests.failed, tests.errors, tests.skipped
    );
    match &report.template {
        TemplateUse::Reused { hash } => println!("database: copied from template {hash}"),
        TemplateUse::Created { hash, seconds } => {
            println!("database: template {hash} built ({seconds} s), then copied")
        }
        TemplateUse::Disabled => println!("database: installed from scratch (--no-template)"),
        TemplateUse::NotReached => {}
    }
    if !report.failed_tests.is_empty() {
        println!("failed tests:");
        for test in &report.failed_tests {
            println!("  - {test}");
        }
    }
    if !report.errors.is_empty() {
        println!("errors ({}):", report.errors.len());
        for problem in &report.errors {
            println!("  - {}", problem.message);
            if let Some(traceback) = &problem.traceback {
                let lines: Vec<&str> = traceback.lines().collect();
                let skipped = lines.len().saturating_sub(TRACEBACK_LINES_SHOWN);
                if skipped > 0 {
                    println!("      … {skipped} lines (see the log)");
                }
                for line in &lines[skipped..] {
                    println!("      {line}");
                }
            }
        }
    }
    if !report.warnings.is_empty() {
        println!("warnings ({}):", report.warnings.len());
        for warning in &report.warnings {
            println!("  - {}", warning.lines().next().unwrap_or_default());
        }
    }
    println!("log: {}", report.log.display());
    if let Some(kept) = &report.kept {
        println!(
            "kept: database {} · data dir {}",
            kept.database,
            kept.data_dir.display()
        );
        println!(
            "  start Odoo on it:  {}   (then open http://127.0.0.1:{})",
            kept.start_script.display(),
            kept.http_port
        );
        println!("  remove it:         slipway kept remove {}", report.id);
    }
}
