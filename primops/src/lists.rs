//! Builtins on lists.

use crate::builtin::{plain, prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "length",
        arity: 1,
        // SAFETY: it returns an integer (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: length,
        doc: "length list

The number of elements of a list.",
    }),
    prefixed(PrimOp {
        name: "head",
        arity: 1,
        // SAFETY: it returns the first item's value, which is inside the list (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: head,
        doc: "head list

The first element of a list. An empty list is an error.",
    }),
    prefixed(PrimOp {
        name: "tail",
        arity: 1,
        // SAFETY: it returns a new list of the items, which are inside the list (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: tail,
        doc: "tail list

The list without its first element. An empty list is an error.",
    }),
    prefixed(PrimOp {
        name: "elemAt",
        arity: 2,
        // SAFETY: it returns an item's value, inside the list; the index is read as an integer (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: elem_at,
        doc: "elemAt list n

The element of `list` at index `n`, counting from 0. An index out of range is an error.",
    }),
    prefixed(PrimOp {
        name: "elem",
        arity: 2,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: elem,
        doc: "elem x list

True if `list` contains an element equal (by `==`) to `x`.",
    }),
    prefixed(PrimOp {
        name: "filter",
        arity: 2,
        // SAFETY: it calls the function and returns a new list of the items inside the list (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: filter,
        doc: "filter pred list

The elements of `list` for which `pred` returns true, in their original order.

  filter (x: x > 1) [ 1 2 3 ]   # [ 2 3 ]",
    }),
    plain(PrimOp {
        name: "map",
        arity: 2,
        // SAFETY: the new list's thunks apply the function to the items inside the list, not to the list (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(2) },
        func: map,
        doc: "map f list

A new list holding `f x` for each element `x` of `list`. The calls are made lazily, when
an element is used.

  map (x: x * 10) [ 1 2 ]   # [ 10 20 ]",
    }),
    prefixed(PrimOp {
        name: "concatLists",
        arity: 1,
        // SAFETY: it returns a new list of the items inside the inner lists (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: concat_lists,
        doc: "concatLists lists

Joins a list of lists into one list.

  concatLists [ [ 1 ] [ 2 3 ] ]   # [ 1 2 3 ]",
    }),
    prefixed(PrimOp {
        name: "concatMap",
        arity: 2,
        // SAFETY: it calls the function and returns the items inside the lists it returns (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: concat_map,
        doc: "concatMap f list

Applies `f`, which must return a list, to each element of `list` and joins the results.
The same as `concatLists (map f list)`, but faster.",
    }),
    prefixed(PrimOp {
        name: "genList",
        arity: 2,
        // SAFETY: the length is read as an integer (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(2) },
        func: gen_list,
        doc: "genList f n

A list of `n` elements where element `i` is `f i`.

  genList (i: i * i) 4   # [ 0 1 4 9 ]",
    }),
    prefixed(PrimOp {
        name: "foldl'",
        arity: 3,
        transient: ferrix_eval::value::Transient::NONE,
        func: foldl,
        doc: "foldl' op start list

Combines the elements of `list` from the left: `op (op (op start x0) x1) x2` and so on.
Each intermediate result is forced straight away, so long lists do not build up a chain
of unevaluated calls.

  foldl' (acc: x: acc + x) 0 [ 1 2 3 ]   # 6",
    }),
    prefixed(PrimOp {
        name: "any",
        arity: 2,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: any,
        doc: "any pred list

True if `pred` returns true for at least one element of `list`. Stops at the first such
element; false for an empty list.

  any (x: x == 2) [ 1 2 3 ]   # true",
    }),
    prefixed(PrimOp {
        name: "all",
        arity: 2,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(3) },
        func: all,
        doc: "all pred list

True if `pred` returns true for every element of `list` (and for an empty list). Stops at
the first element for which it returns false.

  all (x: x > 0) [ 1 2 3 ]   # true",
    }),
    prefixed(PrimOp {
        name: "sort",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: sort,
        doc: "sort lessThan list

Sorts `list` with the comparison `lessThan`, which returns true when its first argument
belongs before its second. The sort is stable.

  sort builtins.lessThan [ 3 1 2 ]   # [ 1 2 3 ]",
    }),
    prefixed(PrimOp {
        name: "partition",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: partition,
        doc: "partition pred list

Splits `list` into a set of two lists: `right` holds the elements for which `pred` is
true, `wrong` the others, each in their original order.",
    }),
    prefixed(PrimOp {
        name: "groupBy",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: group_by,
        doc: "groupBy f list

Groups the elements of `list` by the string `f` returns for them: a set from each such
string to the list of elements that gave it.

  groupBy (x: if x > 2 then \"big\" else \"small\") [ 1 3 2 4 ]
  # { big = [ 3 4 ]; small = [ 1 2 ]; }",
    }),
    prefixed(PrimOp {
        name: "isList",
        arity: 1,
        // SAFETY: it returns a Boolean (`primops/tests/transient.rs`).
        transient: unsafe { ferrix_eval::value::Transient::new(1) },
        func: is_list,
        doc: "isList e

True if `e` evaluates to a list.",
    }),
];

