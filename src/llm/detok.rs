//! Incremental detokenizing: turns the growing list of generated ids into text pieces that never
//! split a multi-byte character and never show the start of a stop string.

/// The text decoded so far and how much of it has been handed out.
#[derive(Debug, Default, Clone)]
pub struct TextStream {
    text: String,
    emitted: usize,
    stops: Vec<String>,
}

/// What [`TextStream::update`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    /// New text that is safe to show (may be empty).
    Text(String),
    /// A stop string appeared: the text before it that was not shown yet, and the answer ends.
    Stopped(String),
}

impl TextStream {
    pub fn new(stops: Vec<String>) -> Self {
        TextStream {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..TextStream::default()
        }
    }

    /// Takes the full decoded text of all generated ids so far (decoders are stable on a prefix
    /// except for an incomplete character at the end, which decodes as U+FFFD).
    pub fn update(&mut self, decoded: String) -> Update {
        self.text = decoded;
        if let Some(cut) = self.first_stop() {
            let piece = self.text.get(self.emitted..cut).unwrap_or("").to_string();
            self.text.truncate(cut);
            self.emitted = cut;
            return Update::Stopped(piece);
        }
        let mut end = self.text.len();
        if self.text.ends_with('\u{FFFD}') {
            end -= '\u{FFFD}'.len_utf8();
        }
        end -= self.held_stop_prefix(&self.text[..end]);
        if end <= self.emitted {
            return Update::Text(String::new());
        }
        let piece = self.text[self.emitted..end].to_string();
        self.emitted = end;
        Update::Text(piece)
    }

    /// Whatever is still held back, at the end of generation.
    pub fn finish(&mut self) -> String {
        let piece = self.text.get(self.emitted..).unwrap_or("").to_string();
        self.emitted = self.text.len();
        piece
    }

    /// The answer text (without any stop string).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where the first stop string begins, looking only after the answer's first visible
    /// character (a blank line is a stop, but not before anything was written).
    fn first_stop(&self) -> Option<usize> {
        let start = self.text.len() - self.text.trim_start().len();
        self.stops
            .iter()
            .filter_map(|s| self.text[start..].find(s.as_str()).map(|i| i + start))
            .min()
    }

    /// Length of the longest end of `text` that could be the start of a stop string.
    fn held_stop_prefix(&self, text: &str) -> usize {
        let mut held = 0;
        for stop in &self.stops {
            for (i, _) in stop.char_indices().skip(1) {
                if text.ends_with(&stop[..i]) {
                    held = held.max(i);
                }
            }
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_incomplete_characters() {
        let mut s = TextStream::new(vec![]);
        assert_eq!(
            s.update("Zwrot w 30 dni".into()),
            Update::Text("Zwrot w 30 dni".into())
        );
        assert_eq!(
            s.update("Zwrot w 30 dni \u{FFFD}".into()),
            Update::Text(" ".into())
        );
        assert_eq!(
            s.update("Zwrot w 30 dni ś".into()),
            Update::Text("ś".into())
        );
    }

    #[test]
    fn a_blank_line_stops_only_after_the_answer_began() {
        let mut s = TextStream::new(vec!["\n\n".into()]);
        let mut shown = String::new();
        for text in ["\n\n", "\n\nPaczka czeka 48 godzin."] {
            match s.update(text.into()) {
                Update::Text(t) => shown.push_str(&t),
                Update::Stopped(_) => panic!("stopped before the answer began"),
            }
        }
        assert_eq!(shown, "\n\nPaczka czeka 48 godzin.");
        assert_eq!(
            s.update("\n\nPaczka czeka 48 godzin.\n\nZadanie:".into()),
            Update::Stopped(String::new())
        );
        assert_eq!(s.text(), "\n\nPaczka czeka 48 godzin.");
    }

    #[test]
    fn stops_and_never_shows_a_stop_prefix() {
        let mut s = TextStream::new(vec!["\nQ:".into()]);
        assert_eq!(s.update("Yes.\n".into()), Update::Text("Yes.".into()));
        assert_eq!(s.update("Yes.\nQ".into()), Update::Text(String::new()));
        assert_eq!(
            s.update("Yes.\nQ: and".into()),
            Update::Stopped(String::new())
        );
        assert_eq!(s.text(), "Yes.");
        let mut s = TextStream::new(vec!["\nQ:".into()]);
        assert_eq!(s.update("A\nB".into()), Update::Text("A\nB".into()));
        assert_eq!(s.finish(), "");
    }
}
