//! `toJSON` and `fromJSON`, and the JSON printer behind `nix-instantiate --eval --json`.
//!
//! The printer writes what Nix 2.8 writes: no spaces, attributes sorted by name, floats as
//! C++ streams print them (`%g`, six significant digits), and only `"`, `\`, `\n`, `\r`, `\t`
//! and the other control characters escaped. The reader follows the JSON library Nix 2.8 uses
//! (nlohmann/json 3.11) step by step, so that it accepts the same texts, turns numbers into
//! integers or floats the same way, and fails with the same messages, positions included.

use crate::builtin::{prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "toJSON",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: to_json,
        doc: "toJSON value

`value` as a JSON string. Paths are copied to the store and shown as their store paths;
sets with `__toString` or `outPath` show as that string.

  toJSON { a = [ 1 \"x\" ]; }   # \"{\\\"a\\\":[1,\\\"x\\\"]}\"",
    }),
    prefixed(PrimOp {
        name: "fromJSON",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: from_json,
        doc: "fromJSON text

Parses a JSON document into a Nix value: objects become sets, arrays lists, and numbers
integers or floats.

  fromJSON ''{\"a\": [1, 2.5]}''   # { a = [ 1 2.5 ]; }",
    }),
];

/// A position that `unsafeGetAttrPos` reports as `null`.
pub(crate) const NO_POS: Pos = Pos::NONE;

/// Nix's `forceStringNoCtx`: a string argument that must not refer to store paths.
pub(crate) fn string_no_context<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<&'a [u8]> {
    let s = string(ev, t, pos)?;
    if let Some(first) = s.context.first() {
        return Err(throw(
            format!(
                "the string '{}' is not allowed to refer to a store path (such as '{}')",
                String::from_utf8_lossy(c_str(s.bytes)),
                String::from_utf8_lossy(first)
            ),
            pos,
        ));
    }
    Ok(c_str(s.bytes))
}

/// Nix 2.8's strings end at their first NUL byte.
pub(crate) fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

fn to_json<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let v = ev.force(args[0], pos)?;
    let mut out = Vec::new();
    let mut context = Vec::new();
    value_to_json(ev, v, pos, true, &mut out, &mut context)?;
    Ok(string_value(ev, &out, context))
}

/// Writes a value as JSON, as Nix 2.8's `printValueAsJSON` does. With `strict`, unevaluated
/// parts are forced as they are reached; without it they are an error ("cannot convert a
/// thunk to JSON"). Store paths the output refers to are added to `context`. On an error,
/// `out` holds what was written before it (Nix has printed that much to standard output by
/// then).
pub fn value_to_json<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    pos: Pos,
    strict: bool,
    out: &mut Vec<u8>,
    context: &mut Vec<&'a [u8]>,
) -> Result<(), Box<EvalError>> {
    write_value(ev, v, pos, strict, out, context, 0)
}

/// How deeply values may nest before printing stops, as Nix 2.8's stack would overflow
/// (it manages between 50,000 and 100,000 levels); a set that contains itself ends here.
const MAX_NESTING: u32 = 100_000;

