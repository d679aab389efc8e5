//! How a builtin is declared, and the views made from the declarations.
//!
//! Each builtin is declared once, as a [`Builtin`] in the table of the module that implements
//! it: its name, its arity and laziness (the [`PrimOp`]'s `arity` and `transient`), its
//! documentation (the `PrimOp`'s `doc`, see [`crate::docs`]), and whether the global scope
//! has it under its own name or as `__name`. Nothing else names it. From the tables come:
//!
//! - the names the parser resolves as globals ([`global_names`]), which the evaluator's
//!   builder takes before any file is parsed;
//! - the values of those globals, and the `builtins` set ([`install`]);
//! - the REPL's `:doc`, which reads the `doc` of the `PrimOp` value it is given: the very
//!   declaration, as the global and the attribute of `builtins` hold the table's `PrimOp`.

use crate::Config;
use ferrix_eval::value::{Attr, PrimOp, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use std::borrow::Cow;

/// One builtin: a function or a constant, and its name in the global scope.
pub struct Builtin {
    pub global: Global,
    pub item: Item,
}

/// The name under which the global scope has a builtin (it is `builtins.name` either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `__name`, as for most builtins (`__length`, `__attrNames`).
    Prefixed,
    /// `name` itself, as for the few Nix 2.8 makes global that way (`map`, `import`,
    /// `toString`, `true`, `builtins`, …); there is no `__name` then.
    Plain,
}

/// What a builtin is.
pub enum Item {
    /// A function implemented in Rust.
    Function(PrimOp),
    /// A value that is not a builtin function.
    Constant(Constant),
}

/// A builtin that is a value made when the builtins are installed.
pub struct Constant {
    pub name: &'static str,
    /// Left out of pure evaluation, where Nix 2.8 does not define it at all (so that
    /// `__currentSystem` is an undefined variable there, and `builtins ? currentSystem` is
    /// false).
    pub impure: bool,
    pub value: ConstantValue,
}

/// How the value of a [`Constant`] is made.
pub enum ConstantValue {
    /// By a function of the evaluator and the evaluation's settings.
    Make(for<'a> fn(&Evaluator<'a>, &Config) -> &'a Thunk<'a>),
    /// The set of all builtins, itself included.
    Builtins,
}

/// A builtin function that the global scope has as `__name`.
pub const fn prefixed(op: PrimOp) -> Builtin {
    Builtin {
        global: Global::Prefixed,
        item: Item::Function(op),
    }
}

/// A builtin function that the global scope has under its own name.
pub const fn plain(op: PrimOp) -> Builtin {
    Builtin {
        global: Global::Plain,
        item: Item::Function(op),
    }
}

/// A constant that the global scope has under `global`.
pub const fn constant(global: Global, name: &'static str, value: ConstantValue) -> Builtin {
    Builtin {
        global,
        item: Item::Constant(Constant {
            name,
            impure: false,
            value,
        }),
    }
}

/// A constant that pure evaluation leaves out (see [`Constant::impure`]).
pub const fn impure_constant(global: Global, name: &'static str, value: ConstantValue) -> Builtin {
    Builtin {
        global,
        item: Item::Constant(Constant {
            name,
            impure: true,
            value,
        }),
    }
}

impl Builtin {
    /// Its name in `builtins`.
    pub fn name(&self) -> &'static str {
        match &self.item {
            Item::Function(op) => op.name,
            Item::Constant(c) => c.name,
        }
    }

    /// Its name in the global scope.
    pub fn global_name(&self) -> Cow<'static, str> {
        match self.global {
            Global::Plain => Cow::Borrowed(self.name()),
            Global::Prefixed => Cow::Owned(format!("__{}", self.name())),
        }
    }

    /// Whether an evaluation with `config` has it.
    pub fn defined(&self, config: &Config) -> bool {
        match &self.item {
            Item::Function(_) => true,
            Item::Constant(c) => !(c.impure && config.pure),
        }
    }
}

/// The declarations of `tables` that an evaluation with `config` has.
fn defined<'t>(
    tables: &'t [&'static [Builtin]],
    config: &'t Config,
) -> impl Iterator<Item = &'static Builtin> + 't {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .filter(|b| b.defined(config))
}

