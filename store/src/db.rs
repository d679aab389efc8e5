//! The store database, `<state>/db/db.sqlite`, in Nix 2.8's schema version 10: the valid
//! paths with their metadata, the references between them, and the outputs of valid
//! derivations. Nix 2.8 reads what Ferrix writes here and the reverse.

use crate::hash::{Hash, HashAlgo};
use crate::path::{StoreDir, StorePath};
use crate::store::StoreError;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: u32 = 10;

/// Schema version 10, statement for statement as Nix 2.8 creates it.
const SCHEMA: &str = r#"CREATE TABLE IF NOT EXISTS ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer, -- null implies "false"
    sigs             text, -- space-separated
    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo
);

CREATE TABLE IF NOT EXISTS Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);

CREATE INDEX IF NOT EXISTS IndexReferrer on Refs(referrer);
CREATE INDEX IF NOT EXISTS IndexReference on Refs(reference);

-- Paths can refer to themselves, causing a tuple (N, N) in the Refs
-- table.  This causes a deletion of the corresponding row in
-- ValidPaths to cause a foreign key constraint violation (due to `on
-- delete restrict' on the `reference' column).  Therefore, explicitly
-- get rid of self-references.
CREATE TRIGGER IF NOT EXISTS DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;

CREATE TABLE IF NOT EXISTS DerivationOutputs (
    drv  integer not null,
    id   text not null, -- symbolic output id, usually "out"
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);

CREATE INDEX IF NOT EXISTS IndexDerivationOutputs on DerivationOutputs(path);
"#;

/// The version of the tables of content-addressed derivations (`<db>/ca-schema`) that
/// this code reads and writes, as Nix 2.8.
pub const CA_SCHEMA_VERSION: u32 = 3;

/// Those tables: which path each derivation output (by modulo hash and output name) was
/// realised at, with its signatures, and the realisations each one was built from. Their
/// rows go with the output's `ValidPaths` row.
const CA_SCHEMA: &str = r#"
create table if not exists Realisations (
    id          integer primary key autoincrement not null,
    drvPath     text not null,    -- the modulo hash, `sha256:<base 16>`
    outputName  text not null,
    outputPath  integer not null,
    signatures  text,             -- separated by spaces
    foreign key (outputPath) references ValidPaths(id) on delete cascade
);
create index if not exists IndexRealisations on Realisations(drvPath, outputName);
create table if not exists RealisationsRefs (
    referrer             integer not null,
    realisationReference integer,
    foreign key (referrer) references Realisations(id) on delete cascade,
    foreign key (realisationReference) references Realisations(id) on delete restrict
);
create index if not exists IndexRealisationsRefs on RealisationsRefs(referrer);
create index if not exists IndexRealisationsRefsOnOutputPath on Realisations(outputPath);
"#;

/// What the store knows about a valid path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    /// SHA-256 of the NAR serialisation.
    pub nar_hash: Hash,
    pub nar_size: u64,
    /// Seconds since the epoch.
    pub registration_time: i64,
    pub deriver: Option<StorePath>,
    pub references: BTreeSet<StorePath>,
    /// Built locally (trusted without signatures).
    pub ultimate: bool,
    pub sigs: Vec<String>,
    /// The content address: `text:sha256:…`, `fixed:r:sha256:…`, `fixed:sha1:…`.
    pub ca: Option<String>,
}

impl PathInfo {
    /// A fresh registration of `path` at the current time.
    pub fn new(path: StorePath, nar_hash: Hash, nar_size: u64) -> PathInfo {
        PathInfo {
            path,
            nar_hash,
            nar_size,
            registration_time: now(),
            deriver: None,
            references: BTreeSet::new(),
            ultimate: false,
            sigs: Vec::new(),
            ca: None,
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Other(format!("SQLite database error: {e}"))
}

/// What a database step can fail with: SQLite itself (busy errors among them, which are
/// retried), or the store's own refusal (which is not).
#[derive(Debug)]
enum DbError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sql(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Store(e)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sql(e) => sql(e),
            DbError::Store(e) => e,
        }
    }
}

