//! `ferrix repl` / `nix repl`: its arguments, and the REPL (`ferrix_repl`) started on the
//! command's store with plugins, fetcher settings and builds as for evaluation.

use crate::cli::{parse, scan::Spec, CommandSpec, CommonArgs, EvalArgs, Invocation, Program};

/// The clap side of `nix repl`'s own flags (and those of the `nix` front end).
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix repl [OPTIONS] [FILES]...")]
pub(crate) struct Cli {
    /// Files whose attributes are loaded into scope at start-up
    #[arg(value_name = "FILES")]
    files: Vec<String>,
    /// Print full build logs on standard error
    #[arg(short = 'L', long = "print-build-logs")]
    print_build_logs: bool,
    /// Work without network access
    #[arg(long = "offline")]
    offline: bool,
    /// Consider all previously downloaded files out of date
    #[arg(long = "refresh")]
    refresh: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Repl;
    const SPEC: Spec = Spec {
        legacy: false,
        ..Spec::LEGACY
    };
    const EVAL_FLAGS: bool = true;
}

/// Everything `nix repl` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplArgs {
    /// Files to load.
    pub files: Vec<String>,
    /// `-L` / `--print-build-logs`.
    pub print_build_logs: bool,
    /// `--offline`.
    pub offline: bool,
    /// `--refresh`.
    pub refresh: bool,
    /// `--arg`, `--argstr`, `-I`, `--impure`, ...
    pub eval: EvalArgs,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Parses `nix repl`'s arguments (argv after `repl`).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<ReplArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    Ok(ReplArgs {
        files: p.cli.files,
        print_build_logs: p.cli.print_build_logs,
        offline: p.cli.offline,
        refresh: p.cli.refresh,
        eval: p.eval,
        common: p.common,
    })
}

/// Entry point of `ferrix repl`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => {
            let opts = ferrix_repl::Options {
                files: a.files,
                include: a.eval.include,
                args: a.eval.args,
                argstrs: a.eval.argstrs,
                show_trace: a.common.config.show_trace,
                nix_path: a.common.config.nix_path.clone(),
                system: a.common.config.system.clone(),
            };
            // Plugins from `plugin-files` and the unsafe builtins, as for evaluation.
            let native = match crate::native::setup(&a.common) {
                Ok(n) => crate::native::ReplNative(n),
                Err(code) => return code,
            };
            let store = match crate::store_setup::open(false, &a.common) {
                Ok(s) => s,
                Err(msg) => {
                    eprintln!("error: {msg}");
                    return 1;
                }
            };
            let mut common = a.common.clone();
            if a.refresh {
                // `--refresh`: downloads are checked again, as with `tarball-ttl = 0`.
                common.config.tarball_ttl = 0;
            }
            crate::shared::eval::configure_fetchers(&store, &common, false, None);
            let builder = crate::shared::build::ReplBuilder {
                store: &*store.store,
            };
            ferrix_repl::run(&opts, &builder, &store, &native)
        }
        Err(code) => code,
    }
}
