//! The abstract syntax tree.
//!
//! Every node carries the byte span it was parsed from. Desugarings match Nix 2.8:
//! `<p>` is `__findFile __nixPath "p"`, `let { … }` is `(rec { … }).body`, and nested
//! attribute paths are merged into nested sets. Arithmetic and comparison stay as operators;
//! the resolver turns them into calls of `__sub`, `__lessThan`, … only where the program
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

/// A variable reference and where the resolver found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: Sym,
    pub slot: Slot,
}

/// Where a variable lives, fixed statically by the resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Not resolved yet (the state straight out of the parser).
    Unresolved,
    /// `up` scopes out (0 = innermost), entry `index` of that scope.
    Local { up: u32, index: u32 },
    /// Not bound lexically: looked up at run time in the `with` scope `up` levels out,
    /// then in the `with`s around it.
    With { up: u32 },
    /// A name of the global base environment (`builtins`, `map`, `__add`, …).
    Global(u32),
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
    /// Whether running the body may keep a reference to the call's scope (see
    /// [`Lambda::body_keeps_scope`]); set by the resolver, `true` until then.
    pub keeps_scope: bool,
    /// Whether running the body may keep the thunk of its argument `x` (of `x: …`), or of
    /// the argument of an enclosing `x: …` whose body this function is: as a lazy value
    /// (`f x`, `[ x ]`, `{ inherit x; }`), or inside one (`f (x + 1)`). When neither this
    /// nor `keeps_scope` holds, an evaluator may put that argument's thunk on its stack.
    /// Set by the resolver, `true` until then.
    pub arg_escapes: bool,
    pub outer_arg_escapes: bool,
}

impl Lambda {
    /// Whether evaluating this function's body may keep a reference to its call's scope
    /// beyond the call: it makes a closure, a nested scope, or a lazy value of code (any
    /// argument, list item or default that is not a literal or a plain variable). When it
    /// cannot, an evaluator may put the scope on its stack. Needs resolved variables.
    pub fn body_keeps_scope(&self) -> bool {
        let defaults = self
            .formals
            .iter()
            .flat_map(|f| f.entries.iter())
            .filter_map(|f| f.default.as_ref());
        for d in defaults {
            if !matches!(d.kind, ExprKind::Int(_) | ExprKind::Float(_)) || keeps_scope(d) {
                return true;
            }
        }
        keeps_scope(&self.body)
    }
}

/// Adds `base` to every position in `e`, so that positions become absolute: an evaluator
/// that gives each file its own range of positions can then use a span's offset as a
/// position without knowing which file the code came from.
pub fn rebase(e: &mut Expr, base: u32) {
    // Deeply nested code (long `++` chains) needs more stack than the main thread has.
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || rebase_inner(e, base))
}

fn rebase_inner(e: &mut Expr, base: u32) {
    fn span(s: &mut Span, base: u32) {
        s.start = s.start.saturating_add(base);
        s.end = s.end.saturating_add(base);
    }
    fn attr_name(n: &mut AttrName, base: u32) {
        if let AttrName::Dynamic(e) = n {
            rebase(e, base);
        }
    }
    fn attrs(a: &mut Attrs, base: u32) {
        for entry in &mut a.entries {
            span(&mut entry.span, base);
            match &mut entry.value {
                AttrValue::Plain(e) => rebase(e, base),
                AttrValue::Inherit(_, s) | AttrValue::InheritFrom { span: s, .. } => span(s, base),
            }
        }
        for d in &mut a.dynamic {
            span(&mut d.span, base);
            rebase(&mut d.name, base);
            rebase(&mut d.value, base);
        }
        for e in &mut a.inherit_sources {
            rebase(e, base);
        }
    }
    span(&mut e.span, base);
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(..)
        | ExprKind::Var(_)
        | ExprKind::CurPos => {}
        ExprKind::Select(s) => {
            rebase(&mut s.expr, base);
            s.path.iter_mut().for_each(|n| attr_name(n, base));
            if let Some(d) = &mut s.default {
                rebase(d, base);
            }
        }
        ExprKind::HasAttr(h) => {
            rebase(&mut h.expr, base);
            h.path.iter_mut().for_each(|n| attr_name(n, base));
        }
        ExprKind::Attrs(a) => attrs(a, base),
        ExprKind::List(items) => items.iter_mut().for_each(|x| rebase(x, base)),
        ExprKind::Lambda(l) => {
            l.start = l.start.saturating_add(base);
            if let Some(f) = &mut l.formals {
                for formal in &mut f.entries {
                    span(&mut formal.span, base);
                    if let Some(d) = &mut formal.default {
                        rebase(d, base);
                    }
                }
            }
            rebase(&mut l.body, base);
        }
        ExprKind::Call(c) => {
            rebase(&mut c.func, base);
            c.args.iter_mut().for_each(|x| rebase(x, base));
        }
        ExprKind::Let(a, body) => {
            attrs(a, base);
            rebase(body, base);
        }
        ExprKind::With(x, body) => {
            rebase(x, base);
            rebase(body, base);
        }
        ExprKind::If(b) => b.iter_mut().for_each(|x| rebase(x, base)),
        ExprKind::Assert(b) | ExprKind::Binary(_, b) => b.iter_mut().for_each(|x| rebase(x, base)),
        ExprKind::Not(x) | ExprKind::Neg(x) => rebase(x, base),
        ExprKind::Interpolate(_, parts) => {
            for p in parts {
                match p {
                    Part::Lit(s, _) => span(s, base),
                    Part::Expr(at, x) => {
                        *at = at.saturating_add(base);
                        rebase(x, base);
                    }
                }
            }
        }
    }
}

