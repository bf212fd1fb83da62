//! Changes announced by the database itself (PostgreSQL LISTEN/NOTIFY, sent by triggers on
//! commit), so that instances sharing a store learn of each other's writes without polling.

use sqlx::postgres::PgListener;

use super::{ConversationId, Store, StoreError, StoreLocation};

/// Something another writer committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A conversation got a message, a new status or a decision (its review changed).
    Conversation(ConversationId),
    /// A knowledge report was saved: a new index generation is published.
    Knowledge,
    /// The connection was lost and made again: announcements may have been missed.
    Reconnected,
}

/// The stream of announcements (PostgreSQL only; SQLite writers are found by polling).
pub struct ChangeFeed {
    listener: PgListener,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeFeed")
    }
}

impl Store {
    /// Starts listening for other writers' changes; `None` on SQLite.
    pub async fn changes(&self) -> Result<Option<ChangeFeed>, StoreError> {
        let StoreLocation::Postgres(url) = self.location() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await?;
        listener
            .listen_all(["concord_changes", "concord_knowledge"])
            .await?;
        Ok(Some(ChangeFeed { listener }))
    }
}

impl ChangeFeed {
    /// The next change (waits for one).
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            let Some(n) = self.listener.try_recv().await? else {
                // sqlx reconnects and listens again on the next call.
                return Ok(Change::Reconnected);
            };
            match n.channel() {
                "concord_changes" => {
                    return Ok(Change::Conversation(ConversationId(
                        n.payload().to_string(),
                    )))
                }
                "concord_knowledge" => return Ok(Change::Knowledge),
                _ => continue,
            }
        }
    }
}
