//! Limits on log-in and registration attempts, against password guessing and
//! account spam: per client address for both, and per account for log-in.
//!
//! Each limit is a GCRA bucket (`governor`): a burst of N attempts, refilled at
//! N per minute. A refused request gets 429 with `Retry-After`. The buckets
//! live in this process; several instances each apply the limits on their own.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts per minute for each limit; `None` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub login_per_ip: Option<NonZeroU32>,
    pub login_per_account: Option<NonZeroU32>,
    pub register_per_ip: Option<NonZeroU32>,
    /// Take the client address from the last `X-Forwarded-For` entry (the one
    /// the proxy in front of Conduit appended). Only behind such a proxy: a
    /// direct client could otherwise pick its own address.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip: NonZeroU32::new(60),
            login_per_account: NonZeroU32::new(10),
            register_per_ip: NonZeroU32::new(20),
            trust_forwarded_for: false,
        }
    }
}

impl RateLimitSettings {
    /// Every limit off (tests, benchmarks).
    pub fn off() -> Self {
        Self {
            login_per_ip: None,
            login_per_account: None,
            register_per_ip: None,
            trust_forwarded_for: false,
        }
    }
}

/// A refused attempt: which limit, and how long until the next one may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub limit: &'static str,
    pub retry_after: Duration,
}

/// How many checks between sweeps of idle keys, which bounds memory.
const SWEEP_EVERY: u64 = 4096;

pub struct RateLimits {
    login_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login_per_account: Option<DefaultKeyedRateLimiter<String>>,
    register_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
    checks: AtomicU64,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(
    per_minute: Option<NonZeroU32>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    per_minute.map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    limit: &'static str,
) -> Result<(), Limited> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| Limited {
        limit,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            login_per_ip: keyed(settings.login_per_ip),
            login_per_account: keyed(settings.login_per_account),
            register_per_ip: keyed(settings.register_per_ip),
            trust_forwarded_for: settings.trust_forwarded_for,
            checks: AtomicU64::new(0),
        }
    }

    /// The address a request comes from: the peer, or the proxy-reported
    /// client when so configured.
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        if self.trust_forwarded_for {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
                .last();
            if let Some(ip) = forwarded {
                return ip;
            }
        }
        req.peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
    }

    fn sweep(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in [&self.login_per_ip, &self.register_per_ip]
                .into_iter()
                .flatten()
            {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
            if let Some(limiter) = &self.login_per_account {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    /// Counts a log-in attempt. The address is checked first, so a flood of
    /// made-up emails from one address cannot grow the per-account table.
    ///
    /// # Errors
    /// The limit that refused the attempt.
    pub fn login(&self, ip: IpAddr, email: &str) -> Result<(), Limited> {
        self.sweep();
        check(self.login_per_ip.as_ref(), &ip, "login_per_ip")?;
        check(
            self.login_per_account.as_ref(),
            &email.trim().to_lowercase(),
            "login_per_account",
        )
    }

    /// Counts a password reset request (`email` set) or confirmation, under
    /// the log-in limits: the address shares its log-in budget, and each
    /// email has a reset budget of its own, so nobody floods one inbox.
    ///
    /// # Errors
    /// The limit that refused the attempt.
    pub fn password_reset(&self, ip: IpAddr, email: Option<&str>) -> Result<(), Limited> {
        self.sweep();
        check(self.login_per_ip.as_ref(), &ip, "login_per_ip")?;
        match email {
            Some(email) => check(
                self.login_per_account.as_ref(),
                &format!("reset:{}", email.trim().to_lowercase()),
                "password_reset_per_account",
            ),
            None => Ok(()),
        }
    }

    /// Counts a registration attempt.
    ///
    /// # Errors
    /// The limit that refused the attempt.
    pub fn register(&self, ip: IpAddr) -> Result<(), Limited> {
        self.sweep();
        check(self.register_per_ip.as_ref(), &ip, "register_per_ip")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32) -> RateLimitSettings {
        RateLimitSettings {
            login_per_ip: NonZeroU32::new(per_minute * 10),
            login_per_account: NonZeroU32::new(per_minute),
            register_per_ip: NonZeroU32::new(per_minute),
            trust_forwarded_for: false,
        }
    }

    #[test]
    fn a_burst_passes_then_the_account_is_limited_with_a_retry_delay() {
        let limits = RateLimits::new(settings(3));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.login(ip, "jake@example.com").is_ok());
        }
        let limited = limits.login(ip, "JAKE@example.com ").unwrap_err();
        assert_eq!(limited.limit, "login_per_account");
        assert!(
            limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_secs(20)
        );
        assert!(
            limits.login(ip, "other@example.com").is_ok(),
            "other accounts are unaffected"
        );
    }

    #[test]
    fn the_address_limit_applies_across_accounts() {
        let limits = RateLimits::new(RateLimitSettings {
            login_per_ip: NonZeroU32::new(2),
            ..settings(100)
        });
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.login(ip, "a@example.com").is_ok());
        assert!(limits.login(ip, "b@example.com").is_ok());
        assert_eq!(
            limits.login(ip, "c@example.com").unwrap_err().limit,
            "login_per_ip"
        );
        assert!(
            limits
                .login("10.0.0.3".parse().unwrap(), "c@example.com")
                .is_ok()
        );
    }

    #[test]
    fn reset_requests_have_a_budget_per_email_apart_from_log_ins_and_share_the_address_budget() {
        let limits = RateLimits::new(settings(2));
        let ip: IpAddr = "10.0.0.6".parse().unwrap();
        for _ in 0..2 {
            assert!(limits.password_reset(ip, Some("jake@example.com")).is_ok());
        }
        assert_eq!(
            limits
                .password_reset(ip, Some(" JAKE@example.com"))
                .unwrap_err()
                .limit,
            "password_reset_per_account"
        );
        assert!(
            limits.login(ip, "jake@example.com").is_ok(),
            "log-in unaffected"
        );
        // Confirmations count against the address only; 20 per minute here,
        // of which 4 are spent.
        for _ in 0..16 {
            assert!(limits.password_reset(ip, None).is_ok());
        }
        assert_eq!(
            limits.password_reset(ip, None).unwrap_err().limit,
            "login_per_ip"
        );
    }

    #[test]
    fn registration_is_limited_per_address() {
        let limits = RateLimits::new(settings(1));
        let ip: IpAddr = "10.0.0.4".parse().unwrap();
        assert!(limits.register(ip).is_ok());
        assert_eq!(limits.register(ip).unwrap_err().limit, "register_per_ip");
    }

    #[test]
    fn limits_can_be_turned_off() {
        let limits = RateLimits::new(RateLimitSettings::off());
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        for _ in 0..1000 {
            assert!(limits.login(ip, "jake@example.com").is_ok());
            assert!(limits.register(ip).is_ok());
        }
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let request = actix_web::test::TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "203.0.113.9, 198.51.100.7"))
            .to_http_request();
        let untrusted = RateLimits::new(RateLimitSettings::off());
        assert_eq!(
            untrusted.client_ip(&request),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        let trusted = RateLimits::new(RateLimitSettings {
            trust_forwarded_for: true,
            ..RateLimitSettings::off()
        });
        assert_eq!(
            trusted.client_ip(&request),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }
}
