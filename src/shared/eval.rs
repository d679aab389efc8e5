//! Evaluation as `nix-instantiate` does it, shared by `nix-instantiate` and `nix-build`:
//! evaluate files or expressions, and either render the results as Nix does (`--eval`) or
//! instantiate the derivations they contain and list their paths; also the evaluator's
//! settings and the fetchers' settings, which `nix repl` uses too.

use crate::cli::CommonArgs;
use ferrix_eval::error::EvalError;
use ferrix_eval::value::{Attr, AttrSet, Thunk, Value};
use ferrix_eval::{Evaluator, EvaluatorBuilder, Pos};
use ferrix_parser::Origin;
use ferrix_primops::WithBuiltins;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;

/// Everything `nix-instantiate` was asked to do (`nix-build` fills one in for its
/// evaluation step).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstantiateArgs {
    /// Positional arguments in order: file names, or expressions with `-E`; `-` means
    /// standard input.
    pub files: Vec<String>,
    /// `-E` / `--expr`.
    pub expr: bool,
    /// `--parse` / `--parse-only`.
    pub parse: bool,
    /// `--eval` / `--eval-only`, or `--parse` (which implies it, as in Nix).
    pub eval: bool,
    /// `--read-write-mode`.
    pub read_write_mode: bool,
    /// `--find-file`.
    pub find_file: bool,
    /// `-A` / `--attr`, in order.
    pub attr: Vec<String>,
    /// `--add-root PATH` (the last one given).
    pub add_root: Option<String>,
    /// `--indirect` (no effect in Nix 2.8).
    pub indirect: bool,
    /// `--xml`.
    pub xml: bool,
    /// `--json`.
    pub json: bool,
    /// `--no-location`.
    pub no_location: bool,
    /// `--strict`.
    pub strict: bool,
    /// `--repair`.
    pub repair: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// Whether the store is read-only: `--readonly-mode`, `--dry-run`, or `--eval`/`--parse`
    /// without `--read-write-mode`, as Nix decides it.
    pub read_only: bool,
    /// Whether the `show-trace` setting ends up on (`--show-trace`, `--no-show-trace`,
    /// `--option show-trace ...`).
    pub show_trace: bool,
    /// `--arg NAME EXPR`, in order.
    pub args: Vec<(String, String)>,
    /// `--argstr NAME STRING`, in order.
    pub argstrs: Vec<(String, String)>,
    /// `-I` / `--include`, in order.
    pub include: Vec<String>,
    /// `--option NAME VALUE`, in order.
    pub options: Vec<(String, String)>,
    /// `--impure`.
    pub impure: bool,
    /// `--override-flake ORIGINAL RESOLVED`.
    pub override_flake: Vec<(String, String)>,
    /// `--eval-store URL`.
    pub eval_store: Option<String>,
    /// `--workers N` (a Ferrix flag): evaluate several `-A` attributes in up to N
    /// processes at once (`crate::shared::parallel`); 0 and 1 mean one.
    pub workers: usize,
    /// Verbosity, every setting override in order, and the other shared flags.
    pub common: CommonArgs,
}

impl InstantiateArgs {
    /// The evaluation flags (`--arg`, `--argstr`, `-I`, `--impure`, ...) and the shared
    /// flags of a command line, the rest left empty.
    pub fn from_flags(eval: crate::cli::EvalArgs, common: CommonArgs) -> InstantiateArgs {
        InstantiateArgs {
            show_trace: common.config.show_trace,
            args: eval.args,
            argstrs: eval.argstrs,
            include: eval.include,
            options: common.options.clone(),
            impure: eval.impure,
            override_flake: eval.override_flake,
            eval_store: eval.eval_store,
            common,
            ..InstantiateArgs::default()
        }
    }
}

/// Evaluates (and instantiates) as `nix-instantiate` does against `session`, and returns
/// what it would print on standard output. Errors are printed; `Err` holds the exit
/// status. `nix-build` uses this for its evaluation step.
pub fn evaluate(
    args: &InstantiateArgs,
    session: &ferrix_primops::store_session::StoreSession,
) -> Result<Vec<u8>, i32> {
    evaluate_printing(args, session, true)
}

