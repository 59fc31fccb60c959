//! Configuration, from the command line or (more usually) the environment.
//! Every setting has a default that works on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
        default_value = "sqlite://data/conduit.db"
    )]
    pub database_url: String,

    /// Directory for local state (the generated JWT secret).
    #[arg(long, env = "CONDUIT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Secret that signs access tokens, at least 32 bytes. When unset, a random
    /// one is created once in the data directory (mode 0600) and reused.
    #[arg(long, env = "CONDUIT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

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

    /// Password hashes computed at once; 0 means one per CPU core. Further
    /// log-ins and registrations queue, so a flood cannot starve other requests.
    #[arg(long, env = "CONDUIT_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,
}

impl Settings {
    /// Settings as they would be with no environment at all.
    pub fn defaults() -> Self {
        Cli::parse_from(["conduit"]).settings
    }
}

/// The number of CPU cores, for "0 means one per core" settings.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
