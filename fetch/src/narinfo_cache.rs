//! The `.narinfo` disk cache of HTTP binary caches: `$XDG_CACHE_HOME/nix/binary-cache-v6.sqlite`
//! (`~/.cache/…`), in Nix 2.8's schema so that both share it. A cache's `nix-cache-info` is
//! read once; a path's record is kept for `narinfo-cache-positive-ttl` seconds, and the
//! answer that a cache lacks a path for `narinfo-cache-negative-ttl` seconds.

use crate::narinfo::NarInfo;
use ferrix_store::hash::Encoding;
use ferrix_store::path::StorePath;
use ferrix_store::{Hash, PathInfo};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const SCHEMA: &str = "
create table if not exists BinaryCaches (
    id        integer primary key autoincrement not null,
    url       text unique not null,
    timestamp integer not null,
    storeDir  text not null,
    wantMassQuery integer not null,
    priority  integer not null
);
create table if not exists NARs (
    cache            integer not null,
    hashPart         text not null,
    namePart         text,
    url              text,
    compression      text,
    fileHash         text,
    fileSize         integer,
    narHash          text,
    narSize          integer,
    refs             text,
    deriver          text,
    sigs             text,
    ca               text,
    timestamp        integer not null,
    present          integer not null,
    primary key (cache, hashPart),
    foreign key (cache) references BinaryCaches(id) on delete cascade
);
create table if not exists Realisations (
    cache integer not null,
    outputId text not null,
    content blob,
    timestamp        integer not null,
    primary key (cache, outputId),
    foreign key (cache) references BinaryCaches(id) on delete cascade
);
create table if not exists LastPurge (
    dummy            text primary key,
    value            integer
);
";

/// What the disk cache knows of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Nothing (or only an expired answer).
    Unknown,
    /// The cache lacks the path.
    Absent,
    Present(Box<NarInfo>),
}

/// The open disk cache.
pub struct DiskCache {
    db: Mutex<Connection>,
    positive_ttl: i64,
    negative_ttl: i64,
    ids: Mutex<BTreeMap<String, i64>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where Nix keeps its caches: `$XDG_CACHE_HOME`, or `~/.cache`.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| Path::new(&h).join(".cache")),
    }
}

impl DiskCache {
    /// Opens (creating) the cache file at its usual place; `None` when that cannot be done
    /// (the cache is only an optimisation).
    pub fn open_default(positive_ttl: u64, negative_ttl: u64) -> Option<DiskCache> {
        let path = cache_dir()?.join("nix/binary-cache-v6.sqlite");
        DiskCache::open(&path, positive_ttl, negative_ttl).ok()
    }

    pub fn open(path: &Path, positive_ttl: u64, negative_ttl: u64) -> rusqlite::Result<DiskCache> {
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(60))?;
        db.execute_batch("pragma synchronous = off; pragma main.journal_mode = truncate;")?;
        db.execute_batch(SCHEMA)?;
        let t = now();
        let last: Option<i64> = db
            .query_row("select value from LastPurge", [], |r| r.get(0))
            .optional()?;
        if last.is_none_or(|l| l < t - 24 * 3600) {
            db.execute(
                "delete from NARs where ((present = 0 and timestamp < ?1) or (present = 1 and timestamp < ?2))",
                params![
                    t - (negative_ttl.max(3600) as i64),
                    t - (positive_ttl.max(30 * 24 * 3600) as i64)
                ],
            )?;
            db.execute(
                "insert or replace into LastPurge(dummy, value) values ('', ?1)",
                params![t],
            )?;
        }
        Ok(DiskCache {
            db: Mutex::new(db),
            positive_ttl: positive_ttl.min(i64::MAX as u64) as i64,
            negative_ttl: negative_ttl.min(i64::MAX as u64) as i64,
            ids: Mutex::new(BTreeMap::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded `WantMassQuery` and priority of the cache `uri`, if it was seen before.
    pub fn cache_info(&self, uri: &str) -> Option<(bool, i64)> {
        let row: Option<(i64, bool, i64)> = self
            .db()
            .query_row(
                "select id, wantMassQuery, priority from BinaryCaches where url = ?1",
                params![uri],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?)),
            )
            .optional()
            .ok()
            .flatten();
        let (id, mass, prio) = row?;
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uri.to_string(), id);
        Some((mass, prio))
    }

