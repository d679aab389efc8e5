//! Store paths: `<store dir>/<nix32 of 20 bytes>-<name>`, and how Nix computes them for
//! text, sources, derivation outputs and fixed outputs.

use crate::hash::{Hash, HashAlgo};
use crate::nix32;
use std::collections::BTreeSet;
use std::fmt;

/// Length of the hash part of a store path's base name.
pub const HASH_CHARS: usize = 32;

/// A store path's base name, `<hash>-<name>`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    /// `<hash>-<name>`; sorting this sorts as Nix sorts full paths.
    base: String,
}

/// Why a text is not a store path; Nix 2.8's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path '{0}' is not in the Nix store")]
    NotInStore(String),
    #[error("path '{0}' is not a store path")]
    NotStorePath(String),
    #[error("store path '{0}' has an empty name")]
    EmptyName(String),
    #[error("store path '{0}' has a name longer than 211 characters")]
    NameTooLong(String),
    #[error("store path '{0}' contains illegal character '{1}'")]
    IllegalChar(String, char),
    #[error("'{0}' is too short to be a valid store path")]
    TooShort(String),
    #[error("store path '{0}' contains illegal base-32 character '{1}'")]
    IllegalHashChar(String, char),
}

/// Checks a store path name as Nix 2.8 does; `whole` is what errors quote.
pub fn check_name(whole: &str, name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::EmptyName(whole.into()));
    }
    if name.len() > 211 {
        return Err(PathError::NameTooLong(whole.into()));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(c)))
    {
        return Err(PathError::IllegalChar(whole.into(), c));
    }
    Ok(())
}

impl StorePath {
    /// From a base name `<hash>-<name>`.
    pub fn from_base_name(base: &str) -> Result<StorePath, PathError> {
        let bad = || PathError::NotStorePath(base.into());
        if base.len() < HASH_CHARS + 1 || base.as_bytes()[HASH_CHARS] != b'-' {
            return Err(bad());
        }
        if !nix32::is_nix32(&base.as_bytes()[..HASH_CHARS]) {
            return Err(bad());
        }
        check_name(base, &base[HASH_CHARS + 1..])?;
        Ok(StorePath { base: base.into() })
    }

    /// From its 20-byte digest and name.
    pub fn from_parts(digest: &[u8], name: &str) -> Result<StorePath, PathError> {
        let mut base = nix32::encode(digest);
        base.reserve(1 + name.len());
        base.push('-');
        base.push_str(name);
        check_name(&base, name)?;
        Ok(StorePath { base })
    }

    pub fn base_name(&self) -> &str {
        &self.base
    }

    pub fn hash_part(&self) -> &str {
        &self.base[..HASH_CHARS]
    }

    pub fn name(&self) -> &str {
        &self.base[HASH_CHARS + 1..]
    }

    /// Whether this is a derivation (`.drv`).
    pub fn is_derivation(&self) -> bool {
        self.name().ends_with(".drv")
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// How a file system object's content is hashed for a content-addressed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ingestion {
    /// The bytes of a single regular file.
    Flat,
    /// The NAR serialisation.
    Recursive,
}

/// The logical store directory, such as `/nix/store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir("/nix/store".into())
    }
}

/// Nix's `canonPath(absPath(path, base))`: `path` made absolute against `base` (the working
/// directory when `None`), then `.`, `..` and repeated slashes resolved lexically (no symlink
/// is followed). The one lexical clean-up is the parser's, which paths in Nix code get.
pub fn abs_path(path: &std::path::Path, base: Option<&std::path::Path>) -> std::path::PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match base {
            Some(b) => b.join(path),
            None => std::env::current_dir()
                .unwrap_or_else(|_| std::path::PathBuf::from("/"))
                .join(path),
        }
    };
    let canon = ferrix_parser::actions::canon_path(joined.as_os_str().as_bytes());
    std::path::PathBuf::from(std::ffi::OsString::from_vec(canon))
}

