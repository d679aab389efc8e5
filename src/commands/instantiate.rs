//! `ferrix instantiate` / `nix-instantiate`: `--parse` prints the parsed expressions
//! (`crate::parse_files`); otherwise files or expressions are evaluated, and either the
//! results are printed as Nix does (`--eval`) or the derivations they contain are
//! instantiated and their paths printed (`crate::shared::eval`).

use crate::cli::{parse, scan::Spec, CommandSpec, Invocation, Program};
use crate::parse_files::{self, Input};
use crate::shared::eval::evaluate;
pub use crate::shared::eval::InstantiateArgs;
use std::io::Write;

/// The clap side of `nix-instantiate`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-instantiate [OPTIONS] [FILES]...")]
pub(crate) struct Cli {
    /// Files to evaluate, or with -E, expressions ('-' is standard input)
    #[arg(value_name = "FILES")]
    files: Vec<String>,
    /// Treat the arguments as Nix expressions rather than file names
    #[arg(short = 'E', long = "expr")]
    expr: bool,
    /// Only parse the input and print the parsed expression
    #[arg(long = "parse", visible_alias = "parse-only")]
    parse: bool,
    /// Evaluate and print the result instead of instantiating derivations
    #[arg(long = "eval", visible_alias = "eval-only")]
    eval: bool,
    /// Allow writes to the store while evaluating with --eval
    #[arg(long = "read-write-mode")]
    read_write_mode: bool,
    /// Look the arguments up in the search path and print where they are found
    #[arg(long = "find-file")]
    find_file: bool,
    /// Select the attribute PATH of the result; may be repeated
    #[arg(
        short = 'A',
        long = "attr",
        value_name = "PATH",
        allow_hyphen_values = true
    )]
    attr: Vec<String>,
    /// Register the resulting derivations as garbage collector roots at PATH
    #[arg(long = "add-root", value_name = "PATH", allow_hyphen_values = true)]
    add_root: Vec<String>,
    /// Accepted for compatibility; has no effect
    #[arg(long = "indirect")]
    indirect: bool,
    /// Print the result as XML (with --eval)
    #[arg(long = "xml")]
    xml: bool,
    /// Print the result as JSON (with --eval)
    #[arg(long = "json")]
    json: bool,
    /// Leave source locations out of the XML output
    #[arg(long = "no-location")]
    no_location: bool,
    /// Evaluate the result fully, not just to weak head normal form
    #[arg(long = "strict")]
    strict: bool,
    /// Repair store paths found to be corrupt or missing
    #[arg(long = "repair")]
    repair: bool,
    /// Do not write anything to the store
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Evaluate several -A attributes in up to N processes at once (a Ferrix flag)
    #[arg(long = "workers", value_name = "N", default_value_t = 1)]
    workers: usize,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Instantiate;
    const SPEC: Spec = Spec {
        getarg_ids: &["attr", "add_root"],
        stdin_dash: true,
        ..Spec::LEGACY
    };
    const EVAL_FLAGS: bool = true;
}

/// Parses `nix-instantiate`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<InstantiateArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    if c.workers == 0 {
        return Err(inv.usage_error("'--workers' must be at least 1"));
    }
    let read_only =
        p.common.readonly_mode || c.dry_run || ((c.eval || c.parse) && !c.read_write_mode);
    Ok(InstantiateArgs {
        files: c.files,
        expr: c.expr,
        parse: c.parse,
        eval: c.eval || c.parse,
        read_write_mode: c.read_write_mode,
        find_file: c.find_file,
        attr: c.attr,
        add_root: c.add_root.last().cloned(),
        indirect: c.indirect,
        xml: c.xml,
        json: c.json,
        no_location: c.no_location,
        strict: c.strict,
        repair: c.repair,
        dry_run: c.dry_run,
        read_only,
        workers: c.workers,
        ..InstantiateArgs::from_flags(p.eval, p.common)
    })
}

/// Entry point of `nix-instantiate`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    let a = match parse_args(inv, args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    run(&a)
}

/// Runs `nix-instantiate` with parsed arguments; returns the process exit status.
pub fn run(args: &InstantiateArgs) -> i32 {
    // As in Nix, `--find-file` wins over `--parse` and `--eval`.
    if !args.parse || args.find_file {
        return run_eval(args);
    }
    // As Nix: `-` (also with `-E`) is standard input, read first; no file and no `-E`
    // means ./default.nix.
    let read_stdin = args.files.iter().any(|f| f == "-");
    let rest = args.files.iter().filter(|f| *f != "-").cloned();
    let mut inputs: Vec<Input> = Vec::new();
    if read_stdin {
        inputs.push(Input::Stdin);
    } else if args.files.is_empty() && !args.expr {
        inputs.push(Input::File("./default.nix".into()));
    }
    inputs.extend(rest.map(|f| {
        if args.expr {
            Input::Expr(f)
        } else {
            Input::File(f)
        }
    }));
    parse_files::run(inputs)
}

/// Runs `nix-instantiate` (other than `--parse`); returns the exit status. With
/// `--workers`, several attributes are evaluated in processes of their own.
fn run_eval(args: &InstantiateArgs) -> i32 {
    if let Some(runs) = crate::shared::parallel::split(args) {
        if let Some(status) = crate::shared::parallel::run_all(&runs, run_eval_here) {
            return status;
        }
    }
    run_eval_here(args)
}

