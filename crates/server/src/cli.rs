//! `conduit jobs …`: the operators' commands for the job queue, run against
//! the configured database (the same one the servers use).

use std::fmt::Write as _;

use conduit_application::AppError;
use conduit_application::jobs::{Job, JobFilter, JobUseCases, Probe};

use crate::config::{JobsCommand, Settings};
use crate::startup::{job_service, open_database};

/// Runs one `conduit jobs` command and prints its result.
///
/// # Errors
/// When the database cannot be reached or the command is refused (an
/// unknown id, retrying a running job, …).
pub async fn jobs(settings: &Settings, command: JobsCommand) -> anyhow::Result<()> {
    let db = open_database(settings).await?;
    let jobs = job_service(settings, &db);
    print!("{}", run(&*jobs, command).await?);
    Ok(())
}

/// The text a command prints.
///
/// # Errors
/// See [`jobs`].
pub async fn run(jobs: &dyn JobUseCases, command: JobsCommand) -> anyhow::Result<String> {
    Ok(match command {
        JobsCommand::List {
            state,
            queue,
            limit,
        } => table(
            &jobs
                .list(JobFilter {
                    state,
                    queue,
                    limit,
                })
                .await
                .map_err(refused)?,
        ),
        JobsCommand::Show { id } => details(&jobs.show(id).await.map_err(refused)?),
        JobsCommand::Retry { id } => {
            let job = jobs.retry(id).await.map_err(refused)?;
            format!("job {} is {} again, due now\n", job.id.0, job.state)
        }
        JobsCommand::Cancel { id } => {
            let job = jobs.cancel(id).await.map_err(refused)?;
            format!("job {} is {}\n", job.id.0, job.state)
        }
        JobsCommand::Prune => {
            let report = jobs.prune().await.map_err(refused)?;
            format!(
                "pruned {} finished jobs, {} change events and {} expired account tokens\n",
                report.jobs, report.events, report.tokens
            )
        }
        JobsCommand::Probe {
            count,
            sleep,
            fail,
            attempts,
        } => {
            let probe = Probe {
                count,
                sleep,
                fail_attempts: fail,
                max_attempts: attempts,
            };
            let ids = jobs.probe(probe).await.map_err(refused)?;
            let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
            format!("enqueued {} probe jobs: {}\n", ids.len(), ids.join(" "))
        }
    })
}

/// The error as the command line reads it: what was refused, not a debug dump.
fn refused(error: AppError) -> anyhow::Error {
    match error {
        AppError::NotFound(what) => anyhow::anyhow!("no such {what}"),
        AppError::Validation(errors) => {
            let messages: Vec<String> = errors
                .iter()
                .flat_map(|(field, messages)| {
                    messages
                        .iter()
                        .map(move |message| format!("{field} {message}"))
                })
                .collect();
            anyhow::anyhow!("{}", messages.join("; "))
        }
        other => anyhow::Error::new(other),
    }
}

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

/// One line per job.
pub fn table(jobs: &[Job]) -> String {
    let rows: Vec<[String; 7]> = jobs
        .iter()
        .map(|job| {
            [
                job.id.0.to_string(),
                job.queue.clone(),
                job.kind.clone(),
                job.state.to_string(),
                format!("{}/{}", job.attempt, job.max_attempts),
                time(Some(job.run_at)),
                job.errors
                    .last()
                    .map_or_else(|| "-".to_owned(), |error| error.error.clone()),
            ]
        })
        .collect();
    let header = [
        "ID",
        "QUEUE",
        "KIND",
        "STATE",
        "ATTEMPT",
        "RUN AT",
        "LAST ERROR",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        out.push_str("(no jobs)\n");
    }
    out
}

/// Everything about one job.
pub fn details(job: &Job) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "id:           {}", job.id.0);
    let _ = writeln!(out, "queue:        {}", job.queue);
    let _ = writeln!(out, "kind:         {}", job.kind);
    let _ = writeln!(out, "args:         {}", job.payload);
    let _ = writeln!(out, "state:        {}", job.state);
    let _ = writeln!(out, "attempt:      {} of {}", job.attempt, job.max_attempts);
    let _ = writeln!(out, "priority:     {}", job.priority);
    let _ = writeln!(out, "run at:       {}", time(Some(job.run_at)));
    let _ = writeln!(out, "timeout:      {} ms", job.timeout.as_millis());
    let _ = writeln!(
        out,
        "unique key:   {}",
        job.unique_key.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "created:      {}", time(Some(job.created_at)));
    let _ = writeln!(out, "attempted:    {}", time(job.attempted_at));
    let _ = writeln!(
        out,
        "attempted by: {}",
        job.attempted_by.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "heartbeat:    {}", time(job.heartbeat_at));
    let _ = writeln!(out, "finished:     {}", time(job.finished_at));
    if job.errors.is_empty() {
        let _ = writeln!(out, "errors:       none");
    } else {
        let _ = writeln!(out, "errors:");
        for error in &job.errors {
            let _ = writeln!(
                out,
                "  attempt {} at {}: {}",
                error.attempt,
                time(Some(error.at)),
                error.error
            );
        }
    }
    out
}
