//! Rule-based triage of a customer's chat message, run before any model: the language, and the
//! signals (asks for a person, complaint, legal, fraud, abuse, anger, repeats, urgency) that hand off.

// Everything here is a pure function of the message, the earlier turns and the settings. The
// message is folded (lowercase, Polish diacritics removed, one char out per char in) and split
// into words; a few long keywords are corrected when one typo away (edit distance ≤ 1). Phrase
// rules are regular expressions over the words joined by single spaces, so a match maps back to
// the words it covers and so to a span of characters in the original message.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::check::Span;
use crate::knowledge::{detect_lang, Lang};
use crate::util::fold_char;

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastMessage {
    pub text: String,
    /// `true` for the customer's messages, `false` for the shop's (bot or staff).
    pub from_customer: bool,
}

/// What triage looks at: the new message, the earlier turns (oldest first, without the new
/// message) and the language if the host page knows it.
#[derive(Debug, Clone, Copy)]
pub struct TriageInput<'a> {
    pub message: &'a str,
    pub history: &'a [PastMessage],
    pub lang_hint: Option<Lang>,
}

/// What a rule noticed in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The customer explicitly asks for a person (or refuses the bot).
    HumanRequest,
    /// Dissatisfaction with the service, or a wish to file a complaint.
    Complaint,
    /// Lawyers, courts, consumer-protection offices.
    Legal,
    /// Fraud, scams, stolen cards, hacked accounts, unauthorised payments.
    Fraud,
    /// Insults or profanity aimed at the staff or the bot.
    Abuse,
    /// The tone (lexicon score) is strongly negative.
    NegativeSentiment,
    /// The same question was already asked earlier in the conversation.
    Repeated,
    /// The customer says it is urgent (a priority flag, not a handoff by default).
    Urgent,
}

impl Signal {
    /// Every signal, in the order they are reported.
    pub const ALL: [Signal; 8] = [
        Signal::HumanRequest,
        Signal::Complaint,
        Signal::Legal,
        Signal::Fraud,
        Signal::Abuse,
        Signal::NegativeSentiment,
        Signal::Repeated,
        Signal::Urgent,
    ];

    /// The snake_case name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::HumanRequest => "human_request",
            Signal::Complaint => "complaint",
            Signal::Legal => "legal",
            Signal::Fraud => "fraud",
            Signal::Abuse => "abuse",
            Signal::NegativeSentiment => "negative_sentiment",
            Signal::Repeated => "repeated",
            Signal::Urgent => "urgent",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signal that fired, with what made it fire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fired {
    pub signal: Signal,
    /// The rule's name (`signal.as_str()`).
    pub rule: String,
    /// The matched phrase, in characters of the message (none for `repeated`).
    pub span: Option<Span>,
    /// A short English explanation quoting the matched phrase.
    pub evidence: String,
}

/// The triage of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triage {
    pub lang: Lang,
    /// Every signal that fired, once each, in [`Signal::ALL`] order.
    pub signals: Vec<Fired>,
    /// Lexicon tone score in `-1.0..=1.0` (0 for a neutral question).
    pub sentiment: f32,
    /// Whether the conversation must go to a person (`!handoff_signals.is_empty()`).
    pub handoff: bool,
    /// The signals that the settings turn into a handoff.
    pub handoff_signals: Vec<Fired>,
}

/// The `[triage]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriageSettings {
    /// The signals that hand the conversation to a person.
    pub handoff_on: Vec<Signal>,
    /// `sentiment <= -negative_sentiment` fires `negative_sentiment`.
    pub negative_sentiment: f32,
    /// Share of content words shared with an earlier customer turn for the same question.
    pub repeat_similarity: f32,
    /// `repeated` fires when the same question was asked this many times before.
    pub repeat_count: usize,
}

impl Default for TriageSettings {
    fn default() -> Self {
        TriageSettings {
            handoff_on: vec![
                Signal::HumanRequest,
                Signal::Complaint,
                Signal::Legal,
                Signal::Fraud,
                Signal::Abuse,
                Signal::NegativeSentiment,
                Signal::Repeated,
            ],
            negative_sentiment: 0.6,
            repeat_similarity: 0.7,
            repeat_count: 1,
        }
    }
}

impl TriageSettings {
    /// Thresholds within `0..=1`, `repeat_count >= 1`.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.negative_sentiment) {
            return Err(format!(
                "triage.negative_sentiment must be within 0..=1, got {}",
                self.negative_sentiment
            ));
        }
        if !(0.0..=1.0).contains(&self.repeat_similarity) {
            return Err(format!(
                "triage.repeat_similarity must be within 0..=1, got {}",
                self.repeat_similarity
            ));
        }
        if self.repeat_count < 1 {
            return Err("triage.repeat_count must be at least 1".to_string());
        }
        Ok(())
    }
}

/// Triages one message: language, signals, tone and whether to hand off.
pub fn triage(input: &TriageInput<'_>, settings: &TriageSettings) -> Triage {
    let lang = input
        .lang_hint
        .unwrap_or_else(|| detect_lang(input.message, Lang::Pl));
    let words = Words::new(input.message);
    let tone = sentiment(&words);

    let mut signals = Vec::new();
    for rule in RULES.iter() {
        if let Some(span) = rule.find(&words) {
            let phrase = span.slice(input.message);
            signals.push(Fired {
                signal: rule.signal,
                rule: rule.signal.as_str().to_string(),
                span: Some(span),
                evidence: format!("{}: «{}»", rule.label, phrase.trim()),
            });
        }
    }
    if tone.score <= -settings.negative_sentiment {
        let quoted: Vec<String> = tone
            .hits
            .iter()
            .take(3)
            .map(|h| format!("«{}»", h.span.slice(input.message)))
            .collect();
        signals.push(Fired {
            signal: Signal::NegativeSentiment,
            rule: Signal::NegativeSentiment.as_str().to_string(),
            span: tone.hits.first().map(|h| h.span),
            evidence: format!(
                "negative tone (score {:.2}): {}",
                tone.score,
                quoted.join(", ")
            ),
        });
    }
    if let Some((count, earlier)) = repeats(&words, input.history, settings) {
        signals.push(Fired {
            signal: Signal::Repeated,
            rule: Signal::Repeated.as_str().to_string(),
            span: None,
            evidence: format!(
                "same question asked {count} time(s) before: «{}»",
                shorten(earlier, 80)
            ),
        });
    }
    signals.sort_by_key(|f| f.signal);

    let handoff_signals: Vec<Fired> = signals
        .iter()
        .filter(|f| settings.handoff_on.contains(&f.signal))
        .cloned()
        .collect();
    Triage {
        lang,
        signals,
        sentiment: tone.score,
        handoff: !handoff_signals.is_empty(),
        handoff_signals,
    }
}

// ---------------------------------------------------------------------------------------------
// Words

/// One word of the message (folded, apostrophes dropped, maybe typo-corrected), or a `!` run.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    /// Character offsets in the original message.
    start: usize,
    end: usize,
    /// Written in capitals (at least 3 letters, none lowercase).
    caps: bool,
}

/// The message as words, and the words joined by single spaces (what the rules match).
struct Words {
    words: Vec<Word>,
    joined: String,
    /// Byte offset of each word in `joined`.
    offsets: Vec<usize>,
    exclamations: usize,
}