/// As [`evaluate`]; on an error, what was evaluated before it is printed only when
/// `partial` (`nix-instantiate` prints it, `nix-build` does not).
pub fn evaluate_printing(
    args: &InstantiateArgs,
    session: &ferrix_primops::store_session::StoreSession,
    partial: bool,
) -> Result<Vec<u8>, i32> {
    let setup = set_up(args, session)?;
    let ev = setup.ev;
    // Deep Nix recursion needs a deep stack; the evaluator also grows it on demand.
    let r = stacker::maybe_grow(256 * 1024, 64 << 20, || evaluate_all(ev, args));
    if std::env::var_os("FERRIX_SHOW_STATS").is_some() {
        eprintln!(
            "arena bytes: {} (used {}); {}",
            setup.ev.bump().allocated_bytes(),
            setup.ev.arena_bytes(),
            resident_memory()
        );
    }
    match r {
        Ok(out) => Ok(out),
        Err((out, e)) => {
            if partial {
                let _ = std::io::stdout().write_all(&out);
            }
            let mut msg = setup.render_error(&e, args.show_trace);
            msg.push(b'\n');
            let _ = std::io::stderr().write_all(&msg);
            Err(e.exit_status.unwrap_or(1))
        }
    }
}

/// An evaluator set up as `nix-instantiate`'s, with the native code the settings ask for.
pub struct Setup<'a> {
    pub ev: &'a Evaluator<'a>,
    pub bump: &'a bumpalo::Bump,
    pub native: ferrix_plugins::NativeConfig,
}

impl Setup<'_> {
    /// The error as Nix prints it (without the final newline), with the note about the
    /// unsafe native code setting where it applies.
    pub fn render_error(&self, e: &EvalError, show_trace: bool) -> Vec<u8> {
        let mut msg = self.ev.render_error(e, show_trace);
        if let Some(h) = crate::native::hint(e, &self.native) {
            msg.push(b'\n');
            msg.extend_from_slice(h.as_bytes());
        }
        msg
    }
}

/// Makes the evaluator `args` describe, on `session`: search path, purity, settings,
/// plugins. Errors are printed; `Err` holds the exit status.
pub fn set_up<'a>(
    args: &InstantiateArgs,
    session: &'a ferrix_primops::store_session::StoreSession,
) -> Result<Setup<'a>, i32> {
    let native = crate::native::setup(&args.common)?;
    // Neither the arena nor the evaluator (syntax trees, caches) is dropped: freeing them
    // piece by piece at the end of a large evaluation takes noticeable time, and the
    // process is about to end.
    let bump: &'a bumpalo::Bump = Box::leak(Box::new(bumpalo::Bump::new()));
    let settings = &args.common.config;
    let pure = settings.pure_eval && !args.impure;
    let mut config =
        ferrix_primops::Config::new(&args.include, &settings.nix_path, &settings.system, pure);
    config.store_dir = session.dir().as_str().to_string();
    let builder = Evaluator::builder(bump)
        .builtins(&config)
        .globals(native.global_names())
        .store(session);
    let ev: &'a Evaluator<'a> =
        Box::leak(Box::new(configure(builder, session, args, &config).build()));
    configure_session(session, args);
    ev.collect_when_env_says();
    if let Err(e) = native.install(ev) {
        let _ = std::io::stderr().write_all(&ev.render_error(&e, args.show_trace));
        return Err(1);
    }
    Ok(Setup { ev, bump, native })
}

/// Applies the evaluation settings to the evaluator being built: `show-trace`, where log
/// lines go, `trace-function-calls`, and restricted and pure evaluation (what they may
/// read).
pub fn configure<'a, 'b>(
    builder: EvaluatorBuilder<'a, 'b>,
    session: &'a ferrix_primops::store_session::StoreSession,
    args: &InstantiateArgs,
    config: &ferrix_primops::Config,
) -> EvaluatorBuilder<'a, 'b> {
    let settings = &args.common.config;
    let sink: &'a crate::log::StderrLog = Box::leak(Box::new(crate::log::StderrLog {
        verbosity: args.common.verbosity,
        ansi: crate::log::should_ansi(),
    }));
    let builder = builder
        .show_trace(args.show_trace)
        .log_sink(sink)
        .trace_calls(settings.trace_function_calls);
    if !(config.pure || settings.restrict_eval) {
        return builder;
    }
    builder.access(ferrix_eval::policy::Access {
        mode: if config.pure {
            ferrix_eval::policy::Mode::Pure
        } else {
            ferrix_eval::policy::Mode::Restricted
        },
        allowed: allowed_paths(session, config),
        allowed_uris: settings.allowed_uris.clone(),
        restrict_uris: settings.restrict_eval,
    })
}

