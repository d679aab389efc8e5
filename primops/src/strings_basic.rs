//! Builtins on strings and their contexts, and version strings.

use crate::builtin::{plain, prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use std::cmp::Ordering;

pub static BUILTINS: &[Builtin] = &[
    plain(PrimOp {
        name: "toString",
        arity: 1,
        // SAFETY: it returns a new string (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: to_string,
        doc: "toString e

Turns `e` into a string: strings stay as they are, paths become their text, integers and
floats their decimal form, `true` becomes \"1\", `false` and `null` the empty string,
and lists the conversion of their elements joined by spaces. Sets need `__toString` or
`outPath`.",
    }),
    prefixed(PrimOp {
        name: "stringLength",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: string_length,
        doc: "stringLength s

The length of the string `s` in bytes.",
    }),
    prefixed(PrimOp {
        name: "substring",
        arity: 3,
        transient: ferrix_eval::value::Transient::NONE,
        func: substring,
        doc: "substring start len s

The part of `s` that starts at byte `start` and is at most `len` bytes long. A negative
`len` means up to the end.

  substring 1 3 \"abcde\"   # \"bcd\"",
    }),
    prefixed(PrimOp {
        name: "concatStringsSep",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: concat_strings_sep,
        doc: "concatStringsSep separator strings

Joins a list of strings with `separator` between each pair of them.

  concatStringsSep \", \" [ \"a\" \"b\" ]   # \"a, b\"",
    }),
    prefixed(PrimOp {
        name: "replaceStrings",
        arity: 3,
        transient: ferrix_eval::value::Transient::NONE,
        func: replace_strings,
        doc: "replaceStrings from to s

Replaces in `s` every occurrence of a string of the list `from` by the string at the same
index of `to`, scanning from left to right and trying the patterns in order at each
position.

  replaceStrings [ \"a\" \"b\" ] [ \"b\" \"a\" ] \"abc\"   # \"bac\"",
    }),
    prefixed(PrimOp {
        name: "splitVersion",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: split_version,
        doc: "splitVersion s

Splits a version string into its components, the way `compareVersions` sees them.

  splitVersion \"1.2pre3\"   # [ \"1\" \"2\" \"pre\" \"3\" ]",
    }),
    prefixed(PrimOp {
        name: "compareVersions",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: compare_versions,
        doc: "compareVersions a b

Compares two version strings component by component, the way `nix-env` orders package
versions. Returns -1 if `a` is older, 0 if they are equal and 1 if `a` is newer.

  compareVersions \"1.2.10\" \"1.2.9\"   # 1",
    }),
    prefixed(PrimOp {
        name: "parseDrvName",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: parse_drv_name,
        doc: "parseDrvName s

Splits a package name such as \"hello-2.12\" at the first dash followed by a non-letter
into a set `{ name; version; }`.

  parseDrvName \"hello-2.12\"   # { name = \"hello\"; version = \"2.12\"; }",
    }),
    prefixed(PrimOp {
        name: "hasContext",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: has_context,
        doc: "hasContext s

True if the string `s` carries string context (refers to store paths).",
    }),
    prefixed(PrimOp {
        name: "getContext",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: get_context,
        doc: "getContext s

The string context of `s` as a set: for each store path it refers to, whether it refers
to the path itself, to all outputs of a derivation, or to some of its outputs.",
    }),
    prefixed(PrimOp {
        name: "unsafeDiscardStringContext",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: discard_context,
        doc: "unsafeDiscardStringContext s

`s` without its string context: the same text, no longer referring to any store path.",
    }),
    prefixed(PrimOp {
        name: "unsafeDiscardOutputDependency",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: discard_output_dependency,
        doc: "unsafeDiscardOutputDependency s

`s` with any reference to all outputs of a derivation replaced by a reference to the
`.drv` file alone.",
    }),
    prefixed(PrimOp {
        name: "appendContext",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: append_context,
        doc: "appendContext string context

Returns `string` with extra string context added, given as a set in the form that
`getContext` returns. Meant for low-level code that manipulates derivation references.",
    }),
];

fn to_string<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (s, ctx) = coerce(ev, args[0], pos, true, false)?;
    Ok(string_value(ev, &s, ctx))
}

fn string_length<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (s, _) = coerce(ev, args[0], pos, false, true)?;
    Ok(Value::Int(s.len() as i64))
}

