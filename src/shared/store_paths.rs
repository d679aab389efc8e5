//! Command-line words as paths: absolute paths as Nix's `absPath` makes them, and store
//! paths reached through symlinks (Nix's `followLinksToStorePath`), with Nix's messages.

use ferrix_store::path::{StoreDir, StorePath};
use std::path::{Path, PathBuf};

/// Lexically cleaned absolute path, as Nix's `absPath`/`canonPath`.
pub fn canon(p: &Path, base: &Path) -> PathBuf {
    ferrix_store::path::abs_path(p, Some(base))
}

/// The current directory (`/` when it cannot be read).
pub fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

/// `p` made absolute against the current directory and lexically cleaned.
pub fn absolute(p: &str) -> PathBuf {
    ferrix_store::path::abs_path(Path::new(p), None)
}

/// `arg` as a store path, through symlinks (Nix's `followLinksToStorePath`): follows
/// symlinks until the path is inside the store, then takes the store path it belongs to.
/// The error is Nix's message.
pub fn follow_to_store_path(dir: &StoreDir, arg: &str) -> Result<StorePath, String> {
    let mut p = canon(Path::new(arg), &cwd());
    let mut hops = 0;
    while !dir.is_in_store(&p.to_string_lossy()) {
        let meta = std::fs::symlink_metadata(&p).map_err(|e| {
            format!(
                "getting status of '{}': {}",
                p.display(),
                ferrix_store::io_reason(&e)
            )
        })?;
        if !meta.file_type().is_symlink() || hops > 100 {
            break;
        }
        hops += 1;
        let t = std::fs::read_link(&p).map_err(|e| ferrix_store::io_reason(&e))?;
        let parent = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        p = canon(&t, &parent);
    }
    let s = p.to_string_lossy();
    match dir.split(&s) {
        Ok((sp, _)) => Ok(sp),
        Err(ferrix_store::path::PathError::NotStorePath(_)) => {
            // Nix names what is wrong with the store path part: too short, a bad hash
            // character, or an illegal character in the name.
            let rest = s[dir.as_str().len()..].trim_start_matches('/');
            let first = rest.split('/').next().unwrap_or("");
            Err(dir
                .parse_as_nix(&format!("{}/{first}", dir.as_str()))
                .err()
                .map_or_else(
                    || format!("path '{s}' is not a store path"),
                    |e| e.to_string(),
                ))
        }
        Err(e) => Err(e.to_string()),
    }
}
