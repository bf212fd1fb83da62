//! Privacy by construction: retention periods purged on a schedule, and a person's data exported
//! or erased across the database, its search index, the notification outbox and the knowledge files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::knowledge::erase::{erase_personal, PersonalPhrasings, Their};
use crate::store::{Cutoffs, Erased, Store, StoreError, Subject};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// `[privacy]` settings. Each period is in days; 0 keeps that kind forever.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Conversations (with their messages, drafts, decisions, feedback, notifications), counted
    /// from their last activity.
    pub retention_days: u32,
    /// An e-mail address a customer left for replies (the conversation itself may stay longer).
    pub contact_days: u32,
    /// The staff audit log and knowledge reload reports.
    pub audit_days: u32,
    /// Delivered, skipped or failed notifications (pending ones are never purged).
    pub outbox_days: u32,
    /// A conversation's token opens it for this many days after its last activity (0: as long as
    /// the conversation is kept).
    pub token_days: u32,
    /// How often `serve` purges (it also purges at start).
    pub purge_every_hours: u32,
    /// A link to the shop's privacy notice shown in the widget (empty: none).
    pub notice_url: String,
}

impl PrivacySettings {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("retention_days", self.retention_days),
            ("contact_days", self.contact_days),
            ("audit_days", self.audit_days),
            ("outbox_days", self.outbox_days),
            ("token_days", self.token_days),
        ] {
            if v > 36_500 {
                return Err(format!(
                    "{key} must be at most 36500 (0 keeps forever), got {v}"
                ));
            }
        }
        if !(1..=168).contains(&self.purge_every_hours) {
            return Err(format!(
                "purge_every_hours must be between 1 and 168, got {}",
                self.purge_every_hours
            ));
        }
        let url = self.notice_url.trim();
        // "//host" and "/\\host" lead to another site: a path is one slash and then not another.
        let path = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
        let allowed =
            url.is_empty() || url.starts_with("https://") || url.starts_with("http://") || path;
        if !allowed {
            return Err(format!(
                "notice_url must be an http(s) address or a path starting with /, got `{url}`"
            ));
        }
        Ok(())
    }

    /// The oldest times kept, as of `now_ms`.
    pub fn cutoffs(&self, now_ms: i64) -> Cutoffs {
        let before = |days: u32| (days > 0).then(|| now_ms - i64::from(days) * DAY_MS);
        Cutoffs {
            conversations_ms: before(self.retention_days),
            contacts_ms: before(self.contact_days),
            audit_ms: before(self.audit_days),
            outbox_ms: before(self.outbox_days),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("knowledge files: {0}")]
    Knowledge(#[from] crate::knowledge::edit::EditError),
}

/// Everything stored about a person: the answer to an access request, and what an erasure removes.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub subject: &'static str,
    pub exported_at: i64,
    /// Per conversation, every row of every table, column by column.
    pub conversations: Vec<serde_json::Value>,
    /// Approved answers in the knowledge files holding their words or identifier.
    pub knowledge: Vec<PersonalPhrasings>,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erasure {
    #[serde(flatten)]
    pub store: Erased,
    pub knowledge: Vec<PersonalPhrasings>,
}

impl Erasure {
    /// Knowledge files changed: the index must be rebuilt for their phrasings to leave it too.
    pub fn knowledge_changed(&self) -> bool {
        !self.knowledge.is_empty()
    }

    /// Approved answers renamed because their id was made from the person's words: (old, new).
    pub fn renames(&self) -> Vec<(String, String)> {
        self.knowledge
            .iter()
            .filter_map(|k| Some((k.answer_id.clone(), k.renamed_to.clone()?)))
            .collect()
    }
}

/// After an erasure that renamed approved answers (and after the reload that follows it, whose
/// report names the old ids): the old ids leave the database. False when the WAL was in use.
pub async fn forget_renamed(store: &Store, erasure: &Erasure) -> Result<bool, StoreError> {
    store.rename_canonical_refs(&erasure.renames()).await
}

/// The person's messages (what their phrasings in the knowledge files are compared with), the
/// identifier (lower-cased) and the answers saved from their conversations.
async fn their_words(
    store: &Store,
    subject: &Subject,
    ids: &[crate::store::ConversationId],
) -> Result<Their, StoreError> {
    let mut texts = Vec::new();
    for id in ids {
        texts.extend(
            store
                .messages_after(id, 0)
                .await?
                .into_iter()
                .filter(|m| m.role == crate::store::Role::Customer)
                .map(|m| m.text),
        );
    }
    Ok(Their::new(
        texts,
        subject
            .identifier()
            .map(str::to_string)
            .into_iter()
            .collect(),
        store.canonicals_saved_from(ids).await?,
    ))
}

/// [`erase_personal`] off the async threads.
async fn scan_knowledge(
    knowledge_dir: &Path,
    their: Their,
    dry_run: bool,
) -> Result<Vec<PersonalPhrasings>, PrivacyError> {
    let dir = knowledge_dir.to_path_buf();
    tokio::task::spawn_blocking(move || erase_personal(&dir, &their, dry_run))
        .await
        .map_err(|_| StoreError::Invalid("the knowledge files scan stopped"))?
        .map_err(PrivacyError::from)
}

/// Collects everything stored about `subject`, changing nothing.
pub async fn export(
    store: &Store,
    knowledge_dir: &Path,
    subject: &Subject,
) -> Result<Export, PrivacyError> {
    let ids = store.subject_conversations(subject).await?;
    let their = their_words(store, subject, &ids).await?;
    let knowledge = scan_knowledge(knowledge_dir, their, true).await?;
    Ok(Export {
        format: "concord-export/1",
        subject: subject.kind(),
        exported_at: crate::store::now_ms(),
        conversations: store.export_conversations(&ids).await?,
        knowledge,
    })
}

/// Erases everything stored about `subject`: the knowledge files first (so a failure there leaves
/// the conversations to try again), then the database rows, the search index and the WAL.
/// `actor` is kept in the audit log with the kind of subject and the counts, never the identifier.
pub async fn erase(
    store: &Store,
    knowledge_dir: &Path,
    subject: &Subject,
    actor: &str,
) -> Result<Erasure, PrivacyError> {
    let ids = store.subject_conversations(subject).await?;
    if ids.is_empty() && subject.identifier().is_none() {
        return Err(StoreError::NotFound {
            what: "conversation",
            id: match subject {
                Subject::Conversation(id) => id.0.clone(),
                Subject::Email(_) | Subject::Order(_) => String::new(),
            },
        }
        .into());
    }
    let their = their_words(store, subject, &ids).await?;
    let knowledge = scan_knowledge(knowledge_dir, their, false).await?;
    let store_part = store
        .erase_conversations(&ids, actor, subject.kind())
        .await?;
    tracing::info!(
        subject = subject.kind(),
        conversations = store_part.conversations,
        messages = store_part.messages,
        knowledge_answers = knowledge.len(),
        "personal data erased"
    );
    let mut erasure = Erasure {
        store: store_part,
        knowledge,
    };
    if !erasure.renames().is_empty() {
        erasure.store.wal_cleared = forget_renamed(store, &erasure).await?;
    }
    Ok(erasure)
}

/// Removes what is older than the retention periods.
pub async fn purge(store: &Store, settings: &PrivacySettings) -> Result<Erased, StoreError> {
    let erased = store
        .purge(settings.cutoffs(crate::store::now_ms()))
        .await?;
    if erased.removed_anything() {
        tracing::info!(
            conversations = erased.conversations,
            contacts = erased.contacts,
            audit_events = erased.audit_events_deleted,
            notifications = erased.outbox_deleted,
            "retention purge"
        );
    }
    Ok(erased)
}

/// Purges at once and then every `purge_every_hours`, for as long as the server runs. A failed purge
/// is logged and tried again at the next turn.
pub async fn run_retention(store: Store, settings: PrivacySettings) {
    let every = std::time::Duration::from_secs(u64::from(settings.purge_every_hours) * 3600);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = purge(&store, &settings).await {
            tracing::warn!(error = %e, "retention purge failed; trying again at the next turn");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PrivacySettings {
        crate::Config::defaults().unwrap().privacy
    }

    #[test]
    fn zero_keeps_forever_and_days_count_back_from_now() {
        let mut s = settings();
        s.retention_days = 30;
        s.contact_days = 0;
        let c = s.cutoffs(100 * DAY_MS);
        assert_eq!(c.conversations_ms, Some(70 * DAY_MS));
        assert_eq!(c.contacts_ms, None);
        s.validate().unwrap();
        s.purge_every_hours = 0;
        assert!(s.validate().unwrap_err().contains("purge_every_hours"));
        let mut s = settings();
        for bad in ["javascript:alert(1)", "//evil.example", "/\\evil.example"] {
            s.notice_url = bad.into();
            assert!(s.validate().unwrap_err().contains("notice_url"), "{bad}");
        }
        s.notice_url = "/polityka-prywatnosci".into();
        s.validate().unwrap();
    }

    #[test]
    fn subjects_are_checked() {
        assert!(Subject::new("email", "not an address").is_err());
        assert!(Subject::new("order", "12").is_err());
        assert!(Subject::new("order", "ABCDEF").is_err(), "no digit");
        assert_eq!(
            Subject::new("order", " PL-2024-7781 ").unwrap(),
            Subject::Order("pl-2024-7781".into())
        );
        assert_eq!(
            Subject::new("email", "Jan@Example.COM").unwrap(),
            Subject::Email("jan@example.com".into())
        );
        assert!(Subject::new("conversation", "x").is_err());
        assert!(Subject::new("phone", "123").is_err());
    }
}
