//! Configuration, from the command line or (more usually) the environment.
//! Every setting has a default that works on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use conduit_application::jobs::{JobState, QueueConfig};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "conduit",
    version,
    about = "Conduit: the RealWorld blogging API server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document, then exit.
    Openapi,
    /// See and steer the job queue.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only jobs in this state (available, scheduled, running, retryable,
        /// completed, discarded, cancelled).
        #[arg(long, value_parser = parse_state)]
        state: Option<JobState>,
        /// Only jobs of this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Most jobs shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job, with its error history.
    Show { id: i64 },
    /// Run a job that is not running again, now.
    Retry { id: i64 },
    /// Stop a job that has not finished.
    Cancel { id: i64 },
    /// Delete finished jobs and change events past their retention, now.
    Prune,
    /// Enqueue probe jobs, which check the queue end to end.
    Probe {
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// How long each sleeps.
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        sleep: Duration,
        /// How many attempts of each fail on purpose before one succeeds.
        #[arg(long, default_value_t = 0)]
        fail: u32,
        /// Attempts before a failing probe is discarded.
        #[arg(long, default_value_t = 25)]
        attempts: i32,
    },
}

fn parse_state(name: &str) -> Result<JobState, String> {
    JobState::parse(name).ok_or_else(|| {
        let names: Vec<&str> = JobState::ALL.iter().map(|state| state.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Job queues and their concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueues(pub Vec<QueueConfig>);

/// Queues and their concurrency, as `name:workers,name:workers`.
fn parse_queues(text: &str) -> Result<JobQueues, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, concurrency) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?} is not name:workers"))?;
            let concurrency: usize = concurrency
                .trim()
                .parse()
                .map_err(|_| format!("{entry:?}: workers must be a number"))?;
            if name.trim().is_empty() || concurrency == 0 {
                return Err(format!(
                    "{entry:?}: a queue needs a name and at least one worker"
                ));
            }
            Ok(QueueConfig {
                name: name.trim().to_owned(),
                concurrency,
            })
        })
        .collect::<Result<_, _>>()
        .map(JobQueues)
}

