//! Run-time scopes. The evaluator's compile step (`compile.rs`) fixed every variable to
//! `(up, index)`; an [`Env`] is one level of that chain. Only this crate makes scopes, in
//! the shapes the compile step numbered slots for (see `ir::Slot`).
//!
//! A scope is made for every function call, so its size matters: the slots follow an
//! 8-byte header in the same arena allocation (a one-argument call takes 16 bytes). The
//! header is only the enclosing scope's address: positions come from the code (whose spans
//! are absolute), and the slot count is the compile step's business (kept in debug builds,
//! to check every index against).
//!
//! An [`Env`] is a pointer to the header, not a reference to it: the slots lie past the
//! header's end, and a `&Header` would give access to the header's bytes only (as Stacked
//! Borrows has it, and Miri checks). The pointer keeps the provenance of the whole
//! allocation (the arena block, or the [`EnvFrame`] on the stack) from where it was made,
//! and so does every enclosing-scope link stored in a header, since those are copied from
//! such pointers. Nothing makes a reference to a header.

use crate::value::Thunk;
use bumpalo::Bump;
use std::alloc::Layout;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// What a scope starts with; its slots follow.
#[repr(C)]
struct Header<'a> {
    /// The enclosing scope's address, with flags in its free bits: the low bit is set when
    /// this is the scope of a `with` ([`WITH_BIT`]), the next while a collection has moved
    /// the scope ([`MOVED_BIT`], then the address is the new copy's), and the top 16 bits
    /// hold the slot count, or [`LEN_ELSEWHERE`] when the count is in the word before the
    /// header (scopes that large are rare: a `rec` set or `let` of that many names).
    up_with: *const Header<'a>,
    /// The slots, in the compile step's order, start here. A `with` scope has one slot: the set
    /// it opens.
    slots: [&'a Thunk<'a>; 0],
}

const WITH_BIT: usize = 1;
/// Set in a scope the collector has copied (see `gc`); only ever seen during a collection.
const MOVED_BIT: usize = 2;
const LEN_SHIFT: u32 = 48;
const ADDR_MASK: usize = (1 << LEN_SHIFT) - 1;
/// The count that says the real count is in the word before the header.
const LEN_ELSEWHERE: usize = 0xFFFF;

/// The header word: `up`'s address (keeping its provenance), the flags and the count.
fn header<'a>(up: Option<Env<'a>>, is_with: bool, len: usize) -> Header<'a> {
    let up = up.map_or(std::ptr::null(), |e| e.ptr.as_ptr().cast_const());
    // User-space addresses on the platforms Ferrix runs on have at most 48 bits; the top
    // 16 are free for the count (a thunk's state packs its pointers the same way).
    assert!(up.addr() >> LEN_SHIFT == 0, "an address above 2^48");
    let packed = len.min(LEN_ELSEWHERE) << LEN_SHIFT;
    Header {
        up_with: up.map_addr(|a| a | packed | if is_with { WITH_BIT } else { 0 }),
        slots: [],
    }
}

/// One scope: a copyable pointer to a header and the slots after it, all of which live as
/// long as the arena (`'a`), or, for a scope from [`EnvFrame::env`], as long as its caller
/// promised. Other crates can name the type but neither make a scope nor read one: a scope's
/// shape is the compile step's business.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    ptr: NonNull<Header<'a>>,
    _scopes: PhantomData<&'a Header<'a>>,
}

