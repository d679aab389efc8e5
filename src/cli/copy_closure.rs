//! `ferrix copy-closure` / `nix-copy-closure`.

use super::{parse, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};

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
    const SPEC: Spec = Spec {
        getarg_ids: &[],
        stdin_dash: false,
        legacy: true,
        unknown_as_op_flags: false,
        op_flag_ids: &[],
        version_is_op: false,
    };
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
        Ok(a) => crate::copy_closure_cmd::run(&a),
        Err(code) => code,
    }
}
