//! What the builtin integration tests share: an evaluator with the builtins installed, and
//! a table check of printed results and error messages against Nix 2.8's.
#![allow(dead_code)]

pub use ferrix_eval::error::EvalError;
pub use ferrix_eval::{Evaluator, Pos};
pub use ferrix_parser::Origin;
use ferrix_primops::WithBuiltins;

/// Where Nix has no position (`noPos`).
pub const NOWHERE: Pos = Pos::NONE;

/// A position as Nix shows it after "at" for an `-E` expression.
pub fn show(ev: &Evaluator<'_>, p: Pos) -> String {
    let (_, line, column) = ev.pos_parts(p);
    format!("«string»:{line}:{column}")
}

pub fn with_evaluator<R>(f: impl for<'a> FnOnce(&Evaluator<'a>) -> R) -> R {
    let bump = bumpalo::Bump::new();
    let ev = Evaluator::builder(&bump)
        .builtins(&ferrix_primops::Config::from_env(&[]))
        .build();
    f(&ev)
}

/// `nix-instantiate --eval --strict -E text`: the printed value, or the error's message
/// and position.
pub fn eval_strict(text: &str) -> Result<String, (String, Option<String>)> {
    with_evaluator(|ev| {
        let fail = |e: Box<EvalError>| (e.message.clone(), e.pos.map(|p| show(ev, p)));
        let v = ev
            .eval_text(text.as_bytes(), Origin::String, b"/tmp")
            .map_err(fail)?;
        ev.force_deep(v, NOWHERE).map_err(fail)?;
        let mut out = Vec::new();
        ev.print_value(v, &mut out);
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
}

pub fn check_table(ok: &[(&str, &str)], err: &[(&str, &str, Option<&str>)]) {
    let mut failures = Vec::new();
    for &(text, expected) in ok {
        let got = eval_strict(text);
        if got.as_deref() != Ok(expected) {
            failures.push(format!("{text}\n  expected {expected}\n  got      {got:?}"));
        }
    }
    for &(text, message, pos) in err {
        let expected = Err((message.to_string(), pos.map(str::to_string)));
        let got = eval_strict(text);
        if got != expected {
            failures.push(format!(
                "{text}\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
