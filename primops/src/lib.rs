//! The builtins of Nix 2.8.
//!
//! Each module declares the builtins it implements in a table of [`Builtin`]s (see
//! [`builtin`]); [`tables`] lists the tables. An evaluator gets them through
//! [`WithBuiltins::builtins`] on its builder, which gives the parser their global names and
//! installs their values in the global scope and in the `builtins` set.

mod attrs;
pub mod builtin;
mod constants;
mod control;
pub mod derivation;
pub mod docs;
pub mod fetch;
pub mod hash;
pub mod json;
mod lists;
mod paths;
pub mod regex;
mod store_builtins;
pub mod store_session;
mod strings_basic;
pub mod toml;
pub mod util;
pub mod xml;

pub use builtin::{Builtin, Global, Item};
use ferrix_eval::{Evaluator, EvaluatorBuilder};

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

/// The tables of all builtins, in the order they are installed.
pub fn tables() -> [&'static [Builtin]; 14] {
    [
        attrs::BUILTINS,
        control::BUILTINS,
        derivation::BUILTINS,
        fetch::BUILTINS,
        hash::BUILTINS,
        json::BUILTINS,
        lists::BUILTINS,
        paths::BUILTINS,
        regex::BUILTINS,
        store_builtins::BUILTINS,
        strings_basic::BUILTINS,
        toml::BUILTINS,
        xml::BUILTINS,
        // Last: `derivation` is made by importing a file that uses the builtins above.
        constants::BUILTINS,
    ]
}

/// The names of the global scope of an evaluation with `config`: every builtin's, under
/// `__name` unless Nix 2.8 makes it global under its own name. For what parses files
/// without an evaluator; evaluators get them through [`WithBuiltins::builtins`].
pub fn global_names(config: &Config) -> Vec<String> {
    builtin::global_names(&tables(), config)
}

/// Installs the builtins in an evaluator made with [`global_names`] of the same `config`:
/// their values in the global scope and the `builtins` set.
fn install<'a>(ev: &Evaluator<'a>, config: &Config) {
    ev.add_builtin_file(
        b"/__corepkgs__/fetchurl.nix",
        derivation::FETCHURL_NIX.as_bytes(),
    );
    builtin::install(ev, config, &tables());
}

/// Nix's builtins for an evaluator being assembled.
pub trait WithBuiltins<'b>: Sized {
    /// Adds the builtins' names to the global scope (before the names added after this
    /// call) and the step that installs their values in it and in the `builtins` set.
    fn builtins(self, config: &'b Config) -> Self;
}

impl<'a, 'b> WithBuiltins<'b> for EvaluatorBuilder<'a, 'b> {
    fn builtins(self, config: &'b Config) -> Self {
        self.globals(global_names(config))
            .install(move |ev| install(ev, config))
    }
}
