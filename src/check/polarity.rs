//! Polarity for the checker: splits texts into clauses, marks which are negated or restricted
//! ("only"), and finds draft clauses that say the opposite of a reference clause on the same terms.
//!
//! A clause is negated when it holds a negator (Polish negative concord: "nigdy nie" is one
//! negation, so presence counts, not parity). Clauses are matched by their content terms (folded,
//! stopwords out, crudely stemmed): a draft clause flips when the reference clauses that share most
//! of its terms all have the other polarity.

use super::Span;
use crate::util::fold;

/// Negators, folded.
const NEGATORS: &[&str] = &[
    "nie", "nigdy", "bez", "brak", "braku", "zaden", "zadna", "zadne", "zadnej", "zadnego",
    "zadnych", "zadnym", "ani", "nikt", "nic", "niczego", "nigdzie", "not", "no", "never",
    "cannot", "without", "none", "nobody", "nothing", "neither", "nor", "nowhere",
];

/// Words that restrict a statement to a case ("tylko kartą" differs from "kartą").
const RESTRICTORS: &[&str] = &[
    "tylko",
    "wylacznie",
    "jedynie",
    "only",
    "exclusively",
    "solely",
];

/// Words that carry no content for matching clauses, folded.
const STOPWORDS: &[&str] = &[
    // Polish
    "a", "aby", "albo", "ale", "bo", "by", "byc", "ci", "cie", "co", "czy", "dla", "do", "go", "i",
    "ich", "im", "jak", "jako", "jest", "jej", "jego", "jesli", "jezeli", "juz", "ktore", "ktory",
    "ktora", "ktorych", "lub", "ma", "mam", "masz", "mi", "mnie", "moze", "na", "nam", "nas", "o",
    "od", "oraz", "po", "pod", "przez", "przy", "sa", "se", "sie", "sa", "so", "ta", "tak", "te",
    "tego", "ten", "to", "tu", "twoj", "twoje", "twoja", "twojego", "twojej", "u", "w", "we",
    "wiec", "z", "za", "ze", "zeby", "jeszcze", "tez", "takze", "rowniez", "wtedy", "gdy", "kiedy",
    "nasz", "nasze", "nasza", "naszego", "naszej", "naszym", "swoj", "swoje",
    // English
    "the", "an", "and", "or", "of", "to", "in", "on", "at", "by", "for", "with", "from", "is",
    "are", "be", "been", "was", "were", "it", "its", "this", "that", "these", "those", "you",
    "your", "we", "our", "us", "they", "their", "them", "he", "she", "his", "her", "as", "if",
    "then", "do", "does", "did", "can", "will", "would", "should", "may", "might", "must", "have",
    "has", "had", "so", "also", "just", "any", "all", "there", "here", "what", "which", "who",
    "when", "where", "how", "into", "about", "after", "before", "up", "out", "i", "my", "me",
    "within", "around", "via", "through", "over", "under", "between", "per", "than", "yet",
];

/// A negation or restriction marker and the content word it bears on.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The stemmed term it applies to (the next content word).
    pub term: String,
    /// The marker word ("nie", "not", "tylko").
    pub marker: Span,
}

/// One clause of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub span: Span,
    /// Negations in the clause, each with the term it negates.
    pub negations: Vec<Marker>,
    /// Restrictions ("tylko", "only"), each with the term it restricts.
    pub restrictions: Vec<Marker>,
    /// Content terms, stemmed, without repeats.
    pub terms: Vec<String>,
    /// Where each content term first appears.
    pub term_spans: Vec<(String, Span)>,
}

impl Clause {
    pub fn negated(&self) -> bool {
        !self.negations.is_empty()
    }

    fn term_span(&self, term: &str) -> Span {
        self.term_spans
            .iter()
            .find(|(t, _)| t == term)
            .map_or(self.span, |(_, s)| *s)
    }
}

/// Where a word is and what it is.
struct Word {
    start: usize,
    end: usize,
    folded: String,
}