/// Applies the settings of the store session: import from derivation (how outputs get
/// built, and whether they may be) and the fetchers' settings.
fn configure_session(
    session: &ferrix_primops::store_session::StoreSession,
    args: &InstantiateArgs,
) {
    let settings = &args.common.config;
    session.allow_ifd.set(settings.allow_import_from_derivation);
    configure_fetchers(
        session,
        &args.common,
        args.read_only,
        args.eval_store.as_deref(),
    );
    // A read-only evaluation builds nothing: a derivation it needs was never written, so
    // it is not valid, which is the error Nix gives there too.
    if !args.read_only {
        session.set_realiser(Box::new(crate::shared::build::realise_for_eval));
    }
}

/// The fetchers' settings (`tarball-ttl`, `connect-timeout`, `download-attempts`,
/// `allow-dirty`, `warn-dirty`, the `flakes` feature for `fetchTree`). When the
/// session's store only computes paths (`read_only`), the fetchers write to the store
/// (`eval_store`, or the command's) all the same, as Nix's do.
pub fn configure_fetchers(
    session: &ferrix_primops::store_session::StoreSession,
    common: &CommonArgs,
    read_only: bool,
    eval_store: Option<&str>,
) {
    let settings = &common.config;
    *session.fetch_options.borrow_mut() = ferrix_fetch::FetchOptions {
        tarball_ttl: settings.tarball_ttl,
        http: ferrix_fetch::http::HttpOptions::from_settings(settings),
        download_attempts: settings.download_attempts,
        cache_path: None,
    };
    if read_only {
        let common = common.clone();
        let eval_store = eval_store.map(str::to_string);
        session.set_fetch_store_opener(Box::new(move || {
            let mut opts = crate::store_setup::options(false, &common);
            if let Some(url) = eval_store {
                opts.store_uri = Some(url);
            }
            crate::store_setup::open_store(&opts, &common)
                .ok()
                .map(|s| s as Box<dyn ferrix_store::Store>)
        }));
    }
    session
        .experimental_flakes
        .set(settings.has_experimental("flakes"));
    *session.git_dirty.borrow_mut() = ferrix_fetch::git::DirtyPolicy {
        allow: settings.allow_dirty,
        warn: settings.warn_dirty,
    };
}

/// What restricted evaluation may read from the start: each search-path entry that
/// exists, and for one in the store, everything it refers to.
fn allowed_paths(
    session: &ferrix_primops::store_session::StoreSession,
    config: &ferrix_primops::Config,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let dir = session.dir();
    for (_, path) in &config.nix_path {
        if ferrix_store::settings::is_uri(path) {
            continue;
        }
        let mut abs = if path.starts_with('/') {
            Vec::new()
        } else {
            let mut c = cwd();
            c.push(b'/');
            c
        };
        abs.extend_from_slice(path.as_bytes());
        let abs = ferrix_parser::actions::canon_path(&abs);
        let text = String::from_utf8_lossy(&abs).into_owned();
        if std::fs::symlink_metadata(&text).is_err() {
            crate::cli::warn(&format!(
                "Nix search path entry '{path}' does not exist, ignoring"
            ));
            continue;
        }
        let closure = dir
            .split(&text)
            .ok()
            .and_then(|(sp, _)| session.closure(&sp).ok());
        match closure {
            Some(paths) => {
                for p in paths {
                    out.push(dir.display(&p).into_bytes());
                    out.push(session.store.real_path(&p).as_os_str().as_bytes().to_vec());
                }
            }
            None => out.push(abs),
        }
    }
    out
}

type Failure = (Vec<u8>, Box<EvalError>);

fn cwd() -> Vec<u8> {
    std::env::current_dir()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|_| b"/".to_vec())
}

