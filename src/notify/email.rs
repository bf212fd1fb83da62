//! E-mail (`[email]`, SMTP through lettre): alerts to staff when customers wait (batched, with
//! links), and a person's reply to a customer who left an address and did not see it in the chat.
//! Texts come from `prompts/messages/<lang>/email_*.jinja`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::answer::Prompts;
use crate::knowledge::Lang;
use crate::store::{Delivery, EventKind, OutboxTarget, Store, StoreError};

/// The outbox target of staff alerts.
pub const STAFF_TARGET: &str = "email-staff";
/// The outbox target of replies e-mailed to customers.
pub const CUSTOMER_TARGET: &str = "email-customer";

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    Starttls,
    /// TLS from the start (SMTPS, port 465).
    Tls,
    /// No encryption: only to a server on this machine (127.0.0.1, ::1, localhost).
    None,
}

/// `[email]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server; empty: no e-mail.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: Security,
    /// Extra certificate authorities (PEM) to trust for the server's certificate; empty: none.
    pub ca_file: String,
    /// Sign-in name; empty: no authentication.
    pub username: String,
    /// The environment variable holding the password.
    pub password_env: String,
    /// The sender, e.g. `Polna Półka <pomoc@polnapolka.pl>`.
    pub from: String,
    /// Where customers' answers to an e-mailed reply go; empty: `from`.
    pub reply_to: String,
    /// Staff addresses that get alerts; empty: no alerts.
    pub staff_to: Vec<String>,
    /// The language of staff alerts.
    pub staff_lang: Lang,
    /// Alerts quote the customer's question (the shop's own mailboxes; off keeps customer text
    /// out of e-mail).
    pub staff_include_text: bool,
    /// An alert waits at most this many seconds; when the first falls due, every alert raised
    /// since goes with it in one e-mail.
    pub alert_batch_s: u32,
    /// A person's reply the customer's chat has not shown within this many seconds is e-mailed
    /// (when the customer left an address).
    pub reply_after_s: u32,
    pub timeout_ms: u64,
}

fn mailbox(key: &str, text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("email.{key}: `{text}` is not an address ({e})"))
}

