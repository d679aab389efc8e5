//! `fromTOML`: a TOML document as a Nix attribute set.
//!
//! Nix 2.8 parses with toml11 (TOML 1.0) and has no date or time values, so dates and times
//! are an error. The `toml` crate does the parsing; a second pass rejects what TOML 1.1 added
//! as toml11 does, in its words, and numbers too large for 64 bits saturate as toml11's do.
//! Errors read "while parsing a TOML string: …" at the call, with a description and the
//! offending line in toml11's layout (other parse errors keep the crate's description).

use crate::builtin::{plain, Builtin};
use crate::json::{c_str, last_wins, string_no_context, NO_POS};
use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use toml::de::{DeTable, DeValue};

pub static BUILTINS: &[Builtin] = &[plain(PrimOp {
    name: "fromTOML",
    arity: 1,
    transient: ferrix_eval::value::Transient::NONE,
    func: from_toml,
    doc: "fromTOML text

Parses a TOML document into a Nix set.",
})];

fn from_toml<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let text = string_no_context(ev, args[0], pos)?;
    parse_toml(ev, text)
        .map_err(|m| EvalError::eval(format!("while parsing a TOML string: {m}"), pos))
}

/// Parses a TOML document into a Nix value, or returns the message of its error.
pub fn parse_toml<'a>(ev: &Evaluator<'a>, text: &[u8]) -> Result<Value<'a>, String> {
    let text = c_str(text);
    let text = std::str::from_utf8(text).map_err(|e| {
        let at = e.valid_up_to();
        underline(text, "invalid UTF-8 byte", &[(at, "here")], &[])
    })?;
    let table = toml::de::DeTable::parse(text).map_err(|e| {
        let message = e.message().trim_end();
        match e.span() {
            Some(span) => underline(text.as_bytes(), message, &[(span.start, "here")], &[]),
            None => format!("[error] {message}"),
        }
    })?;
    Strict::check(text.as_bytes())?;
    convert_table(ev, text.as_bytes(), table.get_ref())
}

