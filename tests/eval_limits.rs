//! Evaluation at the machine's limits ends as Nix 2.8 ends it, never with a signal:
//!
//! - running out of memory (under `ulimit -v`) prints `error: out of memory` and exits with
//!   status 1, with or without `RUST_BACKTRACE`;
//! - values nested deeper than Nix's stack allows are walked (Ferrix grows its stack), and
//!   endlessly deep ones end with `stack overflow (possible infinite recursion)`.
//!
//! The cyclic and endlessly deep cases Nix 2.8 defines are in the golden corpus
//! (`tests/eval/{ok,fail}/stack-*.nix`).

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

/// `ferrix instantiate --eval --strict -E expr` with the address space limited to
/// `limit_kib` (none if 0).
fn eval_limited(expr: &str, limit_kib: u64, backtrace: bool) -> Output {
    let limit = if limit_kib == 0 {
        String::new()
    } else {
        format!("ulimit -v {limit_kib} && ")
    };
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{limit}exec \"$0\" instantiate --eval --strict --readonly-mode -E \"$1\""
        ))
        .arg(BIN)
        .arg(expr)
        .env("NIX_REMOTE", "dummy://")
        .env("RUST_BACKTRACE", if backtrace { "1" } else { "0" })
        .output()
        .expect("run ferrix under bash")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 600 MiB of address space: ample for the binary and a small evaluation.
const LIMIT: u64 = 600 * 1024;

#[test]
fn running_out_of_memory_is_nix_error() {
    let cases = [
        // One huge list: the arena cannot get its chunk.
        "builtins.length (builtins.genList (x: x) 100000000)",
        // Many small values, until the limit is reached.
        "let l = builtins.genList (x: { a = x; b = [ x x ]; }) 30000000; \
         in builtins.deepSeq l (builtins.length l)",
        // A string that outgrows the address space.
        "builtins.stringLength (builtins.concatStringsSep \"\" \
         (builtins.genList (x: \"0123456789abcdefghijklmnopqrstuvwxyz\") 50000000))",
    ];
    for expr in cases {
        for backtrace in [false, true] {
            let o = eval_limited(expr, LIMIT, backtrace);
            assert_eq!(
                (o.status.code(), text(&o.stderr).as_str()),
                (Some(1), "error: out of memory\n"),
                "{expr} (RUST_BACKTRACE={backtrace}): stdout {}",
                text(&o.stdout)
            );
        }
    }
    // The same binary under the same limit evaluates what fits.
    let o = eval_limited(
        "builtins.length (builtins.genList (x: x) 1000)",
        LIMIT,
        false,
    );
    assert_eq!(text(&o.stdout), "1000\n", "{}", text(&o.stderr));
}

/// A million levels: Nix 2.8 runs out of stack on all of these ("stack overflow"); Ferrix
/// grows its stack up to its budget and gives the answer (an optimised build does), or ends
/// with Nix's message where its frames are larger (a debug build). Never a signal.
#[test]
fn a_million_levels_end_in_an_answer_or_nix_error() {
    let deep = |name: &str| {
        format!("{name} = builtins.foldl' (acc: _: [ acc ]) [ ] (builtins.genList (x: x) 1000000);")
    };
    for walk in ["d == e", "builtins.lessThan d e", "builtins.deepSeq d 1"] {
        let expr = format!("let {} {} in {walk}", deep("d"), deep("e"));
        let o = eval_limited(&expr, 0, false);
        let got = (o.status.code(), text(&o.stdout), text(&o.stderr));
        let overflow = "error: stack overflow (possible infinite recursion)\n";
        assert!(
            matches!(&got, (Some(0), out, err) if !out.is_empty() && err.is_empty())
                || matches!(&got, (Some(1), out, err) if out.is_empty() && err == overflow),
            "{walk}: {got:?}"
        );
    }
}
