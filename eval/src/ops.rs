//! Nix's operators and coercions: arithmetic, `+` on strings and paths, comparison,
//! equality, `//`, `++` and string coercion.

use crate::error::{EvalError, EvalResult};
use crate::value::*;
use crate::{Evaluator, Pos};
use std::cell::Cell;
use std::os::unix::ffi::OsStrExt;

impl<'a> Evaluator<'a> {
    /// `a + b` (Nix's two-element string concatenation): numbers add; otherwise the first
    /// operand decides whether the result is a path or a string.
    pub fn add(&self, a: Value<'a>, b: Value<'a>, pos: Pos, b_pos: Pos) -> EvalResult<'a> {
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => Ok(Value::Int(x.wrapping_add(y))),
            (Value::Int(x), Value::Float(y)) => Ok(Value::Float(x as f64 + y)),
            (Value::Float(x), Value::Int(y)) => Ok(Value::Float(x + y as f64)),
            (Value::Float(x), Value::Float(y)) => Ok(Value::Float(x + y)),
            (Value::Int(_), other) => Err(EvalError::eval(
                format!("cannot add {} to an integer", other.show_type()),
                b_pos,
            )),
            (Value::Float(_), other) => Err(EvalError::eval(
                format!("cannot add {} to a float", other.show_type()),
                b_pos,
            )),
            (Value::Path(p), other) => {
                let mut out = p.bytes.to_vec();
                let mut context = Vec::new();
                self.coerce_to_string(other, b_pos, false, false, &mut out, &mut context)?;
                if !context.is_empty() {
                    return Err(EvalError::eval(
                        "a string that refers to a store path cannot be appended to a path",
                        pos,
                    ));
                }
                Ok(self.path_value(&ferrix_parser::actions::canon_path(&out)))
            }
            (Value::Str(x), Value::Str(y)) => {
                let bytes = self.concat_bytes(&[x.bytes, y.bytes]);
                let context = match (x.context, y.context) {
                    (c, []) | ([], c) => c,
                    (c, d) => self.bump().alloc_slice_copy(&[c, d].concat()),
                };
                Ok(Value::Str(self.bump().alloc(NixStr { bytes, context })))
            }
            (first, other) => {
                // As in Nix, a path operand is copied to the store only after a string:
                // `drv + /sub` (a set with `outPath` first) appends the path as it is.
                let copy = matches!(first, Value::Str(_));
                let mut out = Vec::new();
                let mut context = Vec::new();
                self.coerce_to_string(first, pos, false, copy, &mut out, &mut context)?;
                self.coerce_to_string(other, b_pos, false, copy, &mut out, &mut context)?;
                let context = self.bump().alloc_slice_copy(&context);
                Ok(self.string_with_context(&out, context))
            }
        }
    }

    fn numbers(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> Result<Num, Box<EvalError>> {
        let bad = |v: Value<'a>| {
            EvalError::eval(
                format!("value is {} while an integer was expected", v.show_type()),
                pos,
            )
        };
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => Ok(Num::Int(x, y)),
            (Value::Int(x), Value::Float(y)) => Ok(Num::Float(x as f64, y)),
            (Value::Float(x), Value::Int(y)) => Ok(Num::Float(x, y as f64)),
            (Value::Float(x), Value::Float(y)) => Ok(Num::Float(x, y)),
            (Value::Int(_) | Value::Float(_), v) => Err(bad(v)),
            (v, _) => Err(bad(v)),
        }
    }

    pub fn sub(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> EvalResult<'a> {
        Ok(match self.numbers(a, b, pos)? {
            Num::Int(x, y) => Value::Int(x.wrapping_sub(y)),
            Num::Float(x, y) => Value::Float(x - y),
        })
    }

    pub fn mul(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> EvalResult<'a> {
        Ok(match self.numbers(a, b, pos)? {
            Num::Int(x, y) => Value::Int(x.wrapping_mul(y)),
            Num::Float(x, y) => Value::Float(x * y),
        })
    }

    pub fn div(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> EvalResult<'a> {
        let n = self.numbers(a, b, pos)?;
        let zero = match n {
            Num::Int(_, y) => y == 0,
            Num::Float(_, y) => y == 0.0,
        };
        if zero {
            return Err(EvalError::eval("division by zero", pos));
        }
        if let Num::Int(i64::MIN, -1) = n {
            return Err(EvalError::eval("overflow in integer division", pos));
        }
        Ok(match n {
            Num::Int(x, y) => Value::Int(x.wrapping_div(y)),
            Num::Float(x, y) => Value::Float(x / y),
        })
    }

    /// `a < b` on numbers, strings, paths and lists.
    pub fn less_than(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> Result<bool, Box<EvalError>> {
        Ok(self.compare(a, b, pos)? == std::cmp::Ordering::Less)
    }

    pub fn compare(
        &self,
        a: Value<'a>,
        b: Value<'a>,
        pos: Pos,
    ) -> Result<std::cmp::Ordering, Box<EvalError>> {
        use std::cmp::Ordering;
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => Ok(x.cmp(&y)),
            (Value::Int(x), Value::Float(y)) => {
                Ok((x as f64).partial_cmp(&y).unwrap_or(Ordering::Equal))
            }
            (Value::Float(x), Value::Int(y)) => {
                Ok(x.partial_cmp(&(y as f64)).unwrap_or(Ordering::Equal))
            }
            (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal)),
            (Value::Str(x), Value::Str(y)) => Ok(x.bytes.cmp(y.bytes)),
            (Value::Path(x), Value::Path(y)) => Ok(x.bytes.cmp(y.bytes)),
            // Lists nest, and may contain themselves: one level at a time on checked stack.
            (Value::List(x), Value::List(y)) => self.nested(|| {
                for (pt, qt) in x.items.iter().zip(y.items.iter()) {
                    // As Nix: equal elements (the same thunk included) go on, otherwise `<`
                    // decides.
                    if !self.equal_thunks(pt, qt, pos)? {
                        let (p, q) = (self.force(pt, pos)?, self.force(qt, pos)?);
                        return Ok(if self.less_than(p, q, pos)? {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        });
                    }
                }
                Ok(x.items.len().cmp(&y.items.len()))
            }),
            (x, y) => Err(EvalError::new(
                crate::error::ErrorKind::Eval,
                format!("cannot compare {} with {}", x.show_type(), y.show_type()),
                None,
            )),
        }
    }

    /// Equality of two held values, as Nix 2.8 compares them: both are forced first, and a
    /// value is then equal to itself (the same thunk) whatever it holds, functions
    /// included; so `[ f ] == [ f ]` and `builtins.elem f [ f ]` hold.
    pub fn equal_thunks(
        &self,
        p: &'a Thunk<'a>,
        q: &'a Thunk<'a>,
        pos: Pos,
    ) -> Result<bool, Box<EvalError>> {
        let (a, b) = (self.force(p, pos)?, self.force(q, pos)?);
        if std::ptr::eq(p, q) {
            return Ok(true);
        }
        self.equal(a, b, pos)
    }

    /// Deep equality, as `==` (whose operands are never the same thunk: each is a value of
    /// its own, as in Nix).
    pub fn equal(&self, a: Value<'a>, b: Value<'a>, pos: Pos) -> Result<bool, Box<EvalError>> {
        match (a, b) {
            (Value::Int(x), Value::Int(y)) => Ok(x == y),
            (Value::Int(x), Value::Float(y)) => Ok(x as f64 == y),
            (Value::Float(x), Value::Int(y)) => Ok(x == y as f64),
            (Value::Float(x), Value::Float(y)) => Ok(x == y),
            (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
            (Value::Null, Value::Null) => Ok(true),
            (Value::Str(x), Value::Str(y)) => Ok(c_str_eq(x.bytes, y.bytes)),
            (Value::Path(x), Value::Path(y)) => Ok(x.bytes == y.bytes),
            // Lists and sets nest, and may contain themselves: each level runs on checked
            // stack (see `nested`), so a cyclic value ends with Nix's stack overflow error.
            (Value::List(x), Value::List(y)) => self.nested(|| {
                if x.items.len() != y.items.len() {
                    return Ok(false);
                }
                for (p, q) in x.items.iter().zip(y.items.iter()) {
                    if !self.equal_thunks(p, q, pos)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }),
            (Value::Attrs(x), Value::Attrs(y)) => self.nested(|| {
                if let Drv::Yes(p) = self.derivation_out(x, pos)? {
                    if let (Some(p), Drv::Yes(Some(q))) = (p, self.derivation_out(y, pos)?) {
                        return self.equal_thunks(p, q, pos);
                    }
                }
                let same = std::ptr::eq(x, y);
                if same && self.forced_sets.holds(x) {
                    return Ok(true);
                }
                if x.attrs().len() != y.attrs().len() {
                    return Ok(false);
                }
                for (p, q) in x.attrs().iter().zip(y.attrs().iter()) {
                    if p.name != q.name || !self.equal_thunks(p.value, q.value, pos)? {
                        return Ok(false);
                    }
                }
                if same {
                    self.forced_sets.add(x);
                }
                Ok(true)
            }),
            _ => Ok(false),
        }
    }

    /// Whether `s` is a derivation, and its `outPath`'s thunk if it has one, as
    /// [`Self::is_derivation`] and a lookup would say; remembered (see [`Derivations`]).
    fn derivation_out(&self, s: &'a AttrSet<'a>, pos: Pos) -> Result<Drv<'a>, Box<EvalError>> {
        let (slot, addr) = self.derivations.slot(s);
        let (a, known) = slot.get();
        if a == addr {
            return Ok(known);
        }
        let d = if self.is_derivation(s, pos)? {
            Drv::Yes(s.get(self.syms.out_path).map(|a| a.value))
        } else {
            Drv::No
        };
        slot.set((addr, d));
        Ok(d)
    }

    /// A set with `type = "derivation"`.
    pub fn is_derivation(&self, s: &AttrSet<'a>, pos: Pos) -> Result<bool, Box<EvalError>> {
        match s.get(self.syms.type_) {
            Some(t) => {
                Ok(matches!(self.force(t.value, pos)?, Value::Str(s) if s.bytes == b"derivation"))
            }
            None => Ok(false),
        }
    }

    /// `x // y` in one linear merge of the two sorted attribute arrays.
    pub fn update(&self, x: &'a AttrSet<'a>, y: &'a AttrSet<'a>) -> Value<'a> {
        if y.is_empty() {
            return Value::Attrs(x);
        }
        if x.is_empty() {
            return Value::Attrs(y);
        }
        Value::Attrs(self.bump().alloc(AttrSet::update(self.bump(), x, y)))
    }

    pub fn concat_lists(&self, lists: &[&'a List<'a>]) -> Value<'a> {
        let n: usize = lists.iter().map(|l| l.items.len()).sum();
        let mut items: Vec<&'a Thunk<'a>> = Vec::with_capacity(n);
        for l in lists {
            items.extend_from_slice(l.items);
        }
        self.make_list(&items)
    }

    pub fn make_list(&self, items: &[&'a Thunk<'a>]) -> Value<'a> {
        self.list_of(self.bump().alloc_slice_copy(items))
    }

    /// A list of `items`, already in the arena; empty lists share one value.
    pub fn list_of(&self, items: &'a [&'a Thunk<'a>]) -> Value<'a> {
        if items.is_empty() {
            return Value::List(self.empty_list.get());
        }
        Value::List(self.bump().alloc(List { items }))
    }

    /// Nix's `coerceToString`, appending to `out`. `more` also accepts numbers, Booleans,
    /// null and lists (`toString`); `copy_to_store` turns paths into store paths.
    pub fn coerce_to_string(
        &self,
        v: Value<'a>,
        pos: Pos,
        more: bool,
        copy_to_store: bool,
        out: &mut Vec<u8>,
        context: &mut Vec<&'a [u8]>,
    ) -> Result<(), Box<EvalError>> {
        match v {
            Value::Str(s) => {
                out.extend_from_slice(s.bytes);
                context.extend_from_slice(s.context);
                Ok(())
            }
            Value::Path(p) => {
                if copy_to_store {
                    let stored = self.copy_path_to_store(p.bytes, pos)?;
                    out.extend_from_slice(stored);
                    context.push(stored);
                } else {
                    out.extend_from_slice(p.bytes);
                }
                Ok(())
            }
            // `__toString`, `outPath` and list items recurse: on checked stack (see `nested`).
            Value::Attrs(set) => self.nested(|| {
                if let Some(f) = set.get(self.syms.to_string) {
                    let fv = self.force(f.value, pos)?;
                    let me = self.alloc_thunk(v);
                    let r = self.call(fv, me, pos)?;
                    return self.coerce_to_string(r, pos, more, copy_to_store, out, context);
                }
                match set.get(self.syms.out_path) {
                    Some(o) => {
                        let ov = self.force(o.value, pos)?;
                        self.coerce_to_string(ov, pos, more, copy_to_store, out, context)
                    }
                    None => Err(EvalError::eval("cannot coerce a set to a string", pos)),
                }
            }),
            Value::Bool(true) if more => {
                out.push(b'1');
                Ok(())
            }
            Value::Bool(false) | Value::Null if more => Ok(()),
            Value::Int(n) if more => {
                out.extend_from_slice(n.to_string().as_bytes());
                Ok(())
            }
            Value::Float(f) if more => {
                out.extend_from_slice(format!("{f:.6}").as_bytes());
                Ok(())
            }
            Value::List(l) if more => self.nested(|| {
                for (i, t) in l.items.iter().enumerate() {
                    let item = self.force(t, pos)?;
                    self.coerce_to_string(item, pos, more, copy_to_store, out, context)?;
                    let empty_list = matches!(item, Value::List(x) if x.items.is_empty());
                    if i + 1 < l.items.len() && !empty_list {
                        out.push(b' ');
                    }
                }
                Ok(())
            }),
            other => Err(EvalError::eval(
                format!("cannot coerce {} to a string", other.show_type()),
                pos,
            )),
        }
    }

    /// An attribute name: a string (Nix reports a wrong type with no position).
    pub fn name_string(&self, v: Value<'a>) -> Result<Vec<u8>, Box<EvalError>> {
        match v {
            Value::Str(s) => Ok(s.bytes.to_vec()),
            other => Err(EvalError::new(
                crate::error::ErrorKind::Eval,
                format!("value is {} while a string was expected", other.show_type()),
                None,
            )),
        }
    }

    /// A string without context, as attribute names need.
    pub fn coerce_to_string_plain(
        &self,
        v: Value<'a>,
        pos: Pos,
    ) -> Result<Vec<u8>, Box<EvalError>> {
        match v {
            Value::Str(s) => Ok(s.bytes.to_vec()),
            other => Err(EvalError::eval(
                format!("value is {} while a string was expected", other.show_type()),
                pos,
            )),
        }
    }

    /// Copying a path into the store belongs to the store; until the evaluator has one,
    /// it says so.
    pub fn copy_path_to_store(&self, path: &[u8], pos: Pos) -> Result<&'a [u8], Box<EvalError>> {
        match self.store.get() {
            Some(store) => {
                self.check_source_path(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))?;
                let stored = store
                    .add_path(path)
                    // Store errors carry no position in Nix.
                    .map_err(|m| EvalError::new(crate::error::ErrorKind::Eval, m, None))?;
                self.allow_path(&stored);
                Ok(&*self.bump().alloc_slice_copy(&stored))
            }
            None => Err(EvalError::eval(
                format!(
                    "cannot copy '{}' to the store: Ferrix has no store yet",
                    String::from_utf8_lossy(path)
                ),
                pos,
            )),
        }
    }
}

