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
