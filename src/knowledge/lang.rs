//! Languages Concord serves (Polish, English) and a small rule-based detector for text that does
//! not say its language (JSONL imports, later customer messages).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Pl,
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Pl => "pl",
            Lang::En => "en",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pl" | "pol" | "polish" | "pl-pl" => Ok(Lang::Pl),
            "en" | "eng" | "english" | "en-gb" | "en-us" => Ok(Lang::En),
            other => Err(format!("unsupported language `{other}` (pl or en)")),
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Frequent short words that tell the languages apart, also when typed without diacritics.
const PL_WORDS: &[&str] = &[
    "i",
    "w",
    "z",
    "na",
    "nie",
    "do",
    "sie",
    "się",
    "jak",
    "czy",
    "jest",
    "to",
    "co",
    "mam",
    "moje",
    "moja",
    "mogę",
    "moge",
    "że",
    "ze",
    "po",
    "od",
    "za",
    "dla",
    "jaki",
    "jaka",
    "ile",
    "kiedy",
    "gdzie",
    "zamówienie",
    "zamowienie",
    "przesyłka",
    "przesylka",
    "dostawa",
    "zwrot",
    "chcę",
    "chce",
    "prosze",
    "proszę",
    "oraz",
    "lub",
    "jeśli",
    "jesli",
    "tak",
    "już",
    "juz",
    "można",
    "mozna",
    "dzień",
    "dni",
    "zł",
    "kto",
    "przy",
    "przez",
    "który",
    "ktory",
    "która",
    "ktora",
    "jakie",
    "dlaczego",
    "czemu",
    "macie",
    "możecie",
    "mozecie",
    "paczka",
    "paczkę",
    "paczke",
    "towar",
    "sklep",
    "zwrocie",
    "zwrocic",
    "zwrócić",
];
const EN_WORDS: &[&str] = &[
    "the", "a", "an", "and", "is", "are", "to", "of", "in", "my", "i", "you", "your", "how", "can",
    "do", "does", "what", "when", "where", "it", "for", "with", "order", "delivery", "return",
    "want", "please", "if", "not", "be", "have", "has", "will", "days", "this", "that", "get",
];

/// Guesses Polish or English. Polish diacritics weigh heavily; otherwise common words decide;
/// a tie (or no evidence) gives `fallback`.
pub fn detect_lang(text: &str, fallback: Lang) -> Lang {
    let mut pl = 0.0f32;
    let mut en = 0.0f32;
    for c in text.chars() {
        if "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".contains(c) {
            pl += 1.5;
        }
    }
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = word.to_lowercase();
        if PL_WORDS.contains(&w.as_str()) {
            pl += 1.0;
        }
        if EN_WORDS.contains(&w.as_str()) {
            en += 1.0;
        }
    }
    if pl > en {
        Lang::Pl
    } else if en > pl {
        Lang::En
    } else {
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_polish_and_english_including_missing_diacritics() {
        for (text, want) in [
            ("Jak mogę zwrócić zamówienie?", Lang::Pl),
            ("jak moge zwrocic zamowienie", Lang::Pl),
            ("Kto odbiera meble ogrodowe przy zwrocie?", Lang::Pl),
            ("ile kosztuje dostawa do paczkomatu", Lang::Pl),
            ("Gdzie jest moja paczka?", Lang::Pl),
            ("How can I return my order?", Lang::En),
            ("where is my parcel", Lang::En),
            ("I want to talk to a person", Lang::En),
        ] {
            assert_eq!(detect_lang(text, Lang::En), want, "{text}");
        }
    }

    #[test]
    fn no_evidence_gives_the_fallback() {
        assert_eq!(detect_lang("12345 ???", Lang::Pl), Lang::Pl);
        assert_eq!(detect_lang("", Lang::En), Lang::En);
    }

    #[test]
    fn parses_language_names() {
        assert_eq!("PL".parse::<Lang>(), Ok(Lang::Pl));
        assert_eq!("en-GB".parse::<Lang>(), Ok(Lang::En));
        assert!("de".parse::<Lang>().is_err());
    }
}