    /// Records the cache `uri`.
    pub fn create_cache(&self, uri: &str, store_dir: &str, want_mass_query: bool, priority: i64) {
        let db = self.db();
        if db
            .execute(
                "insert or replace into BinaryCaches(url, timestamp, storeDir, wantMassQuery, priority) values (?1, ?2, ?3, ?4, ?5)",
                params![uri, now(), store_dir, want_mass_query as i64, priority],
            )
            .is_ok()
        {
            let id = db.last_insert_rowid();
            self.ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uri.to_string(), id);
        }
    }

    fn id(&self, uri: &str) -> Option<i64> {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .copied()
    }

    /// What is recorded, within the TTLs, of the path with hash part `hash` in `uri`.
    pub fn lookup(&self, uri: &str, hash: &str) -> Known {
        let Some(id) = self.id(uri) else {
            return Known::Unknown;
        };
        let t = now();
        type Row = (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = self
            .db()
            .query_row(
                "select present, namePart, url, compression, fileHash, fileSize, narHash, narSize, refs, deriver, sigs, ca from NARs where cache = ?1 and hashPart = ?2 and ((present = 0 and timestamp > ?3) or (present = 1 and timestamp > ?4))",
                params![id, hash, t.saturating_sub(self.negative_ttl), t.saturating_sub(self.positive_ttl)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                    ))
                },
            )
            .optional()
            .ok()
            .flatten();
        let Some(r) = row else {
            return Known::Unknown;
        };
        if r.0 == 0 {
            return Known::Absent;
        }
        // A record that does not parse is as good as none.
        let parse = || -> Option<NarInfo> {
            let path = StorePath::from_base_name(&format!("{hash}-{}", r.1.as_deref()?)).ok()?;
            let nar_hash = Hash::parse_any(r.6.as_deref()?, None).ok()?;
            let mut info = PathInfo::new(path, nar_hash, r.7.unwrap_or(0) as u64);
            info.registration_time = 0;
            for b in
                r.8.as_deref()
                    .unwrap_or("")
                    .split(' ')
                    .filter(|s| !s.is_empty())
            {
                info.references.insert(StorePath::from_base_name(b).ok()?);
            }
            if let Some(d) = r.9.as_deref().filter(|d| !d.is_empty()) {
                info.deriver = Some(StorePath::from_base_name(d).ok()?);
            }
            info.sigs =
                r.10.as_deref()
                    .unwrap_or("")
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            info.ca = r.11.clone().filter(|c| !c.is_empty());
            let file_hash = match r.4.as_deref().filter(|h| !h.is_empty()) {
                Some(h) => Some(Hash::parse_any(h, None).ok()?),
                None => None,
            };
            Some(NarInfo {
                info,
                url: r.2.clone().unwrap_or_default(),
                compression: r.3.clone().unwrap_or_default(),
                file_hash,
                file_size: r.5.unwrap_or(0) as u64,
                system: String::new(),
            })
        };
        match parse() {
            Some(n) => Known::Present(Box::new(n)),
            None => Known::Unknown,
        }
    }

    /// Records what `uri` has for `hash` (`None`: nothing).
    pub fn upsert(&self, uri: &str, hash: &str, n: Option<&NarInfo>) {
        let Some(id) = self.id(uri) else { return };
        let db = self.db();
        let _ = match n {
            None => db.execute(
                "insert or replace into NARs(cache, hashPart, timestamp, present) values (?1, ?2, ?3, 0)",
                params![id, hash, now()],
            ),
            Some(n) => {
                let i = &n.info;
                let refs: Vec<&str> = i.references.iter().map(|r| r.base_name()).collect();
                db.execute(
                    "insert or replace into NARs(cache, hashPart, namePart, url, compression, fileHash, fileSize, narHash, narSize, refs, deriver, sigs, ca, timestamp, present) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 1)",
                    params![
                        id,
                        hash,
                        i.path.name(),
                        n.url,
                        n.compression,
                        n.file_hash.as_ref().map(|h| h.encode(Encoding::Nix32, true)),
                        (n.file_size != 0).then_some(n.file_size as i64),
                        i.nar_hash.encode(Encoding::Nix32, true),
                        (i.nar_size != 0).then_some(i.nar_size as i64),
                        refs.join(" "),
                        i.deriver.as_ref().map(|d| d.base_name().to_string()),
                        i.sigs.join(" "),
                        i.ca.clone().unwrap_or_default(),
                        now(),
                    ],
                )
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrix_store::StoreDir;

    #[test]
    fn records_and_ttls() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("c.sqlite");
        let c = DiskCache::open(&f, 100, 100).unwrap();
        assert_eq!(c.cache_info("http://x"), None);
        c.create_cache("http://x", "/nix/store", true, 40);
        let text = "StorePath: /nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello\nURL: nar/x.nar.xz\nCompression: xz\nNarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\nNarSize: 5\nReferences: ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello\nSig: k:abc\n";
        let n = NarInfo::parse(&StoreDir::default(), text, "x").unwrap();
        c.upsert("http://x", "ivlnvab4q9c7wbsvbfsvgaa15j9p6206", Some(&n));
        c.upsert("http://x", "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz", None);
        drop(c);
        // Another process (here: another handle) sees them.
        let c = DiskCache::open(&f, 100, 100).unwrap();
        assert_eq!(c.cache_info("http://x"), Some((true, 40)));
        assert_eq!(
            c.lookup("http://x", "ivlnvab4q9c7wbsvbfsvgaa15j9p6206"),
            Known::Present(Box::new(n))
        );
        assert_eq!(
            c.lookup("http://x", "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz"),
            Known::Absent
        );
        assert_eq!(
            c.lookup("http://x", "2mrv63hb9p5ah0kssbz3r3j2c77g2y0p"),
            Known::Unknown
        );
        // With a TTL of 0 nothing counts.
        let c = DiskCache::open(&f, 0, 0).unwrap();
        c.cache_info("http://x");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(
            c.lookup("http://x", "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz"),
            Known::Unknown
        );
    }
}
