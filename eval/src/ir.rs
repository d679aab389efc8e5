//! The evaluator's own code: what [`crate::compile`] makes of a parsed tree.
//!
//! The tree has the shape of the parser's ([`ferrix_parser::ast`]), with the facts the
//! evaluator's `unsafe` code relies on added by this crate alone:
//! - every variable's [`Slot`], the index [`crate::env::Env::slot`] reads without a bounds
//!   check in release builds;
//! - every function's [`Lambda`] facts (`keeps_scope`, `arg_escapes`,
//!   `outer_arg_escapes`), which decide when a call's scope or argument lives on the native
//!   stack (see `EnvFrame`).
//!
//! Every field is private to this crate, and nothing here has a public constructor: code
//! reaches an [`Expr`] only through [`crate::Evaluator::parse`], whose compile step computed
//! those facts. Other crates may only read what is harmless (a function's formals, for
//! `functionArgs` and auto-calling):
//!
//! So `x: y: x` always keeps the scope of its outer call, which its inner function
//! captures, and `(x: y: x) 42 0` is 42:
//!
//! ```
//! let bump = bumpalo::Bump::new();
//! let ev = ferrix_eval::Evaluator::builder(&bump).build();
//! let v = ev.eval_text(b"(x: y: x) 42 0", ferrix_parser::Origin::String, b"/");
//! assert!(matches!(v, Ok(ferrix_eval::value::Value::Int(42))));
//! ```
//!
//! Outside code cannot mark that scope as not kept: the parser's tree has no such fact any
//! more (the evaluator would not read it anyway),
//!
//! ```compile_fail,E0609
//! use ferrix_parser::ast::ExprKind;
//! let globals = ["builtins"].into_iter();
//! let (mut symbols, globals) = ferrix_parser::base_environment(globals);
//! let info = ferrix_parser::SourceInfo {
//!     origin: ferrix_parser::Origin::String,
//!     base_dir: b"/",
//!     home: b"/",
//! };
//! let mut e = ferrix_parser::parse(b"x: y: x", &info, &mut symbols, &globals).unwrap();
//! if let ExprKind::Lambda(l) = &mut e.kind {
//!     l.keeps_scope = false;
//! }
//! ```
//!
//! and the evaluator's own function, reached through its value, keeps it private:
//!
//! ```compile_fail,E0616
//! let bump = bumpalo::Bump::new();
//! let ev = ferrix_eval::Evaluator::builder(&bump).build();
//! let v = ev.eval_text(b"x: y: x", ferrix_parser::Origin::String, b"/").unwrap();
//! if let ferrix_eval::value::Value::Lambda(c) = v {
//!     let l: &mut ferrix_eval::ir::Lambda = unsafe { &mut *(c.lambda() as *const _ as *mut _) };
//!     l.keeps_scope = false;
//! }
//! ```
//!
//! ```compile_fail,E0451
//! // No crate but this one can make a function, nor say it keeps no scope.
//! fn forge(l: &ferrix_eval::ir::Lambda) -> ferrix_eval::ir::Lambda {
//!     ferrix_eval::ir::Lambda { keeps_scope: false, ..*l }
//! }
//! ```
//!
//! ```compile_fail,E0616
//! // Nor read the facts (let alone change them) through a function value.
//! fn peek(c: &ferrix_eval::value::Closure<'_>) -> bool {
//!     c.lambda().keeps_scope
//! }
//! ```

use ferrix_parser::ast::{self, BinOp, StrOrPath};
use ferrix_parser::Sym;

/// An expression, with an absolute position (its file's base added to the offset where it
/// starts). Only starts are kept: Nix's messages and positions show nothing else.
///
/// Every node is 24 bytes ([`ExprKind`] 16): what does not fit in one word is behind a
/// box. On a NixOS system the compiled code of 3,000 files is 40-50 MiB of the heap, so
/// each word an expression saves is about 6 MiB of peak.
#[derive(Debug)]
pub struct Expr {
    pub(crate) pos: u32,
    pub(crate) kind: ExprKind,
}

