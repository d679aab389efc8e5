//! Native code in evaluation: reads `allow-unsafe-native-code-during-evaluation` and
//! `plugin-files` from the configuration (`nix.conf`, `NIX_CONFIG`, the command line) and
//! loads the plugins, for any command that evaluates.
//!
//! Configuration is read as Nix 2.8 reads it: `$NIX_CONF_DIR/nix.conf` (default
//! `/etc/nix/nix.conf`), then the user files (`$NIX_USER_CONF_FILES`, or
//! `$XDG_CONFIG_HOME/nix/nix.conf` and the `nix/nix.conf` of each of `$XDG_CONFIG_DIRS`),
//! then `$NIX_CONFIG`, then the command line. `extra-NAME` appends to a list setting, and
//! `include` / `!include` read another file.

use crate::cli::CommonArgs;
use ferrix_plugins::NativeConfig;
use std::path::{Path, PathBuf};

/// The two settings, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeSettings {
    pub allow_unsafe_native_code: bool,
    pub plugin_files: Vec<String>,
}

impl NativeSettings {
    fn apply(&mut self, name: &str, value: &str) {
        let words = || value.split_whitespace().map(str::to_string);
        match name {
            "allow-unsafe-native-code-during-evaluation" => {
                if let Some(b) = parse_bool(value) {
                    self.allow_unsafe_native_code = b;
                }
            }
            "plugin-files" => self.plugin_files = words().collect(),
            "extra-plugin-files" => self.plugin_files.extend(words()),
            _ => {}
        }
    }

    /// Reads the configuration files and the environment, then the command line.
    pub fn from_config(common: &CommonArgs) -> NativeSettings {
        let mut s = NativeSettings::default();
        for file in config_files() {
            s.read_file(&file, 0);
        }
        if let Ok(text) = std::env::var("NIX_CONFIG") {
            s.read_text(&text, Path::new("."), 0);
        }
        for (name, value) in &common.settings {
            s.apply(name, value);
        }
        s
    }

    fn read_file(&mut self, path: &Path, depth: usize) -> bool {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let dir = path.parent().unwrap_or(Path::new("/"));
                self.read_text(&text, dir, depth);
                true
            }
            Err(_) => false,
        }
    }

    fn read_text(&mut self, text: &str, dir: &Path, depth: usize) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            if (first == "include" || first == "!include") && depth < 16 {
                if let Some(f) = words.next() {
                    let p = dir.join(f);
                    // A missing `!include` is fine; a missing `include` is ignored too here,
                    // since only these two settings are read.
                    self.read_file(&p, depth + 1);
                }
                continue;
            }
            if let Some((name, value)) = line.split_once('=') {
                self.apply(name.trim(), value.trim());
            }
        }
    }

    /// Loads the plugins; an error is rendered as Nix words it (without `error: `).
    pub fn load(&self) -> Result<NativeConfig, String> {
        Ok(NativeConfig {
            allow_unsafe_native_code: self.allow_unsafe_native_code,
            plugins: ferrix_plugins::load_plugin_files(&self.plugin_files)?,
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The configuration files Nix 2.8 reads, in order.
fn config_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let conf_dir = std::env::var("NIX_CONF_DIR").unwrap_or_else(|_| "/etc/nix".into());
    out.push(Path::new(&conf_dir).join("nix.conf"));
    if let Ok(files) = std::env::var("NIX_USER_CONF_FILES") {
        out.extend(
            files
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
        return out;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let config_home = std::env::var("XDG_CONFIG_HOME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{home}/.config"));
    let dirs = std::env::var("XDG_CONFIG_DIRS").unwrap_or_else(|_| "/etc/xdg".into());
    // Nix reads the system-wide XDG directories first, then the user's, so the user wins.
    for d in dirs.split(':').filter(|s| !s.is_empty()).rev() {
        out.push(Path::new(d).join("nix/nix.conf"));
    }
    out.push(Path::new(&config_home).join("nix/nix.conf"));
    out
}

/// Loads what the settings ask for, printing Nix's error and returning exit status 1 on
/// failure.
pub fn setup(common: &CommonArgs) -> Result<NativeConfig, i32> {
    NativeSettings::from_config(common).load().map_err(|msg| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "error: {msg}");
        1
    })
}

/// For an error about a missing `builtins.exec` or `builtins.importNative` (or their `__`
/// globals) while the setting is off, a note naming the setting, to print after the error.
pub fn hint(e: &ferrix_eval::error::EvalError, native: &NativeConfig) -> Option<String> {
    if native.allow_unsafe_native_code {
        return None;
    }
    let first = e.message.lines().next().unwrap_or("");
    let name = ["exec", "importNative"].into_iter().find(|n| {
        first.ends_with(&format!("attribute '{n}' missing"))
            || first.ends_with(&format!("undefined variable '__{n}'"))
    })?;
    Some(format!(
        "       note: 'builtins.{name}' exists only when the setting '{}' is true",
        ferrix_plugins::UNSAFE_SETTING
    ))
}

/// The evaluator's global names: Nix's, plus those the native configuration adds.
pub fn global_names(native: &NativeConfig) -> Vec<String> {
    let mut names: Vec<String> = ferrix_parser::NIX_GLOBALS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for n in native.global_names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lines() {
        let mut s = NativeSettings::default();
        s.read_text(
            "# comment\nplugin-files = /a.so /b.so\nextra-plugin-files = /c.so # more\n\
             allow-unsafe-native-code-during-evaluation = true\n",
            Path::new("/"),
            0,
        );
        assert_eq!(s.plugin_files, ["/a.so", "/b.so", "/c.so"]);
        assert!(s.allow_unsafe_native_code);
        s.apply("plugin-files", "");
        assert!(s.plugin_files.is_empty());
    }
}