fn write_value<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    pos: Pos,
    strict: bool,
    out: &mut Vec<u8>,
    context: &mut Vec<&'a [u8]>,
    depth: u32,
) -> Result<(), Box<EvalError>> {
    if depth > MAX_NESTING {
        return Err(EvalError::new(
            ErrorKind::Eval,
            "stack overflow (possible infinite recursion)",
            None,
        ));
    }
    ev.nested(|| match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Bool(b) => {
            out.extend_from_slice(if b { b"true" } else { b"false" });
            Ok(())
        }
        Value::Int(n) => {
            out.extend_from_slice(n.to_string().as_bytes());
            Ok(())
        }
        Value::Float(f) => {
            write_float(f, out);
            Ok(())
        }
        Value::Str(s) => {
            context.extend_from_slice(s.context);
            write_string(c_str(s.bytes), out);
            Ok(())
        }
        Value::Path(p) => {
            let stored = ev.copy_path_to_store(p.bytes, pos)?;
            context.push(stored);
            write_string(stored, out);
            Ok(())
        }
        Value::Attrs(set) => {
            if let Some(f) = set.get(ev.syms().to_string) {
                let fv = ev.force(f.value, pos)?;
                let me = ev.alloc_thunk(v);
                let r = ev.call(fv, me, pos)?;
                let mut s = Vec::new();
                ev.coerce_to_string(r, pos, false, false, &mut s, context)?;
                write_string(c_str(&s), out);
                return Ok(());
            }
            if let Some(o) = set.get(ev.syms().out_path) {
                let ov = child(ev, o.value, o.pos, strict)?;
                return write_value(ev, ov, o.pos, strict, out, context, depth + 1);
            }
            let mut attrs: Vec<(Vec<u8>, &Attr<'a>)> = {
                let symbols = ev.symbols();
                set.attrs()
                    .iter()
                    .map(|a| (symbols.name(a.name).to_vec(), a))
                    .collect()
            };
            attrs.sort_by(|x, y| x.0.cmp(&y.0));
            out.push(b'{');
            for (i, (name, a)) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                let av = child(ev, a.value, a.pos, strict)?;
                write_value(ev, av, a.pos, strict, out, context, depth + 1)?;
            }
            out.push(b'}');
            Ok(())
        }
        Value::List(l) => {
            out.push(b'[');
            for (i, t) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let item = child(ev, t, pos, strict)?;
                write_value(ev, item, pos, strict, out, context, depth + 1)?;
            }
            out.push(b']');
            Ok(())
        }
        Value::Lambda(c) => Err(cannot_convert(&v.show_type(), c.pos(), pos)),
        Value::PrimOp(_) | Value::PrimOpApp(_) => Err(cannot_convert(&v.show_type(), pos, pos)),
    })
}

/// The value of an element or attribute: forced when printing strictly, else it must have
/// been evaluated already.
fn child<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos, strict: bool) -> EvalResult<'a> {
    if strict {
        return ev.force(t, pos);
    }
    match t.value() {
        Some(v) => Ok(v),
        None => Err(cannot_convert("a thunk", pos, pos)),
    }
}

fn cannot_convert(what: &str, at: Pos, pos: Pos) -> Box<EvalError> {
    EvalError::eval(format!("cannot convert {what} to JSON"), at)
        .with_frame("message for the trace", Some(pos))
}

/// A JSON string literal: `"`, `\` and control characters escaped, other bytes as they are.
pub fn write_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &c in s {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// A float as a C++ stream prints it (`-nan` for a NaN with its sign bit set).
fn write_float(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(if f.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
    } else {
        out.extend_from_slice(ferrix_parser::print::format_g(f).as_bytes());
    }
}

fn from_json<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let text = string_no_context(ev, args[0], pos)?;
    parse_json(ev, text).map_err(|message| {
        EvalError::new(ErrorKind::Eval, message, None)
            .with_frame("while decoding a JSON string", Some(pos))
    })
}

/// Parses JSON text into a Nix value, or returns nlohmann/json's error message.
pub fn parse_json<'a>(ev: &Evaluator<'a>, text: &[u8]) -> Result<Value<'a>, String> {
    Parser {
        lx: Lexer::new(text),
        token: Token::Uninitialized,
        ev,
    }
    .parse()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Uninitialized,
    True,
    False,
    Null,
    Str,
    Unsigned,
    Integer,
    Float,
    BeginArray,
    BeginObject,
    EndArray,
    EndObject,
    NameSeparator,
    ValueSeparator,
    ParseError,
    EndOfInput,
    LiteralOrValue,
}

impl Token {
    fn name(self) -> &'static str {
        match self {
            Token::Uninitialized => "<uninitialized>",
            Token::True => "true literal",
            Token::False => "false literal",
            Token::Null => "null literal",
            Token::Str => "string literal",
            Token::Unsigned | Token::Integer | Token::Float => "number literal",
            Token::BeginArray => "'['",
            Token::BeginObject => "'{'",
            Token::EndArray => "']'",
            Token::EndObject => "'}'",
            Token::NameSeparator => "':'",
            Token::ValueSeparator => "','",
            Token::ParseError => "<parse error>",
            Token::EndOfInput => "end of input",
            Token::LiteralOrValue => "'[', '{', or a literal",
        }
    }
}

