//! The Nix lexer.
//!
//! Nix's scanner is modal: string bodies, indented-string bodies and the tail of a path literal
//! each have their own lexical rules, and `${ … }` nests expressions inside them to any depth.
//! [`Lexer`] keeps a stack of modes, as flex's start-condition stack does in Nix 2.8, and runs
//! the logos token set of the current mode at each step. It works on bytes: Nix source may
//! hold arbitrary bytes inside strings and comments.

mod tokens;

use logos::Logos;
pub use tokens::{ExprTok, IndTok, PathTok, PlainTok, StrTok};

/// A token as the parser sees it. Text is borrowed from the source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    If,
    Then,
    Else,
    Assert,
    With,
    Let,
    In,
    Rec,
    Inherit,
    OrKw,
    Ellipsis,
    Eq,
    Neq,
    Leq,
    Geq,
    And,
    Or,
    Impl,
    Update,
    Concat,
    Id(&'a [u8]),
    Int(i64),
    Float(f64),
    DollarCurly,
    LBrace,
    RBrace,
    /// `"`, opening or closing a string.
    Quote,
    /// Raw body text of a `"…"` string, escapes not yet processed (see [`unescape_str`]).
    Str(&'a [u8]),
    /// A whole `"…"` string whose body has no `\` and no `$` (so no interpolation): its
    /// body. Flex gives such a string as three tokens, `"`, its text and `"`; one token
    /// spares the parser two shifts and a reduction for most strings of a file.
    PlainStr(&'a [u8]),
    IndStringOpen,
    IndStringClose,
    IndStr(IndPart<'a>),
    /// The first segment of a path literal, as written (`./a`, `a/b/`, `/`).
    Path(&'a [u8]),
    /// A `~/…` path literal's first segment, as written.
    HomePath(&'a [u8]),
    /// More literal path text after an interpolation (`/b` in `./a/${x}/b`).
    PathStr(&'a [u8]),
    /// Marks the end of a path literal that may have had interpolations.
    PathEnd,
    /// `<nixpkgs/lib>`, including the angle brackets.
    SearchPath(&'a [u8]),
    Uri(&'a [u8]),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Colon,
    Comma,
    Dot,
    At,
    Question,
    Bang,
    Lt,
    Gt,
    Assign,
    Plus,
    Minus,
    Star,
    Slash,
    /// A byte that starts no token (`%`, `&`, a non-ASCII byte outside a string, …).
    Invalid,
}

/// One piece of an indented string body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndPart<'a> {
    /// Literal text whose leading spaces take part in indentation stripping.
    Text(&'a [u8]),
    /// Text produced by an escape (`''$`, `'''`, `''\n`, a lone `'` or `$`). It ends the
    /// whitespace at the start of a line, as an interpolation does.
    Escaped(&'static [u8]),
}

impl Token<'_> {
    /// The name Nix 2.8's parser uses for this token in syntax errors.
    pub fn describe(&self) -> &'static str {
        use Token::*;
        match self {
            If => "IF",
            Then => "THEN",
            Else => "ELSE",
            Assert => "ASSERT",
            With => "WITH",
            Let => "LET",
            In => "IN",
            Rec => "REC",
            Inherit => "INHERIT",
            OrKw => "OR_KW",
            Ellipsis => "ELLIPSIS",
            Eq => "EQ",
            Neq => "NEQ",
            Leq => "LEQ",
            Geq => "GEQ",
            And => "AND",
            Or => "OR",
            Impl => "IMPL",
            Update => "UPDATE",
            Concat => "CONCAT",
            Id(_) => "ID",
            Int(_) => "INT",
            Float(_) => "FLOAT",
            DollarCurly => "DOLLAR_CURLY",
            LBrace => "'{'",
            RBrace => "'}'",
            // Where Nix's parser sees the opening quote.
            Quote | PlainStr(_) => "'\"'",
            Str(_) | PathStr(_) => "STR",
            IndStringOpen => "IND_STRING_OPEN",
            IndStringClose => "IND_STRING_CLOSE",
            IndStr(_) => "IND_STR",
            Path(_) => "PATH",
            HomePath(_) => "HPATH",
            PathEnd => "PATH_END",
            SearchPath(_) => "SPATH",
            Uri(_) => "URI",
            LParen => "'('",
            RParen => "')'",
            LBracket => "'['",
            RBracket => "']'",
            Semi => "';'",
            Colon => "':'",
            Comma => "','",
            Dot => "'.'",
            At => "'@'",
            Question => "'?'",
            Bang => "'!'",
            Lt => "'<'",
            Gt => "'>'",
            Assign => "'='",
            Plus => "'+'",
            Minus => "'-'",
            Star => "'*'",
            Slash => "'/'",
            Invalid => "invalid token",
        }
    }
}

/// What went wrong while lexing, with the byte offset it is reported at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub offset: usize,
    pub message: String,
}

/// The lexer's start conditions (flex's names in comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// INITIAL / DEFAULT
    Expr,
    /// STRING
    Str,
    /// IND_STRING
    Ind,
    /// INPATH: after a path piece that did not end in `/`.
    InPath,
    /// INPATH_SLASH: after a path piece ending in `/`; only more path or `${` may follow.
    InPathSlash,
}

/// The modal Nix lexer. Yields `(start, token, end)` triples as lalrpop expects.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    modes: Vec<Mode>,
    /// Start of the most recent token, where Nix reports an unexpected end of input.
    last_start: usize,
    /// `last_start` and the end of the token before the most recent one, from which the
    /// lexeme before it is found (see [`Lexer::eof_offset`]).
    before: (usize, usize),
    /// The input ended right after a path, whose end is found only there.
    path_at_eof: bool,
    done: bool,
    /// The input ended at a NUL byte, which Nix reports errors at.
    nul_end: bool,
    /// The run of path characters around the position (see [`Lexer::plain_until`]).
    run: Run,
    /// Off: always use the full token set (to test that the shortcut changes nothing).
    #[cfg(test)]
    plain_shortcut: bool,
    /// How many tokens the full token set lexed (each may scan a whole run).
    #[cfg(test)]
    full_lexes: usize,
}

/// A maximal run of path characters, `src[start..end]`, and what may follow it.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    next: RunEnd,
    /// A cached answer of [`Lexer::plain_until`] for [`RunEnd::Uri`]: the first letter at or
    /// after the position where it was last asked, or `end`.
    letter: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunEnd {
    /// Neither a path nor a URI can start inside the run.
    Plain,
    /// A path could start anywhere in the run (`/` and a path character, or `/${`, follow).
    Path,
    /// `:` and a URI character follow: a URI can start at any letter at or after `from`
    /// (after the run's last `_`, which no URI scheme contains).
    Uri { from: usize },
}

/// The bytes of path literals outside the slashes, `[a-zA-Z0-9._\-+]`: a table, since every
/// identifier's bytes are tested.
fn is_path_char(c: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+');
            i += 1;
        }
        t
    };
    TABLE[c as usize]
}

/// The bytes a URI may have after its `:`.
fn is_uri_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"%/?:@&=+$,-_.!~*'".contains(&c)
}

impl Run {
    const EMPTY: Run = Run {
        start: 0,
        end: 0,
        next: RunEnd::Plain,
        letter: 0,
    };

    /// The run of path characters from `at`, and whether a path or URI may start in it.
    fn scan(src: &[u8], at: usize) -> Run {
        let mut end = at;
        let mut last_underscore = None;
        while end < src.len() && is_path_char(src[end]) {
            if src[end] == b'_' {
                last_underscore = Some(end);
            }
            end += 1;
        }
        let after = |i: usize| src.get(end + i).copied();
        let next = match after(0) {
            Some(b'/') if after(1).is_some_and(is_path_char) => RunEnd::Path,
            Some(b'/') if src[end + 1..].starts_with(b"${") => RunEnd::Path,
            Some(b':') if after(1).is_some_and(is_uri_char) => RunEnd::Uri {
                from: last_underscore.map_or(at, |u| u + 1),
            },
            _ => RunEnd::Plain,
        };
        Run {
            start: at,
            end,
            next,
            letter: at,
        }
    }
}

type Spanned<'a> = (usize, Token<'a>, usize);

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            modes: vec![Mode::Expr],
            last_start: 0,
            before: (0, 0),
            path_at_eof: false,
            done: false,
            nul_end: false,
            run: Run::EMPTY,
            #[cfg(test)]
            plain_shortcut: true,
            #[cfg(test)]
            full_lexes: 0,
        }
    }

    /// Up to where, from the position, no path or URI token can start, so that
    /// [`PlainTok`] lexes exactly what [`ExprTok`] would; the position itself when that is
    /// not known.
    ///
    /// A path needs a `/` right after its first run of path characters, and a URI a `:`
    /// right after its scheme, which is made of path characters without `_`. So inside a
    /// run of path characters, only the byte after the run decides: with neither, nothing
    /// in the run starts a path or URI; with `/` and more path, every position might, but
    /// then the first token of the run is a path that covers all of it; with `:`, a URI can
    /// start at a letter after the run's last `_`, and the first such letter starts one that
    /// covers the rest of the run. Each run is scanned once and the letters are searched
    /// forward only, so lexing stays linear (it was quadratic on `1+1+…+1`).
    fn plain_until(&mut self) -> usize {
        let p = self.pos;
        if p < self.run.start || p >= self.run.end {
            self.run = Run::scan(self.src, p);
        }
        let run = &mut self.run;
        match run.next {
            RunEnd::Plain => run.end,
            RunEnd::Path => p,
            RunEnd::Uri { from } => {
                let q = p.max(from);
                if run.letter < q {
                    run.letter = q;
                    while run.letter < run.end && !self.src[run.letter].is_ascii_alphabetic() {
                        run.letter += 1;
                    }
                }
                run.letter
            }
        }
    }

    /// The next expression-mode token from the position, with its span relative to it.
    fn next_expr_tok(&mut self) -> Option<(Result<ExprTok, ()>, std::ops::Range<usize>)> {
        #[cfg(test)]
        let shortcut = self.plain_shortcut;
        #[cfg(not(test))]
        let shortcut = true;
        if shortcut && self.plain_until() > self.pos {
            let mut lex = PlainTok::lexer(&self.src[self.pos..]);
            let tok = lex.next()?;
            return Some((tok.map(ExprTok::from), lex.span()));
        }
        #[cfg(test)]
        {
            self.full_lexes += 1;
        }
        let mut lex = ExprTok::lexer(&self.src[self.pos..]);
        let tok = lex.next()?;
        Some((tok, lex.span()))
    }

    fn mode(&self) -> Mode {
        self.modes.last().copied().unwrap_or(Mode::Expr)
    }

    fn set_mode(&mut self, m: Mode) {
        if let Some(top) = self.modes.last_mut() {
            *top = m;
        }
    }

    fn push(&mut self, m: Mode) {
        self.modes.push(m);
    }

    fn pop(&mut self) {
        // The bottom entry stands for flex's INITIAL state, which is never popped.
        if self.modes.len() > 1 {
            self.modes.pop();
        }
    }

    /// Where Nix reports an error at the end of the input: the start of the last lexeme it
    /// matched, counting whitespace and comments, or 0 for empty input. When the input ends
    /// right after a path (`[ ./a`), Nix is one lexeme behind: it reports the start of the
    /// lexeme before the path's last token.
    pub fn eof_offset(&self) -> usize {
        if self.path_at_eof {
            let (start, end) = self.before;
            return self.last_lexeme(end, self.last_start).unwrap_or(start);
        }
        if self.mode() != Mode::Expr || self.nul_end {
            return self.last_start;
        }
        self.last_lexeme(self.last_token_end(), self.src.len())
            .unwrap_or(self.last_start)
    }

    /// Whether the lexer is inside a `"…"` string (not in an interpolation in it).
    pub fn in_string(&self) -> bool {
        self.mode() == Mode::Str
    }

    /// The start of the last whitespace run or comment of `src[from..to]`, a stretch between
    /// tokens (or after the last one).
    fn last_lexeme(&self, from: usize, to: usize) -> Option<usize> {
        let mut last = None;
        let mut i = from;
        let s = &self.src[..to];
        while i < s.len() {
            let start = i;
            match s[i] {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\r' | b'\n') {
                        i += 1;
                    }
                }
                b'#' => {
                    while i < s.len() && !matches!(s[i], b'\r' | b'\n') {
                        i += 1;
                    }
                }
                b'/' if s.get(i + 1) == Some(&b'*') => match find_comment_end(&s[i + 2..]) {
                    Some(n) => i += 2 + n,
                    None => break,
                },
                _ => break,
            }
            last = Some(start);
        }
        last
    }

    fn last_token_end(&self) -> usize {
        self.pos
    }

    fn lex_expr(&mut self) -> Option<Result<Spanned<'a>, LexError>> {
        let base = self.pos;
        let (tok, span) = self.next_expr_tok()?;
        self.before = (self.last_start, base);
        let (start, mut end) = (base + span.start, base + span.end);
        self.pos = end;
        let text = &self.src[start..end];
        let t = match tok {
            // flex hands the parser the NUL byte as token 0, which bison takes for the end.
            Err(()) if self.src[start] == 0 => {
                self.pos = start;
                self.last_start = start;
                self.nul_end = true;
                return None;
            }
            Err(()) => Token::Invalid,
            Ok(t) => match t {
                ExprTok::If => Token::If,
                ExprTok::Then => Token::Then,
                ExprTok::Else => Token::Else,
                ExprTok::Assert => Token::Assert,
                ExprTok::With => Token::With,
                ExprTok::Let => Token::Let,
                ExprTok::In => Token::In,
                ExprTok::Rec => Token::Rec,
                ExprTok::Inherit => Token::Inherit,
                ExprTok::OrKw => Token::OrKw,
                ExprTok::Ellipsis => Token::Ellipsis,
                ExprTok::Eq => Token::Eq,
                ExprTok::Neq => Token::Neq,
                ExprTok::Leq => Token::Leq,
                ExprTok::Geq => Token::Geq,
                ExprTok::And => Token::And,
                ExprTok::Or => Token::Or,
                ExprTok::Impl => Token::Impl,
                ExprTok::Update => Token::Update,
                ExprTok::Concat => Token::Concat,
                ExprTok::Id => Token::Id(text),
                ExprTok::Int => match ascii(text).parse::<i64>() {
                    Ok(n) => Token::Int(n),
                    Err(_) => {
                        return Some(Err(LexError {
                            offset: start,
                            message: format!("invalid integer '{}'", ascii(text)),
                        }))
                    }
                },
                ExprTok::Float => match parse_float(ascii(text)) {
                    Some(f) => Token::Float(f),
                    None => {
                        return Some(Err(LexError {
                            offset: start,
                            message: format!("invalid float '{}'", ascii(text)),
                        }))
                    }
                },
                ExprTok::DollarCurly => {
                    self.push(Mode::Expr);
                    Token::DollarCurly
                }
                ExprTok::LBrace => {
                    self.push(Mode::Expr);
                    Token::LBrace
                }
                ExprTok::RBrace => {
                    self.pop();
                    Token::RBrace
                }
                ExprTok::Quote => {
                    let body = &self.src[end..];
                    match memchr::memchr3(b'"', b'\\', b'$', body) {
                        Some(n) if body[n] == b'"' => {
                            let close = end + n;
                            self.pos = close + 1;
                            // The closing quote is the last lexeme, as in flex.
                            self.last_start = close;
                            return Some(Ok((start, Token::PlainStr(&body[..n]), close + 1)));
                        }
                        _ => {
                            self.push(Mode::Str);
                            Token::Quote
                        }
                    }
                }
                ExprTok::IndStringOpen => {
                    self.push(Mode::Ind);
                    Token::IndStringOpen
                }
                ExprTok::PathSegInterp | ExprTok::HomeSegInterp => {
                    // Give back the `${`: the path mode lexes it next.
                    end -= 2;
                    self.pos = end;
                    self.push(Mode::InPathSlash);
                    let seg = &self.src[start..end];
                    if tok == Ok(ExprTok::HomeSegInterp) {
                        Token::HomePath(seg)
                    } else {
                        Token::Path(seg)
                    }
                }
                ExprTok::Path | ExprTok::HomePath => {
                    self.push(if text.ends_with(b"/") {
                        Mode::InPathSlash
                    } else {
                        Mode::InPath
                    });
                    if t == ExprTok::Path {
                        Token::Path(text)
                    } else {
                        Token::HomePath(text)
                    }
                }
                ExprTok::SearchPath => Token::SearchPath(text),
                ExprTok::Uri => Token::Uri(text),
                ExprTok::LParen => Token::LParen,
                ExprTok::RParen => Token::RParen,
                ExprTok::LBracket => Token::LBracket,
                ExprTok::RBracket => Token::RBracket,
                ExprTok::Semi => Token::Semi,
                ExprTok::Colon => Token::Colon,
                ExprTok::Comma => Token::Comma,
                ExprTok::Dot => Token::Dot,
                ExprTok::At => Token::At,
                ExprTok::Question => Token::Question,
                ExprTok::Bang => Token::Bang,
                ExprTok::Lt => Token::Lt,
                ExprTok::Gt => Token::Gt,
                ExprTok::Assign => Token::Assign,
                ExprTok::Plus => Token::Plus,
                ExprTok::Minus => Token::Minus,
                ExprTok::Star => Token::Star,
                ExprTok::Slash => Token::Slash,
            },
        };
        if t == Token::Invalid {
            // flex hands the parser one byte at a time here.
            end = start + 1;
            self.pos = end;
        }
        self.last_start = start;
        Some(Ok((start, t, end)))
    }

    fn lex_str(&mut self) -> Option<Result<Spanned<'a>, LexError>> {
        let start = self.pos;
        loop {
            let mut lex = StrTok::lexer(&self.src[self.pos..]);
            let tok = lex.next();
            let span = lex.span();
            match tok {
                // A `$` or `\` that pairs with nothing at the very end of the input is a
                // token of its own in flex (the parser then reports it).
                Some(Ok(StrTok::LoneDollar | StrTok::LoneBackslash))
                    if self.src.get(self.pos + span.end) != Some(&b'"') =>
                {
                    if self.pos == start {
                        self.pos = self.src.len();
                        self.last_start = start;
                        return Some(Ok((start, Token::Str(&self.src[start..]), self.pos)));
                    }
                    self.last_start = start;
                    return Some(Ok((
                        start,
                        Token::Str(&self.src[start..self.pos]),
                        self.pos,
                    )));
                }
                Some(Ok(StrTok::Content | StrTok::LoneDollar | StrTok::LoneBackslash))
                | Some(Err(())) => {
                    self.pos += span.end;
                }
                Some(Ok(t @ (StrTok::DollarCurly | StrTok::Quote))) if self.pos == start => {
                    self.pos += span.end;
                    self.last_start = start;
                    return Some(Ok(if t == StrTok::Quote {
                        self.pop();
                        (start, Token::Quote, self.pos)
                    } else {
                        self.push(Mode::Expr);
                        (start, Token::DollarCurly, self.pos)
                    }));
                }
                None if self.pos == start => return None,
                _ => {
                    self.last_start = start;
                    return Some(Ok((
                        start,
                        Token::Str(&self.src[start..self.pos]),
                        self.pos,
                    )));
                }
            }
        }
    }

    fn lex_ind(&mut self) -> Option<Result<Spanned<'a>, LexError>> {
        let mut lex = IndTok::lexer(&self.src[self.pos..]);
        let tok = lex.next()?;
        let span = lex.span();
        let (start, end) = (self.pos + span.start, self.pos + span.end);
        self.pos = end;
        self.last_start = start;
        let text = &self.src[start..end];
        let t = match tok {
            Ok(IndTok::Content) | Err(()) => Token::IndStr(IndPart::Text(text)),
            Ok(IndTok::EscapedDollar | IndTok::LoneDollar) => Token::IndStr(IndPart::Escaped(b"$")),
            Ok(IndTok::EscapedQuotes) => Token::IndStr(IndPart::Escaped(b"''")),
            Ok(IndTok::LoneQuote) => Token::IndStr(IndPart::Escaped(b"'")),
            Ok(IndTok::Escape) => Token::IndStr(IndPart::Escaped(escaped_byte(text[3]))),
            Ok(IndTok::DollarCurly) => {
                self.push(Mode::Expr);
                Token::DollarCurly
            }
            Ok(IndTok::Close) => {
                self.pop();
                Token::IndStringClose
            }
        };
        Some(Ok((start, t, end)))
    }

    fn lex_path(&mut self, after_slash: bool) -> Option<Result<Spanned<'a>, LexError>> {
        let mut lex = PathTok::lexer(&self.src[self.pos..]);
        let tok = lex.next();
        let span = lex.span();
        let (start, end) = (self.pos + span.start, self.pos + span.end);
        match tok {
            Some(Ok(PathTok::DollarCurly)) => {
                self.before = (self.last_start, self.pos);
                self.pos = end;
                self.last_start = start;
                self.set_mode(Mode::InPath);
                self.push(Mode::Expr);
                Some(Ok((start, Token::DollarCurly, end)))
            }
            Some(Ok(PathTok::Piece)) => {
                self.before = (self.last_start, self.pos);
                self.pos = end;
                self.last_start = start;
                let text = &self.src[start..end];
                self.set_mode(if text.ends_with(b"/") {
                    Mode::InPathSlash
                } else {
                    Mode::InPath
                });
                Some(Ok((start, Token::PathStr(text), end)))
            }
            _ if after_slash => {
                let offset = if self.pos < self.src.len() {
                    self.pos
                } else {
                    self.last_start
                };
                self.done = true;
                Some(Err(LexError {
                    offset,
                    message: "path has a trailing slash".into(),
                }))
            }
            _ => {
                self.pop();
                self.path_at_eof = self.pos == self.src.len();
                // Nix places the end marker at the token before it.
                Some(Ok((self.last_start, Token::PathEnd, self.last_start)))
            }
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Spanned<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.mode() {
            Mode::Expr => self.lex_expr(),
            Mode::Str => self.lex_str(),
            Mode::Ind => self.lex_ind(),
            Mode::InPath => self.lex_path(false),
            Mode::InPathSlash => self.lex_path(true),
        };
        if matches!(r, None | Some(Err(_))) {
            self.done = true;
        }
        r
    }
}

