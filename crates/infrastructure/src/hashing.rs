//! Password hashing with argon2id.

use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcString, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use conduit_application::error::{AppError, Cause};

use crate::error::InfrastructureError;
use conduit_application::ports::{PasswordHash, PasswordHasher};
use conduit_domain::Password;

/// argon2id with the OWASP Password Storage Cheat Sheet's first
/// recommendation: 19 MiB of memory, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// Hashes on a few dedicated threads, so that a flood of log-ins queues up
/// instead of taking every core, every blocking thread and (19 MiB a hash)
/// the memory. Each thread allocates its argon2 memory once and reuses it for
/// every hash, so the resident size stays at `threads × 19 MiB` instead of
/// growing with allocator fragmentation.
///
/// The queue is bounded: beyond it a request fails at once with
/// `Unavailable` (503 and `Retry-After`) rather than waiting behind
/// minutes of hashing, and a queued hash whose requester has gone (the
/// client disconnected) is skipped.
pub struct Argon2Hasher {
    params: Params,
    jobs: Option<Mutex<mpsc::SyncSender<Job>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Verified against when the user does not exist, so that an unknown
    /// email costs as much time as a wrong password.
    dummy_hash: String,
}

/// Work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut [Block]) + Send>;

impl Argon2Hasher {
    /// Starts `threads` hashing threads (at least one), with room for
    /// `queue` waiting hashes.
    ///
    /// # Errors
    /// When the parameters are rejected, a thread cannot start, or the dummy
    /// hash cannot be made.
    pub fn new(threads: usize, queue: usize) -> Result<Self, InfrastructureError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|error| InfrastructureError::Invalid(format!("argon2 parameters: {error}")))?;
        let dummy_hash = hash_with_memory(
            &params,
            "conduit-dummy-password",
            &mut vec![Block::default(); params.block_count()],
        )
        .map_err(|error| InfrastructureError::Invalid(format!("argon2 dummy hash: {error}")))?;
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut handles = Vec::with_capacity(threads.max(1));
        for index in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let blocks = params.block_count();
            let handle = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    let mut memory = vec![Block::default(); blocks];
                    loop {
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(&mut memory),
                            // The hasher was dropped: no more work will come.
                            Err(_) => break,
                        }
                    }
                })
                .map_err(InfrastructureError::io("starting a hashing thread"))?;
            handles.push(handle);
        }
        Ok(Self {
            params,
            jobs: Some(Mutex::new(sender)),
            threads: handles,
            dummy_hash,
        })
    }

    /// Runs `work` on a hashing thread and waits for it without blocking.
    async fn on_hashing_thread<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut [Block]) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |memory| {
            // The requester has gone (client disconnected): not worth 19 MiB
            // and tens of milliseconds.
            if reply.is_closed() {
                return;
            }
            let _entered = span.enter();
            let _ = reply.send(work(memory));
        });
        let stopped = || AppError::Internal(Cause::from("the hashing threads stopped"));
        let sent = self
            .jobs
            .as_ref()
            .ok_or_else(stopped)?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_send(job);
        match sent {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                return Err(AppError::Unavailable(Cause::from(
                    "too many passwords waiting to be hashed",
                )));
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        answer
            .await
            .map_err(|_| AppError::Internal(Cause::from("a hashing job failed")))
    }
}

/// Hashes `password` with a new random salt into a PHC string, in `memory`
/// (at least `params.block_count()` blocks), as `argon2`'s own
/// `hash_password` does but without allocating.
fn hash_with_memory(
    params: &Params,
    password: &str,
    memory: &mut [Block],
) -> Result<String, Cause> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0_u8; Salt::MAX_LENGTH];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|error| Cause::from(format!("salt: {error}")))?;
    let mut output = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut output, memory)
        .map_err(|error| Cause::from(format!("hashing a password: {error}")))?;
    let phc = PhcString {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|error| Cause::from(format!("{error}")))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|error| Cause::from(format!("{error}")))?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string with the algorithm, version and
