//! Telling the shop's own systems what happened (`[notify]`): signed webhooks for handoffs, held
//! answers, answers not found, staff replies, closed conversations and feedback.
//!
//! The store writes each event into its outbox in the transaction that caused it (see
//! [`crate::store::EventKind`]); the [`Notifier`] claims due rows, posts them and retries with
//! backoff, so an event survives a restart and arrives at least once, with an id to de-duplicate.

pub mod email;
pub mod sign;

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use crate::store::{Delivery, EventKind, OutboxTarget, Store, StoreError};

/// `[notify]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// This service's address as staff reach it (`https://czat.sklep.pl`): events link to the
    /// console page of their conversation. Empty: no links.
    pub public_url: String,
    /// One attempt's limit, connecting included.
    pub timeout_ms: u64,
    /// Attempts per event and endpoint before it is given up (and shown as failed).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles with each attempt up to `max_retry_ms`
    /// (each wait varies by up to a fifth, so that retries of many events spread out).
    pub first_retry_ms: u64,
    pub max_retry_ms: u64,
    /// How often the outbox is read for events written by another process.
    pub poll_ms: u64,
    /// Delivered events are forgotten after this many days.
    pub keep_delivered_days: u32,
    /// The endpoints.
    pub webhooks: Vec<WebhookSettings>,
}

/// One webhook endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A short name (in logs, the console and the outbox).
    pub name: String,
    /// `https://...` (or `http://` on loopback and private networks).
    pub url: String,
    /// The environment variable that holds the signing secret (never the secret itself: the
    /// configuration file is often readable by more people than the secret should be).
    pub secret_env: String,
    /// The kinds of event it takes; empty: all.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Its events carry the customer's question and the reply or comment they are about. Off
    /// by default: an endpoint outside the shop's control should not receive personal data.
    #[serde(default)]
    pub include_text: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook `{name}`: the environment variable {var} (its signing secret) is not set or is shorter than 16 characters")]
    MissingSecret { name: String, var: String },
    #[error("webhook `{name}`: cannot build the HTTP client: {message}")]
    Client { name: String, message: String },
    #[error(transparent)]
    Mail(#[from] email::MailError),
    #[error("{0}")]
    Setup(String),
}

impl NotifySettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(format!(
                "notify.timeout_ms must be between 100 and 120000, got {}",
                self.timeout_ms
            ));
        }
        if !(1..=50).contains(&self.max_attempts) {
            return Err(format!(
                "notify.max_attempts must be between 1 and 50, got {}",
                self.max_attempts
            ));
        }
        if self.first_retry_ms < 10 || self.first_retry_ms > self.max_retry_ms {
            return Err(format!(
                "notify.first_retry_ms must be at least 10 and at most notify.max_retry_ms ({}), got {}",
                self.max_retry_ms, self.first_retry_ms
            ));
        }
        if self.max_retry_ms > 86_400_000 {
            return Err(format!(
                "notify.max_retry_ms must be at most one day (86400000), got {}",
                self.max_retry_ms
            ));
        }
        if !(50..=600_000).contains(&self.poll_ms) {
            return Err(format!(
                "notify.poll_ms must be between 50 and 600000, got {}",
                self.poll_ms
            ));
        }
        let url = self.public_url.trim();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "notify.public_url must start with https:// or http://, got `{url}`"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.webhooks {
            let name = w.name.trim();
            if name.is_empty()
                || name.len() > 40
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "notify.webhooks: a name must be 1-40 letters, digits, `-` or `_`, got `{name}`"
                ));
            }
            if name.starts_with("email-") {
                return Err(format!(
                    "notify.webhooks: names starting with `email-` are Concord's own, got `{name}`"
                ));
            }
            if !names.insert(name) {
                return Err(format!("notify.webhooks: the name `{name}` is used twice"));
            }
            match reqwest::Url::parse(&w.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(format!(
                        "notify.webhooks `{name}`: url must be an http:// or https:// address, got `{}`",
                        w.url
                    ))
                }
            }
            if w.secret_env.trim().is_empty() {
                return Err(format!(
                    "notify.webhooks `{name}`: secret_env must name the environment variable that holds the signing secret"
                ));
            }
        }
        Ok(())
    }

    /// The outbox targets these settings ask for: one per endpoint, with its kinds.
    pub fn targets(&self) -> Vec<OutboxTarget> {
        self.webhooks
            .iter()
            .map(|w| OutboxTarget {
                name: w.name.trim().to_string(),
                kinds: if w.events.is_empty() {
                    EventKind::ALL.to_vec()
                } else {
                    w.events.clone()
                },
                delay_ms: 0,
            })
            .collect()
    }

    /// The wait after failed attempt number `attempt` (1 for the first), before jitter; `None`
    /// when it was the last.
    pub fn retry_after(&self, attempt: i64) -> Option<Duration> {
        if attempt >= i64::from(self.max_attempts) {
            return None;
        }
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(40);
        let ms = self
            .first_retry_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_retry_ms);
        Some(Duration::from_millis(ms))
    }
}

