//! `nix-instantiate`: `--parse` here; evaluation and instantiation in `eval_cmd`.

use crate::cli::InstantiateArgs;
use crate::parse_files::{self, Input};

/// Runs `nix-instantiate` with parsed arguments; returns the process exit status.
pub fn run(args: &InstantiateArgs) -> i32 {
    // As in Nix, `--find-file` wins over `--parse` and `--eval`.
    if !args.parse || args.find_file {
        return crate::eval_cmd::run(args);
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
