//! The evaluation of expressions, forcing of thunks and function calls.

use crate::env::{Env, EnvFrame};
use crate::error::{ErrorKind, EvalError, EvalResult};
use crate::ir::{self, is_lazy_code, is_literal, AttrName, AttrValue, Expr, ExprKind, Slot};
use crate::value::*;
use crate::{Evaluator, Pos};
use ferrix_parser::ast::{BinOp, StrOrPath};
use ferrix_parser::Sym;
use smallvec::SmallVec;

const RED_ZONE: usize = 1024 * 1024;
const STACK_GROWTH: usize = 8 * 1024 * 1024;
/// Past this much native stack Nix 2.8 would long have overflowed; stop with its message.
const MAX_STACK: usize = 512 * 1024 * 1024;

type TR<'a> = Result<&'a Thunk<'a>, Box<EvalError>>;

/// The smallest integer with a preallocated thunk (see [`Evaluator::value_thunk`]).
pub(crate) const SMALL_INT_MIN: i64 = -64;
/// How many integers, from [`SMALL_INT_MIN`] on, have one.
pub(crate) const SMALL_INTS: usize = 1088;

/// `x op y` on integers for the operators that cannot fail on them.
#[inline(always)]
fn int_binary<'a>(op: BinOp, x: i64, y: i64) -> Option<Value<'a>> {
    Some(match op {
        BinOp::Add => Value::Int(x.wrapping_add(y)),
        BinOp::Sub => Value::Int(x.wrapping_sub(y)),
        BinOp::Lt => Value::Bool(x < y),
        BinOp::Le => Value::Bool(x <= y),
        BinOp::Gt => Value::Bool(x > y),
        BinOp::Ge => Value::Bool(x >= y),
        BinOp::Eq => Value::Bool(x == y),
        BinOp::Neq => Value::Bool(x != y),
        _ => return None,
    })
}

/// A [`ir::SlotArith`] whose variable is already an integer and whose literal is one,
/// computed at once; `None` for anything else (floats, `*`, `/`, unforced variables).
#[inline(always)]
fn slot_arith_on_ints<'a>(a: ir::SlotArith<'a>, x: &Thunk<'a>) -> Option<Value<'a>> {
    let (State::Done(Value::Int(x)), ExprKind::Int(l)) = (x.state(), &a.lit.kind) else {
        return None;
    };
    if a.var_left {
        int_binary(a.op, x, *l)
    } else {
        int_binary(a.op, *l, x)
    }
}

fn number_literal<'a>(e: &Expr) -> Value<'a> {
    match e.kind {
        ExprKind::Int(n) => Value::Int(n),
        ExprKind::Float(f) => Value::Float(f),
        _ => unreachable!("a SlotArith literal is a number"),
    }
}

impl<'a> Evaluator<'a> {
    #[inline]
    pub(crate) fn pos(&self, e: &Expr) -> Pos {
        Pos::of(e.pos)
    }