#[derive(Debug)]
pub(crate) enum ExprKind {
    Int(i64),
    Float(f64),
    Str(Box<Box<[u8]>>),
    /// A string of at most [`SHORT_STR`] bytes, kept in the node: most are (`"out"`,
    /// `"x86_64-linux"`), and a box would cost 16 bytes besides the text's own block.
    ShortStr(ShortStr),
    Path(Box<Box<[u8]>>),
    /// A `~/…` path, `$HOME` already in front.
    HomePath(Box<Box<[u8]>>),
    Var(Var),
    CurPos,
    Select(Box<Select>),
    HasAttr(Box<HasAttr>),
    Attrs(Box<Attrs>),
    List(Box<Box<[Expr]>>),
    Lambda(Box<Lambda>),
    Call(Box<Call>),
    Let(Box<(Attrs, Expr)>),
    /// The set, then the body.
    With(Box<[Expr; 2]>),
    If(Box<[Expr; 3]>),
    Assert(Box<Assert>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<[Expr; 2]>),
    Interpolate(Box<(StrOrPath, Box<[Part]>)>),
}

/// The longest string literal an [`ExprKind::ShortStr`] holds.
pub(crate) const SHORT_STR: usize = 14;

#[derive(Debug, Clone, Copy)]
pub(crate) struct ShortStr {
    len: u8,
    bytes: [u8; SHORT_STR],
}

impl ShortStr {
    pub(crate) fn new(s: &[u8]) -> Option<ShortStr> {
        let mut bytes = [0; SHORT_STR];
        bytes.get_mut(..s.len())?.copy_from_slice(s);
        Some(ShortStr {
            len: s.len() as u8,
            bytes,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A variable and where the compile step found it: 12 bytes, so that an expression of
/// one fits in [`ExprKind`]'s 16 (see [`Var::slot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Var {
    pub(crate) name: Sym,
    /// The slot's kind in the top two bits, `up` (or nothing, for a global) below them.
    kind_up: u32,
    /// `index` of a local slot, a global's index, nothing for a `with` slot.
    index: u32,
}

const KIND_SHIFT: u32 = 30;
const LOCAL: u32 = 0;
const WITH: u32 = 1;
const GLOBAL: u32 = 2;

impl Var {
    /// `None` when `up` needs more than 30 bits: over a billion nested scopes, which no
    /// parser gets to (Nix's stops at 10,000 levels of nesting).
    pub(crate) fn new(name: Sym, slot: Slot) -> Option<Var> {
        let (kind, up, index) = match slot {
            Slot::Local { up, index } => (LOCAL, up, index),
            Slot::With { up } => (WITH, up, 0),
            Slot::Global(i) => (GLOBAL, 0, i),
        };
        (up >> KIND_SHIFT == 0).then_some(Var {
            name,
            kind_up: kind << KIND_SHIFT | up,
            index,
        })
    }

    #[inline(always)]
    pub(crate) fn slot(&self) -> Slot {
        let up = self.kind_up & ((1 << KIND_SHIFT) - 1);
        match self.kind_up >> KIND_SHIFT {
            LOCAL => Slot::Local {
                up,
                index: self.index,
            },
            WITH => Slot::With { up },
            _ => Slot::Global(self.index),
        }
    }
}

/// Where a variable lives. A `Local` slot's `up` and `index` are those of a scope the
/// compile step opened around the variable, numbered as the evaluator builds its scopes:
/// - a function's scope holds its `@` argument (if any) at index 0, then its formals in
///   [`Formals::entries`] order (sorted by symbol);
/// - a `let` or `rec` set's scope holds its static attributes in [`Attrs::entries`] order;
/// - a `with` scope holds one slot (the set) and is never a `Local` variable's home;
/// - code compiled in a scope of names ([`crate::Evaluator::parse_in_scope`]) runs in one
///   scope of exactly those names, around which the others open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Local {
        up: u32,
        index: u32,
    },
    /// Not bound lexically: looked up at run time in the `with` scope `up` levels out, then
    /// in the `with`s around it.
    With {
        up: u32,
    },
    /// A name of the global scope, by its index there.
    Global(u32),
}

#[derive(Debug)]
pub(crate) struct Select {
    pub(crate) expr: Expr,
    pub(crate) path: Box<[AttrName]>,
    /// `or …`, which few selections have: boxed, so that a selection costs 48 bytes.
    pub(crate) default: Option<Box<Expr>>,
}

#[derive(Debug)]
pub(crate) struct HasAttr {
    pub(crate) expr: Expr,
    pub(crate) path: Box<[AttrName]>,
}

#[derive(Debug)]
pub(crate) enum AttrName {
    Static(Sym),
    Dynamic(Box<DynamicName>),
}

/// `${e}` in an attribute path, and its text as parsed, which error messages show when
/// `e` fails.
#[derive(Debug)]
pub(crate) struct DynamicName {
    pub(crate) expr: Expr,
    pub(crate) source: ast::Expr,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) func: Expr,
    pub(crate) args: Box<[Expr]>,
}

