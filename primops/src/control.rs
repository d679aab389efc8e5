//! Control, type and arithmetic builtins.

use crate::builtin::{plain, prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub static BUILTINS: &[Builtin] = &[
    plain(PrimOp {
        name: "throw",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: throw_,
        doc: "throw message

Stops the evaluation with `message`. `tryEval` can catch it, so use it for errors a
caller may want to handle.",
    }),
    plain(PrimOp {
        name: "abort",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: abort,
        doc: "abort message

Stops the evaluation with `message`. Unlike `throw`, the error cannot be caught by
`tryEval`, so use it for situations that are bugs rather than expected failures.",
    }),
    prefixed(PrimOp {
        name: "seq",
        arity: 2,
        // SAFETY: it forces both and returns the second's value, not its thunk (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: seq,
        doc: "seq a b

Forces `a` to its outermost form (not its contents), then returns `b`.",
    }),
    prefixed(PrimOp {
        name: "deepSeq",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: deep_seq,
        doc: "deepSeq a b

Forces `a` completely, including everything inside its lists and sets, then returns `b`.
Useful to surface errors hidden deep inside a value, or to avoid building up thunks.",
    }),
    prefixed(PrimOp {
        name: "tryEval",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: try_eval,
        doc: "tryEval e

Evaluates `e` to its outermost form. Returns `{ success = true; value = e; }`, or
`{ success = false; value = false; }` if that raised an error with `throw` or `assert`.
Other errors, such as `abort` or a missing attribute, are not caught.",
    }),
    prefixed(PrimOp {
        name: "trace",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: trace,
        doc: "trace e1 e2

Prints `e1` on standard error (as `trace: ...`) when it is evaluated, then returns `e2`.
Handy for debugging.",
    }),
    prefixed(PrimOp {
        name: "addErrorContext",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: add_error_context,
        doc: "addErrorContext message value

Returns `value` unchanged. If forcing `value` fails, `message` is added to the error's
trace, where `--show-trace` shows it.",
    }),
    prefixed(PrimOp {
        name: "typeOf",
        arity: 1,
        // SAFETY: it returns a constant string (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: type_of,
        doc: "typeOf e

The type of `e` as a string: \"int\", \"bool\", \"string\", \"path\", \"null\", \"set\",
\"list\", \"lambda\" or \"float\".",
    }),
    plain(PrimOp {
        name: "isNull",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_null,
        doc: "isNull e

True if `e` evaluates to `null`. Prefer `e == null`.",
    }),
    prefixed(PrimOp {
        name: "isInt",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_int,
        doc: "isInt e

True if `e` evaluates to an integer.",
    }),
    prefixed(PrimOp {
        name: "isFloat",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_float,
        doc: "isFloat e

True if `e` evaluates to a float.",
    }),
    prefixed(PrimOp {
        name: "isBool",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_bool,
        doc: "isBool e

True if `e` evaluates to a Boolean.",
    }),
    prefixed(PrimOp {
        name: "isString",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_string,
        doc: "isString e

True if `e` evaluates to a string.",
    }),
    prefixed(PrimOp {
        name: "isPath",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_path,
        doc: "isPath e

True if `e` evaluates to a path (not a string).",
    }),
    prefixed(PrimOp {
        name: "isFunction",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_function,
        doc: "isFunction e

True if `e` evaluates to a function (a lambda or a builtin).",
    }),
    prefixed(PrimOp {
        name: "add",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: add,
        doc: "add a b

The sum of two numbers; the same as `a + b` on numbers. If either is a float the result
is a float.",
    }),
    prefixed(PrimOp {
        name: "sub",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: sub,
        doc: "sub a b

The difference of two numbers; the same as `a - b`.",
    }),
    prefixed(PrimOp {
        name: "mul",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: mul,
        doc: "mul a b

The product of two numbers; the same as `a * b`.",
    }),
    prefixed(PrimOp {
        name: "div",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: div,
        doc: "div a b

The quotient of two numbers; the same as `a / b`. Integer division rounds towards zero.
Dividing by zero is an error.",
    }),
    prefixed(PrimOp {
        name: "lessThan",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: less_than,
        doc: "lessThan a b

True if `a < b`. Works on numbers, strings (compared byte by byte) and paths.",
    }),
    prefixed(PrimOp {
        name: "bitAnd",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: bit_and,
        doc: "bitAnd a b

The bitwise AND of two integers.",
    }),
    prefixed(PrimOp {
        name: "bitOr",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: bit_or,
        doc: "bitOr a b

The bitwise OR of two integers.",
    }),
    prefixed(PrimOp {
        name: "bitXor",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: bit_xor,
        doc: "bitXor a b

The bitwise exclusive OR of two integers.",
    }),
    prefixed(PrimOp {
        name: "ceil",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: ceil,
        doc: "ceil x

Rounds a number up to the nearest integer.",
    }),
    prefixed(PrimOp {
        name: "floor",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: floor,
        doc: "floor x

Rounds a number down to the nearest integer.",
    }),
    prefixed(PrimOp {
        name: "genericClosure",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: generic_closure,
        doc: "genericClosure { startSet; operator; }

Computes a closure: starting from the sets in `startSet`, repeatedly applies `operator`
to each new set, which returns more sets. Every set needs a `key` attribute; sets whose
key was seen before are dropped. Returns every set kept, in the order found.",
    }),
    prefixed(PrimOp {
        name: "getEnv",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: get_env,
        doc: "getEnv name

The value of the environment variable `name` of the evaluating process, or an empty
string if it is not set. Makes the evaluation impure.",
    }),
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
