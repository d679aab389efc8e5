//! Builtins on attribute sets.

use crate::builtin::{plain, prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "attrNames",
        arity: 1,
        // SAFETY: it returns a new list of the names (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: attr_names,
        doc: "attrNames set

The names of the attributes of `set`, as a list of strings sorted alphabetically.

  attrNames { b = 1; a = 2; }   # [ \"a\" \"b\" ]",
    }),
    prefixed(PrimOp {
        name: "attrValues",
        arity: 1,
        // SAFETY: it returns a list of the set's attribute thunks, which are inside the set (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: attr_values,
        doc: "attrValues set

The values of the attributes of `set`, as a list, in the alphabetical order of their
names.",
    }),
    prefixed(PrimOp {
        name: "getAttr",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: get_attr,
        doc: "getAttr name set

The attribute called `name` of `set`; the same as `set.${name}`. A missing attribute is
an error.",
    }),
    prefixed(PrimOp {
        name: "hasAttr",
        arity: 2,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: has_attr,
        doc: "hasAttr name set

True if `set` has an attribute called `name`; the same as `set ? ${name}`.",
    }),
    plain(PrimOp {
        name: "removeAttrs",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: remove_attrs,
        doc: "removeAttrs set names

`set` without the attributes listed in `names` (names it lacks are ignored).

  removeAttrs { a = 1; b = 2; } [ \"a\" ]   # { b = 2; }",
    }),
    prefixed(PrimOp {
        name: "listToAttrs",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: list_to_attrs,
        doc: "listToAttrs list

Builds a set from a list of `{ name; value; }` sets. When a name occurs more than once,
the first occurrence wins.

  listToAttrs [ { name = \"a\"; value = 1; } ]   # { a = 1; }",
    }),
    prefixed(PrimOp {
        name: "intersectAttrs",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: intersect_attrs,
        doc: "intersectAttrs e1 e2

The attributes of `e2` whose names also occur in `e1`.

  intersectAttrs { a = 0; } { a = 1; b = 2; }   # { a = 1; }",
    }),
    prefixed(PrimOp {
        name: "catAttrs",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: cat_attrs,
        doc: "catAttrs name sets

From a list of sets, collects the value of attribute `name` of each set that has one.

  catAttrs \"a\" [ { a = 1; } { b = 2; } { a = 3; } ]   # [ 1 3 ]",
    }),
    prefixed(PrimOp {
        name: "mapAttrs",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: map_attrs,
        doc: "mapAttrs f set

A set with the same names as `set`, where the value of attribute `name` becomes
`f name value`.

  mapAttrs (n: v: v + 1) { a = 1; }   # { a = 2; }",
    }),
    prefixed(PrimOp {
        name: "functionArgs",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: function_args,
        doc: "functionArgs f

For a function with a set pattern, a set from each formal argument's name to whether it
has a default value. For any other function, an empty set.

  functionArgs ({ a, b ? 1 }: a)   # { a = false; b = true; }",
    }),
    prefixed(PrimOp {
        name: "unsafeGetAttrPos",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: unsafe_get_attr_pos,
        doc: "unsafeGetAttrPos name set

Where attribute `name` of `set` was defined, as `{ file; line; column; }`, or null if
that is not known.",
    }),
    prefixed(PrimOp {
        name: "zipAttrsWith",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: zip_attrs_with,
        doc: "zipAttrsWith f sets

Merges a list of sets: for each attribute name found in any of them, calls `f name values`
with the list of that attribute's values, in list order.

  zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ]
  # { a = [ 1 2 ]; b = [ 3 ]; }",
    }),
    prefixed(PrimOp {
        name: "isAttrs",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_attrs,
        doc: "isAttrs e

True if `e` evaluates to a set.",
    }),
];

fn attr_names<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[0], pos)?;
    let sorted = sorted_by_name(ev, set);
    let items: Vec<&'a Thunk<'a>> = sorted.iter().map(|a| ev.name_thunk(a.name)).collect();
    Ok(ev.make_list(&items))
}

/// The attributes in the order of their names as strings.
pub fn sorted_by_name<'a>(ev: &Evaluator<'a>, set: &'a AttrSet<'a>) -> Vec<Attr<'a>> {
    let symbols = ev.symbols();
    let mut v: Vec<Attr<'a>> = set.walk().into_owned();
    v.sort_by(|x, y| symbols.name(x.name).cmp(symbols.name(y.name)));
    v
}

fn attr_values<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[0], pos)?;
    let items: Vec<&'a Thunk<'a>> = sorted_by_name(ev, set).iter().map(|a| a.value).collect();
    Ok(ev.make_list(&items))
}

fn get_attr<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = string(ev, args[0], pos)?;
    let set = attrs(ev, args[1], pos)?;
    let a = required_attr(ev, "getAttr", set, name.bytes, pos)?;
    ev.force(a.value, pos)
}

fn has_attr<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = string(ev, args[0], pos)?;
    let set = attrs(ev, args[1], pos)?;
    Ok(Value::Bool(set.get(ev.intern_str(name.bytes)).is_some()))
}

