//! `ferrix copy-closure` / `nix-copy-closure`: copies the closures of store paths to or
//! from another machine's store through one SSH connection running `nix-store --serve
//! --write` there, sending only the paths the receiving side lacks.

use crate::cli::{parse, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};
use ferrix_store::path::StorePath;
use ferrix_store::store::{closure, substitute_paths, topo_sort, Store, StoreError};
use ferrix_wire::ssh::SshStore;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The clap side of `nix-copy-closure`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-copy-closure [--to | --from] [OPTIONS] [USER@]HOST PATHS...")]
pub(crate) struct Cli {
    /// The host (first), then the paths whose closures are copied
    #[arg(value_name = "ARGS")]
    items: Vec<String>,
    /// Copy to the host (the default)
    #[arg(long = "to")]
    to: bool,
    /// Copy from the host
    #[arg(long = "from")]
    from: bool,
    /// Compress the SSH connection
    #[arg(long = "gzip")]
    gzip: bool,
    /// As --gzip (as in Nix, with a warning)
    #[arg(long = "bzip2")]
    bzip2: bool,
    /// As --gzip (as in Nix, with a warning)
    #[arg(long = "xz")]
    xz: bool,
    /// Also copy the outputs of the derivations in the closure
    #[arg(long = "include-outputs")]
    include_outputs: bool,
    /// Let the receiving side substitute paths instead of receiving them
    #[arg(long = "use-substitutes", short = 's')]
    use_substitutes: bool,
    /// Not implemented (Nix 2.8 says so and goes on)
    #[arg(long = "show-progress")]
    show_progress: bool,
    /// Refused: Nix 2.8 accepts it and copies anyway, and Ferrix accepts no flag it
    /// ignores
    #[arg(long = "dry-run")]
    dry_run: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::CopyClosure;
    const SPEC: Spec = Spec::LEGACY;
    const EVAL_FLAGS: bool = false;
}

/// Everything `nix-copy-closure` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyClosureArgs {
    /// `--from` (the last of `--to` / `--from` wins).
    pub from: bool,
    /// `[user@]host`.
    pub host: String,
    pub paths: Vec<String>,
    /// `--gzip` (or `--bzip2`/`--xz`).
    pub gzip: bool,
    pub include_outputs: bool,
    pub use_substitutes: bool,
    pub common: CommonArgs,
}

/// Parses `nix-copy-closure`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<CopyClosureArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    let mut from = false;
    let mut gzip = false;
    for s in &p.scan.seen {
        match s.id.as_str() {
            "from" => from = true,
            "to" => from = false,
            "gzip" => gzip = true,
            "bzip2" | "xz" => {
                err_line!(
                    "Warning: '{}' is not implemented, falling back to gzip",
                    s.typed
                );
                gzip = true;
            }
            "show_progress" => err_line!("Warning: '--show-progress' is not implemented"),
            "dry_run" => return Err(inv.usage_error(
                "'--dry-run' is not supported by nix-copy-closure (Nix 2.8 ignores it and copies)",
            )),
            _ => {}
        }
    }
    let _ = (
        c.to,
        c.from,
        c.gzip,
        c.bzip2,
        c.xz,
        c.show_progress,
        c.dry_run,
    );
    let mut items = c.items.into_iter();
    let Some(host) = items.next() else {
        return Err(inv.usage_error("no host name specified"));
    };
    Ok(CopyClosureArgs {
        from,
        host,
        paths: items.collect(),
        gzip,
        include_outputs: c.include_outputs,
        use_substitutes: c.use_substitutes,
        common: p.common,
    })
}

/// Entry point of `nix-copy-closure`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => run(&a),
        Err(code) => code,
    }
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `nix-copy-closure`; returns the exit status.
pub fn run(a: &CopyClosureArgs) -> i32 {
    match copy(a) {
        Ok(()) => 0,
        Err(e) => {
            say(&format!("error: {e}"));
            1
        }
    }
}

