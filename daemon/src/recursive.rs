//! The daemon behind a recursive Nix build's socket (see `ferrix_builder::recursive`): the
//! worker protocol for untrusted clients, on a [`Restricted`] view of the local store, in
//! threads of the process that runs the build.

use crate::worker::{self, Context};
use ferrix_builder::recursive::{Recursive, Stop};
use ferrix_store::local::{LocalConfig, LocalStore};
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::settings::Settings;
use ferrix_store::store::{
    BuildMode, DerivedPath, Filter, GcOptions, GcResult, Missing, OutputsSpec, Roots, Store,
    StoreError,
};
use ferrix_store::{HashAlgo, PathInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Registers the server of recursive Nix sockets for the builds of this process, with the
/// process's settings.
pub fn install(settings: Settings) {
    let settings = Arc::new(settings);
    ferrix_builder::recursive::set_server(Box::new(move |listener, state, store| {
        start(listener, state, store, settings.clone())
    }));
}

/// The connections of one build's socket and the threads that serve them.
type Clients = Vec<(UnixStream, std::thread::JoinHandle<()>)>;

struct Running {
    listener: Arc<UnixListener>,
    acceptor: Option<std::thread::JoinHandle<()>>,
    clients: Arc<Mutex<Clients>>,
}

impl Stop for Running {
    fn stop(mut self: Box<Self>) {
        // Wakes the accepting thread (its `accept` fails), as the builder is gone.
        let _ =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let clients = std::mem::take(&mut *self.clients.lock().unwrap_or_else(|p| p.into_inner()));
        // What the builder left connected (a process that escaped it) is hung up on; an
        // operation under way finishes first.
        for (c, _) in &clients {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        for (_, t) in clients {
            let _ = t.join();
        }
    }
}

fn start(
    listener: UnixListener,
    state: Arc<Recursive>,
    store: &LocalConfig,
    settings: Arc<Settings>,
) -> std::io::Result<Box<dyn Stop>> {
    let listener = Arc::new(listener);
    let clients: Arc<Mutex<Clients>> = Arc::default();
    let store = store.clone();
    let acceptor = {
        let listener = listener.clone();
        let clients = clients.clone();
        std::thread::Builder::new()
            .name("recursive-nix".into())
            .spawn(move || loop {
                let conn = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let ctx = Context {
                    settings: (*settings).clone(),
                    store: store.clone(),
                    trusted: false,
                    user: None,
                    recursive: Some(state.clone()),
                    co_schedule: None,
                    link: None,
                };
                let (Ok(out), Ok(kept)) = (conn.try_clone(), conn.try_clone()) else {
                    continue;
                };
                let w = std::thread::Builder::new()
                    .name("recursive-nix-client".into())
                    .spawn(move || {
                        // A client that goes away ends its connection; nothing to report.
                        let _ = worker::serve(conn, out, &ctx, &mut |_| {});
                    });
                let mut c = clients.lock().unwrap_or_else(|p| p.into_inner());
                // Connections that ended are forgotten as new ones come.
                c.retain(|(_, t)| !t.is_finished());
                if let Ok(w) = w {
                    c.push((kept, w));
                }
            })?
    };
    Ok(Box::new(Running {
        listener,
        acceptor: Some(acceptor),
        clients,
    }))
}

/// The local store as a recursive Nix call sees it: only the build's input closure and
/// what its calls added or built; no impure metadata (signatures, registration times,
/// derivers); no substitution of arbitrary paths; no fixed-output derivation built; no
/// garbage collection or other administration.
pub struct Restricted<'a> {
    pub inner: &'a LocalStore,
    pub state: &'a Recursive,
}

impl Restricted<'_> {
    fn unknown(&self, what: &str, p: &StorePath) -> StoreError {
        StoreError::Other(format!(
            "cannot {what} unknown path '{}' in recursive Nix",
            self.dir().display(p)
        ))
    }

    fn added(&self, p: &StorePath) -> Result<(), StoreError> {
        self.state.add_dependency(p).map_err(StoreError::Other)
    }

    /// Refuses `drv` when building it would run a fixed-output derivation: those may
    /// reach the network, which the sandbox forbids.
    fn check_no_fixed_output(&self, drv: &StorePath) -> Result<(), StoreError> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![drv.clone()];
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let parsed = self.inner.read_derivation(&d)?;
            if parsed.is_fixed_output() {
                let outs = self.inner.derivation_output_paths(&d)?;
                let mut all_valid = !outs.is_empty();
                for p in outs.values() {
                    all_valid &= self.inner.is_valid(p)?;
                }
                if !all_valid {
                    return Err(StoreError::Other(format!(
                        "cannot build fixed-output derivation '{}' in recursive Nix, since it could access the network",
                        self.dir().display(&d)
                    )));
                }
            }
            for input in parsed.input_drvs.keys() {
                todo.push(self.dir().parse(&String::from_utf8_lossy(input))?);
            }
        }
        Ok(())
    }

    fn target_path<'t>(&self, t: &'t DerivedPath) -> &'t StorePath {
        match t {
            DerivedPath::Opaque(p) => p,
            DerivedPath::Built { drv, .. } => drv,
        }
    }
}