fn evaluate_all<'a>(ev: &Evaluator<'a>, args: &InstantiateArgs) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    if args.find_file {
        for name in &args.files {
            // The lookup `<name>` does, without a position: the name comes from the command line.
            let mut expr = b"__findFile __nixPath \"".to_vec();
            for c in name.bytes() {
                if matches!(c, b'"' | b'\\' | b'$') {
                    expr.push(b'\\');
                }
                expr.push(c);
            }
            expr.push(b'"');
            match ev.eval_text(&expr, Origin::String, &cwd()) {
                Ok(Value::Path(p)) => {
                    out.extend_from_slice(p.bytes);
                    out.push(b'\n');
                }
                Ok(_) => {}
                Err(mut e) => {
                    e.pos = None;
                    return Err((out, e));
                }
            }
        }
        return Ok(out);
    }
    let mut auto_args = auto_args(ev, args).map_err(|e| (Vec::new(), e))?;
    // As in Nix, `-` anywhere (with or without `-E`) means standard input, which is
    // evaluated first; the other arguments are files, or expressions with `-E`.
    let read_stdin = args.files.iter().any(|f| f == "-");
    let rest: Vec<&String> = args.files.iter().filter(|f| *f != "-").collect();
    let mut inputs: Vec<Input> = Vec::new();
    if read_stdin {
        inputs.push(Input::Stdin);
    } else if rest.is_empty() && !args.expr {
        inputs.push(Input::File("./default.nix".into()));
    }
    inputs.extend(rest.into_iter().map(|f| {
        if args.expr {
            Input::Expr(f.clone())
        } else {
            Input::File(f.clone())
        }
    }));
    let attr_paths: Vec<&str> = if args.attr.is_empty() {
        vec![""]
    } else {
        args.attr.iter().map(String::as_str).collect()
    };
    for input in inputs {
        let mut root = match load(ev, &input) {
            Ok(v) => v,
            Err(e) => return Err((out, e)),
        };
        for (k, path) in attr_paths.iter().enumerate() {
            // Between two attributes (`-A system -A vm`) only the file's value and the
            // `--arg`s are held: what evaluating the previous one left behind can go.
            if k > 0 && ev.wants_collection_between() {
                let mut roots = Roots {
                    root: &mut root,
                    auto: &mut auto_args,
                };
                collect(ev, &mut [], &mut roots, format_args!("before -A {path}"));
            } else {
                ev.trim_reserve();
            }
            let output = if !args.eval {
                Output::Derivations {
                    gc_warning: args.add_root.is_none() && !args.common.no_gc_warning,
                    add_root: args.add_root.as_deref(),
                }
            } else if args.xml {
                Output::Xml {
                    location: !args.no_location,
                }
            } else if args.json {
                Output::Json
            } else {
                Output::Nix
            };
            let roots = Roots {
                root: &mut root,
                auto: &mut auto_args,
            };
            if let Err(e) = eval_one(ev, roots, path, args.strict, output, &mut out) {
                return Err((out, e));
            }
        }
    }
    Ok(out)
}

/// How results are printed.
#[derive(Clone, Copy)]
enum Output<'r> {
    Nix,
    Json,
    Xml {
        location: bool,
    },
    /// Instantiate, and print the `.drv` paths; warn that they are not GC roots, or make
    /// each one a root (`--add-root`).
    Derivations {
        gc_warning: bool,
        add_root: Option<&'r str>,
    },
}

pub(crate) enum Input {
    File(String),
    Stdin,
    Expr(String),
}

pub(crate) fn load<'a>(ev: &Evaluator<'a>, input: &Input) -> Result<Value<'a>, Box<EvalError>> {
    let nowhere = Pos::NONE;
    match input {
        Input::Expr(text) => ev.eval_text(text.as_bytes(), Origin::String, &cwd()),
        Input::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                EvalError::new(
                    ferrix_eval::error::ErrorKind::Eval,
                    format!("reading standard input: {}", ferrix_eval::io_reason(&e)),
                    None,
                )
            })?;
            ev.eval_text(&buf, Origin::Stdin, &cwd())
        }
        Input::File(f) => {
            let mut p = cwd();
            if ferrix_store::settings::is_uri(f) {
                // Nix's `lookupFileArg`: a URI is a tarball to fetch and evaluate.
                p = ferrix_primops::fetch::lookup_uri_arg(ev, f)?;
            } else if let Some(name) = f
                .strip_prefix('<')
                .and_then(|r| r.strip_suffix('>'))
                .filter(|n| !n.is_empty())
            {
                // `<name>` is looked up in the search path.
                p = find_in_search_path(ev, name)?;
            } else if !f.starts_with('/') {
                p.push(b'/');
                p.extend_from_slice(f.as_bytes());
            } else {
                p = f.as_bytes().to_vec();
            }
            let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
                &ferrix_parser::actions::canon_path(&p),
            ));
            let t = ev.import_file(&path, None)?;
            ev.force(t, nowhere)
        }
    }
}

/// `__findFile __nixPath "name"`: the path `<name>` stands for.
fn find_in_search_path(ev: &Evaluator<'_>, name: &str) -> Result<Vec<u8>, Box<EvalError>> {
    let mut expr = b"__findFile __nixPath \"".to_vec();
    for c in name.bytes() {
        if matches!(c, b'"' | b'\\' | b'$') {
            expr.push(b'\\');
        }
        expr.push(c);
    }
    expr.push(b'"');
    match ev.eval_text(&expr, Origin::String, &cwd()) {
        Ok(Value::Path(p)) => Ok(p.bytes.to_vec()),
        Ok(Value::Str(s)) => Ok(s.bytes.to_vec()),
        Ok(_) => Ok(name.as_bytes().to_vec()),
        Err(mut e) => {
            e.pos = None;
            Err(e)
        }
    }
}

