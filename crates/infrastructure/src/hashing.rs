//! Password hashing with argon2id.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as PhcString, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use async_trait::async_trait;
use conduit_application::error::AppError;
use conduit_application::ports::{PasswordHash, PasswordHasher};
use conduit_domain::Password;
use tokio::sync::Semaphore;

/// argon2id with the OWASP Password Storage Cheat Sheet's first
/// recommendation: 19 MiB of memory, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// Hashes on blocking threads, at most `max_concurrent` at a time, so that a
/// flood of log-ins queues up instead of taking every thread and all memory.
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so that an unknown
    /// email costs as much time as a wrong password.
    dummy_hash: String,
}

impl Argon2Hasher {
    /// # Errors
    /// When the parameters are rejected or the dummy hash cannot be made.
    pub fn new(max_concurrent: usize) -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
        let dummy_hash = hash_blocking(&params, "conduit-dummy-password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash,
        })
    }

    async fn on_blocking_thread<T, F>(&self, job: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|error| AppError::Internal(error.into()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|error| AppError::Internal(anyhow::anyhow!("hashing task failed: {error}")))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

/// Verifies with the parameters recorded in the hash itself, so hashes made
/// with older parameters keep working.
fn verify_blocking(password: &str, encoded: &str) -> bool {
    PhcString::new(encoded).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, AppError> {
        let params = self.params.clone();
        self.on_blocking_thread(move || hash_blocking(&params, password.expose()))
            .await?
            .map(PasswordHash::new)
            .map_err(AppError::Internal)
    }

    async fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> Result<bool, AppError> {
        let known = hash.is_some();
        let encoded = hash.map_or_else(|| self.dummy_hash.clone(), |hash| hash.as_str().to_owned());
        let matches = self
            .on_blocking_thread(move || verify_blocking(password.expose(), &encoded))
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_salted() {
        let hasher = Argon2Hasher::new(2).unwrap();
        let password = Password::parse("correct horse").unwrap();
        let first = hasher.hash(password.clone()).await.unwrap();
        let second = hasher.hash(password).await.unwrap();
        assert!(
            first
                .as_str()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            first.as_str()
        );
        assert_ne!(
            first.as_str(),
            second.as_str(),
            "each hash has its own salt"
        );
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = Argon2Hasher::new(2).unwrap();
        let hash = hasher
            .hash(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        let right = Password::for_login("correct horse").unwrap();
        let wrong = Password::for_login("wrong horse").unwrap();
        assert!(hasher.verify(right, Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify(wrong, Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let dummy = Password::for_login("conduit-dummy-password").unwrap();
        assert!(!hasher.verify(dummy, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_hash_does_not_verify() {
        let hasher = Argon2Hasher::new(1).unwrap();
        let password = Password::for_login("anything").unwrap();
        let corrupt = PasswordHash::new("not a phc string".to_owned());
        assert!(!hasher.verify(password, Some(corrupt)).await.unwrap());
    }
}
