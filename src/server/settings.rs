//! `[server]` settings: where to listen, who may embed the widget, request limits, rate limits,
//! streaming and shutdown timings. Validated once at start.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Where `/metrics` and `/readyz` are served instead of `bind` (empty: on `bind`).
    pub admin_bind: String,
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub max_message_chars: usize,
    pub ip_requests_per_minute: u32,
    pub ip_burst: u32,
    pub conversation_messages_per_minute: u32,
    pub conversation_burst: u32,
    /// New conversations one client address may start per hour.
    pub conversations_per_address_per_hour: u32,
    /// The latest messages of a conversation a turn reads (follow-ups, repeats); older ones stay
    /// stored but are not read again on every message.
    pub history_messages: usize,
    pub trust_forwarded_for: bool,
    /// Addresses or networks (CIDR) of the reverse proxies in front of Concord.
    pub trusted_proxies: Vec<String>,
    pub keepalive_s: u64,
    pub events_poll_ms: u64,
    pub shutdown_grace_ms: u64,
    pub max_streams: usize,
    /// Answers being written at once (their own pool: event streams cannot starve them).
    pub max_answer_streams: usize,
    /// Streams one conversation, and one client address, may hold open.
    pub streams_per_conversation: usize,
    pub streams_per_address: usize,
    /// An event stream ends after this long (the widget reconnects where it left off).
    pub stream_max_minutes: u64,
    /// Connections open at once, and from one client address (reverse proxies exempt).
    pub max_connections: usize,
    pub connections_per_address: usize,
    /// A request head must arrive within this (also how long an idle connection is kept), a body
    /// within `body_timeout_s`; a client that reads nothing of a response for `send_timeout_s`
    /// is disconnected.
    pub header_timeout_s: u64,
    pub body_timeout_s: u64,
    pub send_timeout_s: u64,
    pub staff_session_hours: u64,
    pub staff_cookie_secure: bool,
    pub login_attempts_per_minute: u32,
    /// The staff console's language (`pl` or `en`).
    pub console_lang: crate::knowledge::Lang,
    /// The widget's survey also asks the 0-10 NPS question.
    pub ask_nps: bool,
}

