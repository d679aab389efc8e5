//! The Nix parser.
//!
//! [`parse`] turns source bytes into an [`ast::Expr`] whose every variable is bound, or a
//! [`Diagnostic`] in Nix 2.8's format. The grammar is in `grammar.lalrpop`; the lexer is the
//! `ferrix-lexer` crate.

pub mod actions;
pub mod ast;
pub mod diagnostic;
pub mod print;
pub mod resolve;
pub mod scope;
pub mod symbol;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused)]
    grammar
);

use actions::{Ctx, LalrError, SyntaxError};
use ast::Expr;
pub use diagnostic::{Diagnostic, LineIndex, Origin};
use ferrix_lexer::Lexer;
pub use scope::{Binding, Globals, Scopes};
use std::cell::Cell;
pub use symbol::{Interner, Sym};

/// Symbols Nix's evaluator creates before it reads any file. Interning them first keeps
/// Ferrix's symbol order, and so the order of printed formals, close to Nix's.
const EARLY_SYMBOLS: &[&str] = &[
    "<with>",
    "outPath",
    "drvPath",
    "type",
    "meta",
    "name",
    "value",
    "system",
    "__overrides",
    "outputs",
    "outputName",
    "__ignoreNulls",
    "file",
    "line",
    "column",
    "__functor",
    "__toString",
    "right",
    "wrong",
    "__structuredAttrs",
    "builder",
    "args",
    "__contentAddressed",
    "__impure",
    "outputHash",
    "outputHashAlgo",
    "outputHashMode",
    "recurseForDerivations",
    "description",
    "self",
    "startSet",
    "operator",
    "key",
    "path",
    "prefix",
];

/// A symbol table holding Nix's early symbols, and the global scope made of `globals`, in
/// that order. The parser has no list of global names of its own: whoever sets up the
/// evaluation gives them (`ferrix-primops` makes Nix's from the builtins' declarations).
pub fn base_environment<'n>(globals: impl IntoIterator<Item = &'n str>) -> (Interner, Globals) {
    let mut symbols = Interner::new();
    for s in EARLY_SYMBOLS {
        symbols.intern(s.as_bytes());
    }
    let g = Globals::new(&mut symbols, globals);
    (symbols, g)
}

/// Where a source comes from and what its relative paths are relative to.
#[derive(Debug, Clone)]
pub struct SourceInfo<'a> {
    pub origin: Origin,
    /// Directory against which `./relative` paths are made absolute.
    pub base_dir: &'a [u8],
    /// Expansion of `~` in `~/…` paths.
    pub home: &'a [u8],
}

/// Lexes, parses and scope-checks one source text.
pub fn parse(
    src: &[u8],
    info: &SourceInfo<'_>,
    symbols: &mut Interner,
    globals: &Globals,
) -> Result<Expr, Box<Diagnostic>> {
    parse_in_scope(src, info, symbols, globals, &[])
}

/// Like [`parse`], with an extra scope of `names` (sorted by symbol) around the globals.
pub fn parse_in_scope(
    src: &[u8],
    info: &SourceInfo<'_>,
    symbols: &mut Interner,
    globals: &Globals,
    names: &[Sym],
) -> Result<Expr, Box<Diagnostic>> {
    let diag = |e: SyntaxError| {
        let mut d = Diagnostic::new(
            e.message,
            info.origin.clone(),
            src,
            &LineIndex::new(src),
            e.offset,
        );
        d.kind = e.kind;
        Box::new(d)
    };
    let mut e = parse_unresolved(src, info, symbols).map_err(diag)?;
    resolve::resolve_in_scope(&mut e, globals, symbols, names).map_err(diag)?;
    Ok(e)
}