/// `--arg name expr` and `--argstr name value`, as thunks.
pub(crate) fn auto_args<'a>(
    ev: &Evaluator<'a>,
    args: &InstantiateArgs,
) -> Result<Vec<Attr<'a>>, Box<EvalError>> {
    let nowhere = Pos::NONE;
    let mut out: Vec<Attr<'a>> = Vec::new();
    for (name, expr) in &args.args {
        let code = ev.parse(expr.as_bytes(), Origin::String, &cwd())?;
        out.push(Attr {
            name: ev.intern(name.as_bytes()),
            value: ev.code_thunk(code),
            pos: nowhere,
        });
    }
    for (name, value) in &args.argstrs {
        out.push(Attr {
            name: ev.intern(name.as_bytes()),
            value: ev.alloc_thunk(ev.string(value.as_bytes())),
            pos: nowhere,
        });
    }
    out.sort_by_key(|a| a.name);
    out.dedup_by_key(|a| a.name);
    Ok(out)
}

/// Nix's `autoCallFunction`: a function with formals is called with the `--arg`s it takes
/// (all of them if it has `...`); anything else is left as it is.
pub(crate) fn auto_call<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    auto: &[Attr<'a>],
) -> Result<Value<'a>, Box<EvalError>> {
    let nowhere = Pos::NONE;
    if let Value::Attrs(set) = v {
        if let Some(f) = set.get(ev.syms().functor) {
            let fv = ev.force(f.value, nowhere)?;
            let r = ev.call(fv, ev.alloc_thunk(v), nowhere)?;
            return auto_call(ev, r, auto);
        }
    }
    let Value::Lambda(c) = v else { return Ok(v) };
    let Some(formals) = c.lambda().formals() else {
        return Ok(v);
    };
    let mut given: Vec<Attr<'a>> = Vec::new();
    if formals.ellipsis() {
        given.extend_from_slice(auto);
    } else {
        for f in formals.entries() {
            match auto.binary_search_by_key(&f.name(), |a| a.name) {
                Ok(i) => given.push(auto[i]),
                Err(_) if f.has_default() => {}
                Err(_) => {
                    return Err(EvalError::eval(
                        format!(
                            "cannot evaluate a function that has an argument without a value ('{}')\n\nNix attempted to evaluate a function as a top level expression; in\nthis case it must have its arguments supplied either by default\nvalues, or passed explicitly with '--arg' or '--argstr'. See\nhttps://nixos.org/manual/nix/stable/#ss-functions.",
                            ev.sym_name(f.name())
                        ),
                        Pos::of(f.pos()),
                    ))
                }
            }
        }
    }
    ev.call(v, ev.alloc_thunk(ev.make_attrs(given)), nowhere)
}

/// Splits an attribute path at dots, honouring double quotes (`a."b.c".0`).
fn split_attr_path(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Nix's `findAlongAttrPath`.
fn find_along<'a>(
    ev: &Evaluator<'a>,
    root: Value<'a>,
    path: &str,
    auto: &[Attr<'a>],
) -> Result<Value<'a>, Box<EvalError>> {
    let nowhere = Pos::NONE;
    let path_error = |msg: String| EvalError::new(ferrix_eval::error::ErrorKind::Eval, msg, None);
    let mut v = root;
    if path.is_empty() {
        return Ok(v);
    }
    for part in split_attr_path(path) {
        v = auto_call(ev, v, auto)?;
        match (part.parse::<usize>(), v) {
            (Ok(i), Value::List(l)) => match l.items.get(i) {
                Some(t) => v = ev.force(t, nowhere)?,
                None => {
                    return Err(path_error(format!(
                        "list index {i} in selection path '{path}' is out of range"
                    )))
                }
            },
            (Ok(_), other) => {
                return Err(path_error(format!(
                "the expression selected by the selection path '{path}' should be a list but is {}",
                other.show_type()
            )))
            }
            (Err(_), Value::Attrs(set)) => {
                if part.is_empty() {
                    return Err(path_error(format!(
                        "empty attribute name in selection path '{path}'"
                    )));
                }
                match set.get(ev.intern(part.as_bytes())) {
                    Some(a) => v = ev.force(a.value, nowhere)?,
                    None => {
                        return Err(path_error(format!(
                            "attribute '{part}' in selection path '{path}' not found"
                        )))
                    }
                }
            }
            (Err(_), other) => {
                return Err(path_error(format!(
                "the expression selected by the selection path '{path}' should be a set but is {}",
                other.show_type()
            )))
            }
        }
    }
    Ok(v)
}

