//! The builtins that are not functions: `true`, `false`, `null`, the versions, the store
//! directory, the system and time of impure evaluations, the search path, the `derivation`
//! wrapper (a Nix function) and the `builtins` set itself.

use crate::builtin::{constant, impure_constant, Builtin, ConstantValue, Global};
use crate::Config;
use ferrix_eval::value::{Attr, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};

use ConstantValue::Make;
use Global::{Plain, Prefixed};

/// Last of the tables: `derivation` imports a file that uses the builtin functions.
pub static BUILTINS: &[Builtin] = &[
    constant(
        Plain,
        "true",
        Make(|ev, _| ev.alloc_thunk(Value::Bool(true))),
    ),
    constant(
        Plain,
        "false",
        Make(|ev, _| ev.alloc_thunk(Value::Bool(false))),
    ),
    constant(Plain, "null", Make(|ev, _| ev.alloc_thunk(Value::Null))),
    constant(
        Prefixed,
        "langVersion",
        Make(|ev, _| ev.alloc_thunk(Value::Int(6))),
    ),
    constant(
        Prefixed,
        "nixVersion",
        Make(|ev, _| ev.alloc_thunk(ev.string(b"2.8.0"))),
    ),
    constant(Prefixed, "storeDir", Make(store_dir)),
    impure_constant(Prefixed, "currentSystem", Make(current_system)),
    impure_constant(Prefixed, "currentTime", Make(current_time)),
    constant(Prefixed, "nixPath", Make(nix_path)),
    constant(Plain, "derivation", Make(derivation)),
    constant(Plain, "builtins", ConstantValue::Builtins),
];

fn store_dir<'a>(ev: &Evaluator<'a>, config: &Config) -> &'a Thunk<'a> {
    ev.alloc_thunk(ev.string(config.store_dir.as_bytes()))
}

fn current_system<'a>(ev: &Evaluator<'a>, config: &Config) -> &'a Thunk<'a> {
    ev.alloc_thunk(ev.string(config.system.as_bytes()))
}

/// Seconds since the epoch, when the builtins are installed.
fn current_time<'a>(ev: &Evaluator<'a>, _: &Config) -> &'a Thunk<'a> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ev.alloc_thunk(Value::Int(now))
}

/// The search path as a list of `{ path; prefix; }`.
fn nix_path<'a>(ev: &Evaluator<'a>, config: &Config) -> &'a Thunk<'a> {
    let entries: Vec<&'a Thunk<'a>> = config
        .nix_path
        .iter()
        .map(|(prefix, path)| {
            let mut e = vec![
                Attr {
                    name: ev.intern(b"path"),
                    value: ev.alloc_thunk(ev.string(path.as_bytes())),
                    pos: Pos::NONE,
                },
                Attr {
                    name: ev.intern(b"prefix"),
                    value: ev.alloc_thunk(ev.string(prefix.as_bytes())),
                    pos: Pos::NONE,
                },
            ];
            e.sort_by_key(|a| a.name);
            ev.alloc_thunk(ev.make_attrs(e))
        })
        .collect();
    ev.alloc_thunk(ev.make_list(&entries))
}

/// `derivation`, written in Nix over `derivationStrict` (see `derivation::DERIVATION_NIX`).
fn derivation<'a>(ev: &Evaluator<'a>, _: &Config) -> &'a Thunk<'a> {
    ev.add_builtin_file(
        b"//builtin/derivation.nix",
        crate::derivation::DERIVATION_NIX.as_bytes(),
    );
    ev.import_file(std::path::Path::new("//builtin/derivation.nix"), None)
        .expect("the built-in derivation.nix parses")
}
