//! `cargo xtask test [--require-postgres] [--require-smtp]`
//!
//! Runs every test on SQLite (needs nothing but cargo), then the
//! database-backed suites (repositories, schema equivalence, black-box HTTP)
//! again on PostgreSQL when `CONDUIT_TEST_POSTGRES_URL` names a server
//! (for example `postgres://postgres@127.0.0.1:5432/test`; each test creates
//! its own database there and drops it), then the mail tests that talk to a
//! real SMTP server (`tests/support/smtp_sink.py`) when python3 has aiosmtpd.
//! What is skipped, the summary says; `--require-postgres` and
//! `--require-smtp` (CI) turn each skip into a failure.

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

/// The mail tests that need the SMTP sink (ignored by a plain `cargo test`).
fn smtp_suite(require: bool) -> anyhow::Result<Option<String>> {
    let has_aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_aiosmtpd {
        let how = "python3 with aiosmtpd (python3 -m pip install aiosmtpd==1.4.6)";
        if require {
            bail!("--require-smtp: the SMTP tests need {how}");
        }
        return Ok(Some(format!("the SMTP mail tests: they need {how}")));
    }
    run(
        "mail tests against a real SMTP server",
        cargo().args([
            "test",
            "--package",
            "conduit-infrastructure",
            "--test",
            "mail",
            "--",
            "--ignored",
        ]),
    )?;
    Ok(None)
}

fn test(require_postgres: bool, require_smtp: bool) -> anyhow::Result<()> {
    run(
        "all tests on SQLite",
        cargo()
            .args(["test", "--workspace", "--exclude", "xtask"])
            .env("CONDUIT_TEST_BACKEND", "sqlite"),
    )?;

    let smtp_skipped = smtp_suite(require_smtp)?;

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
    if let Some(skipped) = smtp_skipped {
        eprintln!("SKIPPED: {skipped}.");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(
            args.iter().any(|arg| arg == "--require-postgres"),
            args.iter().any(|arg| arg == "--require-smtp"),
        ),
        _ => Err(anyhow::anyhow!(
            "usage: cargo xtask test [--require-postgres] [--require-smtp]"
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
