//! `ferrix store` / `nix-store`: its arguments, and its operations on the local store, with
//! Nix 2.8's output and messages.
//!
//! As in Nix 2.8, exactly one operation flag (`--realise`, `--query`, `--gc`, ...) picks what
//! to do. Every other dash word that is not a global flag is an operation flag: it is not
//! rejected while parsing but handed to the operation, which accepts or refuses it with its
//! own message. [`StoreArgs::op_flags`] keeps them as written, in order.

use crate::cli::{
    parse, parse_int_with_unit, scan::Spec, warn, CommandSpec, CommonArgs, Invocation, Program,
};
use crate::shared::build;
use crate::shared::gc::print_freed;
use crate::shared::interrupt::install_interrupt_handlers;
use crate::shared::store_paths::{canon, cwd, follow_to_store_path};
use crate::store_setup::store_options;
use ferrix_store::export::{export_paths, import_paths};
use ferrix_store::hash::{Encoding, Hash, HashAlgo};
use ferrix_store::nar::{self, RestoreOptions};
use ferrix_store::ops;
use ferrix_store::path::{Ingestion, StoreDir, StorePath};
use ferrix_store::store::{closure, topo_sort, GcAction, GcOptions};
use ferrix_store::{resolve, Store, StoreError, StoreKind};
use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The clap side of `nix-store`'s flags. The operation flags are declared for `--help`; the
/// words themselves are judged by [`check_op_flags`].
#[derive(clap::Parser, Debug)]
#[allow(dead_code)] // most fields exist for clap and `--help`; `op_flags` carries their use
#[command(override_usage = "nix-store OPERATION [OPTIONS] [ARGS]...")]
pub(crate) struct Cli {
    /// Arguments of the operation
    #[arg(value_name = "ARGS")]
    op_args: Vec<String>,

    /// Build or fetch the given store paths / derivations
    #[arg(
        short = 'r',
        long = "realise",
        visible_alias = "realize",
        help_heading = "Operations"
    )]
    realise: bool,
    /// Copy files into the store and print their paths
    #[arg(short = 'A', long = "add", help_heading = "Operations")]
    add: bool,
    /// Copy files into the store as fixed-output paths: HASH-ALGO FILES...
    #[arg(long = "add-fixed", help_heading = "Operations")]
    add_fixed: bool,
    /// Print a fixed-output path: HASH-ALGO HASH NAME
    #[arg(long = "print-fixed-path", help_heading = "Operations")]
    print_fixed_path: bool,
    /// Delete store paths that are not alive
    #[arg(long = "delete", help_heading = "Operations")]
    delete: bool,
    /// Query information about store paths
    #[arg(short = 'q', long = "query", help_heading = "Operations")]
    query: bool,
    /// Print the build environment of a derivation as shell code
    #[arg(long = "print-env", help_heading = "Operations")]
    print_env: bool,
    /// Print the build log of the given paths
    #[arg(short = 'l', long = "read-log", help_heading = "Operations")]
    read_log: bool,
    /// Write the store database's path registrations to standard output
    #[arg(long = "dump-db", help_heading = "Operations")]
    dump_db: bool,
    /// Load path registrations written by --dump-db from standard input
    #[arg(long = "load-db", help_heading = "Operations")]
    load_db: bool,
    /// Register paths as valid, reading registrations from standard input
    #[arg(long = "register-validity", help_heading = "Operations")]
    register_validity: bool,
    /// Check that the given paths are valid
    #[arg(long = "check-validity", help_heading = "Operations")]
    check_validity: bool,
    /// Collect garbage, or print roots, live or dead paths
    #[arg(long = "gc", help_heading = "Operations")]
    gc: bool,
    /// Write the NAR serialisation of a path to standard output
    #[arg(long = "dump", help_heading = "Operations")]
    dump: bool,
    /// Unpack a NAR from standard input at the given path
    #[arg(long = "restore", help_heading = "Operations")]
    restore: bool,
    /// Write an export archive of the given paths to standard output
    #[arg(long = "export", help_heading = "Operations")]
    export: bool,
    /// Import an export archive from standard input
    #[arg(long = "import", help_heading = "Operations")]
    import: bool,
    /// Initialise the store database
    #[arg(long = "init", help_heading = "Operations")]
    init: bool,
    /// Check the consistency of the store database
    #[arg(long = "verify", help_heading = "Operations")]
    verify: bool,
    /// Check that the contents of the given paths match their recorded hashes
    #[arg(long = "verify-path", help_heading = "Operations")]
    verify_path: bool,
    /// Repair the given paths by substituting or rebuilding them
    #[arg(long = "repair-path", help_heading = "Operations")]
    repair_path: bool,
    /// Replace identical files in the store by hard links
    #[arg(
        long = "optimise",
        visible_alias = "optimize",
        help_heading = "Operations"
    )]
    optimise: bool,
    /// Serve the nix-store --serve protocol on standard input and output
    #[arg(long = "serve", help_heading = "Operations")]
    serve: bool,
    /// Generate a signing key pair: NAME SECRET-FILE PUBLIC-FILE
    #[arg(long = "generate-binary-cache-key", help_heading = "Operations")]
    generate_binary_cache_key: bool,

    /// Register the results as garbage collector roots at PATH
    #[arg(long = "add-root", value_name = "PATH", allow_hyphen_values = true)]
    add_root: Vec<String>,
    /// Accepted for compatibility; has no effect
    #[arg(long = "indirect")]
    indirect: bool,
    /// With --realise, do not print the output paths
    #[arg(long = "no-output")]
    no_output: bool,

    /// (--realise) show what would be built, without building
    #[arg(long = "dry-run", help_heading = "Operation flags")]
    dry_run: bool,
    /// (--realise, --verify) repair corrupt or missing paths
    #[arg(long = "repair", help_heading = "Operation flags")]
    repair: bool,
    /// (--realise) rebuild and compare with the existing outputs
    #[arg(long = "check", help_heading = "Operation flags")]
    check: bool,
    /// (--realise) skip paths that are not valid
    #[arg(long = "ignore-unknown", help_heading = "Operation flags")]
    ignore_unknown: bool,
    /// (--add-fixed, --print-fixed-path) hash the NAR serialisation, not the file
    #[arg(long = "recursive", help_heading = "Operation flags")]
    recursive: bool,
    /// (--delete) delete even paths that are alive
    #[arg(long = "ignore-liveness", help_heading = "Operation flags")]
    ignore_liveness: bool,
    /// (--query) the outputs of the derivations (the default)
    #[arg(long = "outputs", help_heading = "Operation flags")]
    outputs: bool,
    /// (--query) the closure of the paths
    #[arg(short = 'R', long = "requisites", help_heading = "Operation flags")]
    requisites: bool,
    /// (--query) the paths the given paths refer to
    #[arg(long = "references", help_heading = "Operation flags")]
    references: bool,
    /// (--query) the paths referring to the given paths
    #[arg(
        long = "referrers",
        visible_alias = "referers",
        help_heading = "Operation flags"
    )]
    referrers: bool,
    /// (--query) the closure of the referrers
    #[arg(
        long = "referrers-closure",
        visible_alias = "referers-closure",
        help_heading = "Operation flags"
    )]
    referrers_closure: bool,
    /// (--query) the derivation each path was built from
    #[arg(short = 'd', long = "deriver", help_heading = "Operation flags")]
    deriver: bool,
    /// (--query) the value of an environment binding of the derivations: NAME PATHS...
    #[arg(short = 'b', long = "binding", help_heading = "Operation flags")]
    binding: bool,
    /// (--query) the NAR hash of the paths
    #[arg(long = "hash", help_heading = "Operation flags")]
    hash: bool,
    /// (--query) the NAR size of the paths
    #[arg(long = "size", help_heading = "Operation flags")]
    size: bool,
    /// (--query) the closure as a tree
    #[arg(long = "tree", help_heading = "Operation flags")]
    tree: bool,
    /// (--query) the closure as a Graphviz graph
    #[arg(long = "graph", help_heading = "Operation flags")]
    graph: bool,
    /// (--query) the closure as a GraphML graph
    #[arg(long = "graphml", help_heading = "Operation flags")]
    graphml: bool,
    /// (--query) follow symlinks to the store paths
    #[arg(long = "resolve", help_heading = "Operation flags")]
    resolve: bool,
    /// (--query) the garbage collector roots of the paths
    #[arg(long = "roots", help_heading = "Operation flags")]
    roots: bool,
    /// (--query) query the outputs of derivations rather than the derivations
    #[arg(short = 'u', long = "use-output", help_heading = "Operation flags")]
    use_output: bool,
    /// (--query) realise the paths first
    #[arg(
        short = 'f',
        long = "force-realise",
        visible_alias = "force-realize",
        help_heading = "Operation flags"
    )]
    force_realise: bool,
    /// (--query) also include the outputs of derivations in closures
    #[arg(long = "include-outputs", help_heading = "Operation flags")]
    include_outputs: bool,
    /// (--register-validity) register paths that are already valid again
    #[arg(long = "reregister", help_heading = "Operation flags")]
    reregister: bool,
    /// (--register-validity) the input carries NAR hashes and sizes
    #[arg(long = "hash-given", help_heading = "Operation flags")]
    hash_given: bool,
    /// (--check-validity) print invalid paths instead of failing
    #[arg(long = "print-invalid", help_heading = "Operation flags")]
    print_invalid: bool,
    /// (--gc) print the garbage collector roots
    #[arg(long = "print-roots", help_heading = "Operation flags")]
    print_roots: bool,
    /// (--gc) print the paths that would be kept
    #[arg(long = "print-live", help_heading = "Operation flags")]
    print_live: bool,
    /// (--gc) print the paths that would be deleted
    #[arg(long = "print-dead", help_heading = "Operation flags")]
    print_dead: bool,
    /// (--gc) stop after freeing BYTES (K, M, G, T suffixes allowed)
    #[arg(
        long = "max-freed",
        value_name = "BYTES",
        allow_hyphen_values = true,
        help_heading = "Operation flags"
    )]
    max_freed: Vec<String>,
    /// Obsolete; refused by every operation
    #[arg(
        long = "max-links",
        value_name = "N",
        allow_hyphen_values = true,
        hide = true
    )]
    max_links: Vec<String>,
    /// Obsolete; refused by every operation
    #[arg(
        long = "max-atime",
        value_name = "N",
        allow_hyphen_values = true,
        hide = true
    )]
    max_atime: Vec<String>,
    /// (--verify) also check the contents of every path
    #[arg(long = "check-contents", help_heading = "Operation flags")]
    check_contents: bool,
    /// (--serve) allow the client to write to the store
    #[arg(long = "write", help_heading = "Operation flags")]
    write: bool,
}

