//! `ferrix build` / `nix-build`.

use super::{parse, scan::Spec, CommandSpec, CommonArgs, EvalArgs, Invocation, Program};

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
        legacy: true,
        unknown_as_op_flags: false,
        op_flag_ids: &[],
        version_is_op: false,
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
        eval: p.eval,
        common: p.common,
    })
}

/// Entry point of `nix-build`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => crate::build_cmd::run(&a),
        Err(code) => code,
    }
}