/// The global names of the builtins of `tables` that an evaluation with `config` has, by
/// name: the order in which they are interned, and so their symbols and global slots, does
/// not depend on which module declares what.
pub fn global_names(tables: &[&'static [Builtin]], config: &Config) -> Vec<String> {
    let mut builtins: Vec<&Builtin> = defined(tables, config).collect();
    builtins.sort_by_key(|b| b.name());
    builtins
        .iter()
        .map(|b| b.global_name().into_owned())
        .collect()
}

/// Gives the globals that [`global_names`] named their values, and makes the `builtins`
/// set, in the order of `tables` (a constant made by a function may use the builtins
/// before it).
pub fn install<'a>(ev: &Evaluator<'a>, config: &Config, tables: &[&'static [Builtin]]) {
    let mut attrs: Vec<Attr<'a>> = Vec::new();
    let mut builtins_set: Vec<&'a Thunk<'a>> = Vec::new();
    for b in defined(tables, config) {
        let value = match &b.item {
            Item::Function(op) => ev.alloc_thunk(Value::PrimOp(op)),
            Item::Constant(Constant {
                value: ConstantValue::Make(make),
                ..
            }) => make(ev, config),
            Item::Constant(Constant {
                value: ConstantValue::Builtins,
                ..
            }) => {
                let t = ev.alloc_thunk(Value::Null);
                builtins_set.push(t);
                t
            }
        };
        ev.set_global(&b.global_name(), value);
        attrs.push(Attr {
            name: ev.intern(b.name().as_bytes()),
            value,
            pos: Pos::NONE,
        });
    }
    attrs.sort_by_key(|a| a.name);
    debug_assert!(
        attrs.windows(2).all(|w| w[0].name != w[1].name),
        "a builtin is declared twice"
    );
    let set = ev.make_attrs(attrs);
    for t in builtins_set {
        t.set(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WithBuiltins;
    use ferrix_eval::error::EvalResult;
    use ferrix_parser::Origin;

    fn twice<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
        match ev.force(args[0], pos)? {
            Value::Int(n) => Ok(Value::Int(2 * n)),
            _ => Ok(Value::Null),
        }
    }

    /// A whole set of builtins, each declared once.
    static TINY: &[Builtin] = &[
        prefixed(PrimOp {
            name: "twice",
            arity: 1,
            // SAFETY: the test builtin returns a new value made from its forced argument.
            transient: unsafe { ferrix_eval::value::Transient::new(1) },
            func: twice,
            doc: "twice n\n\nTwice `n`.",
        }),
        plain(PrimOp {
            name: "double",
            arity: 1,
            // SAFETY: the test builtin returns a new value made from its forced argument.
            transient: unsafe { ferrix_eval::value::Transient::new(1) },
            func: twice,
            doc: "double n\n\nAlso twice `n`.",
        }),
        constant(
            Global::Prefixed,
            "answer",
            ConstantValue::Make(|ev, _| ev.alloc_thunk(Value::Int(42))),
        ),
        impure_constant(
            Global::Prefixed,
            "clock",
            ConstantValue::Make(|ev, _| ev.alloc_thunk(Value::Int(7))),
        ),
        constant(Global::Plain, "builtins", ConstantValue::Builtins),
    ];

    /// Evaluates each of `exprs` with the builtins of `tables`, as Nix prints the results
    /// (or the error's message).
    fn eval_all(tables: &[&'static [Builtin]], config: &Config, exprs: &[&str]) -> Vec<String> {
        let bump = bumpalo::Bump::new();
        let ev = Evaluator::builder(&bump)
            .globals(global_names(tables, config))
            .install(|ev| install(ev, config, tables))
            .build();
        exprs
            .iter()
            .map(|e| {
                match ev
                    .eval_text(e.as_bytes(), Origin::String, b"/")
                    .and_then(|v| ev.force_deep(v, Pos::NONE).map(|()| v))
                {
                    Ok(v) => {
                        let mut out = Vec::new();
                        ev.print_value(v, &mut out);
                        String::from_utf8(out).unwrap()
                    }
                    Err(e) => e.message.clone(),
                }
            })
            .collect()
    }

    fn impure() -> Config {
        Config::default()
    }

    fn pure() -> Config {
        Config {
            pure: true,
            ..Config::default()
        }
    }

    /// One declaration gives the parser's name, the global, the attribute of `builtins` and
    /// the documentation; a constant declared impure is absent from all of them in pure
    /// evaluation.
    #[test]
    fn one_declaration_feeds_every_view() {
        assert_eq!(
            global_names(&[TINY], &impure()),
            ["__answer", "builtins", "__clock", "double", "__twice"]
        );
        assert_eq!(
            global_names(&[TINY], &pure()),
            ["__answer", "builtins", "double", "__twice"]
        );
        let exprs = [
            "__twice 2",
            "builtins.twice 3",
            "twice",
            "double 4",
            "builtins.double 5",
            "__double",
            "[ __answer builtins.answer builtins.builtins.answer ]",
            "[ __clock builtins.clock ]",
            "builtins ? clock",
            "builtins ? map",
        ];
        assert_eq!(
            eval_all(&[TINY], &impure(), &exprs),
            [
                "4",
                "6",
                "undefined variable 'twice'",
                "8",
                "10",
                "undefined variable '__double'",
                "[ 42 42 42 ]",
                "[ 7 7 ]",
                "true",
                "false"
            ]
        );
        let pure_results = eval_all(&[TINY], &pure(), &exprs);
        assert_eq!(pure_results[7], "undefined variable '__clock'");
        assert_eq!(pure_results[8], "false");
        // The documentation is that of the declaration, which the values are.
        let bump = bumpalo::Bump::new();
        let config = impure();
        let ev = Evaluator::builder(&bump)
            .globals(global_names(&[TINY], &config))
            .install(|ev| install(ev, &config, &[TINY]))
            .build();
        for text in ["__twice", "builtins.twice"] {
            let Ok(Value::PrimOp(op)) = ev.eval_text(text.as_bytes(), Origin::String, b"/") else {
                panic!("{text} is not a builtin function");
            };
            let Item::Function(declared) = &TINY[0].item else {
                unreachable!()
            };
            assert!(std::ptr::eq(op, declared));
            assert_eq!(
                crate::docs::split_usage(op.name, op.doc),
                (Some("n"), "Twice `n`.")
            );
        }
    }

    fn all() -> impl Iterator<Item = &'static Builtin> {
        crate::tables().into_iter().flat_map(|t| t.iter())
    }

    #[test]
    fn names_are_declared_once() {
        let mut names: Vec<&str> = all().map(Builtin::name).collect();
        names.sort_unstable();
        for w in names.windows(2) {
            assert_ne!(w[0], w[1], "'{}' is declared twice", w[0]);
        }
        // Nix 2.8's 109 builtins: 98 functions and 11 other values.
        assert_eq!(names.len(), 109);
    }

    /// Same value: the same thunk gives equal scalars and the same pointers.
    fn same<'a>(a: Value<'a>, b: Value<'a>) -> bool {
        use std::ptr::eq;
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => eq(x, y),
            (Value::List(x), Value::List(y)) => eq(x, y),
            (Value::Attrs(x), Value::Attrs(y)) => eq(x, y),
            (Value::Lambda(x), Value::Lambda(y)) => eq(x, y),
            (Value::PrimOp(x), Value::PrimOp(y)) => eq(x, y),
            _ => false,
        }
    }

    /// Every builtin is in `builtins` and in the global scope under its global name, both
    /// being the declared function or the same value; the parser accepts no other global
    /// name. In pure evaluation, the impure constants are in neither.
    #[test]
    fn every_declaration_is_reachable_and_nothing_else_is_global() {
        for config in [impure(), pure()] {
            let bump = bumpalo::Bump::new();
            let ev = Evaluator::builder(&bump).builtins(&config).build();
            let mut globals: Vec<String> = ev
                .globals()
                .names()
                .iter()
                .map(|s| ev.sym_name(*s))
                .collect();
            let eval = |text: &str| {
                ev.eval_text(text.as_bytes(), Origin::String, b"/")
                    .unwrap_or_else(|e| panic!("{text}: {}", e.message))
            };
            let Value::Attrs(set) = eval("builtins") else {
                panic!("builtins is not a set")
            };
            let mut n = 0;
            for b in all() {
                let name = b.name();
                let attr = set.get(ev.intern(name.as_bytes()));
                if !b.defined(&config) {
                    assert!(attr.is_none(), "builtins.{name} in pure evaluation");
                    assert!(!globals.contains(&b.global_name().into_owned()));
                    continue;
                }
                n += 1;
                let attr = attr.unwrap_or_else(|| panic!("builtins.{name} is missing"));
                let in_set = ev.force(attr.value, Pos::NONE).unwrap();
                let global = eval(&b.global_name());
                assert!(
                    same(in_set, global),
                    "builtins.{name} is not {}",
                    b.global_name()
                );
                if let Item::Function(op) = &b.item {
                    assert!(
                        matches!(global, Value::PrimOp(g) if std::ptr::eq(g, op)),
                        "{name}"
                    );
                }
                let i = globals
                    .iter()
                    .position(|g| *g == b.global_name())
                    .unwrap_or_else(|| panic!("{} is not global", b.global_name()));
                globals.swap_remove(i);
            }
            assert_eq!(set.attrs().len(), n);
            assert!(globals.is_empty(), "undeclared globals: {globals:?}");
            // A plain global has no `__name` twin.
            assert!(ev.eval_text(b"__map", Origin::String, b"/").is_err());
        }
    }
}
