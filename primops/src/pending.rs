//! `fetchMercurial`, which Ferrix does not implement (it needs the `hg` command, which
//! these machines do not have). It exists so that programs resolve as in Nix, and fails
//! with a clear message when called.

use crate::util::throw;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::PrimOp;
use ferrix_eval::Pos;

pub static PRIMOPS: &[PrimOp] = &[PrimOp {
    name: "fetchMercurial",
    arity: 1,
    transient: 0,
    func: |_ev, _args, pos| unavailable("fetchMercurial", pos),
    doc: "Fetches a Mercurial repository; not implemented by Ferrix.",
}];

fn unavailable<'a>(name: &str, pos: Pos) -> EvalResult<'a> {
    Err(throw(
        format!("'builtins.{name}' is not implemented by Ferrix: Mercurial repositories cannot be fetched"),
        pos,
    ))
}
