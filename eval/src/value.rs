//! Values and thunks.
//!
//! A [`Value`] is 16 bytes: a tag and one word. Everything bigger (strings, sets, lists,
//! closures) lives in the evaluation's bumpalo arena behind a thin pointer, so values copy
//! freely. Laziness lives in [`Thunk`]s: arena cells overwritten with their value once forced.

use crate::env::Env;
use crate::error::EvalResult;
use crate::ir::{Expr, Lambda};
use crate::Evaluator;
use crate::Pos;
use ferrix_parser::Sym;
use std::cell::{Cell, UnsafeCell};

/// `repr(u8)` puts the tag, below [`FIRST_STATE_TAG`], in the first byte; a [`Thunk`] relies
/// on that to tell a value from a pending computation.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a NixStr<'a>),
    /// An absolute path (no context).
    Path(&'a NixStr<'a>),
    Attrs(&'a AttrSet<'a>),
    List(&'a List<'a>),
    Lambda(&'a Closure<'a>),
    PrimOp(&'a PrimOp),
    PrimOpApp(&'a PrimOpApp<'a>),
}

/// A string with its context: the store paths it refers to, in Nix's encoding (`/nix/store/…`
/// for a plain path, `=/nix/store/….drv` for all outputs of a derivation, `!out!/nix/store/….drv`
/// for one output).
pub struct NixStr<'a> {
    pub bytes: &'a [u8],
    pub context: &'a [&'a [u8]],
}

/// An attribute set: attributes sorted by symbol id.
///
/// `x // y` does not copy when either side is big: it makes a layered set that looks names
/// up in `y`, then in `x`. nixpkgs merges its ~20 000-package set with small overlays
/// hundreds of times, and copying each time was half of the evaluator's memory. A layered
/// set is flattened (merged once, then cached) only when something walks all of it.
pub struct AttrSet<'a> {
    /// Every attribute, sorted, once known: a pointer and a 32-bit length rather than a
    /// slice. While the set is still layered the length is [`LAYERED`] and the pointer is
    /// that of its [`Layers`]. So the set takes 16 bytes.
    ptr: Cell<*const ()>,
    len: Cell<u32>,
    _attrs: std::marker::PhantomData<&'a [Attr<'a>]>,
    /// Where a set literal was written (`Pos::NONE` for sets that operators and builtins
    /// make); builtins report errors about a set's contents there, as Nix does.
    pub pos: Pos,
}

/// The two sides of a `//` not merged yet.
pub struct Layers<'a> {
    /// The right-hand side: its attributes win.
    pub(crate) top: &'a AttrSet<'a>,
    pub(crate) bottom: &'a AttrSet<'a>,
    /// How many layers lie below, at most; lookups walk that many sets.
    pub(crate) depth: u32,
    /// Whether a builtin has already walked the set through a temporary merge.
    pub(crate) walked: Cell<bool>,
    /// The arena, for the merged copy (the collector points it at the new one).
    pub(crate) bump: &'a bumpalo::Bump,
}

/// A large set whose attributes' thunks are made when the attributes are first looked
/// up: what `mapAttrs` makes of a large set, and a large set literal.
///
/// nixpkgs builds its package sets (`all-packages.nix`, 17 000 attributes; the Python set,
/// 9 000) and maps over them (`pkgs/by-name`, 15 000; `ensurePythonModules`) once per
/// instance of the set, and a NixOS system makes dozens of instances, of which it looks up
/// a few attributes each: made eagerly, those thunks and attributes were a tenth of the
/// arena. Unmade, an attribute costs a word, its slot in `made` (the names are the source
/// set's, or the syntax tree's); made, 40 bytes instead of 32. A walk (`attrNames`, a
/// merge, printing) makes the rest into a flat array, and the set is flat from then on,
/// with the same attributes and thunks.
pub struct Lazy<'a> {
    /// Attribute `i` (in name order) once made: an `Attr` of its own in the arena.
    pub(crate) made: &'a [Cell<Option<&'a Attr<'a>>>],
    pub(crate) maker: Maker<'a>,
    /// The arena the thunks are made in (the collector points it at the new one).
    pub(crate) bump: &'a bumpalo::Bump,
}

/// Where a [`Lazy`] set's names come from, and how it makes attribute `i`'s thunk.
#[derive(Clone, Copy)]
pub(crate) enum Maker<'a> {
    /// `mapAttrs f`: `f name value` of `source`'s attribute of that name. `source` has the
    /// same names: when it is not layered, its attribute `i` is this set's (lazy or not),
    /// and `names` is `None`; when it is, `names` holds them, merged.
    Apply {
        f: &'a Thunk<'a>,
        source: &'a AttrSet<'a>,
        names: Option<&'a [Sym]>,
    },
    /// A set literal (not `rec`, no dynamic names), whose entries are sorted by name: the
    /// code of `entries[i]`, a plain `name = e;`, in `env`. Attributes whose thunk costs
    /// nothing (constants, variables, `inherit`) are made with the set.
    Code {
        entries: &'a [crate::ir::AttrEntry],
        env: Env<'a>,
    },
}

