//! The semantic actions of the grammar: everything the parser does beyond matching tokens.

use crate::ast::*;
use crate::symbol::{Interner, Sym};
use ferrix_lexer::IndPart;

/// An error found while parsing, at a byte offset of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
    pub kind: ErrorKind,
}

/// What a parse error is, for code that acts on it (the REPL reads another line when the
/// input ended early; a hint names the setting that adds a missing builtin). The message
/// is for people only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// Any other syntax error.
    #[default]
    Syntax,
    /// The input ended where more was expected.
    UnexpectedEnd,
    /// A variable no scope binds (the name).
    UndefinedVariable(String),
}

pub type LalrError<'a> = lalrpop_util::ParseError<usize, ferrix_lexer::Token<'a>, SyntaxError>;

pub(crate) fn user_error<'a>(offset: usize, message: String) -> LalrError<'a> {
    lalrpop_util::ParseError::User {
        error: SyntaxError {
            offset,
            message,
            kind: ErrorKind::Syntax,
        },
    }
}

/// Placeholder span for `inherit` positions, which Nix reports at the start of the whole
/// binding list; the enclosing rule fills it in once that is known.
pub(crate) const PENDING: Span = Span {
    start: u32::MAX,
    end: u32::MAX,
};

/// What the grammar actions need besides the tokens.
pub struct Ctx<'s> {
    pub symbols: &'s mut Interner,
    /// Directory that relative path literals resolve against.
    pub base_dir: &'s [u8],
    /// `$HOME`, for `~/…` paths.
    pub home: &'s [u8],
    /// How positions inside messages name this source ("already defined at …").
    pub origin_label: &'s str,
    /// The source, for turning offsets into lines and columns in messages.
    pub src: &'s [u8],
}

/// An attribute path as parsed: most have one name, which then needs no allocation.
pub type AttrPath = smallvec::SmallVec<[AttrName; 1]>;

/// One `name = value;` or `inherit …;` of a binding list, before it is added to a set.
pub enum Binding {
    Attr {
        path: AttrPath,
        span: Span,
        value: Expr,
    },
    Inherit {
        names: Vec<(Sym, Span)>,
        /// Where Nix places the inherited attributes: the end of `inherit`.
        at: Span,
    },
    InheritFrom {
        source: Expr,
        names: Vec<(Sym, Span)>,
        /// The end of the closing parenthesis.
        at: Span,
    },
}

