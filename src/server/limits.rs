//! Rate limits: a token bucket per client address on the API, and one per conversation on
//! customer messages (each may run the model); console sign-ins per address and per (name,
//! address) with a growing wait after failures. The client address is the socket's, or behind
//! trusted proxies the nearest `X-Forwarded-For` entry that is not one of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::settings::ServerSettings;

pub struct Limits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_conversation: DefaultKeyedRateLimiter<String>,
    /// New conversations per client address (each holds a row and a token until retention).
    new_conversations: DefaultKeyedRateLimiter<IpAddr>,
    /// Console sign-ins, keyed by `ip:<addr>` and by `pair:<staff name>@<addr>` (never by the
    /// name alone: anyone could then lock a staff member out).
    logins: DefaultKeyedRateLimiter<String>,
    /// Failed sign-ins in a row per (name, address), and until when the next one must wait.
    failures: Mutex<HashMap<(String, IpAddr), (u32, Instant)>>,
    trust_forwarded_for: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
    clock: DefaultClock,
}

/// Failed sign-ins allowed in a row before waits begin; then 2, 4, 8... seconds, at most 15 min.
const FREE_FAILURES: u32 = 3;
const MAX_LOGIN_WAIT: Duration = Duration::from_secs(900);

/// The wait after `n` failures in a row.
fn login_wait(n: u32) -> Duration {
    if n < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (n - FREE_FAILURES + 1).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_LOGIN_WAIT)
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
            new_conversations: RateLimiter::keyed({
                let per_hour = NonZeroU32::new(s.conversations_per_address_per_hour)
                    .expect("validated: at least 1");
                Quota::per_hour(per_hour).allow_burst(per_hour)
            }),
            logins: RateLimiter::keyed(quota(
                s.login_attempts_per_minute,
                s.login_attempts_per_minute,
            )),
            failures: Mutex::new(HashMap::new()),
            trust_forwarded_for: s.trust_forwarded_for,
            trusted_proxies: s.trusted_proxy_nets(),
            clock: DefaultClock::default(),
        }
    }

    fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for rate limiting. `X-Forwarded-For` counts only when the connection
    /// comes from a trusted proxy, and is read right to left: each proxy appends the address it
    /// saw, so the first entry from the right that is not a trusted proxy is the client (entries
    /// further left are whatever the client chose to send).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.ip();
        if !self.trust_forwarded_for || !self.is_proxy(client) {
            return client;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.iter().rev() {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.is_proxy(ip) {
                break;
            }
        }
        client
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip).map_err(|n| self.limited(n))
    }

    /// One new conversation from `ip`.
    pub fn check_new_conversation(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.new_conversations
            .check_key(&ip)
            .map_err(|n| self.limited(n))
    }

    pub fn check_conversation(&self, id: &str) -> Result<(), ApiError> {
        self.per_conversation
            .check_key(&id.to_string())
            .map_err(|n| self.limited(n))
    }

    /// One sign-in attempt from `ip` for `name`: the wait after earlier failures of the pair must
    /// be over, and both buckets (the address, the pair) must have room.
    pub fn check_login(&self, ip: IpAddr, name: &str) -> Result<(), ApiError> {
        let key = (name.to_lowercase(), ip);
        if let Some((_, until)) = self.lock_failures().get(&key) {
            let left = until.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(ApiError::RateLimited {
                    retry_after_s: left.as_secs().max(1),
                });
            }
        }
        self.logins
            .check_key(&format!("ip:{ip}"))
            .and_then(|()| self.logins.check_key(&format!("pair:{}@{ip}", key.0)))
            .map_err(|n| self.limited(n))
    }

    /// A failed sign-in: from the fourth in a row, the pair waits 2, 4, 8... seconds.
    pub fn login_failed(&self, ip: IpAddr, name: &str) {
        let mut map = self.lock_failures();
        let entry = map
            .entry((name.to_lowercase(), ip))
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now() + login_wait(entry.0);
    }

    /// A successful sign-in forgets the pair's failures.
    pub fn login_succeeded(&self, ip: IpAddr, name: &str) {
        self.lock_failures().remove(&(name.to_lowercase(), ip));
    }

    fn lock_failures(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, IpAddr), (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
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
        self.new_conversations.retain_recent();
        self.new_conversations.shrink_to_fit();
        self.logins.retain_recent();
        self.logins.shrink_to_fit();
        // Failures whose wait ended long ago are forgotten.
        let stale = Instant::now() - MAX_LOGIN_WAIT;
        self.lock_failures().retain(|_, (_, until)| *until > stale);
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
        s.conversations_per_address_per_hour = 2;
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
        for _ in 0..2 {
            l.check_new_conversation(a).unwrap();
        }
        let err = l.check_new_conversation(a).unwrap_err();
        assert!(matches!(err, ApiError::RateLimited { retry_after_s } if retry_after_s > 60));
        l.check_new_conversation(b).unwrap();
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_through_trusted_proxies_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut s = settings();
        s.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.1".into()];
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        // A client that forges an entry: the proxy appends what it saw (203.0.113.7).
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        assert_eq!(
            Limits::new(&s).client_ip(proxy, &h),
            proxy.ip(),
            "off by default"
        );
        s.trust_forwarded_for = true;
        let l = Limits::new(&s);
        assert_eq!(l.client_ip(proxy, &h), ip("203.0.113.7"));
        // Two proxies in a chain, the header split over two lines.
        let mut h2 = HeaderMap::new();
        h2.append("x-forwarded-for", "1.2.3.4, 203.0.113.7".parse().unwrap());
        h2.append("x-forwarded-for", "192.0.2.1".parse().unwrap());
        assert_eq!(l.client_ip(proxy, &h2), ip("203.0.113.7"));
        // Not from a proxy: the header is the client's own words.
        assert_eq!(l.client_ip(stranger, &h), stranger.ip());
        // Garbage stops the walk at the last good address.
        let mut h3 = HeaderMap::new();
        h3.insert("x-forwarded-for", "nonsense, 10.0.0.7".parse().unwrap());
        assert_eq!(l.client_ip(proxy, &h3), ip("10.0.0.7"));
    }

    #[test]
    fn sign_in_failures_slow_down_one_name_from_one_address_only() {
        let mut s = settings();
        s.login_attempts_per_minute = 100;
        let l = Limits::new(&s);
        let a = "203.0.113.7".parse::<IpAddr>().unwrap();
        let b = "203.0.113.8".parse::<IpAddr>().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            l.check_login(a, "Ola").unwrap();
            l.login_failed(a, "Ola");
        }
        l.check_login(a, "ola").unwrap();
        l.login_failed(a, "ola");
        let err = l.check_login(a, "OLA").unwrap_err();
        assert!(matches!(err, ApiError::RateLimited { retry_after_s } if retry_after_s >= 1));
        // The same name from another address, and another name from this one, still sign in.
        l.check_login(b, "ola").unwrap();
        l.check_login(a, "ewa").unwrap();
        l.login_succeeded(a, "ola");
        l.check_login(a, "ola").unwrap();
        assert_eq!(login_wait(FREE_FAILURES), Duration::from_secs(2));
        assert_eq!(login_wait(FREE_FAILURES + 2), Duration::from_secs(8));
        assert_eq!(login_wait(1000), MAX_LOGIN_WAIT);
    }
}