/// The length that marks a layered set.
const LAYERED: u32 = u32::MAX;
/// The length that marks a set the collector has copied; the pointer is then the copy's.
const MOVED_SET: u32 = u32::MAX - 1;
/// The length that marks a [`Lazy`] set; the pointer is its `Lazy`.
const LAZY: u32 = u32::MAX - 2;
/// Sets smaller than this make every thunk at once: a lazy set costs more than an eager one
/// once walked (a word per attribute, and a second array), and small sets (a derivation's
/// attributes, a module's options) mostly are. (Under Miri, where the tests' sets of this
/// size would take minutes, it is small; the code is the same.)
#[cfg(not(miri))]
pub const MIN_LAZY_LEN: usize = 256;
#[cfg(miri)]
pub const MIN_LAZY_LEN: usize = 8;

/// Layers deeper than this are merged at once, which bounds the cost of a lookup.
const MAX_LAYER_DEPTH: u32 = 12;
/// Sets smaller than this are always merged: the copy is cheap and lookups stay one search.
const MIN_LAYERED_LEN: usize = 4;

impl<'a> AttrSet<'a> {
    /// A set of attributes already sorted by symbol.
    pub fn new(attrs: &'a [Attr<'a>], pos: Pos) -> Self {
        let set = AttrSet {
            ptr: Cell::new(std::ptr::null()),
            len: Cell::new(0),
            _attrs: std::marker::PhantomData,
            pos,
        };
        set.set_flat(attrs);
        set
    }

    /// `mapAttrs f set`, whose thunks are made as they are looked up when there are many
    /// (see [`Lazy`]). The attributes have no position, as those of sets that builtins
    /// make.
    pub fn mapped(bump: &'a bumpalo::Bump, f: &'a Thunk<'a>, set: &'a AttrSet<'a>) -> Self {
        if set.len_bound() < MIN_LAZY_LEN {
            // Each new thunk points at its source attribute, which must live in the arena:
            // a layered set walked for the first time gives a temporary, copied there.
            let source: &'a [Attr<'a>] = match set.walk() {
                std::borrow::Cow::Borrowed(s) => s,
                std::borrow::Cow::Owned(v) => bump.alloc_slice_copy(&v),
            };
            let attrs = bump.alloc_slice_fill_iter(source.iter().map(|a| Attr {
                name: a.name,
                value: bump.alloc(Thunk::new(State::ApplyAttr(f, a))),
                pos: Pos::NONE,
            }));
            return AttrSet::new(attrs, Pos::NONE);
        }
        // The source's own lazy attributes stay so: each is made when this set's of the
        // same name is.
        let (names, len) = match (set.lazy_parts(), set.layers()) {
            (Some(l), _) => (None, l.made.len()),
            (None, None) => (None, set.flat().len()),
            (None, Some(_)) => {
                let names: &'a [Sym] = bump.alloc_slice_copy(&set.names());
                (Some(names), names.len())
            }
        };
        let made = bump.alloc_slice_fill_with(len, |_| Cell::new(None));
        let maker = Maker::Apply {
            f,
            source: set,
            names,
        };
        AttrSet::lazy(bump, made, maker, Pos::NONE)
    }

    /// The names, sorted, without making a lazy set's thunks.
    fn names(&self) -> Vec<Sym> {
        match (self.lazy_parts(), self.layers()) {
            (Some(l), _) => (0..l.made.len()).map(|i| l.name(i)).collect(),
            (None, None) => self.flat().iter().map(|a| a.name).collect(),
            (None, Some(l)) => merge_into(
                &l.bottom.names(),
                &l.top.names(),
                |s| *s,
                Vec::with_capacity,
            ),
        }
    }

    /// The name of attribute `i` of a set that is not layered, without making anything.
    fn name_at(&self, i: usize) -> Sym {
        match self.lazy_parts() {
            Some(l) => l.name(i),
            None => self.flat()[i].name,
        }
    }

    /// Attribute `i` of a set that is not layered, made if it was not.
    fn attr_at(&self, i: usize) -> &'a Attr<'a> {
        match self.lazy_parts() {
            Some(l) => l.make(i),
            None => &self.flat()[i],
        }
    }

    /// A set literal's attributes, those of `entries` in `env` (see [`Maker::Code`]), of
    /// which `made` holds the ones made already.
    pub(crate) fn lazy_literal(
        bump: &'a bumpalo::Bump,
        made: &'a [Cell<Option<&'a Attr<'a>>>],
        entries: &'a [crate::ir::AttrEntry],
        env: Env<'a>,
        pos: Pos,
    ) -> Self {
        debug_assert_eq!(made.len(), entries.len());
        AttrSet::lazy(bump, made, Maker::Code { entries, env }, pos)
    }

    fn lazy(
        bump: &'a bumpalo::Bump,
        made: &'a [Cell<Option<&'a Attr<'a>>>],
        maker: Maker<'a>,
        pos: Pos,
    ) -> Self {
        let l: &'a Lazy<'a> = bump.alloc(Lazy { made, maker, bump });
        AttrSet {
            ptr: Cell::new(l as *const Lazy as *const ()),
            len: Cell::new(LAZY),
            _attrs: std::marker::PhantomData,
            pos,
        }
    }

    /// The lazy side of a set whose thunks are not all made (see [`Lazy`]).
    #[inline]
    pub(crate) fn lazy_parts(&self) -> Option<&'a Lazy<'a>> {
        if self.len.get() == LAZY {
            // SAFETY: a lazy set's pointer is that of its `Lazy`, in the arena.
            Some(unsafe { &*(self.ptr.get() as *const Lazy<'a>) })
        } else {
            None
        }
    }

    /// Points a lazy copy made by [`AttrSet::raw_copy`] at its new parts.
    pub(crate) fn set_lazy(&self, l: &'a Lazy<'a>) {
        self.ptr.set(l as *const Lazy as *const ());
        self.len.set(LAZY);
    }

    /// The attributes of a set that is not layered (making a lazy set's thunks).
    #[inline]
    pub(crate) fn flat(&self) -> &'a [Attr<'a>] {
        match self.len.get() {
            0 => &[],
            LAYERED => unreachable!("flat() of a layered set"),
            LAZY => self.make_all(),
            // SAFETY: `set_flat` stored a pointer and length of a slice that lives as long
            // as the arena.
            n => unsafe { std::slice::from_raw_parts(self.ptr.get() as *const Attr, n as usize) },
        }
    }

    /// Makes every thunk of a lazy set, which is flat from then on.
    #[cold]
    fn make_all(&self) -> &'a [Attr<'a>] {
        let attrs = match self.lazy_parts() {
            Some(l) => l.make_every(),
            None => unreachable!("make_all() of a set that is not lazy"),
        };
        self.set_flat(attrs);
        attrs
    }

    fn set_flat(&self, attrs: &'a [Attr<'a>]) {
        // A set of 2^32 attributes would need 64 GiB for the attributes alone.
        let n = u32::try_from(attrs.len())
            .ok()
            .filter(|&n| n < MOVED_SET)
            .expect("fewer than 2^32 - 1 attributes");
        self.ptr.set(attrs.as_ptr() as *const ());
        self.len.set(n);
    }

    /// The collector's copy, once it has made one.
    pub(crate) fn moved_to(&self) -> Option<&'a AttrSet<'a>> {
        // SAFETY: `mark_moved` stored a pointer to the copy, in the new arena.
        (self.len.get() == MOVED_SET).then(|| unsafe { &*(self.ptr.get() as *const AttrSet<'a>) })
    }

    /// Records that the collector copied this set to `to`; it is dead from then on.
    pub(crate) fn mark_moved(&self, to: &'a AttrSet<'a>) {
        self.ptr.set(to as *const AttrSet as *const ());
        self.len.set(MOVED_SET);
    }

    /// A set with the same contents and position, for the collector to fix up.
    pub(crate) fn raw_copy(&self) -> AttrSet<'a> {
        AttrSet {
            ptr: Cell::new(self.ptr.get()),
            len: Cell::new(self.len.get()),
            _attrs: std::marker::PhantomData,
            pos: self.pos,
        }
    }

    /// Points a copy made by [`AttrSet::raw_copy`] at its new attributes.
    pub(crate) fn set_attrs(&self, attrs: &'a [Attr<'a>]) {
        self.set_flat(attrs);
    }

    /// Points a layered copy made by [`AttrSet::raw_copy`] at its new layers.
    pub(crate) fn set_layers(&self, layers: &'a Layers<'a>) {
        self.ptr.set(layers as *const Layers as *const ());
        self.len.set(LAYERED);
    }

    /// The two sides, while the set is layered.
    #[inline]
    pub(crate) fn layers(&self) -> Option<&'a Layers<'a>> {
        if self.len.get() == LAYERED {
            // SAFETY: a layered set's pointer is that of its `Layers`, in the arena.
            Some(unsafe { &*(self.ptr.get() as *const Layers<'a>) })
        } else {
            None
        }
    }

    /// `bottom // top`, layered or merged (see the type's comment).
    pub fn update(bump: &'a bumpalo::Bump, bottom: &'a AttrSet<'a>, top: &'a AttrSet<'a>) -> Self {
        let depth = 1 + bottom.depth().max(top.depth());
        let small = bottom.len_bound() + top.len_bound() < MIN_LAYERED_LEN;
        if depth > MAX_LAYER_DEPTH || small {
            let (x, y) = (bottom.view(), top.view());
            let merged = merge_into(
                &x,
                &y,
                |a| a.name,
                |n| bumpalo::collections::Vec::with_capacity_in(n, bump),
            );
            return AttrSet::new(merged.into_bump_slice(), Pos::NONE);
        }
        let layers: &'a Layers<'a> = bump.alloc(Layers {
            top,
            bottom,
            depth,
            walked: Cell::new(false),
            bump,
        });
        AttrSet {
            ptr: Cell::new(layers as *const Layers as *const ()),
            len: Cell::new(LAYERED),
            _attrs: std::marker::PhantomData,
            pos: Pos::NONE,
        }
    }

    fn depth(&self) -> u32 {
        self.layers().map_or(0, |l| l.depth)
    }

    /// The number of attributes, or more when layers share names.
    pub fn len_bound(&self) -> usize {
        if let Some(l) = self.lazy_parts() {
            return l.made.len();
        }
        match self.layers() {
            None => self.flat().len(),
            Some(l) => l.top.len_bound() + l.bottom.len_bound(),
        }
    }

    /// All attributes, sorted by symbol (merging a layered set once).
    pub fn attrs(&self) -> &'a [Attr<'a>] {
        match self.layers() {
            None => self.flat(),
            Some(l) => {
                // Only this set keeps its merged copy: the layers under it may never be
                // walked themselves, and caching each of them would copy the big set again
                // per layer.
                let (bottom, top) = (l.bottom.view(), l.top.view());
                let merged = merge_into(
                    &bottom,
                    &top,
                    |a| a.name,
                    |n| bumpalo::collections::Vec::with_capacity_in(n, l.bump),
                )
                .into_bump_slice();
                self.set_flat(merged);
                merged
            }
        }
    }

    /// All attributes, for builtins that walk a set to build something else from it
    /// (`mapAttrs`, `attrNames`). The first walk of a layered set merges into a temporary,
    /// since keeping the merged copy would only take memory; a second one keeps it.
    pub fn walk(&self) -> std::borrow::Cow<'a, [Attr<'a>]> {
        match self.layers() {
            Some(l) if !l.walked.get() => {
                l.walked.set(true);
                self.view()
            }
            _ => std::borrow::Cow::Borrowed(self.attrs()),
        }
    }

    /// All attributes, merged into a temporary when the set is layered (and not kept).
    fn view(&self) -> std::borrow::Cow<'a, [Attr<'a>]> {
        match self.layers() {
            None => std::borrow::Cow::Borrowed(self.flat()),
            Some(l) => {
                let (bottom, top) = (l.bottom.view(), l.top.view());
                std::borrow::Cow::Owned(merge_into(&bottom, &top, |a| a.name, Vec::with_capacity))
            }
        }
    }

    pub fn len(&self) -> usize {
        self.attrs().len()
    }

    pub fn is_empty(&self) -> bool {
        if let Some(l) = self.lazy_parts() {
            return l.made.is_empty();
        }
        match self.layers() {
            None => self.flat().is_empty(),
            // Empty sides are never layered.
            Some(_) => false,
        }
    }

    pub fn get(&self, name: Sym) -> Option<&'a Attr<'a>> {
        let mut set = self;
        loop {
            if let Some(m) = set.lazy_parts() {
                return m.get(name);
            }
            match set.layers() {
                None => {
                    let attrs = set.flat();
                    return attrs
                        .binary_search_by_key(&name, |a| a.name)
                        .ok()
                        .map(|i| &attrs[i]);
                }
                Some(l) => {
                    if let Some(a) = l.top.get(name) {
                        return Some(a);
                    }
                    set = l.bottom;
                }
            }
        }
    }
}