/// A piece of a string, indented string or path body, as the grammar collects it.
pub enum Piece<'a> {
    Lit(Span, &'a [u8]),
    Ind(Span, IndPart<'a>),
    /// `${e}`, with the offset of the `${`.
    Interp(usize, Expr),
}

/// A prefix operator waiting in an operator chain.
#[derive(Debug, Clone, Copy)]
pub enum Prefix {
    Not,
    Neg,
}

/// An operand with its prefix operators (outermost first; rare, so boxed).
pub struct Operand {
    pub prefixes: Option<Box<Vec<(Prefix, usize)>>>,
    /// Where the operand starts, parentheses included: an operator's position.
    pub start: usize,
    pub expr: Expr,
}

impl Operand {
    pub fn with_prefix(mut self, p: Prefix, at: usize) -> Self {
        self.prefixes
            .get_or_insert_with(Default::default)
            .insert(0, (p, at));
        self
    }
}

pub enum ChainItem {
    Bin(BinOp, usize, &'static str),
    HasAttr(AttrPath, usize),
    Operand(Operand),
}

/// `a + b * -c ? d …` as written; [`Ctx::resolve_chain`] applies the precedence table.
pub struct Chain {
    pub first: Operand,
    pub rest: Vec<ChainItem>,
}

/// Binding strength of the operators, loosest first, with associativity, as in Nix 2.8's
/// grammar: `->` `||` `&&` `== !=` `< > <= >=` `//` `!` `+ -` `* /` `++` `?` unary minus.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Assoc {
    Left,
    Right,
    None,
}

fn bin_level(op: BinOp) -> (u8, Assoc) {
    use BinOp::*;
    match op {
        Impl => (1, Assoc::Right),
        Or => (2, Assoc::Left),
        And => (3, Assoc::Left),
        Eq | Neq => (4, Assoc::None),
        Lt | Gt | Le | Ge => (5, Assoc::None),
        Update => (6, Assoc::Right),
        Add | Sub => (8, Assoc::Left),
        Mul | Div => (9, Assoc::Left),
        Concat => (10, Assoc::Right),
    }
}

const NOT_LEVEL: u8 = 7;
const HAS_ATTR_LEVEL: u8 = 11;
const NEG_LEVEL: u8 = 12;

enum StackOp {
    Bin(BinOp, u8),
    Prefix(Prefix, usize, u8),
}

impl StackOp {
    fn level(&self) -> u8 {
        match self {
            StackOp::Bin(_, l) => *l,
            StackOp::Prefix(_, _, l) => *l,
        }
    }
}

/// Operands with the offset where each starts, parentheses included.
type Operands = Vec<(usize, Expr)>;

fn reduce(ops: &mut Vec<StackOp>, operands: &mut Operands) {
    let (Some(op), Some((rhs_start, rhs))) = (ops.pop(), operands.pop()) else {
        return;
    };
    let (start, e) = match op {
        StackOp::Prefix(p, at, _) => {
            let span = Span::new(at, rhs.span.end as usize);
            let kind = match p {
                Prefix::Not => ExprKind::Not(Box::new(rhs)),
                Prefix::Neg => ExprKind::Neg(Box::new(rhs)),
            };
            (at, Expr::new(span, kind))
        }
        StackOp::Bin(op, _) => match operands.pop() {
            Some((lhs_start, lhs)) => (
                lhs_start,
                Expr::new(
                    Span::new(lhs_start, rhs.span.end as usize),
                    ExprKind::Binary(op, Box::new([lhs, rhs])),
                ),
            ),
            None => (rhs_start, rhs),
        },
    };
    operands.push((start, e));
}

fn push_operand(o: Operand, ops: &mut Vec<StackOp>, operands: &mut Operands) {
    for (p, at) in o.prefixes.into_iter().flat_map(|b| *b) {
        let level = match p {
            Prefix::Not => NOT_LEVEL,
            Prefix::Neg => NEG_LEVEL,
        };
        ops.push(StackOp::Prefix(p, at, level));
    }
    operands.push((o.start, o.expr));
}

fn prefix_only(o: Operand) -> Expr {
    let mut e = o.expr;
    for (p, at) in o.prefixes.into_iter().flat_map(|b| *b).rev() {
        let span = Span::new(at, e.span.end as usize);
        e = Expr::new(
            span,
            match p {
                Prefix::Not => ExprKind::Not(Box::new(e)),
                Prefix::Neg => ExprKind::Neg(Box::new(e)),
            },
        );
    }
    e
}

impl Ctx<'_> {
    pub fn intern(&mut self, name: &[u8]) -> Sym {
        self.symbols.intern(name)
    }

    pub fn var(&mut self, span: Span, name: &[u8]) -> Expr {
        let name = self.intern(name);
        Expr::new(span, ExprKind::Var(Var { name }))
    }

    /// Shunting-yard over the chain, reproducing how bison's precedence declarations
    /// resolve Nix's ambiguous `expr_op` rules.
    pub fn resolve_chain<'a>(&mut self, chain: Chain) -> Result<Expr, LalrError<'a>> {
        if chain.rest.is_empty() {
            return Ok(prefix_only(chain.first));
        }
        let mut ops: Vec<StackOp> = Vec::new();
        let mut operands: Operands = Vec::new();
        push_operand(chain.first, &mut ops, &mut operands);
        for item in chain.rest {
            match item {
                ChainItem::Operand(o) => push_operand(o, &mut ops, &mut operands),
                ChainItem::Bin(op, at, token_name) => {
                    let (level, assoc) = bin_level(op);
                    while let Some(top) = ops.last() {
                        let top_level = top.level();
                        if top_level > level || (top_level == level && assoc == Assoc::Left) {
                            reduce(&mut ops, &mut operands);
                        } else if top_level == level && assoc == Assoc::None {
                            return Err(user_error(
                                at,
                                format!("syntax error, unexpected {token_name}"),
                            ));
                        } else {
                            break;
                        }
                    }
                    ops.push(StackOp::Bin(op, level));
                }
                ChainItem::HasAttr(path, end) => {
                    while ops.last().is_some_and(|t| t.level() > HAS_ATTR_LEVEL) {
                        reduce(&mut ops, &mut operands);
                    }
                    if let Some((start, e)) = operands.pop() {
                        let span = Span::new(start, end);
                        operands.push((
                            start,
                            Expr::new(
                                span,
                                ExprKind::HasAttr(Box::new(HasAttr {
                                    expr: e,
                                    path: path.into_boxed_slice(),
                                })),
                            ),
                        ));
                    }
                }
            }
        }
        while !ops.is_empty() {
            reduce(&mut ops, &mut operands);
        }
        operands
            .pop()
            .map(|(_, e)| e)
            .ok_or_else(|| user_error(0, "syntax error, empty operator chain".into()))
    }

    /// `f a`: Nix extends an existing call node instead of nesting a new one.
    pub fn apply(&mut self, start: usize, f: Expr, arg: Expr) -> Expr {
        let span = Span::new(start, arg.span.end as usize);
        let f_span = f.span;
        match f.into_kind() {
            ExprKind::Call(mut c) => {
                c.args.push(arg);
                Expr::new(span, ExprKind::Call(c))
            }
            kind => Expr::new(span, ExprKind::call(Expr::new(f_span, kind), vec![arg])),
        }
    }

    /// `"…"`: a plain string, or an interpolation of its parts; with `${…}` it is always an
    /// interpolation, even of a single string (`"${"a"}"` is not a plain string to Nix).
    pub fn string(&mut self, span: Span, parts: Vec<Piece<'_>>, interpolated: bool) -> Expr {
        let mut out: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Piece::Lit(s, raw) => {
                    out.push(Part::Lit(s, ferrix_lexer::unescape_str(raw).into()))
                }
                Piece::Ind(s, _) => out.push(Part::Lit(s, Box::default())),
                Piece::Interp(d, e) => out.push(Part::Expr(d as u32, e)),
            }
        }
        if !interpolated {
            let text = match out.pop() {
                Some(Part::Lit(_, t)) => t,
                _ => Box::default(),
            };
            return Expr::new(span, ExprKind::Str(text));
        }
        Expr::new(span, ExprKind::Interpolate(StrOrPath::Str, out.into()))
    }

    /// A string without interpolations given whole by the lexer (`Token::PlainStr`): the
    /// same tree as [`Ctx::string`] makes of its three tokens.
    pub fn plain_string(&mut self, span: Span, body: &[u8]) -> Expr {
        Expr::new(span, ExprKind::Str(ferrix_lexer::unescape_str(body).into()))
    }

    /// `''…''`: strips the common indentation as Nix 2.8 does.
    pub fn indented_string(&mut self, span: Span, parts: Vec<Piece<'_>>) -> Expr {
        if parts.is_empty() {
            return Expr::new(span, ExprKind::Str(Box::default()));
        }
        // Minimum indentation over lines with content; whitespace-only lines don't count.
        let mut at_line_start = true;
        let mut min_indent = usize::MAX;
        let mut cur = 0usize;
        for p in &parts {
            match p {
                Piece::Ind(_, IndPart::Text(t)) => {
                    for &c in t.iter() {
                        if at_line_start {
                            if c == b' ' {
                                cur += 1;
                            } else if c == b'\n' {
                                cur = 0;
                            } else {
                                at_line_start = false;
                                min_indent = min_indent.min(cur);
                            }
                        } else if c == b'\n' {
                            at_line_start = true;
                            cur = 0;
                        }
                    }
                }
                _ => {
                    if at_line_start {
                        at_line_start = false;
                        min_indent = min_indent.min(cur);
                    }
                }
            }
        }
        if min_indent == usize::MAX {
            min_indent = 1_000_000;
        }

        let mut out: Vec<Part> = Vec::with_capacity(parts.len());
        at_line_start = true;
        let mut dropped = 0usize;
        let n = parts.len();
        for (i, p) in parts.into_iter().enumerate() {
            let (s, text): (Span, &[u8]) = match p {
                Piece::Interp(d, e) => {
                    at_line_start = false;
                    dropped = 0;
                    out.push(Part::Expr(d as u32, e));
                    continue;
                }
                Piece::Ind(s, IndPart::Escaped(t)) => (s, t),
                Piece::Lit(s, t) => (s, t),
                Piece::Ind(s, IndPart::Text(t)) => (s, t),
            };
            let mut s2 = Vec::with_capacity(text.len());
            for &c in text {
                if at_line_start {
                    if c == b' ' {
                        if dropped >= min_indent {
                            s2.push(c);
                        }
                        dropped += 1;
                    } else if c == b'\n' {
                        dropped = 0;
                        s2.push(c);
                    } else {
                        at_line_start = false;
                        dropped = 0;
                        s2.push(c);
                    }
                } else {
                    s2.push(c);
                    if c == b'\n' {
                        at_line_start = true;
                    }
                }
            }
            // A final line of nothing but spaces is dropped.
            if i + 1 == n {
                if let Some(nl) = s2.iter().rposition(|&c| c == b'\n') {
                    if s2[nl + 1..].iter().all(|&c| c == b' ') {
                        s2.truncate(nl + 1);
                    }
                }
            }
            out.push(Part::Lit(s, s2.into()));
        }
        // A single string, written or interpolated, is not a concatenation.
        if out.len() == 1 {
            match out.pop() {
                Some(Part::Lit(_, t)) => return Expr::new(span, ExprKind::Str(t)),
                Some(Part::Expr(_, e)) if matches!(e.kind, ExprKind::Str(_)) => return e,
                Some(p) => out.push(p),
                None => {}
            }
        }
        Expr::new(span, ExprKind::Interpolate(StrOrPath::Str, out.into()))
    }

    /// The first segment of a path literal, made absolute as Nix does at parse time.
    pub fn path_start(&mut self, span: Span, raw: &[u8], home: bool) -> Expr {
        if home {
            let mut p = self.home.to_vec();
            p.extend_from_slice(&raw[1..]);
            return Expr::new(span, ExprKind::HomePath(p.into(), self.home.len() as u32));
        }
        let path = {
            let mut p = if raw.starts_with(b"/") {
                canon_path(raw)
            } else {
                let mut joined = self.base_dir.to_vec();
                joined.push(b'/');
                joined.extend_from_slice(raw);
                canon_path(&joined)
            };
            // The trailing slash of `./a/${x}` belongs to the path.
            if raw.len() > 1 && raw.ends_with(b"/") {
                p.push(b'/');
            }
            p
        };
        Expr::new(span, ExprKind::Path(path.into()))
    }

    pub fn path(&mut self, span: Span, start: Expr, parts: Vec<Piece<'_>>) -> Expr {
        if parts.is_empty() {
            return start;
        }
        let mut out = Vec::with_capacity(parts.len() + 1);
        out.push(Part::Expr(start.span.start, start));
        for p in parts {
            match p {
                Piece::Lit(s, raw) => out.push(Part::Lit(s, raw.into())),
                Piece::Interp(d, e) => out.push(Part::Expr(d as u32, e)),
                Piece::Ind(s, _) => out.push(Part::Lit(s, Box::default())),
            }
        }
        Expr::new(span, ExprKind::Interpolate(StrOrPath::Path, out.into()))
    }

    /// `<p>` is `__findFile __nixPath "p"`.
    pub fn search_path(&mut self, span: Span, raw: &[u8]) -> Expr {
        let inner = &raw[1..raw.len() - 1];
        let f = self.var(span, b"__findFile");
        let np = self.var(span, b"__nixPath");
        let s = Expr::new(span, ExprKind::Str(inner.into()));
        Expr::new(span, ExprKind::call(f, vec![np, s]))
    }

    /// An attribute name given as a string or `${…}`: static when it is a plain string.
    pub fn string_attr(&mut self, e: Expr) -> AttrName {
        let span = e.span;
        match e.into_kind() {
            ExprKind::Str(s) => AttrName::Static(self.intern(&s)),
            kind => AttrName::Dynamic(Expr::new(span, kind)),
        }
    }

    pub fn lambda<'a>(
        &mut self,
        span: Span,
        arg: Option<Sym>,
        formals: Option<(Vec<Formal>, bool)>,
        body: Expr,
    ) -> Result<Expr, LalrError<'a>> {
        let formals = match formals {
            None => None,
            Some((entries, ellipsis)) => {
                self.check_formals(span, arg, &entries)?;
                Some(Formals { entries, ellipsis })
            }
        };
        Ok(Expr::new(
            span,
            ExprKind::Lambda(Box::new(Lambda {
                start: span.start,
                arg,
                formals,
                body,
                name: None,
            })),
        ))
    }

    fn check_formals<'a>(
        &mut self,
        span: Span,
        arg: Option<Sym>,
        entries: &[Formal],
    ) -> Result<(), LalrError<'a>> {
        let mut sorted: Vec<(Sym, u32)> = entries.iter().map(|f| (f.name, f.span.start)).collect();
        sorted.sort_unstable();
        if let Some(w) = sorted
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[1])
            .min()
        {
            return Err(user_error(
                w.1 as usize,
                format!(
                    "duplicate formal function argument '{}'",
                    self.symbols.display(w.0)
                ),
            ));
        }
        if let Some(a) = arg {
            if entries.iter().any(|f| f.name == a) {
                return Err(user_error(
                    span.start as usize,
                    format!(
                        "duplicate formal function argument '{}'",
                        self.symbols.display(a)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a binding to the set being built (a new one for the first binding).
    pub fn bind_into<'a>(
        &mut self,
        set: Option<Box<Attrs>>,
        b: Binding,
    ) -> Result<Box<Attrs>, LalrError<'a>> {
        let mut set = set.unwrap_or_else(|| Box::new(Attrs::new(false)));
        self.bind(&mut set, b)?;
        Ok(set)
    }

    /// Adds one binding to a set under construction, with Nix's merging of nested paths.
    pub fn bind<'a>(&mut self, attrs: &mut Attrs, b: Binding) -> Result<(), LalrError<'a>> {
        match b {
            Binding::Attr { path, span, value } => self.add_attr(attrs, path, span, value),
            Binding::Inherit { names, at } => {
                for (name, _) in names {
                    if let Some(j) = attrs.find(name) {
                        return Err(self.dup_attr_name(name, at, attrs.entries[j].span));
                    }
                    let var = Var { name };
                    attrs.push(AttrEntry {
                        name,
                        span: at,
                        value: AttrValue::Inherit(var, PENDING),
                    });
                }
                Ok(())
            }
            Binding::InheritFrom { source, names, at } => {
                let source_index = attrs.inherit_sources.len() as u32;
                attrs.inherit_sources.push(source);
                for (name, _) in names {
                    if let Some(j) = attrs.find(name) {
                        return Err(self.dup_attr_name(name, at, attrs.entries[j].span));
                    }
                    attrs.push(AttrEntry {
                        name,
                        span: at,
                        value: AttrValue::InheritFrom {
                            source: source_index,
                            span: PENDING,
                        },
                    });
                }
                Ok(())
            }
        }
    }

    fn add_attr<'a>(
        &mut self,
        top: &mut Attrs,
        mut path: AttrPath,
        span: Span,
        value: Expr,
    ) -> Result<(), LalrError<'a>> {
        let last = path.len() - 1;
        let mut attrs: &mut Attrs = top;
        for i in 0..last {
            match &mut path[i] {
                AttrName::Static(sym) => {
                    let sym = *sym;
                    match attrs.find(sym) {
                        Some(j) => {
                            let prev = attrs.entries[j].span;
                            match &mut attrs.entries[j].value {
                                AttrValue::Plain(Expr {
                                    kind: ExprKind::Attrs(nested),
                                    ..
                                }) => attrs = nested,
                                _ => return Err(self.dup_attr_path(&path, span, prev)),
                            }
                        }
                        None => {
                            attrs.push(AttrEntry {
                                name: sym,
                                span,
                                value: AttrValue::Plain(Expr::new(
                                    span,
                                    ExprKind::Attrs(Box::new(Attrs::new(false))),
                                )),
                            });
                            let j = attrs.entries.len() - 1;
                            match &mut attrs.entries[j].value {
                                AttrValue::Plain(Expr {
                                    kind: ExprKind::Attrs(nested),
                                    ..
                                }) => attrs = nested,
                                _ => unreachable!("just pushed a nested set"),
                            }
                        }
                    }
                }
                AttrName::Dynamic(e) => {
                    let name = std::mem::replace(e, Expr::new(span, ExprKind::Int(0)));
                    attrs.dynamic.push(DynamicAttr {
                        name,
                        value: Expr::new(span, ExprKind::Attrs(Box::new(Attrs::new(false)))),
                        span,
                    });
                    let j = attrs.dynamic.len() - 1;
                    match &mut attrs.dynamic[j].value.kind {
                        ExprKind::Attrs(nested) => attrs = nested,
                        _ => unreachable!("just pushed a nested set"),
                    }
                }
            }
        }
        match path.pop() {
            Some(AttrName::Static(sym)) => match attrs.find(sym) {
                Some(j) => {
                    let prev = attrs.entries[j].span;
                    let existing = match &mut attrs.entries[j].value {
                        AttrValue::Plain(Expr {
                            kind: ExprKind::Attrs(nested),
                            ..
                        }) => Some(nested),
                        _ => None,
                    };
                    match (existing, value.into_kind()) {
                        (Some(target), ExprKind::Attrs(new)) => self.merge_attrs(target, *new),
                        _ => {
                            path.push(AttrName::Static(sym));
                            Err(self.dup_attr_path(&path, span, prev))
                        }
                    }
                }
                None => {
                    let mut value = value;
                    // Nix names a curried function's inner functions after the attribute too.
                    let mut e = &mut value;
                    while let ExprKind::Lambda(l) = &mut e.kind {
                        l.name = Some(sym);
                        e = &mut l.body;
                    }
                    attrs.push(AttrEntry {
                        name: sym,
                        span,
                        value: AttrValue::Plain(value),
                    });
                    Ok(())
                }
            },
            Some(AttrName::Dynamic(name)) => {
                attrs.dynamic.push(DynamicAttr { name, value, span });
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// `a.b = 1; a = { c = 2; };`: the static attributes of the literal set join the set
    /// made for the path. (Nix 2.8 drops the literal's dynamic attributes and `rec` here.)
    fn merge_attrs<'a>(&mut self, target: &mut Attrs, new: Attrs) -> Result<(), LalrError<'a>> {
        let base = target.inherit_sources.len() as u32;
        target.inherit_sources.extend(new.inherit_sources);
        for mut entry in new.entries {
            if let Some(j) = target.find(entry.name) {
                // Nix reports this one at the earlier definition.
                return Err(self.dup_attr_name(entry.name, target.entries[j].span, entry.span));
            }
            if let AttrValue::InheritFrom { source, .. } = &mut entry.value {
                *source += base;
            }
            target.push(entry);
        }
        Ok(())
    }

    fn dup_attr_name<'a>(&self, name: Sym, at: Span, prev: Span) -> LalrError<'a> {
        user_error(
            at.start as usize,
            format!(
                "attribute '{}' already defined at {}",
                crate::print::show_id(&self.symbols.display(name)),
                crate::diagnostic::LineIndex::new(self.src)
                    .describe(self.origin_label, prev.start as usize)
            ),
        )
    }

    fn dup_attr_path<'a>(&self, path: &[AttrName], at: Span, prev: Span) -> LalrError<'a> {
        user_error(
            at.start as usize,
            format!(
                "attribute '{}' already defined at {}",
                crate::print::show_attr_path(self.symbols, path),
                crate::diagnostic::LineIndex::new(self.src)
                    .describe(self.origin_label, prev.start as usize)
            ),
        )
    }

    /// Nix reports the positions of `inherit`ed variables at the start of the binding list.
    pub fn fill_inherit_positions(&self, attrs: &mut Attrs, at: usize) {
        let span = Span::new(at, at);
        for e in &mut attrs.entries {
            match &mut e.value {
                AttrValue::Inherit(_, s) | AttrValue::InheritFrom { span: s, .. }
                    if *s == PENDING =>
                {
                    *s = span
                }
                _ => {}
            }
        }
    }
}

/// Collapses `.`, `..` and repeated slashes of an absolute path, without touching the file
/// system (Nix's `canonPath`).
pub fn canon_path(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(p.len());
    for comp in p.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&c| c == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            c => {
                out.push(b'/');
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}