enum Num {
    Int(i64, i64),
    Float(f64, f64),
}

/// Nix compares strings as C strings, up to the first NUL: `c_str(x) == c_str(y)`
/// (see the tests), without looking for a NUL in all of both: two strings are equal
/// as C strings when they agree up to a NUL, or wholly. So only the bytes before their
/// first difference are searched (store paths differ in their first dozen).
fn c_str_eq(x: &[u8], y: &[u8]) -> bool {
    let n = x.len().min(y.len());
    let (a, b) = (&x[..n], &y[..n]);
    // The first index where they differ, eight bytes at a time.
    let (words_a, _) = a.as_chunks::<8>();
    let (words_b, _) = b.as_chunks::<8>();
    let diff = match words_a.iter().zip(words_b).position(|(p, q)| p != q) {
        Some(w) => {
            let (p, q) = (
                u64::from_le_bytes(words_a[w]),
                u64::from_le_bytes(words_b[w]),
            );
            Some(w * 8 + ((p ^ q).trailing_zeros() / 8) as usize)
        }
        None => (words_a.len() * 8..n).find(|&k| a[k] != b[k]),
    };
    match diff {
        // A NUL before the difference ends both strings there.
        Some(d) => a[..d].contains(&0),
        // One is a prefix of the other: equal if as long, or if the longer one's next byte
        // ends it (a NUL in the common part ends both alike).
        None => x.len() == y.len() || x.get(n).or(y.get(n)) == Some(&0) || a.contains(&0),
    }
}