/// Evaluates in this process.
fn run_eval_here(args: &InstantiateArgs) -> i32 {
    let session = match open_eval_store(args) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return 1;
        }
    };
    match evaluate(args, &session) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
                return 1;
            }
            0
        }
        Err(code) => code,
    }
}

/// The store evaluation writes to: `--eval-store` when given, else the command's store.
fn open_eval_store(
    args: &InstantiateArgs,
) -> Result<ferrix_primops::store_session::StoreSession, String> {
    match &args.eval_store {
        Some(url) => {
            let mut opts = crate::store_setup::options(args.read_only, &args.common);
            opts.store_uri = Some(url.clone());
            let store =
                crate::store_setup::open_store(&opts, &args.common).map_err(|e| e.to_string())?;
            Ok(ferrix_primops::store_session::StoreSession::new(store))
        }
        None => crate::store_setup::open(args.read_only, &args.common),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<InstantiateArgs, i32> {
        let inv = Invocation {
            program: Program::Instantiate,
            via_link: true,
        };
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_args(&inv, &args)
    }

    #[test]
    fn fields() {
        let a = parse_strs(&[
            "--parse",
            "-E",
            "1",
            "-vvv",
            "--arg",
            "a",
            "-b",
            "--argstr",
            "c",
            "--",
            "-I/x",
            "-j3",
            "f1",
            "-A",
            "x.y",
            "--show-trace",
            "--option",
            "o",
            "v",
            "--strict",
            "--json",
            "--xml",
            "--no-location",
            "--eval-only",
            "-",
            "--attr",
            "-z",
            "--no-show-trace",
            "--add-root",
            "r",
        ])
        .unwrap();
        assert!(a.parse && a.eval && a.expr && a.strict && a.json && a.xml && a.no_location);
        assert_eq!(a.files, ["1", "f1", "-"]);
        assert_eq!(a.args, [("a".to_owned(), "-b".to_owned())]);
        assert_eq!(a.argstrs, [("c".to_owned(), "--".to_owned())]);
        assert_eq!(a.include, ["/x"]);
        assert_eq!(a.attr, ["x.y", "-z"]);
        assert_eq!(a.add_root.as_deref(), Some("r"));
        assert!(!a.show_trace);
        assert!(a.read_only);
        assert_eq!(a.options, [("o".to_owned(), "v".to_owned())]);
        assert_eq!(a.common.verbosity, 6);
        assert_eq!(a.common.setting("max-jobs"), Some("3"));
        assert_eq!(a.common.setting("show-trace"), Some("false"));
    }

    #[test]
    fn read_only_rules() {
        assert!(!parse_strs(&["f"]).unwrap().read_only);
        assert!(parse_strs(&["--dry-run"]).unwrap().read_only);
        assert!(parse_strs(&["--readonly-mode"]).unwrap().read_only);
        assert!(parse_strs(&["--eval"]).unwrap().read_only);
        assert!(
            !parse_strs(&["--eval", "--read-write-mode"])
                .unwrap()
                .read_only
        );
    }

    #[test]
    fn settings_in_order() {
        let a = parse_strs(&[
            "--sandbox",
            "--no-sandbox",
            "--relaxed-sandbox",
            "--cores",
            "2K",
            "-k",
            "--extra-sandbox-paths",
            "s",
            "--quiet",
            "--quiet",
            "--quiet",
            "--quiet",
        ])
        .unwrap();
        let s: Vec<(&str, &str)> = a
            .common
            .settings
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            s,
            [
                ("sandbox", "true"),
                ("sandbox", "false"),
                ("sandbox", "relaxed"),
                ("cores", "2048"),
                ("keep-going", "true"),
                ("extra-sandbox-paths", "s"),
            ]
        );
        assert_eq!(a.common.verbosity, 0);
        // The command line reaches the typed settings.
        // `--extra-` appends to the default.
        assert_eq!(
            a.common.config.sandbox_paths.last().map(String::as_str),
            Some("s")
        );
        assert_eq!(
            a.common.config.sandbox,
            ferrix_store::settings::SandboxMode::Relaxed
        );
        assert_eq!(a.common.config.cores, 2048);
        assert!(a.common.config.keep_going);
    }

    #[test]
    fn settings_of_missing_features_are_refused_on_the_command_line() {
        // A separate build hook program is not how Ferrix builds remotely: asking for one
        // is an error, not silently ignored; builders and substituters are taken.
        assert!(parse_strs(&["--extra-substituters", "s"]).is_ok());
        assert_eq!(
            parse_strs(&["--option", "build-hook", "/bin/hook"]).err(),
            Some(1)
        );
        assert!(parse_strs(&["--option", "builders", "ssh://x"]).is_ok());
        assert!(parse_strs(&["--substituters", ""]).is_ok());
        assert!(parse_strs(&["--no-substitute"]).is_ok());
    }

    #[test]
    fn compound_attr_splits_like_nix() {
        // Nix reads `-Afoo` as `-A -f -o -o`; `-o` is not a nix-instantiate flag.
        assert_eq!(parse_strs(&["-Afoo"]), Err(1));
    }
}
