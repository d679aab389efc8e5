//! Printing values as `nix-instantiate --eval` does.

use crate::value::*;
use crate::Evaluator;
use rustc_hash::FxHashSet;

impl<'a> Evaluator<'a> {
    /// Prints a value without forcing anything: unevaluated parts show as `<CODE>`, and a
    /// non-empty set or list already printed shows as `«repeated»`.
    pub fn print_value(&self, v: Value<'a>, out: &mut Vec<u8>) {
        let mut seen = FxHashSet::default();
        self.print_rec(v, None, out, &mut seen);
    }

    fn print_thunk(&self, t: &'a Thunk<'a>, out: &mut Vec<u8>, seen: &mut FxHashSet<usize>) {
        match t.value() {
            Some(v) => self.print_rec(v, Some(t as *const _ as usize), out, seen),
            None => out.extend_from_slice(b"<CODE>"),
        }
    }

    /// `at`: the thunk that holds `v`, if any (the value printed first is held by none).
    /// Nix 2.8 recognises a set by its attributes and a list of three or more elements by
    /// its elements, which every copy shares, but a list of one or two elements by the
    /// place that holds it: so `let x = [ x ]; in x` prints as `[ [ «repeated» ] ]`.
    fn print_rec(
        &self,
        v: Value<'a>,
        at: Option<usize>,
        out: &mut Vec<u8>,
        seen: &mut FxHashSet<usize>,
    ) {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match v {
            Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Null => out.extend_from_slice(b"null"),
            Value::Float(f) => out.extend_from_slice(ferrix_parser::print::format_g(f).as_bytes()),
            Value::Str(s) => print_string(s.bytes, out),
            Value::Path(p) => out.extend_from_slice(p.bytes),
            Value::Attrs(set) => {
                if !set.attrs().is_empty() && !seen.insert(set as *const _ as usize) {
                    out.extend_from_slice("«repeated»".as_bytes());
                    return;
                }
                out.extend_from_slice(b"{ ");
                let symbols = self.symbols.borrow();
                let mut sorted: Vec<&Attr<'a>> = set.attrs().iter().collect();
                sorted.sort_by(|x, y| symbols.name(x.name).cmp(symbols.name(y.name)));
                let names: Vec<String> = sorted
                    .iter()
                    .map(|a| ferrix_parser::print::show_id(&symbols.display(a.name)))
                    .collect();
                drop(symbols);
                for (a, name) in sorted.iter().zip(names) {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b" = ");
                    self.print_thunk(a.value, out, seen);
                    out.extend_from_slice(b"; ");
                }
                out.push(b'}');
            }
            Value::List(l) => {
                // Thunks and lists are distinct allocations, both aligned: the low bit
                // keeps their keys apart.
                let key = match l.items.len() {
                    0 => None,
                    1 | 2 => at.map(|a| a | 1),
                    _ => Some(l as *const _ as usize),
                };
                if key.is_some_and(|k| !seen.insert(k)) {
                    out.extend_from_slice("«repeated»".as_bytes());
                    return;
                }
                out.extend_from_slice(b"[ ");
                for t in l.items {
                    self.print_thunk(t, out, seen);
                    out.push(b' ');
                }
                out.push(b']');
            }
            Value::Lambda(_) => out.extend_from_slice(b"<LAMBDA>"),
            Value::PrimOp(_) => out.extend_from_slice(b"<PRIMOP>"),
            Value::PrimOpApp(_) => out.extend_from_slice(b"<PRIMOP-APP>"),
        })
    }

    /// Forces a value and everything inside it (`--strict`, `deepSeq`).
    pub fn force_deep(
        &self,
        v: Value<'a>,
        pos: crate::Pos,
    ) -> Result<(), Box<crate::error::EvalError>> {
        let mut seen = FxHashSet::default();
        #[cfg(debug_assertions)]
        if let (Value::List(l), Some(every)) = (v, census_interval()) {
            // `FERRIX_CENSUS=K`: between the items of a top-level list, where only the
            // list and the evaluator's tables refer to the arena, print every K items
            // what they reach and what the arena holds (see `census`).
            for (i, t) in l.items.iter().enumerate() {
                if i % every == 0 {
                    eprintln!(
                        "census at item {i}: arena {:.1} MiB, {}",
                        self.bump().allocated_bytes() as f64 / (1 << 20) as f64,
                        self.census(&[v])
                    );
                }
                let x = self.force(t, pos)?;
                self.force_deep_rec(x, pos, &mut seen)?;
            }
            return Ok(());
        }
        self.force_deep_rec(v, pos, &mut seen)
    }

    fn force_deep_rec(
        &self,
        v: Value<'a>,
        pos: crate::Pos,
        seen: &mut FxHashSet<usize>,
    ) -> Result<(), Box<crate::error::EvalError>> {
        // A value built lazily without end (`let f = x: [ (f x) ]; in f 1`) is endlessly
        // deep: the levels share the evaluator's stack budget and end with Nix's error.
        self.nested(|| {
            match v {
                Value::Attrs(set) => {
                    if !seen.insert(set as *const _ as usize) {
                        return Ok(());
                    }
                    for a in set.attrs() {
                        let x = self.force(a.value, pos).map_err(|e| {
                            e.with_frame(
                                format!(
                                    "while evaluating the attribute '{}'",
                                    self.sym_name(a.name)
                                ),
                                Some(a.pos),
                            )
                        })?;
                        self.force_deep_rec(x, pos, seen)?;
                    }
                }
                Value::List(l) => {
                    if !seen.insert(l as *const _ as usize) {
                        return Ok(());
                    }
                    for t in l.items {
                        let x = self.force(t, pos)?;
                        self.force_deep_rec(x, pos, seen)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// A string value as Nix prints it: up to a NUL, with `"`, `\`, control characters and
/// `${` escaped.
pub fn print_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for (i, &c) in s.iter().enumerate() {
        match c {
            0 => break,
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'$' if s.get(i + 1) == Some(&b'{') => out.extend_from_slice(b"\\$"),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// `FERRIX_CENSUS`, read once.
#[cfg(debug_assertions)]
fn census_interval() -> Option<usize> {
    static EVERY: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *EVERY.get_or_init(|| {
        std::env::var("FERRIX_CENSUS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > 0)
    })
}