impl<'a> Lazy<'a> {
    /// The name of attribute `i`.
    fn name(&self, i: usize) -> Sym {
        match self.maker {
            Maker::Apply {
                names: Some(names), ..
            } => names[i],
            Maker::Apply { source, .. } => source.name_at(i),
            Maker::Code { entries, .. } => entries[i].name,
        }
    }

    fn get(&self, name: Sym) -> Option<&'a Attr<'a>> {
        let (mut lo, mut hi) = (0, self.made.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(&name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.make(mid)),
            }
        }
        None
    }

    /// Attribute `i`, made if it was not.
    fn make(&self, i: usize) -> &'a Attr<'a> {
        if let Some(a) = self.made[i].get() {
            return a;
        }
        let a: &'a Attr<'a> = self.bump.alloc(self.fresh(i, None));
        self.made[i].set(Some(a));
        a
    }

    /// Attribute `i` with a new thunk (it is not made), whose `mapAttrs` source attribute
    /// is `source` when the caller has it.
    fn fresh(&self, i: usize, source: Option<&'a Attr<'a>>) -> Attr<'a> {
        let (name, pos, state) = match self.maker {
            Maker::Apply {
                f,
                source: set,
                names,
            } => {
                let a = match (source, names) {
                    (Some(a), _) => a,
                    (None, None) => set.attr_at(i),
                    (None, Some(names)) => match set.get(names[i]) {
                        Some(a) => a,
                        // The names are the source's.
                        None => unreachable!("a mapped attribute the source lacks"),
                    },
                };
                (a.name, Pos::NONE, State::ApplyAttr(f, a))
            }
            Maker::Code { entries, env } => {
                let entry = &entries[i];
                match &entry.value {
                    crate::ir::AttrValue::Plain(e) => {
                        (entry.name, Pos::of(entry.pos), State::Deferred(e, env))
                    }
                    // Only plain attributes are left unmade.
                    _ => unreachable!("an unmade attribute that is not code"),
                }
            }
        };
        Attr {
            name,
            value: self.bump.alloc(Thunk::new(state)),
            pos,
        }
    }

    /// Every attribute, made, in a new array (the set is flat from then on, and `made`
    /// is not used again).
    fn make_every(&self) -> &'a [Attr<'a>] {
        let mut walked: Option<&'a [Attr<'a>]> = None;
        if let Maker::Apply { source, .. } = self.maker {
            if source.layers().is_some() {
                // One walk of the source, instead of a lookup through its layers per
                // attribute. It has the same names, sorted, so its attribute `i` is ours.
                let src: &'a [Attr<'a>] = match source.walk() {
                    std::borrow::Cow::Borrowed(s) => s,
                    std::borrow::Cow::Owned(v) => self.bump.alloc_slice_copy(&v),
                };
                walked = (src.len() == self.made.len()).then_some(src);
            }
        }
        self.bump
            .alloc_slice_fill_iter(self.made.iter().enumerate().map(|(i, m)| match m.get() {
                Some(a) => *a,
                None => self.fresh(i, walked.map(|w| &w[i])),
            }))
    }
}