/// Ids of the clap arguments that are operation flags.
const OP_FLAG_IDS: &[&str] = &[
    "dry_run",
    "repair",
    "check",
    "ignore_unknown",
    "recursive",
    "ignore_liveness",
    "outputs",
    "requisites",
    "references",
    "referrers",
    "referrers_closure",
    "deriver",
    "binding",
    "hash",
    "size",
    "tree",
    "graph",
    "graphml",
    "resolve",
    "roots",
    "use_output",
    "force_realise",
    "include_outputs",
    "reregister",
    "hash_given",
    "print_invalid",
    "print_roots",
    "print_live",
    "print_dead",
    "max_freed",
    "max_links",
    "max_atime",
    "check_contents",
    "write",
];

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Store;
    const SPEC: Spec = Spec {
        getarg_ids: &["add_root", "max_freed", "max_links", "max_atime"],
        unknown_as_op_flags: true,
        op_flag_ids: OP_FLAG_IDS,
        version_is_op: true,
        ..Spec::LEGACY
    };
    const EVAL_FLAGS: bool = false;
}

/// The `nix-store` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Realise,
    Add,
    AddFixed,
    PrintFixedPath,
    Delete,
    Query,
    PrintEnv,
    ReadLog,
    DumpDb,
    LoadDb,
    RegisterValidity,
    CheckValidity,
    Gc,
    Dump,
    Restore,
    Export,
    Import,
    Init,
    Verify,
    VerifyPath,
    RepairPath,
    Optimise,
    Serve,
    GenerateBinaryCacheKey,
    Version,
}

impl StoreOp {
    /// The operation for a clap argument id.
    fn from_id(id: &str) -> Option<StoreOp> {
        Some(match id {
            "realise" => StoreOp::Realise,
            "add" => StoreOp::Add,
            "add_fixed" => StoreOp::AddFixed,
            "print_fixed_path" => StoreOp::PrintFixedPath,
            "delete" => StoreOp::Delete,
            "query" => StoreOp::Query,
            "print_env" => StoreOp::PrintEnv,
            "read_log" => StoreOp::ReadLog,
            "dump_db" => StoreOp::DumpDb,
            "load_db" => StoreOp::LoadDb,
            "register_validity" => StoreOp::RegisterValidity,
            "check_validity" => StoreOp::CheckValidity,
            "gc" => StoreOp::Gc,
            "dump" => StoreOp::Dump,
            "restore" => StoreOp::Restore,
            "export" => StoreOp::Export,
            "import" => StoreOp::Import,
            "init" => StoreOp::Init,
            "verify" => StoreOp::Verify,
            "verify_path" => StoreOp::VerifyPath,
            "repair_path" => StoreOp::RepairPath,
            "optimise" => StoreOp::Optimise,
            "serve" => StoreOp::Serve,
            "generate_binary_cache_key" => StoreOp::GenerateBinaryCacheKey,
            "version" => StoreOp::Version,
            _ => return None,
        })
    }

