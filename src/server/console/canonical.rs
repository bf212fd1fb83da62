//! "Save as canonical" in the console: an approved answer written from a reviewed item or a
//! knowledge gap, first shown as a preview the admin confirms, never with a customer's personal data.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::actions::do_reload;
use super::auth::{csrf_header, same_origin, Staff};
use super::pages::{staff_ctx, title};
use super::render::{page, PageError};
use crate::assistant::unfill_slots;
use crate::knowledge::edit::{preview_canonical, save_canonical, CanonicalEdit, SavedCanonical};
use crate::knowledge::{pii, Lang};
use crate::server::error::ApiError;
use crate::server::state::SharedState;
use crate::store::ConversationId;

/// The form (and JSON body) of "save as canonical" and of its preview.
#[derive(Debug, Deserialize)]
pub struct CanonicalInput {
    #[serde(default)]
    csrf: Option<String>,
    /// The approved answer to update; empty creates a new one.
    #[serde(default)]
    canonical_id: Option<String>,
    /// Phrasings of the question, one per line.
    #[serde(default)]
    questions: String,
    answer: String,
    /// `1` saves; anything else (or nothing) shows the preview.
    #[serde(default)]
    confirm: Option<String>,
    /// `1` when the phrasings come from a preview: they are final, the customer's question is not
    /// added again (the admin may have removed it).
    #[serde(default)]
    previewed: Option<String>,
}

impl CanonicalInput {
    fn confirmed(&self) -> bool {
        self.confirm.as_deref() == Some("1")
    }

    fn previewed(&self) -> bool {
        self.previewed.as_deref() == Some("1")
    }

    fn id(&self) -> Option<String> {
        self.canonical_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn question_lines(&self) -> Vec<String> {
        self.questions
            .lines()
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty())
            .collect()
    }
}

/// Personal data found, as shown to the admin.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub kind: pii::PiiKind,
    pub text: String,
}

/// What a save would write, for the admin to confirm.
#[derive(Debug, Serialize)]
pub struct Preview {
    /// The entry as it would be after the save (`created`: a new one).
    pub entry: SavedCanonical,
    /// Its file, relative to the knowledge folder.
    pub file: String,
    pub lang: Lang,
    /// The phrasings this save adds, personal data cut out.
    pub questions: Vec<String>,
    /// What was cut from the phrasings.
    pub cut: Vec<Found>,
    /// The answer, this customer's details turned back into slots.
    pub answer: String,
    /// Personal data still in the answer: it cannot be saved until it is removed.
    pub answer_personal: Vec<Found>,
}

/// `edit` with personal data cut from its phrasings (customers' questions are kept without it,
/// repeats and leftovers of fewer than three letters dropped), what was cut, and what the answer
/// still holds.
fn impersonal(mut edit: CanonicalEdit) -> (CanonicalEdit, Vec<Found>, Vec<Found>) {
    let found = |spans: Vec<pii::PiiSpan>| -> Vec<Found> {
        spans
            .into_iter()
            .map(|s| Found {
                kind: s.kind,
                text: s.text,
            })
            .collect()
    };
    let mut cut = Vec::new();
    let mut questions: Vec<String> = Vec::new();
    for q in &edit.questions {
        let (kept, spans) = pii::redact(q);
        cut.extend(found(spans));
        let letters = kept.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 3
            && !questions
                .iter()
                .any(|k| k.to_lowercase() == kept.to_lowercase())
        {
            questions.push(kept);
        }
    }
    edit.questions = questions;
    let in_answer = found(pii::find(&edit.answer));
    (edit, cut, in_answer)
}

fn refusal(in_answer: &[Found]) -> ApiError {
    let list: Vec<String> = in_answer
        .iter()
        .map(|f| {
            format!(
                "{} \"{}\"",
                serde_json::to_value(f.kind)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or_default(),
                f.text
            )
        })
        .collect();
    ApiError::InvalidRequest(format!(
        "the answer holds personal data ({}); remove it or use a slot such as {{{{customer_name}}}} or {{{{order_id}}}}; nothing was saved",
        list.join(", ")
    ))
}

