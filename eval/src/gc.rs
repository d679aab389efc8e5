//! The collector: copies what is still reachable into a new arena and frees the old one.
//!
//! # Why a copying collector at safe points
//!
//! The evaluator's values live in a bumpalo arena, which frees nothing: its size is
//! everything ever allocated. Measured with [`crate::census`] on nixpkgs (the drvPaths of
//! the first 900 top-level packages, in one process), only a quarter of the arena is still
//! reachable between two packages; the rest is the scopes, lists and sets of finished
//! calls. So the heap's peak can follow the live data instead, if that data is moved out
//! from time to time and the rest dropped at once.
//!
//! - **Copying, not marking.** A bump arena cannot free single objects, and a free-list
//!   allocator would slow down every allocation, the evaluator's hottest path. Copying
//!   keeps bump allocation, compacts the live data, and costs time in proportion to what
//!   is live, not to the garbage.
//! - **At safe points only.** Rust code everywhere holds `&'a` references into the arena,
//!   on the native stack and in temporary vectors; none of them can be found or updated.
//!   So a collection runs only where the caller knows every reference: between the items of
//!   a top-level value, between REPL lines, between the jobs of a worker. The caller passes
//!   its references as roots, and the evaluator adds its own tables. This is the contract of
//!   [`Evaluator::collect`], which is `unsafe` for that reason.
//! - **Forwarding in place, for what has identity.** Thunks (updated when forced), sets
//!   (their merged layers are cached) and scopes must stay shared after the copy, so each
//!   records its copy's address in itself ([`Thunk::mark_moved`], [`AttrSet::mark_moved`],
//!   [`Env::mark_moved`]); these have interior mutability, or are reached only through raw
//!   pointers. Immutable objects (strings, lists, closures, partial applications) and long
//!   strings' bytes are remembered in hash maps instead, which keeps them shared too. The
//!   arrays of sets, lists and partial applications are copied with their owner, which is
//!   remembered: on nixpkgs no two owners share one, and a table of them was most of a
//!   collection's memory besides the new arena.
//! - **Pages given back at once.** The arena a collection leaves is `madvise`d away before
//!   it is freed, so the process's resident size drops by it at once, whatever the
//!   allocator caches; the collection's own peak is the old arena, the new one and the
//!   rest of the heap. Only room for the next copy (as much as this one) stays, in the
//!   old arena's largest chunk: a fresh to-space's pages would come zeroed from the
//!   system, and the next collection's peak holds that much anyway (see `keep_room`).
//!
//! Objects outside the arena (syntax trees, string literals' text, built-in tables) are
//! left where they are. The arena the evaluator was built with is not freed (it is the
//! caller's), but the first collection gives its pages back to the system (`madvise`);
//! after it the evaluator allocates in arenas of its own.

use crate::env::Env;
use crate::ir::{Expr, ExprKind};
use crate::value::{Attr, AttrSet, Closure, Layers, Lazy, List, Maker, NixStr, PrimOp, PrimOpApp};
use crate::value::{State, Thunk, Value};
use bumpalo::Bump;
use rustc_hash::FxHashMap;
use std::cell::Cell;

/// The address ranges of the arenas being collected.
pub(crate) struct Spaces {
    /// `(start, end)`, sorted.
    ranges: Vec<(usize, usize)>,
}

impl Spaces {
    pub(crate) fn of(bumps: &[&Bump]) -> Spaces {
        let mut ranges = Vec::new();
        for b in bumps {
            // SAFETY: nothing allocates in `b` while the iterator lives; only the chunks'
            // addresses are read, not their contents.
            for (p, len) in unsafe { b.iter_allocated_chunks_raw() } {
                ranges.push((p as usize, p as usize + len));
            }
        }
        ranges.sort_unstable();
        Spaces { ranges }
    }

    #[inline]
    fn contains<T: ?Sized>(&self, p: *const T) -> bool {
        let a = p as *const () as usize;
        let i = self.ranges.partition_point(|r| r.0 <= a);
        i > 0 && a < self.ranges[i - 1].1
    }
}

/// A copy whose fields still point at the old arena.
enum Work<'a> {
    Thunk(&'a Thunk<'a>),
    Env(Env<'a>),
    Set(&'a AttrSet<'a>),
}

pub(crate) struct Copier<'a> {
    from: Spaces,
    to: &'a Bump,
    work: Vec<Work<'a>>,
    /// Immutable objects copied already, by old address.
    done: FxHashMap<usize, usize>,
    /// Long strings' bytes and strings' contexts copied already, by old address and
    /// length.
    arrays: FxHashMap<(usize, usize), usize>,
    /// A scope's slots on their way to its copy (kept to reuse its buffer).
    slots: Vec<&'a Thunk<'a>>,
}

/// Asks the processor to start loading what `p` points at. A collection's time goes
/// mostly into waiting for the old objects it reads, one after the other; an array's
/// elements, loaded together, wait once.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch is only a hint: it reads nothing the program sees and never
    // faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

/// Strings shorter than this are copied each time they are reached; longer ones once.
const SHARED_BYTES: usize = 32;

fn addr<T: ?Sized>(p: *const T) -> usize {
    p as *const () as usize
}

impl<'a> Copier<'a> {
    /// A copier into `to`, with room in its tables for `entries` (immutable objects,
    /// arrays) before they grow.
    pub(crate) fn new(from: Spaces, to: &'a Bump, entries: (usize, usize)) -> Self {
        Copier {
            from,
            to,
            work: Vec::new(),
            done: FxHashMap::with_capacity_and_hasher(entries.0, Default::default()),
            arrays: FxHashMap::with_capacity_and_hasher(entries.1, Default::default()),
            slots: Vec::new(),
        }
    }

    /// How many entries its tables hold.
    fn entries(&self) -> (usize, usize) {
        (self.done.len(), self.arrays.len())
    }

