//! `builtin:buildenv`, the builder of `nix-env`'s user environments: a tree of symlinks into
//! the installed packages, merged directory by directory, where a collision goes to the
//! package of lower priority number (and equal priorities are an error).
//!
//! Links point at logical store paths; what is read goes through `real`, which maps a
//! logical path to where its bytes are (they differ in a chroot store).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The files that never go into a profile (they are useless there, or collide pointlessly).
const SKIPPED: &[&str] = &[
    "/propagated-build-inputs",
    "/nix-support",
    "/perllocal.pod",
    "/info/dir",
    "/log",
    "/manifest.nix",
    "/manifest.json",
];

struct State<'a> {
    /// The priority of the package each link in the output came from.
    priorities: BTreeMap<PathBuf, i64>,
    real: &'a dyn Fn(&Path) -> PathBuf,
    warnings: Vec<String>,
}

/// Why `builtin:buildenv` failed. The texts are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum BuildenvError {
    /// The derivation lacks an attribute the builder needs.
    #[error("attribute '{name}' missing")]
    MissingAttr { name: String },
    #[error("malformed 'derivations' attribute of builtin:buildenv: '{spec}'")]
    BadDerivations { spec: String },
    #[error(transparent)]
    Io(#[from] crate::IoError),
    /// A package's directory meets another package's file (a link to `target`).
    #[error(
        "collision between '{}' and non-directory '{}'",
        .path.display(),
        .target.display()
    )]
    NotDirectory { path: PathBuf, target: PathBuf },
    /// A package's file meets another package's directory.
    #[error(
        "collision between non-directory '{}' and directory '{}'",
        .path.display(),
        .dir.display()
    )]
    Directory { path: PathBuf, dir: PathBuf },
    /// Two packages of the same priority have a file of the same name; `other` is where
    /// the link already made points.
    #[error(
        "packages '{}' and '{other}' have the same priority {priority}; use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' to change the priority of one of the conflicting packages (0 being the highest priority)",
        .path.display()
    )]
    SamePriority {
        path: PathBuf,
        other: String,
        priority: i64,
    },
}

fn err(what: &'static str, p: &Path, e: io::Error) -> BuildenvError {
    crate::IoError::new(what, p, e).into()
}

impl State<'_> {
    /// The metadata of logical path `p`, following symlinks (through `real`).
    fn stat(&self, p: &Path) -> io::Result<fs::Metadata> {
        let mut cur = p.to_path_buf();
        for _ in 0..40 {
            let real = (self.real)(&cur);
            let m = fs::symlink_metadata(&real)?;
            if !m.file_type().is_symlink() {
                return Ok(m);
            }
            let t = fs::read_link(&real)?;
            cur = if t.is_absolute() {
                t
            } else {
                cur.parent().unwrap_or(Path::new("/")).join(t)
            };
        }
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    }

    /// Links the entries of package directory `src` (logical) into `dst` (real).
    fn link(&mut self, src: &Path, dst: &Path, priority: i64) -> Result<(), BuildenvError> {
        let entries = match fs::read_dir((self.real)(src)) {
            Ok(rd) => rd,
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                self.warnings.push(format!(
                    "not including '{}' in the user environment because it's not a directory",
                    src.display()
                ));
                return Ok(());
            }
            Err(e) => return Err(err("opening directory", src, e)),
        };
        let mut names: Vec<std::ffi::OsString> = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| err("reading directory", src, e))?;
        names.sort();
        for name in names {
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let src_file = src.join(&name);
            let dst_file = dst.join(&name);
            let st = match self.stat(&src_file) {
                Ok(m) => m,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    self.warnings.push(format!(
                        "skipping dangling symlink '{}'",
                        dst_file.display()
                    ));
                    continue;
                }
                Err(e) => return Err(err("getting status of", &src_file, e)),
            };
            let s = src_file.to_string_lossy();
            if SKIPPED.iter().any(|suffix| s.ends_with(suffix)) {
                continue;
            }
            let existing = fs::symlink_metadata(&dst_file);
            if st.is_dir() {
                match existing {
                    Ok(d) if d.is_dir() => {
                        self.link(&src_file, &dst_file, priority)?;
                        continue;
                    }
                    Ok(d) if d.file_type().is_symlink() => {
                        // Another package's directory: replace the link by a directory that
                        // holds both.
                        let target = fs::read_link(&dst_file)
                            .map_err(|e| err("reading symbolic link", &dst_file, e))?;
                        if !self.stat(&target).map(|m| m.is_dir()).unwrap_or(false) {
                            return Err(BuildenvError::NotDirectory {
                                path: src_file,
                                target,
                            });
                        }
                        fs::remove_file(&dst_file).map_err(|e| err("unlinking", &dst_file, e))?;
                        fs::create_dir(&dst_file)
                            .map_err(|e| err("creating directory", &dst_file, e))?;
                        let prev = self.priorities.get(&dst_file).copied().unwrap_or(0);
                        self.link(&target, &dst_file, prev)?;
                        self.link(&src_file, &dst_file, priority)?;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err("getting status of", &dst_file, e)),
                }
            } else {
                match existing {
                    Ok(d) if d.file_type().is_symlink() => {
                        let prev = self.priorities.get(&dst_file).copied().unwrap_or(0);
                        if prev == priority {
                            let other = fs::read_link(&dst_file)
                                .map(|t| t.display().to_string())
                                .unwrap_or_default();
                            return Err(BuildenvError::SamePriority {
                                path: src_file,
                                other,
                                priority,
                            });
                        }
                        if prev < priority {
                            continue;
                        }
                        fs::remove_file(&dst_file).map_err(|e| err("unlinking", &dst_file, e))?;
                    }
                    Ok(d) if d.is_dir() => {
                        return Err(BuildenvError::Directory {
                            path: src_file,
                            dir: dst_file,
                        })
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err("getting status of", &dst_file, e)),
                }
            }
            std::os::unix::fs::symlink(&src_file, &dst_file)
                .map_err(|e| err("creating symlink", &dst_file, e))?;
            self.priorities.insert(dst_file, priority);
        }
        Ok(())
    }
}