    /// Forces a thunk to weak head normal form.
    #[inline]
    pub fn force(&self, t: &'a Thunk<'a>, pos: Pos) -> EvalResult<'a> {
        if let Some(v) = t.value() {
            return Ok(v);
        }
        self.force_slow(t, pos)
    }

    fn force_slow(&self, t: &'a Thunk<'a>, pos: Pos) -> EvalResult<'a> {
        let state = t.state();
        if let State::BlackHole = state {
            return Err(EvalError::new(
                ErrorKind::Eval,
                "infinite recursion encountered",
                Some(pos),
            ));
        }
        t.set_state(State::BlackHole);
        let r = match state {
            State::Deferred(e, env) => self.eval(e, env),
            // Nix calls the functions of lazy applications without a position.
            State::Apply(f, x) => self
                .force(f, pos)
                .and_then(|fv| self.call(fv, x, Pos::NONE)),
            State::ApplyAttr(f, a) => self
                .force(f, pos)
                .and_then(|fv| self.call2(fv, self.name_thunk(a.name), a.value, Pos::NONE)),
            State::ApplyIndex(f, i) => self
                .force(f, pos)
                .and_then(|fv| self.call_value(fv, Value::Int(i as i64), Pos::NONE)),
            State::Select(s, name, at) => self.select_from(s, name, at),
            State::Arith(e, x) => self.eval_slot_arith(e, x),
            State::Forward(other) => self.force(other, pos),
            State::Done(_) | State::BlackHole => unreachable!("handled above"),
        };
        match r {
            Ok(v) => {
                t.set(v);
                Ok(v)
            }
            Err(e) => {
                // Leave the thunk as it was, so that `tryEval` can force it again.
                t.set_state(state);
                Err(e)
            }
        }
    }

    fn select_from(&self, s: &'a Thunk<'a>, name: Sym, pos: Pos) -> EvalResult<'a> {
        let set = self.force_attrs(s, pos)?;
        match set.get(name) {
            Some(a) => self.force(a.value, pos),
            None => Err(self.missing_attr(set, name, pos)),
        }
    }

    pub(crate) fn missing_attr(&self, set: &AttrSet<'a>, name: Sym, pos: Pos) -> Box<EvalError> {
        let attr = self.sym_name(name);
        let mut e = EvalError::eval(format!("attribute '{attr}' missing"), pos);
        e.detail = crate::error::Detail::MissingAttribute(attr.to_string());
        e.suggestions = self.suggest(set, name);
        e
    }

    /// Attribute names close to `name`, for "Did you mean …?".
    fn suggest(&self, set: &AttrSet<'a>, name: Sym) -> Vec<String> {
        let want = self.sym_name(name);
        let mut c: Vec<(usize, String)> = set
            .attrs()
            .iter()
            .map(|a| self.sym_name(a.name))
            .map(|n| (levenshtein(&want, &n), n))
            .filter(|(d, _)| *d <= 2)
            .collect();
        c.sort();
        c.into_iter().take(10).map(|(_, n)| n).collect()
    }

    /// Evaluates `e` in `env` to weak head normal form. `env` must be a scope of the shape
    /// `e` was compiled for (see [`crate::Code`]).
    #[inline]
    pub(crate) fn eval(&self, e: &'a Expr, env: Env<'a>) -> EvalResult<'a> {
        // One comparison of the stack pointer with a cached limit keeps deep recursion safe.
        let marker = 0u8;
        if (&marker as *const u8 as usize) < self.stack_limit.get()
            || crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
        {
            return self.eval_on_more_stack(e, env);
        }
        self.eval_inner(e, env)
    }

    /// Below the cached limit: either the limit is stale (first call, or back from a grown
    /// segment), or the stack really is short and a new segment is needed.
    #[inline(never)]
    fn eval_on_more_stack(&self, e: &'a Expr, env: Env<'a>) -> EvalResult<'a> {
        self.on_more_stack(|| self.eval_inner(e, env))
    }

    /// Forgets the stack bookkeeping of an evaluation that was abandoned by unwinding (a
    /// REPL catching the arena's out-of-memory panic), as if no evaluation were running.
    /// Thunks that were under evaluation stay black-holed: forcing one again reports
    /// infinite recursion, which is wrong but safe.
    pub fn reset_after_unwind(&self) {
        self.stack_limit.set(usize::MAX);
        self.stack_grown.set(0);
    }

    /// Runs one level of a recursive walk over values (`==`, `<`, `toString`, `deepSeq`, …)
    /// with enough native stack, as [`Evaluator::eval`] does for expressions: the walk and
    /// the evaluation it triggers share one budget, so a cyclic or endlessly deep value ends
    /// with Nix's "stack overflow (possible infinite recursion)" instead of a crash. Costs
    /// one comparison per level while the stack is ample.
    #[inline]
    pub fn nested<R>(
        &self,
        f: impl FnOnce() -> Result<R, Box<EvalError>>,
    ) -> Result<R, Box<EvalError>> {
        let marker = 0u8;
        if (&marker as *const u8 as usize) < self.stack_limit.get()
            || crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
        {
            return self.on_more_stack(f);
        }
        f()
    }

    /// The slow path of [`Evaluator::eval`] and [`Evaluator::nested`]: stops on an interrupt
    /// or when memory ran out, refreshes a stale limit, or runs `f` on a new stack segment
    /// (at most [`MAX_STACK`] in all, then Nix's stack overflow error, without a position
    /// as Nix gives none).
    #[inline(never)]
    fn on_more_stack<R>(
        &self,
        f: impl FnOnce() -> Result<R, Box<EvalError>>,
    ) -> Result<R, Box<EvalError>> {
        if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::interruption_error());
        }
        let marker = 0u8;
        let sp = &marker as *const u8 as usize;
        if let Some(rem) = stacker::remaining_stack() {
            if rem > RED_ZONE {
                self.stack_limit.set(sp - (rem - RED_ZONE));
                return f();
            }
        }
        let grown = self.stack_grown.get();
        if grown >= MAX_STACK / STACK_GROWTH {
            return Err(EvalError::new(
                ErrorKind::Eval,
                "stack overflow (possible infinite recursion)",
                None,
            ));
        }
        self.stack_grown.set(grown + 1);
        let saved = self.stack_limit.get();
        let r = stacker::grow(STACK_GROWTH, || {
            // A fresh segment: the limit is recomputed on its first deep call.
            self.stack_limit.set(usize::MAX);
            f()
        });
        self.stack_limit.set(saved);
        self.stack_grown.set(grown);
        r
    }

    /// A thunk for `e`, without allocating where Nix doesn't either: constants are made
    /// already evaluated and variables share the thunk they refer to.
    pub(crate) fn thunk(&self, e: &'a Expr, env: Env<'a>) -> &'a Thunk<'a> {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::ShortStr(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(_) => self.literal_thunk(e),
            ExprKind::Var(v) => match v.slot() {
                Slot::Local { up, index } => env.ancestor(up).slot(index),
                Slot::Global(i) => self.global(i),
                _ => self.bump().alloc(Thunk::new(State::Deferred(e, env))),
            },
            ExprKind::Binary(..) => match e.slot_arith() {
                Some(a) => self.slot_arith_thunk(e, a, env),
                None => self.bump().alloc(Thunk::new(State::Deferred(e, env))),
            },
            _ => self.bump().alloc(Thunk::new(State::Deferred(e, env))),
        }
    }

    /// `n - 1` as an argument: computed now when `n` already is a number (nothing can go
    /// wrong then, so being strict is not observable), else a thunk that keeps `n`'s thunk
    /// but not the scope.
    fn slot_arith_thunk(&self, e: &'a Expr, a: ir::SlotArith<'a>, env: Env<'a>) -> &'a Thunk<'a> {
        let x = self.slot_arith_operand(a, env);
        if let Some(v) = slot_arith_on_ints(a, x) {
            return self.value_thunk(v);
        }
        if let State::Done(xv @ (Value::Int(_) | Value::Float(_))) = x.state() {
            let lv = number_literal(a.lit);
            let (l, r) = if a.var_left { (xv, lv) } else { (lv, xv) };
            if let Ok(v) = self.binary_values(a.op, l, r, Pos::NONE, Pos::NONE) {
                return self.value_thunk(v);
            }
        }
        self.bump().alloc(Thunk::new(State::Arith(e, x)))
    }

    /// What forcing `self.thunk(e, env)` at `pos` gives, without making the thunk.
    fn eval_argument(&self, e: &'a Expr, env: Env<'a>, pos: Pos) -> EvalResult<'a> {
        match &e.kind {
            ExprKind::Var(v) if matches!(v.slot(), Slot::Local { .. } | Slot::Global(_)) => {
                self.force(self.thunk(e, env), pos)
            }
            ExprKind::Binary(..) => match e.slot_arith() {
                Some(a) => self.eval_slot_arith(e, self.slot_arith_operand(a, env)),
                None => self.eval(e, env),
            },
            _ => self.eval(e, env),
        }
    }

    /// Whether `e` is `toString x` with the built-in `toString`.
    fn is_builtin_to_string_call(&self, e: &Expr) -> bool {
        let ExprKind::Call(c) = &e.kind else {
            return false;
        };
        let (f, args) = (&c.func, &c.args);
        let ExprKind::Var(v) = &f.kind else {
            return false;
        };
        let Slot::Global(i) = v.slot() else {
            return false;
        };
        args.len() == 1
            && matches!(self.global(i).value(), Some(Value::PrimOp(p)) if p.name == "toString")
    }

    #[inline(always)]
    fn slot_arith_operand(&self, a: ir::SlotArith<'a>, env: Env<'a>) -> &'a Thunk<'a> {
        match a.slot {
            Slot::Local { up, index } => env.ancestor(up).slot(index),
            Slot::Global(i) => self.global(i),
            _ => unreachable!("a SlotArith variable has a slot"),
        }
    }

    fn eval_slot_arith(&self, e: &'a Expr, x: &'a Thunk<'a>) -> EvalResult<'a> {
        let a = e
            .slot_arith()
            .expect("Arith thunks are made from a SlotArith");
        let at = |e: &Expr| Pos::of(e.pos);
        let xv = self.force(x, at(a.var))?;
        let lv = number_literal(a.lit);
        let (l, r, right) = if a.var_left {
            (xv, lv, a.lit)
        } else {
            (lv, xv, a.var)
        };
        self.binary_values(a.op, l, r, at(e), at(right))
    }

    /// A thunk holding `v`: small integers and booleans share preallocated ones.
    pub fn value_thunk(&self, v: Value<'a>) -> &'a Thunk<'a> {
        match v {
            Value::Int(n)
                if (SMALL_INT_MIN..SMALL_INT_MIN + self.small_ints.get().len() as i64)
                    .contains(&n) =>
            {
                &self.small_ints.get()[(n - SMALL_INT_MIN) as usize]
            }
            Value::Bool(b) => self.bool_thunks.get()[b as usize],
            Value::Null => self.null_thunk.get(),
            _ => self.alloc_thunk(v),
        }
    }

    /// A literal's value, made once per literal and shared: values are immutable, and
    /// attribute sets of string literals are built over and over (`type = "derivation"`).
    fn literal_thunk(&self, e: &'a Expr) -> &'a Thunk<'a> {
        let key = e as *const Expr as usize;
        if let Some(t) = self.literals.borrow().get(&key) {
            return t;
        }
        // The text stays in the syntax tree, which lives as long as the arena.
        let text = |bytes: &'a [u8]| {
            &*self.bump().alloc(NixStr {
                bytes,
                context: &[],
            })
        };
        let v = match &e.kind {
            ExprKind::Int(n) => Value::Int(*n),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Str(s) => Value::Str(text(s)),
            ExprKind::ShortStr(s) => Value::Str(text(s.bytes())),
            ExprKind::Path(p) | ExprKind::HomePath(p) => Value::Path(text(p)),
            _ => unreachable!("literal_thunk of a non-literal"),
        };
        let t = self.alloc_thunk(v);
        self.literals.borrow_mut().insert(key, t);
        t
    }

    fn literal_str(&self, e: &'a Expr) -> Value<'a> {
        match self.literal_thunk(e).state() {
            State::Done(v) => v,
            _ => unreachable!("literals are values"),
        }
    }

    /// The thunk `inherit x;` takes: the variable itself, or, when only a `with` can
    /// provide it, a thunk that looks it up when forced (forcing the `with` set now could
    /// be circular).
    fn inherit_thunk(&self, v: &ir::Var, at: u32, env: Env<'a>) -> TR<'a> {
        if let Slot::With { .. } = v.slot() {
            let e: &'a Expr = self.bump().alloc(Expr::new(at, ExprKind::Var(*v)));
            return Ok(self.bump().alloc(Thunk::new(State::Deferred(e, env))));
        }
        self.lookup(v, env, Pos::of(at))
    }

    #[inline(always)]
    fn lookup(&self, v: &ir::Var, env: Env<'a>, pos: Pos) -> TR<'a> {
        match v.slot() {
            Slot::Local { up, index } => Ok(env.ancestor(up).slot(index)),
            Slot::Global(i) => Ok(self.global(i)),
            Slot::With { up } => {
                let mut w = Some(env.ancestor(up));
                while let Some(scope) = w {
                    if scope.is_with() {
                        // Nix reports a `with` of a non-set without a position.
                        let set = match self.force(scope.slot(0), pos)? {
                            Value::Attrs(set) => set,
                            v => {
                                return Err(EvalError::new(
                                    ErrorKind::Eval,
                                    format!("value is {} while a set was expected", v.show_type()),
                                    None,
                                ))
                            }
                        };
                        if let Some(a) = set.get(v.name) {
                            return Ok(a.value);
                        }
                    }
                    w = scope.up();
                }
                Err(EvalError::eval(
                    format!("undefined variable '{}'", self.sym_name(v.name)),
                    pos,
                ))
            }
        }
    }

    /// The dispatcher stays small: big or rare cases live in their own functions, so that
    /// each level of Nix recursion costs little native stack.
    fn eval_inner(&self, e: &'a Expr, env: Env<'a>) -> EvalResult<'a> {
        match &e.kind {
            ExprKind::Int(n) => Ok(Value::Int(*n)),
            ExprKind::Float(f) => Ok(Value::Float(*f)),
            ExprKind::Var(v) => {
                let pos = self.pos(e);
                let t = self.lookup(v, env, pos)?;
                self.force(t, pos)
            }
            ExprKind::Call(c) => self.eval_call(e, &c.func, &c.args, env),
            ExprKind::If(b) => {
                if self.eval_bool(&b[0], env, Some(self.pos(e)))? {
                    self.eval(&b[1], env)
                } else {
                    self.eval(&b[2], env)
                }
            }
            ExprKind::Binary(op, b) => {
                // `n - 1`, `i < 2` on an integer already forced: no recursive evaluation.
                if let Some(a) = e.slot_arith() {
                    if let Some(v) = slot_arith_on_ints(a, self.slot_arith_operand(a, env)) {
                        return Ok(v);
                    }
                }
                self.eval_binary(*op, &b[0], &b[1], env, self.pos(e))
            }
            ExprKind::Select(sel) => self.eval_select(sel, env, self.pos(e)),
            ExprKind::Attrs(a) => self.eval_attrs(a, env, self.pos(e)),
            ExprKind::Lambda(l) => Ok(Value::Lambda(self.bump().alloc(Closure { lambda: l, env }))),
            ExprKind::Let(l) => {
                let (scope, _) = self.rec_scope(&l.0, env)?;
                self.eval(&l.1, scope)
            }
            ExprKind::Not(x) => Ok(Value::Bool(!self.eval_bool(x, env, None)?)),
            _ => self.eval_other(e, env),
        }
    }

    #[inline(never)]
    fn eval_call(
        &self,
        e: &'a Expr,
        f: &'a Expr,
        args: &'a [Expr],
        env: Env<'a>,
    ) -> EvalResult<'a> {
        let pos = self.pos(e);
        let fv = self.eval(f, env)?;
        if self.trace_calls.get() {
            return self.traced_call(fv, args, env, pos);
        }
        self.apply_args(fv, args, env, pos)
    }

    /// A call under `trace-function-calls`: a line when the function is entered and one
    /// when it is left, whether it returns or fails, as Nix's `FunctionCallTrace` does.
    #[inline(never)]
    fn traced_call(
        &self,
        fv: Value<'a>,
        args: &'a [Expr],
        env: Env<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        let line = |what: &str| {
            let ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let msg = format!("function-trace {what} {} at {ns}", self.trace_pos(pos));
            self.log(crate::policy::LVL_INFO, msg.as_bytes());
        };
        line("entered");
        let r = self.apply_args(fv, args, env, pos);
        line("exited");
        r
    }

    /// Applies a function value to the argument expressions of a call.
    #[inline(always)]
    fn apply_args(
        &self,
        mut fv: Value<'a>,
        args: &'a [Expr],
        env: Env<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        let mut rest = args;
        while !rest.is_empty() {
            // Built-ins get all their arguments at once when the call has them, without
            // partial applications in between (`foldl' f x xs`).
            let (have, arity) = match fv {
                Value::PrimOp(p) => (&[][..], p.arity),
                Value::PrimOpApp(app) => (app.args, app.op.arity),
                _ => (&[][..], 0),
            };
            if arity > 1 && have.len() + rest.len() >= arity {
                let take = arity - have.len();
                let op = match fv {
                    Value::PrimOp(p) => p,
                    Value::PrimOpApp(app) => app.op,
                    _ => unreachable!("matched above"),
                };
                // Arguments the builtin does not keep get their thunks on this stack.
                let frame: [Thunk<'a>; STACK_ARGS] =
                    std::array::from_fn(|_| Thunk::new(State::BlackHole));
                let mut all: SmallVec<[&'a Thunk<'a>; 4]> = SmallVec::from_slice(have);
                for (k, a) in rest[..take].iter().enumerate() {
                    let i = have.len() + k;
                    if k < STACK_ARGS && i < 8 && op.transient.covers(i) && is_lazy_code(a) {
                        frame[k].set_state(State::Deferred(a, env));
                        // SAFETY: the builtin keeps no reference to this thunk once it
                        // returns (`PrimOp::transient`), and `frame` outlives the call.
                        all.push(unsafe { &*(&frame[k] as *const Thunk<'a>) });
                    } else {
                        all.push(self.thunk(a, env));
                    }
                }
                fv = (op.func)(self, &all, pos)?;
                #[cfg(debug_assertions)]
                {
                    let on_stack: Vec<*const ()> = frame
                        .iter()
                        .map(|t| t as *const Thunk as *const ())
                        .collect();
                    assert!(
                        !crate::value::reaches(fv, &on_stack),
                        "builtin '{}' keeps an argument that PrimOp::transient says it does not",
                        op.name
                    );
                }
                rest = &rest[take..];
                continue;
            }
            match rest {
                [a, b, more @ ..] => {
                    let (x, y) = (self.thunk(a, env), self.thunk(b, env));
                    fv = self.call2(fv, x, y, pos)?;
                    rest = more;
                }
                [a, more @ ..] => {
                    match fv {
                        Value::PrimOp(p)
                            if p.arity == 1 && p.transient.covers(0) && is_lazy_code(a) =>
                        {
                            let t = Thunk::new(State::Deferred(a, env));
                            // SAFETY: as above: the builtin does not keep its argument.
                            let t: &'a Thunk<'a> = unsafe { &*(&t as *const Thunk<'a>) };
                            fv = (p.func)(self, &[t], pos)?;
                            #[cfg(debug_assertions)]
                            assert!(
                                !crate::value::reaches(fv, &[t as *const Thunk as *const ()]),
                                "builtin '{}' keeps an argument that PrimOp::transient says it does not",
                                p.name
                            );
                        }
                        _ => fv = self.call(fv, self.thunk(a, env), pos)?,
                    }
                    rest = more;
                }
                [] => break,
            }
        }
        Ok(fv)
    }

    #[inline(never)]
    fn eval_other(&self, e: &'a Expr, env: Env<'a>) -> EvalResult<'a> {
        let pos = self.pos(e);
        match &e.kind {
            ExprKind::Str(_)
            | ExprKind::ShortStr(_)
            | ExprKind::Path(_)
            | ExprKind::HomePath(_) => Ok(self.literal_str(e)),
            ExprKind::CurPos => Ok(self.pos_attrs(pos)),
            ExprKind::HasAttr(h) => {
                let path = &h.path;
                let mut v = self.eval(&h.expr, env)?;
                for (i, name) in path.iter().enumerate() {
                    let name = self.attr_name(name, env)?;
                    match v {
                        Value::Attrs(set) => match set.get(name) {
                            // Only the sets along the path are forced, not the last value.
                            Some(_) if i + 1 == path.len() => return Ok(Value::Bool(true)),
                            Some(a) => v = self.force(a.value, pos)?,
                            None => return Ok(Value::Bool(false)),
                        },
                        _ => return Ok(Value::Bool(false)),
                    }
                }
                Ok(Value::Bool(true))
            }
            ExprKind::List(items) => {
                let items = self
                    .bump()
                    .alloc_slice_fill_iter(items.iter().map(|x| self.thunk(x, env)));
                Ok(self.list_of(items))
            }
            ExprKind::With(b) => {
                let t = self.thunk(&b[0], env);
                let scope = Env::alloc(self.bump(), Some(env), true, &[t]);
                self.eval(&b[1], scope)
            }
            ExprKind::Assert(a) => {
                if self.eval_bool(&a.cond, env, Some(pos))? {
                    self.eval(&a.body, env)
                } else {
                    let text = ferrix_parser::print::print(
                        &self.symbols.borrow(),
                        &a.source,
                        ferrix_parser::print::Style::Nix,
                    );
                    Err(EvalError::new(
                        ErrorKind::Assert,
                        format!("assertion '{}' failed", String::from_utf8_lossy(&text)),
                        Some(pos),
                    ))
                }
            }
            ExprKind::Neg(x) => {
                let v = self.eval(x, env)?;
                self.sub(Value::Int(0), v, pos)
            }
            ExprKind::Interpolate(i) => self.eval_interpolation(i.0, &i.1, env, pos),
            // The common cases are handled by `eval_inner`.
            _ => self.eval_inner(e, env),
        }
    }

    /// Evaluates a condition. Nix reports a non-Boolean at the construct that needs it
    /// (`if`, `assert`, `&&`…), or nowhere (`!`).
    fn eval_bool(
        &self,
        e: &'a Expr,
        env: Env<'a>,
        at: Option<Pos>,
    ) -> Result<bool, Box<EvalError>> {
        match self.eval(e, env)? {
            Value::Bool(b) => Ok(b),
            v => Err(EvalError::new(
                ErrorKind::Eval,
                format!("value is {} while a Boolean was expected", v.show_type()),
                at,
            )),
        }
    }

    fn attr_name(&self, name: &'a AttrName, env: Env<'a>) -> Result<Sym, Box<EvalError>> {
        match name {
            AttrName::Static(s) => Ok(*s),
            AttrName::Dynamic(d) => {
                let v = self.eval(&d.expr, env)?;
                Ok(self.intern(&self.name_string(v)?))
            }
        }
    }

    #[inline(never)]
    fn eval_select(&self, sel: &'a ir::Select, env: Env<'a>, pos: Pos) -> EvalResult<'a> {
        let v = self.eval(&sel.expr, env)?;
        let mut found: Option<Pos> = None;
        match self.select_path(v, sel, env, pos, &mut found) {
            Ok(v) => Ok(v),
            // As Nix: once an attribute was found, errors name the whole path.
            Err(e) => match found {
                Some(at)
                    if !at.is_none() && self.file_base(at) != Some(self.derivation_file.get()) =>
                {
                    Err(e.with_frame(
                        format!(
                            "while evaluating the attribute '{}'",
                            self.show_path_values(&sel.path, env)
                        ),
                        Some(at),
                    ))
                }
                _ => Err(e),
            },
        }
    }

    fn select_path(
        &self,
        mut v: Value<'a>,
        sel: &'a ir::Select,
        env: Env<'a>,
        pos: Pos,
        found: &mut Option<Pos>,
    ) -> EvalResult<'a> {
        let mut last: Option<&'a Thunk<'a>> = None;
        for name in sel.path.iter() {
            if let Some(t) = last {
                v = self.force(t, pos)?;
            }
            let name = self.attr_name(name, env)?;
            let set = match v {
                Value::Attrs(set) => set,
                other => {
                    if let Some(d) = &sel.default {
                        return self.eval(d, env);
                    }
                    return Err(EvalError::eval(
                        format!("value is {} while a set was expected", other.show_type()),
                        pos,
                    ));
                }
            };
            match set.get(name) {
                Some(a) => {
                    last = Some(a.value);
                    *found = Some(a.pos);
                }
                None => {
                    if let Some(d) = &sel.default {
                        return self.eval(d, env);
                    }
                    return Err(self.missing_attr(set, name, pos));
                }
            }
        }
        match last {
            // The value is forced at the attribute's own position when it has one.
            Some(t) => match *found {
                Some(p) if !p.is_none() => self.force(t, p),
                _ => self.force(t, pos),
            },
            None => Ok(v),
        }
    }

    /// The attribute path as Nix shows it in traces, with dynamic names evaluated.
    fn show_path_values(&self, path: &'a [AttrName], env: Env<'a>) -> String {
        let mut out = String::new();
        for (i, n) in path.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            match self.attr_name(n, env) {
                Ok(s) => out.push_str(&ferrix_parser::print::show_id(&self.sym_name(s))),
                Err(_) => out.push_str(&self.show_path(n)),
            }
        }
        out
    }

    /// A name of an attribute path as written, as Nix shows one it could not evaluate.
    fn show_path(&self, name: &AttrName) -> String {
        let name = match name {
            AttrName::Static(s) => ferrix_parser::ast::AttrName::Static(*s),
            AttrName::Dynamic(d) => ferrix_parser::ast::AttrName::Dynamic(d.source.clone()),
        };
        ferrix_parser::print::show_attr_path(&self.symbols.borrow(), std::slice::from_ref(&name))
    }

    /// `{ file = …; line = …; column = …; }` for a position.
    pub fn pos_attrs(&self, pos: Pos) -> Value<'a> {
        let (file, line, col) = self.pos_parts(pos);
        let mut attrs = vec![
            Attr {
                name: self.syms.file,
                value: self.alloc_thunk(self.string(file.as_bytes())),
                pos,
            },
            Attr {
                name: self.syms.line,
                value: self.alloc_thunk(Value::Int(line as i64)),
                pos,
            },
            Attr {
                name: self.syms.column,
                value: self.alloc_thunk(Value::Int(col as i64)),
                pos,
            },
        ];
        attrs.sort_by_key(|a| a.name);
        self.make_attrs(attrs)
    }

    /// An attribute set from attributes sorted by symbol.
    pub fn make_attrs(&self, attrs: Vec<Attr<'a>>) -> Value<'a> {
        self.make_attrs_at(attrs, Pos::NONE)
    }

    /// A set written at `pos` (a set literal).
    pub fn make_attrs_at(&self, attrs: Vec<Attr<'a>>, pos: Pos) -> Value<'a> {
        let attrs = self.bump().alloc_slice_copy(&attrs);
        Value::Attrs(self.bump().alloc(AttrSet::new(attrs, pos)))
    }

    /// The scope of a `let` or `rec` set: one slot per static attribute. The slots are
    /// made first and filled once the scope exists, since their code refers to it.
    fn rec_scope(
        &self,
        a: &'a ir::Attrs,
        env: Env<'a>,
    ) -> Result<(Env<'a>, &'a [&'a Thunk<'a>]), Box<EvalError>> {
        let mut slots: SmallVec<[&'a Thunk<'a>; 16]> = SmallVec::with_capacity(a.entries.len());
        // Which slots are new thunks that the second pass fills in.
        let mut fresh: SmallVec<[bool; 16]> = SmallVec::with_capacity(a.entries.len());
        let overridable = a.rec
            && a.entries
                .binary_search_by_key(&self.syms.overrides, |e| e.name)
                .is_ok();
        for entry in &a.entries {
            let before = slots.len();
            let var = match &entry.value {
                AttrValue::Plain(Expr {
                    kind: ExprKind::Var(v),
                    ..
                }) => Some(v.slot()),
                _ => None,
            };
            slots.push(match (&entry.value, var) {
                // `inherit x;` reads the enclosing scope.
                (AttrValue::Inherit(v, at), _) => self.inherit_thunk(v, *at, env)?,
                // A variable of an outer scope is shared, not wrapped in a new thunk.
                (_, Some(Slot::Local { up, index })) if up > 0 => env.ancestor(up - 1).slot(index),
                (_, Some(Slot::Global(i))) => self.global(i),
                // A variable of this scope whose slot is already made shares it, as Nix's
                // `maybeThunk` does (this decides where infinite recursion is reported).
                (_, Some(Slot::Local { up: 0, index })) if (index as usize) < slots.len() => {
                    slots[index as usize]
                }
                // A literal is its own shared thunk, as in Nix (`maybeThunk`).
                (AttrValue::Plain(x), _) if is_literal(x) => self.literal_thunk(x),
                _ => {
                    fresh.push(true);
                    self.bump().alloc(Thunk::new(State::BlackHole))
                }
            });
            if fresh.len() == before {
                fresh.push(false);
                // `__overrides` redirects a `rec` set's slots in place; a slot shared with
                // a variable outside must not take the variable along.
                if overridable {
                    let shared = slots[before];
                    slots[before] = self.bump().alloc(Thunk::new(State::Forward(shared)));
                }
            }
        }
        let (scope, slots) = Env::alloc_slots(self.bump(), Some(env), false, &slots);
        let mut sources: SmallVec<[&'a Thunk<'a>; 4]> =
            SmallVec::with_capacity(a.inherit_sources().len());
        for s in a.inherit_sources() {
            sources.push(self.thunk(s, scope));
        }
        for ((entry, slot), fresh) in a.entries.iter().zip(slots.iter()).zip(fresh) {
            if !fresh {
                continue;
            }
            match &entry.value {
                // (Literals have shared thunks and are not fresh.)
                AttrValue::Plain(x) => slot.set_state(State::Deferred(x, scope)),
                AttrValue::InheritFrom { source, pos } => slot.set_state(State::Select(
                    sources[*source as usize],
                    entry.name,
                    Pos::of(*pos),
                )),
                AttrValue::Inherit(..) => {}
            }
        }
        Ok((scope, slots))
    }

    #[inline(never)]
    fn eval_attrs(&self, a: &'a ir::Attrs, env: Env<'a>, pos: Pos) -> EvalResult<'a> {
        // Without dynamic names or `__overrides` the attributes go straight into the
        // arena, already sorted, with no vector in between.
        if a.dynamic().is_empty() {
            let at = Pos::of;
            if !a.rec {
                let sources: SmallVec<[&'a Thunk<'a>; 4]> = a
                    .inherit_sources()
                    .iter()
                    .map(|s| self.thunk(s, env))
                    .collect();
                // A large set makes the thunks of its code as its attributes are looked
                // up (see `Lazy`). Only when some attribute is code: the set keeps its
                // scope then (see `ir::keeps_scope`), so the scope is in the arena.
                let code =
                    |e: &ir::AttrEntry| matches!(&e.value, AttrValue::Plain(x) if is_lazy_code(x));
                if a.entries.len() >= MIN_LAZY_LEN && a.entries.iter().any(code) {
                    let made = self
                        .bump()
                        .alloc_slice_fill_with(a.entries.len(), |_| std::cell::Cell::new(None));
                    for (m, entry) in made.iter().zip(&a.entries) {
                        if !code(entry) {
                            let value = self.plain_attr_value(entry, env, &sources)?;
                            m.set(Some(&*self.bump().alloc(Attr {
                                name: entry.name,
                                value,
                                pos: at(entry.pos),
                            })));
                        }
                    }
                    let set = AttrSet::lazy_literal(self.bump(), made, &a.entries, env, pos);
                    return Ok(Value::Attrs(self.bump().alloc(set)));
                }
                let attrs: &'a mut [Attr<'a>] = self.bump().alloc_slice_fill_copy(
                    a.entries.len(),
                    Attr {
                        name: Sym(0),
                        value: self.null_thunk.get(),
                        pos: Pos::NONE,
                    },
                );
                for (out, entry) in attrs.iter_mut().zip(&a.entries) {
                    *out = Attr {
                        name: entry.name,
                        value: self.plain_attr_value(entry, env, &sources)?,
                        pos: at(entry.pos),
                    };
                }
                return Ok(Value::Attrs(self.bump().alloc(AttrSet::new(attrs, pos))));
            }
            if a.entries
                .binary_search_by_key(&self.syms.overrides, |e| e.name)
                .is_err()
            {
                let (_, slots) = self.rec_scope(a, env)?;
                let attrs = self
                    .bump()
                    .alloc_slice_fill_iter(a.entries.iter().zip(slots).map(|(entry, t)| Attr {
                        name: entry.name,
                        value: t,
                        pos: at(entry.pos),
                    }));
                return Ok(Value::Attrs(self.bump().alloc(AttrSet::new(attrs, pos))));
            }
        }
        let (scope, mut attrs): (Env<'a>, Vec<Attr<'a>>) = if a.rec {
            let (scope, slots) = self.rec_scope(a, env)?;
            let attrs = a
                .entries
                .iter()
                .zip(slots.iter())
                .map(|(entry, t)| Attr {
                    name: entry.name,
                    value: t,
                    pos: Pos::of(entry.pos),
                })
                .collect();
            (scope, self.apply_overrides(attrs, pos)?)
        } else {
            let sources: SmallVec<[&'a Thunk<'a>; 4]> = a
                .inherit_sources()
                .iter()
                .map(|s| self.thunk(s, env))
                .collect();
            let mut attrs = Vec::with_capacity(a.entries.len() + a.dynamic().len());
            for entry in &a.entries {
                attrs.push(Attr {
                    name: entry.name,
                    value: self.plain_attr_value(entry, env, &sources)?,
                    pos: Pos::of(entry.pos),
                });
            }
            (env, attrs)
        };
        for d in a.dynamic() {
            let nv = self.eval(&d.name, scope)?;
            let npos = self.pos(&d.name);
            if let Value::Null = nv {
                continue;
            }
            let _ = npos;
            let name = self.name_string(nv)?;
            let sym = self.intern(&name);
            let at = Pos::of(d.pos);
            match attrs.binary_search_by_key(&sym, |x| x.name) {
                Ok(i) => {
                    return Err(EvalError::eval(
                        format!(
                            "dynamic attribute '{}' already defined at {}",
                            String::from_utf8_lossy(&name),
                            self.show_pos(attrs[i].pos)
                        ),
                        at,
                    ))
                }
                Err(i) => attrs.insert(
                    i,
                    Attr {
                        name: sym,
                        value: self.thunk(&d.value, scope),
                        pos: at,
                    },
                ),
            }
        }
        Ok(self.make_attrs_at(attrs, pos))
    }

    /// The value of a static attribute of a non-recursive set.
    fn plain_attr_value(
        &self,
        entry: &'a ir::AttrEntry,
        env: Env<'a>,
        sources: &[&'a Thunk<'a>],
    ) -> TR<'a> {
        Ok(match &entry.value {
            AttrValue::Plain(x) => self.thunk(x, env),
            AttrValue::Inherit(v, s) => self.inherit_thunk(v, *s, env)?,
            AttrValue::InheritFrom { source, pos } => self.bump().alloc(Thunk::new(State::Select(
                sources[*source as usize],
                entry.name,
                Pos::of(*pos),
            ))),
        })
    }

    /// A `rec` set's `__overrides` attribute replaces or adds attributes, and the other
    /// attributes see the replacements (the scope's slots forward to them).
    fn apply_overrides(
        &self,
        mut attrs: Vec<Attr<'a>>,
        pos: Pos,
    ) -> Result<Vec<Attr<'a>>, Box<EvalError>> {
        let Ok(i) = attrs.binary_search_by_key(&self.syms.overrides, |a| a.name) else {
            return Ok(attrs);
        };
        let overrides = self.force_attrs(attrs[i].value, pos)?;
        for o in overrides.attrs() {
            match attrs.binary_search_by_key(&o.name, |a| a.name) {
                Ok(j) => attrs[j].value.set_state(State::Forward(o.value)),
                Err(j) => attrs.insert(j, *o),
            }
        }
        Ok(attrs)
    }

    pub fn force_attrs(
        &self,
        t: &'a Thunk<'a>,
        pos: Pos,
    ) -> Result<&'a AttrSet<'a>, Box<EvalError>> {
        match self.force(t, pos)? {
            Value::Attrs(s) => Ok(s),
            v => Err(EvalError::eval(
                format!("value is {} while a set was expected", v.show_type()),
                pos,
            )),
        }
    }

    /// Applies a function value to one argument.
    pub fn call(&self, f: Value<'a>, arg: &'a Thunk<'a>, pos: Pos) -> EvalResult<'a> {
        match f {
            Value::Lambda(c) => self.call_lambda(c, arg, pos),
            Value::PrimOp(p) => {
                if p.arity <= 1 {
                    (p.func)(self, &[arg], pos)
                } else {
                    let args = self.bump().alloc_slice_copy(&[arg]);
                    Ok(Value::PrimOpApp(
                        self.bump().alloc(PrimOpApp { op: p, args }),
                    ))
                }
            }
            Value::PrimOpApp(app) => {
                let mut args: SmallVec<[&'a Thunk<'a>; 4]> =
                    SmallVec::with_capacity(app.args.len() + 1);
                args.extend_from_slice(app.args);
                args.push(arg);
                if args.len() >= app.op.arity {
                    (app.op.func)(self, &args, pos)
                } else {
                    let args = self.bump().alloc_slice_copy(&args);
                    Ok(Value::PrimOpApp(
                        self.bump().alloc(PrimOpApp { op: app.op, args }),
                    ))
                }
            }
            Value::Attrs(set) if set.get(self.syms.functor).is_some() => {
                let functor = set
                    .get(self.syms.functor)
                    .map(|a| a.value)
                    .unwrap_or(self.null_thunk.get());
                let fv = self.force(functor, pos)?;
                let me = self.alloc_thunk(f);
                let g = self.call(fv, me, pos)?;
                self.call(g, arg, pos)
            }
            other => Err(EvalError::eval(
                format!(
                    "attempt to call something which is not a function but {}",
                    other.show_type()
                ),
                pos,
            )),
        }
    }

    fn describe_lambda(&self, c: &Closure<'a>) -> String {
        match c.lambda.name {
            Some(n) => format!("'{}' at {}", self.sym_name(n), self.show_pos(c.pos())),
            None => format!("anonymous function at {}", self.show_pos(c.pos())),
        }
    }

    /// `f x y`. When `f` is `x: y: body`, the closure `y: body` that one-at-a-time calls
    /// would make is skipped, and when `body` keeps no reference to its scope both scopes
    /// live on the stack: `foldl'`, `sort` and curried helpers then allocate nothing.
    pub fn call2(
        &self,
        f: Value<'a>,
        x: &'a Thunk<'a>,
        y: &'a Thunk<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        // A built-in that takes both arguments runs without a partial application.
        match f {
            Value::PrimOp(p) if p.arity == 2 => return (p.func)(self, &[x, y], pos),
            Value::PrimOpApp(app) if app.args.len() + 2 == app.op.arity => {
                let mut args: SmallVec<[&'a Thunk<'a>; 4]> = SmallVec::from_slice(app.args);
                args.extend([x, y]);
                return (app.op.func)(self, &args, pos);
            }
            _ => {}
        }
        if let Value::Lambda(c) = f {
            if let (None, ExprKind::Lambda(inner)) = (&c.lambda.formals, &c.lambda.body.kind) {
                let inner_closure = |env| Closure { lambda: inner, env };
                if !inner.keeps_scope && inner.formals.is_none() {
                    if let Some(outer) = EnvFrame::<1>::new(Some(c.env), &[x]) {
                        // SAFETY: nothing refers to `outer` but `frame`'s chain, and the
                        // inner body keeps no reference to that: `inner.keeps_scope`, which
                        // only this crate's compile step sets (`compile::Compiler::lambda`,
                        // from `ir::Lambda::body_keeps_scope`), is false. `inner_closure`
                        // below lives on this stack only, for the call.
                        let outer = unsafe { outer.env() };
                        if let Some(frame) = EnvFrame::<1>::new(Some(outer), &[y]) {
                            let closure = inner_closure(outer);
                            // SAFETY: as above: the body keeps neither scope.
                            return self.lambda_body(&closure, unsafe { frame.env() }, pos);
                        }
                    }
                }
                let outer = Env::alloc(self.bump(), Some(c.env), false, &[x]);
                return self.call_lambda(&inner_closure(outer), y, pos);
            }
        }
        let g = self.call(f, x, pos)?;
        self.call(g, y, pos)
    }

    /// `f v` for an argument that already is a value (`genList`'s index, `foldl'`'s
    /// accumulator). When `f` is `x: …` and its body neither keeps its scope nor stores
    /// `x`'s thunk (`arg_escapes`), that thunk lives on the stack.
    pub fn call_value(&self, f: Value<'a>, arg: Value<'a>, pos: Pos) -> EvalResult<'a> {
        if let Value::Lambda(c) = f {
            if !c.lambda.arg_escapes {
                let t = Thunk::done(arg);
                // SAFETY: nothing keeps a reference to `t` past the call: the body stores
                // no thunk of its slot (0, 0) and keeps no scope (`arg_escapes` is false,
                // set by this crate's compile step from `ir::stores_slot` and
                // `ir::Lambda::body_keeps_scope`), and `t` outlives the call.
                let t: &'a Thunk<'a> = unsafe { &*(&t as *const Thunk<'a>) };
                if let Some(frame) = EnvFrame::<1>::new(Some(c.env), &[t]) {
                    // SAFETY: nor to the scope (a false `arg_escapes` implies a false
                    // `keeps_scope`, see `compile::Compiler::lambda`).
                    return self.lambda_body(c, unsafe { frame.env() }, pos);
                }
            }
        }
        self.call(f, self.value_thunk(arg), pos)
    }

    /// `f v y` for a first argument that already is a value; as [`Self::call_value`], for
    /// `x: y: …` whose inner body does not store `x`'s thunk.
    pub fn call2_value(
        &self,
        f: Value<'a>,
        x: Value<'a>,
        y: &'a Thunk<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        if let Value::Lambda(c) = f {
            if let (None, ExprKind::Lambda(inner)) = (&c.lambda.formals, &c.lambda.body.kind) {
                if !inner.outer_arg_escapes && !inner.keeps_scope && inner.formals.is_none() {
                    let tx = Thunk::done(x);
                    // SAFETY: nothing keeps a reference to `tx` past the call: the inner
                    // body stores no thunk of its slot (1, 0) and keeps no scope
                    // (`inner.outer_arg_escapes` and `inner.keeps_scope` are false, set by
                    // this crate's compile step), and `tx` outlives the call.
                    let tx: &'a Thunk<'a> = unsafe { &*(&tx as *const Thunk<'a>) };
                    if let Some(outer) = EnvFrame::<1>::new(Some(c.env), &[tx]) {
                        // SAFETY: the inner body keeps no reference to its scope chain
                        // (`inner.keeps_scope` is false), and `closure` lives on this stack
                        // only, for the call.
                        let outer = unsafe { outer.env() };
                        if let Some(frame) = EnvFrame::<1>::new(Some(outer), &[y]) {
                            let closure = Closure {
                                lambda: inner,
                                env: outer,
                            };
                            // SAFETY: as above.
                            return self.lambda_body(&closure, unsafe { frame.env() }, pos);
                        }
                    }
                }
            }
        }
        self.call2(f, self.value_thunk(x), y, pos)
    }

    fn call_lambda(&self, c: &Closure<'a>, arg: &'a Thunk<'a>, pos: Pos) -> EvalResult<'a> {
        let l = c.lambda;
        let Some(formals) = &l.formals else {
            if !l.keeps_scope {
                if let Some(frame) = EnvFrame::<1>::new(Some(c.env), &[arg]) {
                    // SAFETY: the body keeps no reference to its scope: `l.keeps_scope`, which
                    // only this crate's compile step sets (`ir::Lambda::body_keeps_scope`),
                    // is false.
                    return self.lambda_body(c, unsafe { frame.env() }, pos);
                }
            }
            let env = Env::alloc(self.bump(), Some(c.env), false, &[arg]);
            return self.lambda_body(c, env, pos);
        };
        let set = self.force_attrs(arg, pos)?;
        let shift = l.arg.is_some() as usize;
        let n = shift + formals.entries.len();
        let mut slots: SmallVec<[&'a Thunk<'a>; 8]> = SmallVec::with_capacity(n);
        if l.arg.is_some() {
            slots.push(arg);
        }
        let mut defaults: SmallVec<[(usize, &'a Expr); 4]> = SmallVec::new();
        let mut literal_defaults = 0;
        for f in &formals.entries {
            match set.get(f.name) {
                Some(a) => slots.push(a.value),
                None => match &f.default {
                    // A literal is its own shared thunk, as in Nix (`maybeThunk`).
                    Some(d) if is_literal(d) => {
                        literal_defaults += 1;
                        slots.push(self.literal_thunk(d));
                    }
                    Some(d) => {
                        defaults.push((slots.len(), d));
                        slots.push(self.bump().alloc(Thunk::new(State::BlackHole)));
                    }
                    None => {
                        return Err(EvalError::eval(
                            format!(
                                "{} called without required argument '{}'",
                                self.describe_lambda(c),
                                self.sym_name(f.name)
                            ),
                            pos,
                        ))
                    }
                },
            }
        }
        // `len_bound` first: a layered argument set is only merged when it may really hold
        // an unexpected name.
        let given = n - shift - defaults.len() - literal_defaults;
        if !formals.ellipsis && set.len_bound() > given && set.len() > given {
            for a in set.attrs() {
                if formals
                    .entries
                    .binary_search_by_key(&a.name, |f| f.name)
                    .is_err()
                {
                    let mut e = EvalError::eval(
                        format!(
                            "{} called with unexpected argument '{}'",
                            self.describe_lambda(c),
                            self.sym_name(a.name)
                        ),
                        pos,
                    );
                    let want = self.sym_name(a.name);
                    e.suggestions = formals
                        .entries
                        .iter()
                        .map(|f| self.sym_name(f.name))
                        .filter(|n| levenshtein(&want, n) <= 2)
                        .collect();
                    return Err(e);
                }
            }
        }
        if !l.keeps_scope && defaults.is_empty() {
            if let Some(frame) = EnvFrame::<8>::new(Some(c.env), &slots) {
                // SAFETY: the body keeps no reference to its scope (`l.keeps_scope`, set only
                // by this crate's compile step, is false), and there are no defaults to
                // evaluate in it lazily.
                return self.lambda_body(c, unsafe { frame.env() }, pos);
            }
        }
        let (env, slots) = Env::alloc_slots(self.bump(), Some(c.env), false, &slots);
        for (i, d) in defaults {
            slots[i].set_state(State::Deferred(d, env));
        }
        self.lambda_body(c, env, pos)
    }

    /// Runs a function's body; with `--show-trace`, errors record the function and the
    /// call site.
    #[inline]
    fn lambda_body(&self, c: &Closure<'a>, env: Env<'a>, call: Pos) -> EvalResult<'a> {
        match self.eval(&c.lambda.body, env) {
            Err(e) if self.show_trace.get() => {
                let what = match c.lambda.name {
                    Some(n) => format!("'{}'", self.sym_name(n)),
                    None => "anonymous lambda".into(),
                };
                Err(e
                    .with_frame(format!("while evaluating {what}"), Some(c.pos()))
                    .with_frame("from call site", Some(call)))
            }
            r => r,
        }
    }

    fn eval_binary(
        &self,
        op: BinOp,
        l: &'a Expr,
        r: &'a Expr,
        env: Env<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        if matches!(
            op,
            BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::Eq
                | BinOp::Neq
        ) {
            let a = self.eval(l, env)?;
            let b = self.eval(r, env)?;
            return self.binary_values(op, a, b, pos, self.pos(r));
        }
        match op {
            BinOp::And => Ok(Value::Bool(
                self.eval_bool(l, env, Some(pos))? && self.eval_bool(r, env, Some(pos))?,
            )),
            BinOp::Or => Ok(Value::Bool(
                self.eval_bool(l, env, Some(pos))? || self.eval_bool(r, env, Some(pos))?,
            )),
            BinOp::Impl => Ok(Value::Bool(
                !self.eval_bool(l, env, Some(pos))? || self.eval_bool(r, env, Some(pos))?,
            )),
            BinOp::Update => {
                let a = self.eval(l, env)?;
                let b = self.eval(r, env)?;
                let (Value::Attrs(x), Value::Attrs(y)) = (a, b) else {
                    let bad = if matches!(a, Value::Attrs(_)) { b } else { a };
                    return Err(EvalError::new(
                        ErrorKind::Eval,
                        format!("value is {} while a set was expected", bad.show_type()),
                        None,
                    ));
                };
                Ok(self.update(x, y))
            }
            BinOp::Concat => {
                let a = self.eval(l, env)?;
                let b = self.eval(r, env)?;
                let (Value::List(x), Value::List(y)) = (a, b) else {
                    let bad = if matches!(a, Value::List(_)) { b } else { a };
                    return Err(EvalError::eval(
                        format!("value is {} while a list was expected", bad.show_type()),
                        pos,
                    ));
                };
                Ok(self.concat_lists(&[x, y]))
            }
            _ => self.binary_values(op, self.eval(l, env)?, self.eval(r, env)?, pos, self.pos(r)),
        }
    }

    /// The arithmetic and comparison operators on evaluated operands; `r_pos` is the right
    /// operand's position (Nix reports a bad path addition there).
    #[inline]
    pub(crate) fn binary_values(
        &self,
        op: BinOp,
        a: Value<'a>,
        b: Value<'a>,
        pos: Pos,
        r_pos: Pos,
    ) -> EvalResult<'a> {
        // Integers first: the common case of arithmetic and comparison.
        if let (Value::Int(x), Value::Int(y)) = (a, b) {
            if let Some(v) = int_binary(op, x, y) {
                return Ok(v);
            }
        }
        match op {
            BinOp::Add => self.add(a, b, pos, r_pos),
            BinOp::Sub => self.sub(a, b, pos),
            BinOp::Mul => self.mul(a, b, pos),
            BinOp::Div => self.div(a, b, pos),
            BinOp::Lt => Ok(Value::Bool(self.less_than(a, b, pos)?)),
            BinOp::Gt => Ok(Value::Bool(self.less_than(b, a, pos)?)),
            BinOp::Le => Ok(Value::Bool(!self.less_than(b, a, pos)?)),
            BinOp::Ge => Ok(Value::Bool(!self.less_than(a, b, pos)?)),
            BinOp::Eq | BinOp::Neq => Ok(Value::Bool(self.equal(a, b, pos)? == (op == BinOp::Eq))),
            BinOp::And | BinOp::Or | BinOp::Impl | BinOp::Update | BinOp::Concat => {
                unreachable!("not an arithmetic operator")
            }
        }
    }

    fn eval_interpolation(
        &self,
        kind: StrOrPath,
        parts: &'a [ir::Part],
        env: Env<'a>,
        pos: Pos,
    ) -> EvalResult<'a> {
        if kind == StrOrPath::Str {
            return self.eval_string_interpolation(parts, env);
        }
        let mut out: Vec<u8> = Vec::new();
        let mut context: Vec<&'a [u8]> = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            match p {
                ir::Part::Lit(t) => out.extend_from_slice(t),
                ir::Part::Expr(d, x) => {
                    let v = self.eval(x, env)?;
                    let at = Pos::of(*d);
                    if kind == StrOrPath::Path && i == 0 {
                        // The leading path of `./a/${b}` is kept as it is.
                        match v {
                            Value::Path(p) => out.extend_from_slice(p.bytes),
                            _ => {
                                self.coerce_to_string(v, at, false, true, &mut out, &mut context)?
                            }
                        }
                    } else {
                        self.coerce_to_string(
                            v,
                            at,
                            false,
                            kind == StrOrPath::Str,
                            &mut out,
                            &mut context,
                        )?;
                    }
                }
            }
        }
        if kind == StrOrPath::Path {
            if !context.is_empty() {
                return Err(EvalError::eval(
                    "a string that refers to a store path cannot be appended to a path",
                    pos,
                ));
            }
            return Ok(self.path_value(&ferrix_parser::actions::canon_path(&out)));
        }
        let context = self.bump().alloc_slice_copy(&context);
        Ok(self.string_with_context(&out, context))
    }
}

