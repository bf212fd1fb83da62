//! A small incremental Server-Sent Events parser for clients of event streams (the customer API's
//! in the load bench and the tests, a remote generation server's): bytes in, split anywhere; events out.

/// One dispatched SSE event (`event` defaults to `message`).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    /// The `id:` field, when the event has one.
    pub id: Option<String>,
}

impl SseEvent {
    /// An event without an id.
    pub fn new(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_string(),
            data: data.to_string(),
            id: None,
        }
    }
}

/// Incremental SSE parser: bytes in (split anywhere), events out. Lines end in LF, CRLF or CR;
/// events end at a blank line; `:` lines are comments; `data:` lines join with newlines.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: String,
    id: Option<String>,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < self.buf.len() {
            let end = i;
            match self.buf[i] {
                b'\n' => i += 1,
                b'\r' if i + 1 == self.buf.len() => break, // maybe CRLF split across chunks
                b'\r' if self.buf[i + 1] == b'\n' => i += 2,
                b'\r' => i += 1,
                _ => {
                    i += 1;
                    continue;
                }
            }
            let line = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
            self.line(&line, &mut out);
            start = i;
        }
        self.buf.drain(..start);
        out
    }

    /// End of the stream: a last line without its newline, and an event without its blank line.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        let line = String::from_utf8_lossy(&rest);
        let line = line.trim_end_matches(['\r', '\n']);
        if !line.is_empty() {
            self.line(line, &mut out);
        }
        self.line("", &mut out);
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let mut data = std::mem::take(&mut self.data);
            let id = self.id.take();
            if !data.is_empty() {
                data.pop(); // the newline after the last data line
                out.push(SseEvent {
                    event: if event.is_empty() {
                        "message".to_string()
                    } else {
                        event
                    },
                    data,
                    id,
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "id" => self.id = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent::new(event, data)
    }

    fn parse_in_chunks(bytes: &[u8], size: usize) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(size) {
            out.extend(p.push(chunk));
        }
        out.extend(p.finish());
        out
    }

    const STREAM: &str = "event: accepted\ndata: {\"message_id\":17}\n\n: ping\n\n\
        event: queued\r\ndata: {\"position\":2}\r\n\r\n\
        event:token\rdata:{\"text\":\"Zażółć \"}\r\r\
        data: line one\ndata: line two\nid: 5\nretry: 10\n\n\
        event: final\ndata: {\"decision\":\"send\",\"text\":\"gęślą jaźń\"}\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev("accepted", "{\"message_id\":17}"),
            ev("queued", "{\"position\":2}"),
            ev("token", "{\"text\":\"Zażółć \"}"),
            SseEvent {
                id: Some("5".into()),
                ..ev("message", "line one\nline two")
            },
            ev("final", "{\"decision\":\"send\",\"text\":\"gęślą jaźń\"}"),
        ]
    }

    #[test]
    fn sse_events_whatever_the_chunking() {
        for size in 1..=STREAM.len() {
            assert_eq!(
                parse_in_chunks(STREAM.as_bytes(), size),
                expected(),
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn sse_split_at_every_byte_pair() {
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            let mut p = SseParser::default();
            let mut out = p.push(&bytes[..cut]);
            out.extend(p.push(&bytes[cut..]));
            out.extend(p.finish());
            assert_eq!(out, expected(), "cut at {cut}");
        }
    }

    #[test]
    fn sse_last_event_without_blank_line_and_empty_events() {
        assert_eq!(
            parse_in_chunks(b"event: x\n\n\ndata\nevent: error\ndata: {}", 3),
            vec![ev("error", "\n{}")]
        );
    }
}
