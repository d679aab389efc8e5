//! Choosing and opening a store from a store URI and the environment, as Nix 2.8 does.

use crate::derivation::Derivation;
use crate::local::{LocalConfig, LocalStore};
use crate::path::{Ingestion, StoreDir, StorePath};
use crate::store::{Filter, ReadOnlyStore, Store, StoreError};
use crate::HashAlgo;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What the binary asks for when it opens a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// `--store URI` (or the `store` setting). `None` falls back to `NIX_REMOTE`, then
    /// `auto`.
    pub store_uri: Option<String>,
    /// `--readonly-mode`: write nothing; additions only compute their paths.
    pub read_only: bool,
    /// The `use-case-hack` setting.
    pub case_hack: bool,
    /// The `sync-before-registering` setting: sync the files of new paths before
    /// registering them.
    pub fsync: bool,
    /// The `fsync-metadata` setting: sync the database (SQLite's `synchronous`).
    pub fsync_metadata: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            store_uri: None,
            read_only: false,
            case_hack: false,
            fsync: false,
            fsync_metadata: true,
        }
    }
}

/// Which store a URI means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Local(LocalConfig),
    /// `dummy://`: no paths, refuses additions.
    Dummy(StoreDir),
    /// `daemon`, `unix://PATH`: a Nix daemon's store, through its socket.
    Daemon {
        socket: PathBuf,
        dir: StoreDir,
    },
    /// `ssh://[USER@]HOST?PARAMS`: another machine's store, through `nix-store --serve`
    /// over SSH. The parameters (`ssh-key`, `compress`, …) are the client's to read.
    Ssh {
        host: String,
        dir: StoreDir,
        params: Vec<(String, String)>,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The daemon's socket: `NIX_DAEMON_SOCKET_PATH`, or `daemon-socket/socket` in the state
/// directory.
pub fn daemon_socket_default() -> PathBuf {
    env("NIX_DAEMON_SOCKET_PATH")
        .map(|p| absolute(&p))
        .unwrap_or_else(|| state_dir_default().join("daemon-socket/socket"))
}

/// `NIX_STATE_DIR`, or `/nix/var/nix`.
pub fn state_dir_default() -> PathBuf {
    PathBuf::from(env("NIX_STATE_DIR").unwrap_or_else(|| "/nix/var/nix".into()))
}

/// `NIX_LOG_DIR`, or `/nix/var/log/nix`.
pub fn log_dir_default() -> PathBuf {
    PathBuf::from(env("NIX_LOG_DIR").unwrap_or_else(|| "/nix/var/log/nix".into()))
}

/// `$XDG_DATA_HOME`, or `~/.local/share`.
fn data_dir() -> Option<PathBuf> {
    if let Some(d) = env("XDG_DATA_HOME") {
        return Some(PathBuf::from(d));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".local/share"))
}

fn absolute(p: &str) -> PathBuf {
    crate::path::abs_path(Path::new(p), None)
}

/// Works out which store `opts` mean, from the URI, `NIX_REMOTE`, `NIX_STORE_DIR`,
/// `NIX_STATE_DIR` and `NIX_LOG_DIR`.
pub fn resolve(opts: &StoreOptions) -> Result<StoreKind, StoreError> {
    let uri = opts
        .store_uri
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| env("NIX_REMOTE"))
        .unwrap_or_else(|| "auto".into());
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b.to_string(), q.to_string()),
        None => (uri.clone(), String::new()),
    };
    let mut params: Vec<(String, String)> = Vec::new();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        params.push((k.to_string(), v.to_string()));
    }
    let param = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let store_dir = match param("store") {
        Some(s) => StoreDir::new(&s),
        None => StoreDir::from_env(),
    };
    let local = |root: Option<PathBuf>| -> StoreKind {
        let state = param("state")
            .map(PathBuf::from)
            .unwrap_or_else(|| match &root {
                Some(r) => r.join("nix/var/nix"),
                None => state_dir_default(),
            });
        let log = param("log")
            .map(PathBuf::from)
            .unwrap_or_else(|| match &root {
                Some(r) => r.join("nix/var/log/nix"),
                None => log_dir_default(),
            });
        let real = param("real")
            .map(PathBuf::from)
            .unwrap_or_else(|| match &root {
                Some(r) => r.join("nix/store"),
                None => PathBuf::from(store_dir.as_str()),
            });
        StoreKind::Local(LocalConfig {
            store_dir: store_dir.clone(),
            real_dir: real,
            state_dir: state,
            log_dir: log,
            read_only: opts.read_only,
            case_hack: opts.case_hack,
            fsync: opts.fsync,
            fsync_metadata: opts.fsync_metadata,
            system_features: param("system-features").map(|f| {
                f.replace("%20", " ")
                    .replace('+', " ")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            }),
        })
    };
    let root_param = param("root").map(|r| absolute(&r));
    match base.as_str() {
        "local" => Ok(local(root_param)),
        "dummy" | "dummy://" => Ok(StoreKind::Dummy(store_dir.clone())),
        "auto" | "" => {
            if root_param.is_some() {
                return Ok(local(root_param));
            }
            let state = param("state")
                .map(PathBuf::from)
                .unwrap_or_else(state_dir_default);
            let writable = nix::unistd::access(
                &state,
                nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
            )
            .is_ok();
            if writable || opts.read_only {
                return Ok(local(None));
            }
            let socket = match env("NIX_DAEMON_SOCKET_PATH") {
                Some(p) => absolute(&p),
                None => state.join("daemon-socket/socket"),
            };
            if socket.exists() {
                return Ok(StoreKind::Daemon {
                    socket,
                    dir: store_dir.clone(),
                });
            }
            if !state.exists()
                && params.is_empty()
                && !nix::unistd::getuid().is_root()
                && crate::path::env_store_dir().is_none()
                && env("NIX_STATE_DIR").is_none()
            {
                if let Some(d) = data_dir() {
                    let chroot = d.join("nix/root");
                    if !chroot.exists() {
                        if std::fs::create_dir_all(&chroot).is_err() {
                            return Ok(local(None));
                        }
                        use std::io::Write as _;
                        let _ = writeln!(
                            std::io::stderr(),
                            "'{}' does not exist, so Nix will use '{}' as a chroot store",
                            state.display(),
                            chroot.display()
                        );
                    }
                    return Ok(local(Some(chroot)));
                }
            }
            Ok(local(None))
        }
        "daemon" => Ok(StoreKind::Daemon {
            socket: param("path")
                .map(PathBuf::from)
                .unwrap_or_else(daemon_socket_default),
            dir: store_dir.clone(),
        }),
        b if b.starts_with("unix://") => Ok(StoreKind::Daemon {
            socket: PathBuf::from(&b["unix://".len()..]),
            dir: store_dir.clone(),
        }),
        b if b.starts_with("ssh://") => Ok(StoreKind::Ssh {
            host: b["ssh://".len()..].to_string(),
            dir: store_dir.clone(),
            params: params.clone(),
        }),
        b if !b.contains("://") && (b.contains('/') || b.starts_with('.')) => {
            Ok(local(Some(absolute(b))))
        }
        _ => Err(StoreError::Other(format!(
            "don't know how to open Nix store '{uri}'"
        ))),
    }
}