/// Whether SQLite refused because another connection holds a lock. Nix retries these
/// forever; so does Ferrix. In WAL mode a deferred transaction that read and then wants to
/// write gets such an error without the busy handler ever waiting, which is why every
/// transaction that writes here begins `IMMEDIATE`.
fn is_busy(e: &DbError) -> bool {
    matches!(
        e,
        DbError::Sql(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Waits a little (up to 100 ms, at random so that contenders spread out) before a busy
/// step is tried again.
fn busy_pause(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = nanos ^ std::process::id().wrapping_mul(2_654_435_761) ^ attempt;
    std::thread::sleep(Duration::from_micros(u64::from(seed % 100_000)));
}

/// Runs `step` until it does not fail with a busy error.
fn retry<T>(mut step: impl FnMut() -> Result<T, DbError>) -> Result<T, StoreError> {
    let mut attempt = 0u32;
    loop {
        match step() {
            Err(e) if is_busy(&e) => {
                attempt = attempt.wrapping_add(1);
                busy_pause(attempt);
            }
            r => return r.map_err(StoreError::from),
        }
    }
}

/// An open store database.
pub struct Db {
    conn: Connection,
    dir: StoreDir,
}

impl Db {
    /// Opens (and when `create`, creates) the database in `db_dir` (`<state>/db`). Without
    /// `create`, a missing database is an empty in-memory one. `durable`: SQLite syncs
    /// its write-ahead log at checkpoints (`synchronous = normal`), so that a power failure
    /// cannot corrupt the database; without it (`fsync-metadata = false`), it never syncs
    /// (`off`).
    pub fn open(
        db_dir: &Path,
        dir: &StoreDir,
        create: bool,
        durable: bool,
    ) -> Result<Db, StoreError> {
        let file = db_dir.join("db.sqlite");
        let schema_file = db_dir.join("schema");
        let current = match std::fs::read_to_string(&schema_file) {
            Ok(s) => s.trim().parse::<u32>().map_err(|_| {
                StoreError::Other(format!("'{}' is corrupt", schema_file.display()))
            })?,
            Err(_) => 0,
        };
        if current > SCHEMA_VERSION {
            return Err(StoreError::Other(format!(
                "current Nix store schema is version {current}, but I only support {SCHEMA_VERSION}"
            )));
        }
        if current != 0 && current < 7 {
            return Err(StoreError::Other(format!(
                "current Nix store schema is version {current}, but I only support {SCHEMA_VERSION}; please upgrade with Nix first"
            )));
        }
        let exists = file.exists();
        let mut conn = if create {
            Connection::open(&file)
        } else if exists {
            Connection::open_with_flags(
                &file,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        } else {
            Connection::open_in_memory()
        }
        .map_err(|e| {
            StoreError::Other(format!(
                "cannot open SQLite database '{}': {e}",
                file.display()
            ))
        })?;
        conn.busy_timeout(Duration::from_secs(3600)).map_err(sql)?;
        retry(|| Ok(conn.execute_batch("PRAGMA foreign_keys = 1;")?))?;
        // Pages are read through a mapping of the file rather than a copy per read, and up
        // to 32 MiB of them are kept: a collection or a verification walks the whole
        // database, which at 100,000 paths spent a tenth of its time copying pages in.
        retry(|| Ok(conn.pragma_update(None, "mmap_size", 256i64 << 20)?))?;
        retry(|| Ok(conn.pragma_update(None, "cache_size", -32768i64)?))?;
        if create || !exists {
            let mode = if durable { "normal" } else { "off" };
            retry(|| Ok(conn.pragma_update(None, "synchronous", mode)?))?;
            // Checkpoint the write-ahead log every 40,000 pages rather than SQLite's 1,000
            // (as Nix does): many small transactions, such as a collection's one per dead
            // path, then cost far fewer syncs and copies into the database.
            retry(|| Ok(conn.pragma_update(None, "wal_autocheckpoint", 40000)?))?;
            if create {
                let mode: String =
                    retry(|| Ok(conn.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0))?))?;
                if mode != "wal" && mode != "memory" {
                    return Err(StoreError::Other(format!(
                        "cannot switch SQLite to WAL mode (got '{mode}')"
                    )));
                }
            }
            // The tables exist once the schema file says so; creating them is one
            // immediate transaction, so that processes opening a new store at once do not
            // trip over each other.
            if current != SCHEMA_VERSION || !exists {
                retry(|| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    tx.execute_batch(SCHEMA)?;
                    tx.commit()?;
                    Ok(())
                })?;
            }
            if create && current != SCHEMA_VERSION {
                let tmp = db_dir.join(format!(".schema.tmp-{}", std::process::id()));
                std::fs::write(&tmp, SCHEMA_VERSION.to_string())?;
                std::fs::rename(&tmp, &schema_file)?;
            }
        }
        Ok(Db {
            conn,
            dir: dir.clone(),
        })
    }

    fn full(&self, p: &StorePath) -> String {
        self.dir.display(p)
    }

    fn parse(&self, s: &str) -> Result<StorePath, StoreError> {
        Ok(self.dir.parse(s)?)
    }

    fn id_of(&self, p: &StorePath) -> Result<Option<i64>, StoreError> {
        let full = self.full(p);
        retry(|| {
            Ok(self
                .conn
                .prepare_cached("select id from ValidPaths where path = ?1")?
                .query_row([&full], |r| r.get(0))
                .optional()?)
        })
    }

    pub fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        Ok(self.id_of(p)?.is_some())
    }

    /// The paths a query with one text parameter returns, in one read transaction.
    fn query_paths(&self, query: &str, arg: Option<&str>) -> Result<Vec<String>, StoreError> {
        retry(|| {
            let mut st = self.conn.prepare_cached(query)?;
            let get = |r: &rusqlite::Row<'_>| r.get::<_, String>(0);
            Ok(match arg {
                Some(a) => st.query_map([a], get)?.collect::<Result<Vec<_>, _>>()?,
                None => st.query_map([], get)?.collect::<Result<Vec<_>, _>>()?,
            })
        })
    }

    /// Every valid path, sorted.
    pub fn all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths("select path from ValidPaths", None)?
            .iter()
            .map(|s| self.parse(s))
            .collect()
    }

    pub fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        let full = self.full(p);
        type Row = (
            String,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        // The row and its references are read in one transaction, so that they agree.
        let found: Option<(Row, Vec<String>)> = retry(|| {
            let tx = self.conn.unchecked_transaction()?;
            let row = tx
                .prepare_cached(
                    "select id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca \
                     from ValidPaths where path = ?1",
                )?
                .query_row([&full], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        (
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<i64>>(4)?,
                            r.get::<_, Option<i64>>(5)?,
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                        ),
                    ))
                })
                .optional()?;
            let Some((id, row)) = row else {
                return Ok(None);
            };
            let refs = tx
                .prepare_cached(
                    "select path from Refs join ValidPaths on reference = id where referrer = ?1",
                )?
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some((row, refs)))
        })?;
        let Some(((hash, time, deriver, size, ultimate, sigs, ca), refs)) = found else {
            return Ok(None);
        };
        let nar_hash = Hash::parse_any(&hash, Some(HashAlgo::Sha256))
            .map_err(|e| StoreError::Other(format!("invalid-path entry for '{full}': {e}")))?;
        let deriver = match deriver.as_deref() {
            Some(d) if !d.is_empty() => self.dir.parse(d).ok(),
            _ => None,
        };
        let mut references = BTreeSet::new();
        for r in &refs {
            references.insert(self.parse(r)?);
        }
        Ok(Some(PathInfo {
            path: p.clone(),
            nar_hash,
            nar_size: size.unwrap_or(0).max(0) as u64,
            registration_time: time.unwrap_or(0),
            deriver,
            references,
            ultimate: ultimate.unwrap_or(0) != 0,
            sigs: sigs
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ca: ca.filter(|c| !c.is_empty()),
        }))
    }

    /// The references of `p` and its deriver (if it records one), or `None` when it is not
    /// valid: two cached statements and no transaction of its own, for walks over many
    /// paths (the collector's, which holds the GC lock, so nothing it walks changes
    /// underneath).
    #[allow(clippy::type_complexity)]
    pub fn references_and_deriver(
        &self,
        p: &StorePath,
    ) -> Result<Option<(Vec<StorePath>, Option<StorePath>)>, StoreError> {
        let full = self.full(p);
        let row: Option<(i64, Option<String>)> = retry(|| {
            Ok(self
                .conn
                .prepare_cached("select id, deriver from ValidPaths where path = ?1")?
                .query_row([&full], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })?;
        let Some((id, deriver)) = row else {
            return Ok(None);
        };
        let deriver = match deriver.as_deref() {
            Some(d) if !d.is_empty() => self.dir.parse(d).ok(),
            _ => None,
        };
        let refs = retry(|| {
            Ok(self
                .conn
                .prepare_cached(
                    "select path from Refs join ValidPaths on reference = id where referrer = ?1",
                )?
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?)
        })?;
        let refs = refs
            .iter()
            .map(|s| self.parse(s))
            .collect::<Result<_, _>>()?;
        Ok(Some((refs, deriver)))
    }

    /// The valid paths that refer to `p`.
    pub fn referrers(&self, p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths(
            "select path from Refs join ValidPaths on referrer = id \
             where reference = (select id from ValidPaths where path = ?1)",
            Some(&self.full(p)),
        )?
        .iter()
        .map(|s| self.parse(s))
        .collect()
    }

    /// The outputs recorded for a valid derivation, by output name.
    pub fn derivation_outputs(
        &self,
        drv: &StorePath,
    ) -> Result<BTreeMap<String, StorePath>, StoreError> {
        let full = self.full(drv);
        let rows = retry(|| {
            Ok(self
                .conn
                .prepare_cached(
                    "select id, path from DerivationOutputs \
                     where drv = (select id from ValidPaths where path = ?1)",
                )?
                .query_map([&full], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut out = BTreeMap::new();
        for (id, path) in rows {
            out.insert(id, self.parse(&path)?);
        }
        Ok(out)
    }

    /// The valid derivations that have `out` as an output.
    pub fn valid_derivers(&self, out: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths(
            "select v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id \
             where d.path = ?1",
            Some(&self.full(out)),
        )?
        .iter()
        .map(|s| self.parse(s))
        .collect()
    }

    /// The valid path whose hash part is `hash` (Nix's `queryPathFromHashPart`).
    pub fn path_from_hash_part(&self, hash: &str) -> Result<Option<StorePath>, StoreError> {
        let prefix = format!("{}/{hash}", self.dir.as_str());
        let found = self.query_paths(
            "select path from ValidPaths where path >= ?1 limit 1",
            Some(&prefix),
        )?;
        match found.first() {
            Some(p) if p.starts_with(&prefix) && p[prefix.len()..].starts_with('-') => {
                Ok(Some(self.parse(p)?))
            }
            _ => Ok(None),
        }
    }

    /// Runs `body` in an immediate (write-locking) transaction, again from the start for as
    /// long as SQLite reports the database busy. `body` only touches the database, so a
    /// retry repeats nothing else; keep it short, as every other writer waits for it.
    fn write<T>(
        &mut self,
        mut body: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let conn = &mut self.conn;
        retry(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = body(&tx)?;
            tx.commit()?;
            Ok(v)
        })
    }

    /// Creates the tables of content-addressed derivations unless `<db_dir>/ca-schema` says
    /// they are there, as Nix 2.8 does when `ca-derivations` is on.
    pub fn ensure_ca_schema(&mut self, db_dir: &Path) -> Result<(), StoreError> {
        let file = db_dir.join("ca-schema");
        let current = match std::fs::read_to_string(&file) {
            Ok(s) => s
                .trim()
                .parse::<u32>()
                .map_err(|_| StoreError::Other(format!("'{}' is corrupt", file.display())))?,
            Err(_) => 0,
        };
        if current == CA_SCHEMA_VERSION {
            return Ok(());
        }
        if current > CA_SCHEMA_VERSION {
            return Err(StoreError::Other(format!(
                "current Nix store ca-schema is version {current}, but I only support {CA_SCHEMA_VERSION}"
            )));
        }
        if current == 1 {
            return Err(StoreError::Other(format!(
                "current Nix store ca-schema is version 1, but I only support {CA_SCHEMA_VERSION}; please upgrade with Nix first"
            )));
        }
        self.write(|tx| Ok(tx.execute_batch(CA_SCHEMA)?))?;
        let tmp = db_dir.join(format!(".ca-schema.tmp-{}", std::process::id()));
        std::fs::write(&tmp, CA_SCHEMA_VERSION.to_string())?;
        std::fs::rename(&tmp, &file)?;
        Ok(())
    }

    /// The realisation of `id`, if any (none when the tables are not there).
    pub fn realisation(
        &self,
        id: &crate::realisation::DrvOutput,
    ) -> Result<Option<crate::realisation::Realisation>, StoreError> {
        use crate::realisation::{DrvOutput, Realisation};
        let hash = format!("{}:{}", id.drv_hash.algo, id.drv_hash.to_base16());
        let found = retry(|| {
            let tx = self.conn.unchecked_transaction()?;
            let has_table: bool = tx
                .prepare_cached(
                    "select count(*) from sqlite_master where type = 'table' and name = 'Realisations'",
                )?
                .query_row([], |r| r.get::<_, i64>(0))?
                > 0;
            if !has_table {
                return Ok(None);
            }
            let row = tx
                .prepare_cached(
                    "select r.id, v.path, r.signatures from Realisations r \
                     join ValidPaths v on v.id = r.outputPath \
                     where r.drvPath = ?1 and r.outputName = ?2",
                )?
                .query_row(params![hash, id.output], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()?;
            let Some((rid, path, sigs)) = row else {
                return Ok(None);
            };
            let deps = tx
                .prepare_cached(
                    "select r.drvPath, r.outputName, v.path from RealisationsRefs x \
                     join Realisations r on r.id = x.realisationReference \
                     join ValidPaths v on v.id = r.outputPath where x.referrer = ?1",
                )?
                .query_map([rid], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some((path, sigs, deps)))
        })?;
        let Some((path, sigs, deps)) = found else {
            return Ok(None);
        };
        let mut r = Realisation::new(id.clone(), self.parse(&path)?);
        r.signatures = sigs
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for (h, o, p) in deps {
            let dep = DrvOutput::parse(&format!("{h}!{o}"))
                .map_err(|e| StoreError::Other(e.to_string()))?;
            r.dependent.insert(dep, self.parse(&p)?);
        }
        Ok(Some(r))
    }

    /// Records `r` (its output path must be valid, and so must the realisations it
    /// depends on, at the same paths). A realisation already there at the same path gains
    /// the new signatures; one at another path is an error, as in Nix.
    pub fn register_realisation(
        &mut self,
        r: &crate::realisation::Realisation,
    ) -> Result<(), StoreError> {
        let hash_of = |id: &crate::realisation::DrvOutput| {
            format!("{}:{}", id.drv_hash.algo, id.drv_hash.to_base16())
        };
        if let Some(old) = self.realisation(&r.id)? {
            if old.out_path != r.out_path {
                return Err(StoreError::Other(format!(
                    "Trying to register a realisation of '{}', but we already have another one locally.\nLocal:  {}\nRemote: {}",
                    r.id,
                    self.full(&old.out_path),
                    self.full(&r.out_path)
                )));
            }
        }
        for (dep, path) in &r.dependent {
            match self.realisation(dep)? {
                None => {
                    return Err(StoreError::Other(format!(
                        "unable to register the derivation '{}' as it depends on the non existent '{dep}'",
                        r.id
                    )))
                }
                Some(d) if &d.out_path != path => {
                    return Err(StoreError::Other(format!(
                        "unable to register the derivation '{}' as it depends on a realisation of '{dep}' that doesn't match what we have locally",
                        r.id
                    )))
                }
                Some(_) => {}
            }
        }
        if !self.is_valid(&r.out_path)? {
            return Err(StoreError::Other(format!(
                "cannot register realisation '{}': path '{}' is not valid",
                r.id,
                self.full(&r.out_path)
            )));
        }
        let hash = hash_of(&r.id);
        let out = self.full(&r.out_path);
        let deps: Vec<(String, String)> = r
            .dependent
            .keys()
            .map(|d| (hash_of(d), d.output.clone()))
            .collect();
        let new_sigs = r.signatures.clone();
        let output = r.id.output.clone();
        self.write(|tx| {
            let old: Option<Option<String>> = tx
                .prepare_cached(
                    "select signatures from Realisations where drvPath = ?1 and outputName = ?2",
                )?
                .query_row(params![hash, output], |row| row.get(0))
                .optional()?;
            match old {
                Some(sigs) => {
                    let mut all: BTreeSet<String> = sigs
                        .unwrap_or_default()
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    all.extend(new_sigs.iter().cloned());
                    let joined = all.into_iter().collect::<Vec<_>>().join(" ");
                    tx.prepare_cached(
                        "update Realisations set signatures = ?1 where drvPath = ?2 and outputName = ?3",
                    )?
                    .execute(params![joined, hash, output])?;
                }
                None => {
                    let joined = new_sigs.iter().cloned().collect::<Vec<_>>().join(" ");
                    tx.prepare_cached(
                        "insert into Realisations (drvPath, outputName, outputPath, signatures) \
                         values (?1, ?2, (select id from ValidPaths where path = ?3), ?4)",
                    )?
                    .execute(params![hash, output, out, joined])?;
                }
            }
            for (dh, dout) in &deps {
                tx.prepare_cached(
                    "insert or replace into RealisationsRefs (referrer, realisationReference) values \
                     ((select id from Realisations where drvPath = ?1 and outputName = ?2), \
                      (select id from Realisations where drvPath = ?3 and outputName = ?4))",
                )?
                .execute(params![hash, output, dh, dout])?;
            }
            Ok(())
        })
    }

    /// Registers `infos` (new or already valid) with their references, and for derivations
    /// the outputs in `drv_outputs`, in one transaction. Every reference must be valid
    /// afterwards.
    pub fn register(
        &mut self,
        infos: &[PathInfo],
        drv_outputs: &BTreeMap<StorePath, BTreeMap<String, StorePath>>,
    ) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        self.write(|tx| register_in(tx, &dir, infos, drv_outputs))
    }

    /// Updates the hash and size of a valid path (as `--verify --check-contents` does when
    /// they are missing).
    pub fn update_hash(&mut self, p: &StorePath, hash: &Hash, size: u64) -> Result<(), StoreError> {
        let full = self.full(p);
        let hash = format!("sha256:{}", hash.to_base16());
        self.write(|tx| {
            tx.execute(
                "update ValidPaths set hash = ?1, narSize = ?2 where path = ?3",
                params![hash, size as i64, full],
            )?;
            Ok(())
        })
    }

    /// Removes `p` from the valid paths. Fails while other valid paths refer to it.
    pub fn invalidate(&mut self, p: &StorePath) -> Result<(), StoreError> {
        let full = self.full(p);
        self.write(|tx| {
            tx.execute("delete from ValidPaths where path = ?1", [&full])?;
            Ok(())
        })
    }

    /// Unregisters `paths` in order, in one transaction. Each must have no valid referrer
    /// but itself once those before it are gone. If one has, nothing is unregistered, and
    /// its index with its referrers is returned.
    pub fn invalidate_all_unreferenced(
        &mut self,
        paths: &[StorePath],
    ) -> Result<Option<(usize, Vec<StorePath>)>, StoreError> {
        let fulls: Vec<String> = paths.iter().map(|p| self.full(p)).collect();
        let conn = &mut self.conn;
        let found: Option<(usize, Vec<String>)> = retry(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (i, full) in fulls.iter().enumerate() {
                let id: Option<i64> = tx
                    .prepare_cached("select id from ValidPaths where path = ?1")?
                    .query_row([full], |r| r.get(0))
                    .optional()?;
                let Some(id) = id else { continue };
                let users = tx
                    .prepare_cached(
                        "select path from Refs join ValidPaths on referrer = id \
                         where reference = ?1 and referrer != ?1",
                    )?
                    .query_map([id], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                if !users.is_empty() {
                    // Dropping the transaction rolls it back.
                    return Ok(Some((i, users)));
                }
                tx.prepare_cached("delete from ValidPaths where id = ?1")?
                    .execute([id])?;
            }
            tx.commit()?;
            Ok(None)
        })?;
        match found {
            None => Ok(None),
            Some((i, users)) => {
                let users = users
                    .iter()
                    .map(|u| self.parse(u))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((i, users)))
            }
        }
    }
}

/// The body of [`Db::register`], inside its transaction.
fn register_in(
    tx: &rusqlite::Transaction<'_>,
    dir: &StoreDir,
    infos: &[PathInfo],
    drv_outputs: &BTreeMap<StorePath, BTreeMap<String, StorePath>>,
) -> Result<(), DbError> {
    let mut ids = BTreeMap::new();
    for info in infos {
        let full = dir.display(&info.path);
        let existing: Option<i64> = tx
            .prepare_cached("select id from ValidPaths where path = ?1")?
            .query_row([&full], |r| r.get(0))
            .optional()?;
        let hash = format!("sha256:{}", info.nar_hash.to_base16());
        let size = (info.nar_size != 0).then_some(info.nar_size as i64);
        let ultimate = info.ultimate.then_some(1i64);
        let sigs = (!info.sigs.is_empty()).then(|| info.sigs.join(" "));
        let id = match existing {
            Some(id) => {
                tx.prepare_cached(
                    "update ValidPaths set narSize = ?1, hash = ?2, ultimate = ?3, \
                     sigs = ?4, ca = ?5 where path = ?6",
                )?
                .execute(params![size, hash, ultimate, sigs, info.ca, full])?;
                id
            }
            None => {
                tx.prepare_cached(
                    "insert into ValidPaths (path, hash, registrationTime, deriver, \
                     narSize, ultimate, sigs, ca) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    full,
                    hash,
                    info.registration_time,
                    info.deriver.as_ref().map(|d| dir.display(d)),
                    size,
                    ultimate,
                    sigs,
                    info.ca
                ])?;
                tx.last_insert_rowid()
            }
        };
        ids.insert(info.path.clone(), id);
    }
    for info in infos {
        let referrer = ids[&info.path];
        for r in &info.references {
            let reference = match ids.get(r) {
                Some(&id) => id,
                None => tx
                    .prepare_cached("select id from ValidPaths where path = ?1")?
                    .query_row([dir.display(r)], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| {
                        StoreError::Other(format!("path '{}' is not valid", dir.display(r)))
                    })?,
            };
            tx.prepare_cached("insert or replace into Refs (referrer, reference) values (?1, ?2)")?
                .execute(params![referrer, reference])?;
        }
        if let Some(outs) = drv_outputs.get(&info.path) {
            for (name, out) in outs {
                tx.prepare_cached(
                    "insert or replace into DerivationOutputs (drv, id, path) \
                     values (?1, ?2, ?3)",
                )?
                .execute(params![referrer, name, dir.display(out)])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_metadata_sets_sqlite_synchronous() {
        let dir = StoreDir::default();
        for (durable, want) in [(true, 1), (false, 0)] {
            let tmp = tempfile::tempdir().unwrap();
            let db = Db::open(tmp.path(), &dir, true, durable).unwrap();
            let mode: i64 = db
                .conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, want, "durable = {durable}");
            // Every connection sets it: it is not kept in the database file.
            drop(db);
            let db = Db::open(tmp.path(), &dir, true, durable).unwrap();
            let again: i64 = db
                .conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(again, want);
        }
    }

    #[test]
    fn register_query_invalidate() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StoreDir::default();
        let mut db = Db::open(tmp.path(), &dir, true, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("schema")).unwrap(),
            "10"
        );
        let a = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-a").unwrap();
        let b = StorePath::from_base_name("631i03090lma9fvg7y5hqq1lyxf146kp-b").unwrap();
        let mut ia = PathInfo::new(a.clone(), Hash::sha256(b"a"), 120);
        ia.references.insert(a.clone());
        ia.references.insert(b.clone());
        ia.ca = Some("text:sha256:xyz".into());
        let ib = PathInfo::new(b.clone(), Hash::sha256(b"b"), 128);
        db.register(&[ia.clone(), ib.clone()], &BTreeMap::new())
            .unwrap();
        assert_eq!(db.path_info(&a).unwrap().unwrap(), ia);
        assert_eq!(db.referrers(&b).unwrap(), [a.clone()].into());
        assert!(db.invalidate(&b).is_err(), "b is still referenced");
        db.invalidate(&a).unwrap();
        db.invalidate(&b).unwrap();
        assert!(db.all_valid().unwrap().is_empty());
        // An unknown reference refuses the whole batch.
        let mut ic = PathInfo::new(a.clone(), Hash::sha256(b"a"), 120);
        ic.references.insert(b.clone());
        assert!(db.register(&[ic], &BTreeMap::new()).is_err());
        assert!(!db.is_valid(&a).unwrap());
    }
}
