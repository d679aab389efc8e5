//! The evaluator's compile step: a parsed tree becomes [`ir::Expr`].
//!
//! The step runs over the parser's output and computes, on its own, every fact the
//! evaluator's `unsafe` code relies on; the parser's tree carries no resolution to trust:
//! - scope resolution: each variable's [`Slot`], numbered as the evaluator builds its
//!   scopes (see [`Slot`]), so that [`crate::env::Env::slot`] is only ever asked for a slot
//!   its scope has. The step opens each scope in [`Scopes`] with exactly the names it puts
//!   in that scope's IR (sorted, without duplicates), and `Scopes::lookup` only answers a
//!   position among those names;
//! - escape analysis: for each function, whether its call's scope, or the thunk of its
//!   argument (or of its enclosing function's argument), may be kept beyond the call (see
//!   [`ir::Lambda`]). Where not, the evaluator puts them on the native stack.
//!
//! It also makes positions absolute (adding the file's base to each span). [`Scopes`] is
//! the parser's, so the parser's check for undefined variables at parse time (which Nix
//! does) and this step's resolution are one piece of code.

use crate::ir::{self, AttrName, AttrValue, Expr, ExprKind, Slot, Var};
use ferrix_parser::ast::{self, Span};
use ferrix_parser::{Binding, Globals, Scopes, Sym};

/// A variable that no scope binds. The parser reports those first with the same
/// [`Scopes`], so this only happens if its walk opened scopes where this one does not;
/// then the code is not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unbound {
    pub(crate) name: Sym,
    /// Where the variable is, in its file (not made absolute).
    pub(crate) offset: u32,
    /// Bound, but more than 2^30 scopes out, which [`Var`] cannot hold.
    pub(crate) too_deep: bool,
}

struct Compiler<'g> {
    scopes: Scopes<'g>,
    /// Added to every position.
    base: u32,
}

/// Compiles `e`, parsed from a file whose positions start at `base`, to run in a scope of
/// `scope` (sorted by symbol, without duplicates; empty for a file's top level) around the
/// globals.
pub(crate) fn compile(
    e: ast::Expr,
    globals: &Globals,
    base: u32,
    scope: &[Sym],
) -> Result<Expr, Unbound> {
    debug_assert!(scope.windows(2).all(|w| w[0] < w[1]), "scope names sorted");
    let mut c = Compiler {
        scopes: Scopes::new(globals),
        base,
    };
    if !scope.is_empty() {
        c.scopes.push_names(scope.iter().copied());
    }
    c.expr(e)
}

const RED_ZONE: usize = 64 * 1024;
const STACK_GROWTH: usize = 2 * 1024 * 1024;

/// Sorts by symbol, and keeps the first of equal names. The parser rejects duplicate
/// attributes and formals; dropping one here only keeps the slot numbering total.
fn sort_unique<T>(v: &mut Vec<T>, key: impl Fn(&T) -> Sym) {
    v.sort_by_key(&key);
    v.dedup_by(|b, a| key(a) == key(b));
}

