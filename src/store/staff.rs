//! Staff accounts (Argon2 password hashes, roles) and their console sessions: a random cookie
//! token whose hash is kept, a CSRF token per session, and an expiry.

use serde::Serialize;
use sqlx::Row;

use super::conversations::{random_hex, token_hash};
use super::{now_ms, Store, StoreError};
use crate::knowledge::Lang;

/// What a staff member may do: agents review and answer; admins also change the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Agent,
    Admin,
}

text_enum!(StaffRole, "staff role", {
    StaffRole::Agent => "agent",
    StaffRole::Admin => "admin",
});

/// A staff account as the console knows it (never with its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    pub id: i64,
    pub name: String,
    pub role: StaffRole,
    /// The console language this person chose (`None`: the console's default).
    pub lang: Option<Lang>,
    /// The name customers see on this person's messages (`None`: only "staff"). Customers never
    /// see the sign-in name.
    pub display_name: Option<String>,
}

/// A signed-in staff member, with the token state-changing requests must repeat.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub member: StaffMember,
    pub csrf_token: String,
    pub expires_ms: i64,
}

/// A session just created: the cookie value (never stored) and the session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub session: StaffSession,
}

fn member_row(row: &sqlx::any::AnyRow) -> Result<StaffMember, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(StaffMember {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse()?,
        lang: row
            .try_get::<Option<String>, _>("lang")?
            .map(|l| {
                l.parse::<Lang>().map_err(|e| StoreError::Corrupt {
                    what: "staff language",
                    message: e,
                })
            })
            .transpose()?,
        display_name: row.try_get("display_name")?,
    })
}

/// Checks a display name: 1 to 40 characters, no control characters; returns it trimmed.
pub fn display_name(text: &str) -> Result<String, &'static str> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 40 {
        return Err("a display name has 1 to 40 characters");
    }
    if t.chars().any(char::is_control) {
        return Err("a display name cannot contain control characters");
    }
    Ok(t.to_string())
}

impl Store {
    /// Adds a staff account, or with `replace` sets the role and password of an existing one.
    pub async fn add_staff(
        &self,
        name: &str,
        role: StaffRole,
        password_hash: &str,
        replace: bool,
    ) -> Result<StaffMember, StoreError> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM staff WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let id = match (existing, replace) {
            (Some(_), false) => {
                return Err(StoreError::Conflict {
                    what: "staff account",
                    id: name.to_string(),
                })
            }
            (Some(id), true) => {
                sqlx::query(
                    "UPDATE staff SET role = $1, password_hash = $2, updated_ms = $3 WHERE id = $4",
                )
                .bind(role.as_str())
                .bind(password_hash)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // A new password signs the account out everywhere.
                sqlx::query("DELETE FROM staff_sessions WHERE staff_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            (None, _) => {
                sqlx::query_scalar(
                    "INSERT INTO staff (name, role, password_hash, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(name)
                .bind(role.as_str())
                .bind(password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        super::records::audit_in(
            &mut *tx,
            "cli",
            if existing.is_some() {
                "staff_updated"
            } else {
                "staff_added"
            },
            None,
            &serde_json::json!({ "name": name, "role": role.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(StaffMember {
            id,
            name: name.to_string(),
            role,
            lang: None,
            display_name: sqlx::query_scalar("SELECT display_name FROM staff WHERE id = $1")
                .bind(id)
                .fetch_one(self.pool())
                .await?,
        })
    }

    /// The account called `name` and its password hash.
    pub async fn staff_login_record(
        &self,
        name: &str,
    ) -> Result<Option<(StaffMember, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, lang, display_name, password_hash FROM staff WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((member_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// All accounts, by name.
    pub async fn staff_members(&self) -> Result<Vec<StaffMember>, StoreError> {
        sqlx::query("SELECT id, name, role, lang, display_name FROM staff ORDER BY name")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(member_row)
            .collect()
    }

    /// Opens a session for `member` lasting `ttl_ms`; expired sessions are removed on the way.
    pub async fn create_session(
        &self,
        member: &StaffMember,
        ttl_ms: i64,
    ) -> Result<NewSession, StoreError> {
        let now = now_ms();
        let token = format!("s_{}", random_hex(32));
        let csrf_token = random_hex(32);
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM staff_sessions WHERE expires_ms <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(member.id)
        .bind(&csrf_token)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await?;
        super::records::audit_in(
            &mut *tx,
            &member.name,
            "login",
            None,
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession {
            token,
            session: StaffSession {
                member: member.clone(),
                csrf_token,
                expires_ms: now + ttl_ms,
            },
        })
    }

    /// The live session a cookie token opens, if any.
    pub async fn session(&self, token: &str) -> Result<Option<StaffSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.expires_ms, m.id, m.name, m.role, m.lang, m.display_name \
             FROM staff_sessions s JOIN staff m ON m.id = s.staff_id \
             WHERE s.token_hash = $1 AND s.expires_ms > $2",
        )
        // Looked up by the hash of the token: the secret itself is never compared or stored.
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StaffSession {
            member: member_row(&row)?,
            csrf_token: row.try_get("csrf_token")?,
            expires_ms: row.try_get("expires_ms")?,
        }))
    }

    /// Ends the session of a cookie token (signing out); unknown tokens are ignored.
    pub async fn end_session(&self, token: &str, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(&mut *tx)
            .await?;
        super::records::audit_in(&mut *tx, actor, "logout", None, &serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the console language of staff member `id` (`None`: the console's default).
    pub async fn set_staff_lang(&self, id: i64, lang: Option<Lang>) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE staff SET lang = $1, updated_ms = $2 WHERE id = $3 RETURNING name")
                .bind(lang.map(|l| l.as_str()))
                .bind(now_ms())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = done else {
            return Err(StoreError::NotFound {
                what: "staff member",
                id: id.to_string(),
            });
        };
        let name: String = row.try_get("name")?;
        super::records::audit_in(
            &mut *tx,
            &name,
            "set_language",
            None,
            &serde_json::json!({ "lang": lang.map(|l| l.as_str()) }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with `None` removes) the name customers see for the account called `name`.
    pub async fn set_staff_display_name(
        &self,
        name: &str,
        display: Option<&str>,
        actor: &str,
    ) -> Result<StaffMember, StoreError> {
        let display = display
            .map(display_name)
            .transpose()
            .map_err(StoreError::Invalid)?;
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE staff SET display_name = $1, updated_ms = $2 WHERE name = $3 \
             RETURNING id, name, role, lang, display_name",
        )
        .bind(display.as_deref())
        .bind(now_ms())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "staff account",
            id: name.to_string(),
        })?;
        super::records::audit_in(
            &mut *tx,
            actor,
            "set_display_name",
            None,
            &serde_json::json!({ "name": name, "display_name": display }),
        )
        .await?;
        tx.commit().await?;
        member_row(&row)
    }

    /// Sign-in name to display name, for the accounts that have one (what customers see).
    pub async fn display_names(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT name, display_name FROM staff WHERE display_name IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect())
    }
}