/// The store directory the environment names, as Nix reads it: `NIX_STORE_DIR`, else
/// `NIX_STORE` (which builders get, so that a recursive Nix call inside one finds its
/// store), when not empty.
pub fn env_store_dir() -> Option<String> {
    ["NIX_STORE_DIR", "NIX_STORE"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|d| !d.is_empty()))
}

impl StoreDir {
    /// `dir` without trailing slashes.
    pub fn new(dir: &str) -> StoreDir {
        let t = dir.trim_end_matches('/');
        StoreDir(if t.is_empty() { "/".into() } else { t.into() })
    }

    /// `NIX_STORE_DIR`, or `/nix/store`.
    pub fn from_env() -> StoreDir {
        match env_store_dir() {
            Some(d) => StoreDir::new(&d),
            None => StoreDir::default(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full path of a store path.
    pub fn display(&self, p: &StorePath) -> String {
        let mut s = String::with_capacity(self.0.len() + 1 + p.base.len());
        s.push_str(&self.0);
        s.push('/');
        s.push_str(&p.base);
        s
    }

    /// A full path that must be exactly a store path (no sub path).
    pub fn parse(&self, full: &str) -> Result<StorePath, PathError> {
        let base = full
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| PathError::NotInStore(full.into()))?;
        if base.contains('/') {
            return Err(PathError::NotStorePath(full.into()));
        }
        StorePath::from_base_name(base).map_err(|e| match e {
            PathError::NotStorePath(_) => PathError::NotStorePath(full.into()),
            e => e,
        })
    }

    /// A full path as Nix 2.8's `parseStorePath` reads the paths in a `.drv`: in this
    /// directory, and its last component a store path, with Nix's messages for each way it
    /// is not.
    pub fn parse_as_nix(&self, full: &str) -> Result<StorePath, PathError> {
        let (parent, base) = full.rsplit_once('/').unwrap_or(("", full));
        if parent != self.0 || base.is_empty() {
            return Err(PathError::NotInStore(full.into()));
        }
        if base.len() < HASH_CHARS + 1 {
            return Err(PathError::TooShort(base.into()));
        }
        if let Some(&c) = base.as_bytes()[..HASH_CHARS]
            .iter()
            .find(|&&c| !nix32::is_nix32(&[c]))
        {
            return Err(PathError::IllegalHashChar(base.into(), c as char));
        }
        StorePath::from_base_name(base)
    }

    /// The store path a path inside the store belongs to, and the rest after it.
    pub fn split<'s>(&self, full: &'s str) -> Result<(StorePath, &'s str), PathError> {
        let rest = full
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| PathError::NotInStore(full.into()))?;
        let end = rest.find('/').unwrap_or(rest.len());
        let sp = StorePath::from_base_name(&rest[..end])
            .map_err(|_| PathError::NotStorePath(full.into()))?;
        Ok((sp, &rest[end..]))
    }

    /// Whether `full` lies inside the store directory.
    pub fn is_in_store(&self, full: &str) -> bool {
        full.strip_prefix(self.0.as_str())
            .is_some_and(|r| r.starts_with('/') && r.len() > 1)
    }

    /// The path of a fingerprint: sha256 of `<type>:sha256:<hex>:<store dir>:<name>`, folded
    /// to 20 bytes.
    pub fn make_path(&self, kind: &str, hash: &Hash, name: &str) -> Result<StorePath, PathError> {
        // Built by hand: instantiating a derivation makes several of these.
        let algo = hash.algo.name();
        let mut fingerprint = String::with_capacity(
            kind.len() + algo.len() + 2 * hash.bytes.len() + self.0.len() + name.len() + 4,
        );
        for part in [kind, algo, &hash.to_base16(), &self.0, name] {
            fingerprint.push_str(part);
            fingerprint.push(':');
        }
        fingerprint.pop();
        StorePath::from_parts(&Hash::sha256(fingerprint.as_bytes()).fold(20), name)
    }

