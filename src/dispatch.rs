//! The top of the binary: which command `argv[0]` (a `nix-*` link name) or the first
//! argument (a `ferrix` subcommand) selects, and `ferrix --help` / `--version`. This is the
//! one module above the commands in `crate::commands`; it may use all of them.

use crate::cli::{Invocation, Program, ALL, VERSION};
use crate::commands::{build, copy_closure, daemon, eval_jobs, gc, hash, instantiate, repl, store};

fn run_program(program: Program, via_link: bool, args: &[String]) -> i32 {
    let inv = Invocation { program, via_link };
    match program {
        Program::Instantiate => instantiate::main(&inv, args),
        Program::Build => build::main(&inv, args),
        Program::Store => store::main(&inv, args),
        Program::Daemon => daemon::main(&inv, args),
        Program::Repl => repl::main(&inv, args),
        Program::Hash => hash::main(&inv, args),
        Program::CopyClosure => copy_closure::main(&inv, args),
        Program::CollectGarbage => gc::main(&inv, args),
        Program::EvalJobs => eval_jobs::main(&inv, args),
    }
}

fn top_level_help() -> String {
    let mut s = String::from(
        "Ferrix: a Nix implementation\n\n\
         Usage: ferrix <COMMAND> [ARGS]...\n\n\
         Commands:\n",
    );
    for p in ALL {
        s.push_str(&format!("  {:<12} {}\n", p.subcommand(), p.about()));
    }
    s.push_str(
        "\nOptions:\n  --help       Show this help and exit\n  --version    Print the version and exit\n\n\
         Invoked through a link named nix-instantiate, nix-build, nix-store, nix-daemon,\n\
         nix-hash, nix-copy-closure, nix-collect-garbage or nix-eval-jobs, ferrix acts as that command.\n\
         Run 'ferrix <COMMAND> --help' for the flags of a command.",
    );
    s
}

/// Runs the binary on `argv` (including argv[0]) and returns the exit status.
pub fn run(argv: &[String]) -> i32 {
    let arg0 = argv.first().map(String::as_str).unwrap_or("ferrix");
    let base = std::path::Path::new(arg0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest = argv.get(1..).unwrap_or(&[]);
    if let Some(program) = Program::from_link_name(&base) {
        return run_program(program, true, rest);
    }
    let Some(first) = rest.first() else {
        err_line!("error: no subcommand specified");
        err_line!("Try 'ferrix --help' for more information.");
        return 1;
    };
    if let Some(program) = Program::from_subcommand(first) {
        return run_program(program, false, &rest[1..]);
    }
    match first.as_str() {
        "--help" | "help" => {
            out_line!("{}", top_level_help());
            0
        }
        "--version" => {
            out_line!("ferrix (Ferrix) {VERSION}");
            0
        }
        f if f.starts_with('-') => {
            err_line!("error: unrecognised flag '{f}'");
            err_line!("Try 'ferrix --help' for more information.");
            1
        }
        other => {
            err_line!("error: '{other}' is not a recognised command");
            err_line!("Try 'ferrix --help' for more information.");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{build_command, CommandSpec};

    fn check<P: CommandSpec>() {
        for via_link in [false, true] {
            let inv = Invocation {
                program: P::PROGRAM,
                via_link,
            };
            build_command::<P>(&inv).debug_assert();
        }
    }

    #[test]
    fn commands_are_well_formed() {
        check::<instantiate::Cli>();
        check::<build::Cli>();
        check::<store::Cli>();
        check::<daemon::Cli>();
        check::<repl::Cli>();
        check::<copy_closure::Cli>();
        check::<hash::Cli>();
        check::<eval_jobs::Cli>();
    }

    #[test]
    fn no_setting_flag_clashes_with_a_command_flag() {
        // `add_setting_flags` skips clashing names; make sure that only happens where Nix's
        // own flag deliberately shadows the setting.
        let inv = Invocation {
            program: Program::Instantiate,
            via_link: true,
        };
        let cmd = build_command::<instantiate::Cli>(&inv);
        for name in ferrix_store::settings::DEFINITIONS.iter().map(|d| d.name) {
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(name)),
                "--{name} missing"
            );
        }
    }
}