/// `assert cond; body`, with the condition as parsed, which the failure message prints.
#[derive(Debug)]
pub(crate) struct Assert {
    pub(crate) cond: Expr,
    pub(crate) body: Expr,
    pub(crate) source: ast::Expr,
}

#[derive(Debug)]
pub(crate) enum Part {
    Lit(Box<[u8]>),
    /// `${e}`, with the offset of its `${`.
    Expr(u32, Expr),
}

#[derive(Debug)]
pub(crate) struct Attrs {
    pub(crate) rec: bool,
    /// Sorted by symbol; a `let` or `rec` set's scope has one slot per entry, in this order.
    pub(crate) entries: Box<[AttrEntry]>,
    /// Dynamic attributes and `inherit (e)` sources, which few sets have: apart, so that
    /// a set costs 32 bytes here.
    pub(crate) rare: Option<Box<RareAttrs>>,
}

#[derive(Debug)]
pub(crate) struct RareAttrs {
    pub(crate) dynamic: Box<[DynamicAttr]>,
    pub(crate) inherit_sources: Box<[Expr]>,
}

impl Attrs {
    pub(crate) fn dynamic(&self) -> &[DynamicAttr] {
        self.rare.as_ref().map_or(&[], |r| &r.dynamic)
    }

    pub(crate) fn inherit_sources(&self) -> &[Expr] {
        self.rare.as_ref().map_or(&[], |r| &r.inherit_sources)
    }
}

#[derive(Debug)]
pub(crate) struct AttrEntry {
    pub(crate) name: Sym,
    pub(crate) pos: u32,
    pub(crate) value: AttrValue,
}

#[derive(Debug)]
pub(crate) enum AttrValue {
    Plain(Expr),
    /// `inherit x;`: the variable `x` of the enclosing scope, and where the name is.
    Inherit(Var, u32),
    /// `inherit (e) x;`: selects `x` from `inherit_sources[source]`.
    InheritFrom {
        source: u32,
        pos: u32,
    },
}

#[derive(Debug)]
pub(crate) struct DynamicAttr {
    pub(crate) name: Expr,
    pub(crate) value: Expr,
    pub(crate) pos: u32,
}

/// A function. Its facts are computed by [`crate::compile`] from the compiled body, and
/// nothing else sets them.
#[derive(Debug)]
pub struct Lambda {
    pub(crate) start: u32,
    pub(crate) arg: Option<Sym>,
    pub(crate) formals: Option<Formals>,
    pub(crate) body: Expr,
    pub(crate) name: Option<Sym>,
    /// Whether running the body (or a default) may keep a reference to the call's scope
    /// beyond the call ([`Lambda::body_keeps_scope`]). When false, the scope may live on
    /// the native stack.
    pub(crate) keeps_scope: bool,
    /// Whether the call of `x: …` may keep the thunk of its argument beyond the call: the
    /// body keeps its scope, or has formals, or stores `x`'s thunk in a lazy value
    /// ([`stores_slot`]). When false, the argument's thunk may live on the native stack.
    pub(crate) arg_escapes: bool,
    /// The same for the argument of the enclosing `x: …` whose whole body this function
    /// is (its slot `(1, 0)`).
    pub(crate) outer_arg_escapes: bool,
}