/// One package of the `derivations` attribute.
struct Package {
    path: String,
    active: bool,
    priority: i64,
}

/// Parses `derivations`: groups of `ACTIVE PRIORITY N PATH1 … PATHN`.
fn packages(spec: &str) -> Result<Vec<Package>, BuildenvError> {
    let mut words = spec.split_ascii_whitespace();
    let mut out = Vec::new();
    let bad = || BuildenvError::BadDerivations {
        spec: spec.to_string(),
    };
    while let Some(active) = words.next() {
        let priority: i64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let n: usize = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        for _ in 0..n {
            out.push(Package {
                path: words.next().ok_or_else(bad)?.to_string(),
                active: active != "false",
                priority,
            });
        }
    }
    Ok(out)
}

/// Builds the user environment that `env` describes into `out` (a real path). Returns the
/// warnings to show.
pub fn buildenv(
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
    out: &Path,
    real: &dyn Fn(&Path) -> PathBuf,
) -> Result<Vec<String>, BuildenvError> {
    let attr = |name: &str| {
        env.get(name.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .ok_or_else(|| BuildenvError::MissingAttr {
                name: name.to_string(),
            })
    };
    fs::create_dir_all(out).map_err(|e| err("creating directory", out, e))?;
    let mut pkgs = packages(&attr("derivations")?)?;
    pkgs.sort_by(|a, b| (a.priority, &a.path).cmp(&(b.priority, &b.path)));
    let mut state = State {
        priorities: BTreeMap::new(),
        real,
        warnings: Vec::new(),
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut postponed: BTreeSet<String> = BTreeSet::new();
    let mut add = |state: &mut State<'_>,
                   postponed: &mut BTreeSet<String>,
                   dir: &str,
                   priority: i64|
     -> Result<(), BuildenvError> {
        if !done.insert(dir.to_string()) {
            return Ok(());
        }
        state.link(Path::new(dir), out, priority)?;
        let prop = Path::new(dir).join("nix-support/propagated-user-env-packages");
        match fs::read_to_string((state.real)(&prop)) {
            Ok(text) => {
                for p in text.split([' ', '\n']).filter(|p| !p.is_empty()) {
                    if !done.contains(p) {
                        postponed.insert(p.to_string());
                    }
                }
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {}
            Err(e) => return Err(err("reading file", &prop, e)),
        }
        Ok(())
    };
    for p in pkgs.iter().filter(|p| p.active) {
        add(&mut state, &mut postponed, &p.path, p.priority)?;
    }
    // Packages that installed ones propagate come later, at lower priority.
    let mut priority = 1000;
    while !postponed.is_empty() {
        let batch = std::mem::take(&mut postponed);
        for dir in batch {
            add(&mut state, &mut postponed, &dir, priority)?;
            priority += 1;
        }
    }
    let manifest = attr("manifest")?;
    std::os::unix::fs::symlink(&manifest, out.join("manifest.nix"))
        .map_err(|e| err("creating symlink", &out.join("manifest.nix"), e))?;
    Ok(state.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, String)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn merges_packages_by_priority() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        fs::create_dir_all(a.join("bin")).unwrap();
        fs::create_dir_all(b.join("bin")).unwrap();
        fs::create_dir_all(b.join("share/doc")).unwrap();
        fs::write(a.join("bin/tool"), "a").unwrap();
        fs::write(b.join("bin/tool"), "b").unwrap();
        fs::write(b.join("bin/other"), "b").unwrap();
        fs::write(b.join("share/doc/x"), "b").unwrap();
        fs::create_dir_all(a.join("nix-support")).unwrap();
        let out = d.path().join("out");
        let spec = format!("true 5 1 {} true 3 1 {}", a.display(), b.display());
        let e = env(&[("derivations", spec), ("manifest", "/m".into())]);
        let w = buildenv(&e, &out, &|p| p.to_path_buf()).unwrap();
        assert!(w.is_empty());
        // b has the lower number, so it wins the collision.
        assert_eq!(
            fs::read_link(out.join("bin/tool")).unwrap(),
            b.join("bin/tool")
        );
        assert_eq!(
            fs::read_link(out.join("bin/other")).unwrap(),
            b.join("bin/other")
        );
        assert_eq!(fs::read_link(out.join("share")).unwrap(), b.join("share"));
        assert!(fs::symlink_metadata(out.join("nix-support")).is_err());
        assert_eq!(
            fs::read_link(out.join("manifest.nix")).unwrap(),
            Path::new("/m")
        );

        let out2 = d.path().join("out2");
        let spec = format!("true 5 1 {} true 5 1 {}", a.display(), b.display());
        let e = env(&[("derivations", spec), ("manifest", "/m".into())]);
        let e = buildenv(&e, &out2, &|p| p.to_path_buf()).unwrap_err();
        assert!(
            matches!(&e, BuildenvError::SamePriority { priority: 5, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("have the same priority 5"), "{e}");
    }

    #[test]
    fn malformed_specs_are_errors() {
        for spec in ["true x 1 /a", "true 1 2 /a"] {
            let Err(e) = packages(spec) else {
                panic!("'{spec}' was accepted");
            };
            assert_eq!(
                e.to_string(),
                format!("malformed 'derivations' attribute of builtin:buildenv: '{spec}'")
            );
        }
        assert_eq!(packages("false 1 1 /a").unwrap().len(), 1);
    }
}
