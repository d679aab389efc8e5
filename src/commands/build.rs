//! `ferrix build` / `nix-build`: instantiate the derivations an expression describes (or
//! take `.drv` paths as given), realise them, make `result` links registered as GC roots,
//! and print the output paths.

use crate::cli::{parse, scan::Spec, CommandSpec, CommonArgs, EvalArgs, Invocation, Program};
use crate::shared::build::{
    add_perm_root, build_error, parse_target, print_error, print_missing_of, target,
};
use crate::shared::eval::{evaluate_printing, InstantiateArgs};
use crate::shared::interrupt::install_interrupt_handlers;
use crate::shared::store_paths::absolute;
use crate::store_setup;
use ferrix_builder::BuildError;
use ferrix_store::path::{PathError, StorePath};
use ferrix_store::store::{BuildMode, DerivedPath, StoreError};
use ferrix_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The clap side of `nix-build`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-build [OPTIONS] [PATHS]...")]
pub(crate) struct Cli {
    /// Files to build (default: ./default.nix), or with -E, expressions ('-' is standard input)
    #[arg(value_name = "PATHS")]
    files: Vec<String>,
    /// Build the attribute PATH of the result; may be repeated
    #[arg(
        short = 'A',
        long = "attr",
        value_name = "PATH",
        allow_hyphen_values = true
    )]
    attr: Vec<String>,
    /// Treat the arguments as Nix expressions rather than file names
    #[arg(short = 'E', long = "expr")]
    expr: bool,
    /// Name the result symlink(s) PATH instead of ./result
    #[arg(
        short = 'o',
        long = "out-link",
        value_name = "PATH",
        allow_hyphen_values = true
    )]
    out_link: Vec<String>,
    /// Do not create result symlinks
    #[arg(long = "no-out-link", visible_alias = "no-link")]
    no_out_link: bool,
    /// Register the results as garbage collector roots at PATH
    #[arg(long = "add-root", value_name = "PATH", allow_hyphen_values = true)]
    add_root: Vec<String>,
    /// Obsolete; the value is ignored
    #[arg(long = "drv-link", value_name = "PATH", allow_hyphen_values = true)]
    drv_link: Vec<String>,
    /// Obsolete; has no effect
    #[arg(long = "indirect", visible_alias = "add-drv-link")]
    indirect: bool,
    /// Show what would be built or fetched, without doing it
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Evaluate several -A attributes in up to N processes at once (a Ferrix flag)
    #[arg(long = "workers", value_name = "N", default_value_t = 1)]
    workers: usize,
    /// Repair corrupt or missing store paths while building
    #[arg(long = "repair")]
    repair: bool,
    /// Rebuild already valid outputs and compare the results
    #[arg(long = "check")]
    check: bool,
    /// Obsolete: behave like nix-shell
    #[arg(long = "run-env")]
    run_env: bool,
    /// (nix-shell) do not include derivations matching REGEX in the environment
    #[arg(long = "exclude", value_name = "REGEX", allow_hyphen_values = true)]
    exclude: Vec<String>,
    /// (nix-shell) start from a clean environment
    #[arg(long = "pure")]
    pure: bool,
    /// (nix-shell) keep environment variable NAME with --pure
    #[arg(long = "keep", value_name = "NAME", allow_hyphen_values = true)]
    keep: Vec<String>,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Build;
    const SPEC: Spec = Spec {
        getarg_ids: &[
            "attr", "out_link", "add_root", "drv_link", "exclude", "keep",
        ],
        stdin_dash: true,
        ..Spec::LEGACY
    };
    const EVAL_FLAGS: bool = true;
}