impl Words {
    fn new(message: &str) -> Words {
        let chars: Vec<char> = message.chars().collect();
        let mut words: Vec<Word> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '!' {
                let start = i;
                while i < chars.len() && chars[i] == '!' {
                    i += 1;
                }
                words.push(Word {
                    text: "!".into(),
                    start,
                    end: i,
                    caps: false,
                });
                continue;
            }
            if !fold_char(c).is_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            let mut text = String::new();
            let (mut upper, mut lower) = (0usize, 0usize);
            while i < chars.len() {
                let c = chars[i];
                let f = fold_char(c);
                if f.is_alphanumeric() {
                    if c.is_uppercase() {
                        upper += 1;
                    } else if c.is_lowercase() {
                        lower += 1;
                    }
                    text.push(f);
                    i += 1;
                } else if is_apostrophe(c)
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| fold_char(*n).is_alphanumeric())
                {
                    i += 1;
                } else {
                    break;
                }
            }
            let text = correct_typo(text);
            words.push(Word {
                text,
                start,
                end: i,
                caps: upper >= 3 && lower == 0,
            });
        }
        let mut joined = String::new();
        let mut offsets = Vec::with_capacity(words.len());
        for w in &words {
            if !joined.is_empty() {
                joined.push(' ');
            }
            offsets.push(joined.len());
            joined.push_str(&w.text);
        }
        let exclamations = chars.iter().filter(|c| **c == '!').count();
        Words {
            words,
            joined,
            offsets,
            exclamations,
        }
    }

    /// The character span of the words covering `bytes` of `joined`.
    fn span(&self, bytes: std::ops::Range<usize>) -> Option<Span> {
        let first = self
            .offsets
            .partition_point(|&o| o <= bytes.start)
            .checked_sub(1)?;
        let last = self
            .offsets
            .partition_point(|&o| o < bytes.end)
            .checked_sub(1)?;
        let (a, b) = (self.words.get(first)?, self.words.get(last.max(first))?);
        Some(Span::new(a.start, b.end))
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | '`')
}

/// Long keywords (folded) whose one-typo variants are corrected: a word whose beginning is one
/// edit away from a stem gets the stem instead of that beginning ("konsulatntem" → "konsultantem").
const FUZZY_STEMS: &[&str] = &[
    "konsultant",
    "czlowiek",
    "pracownik",
    "porozmawia",
    "rozmawia",
    "representative",
    "assistant",
    "operator",
    "somebody",
    "someone",
    "complaint",
    "unacceptable",
    "niezadowolon",
    "nieautoryzowan",
    "unauthori",
    "beznadziejn",
    "natychmiast",
    "skandal",
    "kancelari",
    "attorney",
    "lawsuit",
    "immediately",
    "disappointed",
    "dissatisfied",
    "ridiculous",
];

/// Real words one edit away from a stem above, never "corrected".
const PROTECTED: &[&str] = &["assistance", "prawnie", "operate", "someones"];

fn correct_typo(word: String) -> String {
    let w: Vec<char> = word.chars().collect();
    if w.len() < 6 || FUZZY_STEMS.iter().any(|s| word.starts_with(s)) {
        return word;
    }
    let protected = PROTECTED.iter().any(|p| {
        let p: Vec<char> = p.chars().collect();
        w.starts_with(&p)
            || osa_within_one(&w[..w.len().min(p.len() + 1)], &p)
            || osa_within_one(&w, &p)
    });
    if protected {
        return word;
    }
    for stem in FUZZY_STEMS {
        let s: Vec<char> = stem.chars().collect();
        if s.len() < 7 || w[0] != s[0] {
            continue;
        }
        for len in [s.len(), s.len() - 1, s.len() + 1] {
            if len <= w.len() && osa_within_one(&w[..len], &s) {
                let mut out = (*stem).to_string();
                out.extend(&w[len..]);
                return out;
            }
        }
    }
    word
}

/// Whether the optimal-string-alignment distance between `a` and `b` is at most 1.
fn osa_within_one(a: &[char], b: &[char]) -> bool {
    crate::util::one_edit_at(a, b).is_some()
}

// ---------------------------------------------------------------------------------------------
// Phrase rules

struct Rule {
    signal: Signal,
    /// Start of the evidence ("asks for a person").
    label: &'static str,
    patterns: Vec<Regex>,
    /// A match overlapping a veto match does not count.
    vetoes: Vec<Regex>,
    /// Does not fire on definitional questions ("What is phishing?").
    skip_definitions: bool,
}

impl Rule {
    fn new(signal: Signal, label: &'static str, patterns: &[&str]) -> Rule {
        Rule {
            signal,
            label,
            patterns: patterns.iter().map(|p| phrase(p)).collect(),
            vetoes: Vec::new(),
            skip_definitions: false,
        }
    }

    fn veto(mut self, patterns: &[&str]) -> Rule {
        self.vetoes = patterns.iter().map(|p| phrase(p)).collect();
        self
    }

    fn skip_definitions(mut self) -> Rule {
        self.skip_definitions = true;
        self
    }

    /// The earliest match of any pattern (the longest on a tie) that no veto covers.
    fn find(&self, words: &Words) -> Option<Span> {
        let text = words.joined.as_str();
        if self.skip_definitions && DEFINITION.is_match(text) && !text.starts_with("co to jest za")
        {
            return None;
        }
        let vetoed: Vec<std::ops::Range<usize>> = self
            .vetoes
            .iter()
            .flat_map(|v| {
                v.captures_iter(text)
                    .filter_map(|c| c.get(1))
                    .map(|m| m.range())
            })
            .collect();
        let mut best: Option<std::ops::Range<usize>> = None;
        for p in &self.patterns {
            // Not `captures_iter`: a match eats the space after it, which would hide a match
            // starting on the next word; restart from the space before the next word instead.
            let mut at = 0;
            let mut hit = None;
            while let Some(m) = p.captures_at(text, at).and_then(|c| c.get(1)) {
                let r = m.range();
                if !vetoed.iter().any(|v| v.start < r.end && r.start < v.end) {
                    hit = Some(r);
                    break;
                }
                match words.offsets.iter().find(|&&o| o > r.start) {
                    Some(&next) => at = next - 1,
                    None => break,
                }
            }
            if let Some(r) = hit {
                let better = match &best {
                    None => true,
                    Some(b) => r.start < b.start || (r.start == b.start && r.end > b.end),
                };
                if better {
                    best = Some(r);
                }
            }
        }
        best.and_then(|r| words.span(r))
    }
}

/// A phrase pattern over the joined words: ` ~ ` is a gap of up to 3 words, ` ~4 ` up to 4; the
/// whole pattern must start and end on word boundaries.
fn phrase(pattern: &str) -> Regex {
    let body = pattern
        .replace(" ~4 ", r" (?:\S+ ){0,4}")
        .replace(" ~ ", r" (?:\S+ ){0,3}");
    Regex::new(&format!("(?:^| )({body})(?: |$)")).expect("triage phrase pattern")
}

/// Definitional questions, informational even when they name a scam or a court.
static DEFINITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:czym (?:jest|sa)|co to (?:jest|sa|znaczy)|co oznacza|what (?:is|are|does)|jak (?:rozpoznac|uniknac|chronic|sie chronic|zabezpieczyc)|how (?:to|do i|can i) (?:recogni[sz]e|spot|avoid|protect))(?: |$)",
    )
    .expect("definition regex")
});