    /// The path of output `output` of a derivation whose modulo hash is `drv_hash`.
    pub fn make_output_path(
        &self,
        output: &str,
        drv_hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, PathError> {
        let name = if output == "out" {
            drv_name.to_string()
        } else {
            format!("{drv_name}-{output}")
        };
        self.make_path(&format!("output:{output}"), drv_hash, &name)
    }

    /// `<type>:<ref>:<ref>…[:self]`, the type part for paths with references.
    fn type_with_refs(&self, kind: &str, refs: &BTreeSet<StorePath>, self_ref: bool) -> String {
        let mut s = kind.to_string();
        for r in refs {
            s.push(':');
            s.push_str(&self.display(r));
        }
        if self_ref {
            s.push_str(":self");
        }
        s
    }

    /// The path of text added with `toFile` or as a `.drv`.
    pub fn make_text_path(
        &self,
        name: &str,
        text_hash: &Hash,
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, PathError> {
        self.make_path(&self.type_with_refs("text", refs, false), text_hash, name)
    }

    /// The path of content-addressed data: sources (recursive SHA-256) and fixed outputs.
    pub fn make_fixed_output_path(
        &self,
        method: Ingestion,
        hash: &Hash,
        name: &str,
        refs: &BTreeSet<StorePath>,
        self_ref: bool,
    ) -> Result<StorePath, PathError> {
        if method == Ingestion::Recursive && hash.algo == HashAlgo::Sha256 {
            self.make_path(&self.type_with_refs("source", refs, self_ref), hash, name)
        } else {
            let inner = format!(
                "fixed:out:{}{}:{}:",
                if method == Ingestion::Recursive {
                    "r:"
                } else {
                    ""
                },
                hash.algo,
                hash.to_base16()
            );
            self.make_path("output:out", &Hash::sha256(inner.as_bytes()), name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abs_path_is_nix_canon_path_of_abs_path() {
        use std::path::Path;
        let base = Some(Path::new("/x/y"));
        assert_eq!(
            abs_path(Path::new("a/../b/./c"), base),
            Path::new("/x/y/b/c")
        );
        assert_eq!(abs_path(Path::new("../../.."), base), Path::new("/"));
        assert_eq!(abs_path(Path::new("//a//b/"), base), Path::new("/a/b"));
        assert_eq!(abs_path(Path::new("/a/b/.."), None), Path::new("/a"));
    }

    #[test]
    fn text_path_matches_nix() {
        // `nix-instantiate --eval -E 'builtins.toFile "hello" "hello world"'` in Nix 2.8.
        let dir = StoreDir::default();
        let p = dir
            .make_text_path("hello", &Hash::sha256(b"hello world"), &BTreeSet::new())
            .unwrap();
        assert_eq!(
            dir.display(&p),
            "/nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello"
        );
    }

    #[test]
    fn parses_and_refuses() {
        let dir = StoreDir::default();
        let full = "/nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello";
        let p = dir.parse(full).unwrap();
        assert_eq!(p.name(), "hello");
        assert_eq!(p.hash_part(), "ivlnvab4q9c7wbsvbfsvgaa15j9p6206");
        assert!(matches!(dir.parse("/tmp/x"), Err(PathError::NotInStore(_))));
        assert!(matches!(
            dir.parse("/nix/store/eeee9ny3i3lh5mkv1v1b7d7gmrh8rfkm-hello"),
            Err(PathError::NotStorePath(_))
        ));
        assert!(matches!(
            dir.parse("/nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-a b"),
            Err(PathError::IllegalChar(_, ' '))
        ));
        let sub = format!("{full}/bin/x");
        let (sp, rest) = dir.split(&sub).unwrap();
        assert_eq!((sp, rest), (p.clone(), "/bin/x"));
        // Only the exact form parses, so a parsed path prints as the text it came from
        // (`derivationStrict` keeps a context's bytes once they parse).
        assert_eq!(dir.display(&p), full);
        for near in [
            format!("{full}/"),
            format!("/nix/store//{}", &full[11..]),
            format!("/nix//store/{}", &full[11..]),
            format!("/nix/store/./{}", &full[11..]),
            format!(" {full}"),
        ] {
            assert!(dir.parse(&near).is_err(), "{near}");
        }
    }
}