impl ServerSettings {
    /// `trusted_proxies` parsed (validated at start: entries that do not parse are refused).
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_net(p).ok())
            .collect()
    }

    /// Checks ranges and formats; the message names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.bind.parse::<SocketAddr>().map_err(|e| {
            (
                "server.bind",
                format!(
                    "`{}` is not an address such as 127.0.0.1:8080: {e}",
                    self.bind
                ),
            )
        })?;
        if !self.admin_bind.is_empty() {
            let admin = self.admin_bind.parse::<SocketAddr>().map_err(|e| {
                (
                    "server.admin_bind",
                    format!(
                        "`{}` is not an address such as 127.0.0.1:9090 (or empty): {e}",
                        self.admin_bind
                    ),
                )
            })?;
            if admin.port() != 0 && admin == self.bind_addr() {
                return Err((
                    "server.admin_bind",
                    "must differ from server.bind (or be empty)".into(),
                ));
            }
        }
        for p in &self.trusted_proxies {
            parse_net(p).map_err(|m| ("server.trusted_proxies", m))?;
        }
        if self.trust_forwarded_for && self.trusted_proxies.is_empty() {
            return Err((
                "server.trusted_proxies",
                "trust_forwarded_for needs the proxies' addresses (e.g. [\"127.0.0.1\"] for a proxy on this machine): X-Forwarded-For is believed only from them".into(),
            ));
        }
        for o in &self.allowed_origins {
            if !is_origin(o) {
                return Err((
                    "server.allowed_origins",
                    format!("`{o}` is not an origin such as https://shop.example (scheme, host, optional port; no path)"),
                ));
            }
        }
        let ranges: [(&'static str, u64, u64, u64); 23] = [
            (
                "server.conversations_per_address_per_hour",
                u64::from(self.conversations_per_address_per_hour),
                1,
                1_000_000,
            ),
            (
                "server.history_messages",
                self.history_messages as u64,
                2,
                10_000,
            ),
            (
                "server.max_connections",
                self.max_connections as u64,
                8,
                1_000_000,
            ),
            (
                "server.connections_per_address",
                self.connections_per_address as u64,
                4,
                1_000_000,
            ),
            ("server.header_timeout_s", self.header_timeout_s, 1, 3600),
            ("server.body_timeout_s", self.body_timeout_s, 1, 3600),
            ("server.send_timeout_s", self.send_timeout_s, 1, 3600),
            ("server.max_streams", self.max_streams as u64, 1, 100_000),
            (
                "server.max_answer_streams",
                self.max_answer_streams as u64,
                1,
                100_000,
            ),
            (
                "server.streams_per_conversation",
                self.streams_per_conversation as u64,
                2,
                1000,
            ),
            (
                "server.streams_per_address",
                self.streams_per_address as u64,
                2,
                100_000,
            ),
            (
                "server.stream_max_minutes",
                self.stream_max_minutes,
                1,
                24 * 60,
            ),
            (
                "server.max_body_bytes",
                self.max_body_bytes as u64,
                1024,
                1 << 20,
            ),
            (
                "server.max_message_chars",
                self.max_message_chars as u64,
                1,
                20_000,
            ),
            (
                "server.ip_requests_per_minute",
                u64::from(self.ip_requests_per_minute),
                1,
                u64::from(u32::MAX),
            ),
            (
                "server.ip_burst",
                u64::from(self.ip_burst),
                1,
                u64::from(u32::MAX),
            ),
            (
                "server.conversation_messages_per_minute",
                u64::from(self.conversation_messages_per_minute),
                1,
                u64::from(u32::MAX),
            ),
            (
                "server.conversation_burst",
                u64::from(self.conversation_burst),
                1,
                u64::from(u32::MAX),
            ),
            ("server.keepalive_s", self.keepalive_s, 1, 300),
            (
                "server.staff_session_hours",
                self.staff_session_hours,
                1,
                24 * 30,
            ),
            (
                "server.login_attempts_per_minute",
                u64::from(self.login_attempts_per_minute),
                1,
                1000,
            ),
            ("server.events_poll_ms", self.events_poll_ms, 50, 60_000),
            (
                "server.shutdown_grace_ms",
                self.shutdown_grace_ms,
                0,
                600_000,
            ),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err((key, format!("must be between {lo} and {hi}, got {v}")));
            }
        }
        if self.send_timeout_s <= self.keepalive_s {
            return Err((
                "server.send_timeout_s",
                format!(
                    "must be longer than server.keepalive_s ({} s), or idle streams would be cut, got {}",
                    self.keepalive_s, self.send_timeout_s
                ),
            ));
        }
        if self.max_message_chars * 4 > self.max_body_bytes {
            return Err((
                "server.max_body_bytes",
                format!(
                    "must leave room for a message of server.max_message_chars ({}) characters of up to 4 bytes each, got {}",
                    self.max_message_chars, self.max_body_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The caps and time limits of the accept loop.
    pub fn connection_limits(&self) -> super::listen::ConnectionLimits {
        super::listen::ConnectionLimits {
            max_connections: self.max_connections,
            per_address: self.connections_per_address,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_s),
            send_timeout: std::time::Duration::from_secs(self.send_timeout_s),
            proxies: self.trusted_proxy_nets(),
        }
    }

    pub fn bind_addr(&self) -> SocketAddr {
        self.bind.parse().expect("validated at start")
    }

    /// The admin listener's address, when one is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        (!self.admin_bind.is_empty()).then(|| self.admin_bind.parse().expect("validated at start"))
    }
}

fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
        && rest.parse::<axum::http::uri::Authority>().is_ok()
}

/// An address (`10.0.0.1`) or a network (`10.0.0.0/8`).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let t = text.trim();
    t.parse::<ipnet::IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{t}` is not an address or a network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "https://shop.example",
            "http://127.0.0.1:8080",
            "https://sklep.pl:443",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "shop.example",
            "https://shop.example/",
            "ftp://x",
            "https://",
            "https://a b",
            "*",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