fn words(chars: &[char], folded: &[char], s: usize, e: usize) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = s;
    while i < e {
        if !folded[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < e
            && (folded[i].is_alphanumeric()
                || (matches!(chars[i], '\'' | '’') && i + 1 < e && folded[i + 1].is_alphabetic()))
        {
            i += 1;
        }
        out.push(Word {
            start,
            end: i,
            folded: folded[start..i]
                .iter()
                .map(|&c| if c == '’' { '\'' } else { c })
                .collect(),
        });
    }
    out
}

fn is_negator(w: &str) -> bool {
    NEGATORS.contains(&w) || w.ends_with("n't")
}

fn is_restrictor(w: &str) -> bool {
    RESTRICTORS.contains(&w)
}

fn is_content(w: &str) -> bool {
    !is_negator(w)
        && !is_restrictor(w)
        && !STOPWORDS.contains(&w)
        && (w.chars().count() >= 3 || w.chars().all(|c| c.is_ascii_digit()))
}

/// The stem used to match terms: English plural and third-person endings off ("applies" and
/// "apply", "ships" and "ship"), then the first five characters (Polish inflects the ending).
fn term(w: &str) -> String {
    // Forms of "może" (can, one can) say the same for matching.
    if matches!(
        w,
        "mozna" | "mozesz" | "moze" | "mozemy" | "mozecie" | "moga" | "moge" | "mogl" | "mogla"
    ) {
        return "moze".to_string();
    }
    let n = w.chars().count();
    let base = if n > 4 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if n > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    };
    base.chars().take(5).collect()
}

/// Markers of one kind and the content word each bears on. A word repeated ("not not") cancels.
fn markers(ws: &[Word], is_marker: fn(&str) -> bool) -> Vec<Marker> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < ws.len() {
        if !is_marker(&ws[k].folded) {
            k += 1;
            continue;
        }
        if ws.get(k + 1).is_some_and(|n| n.folded == ws[k].folded) {
            k += 2;
            continue;
        }
        // "tylko, że" / "tylko że" joins clauses ("just remember that", "except that"): it
        // restricts nothing.
        if is_restrictor(&ws[k].folded) && ws.get(k + 1).is_some_and(|n| n.folded == "ze") {
            k += 1;
            continue;
        }
        if let Some(target) = ws[k + 1..].iter().find(|w| is_content(&w.folded)) {
            out.push(Marker {
                term: term(&target.folded),
                marker: Span::new(ws[k].start, ws[k].end),
            });
        }
        k += 1;
    }
    out
}

/// Splits `text` into clauses: sentences, and their parts after `;`, a line break, or a comma
/// or dash before a contrast word ("ale", "lecz", "jednak", "but", "however", "except").
pub fn clauses(text: &str) -> Vec<Clause> {
    let chars: Vec<char> = text.chars().collect();
    let folded: Vec<char> = fold(text).chars().collect();
    let n = chars.len();
    let mut bounds = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let sentence_end =
            matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        let hard = matches!(c, ';' | '\n');
        let contrast = matches!(c, ',' | '–' | '—') && {
            let rest: String = folded[i + 1..n.min(i + 12)].iter().collect();
            let rest = rest.trim_start();
            [
                "ale ",
                "lecz ",
                "jednak ",
                "but ",
                "however",
                "except",
                "z wyjatkiem",
                "oprocz ",
            ]
            .iter()
            .any(|w| rest.starts_with(w))
        };
        if sentence_end || hard || contrast {
            bounds.push((start, i + usize::from(sentence_end)));
            start = i + 1;
        }
        i += 1;
    }
    bounds.push((start, n));
    bounds
        .into_iter()
        .filter_map(|(s, e)| {
            let ws = words(&chars, &folded, s, e);
            let (first, last) = (ws.first()?.start, ws.last()?.end);
            let mut term_spans: Vec<(String, Span)> = Vec::new();
            for w in ws.iter().filter(|w| is_content(&w.folded)) {
                let t = term(&w.folded);
                if !term_spans.iter().any(|(x, _)| *x == t) {
                    term_spans.push((t, Span::new(w.start, w.end)));
                }
            }
            let mut terms: Vec<String> = term_spans.iter().map(|(t, _)| t.clone()).collect();
            terms.sort();
            Some(Clause {
                span: Span::new(first, last),
                negations: markers(&ws, is_negator),
                restrictions: markers(&ws, is_restrictor),
                terms,
                term_spans,
            })
        })
        .collect()
}