/// How many sets [`ForcedSets`] remembers.
const FORCED_SET_SLOTS: usize = 64;
/// Smaller sets are walked each time: the walk is short, and they would push the large
/// ones out.
const FORCED_SET_MIN_LEN: usize = 16;

/// A few sets whose every attribute is known to have been forced without error, by
/// address.
///
/// Nix compares a set with itself (`stdenv.hostPlatform != stdenv.buildPlatform`, three
/// times per `mkDerivation`) by forcing each attribute and finding it the same thunk as
/// its counterpart, a walk of a hundred scattered thunks each time. Once such a walk has
/// succeeded, every attribute holds a value for good, so the answer stays `true` and the
/// walk can be skipped. Between two collections the arena frees nothing, so an address
/// names one set; a collection moves sets and clears the table.
pub(crate) struct ForcedSets([Cell<usize>; FORCED_SET_SLOTS]);

impl Default for ForcedSets {
    fn default() -> Self {
        ForcedSets(std::array::from_fn(|_| Cell::new(0)))
    }
}

impl ForcedSets {
    fn slot(&self, s: &AttrSet<'_>) -> (&Cell<usize>, usize) {
        let addr = s as *const AttrSet as usize;
        // Sets are 16 bytes, in arena chunks whose low bits repeat.
        let h = (addr >> 4) ^ (addr >> 10) ^ (addr >> 16);
        (&self.0[h % FORCED_SET_SLOTS], addr)
    }

