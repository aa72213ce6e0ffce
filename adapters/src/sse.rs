//! A small, bounded parser of server-sent events (the `text/event-stream`
//! format of the HTML standard), fed with bytes as they arrive.
//!
//! Only what block streams need: `event:` and `data:` fields (several
//! `data:` lines are joined with `\n`), comments (`:` lines, e.g.
//! keep-alives) and other fields are skipped, lines end with `\n` or
//! `\r\n`. A line longer than the limit is an error, so a hostile server
//! cannot make the parser buffer without bound.
//!
//! ```
//! use adapters::sse::SseParser;
//! let mut parser = SseParser::new(1024);
//! let events = parser.feed(b": keep-alive\n\nevent: block\ndata: {\"height\":3}\n\n").unwrap();
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event, "block");
//! assert_eq!(events[0].data, "{\"height\":3}");
//! ```

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `"message"` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// A line or an event exceeded the parser's limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event larger than {limit} bytes")]
pub struct SseTooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

/// Incremental parser; see the [module docs](self).
#[derive(Debug)]
pub struct SseParser {
    limit: usize,
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// A parser that refuses lines and events longer than `limit` bytes.
    pub fn new(limit: usize) -> SseParser {
        SseParser {
            limit,
            line: Vec::new(),
            event: None,
            data: None,
        }
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseTooLarge> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            self.push_line_bytes(head)?;
            rest = tail.get(1..).unwrap_or_default();
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line_done(&line)? {
                out.push(event);
            }
        }
        self.push_line_bytes(rest)?;
        Ok(out)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseTooLarge> {
        if self.line.len().saturating_add(bytes.len()) > self.limit {
            return Err(SseTooLarge { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseTooLarge> {
        if line.is_empty() {
            let event = self.event.take();
            return Ok(self.data.take().map(|data| SseEvent {
                event: event.unwrap_or_else(|| "message".to_owned()),
                data,
            }));
        }
        if line.first() == Some(&b':') {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                let extra = usize::from(!data.is_empty());
                if data.len().saturating_add(extra).saturating_add(value.len()) > self.limit {
                    return Err(SseTooLarge { limit: self.limit });
                }
                if extra == 1 {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_crlf() {
        let mut p = SseParser::new(1024);
        assert!(p.feed(b"event: blo").unwrap().is_empty());
        assert!(p.feed(b"ck\r\ndata: a\r\nda").unwrap().is_empty());
        let events = p.feed(b"ta: b\r\n\r\n").unwrap();
        assert_eq!(
            events,
            [SseEvent {
                event: "block".into(),
                data: "a\nb".into()
            }]
        );
    }

    #[test]
    fn comments_and_empty_dispatches_yield_nothing() {
        let mut p = SseParser::new(1024);
        assert!(p.feed(b":\n\n: ping\n\nevent: x\n\n").unwrap().is_empty());
        let events = p.feed(b"data:1\n\n").unwrap();
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].data, "1");
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut p = SseParser::new(16);
        assert!(p.feed(&[b'a'; 10]).is_ok());
        assert_eq!(p.feed(&[b'a'; 10]), Err(SseTooLarge { limit: 16 }));
        let mut p = SseParser::new(16);
        let many = b"data: 0123456789\n".repeat(3);
        assert!(p.feed(&many).is_err());
    }
}