/// The attributes (or names) of `bottom // top`, sorted by `name`, in a vector that `make`
/// gives the exact size.
fn merge_into<T: Copy, V>(
    x: &[T],
    y: &[T],
    name: impl Fn(&T) -> Sym,
    make: impl FnOnce(usize) -> V,
) -> V
where
    V: Extend<T>,
{
    // Count first so the result takes exactly its size.
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < x.len() && j < y.len() {
        match name(&x[i]).cmp(&name(&y[j])) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
        n += 1;
    }
    n += (x.len() - i) + (y.len() - j);
    let mut out = make(n);
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        let (a, b) = (x[i], y[j]);
        match name(&a).cmp(&name(&b)) {
            std::cmp::Ordering::Less => {
                out.extend([a]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.extend([b]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.extend([b]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend(x[i..].iter().copied());
    out.extend(y[j..].iter().copied());
    out
}

#[derive(Clone, Copy)]
pub struct Attr<'a> {
    pub name: Sym,
    pub value: &'a Thunk<'a>,
    pub pos: Pos,
}

pub struct List<'a> {
    pub items: &'a [&'a Thunk<'a>],
}

/// A function value: compiled code and the scope it was made in. Only the evaluator makes
/// one, so a function always runs in a scope of the shape its code was compiled for.
///
/// ```compile_fail,E0451
/// fn rescope<'a>(
///     c: &ferrix_eval::value::Closure<'a>,
///     env: ferrix_eval::env::Env<'a>,
/// ) -> ferrix_eval::value::Closure<'a> {
///     ferrix_eval::value::Closure { lambda: c.lambda(), env }
/// }
/// ```
pub struct Closure<'a> {
    pub(crate) lambda: &'a Lambda,
    pub(crate) env: Env<'a>,
}

impl<'a> Closure<'a> {
    /// Where the function is written.
    pub fn pos(&self) -> Pos {
        Pos::of(self.lambda.start)
    }

    /// The function's code, whose formals can be read.
    pub fn lambda(&self) -> &'a Lambda {
        self.lambda
    }
}

/// A built-in function: `arity` arguments, then `func` runs with all of them.
pub type PrimOpFn = for<'a> fn(&Evaluator<'a>, &[&'a Thunk<'a>], Pos) -> EvalResult<'a>;