/// Makes a store write events for the configured endpoints and e-mail (any process that
/// changes conversations does this; the serving one also delivers them).
pub fn attach(store: &Store, settings: &NotifySettings, email: &email::EmailSettings) {
    let mut targets = settings.targets();
    targets.extend(email.targets());
    store.set_outbox_targets(targets);
}

struct Endpoint {
    name: String,
    url: reqwest::Url,
    secret: Vec<u8>,
    include_text: bool,
}

/// Delivers the outbox: started by `concord serve` when webhooks are configured.
pub struct Notifier {
    store: Store,
    settings: NotifySettings,
    endpoints: Vec<Endpoint>,
    client: reqwest::Client,
    staffing: Staffing,
    mailer: Option<email::Mailer>,
}

/// When people are in (`[hours]`): events say whether a person is in, and customers still
/// waiting inside hours are announced again.
#[derive(Debug, Clone, Default)]
pub struct Staffing {
    /// `None`: no schedule (always treated as inside hours).
    pub hours: Option<std::sync::Arc<crate::hours::OpeningHours>>,
    /// Announce a waiting customer again after this long; `None`: never.
    pub escalate_after: Option<Duration>,
}

impl Staffing {
    /// From the `[hours]` section.
    pub fn from_settings(s: &crate::hours::HoursSettings) -> Result<Staffing, String> {
        Ok(Staffing {
            hours: crate::hours::OpeningHours::from_settings(s)?.map(std::sync::Arc::new),
            escalate_after: Some(Duration::from_secs(u64::from(s.escalate_after_min) * 60)),
        })
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Nothing needed sending (why).
    Skipped(String),
    /// Failed; tried again later.
    Retry(String),
    /// Failed for the last time, or for an endpoint no longer configured.
    GaveUp(String),
}

impl Notifier {
    /// Reads the endpoints' secrets from the environment and attaches the store (with
    /// `mailer`'s targets when there is one: `email` are its settings). `None` when there is
    /// nothing to deliver to.
    pub fn new(
        store: &Store,
        settings: &NotifySettings,
        staffing: Staffing,
        mailer: Option<(email::Mailer, &email::EmailSettings)>,
    ) -> Result<Option<Notifier>, NotifyError> {
        let (mailer, email_settings) = match mailer {
            Some((m, s)) => (Some(m), s.clone()),
            None => (None, email::EmailSettings::off()),
        };
        attach(store, settings, &email_settings);
        if settings.webhooks.is_empty() && mailer.is_none() {
            return Ok(None);
        }
        let mut endpoints = Vec::new();
        for w in &settings.webhooks {
            let secret = std::env::var(w.secret_env.trim()).unwrap_or_default();
            if secret.chars().count() < 16 {
                return Err(NotifyError::MissingSecret {
                    name: w.name.clone(),
                    var: w.secret_env.clone(),
                });
            }
            let url = reqwest::Url::parse(&w.url).map_err(|e| NotifyError::Client {
                name: w.name.clone(),
                message: e.to_string(),
            })?;
            endpoints.push(Endpoint {
                name: w.name.trim().to_string(),
                url,
                secret: secret.into_bytes(),
                include_text: w.include_text,
            });
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("concord/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client {
                name: "*".into(),
                message: e.to_string(),
            })?;
        Ok(Some(Notifier {
            store: store.clone(),
            settings: settings.clone(),
            endpoints,
            client,
            staffing,
            mailer,
        }))
    }

