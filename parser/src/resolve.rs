//! Static scope resolution.
//!
//! Nix resolves variables right after parsing (`bindVars`), so an undefined variable is a
//! parse-time error. This pass gives every variable its [`Slot`]: a lexical scope and index,
//! a global, or — only under a `with` — a dynamic lookup. Scopes are those of lambdas,
//! `let`, `rec` sets and `with`. Slot numbering:
//! - a lambda's scope holds its `@` argument (if any) at index 0, then its formals sorted by
//!   symbol;
//! - a `let` or `rec` set's scope holds its static attributes sorted by symbol;
//! - a `with` scope holds nothing but counts as a level.
//!
//! The resolution also decides where an operator is desugared into a call of the builtin
//! it stands for. The evaluator does not take these slots on trust: its own compile step
//! resolves every variable again, and its tests check that both agree.

use crate::actions::SyntaxError;
use crate::ast::*;
use crate::symbol::{Interner, Sym};

/// The names of the global base environment, in their slot order.
#[derive(Debug, Clone)]
pub struct Globals {
    names: Vec<Sym>,
    /// Symbol id → global slot, for the symbols that are globals.
    slot_of: Vec<u32>,
    sub: Sym,
    mul: Sym,
    div: Sym,
    less_than: Sym,
}

const NOT_GLOBAL: u32 = u32::MAX;

