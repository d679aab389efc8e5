//! Run-time scopes. The resolver fixed every variable to `(up, index)`; an [`Env`] is one
//! level of that chain.

use crate::value::Thunk;

pub struct Env<'a> {
    pub up: Option<&'a Env<'a>>,
    /// The values of this scope's names, in the resolver's slot order. A `with` scope has
    /// one slot: the set it opens.
    pub slots: &'a [&'a Thunk<'a>],
    /// Source file of the code running in this scope, for positions.
    pub file: u32,
    pub is_with: bool,
}

impl<'a> Env<'a> {
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
