//! The parse-time scope check.
//!
//! Nix resolves variables right after parsing, so an undefined variable is a parse-time
//! error. This pass walks the tree with [`Scopes`] (the scoping the evaluator's compile step
//! uses too) and reports the first variable no scope binds. It also sorts each scope's
//! names (formals, and a set's attributes), and decides where an operator is desugared into
//! a call of the builtin it stands for, because the program binds that builtin's name.

use crate::actions::SyntaxError;
use crate::ast::*;
use crate::scope::{Binding, Globals, Scopes};
use crate::symbol::{Interner, Sym};

struct Resolver<'g> {
    scopes: Scopes<'g>,
    symbols: &'g Interner,
}

/// Checks every variable of `e` against the global names, and reports the first undefined
/// one as Nix does.
pub fn resolve(e: &mut Expr, globals: &Globals, symbols: &Interner) -> Result<(), SyntaxError> {
    resolve_in_scope(e, globals, symbols, &[])
}

/// Checks `e` inside one extra scope of `names` (sorted by symbol) around the globals, as
/// `scopedImport` needs: those names are scope 0 of the file's outermost level.
pub fn resolve_in_scope(
    e: &mut Expr,
    globals: &Globals,
    symbols: &Interner,
    names: &[Sym],
) -> Result<(), SyntaxError> {
    let mut r = Resolver {
        scopes: Scopes::new(globals),
        symbols,
    };
    if !names.is_empty() {
        r.scopes.push_names(names.iter().copied());
    }
    r.expr(e)
}

const RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 2 * 1024 * 1024;

impl Resolver<'_> {
    /// Checks that `v` is bound, as Nix does at parse time.
    fn var(&self, v: &Var, span: Span) -> Result<(), SyntaxError> {
        if self.scopes.lookup(v.name).is_some() {
            return Ok(());
        }
        let name = self.symbols.display(v.name).to_string();
        Err(SyntaxError {
            offset: span.start as usize,
            message: format!("undefined variable '{name}'"),
            kind: crate::actions::ErrorKind::UndefinedVariable(name),
        })
    }

    /// True when the program binds `name` itself, hiding the builtin an operator stands for.
    fn shadowed(&self, name: Sym) -> bool {
        matches!(self.scopes.lookup(name), Some(Binding::Local { .. }))
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
                self.scopes.push_lambda(l.arg, names);
                if let Some(f) = &mut l.formals {
                    for formal in &mut f.entries {
                        if let Some(d) = &mut formal.default {
                            self.expr(d)?;
                        }
                    }
                }
                self.expr(&mut l.body)?;
                self.scopes.pop();
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
                self.scopes.push_with();
                self.expr(body)?;
                self.scopes.pop();
                Ok(())
            }
            ExprKind::If(b) => b.iter_mut().try_for_each(|x| self.expr(x)),
            ExprKind::Assert(b) => b.iter_mut().try_for_each(|x| self.expr(x)),
            ExprKind::Not(x) => self.expr(x),
            ExprKind::Neg(x) => {
                if self.shadowed(self.scopes.globals().sub) {
                    self.desugar(e);
                    return self.expr(e);
                }
                self.expr(x)
            }
            ExprKind::Binary(op, b) => {
                let builtin = match op {
                    BinOp::Sub => Some(self.scopes.globals().sub),
                    BinOp::Mul => Some(self.scopes.globals().mul),
                    BinOp::Div => Some(self.scopes.globals().div),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        Some(self.scopes.globals().less_than)
                    }
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
            self.scopes.push_names(a.entries.iter().map(|x| x.name));
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
            self.scopes.pop();
        }
        Ok(())
    }

    /// Rewrites an operator into the call of the builtin it stands for, as Nix 2.8 parses
    /// it, because the program has its own binding of that builtin's name.
    fn desugar(&mut self, e: &mut Expr) {
        let span = e.span;
        let var = |name: Sym| Expr::new(span, ExprKind::Var(Var { name }));
        let call = |f: Sym, args: Vec<Expr>| Expr::new(span, ExprKind::call(var(f), args));
        let g = self.scopes.globals();
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