    fn holds(&self, s: &AttrSet<'_>) -> bool {
        let (slot, addr) = self.slot(s);
        slot.get() == addr
    }

    fn add(&self, s: &AttrSet<'_>) {
        if s.len_bound() >= FORCED_SET_MIN_LEN {
            let (slot, addr) = self.slot(s);
            slot.set(addr);
        }
    }

    pub(crate) fn clear(&self) {
        for slot in &self.0 {
            slot.set(0);
        }
    }
}

/// How many sets [`Derivations`] remembers.
const DERIVATION_SLOTS: usize = 1024;

/// What [`Evaluator::derivation_out`] found for a set.
#[derive(Clone, Copy)]
pub(crate) enum Drv<'a> {
    No,
    /// A derivation, with its `outPath` attribute's thunk if it has one.
    Yes(Option<&'a Thunk<'a>>),
}

/// Whether sets are derivations, and their `outPath` thunks, by address.
///
/// `==` on two derivations compares their `outPath`s, after finding `type = "derivation"`
/// in each. `lib.unique` over a list of packages (`elem e acc`, for each item) does that
/// for every pair: at N = 5,000 packages, 29 million comparisons, each looking `type` and
/// `outPath` up in two sets, often layered by `//`. A set's attributes never change, and a
/// forced `type` stays what it is, so the answer is found once per set. Between two
/// collections an address names one set; a collection moves sets and clears the table.
pub(crate) struct Derivations<'a>([Cell<(usize, Drv<'a>)>; DERIVATION_SLOTS]);