    /// The operation's flag, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            StoreOp::Realise => "--realise",
            StoreOp::Add => "--add",
            StoreOp::AddFixed => "--add-fixed",
            StoreOp::PrintFixedPath => "--print-fixed-path",
            StoreOp::Delete => "--delete",
            StoreOp::Query => "--query",
            StoreOp::PrintEnv => "--print-env",
            StoreOp::ReadLog => "--read-log",
            StoreOp::DumpDb => "--dump-db",
            StoreOp::LoadDb => "--load-db",
            StoreOp::RegisterValidity => "--register-validity",
            StoreOp::CheckValidity => "--check-validity",
            StoreOp::Gc => "--gc",
            StoreOp::Dump => "--dump",
            StoreOp::Restore => "--restore",
            StoreOp::Export => "--export",
            StoreOp::Import => "--import",
            StoreOp::Init => "--init",
            StoreOp::Verify => "--verify",
            StoreOp::VerifyPath => "--verify-path",
            StoreOp::RepairPath => "--repair-path",
            StoreOp::Optimise => "--optimise",
            StoreOp::Serve => "--serve",
            StoreOp::GenerateBinaryCacheKey => "--generate-binary-cache-key",
            StoreOp::Version => "--version",
        }
    }
}

/// Everything `nix-store` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreArgs {
    /// The operation.
    pub op: StoreOp,
    /// The operation flags as written, in order, with the values of `--max-freed` (and the
    /// obsolete `--max-links`/`--max-atime`) following their flag. They have passed the
    /// same checks Nix's operations make before doing anything.
    pub op_flags: Vec<String>,
    /// The positional arguments, in order.
    pub op_args: Vec<String>,
    /// `--add-root PATH` (the last one given, as written; Nix makes it absolute).
    pub add_root: Option<String>,
    /// `--no-output`.
    pub no_output: bool,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

impl StoreArgs {
    /// Whether `flag` (any of its spellings, e.g. `["--requisites", "-R"]`) was given.
    pub fn has_flag(&self, spellings: &[&str]) -> bool {
        self.op_flags
            .iter()
            .any(|f| spellings.contains(&f.as_str()))
    }
}

fn unknown(flag: &str) -> String {
    format!("unknown flag '{flag}'")
}

/// Accepts only `allowed` operation flags, as most operations do.
fn only(flags: &[String], allowed: &[&str]) -> Result<(), String> {
    match flags.iter().find(|f| !allowed.contains(&f.as_str())) {
        Some(f) => Err(unknown(f)),
        None => Ok(()),
    }
}

fn no_args(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err("no arguments expected".into())
    }
}

/// The checks Nix 2.8's operations make on their flags and argument counts before they
/// touch the store, with the same messages.
fn check_op_flags(op: StoreOp, flags: &[String], args: &[String]) -> Result<(), String> {
    let none = |msg: &str| {
        if flags.is_empty() {
            Ok(())
        } else {
            Err(msg.to_owned())
        }
    };
    match op {
        StoreOp::Realise => only(
            flags,
            &["--dry-run", "--repair", "--check", "--ignore-unknown"],
        ),
        StoreOp::Add => none("unknown flag"),
        StoreOp::AddFixed => {
            only(flags, &["--recursive"])?;
            if args.is_empty() {
                return Err("first argument must be hash algorithm".into());
            }
            Ok(())
        }
        StoreOp::PrintFixedPath => {
            only(flags, &["--recursive"])?;
            if args.len() != 3 {
                return Err("'--print-fixed-path' requires three arguments".into());
            }
            Ok(())
        }
        StoreOp::Delete => only(flags, &["--ignore-liveness"]),
        StoreOp::Query => check_query(flags, args),
        StoreOp::PrintEnv => {
            none("unknown flag")?;
            if args.len() != 1 {
                return Err("'--print-env' requires one derivation store path".into());
            }
            Ok(())
        }
        StoreOp::ReadLog | StoreOp::DumpDb => none("unknown flag"),
        StoreOp::LoadDb | StoreOp::Init => {
            none("unknown flag")?;
            no_args(args)
        }
        StoreOp::RegisterValidity => {
            only(flags, &["--reregister", "--hash-given"])?;
            no_args(args)
        }
        StoreOp::CheckValidity => only(flags, &["--print-invalid"]),
        StoreOp::Gc => {
            let mut i = 0;
            while let Some(f) = flags.get(i) {
                match f.as_str() {
                    "--print-roots" | "--print-live" | "--print-dead" => {}
                    "--max-freed" => {
                        i += 1;
                        let v = flags
                            .get(i)
                            .ok_or_else(|| "'--max-freed' requires an argument".to_owned())?;
                        parse_int_with_unit(v, true)?;
                    }
                    _ => return Err(format!("bad sub-operation '{f}' in GC")),
                }
                i += 1;
            }
            no_args(args)
        }
        StoreOp::Dump | StoreOp::Restore => {
            none("unknown flag")?;
            if args.len() != 1 {
                return Err("only one argument allowed".into());
            }
            Ok(())
        }
        StoreOp::Export => only(flags, &[]),
        StoreOp::Import => {
            only(flags, &[])?;
            no_args(args)
        }
        StoreOp::Verify => {
            no_args(args)?;
            only(flags, &["--check-contents", "--repair"])
        }
        StoreOp::VerifyPath | StoreOp::RepairPath => none("no flags expected"),
        StoreOp::Optimise => {
            if !args.is_empty() || !flags.is_empty() {
                return Err("no arguments expected".into());
            }
            Ok(())
        }
        StoreOp::Serve => {
            only(flags, &["--write"])?;
            no_args(args)
        }
        StoreOp::GenerateBinaryCacheKey => {
            only(flags, &[])?;
            if args.len() != 3 {
                return Err("three arguments expected".into());
            }
            Ok(())
        }
        StoreOp::Version => Ok(()),
    }
}