impl Lambda {
    /// The `x` of `x: …` or `{ … } @ x: …`.
    pub fn arg(&self) -> Option<Sym> {
        self.arg
    }

    /// The `{ a, b ? 1, … }` of a function that has them.
    pub fn formals(&self) -> Option<&Formals> {
        self.formals.as_ref()
    }

    /// The attribute this function was defined as, for traces.
    pub fn name(&self) -> Option<Sym> {
        self.name
    }

    /// Where the function is written (an absolute offset, see [`crate::Pos::of`]).
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Whether evaluating the body or a default may keep a reference to the call's scope:
    /// it makes a closure, a nested scope, or a lazy value of code (anything but literals,
    /// variables with a slot and [`SlotArith`]), or a default is not a number literal.
    pub(crate) fn body_keeps_scope(&self) -> bool {
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

#[derive(Debug)]
pub struct Formals {
    /// Sorted by symbol.
    pub(crate) entries: Box<[Formal]>,
    pub(crate) ellipsis: bool,
}

impl Formals {
    /// The formals, sorted by symbol.
    pub fn entries(&self) -> &[Formal] {
        &self.entries
    }

    /// Whether the function takes other attributes too (`...`).
    pub fn ellipsis(&self) -> bool {
        self.ellipsis
    }
}

#[derive(Debug)]
pub struct Formal {
    pub(crate) name: Sym,
    pub(crate) default: Option<Expr>,
    pub(crate) pos: u32,
}

impl Formal {
    pub fn name(&self) -> Sym {
        self.name
    }

    /// Whether the formal has a default (`b ? 1`).
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// Where the formal is written (an absolute offset, see [`crate::Pos::of`]).
    pub fn pos(&self) -> u32 {
        self.pos
    }
}

impl Expr {
    pub(crate) fn new(pos: u32, kind: ExprKind) -> Self {
        Expr { pos, kind }
    }

    /// `n - 1`, `i < 2`, … (see [`SlotArith`]).
    #[inline]
    pub(crate) fn slot_arith(&self) -> Option<SlotArith<'_>> {
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
            ExprKind::Var(v) if matches!(v.slot(), Slot::Local { .. } | Slot::Global(_)) => {
                Some(v.slot())
            }
            _ => None,
        };
        let (var, lit, var_left, slot) = match (slot(&b[0]), slot(&b[1])) {
            (Some(s), None) if is_lit(&b[1]) => (&b[0], &b[1], true, s),
            (None, Some(s)) if is_lit(&b[0]) => (&b[1], &b[0], false, s),
            _ => return None,
        };
        Some(SlotArith {
            op: *op,
            var,
            slot,
            lit,
            var_left,
        })
    }
}

/// Frees deep trees (`1 + 1 + …` a million times over) without overflowing the stack.
impl Drop for Expr {
    fn drop(&mut self) {
        match self.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::ShortStr(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(_)
            | ExprKind::Var(_)
            | ExprKind::CurPos => {}
            _ => {
                let kind = std::mem::replace(&mut self.kind, ExprKind::CurPos);
                stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, move || drop(kind));
            }
        }
    }
}

/// `n - 1`, `i + 1`, `n < 2`, `i / 7`: arithmetic or a comparison between a variable bound
/// to a slot and a number literal (a divisor other than zero). Such an argument needs only
/// the variable's thunk when it is lazy, not its scope, and can be computed at once when the
/// variable is already a number.
#[derive(Clone, Copy)]
pub(crate) struct SlotArith<'e> {
    pub(crate) op: BinOp,
    pub(crate) var: &'e Expr,
    pub(crate) slot: Slot,
    pub(crate) lit: &'e Expr,
    /// Whether the variable is the left operand.
    pub(crate) var_left: bool,
}

