//! The fetcher cache: what was downloaded from where, with its ETag and when, kept in
//! the same SQLite file and format as Nix 2.8 (`$XDG_CACHE_HOME/nix/fetcher-cache-v1.sqlite`,
//! table `Cache(input, info, path, immutable, timestamp)`, attributes as JSON with sorted
//! keys), so both implementations share one cache.

use ferrix_store::{Store, StorePath};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CacheError {
    #[error("fetcher cache '{path}': {reason}")]
    Db { path: String, reason: String },
}

/// One attribute of an input or of what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Str(String),
    Int(u64),
    Bool(bool),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<u64> for AttrValue {
    fn from(n: u64) -> Self {
        AttrValue::Int(n)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

/// Attributes, sorted by name as Nix keeps them.
pub type Attrs = BTreeMap<String, AttrValue>;

/// Builds [`Attrs`] from pairs.
pub fn attrs<const N: usize>(pairs: [(&str, AttrValue); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The string attribute `name`, or "".
pub fn str_attr<'a>(a: &'a Attrs, name: &str) -> &'a str {
    match a.get(name) {
        Some(AttrValue::Str(s)) => s,
        _ => "",
    }
}

/// The integer attribute `name`.
pub fn int_attr(a: &Attrs, name: &str) -> Option<u64> {
    match a.get(name) {
        Some(AttrValue::Int(n)) => Some(*n),
        _ => None,
    }
}

/// The JSON text of attributes, as Nix writes it (compact, keys sorted).
pub fn to_json(a: &Attrs) -> String {
    let map: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Str(s) => serde_json::Value::from(s.as_str()),
                AttrValue::Int(n) => serde_json::Value::from(*n),
                AttrValue::Bool(b) => serde_json::Value::from(*b),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Attributes from their JSON text; anything but strings, integers and Booleans is
/// left out.
pub fn from_json(text: &str) -> Attrs {
    let mut out = Attrs::new();
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) {
        for (k, v) in m {
            let v = match v {
                serde_json::Value::String(s) => AttrValue::Str(s),
                serde_json::Value::Bool(b) => AttrValue::Bool(b),
                serde_json::Value::Number(n) => match n.as_u64() {
                    Some(n) => AttrValue::Int(n),
                    None => continue,
                },
                _ => continue,
            };
            out.insert(k, v);
        }
    }
    out
}

/// A cache entry found for an input.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Older than `tarball-ttl` (and not locked): to be checked again before use.
    pub expired: bool,
    pub info: Attrs,
    pub path: StorePath,
}

/// The cache database.
pub struct Cache {
    db: Connection,
    path: PathBuf,
    /// `tarball-ttl`, in seconds; 0 means every entry that is not locked is expired.
    ttl: u64,
}

/// Where the cache lives: `$XDG_CACHE_HOME/nix`, else `$HOME/.cache/nix`.
pub fn default_path() -> PathBuf {
    cache_dir().join("nix").join("fetcher-cache-v1.sqlite")
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(".cache")
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Cache {
    /// Opens (creating if needed) the cache at `path`.
    pub fn open(path: &Path, ttl: u64) -> Result<Cache, CacheError> {
        let err = |e: &dyn std::fmt::Display| CacheError::Db {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        let db = Connection::open(path).map_err(|e| err(&e))?;
        db.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(|e| err(&e))?;
        // A cache: losing it in a crash costs only a download.
        db.execute_batch(
            "pragma synchronous = off; pragma main.journal_mode = truncate;
             create table if not exists Cache (
                 input     text not null,
                 info      text not null,
                 path      text not null,
                 immutable integer not null,
                 timestamp integer not null,
                 primary key (input)
             );",
        )
        .map_err(|e| err(&e))?;
        Ok(Cache {
            db,
            path: path.to_path_buf(),
            ttl,
        })
    }

    fn db_error(&self, e: rusqlite::Error) -> CacheError {
        CacheError::Db {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Records that `input` gave `path`, with `info`, now. A `locked` entry (the input
    /// names its content, by hash or revision) never expires.
    pub fn add(
        &self,
        store: &dyn Store,
        input: &Attrs,
        info: &Attrs,
        path: &StorePath,
        locked: bool,
    ) -> Result<(), CacheError> {
        self.db
            .execute(
                "insert or replace into Cache(input, info, path, immutable, timestamp) values (?, ?, ?, ?, ?)",
                params![
                    to_json(input),
                    to_json(info),
                    store.dir().display(path),
                    locked as i64,
                    now() as i64
                ],
            )
            .map_err(|e| self.db_error(e))?;
        Ok(())
    }

    /// The entry for `input` whose path is still valid in `store`, expired or not.
    pub fn lookup_expired(
        &self,
        store: &dyn Store,
        input: &Attrs,
    ) -> Result<Option<Entry>, CacheError> {
        let row: Option<(String, String, i64, i64)> = self
            .db
            .query_row(
                "select info, path, immutable, timestamp from Cache where input = ?",
                [to_json(input)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.db_error(e))?;
        let Some((info, path, immutable, timestamp)) = row else {
            return Ok(None);
        };
        // An entry that names a path of another store, or one since deleted, is ignored.
        let Ok(path) = store.dir().parse(&path) else {
            return Ok(None);
        };
        let _ = store.add_temp_root(&path);
        if !store.is_valid(&path).unwrap_or(false) {
            return Ok(None);
        }
        let expired =
            immutable == 0 && (self.ttl == 0 || (timestamp.max(0) as u64) + self.ttl < now());
        Ok(Some(Entry {
            expired,
            info: from_json(&info),
            path,
        }))
    }

    /// The entry for `input` if it has not expired.
    pub fn lookup(&self, store: &dyn Store, input: &Attrs) -> Result<Option<Entry>, CacheError> {
        Ok(self.lookup_expired(store, input)?.filter(|e| !e.expired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_like_nix() {
        let a = attrs([
            ("url", "file:///x".into()),
            ("type", "tarball".into()),
            ("name", "source".into()),
        ]);
        assert_eq!(
            to_json(&a),
            r#"{"name":"source","type":"tarball","url":"file:///x"}"#
        );
        let b = attrs([("lastModified", 17u64.into()), ("etag", "\"e\"".into())]);
        assert_eq!(to_json(&b), r#"{"etag":"\"e\"","lastModified":17}"#);
        assert_eq!(from_json(&to_json(&b)), b);
    }
}
