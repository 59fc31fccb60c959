//! Access tokens: HS256 JWTs with an expiry, and the signing secret.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use conduit_application::AuthFailure;
use conduit_application::error::{AppError, Cause};

use crate::error::InfrastructureError;
use conduit_application::ports::{TokenClaims, TokenService};
use conduit_domain::UserId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The `iss` claim of every token, checked on the way in.
const ISSUER: &str = "conduit";
/// Shortest secret accepted: 256 bits, as RFC 7518 asks for HS256 keys.
pub const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt_secret";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
    /// The user's token version at issue; tokens issued before versions
    /// existed carry none and count as version 0.
    #[serde(default)]
    ver: i64,
}

/// Issues and verifies HS256 tokens. The algorithm is pinned: a token that
/// names another one (`none`, RS256, …) is rejected.
pub struct JwtTokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl JwtTokenService {
    /// # Errors
    /// When the secret is shorter than 32 bytes or the lifetime is zero.
    pub fn new(secret: &[u8], lifetime: Duration) -> Result<Self, InfrastructureError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(InfrastructureError::Invalid(format!(
                "the JWT secret must be at least {MIN_SECRET_BYTES} bytes long"
            )));
        }
        if lifetime.is_zero() {
            return Err(InfrastructureError::Invalid(
                "the token lifetime must be positive".to_owned(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        })
    }
}

impl TokenService for JwtTokenService {
    fn issue(&self, user: UserId, version: i64) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.0.to_string(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now.saturating_add(lifetime),
            ver: version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|error| AppError::Internal(Cause::from(format!("signing a token: {error}"))))
    }

    fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::ExpiredToken,
                _ => AuthFailure::InvalidToken,
            })?;
        let user = data
            .claims
            .sub
            .parse::<i64>()
            .map(UserId)
            .map_err(|_| AuthFailure::InvalidToken)?;
        Ok(TokenClaims {
            user,
            version: data.claims.ver,
        })
    }
}

/// Reads the signing secret from `dir/jwt_secret`, creating it with 64 random
/// bytes, readable by the owner only, when it does not exist yet. Tokens then
/// survive restarts without any configuration.
///
/// # Errors
/// When the file cannot be read or written, or holds too short a secret.
pub fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, InfrastructureError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    std::fs::create_dir_all(dir).map_err(InfrastructureError::io(format!(
        "creating {}",
        dir.display()
    )))?;
    let path = dir.join(SECRET_FILE);
    let mut bytes = [0_u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    let fresh: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(InfrastructureError::io(format!(
                    "writing {}",
                    path.display()
                )))?;
            tracing::info!(path = %path.display(), "created a new JWT signing secret");
            Ok(fresh.into_bytes())
        }
        // Another instance (or an earlier run) made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let reading = || InfrastructureError::io(format!("reading {}", path.display()));
            let mode = std::fs::metadata(&path)
                .map_err(reading())?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the JWT secret file is readable by others");
            }
            let secret = std::fs::read_to_string(&path)
                .map_err(reading())?
                .trim()
                .as_bytes()
                .to_vec();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(InfrastructureError::Invalid(format!(
                    "{} holds fewer than {MIN_SECRET_BYTES} bytes",
                    path.display()
                )));
            }
            Ok(secret)
        }
        Err(error) => Err(InfrastructureError::io(format!(
            "creating {}",
            path.display()
        ))(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn service() -> JwtTokenService {
        JwtTokenService::new(SECRET, Duration::from_secs(3600)).unwrap()
    }

    fn sign(header: &Header, claims: &serde_json_claims::Claims, secret: &[u8]) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    /// Claims with arbitrary values, for forging tokens.
    mod serde_json_claims {
        #[derive(serde::Serialize)]
        pub struct Claims {
            pub sub: String,
            pub iss: String,
            pub iat: i64,
            pub exp: i64,
        }
    }

    fn claims(exp_offset: i64) -> serde_json_claims::Claims {
        let now = chrono::Utc::now().timestamp();
        serde_json_claims::Claims {
            sub: "42".to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + exp_offset,
        }
    }

    #[test]
    fn a_token_round_trips_to_its_user_and_version() {
        let service = service();
        let token = service.issue(UserId(42), 3).unwrap();
        assert_eq!(
            service.verify(&token),
            Ok(TokenClaims {
                user: UserId(42),
                version: 3
            })
        );
    }

    #[test]
    fn a_token_issued_before_versions_counts_as_version_zero() {
        let token = sign(&Header::new(Algorithm::HS256), &claims(60), SECRET);
        assert_eq!(
            service().verify(&token),
            Ok(TokenClaims {
                user: UserId(42),
                version: 0
            })
        );
    }

    #[test]
    fn an_expired_token_is_rejected_as_expired() {
        let token = sign(&Header::new(Algorithm::HS256), &claims(-10), SECRET);
        assert_eq!(service().verify(&token), Err(AuthFailure::ExpiredToken));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = sign(
            &Header::new(Algorithm::HS256),
            &claims(60),
            b"another-secret-another-secret-!!",
        );
        assert_eq!(service().verify(&token), Err(AuthFailure::InvalidToken));
    }

    #[test]
    fn another_algorithm_is_rejected() {
        let token = sign(&Header::new(Algorithm::HS512), &claims(60), SECRET);
        assert_eq!(service().verify(&token), Err(AuthFailure::InvalidToken));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_rejected() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let now = chrono::Utc::now().timestamp();
        let payload = b64.encode(
            format!(
                r#"{{"sub":"42","iss":"conduit","iat":{now},"exp":{}}}"#,
                now + 60
            )
            .as_bytes(),
        );
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(service().verify(&token), Err(AuthFailure::InvalidToken));
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for token in ["", "garbage", "a.b.c", "....", "Token abc"] {
            assert_eq!(
                service().verify(token),
                Err(AuthFailure::InvalidToken),
                "{token}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtTokenService::new(b"short", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn the_secret_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 128);
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// One-time tokens for links in emails: 32 random bytes, base64url without
/// padding (43 URL-safe characters), stored as their SHA-256 in hex. The
/// tokens carry 256 bits of entropy, so a plain digest is as strong as a
/// keyed one: nothing stored can be turned back into a usable link.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomTokens;

impl conduit_application::ports::OneTimeTokens for RandomTokens {
    fn generate(&self) -> conduit_application::ports::OneTimeToken {
        use base64::Engine as _;
        use rand::RngCore as _;

        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let digest = self.digest(&secret);
        conduit_application::ports::OneTimeToken { secret, digest }
    }

    fn digest(&self, secret: &str) -> conduit_application::ports::TokenDigest {
        use sha2::Digest as _;
        conduit_application::ports::TokenDigest(format!("{:x}", sha2::Sha256::digest(secret)))
    }
}

#[cfg(test)]
mod one_time_tests {
    use conduit_application::ports::OneTimeTokens as _;

    use super::RandomTokens;

    #[test]
    fn tokens_are_url_safe_distinct_and_stored_only_as_their_digest() {
        let first = RandomTokens.generate();
        let second = RandomTokens.generate();
        assert_ne!(first.secret, second.secret);
        assert_eq!(first.secret.len(), 43);
        assert!(
            first
                .secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{}",
            first.secret
        );
        assert_eq!(RandomTokens.digest(&first.secret), first.digest);
        assert_eq!(first.digest.0.len(), 64);
        assert!(!first.digest.0.contains(&first.secret));
        assert_eq!(
            RandomTokens.digest("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