/// Length of a block comment body up to and including its closing `*/`.
fn find_comment_end(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"*/").map(|p| p + 2)
}

/// Token text that the token regexes restrict to ASCII (numbers, for parsing).
fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// Parses a float the way Nix 2.8 does with `strtod`, which rejects results out of range
/// (overflow to infinity, and underflow to zero or a subnormal).
fn parse_float(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    let mantissa = s.split(['e', 'E']).next().unwrap_or("");
    let nonzero = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if v.is_infinite() || (nonzero && !v.is_normal()) {
        return None;
    }
    Some(v)
}

fn escaped_byte(c: u8) -> &'static [u8] {
    const BYTES: [[u8; 1]; 256] = {
        let mut t = [[0u8; 1]; 256];
        let mut i = 0;
        while i < 256 {
            t[i][0] = i as u8;
            i += 1;
        }
        t
    };
    match c {
        b'n' => b"\n",
        b'r' => b"\r",
        b't' => b"\t",
        _ => &BYTES[c as usize],
    }
}

/// Processes the escapes of a `"…"` string body: `\n`, `\r`, `\t`, `\x` for any other `x`,
/// and turns CR and CR LF into LF, as Nix does. A NUL byte ends the string.
pub fn unescape_str(raw: &[u8]) -> Vec<u8> {
    // Most string bodies have nothing to process.
    if !raw.iter().any(|c| matches!(c, b'\\' | b'\r' | 0)) {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        match c {
            // Nix processes the body as a C string, so a NUL ends it.
            0 => break,
            b'\\' if i < raw.len() => {
                out.extend_from_slice(escaped_byte(raw[i]));
                i += 1;
            }
            b'\r' => {
                out.push(b'\n');
                if raw.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
