//! Which store a command works on, from the environment and the command line.

use crate::cli::CommonArgs;
use ferrix_builder::realiser::LocalRealiser;
use ferrix_primops::store_session::StoreSession;
use ferrix_store::local::{LocalStore, Log};
use ferrix_store::{resolve, Store, StoreError, StoreKind, StoreOptions};
use std::sync::Arc;

/// The store options the command line and environment ask for: `--store` (or the `store`
/// setting), `--readonly-mode`, `use-case-hack`, `sync-before-registering` and `fsync-metadata`.
pub fn options(read_only: bool, common: &CommonArgs) -> StoreOptions {
    let c = &common.config;
    StoreOptions {
        // `auto` (the default) leaves the choice to `NIX_REMOTE`, as in Nix.
        store_uri: Some(c.store.clone()).filter(|s| s != "auto"),
        read_only,
        case_hack: c.use_case_hack,
        fsync: c.sync_before_registering,
        fsync_metadata: c.fsync_metadata,
    }
}

/// The options the common flags give for opening the store (`--readonly-mode` decides
/// whether it is read-only).
pub fn store_options(a: &CommonArgs) -> StoreOptions {
    options(a.readonly_mode, a)
}

/// The store session for an evaluation. Read-only mode computes paths without writing.
pub fn open(read_only: bool, common: &CommonArgs) -> Result<StoreSession, String> {
    let store = open_store(&options(read_only, common), common).map_err(|e| e.to_string())?;
    Ok(StoreSession::new(store))
}

