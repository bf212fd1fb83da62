//! Rendering prompts from the templates in `prompts/` (built into the binary, or read from a
//! folder): the grounded-answer messages per language, wrapped in the model's chat format.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::knowledge::Lang;
use crate::llm::remote::ChatMessage;
use crate::llm::ChatFormat;

/// Template files, by their path under `prompts/`, with the built-in copies.
const FILES: &[(&str, &str)] = &[
    (
        "chat/chatml.jinja",
        include_str!("../../prompts/chat/chatml.jinja"),
    ),
    (
        "chat/gemma.jinja",
        include_str!("../../prompts/chat/gemma.jinja"),
    ),
    (
        "chat/llama3.jinja",
        include_str!("../../prompts/chat/llama3.jinja"),
    ),
    (
        "chat/mistral.jinja",
        include_str!("../../prompts/chat/mistral.jinja"),
    ),
    (
        "draft/en/system.jinja",
        include_str!("../../prompts/draft/en/system.jinja"),
    ),
    (
        "draft/en/user.jinja",
        include_str!("../../prompts/draft/en/user.jinja"),
    ),
    (
        "draft/en/completion.jinja",
        include_str!("../../prompts/draft/en/completion.jinja"),
    ),
    (
        "draft/pl/system.jinja",
        include_str!("../../prompts/draft/pl/system.jinja"),
    ),
    (
        "draft/pl/user.jinja",
        include_str!("../../prompts/draft/pl/user.jinja"),
    ),
    (
        "draft/pl/completion.jinja",
        include_str!("../../prompts/draft/pl/completion.jinja"),
    ),
    ("stops.toml", include_str!("../../prompts/stops.toml")),
    (
        "messages/pl/handoff.jinja",
        include_str!("../../prompts/messages/pl/handoff.jinja"),
    ),
    (
        "messages/pl/hold.jinja",
        include_str!("../../prompts/messages/pl/hold.jinja"),
    ),
    (
        "messages/pl/no_answer.jinja",
        include_str!("../../prompts/messages/pl/no_answer.jinja"),
    ),
    (
        "messages/en/handoff.jinja",
        include_str!("../../prompts/messages/en/handoff.jinja"),
    ),
    (
        "messages/en/hold.jinja",
        include_str!("../../prompts/messages/en/hold.jinja"),
    ),
    (
        "messages/en/no_answer.jinja",
        include_str!("../../prompts/messages/en/no_answer.jinja"),
    ),
    (
        "messages/pl/email_consent.jinja",
        include_str!("../../prompts/messages/pl/email_consent.jinja"),
    ),
    (
        "messages/en/email_consent.jinja",
        include_str!("../../prompts/messages/en/email_consent.jinja"),
    ),
    (
        "messages/pl/email_staff_alert.jinja",
        include_str!("../../prompts/messages/pl/email_staff_alert.jinja"),
    ),
    (
        "messages/en/email_staff_alert.jinja",
        include_str!("../../prompts/messages/en/email_staff_alert.jinja"),
    ),
    (
        "messages/pl/email_reply.jinja",
        include_str!("../../prompts/messages/pl/email_reply.jinja"),
    ),
    (
        "messages/en/email_reply.jinja",
        include_str!("../../prompts/messages/en/email_reply.jinja"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt template {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("prompt template {name} is invalid: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("prompts/stops.toml is invalid: {0}")]
    Stops(String),
}

/// One retrieved passage as the prompt shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptPassage {
    /// The number the model cites, from 1.
    pub n: usize,
    pub title: String,
    pub text: String,
}

/// The approved answer shown to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptCanonical {
    pub answer: String,
}

/// Everything a grounded-answer prompt says.
#[derive(Debug, Clone, Serialize)]
pub struct DraftInput<'a> {
    pub lang: Lang,
    pub business: &'a str,
    /// The marker written into the instructions (`prompts.canary`).
    pub canary: &'a str,
    pub question: &'a str,
    pub passages: &'a [PromptPassage],
    pub canonical: Option<&'a PromptCanonical>,
}

/// A rendered prompt, with the hash of the templates that made it (recorded with each draft).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prompt {
    pub text: String,
    pub template_hash: String,
    pub stop_strings: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stops {
    completion: PerLang,
    chat: PerLang,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PerLang {
    en: Vec<String>,
    pl: Vec<String>,
}

impl PerLang {
    fn get(&self, lang: Lang) -> &[String] {
        match lang {
            Lang::En => &self.en,
            Lang::Pl => &self.pl,
        }
    }
}

/// The loaded prompt templates.
#[derive(Debug)]
pub struct Prompts {
    env: Environment<'static>,
    stops: Stops,
    hash: String,
}

impl Prompts {
    /// The templates built into the binary (the repository's `prompts/`).
    pub fn builtin() -> Result<Prompts, PromptError> {
        Self::from_sources(
            FILES
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
        )
    }

    /// The templates in `dir`, which must hold every file the built-in set has.
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        let mut sources = Vec::with_capacity(FILES.len());
        for (name, _) in FILES {
            let path = dir.join(name);
            let text = fs_err::read_to_string(&path)
                .map_err(|source| PromptError::Read { path, source })?;
            sources.push((name.to_string(), text));
        }
        Self::from_sources(sources)
    }

    /// From configuration: the folder when one is set, else the built-in copies.
    pub fn from_config(dir: Option<&Path>) -> Result<Prompts, PromptError> {
        match dir {
            Some(d) => Self::load(d),
            None => Self::builtin(),
        }
    }

    fn from_sources(sources: Vec<(String, String)>) -> Result<Prompts, PromptError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|source| PromptError::Template {
                name: "syntax".into(),
                source,
            })?;
        env.set_syntax(syntax);
        let hash = crate::util::sha256_hex(
            sources
                .iter()
                .map(|(n, s)| format!("{n}\n{s}\n"))
                .collect::<String>()
                .as_bytes(),
        );
        let mut stops = None;
        let by_name: HashMap<String, String> = sources.into_iter().collect();
        for (name, text) in by_name {
            if name == "stops.toml" {
                stops = Some(
                    toml::from_str::<Stops>(&text)
                        .map_err(|e| PromptError::Stops(e.to_string()))?,
                );
                continue;
            }
            env.add_template_owned(name.clone(), text)
                .map_err(|source| PromptError::Template { name, source })?;
        }
        let stops = stops.ok_or_else(|| PromptError::Stops("missing".into()))?;
        Ok(Prompts {
            env,
            stops,
            hash: hash[..16].to_string(),
        })
    }

    /// Short hash of all templates.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, PromptError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|source| PromptError::Template {
                name: name.to_string(),
                source,
            })?;
        t.render(minijinja::Value::from(minijinja::value::Serde(&ctx)))
            .map_err(|source| PromptError::Template {
                name: name.to_string(),
                source,
            })
    }

    /// A fixed message to the customer (`kind`: `handoff`, `hold` or `no_answer`), written by
    /// people in `prompts/messages/`, never by the model; `staffed` says what it may promise
    /// about when a person answers.
    pub fn render_message(
        &self,
        kind: &str,
        lang: Lang,
        business: &str,
        staffed: &Staffed,
    ) -> Result<String, PromptError> {
        #[derive(Serialize)]
        struct Ctx<'a> {
            business: &'a str,
            #[serde(flatten)]
            staffed: &'a Staffed,
        }
        let text = self.render(
            &format!("messages/{}/{kind}.jinja", lang.as_str()),
            Ctx { business, staffed },
        )?;
        Ok(text.trim().to_string())
    }

    /// An e-mail (`kind`: `email_staff_alert`, `email_reply`): `Subject: ...` on the first
    /// line, then the body.
    pub fn render_email(
        &self,
        kind: &str,
        lang: Lang,
        ctx: &serde_json::Value,
    ) -> Result<String, PromptError> {
        self.render(&format!("messages/{}/{kind}.jinja", lang.as_str()), ctx)
    }

    /// The grounded-answer prompt for a model with chat format `format`.
    pub fn render_draft(
        &self,
        format: ChatFormat,
        input: &DraftInput<'_>,
    ) -> Result<Prompt, PromptError> {
        let lang = input.lang.as_str();
        let (text, stops) = if format == ChatFormat::Completion {
            let text = self.render(&format!("draft/{lang}/completion.jinja"), input)?;
            (
                text.trim_end().to_string(),
                self.stops.completion.get(input.lang),
            )
        } else {
            let text = self.render(
                &format!("chat/{}.jinja", format.as_str()),
                serde_json::json!({ "messages": self.messages(input)? }),
            )?;
            (text, self.stops.chat.get(input.lang))
        };
        Ok(Prompt {
            text,
            template_hash: self.hash.clone(),
            stop_strings: stops.to_vec(),
        })
    }

    /// The grounded-answer messages (system, user) of a chat prompt.
    fn messages(&self, input: &DraftInput<'_>) -> Result<Vec<ChatMessage>, PromptError> {
        let lang = input.lang.as_str();
        let system = self.render(&format!("draft/{lang}/system.jinja"), input)?;
        let user = self.render(&format!("draft/{lang}/user.jinja"), input)?;
        Ok(vec![
            ChatMessage {
                role: "system",
                content: system.trim().to_string(),
            },
            ChatMessage {
                role: "user",
                content: user.trim().to_string(),
            },
        ])
    }

    /// The grounded-answer messages for a server that applies its own chat template, and the
    /// prompt as recorded (the messages one after the other, with their roles).
    pub fn render_chat(
        &self,
        input: &DraftInput<'_>,
    ) -> Result<(Prompt, Vec<ChatMessage>), PromptError> {
        let messages = self.messages(input)?;
        let text = messages
            .iter()
            .map(|m| format!("[{}]\n{}", m.role, m.content))
            .collect::<Vec<_>>()
            .join("\n\n");
        Ok((
            Prompt {
                text,
                template_hash: self.hash.clone(),
                stop_strings: self.stops.chat.get(input.lang).to_vec(),
            },
            messages,
        ))
    }
}