fn check_query(flags: &[String], args: &[String]) -> Result<(), String> {
    let mut query: Option<&str> = None;
    let mut args_left = args.len();
    for f in flags {
        let kind = match f.as_str() {
            "--outputs" => Some("outputs"),
            "--requisites" | "-R" => Some("requisites"),
            "--references" => Some("references"),
            "--referrers" | "--referers" => Some("referrers"),
            "--referrers-closure" | "--referers-closure" => Some("referrers-closure"),
            "--deriver" | "-d" => Some("deriver"),
            "--binding" | "-b" => {
                if args_left == 0 {
                    return Err("expected binding name".into());
                }
                args_left -= 1;
                Some("binding")
            }
            "--hash" => Some("hash"),
            "--size" => Some("size"),
            "--tree" => Some("tree"),
            "--graph" => Some("graph"),
            "--graphml" => Some("graphml"),
            "--resolve" => Some("resolve"),
            "--roots" => Some("roots"),
            "--use-output" | "-u" | "--force-realise" | "--force-realize" | "-f"
            | "--include-outputs" => None,
            _ => return Err(unknown(f)),
        };
        if let Some(k) = kind {
            if query.is_some_and(|q| q != k) {
                return Err(format!("query type '{f}' conflicts with earlier flag"));
            }
            query = Some(k);
        }
    }
    Ok(())
}

/// Parses `nix-store`'s arguments (argv without the program name), including the checks
/// the operation makes on its flags.
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<StoreArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let mut op: Option<StoreOp> = None;
    for s in &p.scan.seen {
        if let Some(o) = StoreOp::from_id(&s.id) {
            if op.is_some_and(|prev| prev != o) {
                return Err(inv.usage_error("only one operation may be specified"));
            }
            op = Some(o);
        }
    }
    let Some(op) = op else {
        return Err(inv.usage_error("no operation specified"));
    };
    let c = p.cli;
    let op_flags = p.scan.op_flags;
    check_op_flags(op, &op_flags, &c.op_args).map_err(|m| inv.usage_error(&m))?;
    let _ = c.indirect;
    Ok(StoreArgs {
        op,
        op_flags,
        op_args: c.op_args,
        add_root: c.add_root.last().cloned(),
        no_output: c.no_output,
        common: p.common,
    })
}

/// Entry point of `nix-store`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) if a.op == StoreOp::Version => {
            inv.print_version(a.common.verbosity);
            0
        }
        Ok(a) if implemented(a.op) => run(&a),
        Ok(a) => inv.not_implemented(Some(a.op.flag())),
        Err(code) => code,
    }
}

/// Why an operation stopped: a message for `error: `, or a usage error.
enum Fail {
    Msg(String),
    Usage(String),
    /// Already reported; just the exit status.
    Exit(i32),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        if e.is_usage() {
            Fail::Usage(e.to_string())
        } else {
            Fail::Msg(e.to_string())
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Msg(ferrix_store::io_reason(&e))
    }
}

impl From<ferrix_store::path::PathError> for Fail {
    fn from(e: ferrix_store::path::PathError) -> Self {
        Fail::Msg(e.to_string())
    }
}

type R<T = ()> = Result<T, Fail>;

fn err_line(s: &str) {
    let _ = writeln!(io::stderr(), "{s}");
}

/// [`follow_to_store_path`] for an operation.
fn follow(dir: &StoreDir, arg: &str) -> R<StorePath> {
    follow_to_store_path(dir, arg).map_err(Fail::Msg)
}

fn out() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Whether [`run`] carries out `op` (the others are not implemented yet).
pub fn implemented(op: StoreOp) -> bool {
    !matches!(op, StoreOp::Version)
}

/// Runs `nix-store` with parsed arguments; returns the exit status.
pub fn run(a: &StoreArgs) -> i32 {
    let r = match a.op {
        StoreOp::Dump => op_dump(a),
        StoreOp::Restore => op_restore(a),
        StoreOp::PrintFixedPath => op_print_fixed_path(a),
        StoreOp::Serve => op_serve(a),
        StoreOp::GenerateBinaryCacheKey => op_generate_key(a),
        _ => with_store(a),
    };
    match r {
        Ok(()) => 0,
        Err(Fail::Msg(m)) => {
            err_line(&format!("error: {m}"));
            1
        }
        Err(Fail::Usage(m)) => {
            err_line(&format!("error: {m}"));
            err_line("Try 'nix-store --help' for more information.");
            1
        }
        Err(Fail::Exit(n)) => n,
    }
}

/// `--serve [--write]`: the serve protocol on standard input and output, as an SSH forced
/// command or `ssh://` clients run it. Builds take the client's build settings.
fn op_serve(a: &StoreArgs) -> R {
    let opts = store_options(&a.common);
    let (store, realiser) = crate::store_setup::open_store_with_realiser(&opts, &a.common)?;
    install_interrupt_handlers();
    // As Nix's server, which lowers its verbosity to errors for builds: build output,
    // errors and notes (`keeping build directory`) reach the client (on standard error,
    // through SSH); "building" lines do not.
    ferrix_builder::set_output(Box::new(|o| {
        use ferrix_builder::Output;
        let mut e = io::stderr().lock();
        let _ = match o {
            Output::BuildLine(_, line) => e.write_all(line).and_then(|()| e.write_all(b"\n")),
            Output::Error(m) => writeln!(e, "{}", ferrix_builder::error_text(m)),
            Output::Message(m) => writeln!(e, "{m}"),
            Output::BuildStart { .. }
            | Output::BuildStop(_)
            | Output::Download { .. }
            | Output::DownloadDone(_)
            | Output::Copied { .. } => Ok(()),
        };
    }));
    // The machine's build settings (with the store's own system features, if it names
    // any), to which each build's client settings apply.
    let base = realiser.as_ref().map(|r| r.settings());
    let uri = store.uri();
    let mut apply = |s: &ferrix_wire::serve::ServeBuildSettings| match (&realiser, &base) {
        (Some(r), Some(base)) => {
            r.set_settings(ferrix_daemon::serve::build_settings(base, s));
            Ok(())
        }
        _ => Err(ferrix_store::StoreError::Unsupported(format!(
            "the build settings of 'nix-store --serve' cannot be applied to builds of store '{uri}'"
        ))),
    };
    let mut warn = |m: String| err_line(&format!("warning: {m}"));
    let mut host = ferrix_daemon::serve::ServeHost {
        write: a.has_flag(&["--write"]),
        apply_build_settings: &mut apply,
        warn: &mut warn,
    };
    ferrix_daemon::serve::run_stdio(&*store, &mut host).map_err(|e| match e {
        ferrix_daemon::serve::ServeError::Store(e) => Fail::from(e),
        e => Fail::Msg(e.to_string()),
    })
}