/// The arguments of a builtin (bit `i` for argument `i`) whose thunks it never keeps once
/// it returns: it may force them, and keep what is inside them, but neither its result nor
/// anything else it stores reaches the thunks themselves. A call that has all the arguments
/// puts those thunks on its stack instead of in the arena, so a wrong claim would leave a
/// dangling reference: a claim is made only through the `unsafe` [`Transient::new`], whose
/// promise the evaluator checks after every such call in debug builds (and
/// `primops/tests/transient.rs` calls every builtin that makes one).
///
/// ```compile_fail,E0133
/// let claim = ferrix_eval::value::Transient::new(1);
/// ```
///
/// ```compile_fail,E0423
/// let claim = ferrix_eval::value::Transient(1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transient(u8);

impl Transient {
    /// No claim: the builtin may keep any of its arguments.
    pub const NONE: Transient = Transient(0);

    /// The claim that the builtin never keeps the thunks of the arguments whose bits are
    /// set in `bits`.
    ///
    /// # Safety
    /// The builtin's result, and anything it stores (a cache, a global), must never reach
    /// the thunk of an argument whose bit is set, once the builtin returns.
    pub const unsafe fn new(bits: u8) -> Transient {
        Transient(bits)
    }

    /// Whether the claim covers argument `i`.
    #[inline]
    pub const fn covers(self, i: usize) -> bool {
        i < 8 && self.0 & (1 << i) != 0
    }
}

pub struct PrimOp {
    pub name: &'static str,
    pub arity: usize,
    /// The arguments whose thunks the builtin never keeps once it returns (see
    /// [`Transient`]).
    pub transient: Transient,
    pub func: PrimOpFn,
    pub doc: &'static str,
}

pub struct PrimOpApp<'a> {
    pub op: &'a PrimOp,
    pub args: &'a [&'a Thunk<'a>],
}