fn substring<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let start = int(ev, args[0], pos)?;
    let len = int(ev, args[1], pos)?;
    let (s, ctx) = coerce(ev, args[2], pos, false, true)?;
    if start < 0 {
        return Err(throw("negative start position in 'substring'", pos));
    }
    let start = start as usize;
    if start >= s.len() {
        return Ok(string_value(ev, b"", ctx));
    }
    let end = if len < 0 {
        s.len()
    } else {
        start.saturating_add(len as usize).min(s.len())
    };
    Ok(string_value(ev, &s[start..end], ctx))
}

fn concat_strings_sep<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let sep = string(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let mut out = Vec::new();
    let mut ctx: Vec<&'a [u8]> = sep.context.to_vec();
    for (i, t) in l.items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep.bytes);
        }
        let v = ev.force(t, pos)?;
        ev.coerce_to_string(v, pos, false, true, &mut out, &mut ctx)?;
    }
    Ok(string_value(ev, &out, ctx))
}

fn replace_strings<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let from = list(ev, args[0], pos)?;
    let to = list(ev, args[1], pos)?;
    if from.items.len() != to.items.len() {
        return Err(throw(
            "'from' and 'to' arguments to 'replaceStrings' have different lengths",
            pos,
        ));
    }
    let mut froms = Vec::with_capacity(from.items.len());
    for t in from.items {
        froms.push(string(ev, t, pos)?.bytes);
    }
    let mut tos = Vec::with_capacity(to.items.len());
    for t in to.items {
        tos.push(string(ev, t, pos)?);
    }
    let s = string(ev, args[2], pos)?;
    let mut ctx: Vec<&'a [u8]> = s.context.to_vec();
    let bytes = s.bytes;
    let mut out = Vec::with_capacity(bytes.len());
    let mut p = 0;
    while p <= bytes.len() {
        let hit = froms.iter().position(|f| bytes[p..].starts_with(f));
        match hit {
            Some(k) => {
                out.extend_from_slice(tos[k].bytes);
                ctx.extend_from_slice(tos[k].context);
                if froms[k].is_empty() {
                    if p < bytes.len() {
                        out.push(bytes[p]);
                    }
                    p += 1;
                } else {
                    p += froms[k].len();
                }
            }
            None => {
                if p < bytes.len() {
                    out.push(bytes[p]);
                }
                p += 1;
            }
        }
    }
    Ok(string_value(ev, &out, ctx))
}

/// The next component of a version string: a run of digits, or of other characters up to
/// a digit or separator; `.` and `-` separate.
fn next_component<'s>(s: &'s [u8], p: &mut usize) -> &'s [u8] {
    while *p < s.len() && matches!(s[*p], b'.' | b'-') {
        *p += 1;
    }
    let start = *p;
    if *p < s.len() && s[*p].is_ascii_digit() {
        while *p < s.len() && s[*p].is_ascii_digit() {
            *p += 1;
        }
    } else {
        while *p < s.len() && !s[*p].is_ascii_digit() && !matches!(s[*p], b'.' | b'-') {
            *p += 1;
        }
    }
    &s[start..*p]
}

fn as_int(c: &[u8]) -> Option<i32> {
    std::str::from_utf8(c).ok()?.parse().ok()
}

fn component_lt(c1: &[u8], c2: &[u8]) -> bool {
    let (n1, n2) = (as_int(c1), as_int(c2));
    match (n1, n2) {
        (Some(a), Some(b)) => a < b,
        _ if c1.is_empty() && n2.is_some() => true,
        _ if c1 == b"pre" && c2 != b"pre" => true,
        _ if c2 == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => c1 < c2,
    }
}

/// Nix's version order.
pub fn compare_version_strings(v1: &[u8], v2: &[u8]) -> Ordering {
    let (mut p1, mut p2) = (0, 0);
    while p1 < v1.len() || p2 < v2.len() {
        let c1 = next_component(v1, &mut p1);
        let c2 = next_component(v2, &mut p2);
        if component_lt(c1, c2) {
            return Ordering::Less;
        }
        if component_lt(c2, c1) {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

fn split_version<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let s = string(ev, args[0], pos)?.bytes;
    let mut p = 0;
    let mut out = Vec::new();
    while p < s.len() {
        let c = next_component(s, &mut p);
        if c.is_empty() {
            break;
        }
        out.push(ev.alloc_thunk(ev.string(c)));
    }
    Ok(ev.make_list(&out))
}

fn compare_versions<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let a = string(ev, args[0], pos)?.bytes;
    let b = string(ev, args[1], pos)?.bytes;
    Ok(Value::Int(match compare_version_strings(a, b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

fn parse_drv_name<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let s = string(ev, args[0], pos)?.bytes;
    let split = (0..s.len())
        .find(|&i| s[i] == b'-' && s.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()));
    let (name, version) = match split {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    let mut out = vec![
        Attr {
            name: ev.intern(b"name"),
            value: ev.alloc_thunk(ev.string(name)),
            pos,
        },
        Attr {
            name: ev.intern(b"version"),
            value: ev.alloc_thunk(ev.string(version)),
            pos,
        },
    ];
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

fn has_context<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(!string(ev, args[0], pos)?.context.is_empty()))
}

fn discard_context<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (s, _) = coerce(ev, args[0], pos, false, true)?;
    Ok(ev.string(&s))
}

fn discard_output_dependency<'a>(
    ev: &Evaluator<'a>,
    args: &[&'a Thunk<'a>],
    pos: Pos,
) -> EvalResult<'a> {
    let (s, ctx) = coerce(ev, args[0], pos, false, true)?;
    let ctx: Vec<&'a [u8]> = ctx
        .into_iter()
        .map(|c| match c.strip_prefix(b"=") {
            Some(drv) => drv,
            None => c,
        })
        .collect();
    Ok(string_value(ev, &s, ctx))
}