/// A message in toml11's layout: the description, then each line it is about with a marker
/// under the offset and a comment, then hints.
fn underline(text: &[u8], message: &str, marks: &[(usize, &str)], hints: &[&str]) -> String {
    let line_of = |at: usize| {
        let at = at.min(text.len());
        let start = text[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let end = text[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(text.len(), |i| at + i);
        let number = text[..start].iter().filter(|&&c| c == b'\n').count() + 1;
        (
            number,
            String::from_utf8_lossy(&text[start..end]),
            at - start,
        )
    };
    let width = marks
        .iter()
        .map(|&(at, _)| line_of(at).0.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width + 1);
    let mut out = format!("[error] {message}\n --> fromTOML\n{pad} |\n");
    for (i, &(at, comment)) in marks.iter().enumerate() {
        if i > 0 {
            out.push_str("\n ...\n");
        }
        let (number, line, column) = line_of(at);
        out.push_str(&format!(
            " {number:>width$} | {line}\n{pad} | {}^--- {comment}",
            " ".repeat(column)
        ));
    }
    if !hints.is_empty() {
        out.push_str(&format!("\n{pad} |"));
        for h in hints {
            out.push_str(&format!("\nHint: {h}"));
        }
    }
    out
}

/// Nix 2.8's toml11 reads TOML 1.0; the `toml` crate reads TOML 1.1, which also allows
/// `\e` and `\xHH` escapes, newlines and a trailing comma in inline tables. This pass over
/// a document the crate accepted rejects those as toml11 does, with its messages. It
/// follows toml11's parser: an error inside an array element is reported for the array,
/// some errors ("thrown" ones) as they are.
struct Strict<'t> {
    s: &'t [u8],
    i: usize,
}

enum Fail {
    /// An error a containing array reports as its own, and where toml11 stopped reading:
    /// the start of the string or of the `key = value` pair that failed.
    Soft(String, usize),
    /// An error reported as it is.
    Hard(String),
}

const KEY_HINTS: &[&str] = &[
    "bare keys  : non-empty strings composed only of [A-Za-z0-9_-].",
    "quoted keys: same as \"basic strings\" or 'literal strings'.",
    "dotted keys: sequence of bare or quoted keys joined with a dot.",
];

impl<'t> Strict<'t> {
    fn check(s: &'t [u8]) -> Result<(), String> {
        // A byte order mark is not part of the document.
        let i = if s.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
        let mut p = Strict { s, i };
        p.document().map_err(|f| match f {
            Fail::Soft(m, _) | Fail::Hard(m) => m,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.i += 1;
        }
    }

    /// Whitespace, newlines and comments.
    fn skip_blank(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.i += 1,
                Some(b'#') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn soft(&self, message: &str, marks: &[(usize, &str)], hints: &[&str]) -> Fail {
        Fail::Soft(underline(self.s, message, marks, hints), marks[0].0)
    }

    fn hard(&self, message: &str, marks: &[(usize, &str)]) -> Fail {
        Fail::Hard(underline(self.s, message, marks, &[]))
    }

    fn document(&mut self) -> Result<(), Fail> {
        loop {
            self.skip_blank();
            match self.peek() {
                None => return Ok(()),
                Some(b'[') => self.header()?,
                Some(_) => {
                    self.key_value()?;
                    self.skip_ws();
                }
            }
        }
    }

    /// `[a.b]` or `[[a.b]]`: only quoted keys can hold something TOML 1.0 lacks.
    fn header(&mut self) -> Result<(), Fail> {
        let start = self.i;
        while let Some(c) = self.peek() {
            match c {
                b'\n' => return Ok(()),
                b']' => {
                    self.i += 1;
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    }
                    return Ok(());
                }
                b'"' | b'\'' => {
                    if !self.string()? {
                        return Err(self.soft(
                            "toml::parse_key: an invalid key appeared.",
                            &[(start, "is not a valid key")],
                            KEY_HINTS,
                        ));
                    }
                }
                _ => self.i += 1,
            }
        }
        Ok(())
    }

    /// A dotted key up to `=`.
    fn key(&mut self) -> Result<(), Fail> {
        let first = self.i;
        // The end of the last component toml11 could read.
        let mut good_end = None;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"' | b'\'') => {
                    if !self.string()? {
                        return Err(match good_end {
                            None => self.soft(
                                "toml::parse_key: an invalid key appeared.",
                                &[(first, "is not a valid key")],
                                KEY_HINTS,
                            ),
                            Some(end) => self.soft(
                                "toml::parse_key_value_pair: invalid format for key",
                                &[(end, "invalid character in key")],
                                &[
                                    "Did you forget '.' to separate dotted-key?",
                                    "Allowed characters for bare key are [0-9a-zA-Z_-].",
                                ],
                            ),
                        });
                    }
                }
                Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                    {
                        self.i += 1;
                    }
                }
                _ => {
                    return Err(self.soft(
                        "toml::parse_key: an invalid key appeared.",
                        &[(self.i, "is not a valid key")],
                        KEY_HINTS,
                    ))
                }
            }
            good_end = Some(self.i);
            self.skip_ws();
            if self.peek() == Some(b'.') {
                self.i += 1;
            } else {
                return Ok(());
            }
        }
    }

    /// `key = value`, at the top level or in an inline table. On an error toml11 goes back
    /// to the start of the pair.
    fn key_value(&mut self) -> Result<(), Fail> {
        let first = self.i;
        self.key_value_at().map_err(|f| match f {
            Fail::Soft(m, _) => Fail::Soft(m, first),
            hard => hard,
        })
    }

    fn key_value_at(&mut self) -> Result<(), Fail> {
        self.key()?;
        let key_end = self.i.min(self.s.len());
        self.skip_ws();
        if self.peek() != Some(b'=') {
            self.i = key_end;
            let line_end = self.s[key_end..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(self.s.len(), |n| key_end + n);
            return Err(if self.s[key_end..line_end].contains(&b'=') {
                self.soft(
                    "toml::parse_key_value_pair: invalid format for key",
                    &[(key_end, "invalid character in key")],
                    &[
                        "Did you forget '.' to separate dotted-key?",
                        "Allowed characters for bare key are [0-9a-zA-Z_-].",
                    ],
                )
            } else {
                self.soft(
                    "toml::parse_key_value_pair: missing key-value separator `=`",
                    &[(key_end, "should be `=`")],
                    &[],
                )
            });
        }
        self.i += 1;
        let after_sep = self.i;
        self.skip_ws();
        if matches!(self.peek(), None | Some(b'#' | b'\r' | b'\n')) {
            return Err(self.soft(
                "toml::parse_key_value_pair: missing value after key-value separator '='",
                &[(after_sep, "expected value, but got nothing")],
                &[],
            ));
        }
        self.value()
    }

    fn value(&mut self) -> Result<(), Fail> {
        let start = self.i;
        match self.peek() {
            Some(b'"' | b'\'') => {
                let multiline = self.at(1) == self.peek() && self.at(2) == self.peek();
                if !self.string()? {
                    return Err(if multiline {
                        self.soft(
                            "toml::parse_ml_basic_string: the next token is not a valid multiline string",
                            &[(start, "here")],
                            &[],
                        )
                    } else {
                        self.soft(
                            "toml::parse_basic_string: the next token is not a valid string",
                            &[(start, "here")],
                            &[],
                        )
                    });
                }
                Ok(())
            }
            Some(b'[') => self.array(),
            Some(b'{') => self.inline_table(),
            _ => {
                self.scalar();
                Ok(())
            }
        }
    }

    /// A number, Boolean or date: up to what ends a value.
    fn scalar(&mut self) {
        let start = self.i;
        let end_of_value =
            |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}' | b'#');
        while matches!(self.peek(), Some(c) if !end_of_value(c)) {
            self.i += 1;
        }
        // `1979-05-27 07:32:00`: a date and a time apart.
        let t = &self.s[start..self.i];
        let date = t.len() == 10 && t[4] == b'-' && t[7] == b'-';
        if date && self.peek() == Some(b' ') && matches!(self.at(1), Some(b'0'..=b'9')) {
            self.i += 1;
            while matches!(self.peek(), Some(c) if !end_of_value(c)) {
                self.i += 1;
            }
        }
    }

    /// Skips a string; false if it holds an escape TOML 1.0 lacks (`\e`, `\x`).
    fn string(&mut self) -> Result<bool, Fail> {
        let quote = self.peek().unwrap_or(b'"');
        let multiline = self.at(1) == Some(quote) && self.at(2) == Some(quote);
        let mut ok = true;
        self.i += if multiline { 3 } else { 1 };
        while let Some(c) = self.peek() {
            if c == b'\\' && quote == b'"' {
                if matches!(self.at(1), Some(b'e' | b'x')) {
                    ok = false;
                }
                self.i = (self.i + 2).min(self.s.len());
                continue;
            }
            if c == quote {
                if !multiline {
                    self.i += 1;
                    return Ok(ok);
                }
                let run = self.s[self.i..].iter().take_while(|&&q| q == quote).count();
                if run >= 3 {
                    self.i += run.min(5);
                    return Ok(ok);
                }
                self.i += run;
                continue;
            }
            self.i += 1;
        }
        Ok(ok)
    }

    fn array(&mut self) -> Result<(), Fail> {
        let start = self.i;
        self.i += 1;
        loop {
            self.skip_blank();
            match self.peek() {
                None => return Ok(()),
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => {}
            }
            let element = self.i;
            match self.value() {
                Ok(()) => {}
                Err(Fail::Hard(m)) => return Err(Fail::Hard(m)),
                Err(Fail::Soft(_, stopped)) => {
                    return Err(self.hard(
                        "toml::parse_array: value having invalid format appeared in an array",
                        &[
                            (start, "array starts here"),
                            (stopped, "it is not a valid value."),
                        ],
                    ))
                }
            }
            self.skip_blank();
            if self.peek() == Some(b',') {
                self.i += 1;
            } else if self.i == element {
                // Not a value: the crate would have rejected the document.
                return Ok(());
            }
        }
    }

    fn inline_table(&mut self) -> Result<(), Fail> {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.key_value()?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        return Err(self.hard(
                            "toml::parse_inline_table: trailing comma is not allowed in an inline table",
                            &[(self.i, "should be `}`")],
                        ));
                    }
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'#' | b'\r' | b'\n') => {
                    return Err(self.hard(
                        "toml::parse_inline_table: missing curly brace `}`",
                        &[(self.i, "should be `}`")],
                    ))
                }
                _ => return Ok(()),
            }
        }
    }
}

