//! What an evaluation may reach outside the expression: files and URIs under restricted
//! and pure evaluation (`restrict-eval`, `pure-eval`, `allowed-uris`), and where its log
//! lines (`trace`, `trace-function-calls`) go.
//!
//! The checks run only where a builtin or `import` touches a file or a URI, never on the
//! evaluator's hot paths; with neither mode on, [`Evaluator::check_source_path`] returns
//! at its first comparison.

use crate::error::{ErrorKind, EvalError};
use crate::{io_reason, Evaluator};
use ferrix_parser::actions::canon_path;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How much of the outside world evaluation may see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Everything (Nix's default).
    #[default]
    Open,
    /// `restrict-eval`: only files under the search path and what evaluation itself put
    /// in the store; only URIs under `allowed-uris`.
    Restricted,
    /// `pure-eval`: as restricted, with no search path, no environment, no clock and no
    /// `currentSystem`.
    Pure,
}

/// The access policy of one evaluation.
#[derive(Debug, Default)]
pub struct Access {
    pub mode: Mode,
    /// Paths (canonical, absolute) under which files may be read, when not `Open`.
    pub allowed: Vec<Vec<u8>>,
    /// URI prefixes restricted evaluation may fetch (`allowed-uris`).
    pub allowed_uris: Vec<String>,
    /// `restrict-eval` itself, which alone decides whether URIs are checked (pure mode
    /// without it leaves them to the fetchers' hash requirements, as in Nix).
    pub restrict_uris: bool,
}

/// The level of a log line, on Nix's scale (0 = error ... 3 = info ... 7 = vomit).
pub type Level = u8;
/// Nix's `lvlError`: `trace` lines.
pub const LVL_ERROR: Level = 0;
/// Nix's `lvlInfo`: function-trace lines.
pub const LVL_INFO: Level = 3;

/// Where the evaluator's log lines go; the binary supplies it (filtering by verbosity and
/// terminal). Without one, lines go to standard error as they are.
pub trait LogSink {
    fn log(&self, level: Level, line: &[u8]);
}

/// Whether `path` is `dir` or lies inside it (both canonical).
fn is_dir_or_in_dir(path: &[u8], dir: &[u8]) -> bool {
    path == dir
        || (path.starts_with(dir) && (dir.ends_with(b"/") || path.get(dir.len()) == Some(&b'/')))
}

/// `path` with every symbolic link resolved; a missing component is an error, as Nix's
/// canonicalisation reports it.
fn resolve_links(path: &[u8]) -> Result<Vec<u8>, String> {
    let p = Path::new(std::ffi::OsStr::from_bytes(path));
    match std::fs::canonicalize(p) {
        Ok(r) => Ok(r.as_os_str().as_bytes().to_vec()),
        Err(e) => Err(format!(
            "getting status of '{}': {}",
            p.display(),
            io_reason(&e)
        )),
    }
}

/// Virtual files built into the program, which every mode may read.
fn is_builtin_file(path: &[u8]) -> bool {
    path.starts_with(b"/__corepkgs__/") || path.starts_with(b"//builtin/")
}

impl<'a> Evaluator<'a> {
    /// Sets the access policy (see [`crate::EvaluatorBuilder::access`]).
    pub(crate) fn set_access(&self, access: Access) {
        *self.access.borrow_mut() = access;
    }

    /// The access mode in force.
    pub fn access_mode(&self) -> Mode {
        self.access.borrow().mode
    }

    /// Whether restricted or pure evaluation is on.
    pub fn is_restricted(&self) -> bool {
        self.access_mode() != Mode::Open
    }

    /// Allows reading under `path` from now on (a path evaluation put in the store or
    /// realised). Nothing changes in open mode.
    pub fn allow_path(&self, path: &[u8]) {
        let mut a = self.access.borrow_mut();
        if a.mode != Mode::Open {
            a.allowed.push(canon_path(path));
        }
    }

    fn forbidden(&self, what: &str, path: &[u8]) -> Box<EvalError> {
        let how = match self.access_mode() {
            Mode::Pure => "in pure eval mode (use '--impure' to override)",
            _ => "in restricted mode",
        };
        EvalError::new(
            ErrorKind::Eval,
            format!(
                "access to {what} path '{}' is forbidden {how}",
                String::from_utf8_lossy(path)
            ),
            None,
        )
    }

