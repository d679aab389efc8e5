//! Run-time scopes. The resolver fixed every variable to `(up, index)`; an [`Env`] is one
//! level of that chain.
//!
//! A scope is made for every function call, so its size matters: the slots follow an
//! 8-byte header in the same arena allocation (a one-argument call takes 16 bytes). The
//! header is only the enclosing scope's address: positions come from the code (whose spans
//! are absolute), and the slot count is the resolver's business (kept in debug builds,
//! to check every index against).

use crate::value::Thunk;
use bumpalo::Bump;
use std::alloc::Layout;
use std::marker::PhantomData;

#[repr(C)]
pub struct Env<'a> {
    /// The enclosing scope, with the low bit set when this is the scope of a `with`.
    up_with: *const Env<'a>,
    /// The number of slots, to check indices against.
    #[cfg(debug_assertions)]
    len: usize,
    /// The slots, in the resolver's order, start here. A `with` scope has one slot: the set
    /// it opens.
    slots: [&'a Thunk<'a>; 0],
    _scopes: PhantomData<&'a Env<'a>>,
}

const WITH_BIT: usize = 1;

fn header<'a>(up: Option<&'a Env<'a>>, is_with: bool, _len: usize) -> Env<'a> {
    let up = up.map_or(std::ptr::null(), |e| e as *const Env<'a>);
    Env {
        up_with: up.map_addr(|a| a | if is_with { WITH_BIT } else { 0 }),
        #[cfg(debug_assertions)]
        len: _len,
        slots: [],
        _scopes: PhantomData,
    }
}

impl<'a> Env<'a> {
    /// A scope in the arena holding `slots`.
    pub fn alloc(
        bump: &'a Bump,
        up: Option<&'a Env<'a>>,
        is_with: bool,
        slots: &[&'a Thunk<'a>],
    ) -> &'a Env<'a> {
        Env::alloc_slots(bump, up, is_with, slots).0
    }

    /// As `alloc`, and the scope's slots as a slice.
    pub fn alloc_slots(
        bump: &'a Bump,
        up: Option<&'a Env<'a>>,
        is_with: bool,
        slots: &[&'a Thunk<'a>],
    ) -> (&'a Env<'a>, &'a [&'a Thunk<'a>]) {
        let n = slots.len();
        let layout = Layout::new::<Env>()
            .extend(Layout::array::<&Thunk>(n).expect("scope size"))
            .expect("scope size")
            .0
            .pad_to_align();
        let p = bump.alloc_layout(layout).as_ptr() as *mut Env<'a>;
        // SAFETY: `p` is a fresh allocation of `layout`: the header, then `n` slots right
        // after it (`slots` is a zero-length array at the header's end, and `repr(C)` keeps
        // it there). Both are written before the reference is made.
        unsafe {
            p.write(header(up, is_with, n));
            let first = std::ptr::addr_of_mut!((*p).slots) as *mut &'a Thunk<'a>;
            std::ptr::copy_nonoverlapping(slots.as_ptr(), first, n);
            (&*p, std::slice::from_raw_parts(first, n))
        }
    }

    /// The value of the name in slot `index`, which the resolver placed in this scope.
    #[inline]
    pub fn slot(&self, index: u32) -> &'a Thunk<'a> {
        #[cfg(debug_assertions)]
        assert!(
            (index as usize) < self.len,
            "slot {index} of a scope of {}",
            self.len
        );
        // SAFETY: every `Env` is made by `alloc` or `EnvFrame`, which put the slots right
        // after the header, and the resolver only gives indices of slots its scope has (as
        // the debug builds check).
        unsafe { *self.slots.as_ptr().add(index as usize) }
    }

    /// The number of slots (debug builds keep it, for checks).
    #[cfg(debug_assertions)]
    pub(crate) fn len_for_checks(&self) -> usize {
        self.len
    }

    /// The enclosing scope.
    #[inline]
    pub fn up(&self) -> Option<&'a Env<'a>> {
        let p = self.up_with.map_addr(|a| a & !WITH_BIT);
        // SAFETY: the address came from a reference to a scope that lives as long as 'a.
        unsafe { p.as_ref() }
    }

    /// Whether this is the scope of a `with`.
    #[inline]
    pub fn is_with(&self) -> bool {
        self.up_with.addr() & WITH_BIT != 0
    }

    /// The scope `up` levels out.
    #[inline]
    pub fn ancestor(&'a self, up: u32) -> &'a Env<'a> {
        let mut e = self;
        for _ in 0..up {
            match e.up() {
                Some(p) => e = p,
                None => break,
            }
        }
        e
    }
}

/// A scope on the native stack, for a call whose body keeps no reference to its scope
/// (`Lambda::keeps_scope` is false): most calls of small predicates and arithmetic helpers,
/// which would otherwise fill the arena with scopes nothing can reach.
#[repr(C)]
pub struct EnvFrame<'a, const N: usize> {
    head: Env<'a>,
    // `Option<&T>` has the layout of `&T`; the first `len` entries are `Some`.
    slots: [Option<&'a Thunk<'a>>; N],
}

impl<'a, const N: usize> EnvFrame<'a, N> {
    /// A frame holding `slots`, or `None` when there are more than `N`.
    #[inline]
    pub fn new(up: Option<&'a Env<'a>>, slots: &[&'a Thunk<'a>]) -> Option<Self> {
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
    /// Nothing may keep the reference, or any scope whose chain reaches it, after the frame
    /// is gone: the code run in it must not make closures, thunks or nested scopes.
    #[inline]
    pub unsafe fn env(&self) -> &'a Env<'a> {
        // SAFETY: `repr(C)` puts the slots right after the header, as `Env::alloc` does; the
        // lifetime is the caller's promise.
        unsafe { &*(self as *const Self as *const Env<'a>) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn slots_follow_the_header() {
        let header = if cfg!(debug_assertions) { 16 } else { 8 };
        assert_eq!(std::mem::size_of::<Env>(), header);
        let bump = Bump::new();
        let a: &Thunk = bump.alloc(Thunk::done(Value::Int(1)));
        let b: &Thunk = bump.alloc(Thunk::done(Value::Int(2)));
        let outer = Env::alloc(&bump, None, false, &[]);
        let inner = Env::alloc(&bump, Some(outer), true, &[a, b]);
        assert!(!outer.is_with() && outer.up().is_none());
        assert!(inner.is_with());
        assert!(std::ptr::eq(inner.slot(0), a) && std::ptr::eq(inner.slot(1), b));
        assert!(std::ptr::eq(inner.ancestor(1), outer));
        assert!(std::ptr::eq(inner.ancestor(5), outer));
        let frame = EnvFrame::<4>::new(Some(inner), &[b, a, b]).unwrap();
        // SAFETY: the reference does not outlive `frame`.
        let on_stack = unsafe { frame.env() };
        assert!(std::ptr::eq(on_stack.slot(1), a) && std::ptr::eq(on_stack.slot(2), b));
        assert!(!on_stack.is_with() && std::ptr::eq(on_stack.ancestor(2), outer));
        assert!(std::ptr::eq(on_stack.up().unwrap(), inner));
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
