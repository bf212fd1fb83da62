//! Rate limits: a token bucket per client address on the API, and one per conversation on
//! customer messages (each may run the model). The client address is the socket's, or the
//! first `X-Forwarded-For` entry behind a trusted proxy.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::settings::ServerSettings;

pub struct Limits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_conversation: DefaultKeyedRateLimiter<String>,
    /// Console sign-ins, keyed by `ip:<addr>` and by `name:<staff name>`.
    logins: DefaultKeyedRateLimiter<String>,
    trust_forwarded_for: bool,
    clock: DefaultClock,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).expect("validated: at least 1");
    let burst = NonZeroU32::new(burst).expect("validated: at least 1");
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limits {
    pub fn new(s: &ServerSettings) -> Limits {
        Limits {
            per_ip: RateLimiter::keyed(quota(s.ip_requests_per_minute, s.ip_burst)),
            per_conversation: RateLimiter::keyed(quota(
                s.conversation_messages_per_minute,
                s.conversation_burst,
            )),
            logins: RateLimiter::keyed(quota(
                s.login_attempts_per_minute,
                s.login_attempts_per_minute,
            )),
            trust_forwarded_for: s.trust_forwarded_for,
            clock: DefaultClock::default(),
        }
    }

    /// The client's address for rate limiting.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.trust_forwarded_for {
            if let Some(ip) = headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
            {
                return ip;
            }
        }
        peer.ip()
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip).map_err(|n| self.limited(n))
    }

    pub fn check_conversation(&self, id: &str) -> Result<(), ApiError> {
        self.per_conversation
            .check_key(&id.to_string())
            .map_err(|n| self.limited(n))
    }

    /// One sign-in attempt from `ip` for `name`: both buckets must have room.
    pub fn check_login(&self, ip: IpAddr, name: &str) -> Result<(), ApiError> {
        self.logins
            .check_key(&format!("ip:{ip}"))
            .and_then(|()| {
                self.logins
                    .check_key(&format!("name:{}", name.to_lowercase()))
            })
            .map_err(|n| self.limited(n))
    }

    fn limited(&self, n: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
        let wait = n.wait_time_from(self.clock.now());
        ApiError::RateLimited {
            retry_after_s: wait.as_secs().max(1),
        }
    }

    /// Forgets buckets that are full again (keeps memory bounded).
    pub fn shrink(&self) {
        self.per_ip.retain_recent();
        self.per_conversation.retain_recent();
        self.logins.retain_recent();
        self.logins.shrink_to_fit();
        self.per_ip.shrink_to_fit();
        self.per_conversation.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ServerSettings {
        let mut s = crate::Config::defaults().unwrap().server;
        s.ip_requests_per_minute = 60;
        s.ip_burst = 3;
        s.conversation_messages_per_minute = 1;
        s.conversation_burst = 2;
        s
    }

    #[test]
    fn buckets_refuse_after_the_burst_per_key() {
        let l = Limits::new(&settings());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            l.check_ip(a).unwrap();
        }
        let err = l.check_ip(a).unwrap_err();
        assert_eq!(err.code(), "rate_limited");
        assert!(matches!(err, ApiError::RateLimited { retry_after_s } if retry_after_s >= 1));
        l.check_ip(b).unwrap();
        l.check_conversation("c1").unwrap();
        l.check_conversation("c1").unwrap();
        assert!(l.check_conversation("c1").is_err());
        l.check_conversation("c2").unwrap();
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted() {
        let mut s = settings();
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(Limits::new(&s).client_ip(peer, &h), peer.ip());
        s.trust_forwarded_for = true;
        assert_eq!(
            Limits::new(&s).client_ip(peer, &h),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }
}
