//! `ferrix daemon` / `nix-daemon`.

use super::{parse, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};

/// The clap side of `nix-daemon`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-daemon [OPTIONS]")]
pub(crate) struct Cli {
    /// Serve one client on standard input and output instead of listening on the socket
    #[arg(long = "stdio")]
    stdio: bool,
    /// Accepted for compatibility; has no effect
    #[arg(long = "daemon")]
    daemon: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Daemon;
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

/// Everything `nix-daemon` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonArgs {
    /// `--stdio`.
    pub stdio: bool,
    /// `--daemon` (no effect).
    pub daemon: bool,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Parses `nix-daemon`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<DaemonArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    Ok(DaemonArgs {
        stdio: p.cli.stdio,
        daemon: p.cli.daemon,
        common: p.common,
    })
}

/// Entry point of `nix-daemon`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => crate::daemon_cmd::run(&a),
        Err(code) => code,
    }
}
