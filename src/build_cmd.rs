//! `nix-build`: instantiate the derivations an expression describes (or take `.drv` paths
//! as given), realise them, make `result` links registered as GC roots, and print the
//! output paths. Also the pieces `nix-store --realise` and the REPL's `:b` share.

use crate::cli::{BuildArgs, CommonArgs, InstantiateArgs};
use ferrix_builder::{self as build, BuildError, BuildSettings};
use ferrix_store::path::StorePath;
use ferrix_store::store::{BuildMode, DerivedPath, OutputsSpec};
use ferrix_store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

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

extern "C" fn on_signal(_: libc::c_int) {
    build::interrupt();
}

/// Ctrl-C, `kill` and a closed terminal stop the builds cleanly.
pub fn install_interrupt_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            let _ = sigaction(sig, &act);
        }
    }
}

/// Points the symlink `link` at store path `p` and registers it as a GC root.
pub fn add_perm_root(store: &dyn Store, p: &StorePath, link: &str) -> Result<PathBuf, StoreError> {
    let abs = absolute(link);
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
    match e {
        StoreError::Build { msg, status } => BuildError {
            msg,
            status,
            ..BuildError::new("")
        },
        e => BuildError::new(e.to_string()),
    }
}

/// Nix's `printMissing`: what realising `targets` will build, dependencies first.
pub fn print_missing(store: &dyn Store, targets: &[DerivedPath]) -> Result<(), StoreError> {
    print_missing_of(store, &store.query_missing(targets)?)
}

/// [`print_missing`] of a computed answer; `store` has the derivations.
fn print_missing_of(store: &dyn Store, m: &ferrix_store::store::Missing) -> Result<(), StoreError> {
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

fn absolute(p: &str) -> PathBuf {
    ferrix_store::path::abs_path(Path::new(p), None)
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
    let p = crate::store_cmd::follow_to_store_path(store.dir(), path)?;
    Ok((p, outs))
}

/// Runs `nix-build`; returns the exit status.
pub fn run(args: &BuildArgs) -> i32 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(BuildError { msg, status, .. }) => {
            if !msg.is_empty() {
                print_error(&msg);
            }
            status
        }
    }
}