/// Whether strictly evaluating `e`, which keeps no scope, may store the thunk of the
/// variable in slot `(up, index)`; that happens only where `e` makes a lazy value of it.
pub fn stores_slot(e: &Expr, up: u32, index: u32) -> bool {
    let is_it = |v: &Var| v.slot == Slot::Local { up, index };
    // A lazy position: the variable itself, or an argument made of it.
    let lazy = |x: &Expr| match &x.kind {
        ExprKind::Var(v) => is_it(v),
        _ => match x.slot_arith() {
            Some(a) => a.slot == Slot::Local { up, index },
            None => stores_slot(x, up, index),
        },
    };
    let names = |path: &[AttrName]| {
        path.iter().any(|n| match n {
            AttrName::Dynamic(x) => stores_slot(x, up, index),
            _ => false,
        })
    };
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(..)
        | ExprKind::Var(_)
        | ExprKind::CurPos => false,
        ExprKind::Select(s) => {
            stores_slot(&s.expr, up, index)
                || names(&s.path)
                || s.default
                    .as_ref()
                    .is_some_and(|d| stores_slot(d, up, index))
        }
        ExprKind::HasAttr(h) => stores_slot(&h.expr, up, index) || names(&h.path),
        ExprKind::List(items) => items.iter().any(lazy),
        ExprKind::Call(c) => stores_slot(&c.func, up, index) || c.args.iter().any(lazy),
        ExprKind::If(b) => b.iter().any(|x| stores_slot(x, up, index)),
        ExprKind::Assert(b) => b.iter().any(|x| stores_slot(x, up, index)),
        ExprKind::Not(x) | ExprKind::Neg(x) => stores_slot(x, up, index),
        ExprKind::Binary(_, b) => b.iter().any(|x| stores_slot(x, up, index)),
        ExprKind::Interpolate(_, parts) => parts.iter().any(|p| match p {
            Part::Lit(..) => false,
            Part::Expr(_, x) => stores_slot(x, up, index),
        }),
        ExprKind::Attrs(a) => {
            a.entries.iter().any(|en| match &en.value {
                AttrValue::Plain(x) => lazy(x),
                AttrValue::Inherit(v, _) => is_it(v),
                AttrValue::InheritFrom { .. } => false,
            }) || a.inherit_sources.iter().any(lazy)
                || a.dynamic
                    .iter()
                    .any(|d| stores_slot(&d.name, up, index) || lazy(&d.value))
        }
        // Scopes and closures keep everything (they make `keeps_scope` true anyway).
        ExprKind::Lambda(_) | ExprKind::Let(..) | ExprKind::With(..) => true,
    }
}

/// `n - 1`, `i + 1`, `n < 2`, `i / 7`: arithmetic or a comparison between a variable
/// bound to a slot and a number literal (a divisor other than zero). Such an argument needs only the variable's thunk when it is
/// lazy, not its scope, and can be computed at once when the variable is already a number.
#[derive(Clone, Copy)]
pub struct SlotArith<'e> {
    pub op: BinOp,
    pub var: &'e Expr,
    pub slot: Slot,
    pub lit: &'e Expr,
    /// Whether the variable is the left operand.
    pub var_left: bool,
}