/// The scanner, reading one byte at a time with a one-byte push-back, and counting lines
/// and columns as nlohmann/json does (its error positions depend on exactly when it reads).
struct Lexer<'s> {
    input: &'s [u8],
    next: usize,
    /// The byte last read; `None` at the end of the input.
    current: Option<u8>,
    unget_pending: bool,
    chars_read: usize,
    column: usize,
    lines: usize,
    /// The bytes of the token being read, for "last read" in messages.
    token_string: Vec<u8>,
    /// The decoded string or the number's text.
    buffer: Vec<u8>,
    error: &'static str,
    unsigned: u64,
    integer: i64,
    float: f64,
}

impl<'s> Lexer<'s> {
    fn new(input: &'s [u8]) -> Self {
        Lexer {
            // The text ends at a NUL byte, as Nix 2.8's strings do.
            input: c_str(input),
            next: 0,
            current: None,
            unget_pending: false,
            chars_read: 0,
            column: 0,
            lines: 0,
            token_string: Vec::new(),
            buffer: Vec::new(),
            error: "",
            unsigned: 0,
            integer: 0,
            float: 0.0,
        }
    }

    fn get(&mut self) -> Option<u8> {
        self.chars_read += 1;
        self.column += 1;
        if self.unget_pending {
            self.unget_pending = false;
        } else {
            self.current = self.input.get(self.next).copied();
            if self.current.is_some() {
                self.next += 1;
            }
        }
        if let Some(c) = self.current {
            self.token_string.push(c);
        }
        if self.current == Some(b'\n') {
            self.lines += 1;
            self.column = 0;
        }
        self.current
    }

    fn unget(&mut self) {
        self.unget_pending = true;
        self.chars_read = self.chars_read.saturating_sub(1);
        if self.column == 0 {
            self.lines = self.lines.saturating_sub(1);
        } else {
            self.column -= 1;
        }
        if self.current.is_some() {
            self.token_string.pop();
        }
    }

    /// Starts a string or number token at the current byte.
    fn reset(&mut self) {
        self.buffer.clear();
        self.token_string.clear();
        if let Some(c) = self.current {
            self.token_string.push(c);
        }
    }

    fn fail(&mut self, message: &'static str) -> Token {
        self.error = message;
        Token::ParseError
    }

    fn position(&self) -> String {
        format!("line {}, column {}", self.lines + 1, self.column)
    }

