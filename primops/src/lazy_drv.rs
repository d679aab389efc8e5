//! EXPERIMENT (not for merge): `derivation` as a lazy wrapper around `derivationStrict`.

use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::value::{Attr, PrimOp, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use std::collections::BTreeMap;

pub static LAZY: PrimOp = PrimOp {
    name: "derivation",
    arity: 2,
    func: lazy_derivation,
    doc: "",
};

fn lazy_derivation<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (strict_fn, attrs_t) = (args[0], args[1]);
    let set = ev.force_attrs(attrs_t, pos)?;
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    match set.get(ev.intern(b"outputs")) {
        Some(a) => match ev.force(a.value, pos)? {
            Value::List(l) => {
                for t in l.items {
                    match ev.force(t, pos)? {
                        Value::Str(s) => outputs.push(s.bytes.to_vec()),
                        v => {
                            return Err(EvalError::eval(
                                format!("value is {} while a string was expected", v.show_type()),
                                pos,
                            ))
                        }
                    }
                }
            }
            v => {
                return Err(EvalError::eval(
                    format!("value is {} while a list was expected", v.show_type()),
                    pos,
                ))
            }
        },
        None => outputs.push(b"out".to_vec()),
    }
    if outputs.is_empty() {
        return Err(EvalError::eval("derivation has no outputs", pos));
    }
    let strict = ev.lazy_apply(strict_fn, attrs_t);
    let cells: Vec<&'a Thunk<'a>> = outputs
        .iter()
        .map(|_| ev.alloc_thunk(Value::Null))
        .collect();
    let all = ev.alloc_thunk(ev.make_list(&cells));
    let attr = |name: &[u8], value: &'a Thunk<'a>| Attr {
        name: ev.intern(name),
        value,
        pos: Pos::NONE,
    };
    for (i, o) in outputs.iter().enumerate() {
        let mut m: BTreeMap<_, Attr<'a>> = BTreeMap::new();
        for a in set.attrs {
            m.insert(a.name, *a);
        }
        for (j, o2) in outputs.iter().enumerate() {
            let a = attr(o2, cells[j]);
            m.insert(a.name, a);
        }
        for a in [
            attr(b"all", all),
            attr(b"drvAttrs", attrs_t),
            attr(b"outPath", ev.lazy_select(strict, ev.intern(o), pos)),
            attr(
                b"drvPath",
                ev.lazy_select(strict, ev.intern(b"drvPath"), pos),
            ),
            attr(b"type", ev.alloc_thunk(ev.string(b"derivation"))),
            attr(b"outputName", ev.alloc_thunk(ev.string(o))),
        ] {
            m.insert(a.name, a);
        }
        cells[i].set(ev.make_attrs(m.into_values().collect()));
    }
    ev.force(cells[0], pos)
}