/// Opens the store `opts` name.
///
/// - no URI, `NIX_REMOTE` unset, or `auto`: the local store in `NIX_STORE_DIR` (default
///   `/nix/store`) with state in `NIX_STATE_DIR` (`/nix/var/nix`); a user who cannot write
///   there and has no `/nix` gets the chroot store `~/.local/share/nix/root`;
/// - `local`, `local?root=DIR&state=…&log=…&real=…&store=…`: a local store;
/// - a path `DIR`: the chroot store `local?root=DIR` (logical paths stay `/nix/store/…`,
///   the bytes go to `DIR/nix/store`, the state to `DIR/nix/var/nix`);
/// - `dummy://`: a store without paths that refuses additions.
///
/// With `read_only`, nothing is written: additions compute their paths, and an existing
/// database is read.
pub fn open_store(opts: &StoreOptions) -> Result<Box<dyn Store + Send + Sync>, StoreError> {
    match resolve(opts)? {
        StoreKind::Local(cfg) => Ok(Box::new(LocalStore::open(cfg)?)),
        StoreKind::Dummy(dir) => Ok(Box::new(DummyStore {
            dir,
            read_only: opts.read_only,
        })),
        StoreKind::Daemon { socket, .. } => Err(StoreError::Unsupported(format!(
            "the daemon store at '{}' is opened by the client in ferrix-wire",
            socket.display()
        ))),
        StoreKind::Ssh { host, .. } => Err(StoreError::Unsupported(format!(
            "the SSH store 'ssh://{host}' is opened by the client in ferrix-wire"
        ))),
    }
}

/// `dummy://`.
pub struct DummyStore {
    dir: StoreDir,
    read_only: bool,
}

impl DummyStore {
    fn unsupported(&self, op: &str) -> StoreError {
        StoreError::Other(format!(
            "operation '{op}' is not supported by store 'dummy'"
        ))
    }
}

impl Store for DummyStore {
    fn dir(&self) -> &StoreDir {
        &self.dir
    }

    fn uri(&self) -> String {
        "dummy".into()
    }

    crate::store::no_paths!();

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        if self.read_only {
            return ReadOnlyStore::new(self.dir.clone()).add_text(name, text, refs);
        }
        Err(self.unsupported("addTextToStore"))
    }

    fn add_path(
        &self,
        name: &str,
        src: &Path,
        method: Ingestion,
        algo: HashAlgo,
        filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        if self.read_only {
            return ReadOnlyStore::new(self.dir.clone()).add_path(name, src, method, algo, filter);
        }
        Err(self.unsupported("addToStore"))
    }

    fn is_valid(&self, _p: &StorePath) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        PathBuf::from(self.dir.display(p))
    }

    fn read_derivation(&self, p: &StorePath) -> Result<Derivation, StoreError> {
        Err(StoreError::Other(format!(
            "path '{}' is not valid",
            self.dir.display(p)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(uri: &str) -> LocalConfig {
        match resolve(&StoreOptions {
            store_uri: Some(uri.into()),
            ..Default::default()
        })
        .unwrap()
        {
            StoreKind::Local(c) => c,
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn system_features_parameter() {
        assert_eq!(local("/tmp/x").system_features, None);
        assert_eq!(
            local("/tmp/x?system-features=foo%20bar").system_features,
            Some(vec!["foo".to_string(), "bar".to_string()])
        );
    }

    #[test]
    fn uris() {
        let c = local("/tmp/x");
        assert_eq!(c.store_dir.as_str(), StoreDir::from_env().as_str());
        assert_eq!(c.real_dir, PathBuf::from("/tmp/x/nix/store"));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/x/nix/var/nix"));
        assert_eq!(c.log_dir, PathBuf::from("/tmp/x/nix/var/log/nix"));
        let c = local("local?root=/tmp/y&state=/tmp/s");
        assert_eq!(c.real_dir, PathBuf::from("/tmp/y/nix/store"));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/s"));
        assert!(matches!(
            resolve(&StoreOptions {
                store_uri: Some("dummy://".into()),
                ..Default::default()
            }),
            Ok(StoreKind::Dummy(_))
        ));
        let e = resolve(&StoreOptions {
            store_uri: Some("foo://bar".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "don't know how to open Nix store 'foo://bar'"
        );
    }
}
