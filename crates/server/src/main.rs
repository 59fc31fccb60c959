//! `conduit`: serve the API, apply migrations, steer the job queue, or print
//! the OpenAPI document.

use clap::Parser;
use conduit_server::config::{Cli, Command};
use conduit_server::startup::{Application, open_database};
use conduit_server::telemetry;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", conduit_web::openapi::openapi_json()?);
        return Ok(());
    }
    telemetry::init(&cli.settings.log, cli.settings.log_format)?;
    actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Some(Command::Migrate) => {
                open_database(&cli.settings).await?;
                Ok(())
            }
            Some(Command::Jobs { command }) => {
                conduit_server::cli::jobs(&cli.settings, command).await
            }
            _ => {
                Application::build(&cli.settings)
                    .await?
                    .run_until_stopped()
                    .await?;
                tracing::info!("stopped");
                Ok(())
            }
        }
    })
}
