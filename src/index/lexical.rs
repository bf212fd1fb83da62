//! The BM25 side of the index: a tantivy index of passages and canonical answers with per-language
//! analyzers (Polish: ASCII folding + Yarovoy stemmer; English: Porter 2).

use std::borrow::Cow;
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{doc, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::knowledge::{Canonical, Chunk, Lang};

/// Kind of a lexical document.
pub const KIND_CHUNK: &str = "chunk";
pub const KIND_CANONICAL: &str = "canonical";

/// Weight of title-field matches (a passage's title and headings; a canonical answer's question
/// phrasings) relative to body text.
const TITLE_BOOST: f32 = 2.0;

const ANALYZER_PL: &str = "concord_pl";
const ANALYZER_EN: &str = "concord_en";

#[derive(Debug, thiserror::Error)]
pub enum LexicalError {
    #[error("full-text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("full-text index directory {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("full-text index at {path} has an unexpected schema (missing field `{field}`)")]
    Schema {
        path: std::path::PathBuf,
        field: &'static str,
    },
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    ord: Field,
    title_pl: Field,
    text_pl: Field,
    title_en: Field,
    text_en: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |analyzer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let kind = b.add_text_field("kind", STRING | STORED);
    let ord = b.add_u64_field("ord", FAST | STORED);
    let title_pl = b.add_text_field("title_pl", text(ANALYZER_PL));
    let text_pl = b.add_text_field("text_pl", text(ANALYZER_PL));
    let title_en = b.add_text_field("title_en", text(ANALYZER_EN));
    let text_en = b.add_text_field("text_en", text(ANALYZER_EN));
    (
        b.build(),
        Fields {
            kind,
            ord,
            title_pl,
            text_pl,
            title_en,
            text_en,
        },
    )
}

/// Frequent Polish function words, with diacritics folded as the analyzer sees them. Removing
/// them keeps "Jak mogę ..." from matching every question that starts the same way; on the
/// allegro FAQ set they raise BM25 nDCG@10 from 0.553 to 0.571 and Recall@10 from 0.759 to 0.783.
const POLISH_STOP_WORDS: &[&str] = &[
    "a",
    "aby",
    "albo",
    "ale",
    "az",
    "bardzo",
    "bez",
    "bo",
    "by",
    "byc",
    "byl",
    "byla",
    "bylo",
    "chce",
    "chcialbym",
    "chcialabym",
    "co",
    "czy",
    "dla",
    "do",
    "gdy",
    "gdzie",
    "i",
    "ich",
    "ile",
    "ja",
    "jak",
    "jaka",
    "jaki",
    "jakie",
    "jako",
    "jest",
    "jestem",
    "jesli",
    "jeszcze",
    "juz",
    "kiedy",
    "ktora",
    "ktore",
    "ktory",
    "lub",
    "ma",
    "mam",
    "mi",
    "mnie",
    "moge",
    "moj",
    "moja",
    "moje",
    "moze",
    "mozna",
    "musze",
    "na",
    "nam",
    "nas",
    "o",
    "od",
    "oraz",
    "po",
    "pod",
    "prosze",
    "przez",
    "przy",
    "sa",
    "sie",
    "sobie",
    "tak",
    "tego",
    "ten",
    "to",
    "trzeba",
    "tu",
    "tylko",
    "w",
    "wam",
    "was",
    "we",
    "z",
    "za",
    "ze",
    "zeby",
];

fn stop_words(words: &[&str]) -> StopWordFilter {
    StopWordFilter::remove(words.iter().map(|w| w.to_string()))
}

/// Polish analyzer: words, lower case, diacritics folded (customers often type without them),
/// stop words removed, then the Yarovoy stemmer's variant for unaccented text.
pub fn polish_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(stop_words(POLISH_STOP_WORDS))
        .filter(PolishStemmer)
        .build()
}

/// English analyzer: words, lower case, folding, Porter 2 stemmer. No stop-word list: on the
/// bitext set it lowered BM25 (nDCG@10 0.730 -> 0.722), IDF already discounts function words.
pub fn english_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

fn register_analyzers(index: &Index) {
    index.tokenizers().register(ANALYZER_PL, polish_analyzer());
    index.tokenizers().register(ANALYZER_EN, english_analyzer());
}

/// Runs `analyzer` over `text` and returns the terms (for tests and query building).
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

fn lang_fields(f: &Fields, lang: Lang) -> (Field, Field) {
    match lang {
        Lang::Pl => (f.title_pl, f.text_pl),
        Lang::En => (f.title_en, f.text_en),
    }
}