type Spanned<T> = toml::Spanned<T>;

fn convert<'a>(
    ev: &Evaluator<'a>,
    text: &[u8],
    v: &Spanned<DeValue<'_>>,
) -> Result<Value<'a>, String> {
    Ok(match v.get_ref() {
        DeValue::String(s) => ev.string(c_str(s.as_bytes())),
        DeValue::Integer(n) => match integer(n.as_str(), n.radix()) {
            Some(n) => Value::Int(n),
            None => {
                let kind = match n.radix() {
                    16 => "hexadecimal_",
                    8 => "octal_",
                    2 => "binary_",
                    _ => "",
                };
                return Err(underline(
                    text,
                    &format!("toml::parse_{kind}integer"),
                    &[(v.span().start, "the next token is not an integer")],
                    &[],
                ));
            }
        },
        DeValue::Float(f) => Value::Float(float(f.as_str())),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(_) => return Err("Dates and times are not supported".into()),
        DeValue::Array(items) => {
            let mut thunks = Vec::with_capacity(items.len());
            for item in items.iter() {
                thunks.push(ev.alloc_thunk(convert(ev, text, item)?));
            }
            ev.make_list(&thunks)
        }
        DeValue::Table(t) => convert_table(ev, text, t)?,
    })
}

fn convert_table<'a>(
    ev: &Evaluator<'a>,
    text: &[u8],
    t: &DeTable<'_>,
) -> Result<Value<'a>, String> {
    let mut attrs = Vec::with_capacity(t.len());
    for (k, v) in t.iter() {
        attrs.push(Attr {
            name: ev.intern(k.get_ref().as_bytes()),
            value: ev.alloc_thunk(convert(ev, text, v)?),
            pos: NO_POS,
        });
    }
    Ok(ev.make_attrs(last_wins(attrs)))
}

/// An integer (digits in `radix`, with an optional sign), or `None` for no digits. Nix 2.8
/// reads integers with a C++ stream and does not check for overflow: values beyond 64 bits
/// become the largest or smallest integer.
fn integer(digits: &str, radix: u32) -> Option<i64> {
    use std::num::IntErrorKind;
    match i64::from_str_radix(digits, radix) {
        Ok(n) => Some(n),
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow => Some(i64::MAX),
            IntErrorKind::NegOverflow => Some(i64::MIN),
            _ => None,
        },
    }
}

/// A float; as with integers, one too large for a double becomes the largest double.
fn float(text: &str) -> f64 {
    let negative = text.starts_with('-');
    let f = if text.ends_with("nan") {
        f64::NAN
    } else if text.ends_with("inf") {
        f64::INFINITY
    } else {
        match text.parse::<f64>() {
            Ok(f) if f.is_infinite() => f64::MAX,
            Ok(f) => f.abs(),
            Err(_) => f64::NAN,
        }
    };
    if negative {
        -f
    } else {
        f
    }
}