impl<'a> Env<'a> {
    /// A scope in the arena holding `slots`.
    pub(crate) fn alloc(
        bump: &'a Bump,
        up: Option<Env<'a>>,
        is_with: bool,
        slots: &[&'a Thunk<'a>],
    ) -> Env<'a> {
        Env::alloc_slots(bump, up, is_with, slots).0
    }

    /// As `alloc`, and the scope's slots as a slice.
    pub(crate) fn alloc_slots(
        bump: &'a Bump,
        up: Option<Env<'a>>,
        is_with: bool,
        slots: &[&'a Thunk<'a>],
    ) -> (Env<'a>, &'a [&'a Thunk<'a>]) {
        let n = slots.len();
        let body = Layout::new::<Header>()
            .extend(Layout::array::<&Thunk>(n).expect("scope size"))
            .expect("scope size")
            .0;
        // A count too big for the header goes in a word of its own before it.
        let (layout, header_at) = if n >= LEN_ELSEWHERE {
            Layout::new::<usize>().extend(body).expect("scope size")
        } else {
            (body, 0)
        };
        let base = bump.alloc_layout(layout.pad_to_align());
        // SAFETY: `base` is a fresh allocation of `layout`, which the arena keeps for 'a: the
        // count's word when the count is large, then the header at `header_at`, then `n`
        // slots right after it (`slots` is a zero-length array at the header's end, and
        // `repr(C)` keeps it there). All are written before anything reads them. The
        // slice and the scope's pointer are both derived from `base`, whose provenance
        // covers the whole allocation.
        unsafe {
            if header_at != 0 {
                base.as_ptr().cast::<usize>().write(n);
            }
            let p = base.as_ptr().add(header_at).cast::<Header<'a>>();
            p.write(header(up, is_with, n));
            let first = std::ptr::addr_of_mut!((*p).slots).cast::<&'a Thunk<'a>>();
            std::ptr::copy_nonoverlapping(slots.as_ptr(), first, n);
            let env = Env {
                ptr: NonNull::new_unchecked(p),
                _scopes: PhantomData,
            };
            (env, std::slice::from_raw_parts(first, n))
        }
    }

    /// The value of the name in slot `index`, which the compile step placed in this scope.
    #[inline]
    pub(crate) fn slot(self, index: u32) -> &'a Thunk<'a> {
        #[cfg(debug_assertions)]
        assert!(
            (index as usize) < self.len(),
            "slot {index} of a scope of {}",
            self.len()
        );
        // SAFETY: every `Env` is made by `alloc_slots` or `EnvFrame::env`, which put the
        // slots right after the header and make the pointer with the provenance of the whole
        // allocation (header and slots). The index comes from a `Slot` that only this crate's
        // compile step makes (`ir` has no public constructor), for a scope of the shape this
        // crate builds for it: a function's `@` argument and formals (`call_lambda`), a
        // `let` or `rec` set's entries (`rec_scope`), a `with`'s set, or the names of
        // `Evaluator::parse_in_scope`; and code runs only in the scope it was compiled for
        // (`Code`, `Closure`, `State::Deferred`, all built in this crate). Debug builds
        // check the index. Only a collection writes slots once they are made, and it runs
        // when nothing else refers to the scope.
        unsafe { self.first_slot().add(index as usize).read() }
    }

    fn first_slot(self) -> *mut &'a Thunk<'a> {
        // SAFETY: the header lives as long as the scope; no reference to it is made.
        unsafe { std::ptr::addr_of_mut!((*self.ptr.as_ptr()).slots).cast::<&'a Thunk<'a>>() }
    }

    /// The header's word.
    #[inline]
    fn word(self) -> *const Header<'a> {
        // SAFETY: the header was written when the scope was made and lives as long as it.
        unsafe { (*self.ptr.as_ptr()).up_with }
    }

    /// The number of slots.
    pub(crate) fn len(self) -> usize {
        match self.word().addr() >> LEN_SHIFT {
            // SAFETY: `alloc_slots` put the count in the word before the header, in the
            // same allocation, whose provenance the scope's pointer has.
            LEN_ELSEWHERE => unsafe { self.ptr.as_ptr().cast::<usize>().sub(1).read() },
            n => n,
        }
    }

    /// The collector's copy, once it has made one (see `gc`).
    pub(crate) fn moved_to(self) -> Option<Env<'a>> {
        let w = self.word();
        (w.addr() & MOVED_BIT != 0).then(|| Env {
            // SAFETY: `mark_moved` stored the copy's pointer, which is not null.
            ptr: unsafe { NonNull::new_unchecked(w.map_addr(|a| a & !MOVED_BIT).cast_mut()) },
            _scopes: PhantomData,
        })
    }

    /// Records that the collector copied this scope to `to`. The scope is dead from then
    /// on: its header holds the copy's address.
    ///
    /// # Safety
    /// A collection must be running, and nothing may read this scope again but
    /// [`Env::moved_to`].
    pub(crate) unsafe fn mark_moved(self, to: Env<'a>) {
        let w = to.ptr.as_ptr().cast_const().map_addr(|a| a | MOVED_BIT);
        // SAFETY: the header is the scope's own memory; the caller makes it dead.
        unsafe { (*self.ptr.as_ptr()).up_with = w }
    }

    /// Points slot `index` at `t`.
    ///
    /// # Safety
    /// Only for a scope the collector has just made (nothing else refers to it yet);
    /// `index < self.len()`.
    pub(crate) unsafe fn set_slot(self, index: usize, t: &'a Thunk<'a>) {
        // SAFETY: as the caller promises; the pointer has the allocation's provenance.
        unsafe { self.first_slot().add(index).write(t) }
    }

    /// Points the enclosing link at `up`, keeping the flags and count.
    ///
    /// # Safety
    /// As [`Env::set_slot`].
    pub(crate) unsafe fn set_up(self, up: Option<Env<'a>>) {
        let h = header(up, self.is_with(), self.len());
        // SAFETY: as the caller promises.
        unsafe { (*self.ptr.as_ptr()).up_with = h.up_with }
    }

    /// The enclosing scope.
    #[inline]
    pub(crate) fn up(self) -> Option<Env<'a>> {
        // `map_addr` keeps the provenance of the enclosing scope's own pointer, from which
        // `header` made the link.
        NonNull::new(
            self.word()
                .map_addr(|a| a & ADDR_MASK & !WITH_BIT)
                .cast_mut(),
        )
        .map(|ptr| Env {
            ptr,
            _scopes: PhantomData,
        })
    }

    /// Whether this is the scope of a `with`.
    #[inline]
    pub(crate) fn is_with(self) -> bool {
        self.word().addr() & WITH_BIT != 0
    }

    /// The scope `up` levels out.
    #[inline]
    pub(crate) fn ancestor(self, up: u32) -> Env<'a> {
        let mut e = self;
        for _ in 0..up {
            match e.up() {
                Some(p) => e = p,
                None => break,
            }
        }
        e
    }

    /// Whether both are the same scope.
    #[cfg(test)]
    pub(crate) fn same(self, other: Env<'_>) -> bool {
        self.ptr.cast::<()>() == other.ptr.cast::<()>()
    }

    /// The scope's address, for walks that visit each scope once.
    pub(crate) fn addr(self) -> usize {
        self.ptr.as_ptr().addr()
    }

    /// The scope's address, exposing its provenance so that [`Env::from_exposed_addr`] can
    /// make the scope again (a pending thunk keeps its scope as an integer).
    #[inline]
    pub(crate) fn expose_addr(self) -> usize {
        self.ptr.as_ptr().expose_provenance()
    }

    /// The scope whose [`Env::expose_addr`] gave `addr`.
    ///
    /// # Safety
    /// `addr` must come from `expose_addr` of a scope that is still alive, and `'a` must be
    /// no longer than that scope's lifetime.
    #[inline]
    pub(crate) unsafe fn from_exposed_addr(addr: usize) -> Env<'a> {
        let p = std::ptr::with_exposed_provenance_mut::<Header<'a>>(addr);
        Env {
            // SAFETY: a scope's address is never null (the caller's promise).
            ptr: unsafe { NonNull::new_unchecked(p) },
            _scopes: PhantomData,
        }
    }
}

