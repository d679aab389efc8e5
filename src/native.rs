//! Native code in evaluation: loads the plugins of `plugin-files` and honours
//! `allow-unsafe-native-code-during-evaluation`, as configured (`nix.conf`, `NIX_CONFIG`,
//! the command line; see `crate::config`), for any command that evaluates.

use crate::cli::CommonArgs;
use ferrix_plugins::NativeConfig;

/// Loads what the settings ask for, printing Nix's error and returning exit status 1 on
/// failure.
pub fn setup(common: &CommonArgs) -> Result<NativeConfig, i32> {
    let c = &common.config;
    let plugins = ferrix_plugins::load_plugin_files(&c.plugin_files).map_err(|msg| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "error: {msg}");
        1
    })?;
    Ok(NativeConfig {
        allow_unsafe_native_code: c.allow_unsafe_native_code_during_evaluation,
        plugins,
    })
}

/// For an error about a missing `builtins.exec` or `builtins.importNative` (or their `__`
/// globals) while the setting is off, a note naming the setting, to print after the error.
pub fn hint(e: &ferrix_eval::error::EvalError, native: &NativeConfig) -> Option<String> {
    if native.allow_unsafe_native_code {
        return None;
    }
    use ferrix_eval::error::Detail;
    use ferrix_parser::actions::ErrorKind;
    let name = ["exec", "importNative"]
        .into_iter()
        .find(|n| match &e.detail {
            Detail::MissingAttribute(a) => a == n,
            Detail::Parse {
                kind: ErrorKind::UndefinedVariable(v),
                ..
            } => v.strip_prefix("__") == Some(*n),
            _ => false,
        })?;
    Some(format!(
        "       note: 'builtins.{name}' exists only when the setting '{}' is true",
        ferrix_plugins::UNSAFE_SETTING
    ))
}

/// The native configuration as the REPL's extensions.
pub struct ReplNative(pub NativeConfig);

impl ferrix_repl::Extensions for ReplNative {
    fn global_names(&self) -> Vec<String> {
        self.0.global_names()
    }

    fn install(
        &self,
        ev: &ferrix_eval::Evaluator<'_>,
    ) -> Result<(), Box<ferrix_eval::error::EvalError>> {
        self.0.install(ev)
    }
}
