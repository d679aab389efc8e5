//! Run-time scopes. The resolver fixed every variable to `(up, index)`; an [`Env`] is one
//! level of that chain.
//!
//! A scope is made for every function call, so its size matters: the slots follow the
//! 16-byte header in the same arena allocation (a one-argument call takes 24 bytes).

use crate::value::Thunk;
use bumpalo::Bump;
use std::alloc::Layout;

#[repr(C)]
pub struct Env<'a> {
    pub up: Option<&'a Env<'a>>,
    /// Source file of the code running in this scope, for positions.
    pub file: u32,
    /// The number of slots; the top bit marks a `with` scope.
    len_with: u32,
    /// The slots, in the resolver's order, start here. A `with` scope has one slot: the set
    /// it opens.
    slots: [&'a Thunk<'a>; 0],
}

const WITH_BIT: u32 = 1 << 31;

impl<'a> Env<'a> {
    /// A scope in the arena holding `slots`.
    pub fn alloc(
        bump: &'a Bump,
        up: Option<&'a Env<'a>>,
        file: u32,
        is_with: bool,
        slots: &[&'a Thunk<'a>],
    ) -> &'a Env<'a> {
        let n = slots.len();
        assert!(n < WITH_BIT as usize, "too many variables in one scope");
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
            p.write(Env {
                up,
                file,
                len_with: n as u32 | if is_with { WITH_BIT } else { 0 },
                slots: [],
            });
            let first = std::ptr::addr_of_mut!((*p).slots) as *mut &'a Thunk<'a>;
            std::ptr::copy_nonoverlapping(slots.as_ptr(), first, n);
            &*p
        }
    }

    /// The values of this scope's names, in the resolver's slot order.
    #[inline]
    pub fn slots(&'a self) -> &'a [&'a Thunk<'a>] {
        let n = (self.len_with & !WITH_BIT) as usize;
        // SAFETY: every `Env` is made by `alloc`, which puts `n` initialised slots after the
        // header in the same allocation.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), n) }
    }

    /// Whether this is the scope of a `with`.
    #[inline]
    pub fn is_with(&self) -> bool {
        self.len_with & WITH_BIT != 0
    }

    /// The scope `up` levels out.
    #[inline]
    pub fn ancestor(&'a self, up: u32) -> &'a Env<'a> {
        let mut e = self;
        for _ in 0..up {
            match e.up {
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
    pub fn new(up: Option<&'a Env<'a>>, file: u32, slots: &[&'a Thunk<'a>]) -> Option<Self> {
        if slots.len() > N {
            return None;
        }
        let mut frame = EnvFrame {
            head: Env {
                up,
                file,
                len_with: slots.len() as u32,
                slots: [],
            },
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
        assert_eq!(std::mem::size_of::<Env>(), 16);
        let bump = Bump::new();
        let a: &Thunk = bump.alloc(Thunk::done(Value::Int(1)));
        let b: &Thunk = bump.alloc(Thunk::done(Value::Int(2)));
        let outer = Env::alloc(&bump, None, 7, false, &[]);
        let inner = Env::alloc(&bump, Some(outer), 7, true, &[a, b]);
        assert!(outer.slots().is_empty() && !outer.is_with());
        assert!(inner.is_with());
        assert_eq!(inner.slots().len(), 2);
        assert!(std::ptr::eq(inner.slots()[1], b));
        assert!(std::ptr::eq(inner.ancestor(1), outer));
        assert!(std::ptr::eq(inner.ancestor(5), outer));
        let frame = EnvFrame::<4>::new(Some(outer), 7, &[b, a, b]).unwrap();
        // SAFETY: the reference does not outlive `frame`.
        let on_stack = unsafe { frame.env() };
        assert_eq!(on_stack.slots().len(), 3);
        assert!(std::ptr::eq(on_stack.slots()[1], a) && std::ptr::eq(on_stack.slots()[2], b));
        assert!(!on_stack.is_with() && std::ptr::eq(on_stack.ancestor(1), outer));
        assert!(EnvFrame::<2>::new(None, 7, &[a, b, a]).is_none());
    }
}
