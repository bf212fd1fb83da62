//! How much of a question the knowledge base talks about: document frequencies of analysed terms
//! per language, and each approved answer's own terms (the match's coverage evidence).

use std::collections::{HashMap, HashSet};

use tantivy::tokenizer::TextAnalyzer;

use super::lexical::{analyze, english_analyzer, polish_analyzer};
use crate::knowledge::{Canonical, Chunk, Lang};
use crate::util::one_edit_at;

/// Term statistics of one index, built when the index is opened (nothing is stored on disk).
pub struct Vocabulary {
    pl: LangTerms,
    en: LangTerms,
    /// The analysed terms of each approved answer (its phrasings, text and tags), by position.
    canonical_terms: Vec<HashSet<String>>,
    /// The lexical index's analyzers, built once (a question gets a clone).
    pl_analyzer: TextAnalyzer,
    en_analyzer: TextAnalyzer,
}

#[derive(Default)]
struct LangTerms {
    /// Documents (passages and approved answers) in the language.
    docs: u32,
    /// In how many of them each term occurs.
    df: HashMap<String, u32>,
}

/// Terms at least this long may differ by one letter from the knowledge base's and still count
/// as its words; shorter ones are too easily another word.
const TYPO_MIN_CHARS: usize = 5;

impl LangTerms {
    /// A term one letter from a term the knowledge base uses: in English a typo anywhere but
    /// the first letter ("adress", "discoutn"); in Polish only at the end, where the stemmer
    /// leaves a different ending of the same word ("konsultan", "konsultant"); elsewhere one
    /// letter makes another word of a Polish stem ("recznik", "rzecznik").
    fn near(&self, term: &str, lang: Lang) -> bool {
        let t: Vec<char> = term.chars().collect();
        t.len() >= TYPO_MIN_CHARS
            && self.df.keys().any(|k| {
                let n = k.chars().count();
                n + 1 >= t.len()
                    && n <= t.len() + 1
                    && n >= TYPO_MIN_CHARS
                    && one_edit_at(&t, &k.chars().collect::<Vec<_>>()).is_some_and(
                        |at| match lang {
                            Lang::En => at > 0,
                            Lang::Pl => at + 1 >= t.len().max(n),
                        },
                    )
            })
    }
}

fn analyzer(lang: Lang) -> TextAnalyzer {
    match lang {
        Lang::Pl => polish_analyzer(),
        Lang::En => english_analyzer(),
    }
}

impl Vocabulary {
    pub fn build(chunks: &[Chunk], canonicals: &[Canonical]) -> Vocabulary {
        let (mut pl_an, mut en_an) = (analyzer(Lang::Pl), analyzer(Lang::En));
        let mut terms_of = |lang: Lang, text: &str| -> HashSet<String> {
            let a = match lang {
                Lang::Pl => &mut pl_an,
                Lang::En => &mut en_an,
            };
            analyze(a, text).into_iter().collect()
        };
        let mut v = Vocabulary {
            pl: LangTerms::default(),
            en: LangTerms::default(),
            canonical_terms: Vec::with_capacity(canonicals.len()),
            pl_analyzer: analyzer(Lang::Pl),
            en_analyzer: analyzer(Lang::En),
        };
        let count = |v: &mut Vocabulary, lang: Lang, terms: &HashSet<String>| {
            let l = match lang {
                Lang::Pl => &mut v.pl,
                Lang::En => &mut v.en,
            };
            l.docs += 1;
            for t in terms {
                *l.df.entry(t.clone()).or_insert(0) += 1;
            }
        };
        for c in chunks {
            let terms = terms_of(c.lang, &format!("{} {}", c.title, c.text));
            count(&mut v, c.lang, &terms);
        }
        for c in canonicals {
            let text = format!(
                "{} {} {}",
                c.questions.join(" "),
                c.answer,
                c.tags.join(" ")
            );
            let terms = terms_of(c.lang, &text);
            count(&mut v, c.lang, &terms);
            v.canonical_terms.push(terms);
        }
        v
    }

    /// The question's distinct terms, each weighed by its inverse document frequency in `lang`
    /// (a term the knowledge base never uses weighs most).
    pub fn weigh(&self, question: &str, lang: Lang) -> QuestionTerms {
        let l = match lang {
            Lang::Pl => &self.pl,
            Lang::En => &self.en,
        };
        let mut a = match lang {
            Lang::Pl => self.pl_analyzer.clone(),
            Lang::En => self.en_analyzer.clone(),
        };
        let mut seen = HashSet::new();
        let terms = analyze(&mut a, question)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .map(|t| {
                let df = l.df.get(&t).copied().unwrap_or(0);
                let idf = ((l.docs as f32 + 1.0) / (df as f32 + 0.5)).ln().max(0.0);
                // A typo of a word the knowledge base uses ("adress", "discoutn") is a word it
                // uses; the weight stays the typo's own.
                let known = df > 0 || l.near(&t, lang);
                (t, idf, known)
            })
            .collect();
        QuestionTerms { terms }
    }

