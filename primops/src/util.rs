//! Forcing helpers shared by the builtins: each forces an argument and checks its type
//! with Nix's message.

use ferrix_eval::error::{ErrorKind, EvalError};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub type R<T> = Result<T, Box<EvalError>>;

pub fn type_error<T>(v: Value<'_>, expected: &str, pos: Pos) -> R<T> {
    Err(EvalError::eval(
        format!("value is {} while {expected} was expected", v.show_type()),
        pos,
    ))
}

pub fn int<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<i64> {
    match ev.force(t, pos)? {
        Value::Int(n) => Ok(n),
        v => type_error(v, "an integer", pos),
    }
}

pub fn bool<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<bool> {
    match ev.force(t, pos)? {
        Value::Bool(b) => Ok(b),
        v => type_error(v, "a Boolean", pos),
    }
}

/// A number as a float (ints convert), for `ceil`, `floor` and friends.
pub fn float<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<f64> {
    match ev.force(t, pos)? {
        Value::Int(n) => Ok(n as f64),
        Value::Float(f) => Ok(f),
        v => type_error(v, "a float", pos),
    }
}

pub fn list<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<&'a List<'a>> {
    match ev.force(t, pos)? {
        Value::List(l) => Ok(l),
        v => type_error(v, "a list", pos),
    }
}

pub fn attrs<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<&'a AttrSet<'a>> {
    match ev.force(t, pos)? {
        Value::Attrs(s) => Ok(s),
        v => type_error(v, "a set", pos),
    }
}

pub fn function<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<Value<'a>> {
    match ev.force(t, pos)? {
        v @ (Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)) => Ok(v),
        Value::Attrs(s) if s.get(ev.syms().functor).is_some() => Ok(Value::Attrs(s)),
        v => type_error(v, "a function", pos),
    }
}

/// A string argument: its bytes and context.
pub fn string<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<&'a NixStr<'a>> {
    match ev.force(t, pos)? {
        Value::Str(s) => Ok(s),
        v => type_error(v, "a string", pos),
    }
}

/// `coerceToString` of an argument, with or without the extra coercions of `toString`.
pub fn coerce<'a>(
    ev: &Evaluator<'a>,
    t: &'a Thunk<'a>,
    pos: Pos,
    more: bool,
    copy_to_store: bool,
) -> R<(Vec<u8>, Vec<&'a [u8]>)> {
    let v = ev.force(t, pos)?;
    let mut out = Vec::new();
    let mut ctx = Vec::new();
    ev.coerce_to_string(v, pos, more, copy_to_store, &mut out, &mut ctx)?;
    Ok((out, ctx))
}

/// A string value carrying the given context, deduplicated.
pub fn string_value<'a>(ev: &Evaluator<'a>, bytes: &[u8], mut ctx: Vec<&'a [u8]>) -> Value<'a> {
    if ctx.is_empty() {
        return ev.string(bytes);
    }
    ctx.sort_unstable();
    ctx.dedup();
    let ctx = ev.bump().alloc_slice_copy(&ctx);
    ev.string_with_context(bytes, ctx)
}

/// Calls `f` with one argument and forces the result.
pub fn call1<'a>(ev: &Evaluator<'a>, f: Value<'a>, x: &'a Thunk<'a>, pos: Pos) -> R<Value<'a>> {
    ev.call(f, x, pos)
}

pub fn call2<'a>(
    ev: &Evaluator<'a>,
    f: Value<'a>,
    x: &'a Thunk<'a>,
    y: &'a Thunk<'a>,
    pos: Pos,
) -> R<Value<'a>> {
    ev.call2(f, x, y, pos)
}

pub fn throw(msg: impl Into<String>, pos: Pos) -> Box<EvalError> {
    EvalError::new(ErrorKind::Eval, msg, Some(pos))
}

/// An attribute a builtin needs from a set argument: if it is missing, Nix reports it at
/// the set literal (adding the call to the trace), or at the call for a computed set.
pub fn required_attr<'a>(
    ev: &Evaluator<'a>,
    func: &str,
    set: &'a AttrSet<'a>,
    name: &'a [u8],
    pos: Pos,
) -> R<&'a Attr<'a>> {
    let sym = ev.intern_str(name);
    if let Some(a) = set.get(sym) {
        return Ok(a);
    }
    let msg = format!(
        "attribute '{}' missing for call to '{func}'",
        String::from_utf8_lossy(name)
    );
    if set.pos.is_none() {
        return Err(throw(msg, pos));
    }
    Err(throw(msg, set.pos).with_frame(format!("while invoking '{func}'"), Some(pos)))
}