fn run_inner(args: &BuildArgs) -> Result<(), BuildError> {
    if args.run_env {
        return Err(BuildError::new(
            "'nix-build --run-env' (nix-shell) is not supported",
        ));
    }
    let read_only = args.common.readonly_mode;
    // With `--eval-store`, evaluation writes its derivations there, and the build store
    // builds them from there (only their sources are copied over), as in Nix.
    let eval_uri = args.eval.eval_store.clone();
    let mut opts = crate::store_setup::options(read_only, &args.common);
    let (build_store, eval_handle) = match &eval_uri {
        Some(u) => {
            let b = crate::store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            opts.store_uri = Some(u.clone());
            let e = crate::store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            (Some(b), Some(e))
        }
        None => (None, None),
    };
    let session = match &eval_uri {
        Some(_) => {
            let s = crate::store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            ferrix_primops::store_session::StoreSession::new(s)
        }
        None => crate::store_setup::open(read_only, &args.common).map_err(BuildError::new)?,
    };
    // Where the derivations are, and where they are built.
    let store: &dyn Store = &*session.store;
    let builds: &dyn Store = match &build_store {
        Some(b) => &**b,
        None => store,
    };

    // `.drv` store paths given as files are built as they are; everything else is
    // evaluated.
    let mut wanted: Vec<(StorePath, String)> = Vec::new();
    let mut files = Vec::new();
    let mut direct = Vec::new();
    for f in &args.files {
        if !args.expr && (f.ends_with(".drv") || f.contains(".drv!")) {
            let abs = absolute(f.split('!').next().unwrap_or(f));
            if store.dir().is_in_store(&abs.to_string_lossy()) {
                direct.push(f.clone());
                continue;
            }
        }
        files.push(f.clone());
    }
    if !files.is_empty() || direct.is_empty() {
        let inst = InstantiateArgs {
            files,
            expr: args.expr,
            attr: args.attr.clone(),
            read_only,
            show_trace: args.common.config.show_trace,
            args: args.eval.args.clone(),
            argstrs: args.eval.argstrs.clone(),
            include: args.eval.include.clone(),
            options: args.common.options.clone(),
            impure: args.eval.impure,
            common: CommonArgs {
                no_gc_warning: true,
                ..args.common.clone()
            },
            ..InstantiateArgs::default()
        };
        let out = crate::eval_cmd::evaluate(&inst, &session).map_err(|status| BuildError {
            status,
            ..BuildError::new("")
        })?;
        for line in String::from_utf8_lossy(&out).lines() {
            let (drv, output) = match line.split_once('!') {
                Some((d, o)) => (d, o.to_string()),
                None => (line, "out".to_string()),
            };
            wanted.push((store.dir().parse(drv)?, output));
        }
    }
    for d in direct {
        let (p, outs) = parse_target(store, &d).map_err(BuildError::new)?;
        let output = match outs {
            Some(o) => o.into_iter().next().unwrap_or_else(|| "out".into()),
            // As Nix: the first output of the derivation.
            None => store
                .derivation_output_paths(&p)?
                .into_keys()
                .next()
                .unwrap_or_else(|| "out".into()),
        };
        wanted.push((p, output));
    }

    let mut targets: Vec<(StorePath, BTreeSet<String>)> = Vec::new();
    for (drv, out) in &wanted {
        match targets.iter_mut().find(|t| &t.0 == drv) {
            Some(t) => {
                t.1.insert(out.clone());
            }
            None => targets.push((drv.clone(), [out.clone()].into())),
        }
    }
    let targets: Vec<DerivedPath> = targets
        .into_iter()
        .map(|(d, o)| target(d, Some(o)))
        .collect();
    let mode = if args.check {
        BuildMode::Check
    } else if args.repair {
        BuildMode::Repair
    } else {
        BuildMode::Normal
    };
    install_interrupt_handlers();
    // A binary cache cannot build: what it lacks is built on the machines of `builders`
    // and copied into it, as Nix's build hook serves it.
    if eval_handle.is_none() && ferrix_fetch::binary_cache::is_binary_cache_uri(&builds.uri()) {
        if args.dry_run {
            return Ok(());
        }
        let remote = crate::store_setup::remote_builders(&args.common);
        // A handle the copying threads can share.
        let cache = crate::store_setup::open_store(&opts, &args.common).map_err(build_error)?;
        ferrix_builder::remote::realise_on_machines(
            &*cache,
            &targets,
            &remote,
            args.common.config.print_missing,
        )?;
    } else if args.common.config.print_missing && mode != BuildMode::Check {
        let missing = match &eval_handle {
            Some(eval) => builds.query_missing_from(&targets, &**eval),
            None => builds.query_missing(&targets),
        }
        .map_err(build_error)?;
        print_missing_of(store, &missing).map_err(build_error)?;
    }
    if args.dry_run {
        return Ok(());
    }
    if !ferrix_fetch::binary_cache::is_binary_cache_uri(&builds.uri()) || eval_handle.is_some() {
        match &eval_handle {
            Some(eval) => builds.build_paths_from(&targets, mode, &**eval),
            None => builds.build_paths(&targets, mode),
        }
        .map_err(build_error)?;
    }

    // Result links: `result`, `result-2` for the second derivation, `-NAME` for outputs
    // other than `out`.
    let out_link = args.out_link.clone().unwrap_or_else(|| "./result".into());
    let mut counters: BTreeMap<&StorePath, usize> = BTreeMap::new();
    let mut paths = Vec::new();
    for (drv, output) in &wanted {
        let n = counters.len();
        let counter = *counters.entry(drv).or_insert(n);
        let outs = store.derivation_output_paths(drv)?;
        let p = outs.get(output).ok_or_else(|| {
            BuildError::new(format!(
                "derivation '{}' does not have an output named '{output}'",
                store.dir().display(drv)
            ))
        })?;
        // Only a local store keeps roots: for others (a binary cache) Nix makes no link.
        let rooted = !ferrix_fetch::binary_cache::is_binary_cache_uri(&builds.uri());
        if !args.no_out_link && !read_only && rooted {
            let mut link = out_link.clone();
            if counter > 0 {
                link.push_str(&format!("-{}", counter + 1));
            }
            if output != "out" {
                link.push('-');
                link.push_str(output);
            }
            add_perm_root(builds, p, &link).map_err(build_error)?;
        }
        paths.push(store.dir().display(p));
    }
    let mut stdout = std::io::stdout().lock();
    for p in paths {
        let _ = writeln!(stdout, "{p}");
    }
    Ok(())
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