/// Whether `e` is a literal, whose value the evaluator makes once and shares.
pub(crate) fn is_literal(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::ShortStr(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(_)
    )
}

/// Whether the evaluator stores `e` unevaluated with its scope when it is an argument, a
/// list item or an attribute value (`Evaluator::thunk` makes a `Deferred` thunk of it):
/// everything but literals, variables with a slot and [`SlotArith`].
pub(crate) fn is_lazy_code(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Var(v) => !matches!(v.slot(), Slot::Local { .. } | Slot::Global(_)),
        ExprKind::Binary(..) => e.slot_arith().is_none(),
        _ => !is_literal(e),
    }
}

/// Whether evaluating `e` strictly may store a reference to its scope (see
/// [`Lambda::body_keeps_scope`]).
pub(crate) fn keeps_scope(e: &Expr) -> bool {
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || keeps_scope_inner(e))
}

fn keeps_scope_inner(e: &Expr) -> bool {
    let names = |path: &[AttrName]| {
        path.iter().any(|n| match n {
            AttrName::Dynamic(d) => keeps_scope(&d.expr),
            AttrName::Static(_) => false,
        })
    };
    let lazy = |x: &Expr| is_lazy_code(x) || keeps_scope(x);
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::ShortStr(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(_)
        | ExprKind::Var(_)
        | ExprKind::CurPos => false,
        ExprKind::Select(s) => {
            keeps_scope(&s.expr) || names(&s.path) || s.default.as_deref().is_some_and(keeps_scope)
        }
        ExprKind::HasAttr(h) => keeps_scope(&h.expr) || names(&h.path),
        ExprKind::List(items) => items.iter().any(lazy),
        ExprKind::Call(c) => keeps_scope(&c.func) || c.args.iter().any(lazy),
        ExprKind::If(b) => b.iter().any(keeps_scope),
        ExprKind::Assert(a) => keeps_scope(&a.cond) || keeps_scope(&a.body),
        ExprKind::Not(x) | ExprKind::Neg(x) => keeps_scope(x),
        ExprKind::Binary(_, b) => b.iter().any(keeps_scope),
        ExprKind::Interpolate(i) => i.1.iter().any(|p| match p {
            Part::Lit(_) => false,
            Part::Expr(_, x) => keeps_scope(x),
        }),
        // A plain set keeps its scope only through lazy values (`{ inherit x; y = 1; }`
        // does not): `with`-bound `inherit`s look their name up lazily in the scope.
        ExprKind::Attrs(a) if !a.rec => {
            a.entries.iter().any(|en| match &en.value {
                AttrValue::Plain(x) => lazy(x),
                AttrValue::Inherit(v, _) => matches!(v.slot(), Slot::With { .. }),
                AttrValue::InheritFrom { .. } => false,
            }) || a.inherit_sources().iter().any(lazy)
                || a.dynamic()
                    .iter()
                    .any(|d| keeps_scope(&d.name) || lazy(&d.value))
        }
        // Closures, recursive sets and nested scopes.
        ExprKind::Lambda(_) | ExprKind::Attrs(_) | ExprKind::Let(_) | ExprKind::With(_) => true,
    }
}

/// Whether strictly evaluating `e`, which keeps no scope, may store the thunk of the
/// variable in slot `(up, index)`; that happens only where `e` makes a lazy value of it
/// (an argument, a list item or an attribute that is the variable, or a [`SlotArith`] of
/// it). Scopes and closures count as storing everything.
pub(crate) fn stores_slot(e: &Expr, up: u32, index: u32) -> bool {
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || {
        stores_slot_inner(e, up, index)
    })
}

