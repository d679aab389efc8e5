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
    let eof = Cell::new(0usize);
    let tokens = TokenStream {
        lexer: Lexer::new(src),
        eof: &eof,
    };
    let mut ctx = Ctx {
        symbols,
        base_dir: info.base_dir,
        home: info.home,
        origin_label: info.origin.pos_label(),
        src,
    };
    grammar::StartParser::new()
        .parse(&mut ctx, tokens)
        .map_err(|e| syntax_error(e, eof.get()))
}

/// Feeds lexer tokens to lalrpop, remembering where Nix would report an early end of input.
struct TokenStream<'a, 'c> {
    lexer: Lexer<'a>,
    eof: &'c Cell<usize>,
}

impl<'a> Iterator for TokenStream<'a, '_> {
    type Item = Result<(usize, ferrix_lexer::Token<'a>, usize), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.lexer.next() {
            None => {
                self.eof.set(self.lexer.eof_offset());
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

fn expecting(expected: &[String]) -> String {
    // A whole plain string is a token only here: wherever it may come, Nix expects `"`,
    // which is in the list too.
    let expected: Vec<&String> = expected.iter().filter(|t| *t != "PLAIN_STR").collect();
    // Bison lists the expected tokens only when there are at most four.
    if expected.is_empty() || expected.len() > 4 {
        return String::new();
    }
    let names: Vec<String> = expected.iter().map(|t| bison_name(t)).collect();
    format!(", expecting {}", names.join(" or "))
}

fn syntax_error(e: LalrError<'_>, eof_offset: usize) -> SyntaxError {
    use lalrpop_util::ParseError as P;
    match e {
        P::User { error } => error,
        P::UnrecognizedEof { expected, .. } => SyntaxError {
            offset: eof_offset,
            message: format!(
                "syntax error, unexpected end of file{}",
                expecting(&expected)
            ),
            kind: actions::ErrorKind::UnexpectedEnd,
        },
        P::UnrecognizedToken {
            token: (l, t, _),
            expected,
        } => SyntaxError {
            offset: l,
            message: format!(
                "syntax error, unexpected {}{}",
                t.describe(),
                expecting(&expected)
            ),
            kind: actions::ErrorKind::Syntax,
        },
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
