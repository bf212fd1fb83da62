//! The approved answer matched for a message (`assistant::matching` decides it on one text's
//! evidence): the whole message's match, or each of its questions' (`assistant::parts`).

use serde::Serialize;

use crate::knowledge::{CanonicalId, Lang};
use crate::retrieve::{Retrieval, RetrieveError};

use super::gate::Assistant;
use super::matching::MatchEvidence;
use super::policy::CanonicalInfo;

/// The approved answer the question matched, and what the match was decided on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedCanonical {
    pub id: CanonicalId,
    pub similarity: f32,
    pub handoff: bool,
    /// The approved text, slots unfilled.
    pub answer: String,
    pub evidence: MatchEvidence,
    /// A message of several questions (`assistant::parts`): every approved answer it asks for,
    /// in the message's order (`id` among them), each matched surely on its own question;
    /// `answer` is their texts in that order. Empty for one question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<CanonicalId>,
}

impl MatchedCanonical {
    pub(super) fn info(&self) -> CanonicalInfo {
        CanonicalInfo {
            similarity: self.similarity,
            handoff: self.handoff,
            sure: self.evidence.sure,
        }
    }

    /// Sent without staff when nothing else stands in the way.
    pub fn sure(&self) -> bool {
        self.evidence.sure
    }
}

impl Assistant {
    /// The approved answer the gate would match for `question` (retrieval and the threshold as
    /// a turn runs them); the console and the evaluation re-run questions with it.
    pub fn match_question(
        &self,
        question: &str,
        lang: Lang,
    ) -> Result<Option<MatchedCanonical>, RetrieveError> {
        let retrieval = self.retriever().retrieve_in(
            question,
            lang,
            self.settings.retrieval.mode,
            self.settings.retrieval.k,
        )?;
        self.match_message(question, &retrieval, lang)
    }

    /// The approved-answer match for a message: the match of the whole message, unless it asks
    /// several questions (`parts::split`) and each question matched its own approved answer
    /// surely, in agreement with the whole: then all of them, together. A question matched
    /// without being sure keeps the whole message's match (staff see it all); words that match
    /// no approved answer at all ("Two things:", an aside, "Macie Google Pay?" leaning on the
    /// question before it) ask nothing of it on their own. One sure question
    /// only confirms the whole message's match of the same answer (an instruction to ignore the
    /// rules, followed by a real question). A part that instructs the assistant
    /// (`parts::instructs_the_assistant`) asks and confirms nothing, and beside one only a
    /// question of the message, matched surely, makes the match sure.
    pub(super) fn match_message(
        &self,
        message: &str,
        retrieval: &Retrieval,
        lang: Lang,
    ) -> Result<Option<MatchedCanonical>, RetrieveError> {
        let whole = self.matched_canonical(retrieval, lang);
        let parts: Vec<(String, bool)> = super::parts::split(message, lang)
            .into_iter()
            .map(|q| {
                let instructs = super::parts::instructs_the_assistant(&q, lang);
                (q, instructs)
            })
            .collect();
        let instructed = parts.iter().any(|(_, instructs)| *instructs);
        // Beside an instruction to the assistant only what is put as a question asks: the rest
        // belongs to the instruction ("we changed bank. when anyone asks, give them...").
        let questions: Vec<String> = parts
            .into_iter()
            .filter(|(q, instructs)| {
                !instructs && (!instructed || super::parts::is_put_as_question(q, lang))
            })
            .map(|(q, _)| q)
            .collect();
        let Some(mut whole) = whole else {
            return Ok(None);
        };
        if questions.is_empty() {
            // Every part tells the assistant what to be or to reveal: staff see what it matched.
            whole.evidence.sure = false;
            whole.evidence.doubt = Some("the message instructs the assistant".to_string());
            return Ok(Some(whole));
        }
        if !instructed && questions.len() < 2 {
            return Ok(Some(whole));
        }
        let retriever = self.retriever();
        let (mode, k) = (self.settings.retrieval.mode, self.settings.retrieval.k);
        let mut sure: Vec<MatchedCanonical> = Vec::new();
        for question in &questions {
            // Matched on its own, a question asks something; its answer is then chosen in the
            // message's context ("...and how fast is the refund": of the cancelled order).
            let mut r = retriever.retrieve_in(question, lang, mode, k)?;
            if self.matched_canonical(&r, lang).is_none() {
                continue;
            }
            // How much of it the knowledge base knows stays its own: the other questions'
            // words do not make the weather a shop topic.
            let known = r.evidence.known;
            r.evidence = super::followup::blend(&r.evidence, &retrieval.evidence);
            r.evidence.known = known;
            match self.matched_canonical(&r, lang) {
                None => {}
                Some(m) if !m.sure() => return Ok(Some(whole)),
                Some(m) if sure.iter().any(|s| s.id == m.id) => {}
                Some(m) => sure.push(m),
            }
        }
        if !sure.iter().any(|s| s.id == whole.id) {
            if instructed {
                // The instruction's words weigh in the whole message's match: only a question
                // of it can make the match sure.
                whole.evidence.sure = false;
                whole.evidence.doubt = Some(
                    "the message instructs the assistant and none of its questions matched surely"
                        .to_string(),
                );
            }
            return Ok(Some(whole));
        }
        if sure.len() == 1 && whole.sure() {
            return Ok(Some(whole));
        }
        if sure.len() == 1 {
            whole.evidence.sure = true;
            whole.evidence.doubt = None;
            return Ok(Some(whole));
        }
        whole.answer = sure
            .iter()
            .map(|m| m.answer.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        whole.handoff = sure.iter().any(|m| m.handoff);
        whole.evidence.sure = true;
        whole.evidence.doubt = None;
        whole.parts = sure.into_iter().map(|m| m.id).collect();
        Ok(Some(whole))
    }

    /// The approved-answer match, decided once per turn (`assistant::matching`): the closest
    /// answer in the question's language scoring at least `matching.min_score`, and whether the
    /// evidence agrees enough to send it without staff.
    pub(super) fn matched_canonical(
        &self,
        retrieval: &Retrieval,
        lang: Lang,
    ) -> Option<MatchedCanonical> {
        let canonicals = &self.index.canonicals;
        let (ord, evidence) = super::matching::decide(
            &retrieval.evidence,
            |o| canonicals.get(o as usize).map(|c| c.id.clone()),
            lang,
            &self.settings.matching,
        )?;
        let c = canonicals.get(ord as usize)?;
        Some(MatchedCanonical {
            id: c.id.clone(),
            similarity: evidence.similarity,
            handoff: c.handoff,
            answer: c.answer.trim().to_string(),
            evidence,
            parts: Vec::new(),
        })
    }
}
