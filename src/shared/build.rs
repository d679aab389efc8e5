//! Building as the commands share it: the build settings, errors as Nix prints them, build
//! targets (`drv!out`), what will be built (`printMissing`), GC roots for results, build
//! logs, and the builders of the REPL's `:b` and of import from derivation. `nix-build`,
//! `nix-store --realise`, `nix-instantiate` and `nix repl` use them.

use crate::cli::CommonArgs;
use ferrix_builder::{BuildError, BuildSettings};
use ferrix_store::path::StorePath;
use ferrix_store::store::{BuildMode, DerivedPath, OutputsSpec};
use ferrix_store::{Store, StoreError};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

/// Prints `error: MSG` with continuation lines indented under the message, as Nix does.
pub fn print_error(msg: &str) {
    let mut s = String::from("error: ");
    for (i, line) in msg.split('\n').enumerate() {
        if i > 0 {
            s.push_str("\n       ");
        }
        s.push_str(line);
    }
    s.push('\n');
    let _ = std::io::stderr().write_all(s.as_bytes());
}

/// The build settings of the command's configuration (`nix.conf`, `NIX_CONFIG` and the
/// command line); `-Q` and the verbosity decide whether build output is shown.
pub fn settings(common: &CommonArgs) -> Result<BuildSettings, String> {
    let mut s = BuildSettings::from_settings(&common.config);
    s.print_build_output =
        !common.no_build_output && common.verbosity >= crate::cli::VERBOSITY_INFO;
    Ok(s)
}

/// Points the symlink `link` at store path `p` and registers it as a GC root.
pub fn add_perm_root(store: &dyn Store, p: &StorePath, link: &str) -> Result<PathBuf, StoreError> {
    let abs = crate::shared::store_paths::absolute(link);
    let tmp = PathBuf::from(format!("{}.tmp-{}", abs.display(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(store.dir().display(p), &tmp)
        .and_then(|_| std::fs::rename(&tmp, &abs))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::io(format!("creating symlink '{}'", abs.display()), &e)
        })?;
    store.add_indirect_root(&abs)?;
    Ok(abs)
}

/// The error of a failed store operation as a build error (keeping a build's exit status).
pub fn build_error(e: StoreError) -> BuildError {
    BuildError::Store(e)
}

/// Nix's `printMissing`: what realising `targets` will build, dependencies first.
pub fn print_missing(store: &dyn Store, targets: &[DerivedPath]) -> Result<(), StoreError> {
    print_missing_of(store, &store.query_missing(targets)?)
}

/// [`print_missing`] of a computed answer; `store` has the derivations.
pub fn print_missing_of(
    store: &dyn Store,
    m: &ferrix_store::store::Missing,
) -> Result<(), StoreError> {
    print_builds(store, m)?;
    let mut e = std::io::stderr().lock();
    for l in ferrix_builder::fetched_lines(&m.will_substitute, m.download_size, m.nar_size, &|p| {
        store.dir().display(p)
    }) {
        let _ = writeln!(e, "{l}");
    }
    if !m.unknown.is_empty() {
        let _ = writeln!(e, "don't know how to build these paths:");
        for p in &m.unknown {
            let _ = writeln!(e, "  {}", store.dir().display(p));
        }
    }
    Ok(())
}

fn print_builds(store: &dyn Store, m: &ferrix_store::store::Missing) -> Result<(), StoreError> {
    if m.will_build.is_empty() {
        return Ok(());
    }
    let mut sorted = ferrix_store::store::topo_sort(store, &m.will_build)?;
    sorted.reverse();
    let mut e = std::io::stderr().lock();
    if sorted.len() == 1 {
        let _ = writeln!(e, "this derivation will be built:");
    } else {
        let _ = writeln!(e, "these {} derivations will be built:", sorted.len());
    }
    for p in &sorted {
        let _ = writeln!(e, "  {}", store.dir().display(p));
    }
    Ok(())
}

/// A derivation and the outputs wanted (`None`: all) as a build request.
pub fn target(drv: StorePath, outputs: Option<BTreeSet<String>>) -> DerivedPath {
    DerivedPath::Built {
        drv,
        outputs: match outputs {
            Some(o) => OutputsSpec::Names(o),
            None => OutputsSpec::All,
        },
    }
}

/// `drv` or `drv!out,dev` as a build target.
pub fn parse_target(
    store: &dyn Store,
    s: &str,
) -> Result<(StorePath, Option<BTreeSet<String>>), String> {
    let (path, outs) = match s.rsplit_once('!') {
        Some((p, o)) => (p, Some(o.split(',').map(str::to_string).collect())),
        None => (s, None),
    };
    // Through symlinks (`nix-store -r LINK!out`), as Nix's `followLinksToStorePath`.
    let p = crate::shared::store_paths::follow_to_store_path(store.dir(), path)?;
    Ok((p, outs))
}

/// The REPL's `:b` and `:log`, through the store.
pub struct ReplBuilder<'a> {
    pub store: &'a dyn Store,
}

impl ferrix_repl::Builder for ReplBuilder<'_> {
    fn build(&self, drv_path: &str) -> Result<Vec<(String, String)>, String> {
        let (p, outs) = parse_target(self.store, drv_path)?;
        let t = [target(p.clone(), outs)];
        print_missing(self.store, &t).map_err(|e| e.to_string())?;
        self.store
            .build_paths(&t, BuildMode::Normal)
            .map_err(|e| e.to_string())?;
        Ok(self
            .store
            .derivation_output_paths(&p)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(n, o)| (n, self.store.dir().display(&o)))
            .collect())
    }

    fn build_log(&self, drv_path: &str) -> Result<Vec<u8>, String> {
        let (p, _) = parse_target(self.store, drv_path)?;
        read_log(self.store, &p)
    }
}

/// The build log of `p`: a derivation, or an output of one (found through its deriver).
pub fn read_log(store: &dyn Store, p: &StorePath) -> Result<Vec<u8>, String> {
    let mut drvs = vec![p.clone()];
    if !p.is_derivation() {
        if let Ok(Some(info)) = store.path_info(p) {
            if let Some(d) = info.deriver {
                drvs.insert(0, d);
            }
        }
    }
    for d in &drvs {
        if let Some(data) = store.build_log(d).map_err(|e| e.to_string())? {
            return Ok(data);
        }
    }
    Err(format!(
        "build log of '{}' is not available",
        store.dir().display(p)
    ))
}

/// Builds derivation outputs that evaluation reads (import from derivation), for the
/// evaluator's realiser.
pub fn realise_for_eval(
    store: &dyn Store,
    wanted: &[(StorePath, BTreeSet<String>)],
) -> Result<(), String> {
    let targets: Vec<DerivedPath> = wanted
        .iter()
        .map(|(drv, outputs)| target(drv.clone(), Some(outputs.clone())))
        .collect();
    store
        .build_paths(&targets, BuildMode::Normal)
        .map_err(|e| e.to_string())
}