/// A lazily evaluated value. Forcing overwrites it with its value; while it is being
/// forced it is a black hole, and forcing it again is infinite recursion.
///
/// 16 bytes, as most of what the evaluator allocates is thunks: a forced thunk holds its
/// [`Value`] as is (whose first byte, the tag, is below [`FIRST_STATE_TAG`]); a pending one
/// holds two words, the first being a pointer shifted up by 8 bits with a state tag at or
/// above `FIRST_STATE_TAG` in its low byte. [`Thunk::state`] decodes either into a [`State`].
pub struct Thunk<'a>(UnsafeCell<Repr<'a>>);

#[derive(Clone, Copy)]
#[repr(C)]
union Repr<'a> {
    value: Value<'a>,
    /// Little-endian, so that the tag is the first byte in memory as it is for a value.
    words: [u64; 2],
}

/// The first tag byte that is not a [`Value`]'s.
const FIRST_STATE_TAG: u8 = 0x10;
const DEFERRED: u8 = 0x10;
const APPLY: u8 = 0x11;
const APPLY_ATTR: u8 = 0x12;
const APPLY_INDEX: u8 = 0x13;
const SELECT: u8 = 0x14;
const ARITH: u8 = 0x15;
const FORWARD: u8 = 0x16;
const BLACK_HOLE: u8 = 0x17;
/// A thunk the collector has copied; the first word holds the copy's address. Only ever
/// seen during a collection (see `gc`).
const MOVED: u8 = 0x18;

/// What a thunk holds, decoded.
#[derive(Clone, Copy)]
pub(crate) enum State<'a> {
    Done(Value<'a>),
    Deferred(&'a Expr, Env<'a>),
    /// `f x`, made by builtins such as `map`.
    Apply(&'a Thunk<'a>, &'a Thunk<'a>),
    /// `f "name" x` for the attribute `name = x`, which `mapAttrs` makes for each attribute;
    /// one thunk instead of the three that `Apply` would take, and the name string is made
    /// only when forced. The attribute lives in the arena (the set's own array).
    ApplyAttr(&'a Thunk<'a>, &'a Attr<'a>),
    /// `f i` for an index `i`, which `genList` makes for each item: one thunk instead of
    /// two, and the integer's thunk only when forced.
    ApplyIndex(&'a Thunk<'a>, u32),
    /// `s.name`, for `inherit (s) name`.
    Select(&'a Thunk<'a>, Sym, Pos),
    /// A `SlotArith` argument (`n - 1`, see [`crate::ir`]) whose variable was not yet a
    /// number: the expression and the variable's thunk. No scope is kept.
    Arith(&'a Expr, &'a Thunk<'a>),
    /// The value of another thunk (a `rec` attribute replaced through `__overrides`).
    Forward(&'a Thunk<'a>),
    BlackHole,
}

fn pack<'a, T>(tag: u8, p: &T, second: u64) -> Repr<'a> {
    let addr = p as *const T as usize as u64;
    debug_assert!(addr >> 56 == 0, "pointer does not fit in 56 bits");
    Repr {
        words: [((addr << 8) | tag as u64).to_le(), second.to_le()],
    }
}

fn addr<T>(p: &T) -> u64 {
    p as *const T as usize as u64
}

impl<'a> Thunk<'a> {
    pub fn done(v: Value<'a>) -> Self {
        Thunk(UnsafeCell::new(Repr { value: v }))
    }

    pub(crate) fn new(s: State<'a>) -> Self {
        Thunk(UnsafeCell::new(encode(s)))
    }

    /// Overwrites the thunk with a value (for values that refer to themselves).
    pub fn set(&self, v: Value<'a>) {
        // SAFETY: the cell is only ever accessed by whole copies, on one thread, as `Cell`.
        unsafe { *self.0.get() = Repr { value: v } }
    }

    pub(crate) fn set_state(&self, s: State<'a>) {
        // SAFETY: as in `set`.
        unsafe { *self.0.get() = encode(s) }
    }

    #[inline]
    fn tag(&self) -> u8 {
        // SAFETY: both members start with an initialised byte: a value's `repr(u8)` tag, or
        // the low byte of the first word, stored little-endian.
        unsafe { *(self.0.get() as *const u8) }
    }

    /// The value if already forced.
    #[inline]
    pub fn value(&self) -> Option<Value<'a>> {
        if self.tag() < FIRST_STATE_TAG {
            // SAFETY: a tag below `FIRST_STATE_TAG` is only ever written as a `Value`.
            Some(unsafe { (*self.0.get()).value })
        } else {
            None
        }
    }

    pub(crate) fn state(&self) -> State<'a> {
        if let Some(v) = self.value() {
            return State::Done(v);
        }
        // SAFETY: any other tag was written as `words` by `encode`, whose pointers came
        // from references that live as long as the arena ('a).
        unsafe {
            let [w0, w1] = (*self.0.get()).words;
            let (w0, w1) = (u64::from_le(w0), u64::from_le(w1));
            let p = (w0 >> 8) as usize;
            match w0 as u8 {
                DEFERRED => {
                    State::Deferred(&*(p as *const Expr), Env::from_exposed_addr(w1 as usize))
                }
                APPLY => State::Apply(&*(p as *const Thunk), &*(w1 as usize as *const Thunk)),
                APPLY_ATTR => {
                    State::ApplyAttr(&*(p as *const Thunk), &*(w1 as usize as *const Attr))
                }
                APPLY_INDEX => State::ApplyIndex(&*(p as *const Thunk), w1 as u32),
                SELECT => State::Select(
                    &*(p as *const Thunk),
                    Sym((w1 >> 32) as u32),
                    Pos(w1 as u32),
                ),
                ARITH => State::Arith(&*(p as *const Expr), &*(w1 as usize as *const Thunk)),
                FORWARD => State::Forward(&*(p as *const Thunk)),
                _ => State::BlackHole,
            }
        }
    }
}