/// Runs the lexer and parser only, leaving variables unchecked.
pub fn parse_unresolved(
    src: &[u8],
    info: &SourceInfo<'_>,
    symbols: &mut Interner,
) -> Result<Expr, SyntaxError> {
    let (result, end) = run_parser(src, info, symbols);
    result.map_err(|e| {
        syntax_error(e, src, end, |at, more| {
            // The text before the token, then `more`, parsed on their own. Their symbols
            // were interned by the parse that just failed, except those of `more`, which
            // go again.
            let len = symbols.len();
            let text = [&src[..at], more].concat();
            let (result, end) = run_parser(&text, info, symbols);
            symbols.truncate(len);
            result.err().map(|e| error_offset(&e, end))
        })
    })
}

/// Where `e` was found, in the text the parser read.
fn error_offset(e: &LalrError<'_>, end: End) -> usize {
    use lalrpop_util::ParseError as P;
    match e {
        P::User { error } => error.offset,
        P::UnrecognizedEof { .. } => end.offset,
        P::UnrecognizedToken {
            token: (l, _, _), ..
        }
        | P::ExtraToken { token: (l, _, _) } => *l,
        P::InvalidToken { location } => *location,
    }
}

/// What the last two tokens of `text` open: `{ }` (an empty set, or empty formals) or
/// `{ ID` (a binding, or a formal), where Nix's parser (GLR) follows both readings.
#[derive(PartialEq)]
enum BraceEnd {
    Empty,
    Name,
    Other,
}

fn brace_end(text: &[u8]) -> BraceEnd {
    use ferrix_lexer::Token;
    let mut last = (None, None);
    for (_, t, _) in Lexer::new(text).flatten() {
        last = (last.1, Some(t));
    }
    match last {
        (Some(Token::LBrace), Some(Token::RBrace)) => BraceEnd::Empty,
        (Some(Token::LBrace), Some(Token::Id(_))) => BraceEnd::Name,
        _ => BraceEnd::Other,
    }
}

/// The lexer and parser over `src`, and where the input ended.
fn run_parser<'s>(
    src: &'s [u8],
    info: &SourceInfo<'_>,
    symbols: &mut Interner,
) -> (Result<Expr, LalrError<'s>>, End) {
    let end = Cell::new(End::default());
    let tokens = TokenStream {
        lexer: Lexer::new(src),
        end: &end,
    };
    let mut ctx = Ctx {
        symbols,
        base_dir: info.base_dir,
        home: info.home,
        origin_label: info.origin.pos_label(),
        src,
    };
    let result = grammar::StartParser::new().parse(&mut ctx, tokens);
    (result, end.get())
}

/// Feeds lexer tokens to lalrpop, remembering where Nix would report an early end of input.
struct TokenStream<'a, 'c> {
    lexer: Lexer<'a>,
    end: &'c Cell<End>,
}

impl<'a> Iterator for TokenStream<'a, '_> {
    type Item = Result<(usize, ferrix_lexer::Token<'a>, usize), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.lexer.next() {
            None => {
                self.end.set(End {
                    offset: self.lexer.eof_offset(),
                    in_string: self.lexer.in_string(),
                });
                None
            }
            Some(r) => Some(r.map_err(|e| SyntaxError {
                offset: e.offset,
                message: e.message,
                kind: actions::ErrorKind::Syntax,
            })),
        }
    }
}

/// Bison's name for a terminal of our grammar, as lalrpop lists expected terminals.
fn bison_name(t: &str) -> String {
    let inner = t.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
    match inner {
        None => match t {
            "IND_OPEN" => "IND_STRING_OPEN".into(),
            "IND_CLOSE" => "IND_STRING_CLOSE".into(),
            "PATH_STR" => "STR".into(),
            other => other.into(),
        },
        Some(s) => {
            let s = s.replace("\\\"", "\"");
            match s.as_str() {
                "if" | "then" | "else" | "assert" | "with" | "let" | "in" | "rec" | "inherit" => {
                    s.to_uppercase()
                }
                "or" => "OR_KW".into(),
                "..." => "ELLIPSIS".into(),
                "==" => "EQ".into(),
                "!=" => "NEQ".into(),
                "<=" => "LEQ".into(),
                ">=" => "GEQ".into(),
                "&&" => "AND".into(),
                "||" => "OR".into(),
                "->" => "IMPL".into(),
                "//" => "UPDATE".into(),
                "++" => "CONCAT".into(),
                "${" => "DOLLAR_CURLY".into(),
                c => format!("'{c}'"),
            }
        }
    }
}