/// What `evaluate_all` holds across the attributes it evaluates: the file's value and the
/// `--arg`s. A collection updates them.
struct Roots<'r, 'a> {
    root: &'r mut Value<'a>,
    auto: &'r mut Vec<Attr<'a>>,
}

fn eval_one<'a>(
    ev: &Evaluator<'a>,
    mut roots: Roots<'_, 'a>,
    path: &str,
    strict: bool,
    output: Output,
    out: &mut Vec<u8>,
) -> Result<(), Box<EvalError>> {
    let nowhere = Pos::NONE;
    let v = find_along(ev, *roots.root, path, roots.auto)?;
    let mut v = if roots.auto.is_empty() {
        v
    } else {
        auto_call(ev, v, roots.auto)?
    };
    if strict && !matches!(output, Output::Derivations { .. }) {
        force_list_collecting(ev, &mut v, &mut roots)?;
    }
    let auto = roots.auto.as_slice();
    match output {
        Output::Derivations {
            gc_warning,
            add_root,
        } => {
            let mut drvs = Vec::new();
            let mut seen = Vec::new();
            find_derivations(ev, v, auto, &mut drvs, &mut seen)?;
            for set in drvs {
                // As Nix: the warning comes once the first derivation's path is known, so
                // an evaluation that fails on the way prints only its error.
                let mut line = Vec::new();
                print_derivation(ev, set, add_root, &mut line)?;
                if gc_warning {
                    gc_warning_once();
                }
                out.extend_from_slice(&line);
            }
        }
        Output::Json => {
            let mut context = Vec::new();
            // On an error, what was printed so far still goes out, as in Nix.
            ferrix_primops::json::value_to_json(ev, v, nowhere, strict, out, &mut context)?;
        }
        Output::Xml { location } => {
            // On an error, what was printed so far still goes out, as in Nix.
            // The document ends with its own newline.
            ferrix_primops::xml::value_to_xml(ev, v, strict, location, nowhere, out)?;
        }
        Output::Nix => {
            if strict {
                ev.force_deep(v, nowhere)?;
            }
            ev.print_value(v, out);
            out.push(b'\n');
        }
    }
    Ok(())
}

/// Forces a top-level list item by item, and between two items, once the arena has grown
/// enough, collects what is no longer reachable: the items evaluated so far, the file's
/// value and the `--arg`s are all this function and its callers hold. A large package set
/// evaluated as one list (`map (n: pkgs.${n}.drvPath) names`) so keeps to what is live.
fn force_list_collecting<'a>(
    ev: &Evaluator<'a>,
    v: &mut Value<'a>,
    roots: &mut Roots<'_, 'a>,
) -> Result<(), Box<EvalError>> {
    let Value::List(l) = *v else {
        return Ok(());
    };
    let len = l.items.len();
    // Since the last collection: the next item's index, the arena's size then, and what
    // was live.
    let mut since = Progress {
        item: 0,
        bytes: ev.arena_bytes(),
        live: 0,
    };
    for i in 0..len {
        // The list is read again each time: a collection moves it.
        let Value::List(l) = *v else {
            unreachable!("a collection keeps a list a list")
        };
        let x = ev.force(l.items[i], Pos::NONE)?;
        ev.force_deep(x, Pos::NONE)?;
        if !ev.wants_collection() {
            ev.trim_reserve();
        } else if since.worth_collecting(ev.arena_bytes(), i + 1, len) {
            let c = collect(ev, &mut [&mut *v], roots, format_args!("at item {i}"));
            since = Progress {
                item: i + 1,
                bytes: c.after,
                live: c.after,
            };
        } else {
            // No collection may come now: the room kept for its copy goes back.
            ev.release_reserve();
        }
    }
    Ok(())
}