/// How much two clauses talk about the same thing: shared terms over the larger term set.
pub fn overlap(a: &Clause, b: &Clause) -> (usize, f32) {
    let shared = a.terms.iter().filter(|t| b.terms.contains(t)).count();
    let larger = a.terms.len().max(b.terms.len()).max(1);
    (shared, shared as f32 / larger as f32)
}

/// A draft clause that says the opposite of a reference clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Flip {
    /// Index of the draft clause and of the reference clause it contradicts.
    pub draft: usize,
    pub reference: usize,
    /// "negation" or "restriction".
    pub what: &'static str,
    /// The word whose polarity differs, in the draft and in the reference.
    pub draft_word: Span,
    pub reference_word: Span,
    /// The marker ("nie", "not", "only") on whichever side has it.
    pub draft_marker: Option<Span>,
    pub reference_marker: Option<Span>,
}

/// The least overlap for two clauses to state the same thing.
pub const MIN_OVERLAP: f32 = 0.6;

/// The first shared term that one clause marks more or fewer times than the other ("nigdy nie"
/// marks its verb twice; "nigdy" alone once).
fn differs(d: &[Marker], r: &[Marker], dc: &Clause, rc: &Clause) -> Option<String> {
    let count = |ms: &[Marker], t: &str| ms.iter().filter(|m| m.term == t).count();
    d.iter()
        .chain(r)
        .map(|m| &m.term)
        .find(|t| dc.terms.contains(t) && rc.terms.contains(t) && count(d, t) != count(r, t))
        .cloned()
}

