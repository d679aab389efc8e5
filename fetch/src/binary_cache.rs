//! Binary-cache stores: `file://DIR`, `http://…` and `https://…` caches of `.narinfo`
//! files and compressed NARs, as Nix 2.8 lays them out.
//!
//! A cache is read through [`Store`]; NARs are streamed from the server through their
//! decompressor, never held whole. A `file://` cache can also be written (`add_nar` and
//! friends): NARs are compressed to `nar/<file hash>.nar<ext>` and signed with the cache's
//! `secret-key`.

use crate::compression::Compression;
use crate::http::{Client, Fetched, HttpOptions};
use crate::narinfo::NarInfo;
use crate::narinfo_cache::{DiskCache, Known};
use ferrix_store::hash::{Encoding, Hasher};
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::sigs::SecretKey;
use ferrix_store::store::Filter;
use ferrix_store::{Hash, HashAlgo, PathInfo, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Whether `uri` names a binary cache.
pub fn is_binary_cache_uri(uri: &str) -> bool {
    uri.starts_with("file://") || uri.starts_with("http://") || uri.starts_with("https://")
}

/// A binary cache.
pub struct BinaryCacheStore {
    /// The cache's URL without parameters or a trailing slash.
    base: String,
    dir: StoreDir,
    client: Client,
    /// Lower is tried first.
    pub priority: i64,
    pub want_mass_query: bool,
    /// `?trusted=1`: its paths need no signature.
    pub trusted: bool,
    compression: Compression,
    compression_level: Option<i32>,
    secret_keys: Vec<SecretKey>,
    /// The cache directory of a `file://` cache.
    local: Option<PathBuf>,
    /// `.narinfo` files read in this process (`None`: the cache has none).
    narinfos: Mutex<BTreeMap<String, Option<NarInfo>>>,
    /// The disk cache of `.narinfo` files (HTTP caches, as in Nix).
    disk: Option<Arc<DiskCache>>,
}

/// Whether Nix would keep the `.narinfo` files of `uri` in its disk cache: HTTP caches,
/// and `file://` ones when `_NIX_FORCE_HTTP=1` (which Nix's tests set).
pub fn uses_disk_cache(uri: &str) -> bool {
    uri.starts_with("http://")
        || uri.starts_with("https://")
        || (uri.starts_with("file://") && std::env::var("_NIX_FORCE_HTTP").is_ok_and(|v| v == "1"))
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

fn bool_param(name: &str, v: &str) -> Result<bool, StoreError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(StoreError::Other(format!(
            "Boolean setting '{name}' has invalid value '{v}'"
        ))),
    }
}

impl BinaryCacheStore {
    /// Opens the cache at `uri` (with its `?priority=`, `trusted=`, `compression=`,
    /// `compression-level=`, `secret-key=`, `want-mass-query=` parameters) and reads its
    /// `nix-cache-info`; a `file://` cache that has none gets one.
    pub fn open(
        uri: &str,
        dir: StoreDir,
        http: &HttpOptions,
    ) -> Result<BinaryCacheStore, StoreError> {
        BinaryCacheStore::open_with(uri, dir, http, None)
    }