    /// The terms of approved answer `ord` (empty when out of range).
    fn canonical(&self, ord: u32) -> Option<&HashSet<String>> {
        self.canonical_terms.get(ord as usize)
    }
}

/// A question's analysed terms with their weights.
#[derive(Debug, Clone, Default)]
pub struct QuestionTerms {
    terms: Vec<(String, f32, bool)>,
}

impl QuestionTerms {
    fn share(&self, covered: impl Fn(&str, bool) -> bool) -> f32 {
        let total: f32 = self.terms.iter().map(|t| t.1).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let part: f32 = self
            .terms
            .iter()
            .filter(|t| covered(&t.0, t.2))
            .map(|t| t.1)
            .sum();
        part / total
    }

    /// The weighed share of the question's terms that occur anywhere in the knowledge base:
    /// low for questions about things the shop never writes about (weather, cars, a recipe).
    pub fn known(&self) -> f32 {
        self.share(|_, known| known)
    }

    /// The weighed share of the question's terms found in approved answer `ord`.
    pub fn covered_by(&self, vocabulary: &Vocabulary, ord: u32) -> f32 {
        match vocabulary.canonical(ord) {
            Some(terms) => self.share(|t, _| terms.contains(t)),
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::{CanonicalId, DocId};

    fn canonical(id: &str, lang: Lang, q: &str, a: &str) -> Canonical {
        Canonical {
            id: CanonicalId(id.into()),
            lang,
            questions: vec![q.into()],
            answer: a.into(),
            sources: vec![DocId("doc".into())],
            handoff: false,
            tags: vec![],
            origin: String::new(),
        }
    }

    #[test]
    fn coverage_weighs_terms_the_knowledge_base_uses() {
        let v = Vocabulary::build(
            &[],
            &[
                canonical(
                    "pl-returns",
                    Lang::Pl,
                    "Ile mam czasu na zwrot?",
                    "Na zwrot masz 30 dni od otrzymania paczki.",
                ),
                canonical(
                    "pl-pickup",
                    Lang::Pl,
                    "Czy mogę odebrać zamówienie w Poznaniu?",
                    "Odbiór osobisty w showroomie w Poznaniu jest bezpłatny.",
                ),
            ],
        );
        // Every term known, and covered by the returns answer (diacritics folded).
        let q = v.weigh("ile mam czasu na zwrot paczki", Lang::Pl);
        assert!(q.known() > 0.99, "{}", q.known());
        assert!(q.covered_by(&v, 0) > 0.99);
        assert!(q.covered_by(&v, 1) < 0.5);
        // The weather is not the shop's topic: most of the question's weight is unknown.
        let q = v.weigh("jaka bedzie jutro pogoda w poznaniu", Lang::Pl);
        assert!(q.known() < 0.5, "{}", q.known());
        assert!(q.covered_by(&v, 1) < 0.5);
        // In Polish, a letter changed inside a stem makes another word.
        let q = v.weigh("ile mam czasu na zwort", Lang::Pl);
        assert!(q.known() < 0.99, "{}", q.known());
        // No terms at all: nothing is covered.
        let q = v.weigh("?!", Lang::Pl);
        assert_eq!((q.known(), q.covered_by(&v, 0)), (0.0, 0.0));
        assert_eq!(q.covered_by(&v, 7), 0.0);
    }

    #[test]
    fn a_typo_counts_in_english_and_only_another_ending_in_polish() {
        let v = Vocabulary::build(
            &[],
            &[
                canonical(
                    "en-a",
                    Lang::En,
                    "Where do I send returns?",
                    "To our return address.",
                ),
                canonical(
                    "pl-a",
                    Lang::Pl,
                    "Jak zapisać się?",
                    "Rzecznik prasowy odpowiada.",
                ),
            ],
        );
        let known = |q: &str, lang| v.weigh(q, lang).known();
        assert!(known("adress", Lang::En) > 0.99);
        assert!(known("xddress", Lang::En) < 0.01, "not the first letter");
        assert!(known("zapisal", Lang::Pl) > 0.99, "another ending");
        assert!(known("recznik", Lang::Pl) < 0.01, "another word");
    }
}