/// A scope on the native stack, for a call whose body keeps no reference to its scope
/// (`ir::Lambda::keeps_scope`, computed by this crate's compile step, is false): most calls
/// of small predicates and arithmetic helpers, which would otherwise fill the arena with
/// scopes nothing can reach.
#[repr(C)]
pub(crate) struct EnvFrame<'a, const N: usize> {
    head: Header<'a>,
    // `Option<&T>` has the layout of `&T`; the first `len` entries are `Some`.
    slots: [Option<&'a Thunk<'a>>; N],
}

impl<'a, const N: usize> EnvFrame<'a, N> {
    /// A frame holding `slots`, or `None` when there are more than `N`.
    #[inline]
    pub(crate) fn new(up: Option<Env<'a>>, slots: &[&'a Thunk<'a>]) -> Option<Self> {
        if slots.len() > N {
            return None;
        }
        let mut frame = EnvFrame {
            head: header(up, false, slots.len()),
            slots: [None; N],
        };
        for (d, s) in frame.slots.iter_mut().zip(slots) {
            *d = Some(*s);
        }
        Some(frame)
    }

    /// The scope, with the arena's lifetime so that it can be passed where scopes go.
    ///
    /// # Safety
    /// Nothing may keep the scope, or any scope whose chain reaches it, after the frame is
    /// gone or moved: the code run in it must not make closures, thunks or nested scopes.
    #[inline]
    pub(crate) unsafe fn env(&self) -> Env<'a> {
        // The pointer comes from a reference to the whole frame, so its provenance covers
        // the slots too; `repr(C)` puts them right after the header, as `Env::alloc` does.
        // The frame is not written while the reference lives (it is borrowed), and the
        // lifetime is the caller's promise.
        Env {
            ptr: NonNull::from(self).cast::<Header<'a>>(),
            _scopes: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn slots_follow_the_header() {
        assert_eq!(std::mem::size_of::<Header>(), 8);
        assert_eq!(std::mem::size_of::<Option<Env>>(), 8);
        let bump = Bump::new();
        let a: &Thunk = bump.alloc(Thunk::done(Value::Int(1)));
        let b: &Thunk = bump.alloc(Thunk::done(Value::Int(2)));
        let outer = Env::alloc(&bump, None, false, &[]);
        let inner = Env::alloc(&bump, Some(outer), true, &[a, b]);
        assert!(!outer.is_with() && outer.up().is_none());
        assert!(inner.is_with());
        assert!(std::ptr::eq(inner.slot(0), a) && std::ptr::eq(inner.slot(1), b));
        assert!(inner.ancestor(1).same(outer));
        assert!(inner.ancestor(5).same(outer));
        let frame = EnvFrame::<4>::new(Some(inner), &[b, a, b]).unwrap();
        // SAFETY: the scope does not outlive `frame`.
        let on_stack = unsafe { frame.env() };
        assert!(std::ptr::eq(on_stack.slot(1), a) && std::ptr::eq(on_stack.slot(2), b));
        assert!(!on_stack.is_with() && on_stack.ancestor(2).same(outer));
        assert!(on_stack.up().unwrap().same(inner));
        assert!(EnvFrame::<2>::new(None, &[a, b, a]).is_none());
    }

    /// A debug build catches an index the scope does not have.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "slot 1 of a scope of 1")]
    fn debug_builds_check_slot_indices() {
        let bump = Bump::new();
        let a: &Thunk = bump.alloc(Thunk::done(Value::Int(1)));
        Env::alloc(&bump, None, false, &[a]).slot(1);
    }
}