impl EmailSettings {
    /// No e-mail.
    pub fn off() -> EmailSettings {
        EmailSettings {
            smtp_host: String::new(),
            smtp_port: 587,
            security: Security::Starttls,
            ca_file: String::new(),
            username: String::new(),
            password_env: String::new(),
            from: String::new(),
            reply_to: String::new(),
            staff_to: Vec::new(),
            staff_lang: Lang::Pl,
            staff_include_text: false,
            alert_batch_s: 120,
            reply_after_s: 120,
            timeout_ms: 15_000,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.smtp_host.trim().is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        mailbox("from", &self.from)?;
        if !self.reply_to.trim().is_empty() {
            mailbox("reply_to", &self.reply_to)?;
        }
        for to in &self.staff_to {
            mailbox("staff_to", to)?;
        }
        let host = self.smtp_host.trim();
        if self.security == Security::None && !matches!(host, "127.0.0.1" | "::1" | "localhost") {
            return Err(format!(
                "email.security = \"none\" sends passwords and customer text unencrypted; it is allowed only to a server on this machine, not `{host}`"
            ));
        }
        if self.smtp_port == 0 {
            return Err("email.smtp_port must not be 0".into());
        }
        if !(1..=3600).contains(&self.alert_batch_s) || !(1..=86_400).contains(&self.reply_after_s)
        {
            return Err(
                "email.alert_batch_s must be 1-3600 and email.reply_after_s 1-86400".into(),
            );
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(format!(
                "email.timeout_ms must be between 100 and 120000, got {}",
                self.timeout_ms
            ));
        }
        Ok(())
    }

    /// The outbox targets e-mail needs.
    pub fn targets(&self) -> Vec<OutboxTarget> {
        if !self.enabled() {
            return Vec::new();
        }
        let mut t = vec![OutboxTarget {
            name: CUSTOMER_TARGET.into(),
            kinds: vec![EventKind::StaffReply],
            delay_ms: i64::from(self.reply_after_s) * 1000,
        }];
        if !self.staff_to.is_empty() {
            t.push(OutboxTarget {
                name: STAFF_TARGET.into(),
                kinds: vec![EventKind::Handoff, EventKind::Held, EventKind::NoAnswer],
                delay_ms: i64::from(self.alert_batch_s) * 1000,
            });
        }
        t
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email: {0}")]
    Settings(String),
    #[error("email: the environment variable {0} (the SMTP password) is not set")]
    MissingPassword(String),
    #[error("email: cannot set up SMTP to {host}: {message}")]
    Transport { host: String, message: String },
}

/// The TLS setting when `email.ca_file` adds certificate authorities; `None` keeps lettre's
/// default for the security mode (public roots).
fn tls_with_ca(settings: &EmailSettings, host: &str) -> Result<Option<Tls>, MailError> {
    let path = settings.ca_file.trim();
    if path.is_empty() || settings.security == Security::None {
        return Ok(None);
    }
    let pem = fs_err::read(path).map_err(|e| MailError::Settings(format!("email.ca_file: {e}")))?;
    // A bundle may hold several; a file with none would silently trust nothing extra.
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(MailError::Settings(format!(
            "email.ca_file `{path}` holds no PEM certificate"
        )));
    }
    let cert = Certificate::from_pem(&pem)
        .map_err(|e| MailError::Settings(format!("email.ca_file `{path}`: {e}")))?;
    let params = TlsParameters::builder(host.to_string())
        .add_root_certificate(cert)
        .build_rustls()
        .map_err(|e| MailError::Transport {
            host: host.to_string(),
            message: e.to_string(),
        })?;
    Ok(Some(match settings.security {
        Security::Tls => Tls::Wrapper(params),
        Security::Starttls | Security::None => Tls::Required(params),
    }))
}

/// Renders and sends e-mail.
pub struct Mailer {
    settings: EmailSettings,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Mailbox,
    staff_to: Vec<Mailbox>,
    prompts: Prompts,
    business: String,
    /// Times in alerts are shown in this zone.
    tz: chrono_tz::Tz,
    public_url: String,
}

/// How an e-mail attempt went, per delivery.
pub(super) enum Mailed {
    Sent,
    Skipped(&'static str),
    Failed(String),
}

impl Mailer {
    /// `None` when `[email]` has no server.
    pub fn new(
        settings: &EmailSettings,
        prompts: Prompts,
        business: &str,
        tz: chrono_tz::Tz,
        public_url: &str,
    ) -> Result<Option<Mailer>, MailError> {
        if !settings.enabled() {
            return Ok(None);
        }
        settings.validate().map_err(MailError::Settings)?;
        let host = settings.smtp_host.trim().to_string();
        let transport_error = |e: lettre::transport::smtp::Error| MailError::Transport {
            host: host.clone(),
            message: e.to_string(),
        };
        let mut builder = match settings.security {
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&host).map_err(transport_error)?
            }
            Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(transport_error)?,
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
        }
        .port(settings.smtp_port)
        .timeout(Some(Duration::from_millis(settings.timeout_ms)));
        if let Some(tls) = tls_with_ca(settings, &host)? {
            builder = builder.tls(tls);
        }
        if !settings.username.trim().is_empty() {
            let password = std::env::var(settings.password_env.trim())
                .map_err(|_| MailError::MissingPassword(settings.password_env.clone()))?;
            builder = builder.credentials(Credentials::new(
                settings.username.trim().to_string(),
                password,
            ));
        }
        let from = mailbox("from", &settings.from).map_err(MailError::Settings)?;
        let reply_to = if settings.reply_to.trim().is_empty() {
            from.clone()
        } else {
            mailbox("reply_to", &settings.reply_to).map_err(MailError::Settings)?
        };
        let staff_to = settings
            .staff_to
            .iter()
            .map(|t| mailbox("staff_to", t))
            .collect::<Result<_, _>>()
            .map_err(MailError::Settings)?;
        Ok(Some(Mailer {
            settings: settings.clone(),
            transport: builder.build(),
            from,
            reply_to,
            staff_to,
            prompts,
            business: business.to_string(),
            tz,
            public_url: public_url.trim().trim_end_matches('/').to_string(),
        }))
    }

    fn link(&self, d: &Delivery) -> Option<String> {
        match (&d.conversation_id, self.public_url.is_empty()) {
            (Some(c), false) => Some(format!("{}/console/conversations/{c}", self.public_url)),
            _ => None,
        }
    }

