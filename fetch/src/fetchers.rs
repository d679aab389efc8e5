//! Downloads into the store through the fetcher cache, as Nix 2.8's `downloadFile` and
//! `downloadTarball` do: a file becomes a flat fixed-output path named after it; a
//! tarball is unpacked and its single top-level directory added recursively.

use crate::cache::{self, attrs, int_attr, str_attr, Cache};
use crate::http::{Client, Fetched, HttpError, HttpOptions};
use crate::unpack::{unpack_archive, UnpackError};
use ferrix_store::path::Ingestion;
use ferrix_store::{HashAlgo, Store, StoreError, StorePath};
use std::cell::OnceCell;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A `file://` path that is not there, in curl's words as Nix prints them.
    #[error("unable to download '{0}': Couldn't read a file:// file (37)")]
    NoFile(String),
    #[error("unable to download '{0}': HTTP error 404 ('Not Found')")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("tarball '{0}' contains an unexpected number of top-level files")]
    TopLevel(String),
    #[error("{0}")]
    Io(String),
    /// A failure of `git` or of a Git input; the text says what.
    #[error("{0}")]
    Git(String),
}

impl FetchError {
    /// Whether the download itself failed (not the store or the unpacking): search-path
    /// entries that cannot be downloaded are skipped with a warning, as in Nix.
    pub fn is_transfer(&self) -> bool {
        matches!(
            self,
            FetchError::Http(_) | FetchError::NoFile(_) | FetchError::NotFound(_)
        )
    }
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |e| FetchError::Io(format!("{what}: {}", ferrix_store::io_reason(&e)))
}

/// The settings the fetchers honour.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `tarball-ttl`: seconds a download that names no hash is used without asking the
    /// server again.
    pub tarball_ttl: u64,
    /// `connect-timeout`, `user-agent-suffix`, `http2`.
    pub http: HttpOptions,
    /// `download-attempts`: tries for a transient failure (connection, 5xx).
    pub download_attempts: u64,
    /// The cache database; by default under `$XDG_CACHE_HOME/nix`.
    pub cache_path: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            tarball_ttl: 3600,
            http: HttpOptions::default(),
            download_attempts: 5,
            cache_path: None,
        }
    }
}

/// Something the fetchers report; the binary decides how to show it.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// A warning, in Nix's words (without the `warning: ` prefix).
    Warn(String),
    /// A download starts.
    Downloading(String),
}

/// A downloaded file in the store.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: StorePath,
    pub etag: String,
    pub effective_url: String,
}

/// An unpacked tarball in the store.
#[derive(Debug, Clone)]
pub struct Tree {
    pub path: StorePath,
    pub last_modified: u64,
}