const EN_VERB: &str = r"(?:talk\w*|speak\w*|spoke|chat|chats|chatting|chatted|contact\w*|reach|reaching|connect\w*|transfer\w*|escalat\w*|redirect\w*|direct|put me through|get in touch|hand me over|pass me)";
const EN_PERSON: &str = r"(?:humans?|person|persons|people|agents?|operators?|representatives?|reps?|someone|somebody|anyone|anybody|assistants?|employees?|staff|consultants?|managers?|supervisors?|advis[eo]rs?|specialists?|operatives?|individual)";
const PL_VERB: &str = r"(?:rozmawia\w*|porozmawia\w*|rozmow\w*|pogada\w*|gadac|gadam|skontakt\w*|kontakt\w*|porozumie\w*|dodzwoni\w*|zadzwoni\w*)";
const PL_PERSON: &str = r"(?:konsultant\w*|czlowiek\w*|ludzmi|ludzkim|pracownik\w*|pracownic\w*|kims|kogos|agent\w*|operator\w*|doradc\w*|specjalist\w*|przedstawiciel\w*|kierownik\w*|kierownictw\w*|menedzer\w*|managerem|przelozon\w*|obslugant\w*)";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        Rule::new(
            Signal::HumanRequest,
            "asks for a person",
            &[
                &format!("{EN_VERB} ~4 {EN_PERSON}"),
                &format!("(?:live|real|human|actual|physical) {EN_PERSON}"),
                r"(?:customer (?:service|support|care|assistance)|support|service|help ?desk) (?:reps?|representatives?|agents?|staff|person|team member|employees?|advis[eo]rs?|specialists?)",
                r"(?:want|need|get me|give me|wanna|request|prefer|require|find me|bring me) (?:to )?(?:a |an |some |the |one |your )?(?:humans?|person|agent|operator|representative|manager|supervisor|someone|somebody|real one|live one)",
                r"(?:someone|somebody|an? (?:agent|person|human|representative|operator|manager)) (?:to )?(?:call|contact|phone|ring|email|reach) me",
                r"(?:someone|somebody) (?:from|of|at) (?:your|the) (?:team|staff|company|support|service|shop|store)",
                r"(?:dont|do not|no|no more|stop|tired of|sick of|done with|enough|hate|cant stand|instead of|rather than|other than) (?:\S+ ){0,5}(?:bot|bots|chatbot\w*|robot|robots|automated (?:answers?|responses?|replies|messages?|system))",
                r"not (?:talk\w* |speak\w* |chat\w* )?(?:to |with )?(?:a |the |your |this |some )?(?:bot|bots|chatbot\w*|robot|robots)",
                r"is (?:there )?(?:anyone|anybody|someone|somebody) (?:there|here|real|alive|human)|is there (?:a |an )?(?:human|real person|live person|live agent)",
                r"(?:jest|czy jest) (?:tam|tu) (?:ktos|ktokolwiek)|(?:ktos|ktokolwiek) (?:zyw|prawdziw)\w*",
                &format!("{PL_VERB} ~ {PL_PERSON}"),
                &format!("(?:polacz|polaczcie|przelacz|przelaczcie|przekieruj|przekierujcie|polaczenie|przekierowanie|przelaczenie) ~ (?:{PL_PERSON}|obslug\\w*|dzial\\w*|infolini\\w*|biur\\w*)"),
                &format!("(?:mnie (?:polaczyc|przelaczyc|przekierowac)|(?:polaczyc|przelaczyc|przekierowac) mnie) ~ (?:{PL_PERSON}|obslug\\w*|dzial\\w*|infolini\\w*|biur\\w*)"),
                r"(?:zyw|prawdziw|realn|normaln)\w* (?:osob\w*|czlowiek\w*|konsultant\w*|pracownik\w*|ludz\w*)",
                r"(?:chce|chcialbym|chcialabym|chcemy|potrzebuje|wole|wolalbym|wolalabym|poprosze|prosze|prosimy|daj|dajcie|dawac|wezwij|wezwijcie|zawolaj|zawolajcie|zadam|domagam sie) (?:o |mi |z |ze |jakiegos |jakas |tego )?(?:konsultant\w*|czlowiek\w*|operator\w*|doradc\w*|kierownik\w*|przelozon\w*|agent\w*|ktos|kogos|kims)",
                r"(?:czy )?(?:ktos|ktokolwiek|konsultant|konsultantka) (?:moze|mogl\w*|mozecie) ~ (?:skontakt|kontakt|zadzwoni|oddzwoni|odezw|odpisa|porozmawia|pomoc|pomogl)\w*",
                r"(?:nie|dosc|mam dosc|koniec|przestan|bez|zamiast|wole nie) ~ (?:bot|bota|botem|boty|botow|botami|botu|botowi|czatbot\w*|chatbot\w*|automatem|automatu)",
                // A call back is a person's call.
                &format!("(?:telefon\\w*|kontakt\\w*|oddzwonieni\\w*|rozmow\\w*) (?:od|z|ze) {PL_PERSON}"),
                r"(?:prosze|poprosze|prosimy|czekam na|chce|chcialbym|chcialabym) (?:o )?(?:telefon|kontakt telefoniczny|oddzwonienie|rozmowe telefoniczna)",
                r"(?:zadzwoncie|oddzwoncie|oddzwon\w*)|(?:prosze|mozecie|moglibyscie|mozesz) (?:do mnie )?(?:zadzwonic|oddzwonic)",
                r"(?:call|ring|phone) me back|(?:please|pls|can you|could you|can someone|could someone) (?:call|ring|phone) me|(?:call|ring|phone) me (?:please|asap|on|at)|(?:request|want|need|like|get|wait for) (?:a )?(?:call ?back|phone call|call from)",
            ],
        ),
        Rule::new(
            Signal::Complaint,
            "complains",
            &[
                // Complaining, or filing one; a question that only mentions complaints (which
                // address, warranty or complaint) is informational.
                r"complain|complains|complained|complaining|grievances?|formal complaints?|(?:i|we) (?:have|got) (?:a |another )?complaint",
                r"(?:file|filing|filed|make|making|lodge|lodging|lodged|submit|submitting|raise|raising|register|registering|open|opening|put in|send|sending|issue|place|report) ~ complaints?",
                r"(?:claims?|reclamations?) against|reclamations?|(?:customer|consumer) claims?|(?:lodge|lodging|lodged) ~ claims?",
                r"disappointed|dissatisfied|displeased|unhappy|not (?:\S+ )?(?:happy|satisfied|pleased) with|fed up|sick and tired|unacceptable|outrageous|disgrace\w*|disgusting|appalling|shameful|shame on you|ridiculous|pathetic|worst",
                r"(?:terrible|awful|horrible|bad|poor|lousy|crappy|shitty|abysmal|rude|useless|incompetent) (?:customer )?(?:service|support|experience|company|shop|store|treatment|communication|help)",
                r"(?:nobody|no one|noone) ~ (?:answer|respond|repl|help|contact|call|get back|got back|cares|listen|bothered)\w*",
                r"(?:writ|wrote|written|ask|asked|call|called|contact|email|messag|tried|complain|chas)\w* ~ (?:many|several|multiple|three|four|five|six|numerous|countless|\d+|dozens of) times",
                r"(?:third|3rd|fourth|4th|fifth|5th|umpteenth|nth|tenth) time",
                r"(?:had|have had|ive had) enough|never (?:again|buying|ordering|shopping)",
                r"skarg\w*|skarz\w*|zazalen\w*",
                r"niezadowolon\w*|nie (?:jestem |bylem |bylam |jestesmy )?(?:zadowolon|usatysfakcjonowan)\w*|rozczarowan\w*|zawiedzion\w*|skandal\w*|zenad\w*|zenuj\w*|kpin\w*|wstyd\w*|nie do przyjecia|niedopuszczaln\w*|nieakceptowaln\w*|oburz\w*|bezczeln\w*|chamstw\w*|chamsk\w*|lekcewaz\w*|olewa\w*|olali\w*|mam (?:tego )?(?:juz )?(?:dosc|dosyc)|nigdy wiecej",
                r"(?:fataln|beznadziejn|okropn|tragiczn|skandaliczn|zalosn|koszmarn|najgorsz|kiepsk|slab|marn|zenujac|niekompetent|niepowazn)\w* (?:\S+ )?(?:obslug|serwis|sklep|firm|kontakt|podejsci|jakosc|traktowan|pomoc|konsultant|obsluz)\w*",
                r"(?:obslug|serwis|sklep|firm|kontakt)\w* (?:\S+ ){0,2}(?:fataln|beznadziejn|okropn|tragiczn|skandaliczn|zalosn|koszmarn|kiepsk|zenujac|niekompetent|najgorsz)\w*",
                r"nikt (?:\S+ ){0,2}(?:odpowiada|odpisuje|odpisal|odpisala|odpowiedzial|odpowiedziala|odbiera|oddzwoni|kontaktuje|pomaga|pomogl|odezwal|reaguje|zareagowal|raczyl)\w*",
                r"(?:juz )?(?:drugi|trzeci|czwarty|piaty|szosty|dziesiaty|kolejny|ktorys|enty|nty|\d+) raz ~ (?:pisze|pytam|dzwonie|pisalem|pisalam|prosze|zglaszam|kontaktuje|prosilem|prosilam|pytalem|pytalam|dzwonilem|dzwonilam)\w*",
                r"(?:pisze|pytam|dzwonie|pisalem|pisalam|pytalem|pytalam|prosze|prosilem|prosilam|zglaszam|kontaktuje)\w* ~ (?:drugi|trzeci|czwarty|piaty|szosty|dziesiaty|kolejny|ktorys|enty|nty|\d+) raz\w*",
                r"po raz (?:trzeci|czwarty|piaty|kolejny|ktorys|enty|nty|dziesiaty|\d+)",
                r"(?:wielokrotnie|kilkakrotnie|kilkukrotnie|kilka razy|wiele razy|tyle razy) ~ (?:pisal|dzwonil|prosil|pytal|zglasz|kontakt|wysyl|pisze|dzwonie|prosze|pytam)\w*",
            ],
        )
        .veto(&[
            r"(?:no|without|zero|nothing to|not any|any) (?:\S+ )?complain\w*",
            r"(?:bez|zadnych|zadnej) skarg\w*",
        ]),
        Rule::new(
            Signal::Legal,
            "mentions legal action",
            &[
                r"lawyers?|attorneys?|solicitors?|legal (?:action|actions|proceedings|steps|department|team|counsel|advice)|lawsuits?|sue|suing|sued|courts?|small claims|class action|litigation|trading standards|ombudsman|consumer (?:protection|rights) (?:agency|authority|office|bureau)|better business bureau|bbb|ftc|gdpr (?:complaint|violation|breach)|data protection (?:authority|complaint)|report (?:you|this|your company) to (?:the )?(?:authorities|police|ftc|bbb|regulator)|police",
                r"prawni(?:k|c)\w*|adwokat\w*|radc\w* prawn\w*|pozew|pozwu|pozwem|pozwac|pozwe|pozwiemy|pozwie|pozwany\w*|sadu|sadzie|sadem|sadow\w*|uokik\w*|uodo|giodo|rzeczni\w* (?:praw )?konsument\w*|rzecznik\w* finansow\w*|kancelari\w*|komornik\w*|prokurat\w*|policj\w*|kroki prawne|krokow prawnych|konsekwencje prawne|europejskie centrum konsumenckie",
                r"(?:narusz|zlam|lam|skarg|zglos|zawiadom)\w* ~ rodo|rodo ~ (?:narusz|zlam|lam|skarg|zglos)\w*",
            ],
        )
        .skip_definitions(),
        Rule::new(
            Signal::Fraud,
            "reports fraud or account misuse",
            &[
                r"fraud\w*|scam\w*|con artists?|unauthori[sz]ed\w*|hack\w*|hijack\w*|compromised|stolen|stole|steal\w*|theft|phishing|someone (?:\S+ ){0,3}(?:used|accessed|logged into|logged in to|charged|took|changed) (?:my|me)|(?:did not|didnt|never) (?:make|authori[sz]e|approve) (?:this|these|that|those|the|any) (?:charges?|payments?|purchases?|transactions?)",
                r"oszust\w*|oszusc\w*|oszuk\w*|wyludz\w*|naciagacz\w*|kradziez\w*|ukradl\w*|ukradzion\w*|skradzion\w*|kradn\w*|zlodziej\w*|wlamal\w*|wlamani\w*|wlam|zhakowan\w*|shakowan\w*|hakowan\w*|haker\w*|nieautoryzowan\w*|nieuprawnion\w*|bez mojej (?:zgody|wiedzy)|nie zlecal\w*|nie autoryzowal\w*|fiszing\w*|podszyw\w*|wyciek\w* danych|(?:przejet|przejeci)\w* (?:mojego )?kont\w*|ktos (?:\S+ ){0,3}(?:zalogowal|uzyl|uzywa|wykorzystal|zamowil|zaplacil|zmienil haslo|przejal)\w*|falszyw\w* (?:sprzedawc|sklep|stron|ofert|ogloszen|link|sms|mail|wiadomosc)\w*",
            ],
        )
        .skip_definitions(),
        Rule::new(
            Signal::Abuse,
            "abusive language",
            &[
                r"fuck|fucks|fucked|fucker\w*|fuckoff|motherfuck\w*|stfu|gtfo|shit|shits|shitty|bullshit|asshole\w*|arsehole\w*|dumbass|jackass|bastards?|bitch\w*|cunt\w*|dickhead\w*|moron\w*|idiot\w*|imbecile\w*|retard\w*|wanker\w*|twats?|prick|piss off|screw you|go to hell|shut up|scumbag\w*",
                r"(?:stupid|dumb|useless|worthless|pathetic|brainless|idiotic) (?:bot|bots|robot|machine|program|ai|assistant|chatbot|computer|people|staff|clowns?)",
                r"(?:fucking|fuckin|damn|bloody|goddamn|shitty|crappy) (?:bot|bots|robot|machine|program|ai|chatbot|computer)",
                r"(?:you|u) (?:are|r|re)? ?(?:so |such |a |an |an absolute |completely |totally |fucking |bloody )?(?:stupid|dumb|useless|worthless|pathetic|moron|clown|incompetent|retarded)",
                r"(?:youre|ur) (?:\S+ )?(?:stupid|dumb|useless|moron|incompetent)",
                r"kurw\w*|skurw\w*|chuj\w*|huj\w*|jeban\w*|jebac|jebie\w*|jebn\w*|pojeb\w*|wyjeb\w*|odjeb\w*|zjeb\w*|spierd\w*|wypierd\w*|odpierd\w*|popierd\w*|zapierd\w*|napierd\w*|pierdol\w*|pierdal\w*|debil(?:e|a|u|em|i|ami|ow|om|ny|na|ne|izm)?|kretyn\w*|idioc\w*|imbecyl\w*|cwel\w*|frajer\w*|matol\w*|dziwk\w*|pizd\w*|gowno|gowna|gownian\w*|duren|durnie|durniu|spadaj|odwal sie|wal sie",
                r"(?:glup|tep|durn)\w* (?:bot\w*|maszyn\w*|program\w*|automat\w*|konsultant\w*|obslug\w*)",
                r"(?:jestes|jestescie) (?:\S+ )?(?:glup|tep|bezuzyteczn|idiot|debil|kretyn|beznadziejn|niekompetent)\w*",
            ],
        ),
        Rule::new(
            Signal::Urgent,
            "marks it urgent",
            &[
                r"urgent\w*|asap|immediately|right now|right away|as soon as possible|as quickly as possible|emergency|time sensitive|(?:today|tonight|now|quickly|fast|hurry) !|cant wait|need it (?:today|tomorrow|now)",
                r"piln(?:e|ie|y|a|ego|ej|ym|ych)|natychmiast\w*|niezwlocznie|jak najszybciej|jak najpredzej|jak najwczesniej|na juz|na wczoraj|asap|(?:dzis|dzisiaj|teraz|szybko) !|najpozniej (?:dzis|dzisiaj|jutro)|nie moge (?:dluzej )?czekac",
            ],
        ),
    ]
});