impl Default for Derivations<'_> {
    fn default() -> Self {
        Derivations(std::array::from_fn(|_| Cell::new((0, Drv::No))))
    }
}

impl<'a> Derivations<'a> {
    fn slot(&self, s: &AttrSet<'_>) -> (&Cell<(usize, Drv<'a>)>, usize) {
        let addr = s as *const AttrSet as usize;
        let h = (addr >> 4) ^ (addr >> 14) ^ (addr >> 24);
        (&self.0[h % DERIVATION_SLOTS], addr)
    }

    pub(crate) fn clear(&self) {
        for slot in &self.0 {
            slot.set((0, Drv::No));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::c_str_eq;
    use crate::value::{AttrSet, Value};
    use crate::{Evaluator, Origin, Pos};
    use bumpalo::Bump;

    /// A string up to its first NUL.
    fn c_str(b: &[u8]) -> &[u8] {
        match b.iter().position(|&c| c == 0) {
            Some(n) => &b[..n],
            None => b,
        }
    }

    /// The shortcut agrees with comparing the C strings: every pair of strings of up to
    /// four bytes (two under Miri) from `{NUL, a, b}`, after common prefixes that put the difference on
    /// either side of an eight-byte word.
    #[test]
    fn c_str_eq_is_c_str_equality() {
        let mut words: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        // Miri runs this some thousand times slower: fewer, shorter words there.
        let longest = if cfg!(miri) { 2 } else { 4 };
        for _ in 0..longest {
            last = last
                .iter()
                .flat_map(|w: &Vec<u8>| [0u8, b'a', b'b'].map(|c| [&w[..], &[c]].concat()))
                .collect();
            words.extend(last.iter().cloned());
        }
        let prefixes: &[usize] = if cfg!(miri) {
            &[0, 8]
        } else {
            &[0, 3, 7, 8, 9, 16]
        };
        for &p in prefixes {
            let prefix = vec![b'c'; p];
            for x in &words {
                for y in &words {
                    let (x, y) = ([&prefix[..], x].concat(), [&prefix[..], y].concat());
                    assert_eq!(c_str_eq(&x, &y), c_str(&x) == c_str(&y), "{x:?} {y:?}");
                }
            }
        }
    }

    fn eval<'a>(ev: &Evaluator<'a>, src: &str) -> Value<'a> {
        let e = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
        ev.eval_code(e).unwrap()
    }

    /// Runs `f` on the value of `src`, in an evaluator of its own.
    fn with_value(src: &str, f: impl for<'a> FnOnce(&Evaluator<'a>, Value<'a>)) {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump).build();
        let v = eval(&ev, src);
        f(&ev, v)
    }

    fn attr<'a>(ev: &Evaluator<'a>, v: Value<'a>, name: &str) -> crate::EvalResult<'a> {
        let Value::Attrs(s) = v else {
            panic!("not a set")
        };
        ev.force(s.get(ev.intern(name.as_bytes())).unwrap().value, Pos::NONE)
    }

    fn the_set<'a>(ev: &Evaluator<'a>, v: Value<'a>) -> &'a AttrSet<'a> {
        match attr(ev, v, "s").unwrap() {
            Value::Attrs(s) => s,
            _ => panic!("not a set"),
        }
    }

    /// A set compared with itself is equal once every attribute forces; the shortcut
    /// applies only after a walk succeeded, and a collection forgets it.
    #[test]
    fn a_set_is_equal_to_itself_once_its_attributes_force() {
        with_value(
            "let s = { a = 1; b = { c = 2; }; f = x: x; p01 = 1; p02 = 2; p03 = 3; p04 = 4; p05 = 5; \
               p06 = 6; p07 = 7; p08 = 8; p09 = 9; p10 = 10; p11 = 11; p12 = 12; p13 = 13; }; in \
             { inherit s; x = s == s; y = s == s; z = { inherit (s) a b; } == { a = 1; b = { c = 2; }; }; \
               w = { inherit (s) a b; } == { a = 1; b = { c = 3; }; }; }",
            |ev, mut v| {
                let s = the_set(ev, v);
                assert!(!ev.forced_sets.holds(s));
                assert!(matches!(attr(ev, v, "x"), Ok(Value::Bool(true))));
                assert!(ev.forced_sets.holds(s));
                assert!(matches!(attr(ev, v, "y"), Ok(Value::Bool(true))));
                // Other sets are walked as before.
                assert!(matches!(attr(ev, v, "z"), Ok(Value::Bool(true))));
                assert!(matches!(attr(ev, v, "w"), Ok(Value::Bool(false))));
                // SAFETY: `v` is the only value held.
                unsafe { ev.collect(&mut [&mut v], &mut []) };
                let moved = the_set(ev, v);
                assert!(!ev.forced_sets.holds(moved));
            },
        );
    }

    /// Derivations compare by `outPath`, whether or not the table knows them yet; a set
    /// whose `type` fails is not remembered, and fails each time.
    #[test]
    fn derivations_compare_by_out_path() {
        with_value(
            "let d = { type = \"derivation\"; outPath = \"/x\"; a = 1; }; \
               e = { type = \"derivation\"; outPath = \"/x\"; a = 2; }; \
               f = { type = \"derivation\"; outPath = \"/y\"; }; \
               n = { type = \"other\"; outPath = \"/x\"; a = 1; }; \
               b = { type = assert 1 == 2; \"derivation\"; outPath = \"/x\"; }; \
             in { s = d; x = d == e; y = d == f; z = d == n; w = e == d; x2 = d == e; \
                  u = n == { type = \"other\"; outPath = \"/x\"; a = 1; }; v = d == b; v2 = d == b; }",
            |ev, v| {
                let d = the_set(ev, v);
                assert!(matches!(attr(ev, v, "x"), Ok(Value::Bool(true))));
                assert!(matches!(
                    ev.derivations.slot(d).0.get(),
                    (a, crate::ops::Drv::Yes(Some(_))) if a == d as *const AttrSet as usize
                ));
                assert!(matches!(attr(ev, v, "y"), Ok(Value::Bool(false))));
                assert!(matches!(attr(ev, v, "z"), Ok(Value::Bool(false))));
                assert!(matches!(attr(ev, v, "w"), Ok(Value::Bool(true))));
                assert!(matches!(attr(ev, v, "x2"), Ok(Value::Bool(true))));
                assert!(matches!(attr(ev, v, "u"), Ok(Value::Bool(true))));
                assert!(attr(ev, v, "v").is_err());
                assert!(attr(ev, v, "v2").is_err());
            },
        );
    }

    /// An attribute that fails makes every comparison of the set with itself fail, as in
    /// Nix, which forces each attribute each time.
    #[test]
    fn a_failing_attribute_is_not_remembered() {
        with_value(
            "let s = { a = 1; b = assert 1 == 2; 2; c = 3; d = 4; e = 5; f = 6; g = 7; h = 8; i = 9; \
             j = 10; k = 11; l = 12; m = 13; n = 14; o = 15; p = 16; }; in { inherit s; x = s == s; y = s == s; }",
            |ev, v| {
                assert!(attr(ev, v, "x").is_err());
                assert!(attr(ev, v, "y").is_err());
                assert!(!ev.forced_sets.holds(the_set(ev, v)));
            },
        );
    }
}