    fn local_time(&self, ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    async fn send(&self, to: &[Mailbox], rendered: &str) -> Result<(), String> {
        let (subject, body) = split_subject(rendered)?;
        let mut message = Message::builder()
            .from(self.from.clone())
            .reply_to(self.reply_to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for m in to {
            message = message.to(m.clone());
        }
        let message = message
            .body(body)
            .map_err(|e| format!("building the e-mail: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// One alert for every staff delivery claimed together.
    pub(super) async fn alert_staff(&self, store: &Store, due: &[&Delivery]) -> Mailed {
        #[derive(Serialize)]
        struct Item {
            kind: EventKind,
            repeat: bool,
            at: String,
            link: Option<String>,
            conversation_id: Option<String>,
            question: Option<String>,
        }
        let mut items = Vec::with_capacity(due.len());
        for d in due {
            let question = match (&d.conversation_id, self.settings.staff_include_text) {
                (Some(c), true) => match store
                    .event_texts(
                        c,
                        d.data.get("message_id").and_then(serde_json::Value::as_i64),
                        None,
                    )
                    .await
                {
                    Ok(t) => t.question,
                    Err(e) => return Mailed::Failed(format!("reading the question: {e}")),
                },
                _ => None,
            };
            items.push(Item {
                kind: d.kind,
                repeat: d.data.get("repeat").is_some_and(|r| r == true),
                at: self.local_time(d.created_ms),
                link: self.link(d),
                conversation_id: d.conversation_id.as_ref().map(|c| c.0.clone()),
                question,
            });
        }
        let ctx = serde_json::json!({
            "business": self.business,
            "count": items.len(),
            "plural": polish_plural(items.len() as u64),
            "items": items,
        });
        let rendered =
            match self
                .prompts
                .render_email("email_staff_alert", self.settings.staff_lang, &ctx)
            {
                Ok(r) => r,
                Err(e) => return Mailed::Failed(e.to_string()),
            };
        if let Err(e) = self.send(&self.staff_to, &rendered).await {
            return Mailed::Failed(e);
        }
        for d in due {
            let detail = serde_json::json!({ "event_id": d.event_id, "kind": d.kind, "recipients": self.staff_to.len() });
            if let Err(e) = store
                .audit(
                    "concord",
                    "staff_alerted",
                    d.conversation_id.as_ref(),
                    &detail,
                )
                .await
            {
                tracing::warn!(error = %e, "recording a staff alert in the audit log failed");
            }
        }
        Mailed::Sent
    }

    /// A person's reply to a customer who left an address, unless their chat has shown it.
    pub(super) async fn reply_to_customer(
        &self,
        store: &Store,
        d: &Delivery,
    ) -> Result<Mailed, StoreError> {
        let (Some(conversation), Some(message_id)) = (
            &d.conversation_id,
            d.data.get("message_id").and_then(serde_json::Value::as_i64),
        ) else {
            return Ok(Mailed::Skipped("no conversation or message"));
        };
        let Some(contact) = store.contact(conversation).await? else {
            return Ok(Mailed::Skipped("no address left"));
        };
        if store.seen_message(conversation).await? >= message_id {
            return Ok(Mailed::Skipped("shown in the chat"));
        }
        let texts = store
            .event_texts(conversation, Some(message_id), None)
            .await?;
        let Some(reply) = texts.reply else {
            return Ok(Mailed::Skipped("the reply is gone"));
        };
        let lang = store
            .conversation(&conversation.0)
            .await?
            .lang
            .unwrap_or(Lang::Pl);
        // Customers see a staff member's display name, never the sign-in name.
        let author = match d.data.get("author").and_then(serde_json::Value::as_str) {
            Some(login) => store
                .display_names()
                .await?
                .remove(login)
                .unwrap_or_default(),
            None => String::new(),
        };
        let ctx = serde_json::json!({
            "business": self.business,
            "author": author,
            "question": texts.question,
            "reply": reply,
        });
        let rendered = match self.prompts.render_email("email_reply", lang, &ctx) {
            Ok(r) => r,
            Err(e) => return Ok(Mailed::Failed(e.to_string())),
        };
        let to = match contact.email.parse::<Mailbox>() {
            Ok(m) => m,
            Err(e) => {
                return Ok(Mailed::Failed(format!(
                    "the stored address is unusable: {e}"
                )))
            }
        };
        Ok(match self.send(&[to], &rendered).await {
            Ok(()) => {
                store
                    .audit(
                        "concord",
                        "reply_emailed",
                        Some(conversation),
                        &serde_json::json!({ "message_id": message_id }),
                    )
                    .await?;
                Mailed::Sent
            }
            Err(e) => Mailed::Failed(e),
        })
    }
}

/// `Subject: ...` on the first line, then a blank line and the body.
fn split_subject(rendered: &str) -> Result<(String, String), String> {
    let text = rendered.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subject = first
        .strip_prefix("Subject:")
        .ok_or("an e-mail template must start with `Subject: `")?
        .trim();
    if subject.is_empty() {
        return Err("the e-mail subject is empty".into());
    }
    Ok((subject.to_string(), rest.trim().to_string() + "\n"))
}

/// The Polish plural category of `n`: `one` (1 rozmowa), `few` (2-4, 22-24...: rozmowy) or
/// `many` (5-21, 25...: rozmów).
pub fn polish_plural(n: u64) -> &'static str {
    let (m10, m100) = (n % 10, n % 100);
    if n == 1 {
        "one"
    } else if (2..=4).contains(&m10) && !(12..=14).contains(&m100) {
        "few"
    } else {
        "many"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_unreadable_ca_file_is_a_clear_settings_error() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        fs_err::write(&garbage, "not a certificate").unwrap();
        for (path, says) in [
            (dir.path().join("missing.pem"), "email.ca_file"),
            (garbage, "email.ca_file"),
        ] {
            let settings = EmailSettings {
                smtp_host: "smtp.example.pl".into(),
                ca_file: path.to_string_lossy().into_owned(),
                ..EmailSettings::off()
            };
            match tls_with_ca(&settings, "smtp.example.pl") {
                Err(MailError::Settings(m)) => assert!(m.contains(says), "{m}"),
                Err(other) => panic!("{other}"),
                Ok(_) => panic!("{path:?} is not a CA"),
            }
        }
        // No file: lettre's default for the mode (public roots).
        assert!(tls_with_ca(&EmailSettings::off(), "smtp.example.pl")
            .unwrap()
            .is_none());
    }

    #[test]
    fn polish_plurals() {
        let got: Vec<&str> = [1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 102, 112]
            .map(polish_plural)
            .to_vec();
        assert_eq!(
            got,
            [
                "one", "few", "few", "many", "many", "many", "many", "many", "few", "many", "few",
                "many"
            ]
        );
    }

    #[test]
    fn templates_render_with_a_subject_in_both_languages() {
        let p = Prompts::builtin().unwrap();
        for lang in [Lang::Pl, Lang::En] {
            for n in [1usize, 3, 5] {
                let items: Vec<_> = (0..n)
                    .map(|i| serde_json::json!({ "kind": if i == 0 { "handoff" } else { "held" }, "repeat": i == 2, "at": "2026-12-07 09:15", "link": "https://czat.example.pl/console/conversations/c_1", "conversation_id": "c_1", "question": "Gdzie jest moja paczka?" }))
                    .collect();
                let ctx = serde_json::json!({ "business": "Polna Półka", "count": n, "plural": polish_plural(n as u64), "items": items });
                let r = p.render_email("email_staff_alert", lang, &ctx).unwrap();
                let (subject, body) = split_subject(&r).unwrap();
                assert!(subject.contains(&n.to_string()) || n == 1, "{subject}");
                assert!(
                    body.contains("https://czat.example.pl/console/conversations/c_1"),
                    "{body}"
                );
                assert!(body.contains("Gdzie jest moja paczka?"), "{body}");
                if lang == Lang::Pl {
                    let want = match n {
                        1 => "1 rozmowa czeka",
                        3 => "3 rozmowy czekają",
                        _ => "5 rozmów czeka",
                    };
                    assert!(subject.contains(want), "{subject}");
                }
            }
            let ctx = serde_json::json!({ "business": "Polna Półka", "author": "ewa", "question": "Czy wysyłacie do Czech?", "reply": "Tak, w 3-5 dni." });
            let r = p.render_email("email_reply", lang, &ctx).unwrap();
            let (subject, body) = split_subject(&r).unwrap();
            assert!(subject.contains("Polna Półka"), "{subject}");
            assert!(
                body.contains("Tak, w 3-5 dni.") && body.contains("Czy wysyłacie do Czech?"),
                "{body}"
            );
        }
        assert!(split_subject("Hello\n\nbody").is_err());
    }

    #[test]
    fn unencrypted_smtp_only_on_this_machine_and_addresses_are_checked() {
        let base = crate::Config::defaults().unwrap().email;
        assert!(!base.enabled());
        let on = EmailSettings {
            smtp_host: "smtp.example.pl".into(),
            from: "Polna Półka <pomoc@polnapolka.pl>".into(),
            ..base
        };
        assert!(on.validate().is_ok(), "{:?}", on.validate());
        let e = EmailSettings {
            security: Security::None,
            ..on.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("only to a server on this machine"), "{e}");
        assert!(EmailSettings {
            security: Security::None,
            smtp_host: "127.0.0.1".into(),
            ..on.clone()
        }
        .validate()
        .is_ok());
        let e = EmailSettings {
            from: "pomoc(at)polnapolka.pl".into(),
            ..on.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("email.from"), "{e}");
        let e = EmailSettings {
            staff_to: vec!["ewa@".into()],
            ..on
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("email.staff_to"), "{e}");
    }
}