/// Everything `nix-build` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildArgs {
    /// Positional arguments: files, or expressions with `-E`; `-` means standard input.
    pub files: Vec<String>,
    /// `-A` / `--attr`, in order.
    pub attr: Vec<String>,
    /// `-E` / `--expr`.
    pub expr: bool,
    /// `-o` / `--out-link` (the last one given).
    pub out_link: Option<String>,
    /// `--no-out-link` / `--no-link`.
    pub no_out_link: bool,
    /// `--add-root PATH` (the last one given).
    pub add_root: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--repair`.
    pub repair: bool,
    /// `--check`.
    pub check: bool,
    /// `--run-env`.
    pub run_env: bool,
    /// `--exclude REGEX`, in order.
    pub exclude: Vec<String>,
    /// `--pure` (note that `--impure` is the evaluation flag, in `eval`).
    pub pure: bool,
    /// `--keep NAME`, in order.
    pub keep: Vec<String>,
    /// `--workers N`: several `-A` attributes are evaluated in up to N processes.
    pub workers: usize,
    /// `--arg`, `--argstr`, `-I`, `--impure`, ...
    pub eval: EvalArgs,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Parses `nix-build`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<BuildArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    let _ = (c.indirect, c.drv_link);
    if c.workers == 0 {
        return Err(inv.usage_error("'--workers' must be at least 1"));
    }
    Ok(BuildArgs {
        files: c.files,
        attr: c.attr,
        expr: c.expr,
        out_link: c.out_link.last().cloned(),
        no_out_link: c.no_out_link,
        add_root: c.add_root.last().cloned(),
        dry_run: c.dry_run,
        repair: c.repair,
        check: c.check,
        run_env: c.run_env,
        exclude: c.exclude,
        pure: c.pure,
        keep: c.keep,
        workers: c.workers,
        eval: p.eval,
        common: p.common,
    })
}

/// Entry point of `nix-build`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => run(&a),
        Err(code) => code,
    }
}

/// Runs `nix-build`; returns the exit status.
pub fn run(args: &BuildArgs) -> i32 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                print_error(&msg);
            }
            e.status()
        }
    }
}

/// Why `nix-build` failed. Its text is what is printed after `error: ` (none when empty).
#[derive(Debug)]
enum NixBuildError {
    /// Realising the targets, or reading the store, failed.
    Build(BuildError),
    /// `--run-env` (`nix-shell`'s), which Ferrix does not offer.
    RunEnv,
    /// The evaluation failed, with this exit status; it printed its error itself, so the
    /// text is empty.
    Evaluation(i32),
    /// A `.drv` argument that is not a store path. The text is the path helpers' (shared
    /// with `nix-store` and the REPL), which report as text.
    Target(String),
    /// A derivation has no output of the name asked for.
    NoSuchOutput { drv: String, output: String },
}

impl NixBuildError {
    /// The exit status.
    fn status(&self) -> i32 {
        match self {
            NixBuildError::Build(e) => e.status(),
            NixBuildError::Evaluation(status) => *status,
            NixBuildError::RunEnv
            | NixBuildError::Target(_)
            | NixBuildError::NoSuchOutput { .. } => 1,
        }
    }
}

impl std::fmt::Display for NixBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NixBuildError::Build(e) => e.fmt(f),
            NixBuildError::RunEnv => {
                f.write_str("'nix-build --run-env' (nix-shell) is not supported")
            }
            NixBuildError::Evaluation(_) => Ok(()),
            NixBuildError::Target(msg) => f.write_str(msg),
            NixBuildError::NoSuchOutput { drv, output } => write!(
                f,
                "derivation '{drv}' does not have an output named '{output}'"
            ),
        }
    }
}

impl std::error::Error for NixBuildError {}

impl From<BuildError> for NixBuildError {
    fn from(e: BuildError) -> Self {
        NixBuildError::Build(e)
    }
}

impl From<StoreError> for NixBuildError {
    fn from(e: StoreError) -> Self {
        NixBuildError::Build(e.into())
    }
}

impl From<PathError> for NixBuildError {
    fn from(e: PathError) -> Self {
        NixBuildError::Build(e.into())
    }
}

/// What `nix-build` evaluates: the files (or expressions) and `-A`s as `nix-instantiate`
/// takes them, without its warning about roots.
fn instantiate_args(args: &BuildArgs, files: Vec<String>, read_only: bool) -> InstantiateArgs {
    InstantiateArgs {
        files,
        expr: args.expr,
        attr: args.attr.clone(),
        read_only,
        workers: args.workers,
        // The evaluation store is opened by nix-build itself.
        eval_store: None,
        ..InstantiateArgs::from_flags(
            args.eval.clone(),
            CommonArgs {
                no_gc_warning: true,
                ..args.common.clone()
            },
        )
    }
}

/// `--workers`: the evaluation's output (the `.drv` lines), made by forked processes, or
/// `None` to evaluate in this process (one worker, one attribute, a `.drv` argument,
/// `--eval-store`, or no fork possible).
fn evaluate_in_workers(
    args: &BuildArgs,
    read_only: bool,
) -> Result<Option<Vec<u8>>, NixBuildError> {
    let drv_arg = args
        .files
        .iter()
        .any(|f| !args.expr && (f.ends_with(".drv") || f.contains(".drv!")));
    if args.workers < 2 || drv_arg || args.eval.eval_store.is_some() {
        return Ok(None);
    }
    let inst = instantiate_args(args, args.files.clone(), read_only);
    let Some(runs) = crate::shared::parallel::split(&inst) else {
        return Ok(None);
    };
    let run = |r: &InstantiateArgs| -> i32 {
        let session = match store_setup::open_store(
            &store_setup::options(read_only, &args.common),
            &args.common,
        ) {
            Ok(s) => ferrix_primops::store_session::StoreSession::new(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        match evaluate_printing(r, &session, false) {
            Ok(out) => {
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                if o.write_all(&out).and_then(|_| o.flush()).is_err() {
                    return 1;
                }
                0
            }
            Err(status) => status,
        }
    };
    match crate::shared::parallel::run_collect(&runs, run) {
        None => Ok(None),
        Some((out, 0)) => Ok(Some(out)),
        Some((_, status)) => Err(NixBuildError::Evaluation(status)),
    }
}

fn run_inner(args: &BuildArgs) -> Result<(), NixBuildError> {
    if args.run_env {
        return Err(NixBuildError::RunEnv);
    }
    let read_only = args.common.readonly_mode;
    // With `--workers`, several attributes are evaluated in forked processes before this
    // one opens anything; their `.drv` paths are then built here.
    let evaluated = evaluate_in_workers(args, read_only)?;
    // With `--eval-store`, evaluation writes its derivations there, and the build store
    // builds them from there (only their sources are copied over), as in Nix.
    let eval_uri = args.eval.eval_store.clone();
    let mut opts = store_setup::options(read_only, &args.common);
    let (build_store, eval_handle) = match &eval_uri {
        Some(u) => {
            let b = store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            opts.store_uri = Some(u.clone());
            let e = store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            (Some(b), Some(e))
        }
        None => (None, None),
    };
    let session = match &eval_uri {
        Some(_) => {
            let s = store_setup::open_store(&opts, &args.common).map_err(build_error)?;
            ferrix_primops::store_session::StoreSession::new(s)
        }
        None => ferrix_primops::store_session::StoreSession::new(store_setup::open_store(
            &opts,
            &args.common,
        )?),
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
            workers: 1,
            ..instantiate_args(args, files, read_only)
        };
        let out = match &evaluated {
            Some(out) => out.clone(),
            None => evaluate_printing(&inst, &session, false).map_err(NixBuildError::Evaluation)?,
        };
        for line in String::from_utf8_lossy(&out).lines() {
            let (drv, output) = match line.split_once('!') {
                Some((d, o)) => (d, o.to_string()),
                None => (line, "out".to_string()),
            };
            wanted.push((store.dir().parse(drv)?, output));
        }
    }
    for d in direct {
        let (p, outs) = parse_target(store, &d).map_err(NixBuildError::Target)?;
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
        let remote = store_setup::remote_builders(&args.common);
        // A handle the copying threads can share.
        let cache = store_setup::open_store(&opts, &args.common).map_err(build_error)?;
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
        let p = outs
            .get(output)
            .ok_or_else(|| NixBuildError::NoSuchOutput {
                drv: store.dir().display(drv),
                output: output.clone(),
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