// ---------------------------------------------------------------------------------------------
// Sentiment

/// One lexicon entry: words (a trailing `*` makes a word a prefix) and its weight in `-1..=1`.
type Entry = (&'static str, f32);

const LEXICON: &[Entry] = &[
    // Polish, negative
    ("niezadowolon*", -0.7),
    ("rozczarowan*", -0.6),
    ("zawiedzion*", -0.6),
    ("fataln*", -0.8),
    ("okropn*", -0.8),
    ("beznadziejn*", -0.8),
    ("tragiczn*", -0.8),
    ("skandal*", -0.8),
    ("wsciek*", -0.9),
    ("wkurz*", -0.8),
    ("wkurw*", -0.9),
    ("zdenerwowan*", -0.6),
    ("denerwuj*", -0.5),
    ("zenad*", -0.8),
    ("zenuj*", -0.7),
    ("kpin*", -0.7),
    ("dramat*", -0.6),
    ("porazk*", -0.6),
    ("masakr*", -0.6),
    ("najgorsz*", -0.8),
    ("koszmar*", -0.7),
    ("oburz*", -0.7),
    ("frustr*", -0.5),
    ("nie do przyjecia", -0.8),
    ("niedopuszczaln*", -0.7),
    ("nieakceptowaln*", -0.7),
    ("bezczeln*", -0.7),
    ("wstyd*", -0.6),
    ("zalosn*", -0.7),
    ("chamsk*", -0.7),
    ("lekcewaz*", -0.6),
    ("olewa*", -0.6),
    ("oszust*", -0.7),
    ("zlodziej*", -0.8),
    ("nienawidz*", -0.8),
    ("nigdy wiecej", -0.7),
    ("mam dosc", -0.6),
    ("mam tego dosc", -0.7),
    ("kiepsk*", -0.5),
    ("niekompetent*", -0.6),
    ("kurw*", -0.7),
    ("chuj*", -0.7),
    ("pierdol*", -0.7),
    ("jeban*", -0.7),
    // English, negative
    ("unhappy", -0.6),
    ("disappoint*", -0.6),
    ("dissatisf*", -0.7),
    ("terrible", -0.8),
    ("terribly", -0.5),
    ("awful", -0.8),
    ("horrible", -0.8),
    ("angry", -0.7),
    ("furious", -0.9),
    ("livid", -0.9),
    ("ridiculous", -0.7),
    ("unacceptable", -0.8),
    ("outrage*", -0.8),
    ("disgust*", -0.8),
    ("disgrace*", -0.8),
    ("pathetic", -0.8),
    ("useless", -0.6),
    ("worst", -0.8),
    ("hate", -0.7),
    ("annoy*", -0.5),
    ("frustrat*", -0.6),
    ("upset", -0.6),
    ("scandal*", -0.8),
    ("fed up", -0.6),
    ("incompetent", -0.6),
    ("fuck", -0.7),
    ("fucked", -0.7),
    ("fucking", -0.4),
    ("shit", -0.6),
    ("crap*", -0.5),
    ("wtf", -0.6),
    ("damn", -0.3),
    ("bloody", -0.3),
    ("goddamn", -0.4),
    // Polish, positive
    ("dziekuj*", 0.6),
    ("dzieki", 0.6),
    ("super", 0.5),
    ("swietn*", 0.6),
    ("wspanial*", 0.7),
    ("doskonal*", 0.6),
    ("zadowolon*", 0.6),
    ("polecam", 0.6),
    ("fajn*", 0.4),
    ("pomocn*", 0.4),
    ("uprzejm*", 0.4),
    ("mily", 0.3),
    ("mila", 0.3),
    ("milo", 0.3),
    // English, positive
    ("thank*", 0.6),
    ("thx", 0.5),
    ("great", 0.5),
    ("excellent", 0.7),
    ("awesome", 0.6),
    ("amazing", 0.6),
    ("perfect", 0.6),
    ("wonderful", 0.7),
    ("love", 0.5),
    ("happy", 0.5),
    ("satisfied", 0.5),
    ("helpful", 0.4),
    ("appreciate*", 0.5),
    ("good", 0.3),
    ("nice", 0.3),
    ("pleased", 0.5),
];

const NEGATORS: &[&str] = &[
    "nie", "not", "no", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "never",
    "nigdy", "cant", "cannot", "wont", "aint",
];

const INTENSIFIERS: &[&str] = &[
    "bardzo",
    "naprawde",
    "totalnie",
    "kompletnie",
    "strasznie",
    "mega",
    "bardziej",
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "absolutely",
    "completely",
    "incredibly",
    "truly",
];

struct Hit {
    span: Span,
    weight: f32,
}

struct Tone {
    score: f32,
    /// Negative hits, most negative first.
    hits: Vec<Hit>,
}

fn entry_matches(words: &[Word], at: usize, entry: &str) -> Option<usize> {
    let mut n = 0;
    for part in entry.split(' ') {
        let w = &words.get(at + n)?.text;
        let ok = match part.strip_suffix('*') {
            Some(prefix) => w.starts_with(prefix),
            None => w == part,
        };
        if !ok {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// Lexicon score in `-1..=1`: weights summed, a preceding negation flips (and softens) a word,
/// an intensifier strengthens it, `!` and words in capitals strengthen the negative part.
fn sentiment(words: &Words) -> Tone {
    let ws = &words.words;
    let (mut neg, mut pos) = (0.0f32, 0.0f32);
    let mut hits = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let found = LEXICON
            .iter()
            .filter_map(|(e, w)| entry_matches(ws, i, e).map(|n| (n, *w)))
            .max_by_key(|(n, _)| *n);
        let Some((n, mut weight)) = found else {
            i += 1;
            continue;
        };
        let before = |k: usize| i.checked_sub(k).map(|j| ws[j].text.as_str());
        if [before(1), before(2)]
            .iter()
            .flatten()
            .any(|w| NEGATORS.contains(w))
        {
            weight = if weight > 0.0 {
                -0.8 * weight
            } else {
                -0.3 * weight
            };
        }
        if before(1).is_some_and(|w| INTENSIFIERS.contains(&w)) {
            weight *= 1.4;
        }
        if weight < 0.0 {
            neg -= weight;
            hits.push(Hit {
                span: Span::new(ws[i].start, ws[i + n - 1].end),
                weight,
            });
        } else {
            pos += weight;
        }
        i += n;
    }
    if neg > 0.0 {
        let caps = ws.iter().filter(|w| w.caps).count().min(3) as f32;
        let bangs = words.exclamations.min(4) as f32;
        neg *= 1.0 + 0.15 * bangs + 0.1 * caps;
    }
    let raw = (pos - neg) / 1.5;
    let score = if raw.is_finite() {
        raw.tanh().clamp(-1.0, 1.0)
    } else {
        0.0
    };
    hits.sort_by(|a, b| a.weight.total_cmp(&b.weight));
    Tone { score, hits }
}

// ---------------------------------------------------------------------------------------------
// Repeats

const STOPWORDS: &[&str] = &[
    // Polish
    "jak",
    "czy",
    "jest",
    "sie",
    "nie",
    "mam",
    "moje",
    "moja",
    "moj",
    "moja",
    "mnie",
    "dla",
    "ale",
    "tak",
    "jaki",
    "jaka",
    "jakie",
    "gdzie",
    "kiedy",
    "ile",
    "ten",
    "tej",
    "tego",
    "ktory",
    "ktora",
    "ktore",
    "oraz",
    "lub",
    "albo",
    "przez",
    "przy",
    "pod",
    "nad",
    "bez",
    "jestem",
    "byc",
    "mozna",
    "moge",
    "mozecie",
    "prosze",
    "dzien",
    "dobry",
    "witam",
    "czesc",
    "jeszcze",
    "juz",
    "tylko",
    "bardzo",
    "wam",
    "was",
    "nas",
    "mojego",
    "mojej",
    "mojemu",
    "moim",
    "swoje",
    "swoj",
    "chce",
    "chcialbym",
    "chcialabym",
    "jesli",
    "jezeli",
    "gdy",
    "aby",
    "zeby",
    "tam",
    "tutaj",
    "dlaczego",
    "czemu",
    "teraz",
    "dzieki",
    "dziekuje",
    "pan",
    "pani",
    "panstwo",
    // English
    "the",
    "and",
    "for",
    "you",
    "your",
    "can",
    "how",
    "what",
    "where",
    "when",
    "why",
    "which",
    "who",
    "this",
    "that",
    "with",
    "from",
    "have",
    "has",
    "had",
    "are",
    "was",
    "were",
    "will",
    "would",
    "could",
    "should",
    "not",
    "but",
    "please",
    "help",
    "want",
    "need",
    "there",
    "their",
    "they",
    "them",
    "its",
    "about",
    "into",
    "does",
    "did",
    "dont",
    "just",
    "still",
    "also",
    "hello",
    "thanks",
    "thank",
    "get",
    "any",
    "some",
    "all",
    "out",
    "our",
    "yes",
    "too",
    "very",
    "now",
    "then",
    "than",
    "been",
    "being",
    "like",
    "know",
    "more",
    "much",
    "may",
    "might",
    "must",
    "yet",
    "hey",
    "hi",
    "again",
    "cant",
    "wanna",
    "gonna",
];

/// Content words: folded, length ≥ 3, not a stopword, cut to 5 characters as a crude stem.
fn content_stems(words: &[Word]) -> std::collections::BTreeSet<String> {
    words
        .iter()
        .filter(|w| w.text.chars().count() >= 3 && !STOPWORDS.contains(&w.text.as_str()))
        .map(|w| w.text.chars().take(5).collect())
        .collect()
}

/// How many earlier customer turns ask the same question, and the first of them, if that
/// reaches `repeat_count`.
fn repeats<'h>(
    words: &Words,
    history: &'h [PastMessage],
    settings: &TriageSettings,
) -> Option<(usize, &'h str)> {
    let now = content_stems(&words.words);
    if now.len() < 2 {
        return None;
    }
    let mut count = 0;
    let mut first = None;
    for turn in history.iter().filter(|t| t.from_customer) {
        let then = content_stems(&Words::new(&turn.text).words);
        let shared = now.intersection(&then).count();
        let smaller = now.len().min(then.len());
        if smaller >= 2
            && shared >= 2
            && shared as f32 / smaller as f32 >= settings.repeat_similarity
        {
            count += 1;
            first.get_or_insert(turn.text.as_str());
        }
    }
    match first {
        Some(text) if count >= settings.repeat_count.max(1) => Some((count, text)),
        _ => None,
    }
}

fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(message: &str) -> Triage {
        run_with(message, &TriageSettings::default())
    }

    fn run_with(message: &str, settings: &TriageSettings) -> Triage {
        triage(
            &TriageInput {
                message,
                history: &[],
                lang_hint: None,
            },
            settings,
        )
    }

    fn fired(message: &str) -> Vec<Signal> {
        run(message).signals.iter().map(|f| f.signal).collect()
    }

    fn assert_fires(signal: Signal, messages: &[&str]) {
        for m in messages {
            let t = run(m);
            assert!(
                t.signals.iter().any(|f| f.signal == signal),
                "{signal} should fire on {m:?}; got {:?}",
                t.signals
            );
        }
    }

    fn assert_not_fires(signal: Signal, messages: &[&str]) {
        for m in messages {
            let t = run(m);
            assert!(
                !t.signals.iter().any(|f| f.signal == signal),
                "{signal} should not fire on {m:?}; got {:?}",
                t.signals
            );
        }
    }

    /// The phrase a signal's span points at.
    fn phrase(message: &str, signal: Signal) -> String {
        let t = run(message);
        let f = t
            .signals
            .iter()
            .find(|f| f.signal == signal)
            .expect("signal fired");
        f.span.expect("span").slice(message)
    }

    #[test]
    fn human_request_polish() {
        assert_fires(
            Signal::HumanRequest,
            &[
                "Chcę rozmawiać z człowiekiem",
                "chce rozmawiac z czlowiekiem",
                "Chcę rozmawiać z konsultantem!",
                "chce porozmawiac z konsulatntem",
                "czy moge rozmawiac z czlowekiem",
                "Proszę połączyć mnie z konsultantem",
                "Połącz mnie z konsultantem",
                "polacz mnie z obsluga",
                "Poproszę konsultanta",
                "poprosze konsultanta",
                "Nie chcę rozmawiać z botem",
                "nie chce gadac z botem",
                "Czy mogę porozmawiać z kimś z obsługi?",
                "Chciałbym porozmawiać z żywą osobą",
                "daj mi prawdziwego człowieka",
                "Chcę rozmawiać z pracownikiem sklepu",
                "Czy ktoś może się ze mną skontaktować?",
                "Jak skontaktować się z konsultantem?",
                "halo, jest tam ktoś?",
                "czy jest ktoś żywy?",
                "Proszę o telefon od konsultanta, mój numer to 600 100 200",
                "poprosze o oddzwonienie",
                "Zadzwońcie do mnie w tej sprawie",
            ],
        );
    }

    #[test]
    fn human_request_english() {
        assert_fires(
            Signal::HumanRequest,
            &[
                "I want to talk to a person",
                "Can I speak to a human please?",
                "let me talk to an agent",
                "I need a real person",
                "human agent please",
                "Connect me to an agent",
                "I don't want a bot",
                "i dont want to talk to a bot",
                "Can I speak with a customer service representative?",
                "I want to speak to someone",
                "get me a manager",
                "i need to talk to somone",
                "could you transfer me to a live agent",
                "I want a human, not a bot",
                "is anyone there?",
                "I want to talk with a representitive",
                "Please call me back on 600 100 200",
                "I'd like a callback about my order",
            ],
        );
    }

    #[test]
    fn informational_questions_do_not_hand_off() {
        for m in [
            "Jak złożyć reklamację?",
            "jak zlozyc reklamacje",
            "Ile dni mam na zwrot?",
            "Jakie są formy płatności?",
            "Jak skontaktować się z obsługą?",
            "Jak skontaktować się z obsługą klienta?",
            "Ile kosztuje dostawa kurierem?",
            "Czy mój pracownik może prowadzić konto firmowe?",
            "Jak dodać pracownika do konta firmowego?",
            "How do I return an item?",
            "Can I change my delivery address?",
            "How can I contact customer service?",
            "What are your customer support hours?",
            "Where is my order 12345?",
            "Kiedy dostanę zwrot pieniędzy?",
            "Czym jest phishing?",
            "Czy mogę zwrócić zakupione czasopisma?",
            "I'd like to change my shipping address, thanks!",
            "Dzień dobry, czy paczka przyjdzie jutro?",
            "I'm not sure the bot understood me, where is my invoice?",
            "Nie działa mi robot kuchenny, co zrobić?",
            "Jak połączyć pracownika z kontem?",
            "I want to talk to customer service",
            "Can someone tell me where my order is?",
            "Do której mogę do was dzwonić w sobotę?",
            "Czy kurier zadzwoni przed dostawą?",
            "Jaki jest wasz numer telefonu?",
            "Can I call you on Saturday?",
            "Will the courier call me before delivery?",
        ] {
            let t = run(m);
            assert!(!t.handoff, "{m:?} must not hand off; got {:?}", t.signals);
            assert!(t.sentiment.abs() < 0.5, "{m:?}: sentiment {}", t.sentiment);
        }
    }

    #[test]
    fn complaint() {
        assert_fires(
            Signal::Complaint,
            &[
                "Chcę złożyć skargę",
                "chce zlozyc skarge na obsluge",
                "Jestem bardzo niezadowolony",
                "jestem niezadowolona z zamówienia",
                "To skandal",
                "żenada",
                "Fatalna obsługa",
                "obsługa jest fatalna",
                "Nikt mi nie odpowiada",
                "Już trzeci raz piszę w tej sprawie",
                "Mam dość",
                "nie jestem zadowolony z obslugi",
                "I want to file a complaint",
                "How can I lodge a complaint?",
                "This is unacceptable",
                "terrible service",
                "I'm very disappointed",
                "I am unhappy with your service",
                "worst shop ever",
                "no one answers my emails",
                "this is the third time I write to you",
            ],
        );
        assert_not_fires(
            Signal::Complaint,
            &[
                "Jak złożyć reklamację?",
                "Ile kosztuje reklamacja?",
                "No complaints, thank you!",
                "How do I return an item?",
                "Which address do I use for a complaint and which for an order question?",
                "What's the difference between a warranty and a complaint to the seller?",
            ],
        );
    }

    #[test]
    fn legal() {
        assert_fires(
            Signal::Legal,
            &[
                "Zgłoszę sprawę do prawnika",
                "podam was do sądu",
                "Złożę pozew",
                "Zgłoszę to do UOKiK",
                "napiszę do rzecznika konsumentów",
                "rzecznik praw konsumenta o tym usłyszy",
                "moja kancelaria się z wami skontaktuje",
                "naruszyliście RODO",
                "I will contact my lawyer",
                "I'm going to sue you",
                "we will take legal action",
                "see you in court",
                "my attorney will be in touch",
            ],
        );
        assert_not_fires(
            Signal::Legal,
            &[
                "Jakie dane przetwarzacie zgodnie z RODO?",
                "I'm sad my parcel is late",
                "prawnie",
            ],
        );
    }

    #[test]
    fn fraud() {
        assert_fires(
            Signal::Fraud,
            &[
                "To oszustwo!",
                "jesteście oszuści",
                "to jest wyłudzenie",
                "Ktoś włamał się na moje konto",
                "ktos wlamal sie na moje konto",
                "nieautoryzowana transakcja na mojej karcie",
                "Nieautoryzowana płatność",
                "kradzież karty",
                "This is fraud",
                "it's a scam",
                "there is an unauthorized charge on my card",
                "my account was hacked",
                "my card was stolen",
            ],
        );
        assert_not_fires(Signal::Fraud, &["Czym jest phishing?", "What is a scam?"]);
    }

    #[test]
    fn abuse() {
        assert_fires(
            Signal::Abuse,
            &[
                "kurwa gdzie moja paczka",
                "ty chuju",
                "jesteś debilem",
                "ty idioto",
                "spierdalaj",
                "kretyni",
                "co za pierdolony sklep",
                "głupi bot",
                "fuck you",
                "fuck off",
                "you idiot",
                "stupid bot",
                "this is shit",
                "you are useless",
                "you moron",
            ],
        );
        assert_not_fires(
            Signal::Abuse,
            &[
                "Do you sell shitake mushrooms?",
                "shiitake",
                "I need to cancel my damn order",
                "debilitating back pain cushion",
                "zajebisty produkt",
                "Jak się zalogować?",
            ],
        );
    }

    #[test]
    fn urgent_is_only_a_flag() {
        assert_fires(
            Signal::Urgent,
            &[
                "Pilne: gdzie jest moja paczka",
                "potrzebuję tego natychmiast",
                "prosze o odpowiedz jak najszybciej",
                "need this asap",
                "This is urgent",
                "please reply immediately",
                "I need it today!",
            ],
        );
        let t = run("Pilne! Gdzie jest moja paczka?");
        assert!(t.signals.iter().any(|f| f.signal == Signal::Urgent));
        assert!(
            !t.handoff,
            "urgent alone is no handoff: {:?}",
            t.handoff_signals
        );
    }

    #[test]
    fn negative_sentiment() {
        let t = run("To jest skandal!!! Fatalna obsługa, jestem wściekły");
        assert!(t.sentiment <= -0.6, "{}", t.sentiment);
        assert!(t
            .signals
            .iter()
            .any(|f| f.signal == Signal::NegativeSentiment));
        assert!(t.handoff);
        let t = run("to okropne i beznadziejne, jestem wsciekly!");
        assert!(
            t.signals
                .iter()
                .any(|f| f.signal == Signal::NegativeSentiment),
            "{t:?}"
        );
        let t = run("This is AWFUL, I'm furious!!");
        assert!(
            t.signals
                .iter()
                .any(|f| f.signal == Signal::NegativeSentiment),
            "{t:?}"
        );

        let t = run("Ile kosztuje dostawa kurierem?");
        assert!(t.sentiment.abs() < 0.05, "{}", t.sentiment);
        assert!(t.signals.is_empty());
        assert!(run("Dziękuję, super obsługa!").sentiment > 0.3);
        assert!(run("Thanks, great help").sentiment > 0.3);
        assert!(run("nie jestem zadowolony").sentiment < 0.0);
        assert!(run("not helpful").sentiment < 0.0);
    }

    #[test]
    fn negative_sentiment_threshold_follows_settings() {
        let message = "jestem bardzo niezadowolony";
        let sentiment = run(message).sentiment;
        assert!(sentiment < -0.2);
        let strict = TriageSettings {
            negative_sentiment: 0.2,
            ..TriageSettings::default()
        };
        let t = run_with(message, &strict);
        assert!(t
            .signals
            .iter()
            .any(|f| f.signal == Signal::NegativeSentiment));
        let lax = TriageSettings {
            negative_sentiment: 1.0,
            ..TriageSettings::default()
        };
        let t = run_with(message, &lax);
        assert!(!t
            .signals
            .iter()
            .any(|f| f.signal == Signal::NegativeSentiment));
    }

    fn customer(text: &str) -> PastMessage {
        PastMessage {
            text: text.to_string(),
            from_customer: true,
        }
    }

    fn shop(text: &str) -> PastMessage {
        PastMessage {
            text: text.to_string(),
            from_customer: false,
        }
    }

    #[test]
    fn repeated_question() {
        let history = vec![
            customer("Gdzie jest moja paczka z zamówienia 12345?"),
            shop("Paczka jest w drodze, zamówienie 12345 dotrze jutro."),
        ];
        let input = TriageInput {
            message: "gdzie jest paczka zamowienie 12345",
            history: &history,
            lang_hint: None,
        };
        let t = triage(&input, &TriageSettings::default());
        let f = t
            .signals
            .iter()
            .find(|f| f.signal == Signal::Repeated)
            .expect("repeated");
        assert_eq!(f.rule, "repeated");
        assert!(
            f.evidence.contains("Gdzie jest moja paczka"),
            "{}",
            f.evidence
        );
        assert!(t.handoff);

        // Whether `message` after `history` counts as repeated under `settings`.
        let repeats = |message: &str, history: &[PastMessage], settings: &TriageSettings| {
            triage(
                &TriageInput {
                    message,
                    history,
                    lang_hint: None,
                },
                settings,
            )
            .signals
            .iter()
            .any(|f| f.signal == Signal::Repeated)
        };
        let default = TriageSettings::default();
        // Twice needed: only one earlier ask.
        let twice = TriageSettings {
            repeat_count: 2,
            ..TriageSettings::default()
        };
        assert!(!repeats(input.message, &history, &twice));
        let history3 = vec![history[0].clone(), history[1].clone(), history[0].clone()];
        assert!(repeats(input.message, &history3, &twice));

        // The shop's own words do not count; a different question does not count.
        let only_shop = [shop("Gdzie jest moja paczka z zamówienia 12345?")];
        assert!(!repeats(input.message, &only_shop, &default));
        let other = [customer("Jakie są formy płatności?")];
        assert!(!repeats(input.message, &other, &default));

        // English, reworded.
        let history = [customer(
            "How can I change the delivery address for my order?",
        )];
        assert!(repeats(
            "how do I change delivery address on my order??",
            &history,
            &default
        ));
    }

    #[test]
    fn spans_point_at_the_matched_phrase() {
        assert_eq!(
            phrase(
                "Dzień dobry, chcę porozmawiać z konsultantem.",
                Signal::HumanRequest
            ),
            "porozmawiać z konsultantem"
        );
        assert_eq!(
            phrase("Dzień dobry, to skandal!", Signal::Complaint),
            "skandal"
        );
        assert_eq!(
            phrase("Hi, can I talk to a real person?", Signal::HumanRequest),
            "talk to a real person"
        );
        assert_eq!(phrase("Zgłoszę to do UOKiK.", Signal::Legal), "UOKiK");
        assert_eq!(phrase("Żółć! ty kretynie", Signal::Abuse), "kretynie");
        assert_eq!(phrase("I'd say this is fraud", Signal::Fraud), "fraud");
        let m = "Paczka nie doszła. PILNE!";
        assert_eq!(phrase(m, Signal::Urgent), "PILNE");
        let t = run("Chcę złożyć skargę, nikt mi nie odpowiada");
        let f = t
            .signals
            .iter()
            .find(|f| f.signal == Signal::Complaint)
            .expect("complaint");
        assert_eq!(f.evidence, "complains: «skargę»");
        assert_eq!(f.rule, "complaint");
        let t = run("chce rozmawiac z konsultantem");
        assert_eq!(
            t.signals[0].evidence,
            "asks for a person: «rozmawiac z konsultantem»"
        );
    }

    #[test]
    fn settings_choose_which_signals_hand_off() {
        let message = "To oszustwo, chcę rozmawiać z konsultantem, pilne!";
        let settings = TriageSettings {
            handoff_on: vec![Signal::Fraud],
            ..TriageSettings::default()
        };
        let t = run_with(message, &settings);
        let all: Vec<Signal> = t.signals.iter().map(|f| f.signal).collect();
        assert_eq!(
            all,
            vec![Signal::HumanRequest, Signal::Fraud, Signal::Urgent]
        );
        let handing: Vec<Signal> = t.handoff_signals.iter().map(|f| f.signal).collect();
        assert_eq!(handing, vec![Signal::Fraud]);
        assert!(t.handoff);

        let none = TriageSettings {
            handoff_on: vec![],
            ..TriageSettings::default()
        };
        let t = run_with(message, &none);
        assert_eq!(t.signals.len(), 3);
        assert!(t.handoff_signals.is_empty());
        assert!(!t.handoff);
    }

    #[test]
    fn each_signal_once() {
        let t = run("chce rozmawiac z konsultantem, chce rozmawiac z czlowiekiem, kurwa, chuj");
        let mut seen = t.signals.iter().map(|f| f.signal).collect::<Vec<_>>();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n);
        assert_eq!(
            fired("kurwa chuj")
                .iter()
                .filter(|s| **s == Signal::Abuse)
                .count(),
            1
        );
    }

    #[test]
    fn language() {
        assert_eq!(run("Gdzie jest moja paczka?").lang, Lang::Pl);
        assert_eq!(run("Where is my parcel?").lang, Lang::En);
        assert_eq!(run("???").lang, Lang::Pl);
        let t = triage(
            &TriageInput {
                message: "Gdzie jest moja paczka?",
                history: &[],
                lang_hint: Some(Lang::En),
            },
            &TriageSettings::default(),
        );
        assert_eq!(t.lang, Lang::En);
    }

    #[test]
    fn settings_defaults_validation_and_serde() {
        let d = TriageSettings::default();
        assert!(d.validate().is_ok());
        assert!(!d.handoff_on.contains(&Signal::Urgent));
        assert_eq!(d.handoff_on.len(), 7);
        assert!(TriageSettings {
            negative_sentiment: 1.5,
            ..d.clone()
        }
        .validate()
        .is_err());
        assert!(TriageSettings {
            negative_sentiment: f32::NAN,
            ..d.clone()
        }
        .validate()
        .is_err());
        assert!(TriageSettings {
            repeat_similarity: -0.1,
            ..d.clone()
        }
        .validate()
        .is_err());
        assert!(TriageSettings {
            repeat_count: 0,
            ..d.clone()
        }
        .validate()
        .is_err());

        let json = serde_json::to_string(&d).expect("serialise");
        assert!(json.contains("\"human_request\"") && json.contains("\"negative_sentiment\""));
        let back: TriageSettings = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, d);
        let partial: TriageSettings =
            serde_json::from_str(r#"{"handoff_on": ["legal", "urgent"]}"#).expect("partial");
        assert_eq!(partial.handoff_on, vec![Signal::Legal, Signal::Urgent]);
        assert_eq!(partial.repeat_count, 1);
        for s in Signal::ALL {
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
    }

    #[test]
    fn typo_correction() {
        assert_eq!(correct_typo("konsulatntem".into()), "konsultantem");
        assert_eq!(correct_typo("czlowekiem".into()), "czlowiekiem");
        assert_eq!(correct_typo("somneone".into()), "someone");
        assert_eq!(correct_typo("assistance".into()), "assistance");
        assert_eq!(correct_typo("assistanec".into()), "assistanec");
        assert_eq!(correct_typo("prawnie".into()), "prawnie");
        assert!(osa_within_one(&['a', 'b'], &['b', 'a']));
        assert!(!osa_within_one(&['a', 'b', 'c'], &['c', 'b', 'a']));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_sentiment_in_range(
            message in "\\PC{0,200}",
            earlier in proptest::collection::vec(("\\PC{0,80}", proptest::bool::ANY), 0..4),
        ) {
            let history: Vec<PastMessage> =
                earlier.into_iter().map(|(text, from_customer)| PastMessage { text, from_customer }).collect();
            let t = triage(
                &TriageInput { message: &message, history: &history, lang_hint: None },
                &TriageSettings::default(),
            );
            proptest::prop_assert!((-1.0..=1.0).contains(&t.sentiment));
            proptest::prop_assert_eq!(t.handoff, !t.handoff_signals.is_empty());
            let n = message.chars().count();
            for f in &t.signals {
                if let Some(s) = f.span {
                    proptest::prop_assert!(s.start < s.end && s.end <= n);
                }
            }
        }

        #[test]
        fn never_panics_on_word_soup(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "nie", "chce", "z", "botem", "!", "kurwa", "talk", "to", "a", "person", "ŻÓŁW",
                    "skarga", "sąd", "not", "happy", "!!!", "'", "don't", "konsulatnt", "",
                ]),
                0..30,
            )
        ) {
            let message = words.join(" ");
            let t = triage(
                &TriageInput { message: &message, history: &[], lang_hint: None },
                &TriageSettings::default(),
            );
            proptest::prop_assert!((-1.0..=1.0).contains(&t.sentiment));
        }
    }

    fn dataset(path: &str) -> Vec<serde_json::Value> {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let text = fs_err::read_to_string(&full)
            .unwrap_or_else(|e| panic!("dataset {} is required: {e}", full.display()));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    fn question(v: &serde_json::Value) -> &str {
        v["question"].as_str().expect("a question field")
    }

    #[test]
    fn allegro_faq_questions_rarely_hand_off() {
        let rows = dataset("../shared/datasets/allegro_faq_pl/queries_test-A.jsonl");
        assert!(
            rows.len() >= 300,
            "expected ~400 questions, got {}",
            rows.len()
        );
        let mut offending = Vec::new();
        for row in &rows {
            let t = run(question(row));
            if t.handoff {
                offending.push(format!("{} <- {:?}", question(row), t.handoff_signals));
            }
        }
        let rate = offending.len() as f64 / rows.len() as f64;
        eprintln!(
            "allegro_faq_pl: handoff rate {rate:.4} ({}/{})",
            offending.len(),
            rows.len()
        );
        for o in &offending {
            eprintln!("  handoff: {o}");
        }
        assert!(rate <= 0.03, "handoff rate {rate:.4} > 0.03");
    }

    #[test]
    fn bitext_human_agent_recall_and_false_handoffs() {
        let rows = dataset("../shared/datasets/bitext_cs_en/queries.jsonl");
        assert!(
            rows.len() >= 6000,
            "expected 6480 questions, got {}",
            rows.len()
        );
        let (mut human, mut human_hit) = (0usize, 0usize);
        let (mut predicted, mut predicted_right) = (0usize, 0usize);
        let (mut other, mut other_handoff) = (0usize, 0usize);
        let mut missed = Vec::new();
        let mut false_handoffs = Vec::new();
        for row in &rows {
            let q = question(row);
            let intent = row["relevant_ids"][0].as_str().expect("an intent");
            let t = run(q);
            let asks = t.signals.iter().any(|f| f.signal == Signal::HumanRequest);
            if asks {
                predicted += 1;
            }
            match intent {
                "contact_human_agent" => {
                    human += 1;
                    if asks {
                        human_hit += 1;
                        predicted_right += 1;
                    } else {
                        missed.push(q.to_string());
                    }
                }
                "complaint" => {}
                _ => {
                    other += 1;
                    if t.handoff {
                        other_handoff += 1;
                        false_handoffs.push(format!("[{intent}] {q} <- {:?}", t.handoff_signals));
                    }
                }
            }
        }
        let recall = human_hit as f64 / human as f64;
        let precision = predicted_right as f64 / predicted.max(1) as f64;
        let false_rate = other_handoff as f64 / other as f64;
        eprintln!(
            "bitext: human_request recall {recall:.4} ({human_hit}/{human}), precision {precision:.4} ({predicted_right}/{predicted}); handoff on other intents {false_rate:.4} ({other_handoff}/{other})"
        );
        for m in missed.iter().take(60) {
            eprintln!("  missed: {m}");
        }
        for f in false_handoffs.iter().take(60) {
            eprintln!("  false handoff: {f}");
        }
        assert!(recall >= 0.85, "recall {recall:.4} < 0.85");
        assert!(
            false_rate <= 0.05,
            "false handoff rate {false_rate:.4} > 0.05"
        );
    }
}
