//! Raw logos token sets, one per lexer mode.
//!
//! Each enum mirrors one start condition of Nix 2.8's flex scanner. The modal driver in
//! `lib.rs` decides which set is active; logos does the longest-match scanning inside a mode.

use logos::Logos;

/// Tokens of the expression mode.
///
/// Identifiers, numbers, paths and URIs overlap heavily (`a/b` is a path, `a:b` a URI, `1/2` a
/// path); logos' longest match settles them the same way flex does.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(utf8 = false)]
#[logos(skip r"[ \t\r\n]+")]
#[logos(skip(r"#(?-u:[^\r\n])*", allow_greedy = true))]
#[logos(skip r"/\*(?s-u:[^*]|\*+[^*/])*\*+/")]
pub enum ExprTok {
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("assert")]
    Assert,
    #[token("with")]
    With,
    #[token("let")]
    Let,
    #[token("in")]
    In,
    #[token("rec")]
    Rec,
    #[token("inherit")]
    Inherit,
    #[token("or")]
    OrKw,
    #[token("...")]
    Ellipsis,
    #[token("==")]
    Eq,
    #[token("!=")]
    Neq,
    #[token("<=")]
    Leq,
    #[token(">=")]
    Geq,
    #[token("&&")]
    And,
    #[token("||")]
    Or,
    #[token("->")]
    Impl,
    #[token("//")]
    Update,
    #[token("++")]
    Concat,
    #[regex(r"[a-zA-Z_][a-zA-Z0-9_'\-]*", priority = 3)]
    Id,
    #[regex(r"[0-9]+", priority = 3)]
    Int,
    #[regex(
        r"(([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+\-]?[0-9]+)?",
        priority = 3
    )]
    Float,
    #[token("${")]
    DollarCurly,
    #[token("}")]
    RBrace,
    #[token("{")]
    LBrace,
    #[token("\"")]
    Quote,
    #[regex(r"''( *\n)?")]
    IndStringOpen,
    /// `a/${`: flex rescans the segment as a path and leaves `${` for the path mode.
    #[regex(r"[a-zA-Z0-9._\-+]*/\$\{")]
    PathSegInterp,
    /// `~/${`, likewise.
    #[token("~/${")]
    HomeSegInterp,
    #[regex(r"[a-zA-Z0-9._\-+]*(/[a-zA-Z0-9._\-+]+)+/?", priority = 2)]
    Path,
    #[regex(r"~(/[a-zA-Z0-9._\-+]+)+/?")]
    HomePath,
    #[regex(r"<[a-zA-Z0-9._\-+]+(/[a-zA-Z0-9._\-+]+)*>")]
    SearchPath,
    #[regex(r"[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+")]
    Uri,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("@")]
    At,
    #[token("?")]
    Question,
    #[token("!")]
    Bang,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
}

/// The expression tokens that can start with a path character (`[a-zA-Z0-9._\-+]`), less
/// paths and URIs: what [`ExprTok`] matches where the driver knows that no path or URI can
/// start (see `Lexer::plain_until`). The attributes are [`ExprTok`]'s, so both sets pick the
/// same token there.
///
/// Without it, `1+1+…+1` is quadratic: at every `1` and `+` the path and URI patterns run to
/// the end of the chain of path characters before giving up.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(utf8 = false)]
pub enum PlainTok {
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("assert")]
    Assert,
    #[token("with")]
    With,
    #[token("let")]
    Let,
    #[token("in")]
    In,
    #[token("rec")]
    Rec,
    #[token("inherit")]
    Inherit,
    #[token("or")]
    OrKw,
    #[token("...")]
    Ellipsis,
    #[token("->")]
    Impl,
    #[token("++")]
    Concat,
    #[regex(r"[a-zA-Z_][a-zA-Z0-9_'\-]*", priority = 3)]
    Id,
    #[regex(r"[0-9]+", priority = 3)]
    Int,
    #[regex(
        r"(([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+\-]?[0-9]+)?",
        priority = 3
    )]
    Float,
    #[token(".")]
    Dot,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
}

impl From<PlainTok> for ExprTok {
    fn from(t: PlainTok) -> ExprTok {
        match t {
            PlainTok::If => ExprTok::If,
            PlainTok::Then => ExprTok::Then,
            PlainTok::Else => ExprTok::Else,
            PlainTok::Assert => ExprTok::Assert,
            PlainTok::With => ExprTok::With,
            PlainTok::Let => ExprTok::Let,
            PlainTok::In => ExprTok::In,
            PlainTok::Rec => ExprTok::Rec,
            PlainTok::Inherit => ExprTok::Inherit,
            PlainTok::OrKw => ExprTok::OrKw,
            PlainTok::Ellipsis => ExprTok::Ellipsis,
            PlainTok::Impl => ExprTok::Impl,
            PlainTok::Concat => ExprTok::Concat,
            PlainTok::Id => ExprTok::Id,
            PlainTok::Int => ExprTok::Int,
            PlainTok::Float => ExprTok::Float,
            PlainTok::Dot => ExprTok::Dot,
            PlainTok::Plus => ExprTok::Plus,
            PlainTok::Minus => ExprTok::Minus,
        }
    }
}

/// Tokens inside `"…"`. Content pieces are merged by the driver into one string token.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(utf8 = false)]
pub enum StrTok {
    #[regex(r#"((?-u:[^$"\\])|\$(?-u:[^{"\\])|\\(?s-u:.)|\$\\(?s-u:.))+"#)]
    Content,
    /// A `$` that pairs with nothing: right before the closing quote, or at the end of input.
    #[token("$")]
    LoneDollar,
    /// A backslash at the very end of the input.
    #[token("\\")]
    LoneBackslash,
    #[token("${")]
    DollarCurly,
    #[token("\"")]
    Quote,
}

/// Tokens inside `''…''`.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(utf8 = false)]
pub enum IndTok {
    #[regex(r"((?-u:[^$'])|\$(?-u:[^{'])|'(?-u:[^'$]))+")]
    Content,
    #[token("''$")]
    EscapedDollar,
    #[token("$")]
    LoneDollar,
    #[token("'''")]
    EscapedQuotes,
    #[regex(r"''\\(?s-u:.)")]
    Escape,
    #[token("${")]
    DollarCurly,
    #[token("''")]
    Close,
    #[token("'")]
    LoneQuote,
}

/// Tokens right after a path literal, where more path text or `${` may follow.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(utf8 = false)]
pub enum PathTok {
    #[token("${")]
    DollarCurly,
    #[regex(r"[a-zA-Z0-9._\-+]*(/[a-zA-Z0-9._\-+]+)+/?|[a-zA-Z0-9._\-+]*/|[a-zA-Z0-9._\-+]+")]
    Piece,
}