/// parameters recorded in it (so hashes made with other parameters keep
/// working), in `memory` when it is large enough. The comparison is
/// constant-time (`password_hash::Output`'s equality).
fn verify_with_memory(password: &str, encoded: &str, memory: &mut [Block]) -> bool {
    let Ok(phc) = PhcString::new(encoded) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(phc.algorithm),
        Params::try_from(&phc),
        phc.salt,
        phc.hash,
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0_u8; Salt::MAX_LENGTH];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut output = vec![0_u8; expected.len()];
    let hashed = if params.block_count() <= memory.len() {
        argon2.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut output, memory)
    } else {
        argon2.hash_password_into(password.as_bytes(), raw_salt, &mut output)
    };
    hashed.is_ok() && Output::new(&output).is_ok_and(|computed| computed == expected)
}

impl Drop for Argon2Hasher {
    fn drop(&mut self) {
        // Closing the queue ends each thread after the hash it is on.
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a hashing thread panicked");
            }
        }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, AppError> {
        let params = self.params.clone();
        self.on_hashing_thread(move |memory| hash_with_memory(&params, password.expose(), memory))
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
            .on_hashing_thread(move |memory| {
                verify_with_memory(password.expose(), &encoded, memory)
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_salted() {
        let hasher = Argon2Hasher::new(2, 64).unwrap();
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
        let hasher = Argon2Hasher::new(2, 64).unwrap();
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
        let hasher = Argon2Hasher::new(1, 64).unwrap();
        let dummy = Password::for_login("conduit-dummy-password").unwrap();
        assert!(!hasher.verify(dummy, None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_itself_verify_and_ours_verify_there() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = Argon2Hasher::new(1, 64).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"legacy password", &salt)
            .unwrap()
            .to_string();
        let password = Password::for_login("legacy password").unwrap();
        assert!(
            hasher
                .verify(password, Some(PasswordHash::new(theirs)))
                .await
                .unwrap()
        );

        let ours = hasher
            .hash(Password::parse("modern password").unwrap())
            .await
            .unwrap();
        let parsed = PhcString::new(ours.as_str()).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"modern password", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"other password", &parsed)
                .is_err()
        );
    }

    #[tokio::test]
    async fn many_concurrent_hashes_share_the_threads() {
        let hasher = Arc::new(Argon2Hasher::new(2, 64).unwrap());
        let hashes = (0..6).map(|i| {
            let hasher = Arc::clone(&hasher);
            tokio::spawn(async move {
                hasher
                    .hash(Password::parse(format!("password {i}")).unwrap())
                    .await
                    .unwrap()
            })
        });
        let mut all = Vec::new();
        for hash in hashes {
            all.push(hash.await.unwrap().as_str().to_owned());
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    #[tokio::test]
    async fn a_corrupt_hash_does_not_verify() {
        let hasher = Argon2Hasher::new(1, 64).unwrap();
        let password = Password::for_login("anything").unwrap();
        let corrupt = PasswordHash::new("not a phc string".to_owned());
        assert!(!hasher.verify(password, Some(corrupt)).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_waiting() {
        // One thread, one waiting place: of ten hashes asked at once, the
        // ones beyond the thread and the place are refused.
        let hasher = Arc::new(Argon2Hasher::new(1, 1).unwrap());
        let attempts: Vec<_> = (0..10)
            .map(|i| {
                let hasher = Arc::clone(&hasher);
                tokio::spawn(async move {
                    hasher
                        .hash(Password::parse(format!("password {i}")).unwrap())
                        .await
                })
            })
            .collect();
        let mut refused = 0;
        let mut hashed = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(AppError::Unavailable(_)) => refused += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(hashed >= 1, "hashed {hashed}");
        assert!(refused >= 1, "refused {refused}");
        assert_eq!(hashed + refused, 10);
    }
}