impl<'a> Thunk<'a> {
    /// A thunk holding what this one holds, for the collector to fix up.
    pub(crate) fn raw_copy(&self) -> Thunk<'a> {
        // SAFETY: the cell is only ever accessed by whole copies, on one thread.
        Thunk(UnsafeCell::new(unsafe { *self.0.get() }))
    }

    /// The collector's copy, once it has made one.
    pub(crate) fn moved_to(&self) -> Option<&'a Thunk<'a>> {
        if self.tag() != MOVED {
            return None;
        }
        // SAFETY: `mark_moved` wrote the copy's address, from a reference into the new
        // arena, which lives as long as the evaluation from then on.
        unsafe {
            let w0 = u64::from_le((*self.0.get()).words[0]);
            Some(&*std::ptr::with_exposed_provenance::<Thunk>(
                (w0 >> 8) as usize,
            ))
        }
    }

    /// Records that the collector copied this thunk to `to`; it is dead from then on.
    pub(crate) fn mark_moved(&self, to: &'a Thunk<'a>) {
        let addr = (to as *const Thunk).expose_provenance() as u64;
        debug_assert!(addr >> 56 == 0, "pointer does not fit in 56 bits");
        // SAFETY: as in `set`.
        unsafe {
            *self.0.get() = Repr {
                words: [((addr << 8) | MOVED as u64).to_le(), 0],
            }
        }
    }
}

fn encode(s: State<'_>) -> Repr<'_> {
    match s {
        State::Done(v) => Repr { value: v },
        State::Deferred(e, env) => pack(DEFERRED, e, env.expose_addr() as u64),
        State::Apply(f, x) => pack(APPLY, f, addr(x)),
        State::ApplyAttr(f, a) => pack(APPLY_ATTR, f, addr(a)),
        State::ApplyIndex(f, i) => pack(APPLY_INDEX, f, i as u64),
        State::Select(t, name, pos) => pack(SELECT, t, ((name.0 as u64) << 32) | pos.0 as u64),
        State::Arith(e, x) => pack(ARITH, e, addr(x)),
        State::Forward(t) => pack(FORWARD, t, 0),
        State::BlackHole => Repr {
            words: [(BLACK_HOLE as u64).to_le(), 0],
        },
    }
}

impl<'a> Value<'a> {
    /// The type as `builtins.typeOf` names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => "lambda",
        }
    }

    /// The type as error messages show it ("an integer", "a set", …).
    pub fn show_type(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(_) => "a Boolean".into(),
            Value::Int(_) => "an integer".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(s) if !s.context.is_empty() => "a string with context".into(),
            Value::Str(_) => "a string".into(),
            Value::Path(_) => "a path".into(),
            Value::Attrs(_) => "a set".into(),
            Value::List(_) => "a list".into(),
            Value::Lambda(_) => "a function".into(),
            Value::PrimOp(p) => format!("the built-in function '{}'", p.name),
            Value::PrimOpApp(a) => {
                format!("the partially applied built-in function '{}'", a.op.name)
            }
        }
    }
}

/// Debug builds: whether `v` reaches one of the thunks in `targets` within a few levels
/// (lists, sets and both layers of `//`, thunks' states, closures' and deferred thunks'
/// scopes, partial applications). The evaluator checks, after each builtin call that put
/// arguments on its stack, that the result does not reach them: `PrimOp::transient` is a
/// claim that is checked, not trusted.
#[cfg(debug_assertions)]
pub(crate) fn reaches(v: Value<'_>, targets: &[*const ()]) -> bool {
    let mut w = Walk {
        targets,
        seen: rustc_hash::FxHashSet::default(),
        budget: 4096,
    };
    w.value(v, 0)
}

#[cfg(debug_assertions)]
struct Walk<'t> {
    targets: &'t [*const ()],
    seen: rustc_hash::FxHashSet<usize>,
    budget: usize,
}