fn with_store(a: &StoreArgs) -> R {
    let opts = store_options(&a.common);
    let store = crate::store_setup::open_store(&opts, &a.common)?;
    let s = &*store;
    match a.op {
        StoreOp::Add => op_add(a, s, None),
        StoreOp::AddFixed => {
            let algo = parse_algo(&a.op_args[0])?;
            let method = if a.has_flag(&["--recursive"]) {
                Ingestion::Recursive
            } else {
                Ingestion::Flat
            };
            op_add(a, s, Some((method, algo)))
        }
        StoreOp::Query => op_query(a, s),
        StoreOp::Realise => op_realise(a, s),
        StoreOp::ReadLog => op_read_log(a, s),
        StoreOp::PrintEnv => op_print_env(a, s),
        StoreOp::DumpDb => op_dump_db(a, s),
        StoreOp::LoadDb => {
            s.register_validity(&mut io::stdin().lock(), true, true, false)?;
            Ok(())
        }
        StoreOp::RegisterValidity => {
            s.register_validity(
                &mut io::stdin().lock(),
                a.has_flag(&["--reregister"]),
                a.has_flag(&["--hash-given"]),
                true,
            )?;
            Ok(())
        }
        StoreOp::CheckValidity => {
            let print_invalid = a.has_flag(&["--print-invalid"]);
            let mut o = out();
            for arg in &a.op_args {
                let p = follow(s.dir(), arg)?;
                if !s.is_valid(&p)? {
                    if print_invalid {
                        writeln!(o, "{}", s.dir().display(&p))?;
                    } else {
                        o.flush()?;
                        return Err(Fail::Msg(format!(
                            "path '{}' is not valid",
                            s.dir().display(&p)
                        )));
                    }
                }
            }
            o.flush()?;
            Ok(())
        }
        StoreOp::VerifyPath => {
            let mut status = 0;
            for arg in &a.op_args {
                let p = follow(s.dir(), arg)?;
                let info = s.query_path_info(&p)?;
                let mut h = ferrix_store::hash::Hasher::new(ferrix_store::HashAlgo::Sha256);
                s.nar_from_path(&p, &mut h)?;
                let got = h.finish();
                if got != info.nar_hash {
                    let b32 = |h: &ferrix_store::Hash| {
                        h.encode(ferrix_store::hash::Encoding::Nix32, true)
                    };
                    err_line(&format!(
                        "path '{}' was modified! expected hash '{}', got '{}'",
                        s.dir().display(&p),
                        b32(&info.nar_hash),
                        b32(&got)
                    ));
                    status = 1;
                }
            }
            if status != 0 {
                return Err(Fail::Exit(status));
            }
            Ok(())
        }
        StoreOp::RepairPath => {
            install_interrupt_handlers();
            for arg in &a.op_args {
                let p = follow(s.dir(), arg)?;
                s.build_paths(
                    &[ferrix_store::store::DerivedPath::Opaque(p)],
                    ferrix_store::store::BuildMode::Repair,
                )?;
            }
            Ok(())
        }
        StoreOp::Verify => {
            install_interrupt_handlers();
            let errors =
                s.verify_store(a.has_flag(&["--check-contents"]), a.has_flag(&["--repair"]))?;
            if errors {
                err_line("warning: not all store errors were fixed");
                return Err(Fail::Exit(1));
            }
            Ok(())
        }
        StoreOp::Delete => {
            let mut paths = BTreeSet::new();
            for arg in &a.op_args {
                paths.insert(follow(s.dir(), arg)?);
            }
            let r = s.collect_garbage(&GcOptions {
                action: GcAction::DeleteSpecific,
                paths,
                ignore_liveness: a.has_flag(&["--ignore-liveness"]),
                max_freed: u64::MAX,
            });
            print_freed(&r)?;
            r.map(|_| ()).map_err(Fail::from)
        }
        StoreOp::Gc => op_gc(a, s),
        StoreOp::Optimise => {
            if !a.op_args.is_empty() || !a.op_flags.is_empty() {
                return Err(Fail::Usage("no arguments expected".into()));
            }
            install_interrupt_handlers();
            s.optimise_store().map_err(Fail::from)
        }
        StoreOp::Export => {
            let mut paths = BTreeSet::new();
            for arg in &a.op_args {
                paths.insert(follow(s.dir(), arg)?);
            }
            let mut o = out();
            export_paths(s, &paths, &mut o)?;
            o.flush()?;
            Ok(())
        }
        StoreOp::Import => {
            let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
            let paths = import_paths(s, &mut input, &mut |_| {})?;
            let mut o = out();
            for p in paths {
                writeln!(o, "{}", s.dir().display(&p))?;
            }
            o.flush()?;
            Ok(())
        }
        StoreOp::Init => Ok(()),
        op => Err(Fail::Msg(format!(
            "'nix-store {}' is not implemented yet",
            op.flag()
        ))),
    }
}

/// `--gc`: collects garbage, or prints the roots (`--print-roots`), the live paths
/// (`--print-live`) or the dead ones (`--print-dead`); `--max-freed` stops once that many
/// bytes are freed. The flags were checked while parsing; the last of each kind counts.
fn op_gc(a: &StoreArgs, s: &dyn Store) -> R {
    let mut print_roots = false;
    let mut opts = GcOptions {
        action: GcAction::DeleteDead,
        paths: BTreeSet::new(),
        ignore_liveness: false,
        max_freed: u64::MAX,
    };
    let mut flags = a.op_flags.iter();
    while let Some(f) = flags.next() {
        match f.as_str() {
            "--print-roots" => print_roots = true,
            "--print-live" => opts.action = GcAction::ReturnLive,
            "--print-dead" => opts.action = GcAction::ReturnDead,
            "--max-freed" => {
                let v = flags.next().map(String::as_str).unwrap_or("");
                let n = parse_int_with_unit(v, true).map_err(Fail::Usage)?;
                opts.max_freed = u64::try_from(n.max(0)).unwrap_or(u64::MAX);
            }
            _ => return Err(Fail::Usage(format!("bad sub-operation '{f}' in GC"))),
        }
    }
    if print_roots {
        let mut lines = BTreeSet::new();
        for (target, links) in s.find_roots(false)? {
            for link in links {
                lines.insert((link, s.dir().display(&target)));
            }
        }
        let mut o = out();
        for (link, target) in lines {
            writeln!(o, "{link} -> {target}")?;
        }
        o.flush()?;
        return Ok(());
    }
    let r = s.collect_garbage(&opts);
    if opts.action == GcAction::DeleteDead {
        print_freed(&r)?;
        r.map(|_| ()).map_err(Fail::from)
    } else {
        let g = r?;
        let mut o = out();
        for p in &g.paths {
            writeln!(o, "{p}")?;
        }
        o.flush()?;
        Ok(())
    }
}

fn parse_algo(s: &str) -> R<HashAlgo> {
    HashAlgo::parse(s).ok_or_else(|| Fail::Usage(format!("unknown hash algorithm '{s}'")))
}

fn base_name(arg: &str) -> &str {
    let t = arg.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    }
}