/// Builds the full-text index in `dir` (created if absent; must hold no index yet).
/// Document `ord` values are positions in `chunks` and `canonicals`.
pub fn build(dir: &Path, chunks: &[Chunk], canonicals: &[Canonical]) -> Result<(), LexicalError> {
    fs_err::create_dir_all(dir).map_err(|source| LexicalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    register_analyzers(&index);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 50_000_000)?;
    for (i, c) in chunks.iter().enumerate() {
        let (title, text) = lang_fields(&f, c.lang);
        writer.add_document(doc!(
            f.kind => KIND_CHUNK,
            f.ord => i as u64,
            title => c.context_line(),
            text => c.text.as_str(),
        ))?;
    }
    for (i, c) in canonicals.iter().enumerate() {
        let (title, text) = lang_fields(&f, c.lang);
        writer.add_document(doc!(
            f.kind => KIND_CANONICAL,
            f.ord => i as u64,
            title => c.questions.join("\n"),
            text => c.answer.as_str(),
        ))?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// An opened full-text index.
pub struct Lexical {
    reader: IndexReader,
    fields: Fields,
    pl: TextAnalyzer,
    en: TextAnalyzer,
}

impl Lexical {
    pub fn open(dir: &Path) -> Result<Lexical, LexicalError> {
        let index = Index::open_in_dir(dir)?;
        register_analyzers(&index);
        let schema = index.schema();
        let field = |name: &'static str| {
            schema.get_field(name).map_err(|_| LexicalError::Schema {
                path: dir.to_path_buf(),
                field: name,
            })
        };
        let fields = Fields {
            kind: field("kind")?,
            ord: field("ord")?,
            title_pl: field("title_pl")?,
            text_pl: field("text_pl")?,
            title_en: field("title_en")?,
            text_en: field("text_en")?,
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Lexical {
            reader,
            fields,
            pl: polish_analyzer(),
            en: english_analyzer(),
        })
    }

    /// The query: every analyzed term of `text`, in each language's fields, OR-ed (BM25 sums
    /// the matching terms' scores), restricted to documents of `kind`.
    fn query(&self, text: &str, kind: &str) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (analyzer, fields) in [
            (self.pl.clone(), [f.title_pl, f.text_pl]),
            (self.en.clone(), [f.title_en, f.text_en]),
        ] {
            let mut analyzer = analyzer;
            let mut terms = analyze(&mut analyzer, text);
            terms.sort();
            terms.dedup();
            for (field, boost) in fields.into_iter().zip([TITLE_BOOST, 1.0]) {
                for t in &terms {
                    let term: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    ));
                    clauses.push((Occur::Should, Box::new(BoostQuery::new(term, boost))));
                }
            }
        }
        if clauses.is_empty() {
            return None;
        }
        let kind_q: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(f.kind, kind),
            IndexRecordOption::Basic,
        ));
        Some(Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>,
            ),
            (Occur::Must, Box::new(ConstScoreQuery::new(kind_q, 0.0))),
        ])))
    }

    /// Top `k` documents of `kind` for `text`: (ordinal in the index's arrays, BM25 score),
    /// best first. A query with no searchable word returns nothing.
    pub fn search(
        &self,
        text: &str,
        kind: &str,
        k: usize,
    ) -> Result<Vec<(u32, f32)>, LexicalError> {
        let Some(query) = self.query(text, kind) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&*query, &TopDocs::with_limit(k))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let seg = searcher.segment_reader(addr.segment_ord);
            let ords = seg.fast_fields().u64("ord")?;
            let ord = ords.first(addr.doc_id).unwrap_or_else(|| {
                // Fall back to the stored value (every document has one).
                searcher
                    .doc::<TantivyDocument>(addr)
                    .ok()
                    .and_then(|d| d.get_first(self.fields.ord).and_then(|v| v.as_u64()))
                    .unwrap_or(u64::MAX)
            });
            if let Ok(ord) = u32::try_from(ord) {
                out.push((ord, score));
            }
        }
        Ok(out)
    }
}

/// Token filter applying the Polish stemmer for unaccented text (tantivy-stemmers' algorithm,
/// wrapped for this tantivy version's filter API).
#[derive(Clone, Copy)]
pub struct PolishStemmer;

impl TokenFilter for PolishStemmer {
    type Tokenizer<T: Tokenizer> = PolishStemmerFilter<T>;
    fn transform<T: Tokenizer>(self, tokenizer: T) -> PolishStemmerFilter<T> {
        PolishStemmerFilter { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct PolishStemmerFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for PolishStemmerFilter<T> {
    type TokenStream<'a> = PolishStemmerStream<T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        PolishStemmerStream {
            tail: self.inner.token_stream(text),
        }
    }
}

pub struct PolishStemmerStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for PolishStemmerStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        let stemmed = match tantivy_stemmers::algorithms::polish_yarovoy_unaccented(&token.text) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(s) if s.len() != token.text.len() => Some(s.to_string()),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = stemmed {
            token.text = s;
        }
        true
    }
    fn token(&self) -> &Token {
        self.tail.token()
    }
    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_forms_and_missing_diacritics_share_a_stem() {
        let mut pl = polish_analyzer();
        for group in [
            "zamówienie zamowienie zamówieniu",
            "Zwrot zwrotu ZWROTY",
            "dostawa dostawy dostawę",
            "hasło haslo",
            "przesyłka przesylki przesyłki",
        ] {
            let stems = analyze(&mut pl, group);
            assert!(stems.iter().all(|t| t == &stems[0]), "{group}: {stems:?}");
        }
        let mut en = english_analyzer();
        assert_eq!(
            analyze(&mut en, "returns returning"),
            vec!["return", "return"]
        );
    }
}
