//! `concord eval audit`: the most frequent questions asked in several phrasings, in both
//! languages, through the in-process pipeline and the HTTP API; how consistent the answers are.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::assistant::{Action, Assistant, TurnRequest};
use crate::check::{check, CheckInput, CheckSettings, Status};
use crate::knowledge::Lang;

use super::suite::SuiteError;

/// One audited question: its approved answer per language and phrasings to ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditTopic {
    pub topic: String,
    #[serde(default)]
    pub canonical_pl: Option<String>,
    #[serde(default)]
    pub canonical_en: Option<String>,
    #[serde(default)]
    pub pl: Vec<String>,
    #[serde(default)]
    pub en: Vec<String>,
    /// Times asked (from the store's history; none for a list).
    #[serde(default)]
    pub asked: Option<i64>,
}

impl AuditTopic {
    pub fn canonical(&self, lang: Lang) -> Option<&str> {
        match lang {
            Lang::Pl => self.canonical_pl.as_deref(),
            Lang::En => self.canonical_en.as_deref(),
        }
    }

    pub fn phrasings(&self, lang: Lang) -> &[String] {
        match lang {
            Lang::Pl => &self.pl,
            Lang::En => &self.en,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    question: Vec<AuditTopic>,
}

/// Reads an audit list (`[[question]]` tables); each topic needs an approved answer and a
/// phrasing in at least one language.
pub fn load_audit(path: &Path) -> Result<Vec<AuditTopic>, SuiteError> {
    let text = fs_err::read_to_string(path).map_err(|source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| SuiteError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let f: AuditFile = toml::from_str(&text).map_err(|e| invalid(e.message().to_string()))?;
    for t in &f.question {
        for lang in [Lang::Pl, Lang::En] {
            if t.canonical(lang).is_some() == t.phrasings(lang).is_empty() {
                return Err(invalid(format!(
                    "topic `{}`: {lang} needs both an approved answer and phrasings, or neither",
                    t.topic
                )));
            }
        }
        if t.canonical_pl.is_none() && t.canonical_en.is_none() {
            return Err(invalid(format!(
                "topic `{}` has no approved answer",
                t.topic
            )));
        }
    }
    if f.question.is_empty() {
        return Err(invalid("the list holds no questions".into()));
    }
    Ok(f.question)
}

/// Topics from the store's history: its most frequent questions that matched an approved answer,
/// phrased as the customers asked and as the approved answer's own phrasings, with the other
/// language's answer found by the id's language prefix (`pl-…` / `en-…`).
pub fn topics_from_history(
    top: &[crate::store::TopQuestion],
    index: &crate::index::Index,
    phrasings: usize,
) -> Vec<AuditTopic> {
    let find = |id: &str| index.canonicals.iter().find(|c| c.id.0 == id);
    let mut out: Vec<AuditTopic> = Vec::new();
    for q in top {
        let Some(c) = q.canonical_id.as_deref().and_then(find) else {
            continue;
        };
        if c.handoff
            || out
                .iter()
                .any(|t| t.canonical(c.lang) == Some(c.id.0.as_str()))
        {
            continue;
        }
        let mut t = AuditTopic {
            topic: c.id.0.clone(),
            canonical_pl: None,
            canonical_en: None,
            pl: Vec::new(),
            en: Vec::new(),
            asked: Some(q.count),
        };
        let other_lang = |l: Lang| match l {
            Lang::Pl => Lang::En,
            Lang::En => Lang::Pl,
        };
        let twin =
            c.id.0
                .strip_prefix(&format!("{}-", c.lang.as_str()))
                .and_then(|rest| find(&format!("{}-{rest}", other_lang(c.lang).as_str())));
        for (canon, example) in [(Some(c), Some(&q.example)), (twin, None)] {
            let Some(canon) = canon else { continue };
            let mut ps: Vec<String> = example.into_iter().cloned().collect();
            for p in &canon.questions {
                if ps.len() >= phrasings {
                    break;
                }
                if !ps.contains(p) {
                    ps.push(p.clone());
                }
            }
            match canon.lang {
                Lang::Pl => {
                    t.canonical_pl = Some(canon.id.0.clone());
                    t.pl = ps;
                }
                Lang::En => {
                    t.canonical_en = Some(canon.id.0.clone());
                    t.en = ps;
                }
            }
        }
        out.push(t);
    }
    out
}

/// Which way a question was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The pipeline in this process, as `concord ask` runs it.
    Cli,
    /// `POST /api/conversations/{id}/messages` on the server, as the widget asks.
    Http,
}

/// One answer of the audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditAnswer {
    pub topic: String,
    pub lang: Lang,
    pub phrasing: String,
    pub path: Channel,
    /// The decision (`send`, `send_canonical`, `hold`, `handoff`, `no_answer`).
    pub decision: String,
    pub text: String,
    /// The answer checked against the topic's approved answer (sent answers only).
    pub status: Option<Status>,
}

impl AuditAnswer {
    fn sent(&self) -> bool {
        matches!(self.decision.as_str(), "send" | "send_canonical")
    }