/// Prints the messages of long store operations as Nix does, at the command's verbosity.
pub fn print_log(verbosity: u8) -> impl Fn(Log) + Send + Sync {
    move |l| {
        let line = match l {
            Log::Info(m) if verbosity >= crate::cli::VERBOSITY_INFO => m,
            Log::Info(_) => return,
            Log::Error(m) => m,
            Log::PrefixedError(m) => format!("error: {m}"),
            Log::Warn(m) => format!("warning: {m}"),
        };
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Opens the store `opts` name, with the command's settings: a local store builds with the
/// builder and the command's build settings, prints its messages at the command's
/// verbosity and checks signatures as `require-sigs` and `trusted-public-keys` say.
pub fn open_store(
    opts: &StoreOptions,
    common: &CommonArgs,
) -> Result<Box<dyn Store + Send + Sync>, StoreError> {
    if let Some(uri) = opts
        .store_uri
        .as_deref()
        .filter(|u| ferrix_fetch::binary_cache::is_binary_cache_uri(u))
    {
        let c = &common.config;
        let http = ferrix_fetch::http::HttpOptions::from_settings(c);
        let store = ferrix_fetch::binary_cache::BinaryCacheStore::open(
            uri,
            ferrix_store::StoreDir::from_env(),
            &http,
        )?;
        return Ok(Box::new(store));
    }
    match resolve(opts)? {
        StoreKind::Local(cfg) => {
            let store = LocalStore::open(cfg)?;
            configure_local(&store, common);
            Ok(Box::new(store))
        }
        StoreKind::Dummy(_) => ferrix_store::open_store(opts),
        StoreKind::Daemon { socket, dir } => {
            let store = ferrix_wire::client::DaemonStore::connect(
                dir,
                &socket,
                ferrix_store::open::log_dir_default(),
                client_settings(common),
                Arc::new(print_event(common.verbosity)),
            )?;
            Ok(Box::new(store))
        }
        StoreKind::Ssh { host, dir, params } => Ok(Box::new(open_ssh(
            dir, &host, &params, common, false, None,
        )?)),
    }
}

/// The build settings an `ssh://` store sends with its builds: the command's limits.
pub fn serve_build_settings(common: &CommonArgs) -> ferrix_wire::serve::ServeBuildSettings {
    let c = &common.config;
    ferrix_wire::serve::ServeBuildSettings {
        max_silent_time: u32::try_from(c.max_silent_time.max(0)).unwrap_or(u32::MAX),
        build_timeout: u32::try_from(c.timeout.max(0)).unwrap_or(u32::MAX),
        max_log_size: c.max_build_log_size,
        build_repeat: u32::try_from(c.repeat).unwrap_or(u32::MAX),
        enforce_determinism: c.enforce_determinism,
        keep_failed: c.keep_failed,
    }
}

/// Opens `ssh://HOST?PARAMS` (`compress` forced on by `nix-copy-closure --gzip`). The
/// parameters are Nix 2.8's: `ssh-key`, `compress`, `remote-program`, `remote-store`, and
/// `max-connections` (one connection is all this client opens).
pub fn open_ssh(
    dir: ferrix_store::path::StoreDir,
    host: &str,
    params: &[(String, String)],
    common: &CommonArgs,
    compress: bool,
    stderr: Option<ferrix_wire::ssh::StderrSink>,
) -> Result<ferrix_wire::ssh::SshStore, StoreError> {
    let mut opts = ferrix_wire::ssh::SshOptions {
        compress,
        build_settings: serve_build_settings(common),
        ssh_args: std::env::var("NIX_SSHOPTS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        ..Default::default()
    };
    let flag = |k: &str, v: &str| match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(StoreError::Other(format!(
            "invalid value '{v}' of the store setting '{k}': expected 'true' or 'false'"
        ))),
    };
    for (k, v) in params {
        match k.as_str() {
            "ssh-key" => opts.ssh_key = Some(v.clone()).filter(|v| !v.is_empty()),
            "compress" => opts.compress |= flag(k, v)?,
            "remote-program" => opts.remote_program = Some(v.clone()),
            "remote-store" => opts.remote_store = Some(v.clone()).filter(|v| !v.is_empty()),
            "base64-ssh-public-host-key" => {
                opts.host_key = Some(v.clone()).filter(|v| !v.is_empty())
            }
            "max-connections" if v == "1" => {}
            "max-connections" => {
                return Err(StoreError::Unsupported(format!(
                    "max-connections={v}: the ssh:// store of Ferrix opens one connection"
                )))
            }
            _ => {
                return Err(StoreError::Unsupported(format!(
                    "the store setting '{k}' of 'ssh://{host}' is not supported by Ferrix"
                )))
            }
        }
    }
    ferrix_wire::ssh::SshStore::connect_with_stderr(dir, host, opts, stderr)
}

/// Opens a store for the builder: a remote build machine or a substituter that is not a
/// binary cache, by URI with extra settings (the URI's own parameters win, as in Nix). An
/// `ssh://` store's standard error goes to the log sink when there is one (the build's
/// log); a local store builds one job at a time and never remotely itself.
fn store_opener(common: &CommonArgs) -> Arc<ferrix_builder::remote::OpenStore> {
    let common = common.clone();
    Arc::new(
        move |uri: &str,
              extra: &[(String, String)],
              log: Option<ferrix_builder::remote::LogSink>|
              -> Result<BoxedStore, StoreError> {
            let opts = StoreOptions {
                store_uri: Some(uri.to_string()),
                ..options(false, &common)
            };
            let extra_value = |k: &str| extra.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if ferrix_fetch::binary_cache::is_binary_cache_uri(uri) {
                return open_store(&opts, &common);
            }
            match resolve(&opts)? {
                StoreKind::Ssh {
                    host,
                    dir,
                    mut params,
                } => {
                    for (k, v) in extra {
                        // Features only choose the machine; the remote has its own.
                        if k != "system-features" && !params.iter().any(|(n, _)| n == k) {
                            params.push((k.clone(), v.clone()));
                        }
                    }
                    let sink: Option<ferrix_wire::ssh::StderrSink> = log;
                    Ok(Box::new(open_ssh(
                        dir, &host, &params, &common, false, sink,
                    )?))
                }
                StoreKind::Local(mut cfg) => {
                    if cfg.system_features.is_none() {
                        cfg.system_features = extra_value("system-features")
                            .map(|f| f.split_whitespace().map(str::to_string).collect());
                    }
                    let store = LocalStore::open(cfg)?;
                    let realiser = configure_local_with(&store, &common, false);
                    let mut s = realiser.settings();
                    s.builders = String::new();
                    s.max_jobs = 1;
                    realiser.set_settings(s);
                    Ok(Box::new(store))
                }
                _ if uri.starts_with("ssh-ng://") => Err(StoreError::Unsupported(format!(
                    "'{uri}': Ferrix has no ssh-ng:// client; use ssh://"
                ))),
                _ => open_store(&opts, &common),
            }
        },
    )
}

/// The machines of the `builders` setting, for a store that builds only on them.
pub fn remote_builders(common: &CommonArgs) -> Arc<ferrix_builder::remote::RemoteBuilders> {
    let c = &common.config;
    Arc::new(ferrix_builder::remote::RemoteBuilders::new(
        ferrix_builder::remote::parse_machines(&c.builders, &c.system),
        &ferrix_store::open::state_dir_default(),
        store_opener(common),
        c.builders_use_substitutes,
    ))
}

/// A store as commands get it.
pub type BoxedStore = Box<dyn Store + Send + Sync>;

/// [`open_store`], and for a local store the builder it got, whose settings the caller may
/// change between builds (`nix-store --serve` applies its client's).
pub fn open_store_with_realiser(
    opts: &StoreOptions,
    common: &CommonArgs,
) -> Result<(BoxedStore, Option<Arc<LocalRealiser>>), StoreError> {
    match resolve(opts)? {
        StoreKind::Local(cfg) => {
            let store = LocalStore::open(cfg)?;
            let realiser = configure_local(&store, common);
            Ok((Box::new(store), Some(realiser)))
        }
        _ => Ok((open_store(opts, common)?, None)),
    }
}

/// Gives a local store its builder, logger and signature policy from `common`; returns
/// the builder.
pub fn configure_local(store: &LocalStore, common: &CommonArgs) -> Arc<LocalRealiser> {
    configure_local_with(store, common, true)
}

/// [`configure_local`]; `remote`: whether the store may build on the machines of
/// `builders`.
fn configure_local_with(
    store: &LocalStore,
    common: &CommonArgs,
    remote: bool,
) -> Arc<LocalRealiser> {
    let mut build = crate::shared::build::settings(common).unwrap_or_default();
    // Commands print what will be built themselves (from `query_missing`), as Nix does.
    build.print_missing = false;
    if let Some(f) = &store.config().system_features {
        build.system_features = f.clone();
    }
    let realiser = Arc::new(LocalRealiser::new(build));
    // Builds that use recursive Nix are served by a restricted daemon in this process.
    ferrix_daemon::recursive::install(common.config.clone());
    if remote {
        realiser.set_store_opener(store_opener(common), store.config().state_dir.clone());
    }
    store.set_realiser(realiser.clone());
    store.set_logger(Arc::new(print_log(common.verbosity)));
    let c = &common.config;
    store.set_signature_policy(c.require_sigs, c.trusted_public_keys.clone());
    store.set_gc_policy(ferrix_store::gc::GcPolicy {
        keep_outputs: c.keep_outputs,
        keep_derivations: c.keep_derivations,
    });
    store.set_auto_optimise(c.auto_optimise_store);
    store.set_ca_derivations(c.has_experimental("ca-derivations"));
    store.set_auto_gc_policy(auto_gc_policy(c));
    realiser
}

/// `min-free`, `max-free` and `min-free-check-interval`.
pub fn auto_gc_policy(c: &ferrix_store::settings::Settings) -> ferrix_store::autogc::AutoGcPolicy {
    ferrix_store::autogc::AutoGcPolicy {
        min_free: c.min_free,
        max_free: c.max_free,
        check_interval: std::time::Duration::from_secs(c.min_free_check_interval),
    }
}

/// The settings a daemon client sends with `SetOptions`: the fixed fields, and every other
/// setting whose value is not the default (except those Nix 2.8's client keeps to itself).
pub fn client_settings(common: &CommonArgs) -> ferrix_wire::ClientSettings {
    use ferrix_store::settings::{definition, Settings, DEFINITIONS};
    let c = &common.config;
    let defaults = Settings::default();
    let fixed = [
        "keep-failed",
        "keep-going",
        "fallback",
        "max-jobs",
        "max-silent-time",
        "cores",
        "substitute",
        "show-trace",
        "experimental-features",
        "plugin-files",
    ];
    let mut overrides = std::collections::BTreeMap::new();
    for d in DEFINITIONS {
        if fixed.contains(&d.name) || definition(d.name).is_none() {
            continue;
        }
        let v = c.get(d.name).unwrap_or_default();
        if defaults.get(d.name).unwrap_or_default() != v {
            overrides.insert(d.name.to_string(), v);
        }
    }
    ferrix_wire::ClientSettings {
        keep_failed: c.keep_failed,
        keep_going: c.keep_going,
        try_fallback: c.fallback,
        verbosity: ferrix_wire::Verbosity(u32::from(common.verbosity)),
        max_build_jobs: u32::try_from(c.max_jobs.0).unwrap_or(u32::MAX),
        max_silent_time: u32::try_from(c.max_silent_time.max(0)).unwrap_or(u32::MAX),
        verbose_build: !common.no_build_output,
        build_cores: u32::try_from(c.cores).unwrap_or(u32::MAX),
        use_substitutes: c.substitute,
        overrides,
    }
}

/// Prints what a daemon says as Nix's client does: messages as they are, the descriptions
/// of activities at the verbosity they are for, and build output.
pub fn print_event(verbosity: u8) -> impl Fn(ferrix_wire::client::Event<'_>) + Send + Sync {
    move |e| {
        use ferrix_wire::client::Event;
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let ansi = crate::log::should_ansi();
        let mut line = |t: &[u8]| {
            let shown = crate::log::filter_ansi(t, !ansi);
            let _ = err.write_all(&shown);
            let _ = err.write_all(b"\n");
        };
        match e {
            Event::Message(t) | Event::BuildLine(t) => line(t),
            Event::Activity { level, text } => {
                if !text.is_empty() && level.0 <= u32::from(verbosity) {
                    let mut t = text.to_vec();
                    t.extend_from_slice(b"...");
                    line(&t);
                }
            }
        }
    }
}