impl Expr {
    pub fn slot_arith(&self) -> Option<SlotArith<'_>> {
        let ExprKind::Binary(op, b) = &self.kind else {
            return None;
        };
        use BinOp::*;
        // Division is total only by a literal other than zero.
        let nonzero = |e: &Expr| match e.kind {
            ExprKind::Int(n) => n != 0,
            ExprKind::Float(f) => f != 0.0,
            _ => false,
        };
        match op {
            Add | Sub | Mul | Lt | Le | Gt | Ge | Eq | Neq => {}
            Div if nonzero(&b[1]) => {}
            _ => return None,
        }
        let is_lit = |e: &Expr| matches!(e.kind, ExprKind::Int(_) | ExprKind::Float(_));
        let slot = |e: &Expr| match &e.kind {
            ExprKind::Var(v) if matches!(v.slot, Slot::Local { .. } | Slot::Global(_)) => {
                Some(v.slot)
            }
            _ => None,
        };
        let (var, lit, var_left) = match (slot(&b[0]), slot(&b[1])) {
            (Some(_), None) if is_lit(&b[1]) => (&b[0], &b[1], true),
            (None, Some(_)) if is_lit(&b[0]) => (&b[1], &b[0], false),
            _ => return None,
        };
        Some(SlotArith {
            op: *op,
            var,
            slot: slot(var)?,
            lit,
            var_left,
        })
    }
}

/// Whether code is stored unevaluated with its scope when it is an argument, a list item
/// or an attribute value: everything but literals, variables bound to a slot and
/// [`SlotArith`].
fn is_lazy_code(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(..) => false,
        ExprKind::Var(v) => !matches!(v.slot, Slot::Local { .. } | Slot::Global(_)),
        ExprKind::Binary(..) => e.slot_arith().is_none(),
        _ => true,
    }
}

/// Whether evaluating `e` strictly may store a reference to its scope (see
/// [`Lambda::body_keeps_scope`]).
fn keeps_scope(e: &Expr) -> bool {
    let names = |path: &[AttrName]| {
        path.iter().any(|n| match n {
            AttrName::Dynamic(x) => keeps_scope(x),
            _ => false,
        })
    };
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(..)
        | ExprKind::Var(_)
        | ExprKind::CurPos => false,
        ExprKind::Select(s) => {
            keeps_scope(&s.expr) || names(&s.path) || s.default.as_ref().is_some_and(keeps_scope)
        }
        ExprKind::HasAttr(h) => keeps_scope(&h.expr) || names(&h.path),
        ExprKind::List(items) => items.iter().any(|x| is_lazy_code(x) || keeps_scope(x)),
        ExprKind::Call(c) => {
            keeps_scope(&c.func) || c.args.iter().any(|x| is_lazy_code(x) || keeps_scope(x))
        }
        ExprKind::If(b) => b.iter().any(keeps_scope),
        ExprKind::Assert(b) => b.iter().any(keeps_scope),
        ExprKind::Not(x) | ExprKind::Neg(x) => keeps_scope(x),
        ExprKind::Binary(_, b) => b.iter().any(keeps_scope),
        ExprKind::Interpolate(_, parts) => parts.iter().any(|p| match p {
            Part::Lit(..) => false,
            Part::Expr(_, x) => keeps_scope(x),
        }),
        // A plain set keeps its scope only through lazy values (`{ inherit x; y = 1; }`
        // does not).
        ExprKind::Attrs(a) if !a.rec => {
            let lazy = |x: &Expr| is_lazy_code(x) || keeps_scope(x);
            a.entries.iter().any(|en| match &en.value {
                AttrValue::Plain(x) => lazy(x),
                AttrValue::Inherit(v, _) => !matches!(v.slot, Slot::Local { .. } | Slot::Global(_)),
                AttrValue::InheritFrom { .. } => false,
            }) || a.inherit_sources.iter().any(lazy)
                || a.dynamic
                    .iter()
                    .any(|d| keeps_scope(&d.name) || lazy(&d.value))
        }
        // Closures, recursive sets and nested scopes.
        ExprKind::Lambda(_) | ExprKind::Attrs(_) | ExprKind::Let(..) | ExprKind::With(..) => true,
    }
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