    /// The bytes of the last token, control characters shown as `<U+XXXX>`.
    fn token_text(&self) -> String {
        let mut out = Vec::with_capacity(self.token_string.len());
        for &c in &self.token_string {
            if c <= 0x1f {
                out.extend_from_slice(format!("<U+{c:04X}>").as_bytes());
            } else {
                out.push(c);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn scan(&mut self) -> Token {
        if self.chars_read == 0 {
            // A byte order mark is skipped; a broken one is an error.
            if self.get() == Some(0xef) {
                if !(self.get() == Some(0xbb) && self.get() == Some(0xbf)) {
                    return self.fail("invalid BOM; must be 0xEF 0xBB 0xBF if given");
                }
            } else {
                self.unget();
            }
        }
        loop {
            self.get();
            if !matches!(self.current, Some(b' ' | b'\t' | b'\n' | b'\r')) {
                break;
            }
        }
        match self.current {
            Some(b'[') => Token::BeginArray,
            Some(b']') => Token::EndArray,
            Some(b'{') => Token::BeginObject,
            Some(b'}') => Token::EndObject,
            Some(b':') => Token::NameSeparator,
            Some(b',') => Token::ValueSeparator,
            Some(b't') => self.literal(b"true", Token::True),
            Some(b'f') => self.literal(b"false", Token::False),
            Some(b'n') => self.literal(b"null", Token::Null),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Token::EndOfInput,
            Some(_) => self.fail("invalid literal"),
        }
    }

    fn literal(&mut self, text: &[u8], token: Token) -> Token {
        for &want in &text[1..] {
            if self.get() != Some(want) {
                return self.fail("invalid literal");
            }
        }
        token
    }

    /// Four hex digits after `\u`, or `None`.
    fn codepoint(&mut self) -> Option<u32> {
        let mut cp = 0;
        for _ in 0..4 {
            let d = (self.get()? as char).to_digit(16)?;
            cp = cp * 16 + d;
        }
        Some(cp)
    }

    /// Reads continuation bytes of a UTF-8 sequence, each within its range.
    fn utf8_tail(&mut self, c: u8, ranges: &[(u8, u8)]) -> bool {
        self.buffer.push(c);
        for &(lo, hi) in ranges {
            match self.get() {
                Some(b) if (lo..=hi).contains(&b) => self.buffer.push(b),
                _ => {
                    self.error = "invalid string: ill-formed UTF-8 byte";
                    return false;
                }
            }
        }
        true
    }

    fn string(&mut self) -> Token {
        const TAIL: (u8, u8) = (0x80, 0xbf);
        self.reset();
        loop {
            let Some(c) = self.get() else {
                return self.fail("invalid string: missing closing quote");
            };
            let ok = match c {
                b'"' => return Token::Str,
                b'\\' => {
                    let unescaped = match self.get() {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            if let Err(m) = self.unicode_escape() {
                                return self.fail(m);
                            }
                            continue;
                        }
                        _ => {
                            return self.fail("invalid string: forbidden character after backslash")
                        }
                    };
                    self.buffer.push(unescaped);
                    true
                }
                0..=0x1f => return self.fail(CONTROL_MESSAGES[c as usize]),
                0x20..=0x7f => {
                    self.buffer.push(c);
                    true
                }
                0xc2..=0xdf => self.utf8_tail(c, &[TAIL]),
                0xe0 => self.utf8_tail(c, &[(0xa0, 0xbf), TAIL]),
                0xe1..=0xec | 0xee | 0xef => self.utf8_tail(c, &[TAIL, TAIL]),
                0xed => self.utf8_tail(c, &[(0x80, 0x9f), TAIL]),
                0xf0 => self.utf8_tail(c, &[(0x90, 0xbf), TAIL, TAIL]),
                0xf1..=0xf3 => self.utf8_tail(c, &[TAIL, TAIL, TAIL]),
                0xf4 => self.utf8_tail(c, &[(0x80, 0x8f), TAIL, TAIL]),
                _ => return self.fail("invalid string: ill-formed UTF-8 byte"),
            };
            if !ok {
                return Token::ParseError;
            }
        }
    }

    /// `\uXXXX` (after the `u`), with a second one for a surrogate pair, as UTF-8.
    fn unicode_escape(&mut self) -> Result<(), &'static str> {
        const HEX4: &str = "invalid string: '\\u' must be followed by 4 hex digits";
        const NO_LOW: &str =
            "invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF";
        let first = self.codepoint().ok_or(HEX4)?;
        let cp = if (0xd800..=0xdbff).contains(&first) {
            if !(self.get() == Some(b'\\') && self.get() == Some(b'u')) {
                return Err(NO_LOW);
            }
            let second = self.codepoint().ok_or(HEX4)?;
            if !(0xdc00..=0xdfff).contains(&second) {
                return Err(NO_LOW);
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else if (0xdc00..=0xdfff).contains(&first) {
            return Err("invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF");
        } else {
            first
        };
        let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut utf8 = [0; 4];
        self.buffer
            .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }

    fn digit(c: Option<u8>) -> bool {
        matches!(c, Some(b'0'..=b'9'))
    }

    /// A number: digits are checked as RFC 8259 says; what fits becomes an integer (unsigned
    /// without a minus sign), the rest a float.
    fn number(&mut self) -> Token {
        self.reset();
        let mut kind = Token::Unsigned;
        let first = self.current.unwrap_or(b'0');
        self.buffer.push(first);
        if first == b'-' {
            kind = Token::Integer;
            match self.get() {
                Some(c @ b'0'..=b'9') => self.buffer.push(c),
                _ => return self.fail("invalid number; expected digit after '-'"),
            }
        }
        // Integer part: one zero, or digits not starting with zero.
        if self.buffer.last() != Some(&b'0') {
            while Self::digit(self.get()) {
                self.buffer.push(self.current.unwrap_or(b'0'));
            }
        } else {
            self.get();
        }
        if self.current == Some(b'.') {
            kind = Token::Float;
            self.buffer.push(b'.');
            if !Self::digit(self.get()) {
                return self.fail("invalid number; expected digit after '.'");
            }
            self.buffer.push(self.current.unwrap_or(b'0'));
            while Self::digit(self.get()) {
                self.buffer.push(self.current.unwrap_or(b'0'));
            }
        }
        if matches!(self.current, Some(b'e' | b'E')) {
            kind = Token::Float;
            self.buffer.push(self.current.unwrap_or(b'e'));
            match self.get() {
                Some(c @ (b'+' | b'-')) => {
                    self.buffer.push(c);
                    if !Self::digit(self.get()) {
                        return self.fail("invalid number; expected digit after exponent sign");
                    }
                }
                Some(b'0'..=b'9') => {}
                _ => {
                    return self.fail("invalid number; expected '+', '-', or digit after exponent")
                }
            }
            self.buffer.push(self.current.unwrap_or(b'0'));
            while Self::digit(self.get()) {
                self.buffer.push(self.current.unwrap_or(b'0'));
            }
        }
        self.unget();
        let text = std::str::from_utf8(&self.buffer).unwrap_or("0");
        match kind {
            Token::Unsigned => {
                if let Ok(n) = text.parse::<u64>() {
                    self.unsigned = n;
                    return Token::Unsigned;
                }
            }
            Token::Integer => {
                if let Ok(n) = text.parse::<i64>() {
                    self.integer = n;
                    return Token::Integer;
                }
            }
            _ => {}
        }
        self.float = text.parse::<f64>().unwrap_or(f64::NAN);
        Token::Float
    }
}

/// nlohmann/json's messages for raw control characters in strings.
const CONTROL_MESSAGES: [&str; 32] = [
    "invalid string: control character U+0000 (NUL) must be escaped to \\u0000",
    "invalid string: control character U+0001 (SOH) must be escaped to \\u0001",
    "invalid string: control character U+0002 (STX) must be escaped to \\u0002",
    "invalid string: control character U+0003 (ETX) must be escaped to \\u0003",
    "invalid string: control character U+0004 (EOT) must be escaped to \\u0004",
    "invalid string: control character U+0005 (ENQ) must be escaped to \\u0005",
    "invalid string: control character U+0006 (ACK) must be escaped to \\u0006",
    "invalid string: control character U+0007 (BEL) must be escaped to \\u0007",
    "invalid string: control character U+0008 (BS) must be escaped to \\u0008 or \\b",
    "invalid string: control character U+0009 (HT) must be escaped to \\u0009 or \\t",
    "invalid string: control character U+000A (LF) must be escaped to \\u000A or \\n",
    "invalid string: control character U+000B (VT) must be escaped to \\u000B",
    "invalid string: control character U+000C (FF) must be escaped to \\u000C or \\f",
    "invalid string: control character U+000D (CR) must be escaped to \\u000D or \\r",
    "invalid string: control character U+000E (SO) must be escaped to \\u000E",
    "invalid string: control character U+000F (SI) must be escaped to \\u000F",
    "invalid string: control character U+0010 (DLE) must be escaped to \\u0010",
    "invalid string: control character U+0011 (DC1) must be escaped to \\u0011",
    "invalid string: control character U+0012 (DC2) must be escaped to \\u0012",
    "invalid string: control character U+0013 (DC3) must be escaped to \\u0013",
    "invalid string: control character U+0014 (DC4) must be escaped to \\u0014",
    "invalid string: control character U+0015 (NAK) must be escaped to \\u0015",
    "invalid string: control character U+0016 (SYN) must be escaped to \\u0016",
    "invalid string: control character U+0017 (ETB) must be escaped to \\u0017",
    "invalid string: control character U+0018 (CAN) must be escaped to \\u0018",
    "invalid string: control character U+0019 (EM) must be escaped to \\u0019",
    "invalid string: control character U+001A (SUB) must be escaped to \\u001A",
    "invalid string: control character U+001B (ESC) must be escaped to \\u001B",
    "invalid string: control character U+001C (FS) must be escaped to \\u001C",
    "invalid string: control character U+001D (GS) must be escaped to \\u001D",
    "invalid string: control character U+001E (RS) must be escaped to \\u001E",
    "invalid string: control character U+001F (US) must be escaped to \\u001F",
];

/// An open array or object while parsing.
enum Frame<'a> {
    Array(Vec<&'a Thunk<'a>>),
    /// The attributes so far and the key of the value being read.
    Object(Vec<Attr<'a>>, ferrix_parser::Sym),
}

struct Parser<'s, 'e, 'a> {
    lx: Lexer<'s>,
    token: Token,
    ev: &'e Evaluator<'a>,
}

impl<'a> Parser<'_, '_, 'a> {
    fn next(&mut self) -> Token {
        self.token = self.lx.scan();
        self.token
    }

    /// nlohmann/json's syntax error: what was found where, and what was expected.
    fn syntax_error(&self, expected: Token, context: &str) -> String {
        let mut m = format!(
            "[json.exception.parse_error.101] parse error at {}: syntax error while parsing {context} - ",
            self.lx.position()
        );
        if self.token == Token::ParseError {
            m.push_str(&format!(
                "{}; last read: '{}'",
                self.lx.error,
                self.lx.token_text()
            ));
        } else {
            m.push_str(&format!("unexpected {}", self.token.name()));
        }
        if expected != Token::Uninitialized {
            m.push_str(&format!("; expected {}", expected.name()));
        }
        m
    }

    fn key(&mut self) -> ferrix_parser::Sym {
        self.ev.intern(&self.lx.buffer)
    }

    fn parse(mut self) -> Result<Value<'a>, String> {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        self.next();
        'value: loop {
            // A value starts at the current token.
            let mut v = match self.token {
                Token::BeginObject => match self.next() {
                    Token::EndObject => self.ev.make_attrs(Vec::new()),
                    Token::Str => {
                        let k = self.key();
                        if self.next() != Token::NameSeparator {
                            return Err(self.syntax_error(Token::NameSeparator, "object separator"));
                        }
                        stack.push(Frame::Object(Vec::new(), k));
                        self.next();
                        continue 'value;
                    }
                    _ => return Err(self.syntax_error(Token::Str, "object key")),
                },
                Token::BeginArray => {
                    if self.next() == Token::EndArray {
                        self.ev.make_list(&[])
                    } else {
                        stack.push(Frame::Array(Vec::new()));
                        continue 'value;
                    }
                }
                Token::Float => {
                    if !self.lx.float.is_finite() {
                        return Err(format!(
                            "[json.exception.out_of_range.406] number overflow parsing '{}'",
                            self.lx.token_text()
                        ));
                    }
                    Value::Float(self.lx.float)
                }
                Token::True => Value::Bool(true),
                Token::False => Value::Bool(false),
                Token::Null => Value::Null,
                // Integers beyond i64 wrap, as Nix stores the unsigned value in an int.
                Token::Unsigned => Value::Int(self.lx.unsigned as i64),
                Token::Integer => Value::Int(self.lx.integer),
                Token::Str => self.ev.string(c_str(&self.lx.buffer)),
                Token::ParseError => return Err(self.syntax_error(Token::Uninitialized, "value")),
                _ => return Err(self.syntax_error(Token::LiteralOrValue, "value")),
            };
            // The value is complete: add it to the enclosing containers, closing those that
            // end here.
            loop {
                let thunk = self.ev.alloc_thunk(v);
                match stack.pop() {
                    None => break,
                    Some(Frame::Array(mut items)) => {
                        items.push(thunk);
                        if self.next() == Token::ValueSeparator {
                            stack.push(Frame::Array(items));
                            self.next();
                            continue 'value;
                        }
                        if self.token != Token::EndArray {
                            return Err(self.syntax_error(Token::EndArray, "array"));
                        }
                        v = self.ev.make_list(&items);
                    }
                    Some(Frame::Object(mut attrs, key)) => {
                        attrs.push(Attr {
                            name: key,
                            value: thunk,
                            pos: NO_POS,
                        });
                        if self.next() == Token::ValueSeparator {
                            if self.next() != Token::Str {
                                return Err(self.syntax_error(Token::Str, "object key"));
                            }
                            let key = self.key();
                            if self.next() != Token::NameSeparator {
                                return Err(
                                    self.syntax_error(Token::NameSeparator, "object separator")
                                );
                            }
                            stack.push(Frame::Object(attrs, key));
                            self.next();
                            continue 'value;
                        }
                        if self.token != Token::EndObject {
                            return Err(self.syntax_error(Token::EndObject, "object"));
                        }
                        v = self.ev.make_attrs(last_wins(attrs));
                    }
                }
            }
            if self.next() != Token::EndOfInput {
                return Err(self.syntax_error(Token::EndOfInput, "value"));
            }
            return Ok(v);
        }
    }
}

/// Sorts attributes by symbol; of a repeated name, the last one stays.
pub(crate) fn last_wins(mut attrs: Vec<Attr<'_>>) -> Vec<Attr<'_>> {
    attrs.reverse();
    attrs.sort_by_key(|a| a.name);
    attrs.dedup_by_key(|a| a.name);
    attrs
}