/// Nix 2.8's tokens in the order of its grammar's symbol numbers, the order bison lists
/// expected tokens in: the declared ones first, then the characters as the rules first use
/// them.
const BISON_ORDER: &[&str] = &[
    "ID",
    "ATTRPATH",
    "STR",
    "IND_STR",
    "INT",
    "FLOAT",
    "PATH",
    "HPATH",
    "SPATH",
    "PATH_END",
    "URI",
    "IF",
    "THEN",
    "ELSE",
    "ASSERT",
    "WITH",
    "LET",
    "IN",
    "REC",
    "INHERIT",
    "EQ",
    "NEQ",
    "AND",
    "OR",
    "IMPL",
    "OR_KW",
    "DOLLAR_CURLY",
    "IND_STRING_OPEN",
    "IND_STRING_CLOSE",
    "ELLIPSIS",
    "'<'",
    "'>'",
    "LEQ",
    "GEQ",
    "UPDATE",
    "NOT",
    "'+'",
    "'-'",
    "'*'",
    "'/'",
    "CONCAT",
    "'?'",
    "NEGATE",
    "':'",
    "'{'",
    "'}'",
    "'@'",
    "';'",
    "'!'",
    "'.'",
    "'\"'",
    "'('",
    "')'",
    "'['",
    "']'",
    "'='",
    "','",
];

/// The names of the `expected` tokens (lalrpop's) as bison would list them, in its order.
fn bison_names(expected: &[String]) -> Vec<String> {
    // A whole plain string is a token only here: wherever it may come, Nix expects `"`,
    // which is in the list too.
    let mut names: Vec<String> = expected
        .iter()
        .filter(|t| *t != "PLAIN_STR")
        .map(|t| bison_name(t))
        .collect();
    let rank = |n: &String| {
        BISON_ORDER
            .iter()
            .position(|b| b == n)
            .unwrap_or(BISON_ORDER.len())
    };
    names.sort_by_key(rank);
    names.dedup();
    names
}

/// The tokens (as bison names them) that may follow a complete operand inside it: an
/// operator, a selection, an argument of an application, the `:`/`@` of a function whose
/// argument it would be, and the `,` after a default in formals (which Nix's grammar
/// takes before it reduces the formal, its list being right-recursive). After an
/// operand, Nix's parser (bison) takes its default reductions for any other token, so
/// these are not among those it says it expected.
const CONTINUES_OPERAND: &[&str] = &[
    "ID",
    "INT",
    "FLOAT",
    "PATH",
    "HPATH",
    "SPATH",
    "URI",
    "LET",
    "REC",
    "EQ",
    "NEQ",
    "AND",
    "OR",
    "IMPL",
    "OR_KW",
    "IND_STRING_OPEN",
    "'<'",
    "'>'",
    "LEQ",
    "GEQ",
    "UPDATE",
    "'+'",
    "'-'",
    "'*'",
    "'/'",
    "CONCAT",
    "'?'",
    "':'",
    "'{'",
    "'@'",
    "'.'",
    "'\"'",
    "'('",
    "'['",
    "','",
];

/// What Nix expects at a token that fits neither reading of `{ ID` (a binding's or a
/// formal's): it reports the binding's.
const AFTER_BRACE_NAME: &str = ", expecting '.' or '='";

/// The tokens that may come inside a function's formals (as bison names them).
const IN_FORMALS: &[&str] = &["ID", "ELLIPSIS", "'}'", "','", "'?'"];

fn expecting(expected: &[String]) -> String {
    listing(bison_names(expected))
}

