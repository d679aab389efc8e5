//! `nix-instantiate`: `--parse` here; evaluation and instantiation in `eval_cmd`.

use crate::cli::InstantiateArgs;
use crate::parse_files::{self, Input};

/// Runs `nix-instantiate` with parsed arguments; returns the process exit status.
pub fn run(args: &InstantiateArgs) -> i32 {
    // As in Nix, `--find-file` wins over `--parse` and `--eval`.
    if !args.parse || args.find_file {
        return crate::eval_cmd::run(args);
    }
    let inputs: Vec<Input> = if args.expr {
        args.files.iter().cloned().map(Input::Expr).collect()
    } else if args.files.is_empty() {
        // As Nix: no file means ./default.nix.
        vec![Input::File("./default.nix".into())]
    } else {
        args.files
            .iter()
            .map(|f| {
                if f == "-" {
                    Input::Stdin
                } else {
                    Input::File(f.clone())
                }
            })
            .collect()
    };
    parse_files::run(inputs)
}