/// `[user@]host[?params]`, as Nix appends the host to `ssh://`.
fn split_host(host: &str) -> (String, Vec<(String, String)>) {
    match host.split_once('?') {
        None => (host.to_string(), Vec::new()),
        Some((h, q)) => (
            h.to_string(),
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
        ),
    }
}

fn copy(a: &CopyClosureArgs) -> Result<(), StoreError> {
    let opts = crate::store_setup::options(a.common.readonly_mode, &a.common);
    let local = crate::store_setup::open_store(&opts, &a.common)?;
    let (host, params) = split_host(&a.host);
    let remote =
        crate::store_setup::open_ssh(local.dir().clone(), &host, &params, &a.common, a.gzip, None)?;
    let source_dir = local.dir().clone();
    let mut start = BTreeSet::new();
    for p in &a.paths {
        start.insert(
            crate::shared::store_paths::follow_to_store_path(&source_dir, p)
                .map_err(StoreError::Other)?,
        );
    }
    let mut warn = |m: String| say(&format!("warning: {m}"));
    if a.from {
        copy_from(&remote, &*local, &start, a, &mut warn)
    } else {
        copy_to(&*local, &remote, &start, a)
    }
}

fn copy_to(
    local: &(dyn Store + Send + Sync),
    remote: &SshStore,
    start: &BTreeSet<StorePath>,
    a: &CopyClosureArgs,
) -> Result<(), StoreError> {
    let all = closure(local, start, false, a.include_outputs)?;
    // The remote keeps what it has (it locks the paths for the session) and, when asked,
    // substitutes what it can.
    let valid = remote.query_valid(&all, true, a.use_substitutes)?;
    let missing: BTreeSet<StorePath> = all.difference(&valid).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut order = topo_sort(local, &missing)?;
    order.reverse();
    say(&format!("copying {} paths...", order.len()));
    let dir = local.dir().clone();
    let mut infos = Vec::new();
    for p in &order {
        infos.push(local.query_path_info(p)?);
    }
    let uri = remote.uri();
    remote.add_nars(
        &infos,
        &mut |info, w| local.nar_from_path(&info.path, w),
        &mut |info| {
            say(&format!(
                "copying path '{}' to '{uri}'...",
                dir.display(&info.path)
            ))
        },
    )
}

fn copy_from(
    remote: &SshStore,
    local: &(dyn Store + Send + Sync),
    start: &BTreeSet<StorePath>,
    a: &CopyClosureArgs,
    warn: &mut dyn FnMut(String),
) -> Result<(), StoreError> {
    let all = remote.query_closure(start, a.include_outputs)?;
    if a.use_substitutes {
        let missing: BTreeSet<StorePath> = all
            .difference(&local.query_valid_paths(&all)?)
            .cloned()
            .collect();
        substitute_paths(local, &missing, warn)?;
    }
    let valid = local.query_valid_paths(&all)?;
    let missing: BTreeSet<StorePath> = all.difference(&valid).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    let infos: BTreeMap<StorePath, ferrix_store::PathInfo> = remote
        .query_path_infos(&missing)?
        .into_iter()
        .filter(|i| missing.contains(&i.path))
        .map(|i| (i.path.clone(), i))
        .collect();
    let dir = local.dir().clone();
    if let Some(p) = missing.iter().find(|p| !infos.contains_key(*p)) {
        return Err(StoreError::Other(format!(
            "path '{}' is not valid on '{}'",
            dir.display(p),
            remote.uri()
        )));
    }
    // The infos are those of the missing paths, each one (checked above).
    let order = ferrix_store::store::dependency_order(&dir, &infos)?;
    say(&format!("copying {} paths...", order.len()));
    for p in order {
        say(&format!(
            "copying path '{}' from '{}'...",
            dir.display(&p),
            remote.uri()
        ));
        ferrix_store::store::pipe_nar(remote, &p, &mut |r| {
            local.add_nar(&infos[&p], r, false, false)
        })?;
    }
    Ok(())
}