    /// Delivers until `shutdown` resolves (an attempt under way finishes first).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let poll = Duration::from_millis(self.settings.poll_ms);
        let mut last_purge = None::<tokio::time::Instant>;
        let mut last_escalation = None::<tokio::time::Instant>;
        loop {
            let busy = match self.deliver_due().await {
                Ok(n) => n == BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox failed; trying again");
                    false
                }
            };
            if last_purge.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_purge = Some(tokio::time::Instant::now());
                let before = crate::store::now_ms()
                    - i64::from(self.settings.keep_delivered_days) * 86_400_000;
                if let Err(e) = self.store.purge_delivered(before).await {
                    tracing::warn!(error = %e, "purging delivered events failed");
                }
            }
            if last_escalation.is_none_or(|t| t.elapsed() > ESCALATION_CHECK) {
                last_escalation = Some(tokio::time::Instant::now());
                if let Err(e) = self.escalate().await {
                    tracing::warn!(error = %e, "announcing waiting customers again failed");
                }
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = self.store.outbox_written() => {}
                () = tokio::time::sleep(poll) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// Inside hours (or without a schedule), customers waiting longer than `escalate_after`
    /// since their last announcement are announced again.
    pub async fn escalate(&self) -> Result<usize, StoreError> {
        let Some(after) = self.staffing.escalate_after else {
            return Ok(0);
        };
        let now = chrono::Utc::now();
        if let crate::hours::Availability::Closed { .. } =
            crate::hours::availability(self.staffing.hours.as_deref(), now)
        {
            return Ok(0);
        }
        let cutoff =
            crate::store::now_ms() - i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
        self.store.announce_again(cutoff).await
    }

    /// One pass: claims the due deliveries (up to a batch), attempts them side by side and
    /// records the outcomes. Returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let lease = i64::try_from(self.settings.timeout_ms).unwrap_or(i64::MAX / 2) + 30_000;
        let mut due = self.store.claim_deliveries(BATCH as i64, lease).await?;
        // The first staff alert due takes the others raised since along, in one e-mail.
        if due.iter().any(|d| d.target == email::STAFF_TARGET) {
            let more = self
                .store
                .claim_waiting_of(email::STAFF_TARGET, BATCH as i64, lease)
                .await?;
            due.extend(more);
        }
        let n = due.len();
        // Staff alerts claimed together go out as one e-mail.
        let (alerts, single): (Vec<&Delivery>, Vec<&Delivery>) =
            due.iter().partition(|d| d.target == email::STAFF_TARGET);
        let mut outcomes: Vec<(&Delivery, Attempt)> = Vec::with_capacity(n);
        if !alerts.is_empty() {
            let outcome = match &self.mailer {
                Some(m) => match m.alert_staff(&self.store, &alerts).await {
                    email::Mailed::Sent => Ok(()),
                    email::Mailed::Skipped(why) => Err(why.to_string()),
                    email::Mailed::Failed(e) => Err(e),
                },
                None => Err("e-mail is not configured".to_string()),
            };
            for d in alerts {
                outcomes.push((d, self.judge(d, outcome.clone())));
            }
        }
        let attempts = futures_util::future::join_all(single.iter().map(|d| self.attempt(d))).await;
        outcomes.extend(single.into_iter().zip(attempts));
        for (d, outcome) in outcomes {
            match &outcome {
                Attempt::Delivered => {
                    tracing::info!(event = %d.event_id, target = %d.target, kind = d.kind.as_str(), attempt = d.attempt, "event delivered");
                    self.store.delivered(d.id).await?;
                }
                Attempt::Skipped(why) => {
                    tracing::info!(event = %d.event_id, target = %d.target, why, "event needed no delivery");
                    self.store.delivery_skipped(d.id, why).await?;
                }
                Attempt::Retry(error) => {
                    let wait = self
                        .settings
                        .retry_after(d.attempt)
                        .expect("Retry only before the last attempt");
                    let jitter = rand::rng().random_range(0.8..1.2);
                    let at = crate::store::now_ms()
                        + i64::try_from(wait.mul_f64(jitter).as_millis()).unwrap_or(i64::MAX / 2);
                    tracing::warn!(event = %d.event_id, target = %d.target, attempt = d.attempt, %error, "event not delivered; will retry");
                    self.store.delivery_failed(d.id, error, Some(at)).await?;
                }
                Attempt::GaveUp(error) => {
                    tracing::error!(event = %d.event_id, target = %d.target, attempt = d.attempt, %error, "event given up");
                    self.store.delivery_failed(d.id, error, None).await?;
                }
            }
        }
        Ok(n)
    }

