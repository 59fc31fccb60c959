//! Outbound email: the message a use case hands over, and the port that
//! delivers it. The adapters (SMTP, or `.eml` files when no server is
//! configured) live in `conduit-infrastructure`.

use async_trait::async_trait;

use crate::error::Cause;

/// One email, as a use case composes it; the adapter adds the sender, the
/// date and the MIME structure (a `multipart/alternative` of `text` and
/// `html`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The `Message-ID`, without angle brackets: `job-42@conduit`. Keeping it
    /// stable across retries of the same email lets mail clients recognise
    /// a copy delivered twice.
    pub message_id: String,
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// An `https://` (or `http://`) URL that unsubscribes the recipient with
    /// one POST. When set, the email carries the RFC 8058 headers
    /// `List-Unsubscribe: <URL>` and
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub unsubscribe: Option<String>,
}

/// Why an email was not delivered, and so what the caller does with it.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Not delivered this time, and the same email may well be accepted
    /// later: the server was unreachable, timed out, closed the connection,
    /// or answered with a 4xx code. The caller retries later, with backoff.
    ///
    /// When the server stopped answering after the message was sent, it may
    /// have accepted it anyway: a retry can then deliver it twice, which is
    /// why the `Message-ID` stays the same across retries.
    #[error("mail server unavailable: {0}")]
    Transient(Cause),
    /// This email will never be accepted as it is: the server refused it
    /// with a 5xx code, or an address or header in it cannot be encoded.
    /// The caller discards it (and records why); sending it again cannot
    /// succeed.
    #[error("mail refused: {0}")]
    Permanent(Cause),
}

/// Delivers emails.
///
/// # Errors
/// Every failure MUST be classified: `Transient` when trying the same email
/// again later may succeed, `Permanent` only when it cannot. A send MUST
/// finish within the adapter's configured timeout, with `Transient` if the
/// server has not answered by then.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}

/// What an email says, before it is rendered: the facts a template needs,
/// links already built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailContent {
    /// To a new user: welcome, and verify the address.
    Welcome {
        username: String,
        verify_url: String,
    },
    /// A new verification link (asked for again, or a new address).
    VerifyEmail {
        username: String,
        verify_url: String,
    },
    PasswordReset {
        username: String,
        reset_url: String,
        valid_minutes: i64,
    },
    /// To an article's author.
    NewComment {
        username: String,
        commenter: String,
        article_title: String,
        article_url: String,
        comment: String,
        unsubscribe_url: String,
    },
    /// To a follower of the author.
    NewArticle {
        username: String,
        author: String,
        article_title: String,
        description: String,
        article_url: String,
        unsubscribe_url: String,
    },
}

impl EmailContent {
    /// The one-click unsubscribe URL, for notification emails.
    pub fn unsubscribe_url(&self) -> Option<&str> {
        match self {
            Self::NewComment {
                unsubscribe_url, ..
            }
            | Self::NewArticle {
                unsubscribe_url, ..
            } => Some(unsubscribe_url),
            Self::Welcome { .. } | Self::VerifyEmail { .. } | Self::PasswordReset { .. } => None,
        }
    }
}

/// An email's subject and both of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Turns content into a subject, a text and an HTML part (templates kept
/// in the repository; the adapter escapes what users wrote).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EmailTemplates: Send + Sync + 'static {
    /// # Errors
    /// When a template cannot be rendered.
    fn render(&self, content: &EmailContent) -> Result<RenderedEmail, Cause>;
}

/// Where the links in emails point: `base` is `CONDUIT_PUBLIC_URL`, the
/// origin that serves the frontend (`/verify-email`, `/reset-password`,
/// `/article/<slug>`) and the API (`/api/users/unsubscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLinks {
    base: String,
}

impl MailLinks {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn verify_email(&self, token: &str) -> String {
        format!("{}/verify-email?token={token}", self.base)
    }

    pub fn reset_password(&self, token: &str) -> String {
        format!("{}/reset-password?token={token}", self.base)
    }

    pub fn unsubscribe(&self, token: &str) -> String {
        format!("{}/api/users/unsubscribe?token={token}", self.base)
    }

    /// Slugs are URL-safe already (`a-z 0-9 -`).
    pub fn article(&self, slug: &str) -> String {
        format!("{}/article/{slug}", self.base)
    }

    /// The host named in `Message-ID`s: the public URL's, without port.
    pub fn host(&self) -> &str {
        let rest = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_at_the_public_url_and_message_ids_name_its_host() {
        let links = MailLinks::new("https://conduit.example.com:8443/");
        assert_eq!(
            links.verify_email("abc"),
            "https://conduit.example.com:8443/verify-email?token=abc"
        );
        assert_eq!(
            links.reset_password("abc"),
            "https://conduit.example.com:8443/reset-password?token=abc"
        );
        assert_eq!(
            links.unsubscribe("abc"),
            "https://conduit.example.com:8443/api/users/unsubscribe?token=abc"
        );
        assert_eq!(
            links.article("how-to-train-your-dragon"),
            "https://conduit.example.com:8443/article/how-to-train-your-dragon"
        );
        assert_eq!(links.host(), "conduit.example.com");
        assert_eq!(MailLinks::new("http://127.0.0.1:8080").host(), "127.0.0.1");
    }
}