fn length<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Int(list(ev, args[0], pos)?.items.len() as i64))
}

fn head<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    match list(ev, args[0], pos)?.items.first() {
        Some(t) => ev.force(t, pos),
        None => Err(throw("list index 0 is out of bounds", pos)),
    }
}

fn tail<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let l = list(ev, args[0], pos)?;
    if l.items.is_empty() {
        return Err(throw("'tail' called on an empty list", pos));
    }
    Ok(ev.make_list(&l.items[1..]))
}

fn elem_at<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let l = list(ev, args[0], pos)?;
    let n = int(ev, args[1], pos)?;
    match usize::try_from(n).ok().and_then(|i| l.items.get(i)) {
        Some(t) => ev.force(t, pos),
        None => Err(throw(format!("list index {n} is out of bounds"), pos)),
    }
}

fn elem<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    for t in list(ev, args[1], pos)?.items {
        if ev.equal_thunks(args[0], t, pos)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn filter<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let mut out = Vec::with_capacity(l.items.len());
    for t in l.items {
        match call1(ev, f, t, pos)? {
            Value::Bool(true) => out.push(*t),
            Value::Bool(false) => {}
            v => return type_error(v, "a Boolean", pos),
        }
    }
    if out.len() == l.items.len() {
        return Ok(Value::List(l));
    }
    Ok(ev.make_list(&out))
}

fn map<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let l = list(ev, args[1], pos)?;
    let out: Vec<&'a Thunk<'a>> = l.items.iter().map(|t| ev.lazy_apply(args[0], t)).collect();
    Ok(ev.make_list(&out))
}

fn concat_lists<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let outer = list(ev, args[0], pos)?;
    let mut lists = Vec::with_capacity(outer.items.len());
    for t in outer.items {
        lists.push(list(ev, t, pos)?);
    }
    Ok(ev.concat_lists(&lists))
}

fn concat_map<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let mut lists = Vec::with_capacity(l.items.len());
    for t in l.items {
        match call1(ev, f, t, pos)? {
            Value::List(x) => lists.push(x),
            v => return type_error(v, "a list", pos),
        }
    }
    Ok(ev.concat_lists(&lists))
}

fn gen_list<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let n = int(ev, args[1], pos)?;
    if n < 0 {
        return Err(throw(format!("cannot create list of size {n}"), pos));
    }
    let items = ev
        .bump()
        .alloc_slice_fill_iter((0..n as usize).map(|i| ev.lazy_apply_index(args[0], i)));
    Ok(ev.list_of(items))
}

fn foldl<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[2], pos)?;
    // After the first step the accumulator is a value, which the next call may be able
    // to take without a thunk of its own (`call2_value`).
    let Some((first, rest)) = l.items.split_first() else {
        return ev.force(args[1], pos);
    };
    let mut acc = call2(ev, f, args[1], first, pos)?;
    for t in rest {
        acc = ev.call2_value(f, acc, t, pos)?;
    }
    Ok(acc)
}