fn stores_slot_inner(e: &Expr, up: u32, index: u32) -> bool {
    let it = Slot::Local { up, index };
    // A lazy position: the variable itself, or an argument made of it.
    let lazy = |x: &Expr| match &x.kind {
        ExprKind::Var(v) => v.slot() == it,
        _ => match x.slot_arith() {
            Some(a) => a.slot == it,
            None => stores_slot(x, up, index),
        },
    };
    let names = |path: &[AttrName]| {
        path.iter().any(|n| match n {
            AttrName::Dynamic(d) => stores_slot(&d.expr, up, index),
            AttrName::Static(_) => false,
        })
    };
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::ShortStr(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(_)
        | ExprKind::Var(_)
        | ExprKind::CurPos => false,
        ExprKind::Select(s) => {
            stores_slot(&s.expr, up, index)
                || names(&s.path)
                || s.default
                    .as_deref()
                    .is_some_and(|d| stores_slot(d, up, index))
        }
        ExprKind::HasAttr(h) => stores_slot(&h.expr, up, index) || names(&h.path),
        ExprKind::List(items) => items.iter().any(lazy),
        ExprKind::Call(c) => stores_slot(&c.func, up, index) || c.args.iter().any(lazy),
        ExprKind::If(b) => b.iter().any(|x| stores_slot(x, up, index)),
        ExprKind::Assert(a) => stores_slot(&a.cond, up, index) || stores_slot(&a.body, up, index),
        ExprKind::Not(x) | ExprKind::Neg(x) => stores_slot(x, up, index),
        ExprKind::Binary(_, b) => b.iter().any(|x| stores_slot(x, up, index)),
        ExprKind::Interpolate(i) => i.1.iter().any(|p| match p {
            Part::Lit(_) => false,
            Part::Expr(_, x) => stores_slot(x, up, index),
        }),
        ExprKind::Attrs(a) => {
            a.entries.iter().any(|en| match &en.value {
                AttrValue::Plain(x) => lazy(x),
                AttrValue::Inherit(v, _) => v.slot() == it,
                AttrValue::InheritFrom { .. } => false,
            }) || a.inherit_sources().iter().any(lazy)
                || a.dynamic()
                    .iter()
                    .any(|d| stores_slot(&d.name, up, index) || lazy(&d.value))
        }
        ExprKind::Lambda(_) | ExprKind::Let(_) | ExprKind::With(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the compiled code's memory depends on (see [`Expr`]).
    #[test]
    fn code_sizes() {
        assert_eq!(std::mem::size_of::<Var>(), 12);
        assert_eq!(std::mem::size_of::<ExprKind>(), 16);
        assert_eq!(std::mem::size_of::<Expr>(), 24);
        assert_eq!(std::mem::size_of::<AttrEntry>(), 32);
        assert_eq!(std::mem::size_of::<Formal>(), 32);
        assert_eq!(std::mem::size_of::<Attrs>(), 32);
        assert_eq!(std::mem::size_of::<Select>(), 48);
    }

    #[test]
    fn short_strings_keep_their_bytes() {
        for s in [&b""[..], b"out", b"x86_64-linux", b"fourteen bytes"] {
            assert_eq!(ShortStr::new(s).expect("short").bytes(), s);
        }
        assert!(ShortStr::new(b"fifteen bytes!!").is_none());
    }

    /// Every kind of slot comes back out of a variable as it went in, up to the largest
    /// `up` that fits, and a larger one is refused.
    #[test]
    fn variables_keep_their_slots() {
        let top = (1 << KIND_SHIFT) - 1;
        for slot in [
            Slot::Local { up: 0, index: 0 },
            Slot::Local {
                up: top,
                index: u32::MAX,
            },
            Slot::With { up: 0 },
            Slot::With { up: top },
            Slot::Global(0),
            Slot::Global(u32::MAX),
        ] {
            let v = Var::new(Sym(7), slot).expect("fits");
            assert_eq!((v.name, v.slot()), (Sym(7), slot));
        }
        assert_eq!(
            Var::new(
                Sym(7),
                Slot::Local {
                    up: top + 1,
                    index: 0
                }
            ),
            None
        );
        assert_eq!(Var::new(Sym(7), Slot::With { up: u32::MAX }), None);
    }
}
