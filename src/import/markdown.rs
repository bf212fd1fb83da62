//! The Markdown an import writes: a sequence of blocks (headings, paragraphs, list items, tables)
//! built from pages and documents, rendered with the spacing the hand-written articles use.

/// One block of an imported article.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(usize, String),
    Paragraph(String),
    Item {
        depth: usize,
        marker: String,
        text: String,
    },
    /// Rendered lines of a pipe table.
    Table(Vec<String>),
    Code(String),
}

/// Collects inline text into blocks. Text is buffered line by line and written as one block
/// when a block boundary comes ([`Blocks::flush`]), with its whitespace collapsed.
#[derive(Debug, Default)]
pub struct Blocks {
    blocks: Vec<Block>,
    lines: Vec<String>,
    item: Option<(usize, String)>,
}

impl Blocks {
    /// Inline text (whitespace is collapsed later).
    pub fn text(&mut self, text: &str) {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        self.lines.last_mut().expect("one line").push_str(text);
    }

    /// A hard line break inside the current block.
    pub fn line_break(&mut self) {
        self.lines.push(String::new());
    }

    /// The next block written is a list item.
    pub fn start_item(&mut self, depth: usize, marker: String) {
        self.item = Some((depth, marker));
    }

    /// Ends the current block, if it has text.
    pub fn flush(&mut self) {
        let text = self
            .lines
            .drain(..)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            return;
        }
        let block = match self.item.take() {
            Some((depth, marker)) => Block::Item {
                depth,
                marker,
                text,
            },
            None => Block::Paragraph(text),
        };
        self.blocks.push(block);
    }

    /// A finished block (the caller flushed the text before it).
    pub fn push(&mut self, block: Block) {
        self.item = None;
        self.blocks.push(block);
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn into_markdown(mut self) -> String {
        self.flush();
        render(&self.blocks)
    }
}

/// Blocks as Markdown: a blank line between blocks, none between items of one list.
pub fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut previous_item = false;
    for block in blocks {
        let is_item = matches!(block, Block::Item { .. });
        if !out.is_empty() {
            out.push_str(if is_item && previous_item {
                "\n"
            } else {
                "\n\n"
            });
        }
        match block {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat((*level).clamp(1, 6)));
                out.push(' ');
                out.push_str(text);
            }
            Block::Paragraph(text) => out.push_str(text),
            Block::Item {
                depth,
                marker,
                text,
            } => {
                out.push_str(&"  ".repeat(*depth));
                out.push_str(marker);
                out.push(' ');
                out.push_str(text);
            }
            Block::Table(lines) => out.push_str(&lines.join("\n")),
            Block::Code(text) => {
                out.push_str("```\n");
                out.push_str(text);
                out.push_str("\n```");
            }
        }
        previous_item = is_item;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_of_a_list_stay_together_and_blocks_are_apart() {
        let mut b = Blocks::default();
        b.push(Block::Heading(2, "Zwroty".into()));
        b.text("  Masz   30 dni ");
        b.flush();
        b.start_item(0, "-".into());
        b.text("pierwszy");
        b.flush();
        b.start_item(1, "1.".into());
        b.text("drugi");
        b.line_break();
        b.text("ciąg dalszy");
        b.flush();
        b.text("koniec");
        assert_eq!(
            b.into_markdown(),
            "## Zwroty\n\nMasz 30 dni\n\n- pierwszy\n  1. drugi\nciąg dalszy\n\nkoniec"
        );
    }

    #[test]
    fn an_empty_block_writes_nothing() {
        let mut b = Blocks::default();
        b.text("   ");
        b.flush();
        b.start_item(0, "-".into());
        b.flush();
        assert!(b.is_empty());
        assert_eq!(b.into_markdown(), "");
    }
}
