//! The builtins of Nix 2.8.
//!
//! [`install`] puts every builtin into an [`Evaluator`]'s global scope: under `__name` (or the
//! plain name for the few Nix makes global that way) and in the `builtins` set. Each module
//! contributes a table of [`PrimOp`]s.

mod attrs;
mod control;
pub mod derivation;
pub mod docs;
pub mod fetch;
pub mod hash;
pub mod json;
mod lists;
mod paths;
mod pending;
pub mod regex;
mod store_builtins;
pub mod store_session;
mod strings_basic;
pub mod toml;
pub mod util;
pub mod xml;

use ferrix_eval::value::{Attr, PrimOp, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use ferrix_parser::NIX_GLOBALS;

/// Settings of the evaluation that builtins read.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `-I` entries, then `NIX_PATH`'s, as `(prefix, path)`.
    pub nix_path: Vec<(String, String)>,
    pub store_dir: String,
    pub system: String,
    /// Pure evaluation: no `currentTime` and no `currentSystem`.
    pub pure: bool,
}

/// `PREFIX=PATH` or `PATH` as a search-path entry.
fn search_entry(entry: &str) -> (String, String) {
    match entry.split_once('=') {
        Some((prefix, path)) => (prefix.to_string(), path.to_string()),
        None => (String::new(), entry.to_string()),
    }
}

impl Config {
    /// The search path from `-I` arguments and `NIX_PATH`, as Nix 2.8 builds it.
    pub fn from_env(include: &[String]) -> Self {
        let mut nix_path = Vec::new();
        let env = std::env::var("NIX_PATH").unwrap_or_default();
        for entry in include
            .iter()
            .map(String::as_str)
            .chain(env.split(':').filter(|s| !s.is_empty()))
        {
            nix_path.push(search_entry(entry));
        }
        Config {
            nix_path,
            store_dir: ferrix_store::path::env_store_dir().unwrap_or_else(|| "/nix/store".into()),
            system: ferrix_store::settings::default_system(),
            pure: false,
        }
    }

    /// The configuration Nix 2.8 evaluates with: the search path is the `-I` entries, then
    /// the `nix-path` setting (whose default is `NIX_PATH`), and is empty in pure mode.
    pub fn new(include: &[String], nix_path: &[String], system: &str, pure: bool) -> Self {
        let nix_path = if pure {
            Vec::new()
        } else {
            include
                .iter()
                .chain(nix_path)
                .map(|e| search_entry(e))
                .collect()
        };
        Config {
            nix_path,
            store_dir: ferrix_store::path::env_store_dir().unwrap_or_else(|| "/nix/store".into()),
            system: system.to_owned(),
            pure,
        }
    }
}

fn tables() -> [&'static [PrimOp]; 14] {
    [
        attrs::PRIMOPS,
        control::PRIMOPS,
        derivation::PRIMOPS,
        fetch::PRIMOPS,
        hash::PRIMOPS,
        json::PRIMOPS,
        lists::PRIMOPS,
        paths::PRIMOPS,
        pending::PRIMOPS,
        regex::PRIMOPS,
        store_builtins::PRIMOPS,
        strings_basic::PRIMOPS,
        toml::PRIMOPS,
        xml::PRIMOPS,
    ]
}

/// The global name of a builtin: `__name`, unless Nix makes it global under its own name.
fn global_name(name: &str) -> String {
    if NIX_GLOBALS.contains(&name) {
        name.to_string()
    } else {
        format!("__{name}")
    }
}

/// Installs the builtins and constants into the evaluator's global scope.
pub fn install<'a>(ev: &Evaluator<'a>, config: &Config) {
    let mut attrs: Vec<Attr<'a>> = Vec::new();
    let nowhere = Pos::NONE;
    let mut add = |name: &str, t: &'a Thunk<'a>| {
        ev.set_global(&global_name(name), t);
        attrs.push(Attr {
            name: ev.intern(name.as_bytes()),
            value: t,
            pos: nowhere,
        });
    };
    for table in tables() {
        for op in table {
            // Each builtin carries its documentation from the `docs` table.
            let op: &'a PrimOp = match docs::lookup(op.name) {
                Some(doc) => ev.bump().alloc(PrimOp {
                    name: op.name,
                    arity: op.arity,
                    transient: op.transient,
                    func: op.func,
                    doc,
                }),
                None => op,
            };
            add(op.name, ev.alloc_thunk(Value::PrimOp(op)));
        }
    }
    add("true", ev.alloc_thunk(Value::Bool(true)));
    add("false", ev.alloc_thunk(Value::Bool(false)));
    add("null", ev.alloc_thunk(Value::Null));
    add("langVersion", ev.alloc_thunk(Value::Int(6)));
    add("nixVersion", ev.alloc_thunk(ev.string(b"2.8.0")));
    add(
        "storeDir",
        ev.alloc_thunk(ev.string(config.store_dir.as_bytes())),
    );
    if !config.pure {
        add(
            "currentSystem",
            ev.alloc_thunk(ev.string(config.system.as_bytes())),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        add("currentTime", ev.alloc_thunk(Value::Int(now)));
    }
    let entries: Vec<&'a Thunk<'a>> = config
        .nix_path
        .iter()
        .map(|(prefix, path)| {
            let mut e = vec![
                Attr {
                    name: ev.intern(b"path"),
                    value: ev.alloc_thunk(ev.string(path.as_bytes())),
                    pos: nowhere,
                },
                Attr {
                    name: ev.intern(b"prefix"),
                    value: ev.alloc_thunk(ev.string(prefix.as_bytes())),
                    pos: nowhere,
                },
            ];
            e.sort_by_key(|a| a.name);
            ev.alloc_thunk(ev.make_attrs(e))
        })
        .collect();
    add("nixPath", ev.alloc_thunk(ev.make_list(&entries)));
    ev.add_builtin_file(
        b"//builtin/derivation.nix",
        derivation::DERIVATION_NIX.as_bytes(),
    );
    // `derivation` is written in Nix, over `derivationStrict`; it needs the globals above.
    ev.add_builtin_file(
        b"/__corepkgs__/fetchurl.nix",
        derivation::FETCHURL_NIX.as_bytes(),
    );
    let wrapper = ev
        .import_file(std::path::Path::new("//builtin/derivation.nix"), None)
        .expect("the built-in derivation.nix parses");
    add("derivation", wrapper);
    // `builtins` contains itself.
    let builtins: &'a Thunk<'a> = ev.alloc_thunk(Value::Null);
    add("builtins", builtins);
    attrs.sort_by_key(|a| a.name);
    attrs.dedup_by_key(|a| a.name);
    builtins.set(ev.make_attrs(attrs));
}