/// Collects with `values` and `roots` as the only roots (updated in place); `when` says
/// where, for `FERRIX_SHOW_STATS`.
fn collect<'a>(
    ev: &Evaluator<'a>,
    values: &mut [&mut Value<'a>],
    roots: &mut Roots<'_, 'a>,
    when: std::fmt::Arguments<'_>,
) -> ferrix_eval::Collection {
    let mut auto: Vec<&mut &'a Thunk<'a>> = roots.auto.iter_mut().map(|a| &mut a.value).collect();
    let mut values: Vec<&mut Value<'a>> = values.iter_mut().map(|v| &mut **v).collect();
    values.push(&mut *roots.root);
    // SAFETY: the callers hold nothing else that refers to the evaluator's values: the
    // value being evaluated (if any), the file's value and the `--arg`s are passed, and
    // the output so far is bytes.
    let start = std::time::Instant::now();
    let c = unsafe { ev.collect(&mut values, &mut auto) };
    if std::env::var_os("FERRIX_SHOW_STATS").is_some() {
        eprintln!(
            "collected {when}: {} MiB to {} MiB in {:.2} s; {}",
            c.before >> 20,
            c.after >> 20,
            start.elapsed().as_secs_f64(),
            resident_memory()
        );
    }
    c
}

/// Where a list's evaluation stood after its last collection.
struct Progress {
    /// The index of the first item evaluated since.
    item: usize,
    /// The arena's size then.
    bytes: usize,
    /// What that collection found live (0 before the first).
    live: usize,
}

impl Progress {
    /// Whether a collection due after `done` of `len` items pays off. A collection holds
    /// the old arena and its copy of what is live at once, so near the end of the list
    /// it would raise the peak, and cost time, for nothing: when the items left, at the
    /// rate the items since the last collection allocated, would add less to the arena
    /// than that collection found live, finishing without one keeps the arena smaller
    /// than collecting would.
    fn worth_collecting(&self, arena: usize, done: usize, len: usize) -> bool {
        let left = len - done;
        let per_item = arena.saturating_sub(self.bytes) / done.saturating_sub(self.item).max(1);
        left.saturating_mul(per_item) > self.live
    }
}

/// The process's resident and peak resident memory, as `/proc/self/status` gives them,
/// for `FERRIX_SHOW_STATS`.
fn resident_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or("?", str::trim)
            .to_string()
    };
    format!("resident {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

/// `--add-root ROOT`: links ROOT (then ROOT-2, ROOT-3, … for later derivations) to the
/// `.drv` and registers the link as a GC root; returns what Nix prints instead of the
/// `.drv` path. Stores without GC roots keep the path.
fn perm_root(ev: &Evaluator<'_>, drv_path: &[u8], root: &str) -> Result<Vec<u8>, Box<EvalError>> {
    static ROOTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let session = ferrix_primops::store_session::StoreSession::of(ev, Pos::NONE)?;
    let n = ROOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let name = if n > 1 {
        format!("{root}-{n}")
    } else {
        root.to_string()
    };
    let fail = |m: String| EvalError::new(ferrix_eval::error::ErrorKind::Eval, m, None);
    let p = session
        .dir()
        .parse(&String::from_utf8_lossy(drv_path))
        .map_err(|e| fail(e.to_string()))?;
    let link = match crate::shared::build::add_perm_root(&*session.store, &p, &name) {
        Ok(l) => l,
        // A store without garbage collector roots keeps the path.
        Err(ferrix_store::StoreError::Unsupported(_)) => return Ok(drv_path.to_vec()),
        Err(e) => return Err(fail(e.to_string())),
    };
    Ok(link.as_os_str().as_bytes().to_vec())
}

/// Nix warns once that the `.drv` files it printed are not protected from garbage
/// collection.
/// The warning that the printed `.drv` paths are not garbage collector roots.
pub(crate) const GC_WARNING: &str =
    "warning: you did not specify '--add-root'; the result might be removed by the garbage collector";

fn gc_warning_once() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{GC_WARNING}");
    }
}