/// What a fixed message may promise about a person, from the opening hours at the moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Staffed {
    /// Inside opening hours (`Some(true)`), outside (`Some(false)`); `None` without a schedule.
    pub open: Option<bool>,
    /// When closed: the next opening as the customer reads it ("w poniedziałek 14 grudnia o
    /// 8:00", "tomorrow at 8:00").
    pub next_opening: Option<String>,
}

impl Staffed {
    /// Under `hours` (none: no schedule) at `now`, for a customer writing in `lang`.
    pub fn at(
        hours: Option<&crate::hours::OpeningHours>,
        now: chrono::DateTime<chrono::Utc>,
        lang: Lang,
    ) -> Staffed {
        use crate::hours::Availability;
        match crate::hours::availability(hours, now) {
            Availability::Unknown => Staffed::default(),
            Availability::Open { .. } => Staffed {
                open: Some(true),
                next_opening: None,
            },
            Availability::Closed { opens } => Staffed {
                open: Some(false),
                next_opening: opens
                    .map(|at| crate::hours::describe(at, now.with_timezone(&at.timezone()), lang)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_messages_render_in_both_languages_and_unknown_kinds_fail() {
        let p = Prompts::builtin().unwrap();
        let closed = Staffed {
            open: Some(false),
            next_opening: Some("jutro o 8:00".into()),
        };
        let open = Staffed {
            open: Some(true),
            next_opening: None,
        };
        for lang in [Lang::Pl, Lang::En] {
            for kind in ["handoff", "hold", "no_answer"] {
                let m = p
                    .render_message(kind, lang, "Polna Półka", &Staffed::default())
                    .unwrap();
                assert!(m.contains("Polna Półka"), "{kind} {lang}: {m}");
                assert!(!m.contains("{{") && !m.contains("{%"), "{m}");
                // Inside hours, the same text as without a schedule.
                assert_eq!(
                    p.render_message(kind, lang, "Polna Półka", &open).unwrap(),
                    m
                );
                // Outside, the next opening is promised instead of "as soon as possible".
                let c = p
                    .render_message(kind, lang, "Polna Półka", &closed)
                    .unwrap();
                assert!(c.contains("jutro o 8:00"), "{kind} {lang}: {c}");
                assert!(
                    !c.contains("najszybciej") && !c.contains("as soon as"),
                    "{c}"
                );
            }
        }
        insta::assert_snapshot!(
            "closed_messages",
            ["handoff", "hold", "no_answer"]
                .iter()
                .flat_map(|k| [Lang::Pl, Lang::En].map(|l| {
                    let s = Staffed {
                        open: Some(false),
                        next_opening: Some(match l {
                            Lang::Pl => "w poniedziałek 14 grudnia o 8:00".into(),
                            Lang::En => "on Monday 14 December at 8:00".into(),
                        }),
                    };
                    format!(
                        "{k}/{l}: {}",
                        p.render_message(k, l, "Polna Półka", &s).unwrap()
                    )
                }))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(p
            .render_message("rant", Lang::En, "x", &Staffed::default())
            .is_err());
    }

    fn passages() -> Vec<PromptPassage> {
        vec![
            PromptPassage {
                n: 1,
                title: "Returns and refunds".into(),
                text:
                    "You can return an item within 30 days of delivery. We refund within 14 days."
                        .into(),
            },
            PromptPassage {
                n: 2,
                title: "Return exceptions".into(),
                text: "Made-to-measure curtains cannot be returned.".into(),
            },
        ]
    }

    fn pl_passages() -> Vec<PromptPassage> {
        vec![PromptPassage {
            n: 1,
            title: "Zwroty".into(),
            text: "Masz 30 dni na zwrot od dnia dostawy. Pieniądze oddajemy w ciągu 14 dni.".into(),
        }]
    }

    fn render(format: ChatFormat, lang: Lang, canonical: bool) -> String {
        let prompts = Prompts::builtin().unwrap();
        let canon = PromptCanonical {
            answer: "You have 30 days from delivery to return an item.".into(),
        };
        let ps = if lang == Lang::Pl {
            pl_passages()
        } else {
            passages()
        };
        let q = if lang == Lang::Pl {
            "Ile mam czasu na zwrot?"
        } else {
            "How long do I have to return an item?"
        };
        prompts
            .render_draft(
                format,
                &DraftInput {
                    lang,
                    business: "Polna Półka",
                    canary: "PP-KANAREK-TEST",
                    question: q,
                    passages: &ps,
                    canonical: canonical.then_some(&canon),
                },
            )
            .unwrap()
            .text
    }

    #[test]
    fn chat_formats_snapshot() {
        insta::assert_snapshot!("chatml_en", render(ChatFormat::ChatMl, Lang::En, true));
        insta::assert_snapshot!("chatml_pl", render(ChatFormat::ChatMl, Lang::Pl, false));
        insta::assert_snapshot!("gemma_pl", render(ChatFormat::Gemma, Lang::Pl, true));
        insta::assert_snapshot!("llama3_en", render(ChatFormat::Llama3, Lang::En, false));
        insta::assert_snapshot!("mistral_pl", render(ChatFormat::Mistral, Lang::Pl, false));
        insta::assert_snapshot!(
            "completion_en",
            render(ChatFormat::Completion, Lang::En, true)
        );
        insta::assert_snapshot!(
            "completion_pl",
            render(ChatFormat::Completion, Lang::Pl, false)
        );
    }

    #[test]
    fn remote_messages_are_what_the_chat_formats_wrap() {
        let prompts = Prompts::builtin().unwrap();
        let ps = pl_passages();
        let input = DraftInput {
            lang: Lang::Pl,
            business: "Polna Półka",
            canary: "PP-KANAREK-TEST",
            question: "Ile mam czasu na zwrot?",
            passages: &ps,
            canonical: None,
        };
        let (prompt, messages) = prompts.render_chat(&input).unwrap();
        let chatml = prompts.render_draft(ChatFormat::ChatMl, &input).unwrap();
        let roles: Vec<&str> = messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, ["system", "user"]);
        for m in &messages {
            let block = format!("<|im_start|>{}\n{}<|im_end|>", m.role, m.content);
            assert!(chatml.text.contains(&block), "{block}");
            assert!(prompt.text.contains(&m.content));
        }
        assert_eq!(prompt.stop_strings, chatml.stop_strings);
        assert_eq!(prompt.template_hash, chatml.template_hash);
    }

    #[test]
    fn system_prompt_is_a_fixed_prefix() {
        // The KV cache of the system part is reused across questions only if it comes first
        // and does not depend on the question.
        let a = render(ChatFormat::ChatMl, Lang::En, true);
        let b = render(ChatFormat::ChatMl, Lang::En, false);
        let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        assert!(common > 300, "{common}");
        assert!(a.ends_with("<|im_start|>assistant\n"));
    }

    #[test]
    fn completion_prompts_end_at_the_answer_and_have_stops() {
        let prompts = Prompts::builtin().unwrap();
        let p = prompts
            .render_draft(
                ChatFormat::Completion,
                &DraftInput {
                    lang: Lang::Pl,
                    business: "X",
                    canary: "PP-KANAREK-TEST",
                    question: "Ile?",
                    passages: &pl_passages(),
                    canonical: None,
                },
            )
            .unwrap();
        assert!(p.text.ends_with("Pytanie: Ile?\nOdpowiedź:"), "{}", p.text);
        assert!(p.stop_strings.contains(&"\nPytanie:".to_string()));
        assert_eq!(p.template_hash.len(), 16);
    }

    #[test]
    fn a_broken_template_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in FILES {
            let path = dir.path().join(name);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, text).unwrap();
        }
        assert!(Prompts::load(dir.path()).is_ok());
        fs_err::write(dir.path().join("draft/en/user.jinja"), "{% if %}").unwrap();
        let err = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("draft/en/user.jinja"), "{err}");
        fs_err::remove_file(dir.path().join("chat/gemma.jinja")).unwrap();
        let err = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("gemma.jinja"), "{err}");
    }
}