fn edit_error(e: crate::knowledge::edit::EditError) -> ApiError {
    use crate::knowledge::edit::EditError;
    match e {
        EditError::Invalid(m) => ApiError::InvalidRequest(m),
        other @ (EditError::Knowledge(_) | EditError::Toml { .. } | EditError::Write { .. }) => {
            ApiError::KnowledgeInvalid(other.to_string())
        }
    }
}

/// What saving `edit` would do; nothing is written.
pub(super) async fn preview(state: &SharedState, edit: CanonicalEdit) -> Result<Preview, ApiError> {
    let (edit, cut, answer_personal) = impersonal(edit);
    let dir = state.knowledge.dir.clone();
    let (entry, edit) = tokio::task::spawn_blocking(move || {
        preview_canonical(&dir, &edit).map(|entry| (entry, edit))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(edit_error)?;
    let file = entry
        .path
        .strip_prefix(&state.knowledge.dir)
        .unwrap_or(&entry.path)
        .display()
        .to_string();
    Ok(Preview {
        entry,
        file,
        lang: edit.lang,
        questions: edit.questions,
        cut,
        answer: edit.answer,
        answer_personal,
    })
}

/// Writes `edit` into the knowledge base (one writer at a time), audits it with `detail` and
/// reloads the knowledge base; the saved entry and the reload report. An answer that still holds
/// personal data after its slots were restored is refused with what was found.
pub(super) async fn store_canonical(
    state: &SharedState,
    staff: &Staff,
    edit: CanonicalEdit,
    conversation: Option<&ConversationId>,
    mut detail: Value,
) -> Result<Value, ApiError> {
    staff.require_admin()?;
    let (edit, _, in_answer) = impersonal(edit);
    if !in_answer.is_empty() {
        return Err(refusal(&in_answer));
    }
    let knowledge_dir = state.knowledge.dir.clone();
    let by = staff.name().to_string();
    let saved = {
        let _one_at_a_time = state.reload_lock.lock().await;
        tokio::task::spawn_blocking(move || {
            let saved = save_canonical(&knowledge_dir, &edit)?;
            // The admin approved this text against the sources as they are now.
            if let Err(e) = crate::knowledge::approvals::record(
                &knowledge_dir,
                std::slice::from_ref(&saved.id),
                &by,
            ) {
                tracing::warn!(error = %e, "the approval of a saved answer was not recorded");
            }
            Ok(saved)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(edit_error)?
    };
    detail["canonical_id"] = json!(saved.id);
    detail["created"] = json!(saved.created);
    state
        .store
        .audit(staff.name(), "save_canonical", conversation, &detail)
        .await?;
    let (report_id, report) = do_reload(state, staff, "knowledge_reload_after_save").await?;
    Ok(json!({ "saved": saved, "report_id": report_id, "report": report }))
}

/// The edit a reviewed item's "save as canonical" makes: the sent answer with this customer's
/// details turned back into slots, in the conversation's language, with the customer's question
/// after the shop's own phrasings (unless the phrasings come from a preview).
async fn item_edit(
    state: &SharedState,
    id: i64,
    input: &CanonicalInput,
) -> Result<(CanonicalEdit, ConversationId), ApiError> {
    let item = state.store.review_item(id).await?;
    if !matches!(item.review_status.as_str(), "approved" | "edited") {
        return Err(ApiError::InvalidRequest(
            "only an approved or edited answer can be saved as canonical".into(),
        ));
    }
    let conversation = state
        .store
        .conversation(&item.summary.conversation_id.0)
        .await?;
    let lang = conversation
        .lang
        .unwrap_or_else(|| crate::knowledge::lang::detect_lang(&item.summary.question, Lang::Pl));
    // This customer's name or order never lands in the knowledge base.
    let answer = unfill_slots(input.answer.trim(), &conversation.context);
    // The shop's own phrasings first: a new answer is named after the first question.
    let mut questions = input.question_lines();
    if !input.previewed() {
        questions.push(item.summary.question.trim().to_string());
    }
    let edit = CanonicalEdit {
        id: input.id(),
        lang,
        questions,
        answer,
        sources: Vec::new(),
    };
    Ok((edit, item.summary.conversation_id))
}

/// The preview page: what will be saved, what was cut, and a form to change it, preview again or
/// save.
fn preview_page(staff: &Staff, action: &str, preview: &Preview) -> Result<Response, PageError> {
    page(
        StatusCode::OK,
        "canonical_preview.html",
        json!({
            "title": title(staff.lang(), "preview-title", &[]),
            "staff": staff_ctx(staff),
            "action": action,
            "preview": preview,
        }),
    )
}

async fn item_preview_or_save(
    state: &SharedState,
    staff: &Staff,
    id: i64,
    input: &CanonicalInput,
) -> Result<Response, PageError> {
    staff.require_admin()?;
    let (edit, conversation) = item_edit(state, id, input).await?;
    if !input.confirmed() {
        let preview = preview(state, edit).await?;
        return preview_page(staff, &format!("/console/items/{id}/canonical"), &preview);
    }
    let done = store_canonical(
        state,
        staff,
        edit,
        Some(&conversation),
        json!({ "decision_id": id }),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/console/knowledge?done=report-{}",
        done["report_id"]
    ))
    .into_response())
}

/// The item page's form: without `confirm=1` the preview, with it the save.
pub async fn item_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Path(id): Path<i64>,
    Form(input): Form<CanonicalInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(input.csrf.as_deref())?;
    item_preview_or_save(&state, &staff, id, &input).await
}

/// Saves at once (scripts; the console's pages go through the preview).
pub async fn item_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
    Path(id): Path<i64>,
    Json(input): Json<CanonicalInput>,
) -> Result<Json<Value>, ApiError> {
    let (edit, conversation) = api_edit(&state, &headers, &staff, id, &input).await?;
    Ok(Json(
        store_canonical(
            &state,
            &staff,
            edit,
            Some(&conversation),
            json!({ "decision_id": id }),
        )
        .await?,
    ))
}

