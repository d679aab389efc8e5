//! Building for the local store: the [`Realiser`] that [`LocalStore`]'s build operations
//! call.

use crate::remote::{parse_machines, OpenStore, RemoteBuilders};
use crate::substitute::Substituters;
use crate::{BuildError, BuildMode, BuildSettings, Builder, Target};
use ferrix_store::derivation::Derivation;
use ferrix_store::local::{LocalStore, Realiser};
use ferrix_store::path::StorePath;
use ferrix_store::realisation::{DrvOutput, Realisation};
use ferrix_store::store::{
    BuildResult, BuildStatus, DerivedPath, Missing, OutputsSpec, Store, StoreError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Builds with the settings it was given last.
pub struct LocalRealiser {
    settings: Mutex<BuildSettings>,
    /// The open caches, kept while the substitution settings stay the same.
    subst: Mutex<Option<Arc<Substituters>>>,
    /// How to reach remote machines, and where their load is counted (none: no remote
    /// builds).
    opener: Mutex<Option<(Arc<OpenStore>, PathBuf)>>,
    /// The machines of the `builders` setting, kept while it stays the same.
    remote: Mutex<Option<(String, bool, Arc<RemoteBuilders>)>>,
}

impl LocalRealiser {
    pub fn new(settings: BuildSettings) -> LocalRealiser {
        LocalRealiser {
            settings: Mutex::new(settings),
            subst: Mutex::new(None),
            opener: Mutex::new(None),
            remote: Mutex::new(None),
        }
    }

    /// Enables remote builds: `open` opens a machine's store, and `state_dir` keeps the
    /// machines' load (`current-load`).
    pub fn set_store_opener(&self, open: Arc<OpenStore>, state_dir: PathBuf) {
        *self.opener.lock().unwrap_or_else(|p| p.into_inner()) = Some((open, state_dir));
    }

    /// The remote machines for `settings` (none when remote builds are off).
    fn remote_builders(&self, settings: &BuildSettings) -> Option<Arc<RemoteBuilders>> {
        let (open, state_dir) = self
            .opener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let mut g = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((b, subst, r)) = &*g {
            if *b == settings.builders && *subst == settings.builders_use_substitutes {
                return Some(r.clone());
            }
        }
        let r = Arc::new(RemoteBuilders::new(
            parse_machines(&settings.builders, &settings.system),
            &state_dir,
            open,
            settings.builders_use_substitutes,
        ));
        *g = Some((
            settings.builders.clone(),
            settings.builders_use_substitutes,
            r.clone(),
        ));
        Some(r)
    }

    /// The settings builds start with now.
    pub fn settings(&self) -> BuildSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Settings for the builds that start from now on (a daemon client's `SetOptions`).
    pub fn set_settings(&self, settings: BuildSettings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    fn builder<'s>(
        &self,
        store: &'s LocalStore,
        mode: BuildMode,
        eval: Option<&'s (dyn Store + Sync)>,
    ) -> Builder<'s> {
        let mut settings = self
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        settings.repair |= mode == BuildMode::Repair;
        let subst = {
            let mut g = self.subst.lock().unwrap_or_else(|p| p.into_inner());
            match &*g {
                Some(s) if *s.settings() == settings.subst => s.clone(),
                _ => {
                    let opener = self
                        .opener
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        .map(|(o, _)| o.clone());
                    let s = Arc::new(Substituters::with_opener(settings.subst.clone(), opener));
                    *g = Some(s.clone());
                    s
                }
            }
        };
        let remote = self.remote_builders(&settings);
        let mut b = Builder::new(store, settings);
        b.remote = remote;
        b.eval = eval;
        b.subst = Some(subst);
        b
    }
}

fn build_error(e: BuildError) -> StoreError {
    StoreError::Build {
        msg: e.to_string(),
        status: e.status(),
    }
}

/// The derivation targets of `targets`, and the plain paths that are not valid.
fn split_targets(
    store: &LocalStore,
    targets: &[DerivedPath],
) -> Result<(Vec<Target>, Vec<StorePath>), StoreError> {
    let mut drvs = Vec::new();
    let mut missing = Vec::new();
    for t in targets {
        match t {
            DerivedPath::Opaque(p) => {
                if !store.is_valid(p)? {
                    missing.push(p.clone());
                }
            }
            DerivedPath::Built { drv, outputs } => drvs.push(Target {
                drv: drv.clone(),
                outputs: match outputs {
                    OutputsSpec::All => None,
                    OutputsSpec::Names(n) => Some(n.clone()),
                },
            }),
        }
    }
    Ok((drvs, missing))
}

/// The realisations of the outputs of `drv` (stored at `drv_path`) that `builder` made
/// valid, by their ids: the derivation's masked modulo hash and the output's name, as Nix
/// reports them in a build result.
fn built_outputs(
    store: &LocalStore,
    drv_path: &StorePath,
    drv: &ferrix_store::derivation::Derivation,
    builder: &Builder<'_>,
) -> Result<BTreeMap<String, Realisation>, StoreError> {
    let Some(hash) = builder.masked_hash(drv) else {
        return Ok(BTreeMap::new());
    };
    let realised = builder.realised.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = BTreeMap::new();
    for (name, o) in &drv.outputs {
        let name = String::from_utf8_lossy(name).into_owned();
        let path = match realised.get(&(drv_path.clone(), name.clone())) {
            Some(p) => p.clone(),
            None if o.path.is_empty() => continue,
            None => store.dir().parse(&String::from_utf8_lossy(&o.path))?,
        };
        if !store.is_valid(&path)? {
            continue;
        }
        let id = DrvOutput {
            drv_hash: hash.clone(),
            output: name,
        };
        out.insert(id.to_string(), Realisation::new(id, path));
    }
    Ok(out)
}

impl Realiser for LocalRealiser {
    fn build_paths(
        &self,
        store: &LocalStore,
        targets: &[DerivedPath],
        mode: BuildMode,
        eval: Option<&(dyn Store + Sync)>,
    ) -> Result<(), StoreError> {
        let (drvs, missing) = split_targets(store, targets)?;
        // Repairing a plain path substitutes it again, or rebuilds it through the
        // derivation that made it.
        if mode == BuildMode::Repair {
            for t in targets {
                if let DerivedPath::Opaque(p) = t {
                    if store.is_valid(p)? {
                        store.repair_path(p)?;
                    }
                }
            }
        }
        let b = self.builder(store, mode, eval);
        *b.opaque.lock().unwrap_or_else(|p| p.into_inner()) = missing;
        let inner = if mode == BuildMode::Check {
            BuildMode::Check
        } else {
            BuildMode::Normal
        };
        b.realise(&drvs, inner, false).map_err(build_error)
    }

    fn build_derivation(
        &self,
        store: &LocalStore,
        drv_path: &StorePath,
        drv: &Derivation,
        mode: BuildMode,
    ) -> Result<BuildResult, StoreError> {
        // A derivation stored under its path is built from the store (with its input
        // derivations); any other is built as given, from its sources alone, as Nix builds
        // a `BasicDerivation`.
        let stored = store.is_valid(drv_path)? && {
            let d = store.read_derivation(drv_path)?;
            d.outputs == drv.outputs
                && d.platform == drv.platform
                && d.builder == drv.builder
                && d.args == drv.args
                && d.env == drv.env
        };
        let floating = crate::floating_outputs(drv).map_err(build_error)?;
        let mut out_paths = Vec::new();
        for (name, o) in &drv.outputs {
            if floating.contains_key(&*String::from_utf8_lossy(name)) {
                continue;
            }
            out_paths.push(store.dir().parse(&String::from_utf8_lossy(&o.path))?);
        }
        let outputs: BTreeSet<String> = drv
            .outputs
            .keys()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let all_valid = out_paths.iter().all(|p| store.is_valid(p).unwrap_or(false));
        let start = ferrix_store::db::now();
        let inner_mode = if mode == BuildMode::Check {
            BuildMode::Check
        } else {
            BuildMode::Normal
        };
        let mut builder = self.builder(store, mode, None);
        if !stored {
            builder.given = Some((drv_path.clone(), drv.clone()));
        }
        let r = builder.realise(
            &[Target {
                drv: drv_path.clone(),
                outputs: Some(outputs),
            }],
            inner_mode,
            false,
        );
        let stop = ferrix_store::db::now();
        let all_valid = all_valid && floating.is_empty();
        Ok(match r {
            Ok(()) => BuildResult {
                built_outputs: built_outputs(store, drv_path, drv, &builder)?,
                status: if all_valid && mode == BuildMode::Normal {
                    BuildStatus::AlreadyValid
                } else {
                    BuildStatus::Built
                },
                times_built: u64::from(!all_valid || mode != BuildMode::Normal),
                start_time: start,
                stop_time: stop,
                ..BuildResult::default()
            },
            Err(e) => BuildResult {
                status: e.build_status(),
                is_non_deterministic: e.kind().not_deterministic,
                error_msg: e.to_string(),
                start_time: start,
                stop_time: stop,
                ..BuildResult::default()
            },
        })
    }

    fn query_missing(
        &self,
        store: &LocalStore,
        targets: &[DerivedPath],
        eval: Option<&(dyn Store + Sync)>,
    ) -> Result<Missing, StoreError> {
        let (drvs, opaque) = split_targets(store, targets)?;
        let mut b = self.builder(store, BuildMode::Normal, eval);
        b.query_only = true;
        let will_build = b
            .missing(&drvs, BuildMode::Normal)
            .map_err(build_error)?
            .into_iter()
            .collect();
        if let Some(s) = b.subst.clone() {
            for p in opaque {
                let (found, unknown) = s.explore(store, &[p].into(), false, false)?;
                b.add_planned(found, unknown);
            }
        } else {
            b.unknown
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(opaque);
        }
        let unknown = std::mem::take(&mut *b.unknown.lock().unwrap_or_else(|e| e.into_inner()));
        let (will_substitute, download_size, nar_size) = b.planned();
        Ok(Missing {
            will_build,
            will_substitute,
            unknown,
            download_size,
            nar_size,
        })
    }

    fn query_substitutable(
        &self,
        store: &LocalStore,
        paths: &BTreeSet<StorePath>,
    ) -> Result<std::collections::BTreeMap<StorePath, (ferrix_store::PathInfo, u64)>, StoreError>
    {
        let b = self.builder(store, BuildMode::Normal, None);
        let mut out = std::collections::BTreeMap::new();
        if let Some(s) = &b.subst {
            for p in paths {
                if let Some(f) = s.find(store, p, false) {
                    out.insert(p.clone(), (f.narinfo.info, f.narinfo.file_size));
                }
            }
        }
        Ok(out)
    }

    fn substitute(
        &self,
        store: &LocalStore,
        p: &StorePath,
        repair: bool,
    ) -> Result<bool, StoreError> {
        let mode = if repair {
            BuildMode::Repair
        } else {
            BuildMode::Normal
        };
        let b = self.builder(store, mode, None);
        if !b.plan_subst(&[p.clone()].into(), repair)? {
            return Ok(false);
        }
        *b.opaque.lock().unwrap_or_else(|e| e.into_inner()) = vec![p.clone()];
        b.realise(&[], mode, false).map_err(build_error)?;
        Ok(true)
    }
}
