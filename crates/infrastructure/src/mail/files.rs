//! Delivery into a directory, for development and tests without an SMTP
//! server: each email becomes one `.eml` file that any mail client opens.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Utc;
use conduit_application::mail::{MailError, Mailer, OutgoingEmail};
use lettre::message::Mailbox;

use super::{build_message, parse_sender};
use crate::error::InfrastructureError;

/// Longest part of a file name taken from the message id.
const MAX_ID_IN_NAME: usize = 100;

/// Writes every email as `<time>-<message id>.eml` into a directory,
/// created when the first email arrives. The bytes are those an SMTP server
/// would have received.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    /// # Errors
    /// `Invalid` when `from` is not an address.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, InfrastructureError> {
        Ok(Self {
            dir: dir.into(),
            from: parse_sender(from)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The message id reduced to characters that are safe in a file name on
/// every system: no separator, so the file cannot land outside the directory.
fn file_stem(message_id: &str) -> String {
    message_id
        .chars()
        .take(MAX_ID_IN_NAME)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes under a hidden temporary name and renames, so that a reader of
/// the directory sees a whole file or none.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(name);
    let temporary = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, &target));
    match written {
        Ok(()) => Ok(target),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let bytes = build_message(&self.from, email)?.formatted();
        let name = format!(
            "{}-{}.eml",
            Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            file_stem(&email.message_id)
        );
        let dir = self.dir.clone();
        let path = tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(|error| MailError::Transient(Box::new(error)))?
            .map_err(|error| {
                MailError::Transient(
                    format!("writing an email into {}: {error}", self.dir.display()).into(),
                )
            })?;
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            path = %path.display(),
            "email written to a file (no SMTP server configured)"
        );
        Ok(())
    }
}
