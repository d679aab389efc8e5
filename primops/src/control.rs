//! Control, type and arithmetic builtins.

use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub static PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "throw", arity: 1, transient: 0, func: throw_, doc: "Raise an error with the given message; `tryEval` catches it." },
    PrimOp { name: "abort", arity: 1, transient: 0, func: abort, doc: "Stop evaluation with the given message; nothing catches it." },
    PrimOp { name: "seq", arity: 2, transient: 3, func: seq, doc: "`seq e1 e2`: force `e1`, then return `e2`." },
    PrimOp { name: "deepSeq", arity: 2, transient: 0, func: deep_seq, doc: "`deepSeq e1 e2`: force `e1` completely, then return `e2`." },
    PrimOp { name: "tryEval", arity: 1, transient: 0, func: try_eval, doc: "`{ success = true; value = e; }`, or `{ success = false; value = false; }` if `e` throws or fails an assertion." },
    PrimOp { name: "trace", arity: 2, transient: 0, func: trace, doc: "`trace e1 e2`: print `e1` on standard error and return `e2`." },
    PrimOp { name: "addErrorContext", arity: 2, transient: 0, func: add_error_context, doc: "Evaluate the second argument; if it fails, add the first to the error's trace." },
    PrimOp { name: "typeOf", arity: 1, transient: 1, func: type_of, doc: "The type of a value: \"int\", \"bool\", \"string\", \"path\", \"null\", \"set\", \"list\", \"lambda\" or \"float\"." },
    PrimOp { name: "isNull", arity: 1, transient: 1, func: is_null, doc: "Whether the value is null." },
    PrimOp { name: "isInt", arity: 1, transient: 1, func: is_int, doc: "Whether the value is an integer." },
    PrimOp { name: "isFloat", arity: 1, transient: 1, func: is_float, doc: "Whether the value is a float." },
    PrimOp { name: "isBool", arity: 1, transient: 1, func: is_bool, doc: "Whether the value is a Boolean." },
    PrimOp { name: "isString", arity: 1, transient: 1, func: is_string, doc: "Whether the value is a string." },
    PrimOp { name: "isPath", arity: 1, transient: 1, func: is_path, doc: "Whether the value is a path." },
    PrimOp { name: "isFunction", arity: 1, transient: 1, func: is_function, doc: "Whether the value is a function." },
    PrimOp { name: "add", arity: 2, transient: 0, func: add, doc: "Sum of two numbers." },
    PrimOp { name: "sub", arity: 2, transient: 0, func: sub, doc: "Difference of two numbers." },
    PrimOp { name: "mul", arity: 2, transient: 0, func: mul, doc: "Product of two numbers." },
    PrimOp { name: "div", arity: 2, transient: 0, func: div, doc: "Quotient of two numbers; integer division truncates." },
    PrimOp { name: "lessThan", arity: 2, transient: 0, func: less_than, doc: "`lessThan a b` is `a < b`." },
    PrimOp { name: "bitAnd", arity: 2, transient: 0, func: bit_and, doc: "Bitwise and of two integers." },
    PrimOp { name: "bitOr", arity: 2, transient: 0, func: bit_or, doc: "Bitwise or of two integers." },
    PrimOp { name: "bitXor", arity: 2, transient: 0, func: bit_xor, doc: "Bitwise exclusive or of two integers." },
    PrimOp { name: "ceil", arity: 1, transient: 0, func: ceil, doc: "The smallest integer not less than a number." },
    PrimOp { name: "floor", arity: 1, transient: 0, func: floor, doc: "The largest integer not greater than a number." },
    PrimOp { name: "genericClosure", arity: 1, transient: 0, func: generic_closure, doc: "Closure of `startSet` under `operator`, items identified by their `key`." },
    PrimOp { name: "getEnv", arity: 1, transient: 0, func: get_env, doc: "The value of an environment variable, or \"\"." },
];

fn throw_<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (msg, _) = coerce(ev, args[0], pos, false, false)?;
    Err(EvalError::new(
        ErrorKind::Throw,
        String::from_utf8_lossy(&msg),
        None,
    ))
}

fn abort<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (msg, _) = coerce(ev, args[0], pos, false, false)?;
    Err(EvalError::new(
        ErrorKind::Abort,
        format!(
            "evaluation aborted with the following error message: '{}'",
            String::from_utf8_lossy(&msg)
        ),
        None,
    ))
}

fn seq<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    ev.force(args[0], pos)?;
    ev.force(args[1], pos)
}

fn deep_seq<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let v = ev.force(args[0], pos)?;
    ev.force_deep(v, pos)?;
    ev.force(args[1], pos)
}

