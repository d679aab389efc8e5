//! `nix-copy-closure`: copies the closures of store paths to or from another machine's
//! store through one SSH connection running `nix-store --serve --write` there, sending only
//! the paths the receiving side lacks.

use crate::cli::CopyClosureArgs;
use ferrix_store::path::StorePath;
use ferrix_store::store::{closure, substitute_paths, topo_sort, Store, StoreError};
use ferrix_wire::ssh::SshStore;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

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
            crate::store_cmd::follow_to_store_path(&source_dir, p).map_err(StoreError::Other)?,
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
    let mut order = ferrix_store::local::topo_sort(&missing, &|p| {
        infos
            .get(p)
            .map(|i| i.references.clone())
            .unwrap_or_default()
    })
    .map_err(|(x, y)| {
        StoreError::Other(format!(
            "cycle detected in the references of '{}' from '{}'",
            dir.display(&x),
            dir.display(&y)
        ))
    })?;
    order.reverse();
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