/// The fetchers of one process: a store, the HTTP client and the cache, opened when
/// first needed.
pub struct Fetcher<'s> {
    pub store: &'s dyn Store,
    pub opts: FetchOptions,
    client: OnceCell<Client>,
    cache: OnceCell<Cache>,
    events: Box<dyn Fn(FetchEvent) + 's>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<'s> Fetcher<'s> {
    pub fn new(store: &'s dyn Store, opts: FetchOptions) -> Self {
        Fetcher {
            store,
            opts,
            client: OnceCell::new(),
            cache: OnceCell::new(),
            events: Box::new(|_| {}),
        }
    }

    /// Where warnings and progress go.
    pub fn on_event(&mut self, f: impl Fn(FetchEvent) + 's) {
        self.events = Box::new(f);
    }

    pub(crate) fn warn(&self, msg: String) {
        (self.events)(FetchEvent::Warn(msg));
    }

    pub fn cache(&self) -> Result<&Cache, FetchError> {
        if let Some(c) = self.cache.get() {
            return Ok(c);
        }
        let path = self
            .opts
            .cache_path
            .clone()
            .unwrap_or_else(cache::default_path);
        let c = Cache::open(&path, self.opts.tarball_ttl)?;
        Ok(self.cache.get_or_init(|| c))
    }

    fn client(&self) -> Result<&Client, FetchError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = Client::new(&self.opts.http)?;
        Ok(self.client.get_or_init(|| c))
    }

    /// One GET, retried as Nix retries transient failures (no answer, or a 5xx other
    /// than 501, 505 and 511), with a warning before each new try.
    fn get(&self, url: &str, etag: Option<&str>) -> Result<Fetched, FetchError> {
        let client = self.client()?;
        let mut attempt = 1;
        loop {
            match client.get(url, etag) {
                Ok(f) => return Ok(f),
                Err(e) => {
                    let transient = match &e {
                        HttpError::Transfer { .. } => true,
                        HttpError::Status { status, .. } => {
                            *status >= 500 && !matches!(status, 501 | 505 | 511)
                                || matches!(status, 408 | 429)
                        }
                        HttpError::Protocol { .. } => false,
                    };
                    if !transient || attempt >= self.opts.download_attempts.max(1) {
                        return Err(e.into());
                    }
                    let ms = 250u64 << (attempt - 1).min(10);
                    self.warn(format!("error: {e}; retrying in {ms} ms"));
                    std::thread::sleep(Duration::from_millis(ms));
                    attempt += 1;
                }
            }
        }
    }

    /// Nix's `downloadFile`: `url` as a flat file named `name` in the store. Within the
    /// TTL the cached path is used without a request; after it, the request carries the
    /// cached ETag and a `304` keeps the cached path. `locked` entries never expire.
    pub fn download_file(
        &self,
        url: &str,
        name: &str,
        locked: bool,
    ) -> Result<Downloaded, FetchError> {
        let input = attrs([
            ("type", "file".into()),
            ("url", url.into()),
            ("name", name.into()),
        ]);
        let cache = self.cache()?;
        let cached = cache.lookup_expired(self.store, &input)?;
        let use_cached = |e: &cache::Entry| Downloaded {
            path: e.path.clone(),
            etag: str_attr(&e.info, "etag").to_string(),
            effective_url: str_attr(&e.info, "url").to_string(),
        };
        if let Some(e) = cached.as_ref().filter(|e| !e.expired) {
            return Ok(use_cached(e));
        }
        let expected = cached
            .as_ref()
            .map(|e| str_attr(&e.info, "etag"))
            .filter(|t| !t.is_empty());
        (self.events)(FetchEvent::Downloading(url.to_string()));
        let got = match self.get(url, expected) {
            Ok(Fetched::NotFound) if url.starts_with("file://") => {
                Err(FetchError::NoFile(url.to_string()))
            }
            Ok(Fetched::NotFound) => Err(FetchError::NotFound(url.to_string())),
            other => other,
        };
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                if let Some(c) = &cached {
                    self.warn(format!("{e}; using cached version"));
                    return Ok(use_cached(c));
                }
                return Err(e);
            }
        };
        let (path, etag, effective_url) = match got {
            Fetched::NotModified => match &cached {
                Some(c) => (
                    c.path.clone(),
                    expected.unwrap_or_default().to_string(),
                    url.to_string(),
                ),
                // A 304 to a request without If-None-Match: the server is confused.
                None => {
                    return Err(FetchError::Http(HttpError::Status {
                        url: url.to_string(),
                        status: 304,
                    }))
                }
            },
            Fetched::NotFound => return Err(FetchError::NotFound(url.to_string())),
            Fetched::Body {
                mut reader,
                etag,
                url: effective,
                ..
            } => {
                let etag = etag.unwrap_or_default();
                let same = cached
                    .as_ref()
                    .filter(|_| !etag.is_empty() && Some(etag.as_str()) == expected);
                if let Some(c) = same {
                    // A server that ignores If-None-Match but sends the same ETag: the
                    // cached copy is current (Nix stops reading the body there too).
                    (c.path.clone(), etag, effective)
                } else {
                    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
                    let file = dir.path().join("download");
                    let mut f = std::fs::File::create(&file).map_err(io("creating a file"))?;
                    std::io::copy(&mut reader, &mut f).map_err(|e| {
                        FetchError::Http(HttpError::Transfer {
                            url: url.to_string(),
                            reason: ferrix_store::io_reason(&e),
                        })
                    })?;
                    f.flush().map_err(io("writing a file"))?;
                    drop(f);
                    let p = self.store.add_path(
                        name,
                        &file,
                        Ingestion::Flat,
                        HashAlgo::Sha256,
                        &mut |_| Ok(true),
                    )?;
                    (p, etag, effective)
                }
            }
        };
        let info = attrs([
            ("etag", etag.clone().into()),
            ("url", effective_url.clone().into()),
        ]);
        cache.add(self.store, &input, &info, &path, locked)?;
        if effective_url != url {
            let moved = attrs([
                ("type", "file".into()),
                ("url", effective_url.clone().into()),
                ("name", name.into()),
            ]);
            cache.add(self.store, &moved, &info, &path, locked)?;
        }
        Ok(Downloaded {
            path,
            etag,
            effective_url,
        })
    }

    /// Nix's `downloadTarball`: `url` downloaded (through [`Self::download_file`]),
    /// unpacked, and its single top-level member added recursively as `name`. When the
    /// download is unchanged (same ETag), the unpacked path is reused.
    pub fn download_tarball(
        &self,
        url: &str,
        name: &str,
        locked: bool,
    ) -> Result<Tree, FetchError> {
        let input = attrs([
            ("type", "tarball".into()),
            ("url", url.into()),
            ("name", name.into()),
        ]);
        let cache = self.cache()?;
        let cached = cache.lookup_expired(self.store, &input)?;
        if let Some(e) = cached.as_ref().filter(|e| !e.expired) {
            return Ok(Tree {
                path: e.path.clone(),
                last_modified: int_attr(&e.info, "lastModified").unwrap_or(0),
            });
        }
        let file = self.download_file(url, name, locked)?;
        let reuse = cached
            .as_ref()
            .filter(|c| !file.etag.is_empty() && str_attr(&c.info, "etag") == file.etag);
        let (path, last_modified) = match reuse {
            Some(c) => (
                c.path.clone(),
                int_attr(&c.info, "lastModified").unwrap_or(0),
            ),
            None => {
                let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
                let src = self.store.real_path(&file.path);
                let top_mtime = unpack_archive(&src, dir.path())?;
                let mut members = Vec::new();
                for e in std::fs::read_dir(dir.path()).map_err(io("reading a directory"))? {
                    members.push(e.map_err(io("reading a directory"))?.path());
                }
                if members.len() != 1 {
                    return Err(FetchError::TopLevel(url.to_string()));
                }
                let top = &members[0];
                // Nix takes the time of the unpacked directory: the archive's, when it
                // records the directory, else the time of unpacking.
                let last_modified = top_mtime.unwrap_or_else(now);
                let p = self.store.add_path(
                    name,
                    top,
                    Ingestion::Recursive,
                    HashAlgo::Sha256,
                    &mut |_| Ok(true),
                )?;
                (p, last_modified)
            }
        };
        let info = attrs([
            ("lastModified", last_modified.into()),
            ("etag", file.etag.clone().into()),
        ]);
        cache.add(self.store, &input, &info, &path, locked)?;
        Ok(Tree {
            path,
            last_modified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A server that answers the first `failures` requests with `503`, then `hello`.
    fn flaky(failures: u32) -> (String, Arc<AtomicU32>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/f.txt", l.local_addr().unwrap());
        let seen = Arc::new(AtomicU32::new(0));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut r = BufReader::new(c.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let n = s2.fetch_add(1, Ordering::SeqCst);
                let resp: &[u8] = if n < failures {
                    b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                };
                let _ = c.write_all(resp);
            }
        });
        (url, seen)
    }

    fn store(dir: &std::path::Path) -> Box<dyn Store + Send + Sync> {
        ferrix_store::open_store(&ferrix_store::StoreOptions {
            store_uri: Some(dir.join("store").to_string_lossy().into_owned()),
            ..Default::default()
        })
        .unwrap()
    }

    fn opts(dir: &std::path::Path, attempts: u64, ttl: u64) -> FetchOptions {
        FetchOptions {
            tarball_ttl: ttl,
            download_attempts: attempts,
            cache_path: Some(dir.join("cache.sqlite")),
            ..Default::default()
        }
    }

    #[test]
    fn transient_errors_are_retried_up_to_download_attempts() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let (url, seen) = flaky(1);
        let e = Fetcher::new(&*s, opts(d.path(), 1, 3600))
            .download_file(&url, "f.txt", false)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("unable to download '{url}': HTTP error 503")
        );
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let warnings = std::cell::RefCell::new(Vec::new());
        let (url, seen) = flaky(1);
        let mut f = Fetcher::new(&*s, opts(d.path(), 2, 3600));
        f.on_event(|e| {
            if let FetchEvent::Warn(m) = e {
                warnings.borrow_mut().push(m)
            }
        });
        let got = f.download_file(&url, "f.txt", false).unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert_eq!(std::fs::read(s.real_path(&got.path)).unwrap(), b"hello");
        assert_eq!(warnings.borrow().len(), 1);
        assert!(warnings.borrow()[0].ends_with("; retrying in 250 ms"));
    }

    #[test]
    fn an_expired_entry_is_used_when_the_server_fails() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path());
        let (url, _) = flaky(0);
        let first = Fetcher::new(&*s, opts(d.path(), 1, 0))
            .download_file(&url, "f.txt", false)
            .unwrap();
        // A URL whose server is gone (a port just freed), recorded in the cache as if it
        // had worked before: with tarball-ttl 0 its entry is expired, and Nix uses it
        // with a warning rather than failing.
        let dead = url.replace(
            url.split('/').nth(2).unwrap(),
            &TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string(),
        );
        let f = Fetcher::new(&*s, opts(d.path(), 1, 0));
        let input = attrs([
            ("type", "file".into()),
            ("url", dead.as_str().into()),
            ("name", "f.txt".into()),
        ]);
        let info = attrs([("etag", "".into()), ("url", dead.as_str().into())]);
        f.cache()
            .unwrap()
            .add(&*s, &input, &info, &first.path, false)
            .unwrap();
        let warned = std::cell::Cell::new(false);
        let mut f = Fetcher::new(&*s, opts(d.path(), 1, 0));
        f.on_event(|e| {
            if let FetchEvent::Warn(m) = e {
                assert!(m.ends_with("; using cached version"), "{m}");
                warned.set(true);
            }
        });
        let again = f.download_file(&dead, "f.txt", false).unwrap();
        assert_eq!(again.path, first.path);
        assert!(warned.get());
    }
}