/// Draft clauses that state a shared term with the other polarity than every reference clause
/// on the same subject (overlap ≥ [`MIN_OVERLAP`], two shared terms at least). A clause matching
/// nothing is not compared.
pub fn flips(draft: &[Clause], reference: &[Clause]) -> Vec<Flip> {
    let mut out = Vec::new();
    for (di, d) in draft.iter().enumerate() {
        let matches: Vec<(usize, f32)> = reference
            .iter()
            .enumerate()
            .filter_map(|(ri, r)| {
                let (shared, ratio) = overlap(d, r);
                // Short clauses match when they have the very same terms.
                let same = !d.terms.is_empty() && d.terms == r.terms;
                (same || shared >= 2 && ratio >= MIN_OVERLAP).then_some((ri, ratio))
            })
            .collect();
        let Some(&(best, best_ratio)) = matches
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            continue;
        };
        // Only the clauses about as close as the best one decide.
        let matches: Vec<(usize, f32)> = matches
            .into_iter()
            .filter(|&(_, r)| r >= best_ratio - 0.05)
            .collect();
        for (what, pick) in [
            (
                "negation",
                (|c: &Clause| &c.negations) as fn(&Clause) -> &Vec<Marker>,
            ),
            ("restriction", |c: &Clause| &c.restrictions),
        ] {
            let agrees = matches.iter().any(|&(ri, _)| {
                differs(pick(d), pick(&reference[ri]), d, &reference[ri]).is_none()
            });
            if agrees {
                continue;
            }
            let r = &reference[best];
            let Some(t) = differs(pick(d), pick(r), d, r) else {
                continue;
            };
            let marker = |c: &Clause| pick(c).iter().find(|m| m.term == t).map(|m| m.marker);
            out.push(Flip {
                draft: di,
                reference: best,
                what,
                draft_word: d.term_span(&t),
                reference_word: r.term_span(&t),
                draft_marker: marker(d),
                reference_marker: marker(r),
            });
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flipped(draft: &str, reference: &str) -> Vec<&'static str> {
        flips(&clauses(draft), &clauses(reference))
            .into_iter()
            .map(|f| f.what)
            .collect()
    }

    #[test]
    fn splits_sentences_and_contrasts() {
        let c = clauses("Zwrot jest bezpłatny, ale nie dotyczy mebli na wymiar. Napisz do nas!");
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(!c[0].negated() && c[1].negated() && !c[2].negated());
        let text = "Zwrot jest bezpłatny, ale nie dotyczy mebli na wymiar.";
        assert_eq!(c[1].negations[0].marker.slice(text), "nie");
        assert_eq!(c[1].negations[0].term, "dotyc");
    }

    #[test]
    fn inserted_and_removed_negations_flip_in_both_languages() {
        let pl = "Zwrot przez Paczkomat InPost jest bezpłatny.";
        assert_eq!(
            flipped("Zwrot przez Paczkomat InPost nie jest bezpłatny.", pl),
            ["negation"]
        );
        assert_eq!(
            flipped("Zwrot przez paczkomat InPost jest bezplatny.", pl),
            Vec::<&str>::new()
        );
        let never = "Nigdy nie prosimy o podanie hasła przez telefon.";
        assert_eq!(
            flipped("Zawsze prosimy o podanie hasła przez telefon.", never),
            ["negation"]
        );
        let en = "You can change the delivery address before the parcel ships.";
        assert_eq!(
            flipped(
                "You cannot change the delivery address before the parcel ships.",
                en
            ),
            ["negation"]
        );
        assert_eq!(
            flipped(
                "You can't change the delivery address before the parcel ships.",
                en
            ),
            ["negation"]
        );
        assert_eq!(
            flipped(
                "Returns are free without a receipt.",
                "Returns are free with a receipt."
            ),
            ["negation"]
        );
    }

    #[test]
    fn tylko_ze_joins_clauses_and_restricts_nothing() {
        let r = "Od nadania może minąć do 24 godzin, zanim pojawią się pierwsze informacje.";
        let d = "Pamiętaj tylko, że od nadania może minąć do 24 godzin, zanim pojawią się pierwsze informacje.";
        assert!(flipped(d, r).is_empty());
        let only = "Od nadania może minąć tylko 24 godziny, zanim pojawią się pierwsze informacje.";
        assert_eq!(flipped(only, r), ["restriction"]);
    }

    #[test]
    fn restrictions_count_and_unrelated_clauses_do_not() {
        assert_eq!(
            flipped(
                "Płatność przy odbiorze jest możliwa tylko dla paczek kurierskich.",
                "Płatność przy odbiorze jest możliwa dla paczek kurierskich."
            ),
            ["restriction"]
        );
        // A negated clause on another topic is not a flip.
        assert!(flipped(
            "Nie wysyłamy paczek za granicę.",
            "Zwrot jest bezpłatny przez 30 dni."
        )
        .is_empty());
        // The reference says both: the draft agrees with one of them.
        let both = "Zwrot jest możliwy w sklepie. Zwrot nie jest możliwy w sklepie dla mebli.";
        assert!(flipped("Zwrot jest możliwy w sklepie.", both).is_empty());
    }

    proptest! {
        #[test]
        fn a_negation_added_to_a_sentence_is_a_flip(
            words in proptest::collection::vec("[a-z]{4,9}", 3..8),
            en in any::<bool>(),
        ) {
            prop_assume!(words.iter().all(|w| is_content(w)));
            let stems: std::collections::HashSet<String> = words.iter().map(|w| term(w)).collect();
            prop_assume!(stems.len() >= 2);
            let plain = format!("{}.", words.join(" "));
            let neg = if en { "not" } else { "nie" };
            let negated = format!("{} {neg} {}.", words[0], words[1..].join(" "));
            prop_assert_eq!(flips(&clauses(&negated), &clauses(&plain)).len(), 1);
            prop_assert_eq!(flips(&clauses(&plain), &clauses(&negated)).len(), 1);
            prop_assert!(flips(&clauses(&plain), &clauses(&plain)).is_empty());
        }

        #[test]
        fn clauses_never_panic_and_spans_are_in_the_text(text in "\\PC{0,120}") {
            let n = text.chars().count();
            for c in clauses(&text) {
                prop_assert!(c.span.start < c.span.end && c.span.end <= n);
            }
        }
    }
}
