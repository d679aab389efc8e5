//! Debug builds: how much of the arena a set of roots still reaches, by kind of object.
//!
//! The arena frees nothing, so its size is everything ever allocated. This walk measures
//! the other side: what a collector would have to keep if it ran at a point where the only
//! references are `roots` and the evaluator's own tables. It is the measurement behind the
//! choice of a collector for the evaluator's heap (see `DESIGN.md`), and it runs only in
//! builds with debug assertions, because only they record a scope's slot count.

use crate::env::Env;
use crate::value::{Attr, AttrSet, Maker, State, Thunk, Value};
use crate::Evaluator;
use rustc_hash::FxHashSet;
use std::cell::Cell;

/// Reachable bytes by kind, counted as a release build lays the objects out.
#[derive(Debug, Default, Clone, Copy)]
pub struct Census {
    pub thunks: usize,
    pub scopes: usize,
    pub sets: usize,
    pub lists: usize,
    pub strings: usize,
    pub closures: usize,
    pub partial_apps: usize,
}

impl Census {
    pub fn total(&self) -> usize {
        self.thunks
            + self.scopes
            + self.sets
            + self.lists
            + self.strings
            + self.closures
            + self.partial_apps
    }
}

impl std::fmt::Display for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |n: usize| n as f64 / (1 << 20) as f64;
        write!(
            f,
            "reachable {:.1} MiB: thunks {:.1}, scopes {:.1}, sets {:.1}, lists {:.1}, \
             strings {:.1}, closures {:.1}, partial applications {:.1}",
            mib(self.total()),
            mib(self.thunks),
            mib(self.scopes),
            mib(self.sets),
            mib(self.lists),
            mib(self.strings),
            mib(self.closures),
            mib(self.partial_apps)
        )
    }
}

enum Item<'a> {
    Thunk(&'a Thunk<'a>),
    Value(Value<'a>),
    Env(Env<'a>),
    Set(&'a AttrSet<'a>),
}

struct Walk<'a> {
    seen: FxHashSet<usize>,
    todo: Vec<Item<'a>>,
    c: Census,
}

impl<'a> Walk<'a> {
    /// Whether `p` is seen for the first time.
    fn first<T: ?Sized>(&mut self, p: *const T) -> bool {
        self.seen.insert(p as *const () as usize)
    }

    fn run(&mut self) {
        while let Some(item) = self.todo.pop() {
            match item {
                Item::Thunk(t) => {
                    if !self.first(t) {
                        continue;
                    }
                    self.c.thunks += std::mem::size_of::<Thunk>();
                    match t.state() {
                        State::Done(v) => self.todo.push(Item::Value(v)),
                        State::Deferred(_, env) => self.todo.push(Item::Env(env)),
                        State::Apply(f, x) => {
                            self.todo.push(Item::Thunk(f));
                            self.todo.push(Item::Thunk(x));
                        }
                        State::ApplyAttr(f, a) => {
                            self.todo.push(Item::Thunk(f));
                            self.todo.push(Item::Thunk(a.value));
                        }
                        State::ApplyIndex(f, _) | State::Select(f, _, _) | State::Forward(f) => {
                            self.todo.push(Item::Thunk(f))
                        }
                        State::Arith(_, x) => self.todo.push(Item::Thunk(x)),
                        State::BlackHole => {}
                    }
                }
                Item::Env(env) => {
                    if !self.first(env.addr() as *const ()) {
                        continue;
                    }
                    let n = env.len();
                    // A release build's header is the enclosing scope's address alone.
                    self.c.scopes += 8 + 8 * n;
                    for i in 0..n {
                        self.todo.push(Item::Thunk(env.slot(i as u32)));
                    }
                    if let Some(up) = env.up() {
                        self.todo.push(Item::Env(up));
                    }
                }
                Item::Set(s) => {
                    if !self.first(s) {
                        continue;
                    }
                    self.c.sets += std::mem::size_of::<AttrSet>();
                    if let Some(l) = s.lazy_parts() {
                        self.c.sets += std::mem::size_of_val(l) + std::mem::size_of_val(l.made);
                        match l.maker {
                            Maker::Apply { f, source, names } => {
                                self.c.sets += names.map_or(0, std::mem::size_of_val);
                                self.todo.push(Item::Thunk(f));
                                self.todo.push(Item::Set(source));
                            }
                            Maker::Code { env, .. } => self.todo.push(Item::Env(env)),
                        }
                        for a in l.made.iter().filter_map(Cell::get) {
                            self.c.sets += std::mem::size_of::<Attr>();
                            self.todo.push(Item::Thunk(a.value));
                        }
                        continue;
                    }
                    match s.layers() {
                        Some(l) => {
                            self.c.sets += std::mem::size_of_val(l);
                            self.todo.push(Item::Set(l.top));
                            self.todo.push(Item::Set(l.bottom));
                        }
                        None => {
                            let attrs = s.flat();
                            if !attrs.is_empty() && self.first(attrs.as_ptr()) {
                                self.c.sets += std::mem::size_of_val(attrs);
                            }
                            for a in attrs {
                                self.todo.push(Item::Thunk(a.value));
                            }
                        }
                    }
                }
                Item::Value(v) => match v {
                    Value::Str(s) | Value::Path(s) => {
                        if !self.first(s) {
                            continue;
                        }
                        self.c.strings += std::mem::size_of_val(s);
                        if !s.bytes.is_empty() && self.first(s.bytes.as_ptr()) {
                            self.c.strings += s.bytes.len();
                        }
                        if !s.context.is_empty() && self.first(s.context.as_ptr()) {
                            self.c.strings += std::mem::size_of_val(s.context);
                            for c in s.context {
                                if !c.is_empty() && self.first(c.as_ptr()) {
                                    self.c.strings += c.len();
                                }
                            }
                        }
                    }
                    Value::Attrs(s) => self.todo.push(Item::Set(s)),
                    Value::List(l) => {
                        if !self.first(l) {
                            continue;
                        }
                        self.c.lists += std::mem::size_of_val(l);
                        if !l.items.is_empty() && self.first(l.items.as_ptr()) {
                            self.c.lists += std::mem::size_of_val(l.items);
                        }
                        for t in l.items {
                            self.todo.push(Item::Thunk(t));
                        }
                    }
                    Value::Lambda(c) => {
                        if self.first(c) {
                            self.c.closures += std::mem::size_of_val(c);
                            self.todo.push(Item::Env(c.env));
                        }
                    }
                    Value::PrimOpApp(app) => {
                        if self.first(app) {
                            self.c.partial_apps +=
                                std::mem::size_of_val(app) + std::mem::size_of_val(app.args);
                            for t in app.args {
                                self.todo.push(Item::Thunk(t));
                            }
                        }
                    }
                    Value::Null
                    | Value::Bool(_)
                    | Value::Int(_)
                    | Value::Float(_)
                    | Value::PrimOp(_) => {}
                },
            }
        }
    }
}