    /// Sent and consistent with the approved answer.
    pub fn agrees(&self) -> bool {
        self.sent() && self.status == Some(Status::Consistent)
    }
}

/// One topic's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicScore {
    pub topic: String,
    pub asked: Option<i64>,
    pub answers: usize,
    /// Share of answers sent and consistent with the approved answer, 0-100.
    pub with_canonical: f64,
    /// Share of answer pairs (same language) that agree with each other, 0-100: both held back,
    /// or both sent and neither contradicting the other.
    pub with_each_other: f64,
    /// Share of phrasings answered the same way through the CLI pipeline and the HTTP API, 0-100.
    pub cli_http_same: f64,
    /// The mean of `with_canonical` and `with_each_other`.
    pub score: f64,
}

/// The audit's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub source: String,
    pub topics: Vec<TopicScore>,
    /// Mean of the topics' scores, 0-100.
    pub consistency: f64,
    pub with_canonical: f64,
    pub with_each_other: f64,
    pub cli_http_same: f64,
    pub answers: Vec<AuditAnswer>,
}

impl AuditReport {
    /// Answers that are not sent consistent with the approved answer.
    pub fn differing(&self) -> Vec<&AuditAnswer> {
        self.answers.iter().filter(|a| !a.agrees()).collect()
    }
}

/// Two answers agree: both held back the same way, or both sent and neither contradicts the other.
fn pair_agrees(a: &AuditAnswer, b: &AuditAnswer, settings: &CheckSettings) -> bool {
    match (a.sent(), b.sent()) {
        (false, false) => a.decision == b.decision,
        (true, true) => [(a, b), (b, a)].iter().all(|(x, y)| {
            check(
                &CheckInput {
                    draft: &x.text,
                    canonical: Some(&y.text),
                    context: &[],
                    similarity: None,
                    focus: None,
                    question: None,
                },
                settings,
            )
            .status
                != Status::Contradiction
        }),
        _ => false,
    }
}

/// Scores the answers (pure: the texts and decisions are given).
pub fn score(
    source: &str,
    topics: &[AuditTopic],
    answers: Vec<AuditAnswer>,
    settings: &CheckSettings,
) -> AuditReport {
    let pct = |a: usize, b: usize| 100.0 * super::metrics::ratio(a, b);
    let mut scores = Vec::new();
    for t in topics {
        let mine: Vec<&AuditAnswer> = answers.iter().filter(|a| a.topic == t.topic).collect();
        let agree = mine.iter().filter(|a| a.agrees()).count();
        let (mut pairs, mut agreeing) = (0, 0);
        for (i, a) in mine.iter().enumerate() {
            for b in &mine[i + 1..] {
                if a.lang == b.lang {
                    pairs += 1;
                    agreeing += usize::from(pair_agrees(a, b, settings));
                }
            }
        }
        let mut by_phrasing: BTreeMap<(Lang, &str), Vec<&AuditAnswer>> = BTreeMap::new();
        for a in &mine {
            by_phrasing
                .entry((a.lang, a.phrasing.as_str()))
                .or_default()
                .push(a);
        }
        let both: Vec<&Vec<&AuditAnswer>> = by_phrasing.values().filter(|v| v.len() >= 2).collect();
        let same = both
            .iter()
            .filter(|v| {
                v.iter()
                    .all(|a| a.text == v[0].text && a.decision == v[0].decision)
            })
            .count();
        let with_canonical = pct(agree, mine.len());
        let with_each_other = if pairs == 0 {
            100.0
        } else {
            pct(agreeing, pairs)
        };
        scores.push(TopicScore {
            topic: t.topic.clone(),
            asked: t.asked,
            answers: mine.len(),
            with_canonical,
            with_each_other,
            cli_http_same: if both.is_empty() {
                100.0
            } else {
                pct(same, both.len())
            },
            score: (with_canonical + with_each_other) / 2.0,
        });
    }
    let mean = |f: fn(&TopicScore) -> f64| {
        if scores.is_empty() {
            0.0
        } else {
            scores.iter().map(f).sum::<f64>() / scores.len() as f64
        }
    };
    AuditReport {
        source: source.to_string(),
        consistency: mean(|s| s.score),
        with_canonical: mean(|s| s.with_canonical),
        with_each_other: mean(|s| s.with_each_other),
        cli_http_same: mean(|s| s.cli_http_same),
        topics: scores,
        answers,
    }
}

