//! The settings a command runs with: Nix 2.8's defaults, `nix.conf` and the user's files,
//! `NIX_CONFIG`, then the command line (`--option`, `--NAME`, `--extra-NAME`, and the legacy
//! flags), as `ferrix_store::settings` declares them.

use crate::cli::CommonArgs;
use ferrix_store::settings::{self, Origin, SettingError, Settings, Support};

/// Whether `value` of a setting Ferrix does not implement yet only turns its feature off,
/// which is what Ferrix does anyway: an empty list, `false`, `0` or an empty string.
fn is_off(value: &str) -> bool {
    matches!(value.trim(), "" | "false" | "0")
}

/// Reads the configuration and applies the command line over it. A command-line value
/// for a setting whose feature Ferrix lacks is refused unless it is the default or turns
/// the feature off, so that no flag is silently ignored.
pub fn resolve(common: &CommonArgs) -> Result<Settings, SettingError> {
    let mut s = Settings::load()?;
    let defaults = Settings::default();
    for (name, value) in &common.settings {
        s.set(name, value, Origin::CommandLine)?;
        let base = name.strip_prefix("extra-").unwrap_or(name);
        if let Some(d) = settings::definition(base).or_else(|| settings::definition(name)) {
            if let Support::Later(reason) = d.support {
                let now = s.get(d.name).unwrap_or_default();
                if now != defaults.get(d.name).unwrap_or_default() && !is_off(&now) {
                    return Err(SettingError::Unsupported {
                        name: d.name.to_owned(),
                        reason,
                    });
                }
            }
        }
    }
    for (name, _) in s.unknown() {
        crate::cli::warn(&format!("unknown setting '{name}'"));
    }
    Ok(s)
}