impl Compiler<'_> {
    fn pos(&self, s: Span) -> u32 {
        s.start.saturating_add(self.base)
    }

    fn offset(&self, o: u32) -> u32 {
        o.saturating_add(self.base)
    }

    fn var(&self, name: Sym, offset: u32) -> Result<Var, Unbound> {
        let slot = match self.scopes.lookup(name) {
            Some(Binding::Local { up, index }) => Slot::Local { up, index },
            Some(Binding::With { up }) => Slot::With { up },
            Some(Binding::Global(g)) => Slot::Global(g),
            None => {
                return Err(Unbound {
                    name,
                    offset,
                    too_deep: false,
                })
            }
        };
        Var::new(name, slot).ok_or(Unbound {
            name,
            offset,
            too_deep: true,
        })
    }

    fn expr(&mut self, e: ast::Expr) -> Result<Expr, Unbound> {
        stacker::maybe_grow(RED_ZONE, STACK_GROWTH, || self.expr_inner(e))
    }

    fn exprs(&mut self, v: impl IntoIterator<Item = ast::Expr>) -> Result<Box<[Expr]>, Unbound> {
        v.into_iter().map(|x| self.expr(x)).collect()
    }

    fn expr_inner(&mut self, e: ast::Expr) -> Result<Expr, Unbound> {
        let at = e.span;
        let pos = self.pos(at);
        let kind = match e.into_kind() {
            ast::ExprKind::Int(n) => ExprKind::Int(n),
            ast::ExprKind::Float(f) => ExprKind::Float(f),
            ast::ExprKind::Str(s) => match ir::ShortStr::new(&s) {
                Some(short) => ExprKind::ShortStr(short),
                None => ExprKind::Str(Box::new(s)),
            },
            ast::ExprKind::Path(p) => ExprKind::Path(Box::new(p)),
            ast::ExprKind::HomePath(p, _) => ExprKind::HomePath(Box::new(p)),
            ast::ExprKind::CurPos => ExprKind::CurPos,
            ast::ExprKind::Var(v) => ExprKind::Var(self.var(v.name, at.start)?),
            ast::ExprKind::Select(s) => {
                let ast::Select {
                    expr,
                    path,
                    default,
                } = *s;
                ExprKind::Select(Box::new(ir::Select {
                    expr: self.expr(expr)?,
                    path: self.attr_path(path)?,
                    default: default.map(|d| self.expr(d).map(Box::new)).transpose()?,
                }))
            }
            ast::ExprKind::HasAttr(h) => {
                let ast::HasAttr { expr, path } = *h;
                ExprKind::HasAttr(Box::new(ir::HasAttr {
                    expr: self.expr(expr)?,
                    path: self.attr_path(path)?,
                }))
            }
            ast::ExprKind::Attrs(a) => ExprKind::Attrs(Box::new(self.attrs(*a, false)?)),
            ast::ExprKind::List(items) => ExprKind::List(Box::new(self.exprs(items.into_vec())?)),
            ast::ExprKind::Lambda(l) => ExprKind::Lambda(Box::new(self.lambda(*l)?)),
            ast::ExprKind::Call(c) => {
                let ast::Call { func, args } = *c;
                ExprKind::Call(Box::new(ir::Call {
                    func: self.expr(func)?,
                    args: self.exprs(args)?,
                }))
            }
            ast::ExprKind::Let(a, body) => {
                let a = self.attrs(*a, true)?;
                let body = self.expr(*body);
                self.scopes.pop();
                ExprKind::Let(Box::new((a, body?)))
            }
            ast::ExprKind::With(w, body) => {
                let w = self.expr(*w)?;
                self.scopes.push_with();
                let body = self.expr(*body);
                self.scopes.pop();
                ExprKind::With(Box::new([w, body?]))
            }
            ast::ExprKind::If(b) => {
                let [c, t, f] = *b;
                ExprKind::If(Box::new([self.expr(c)?, self.expr(t)?, self.expr(f)?]))
            }
            ast::ExprKind::Assert(b) => {
                let [cond, body] = *b;
                let source = cond.clone();
                ExprKind::Assert(Box::new(ir::Assert {
                    cond: self.expr(cond)?,
                    body: self.expr(body)?,
                    source,
                }))
            }
            ast::ExprKind::Not(x) => ExprKind::Not(Box::new(self.expr(*x)?)),
            ast::ExprKind::Neg(x) => ExprKind::Neg(Box::new(self.expr(*x)?)),
            ast::ExprKind::Binary(op, b) => {
                let [l, r] = *b;
                ExprKind::Binary(op, Box::new([self.expr(l)?, self.expr(r)?]))
            }
            ast::ExprKind::Interpolate(kind, parts) => {
                let parts = parts
                    .into_vec()
                    .into_iter()
                    .map(|p| {
                        Ok(match p {
                            ast::Part::Lit(_, t) => ir::Part::Lit(t),
                            ast::Part::Expr(d, x) => ir::Part::Expr(self.offset(d), self.expr(x)?),
                        })
                    })
                    .collect::<Result<_, Unbound>>()?;
                ExprKind::Interpolate(Box::new((kind, parts)))
            }
        };
        Ok(Expr::new(pos, kind))
    }

    fn attr_path(&mut self, path: Box<[ast::AttrName]>) -> Result<Box<[AttrName]>, Unbound> {
        path.into_vec()
            .into_iter()
            .map(|n| match n {
                ast::AttrName::Static(s) => Ok(AttrName::Static(s)),
                ast::AttrName::Dynamic(x) => {
                    let source = x.clone();
                    Ok(AttrName::Dynamic(Box::new(ir::DynamicName {
                        expr: self.expr(x)?,
                        source,
                    })))
                }
            })
            .collect()
    }

    /// A set, or the bindings of a `let` (`scoped`), whose scope stays open for the body:
    /// the caller closes it.
    fn attrs(&mut self, a: ast::Attrs, scoped: bool) -> Result<ir::Attrs, Unbound> {
        let ast::Attrs {
            rec,
            mut entries,
            dynamic,
            inherit_sources,
            ..
        } = a;
        sort_unique(&mut entries, |e| e.name);
        // `inherit x;` always reads the enclosing scope.
        let mut inherited = Vec::new();
        for entry in &entries {
            if let ast::AttrValue::Inherit(v, s) = &entry.value {
                inherited.push(self.var(v.name, s.start)?);
            }
        }
        let opens = rec || scoped;
        if opens {
            self.scopes.push_names(entries.iter().map(|x| x.name));
        }
        let r = self.attrs_in_scope(entries, dynamic, inherit_sources, inherited);
        if opens && (r.is_err() || !scoped) {
            self.scopes.pop();
        }
        Ok(ir::Attrs { rec, ..r? })
    }

    fn attrs_in_scope(
        &mut self,
        entries: Vec<ast::AttrEntry>,
        dynamic: Vec<ast::DynamicAttr>,
        inherit_sources: Vec<ast::Expr>,
        inherited: Vec<Var>,
    ) -> Result<ir::Attrs, Unbound> {
        let inherit_sources = self.exprs(inherit_sources)?;
        let mut inherited = inherited.into_iter();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let pos = self.pos(entry.span);
            let value = match entry.value {
                ast::AttrValue::Plain(x) => AttrValue::Plain(self.expr(x)?),
                ast::AttrValue::Inherit(_, s) => AttrValue::Inherit(
                    inherited.next().expect("one variable per inherit"),
                    self.pos(s),
                ),
                // (The evaluator indexes the sources with a bounds check.)
                ast::AttrValue::InheritFrom { source, span: s } => AttrValue::InheritFrom {
                    source,
                    pos: self.pos(s),
                },
            };
            out.push(ir::AttrEntry {
                name: entry.name,
                pos,
                value,
            });
        }
        let dynamic = dynamic
            .into_iter()
            .map(|d| {
                Ok(ir::DynamicAttr {
                    name: self.expr(d.name)?,
                    value: self.expr(d.value)?,
                    pos: self.pos(d.span),
                })
            })
            .collect::<Result<Box<[_]>, Unbound>>()?;
        let rare = (!dynamic.is_empty() || !inherit_sources.is_empty()).then(|| {
            Box::new(ir::RareAttrs {
                dynamic,
                inherit_sources,
            })
        });
        Ok(ir::Attrs {
            rec: false,
            entries: out.into_boxed_slice(),
            rare,
        })
    }

    fn lambda(&mut self, l: ast::Lambda) -> Result<ir::Lambda, Unbound> {
        let ast::Lambda {
            start,
            arg,
            formals,
            body,
            name,
            ..
        } = l;
        let (mut entries, ellipsis) = match formals {
            Some(f) => (f.entries, Some(f.ellipsis)),
            None => (Vec::new(), None),
        };
        sort_unique(&mut entries, |f| f.name);
        self.scopes.push_lambda(arg, entries.iter().map(|f| f.name));
        let r = self.lambda_in_scope(entries, body);
        self.scopes.pop();
        let (entries, body) = r?;
        let mut l = ir::Lambda {
            start: self.offset(start),
            arg,
            formals: ellipsis.map(|ellipsis| ir::Formals { entries, ellipsis }),
            body,
            name,
            keeps_scope: true,
            arg_escapes: true,
            outer_arg_escapes: true,
        };
        l.keeps_scope = l.body_keeps_scope();
        // Only `x: …` has its argument in slot 0 alone; formals keep the argument set.
        let plain = !l.keeps_scope && l.formals.is_none();
        l.arg_escapes = !plain || ir::stores_slot(&l.body, 0, 0);
        l.outer_arg_escapes = !plain || ir::stores_slot(&l.body, 1, 0);
        Ok(l)
    }

    fn lambda_in_scope(
        &mut self,
        entries: Vec<ast::Formal>,
        body: ast::Expr,
    ) -> Result<(Box<[ir::Formal]>, Expr), Unbound> {
        let entries = entries
            .into_iter()
            .map(|f| {
                Ok(ir::Formal {
                    name: f.name,
                    default: f.default.map(|d| self.expr(d)).transpose()?,
                    pos: self.pos(f.span),
                })
            })
            .collect::<Result<_, Unbound>>()?;
        Ok((entries, self.expr(body)?))
    }
}

#[cfg(test)]
mod tests;
