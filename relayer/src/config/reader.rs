//! A reader over the spanned TOML tree that records every problem instead of
//! stopping at the first, as serde's derive would.
//!
//! Each value carries its location (`chains[1].rpc[0]`) and its byte span,
//! turned into a line number when a problem is recorded. A [`Table`] notes the
//! keys it was asked for, so [`Table::finish`] can name every unknown field
//! (the equivalent of `deny_unknown_fields`, but exhaustive).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

/// Problems found so far, and the text they point into.
pub(super) struct Report<'t> {
    text: &'t str,
    /// Errors: the configuration must not be used.
    pub errors: Vec<ConfigError>,
    /// Warnings: the configuration is usable, but probably not what was meant.
    pub warnings: Vec<ConfigError>,
}

impl<'t> Report<'t> {
    pub fn new(text: &'t str) -> Report<'t> {
        Report {
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn problem(
        &self,
        location: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            location: location.into(),
            message: message.into(),
            line: span.map(|s| self.line_col(s.start).0),
        }
    }

    /// Records an error at `location` (line from `span`).
    pub fn error(
        &mut self,
        location: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        let problem = self.problem(location, span, message);
        self.errors.push(problem);
    }

    /// Records a warning at `location` (line from `span`).
    pub fn warn(
        &mut self,
        location: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        let problem = self.problem(location, span, message);
        self.warnings.push(problem);
    }
}

/// `parent.key`, or `key` at the root.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A value and where it is.
pub(super) struct Node<'a, 'i> {
    /// Path into the document, e.g. `chains[0].rpc[1]`.
    pub loc: String,
    value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Node<'a, 'i> {
    /// Byte span of the value in the file.
    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// Records an error about this value.
    pub fn error(&self, report: &mut Report<'_>, message: impl Into<String>) {
        report.error(self.loc.clone(), Some(self.span()), message);
    }

    /// Records a warning about this value.
    pub fn warn(&self, report: &mut Report<'_>, message: impl Into<String>) {
        report.warn(self.loc.clone(), Some(self.span()), message);
    }

    fn wrong_type(&self, report: &mut Report<'_>, expected: &str) {
        let found = self.value.get_ref().type_str();
        self.error(report, format!("expected {expected}, found {found}"));
    }

    /// The value as a string.
    pub fn str(&self, report: &mut Report<'_>) -> Option<&'a str> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(report, "a string");
                None
            }
        }
    }

    /// The value as a boolean.
    pub fn bool(&self, report: &mut Report<'_>) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(report, "true or false");
                None
            }
        }
    }

    /// The value as an integer.
    pub fn int(&self, report: &mut Report<'_>) -> Option<i64> {
        match self.value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(report, format!("integer {i} is out of range"));
                    None
                }
            },
            _ => {
                self.wrong_type(report, "an integer");
                None
            }
        }
    }

    /// The value as a table.
    pub fn table(&self, report: &mut Report<'_>) -> Option<Table<'a, 'i>> {
        match self.value.get_ref() {
            DeValue::Table(map) => Some(Table {
                loc: self.loc.clone(),
                span: self.span(),
                map,
                read: Vec::new(),
            }),
            _ => {
                self.wrong_type(report, "a table");
                None
            }
        }
    }

    /// The value as an array, each element located at `loc[i]`.
    pub fn array(&self, report: &mut Report<'_>) -> Option<Vec<Node<'a, 'i>>> {
        match self.value.get_ref() {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, value)| Node {
                        loc: format!("{}[{i}]", self.loc),
                        value,
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(report, "an array");
                None
            }
        }
    }

    /// Elements of an array; a single value is taken as an array of one
    /// (so `rpc = "http://..."` means `rpc = ["http://..."]`).
    pub fn one_or_many(self, report: &mut Report<'_>) -> Option<Vec<Node<'a, 'i>>> {
        if matches!(self.value.get_ref(), DeValue::Array(_)) {
            self.array(report)
        } else {
            Some(vec![self])
        }
    }

    /// The value as a string, converted by `parse`; a conversion error is
    /// recorded as this value's problem.
    pub fn parse<T>(
        &self,
        report: &mut Report<'_>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(report)?;
        match parse(s) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(report, message);
                None
            }
        }
    }
}

/// A table being read. Every key asked for is noted; [`Table::finish`]
/// reports the others as unknown fields.
pub(super) struct Table<'a, 'i> {
    loc: String,
    span: Range<usize>,
    map: &'a DeTable<'i>,
    read: Vec<&'static str>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The document's root table.
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Table<'a, 'i> {
        Table {
            loc: String::new(),
            span: doc.span(),
            map: doc.get_ref(),
            read: Vec::new(),
        }
    }

    /// Path of this table, e.g. `chains[0]` (empty for the root).
    pub fn loc(&self) -> &str {
        &self.loc
    }

    /// Byte span of the table.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The value under `key`, if present.
    pub fn get(&mut self, key: &'static str) -> Option<Node<'a, 'i>> {
        self.read.push(key);
        self.map.get(key).map(|value| Node {
            loc: join(&self.loc, key),
            value,
        })
    }

    /// The value under `key`; its absence is recorded as an error.
    pub fn require(&mut self, report: &mut Report<'_>, key: &'static str) -> Option<Node<'a, 'i>> {
        let node = self.get(key);
        if node.is_none() {
            report.error(
                join(&self.loc, key),
                Some(self.span()),
                "required field is missing",
            );
        }
        node
    }

    /// The sub-table under `key`, if present and a table.
    pub fn table(&mut self, report: &mut Report<'_>, key: &'static str) -> Option<Table<'a, 'i>> {
        self.get(key)?.table(report)
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, report: &mut Report<'_>) {
        for (key, _) in self.map.iter() {
            let name: &str = key.get_ref();
            if !self.read.contains(&name) {
                let known = self.read.join(", ");
                report.error(
                    join(&self.loc, name),
                    Some(key.span()),
                    format!("unknown field (known fields here: {known})"),
                );
            }
        }
    }
}