/// One question to ask.
#[derive(Debug, Clone)]
pub struct Ask {
    pub topic: String,
    pub lang: Lang,
    pub phrasing: String,
    pub canonical_answer: String,
}

/// Every phrasing of every topic, with its approved answer's text (topics whose answer is not
/// in the index are an error naming them).
pub fn asks(topics: &[AuditTopic], index: &crate::index::Index) -> Result<Vec<Ask>, String> {
    let mut out = Vec::new();
    for t in topics {
        for lang in [Lang::Pl, Lang::En] {
            let Some(id) = t.canonical(lang) else {
                continue;
            };
            let c = index
                .canonicals
                .iter()
                .find(|c| c.id.0 == id)
                .ok_or_else(|| {
                    format!(
                        "topic `{}`: no approved answer `{id}` in the index",
                        t.topic
                    )
                })?;
            for p in t.phrasings(lang) {
                out.push(Ask {
                    topic: t.topic.clone(),
                    lang,
                    phrasing: p.clone(),
                    canonical_answer: c.answer.trim().to_string(),
                });
            }
        }
    }
    Ok(out)
}

fn status_of(text: &str, canonical: &str, settings: &CheckSettings) -> Status {
    check(
        &CheckInput {
            draft: text,
            canonical: Some(canonical),
            context: &[],
            similarity: None,
            focus: None,
            question: None,
        },
        settings,
    )
    .status
}

/// The HTTP service the audit starts on a loopback port: its settings, a database in
/// `store_dir`, and the knowledge it serves.
pub struct AuditService {
    pub server: crate::server::ServerSettings,
    pub store: crate::store::StoreSettings,
    pub store_dir: std::path::PathBuf,
    pub knowledge: crate::server::KnowledgeHome,
}

/// Asks every question through the pipeline in this process.
pub fn ask_cli(
    assistant: &Arc<Assistant>,
    asks: &[Ask],
    bar: &ProgressBar,
) -> Result<Vec<AuditAnswer>, super::EvalError> {
    let mut out = Vec::new();
    for a in asks {
        let o = assistant
            .start_turn(TurnRequest::new(a.phrasing.as_str(), Some(a.lang)))
            .run(|_| {})?;
        let sent = matches!(o.decision.action, Action::Send | Action::SendCanonical);
        out.push(AuditAnswer {
            topic: a.topic.clone(),
            lang: a.lang,
            phrasing: a.phrasing.clone(),
            path: Channel::Cli,
            decision: o.decision.action.as_str().to_string(),
            status: sent.then(|| {
                status_of(
                    &o.reply.text,
                    &a.canonical_answer,
                    &assistant.settings.check,
                )
            }),
            text: o.reply.text,
        });
        bar.inc(1);
    }
    Ok(out)
}