/// Nix's `getDerivations`: the derivations in a value, which is one, or a set or list of
/// them. Sets are searched in name order, nested sets only with `recurseForDerivations`.
fn find_derivations<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    auto: &[Attr<'a>],
    out: &mut Vec<&'a AttrSet<'a>>,
    seen: &mut Vec<*const AttrSet<'a>>,
) -> Result<(), Box<EvalError>> {
    let nowhere = Pos::NONE;
    // Functions (with formals) are called with the `--arg`s at every level searched.
    let v = auto_call(ev, v, auto)?;
    if !collect_derivation(ev, v, out, seen)? {
        return Ok(());
    }
    match v {
        Value::Attrs(set) => {
            let mut named: Vec<(Vec<u8>, &Attr<'a>)> = set
                .attrs()
                .iter()
                .map(|a| (ev.symbols().name(a.name).to_vec(), a))
                .collect();
            named.sort_by(|x, y| x.0.cmp(&y.0));
            let recurse = ev.intern(b"recurseForDerivations");
            for (name, a) in named {
                if !is_attr_name(&name) {
                    continue;
                }
                let child = ev.force(a.value, nowhere)?;
                if collect_derivation(ev, child, out, seen)? {
                    if let Value::Attrs(cs) = child {
                        if let Some(r) = cs.get(recurse) {
                            if matches!(ev.force(r.value, r.pos)?, Value::Bool(true)) {
                                find_derivations(ev, child, auto, out, seen)?;
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        Value::List(l) => {
            for t in l.items {
                let item = ev.force(t, nowhere)?;
                if collect_derivation(ev, item, out, seen)? {
                    find_derivations(ev, item, auto, out, seen)?;
                }
            }
            Ok(())
        }
        _ => Err(EvalError::new(
            ferrix_eval::error::ErrorKind::Eval,
            "expression does not evaluate to a derivation (or a set or list of those)",
            None,
        )),
    }
}

/// The attribute names `getDerivations` looks at.
fn is_attr_name(name: &[u8]) -> bool {
    name.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-+'".contains(c))
}

/// Adds `v` if it is a derivation not seen before; true when it is not a derivation.
fn collect_derivation<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    out: &mut Vec<&'a AttrSet<'a>>,
    seen: &mut Vec<*const AttrSet<'a>>,
) -> Result<bool, Box<EvalError>> {
    let Value::Attrs(set) = v else {
        return Ok(true);
    };
    if !ev.is_derivation(set, Pos::NONE)? {
        return Ok(true);
    }
    let key = set as *const AttrSet<'a>;
    if seen.contains(&key) {
        return Ok(false);
    }
    seen.push(key);
    if set.get(ev.intern(b"name")).is_none() {
        return Err(EvalError::new(
            ferrix_eval::error::ErrorKind::Eval,
            "derivation name missing",
            None,
        ));
    }
    out.push(set);
    Ok(false)
}

/// `<drv path>` and `!<output>` unless the output is `out`.
fn print_derivation<'a>(
    ev: &Evaluator<'a>,
    set: &'a AttrSet<'a>,
    add_root: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), Box<EvalError>> {
    let get = |name: &[u8]| -> Result<Option<Vec<u8>>, Box<EvalError>> {
        match set.get(ev.intern(name)) {
            Some(a) => {
                let v = ev.force(a.value, a.pos)?;
                let mut s = Vec::new();
                let mut ctx = Vec::new();
                ev.coerce_to_string(v, a.pos, false, false, &mut s, &mut ctx)?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    };
    let drv_path = get(b"drvPath")?.ok_or_else(|| {
        EvalError::new(
            ferrix_eval::error::ErrorKind::Eval,
            "derivation does not contain a 'drvPath' attribute",
            None,
        )
    })?;
    let output = get(b"outputName")?.unwrap_or_default();
    if output.is_empty() {
        return Err(EvalError::new(
            ferrix_eval::error::ErrorKind::Eval,
            format!(
                "derivation '{}' lacks an 'outputName' attribute",
                String::from_utf8_lossy(&drv_path)
            ),
            None,
        ));
    }
    match add_root {
        Some(root) => out.extend_from_slice(&perm_root(ev, &drv_path, root)?),
        None => out.extend_from_slice(&drv_path),
    }
    if output != b"out" {
        out.push(b'!');
        out.extend_from_slice(&output);
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn a_collection_near_the_end_of_a_list_is_skipped() {
        const MIB: usize = 1 << 20;
        // The last collection, after item 100, found 200 MiB live; since then 100 items
        // have taken the arena from 200 to 500 MiB: 3 MiB each.
        let p = Progress {
            item: 100,
            bytes: 200 * MIB,
            live: 200 * MIB,
        };
        // 100 items left would add 300 MiB, more than a collection copies: collect.
        assert!(p.worth_collecting(500 * MIB, 200, 300));
        // 50 left would add 150 MiB: finishing without one keeps the arena smaller.
        assert!(!p.worth_collecting(500 * MIB, 200, 250));
        assert!(!p.worth_collecting(500 * MIB, 200, 200), "nothing left");
        // Before the first collection nothing is known to be live: collect unless done.
        let first = Progress {
            item: 0,
            bytes: 0,
            live: 0,
        };
        assert!(first.worth_collecting(512 * MIB, 500, 501));
        assert!(!first.worth_collecting(512 * MIB, 500, 500));
    }
}