fn op_add(a: &StoreArgs, s: &dyn Store, fixed: Option<(Ingestion, HashAlgo)>) -> R {
    let files = if fixed.is_some() {
        &a.op_args[1..]
    } else {
        &a.op_args[..]
    };
    let (method, algo) = fixed.unwrap_or((Ingestion::Recursive, HashAlgo::Sha256));
    for f in files {
        // `--add` hashes the absolute path; `--add-fixed` the path as given.
        let src = if fixed.is_none() {
            canon(Path::new(f), &cwd())
        } else {
            PathBuf::from(f)
        };
        let p = s.add_path(base_name(f), &src, method, algo, &mut |_| Ok(true))?;
        let mut o = io::stdout().lock();
        writeln!(o, "{}", s.dir().display(&p))?;
    }
    Ok(())
}

/// `--generate-binary-cache-key NAME SECRET-FILE PUBLIC-FILE`: a new ed25519 key pair.
fn op_generate_key(a: &StoreArgs) -> R {
    let [name, secret, public] = &a.op_args[..] else {
        return Err(Fail::Usage("three arguments expected".into()));
    };
    let mut seed = [0u8; 32];
    {
        use std::io::Read;
        let mut f = std::fs::File::open("/dev/urandom").map_err(|e| {
            Fail::Msg(format!(
                "opening '/dev/urandom': {}",
                ferrix_store::io_reason(&e)
            ))
        })?;
        f.read_exact(&mut seed)?;
    }
    let key = ferrix_store::sigs::SecretKey::generate(name, seed);
    let write = |path: &str, text: String| -> R {
        std::fs::write(path, text).map_err(|e| {
            Fail::Msg(format!(
                "writing to file '{path}': {}",
                ferrix_store::io_reason(&e)
            ))
        })
    };
    write(public, key.public_text())?;
    write(secret, key.to_text())?;
    Ok(())
}

fn op_print_fixed_path(a: &StoreArgs) -> R {
    let dir = match resolve(&store_options(&a.common))? {
        StoreKind::Local(c) => c.store_dir,
        StoreKind::Dummy(d) => d,
        StoreKind::Daemon { dir, .. } | StoreKind::Ssh { dir, .. } => dir,
    };
    let algo = parse_algo(&a.op_args[0])?;
    let hash = Hash::parse_any(&a.op_args[1], Some(algo)).map_err(|e| Fail::Msg(e.to_string()))?;
    let method = if a.has_flag(&["--recursive"]) {
        Ingestion::Recursive
    } else {
        Ingestion::Flat
    };
    let p = dir.make_fixed_output_path(method, &hash, &a.op_args[2], &BTreeSet::new(), false)?;
    writeln!(io::stdout().lock(), "{}", dir.display(&p))?;
    Ok(())
}

fn op_dump(a: &StoreArgs) -> R {
    let opts = store_options(&a.common);
    let mut o = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    nar::dump_with(
        Path::new(&a.op_args[0]),
        &mut o,
        &mut |_| Ok(true),
        opts.case_hack,
    )
    .map_err(|e| Fail::Msg(e.to_string()))?;
    o.flush()?;
    Ok(())
}

fn op_restore(a: &StoreArgs) -> R {
    let opts = store_options(&a.common);
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    nar::restore(
        &mut input,
        Path::new(&a.op_args[0]),
        RestoreOptions {
            case_hack: opts.case_hack,
            fsync: false,
            expect_end: true,
        },
    )
    .map_err(|e| Fail::Msg(e.to_string()))
}

fn shell_escape(s: &[u8]) -> Vec<u8> {
    let mut v = vec![b'\''];
    for &c in s {
        if c == b'\'' {
            v.extend_from_slice(b"'\\''");
        } else {
            v.push(c);
        }
    }
    v.push(b'\'');
    v
}

/// Reads a derivation that must be valid, with Nix's message for one that is not.
fn derivation(s: &dyn Store, p: &StorePath) -> R<ferrix_store::derivation::Derivation> {
    if !s.is_valid(p)? {
        return Err(Fail::Msg(format!(
            "path '{}' does not exist and cannot be created",
            s.dir().display(p)
        )));
    }
    Ok(s.read_derivation(p)?)
}

fn op_print_env(a: &StoreArgs, s: &dyn Store) -> R {
    let p = s.dir().parse(&a.op_args[0])?;
    let d = derivation(s, &p)?;
    let mut o = out();
    for (k, v) in &d.env {
        o.write_all(b"export ")?;
        o.write_all(k)?;
        o.write_all(b"; ")?;
        o.write_all(k)?;
        o.write_all(b"=")?;
        o.write_all(&shell_escape(v))?;
        o.write_all(b"\n")?;
    }
    o.write_all(b"export _args; _args='")?;
    for (i, arg) in d.args.iter().enumerate() {
        if i > 0 {
            o.write_all(b" ")?;
        }
        o.write_all(&shell_escape(arg))?;
    }
    o.write_all(b"'\n")?;
    o.flush()?;
    Ok(())
}