fn any<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    for t in list(ev, args[1], pos)?.items {
        match call1(ev, f, t, pos)? {
            Value::Bool(true) => return Ok(Value::Bool(true)),
            Value::Bool(false) => {}
            v => return type_error(v, "a Boolean", pos),
        }
    }
    Ok(Value::Bool(false))
}

fn all<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    for t in list(ev, args[1], pos)?.items {
        match call1(ev, f, t, pos)? {
            Value::Bool(false) => return Ok(Value::Bool(false)),
            Value::Bool(true) => {}
            v => return type_error(v, "a Boolean", pos),
        }
    }
    Ok(Value::Bool(true))
}

/// Stable merge sort driven by the user's less-than; its errors stop the sort. (The
/// standard library's sorts may panic on comparators that are not total orders.)
fn sort<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let mut items: Vec<&'a Thunk<'a>> = l.items.to_vec();
    // Nix forces the elements before sorting.
    for t in &items {
        ev.force(t, pos)?;
    }
    let mut less = |a: &'a Thunk<'a>, b: &'a Thunk<'a>| -> R<bool> {
        match call2(ev, f, a, b, pos)? {
            Value::Bool(x) => Ok(x),
            v => type_error(v, "a Boolean", pos),
        }
    };
    let mut buf = items.clone();
    merge_sort(&mut items, &mut buf, &mut less)?;
    Ok(ev.make_list(&items))
}

fn merge_sort<T: Copy, E>(
    v: &mut [T],
    buf: &mut [T],
    less: &mut impl FnMut(T, T) -> Result<bool, E>,
) -> Result<(), E> {
    let n = v.len();
    if n <= 1 {
        return Ok(());
    }
    if n <= 16 {
        // Insertion sort: stable, and few comparisons on short runs.
        for i in 1..n {
            let mut j = i;
            while j > 0 && less(v[j], v[j - 1])? {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return Ok(());
    }
    let mid = n / 2;
    merge_sort(&mut v[..mid], &mut buf[..mid], less)?;
    merge_sort(&mut v[mid..], &mut buf[mid..], less)?;
    buf[..n].copy_from_slice(v);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        // Take from the right only when it is strictly less: stability.
        if less(buf[j], buf[i])? {
            v[k] = buf[j];
            j += 1;
        } else {
            v[k] = buf[i];
            i += 1;
        }
        k += 1;
    }
    v[k..k + (mid - i)].copy_from_slice(&buf[i..mid]);
    let k = k + (mid - i);
    v[k..].copy_from_slice(&buf[j..n]);
    Ok(())
}

fn partition<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for t in l.items {
        match call1(ev, f, t, pos)? {
            Value::Bool(true) => right.push(*t),
            Value::Bool(false) => wrong.push(*t),
            v => return type_error(v, "a Boolean", pos),
        }
    }
    let mut out = vec![
        Attr {
            name: ev.intern(b"right"),
            value: ev.alloc_thunk(ev.make_list(&right)),
            pos,
        },
        Attr {
            name: ev.intern(b"wrong"),
            value: ev.alloc_thunk(ev.make_list(&wrong)),
            pos,
        },
    ];
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

fn group_by<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let f = function(ev, args[0], pos)?;
    let l = list(ev, args[1], pos)?;
    let mut groups: std::collections::BTreeMap<ferrix_parser::Sym, Vec<&'a Thunk<'a>>> =
        Default::default();
    for t in l.items {
        let k = match call1(ev, f, t, pos)? {
            Value::Str(s) => s.bytes,
            v => return type_error(v, "a string", pos),
        };
        groups.entry(ev.intern_str(k)).or_default().push(*t);
    }
    let out: Vec<Attr<'a>> = groups
        .into_iter()
        .map(|(name, items)| Attr {
            name,
            value: ev.alloc_thunk(ev.make_list(&items)),
            pos,
        })
        .collect();
    Ok(ev.make_attrs(out))
}

fn is_list<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    Ok(Value::Bool(matches!(
        ev.force(args[0], pos)?,
        Value::List(_)
    )))
}