/// Asks every question through the customer API of a server started in this process on a
/// loopback port (a fresh conversation each, as a new widget would), with its own database in
/// `store_dir`.
pub fn ask_http(
    assistant: Arc<Assistant>,
    asks: &[Ask],
    service: &AuditService,
    bar: &ProgressBar,
) -> Result<Vec<AuditAnswer>, String> {
    let check_settings = assistant.settings.check;
    let mut server = service.server.clone();
    // One client asks everything: the per-client limits are for the public.
    server.ip_requests_per_minute = 1_000_000;
    server.ip_burst = 100_000;
    server.conversations_per_address_per_hour = 1_000_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let store = crate::store::Store::open(&service.store_dir.join("audit.db"), &service.store)
            .await
            .map_err(|e| e.to_string())?;
        let state =
            crate::server::AppState::new(assistant, store, server, service.knowledge.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(crate::server::serve(state, listener, None, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        for a in asks {
            let (decision, text) = ask_one(&client, &base, a).await?;
            let sent = matches!(decision.as_str(), "send" | "send_canonical");
            out.push(AuditAnswer {
                topic: a.topic.clone(),
                lang: a.lang,
                phrasing: a.phrasing.clone(),
                path: Channel::Http,
                status: sent.then(|| status_of(&text, &a.canonical_answer, &check_settings)),
                decision,
                text,
            });
            bar.inc(1);
        }
        let _ = stop.send(());
        let _ = serving.await;
        Ok(out)
    })
}

/// One conversation, one message: the decision and text of its `final` (or `handoff`) event.
async fn ask_one(
    client: &reqwest::Client,
    base: &str,
    a: &Ask,
) -> Result<(String, String), String> {
    use futures_util::StreamExt;
    let err = |e: reqwest::Error| format!("{base}: {e}");
    let conv: serde_json::Value = client
        .post(format!("{base}/api/conversations"))
        .json(&serde_json::json!({"lang": a.lang.as_str()}))
        .send()
        .await
        .map_err(err)?
        .error_for_status()
        .map_err(err)?
        .json()
        .await
        .map_err(err)?;
    let (Some(id), Some(token)) = (conv["conversation_id"].as_str(), conv["token"].as_str()) else {
        return Err(format!("unexpected conversation response: {conv}"));
    };
    let resp = client
        .post(format!("{base}/api/conversations/{id}/messages"))
        .bearer_auth(token)
        .json(&serde_json::json!({"text": a.phrasing}))
        .send()
        .await
        .map_err(err)?
        .error_for_status()
        .map_err(err)?;
    let mut parser = crate::sse::SseParser::default();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(err)?;
        for e in parser.push(&chunk) {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
            match e.event.as_str() {
                "final" => {
                    return Ok((
                        data["decision"].as_str().unwrap_or("unknown").to_string(),
                        data["text"].as_str().unwrap_or_default().to_string(),
                    ))
                }
                "handoff" => {
                    return Ok((
                        "handoff".to_string(),
                        data["text"].as_str().unwrap_or_default().to_string(),
                    ))
                }
                "error" => return Err(format!("the server answered with an error: {}", e.data)),
                _ => {}
            }
        }
    }
    Err("the answer stream ended without an answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        topic: &str,
        lang: Lang,
        phrasing: &str,
        path: Channel,
        decision: &str,
        text: &str,
    ) -> AuditAnswer {
        let sent = matches!(decision, "send" | "send_canonical");
        AuditAnswer {
            topic: topic.into(),
            lang,
            phrasing: phrasing.into(),
            path,
            decision: decision.into(),
            text: text.into(),
            status: sent.then(|| {
                status_of(
                    text,
                    "Returns are free within 30 days.",
                    &CheckSettings::default(),
                )
            }),
        }
    }

    #[test]
    fn the_score_falls_with_each_answer_that_differs() {
        let topics = [AuditTopic {
            topic: "returns".into(),
            canonical_pl: None,
            canonical_en: Some("en-returns".into()),
            pl: vec![],
            en: vec!["a".into(), "b".into()],
            asked: None,
        }];
        let same = "Returns are free within 30 days.";
        let all_good = vec![
            answer(
                "returns",
                Lang::En,
                "a",
                Channel::Cli,
                "send_canonical",
                same,
            ),
            answer(
                "returns",
                Lang::En,
                "a",
                Channel::Http,
                "send_canonical",
                same,
            ),
            answer(
                "returns",
                Lang::En,
                "b",
                Channel::Cli,
                "send_canonical",
                same,
            ),
            answer(
                "returns",
                Lang::En,
                "b",
                Channel::Http,
                "send_canonical",
                same,
            ),
        ];
        let r = score("list", &topics, all_good.clone(), &CheckSettings::default());
        assert_eq!(r.consistency, 100.0);
        assert!(r.differing().is_empty());

        let mut one_off = all_good;
        one_off[3] = answer(
            "returns",
            Lang::En,
            "b",
            Channel::Http,
            "send",
            "Returns are free within 14 days.",
        );
        let r = score("list", &topics, one_off, &CheckSettings::default());
        let t = &r.topics[0];
        assert_eq!(t.with_canonical, 75.0);
        // Six pairs, three of them with the 14-day answer.
        assert_eq!(t.with_each_other, 50.0);
        assert_eq!(t.cli_http_same, 50.0);
        assert_eq!(r.differing().len(), 1);
        assert!(r.consistency < 100.0 && r.consistency > 0.0);
    }

    #[test]
    fn audit_lists_need_answers_and_phrasings_together() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        fs_err::write(&p, "[[question]]\ntopic = \"t\"\ncanonical_en = \"en-x\"\n").unwrap();
        let e = load_audit(&p).unwrap_err().to_string();
        assert!(
            e.contains("needs both an approved answer and phrasings"),
            "{e}"
        );
        fs_err::write(&p, "[[question]]\ntopic = \"t\"\n").unwrap();
        assert!(load_audit(&p)
            .unwrap_err()
            .to_string()
            .contains("no approved answer"));
        fs_err::write(
            &p,
            "[[question]]\ntopic = \"t\"\ncanonical_pl = \"pl-x\"\npl = [\"a\"]\nextra = 1\n",
        )
        .unwrap();
        assert!(load_audit(&p)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        fs_err::write(
            &p,
            "[[question]]\ntopic = \"t\"\ncanonical_pl = \"pl-x\"\npl = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(load_audit(&p).unwrap()[0].pl, vec!["a".to_string()]);
    }
}
