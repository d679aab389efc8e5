//! Interned identifiers.
//!
//! Every identifier and attribute name becomes a [`Sym`], a `u32` index into the interner.
//! Ids are handed out in order of first appearance, so sorting by id gives creation order,
//! which is also the order Nix 2.8 uses for its own interned symbols.

use rustc_hash::FxHashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub u32);

#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<[u8]>, Sym>,
    names: Vec<Box<[u8]>>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&mut self, name: &[u8]) -> Sym {
        if let Some(&s) = self.ids.get(name) {
            return s;
        }
        let s = Sym(self.names.len() as u32);
        let owned: Box<[u8]> = name.into();
        self.names.push(owned.clone());
        self.ids.insert(owned, s);
        s
    }

    pub fn get(&self, name: &[u8]) -> Option<Sym> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, s: Sym) -> &[u8] {
        self.names.get(s.0 as usize).map_or(&[][..], |b| &b[..])
    }

    /// The name as text, with invalid UTF-8 replaced; for messages.
    pub fn display(&self, s: Sym) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name(s))
    }

    /// Forgets every symbol interned after the first `len`, so that the next source gets the
    /// same ids it would get in a fresh table; costs as much as those symbols did.
    pub fn truncate(&mut self, len: usize) {
        for name in self.names.drain(len.min(self.names.len())..) {
            self.ids.remove(&name);
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
