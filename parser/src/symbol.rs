//! Interned identifiers.
//!
//! Every identifier and attribute name becomes a [`Sym`], a `u32` index into the interner.
//! Ids are handed out in order of first appearance, so sorting by id gives creation order,
//! which is also the order Nix 2.8 uses for its own interned symbols.

use hashbrown::HashTable;
use std::hash::BuildHasher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub u32);

/// The names, each stored once: `ids` holds only symbols, found by their name's hash and
/// compared through `names` (a map keyed by the names would keep a second copy of each,
/// about 2 MiB on a NixOS system).
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashTable<Sym>,
    names: Vec<Box<[u8]>>,
}

fn hash(name: &[u8]) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(name)
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&mut self, name: &[u8]) -> Sym {
        let h = hash(name);
        let names = &self.names;
        if let Some(&s) = self.ids.find(h, |&s| &*names[s.0 as usize] == name) {
            return s;
        }
        let s = Sym(self.names.len() as u32);
        self.names.push(name.into());
        let names = &self.names;
        self.ids
            .insert_unique(h, s, |&s| hash(&names[s.0 as usize]));
        s
    }

    pub fn get(&self, name: &[u8]) -> Option<Sym> {
        let names = &self.names;
        self.ids
            .find(hash(name), |&s| &*names[s.0 as usize] == name)
            .copied()
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
        for i in (len..self.names.len()).rev() {
            let sym = Sym(i as u32);
            if let Ok(entry) = self.ids.find_entry(hash(&self.names[i]), |&s| s == sym) {
                entry.remove();
            }
        }
        self.names.truncate(len);
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_one_symbol_each_in_order() {
        let mut t = Interner::new();
        let names: Vec<Vec<u8>> = (0..5000).map(|i| format!("n{i}").into_bytes()).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.intern(n), Sym(i as u32));
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.intern(n), Sym(i as u32));
            assert_eq!(t.get(n), Some(Sym(i as u32)));
            assert_eq!(t.name(Sym(i as u32)), &n[..]);
        }
        assert_eq!(t.get(b"missing"), None);
        assert_eq!(t.len(), 5000);
    }

    #[test]
    fn truncate_forgets_the_later_names_only() {
        let mut t = Interner::new();
        for n in [&b"a"[..], b"b", b"c", b"d"] {
            t.intern(n);
        }
        t.truncate(2);
        assert_eq!(t.len(), 2);
        assert_eq!((t.get(b"a"), t.get(b"b")), (Some(Sym(0)), Some(Sym(1))));
        assert_eq!((t.get(b"c"), t.get(b"d")), (None, None));
        // A fresh table would hand out the same ids.
        assert_eq!(t.intern(b"d"), Sym(2));
        assert_eq!(t.intern(b"c"), Sym(3));
        assert_eq!(t.get(b"d"), Some(Sym(2)));
    }
}