impl<'a> Evaluator<'a> {
    /// What `roots` and the evaluator's own tables (globals, imported files, literals,
    /// attribute-name strings) reach. Only meaningful where nothing else refers to the
    /// arena: between the items of a top-level value, say.
    pub fn census(&self, roots: &[Value<'a>]) -> Census {
        let mut w = Walk {
            seen: FxHashSet::default(),
            todo: roots.iter().map(|&v| Item::Value(v)).collect(),
            c: Census::default(),
        };
        let base = self.base.borrow();
        w.todo.extend(base.iter().map(|&t| Item::Thunk(t)));
        w.todo
            .extend(self.imports.borrow().values().map(|&t| Item::Thunk(t)));
        w.todo
            .extend(self.literals.borrow().values().map(|&t| Item::Thunk(t)));
        w.todo.extend(
            self.name_thunks
                .borrow()
                .iter()
                .flatten()
                .map(|&t| Item::Thunk(t)),
        );
        w.run();
        w.c
    }
}

#[cfg(test)]
mod tests {
    use crate::{Evaluator, Origin, Pos, Value};
    use bumpalo::Bump;

    fn eval<'a>(ev: &Evaluator<'a>, src: &str) -> Value<'a> {
        let e = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
        let v = ev.eval_code(e).unwrap();
        ev.force_deep(v, Pos::NONE).unwrap();
        v
    }

    /// What a value reaches is counted once, and garbage is not.
    #[test]
    fn counts_what_is_reachable_only() {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump).build();
        let empty = ev.census(&[]).total();
        // Lists made, compared and dropped: only the integer is left.
        let n = eval(
            &ev,
            "let f = i: [ i i i i i i i i i i ]; in if f 1 == f 2 || f 3 == f 3 then 1 else 2",
        );
        let after = ev.census(&[n]);
        assert_eq!(
            (after.lists, after.scopes, after.closures),
            (0, 0, 0),
            "{after}"
        );
        // The literals' shared thunks are all that is new.
        assert!(after.total() - empty <= 16 * 8, "{after}");
        // A list of 10 items, reached twice, is counted once: its 16-byte header, its 80
        // bytes of items, and the thunks (those of small integers are the evaluator's own).
        let l = eval(
            &ev,
            r#"let s = "a long string"; in [ s s s s s s s s s s ]"#,
        );
        let c = ev.census(&[l, l]);
        assert_eq!(c.lists, 16 + 80);
        assert!(c.strings >= "a long string".len(), "{c}");
        let set = eval(&ev, "let x = { a = [ 1 ]; b = 2; }; in x // { c = 3; }");
        let c = ev.census(&[set]);
        assert!(c.sets > 0 && c.lists == 16 + 8, "{c}");
    }
}