    /// Fixes every copy's fields, copying what they reach, until nothing is left.
    pub(crate) fn run(&mut self) {
        while let Some(w) = self.work.pop() {
            match w {
                Work::Thunk(t) => self.scan_thunk(t),
                Work::Env(e) => self.scan_env(e),
                Work::Set(s) => self.scan_set(s),
            }
        }
    }

    /// The new home of a contiguous array of thunks (the evaluator's small integers), which
    /// must stay contiguous.
    pub(crate) fn thunk_array(&mut self, old: &'a [Thunk<'a>]) -> &'a [Thunk<'a>] {
        let new: &'a [Thunk<'a>] = self.to.alloc_slice_fill_iter(old.iter().map(|t| {
            debug_assert!(t.moved_to().is_none());
            t.raw_copy()
        }));
        for (o, n) in old.iter().zip(new) {
            o.mark_moved(n);
            self.work.push(Work::Thunk(n));
        }
        new
    }

    pub(crate) fn thunk(&mut self, t: &'a Thunk<'a>) -> &'a Thunk<'a> {
        if !self.from.contains(t) {
            return t;
        }
        if let Some(n) = t.moved_to() {
            return n;
        }
        let n: &'a Thunk<'a> = self.to.alloc(t.raw_copy());
        t.mark_moved(n);
        self.work.push(Work::Thunk(n));
        n
    }

    fn scan_thunk(&mut self, n: &'a Thunk<'a>) {
        let s = match n.state() {
            State::Done(v) => State::Done(self.value(v)),
            State::Deferred(e, env) => State::Deferred(self.expr(e), self.env(env)),
            State::Apply(f, x) => State::Apply(self.thunk(f), self.thunk(x)),
            State::ApplyAttr(f, a) => State::ApplyAttr(self.thunk(f), self.attr(a)),
            State::ApplyIndex(f, i) => State::ApplyIndex(self.thunk(f), i),
            State::Select(t, name, pos) => State::Select(self.thunk(t), name, pos),
            State::Arith(e, x) => State::Arith(self.expr(e), self.thunk(x)),
            State::Forward(t) => State::Forward(self.thunk(t)),
            State::BlackHole => State::BlackHole,
        };
        n.set_state(s);
    }

    /// Syntax trees live outside the arena, but for the variables `inherit` makes when only
    /// a `with` can provide them.
    fn expr(&mut self, e: &'a Expr) -> &'a Expr {
        if !self.from.contains(e) {
            return e;
        }
        if let Some(&n) = self.done.get(&addr(e)) {
            // SAFETY: `done` maps an expression to its copy in the new arena.
            return unsafe { &*(n as *const Expr) };
        }
        let kind = match &e.kind {
            ExprKind::Var(v) => ExprKind::Var(*v),
            _ => unreachable!("only variables are made in the arena"),
        };
        let n: &'a Expr = self.to.alloc(Expr::new(e.pos, kind));
        self.done.insert(addr(e), addr(n));
        n
    }

    fn attr(&mut self, a: &'a Attr<'a>) -> &'a Attr<'a> {
        if !self.from.contains(a) {
            return a;
        }
        let value = self.thunk(a.value);
        self.to.alloc(Attr { value, ..*a })
    }

    pub(crate) fn value(&mut self, v: Value<'a>) -> Value<'a> {
        match v {
            Value::Str(s) => Value::Str(self.string(s)),
            Value::Path(s) => Value::Path(self.string(s)),
            Value::Attrs(s) => Value::Attrs(self.set(s)),
            Value::List(l) => Value::List(self.list(l)),
            Value::Lambda(c) => Value::Lambda(self.closure(c)),
            Value::PrimOp(p) => Value::PrimOp(self.primop(p)),
            Value::PrimOpApp(a) => Value::PrimOpApp(self.app(a)),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => v,
        }
    }

    /// The copy of an immutable object, if made already.
    fn copied<T>(&self, p: &'a T) -> Option<&'a T> {
        // SAFETY: `done` maps an object to its copy, of the same type, in the new arena.
        self.done
            .get(&addr(p))
            .map(|&n| unsafe { &*(n as *const T) })
    }

    fn remember<T>(&mut self, old: &'a T, new: &'a T) -> &'a T {
        self.done.insert(addr(old), addr(new));
        new
    }

    fn string(&mut self, s: &'a NixStr<'a>) -> &'a NixStr<'a> {
        if !self.from.contains(s) {
            return s;
        }
        if let Some(n) = self.copied(s) {
            return n;
        }
        let bytes = self.bytes(s.bytes);
        let context = self.context(s.context);
        let n = self.to.alloc(NixStr { bytes, context });
        self.remember(s, n)
    }

    fn bytes(&mut self, b: &'a [u8]) -> &'a [u8] {
        if b.is_empty() || !self.from.contains(b.as_ptr()) {
            return b;
        }
        if b.len() < SHARED_BYTES {
            return self.to.alloc_slice_copy(b);
        }
        let key = (addr(b.as_ptr()), b.len());
        if let Some(&n) = self.arrays.get(&key) {
            // SAFETY: `arrays` maps these bytes to their copy, as long, in the new arena.
            return unsafe { std::slice::from_raw_parts(n as *const u8, b.len()) };
        }
        let n = self.to.alloc_slice_copy(b);
        self.arrays.insert(key, addr(n.as_ptr()));
        n
    }

    fn context(&mut self, c: &'a [&'a [u8]]) -> &'a [&'a [u8]] {
        if c.is_empty() {
            return &[];
        }
        let key = (addr(c.as_ptr()), c.len());
        if let Some(&n) = self.arrays.get(&key) {
            // SAFETY: as in `bytes`.
            return unsafe { std::slice::from_raw_parts(n as *const &'a [u8], c.len()) };
        }
        let entries: Vec<&'a [u8]> = c.iter().map(|e| self.bytes(e)).collect();
        let n = self.to.alloc_slice_copy(&entries);
        self.arrays.insert(key, addr(n.as_ptr()));
        n
    }

    fn set(&mut self, s: &'a AttrSet<'a>) -> &'a AttrSet<'a> {
        if !self.from.contains(s) {
            return s;
        }
        if let Some(n) = s.moved_to() {
            return n;
        }
        let n: &'a AttrSet<'a> = self.to.alloc(s.raw_copy());
        s.mark_moved(n);
        self.work.push(Work::Set(n));
        n
    }

    fn scan_set(&mut self, n: &'a AttrSet<'a>) {
        if let Some(l) = n.lazy_parts() {
            // Copied as it stands, nothing made.
            let to = self.to;
            let maker = match l.maker {
                Maker::Apply { f, source, names } => Maker::Apply {
                    f: self.thunk(f),
                    source: self.set(source),
                    names: names.map(|n| &*to.alloc_slice_copy(n)),
                },
                Maker::Code { entries, env } => Maker::Code {
                    entries,
                    env: self.env(env),
                },
            };
            let made: &'a [Cell<Option<&'a Attr<'a>>>] = to.alloc_slice_fill_iter(
                l.made
                    .iter()
                    .map(|m| Cell::new(m.get().map(|a| self.attr(a)))),
            );
            n.set_lazy(to.alloc(Lazy {
                made,
                maker,
                bump: to,
            }));
            return;
        }
        if let Some(l) = n.layers() {
            let layers: &'a Layers<'a> = self.to.alloc(Layers {
                top: self.set(l.top),
                bottom: self.set(l.bottom),
                depth: l.depth,
                walked: Cell::new(l.walked.get()),
                bump: self.to,
            });
            n.set_layers(layers);
        } else {
            let attrs = n.flat();
            if !attrs.is_empty() {
                for a in attrs {
                    prefetch(a.value);
                }
                // Filled with the thunks' copies at once: the array is never written after
                // it is shared. It is copied once per set (the set forwards to its copy);
                // two sets sharing one array would each get a copy, which only costs
                // memory, and nixpkgs has none.
                let to = self.to;
                let new: &'a [Attr<'a>] = to.alloc_slice_fill_iter(attrs.iter().map(|a| Attr {
                    value: self.thunk(a.value),
                    ..*a
                }));
                n.set_attrs(new);
            }
        }
    }

    pub(crate) fn list(&mut self, l: &'a List<'a>) -> &'a List<'a> {
        if !self.from.contains(l) {
            return l;
        }
        if let Some(n) = self.copied(l) {
            return n;
        }
        let items = self.items(l.items);
        let n = self.to.alloc(List { items });
        self.remember(l, n)
    }

    /// The items of a list or the arguments of a partial application: copied once per
    /// owner (which is remembered), not looked up by address, since owners that share
    /// an array are rare (a copy each only costs memory) and the lookup table would
    /// be a large part of a collection's memory and time.
    fn items(&mut self, x: &'a [&'a Thunk<'a>]) -> &'a [&'a Thunk<'a>] {
        if x.is_empty() {
            return &[];
        }
        for &t in x {
            prefetch(t);
        }
        let to = self.to;
        to.alloc_slice_fill_iter(x.iter().map(|t| self.thunk(t)))
    }

    fn closure(&mut self, c: &'a Closure<'a>) -> &'a Closure<'a> {
        if !self.from.contains(c) {
            return c;
        }
        if let Some(n) = self.copied(c) {
            return n;
        }
        let env = self.env(c.env);
        let n = self.to.alloc(Closure {
            lambda: c.lambda,
            env,
        });
        self.remember(c, n)
    }

    fn primop(&mut self, p: &'a PrimOp) -> &'a PrimOp {
        if !self.from.contains(p) {
            return p;
        }
        if let Some(n) = self.copied(p) {
            return n;
        }
        let n = self.to.alloc(PrimOp { ..*p });
        self.remember(p, n)
    }

    fn app(&mut self, a: &'a PrimOpApp<'a>) -> &'a PrimOpApp<'a> {
        if !self.from.contains(a) {
            return a;
        }
        if let Some(n) = self.copied(a) {
            return n;
        }
        let op = self.primop(a.op);
        let args = self.items(a.args);
        let n = self.to.alloc(PrimOpApp { op, args });
        self.remember(a, n)
    }

    pub(crate) fn env(&mut self, e: Env<'a>) -> Env<'a> {
        if !self.from.contains(e.addr() as *const ()) {
            return e;
        }
        if let Some(n) = e.moved_to() {
            return n;
        }
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        slots.extend((0..e.len() as u32).map(|i| e.slot(i)));
        // The copy links to the old enclosing scope until `scan_env` fixes it.
        let n = Env::alloc(self.to, e.up(), e.is_with(), &slots);
        self.slots = slots;
        // SAFETY: a collection is running; from now on the old scope is only asked for
        // its copy.
        unsafe { e.mark_moved(n) };
        self.work.push(Work::Env(n));
        n
    }

    fn scan_env(&mut self, n: Env<'a>) {
        for i in 0..n.len() {
            prefetch(n.slot(i as u32));
        }
        let up = n.up().map(|u| self.env(u));
        // SAFETY: `n` was just made by `env`, and nothing else refers to it yet.
        unsafe { n.set_up(up) };
        for i in 0..n.len() {
            let t = self.thunk(n.slot(i as u32));
            // SAFETY: as above; `i` is below the count.
            unsafe { n.set_slot(i, t) };
        }
    }
}

/// The arena size at which the first collection is due: below it (one package, a NixOS
/// system) collecting would cost time and save nothing that matters.
pub(crate) const FIRST_COLLECTION: usize = 512 << 20;
/// After a collection, the next is due when the arena has grown to this many times what
/// was live, so that the time spent copying stays in proportion to the allocation.
const GROWTH: usize = 2;
/// Between two top-level values a collection is due at this fraction of the size at
/// which the first one is (128 MiB by default; see
/// [`Evaluator::wants_collection_between`]).
///
/// [`Evaluator::wants_collection_between`]: crate::Evaluator::wants_collection_between
pub(crate) const BETWEEN_FRACTION: usize = 4;

/// The bytes allocated in `bump`'s chunks: what the arena has touched, unlike
/// `allocated_bytes`, which counts the chunks' whole capacity (doubling at each new one).
fn used_bytes(bump: &Bump) -> usize {
    // SAFETY: nothing allocates in `bump` while the iterator lives; only lengths are read.
    unsafe { bump.iter_allocated_chunks_raw() }
        .map(|(_, len)| len)
        .sum()
}

/// The system's page size.
#[cfg(all(unix, not(miri)))]
fn page_size() -> Option<usize> {
    // SAFETY: `sysconf` only reads a constant of the system.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => Some(n as usize),
        _ => None,
    }
}

/// Gives the physical pages under `bump`'s allocations back to the system, keeping the
/// address range: a later read finds zeros, a later write gets a fresh page. The chunks'
/// own bookkeeping (bumpalo's footer past each chunk's allocations, the allocator's headers
/// before it) is outside the released range, so the arena can still be dropped, or even
/// allocate again, normally.
///
/// # Safety
/// Nothing allocated in `bump` so far may be read again.
unsafe fn release_pages(bump: &Bump) {
    // SAFETY: nothing allocates in `bump` while the iterator lives; only the chunks'
    // addresses are read, not their contents.
    for (p, len) in unsafe { bump.iter_allocated_chunks_raw() } {
        // SAFETY: the caller promises the allocations are no longer read.
        unsafe { release_range(p as usize, p as usize + len) };
    }
}

/// Gives back the whole pages inside `[start, end)`, part of one chunk (see
/// [`release_pages`]).
///
/// # Safety
/// Nothing in the range may be read again, and it must lie inside one arena chunk's
/// allocations or free room.
unsafe fn release_range(start: usize, end: usize) {
    #[cfg(all(unix, not(miri)))]
    {
        let Some(page) = page_size() else {
            return;
        };
        let start = start.next_multiple_of(page);
        let end = end / page * page;
        if end > start {
            // SAFETY: `[start, end)` is whole pages inside one chunk, which the caller
            // promises are no longer read; `MADV_DONTNEED` on the private anonymous memory
            // an allocator maps only drops their contents. Failing (it cannot, on such
            // memory) would only leave the pages resident.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
    #[cfg(not(all(unix, not(miri))))]
    let _ = (start, end);
}

/// A new arena whose first chunk has room for `bytes`, its pages made resident at once.
///
/// A collection's copy writes its new arena from one end to the other, and each page it
/// reaches first costs a page fault. `MADV_POPULATE_WRITE` makes them all in one call,
/// without a fault each: on a 6 GiB test region here, 0.9 µs a page against 2 µs by
/// faults. The copy is usually at least as large as the last collection's (what is live
/// mostly grows), so `bytes` is what that one kept, and the pages are not wasted: if the copy
/// needs fewer, the evaluation that goes on in this arena uses the rest. Kernels older than
/// 5.14 refuse the call, and the pages come by faults as before.
fn arena_with_pages(bytes: usize) -> Bump {
    if bytes == 0 {
        return Bump::new();
    }
    let bump = Bump::with_capacity(bytes);
    populate_room(&bump, bytes);
    bump
}

/// Makes the pages of the first `bytes` of `bump`'s free room (the end its allocations
/// start from) resident, as [`arena_with_pages`] describes. Pages already resident cost
/// only a look at the page table.
fn populate_room(bump: &Bump, bytes: usize) {
    #[cfg(all(target_os = "linux", not(miri)))]
    if let (Some((start, end)), Some(page)) = (free_pages(bump), page_size()) {
        let start = start.max(end.saturating_sub(bytes) / page * page);
        if end > start {
            // SAFETY: `[start, end)` is whole pages of the current chunk's free room,
            // private anonymous memory that nothing refers to; populating it for writing
            // only makes its pages resident and changes no contents.
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    end - start,
                    libc::MADV_POPULATE_WRITE,
                )
            };
        }
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    let _ = (bump, bytes);
}

/// Keeps the room of `old`'s current (largest) chunk for the next collection's copy, and
/// gives everything else back: the other chunks (freed), and the chunk's pages past the
/// first `keep` bytes of its room (released, so they stop counting as resident). Returns
/// false, having released all of `old`, when the chunk has less room than `keep`.
///
/// Each copy writes a to-space of about what was live, and the pages of a fresh one
/// come from the system zeroed: over all of nixpkgs, clearing pages was a sixth of the
/// run. The arena a collection leaves has such pages already. Holding `keep` of them (the
/// size of the copy just made, which the next copy usually passes) until the next
/// collection adds nothing to that collection's peak, which holds the old arena and a
/// copy of at least that size anyway; between collections the resident size is larger by
/// `keep`, and [`Evaluator::trim_reserve`] gives the room back when that would pass the
/// last peak (as at the end of a list, where no collection comes).
///
/// # Safety
/// Nothing allocated in `old` may be read again.
///
/// [`Evaluator::trim_reserve`]: crate::Evaluator::trim_reserve
unsafe fn keep_room(old: &mut Bump, keep: usize) -> bool {
    // SAFETY: nothing allocates in `old` while the iterator lives; only addresses are read.
    let Some((ptr, len)) = (unsafe { old.iter_allocated_chunks_raw() }).next() else {
        return false;
    };
    // bumpalo allocates downwards: the chunk's room is `[top - capacity, top)`.
    let top = ptr as usize + len;
    let capacity = len + old.chunk_capacity();
    if keep == 0 || capacity < keep {
        // SAFETY: the caller promises nothing in `old` is read again.
        unsafe { release_pages(old) };
        return false;
    }
    // SAFETY: as above; the current chunk comes first, and the others are freed below.
    for (p, len) in unsafe { old.iter_allocated_chunks_raw() }.skip(1) {
        // SAFETY: as above.
        unsafe { release_range(p as usize, p as usize + len) };
    }
    // SAFETY: as above: `[ptr, top - keep)` is allocations no longer read.
    unsafe { release_range(ptr as usize, top - keep) };
    old.reset();
    true
}

/// The whole pages of the free room of `bump`'s current chunk, `(start, end)`.
#[cfg(all(target_os = "linux", not(miri)))]
fn free_pages(bump: &Bump) -> Option<(usize, usize)> {
    let page = page_size()?;
    // bumpalo allocates downwards: the free room is `[data, ptr)`, and `ptr` is where the
    // chunk's allocations start.
    let room = bump.chunk_capacity();
    // SAFETY: nothing allocates in `bump` while the iterator lives; only the current
    // chunk's address is read (it comes first).
    let top = unsafe { bump.iter_allocated_chunks_raw() }.next()?.0 as usize;
    let start = (top - room).next_multiple_of(page);
    let end = top / page * page;
    (end > start).then_some((start, end))
}

/// What a collection did.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// The bytes the arena held before, and the new arena holds (what was live) after.
    pub before: usize,
    pub after: usize,
}

impl<'a> crate::Evaluator<'a> {
    /// Whether the arena has grown enough since the last collection that a safe point
    /// should call [`Evaluator::collect`].
    ///
    /// [`Evaluator::collect`]: crate::Evaluator::collect
    pub fn wants_collection(&self) -> bool {
        used_bytes(self.bump()) >= self.collect_at.get()
    }

    /// As [`Evaluator::wants_collection`], at a safe point between two top-level values
    /// (`-A a -A b`), where what the previous one left behind is usually garbage: it says
    /// so as soon as the arena holds a quarter of what the first collection waits for
    /// ([`BETWEEN_FRACTION`]), and at least twice what the last collection kept. Each
    /// collection so copies no more than was allocated since the one before it, whatever
    /// the number of values.
    pub fn wants_collection_between(&self) -> bool {
        let used = used_bytes(self.bump());
        self.wants_collection()
            || used >= (self.first_at.get() / BETWEEN_FRACTION).max(self.live.get() * GROWTH)
    }

    /// The bytes the evaluator's current arena holds.
    pub fn arena_bytes(&self) -> usize {
        used_bytes(self.bump())
    }

    /// The room kept for the next collection's copy (see `keep_room`), taken.
    fn take_reserve(&self) -> Option<Box<Bump>> {
        let (r, _) = self.reserve.replace((std::ptr::null_mut(), 0));
        // SAFETY: a non-null reserve came from `Box::into_raw` in `collect`, and is taken
        // once.
        (!r.is_null()).then(|| unsafe { Box::from_raw(r) })
    }

    /// The bytes kept for the next collection's copy (see `keep_room`).
    pub fn reserve_bytes(&self) -> usize {
        self.reserve.get().1
    }

    /// Gives the room kept for the next collection's copy back to the system: for a safe
    /// point where a due collection is skipped, since none may come.
    pub fn release_reserve(&self) {
        if let Some(room) = self.take_reserve() {
            #[cfg(all(target_os = "linux", not(miri)))]
            if let Some((start, end)) = free_pages(&room) {
                // SAFETY: the free room of the reserve's one chunk, which holds nothing.
                unsafe { release_range(start, end) };
            }
            drop(room);
        }
    }

    /// For a safe point: gives the room kept for the next collection's copy back when the
    /// arena and that room together have grown past the last collection's peak (old arena
    /// and copy), so that holding it never raises the peak by more than what one stretch
    /// between safe points allocates.
    pub fn trim_reserve(&self) {
        let r = self.reserve_bytes();
        if r > 0 && self.arena_bytes() + r > self.last_peak.get() {
            self.release_reserve();
        }
    }

    /// Applies `FERRIX_COLLECT_AT_MIB=N`, a tuning knob (and the tests' way to collect
    /// early): the first collection is due when the arena holds N MiB. A large N turns
    /// collections off.
    pub fn collect_when_env_says(&self) {
        if let Some(mib) = std::env::var("FERRIX_COLLECT_AT_MIB")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            self.collect_when(mib.saturating_mul(1 << 20));
        }
    }

    /// Makes the next collection due when the arena holds `bytes` (by default
    /// 512 MiB for the first), and one between two top-level values at a quarter of it.
    pub fn collect_when(&self, bytes: usize) {
        self.collect_at.set(bytes);
        self.first_at.set(bytes);
    }

    /// Copies what `values` and `thunks` (updated in place) and the evaluator's own tables
    /// reach into a new arena, then frees the arena of the previous collection (see the
    /// module's documentation).
    ///
    /// # Safety
    /// Nothing may refer to the evaluator's values but `values`, `thunks` and the evaluator
    /// itself: no `Value`, thunk, scope, string, or `&Bump` from [`Evaluator::bump`], may
    /// be held anywhere else (in a caller's frame, in a vector, in a native plugin) and
    /// used after the call. Nor may anything the caller allocated in the arena the
    /// evaluator was built with be read after the first collection: its pages are given
    /// back to the system (a read finds zeros).
    ///
    /// [`Evaluator::bump`]: crate::Evaluator::bump
    pub unsafe fn collect(
        &self,
        values: &mut [&mut Value<'a>],
        thunks: &mut [&mut &'a Thunk<'a>],
    ) -> Collection {
        let current = self.bump();
        let before = used_bytes(current);
        let from = Spaces::of(&[self.first_bump, current]);
        // The new arena belongs to the evaluator: the next collection frees it. Its
        // lifetime is the evaluation's as far as the types go, which is this function's
        // contract.
        let to: *mut Bump = match self.take_reserve() {
            Some(room) => {
                populate_room(&room, self.live.get());
                Box::into_raw(room)
            }
            None => Box::into_raw(Box::new(arena_with_pages(self.live.get()))),
        };
        // SAFETY: just made, and freed only by a later collection (or never).
        let to_ref: &'a Bump = unsafe { &*to };
        // Live data mostly grows from one collection to the next.
        let (d, a) = self.copied_entries.get();
        let mut c = Copier::new(from, to_ref, (d + d / 4, a + a / 4));
        self.small_ints.set(c.thunk_array(self.small_ints.get()));
        self.null_thunk.set(c.thunk(self.null_thunk.get()));
        let [f, t] = self.bool_thunks.get();
        self.bool_thunks.set([c.thunk(f), c.thunk(t)]);
        self.empty_list.set(c.list(self.empty_list.get()));
        self.root_env.set(c.env(self.root_env.get()));
        for t in self.base.borrow_mut().iter_mut() {
            *t = c.thunk(t);
        }
        for t in self.imports.borrow_mut().values_mut() {
            *t = c.thunk(t);
        }
        for t in self.literals.borrow_mut().values_mut() {
            *t = c.thunk(t);
        }
        for t in self.name_thunks.borrow_mut().iter_mut().flatten() {
            *t = c.thunk(t);
        }
        for v in values.iter_mut() {
            **v = c.value(**v);
        }
        for t in thunks.iter_mut() {
            **t = c.thunk(t);
        }
        c.run();
        self.copied_entries.set(c.entries());
        drop(c);
        // Symbols were remembered by the address of the strings they came from.
        self.sym_cache.borrow_mut().clear();
        // So were the sets known to be forced; their addresses may now be reused.
        self.forced_sets.clear();
        self.derivations.clear();
        self.append.reset();
        self.bump.set(to_ref);
        let old = self.owned.replace(to);
        if old.is_null() {
            // The first collection: the caller's arena is garbage now, but it is the
            // caller's to free. Its pages go back to the system all the same.
            // SAFETY: everything reachable has just been copied out of it, and the caller
            // promises nothing else is used.
            unsafe { release_pages(self.first_bump) };
        } else {
            // SAFETY: `old` came from `Box::into_raw` in the previous collection; everything
            // reachable has just been copied out of it, and the caller promises nothing else
            // is used.
            let mut old = unsafe { Box::from_raw(old) };
            // Its largest chunk, up to the size of this copy, is kept for the next one
            // (see `keep_room`); the rest goes back to the system.
            let keep = used_bytes(to_ref);
            // SAFETY: as above.
            if unsafe { keep_room(&mut old, keep) } {
                self.reserve.set((Box::into_raw(old), keep));
            }
        }
        let after = used_bytes(to_ref);
        self.last_peak.set(before + after);
        self.live.set(after);
        self.collect_at
            .set((after * GROWTH).max(self.collect_at.get()));
        Collection { before, after }
    }
}

#[cfg(test)]
mod tests {
    use crate::value::{AttrSet, PrimOp, Thunk, Value};
    use crate::{Evaluator, Origin, Pos};
    use bumpalo::Bump;

    static PAIR: PrimOp = PrimOp {
        name: "pair",
        arity: 2,
        transient: crate::value::Transient::NONE,
        func: |ev, args, _| Ok(ev.make_list(args)),
        doc: "",
    };

    /// How many of the pages of `[start, end)` are resident.
    #[cfg(all(target_os = "linux", not(miri)))]
    fn resident_pages(start: usize, end: usize) -> usize {
        let page = super::page_size().expect("a page size");
        let mut v = vec![0u8; (end - start).div_ceil(page)];
        // SAFETY: `[start, end)` is mapped (an arena chunk), and `v` has a byte per page.
        let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, v.as_mut_ptr()) };
        assert_eq!(r, 0);
        v.iter().filter(|&&b| b & 1 != 0).count()
    }

    #[test]
    #[cfg(all(target_os = "linux", not(miri)))]
    fn a_new_arena_has_its_pages_at_once() {
        // Whether this kernel can populate (5.14 and later), on a page of its own.
        // SAFETY: a fresh private anonymous mapping, unmapped before the end.
        let supported = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            let ok = libc::madvise(p, 4096, libc::MADV_POPULATE_WRITE) == 0;
            libc::munmap(p, 4096);
            ok
        };
        let bytes = 16 << 20;
        let bump = super::arena_with_pages(bytes);
        assert!(bump.chunk_capacity() >= bytes);
        let (start, end) = super::free_pages(&bump).expect("a chunk with room");
        let page = super::page_size().expect("a page size");
        assert!(end - start >= bytes - 2 * page);
        let pages = (end - start) / page;
        if supported {
            assert_eq!(resident_pages(start, end), pages);
        }
        // Dropped, the pages go; populated again, they come back.
        // SAFETY: the room is not allocated yet, so nothing reads it.
        unsafe { super::release_range(start, end) };
        assert_eq!(resident_pages(start, end), 0);
        if supported {
            super::populate_room(&bump, end - start);
            assert_eq!(resident_pages(start, end), pages);
        }
        // The arena allocates in that room, in the same chunk.
        let s = bump.alloc_slice_fill_copy(bytes / 2, 7u8);
        assert!(s.iter().all(|&b| b == 7));
        // SAFETY: nothing allocates while the iterator lives.
        assert_eq!(unsafe { bump.iter_allocated_chunks_raw() }.count(), 1);
        assert_eq!(super::arena_with_pages(0).allocated_bytes(), 0);
    }

    /// The arena a collection leaves keeps room for the next copy, which is then made in
    /// it; the room goes back when asked to, or when holding it would pass the last peak.
    #[test]
    fn the_left_arena_holds_the_next_copy() {
        with_evaluator(|ev| {
            let mut v = eval(
                ev,
                "let l = [ 1 2 3 4 5 6 7 8 9 10 ]; in { a = l ++ l; b = [ l \"x\" ]; }",
            );
            ev.force_deep(v, Pos::NONE).unwrap();
            let expected = print(ev, v);
            // SAFETY (each `collect` below): `v` is the only value held.
            // The first collection leaves the caller's arena, which is not the evaluator's.
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert_eq!(ev.reserve_bytes(), 0);
            let c = unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert_eq!(ev.reserve_bytes(), c.after);
            let (room, _) = ev.reserve.get();
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert!(
                std::ptr::eq(ev.bump(), room),
                "the copy is not in the kept room"
            );
            assert_eq!(print(ev, v), expected);
            assert!(ev.reserve_bytes() > 0);
            ev.release_reserve();
            assert_eq!(ev.reserve_bytes(), 0);
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert!(ev.reserve_bytes() > 0);
            // Still under the last peak: kept.
            ev.trim_reserve();
            assert!(ev.reserve_bytes() > 0);
            ev.last_peak.set(ev.arena_bytes());
            ev.trim_reserve();
            assert_eq!(ev.reserve_bytes(), 0);
            assert_eq!(print(ev, v), expected);
        });
    }

    /// `mapAttrs`, as the built-in makes it (the evaluator has no built-ins of its own).
    static MAP_ATTRS: PrimOp = PrimOp {
        name: "mapAttrs",
        arity: 2,
        transient: crate::value::Transient::NONE,
        func: |ev, args, pos| {
            let set = ev.force_attrs(args[1], pos)?;
            Ok(Value::Attrs(ev.bump().alloc(AttrSet::mapped(
                ev.bump(),
                args[0],
                set,
            ))))
        },
        doc: "",
    };

    fn with_evaluator(f: impl FnOnce(&Evaluator<'_>)) {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump)
            .globals(["pair", "mapAttrs"])
            .build();
        ev.set_global("pair", bump.alloc(Thunk::done(Value::PrimOp(&PAIR))));
        ev.set_global(
            "mapAttrs",
            bump.alloc(Thunk::done(Value::PrimOp(&MAP_ATTRS))),
        );
        f(&ev)
    }

    /// A set literal of `n` attributes `a0`…: code (`a{i} = i + 0`), constants, variables
    /// and `inherit`s, so that some are made with the set and some only when looked up.
    fn big_literal(n: usize) -> String {
        let mut s = String::from("let k = 7; in { inherit k; ");
        for i in 0..n {
            match i % 4 {
                0 => s.push_str(&format!("a{i} = {i}; ")),
                1 => s.push_str(&format!("a{i} = k + {i} - 7; ")),
                2 => s.push_str(&format!("a{i} = [ {i} ]; ")),
                _ => s.push_str(&format!("a{i} = {{ v = {i}; }}.v; ")),
            }
        }
        s.push('}');
        s
    }

    fn attr<'a>(ev: &Evaluator<'a>, v: Value<'a>, name: &str) -> &'a Thunk<'a> {
        let Value::Attrs(set) = v else {
            panic!("not a set")
        };
        set.get(ev.intern(name.as_bytes()))
            .expect("an attribute")
            .value
    }

    /// A large set literal, and `mapAttrs` of a large set, make an attribute's thunk when
    /// it is first looked up, and the same one every time after, walks included; a walk
    /// gives every attribute, with the values an eager set has.
    #[test]
    fn large_sets_make_their_thunks_when_looked_up() {
        let n = crate::value::MIN_LAZY_LEN + 20;
        let lit = big_literal(n);
        with_evaluator(|ev| {
            let big = eval(ev, &lit);
            let Value::Attrs(set) = big else { panic!() };
            assert!(set.lazy_parts().is_some(), "a large literal is lazy");
            let t = attr(ev, big, "a5");
            assert!(std::ptr::eq(t, attr(ev, big, "a5")));
            assert_eq!(print(ev, Value::Attrs(set)).matches(" = ").count(), n + 1);
            assert!(set.lazy_parts().is_none(), "a walked set is flat");
            assert!(
                std::ptr::eq(t, attr(ev, big, "a5")),
                "the walk kept the thunk"
            );
            assert_eq!(print(ev, ev.force(t, Pos::NONE).unwrap()), "5");
            assert_eq!(
                print(ev, ev.force(attr(ev, big, "a6"), Pos::NONE).unwrap()),
                "[ 6 ]"
            );

            // A map over the (lazy) literal, made one attribute at a time.
            let src = format!("mapAttrs (name: v: {{ inherit name v; }}) ({lit})");
            let before = ev.arena_bytes();
            let m = eval(ev, &src);
            let one = attr(ev, m, "a9");
            assert_eq!(
                print(ev, ev.force(one, Pos::NONE).unwrap()),
                "{ name = \"a9\"; v = 9; }"
            );
            // Eagerly, the literal and the map would take about 60 bytes per attribute
            // (an attribute and a thunk each, for the map and for most of the literal);
            // lazily, a word each, and an attribute for the literal's constants.
            let grown = ev.arena_bytes() - before;
            assert!(grown < n * 32 + 512, "{grown} bytes for {n} attributes");
            let Value::Attrs(mset) = m else { panic!() };
            assert!(mset.lazy_parts().is_some());
            let mut items: Vec<(String, String)> =
                (0..n).map(|i| (format!("a{i}"), print_item(i))).collect();
            items.push(("k".into(), "7".into()));
            items.sort();
            let expected: String = items
                .iter()
                .map(|(a, v)| format!("{a} = {{ name = \"{a}\"; v = {v}; }}; "))
                .collect();
            assert_eq!(print(ev, m), format!("{{ {expected}}}"));
            assert!(std::ptr::eq(one, attr(ev, m, "a9")));
        });
    }

    /// What attribute `a{i}` of `big_literal` prints as.
    fn print_item(i: usize) -> String {
        match i % 4 {
            2 => format!("[ {i} ]"),
            _ => i.to_string(),
        }
    }

    /// Lazy sets survive collections half made: made attributes keep their thunks, and
    /// the others are made afterwards in the new arena, through a map of a map of a
    /// layered set too.
    #[test]
    fn lazy_sets_survive_collections_half_made() {
        let n = crate::value::MIN_LAZY_LEN + 4;
        let lit = big_literal(n);
        let src = format!(
            "let big = {lit}; layered = big // {{ extra = 1; a0 = 100; }} // {{ more = 2; k = 3; l = 4; }}; \
             twice = mapAttrs (n: v: [ v ]) (mapAttrs (n: v: v) layered); \
             in {{ inherit big twice; m = mapAttrs (n: v: v) big; }}"
        );
        let expected = {
            let mut e = String::new();
            with_evaluator(|ev| e = print(ev, eval(ev, &src)));
            e
        };
        with_evaluator(|ev| {
            let mut v = eval(ev, &src);
            let twice = ev.force(attr(ev, v, "twice"), Pos::NONE).unwrap();
            let a1 = attr(ev, twice, "a1");
            ev.force(a1, Pos::NONE).unwrap();
            let big = ev.force(attr(ev, v, "big"), Pos::NONE).unwrap();
            ev.force(attr(ev, big, "a3"), Pos::NONE).unwrap();
            let m = ev.force(attr(ev, v, "m"), Pos::NONE).unwrap();
            attr(ev, m, "a2");
            // SAFETY (each `collect`): `v` is the only value held; the thunks and sets
            // above are looked up again from it.
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            let twice = ev.force(attr(ev, v, "twice"), Pos::NONE).unwrap();
            let Value::Attrs(t) = twice else { panic!() };
            assert!(t.lazy_parts().is_some(), "copied lazy");
            let a1 = attr(ev, twice, "a1");
            assert!(
                matches!(a1.state(), crate::value::State::Done(_)),
                "kept its value"
            );
            assert_eq!(
                print(ev, ev.force(attr(ev, twice, "a0"), Pos::NONE).unwrap()),
                "[ 100 ]"
            );
            assert_eq!(
                print(ev, ev.force(attr(ev, twice, "l"), Pos::NONE).unwrap()),
                "[ 4 ]"
            );
            assert!(std::ptr::eq(a1, attr(ev, twice, "a1")));
            assert_eq!(print(ev, v), expected);
            assert!(
                std::ptr::eq(a1, attr(ev, twice, "a1")),
                "the walk kept the thunk"
            );
        });
    }

    fn eval<'a>(ev: &Evaluator<'a>, src: &str) -> Value<'a> {
        let e = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
        ev.eval_code(e).unwrap()
    }

    fn print<'a>(ev: &Evaluator<'a>, v: Value<'a>) -> String {
        ev.force_deep(v, Pos::NONE).unwrap();
        let mut out = Vec::new();
        ev.print_value(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// What a value reaches survives collections, half evaluated or not: scopes (with,
    /// rec, let, arguments), closures, layered sets, partial applications, long strings,
    /// lists, and the variables `inherit` makes under a `with`.
    #[test]
    fn values_survive_collections() {
        let long = "y".repeat(300);
        let src = format!(
            r#"let
              f = a: b: {{ sum = a + b; inherit a; }};
              s = with {{ w = 5; }}; rec {{ x = 1; y = x + w; inherit w; }};
              layered = (s // {{ z = 3; p = 4; q = 5; r = 6; }}) // {{ t = 7; u = 8; v = 9; }};
              str = "{long}" + "z";
              half = pair 1;
              lazy = map2 (x: x * 2) [ 1 2 3 ];
              map2 = g: l: [ (g (builtins0 l 0)) ];
              builtins0 = l: i: 42;
            in {{ a = f 1 2; b = s; c = layered; d = str; e = half 2; g = lazy; h = [ s s ]; }}"#
        );
        let expected = {
            let bump = Bump::new();
            let ev = Evaluator::builder(&bump).globals(["pair"]).build();
            ev.set_global("pair", bump.alloc(Thunk::done(Value::PrimOp(&PAIR))));
            print(&ev, eval(&ev, &src))
        };
        with_evaluator(|ev| {
            let mut v = eval(ev, &src);
            // Force some of it: the rest stays pending across the collections.
            let Value::Attrs(set) = v else { panic!() };
            let b = set.get(ev.intern(b"b")).unwrap().value;
            ev.force(b, Pos::NONE).unwrap();
            // SAFETY: `v` is the only value held.
            let c1 = unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert!(c1.after > 0);
            let Value::Attrs(set) = v else { panic!() };
            let h = set.get(ev.intern(b"h")).unwrap().value;
            ev.force(h, Pos::NONE).unwrap();
            // SAFETY: as above.
            unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert_eq!(print(ev, v), expected);
            // Both items of `h` are still the one thunk of `s`.
            let Value::Attrs(set) = v else { panic!() };
            let h = ev.force(set.get(ev.intern(b"h")).unwrap().value, Pos::NONE);
            let Ok(Value::List(l)) = h else { panic!() };
            assert!(std::ptr::eq(l.items[0], l.items[1]));
            // Evaluation goes on in the new arena.
            let w = eval(ev, "let x = [ 1 2 ]; in x ++ x");
            assert_eq!(print(ev, w), "[ 1 2 1 2 ]");
        });
    }

    /// Garbage is left behind: the new arena holds only what is reachable.
    #[test]
    fn garbage_is_dropped() {
        with_evaluator(|ev| {
            let mut v = eval(
                ev,
                "let l = [ 9 8 7 6 5 4 3 2 1 0 ]; m = l ++ l ++ l ++ l; in [ l (if m ++ m == m ++ m then 7 else 8) ]",
            );
            let Value::List(l) = v else { panic!() };
            ev.force(l.items[1], Pos::NONE).unwrap();
            ev.force(l.items[0], Pos::NONE).unwrap();
            let Value::List(first) = ev.force(l.items[0], Pos::NONE).unwrap() else {
                panic!()
            };
            assert_eq!(first.items.len(), 10);
            #[cfg(debug_assertions)]
            let before = ev.census(&[v]).total();
            let used = ev.bump().allocated_bytes();
            // SAFETY: `v` is the only value held.
            let c = unsafe { ev.collect(&mut [&mut v], &mut []) };
            assert!(c.after < used, "{c:?} from {used}");
            #[cfg(debug_assertions)]
            assert_eq!(ev.census(&[v]).total(), before);
            assert_eq!(print(ev, v), "[ [ 9 8 7 6 5 4 3 2 1 0 ] 7 ]");
        });
    }
}