    /// [`BinaryCacheStore::open`] with the `.narinfo` disk cache `disk`, which an HTTP
    /// cache uses (see [`uses_disk_cache`]): a cache seen before is not asked for its
    /// `nix-cache-info` again, and records found or missed are kept.
    pub fn open_with(
        uri: &str,
        dir: StoreDir,
        http: &HttpOptions,
        disk: Option<Arc<DiskCache>>,
    ) -> Result<BinaryCacheStore, StoreError> {
        if !is_binary_cache_uri(uri) {
            return Err(StoreError::Other(format!(
                "don't know how to open Nix store '{uri}'"
            )));
        }
        let (base, query) = match uri.split_once('?') {
            Some((b, q)) => (b, q),
            None => (uri, ""),
        };
        let base = base.trim_end_matches('/').to_string();
        let mut s = BinaryCacheStore {
            local: base.strip_prefix("file://").map(PathBuf::from),
            base,
            dir,
            client: Client::new(http).map_err(other)?,
            priority: 50,
            want_mass_query: false,
            trusted: false,
            compression: Compression::Xz,
            compression_level: None,
            secret_keys: Vec::new(),
            narinfos: Mutex::new(BTreeMap::new()),
            disk: disk.filter(|_| uses_disk_cache(uri)),
        };
        let mut priority = None;
        let mut mass = None;
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "priority" => {
                    priority = Some(v.parse().map_err(|_| {
                        StoreError::Other(format!("setting 'priority' has invalid value '{v}'"))
                    })?)
                }
                "trusted" => s.trusted = bool_param(k, v)?,
                // The store directory the cache's paths are for.
                "store" => s.dir = StoreDir::new(v),
                "want-mass-query" => mass = Some(bool_param(k, v)?),
                "compression" => s.compression = Compression::parse(v).map_err(other)?,
                "compression-level" => {
                    s.compression_level = Some(v.parse().map_err(|_| {
                        StoreError::Other(format!(
                            "setting 'compression-level' has invalid value '{v}'"
                        ))
                    })?)
                }
                "secret-key" => {
                    let text = std::fs::read_to_string(v).map_err(|e| {
                        StoreError::Other(format!(
                            "opening file '{v}': {}",
                            ferrix_store::io_reason(&e)
                        ))
                    })?;
                    s.secret_keys.push(SecretKey::parse(&text).map_err(other)?);
                }
                // Their default (off) is what Ferrix does; turning them on is refused
                // rather than ignored.
                "write-nar-listing" | "index-debug-info" | "parallel-compression" => {
                    if bool_param(k, v)? {
                        return Err(StoreError::Other(format!(
                            "setting '{k}' of binary cache '{}' is not supported by Ferrix yet",
                            s.base
                        )));
                    }
                }
                _ => {
                    return Err(StoreError::Other(format!(
                        "unknown setting '{k}' of binary cache '{}'",
                        s.base
                    )))
                }
            }
        }
        let known = s.disk.as_ref().and_then(|d| d.cache_info(&s.base));
        if let Some((mass, prio)) = known {
            s.want_mass_query = mass;
            s.priority = prio;
        } else {
            s.read_cache_info()?;
            if let Some(d) = &s.disk {
                d.create_cache(&s.base, s.dir.as_str(), s.want_mass_query, s.priority);
            }
        }
        if let Some(p) = priority {
            s.priority = p;
        }
        if let Some(m) = mass {
            s.want_mass_query = m;
        }
        Ok(s)
    }

    /// Reads `nix-cache-info` (a `file://` cache without one gets one).
    fn read_cache_info(&mut self) -> Result<(), StoreError> {
        let s = self;
        match s.get("nix-cache-info")? {
            Some(text) => {
                for line in String::from_utf8_lossy(&text).lines() {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.trim();
                    match name {
                        "StoreDir" if value != s.dir.as_str() => {
                            return Err(StoreError::Other(format!(
                                "binary cache '{}' is for Nix stores with prefix '{value}', not '{}'",
                                s.base,
                                s.dir.as_str()
                            )))
                        }
                        "WantMassQuery" => s.want_mass_query = value == "1",
                        "Priority" => {
                            if let Ok(p) = value.parse() {
                                s.priority = p;
                            }
                        }
                        _ => {}
                    }
                }
            }
            None => {
                if let Some(root) = &s.local {
                    std::fs::create_dir_all(root.join("nar")).map_err(|e| io_at(&e, root))?;
                    s.write_file(
                        "nix-cache-info",
                        format!("StoreDir: {}\n", s.dir.as_str()).as_bytes(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The cache's URL, as Nix prints it.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The file `rel` of the cache, or `None` when the cache has no such file.
    fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .client
            .get(&format!("{}/{rel}", self.base), None)
            .map_err(other)?
        {
            Fetched::Body { mut reader, .. } => {
                let mut v = Vec::new();
                reader.read_to_end(&mut v).map_err(|e| {
                    StoreError::Other(format!(
                        "unable to download '{}/{rel}': {}",
                        self.base,
                        ferrix_store::io_reason(&e)
                    ))
                })?;
                Ok(Some(v))
            }
            Fetched::NotFound | Fetched::NotModified => Ok(None),
        }
    }

    /// The `.narinfo` of `p`, if the cache has one for that very path.
    pub fn narinfo(&self, p: &StorePath) -> Result<Option<NarInfo>, StoreError> {
        let n = self.narinfo_by_hash(p.hash_part())?;
        Ok(n.filter(|n| n.info.path == *p))
    }

    fn narinfo_by_hash(&self, hash: &str) -> Result<Option<NarInfo>, StoreError> {
        if let Some(n) = self
            .narinfos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
        {
            return Ok(n.clone());
        }
        if let Some(d) = &self.disk {
            let known = match d.lookup(&self.base, hash) {
                Known::Unknown => None,
                Known::Absent => Some(None),
                Known::Present(n) => Some(Some(*n)),
            };
            if let Some(n) = known {
                self.narinfos
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hash.to_string(), n.clone());
                return Ok(n);
            }
        }
        let rel = format!("{hash}.narinfo");
        let n = match self.get(&rel)? {
            None => None,
            Some(text) => Some(
                NarInfo::parse(
                    &self.dir,
                    &String::from_utf8_lossy(&text),
                    &format!("{}/{rel}", self.base),
                )
                .map_err(other)?,
            ),
        };
        self.narinfos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.to_string(), n.clone());
        if let Some(d) = &self.disk {
            d.upsert(&self.base, hash, n.as_ref());
        }
        Ok(n)
    }

    /// The uncompressed NAR that `n` describes, streamed. The compressed bytes are checked
    /// against `FileHash`/`FileSize` when the stream ends; the caller checks the NAR hash.
    pub fn nar_reader(&self, n: &NarInfo) -> Result<Box<dyn Read + Send>, StoreError> {
        self.open_nar(n)?.ok_or_else(|| {
            StoreError::Other(format!(
                "file '{}' does not exist in binary cache '{}'",
                n.url, self.base
            ))
        })
    }

    /// [`BinaryCacheStore::nar_reader`], or `None` when the NAR file is gone from the cache.
    pub fn open_nar(&self, n: &NarInfo) -> Result<Option<Box<dyn Read + Send>>, StoreError> {
        self.open_nar_as(n, true)
    }

    /// [`BinaryCacheStore::open_nar`] for a reader that checks the NAR hash itself (a
    /// store importing it): the compressed file is not hashed against `FileHash` nor xz's
    /// own check computed, as Nix 2.8 does not; `FileSize` is still checked.
    pub fn open_nar_for_import(
        &self,
        n: &NarInfo,
    ) -> Result<Option<Box<dyn Read + Send>>, StoreError> {
        self.open_nar_as(n, false)
    }

    fn open_nar_as(
        &self,
        n: &NarInfo,
        check: bool,
    ) -> Result<Option<Box<dyn Read + Send>>, StoreError> {
        let method = Compression::parse(&n.compression).map_err(other)?;
        let url = format!("{}/{}", self.base, n.url);
        let body = match self.client.get(&url, None).map_err(other)? {
            Fetched::Body { reader, .. } => reader,
            _ => return Ok(None),
        };
        let checked = FileCheck {
            inner: body,
            hasher: n
                .file_hash
                .as_ref()
                .filter(|_| check)
                .map(|h| (Hasher::new(h.algo), h.clone())),
            size: n.file_size,
            count: 0,
            url,
        };
        let r: Box<dyn Read + Send> = Box::new(checked);
        if check {
            method.decoder(r)
        } else {
            method.decoder_unchecked(r)
        }
        .map(Some)
        .map_err(other)
    }

    fn write_file(&self, rel: &str, data: &[u8]) -> Result<(), StoreError> {
        let root = self.writable()?;
        let target = root.join(rel);
        let tmp = root.join(format!(".tmp-{}-{rel}", std::process::id()));
        std::fs::write(&tmp, data).map_err(|e| io_at(&e, &tmp))?;
        std::fs::rename(&tmp, &target).map_err(|e| io_at(&e, &target))
    }

    fn writable(&self) -> Result<&Path, StoreError> {
        self.local
            .as_deref()
            .ok_or_else(|| self.unsupported("writing to a binary cache over HTTP"))
    }

    /// Adds the NAR in the file `nar` (whose hash `info` gives) with `info`.
    fn add_nar_file(&self, info: &PathInfo, nar: &Path) -> Result<(), StoreError> {
        let mut f = std::fs::File::open(nar).map_err(|e| io_at(&e, nar))?;
        self.add_nar(info, &mut f, false, false)
    }

    /// Dumps `src` as a NAR into a temporary file of the cache; returns it with its hash.
    fn spool_dump(
        &self,
        src: &Path,
        filter: Filter<'_>,
    ) -> Result<(tempfile::NamedTempFile, Hash, u64), StoreError> {
        let root = self.writable()?;
        let tmp = tempfile::NamedTempFile::new_in(root).map_err(|e| io_at(&e, root))?;
        let mut w = HashWriter {
            inner: io::BufWriter::new(tmp.as_file().try_clone()?),
            hasher: Hasher::new(HashAlgo::Sha256),
            count: 0,
        };
        ferrix_store::nar::dump(src, &mut w, filter)?;
        w.inner.flush()?;
        let HashWriter {
            inner,
            hasher,
            count,
        } = w;
        drop(inner);
        let h = hasher.finish();
        Ok((tmp, h, count))
    }
}

fn io_at(e: &io::Error, p: &Path) -> StoreError {
    StoreError::io(format!("writing '{}'", p.display()), e)
}

/// Checks the compressed bytes of a download against the `.narinfo` at the end.
struct FileCheck {
    inner: Box<dyn Read + Send>,
    hasher: Option<(Hasher, Hash)>,
    size: u64,
    count: u64,
    url: String,
}

impl Read for FileCheck {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some((h, _)) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        if n == 0 && !buf.is_empty() {
            if self.size != 0 && self.count != self.size {
                return Err(io::Error::other(format!(
                    "'{}' has {} bytes, but its .narinfo says {}",
                    self.url, self.count, self.size
                )));
            }
            if let Some((h, want)) = self.hasher.take() {
                let got = h.finish();
                if got != want {
                    return Err(io::Error::other(format!(
                        "hash mismatch in '{}': expected {}, got {}",
                        self.url,
                        want.encode(Encoding::Nix32, true),
                        got.encode(Encoding::Nix32, true)
                    )));
                }
            }
        }
        Ok(n)
    }
}

struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Store for BinaryCacheStore {
    fn dir(&self) -> &StoreDir {
        &self.dir
    }

    fn uri(&self) -> String {
        self.base.clone()
    }

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        let hash = Hash::sha256(text);
        let path = self.dir.make_text_path(name, &hash, refs)?;
        if self.is_valid(&path)? {
            return Ok(path);
        }
        let root = self.writable()?;
        let file = tempfile::NamedTempFile::new_in(root).map_err(|e| io_at(&e, root))?;
        std::fs::write(file.path(), text).map_err(|e| io_at(&e, file.path()))?;
        let (nar, nar_hash, nar_size) = self.spool_dump(file.path(), &mut |_| Ok(true))?;
        let mut info = PathInfo::new(path.clone(), nar_hash, nar_size);
        info.references = refs.clone();
        info.ca = Some(format!("text:{}", hash.encode(Encoding::Nix32, true)));
        self.add_nar_file(&info, nar.path())?;
        Ok(path)
    }

    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        let (nar, nar_hash, nar_size) = self.spool_dump(src, filter)?;
        let hash = {
            let hashed: &Path = match method {
                Ingestion::Recursive => nar.path(),
                Ingestion::Flat => src,
            };
            let mut f = std::fs::File::open(hashed).map_err(|e| io_at(&e, hashed))?;
            let mut h = Hasher::new(algo);
            io::copy(&mut f, &mut h)?;
            h.finish()
        };
        let path = self
            .dir
            .make_fixed_output_path(method, &hash, name, &BTreeSet::new(), false)?;
        if self.is_valid(&path)? {
            return Ok(path);
        }
        let mut info = PathInfo::new(path.clone(), nar_hash, nar_size);
        info.ca = Some(ferrix_store::local::fixed_ca(method, &hash));
        self.add_nar_file(&info, nar.path())?;
        Ok(path)
    }

    fn add_from_dump(
        &self,
        name: &str,
        method: Ingestion,
        algo: HashAlgo,
        refs: &BTreeSet<StorePath>,
        dump: &mut dyn Read,
        _repair: bool,
    ) -> Result<PathInfo, StoreError> {
        let root = self.writable()?;
        let mut spool = tempfile::NamedTempFile::new_in(root).map_err(|e| io_at(&e, root))?;
        let mut h = Hasher::new(algo);
        {
            let mut w = io::BufWriter::new(spool.as_file_mut());
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = dump.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                w.write_all(&buf[..n])?;
            }
            w.flush()?;
        }
        let hash = h.finish();
        let self_ref = false;
        let path = self
            .dir
            .make_fixed_output_path(method, &hash, name, refs, self_ref)?;
        let (nar, nar_hash, nar_size) = match method {
            Ingestion::Recursive => {
                // The dump is the NAR itself; its SHA-256 is the NAR hash.
                let mut f =
                    std::fs::File::open(spool.path()).map_err(|e| io_at(&e, spool.path()))?;
                let mut hs = Hasher::new(HashAlgo::Sha256);
                let n = io::copy(&mut f, &mut hs)?;
                let nh = hs.finish();
                (spool, nh, n)
            }
            Ingestion::Flat => self.spool_dump(spool.path(), &mut |_| Ok(true))?,
        };
        let mut info = PathInfo::new(path, nar_hash, nar_size);
        info.references = refs.clone();
        info.ca = Some(ferrix_store::local::fixed_ca(method, &hash));
        self.add_nar_file(&info, nar.path())?;
        Ok(info)
    }

    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        _check_sigs: bool,
    ) -> Result<(), StoreError> {
        let root = self.writable()?.to_path_buf();
        if !repair && self.is_valid(&info.path)? {
            io::copy(nar, &mut io::sink())?;
            return Ok(());
        }
        std::fs::create_dir_all(root.join("nar")).map_err(|e| io_at(&e, &root))?;
        let tmp =
            tempfile::NamedTempFile::new_in(root.join("nar")).map_err(|e| io_at(&e, &root))?;
        let mut fw = HashWriter {
            inner: io::BufWriter::new(tmp.as_file().try_clone()?),
            hasher: Hasher::new(HashAlgo::Sha256),
            count: 0,
        };
        let (nar_hash, nar_size) = {
            let mut enc = self
                .compression
                .encoder(&mut fw, self.compression_level)
                .map_err(other)?;
            let mut nh = Hasher::new(HashAlgo::Sha256);
            let mut n = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let k = nar.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                nh.update(&buf[..k]);
                n += k as u64;
                enc.write_all(&buf[..k])?;
            }
            enc.finish()?;
            (nh.finish(), n)
        };
        fw.inner.flush()?;
        let HashWriter {
            inner,
            hasher,
            count,
        } = fw;
        drop(inner);
        let (file_hash, file_size) = (hasher.finish(), count);
        if nar_hash != info.nar_hash {
            return Err(StoreError::Other(format!(
                "refusing to copy corrupted path '{}' to binary cache",
                self.dir.display(&info.path)
            )));
        }
        if info.nar_size != 0 && nar_size != info.nar_size {
            return Err(StoreError::Other(format!(
                "size mismatch adding '{}' to binary cache: expected {}, got {nar_size}",
                self.dir.display(&info.path),
                info.nar_size
            )));
        }
        let url = format!(
            "nar/{}.nar{}",
            file_hash.to_nix32(),
            self.compression.extension()
        );
        tmp.persist(root.join(&url))
            .map_err(|e| io_at(&e.error, &root.join(&url)))?;
        let mut i = info.clone();
        i.nar_size = nar_size;
        for k in &self.secret_keys {
            let sig = k.sign_info(&self.dir, &i);
            if !i.sigs.contains(&sig) {
                i.sigs.push(sig);
            }
        }
        let n = NarInfo {
            info: i,
            url,
            compression: self.compression.name().to_string(),
            file_hash: Some(file_hash),
            file_size,
            system: String::new(),
        };
        self.write_file(
            &format!("{}.narinfo", info.path.hash_part()),
            n.render(&self.dir).as_bytes(),
        )?;
        self.narinfos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.path.hash_part().to_string(), Some(n));
        Ok(())
    }

    fn add_signatures(&self, p: &StorePath, sigs: &[String]) -> Result<(), StoreError> {
        self.writable()?;
        let Some(mut n) = self.narinfo(p)? else {
            return Err(StoreError::Other(format!(
                "path '{}' is not valid",
                self.dir.display(p)
            )));
        };
        for s in sigs {
            if !n.info.sigs.contains(s) {
                n.info.sigs.push(s.clone());
            }
        }
        self.write_file(
            &format!("{}.narinfo", p.hash_part()),
            n.render(&self.dir).as_bytes(),
        )?;
        self.narinfos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.hash_part().to_string(), Some(n));
        Ok(())
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        Ok(self.narinfo(p)?.is_some())
    }

    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        Ok(self.narinfo(p)?.map(|n| n.info))
    }

    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        let Some(root) = &self.local else {
            return Err(self.unsupported("listing all paths"));
        };
        let mut out = BTreeSet::new();
        let rd = std::fs::read_dir(root).map_err(|e| io_at(&e, root))?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hash) = name.strip_suffix(".narinfo") {
                if let Some(n) = self.narinfo_by_hash(hash)? {
                    out.insert(n.info.path);
                }
            }
        }
        Ok(out)
    }

    fn referrers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Err(self.unsupported("querying referrers"))
    }

    fn valid_derivers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(BTreeSet::new())
    }

    fn path_from_hash_part(&self, hash: &str) -> Result<Option<StorePath>, StoreError> {
        Ok(self.narinfo_by_hash(hash)?.map(|n| n.info.path))
    }

    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        let n = self.narinfo(p)?.ok_or_else(|| {
            StoreError::Other(format!("path '{}' is not valid", self.dir.display(p)))
        })?;
        let mut r = self.nar_reader(&n)?;
        io::copy(&mut r, out).map_err(other)?;
        Ok(())
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        PathBuf::from(self.dir.display(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nar_of(dir: &Path) -> Vec<u8> {
        let mut v = Vec::new();
        ferrix_store::nar::dump(dir, &mut v, &mut |_| Ok(true)).unwrap();
        v
    }

    #[test]
    fn a_file_cache_written_then_read() {
        let t = tempfile::tempdir().unwrap();
        let cache = t.path().join("cache");
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("f"), b"hello").unwrap();
        for comp in ["xz", "zstd", "bzip2", "br", "gzip", "none"] {
            let uri = format!("file://{}/{comp}?compression={comp}", cache.display());
            let s =
                BinaryCacheStore::open(&uri, StoreDir::default(), &HttpOptions::default()).unwrap();
            let p = s
                .add_path(
                    "src",
                    &src,
                    Ingestion::Recursive,
                    HashAlgo::Sha256,
                    &mut |_| Ok(true),
                )
                .unwrap();
            // A fresh handle reads it back from the files.
            let s =
                BinaryCacheStore::open(&uri, StoreDir::default(), &HttpOptions::default()).unwrap();
            let n = s.narinfo(&p).unwrap().unwrap();
            assert_eq!(n.compression, comp);
            assert!(n.info.ca.as_deref().unwrap().starts_with("fixed:r:sha256:"));
            let mut got = Vec::new();
            s.nar_from_path(&p, &mut got).unwrap();
            assert_eq!(got, nar_of(&src), "{comp}");
            assert_eq!(s.query_all_valid().unwrap(), BTreeSet::from([p.clone()]));
            let info = std::fs::read_to_string(cache.join(comp).join("nix-cache-info")).unwrap();
            assert_eq!(info, "StoreDir: /nix/store\n");
            // A damaged NAR file is refused when read.
            let nar_file = cache.join(comp).join(&n.url);
            let mut bytes = std::fs::read(&nar_file).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            std::fs::write(&nar_file, bytes).unwrap();
            assert!(s.nar_from_path(&p, &mut Vec::new()).is_err(), "{comp}");
        }
    }

    #[test]
    fn cache_info_and_parameters() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("nix-cache-info"),
            "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n",
        )
        .unwrap();
        let uri = format!("file://{}", t.path().display());
        let s = BinaryCacheStore::open(&uri, StoreDir::default(), &HttpOptions::default()).unwrap();
        assert_eq!(
            (s.priority, s.want_mass_query, s.trusted),
            (30, true, false)
        );
        let s = BinaryCacheStore::open(
            &format!("{uri}?priority=10&trusted=1"),
            StoreDir::default(),
            &HttpOptions::default(),
        )
        .unwrap();
        assert_eq!((s.priority, s.trusted), (10, true));
        let e =
            BinaryCacheStore::open(&uri, StoreDir::new("/other/store"), &HttpOptions::default())
                .err()
                .unwrap();
        assert!(
            e.to_string()
                .contains("is for Nix stores with prefix '/nix/store', not '/other/store'"),
            "{e}"
        );
        assert!(BinaryCacheStore::open(
            &format!("{uri}?bogus=1"),
            StoreDir::default(),
            &HttpOptions::default()
        )
        .is_err());
        // Writing NAR listings or debug-info links is not done: refused when asked for.
        for k in [
            "write-nar-listing",
            "index-debug-info",
            "parallel-compression",
        ] {
            let off = format!("{uri}?{k}=false");
            assert!(
                BinaryCacheStore::open(&off, StoreDir::default(), &HttpOptions::default()).is_ok()
            );
            let on = format!("{uri}?{k}=true");
            let e = BinaryCacheStore::open(&on, StoreDir::default(), &HttpOptions::default())
                .err()
                .unwrap();
            assert!(
                e.to_string().contains("is not supported by Ferrix yet"),
                "{e}"
            );
        }
        // `?store=` names the directory the cache is for, whatever the local one.
        let s = BinaryCacheStore::open(
            &format!("{uri}?store=/nix/store"),
            StoreDir::new("/other/store"),
            &HttpOptions::default(),
        )
        .unwrap();
        assert_eq!(s.dir().as_str(), "/nix/store");
        assert!(BinaryCacheStore::open(
            &format!("{uri}?store=/fnord/store"),
            StoreDir::default(),
            &HttpOptions::default()
        )
        .is_err());
    }
}