    /// A failed attempt is retried until the last one.
    fn judge(&self, d: &Delivery, result: Result<(), String>) -> Attempt {
        match result {
            Ok(()) => Attempt::Delivered,
            Err(e) if self.settings.retry_after(d.attempt).is_some() => Attempt::Retry(e),
            Err(e) => Attempt::GaveUp(e),
        }
    }

    async fn attempt(&self, d: &Delivery) -> Attempt {
        if d.target == email::CUSTOMER_TARGET {
            let Some(m) = &self.mailer else {
                return Attempt::GaveUp("e-mail is not configured".into());
            };
            return match m.reply_to_customer(&self.store, d).await {
                Ok(email::Mailed::Sent) => Attempt::Delivered,
                Ok(email::Mailed::Skipped(why)) => Attempt::Skipped(why.into()),
                Ok(email::Mailed::Failed(e)) => self.judge(d, Err(e)),
                Err(e) => self.judge(d, Err(format!("reading the conversation: {e}"))),
            };
        }
        let Some(endpoint) = self.endpoints.iter().find(|e| e.name == d.target) else {
            return Attempt::GaveUp(format!("no endpoint named `{}` is configured", d.target));
        };
        let result = match self.body(d, endpoint.include_text).await {
            Ok(body) => self.post(endpoint, d, body).await,
            Err(e) => Err(format!("reading the event's texts: {e}")),
        };
        self.judge(d, result)
    }

    /// The JSON body: the same for every attempt of an event, except texts read at delivery.
    async fn body(&self, d: &Delivery, include_text: bool) -> Result<Vec<u8>, StoreError> {
        let base = self.settings.public_url.trim().trim_end_matches('/');
        let link = match (&d.conversation_id, base.is_empty()) {
            (Some(c), false) => Some(format!("{base}/console/conversations/{c}")),
            _ => None,
        };
        let mut body = json!({
            "id": d.event_id,
            "type": d.kind,
            "created_ms": d.created_ms,
            "created_at": rfc3339(d.created_ms),
            "conversation_id": d.conversation_id,
            "link": link,
            "data": d.data,
        });
        // Whether a person was in when it happened (events a person acts on).
        if matches!(
            d.kind,
            EventKind::Handoff | EventKind::Held | EventKind::NoAnswer
        ) {
            if let Some(hours) = &self.staffing.hours {
                let at = chrono::DateTime::from_timestamp_millis(d.created_ms).unwrap_or_default();
                body["staffed"] = match hours.at(at) {
                    crate::hours::Availability::Open { closes } => {
                        json!({ "open": true, "closes_at": closes.to_rfc3339() })
                    }
                    crate::hours::Availability::Closed { opens } => {
                        json!({ "open": false, "opens_at": opens.map(|o| o.to_rfc3339()) })
                    }
                    crate::hours::Availability::Unknown => serde_json::Value::Null,
                };
            }
        }
        if include_text {
            if let Some(c) = &d.conversation_id {
                let texts = self
                    .store
                    .event_texts(
                        c,
                        d.data.get("message_id").and_then(serde_json::Value::as_i64),
                        d.data
                            .get("feedback_id")
                            .and_then(serde_json::Value::as_i64),
                    )
                    .await?;
                body["text"] = json!(texts);
            }
        }
        Ok(serde_json::to_vec(&body).expect("JSON values serialize"))
    }

