//! `ferrix store` / `nix-store`.
//!
//! As in Nix 2.8, exactly one operation flag (`--realise`, `--query`, `--gc`, ...) picks what
//! to do. Every other dash word that is not a global flag is an operation flag: it is not
//! rejected while parsing but handed to the operation, which accepts or refuses it with its
//! own message. [`StoreArgs::op_flags`] keeps them as written, in order.

use super::{parse, parse_int_with_unit, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};

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
        stdin_dash: false,
        legacy: true,
        unknown_as_op_flags: true,
        op_flag_ids: OP_FLAG_IDS,
        version_is_op: true,
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
        Ok(a) if crate::store_cmd::implemented(a.op) => crate::store_cmd::run(&a),
        Ok(a) => inv.not_implemented(Some(a.op.flag())),
        Err(code) => code,
    }
}