fn remove_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[0], pos)?;
    let names = list(ev, args[1], pos)?;
    let mut drop = Vec::with_capacity(names.items.len());
    for t in names.items {
        drop.push(ev.intern_str(string(ev, t, pos)?.bytes));
    }
    // Removing nothing gives the set itself, unless it has a position of its own (a set
    // literal's, which messages about it name; Nix's result has none).
    if set.pos.is_none() && drop.iter().all(|&n| set.get(n).is_none()) {
        return Ok(Value::Attrs(set));
    }
    drop.sort_unstable();
    // A layered set is merged into a temporary (the result is a copy anyway), and a flat
    // one copied once.
    let mut kept: Vec<Attr<'a>> = set.walk().into_owned();
    kept.retain(|a| drop.binary_search(&a.name).is_err());
    Ok(ev.make_attrs(kept))
}

fn list_to_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let l = list(ev, args[0], pos)?;
    let mut out: Vec<Attr<'a>> = Vec::with_capacity(l.items.len());
    for t in l.items {
        let item = attrs(ev, t, pos)?;
        let n = required_attr(ev, "listToAttrs", item, b"name", pos)?;
        // Nix checks the name at the attribute's own position.
        let at = if n.pos.is_none() { pos } else { n.pos };
        let n = string(ev, n.value, at)?;
        let v = required_attr(ev, "listToAttrs", item, b"value", pos)?;
        out.push(Attr {
            name: ev.intern_str(n.bytes),
            value: v.value,
            pos: v.pos,
        });
    }
    // Stable: of equal names the first stays first, and wins.
    out.sort_by_key(|a| a.name);
    out.dedup_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

fn intersect_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let a = attrs(ev, args[0], pos)?;
    let b = attrs(ev, args[1], pos)?;
    // Walk the smaller side and look names up in the other: `callPackage` intersects a
    // few formals with the whole package set, which must not be walked (or flattened).
    // The result has at most the smaller side's attributes: sized once.
    let out: Vec<Attr<'a>> = if a.len_bound() < b.len_bound() {
        let small = a.attrs();
        let mut out = Vec::with_capacity(small.len());
        out.extend(small.iter().filter_map(|x| b.get(x.name).copied()));
        out
    } else {
        let small = b.attrs();
        let mut out = Vec::with_capacity(small.len());
        out.extend(small.iter().filter(|x| a.get(x.name).is_some()).copied());
        out
    };
    Ok(ev.make_attrs(out))
}

fn cat_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = ev.intern_str(string(ev, args[0], pos)?.bytes);
    let l = list(ev, args[1], pos)?;
    let mut out = Vec::new();
    for t in l.items {
        if let Some(a) = attrs(ev, t, pos)?.get(name) {
            out.push(a.value);
        }
    }
    Ok(ev.make_list(&out))
}

fn map_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[1], pos)?;
    let f = args[0];
    // A large set's thunks are made as its attributes are looked up (see `Lazy`). Nix
    // gives the attributes that builtins make no position.
    Ok(Value::Attrs(ev.bump().alloc(AttrSet::mapped(
        ev.bump(),
        f,
        set,
    ))))
}

fn function_args<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    match ev.force(args[0], pos)? {
        Value::Lambda(c) => {
            let mut out = Vec::new();
            if let Some(f) = c.lambda().formals() {
                for formal in f.entries() {
                    out.push(Attr {
                        name: formal.name(),
                        value: ev.alloc_thunk(Value::Bool(formal.has_default())),
                        pos: Pos::of(formal.pos()),
                    });
                }
            }
            out.sort_by_key(|a| a.name);
            Ok(ev.make_attrs(out))
        }
        Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(ev.make_attrs(Vec::new())),
        _ => Err(throw("'functionArgs' requires a function", pos)),
    }
}

fn unsafe_get_attr_pos<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = ev.intern_str(string(ev, args[0], pos)?.bytes);
    let set = attrs(ev, args[1], pos)?;
    match set.get(name) {
        Some(a) if !a.pos.is_none() => Ok(ev.pos_attrs(a.pos)),
        _ => Ok(Value::Null),
    }
}

fn zip_attrs_with<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = args[0];
    let sets = list(ev, args[1], pos)?;
    let mut groups: std::collections::BTreeMap<ferrix_parser::Sym, Vec<&'a Thunk<'a>>> =
        Default::default();
    for t in sets.items {
        for a in attrs(ev, t, pos)?.attrs() {
            groups.entry(a.name).or_default().push(a.value);
        }
    }
    let out: Vec<Attr<'a>> = groups
        .into_iter()
        .map(|(name, values)| {
            let n = ev.symbols().name(name).to_vec();
            let n = ev.alloc_thunk(ev.string(&n));
            let vs = ev.alloc_thunk(ev.make_list(&values));
            Attr {
                name,
                value: ev.lazy_apply(ev.lazy_apply(f, n), vs),
                pos,
            }
        })
        .collect();
    Ok(ev.make_attrs(out))
}

fn is_attrs<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::Attrs(_)
    )))
}