#[cfg(debug_assertions)]
impl Walk<'_> {
    const DEPTH: usize = 6;

    fn first_visit(&mut self, addr: usize) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        self.seen.insert(addr)
    }

    fn thunk(&mut self, t: &Thunk<'_>, depth: usize) -> bool {
        let addr = t as *const Thunk as *const ();
        if self.targets.contains(&addr) {
            return true;
        }
        if depth > Self::DEPTH || !self.first_visit(addr as usize) {
            return false;
        }
        match t.state() {
            State::Done(v) => self.value(v, depth + 1),
            State::Deferred(_, env) => self.env(env, depth + 1),
            State::Apply(f, x) => self.thunk(f, depth + 1) || self.thunk(x, depth + 1),
            State::ApplyAttr(f, a) => self.thunk(f, depth + 1) || self.thunk(a.value, depth + 1),
            State::ApplyIndex(f, _) | State::Select(f, _, _) | State::Forward(f) => {
                self.thunk(f, depth + 1)
            }
            State::Arith(_, x) => self.thunk(x, depth + 1),
            State::BlackHole => false,
        }
    }

    fn env(&mut self, env: Env<'_>, depth: usize) -> bool {
        if depth > Self::DEPTH || !self.first_visit(env.addr()) {
            return false;
        }
        (0..env.len()).any(|i| self.thunk(env.slot(i as u32), depth + 1))
            || env.up().is_some_and(|up| self.env(up, depth + 1))
    }

    fn set(&mut self, s: &AttrSet<'_>, depth: usize) -> bool {
        if depth > Self::DEPTH || !self.first_visit(s as *const _ as usize) {
            return false;
        }
        if let Some(l) = s.lazy_parts() {
            let maker = match l.maker {
                Maker::Apply { f, source, .. } => {
                    self.thunk(f, depth + 1) || self.set(source, depth + 1)
                }
                Maker::Code { env, .. } => self.env(env, depth + 1),
            };
            return maker
                || l.made
                    .iter()
                    .filter_map(Cell::get)
                    .any(|a| self.thunk(a.value, depth + 1));
        }
        match s.layers() {
            Some(l) => self.set(l.top, depth + 1) || self.set(l.bottom, depth + 1),
            None => s.flat().iter().any(|a| self.thunk(a.value, depth + 1)),
        }
    }

    fn value(&mut self, v: Value<'_>, depth: usize) -> bool {
        match v {
            Value::List(l) => l.items.iter().any(|t| self.thunk(t, depth + 1)),
            Value::Attrs(s) => self.set(s, depth),
            Value::Lambda(c) => self.env(c.env, depth + 1),
            Value::PrimOpApp(app) => app.args.iter().any(|t| self.thunk(t, depth + 1)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the evaluator's memory use depends on; a change here shows up in every
    /// benchmark.
    #[test]
    fn value_sizes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Thunk>(), 16);
        assert_eq!(std::mem::size_of::<Attr>(), 16);
        assert_eq!(std::mem::size_of::<AttrSet>(), 16);
    }

    /// Every state comes back out of a thunk as it went in, and values keep their tags
    /// below the state tags.
    #[test]
    fn thunk_states_round_trip() {
        use crate::ir::ExprKind;
        let bump = bumpalo::Bump::new();
        let expr = bump.alloc(Expr::new(3, ExprKind::Int(7)));
        let env = Env::alloc(&bump, None, false, &[]);
        let f: &Thunk = bump.alloc(Thunk::done(Value::Int(-3)));
        let x: &Thunk = bump.alloc(Thunk::done(Value::Float(2.5)));
        let attr: &Attr = bump.alloc(Attr {
            name: Sym(9),
            value: x,
            pos: Pos(11),
        });
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(-0.5),
        ];
        for v in values {
            let t = Thunk::done(v);
            assert!(t.tag() < FIRST_STATE_TAG);
            match (t.value(), v) {
                (Some(Value::Null), Value::Null) => {}
                (Some(Value::Bool(a)), Value::Bool(b)) => assert_eq!(a, b),
                (Some(Value::Int(a)), Value::Int(b)) => assert_eq!(a, b),
                (Some(Value::Float(a)), Value::Float(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                _ => panic!("value changed kind"),
            }
        }
        let t = Thunk::new(State::Deferred(expr, env));
        assert!(t.value().is_none());
        assert!(
            matches!(t.state(), State::Deferred(e, en) if std::ptr::eq(e, expr) && en.same(env))
        );
        t.set_state(State::Apply(f, x));
        assert!(
            matches!(t.state(), State::Apply(a, b) if std::ptr::eq(a, f) && std::ptr::eq(b, x))
        );
        t.set_state(State::ApplyAttr(f, attr));
        assert!(
            matches!(t.state(), State::ApplyAttr(a, b) if std::ptr::eq(a, f) && std::ptr::eq(b, attr))
        );
        t.set_state(State::ApplyIndex(x, u32::MAX));
        assert!(matches!(t.state(), State::ApplyIndex(a, u32::MAX) if std::ptr::eq(a, x)));
        t.set_state(State::Select(f, Sym(u32::MAX), Pos(u32::MAX - 1)));
        assert!(
            matches!(t.state(), State::Select(a, Sym(u32::MAX), p) if std::ptr::eq(a, f) && p == Pos(u32::MAX - 1))
        );
        t.set_state(State::Arith(expr, x));
        assert!(
            matches!(t.state(), State::Arith(e, v) if std::ptr::eq(e, expr) && std::ptr::eq(v, x))
        );
        t.set_state(State::Forward(x));
        assert!(matches!(t.state(), State::Forward(a) if std::ptr::eq(a, x)));
        t.set_state(State::BlackHole);
        assert!(matches!(t.state(), State::BlackHole) && t.value().is_none());
        t.set(Value::Int(42));
        assert!(matches!(t.value(), Some(Value::Int(42))));
    }
}