impl Store for Restricted<'_> {
    fn dir(&self) -> &StoreDir {
        self.inner.dir()
    }

    fn uri(&self) -> String {
        self.inner.uri()
    }

    fn add_text(
        &self,
        name: &str,
        text: &[u8],
        refs: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        let p = self.inner.add_text(name, text, refs)?;
        self.added(&p)?;
        Ok(p)
    }

    fn add_path(
        &self,
        _name: &str,
        _src: &Path,
        _method: Ingestion,
        _algo: HashAlgo,
        _filter: Filter<'_>,
    ) -> Result<StorePath, StoreError> {
        // The daemon's clients send their files' contents, never a path of its own.
        Err(self.unsupported("adding a path of the daemon's file system"))
    }

    fn add_from_dump(
        &self,
        name: &str,
        method: Ingestion,
        algo: HashAlgo,
        refs: &BTreeSet<StorePath>,
        dump: &mut dyn Read,
        repair: bool,
    ) -> Result<PathInfo, StoreError> {
        let info = self
            .inner
            .add_from_dump(name, method, algo, refs, dump, repair)?;
        self.added(&info.path)?;
        Ok(info)
    }

    fn add_nar(
        &self,
        info: &PathInfo,
        nar: &mut dyn Read,
        repair: bool,
        check_sigs: bool,
    ) -> Result<(), StoreError> {
        self.inner.add_nar(info, nar, repair, check_sigs)?;
        self.added(&info.path)
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, StoreError> {
        Ok(self.state.is_allowed(p) && self.inner.is_valid(p)?)
    }

    fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        if !self.state.is_allowed(p) {
            return Ok(None);
        }
        Ok(self.inner.path_info(p)?.map(|mut i| {
            i.deriver = None;
            i.registration_time = 0;
            i.ultimate = false;
            i.sigs.clear();
            i
        }))
    }

    fn query_all_valid(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        let all = self.state.allowed();
        self.inner.query_valid_paths(&all)
    }

    fn referrers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(BTreeSet::new())
    }

    fn valid_derivers(&self, _p: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(BTreeSet::new())
    }

    fn derivation_output_map(
        &self,
        drv: &StorePath,
    ) -> Result<BTreeMap<String, Option<StorePath>>, StoreError> {
        if !self.state.is_allowed(drv) {
            return Err(self.unknown("query output map for", drv));
        }
        self.inner.derivation_output_map(drv)
    }

    fn path_from_hash_part(&self, _hash: &str) -> Result<Option<StorePath>, StoreError> {
        Err(self.unsupported("looking up paths by hash"))
    }

    fn nar_from_path(&self, p: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        if !self.state.is_allowed(p) {
            return Err(self.unknown("dump", p));
        }
        self.inner.nar_from_path(p, out)
    }

    fn real_path(&self, p: &StorePath) -> PathBuf {
        self.inner.real_path(p)
    }

    fn read_derivation(
        &self,
        p: &StorePath,
    ) -> Result<ferrix_store::derivation::Derivation, StoreError> {
        if !self.state.is_allowed(p) {
            return Err(self.unknown("read", p));
        }
        self.inner.read_derivation(p)
    }

    fn ensure_path(&self, p: &StorePath) -> Result<(), StoreError> {
        // No substitution: the path must be known (and so valid) already.
        if !self.state.is_allowed(p) {
            return Err(self.unknown("substitute", p));
        }
        self.inner.ensure_path(p)
    }

    fn build_paths(&self, targets: &[DerivedPath], mode: BuildMode) -> Result<(), StoreError> {
        if mode != BuildMode::Normal {
            return Err(StoreError::Other(
                "unsupported build mode in recursive Nix".into(),
            ));
        }
        for t in targets {
            let p = self.target_path(t);
            if !self.state.is_allowed(p) {
                return Err(StoreError::Other(format!(
                    "cannot build '{}' in recursive Nix because path is unknown",
                    t.to_string(self.dir())
                )));
            }
            if let DerivedPath::Built { drv, .. } = t {
                self.check_no_fixed_output(drv)?;
            }
        }
        self.inner.build_paths(targets, mode)?;
        // What was built, with its closure, becomes visible to the builder.
        let mut built = BTreeSet::new();
        for t in targets {
            if let DerivedPath::Built { drv, outputs } = t {
                for (name, p) in self.inner.derivation_output_map(drv)? {
                    let wanted = match outputs {
                        OutputsSpec::All => true,
                        OutputsSpec::Names(n) => n.contains(&name),
                    };
                    if let (true, Some(p)) = (wanted, p) {
                        built.insert(p);
                    }
                }
            }
        }
        for p in ferrix_store::store::closure(self.inner, &built, false, false)? {
            self.added(&p)?;
        }
        Ok(())
    }

    fn query_missing(&self, targets: &[DerivedPath]) -> Result<Missing, StoreError> {
        let (allowed, refused): (Vec<&DerivedPath>, Vec<&DerivedPath>) = targets
            .iter()
            .partition(|t| self.state.is_allowed(self.target_path(t)));
        let allowed: Vec<DerivedPath> = allowed.into_iter().cloned().collect();
        let mut m = if allowed.is_empty() {
            Missing::default()
        } else {
            self.inner.query_missing(&allowed)?
        };
        m.unknown
            .extend(refused.into_iter().map(|t| self.target_path(t).clone()));
        Ok(m)
    }

    fn query_realisation(
        &self,
        id: &ferrix_store::realisation::DrvOutput,
    ) -> Result<Option<ferrix_store::realisation::Realisation>, StoreError> {
        Ok(self
            .inner
            .query_realisation(id)?
            .filter(|r| self.state.is_allowed(&r.out_path)))
    }

    // Roots: the build keeps what it added alive itself; nothing to collect from here.
    fn add_temp_root(&self, _p: &StorePath) -> Result<(), StoreError> {
        Ok(())
    }

    fn add_indirect_root(&self, _link: &Path) -> Result<(), StoreError> {
        Ok(())
    }

    fn find_roots(&self, _censor: bool) -> Result<Roots, StoreError> {
        Ok(Roots::new())
    }

    fn collect_garbage(&self, _opts: &GcOptions) -> Result<GcResult, StoreError> {
        Ok(GcResult::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(root: &Path) -> LocalStore {
        LocalStore::open(LocalConfig::chroot(root)).unwrap()
    }

    #[test]
    fn only_inputs_and_additions_are_seen_and_without_impure_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let local = store(tmp.path());
        let other = local.add_text("other", b"out", &BTreeSet::new()).unwrap();
        let dir = local.dir().clone();
        // An input-addressed path with a deriver and a signature.
        let mut nar = Vec::new();
        local.nar_from_path(&other, &mut nar).unwrap();
        let input = dir
            .parse("/nix/store/11111111111111111111111111111111-input")
            .unwrap();
        let deriver = dir
            .parse("/nix/store/00000000000000000000000000000000-x.drv")
            .unwrap();
        let mut info = PathInfo::new(
            input.clone(),
            ferrix_store::hash::Hash::sha256(&nar),
            nar.len() as u64,
        );
        info.deriver = Some(deriver.clone());
        info.sigs = vec!["key:c2ln".into()];
        info.ultimate = true;
        local.add_nar(&info, &mut &nar[..], false, false).unwrap();
        let state = Recursive::new(
            dir.clone(),
            tmp.path().join("nix/store"),
            [input.clone()].into(),
            None,
        );
        let r = Restricted {
            inner: &local,
            state: &state,
        };
        // The input: seen, censored.
        let info = r.path_info(&input).unwrap().unwrap();
        assert_eq!(info.deriver, None);
        assert!(info.sigs.is_empty());
        assert!(!info.ultimate);
        assert_eq!(info.registration_time, 0);
        assert_eq!(
            local.path_info(&input).unwrap().unwrap().deriver,
            Some(deriver)
        );
        // A valid path that is not an input: unknown, not dumped, not substituted, not built.
        assert!(!r.is_valid(&other).unwrap());
        assert!(r.path_info(&other).unwrap().is_none());
        assert_eq!(r.query_all_valid().unwrap(), [input.clone()].into());
        let shown = dir.display(&other);
        assert_eq!(
            r.nar_from_path(&other, &mut Vec::new())
                .unwrap_err()
                .to_string(),
            format!("cannot dump unknown path '{shown}' in recursive Nix")
        );
        assert_eq!(
            r.ensure_path(&other).unwrap_err().to_string(),
            format!("cannot substitute unknown path '{shown}' in recursive Nix")
        );
        assert_eq!(
            r.build_paths(&[DerivedPath::Opaque(other.clone())], BuildMode::Normal)
                .unwrap_err()
                .to_string(),
            format!("cannot build '{shown}' in recursive Nix because path is unknown")
        );
        let missing = r
            .query_missing(&[DerivedPath::Opaque(other.clone())])
            .unwrap();
        assert_eq!(missing.unknown, [other.clone()].into());
        // What a call adds is seen from then on.
        let added = r.add_text("added", b"new", &BTreeSet::new()).unwrap();
        assert!(r.is_valid(&added).unwrap());
        assert_eq!(state.added(), [added.clone()].into());
        assert_eq!(r.query_all_valid().unwrap(), [input, added].into());
    }
}