/// What [`item_api`] would save, as JSON; nothing is written.
pub async fn item_preview_api(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Staff,
    Path(id): Path<i64>,
    Json(input): Json<CanonicalInput>,
) -> Result<Json<Preview>, ApiError> {
    let (edit, _) = api_edit(&state, &headers, &staff, id, &input).await?;
    Ok(Json(preview(&state, edit).await?))
}

/// The checks of a JSON call (same origin, CSRF header, admin), then the item's edit.
async fn api_edit(
    state: &SharedState,
    headers: &HeaderMap,
    staff: &Staff,
    id: i64,
    input: &CanonicalInput,
) -> Result<(CanonicalEdit, ConversationId), ApiError> {
    same_origin(headers)?;
    staff.check_csrf(csrf_header(headers))?;
    staff.require_admin()?;
    item_edit(state, id, input).await
}

/// The knowledge-gaps page's "write an approved answer": a new answer for the gap's questions,
/// previewed, then saved on `confirm=1`.
pub async fn gap_form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    staff: Result<Staff, ApiError>,
    Form(input): Form<CanonicalInput>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let staff = staff?;
    staff.check_csrf(input.csrf.as_deref())?;
    staff.require_admin()?;
    let questions = input.question_lines();
    let Some(first) = questions.first() else {
        return Err(ApiError::InvalidRequest("give at least one question".into()).into());
    };
    let lang = crate::knowledge::detect_lang(first, Lang::Pl);
    let edit = CanonicalEdit {
        id: input.id(),
        lang,
        questions,
        answer: input.answer.trim().to_string(),
        sources: Vec::new(),
    };
    if !input.confirmed() {
        let preview = preview(&state, edit).await?;
        return preview_page(&staff, "/console/gaps/answer", &preview);
    }
    let done = store_canonical(&state, &staff, edit, None, json!({ "from": "gaps" })).await?;
    Ok(Redirect::to(&format!(
        "/console/knowledge?done=report-{}",
        done["report_id"]
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(questions: &[&str], answer: &str) -> CanonicalEdit {
        CanonicalEdit {
            id: None,
            lang: Lang::Pl,
            questions: questions.iter().map(|q| q.to_string()).collect(),
            answer: answer.into(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn personal_data_is_cut_from_phrasings_and_found_in_the_answer() {
        let (e, cut, in_answer) = impersonal(edit(
            &[
                "Nazywam się Jan Kowalski, gdzie jest zamówienie 123456789?",
                "Gdzie jest zamówienie?",
                "gdzie jest zamówienie?",
                "jan@example.com",
            ],
            "Napisz do nas: sklep@example.com",
        ));
        assert_eq!(e.questions.len(), 2, "{:?}", e.questions);
        assert!(e.questions.iter().all(|q| !q.contains("Kowalski")));
        assert!(e.questions.iter().all(|q| !q.contains("123456789")));
        let kinds: Vec<pii::PiiKind> = cut.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&pii::PiiKind::Name), "{cut:?}");
        assert!(kinds.contains(&pii::PiiKind::Email), "{cut:?}");
        assert_eq!(in_answer.len(), 1);
        assert_eq!(in_answer[0].kind, pii::PiiKind::Email);
        assert!(refusal(&in_answer)
            .to_string()
            .contains("sklep@example.com"));
    }

    #[test]
    fn a_clean_edit_is_unchanged() {
        let clean = edit(&["Jak zwrócić towar?"], "Masz 30 dni na zwrot.");
        let (e, cut, in_answer) = impersonal(clean.clone());
        assert_eq!(e, clean);
        assert!(cut.is_empty() && in_answer.is_empty());
    }

    #[test]
    fn the_preview_page_shows_what_was_cut_and_withholds_save_while_the_answer_is_personal() {
        let (edit, cut, answer_personal) = impersonal(edit(
            &["Nazywam się Jan Kowalski, czy mogę zwrócić buty?"],
            "Tak, {{customer_name}}, masz 30 dni na zwrot.",
        ));
        let mut preview = Preview {
            entry: SavedCanonical {
                id: "pl-czy-moge-zwrocic-buty".into(),
                path: "/kb/canonical/pl/console.toml".into(),
                created: true,
                questions: edit.questions.clone(),
            },
            file: "canonical/pl/console.toml".into(),
            lang: Lang::Pl,
            questions: edit.questions,
            cut,
            answer: edit.answer,
            answer_personal,
        };
        let ctx = |p: &Preview| {
            json!({
                "lang": "pl", "title": "t", "action": "/console/items/3/canonical", "preview": p,
                "staff": { "name": "ola", "role": "admin", "admin": true, "csrf": "x" },
            })
        };
        let html = super::super::render::render("canonical_preview.html", ctx(&preview)).unwrap();
        for want in [
            "Sprawdź przed zapisaniem",
            "Nowa zatwierdzona odpowiedź, pl-czy-moge-zwrocic-buty",
            "imię i nazwisko: <s>Jan Kowalski</s>",
            "czy mogę zwrócić buty?",
            "{{customer_name}}",
            "name=\"previewed\" value=\"1\"",
            "id=\"confirm-canonical\"",
        ] {
            assert!(html.contains(want), "{want}: {html}");
        }
        assert!(!html.contains("Kowalski,"), "{html}");
        preview.answer_personal = vec![Found {
            kind: pii::PiiKind::Phone,
            text: "600 100 200".into(),
        }];
        let html = super::super::render::render("canonical_preview.html", ctx(&preview)).unwrap();
        assert!(
            html.contains("numer telefonu: <mark>600 100 200</mark>"),
            "{html}"
        );
        assert!(!html.contains("confirm-canonical"), "{html}");
    }
}