impl<'a> Evaluator<'a> {
    /// `"a${b}c"`: the pieces are gathered first (strings by reference, other values
    /// coerced into a scratch buffer), then copied once into a result of exactly the
    /// right size; building strings in a loop made twice their size in copies before.
    fn eval_string_interpolation(&self, parts: &'a [ir::Part], env: Env<'a>) -> EvalResult<'a> {
        enum Piece<'a> {
            Text(&'a [u8]),
            Scratch(std::ops::Range<usize>),
        }
        let mut pieces: SmallVec<[Piece<'a>; 8]> = SmallVec::new();
        let mut scratch: Vec<u8> = Vec::new();
        let mut context: Vec<&'a [u8]> = Vec::new();
        for p in parts {
            match p {
                ir::Part::Lit(t) => pieces.push(Piece::Text(t)),
                ir::Part::Expr(_, x) if self.is_builtin_to_string_call(x) => {
                    // `"${toString e}"`: the text `toString` would make goes straight into
                    // the result, without a string of its own.
                    let ExprKind::Call(c) = &x.kind else {
                        unreachable!("checked above")
                    };
                    let args = &c.args;
                    let at = self.pos(x);
                    let v = self.eval_argument(&args[0], env, at)?;
                    let start = scratch.len();
                    self.coerce_to_string(v, at, true, false, &mut scratch, &mut context)?;
                    pieces.push(Piece::Scratch(start..scratch.len()));
                }
                ir::Part::Expr(d, x) => match self.eval(x, env)? {
                    Value::Str(s) => {
                        context.extend_from_slice(s.context);
                        pieces.push(Piece::Text(s.bytes));
                    }
                    v => {
                        let at = Pos::of(*d);
                        let start = scratch.len();
                        self.coerce_to_string(v, at, false, true, &mut scratch, &mut context)?;
                        pieces.push(Piece::Scratch(start..scratch.len()));
                    }
                },
            }
        }
        let pieces: SmallVec<[&[u8]; 8]> = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => *t,
                Piece::Scratch(r) => &scratch[r.clone()],
            })
            .collect();
        let out = self.concat_bytes(&pieces);
        let context: &'a [&'a [u8]] = if context.is_empty() {
            &[]
        } else {
            self.bump().alloc_slice_copy(&context)
        };
        Ok(Value::Str(self.bump().alloc(NixStr {
            bytes: out,
            context,
        })))
    }
}

/// Edit distance, for suggestions.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != *cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How many arguments of one builtin call can have their thunks on the stack.
const STACK_ARGS: usize = 4;