    /// Nix's `checkSourcePath`: the path to read for `path`, or an error if the policy
    /// forbids it. The path is first checked as written (made canonical without following
    /// links, so `..` cannot climb out of an allowed directory), then with its links
    /// resolved.
    pub fn check_source_path(&self, path: &Path) -> Result<PathBuf, Box<EvalError>> {
        if self.access.borrow().mode == Mode::Open {
            return Ok(path.to_path_buf());
        }
        let abs = canon_path(path.as_os_str().as_bytes());
        if is_builtin_file(path.as_os_str().as_bytes()) || is_builtin_file(&abs) {
            return Ok(path.to_path_buf());
        }
        let allowed = |p: &[u8]| {
            self.access
                .borrow()
                .allowed
                .iter()
                .any(|d| is_dir_or_in_dir(p, d))
        };
        if !allowed(&abs) {
            return Err(self.forbidden("absolute", &abs));
        }
        let real = resolve_links(&abs).map_err(|m| EvalError::new(ErrorKind::Eval, m, None))?;
        if !allowed(&real) {
            // Nix words this one the same way in both modes.
            return Err(EvalError::new(
                ErrorKind::Eval,
                format!(
                    "access to canonical path '{}' is forbidden in restricted mode",
                    String::from_utf8_lossy(&real)
                ),
                None,
            ));
        }
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&real)))
    }

    /// Nix's `checkURI`: whether restricted evaluation may fetch `uri`. A URI is allowed
    /// when it equals an `allowed-uris` prefix or continues it after a `/`; a local path
    /// (`/…`, `file://…`) when the file is allowed.
    pub fn check_uri(&self, uri: &str) -> Result<(), Box<EvalError>> {
        if !self.access.borrow().restrict_uris {
            return Ok(());
        }
        let ok = self.access.borrow().allowed_uris.iter().any(|prefix| {
            uri == prefix
                || (!prefix.is_empty()
                    && uri.len() > prefix.len()
                    && uri.starts_with(prefix.as_str())
                    && (prefix.ends_with('/') || uri.as_bytes()[prefix.len()] == b'/'))
        });
        if ok {
            return Ok(());
        }
        if uri.starts_with('/') {
            return self.check_source_path(Path::new(uri)).map(|_| ());
        }
        if let Some(p) = uri.strip_prefix("file://") {
            return self.check_source_path(Path::new(p)).map(|_| ());
        }
        Err(EvalError::new(
            ErrorKind::Eval,
            format!("access to URI '{uri}' is forbidden in restricted mode"),
            None,
        ))
    }

    /// Sends a log line to the sink the binary installed, or to standard error.
    pub fn log(&self, level: Level, line: &[u8]) {
        match self.log_sink.get() {
            Some(sink) => sink.log(level, line),
            None => {
                use std::io::Write;
                let mut l = line.to_vec();
                l.push(b'\n');
                let _ = std::io::stderr().write_all(&l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bumpalo::Bump;

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_dir_or_in_dir(b"/a/b", b"/a"));
        assert!(is_dir_or_in_dir(b"/a", b"/a"));
        assert!(!is_dir_or_in_dir(b"/ab", b"/a"));
        assert!(is_dir_or_in_dir(b"/ab", b"/"));
    }

    #[test]
    fn restricted_paths_and_uris() {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump).build();
        let dir = std::env::temp_dir().canonicalize().unwrap();
        let d = dir.as_os_str().as_bytes().to_vec();
        assert!(ev.check_source_path(Path::new("/etc/passwd")).is_ok());
        ev.set_access(Access {
            mode: Mode::Restricted,
            allowed: vec![d.clone()],
            allowed_uris: vec!["https://example.org/a".into()],
            restrict_uris: true,
        });
        let e = ev.check_source_path(Path::new("/etc/passwd")).unwrap_err();
        assert_eq!(
            e.message,
            "access to absolute path '/etc/passwd' is forbidden in restricted mode"
        );
        // `..` is resolved before the check, so it cannot climb out.
        let mut up = d.clone();
        up.extend_from_slice(b"/../etc/passwd");
        assert!(ev
            .check_source_path(Path::new(std::ffi::OsStr::from_bytes(&up)))
            .is_err());
        assert!(ev.check_source_path(&dir).is_ok());
        assert!(ev
            .check_source_path(Path::new("/__corepkgs__/fetchurl.nix"))
            .is_ok());
        assert!(ev.check_uri("https://example.org/a").is_ok());
        assert!(ev.check_uri("https://example.org/a/b").is_ok());
        assert!(ev.check_uri("https://example.org/ab").is_err());
        assert_eq!(
            ev.check_uri("https://x.org/").unwrap_err().message,
            "access to URI 'https://x.org/' is forbidden in restricted mode"
        );
        ev.set_access(Access {
            mode: Mode::Pure,
            ..Access::default()
        });
        assert_eq!(
            ev.check_source_path(Path::new("/etc/passwd"))
                .unwrap_err()
                .message,
            "access to absolute path '/etc/passwd' is forbidden in pure eval mode (use '--impure' to override)"
        );
    }
}
