//! The fetchers, which need the network and a store Ferrix does not have yet. They exist, so that
//! programs resolve as in Nix, and fail with a clear message when called.

use crate::util::throw;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::PrimOp;
use ferrix_eval::Pos;

macro_rules! needs_store {
    ($($name:literal / $arity:literal),* $(,)?) => {
        pub static PRIMOPS: &[PrimOp] = &[
            $(PrimOp {
                name: $name,
                arity: $arity,
                transient: 0,
                func: |_ev, _args, pos| unavailable($name, pos),
                doc: "Needs the Nix store, which Ferrix does not have yet.",
            }),*
        ];
    };
}

needs_store!("fetchMercurial" / 1, "fetchTree" / 1,);

fn unavailable<'a>(name: &str, pos: Pos) -> EvalResult<'a> {
    Err(throw(
        format!("'builtins.{name}' is not implemented yet: it needs the Nix store"),
        pos,
    ))
}
