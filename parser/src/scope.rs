//! Nix's static scoping, written once.
//!
//! [`Scopes`] is the stack of scopes open at a point of a program, and [`Scopes::lookup`]
//! says where a name is bound there. Two passes walk a program with it, each pushing the
//! scopes it meets:
//! - the parser's resolver ([`crate::resolve`]), which reports an undefined variable at
//!   parse time as Nix does, and decides where an operator stands for the builtin it is
//!   named after;
//! - the evaluator's compile step, which turns each [`Binding`] into the slot its
//!   environments are read at.
//!
//! So both answer "is this variable defined, and where" with the same code, and cannot
//! disagree.
//!
//! Numbering, which the evaluator builds its environments by:
//! - a function's scope holds its `@` argument (if any) at index 0, then its formals in the
//!   order they were pushed (sorted by symbol);
//! - a `let` or `rec` set's scope, and the names a `scopedImport` adds, hold their names in
//!   the order pushed (sorted by symbol);
//! - a `with` scope binds no name but counts as a level.
//!
//! A [`Binding::Local`]'s `index` is always below the size of the scope `up` levels out, as
//! pushed: `lookup` only returns the position of a name it found in that scope.

use crate::symbol::{Interner, Sym};

/// The names of the global base environment, in their slot order.
#[derive(Debug, Clone)]
pub struct Globals {
    names: Vec<Sym>,
    /// Symbol id → global slot, for the symbols that are globals.
    slot_of: Vec<u32>,
    pub(crate) sub: Sym,
    pub(crate) mul: Sym,
    pub(crate) div: Sym,
    pub(crate) less_than: Sym,
}

const NOT_GLOBAL: u32 = u32::MAX;

impl Globals {
    /// Interns `names` (which must include the operator builtins `__sub`, `__mul`, `__div`
    /// and `__lessThan`) as the global scope.
    pub fn new<'n>(symbols: &mut Interner, names: impl IntoIterator<Item = &'n str>) -> Self {
        let names: Vec<Sym> = names
            .into_iter()
            .map(|n| symbols.intern(n.as_bytes()))
            .collect();
        let mut slot_of = Vec::new();
        for (i, s) in names.iter().enumerate() {
            let id = s.0 as usize;
            if slot_of.len() <= id {
                slot_of.resize(id + 1, NOT_GLOBAL);
            }
            slot_of[id] = i as u32;
        }
        Globals {
            names,
            slot_of,
            sub: symbols.intern(b"__sub"),
            mul: symbols.intern(b"__mul"),
            div: symbols.intern(b"__div"),
            less_than: symbols.intern(b"__lessThan"),
        }
    }

    pub fn names(&self) -> &[Sym] {
        &self.names
    }

    pub fn slot(&self, s: Sym) -> Option<u32> {
        match self.slot_of.get(s.0 as usize) {
            Some(&i) if i != NOT_GLOBAL => Some(i),
            _ => None,
        }
    }
}

/// Where a name is bound at some point of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// `up` scopes out (0 = innermost), entry `index` of that scope.
    Local { up: u32, index: u32 },
    /// Not bound lexically, but under a `with`: looked up at run time in the `with` scope
    /// `up` levels out, then in the `with`s around it.
    With { up: u32 },
    /// A name of the global base environment (`builtins`, `map`, `__add`, …).
    Global(u32),
}

#[derive(Clone, Copy)]
enum Kind {
    Lambda { arg: Option<Sym> },
    Names,
    With,
}

#[derive(Clone, Copy)]
struct Frame {
    kind: Kind,
    start: u32,
    len: u32,
}

/// The scopes open at one point of a program, innermost last, around the globals.
pub struct Scopes<'g> {
    globals: &'g Globals,
    /// The names of all open scopes; each frame's slice must be sorted by symbol.
    names: Vec<Sym>,
    frames: Vec<Frame>,
}

impl<'g> Scopes<'g> {
    /// No scope open but the globals.
    pub fn new(globals: &'g Globals) -> Self {
        Scopes {
            globals,
            names: Vec::new(),
            frames: Vec::new(),
        }
    }

    pub fn globals(&self) -> &'g Globals {
        self.globals
    }

    fn push(&mut self, kind: Kind, names: impl IntoIterator<Item = Sym>) {
        let start = self.names.len();
        self.names.extend(names);
        debug_assert!(
            self.names[start..].windows(2).all(|w| w[0] <= w[1]),
            "a scope's names are pushed sorted"
        );
        self.frames.push(Frame {
            kind,
            start: start as u32,
            len: (self.names.len() - start) as u32,
        });
    }

    /// Opens a function's scope: its `@` argument, then its formals (sorted by symbol).
    pub fn push_lambda(&mut self, arg: Option<Sym>, formals: impl IntoIterator<Item = Sym>) {
        self.push(Kind::Lambda { arg }, formals);
    }

    /// Opens the scope of a `let`, a `rec` set or a `scopedImport` (names sorted by symbol).
    pub fn push_names(&mut self, names: impl IntoIterator<Item = Sym>) {
        self.push(Kind::Names, names);
    }

    /// Opens a `with`'s scope.
    pub fn push_with(&mut self) {
        self.push(Kind::With, std::iter::empty());
    }

    /// Closes the innermost scope.
    pub fn pop(&mut self) {
        if let Some(f) = self.frames.pop() {
            self.names.truncate(f.start as usize);
        }
    }

    /// The innermost binding of `name`: lexical scopes first, then the globals, then the
    /// innermost `with`. `None` is Nix's "undefined variable".
    pub fn lookup(&self, name: Sym) -> Option<Binding> {
        let mut with_up = None;
        for (up, f) in self.frames.iter().rev().enumerate() {
            let up = up as u32;
            let names = &self.names[f.start as usize..(f.start + f.len) as usize];
            let shift = match f.kind {
                Kind::With => {
                    with_up.get_or_insert(up);
                    continue;
                }
                Kind::Lambda { arg: Some(a) } if a == name => {
                    return Some(Binding::Local { up, index: 0 });
                }
                Kind::Lambda { arg } => arg.is_some() as u32,
                Kind::Names => 0,
            };
            if let Ok(i) = names.binary_search(&name) {
                let index = i as u32 + shift;
                return Some(Binding::Local { up, index });
            }
        }
        if let Some(g) = self.globals.slot(name) {
            return Some(Binding::Global(g));
        }
        with_up.map(|up| Binding::With { up })
    }
}
