//! `cargo xtask test [--require-postgres]`
//!
//! Runs every test on SQLite (needs nothing but cargo), then the
//! database-backed suites (repositories, schema equivalence, black-box HTTP)
//! again on PostgreSQL when `CONDUIT_TEST_POSTGRES_URL` names a server
//! (for example `postgres://postgres@127.0.0.1:5432/test`; each test creates
//! its own database there and drops it). Without it, the PostgreSQL part is
//! skipped, and the summary says so; `--require-postgres` (CI) turns the
//! skip into a failure.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// The crates whose tests talk to a database.
const DATABASE_SUITES: &[&str] = &["conduit-infrastructure", "conduit-server", "conduit-tests"];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(description: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("\n==> {description}");
    let status = command
        .status()
        .with_context(|| format!("starting {description}"))?;
    if !status.success() {
        bail!("{description} failed ({status})");
    }
    Ok(())
}

fn test(require_postgres: bool) -> anyhow::Result<()> {
    run(
        "all tests on SQLite",
        cargo()
            .args(["test", "--workspace", "--exclude", "xtask"])
            .env("CONDUIT_TEST_BACKEND", "sqlite"),
    )?;

    let postgres = std::env::var("CONDUIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty());
    match postgres {
        Some(url) => {
            let mut command = cargo();
            command.arg("test");
            for suite in DATABASE_SUITES {
                command.args(["--package", suite]);
            }
            run(
                "database suites on PostgreSQL",
                command
                    .env("CONDUIT_TEST_BACKEND", "postgres")
                    .env("CONDUIT_TEST_POSTGRES_URL", url),
            )?;
            eprintln!("\nAll tests passed on SQLite and PostgreSQL.");
        }
        None if require_postgres => {
            bail!("--require-postgres: CONDUIT_TEST_POSTGRES_URL is not set")
        }
        None => {
            eprintln!(
                "\nAll tests passed on SQLite.\n\
                 SKIPPED: the PostgreSQL suites ({}). Set CONDUIT_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run them.",
                DATABASE_SUITES.join(", ")
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(args.iter().any(|arg| arg == "--require-postgres")),
        _ => Err(anyhow::anyhow!(
            "usage: cargo xtask test [--require-postgres]"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