/// `, expecting …` for the tokens `names` (bison's, in its order), or nothing.
fn listing(mut names: Vec<String>) -> String {
    // Inside formals, Nix's parser reduces what it has read to the formals (its list is
    // right-recursive and may be empty) before it finds the error: only `}` is left.
    if names.iter().any(|n| n == "'}'") && names.iter().all(|n| IN_FORMALS.contains(&n.as_str())) {
        names = vec!["'}'".to_string()];
    }
    // Bison lists the expected tokens only when there are at most four.
    if names.is_empty() || names.len() > 4 {
        return String::new();
    }
    format!(", expecting {}", names.join(" or "))
}

/// Where and how the input ended, for an error there.
#[derive(Clone, Copy, Default)]
struct End {
    /// Where Nix reports it ([`Lexer::eof_offset`]).
    offset: usize,
    /// Inside a `"…"` string.
    in_string: bool,
}

/// `e`, found in `src`, as Nix 2.8 words it. Bison takes its default reductions before it
/// finds an error, so its list of expected tokens is often that of a state further on than
/// lalrpop's:
/// - at the end of the input inside a `"…"` string, only the closing quote;
/// - at a token that cannot continue an expression which is complete before it, only the
///   end of the input, where lalrpop would list every operator;
/// - at a token after `{ }` where a function may start, `:` or `@`: Nix's parser (GLR)
///   follows both readings of `{ }`, and reports the function's when both fail.
///
/// `reparse(at, more)` parses the text before `at` followed by `more`, and gives where
/// that fails (`None` when it parses whole).
fn syntax_error(
    e: LalrError<'_>,
    src: &[u8],
    end: End,
    mut reparse: impl FnMut(usize, &[u8]) -> Option<usize>,
) -> SyntaxError {
    use lalrpop_util::ParseError as P;
    match e {
        P::User { error } => error,
        P::UnrecognizedEof { expected, .. } => {
            let mut listed = if end.in_string {
                ", expecting '\"'".to_string()
            } else {
                expecting(&expected)
            };
            if listed.is_empty() && brace_end(src) == BraceEnd::Name {
                listed = AFTER_BRACE_NAME.into();
            }
            SyntaxError {
                offset: end.offset,
                message: format!("syntax error, unexpected end of file{listed}"),
                kind: actions::ErrorKind::UnexpectedEnd,
            }
        }
        P::UnrecognizedToken {
            token: (l, t, _),
            expected,
        } => {
            let mut listed = expecting(&expected);
            let brace = brace_end(&src[..l]);
            if brace == BraceEnd::Empty && reparse(l, b":x").is_none_or(|at| at > l) {
                listed = ", expecting ':' or '@'".into();
            } else if listed.is_empty() && reparse(l, b"").is_none() {
                listed = ", expecting end of file".into();
            } else if listed.is_empty() && brace == BraceEnd::Name {
                listed = AFTER_BRACE_NAME.into();
            } else if listed.is_empty() {
                let names = bison_names(&expected);
                if names.iter().any(|n| n == "'+'") {
                    // An operand ends before the token (an operator could follow): bison
                    // reduces it into the construct around it, whose next tokens are left.
                    listed = listing(
                        names
                            .into_iter()
                            .filter(|n| !CONTINUES_OPERAND.contains(&n.as_str()))
                            .collect(),
                    );
                }
            }
            SyntaxError {
                offset: l,
                message: format!("syntax error, unexpected {}{listed}", t.describe()),
                kind: actions::ErrorKind::Syntax,
            }
        }
        P::ExtraToken { token: (l, t, _) } => SyntaxError {
            offset: l,
            message: format!(
                "syntax error, unexpected {}, expecting end of file",
                t.describe()
            ),
            kind: actions::ErrorKind::Syntax,
        },
        P::InvalidToken { location } => SyntaxError {
            offset: location,
            message: "syntax error, unexpected invalid token".into(),
            kind: actions::ErrorKind::Syntax,
        },
    }
}

#[cfg(test)]
mod tests;