fn try_eval<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (ok, value) = match ev.force(args[0], pos) {
        Ok(_) => (true, args[0]),
        Err(e) if matches!(e.kind, ErrorKind::Throw | ErrorKind::Assert) => {
            (false, ev.alloc_thunk(Value::Bool(false)))
        }
        Err(e) => return Err(e),
    };
    let mut out = vec![
        Attr {
            name: ev.intern(b"success"),
            value: ev.alloc_thunk(Value::Bool(ok)),
            pos,
        },
        Attr {
            name: ev.intern(b"value"),
            value,
            pos,
        },
    ];
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

fn trace<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let v = ev.force(args[0], pos)?;
    let mut out = b"trace: ".to_vec();
    match v {
        Value::Str(s) => out.extend_from_slice(s.bytes),
        v => ev.print_value(v, &mut out),
    }
    ev.log(ferrix_eval::policy::LVL_ERROR, &out);
    ev.force(args[1], pos)
}

fn add_error_context<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    match ev.force(args[1], pos) {
        Ok(v) => Ok(v),
        Err(e) => {
            let (msg, _) = coerce(ev, args[0], pos, false, false)?;
            Err(e.with_frame(String::from_utf8_lossy(&msg), None))
        }
    }
}

fn type_of<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let v = ev.force(args[0], pos)?;
    Ok(ev.string(v.type_name().as_bytes()))
}

fn is_null<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(ev.force(args[0], pos)?, Value::Null)))
}

fn is_int<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Int(_)
    )))
}

fn is_float<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Float(_)
    )))
}

fn is_bool<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Bool(_)
    )))
}

fn is_string<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Str(_)
    )))
}

fn is_path<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Path(_)
    )))
}

fn is_function<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
    )))
}

fn numbers<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> R<(Value<'a>, Value<'a>)> {
    Ok((ev.force(args[0], pos)?, ev.force(args[1], pos)?))
}

fn add<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (a, b) = numbers(ev, args, pos)?;
    match (a, b) {
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            ev.add(a, b, pos, pos)
        }
        (Value::Int(_) | Value::Float(_), v) | (v, _) => type_error(v, "an integer", pos),
    }
}

fn sub<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (a, b) = numbers(ev, args, pos)?;
    ev.sub(a, b, pos)
}

fn mul<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (a, b) = numbers(ev, args, pos)?;
    ev.mul(a, b, pos)
}

fn div<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (a, b) = numbers(ev, args, pos)?;
    ev.div(a, b, pos)
}

fn less_than<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (a, b) = numbers(ev, args, pos)?;
    Ok(Value::Bool(ev.less_than(a, b, pos)?))
}

fn bit_and<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(int(ev, args[0], pos)? & int(ev, args[1], pos)?))
}

fn bit_or<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(int(ev, args[0], pos)? | int(ev, args[1], pos)?))
}

fn bit_xor<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(int(ev, args[0], pos)? ^ int(ev, args[1], pos)?))
}

fn ceil<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(float(ev, args[0], pos)?.ceil() as i64))
}

fn floor<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(float(ev, args[0], pos)?.floor() as i64))
}

fn generic_closure<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let spec = attrs(ev, args[0], pos)?;
    let start = list(
        ev,
        required_attr(ev, "genericClosure", spec, b"startSet", pos)?.value,
        pos,
    )?;
    let op = function(
        ev,
        required_attr(ev, "genericClosure", spec, b"operator", pos)?.value,
        pos,
    )?;
    let key_sym = ev.intern(b"key");
    let mut work: std::collections::VecDeque<&'a Thunk<'a>> = start.items.iter().copied().collect();
    // Keys seen so far, kept sorted by Nix's value order.
    let mut seen: Vec<Value<'a>> = Vec::new();
    let mut out: Vec<&'a Thunk<'a>> = Vec::new();
    while let Some(t) = work.pop_front() {
        let item = attrs(ev, t, pos)?;
        let key = match item.get(key_sym) {
            Some(k) => ev.force(k.value, pos)?,
            None => return Err(throw("attribute 'key' required", pos)),
        };
        let mut err = None;
        let found = seen.binary_search_by(|probe| match ev.compare(key, *probe, pos) {
            Ok(o) => o.reverse(),
            Err(e) => {
                err.get_or_insert(e);
                std::cmp::Ordering::Equal
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        let Err(i) = found else { continue };
        seen.insert(i, key);
        out.push(t);
        match call1(ev, op, t, pos)? {
            Value::List(next) => work.extend(next.items.iter().copied()),
            v => return type_error(v, "a list", pos),
        }
    }
    Ok(ev.make_list(&out))
}

fn get_env<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = string(ev, args[0], pos)?;
    // Restricted and pure evaluation see an empty environment.
    if ev.is_restricted() {
        return Ok(ev.string(b""));
    }
    let v = std::env::var_os(String::from_utf8_lossy(name.bytes).as_ref()).unwrap_or_default();
    use std::os::unix::ffi::OsStrExt;
    Ok(ev.string(v.as_bytes()))
}