impl Globals {
    /// Interns `names` (which must include the operator builtins `__sub`, `__mul`, `__div`
    /// and `__lessThan`) as the global scope.
    pub fn new<'n>(symbols: &mut Interner, names: impl IntoIterator<Item = &'n str>) -> Self {
        let names: Vec<Sym> = names
            .into_iter()
            .map(|n| symbols.intern(n.as_bytes()))
            .collect();
        let mut slot_of = Vec::new();
        for (i, s) in names.iter().enumerate() {
            let id = s.0 as usize;
            if slot_of.len() <= id {
                slot_of.resize(id + 1, NOT_GLOBAL);
            }
            slot_of[id] = i as u32;
        }
        Globals {
            names,
            slot_of,
            sub: symbols.intern(b"__sub"),
            mul: symbols.intern(b"__mul"),
            div: symbols.intern(b"__div"),
            less_than: symbols.intern(b"__lessThan"),
        }
    }

    pub fn names(&self) -> &[Sym] {
        &self.names
    }

    pub fn slot(&self, s: Sym) -> Option<u32> {
        match self.slot_of.get(s.0 as usize) {
            Some(&i) if i != NOT_GLOBAL => Some(i),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum FrameKind {
    Lambda { arg: Option<Sym> },
    Names,
    With,
}

#[derive(Clone, Copy)]
struct Frame {
    kind: FrameKind,
    start: u32,
    len: u32,
}

struct Resolver<'g> {
    globals: &'g Globals,
    symbols: &'g Interner,
    /// The names of all open scopes, each frame's slice sorted by symbol.
    names: Vec<Sym>,
    frames: Vec<Frame>,
}

/// Resolves every variable of `e` against the global names, or reports the first
/// undefined one as Nix does.
pub fn resolve(e: &mut Expr, globals: &Globals, symbols: &Interner) -> Result<(), SyntaxError> {
    resolve_in_scope(e, globals, symbols, &[])
}

/// Resolves `e` inside one extra scope of `names` (sorted by symbol) around the globals, as
/// `scopedImport` needs: those names are scope 0 of the file's outermost level.
pub fn resolve_in_scope(
    e: &mut Expr,
    globals: &Globals,
    symbols: &Interner,
    names: &[Sym],
) -> Result<(), SyntaxError> {
    let mut r = Resolver {
        globals,
        symbols,
        names: Vec::new(),
        frames: Vec::new(),
    };
    if !names.is_empty() {
        r.push(FrameKind::Names, names.iter().copied());
    }
    r.expr(e)
}

const RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 2 * 1024 * 1024;

impl Resolver<'_> {
    fn lookup(&self, name: Sym) -> Option<Slot> {
        let mut with_up = None;
        for (up, f) in self.frames.iter().rev().enumerate() {
            let names = &self.names[f.start as usize..(f.start + f.len) as usize];
            match f.kind {
                FrameKind::With => {
                    with_up.get_or_insert(up as u32);
                }
                FrameKind::Lambda { arg } => {
                    let shift = arg.is_some() as u32;
                    if arg == Some(name) {
                        return Some(Slot::Local {
                            up: up as u32,
                            index: 0,
                        });
                    }
                    if let Ok(i) = names.binary_search(&name) {
                        return Some(Slot::Local {
                            up: up as u32,
                            index: i as u32 + shift,
                        });
                    }
                }
                FrameKind::Names => {
                    if let Ok(i) = names.binary_search(&name) {
                        return Some(Slot::Local {
                            up: up as u32,
                            index: i as u32,
                        });
                    }
                }
            }
        }
        if let Some(g) = self.globals.slot(name) {
            return Some(Slot::Global(g));
        }
        with_up.map(|up| Slot::With { up })
    }

    fn var(&self, v: &mut Var, span: Span) -> Result<(), SyntaxError> {
        match self.lookup(v.name) {
            Some(slot) => {
                v.slot = slot;
                Ok(())
            }
            None => {
                let name = self.symbols.display(v.name).to_string();
                Err(SyntaxError {
                    offset: span.start as usize,
                    message: format!("undefined variable '{name}'"),
                    kind: crate::actions::ErrorKind::UndefinedVariable(name),
                })
            }
        }
    }

    fn push(&mut self, kind: FrameKind, names: impl Iterator<Item = Sym>) {
        let start = self.names.len();
        self.names.extend(names);
        self.frames.push(Frame {
            kind,
            start: start as u32,
            len: (self.names.len() - start) as u32,
        });
    }

    fn pop(&mut self) {
        if let Some(f) = self.frames.pop() {
            self.names.truncate(f.start as usize);
        }
    }

    /// True when the program binds `name` itself, hiding the builtin an operator stands for.
    fn shadowed(&self, name: Sym) -> bool {
        matches!(self.lookup(name), Some(Slot::Local { .. }))
    }

    fn expr(&mut self, e: &mut Expr) -> Result<(), SyntaxError> {
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &mut Expr) -> Result<(), SyntaxError> {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(..)
            | ExprKind::CurPos => Ok(()),
            ExprKind::Var(v) => self.var(v, span),
            ExprKind::Select(s) => {
                self.expr(&mut s.expr)?;
                self.attr_path(&mut s.path)?;
                if let Some(d) = &mut s.default {
                    self.expr(d)?;
                }
                Ok(())
            }
            ExprKind::HasAttr(h) => {
                self.expr(&mut h.expr)?;
                self.attr_path(&mut h.path)
            }
            ExprKind::Attrs(a) => self.attrs(a, None),
            ExprKind::List(items) => items.iter_mut().try_for_each(|x| self.expr(x)),
            ExprKind::Lambda(l) => {
                let l = &mut **l;
                if let Some(f) = &mut l.formals {
                    f.entries.sort_by_key(|x| x.name);
                    crate::ast::compact(&mut f.entries);
                }
                let names = l
                    .formals
                    .iter()
                    .flat_map(|f| f.entries.iter().map(|x| x.name));
                self.push(FrameKind::Lambda { arg: l.arg }, names);
                if let Some(f) = &mut l.formals {
                    for formal in &mut f.entries {
                        if let Some(d) = &mut formal.default {
                            self.expr(d)?;
                        }
                    }
                }
                self.expr(&mut l.body)?;
                self.pop();
                Ok(())
            }
            ExprKind::Call(c) => {
                crate::ast::compact(&mut c.args);
                self.expr(&mut c.func)?;
                c.args.iter_mut().try_for_each(|x| self.expr(x))
            }
            ExprKind::Let(a, body) => self.attrs(a, Some(body)),
            ExprKind::With(env, body) => {
                self.expr(env)?;
                self.push(FrameKind::With, std::iter::empty());
                self.expr(body)?;
                self.pop();
                Ok(())
            }
            ExprKind::If(b) => b.iter_mut().try_for_each(|x| self.expr(x)),
            ExprKind::Assert(b) => b.iter_mut().try_for_each(|x| self.expr(x)),
            ExprKind::Not(x) => self.expr(x),
            ExprKind::Neg(x) => {
                if self.shadowed(self.globals.sub) {
                    self.desugar(e);
                    return self.expr(e);
                }
                self.expr(x)
            }
            ExprKind::Binary(op, b) => {
                let builtin = match op {
                    BinOp::Sub => Some(self.globals.sub),
                    BinOp::Mul => Some(self.globals.mul),
                    BinOp::Div => Some(self.globals.div),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Some(self.globals.less_than),
                    _ => None,
                };
                if builtin.is_some_and(|s| self.shadowed(s)) {
                    self.desugar(e);
                    return self.expr(e);
                }
                b.iter_mut().try_for_each(|x| self.expr(x))
            }
            ExprKind::Interpolate(_, parts) => parts.iter_mut().try_for_each(|p| match p {
                Part::Expr(_, x) => self.expr(x),
                Part::Lit(..) => Ok(()),
            }),
        }
    }

    fn attr_path(&mut self, path: &mut [AttrName]) -> Result<(), SyntaxError> {
        for p in path {
            if let AttrName::Dynamic(x) = p {
                self.expr(x)?;
            }
        }
        Ok(())
    }

    /// A set, or a `let` when `body` is given.
    fn attrs(&mut self, a: &mut Attrs, body: Option<&mut Expr>) -> Result<(), SyntaxError> {
        a.finish();
        let scoped = a.rec || body.is_some();
        // `inherit x;` always reads the enclosing scope.
        for entry in &mut a.entries {
            if let AttrValue::Inherit(v, s) = &mut entry.value {
                let s = *s;
                self.var(v, s)?;
            }
        }
        if scoped {
            self.push(FrameKind::Names, a.entries.iter().map(|x| x.name));
        }
        for src in &mut a.inherit_sources {
            self.expr(src)?;
        }
        for entry in &mut a.entries {
            if let AttrValue::Plain(x) = &mut entry.value {
                self.expr(x)?;
            }
        }
        for d in &mut a.dynamic {
            self.expr(&mut d.name)?;
            self.expr(&mut d.value)?;
        }
        if let Some(b) = body {
            self.expr(b)?;
        }
        if scoped {
            self.pop();
        }
        Ok(())
    }

    /// Rewrites an operator into the call of the builtin it stands for, as Nix 2.8 parses
    /// it, because the program has its own binding of that builtin's name.
    fn desugar(&mut self, e: &mut Expr) {
        let span = e.span;
        let var = |name: Sym| {
            Expr::new(
                span,
                ExprKind::Var(Var {
                    name,
                    slot: Slot::Unresolved,
                }),
            )
        };
        let call = |f: Sym, args: Vec<Expr>| Expr::new(span, ExprKind::call(var(f), args));
        let g = self.globals;
        let kind = std::mem::replace(&mut e.kind, ExprKind::Int(0));
        let new = match kind {
            ExprKind::Neg(x) => call(g.sub, vec![Expr::new(span, ExprKind::Int(0)), *x]),
            ExprKind::Binary(op, b) => {
                let [l, r] = *b;
                match op {
                    BinOp::Sub => call(g.sub, vec![l, r]),
                    BinOp::Mul => call(g.mul, vec![l, r]),
                    BinOp::Div => call(g.div, vec![l, r]),
                    BinOp::Lt => call(g.less_than, vec![l, r]),
                    BinOp::Gt => call(g.less_than, vec![r, l]),
                    BinOp::Le => {
                        Expr::new(span, ExprKind::Not(Box::new(call(g.less_than, vec![r, l]))))
                    }
                    BinOp::Ge => {
                        Expr::new(span, ExprKind::Not(Box::new(call(g.less_than, vec![l, r]))))
                    }
                    op => Expr::new(span, ExprKind::Binary(op, Box::new([l, r]))),
                }
            }
            other => Expr::new(span, other),
        };
        *e = new;
    }
}
