//! Values and thunks.
//!
//! A [`Value`] is 16 bytes: a tag and one word. Everything bigger (strings, sets, lists,
//! closures) lives in the evaluation's bumpalo arena behind a thin pointer, so values copy
//! freely. Laziness lives in [`Thunk`]s: arena cells overwritten with their value once forced.

use crate::env::Env;
use crate::error::EvalResult;
use crate::Evaluator;
use crate::Pos;
use ferrix_parser::ast::{Expr, Lambda};
use ferrix_parser::Sym;
use std::cell::Cell;

#[derive(Clone, Copy)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a NixStr<'a>),
    /// An absolute path (no context).
    Path(&'a NixStr<'a>),
    Attrs(&'a AttrSet<'a>),
    List(&'a List<'a>),
    Lambda(&'a Closure<'a>),
    PrimOp(&'a PrimOp),
    PrimOpApp(&'a PrimOpApp<'a>),
}

/// A string with its context: the store paths it refers to, in Nix's encoding (`/nix/store/…`
/// for a plain path, `=/nix/store/….drv` for all outputs of a derivation, `!out!/nix/store/….drv`
/// for one output).
pub struct NixStr<'a> {
    pub bytes: &'a [u8],
    pub context: &'a [&'a [u8]],
}

/// An attribute set: attributes sorted by symbol id.
pub struct AttrSet<'a> {
    pub attrs: &'a [Attr<'a>],
    /// Where a set literal was written (`Pos::NONE` for sets that operators and builtins
    /// make); builtins report errors about a set's contents there, as Nix does.
    pub pos: Pos,
}

#[derive(Clone, Copy)]
pub struct Attr<'a> {
    pub name: Sym,
    pub value: &'a Thunk<'a>,
    pub pos: Pos,
}

pub struct List<'a> {
    pub items: &'a [&'a Thunk<'a>],
}

pub struct Closure<'a> {
    pub lambda: &'a Lambda,
    pub env: &'a Env<'a>,
    /// Where the function is written.
    pub pos: Pos,
}

/// A built-in function: `arity` arguments, then `func` runs with all of them.
pub type PrimOpFn = for<'a> fn(&Evaluator<'a>, &[&'a Thunk<'a>], Pos) -> EvalResult<'a>;

pub struct PrimOp {
    pub name: &'static str,
    pub arity: usize,
    pub func: PrimOpFn,
    pub doc: &'static str,
}

pub struct PrimOpApp<'a> {
    pub op: &'a PrimOp,
    pub args: &'a [&'a Thunk<'a>],
}

/// A lazily evaluated value. Forcing overwrites it with its value; while it is being
/// forced it is a black hole, and forcing it again is infinite recursion.
pub struct Thunk<'a>(pub(crate) Cell<State<'a>>);

#[derive(Clone, Copy)]
pub(crate) enum State<'a> {
    Done(Value<'a>),
    Deferred(&'a Expr, &'a Env<'a>),
    /// `f x`, made by builtins such as `map`.
    Apply(&'a Thunk<'a>, &'a Thunk<'a>),
    /// `s.name`, for `inherit (s) name`.
    Select(&'a Thunk<'a>, Sym, Pos),
    /// The value of another thunk (a `rec` attribute replaced through `__overrides`).
    Forward(&'a Thunk<'a>),
    BlackHole,
}

impl<'a> Thunk<'a> {
    pub fn done(v: Value<'a>) -> Self {
        Thunk(Cell::new(State::Done(v)))
    }

    pub(crate) fn new(s: State<'a>) -> Self {
        Thunk(Cell::new(s))
    }

    /// Overwrites the thunk with a value (for values that refer to themselves).
    pub fn set(&self, v: Value<'a>) {
        self.0.set(State::Done(v));
    }

    /// The value if already forced.
    pub fn value(&self) -> Option<Value<'a>> {
        match self.0.get() {
            State::Done(v) => Some(v),
            _ => None,
        }
    }
}

impl<'a> Value<'a> {
    /// The type as `builtins.typeOf` names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => "lambda",
        }
    }

    /// The type as error messages show it ("an integer", "a set", …).
    pub fn show_type(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(_) => "a Boolean".into(),
            Value::Int(_) => "an integer".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(s) if !s.context.is_empty() => "a string with context".into(),
            Value::Str(_) => "a string".into(),
            Value::Path(_) => "a path".into(),
            Value::Attrs(_) => "a set".into(),
            Value::List(_) => "a list".into(),
            Value::Lambda(_) => "a function".into(),
            Value::PrimOp(p) => format!("the built-in function '{}'", p.name),
            Value::PrimOpApp(a) => {
                format!("the partially applied built-in function '{}'", a.op.name)
            }
        }
    }
}

impl<'a> AttrSet<'a> {
    pub fn get(&self, name: Sym) -> Option<&Attr<'a>> {
        self.attrs
            .binary_search_by_key(&name, |a| a.name)
            .ok()
            .map(|i| &self.attrs[i])
    }
}