/// What a string's context says about one store path: plain reference, all outputs, and
/// the named outputs.
type ContextInfo<'a> = (bool, bool, Vec<&'a [u8]>);

/// `getContext`: `{ "<path>" = { path = true; allOutputs = true; outputs = [ … ]; }; }`.
fn get_context<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let s = string(ev, args[0], pos)?;
    let mut by_path: std::collections::BTreeMap<Vec<u8>, ContextInfo<'a>> = Default::default();
    for c in s.context {
        if let Some(drv) = c.strip_prefix(b"=") {
            by_path.entry(drv.to_vec()).or_default().1 = true;
        } else if let Some(rest) = c.strip_prefix(b"!") {
            let Some(i) = rest.iter().position(|&b| b == b'!') else {
                continue;
            };
            by_path
                .entry(rest[i + 1..].to_vec())
                .or_default()
                .2
                .push(&rest[..i]);
        } else {
            by_path.entry(c.to_vec()).or_default().0 = true;
        }
    }
    let mut out = Vec::new();
    for (path, (plain, all, mut outputs)) in by_path {
        // Nix keeps a context as a sorted set, so outputs come in name order.
        outputs.sort_unstable();
        outputs.dedup();
        let mut info = Vec::new();
        if plain {
            info.push(Attr {
                name: ev.intern(b"path"),
                value: ev.alloc_thunk(Value::Bool(true)),
                pos,
            });
        }
        if all {
            info.push(Attr {
                name: ev.intern(b"allOutputs"),
                value: ev.alloc_thunk(Value::Bool(true)),
                pos,
            });
        }
        if !outputs.is_empty() {
            let items: Vec<&'a Thunk<'a>> = outputs
                .iter()
                .map(|o| ev.alloc_thunk(ev.string(o)))
                .collect();
            info.push(Attr {
                name: ev.intern(b"outputs"),
                value: ev.alloc_thunk(ev.make_list(&items)),
                pos,
            });
        }
        info.sort_by_key(|a| a.name);
        out.push(Attr {
            name: ev.intern(&path),
            value: ev.alloc_thunk(ev.make_attrs(info)),
            pos,
        });
    }
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

fn append_context<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let s = string(ev, args[0], pos)?;
    let spec = attrs(ev, args[1], pos)?;
    let mut ctx: Vec<&'a [u8]> = s.context.to_vec();
    let (path_sym, all_sym, outputs_sym) = (
        ev.intern(b"path"),
        ev.intern(b"allOutputs"),
        ev.intern(b"outputs"),
    );
    for a in spec.attrs() {
        let path = ev.symbols().name(a.name).to_vec();
        let info = attrs(ev, a.value, pos)?;
        if let Some(p) = info.get(path_sym) {
            if bool(ev, p.value, pos)? {
                ctx.push(ev.bump().alloc_slice_copy(&path));
            }
        }
        if let Some(p) = info.get(all_sym) {
            if bool(ev, p.value, pos)? {
                let mut c = b"=".to_vec();
                c.extend_from_slice(&path);
                ctx.push(ev.bump().alloc_slice_copy(&c));
            }
        }
        if let Some(o) = info.get(outputs_sym) {
            for t in list(ev, o.value, pos)?.items {
                let name = string(ev, t, pos)?.bytes;
                let mut c = b"!".to_vec();
                c.extend_from_slice(name);
                c.push(b'!');
                c.extend_from_slice(&path);
                ctx.push(ev.bump().alloc_slice_copy(&c));
            }
        }
    }
    Ok(string_value(ev, s.bytes, ctx))
}
