//! The abstract syntax tree.
//!
//! Every node carries the byte span it was parsed from. Desugarings match Nix 2.8:
//! `<p>` is `__findFile __nixPath "p"`, `let { … }` is `(rec { … }).body`, and nested
//! attribute paths are merged into nested sets. Arithmetic and comparison stay as operators;
//! the scope check turns them into calls of `__sub`, `__lessThan`, … only where the program
//! rebinds those names, as Nix would call the user's function there.

use crate::symbol::Sym;
use rustc_hash::FxHashMap;

/// A byte range in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub span: Span,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    /// A string literal without interpolation (also a URI literal).
    Str(Box<[u8]>),
    /// An absolute path literal, resolved against the file's directory at parse time.
    Path(Box<[u8]>),
    /// A `~/…` path literal: `$HOME` followed by the rest as written (Nix does not
    /// canonicalise these). The number is the length of the `$HOME` prefix.
    HomePath(Box<[u8]>, u32),
    Var(Var),
    /// `__curPos`: the position of this expression.
    CurPos,
    Select(Box<Select>),
    /// `e ? a.b.c`
    HasAttr(Box<HasAttr>),
    Attrs(Box<Attrs>),
    List(Box<[Expr]>),
    Lambda(Box<Lambda>),
    /// `f a b`: one node for a whole application chain.
    Call(Box<Call>),
    Let(Box<Attrs>, Box<Expr>),
    With(Box<Expr>, Box<Expr>),
    If(Box<[Expr; 3]>),
    Assert(Box<[Expr; 2]>),
    Not(Box<Expr>),
    /// Unary minus (Nix: `__sub 0 e`).
    Neg(Box<Expr>),
    Binary(BinOp, Box<[Expr; 2]>),
    /// `"a${b}c"` (`StrOrPath::Str`) or `./a/${b}` (`StrOrPath::Path`, first part the path).
    Interpolate(StrOrPath, Box<[Part]>),
}

/// Moves a vector that is done growing into an allocation of exactly its length: syntax
/// trees live as long as the evaluation, and the slack left by growing was a tenth of
/// their memory.
pub(crate) fn compact<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut exact = Vec::with_capacity(v.len());
        exact.append(v);
        *v = exact;
    }
}

impl ExprKind {
    /// `func args…`.
    pub fn call(func: Expr, args: Vec<Expr>) -> ExprKind {
        ExprKind::Call(Box::new(Call { func, args }))
    }
}

/// `e ? a.b.c` (boxed, as the larger variants are, to keep [`Expr`] at 32 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct HasAttr {
    pub expr: Expr,
    pub path: Box<[AttrName]>,
}

/// `f a b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Expr,
    pub args: Vec<Expr>,
}

/// A piece of an interpolated string or path.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text written literally (escapes already processed).
    Lit(Span, Box<[u8]>),
    /// `${e}` (the offset is that of the `${`, where Nix reports errors about it), or the
    /// leading path of a path interpolation.
    Expr(u32, Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOrPath {
    Str,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Eq,
    Neq,
    /// `a < b` (Nix: `__lessThan a b`)
    Lt,
    /// `a <= b` (Nix: `! __lessThan b a`)
    Le,
    /// `a > b` (Nix: `__lessThan b a`)
    Gt,
    /// `a >= b` (Nix: `! __lessThan a b`)
    Ge,
    And,
    Or,
    Impl,
    Update,
    /// `+`: Nix's string/path-aware concatenation or numeric addition.
    Add,
    /// (Nix: `__sub a b`)
    Sub,
    /// (Nix: `__mul a b`)
    Mul,
    /// (Nix: `__div a b`)
    Div,
    /// `++`
    Concat,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Impl => "->",
            BinOp::Update => "//",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Concat => "++",
        }
    }
}

