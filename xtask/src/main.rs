//! `cargo xtask test [--require-postgres] [--require-smtp]`
//!
//! Runs every test on SQLite (needs nothing but cargo), then the
//! database-backed suites (repositories, schema equivalence, black-box HTTP)
//! again on PostgreSQL when `CONDUIT_TEST_POSTGRES_URL` names a server
//! (for example `postgres://postgres@127.0.0.1:5432/test`; each test creates
//! its own database there and drops it), and, when python3 has aiosmtpd,
//! the tests that talk to a real SMTP server (`tests/support/smtp_sink.py`):
//! the mail adapter's, and the black-box email tests on each backend.
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

/// Whether the SMTP sink can run; `Err` when it cannot and must.
fn smtp_sink_available(require: bool) -> anyhow::Result<bool> {
    let has_aiosmtpd = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_aiosmtpd && require {
        bail!("--require-smtp: the SMTP tests need {SMTP_NEEDS}");
    }
    Ok(has_aiosmtpd)
}

const SMTP_NEEDS: &str = "python3 with aiosmtpd (python3 -m pip install aiosmtpd==1.4.6)";

/// The black-box email tests through the SMTP sink, on `backend` (ignored
/// by a plain `cargo test`).
fn smtp_api_suite(backend: &str, postgres_url: Option<&str>) -> anyhow::Result<()> {
    let mut command = cargo();
    command
        .args([
            "test",
            "--package",
            "conduit-tests",
            "--test",
            "api",
            "smtp::",
            "--",
            "--ignored",
        ])
        .env("CONDUIT_TEST_BACKEND", backend);
    if let Some(url) = postgres_url {
        command.env("CONDUIT_TEST_POSTGRES_URL", url);
    }
    run(
        &format!("email through a real SMTP server on {backend}"),
        &mut command,
    )
}

fn test(require_postgres: bool, require_smtp: bool) -> anyhow::Result<()> {
    run(
        "all tests on SQLite",
        cargo()
            .args(["test", "--workspace", "--exclude", "xtask"])
            .env("CONDUIT_TEST_BACKEND", "sqlite"),
    )?;

    let smtp = smtp_sink_available(require_smtp)?;
    if smtp {
        run(
            "mail adapter tests against a real SMTP server",
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
        smtp_api_suite("sqlite", None)?;
    }

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
                    .env("CONDUIT_TEST_POSTGRES_URL", &url),
            )?;
            if smtp {
                smtp_api_suite("postgres", Some(&url))?;
            }
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
    if !smtp {
        eprintln!("SKIPPED: the tests through a real SMTP server: they need {SMTP_NEEDS}.");
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