/// A secret from the environment: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The database URL, printed without its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DatabaseUrl {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = conduit_infrastructure::db::DbTarget::parse(&self.0).redacted();
        f.debug_tuple("DatabaseUrl").field(&redacted).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "CONDUIT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Database: `sqlite://path/to/file.db` (or a bare path) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "CONDUIT_DATABASE_URL",
        default_value = "sqlite://data/conduit.db",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// Directory for local state (the generated JWT secret).
    #[arg(long, env = "CONDUIT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Secret that signs access tokens, at least 32 bytes. When unset, a random
    /// one is created once in the data directory (mode 0600) and reused.
    #[arg(long, env = "CONDUIT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// How long an access token stays valid (e.g. `24h`, `7days`).
    #[arg(long, env = "CONDUIT_JWT_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub jwt_ttl: Duration,

    /// Log filter, in `tracing` `EnvFilter` syntax (e.g. `info`, `conduit=debug,info`).
    #[arg(long, env = "CONDUIT_LOG", default_value = "info")]
    pub log: String,

    /// Log format.
    #[arg(long, env = "CONDUIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Database connections in the pool.
    #[arg(long, env = "CONDUIT_DB_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,

    /// How long a request waits for a database connection before a 503.
    #[arg(long, env = "CONDUIT_DB_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_connect_timeout: Duration,

    /// PostgreSQL: statements running longer are cancelled.
    #[arg(long, env = "CONDUIT_DB_STATEMENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub db_statement_timeout: Duration,

    /// SQLite: how long a writer waits for the database lock.
    #[arg(long, env = "CONDUIT_SQLITE_BUSY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub sqlite_busy_timeout: Duration,

    /// Origins allowed by CORS, comma-separated; empty allows any origin (without credentials).
    #[arg(
        long,
        env = "CONDUIT_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,

    /// Largest accepted JSON body, in bytes.
    #[arg(long, env = "CONDUIT_JSON_LIMIT", default_value_t = 1024 * 1024)]
    pub json_limit: usize,

    /// HTTP worker threads; 0 means one per CPU core.
    #[arg(long, env = "CONDUIT_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Password hashes computed at once (each on its own thread, 19 MiB each);
    /// 0 means half the CPU cores, at least one. Further log-ins and
    /// registrations queue, so a flood cannot starve other requests.
    #[arg(long, env = "CONDUIT_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,

    /// Time a client has to send a request's headers, and then its body.
    #[arg(long, env = "CONDUIT_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "CONDUIT_KEEP_ALIVE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,

    /// On SIGTERM or Ctrl-C: how long in-flight requests may take to finish.
    #[arg(long, env = "CONDUIT_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Log-in attempts per minute from one client address; 0 turns the limit off.
    #[arg(long, env = "CONDUIT_RATE_LOGIN_PER_IP", default_value_t = 60)]
    pub rate_login_per_ip: u32,

    /// Log-in attempts per minute for one account (email); 0 turns the limit off.
    #[arg(long, env = "CONDUIT_RATE_LOGIN_PER_ACCOUNT", default_value_t = 10)]
    pub rate_login_per_account: u32,

    /// Registrations per minute from one client address; 0 turns the limit off.
    #[arg(long, env = "CONDUIT_RATE_REGISTER_PER_IP", default_value_t = 20)]
    pub rate_register_per_ip: u32,

    /// Behind a reverse proxy: take the client address for rate limits from
    /// the last `X-Forwarded-For` entry. Never enable without such a proxy.
    #[arg(long, env = "CONDUIT_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,

    /// How long `/health/ready` waits for the database.
    #[arg(long, env = "CONDUIT_READINESS_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub readiness_timeout: Duration,

    /// Memory for cached read models (pages, articles, profiles, tags), in
    /// MiB; 0 turns the cache off. Writes invalidate what they affect as
    /// they commit.
    #[arg(long, env = "CONDUIT_CACHE_MB", default_value_t = 32)]
    pub cache_mb: u64,

    /// Longest time a cached read model is kept, whatever happens. Bounds how
    /// long a change made behind Conduit's back (by SQL) can go unseen.
    #[arg(long, env = "CONDUIT_CACHE_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// PEM certificate chain: with `CONDUIT_TLS_KEY`, serve HTTPS (rustls).
    #[arg(long, env = "CONDUIT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `CONDUIT_TLS_CERT`.
    #[arg(long, env = "CONDUIT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve `/metrics` on this address only (a port operators reach and
    /// clients do not). When unset, `/metrics` is on the API listener.
    #[arg(long, env = "CONDUIT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// This instance's name, recorded with its change events and on the
    /// jobs it runs; unique among instances sharing a database. Defaults to
    /// `host:pid`.
    #[arg(long, env = "CONDUIT_INSTANCE")]
    pub instance: Option<String>,

    /// Run job workers in this process (turn off to keep an instance to HTTP).
    #[arg(long, env = "CONDUIT_JOBS", default_value_t = true, action = clap::ArgAction::Set)]
    pub jobs: bool,

    /// Job queues this instance works on, and how many jobs of each run at once.
    #[arg(long, env = "CONDUIT_JOB_QUEUES", default_value = "default:50,maintenance:1,mail:10,images:2", value_parser = parse_queues)]
    pub job_queues: JobQueues,

    /// Longest an idle queue sleeps: enqueues wake workers at once, and an
    /// idle queue wakes when its next job falls due; this bounds the delay
    /// of a lost notification (or, on SQLite, of a job enqueued by another
    /// process such as `conduit jobs retry`).
    #[arg(long, env = "CONDUIT_JOB_POLL_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub job_poll_interval: Duration,

    /// How often each instance looks for stalled jobs and due periodic jobs.
    #[arg(long, env = "CONDUIT_JOB_MAINTENANCE_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub job_maintenance_interval: Duration,

    /// How often a worker marks its running jobs alive.
    #[arg(long, env = "CONDUIT_JOB_HEARTBEAT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub job_heartbeat: Duration,

    /// A running job whose heartbeat is older than this is rescued (its
    /// worker died) and run again.
    #[arg(long, env = "CONDUIT_JOB_RESCUE_AFTER", default_value = "60s", value_parser = humantime::parse_duration)]
    pub job_rescue_after: Duration,

    /// First retry delay of a failed job; the n-th waits base × n⁴ (± 10%).
    #[arg(long, env = "CONDUIT_JOB_BACKOFF_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub job_backoff_base: Duration,

    /// How often the finished jobs and old change events are pruned.
    #[arg(long, env = "CONDUIT_JOB_PRUNE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub job_prune_interval: Duration,

    /// How long completed jobs are kept.
    #[arg(long, env = "CONDUIT_JOB_RETENTION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub job_retention: Duration,

    /// How long discarded and cancelled jobs are kept.
    #[arg(long, env = "CONDUIT_JOB_FAILED_RETENTION", default_value = "7days", value_parser = humantime::parse_duration)]
    pub job_failed_retention: Duration,

    /// How long change events are kept (streams can resume within it).
    #[arg(long, env = "CONDUIT_EVENT_RETENTION", default_value = "7days", value_parser = humantime::parse_duration)]
    pub event_retention: Duration,

    /// Password hashes that may wait for a hashing thread; beyond, log-ins
    /// and registrations get 503 at once.
    #[arg(long, env = "CONDUIT_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// SQLite: write units of work that may wait for the writer; beyond,
    /// writes get 503 at once.
    #[arg(long, env = "CONDUIT_SQLITE_WRITE_QUEUE", default_value_t = 1024)]
    pub sqlite_write_queue: usize,

    /// The SMTP server that sends email: `smtp://host:port` (plain, for
    /// local sinks), `smtp+starttls://user:pass@host:587` or
    /// `smtps://user:pass@host:465`. Unset: emails are written as `.eml`
    /// files under `<data dir>/mail`.
    #[arg(long, env = "CONDUIT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// The sender of every email: `noreply@example.com` or
    /// `Conduit <noreply@example.com>`.
    #[arg(
        long,
        env = "CONDUIT_MAIL_FROM",
        default_value = "Conduit <noreply@conduit.localhost>"
    )]
    pub mail_from: String,

    /// The largest file `POST /api/uploads` accepts, in bytes (413 beyond).
    #[arg(long, env = "CONDUIT_UPLOAD_MAX_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub upload_max_bytes: usize,

    /// Width × height beyond which an image is refused unread (422).
    #[arg(long, env = "CONDUIT_UPLOAD_MAX_PIXELS", default_value_t = 40_000_000)]
    pub upload_max_pixels: u64,

    /// Bytes of stored images per user (422 beyond).
    #[arg(long, env = "CONDUIT_UPLOAD_QUOTA_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub upload_quota_bytes: u64,

    /// The public origin of the frontend and the API, for links in emails
    /// (`/verify-email`, `/reset-password`, `/article/<slug>`,
    /// `/api/users/unsubscribe`). Unset: `http://` and the bind address.
    #[arg(long, env = "CONDUIT_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Settings {
    /// Settings as they would be with no environment at all.
    pub fn defaults() -> Self {
        Cli::parse_from(["conduit"]).settings
    }

    /// Where links in emails point.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
            _ => format!("http://{}", self.bind),
        }
    }
}

/// The number of CPU cores, for "0 means one per core" settings.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let cli = Cli::parse_from([
            "conduit",
            "--jwt-secret",
            "s3cret-signing-key-0123456789abcdef",
            "--database-url",
            "postgres://conduit:hunter2@db.internal:5432/conduit",
        ]);
        let printed = format!("{:?}", cli.settings);
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("db.internal:5432/conduit"), "{printed}");
        assert_eq!(
            cli.settings.jwt_secret.as_ref().map(Secret::expose),
            Some("s3cret-signing-key-0123456789abcdef")
        );
    }

    #[test]
    fn job_queues_parse_as_names_and_workers() {
        assert_eq!(
            parse_queues("default:10, mail:2").unwrap().0,
            [
                QueueConfig {
                    name: "default".to_owned(),
                    concurrency: 10
                },
                QueueConfig {
                    name: "mail".to_owned(),
                    concurrency: 2
                },
            ]
        );
        for bad in ["default", "default:x", ":3", "mail:0"] {
            assert!(parse_queues(bad).is_err(), "{bad}");
        }
    }
}
