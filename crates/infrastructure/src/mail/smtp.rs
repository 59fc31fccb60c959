//! Delivery through an SMTP server: lettre's async transport over rustls,
//! with a pool of connections and a deadline on every send.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use conduit_application::mail::{MailError, Mailer, OutgoingEmail};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{Error as SmtpError, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{SmtpSecurity, SmtpSettings, build_message, parse_sender};
use crate::error::InfrastructureError;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Sends through the configured SMTP server.
///
/// Every send has a deadline (`SmtpSettings::send_timeout`), because
/// lettre's own timeout covers only opening the connection (lettre#1027):
/// a server that accepts the connection and then says nothing would
/// otherwise hold the send forever.
pub struct SmtpMailer {
    settings: SmtpSettings,
    from: Mailbox,
    /// Replaced as a whole after a send timed out: see [`SmtpMailer::send`].
    transport: RwLock<Transport>,
}

impl SmtpMailer {
    /// A mailer sending as `from` (`CONDUIT_MAIL_FROM`). No connection is
    /// opened until the first send.
    ///
    /// # Errors
    /// `Invalid` when `from` is not an address or TLS cannot be set up.
    ///
    /// # Panics
    /// Outside a Tokio runtime: the connection pool starts a cleanup task at
    /// once, and stops it when the mailer is dropped (inside the runtime too).
    pub fn new(settings: &SmtpSettings, from: &str) -> Result<Self, InfrastructureError> {
        Ok(Self {
            from: parse_sender(from)?,
            transport: RwLock::new(transport(settings)?),
            settings: settings.clone(),
        })
    }

    fn current(&self) -> Transport {
        self.transport
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops every pooled connection by starting a new pool.
    fn renew(&self) {
        match transport(&self.settings) {
            Ok(fresh) => {
                *self
                    .transport
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = fresh;
            }
            Err(error) => tracing::warn!(%error, "could not renew the SMTP connection pool"),
        }
    }
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.settings.redacted())
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn transport(settings: &SmtpSettings) -> Result<Transport, InfrastructureError> {
    let tls_parameters = || {
        TlsParameters::new(settings.host.clone()).map_err(|error| {
            InfrastructureError::Invalid(format!("TLS for {}: {error}", settings.host))
        })
    };
    let tls = match settings.security {
        SmtpSecurity::Plain => Tls::None,
        SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
        SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = Transport::builder_dangerous(settings.host.as_str())
        .port(settings.port)
        .tls(tls)
        .timeout(Some(settings.connect_timeout))
        .pool_config(
            PoolConfig::new()
                .max_size(settings.pool_size.max(1))
                .idle_timeout(settings.pool_idle_timeout),
        );
    if let Some(credentials) = &settings.credentials {
        builder = builder.credentials(Credentials::new(
            credentials.user.clone(),
            credentials.password.clone(),
        ));
    }
    Ok(builder.build())
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        let transport = self.current();
        match tokio::time::timeout(self.settings.send_timeout, transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::debug!(to = %email.to, message_id = %email.message_id, "email sent");
                Ok(())
            }
            Ok(Err(error)) => Err(classify(error)),
            Err(_) => {
                // The cancelled send leaves its connection halfway through a
                // command, and lettre would put it back into the pool as if
                // it were idle: the next send on it would read the replies
                // meant for this one. Only a new pool is certain to hold no
                // such connection.
                drop(transport);
                self.renew();
                Err(MailError::Transient(Box::new(NoAnswer(
                    self.settings.send_timeout,
                ))))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no answer from the mail server within {0:?}")]
struct NoAnswer(Duration);

/// 5xx replies refuse the email, except those about our own credentials:
/// they would refuse every email until the configuration is fixed, and
/// discarding the mail meanwhile would lose it. Everything else (4xx
/// replies, refused or reset connections, a pooled connection the server
/// closed while idle, lettre#743, TLS failures) may pass on a later try.
fn classify(error: SmtpError) -> MailError {
    let about_credentials = error
        .status()
        .is_some_and(|code| matches!(code.to_string().as_str(), "530" | "534" | "535" | "538"));
    if error.is_permanent() && !about_credentials {
        MailError::Permanent(Box::new(error))
    } else {
        MailError::Transient(Box::new(error))
    }
}
