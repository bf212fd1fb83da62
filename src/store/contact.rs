//! A customer's way back: the e-mail address left for replies after they have gone (with the
//! consent they accepted, erasable), and the newest message their widget has shown.

use super::records::audit_in;
use super::{now_ms, ConversationId, Store, StoreError};

/// An address left by a customer, with the consent they accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    pub email: String,
    pub consent_ms: i64,
    pub consent_text: String,
}

/// Checks the shape of an e-mail address ([`crate::util::email_shape`]); returns it trimmed and
/// with the domain in lower case.
pub fn normalize_email(text: &str) -> Result<String, StoreError> {
    crate::util::email_shape(text).ok_or(StoreError::Invalid(
        "that does not look like an e-mail address",
    ))
}

impl Store {
    /// Keeps the address a customer left and the consent text they accepted (replacing an
    /// earlier one). The audit log records that it happened, not the address.
    pub async fn set_contact(
        &self,
        conversation: &ConversationId,
        email: &str,
        consent_text: &str,
    ) -> Result<Contact, StoreError> {
        let email = normalize_email(email)?;
        if consent_text.trim().is_empty() {
            return Err(StoreError::Invalid(
                "an address is kept only with the consent text",
            ));
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        super::conversations::open_status(&mut tx, conversation).await?;
        sqlx::query(
            "UPDATE conversations SET contact_email = $1, contact_consent_ms = $2, contact_consent_text = $3, \
             updated_ms = $2 WHERE id = $4",
        )
        .bind(&email)
        .bind(now)
        .bind(consent_text.trim())
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?;
        audit_in(
            &mut *tx,
            "customer",
            "contact_left",
            Some(conversation),
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(Contact {
            email,
            consent_ms: now,
            consent_text: consent_text.trim().to_string(),
        })
    }

    /// Forgets the address (the customer withdrew consent, or an erasure request).
    pub async fn erase_contact(
        &self,
        conversation: &ConversationId,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let erased = sqlx::query(
            "UPDATE conversations SET contact_email = NULL, contact_consent_ms = NULL, contact_consent_text = NULL \
             WHERE id = $1 AND contact_email IS NOT NULL",
        )
        .bind(&conversation.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if erased {
            audit_in(
                &mut *tx,
                actor,
                "contact_erased",
                Some(conversation),
                &serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(erased)
    }

    /// The address left in a conversation, if any.
    pub async fn contact(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<Contact>, StoreError> {
        let row: Option<(Option<String>, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT contact_email, contact_consent_ms, contact_consent_text FROM conversations WHERE id = $1",
        )
        .bind(&conversation.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((Some(email), Some(consent_ms), Some(consent_text))) => Some(Contact {
                email,
                consent_ms,
                consent_text,
            }),
            _ => None,
        })
    }

    /// The customer's widget has shown every message up to `message_id`.
    pub async fn mark_seen(
        &self,
        conversation: &ConversationId,
        message_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversations SET seen_message_id = $1 WHERE id = $2 AND seen_message_id < $1",
        )
        .bind(message_id)
        .bind(&conversation.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest message the customer's widget has shown.
    pub async fn seen_message(&self, conversation: &ConversationId) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seen_message_id FROM conversations WHERE id = $1")
                .bind(&conversation.0)
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_checked_and_normalized() {
        assert_eq!(
            normalize_email("  Anna.Kowalska@Poczta.PL ").unwrap(),
            "Anna.Kowalska@poczta.pl"
        );
        assert_eq!(
            normalize_email("zażółć@gęśla.pl").unwrap(),
            "zażółć@gęśla.pl"
        );
        for bad in [
            "",
            "anna",
            "anna@",
            "@poczta.pl",
            "anna@poczta",
            "anna@@poczta.pl",
            "an na@poczta.pl",
            "anna@-poczta.pl",
            "<anna@poczta.pl>",
            "anna@poczta..pl",
            "a,b@poczta.pl",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_answered_without_panicking_and_accepted_addresses_are_stable(text in ".{0,80}") {
            if let Ok(a) = normalize_email(&text) {
                prop_assert_eq!(normalize_email(&a).unwrap(), a);
            }
        }
    }
}