fn op_dump_db(a: &StoreArgs, s: &dyn Store) -> R {
    let mut o = out();
    if a.op_args.is_empty() {
        for p in s.query_all_valid()? {
            o.write_all(ops::validity_registration(s, &[p].into(), true, true)?.as_bytes())?;
        }
    } else {
        for arg in &a.op_args {
            let p = follow(s.dir(), arg)?;
            o.write_all(ops::validity_registration(s, &[p].into(), true, true)?.as_bytes())?;
        }
    }
    o.flush()?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Query {
    Outputs,
    Requisites,
    References,
    Referrers,
    ReferrersClosure,
    Deriver,
    Binding,
    Hash,
    Size,
    Tree,
    Graph,
    GraphMl,
    Resolve,
    Roots,
}

/// The outputs of a derivation (from its file) when `use_output`, else the path itself.
fn maybe_outputs(s: &dyn Store, p: StorePath, use_output: bool, force: bool) -> R<Vec<StorePath>> {
    if force {
        realise_check(s, &p)?;
    }
    if use_output && p.is_derivation() {
        let d = derivation(s, &p)?;
        let mut outs = BTreeSet::new();
        for o in d.outputs.values() {
            if o.path.is_empty() {
                return Err(Fail::Usage("Cannot use output path of floating content-addressed derivation until we know what it is (e.g. by building it)".into()));
            }
            outs.insert(s.dir().parse(&String::from_utf8_lossy(&o.path))?);
        }
        if force {
            for o in &outs {
                realise_check(s, o)?;
            }
        }
        Ok(outs.into_iter().collect())
    } else {
        Ok(vec![p])
    }
}

/// `--force-realise`: builds a derivation's outputs, or makes a path valid.
fn realise_check(s: &dyn Store, p: &StorePath) -> R {
    use ferrix_store::store::{BuildMode, DerivedPath, OutputsSpec};
    let t = if p.is_derivation() {
        DerivedPath::Built {
            drv: p.clone(),
            outputs: OutputsSpec::All,
        }
    } else {
        DerivedPath::Opaque(p.clone())
    };
    s.build_paths(&[t], BuildMode::Normal).map_err(|e| {
        let e = build::build_error(e);
        if e.status() != 1 {
            build::print_error(&e.to_string());
            Fail::Exit(e.status())
        } else {
            Fail::Msg(e.to_string())
        }
    })
}

const TREE_CONN: &str = "├───";
const TREE_LAST: &str = "└───";
const TREE_LINE: &str = "│   ";
const TREE_NULL: &str = "    ";

fn print_tree(
    l: &dyn Store,
    p: &StorePath,
    first: &str,
    tail: &str,
    done: &mut BTreeSet<StorePath>,
    o: &mut dyn Write,
) -> R {
    if !done.insert(p.clone()) {
        writeln!(o, "{first}{} [...]", l.dir().display(p))?;
        return Ok(());
    }
    writeln!(o, "{first}{}", l.dir().display(p))?;
    let info = l.query_path_info(p)?;
    let mut sorted = topo_sort(l, &info.references)?;
    sorted.reverse();
    let n = sorted.len();
    for (i, r) in sorted.iter().enumerate() {
        let last = i + 1 == n;
        print_tree(
            l,
            r,
            &format!("{tail}{}", if last { TREE_LAST } else { TREE_CONN }),
            &format!("{tail}{}", if last { TREE_NULL } else { TREE_LINE }),
            done,
            o,
        )?;
    }
    Ok(())
}

fn op_query(a: &StoreArgs, s: &dyn Store) -> R {
    let mut query = Query::Outputs;
    let mut use_output = false;
    let mut force = false;
    let mut include_outputs = false;
    for f in &a.op_flags {
        query = match f.as_str() {
            "--outputs" => Query::Outputs,
            "--requisites" | "-R" => Query::Requisites,
            "--references" => Query::References,
            "--referrers" | "--referers" => Query::Referrers,
            "--referrers-closure" | "--referers-closure" => Query::ReferrersClosure,
            "--deriver" | "-d" => Query::Deriver,
            "--binding" | "-b" => Query::Binding,
            "--hash" => Query::Hash,
            "--size" => Query::Size,
            "--tree" => Query::Tree,
            "--graph" => Query::Graph,
            "--graphml" => Query::GraphMl,
            "--resolve" => Query::Resolve,
            "--roots" => Query::Roots,
            "--use-output" | "-u" => {
                use_output = true;
                continue;
            }
            "--force-realise" | "--force-realize" | "-f" => {
                force = true;
                continue;
            }
            "--include-outputs" => {
                include_outputs = true;
                continue;
            }
            _ => continue,
        };
    }
    let mut args: &[String] = &a.op_args;
    let mut binding = String::new();
    if query == Query::Binding {
        binding = args[0].clone();
        args = &args[1..];
    }
    let dir = s.dir().clone();
    let mut o = out();
    match query {
        Query::Outputs => {
            for arg in args {
                for p in maybe_outputs(s, follow(&dir, arg)?, true, force)? {
                    writeln!(o, "{}", dir.display(&p))?;
                }
            }
        }
        Query::Requisites | Query::References | Query::Referrers | Query::ReferrersClosure => {
            let l = s;
            let mut paths = BTreeSet::new();
            for arg in args {
                for p in maybe_outputs(s, follow(&dir, arg)?, use_output, force)? {
                    match query {
                        Query::Requisites => {
                            paths.extend(closure(l, &[p].into(), false, include_outputs)?)
                        }
                        Query::References => paths.extend(l.query_path_info(&p)?.references),
                        Query::Referrers => {
                            l.query_path_info(&p)?;
                            paths.extend(l.referrers(&p)?)
                        }
                        _ => paths.extend(closure(l, &[p].into(), true, false)?),
                    }
                }
            }
            let sorted = topo_sort(l, &paths)?;
            for p in sorted.iter().rev() {
                writeln!(o, "{}", dir.display(p))?;
            }
        }
        Query::Deriver => {
            let l = s;
            for arg in args {
                let info = l.query_path_info(&follow(&dir, arg)?)?;
                match info.deriver {
                    Some(d) => writeln!(o, "{}", dir.display(&d))?,
                    None => writeln!(o, "unknown-deriver")?,
                }
            }
        }
        Query::Binding => {
            let l = s;
            for arg in args {
                let mut p = follow(&dir, arg)?;
                if !p.is_derivation() {
                    p = l.query_path_info(&p)?.deriver.ok_or_else(|| {
                        Fail::Msg(format!(
                            "deriver of path '{}' is not known",
                            dir.display(&p)
                        ))
                    })?;
                }
                let d = derivation(s, &p)?;
                match d.env.get(binding.as_bytes()) {
                    Some(v) => {
                        o.write_all(v)?;
                        o.write_all(b"\n")?;
                    }
                    None => {
                        o.flush()?;
                        return Err(Fail::Msg(format!(
                            "derivation '{}' has no environment binding named '{binding}'",
                            dir.display(&p)
                        )));
                    }
                }
            }
        }
        Query::Hash | Query::Size => {
            let l = s;
            for arg in args {
                for p in maybe_outputs(s, follow(&dir, arg)?, use_output, force)? {
                    let info = l.query_path_info(&p)?;
                    if query == Query::Hash {
                        writeln!(o, "{}", info.nar_hash.encode(Encoding::Nix32, true))?;
                    } else {
                        writeln!(o, "{}", info.nar_size)?;
                    }
                }
            }
        }
        Query::Tree => {
            let l = s;
            let mut done = BTreeSet::new();
            for arg in args {
                print_tree(l, &follow(&dir, arg)?, "", "", &mut done, &mut o)?;
            }
        }
        Query::Graph => {
            let l = s;
            let mut roots = BTreeSet::new();
            for arg in args {
                roots.extend(maybe_outputs(s, follow(&dir, arg)?, use_output, force)?);
            }
            const COLOURS: [&str; 6] = ["black", "red", "green", "blue", "magenta", "burlywood"];
            let mut colour = 0;
            let mut work = roots;
            let mut done = BTreeSet::new();
            writeln!(o, "digraph G {{")?;
            while let Some(p) = work.pop_first() {
                if !done.insert(p.clone()) {
                    continue;
                }
                writeln!(
                    o,
                    "\"{}\" [label = \"{}\", shape = box, style = filled, fillcolor = \"#ff0000\"];",
                    p.base_name(),
                    p.name()
                )?;
                for r in l.query_path_info(&p)?.references {
                    if r != p {
                        writeln!(
                            o,
                            "\"{}\" -> \"{}\" [color = \"{}\"];",
                            r.base_name(),
                            p.base_name(),
                            COLOURS[colour % COLOURS.len()]
                        )?;
                        colour += 1;
                        work.insert(r);
                    }
                }
            }
            writeln!(o, "}}")?;
        }
        Query::Resolve => {
            for arg in args {
                writeln!(o, "{}", dir.display(&follow(&dir, arg)?))?;
            }
        }
        Query::Roots => {
            let l = s;
            let mut targets = BTreeSet::new();
            for arg in args {
                targets.extend(maybe_outputs(s, follow(&dir, arg)?, use_output, force)?);
            }
            let referrers = closure(l, &targets, true, false)?;
            for (root, links) in l.find_roots(false)? {
                if referrers.contains(&root) {
                    for link in links {
                        writeln!(o, "{link} -> {}", dir.display(&root))?;
                    }
                }
            }
        }
        Query::GraphMl => {
            let l = s;
            let mut work = BTreeSet::new();
            for arg in args {
                work.extend(maybe_outputs(s, follow(&dir, arg)?, use_output, force)?);
            }
            o.write_all(
                b"<?xml version='1.0' encoding='utf-8'?>\n\
<graphml xmlns='http://graphml.graphdrawing.org/xmlns'\n    \
xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'\n    \
xsi:schemaLocation='http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd'>\n\
<key id='narSize' for='node' attr.name='narSize' attr.type='int'/>\
<key id='name' for='node' attr.name='name' attr.type='string'/>\
<key id='type' for='node' attr.name='type' attr.type='string'/>\
<graph id='G' edgedefault='directed'>\n",
            )?;
            let mut done = BTreeSet::new();
            while let Some(p) = work.pop_first() {
                if !done.insert(p.clone()) {
                    continue;
                }
                let info = l.query_path_info(&p)?;
                writeln!(o, "  <node id=\"{}\">", p.base_name())?;
                writeln!(o, "    <data key=\"narSize\">{}</data>", info.nar_size)?;
                writeln!(o, "    <data key=\"name\"></data>")?;
                writeln!(
                    o,
                    "    <data key=\"type\">{}</data>",
                    if p.is_derivation() {
                        "derivation"
                    } else {
                        "output-path"
                    }
                )?;
                writeln!(o, "  </node>")?;
                for r in info.references {
                    if r != p {
                        writeln!(
                            o,
                            "  <edge source=\"{}\" target=\"{}\"/>",
                            p.base_name(),
                            r.base_name()
                        )?;
                        work.insert(r);
                    }
                }
            }
            writeln!(o, "</graph>\n</graphml>")?;
        }
    }
    o.flush()?;
    Ok(())
}

/// `nix-store --realise`: build the derivations (all their outputs, or those named after
/// `!`), check that other paths are valid, and print the results.
fn op_realise(a: &StoreArgs, s: &dyn Store) -> R {
    use ferrix_store::store::BuildMode;
    let mut targets = Vec::new();
    let mut plain = Vec::new();
    for arg in &a.op_args {
        let (p, outs) = build::parse_target(s, arg).map_err(Fail::Msg)?;
        if p.is_derivation() {
            targets.push(build::target(p, outs));
        } else {
            plain.push(p);
        }
    }
    // Plain paths that are not valid can only be substituted; with `--repair`, valid
    // ones are checked and taken again if damaged.
    let repair = a.has_flag(&["--repair"]) && !a.has_flag(&["--check"]);
    for p in &plain {
        if repair || !s.is_valid(p).unwrap_or(false) {
            targets.push(ferrix_store::store::DerivedPath::Opaque(p.clone()));
        }
    }
    let mode = if a.has_flag(&["--check"]) {
        BuildMode::Check
    } else if a.has_flag(&["--repair"]) {
        BuildMode::Repair
    } else {
        BuildMode::Normal
    };
    let dry_run = a.has_flag(&["--dry-run"]);
    install_interrupt_handlers();
    let fail = |e: StoreError| {
        let e = build::build_error(e);
        build::print_error(&e.to_string());
        Fail::Exit(e.status())
    };
    if a.common.config.print_missing && mode != BuildMode::Check {
        build::print_missing(s, &targets).map_err(fail)?;
    }
    if dry_run {
        return Ok(());
    }
    if !targets.is_empty() {
        s.build_paths(&targets, mode).map_err(fail)?;
    }
    let mut o = out();
    let mut root_nr = 0;
    let mut print = |p: &StorePath, name: &str| -> R {
        let shown = match &a.add_root {
            Some(root) => {
                root_nr += 1;
                let mut link = root.clone();
                if root_nr > 1 {
                    link.push_str(&format!("-{root_nr}"));
                }
                if name != "out" {
                    link.push('-');
                    link.push_str(name);
                }
                build::add_perm_root(s, p, &link)?.display().to_string()
            }
            None => s.dir().display(p),
        };
        if !a.no_output {
            let _ = writeln!(o, "{shown}");
        }
        Ok(())
    };
    for arg in &a.op_args {
        let (p, outs) = build::parse_target(s, arg).map_err(Fail::Msg)?;
        if p.is_derivation() {
            for (name, out) in s.derivation_output_paths(&p)? {
                if outs
                    .as_ref()
                    .is_none_or(|w| w.contains(&name) || w.contains("*"))
                {
                    print(&out, &name)?;
                }
            }
        } else {
            print(&p, "out")?;
        }
    }
    Ok(())
}

/// `nix-store --read-log`: print the build logs of derivations or their outputs.
/// A build log from the `log-servers`, asked for by the derivation's base name and then
/// the path's; says where it came from on standard error.
fn remote_log(a: &StoreArgs, s: &dyn Store, p: &StorePath) -> Option<Vec<u8>> {
    let servers = &a.common.config.log_servers;
    if servers.is_empty() {
        return None;
    }
    let mut names = Vec::new();
    if !p.is_derivation() {
        if let Ok(Some(d)) = s.path_info(p).map(|i| i.and_then(|i| i.deriver)) {
            names.push(d.base_name().to_string());
        }
    }
    names.push(p.base_name().to_string());
    let client = ferrix_fetch::http::Client::new(&ferrix_fetch::http::HttpOptions::from_settings(
        &a.common.config,
    ))
    .ok()?;
    let (log, errors) = ferrix_fetch::logs::fetch_log(&client, servers, &names);
    for e in errors {
        warn(&e.to_string());
    }
    let log = log?;
    err_line(&format!("(using build log from {})", log.url));
    Some(log.data)
}

fn op_read_log(a: &StoreArgs, s: &dyn Store) -> R {
    for arg in &a.op_args {
        let p = follow(s.dir(), arg)?;
        let data = match build::read_log(s, &p) {
            Ok(d) => d,
            Err(m) => remote_log(a, s, &p).ok_or(Fail::Msg(m))?,
        };
        let mut o = io::stdout().lock();
        o.write_all(&data)?;
    }
    Ok(())
}
