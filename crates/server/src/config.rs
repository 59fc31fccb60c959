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