    async fn post(&self, e: &Endpoint, d: &Delivery, body: Vec<u8>) -> Result<(), String> {
        let now_s = crate::store::now_ms() / 1000;
        let signature = sign::signature(&e.secret, now_s, &body);
        let response = self
            .client
            .post(e.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::SIGNATURE_HEADER, signature)
            .header("concord-event-id", &d.event_id)
            .header("concord-event-type", d.kind.as_str())
            .header("concord-attempt", d.attempt.to_string())
            .body(body)
            .send()
            .await
            // Without the URL, which may carry a token in its query.
            .map_err(|err| err.without_url().to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }
}

/// Deliveries claimed per pass.
const BATCH: usize = 16;

/// How often waiting customers are looked for (an announcement may come this much late).
const ESCALATION_CHECK: Duration = Duration::from_secs(30);

/// `2026-12-06T15:04:05.123Z` for Unix milliseconds.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NotifySettings {
        crate::Config::defaults().unwrap().notify
    }

    #[test]
    fn the_wait_doubles_up_to_the_cap_and_ends_at_the_last_attempt() {
        let s = NotifySettings {
            first_retry_ms: 1000,
            max_retry_ms: 5000,
            max_attempts: 5,
            ..settings()
        };
        let waits: Vec<Option<u64>> = (1..=5)
            .map(|a| s.retry_after(a).map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(
            waits,
            [Some(1000), Some(2000), Some(4000), Some(5000), None]
        );
        assert_eq!(s.retry_after(1_000_000), None);
    }

    #[test]
    fn bad_endpoints_get_clear_errors() {
        let endpoint = |name: &str, url: &str, secret_env: &str| WebhookSettings {
            name: name.into(),
            url: url.into(),
            secret_env: secret_env.into(),
            events: vec![],
            include_text: false,
        };
        let with = |w: Vec<WebhookSettings>| NotifySettings {
            webhooks: w,
            ..settings()
        };
        assert!(
            with(vec![endpoint("helpdesk", "https://example.com/hook", "S")])
                .validate()
                .is_ok()
        );
        let cases = [
            (
                vec![endpoint("help desk", "https://x.pl/", "S")],
                "a name must be",
            ),
            (vec![endpoint("a", "ftp://x.pl/", "S")], "url must be"),
            (vec![endpoint("a", "not a url", "S")], "url must be"),
            (
                vec![endpoint("a", "https://x.pl/", " ")],
                "secret_env must name",
            ),
            (
                vec![
                    endpoint("a", "https://x.pl/", "S"),
                    endpoint("a", "https://y.pl/", "S"),
                ],
                "used twice",
            ),
        ];
        for (w, want) in cases {
            let e = with(w).validate().unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let e = NotifySettings {
            first_retry_ms: 10_000,
            max_retry_ms: 5_000,
            ..settings()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("first_retry_ms"), "{e}");
        let e = NotifySettings {
            public_url: "czat.sklep.pl".into(),
            ..settings()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("public_url"), "{e}");
    }

    #[test]
    fn an_endpoint_takes_the_kinds_it_names_or_all() {
        let s = NotifySettings {
            webhooks: vec![
                WebhookSettings {
                    name: "all".into(),
                    url: "https://x.pl/".into(),
                    secret_env: "S".into(),
                    events: vec![],
                    include_text: false,
                },
                WebhookSettings {
                    name: "pager".into(),
                    url: "https://x.pl/".into(),
                    secret_env: "S".into(),
                    events: vec![EventKind::Handoff],
                    include_text: true,
                },
            ],
            ..settings()
        };
        let t = s.targets();
        assert_eq!(t[0].kinds.len(), 6);
        assert_eq!(t[1].kinds, [EventKind::Handoff]);
    }

    #[test]
    fn a_missing_secret_is_refused_before_serving() {
        let s = NotifySettings {
            webhooks: vec![WebhookSettings {
                name: "helpdesk".into(),
                url: "https://x.pl/".into(),
                secret_env: "CONCORD_TEST_SECRET_THAT_IS_NOT_SET".into(),
                events: vec![],
                include_text: false,
            }],
            ..settings()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(
                &dir.path().join("c.db"),
                &crate::Config::defaults().unwrap().store,
            )
            .await
            .unwrap();
            let e = Notifier::new(&store, &s, Staffing::default(), None)
                .err()
                .expect("refused");
            assert!(
                e.to_string()
                    .contains("CONCORD_TEST_SECRET_THAT_IS_NOT_SET"),
                "{e}"
            );
        });
    }

    #[test]
    fn times_are_written_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_765_033_445_123), "2025-12-06T15:04:05.123Z");
    }
}
