//! Outbound email, the adapters behind the application's `Mailer` port:
//! [`SmtpMailer`] when `CONDUIT_SMTP_URL` names a server, [`FileMailer`]
//! (one `.eml` file per email) when it does not.
//!
//! Both turn an [`OutgoingEmail`] into bytes with the same function, so the
//! files a developer reads are exactly what a server would have received.

mod files;
mod smtp;
mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use conduit_application::mail::{MailError, Mailer, OutgoingEmail};
use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use percent_encoding::percent_decode_str;

use crate::error::InfrastructureError;

pub use files::FileMailer;
pub use smtp::SmtpMailer;
pub use templates::AskamaTemplates;

/// Where emails go when no SMTP server is configured.
pub const DEFAULT_MAIL_DIR: &str = "data/mail";

/// RFC 5322 caps a line at 998 octets; a header longer than this (an
/// unsubscribe URL cannot be folded) would be cut or refused by servers.
const MAX_HEADER_VALUE: usize = 900;

/// Everything the mail adapters need: the sender and where to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The `From` address, as `CONDUIT_MAIL_FROM` gives it:
    /// `noreply@example.com` or `Conduit <noreply@example.com>`.
    pub from: String,
    pub transport: MailTransport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// Send through an SMTP server.
    Smtp(SmtpSettings),
    /// Write each email as an `.eml` file into this directory.
    Files(PathBuf),
}

impl MailSettings {
    /// Settings from `CONDUIT_SMTP_URL` (`None` or empty: files under
    /// `mail_dir`) and `CONDUIT_MAIL_FROM`.
    ///
    /// # Errors
    /// `Invalid` when the URL or the sender address cannot be used.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        mail_dir: impl Into<PathBuf>,
    ) -> Result<Self, InfrastructureError> {
        parse_sender(from)?;
        let transport = match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => MailTransport::Smtp(SmtpSettings::parse(url)?),
            None => MailTransport::Files(mail_dir.into()),
        };
        Ok(Self {
            from: from.to_owned(),
            transport,
        })
    }

    /// The adapter these settings describe. Must run inside a Tokio
    /// runtime: the SMTP pool starts its cleanup task at once.
    ///
    /// # Errors
    /// `Invalid` when the sender address or the TLS setup is unusable.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>, InfrastructureError> {
        Ok(match &self.transport {
            MailTransport::Smtp(settings) => Arc::new(SmtpMailer::new(settings, &self.from)?),
            MailTransport::Files(dir) => Arc::new(FileMailer::new(dir.clone(), &self.from)?),
        })
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: no TLS at all. For local sinks only; credentials are refused.
    Plain,
    /// `smtp+starttls://`: a plain connection that MUST be upgraded with
    /// STARTTLS before anything else is sent (default port 587).
    StartTls,
    /// `smtps://`: TLS from the first byte (default port 465).
    ImplicitTls,
}

/// A user name and password for SMTP AUTH. Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// How to reach the SMTP server, read from a `CONDUIT_SMTP_URL`, and how
/// long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub security: SmtpSecurity,
    pub host: String,
    pub port: u16,
    pub credentials: Option<SmtpCredentials>,
    /// The longest a whole send may take, connecting included; beyond it the
    /// send fails as transient.
    pub send_timeout: Duration,
    /// The longest opening a connection may take.
    pub connect_timeout: Duration,
    /// Connections kept open for reuse.
    pub pool_size: u32,
    /// A pooled connection idle for longer is closed. Servers close idle
    /// connections themselves (often after 30 to 300 s); closing ours first
    /// spares a send the dead connection.
    pub pool_idle_timeout: Duration,
}