/// A variable reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: Sym,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub expr: Expr,
    pub path: Box<[AttrName]>,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrName {
    Static(Sym),
    /// `${e}` or an interpolated `"…"`.
    Dynamic(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attrs {
    pub rec: bool,
    /// Static attributes; sorted by symbol once resolved (in source order before).
    pub entries: Vec<AttrEntry>,
    pub dynamic: Vec<DynamicAttr>,
    /// The `e` of each `inherit (e) …`, shared by the attributes it provides.
    pub inherit_sources: Vec<Expr>,
    /// Name lookup while the parser is still adding attributes to a large set.
    pub(crate) index: Option<Box<FxHashMap<Sym, u32>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttrEntry {
    pub name: Sym,
    /// Where the attribute is defined (its attribute path), for `unsafeGetAttrPos` and errors.
    pub span: Span,
    pub value: AttrValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Plain(Expr),
    /// `inherit x;`: the variable `x` of the enclosing scope (never of a `rec` set itself).
    Inherit(Var, Span),
    /// `inherit (e) x;`: selects `x` from `inherit_sources[source]`.
    InheritFrom {
        source: u32,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DynamicAttr {
    pub name: Expr,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lambda {
    /// Where the function is written: the start of its expression's span.
    pub start: u32,
    /// The `x` of `x: …` or `{ … } @ x: …`.
    pub arg: Option<Sym>,
    pub formals: Option<Formals>,
    pub body: Expr,
    /// The attribute this function was defined as, for error traces.
    pub name: Option<Sym>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Formals {
    /// Sorted by symbol once resolved.
    pub entries: Vec<Formal>,
    pub ellipsis: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Formal {
    pub name: Sym,
    pub default: Option<Expr>,
    pub span: Span,
}

impl Attrs {
    pub fn new(rec: bool) -> Self {
        Attrs {
            rec,
            entries: Vec::new(),
            dynamic: Vec::new(),
            inherit_sources: Vec::new(),
            index: None,
        }
    }

    /// Position of `name` among the entries, while parsing (unsorted) or after (sorted).
    pub fn find(&mut self, name: Sym) -> Option<usize> {
        const LINEAR: usize = 8;
        if self.entries.len() <= LINEAR {
            return self.entries.iter().position(|e| e.name == name);
        }
        let entries = &self.entries;
        let index = self.index.get_or_insert_with(|| {
            Box::new(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.name, i as u32))
                    .collect(),
            )
        });
        index.get(&name).map(|&i| i as usize)
    }

    pub fn push(&mut self, entry: AttrEntry) {
        if let Some(index) = &mut self.index {
            index.insert(entry.name, self.entries.len() as u32);
        }
        self.entries.push(entry);
    }

    /// Sorts the entries by symbol, the order scopes and lookups use.
    pub(crate) fn finish(&mut self) {
        self.index = None;
        self.entries.sort_unstable_by_key(|e| e.name);
        compact(&mut self.entries);
        compact(&mut self.dynamic);
        compact(&mut self.inherit_sources);
    }

    /// Binary search for a static attribute in a resolved set.
    pub fn get(&self, name: Sym) -> Option<&AttrEntry> {
        self.entries
            .binary_search_by_key(&name, |e| e.name)
            .ok()
            .map(|i| &self.entries[i])
    }
}

impl Expr {
    pub fn new(span: Span, kind: ExprKind) -> Self {
        Expr { span, kind }
    }

    /// Takes the node's contents (an `Expr` cannot be destructured: it implements `Drop`).
    pub fn into_kind(mut self) -> ExprKind {
        std::mem::replace(&mut self.kind, ExprKind::CurPos)
    }
}

/// Frees deep trees (`1 + 1 + …` a million times over) without overflowing the stack:
/// each level of the recursive drop checks the stack and grows it when needed.
impl Drop for Expr {
    fn drop(&mut self) {
        match self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(..)
            | ExprKind::Var(_)
            | ExprKind::CurPos => {}
            _ => {
                let kind = std::mem::replace(&mut self.kind, ExprKind::CurPos);
                stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, move || drop(kind));
            }
        }
    }
}