impl SmtpSettings {
    /// Reads `smtp://host[:port]` (no TLS, port 25 by default),
    /// `smtp+starttls://user:pass@host[:port]` (STARTTLS required, port 587)
    /// or `smtps://user:pass@host[:port]` (implicit TLS, port 465). User and
    /// password are percent-decoded, so `p%40ss` is `p@ss`.
    ///
    /// # Errors
    /// `Invalid` for another scheme, a missing host, a path or query, or
    /// credentials on a plain `smtp://` URL. The message never repeats the
    /// password.
    pub fn parse(url: &str) -> Result<Self, InfrastructureError> {
        let invalid = |why: &str| InfrastructureError::Invalid(format!("CONDUIT_SMTP_URL: {why}"));
        let parsed = url::Url::parse(url).map_err(|error| invalid(&error.to_string()))?;
        let (security, default_port) = match parsed.scheme() {
            "smtp" => (SmtpSecurity::Plain, 25),
            "smtp+starttls" => (SmtpSecurity::StartTls, 587),
            "smtps" => (SmtpSecurity::ImplicitTls, 465),
            other => {
                return Err(invalid(&format!(
                    "unknown scheme {other:?}; use smtp://, smtp+starttls:// or smtps://"
                )));
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(domain)) if !domain.is_empty() => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(invalid("the URL names no host")),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(invalid("a path or query is not understood here"));
        }
        let decode = |part: &str, what: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| invalid(&format!("the {what} is not UTF-8 once percent-decoded")))
        };
        let credentials = match (parsed.username(), parsed.password()) {
            ("", None) => None,
            (user, password) => Some(SmtpCredentials {
                user: decode(user, "user name")?,
                password: decode(password.unwrap_or(""), "password")?,
            }),
        };
        if credentials.is_some() && security == SmtpSecurity::Plain {
            return Err(invalid(
                "smtp:// sends everything in clear text; credentials need smtp+starttls:// or smtps://",
            ));
        }
        Ok(Self {
            security,
            host,
            port: parsed.port().unwrap_or(default_port),
            credentials,
            send_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            pool_size: 4,
            pool_idle_timeout: Duration::from_secs(30),
        })
    }

    /// The URL without the password, for logs.
    pub fn redacted(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::Plain => "smtp",
            SmtpSecurity::StartTls => "smtp+starttls",
            SmtpSecurity::ImplicitTls => "smtps",
        };
        let user = match &self.credentials {
            Some(credentials) => format!("{}:***@", credentials.user),
            None => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}", self.port)
    }
}

/// Reads the configured sender once, at start-up.
fn parse_sender(from: &str) -> Result<Mailbox, InfrastructureError> {
    from.trim().parse().map_err(|error| {
        InfrastructureError::Invalid(format!(
            "CONDUIT_MAIL_FROM {from:?} is not an email address: {error}"
        ))
    })
}

/// `List-Unsubscribe: <URL>` (RFC 2369), with one URL only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        s.trim()
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix('>'))
            .map(|url| Self(url.to_owned()))
            .ok_or_else(|| "List-Unsubscribe must be one <URL>".into())
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the URL
/// unsubscribes with one POST, so mail clients may offer a button for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListUnsubscribePost;

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim() == ONE_CLICK {
            Ok(Self)
        } else {
            Err(format!("List-Unsubscribe-Post must be {ONE_CLICK}").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), ONE_CLICK.to_owned())
    }
}

fn refused(why: impl Into<String>) -> MailError {
    MailError::Permanent(why.into().into())
}

/// `id-left@id-right` of RFC 5322 §3.6.4, both dot-atoms, so that the id can
/// neither break the header nor be read as two.
fn check_message_id(id: &str) -> Result<(), MailError> {
    let dot_atom = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.ends_with('.')
            && !part.contains("..")
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
    };
    match id.split_once('@') {
        Some((left, right))
            if dot_atom(left) && dot_atom(right) && id.len() <= MAX_HEADER_VALUE =>
        {
            Ok(())
        }
        _ => Err(refused(format!(
            "Message-ID {id:?} is not of the form left@right"
        ))),
    }
}

/// An absolute http(s) URL, re-serialised so it holds no space or `>`.
fn unsubscribe_url(url: &str) -> Result<String, MailError> {
    let parsed = url::Url::parse(url)
        .map_err(|error| refused(format!("unsubscribe URL {url:?}: {error}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(refused(format!("unsubscribe URL {url:?} is not http(s)")));
    }
    let url = String::from(parsed);
    if url.len() > MAX_HEADER_VALUE {
        return Err(refused("unsubscribe URL is too long for a header line"));
    }
    Ok(url)
}

/// The one place an [`OutgoingEmail`] becomes a message: both adapters
/// send or store `message.formatted()` of what this returns.
fn build_message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, MailError> {
    let to: Mailbox = email.to.trim().parse().map_err(|error| {
        MailError::Permanent(format!("recipient {:?}: {error}", email.to).into())
    })?;
    check_message_id(&email.message_id)?;
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}>", email.message_id)))
        .from(from.clone())
        .to(to)
        .subject(email.subject.as_str());
    if let Some(url) = &email.unsubscribe {
        builder = builder
            .header(ListUnsubscribe(unsubscribe_url(url)?))
            .header(ListUnsubscribePost);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|error| MailError::Permanent(error.into()))
}
