//! `ferrix hash` / `nix-hash`, with Nix 2.8's output byte for byte.

use crate::cli::{parse, scan::Spec, CommandSpec, CommonArgs, Invocation, Program};
use ferrix_store::hash::{Encoding, Hash, HashAlgo, Hasher};
use ferrix_store::nar;
use std::io::{self, Write};
use std::path::Path;

/// The clap side of `nix-hash`'s own flags.
#[derive(clap::Parser, Debug)]
#[command(
    override_usage = "nix-hash [OPTIONS] PATHS...\n       nix-hash [OPTIONS] --to-base16|--to-base32 HASHES..."
)]
pub(crate) struct Cli {
    /// Paths to hash, or with --to-base16/--to-base32, hashes to convert
    #[arg(value_name = "ARGS")]
    items: Vec<String>,
    /// Hash algorithm: md5 (default), sha1, sha256 or sha512
    #[arg(long = "type", value_name = "HASH-ALGO", allow_hyphen_values = true)]
    hash_type: Vec<String>,
    /// Hash the file's contents rather than its NAR serialisation
    #[arg(long = "flat")]
    flat: bool,
    /// Print the hash in Nix's base-32 encoding instead of hexadecimal
    #[arg(long = "base32")]
    base32: bool,
    /// Fold the hash to 160 bits
    #[arg(long = "truncate")]
    truncate: bool,
    /// Convert the given base-32 hashes to hexadecimal
    #[arg(long = "to-base16")]
    to_base16: bool,
    /// Convert the given hexadecimal hashes to base-32
    #[arg(long = "to-base32")]
    to_base32: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::Hash;
    const SPEC: Spec = Spec {
        getarg_ids: &["hash_type"],
        ..Spec::LEGACY
    };
    const EVAL_FLAGS: bool = false;
}

/// What `nix-hash` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashOp {
    /// Hash the given paths.
    #[default]
    Hash,
    /// `--to-base16`.
    ToBase16,
    /// `--to-base32`.
    ToBase32,
}

/// Everything `nix-hash` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HashArgs {
    /// The operation; the last of `--to-base16` / `--to-base32` wins, as in Nix.
    pub op: HashOp,
    /// Paths, or hashes to convert.
    pub items: Vec<String>,
    /// `--type` (the last one given); Nix's default is md5.
    pub hash_type: Option<String>,
    /// `--flat`.
    pub flat: bool,
    /// `--base32`.
    pub base32: bool,
    /// `--truncate`.
    pub truncate: bool,
    /// Verbosity, settings and the other shared flags.
    pub common: CommonArgs,
}

/// Parses `nix-hash`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<HashArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    let op = p
        .scan
        .seen
        .iter()
        .rev()
        .find_map(|s| match s.id.as_str() {
            "to_base16" => Some(HashOp::ToBase16),
            "to_base32" => Some(HashOp::ToBase32),
            _ => None,
        })
        .unwrap_or_default();
    let _ = (c.to_base16, c.to_base32);
    if let Some(t) = c
        .hash_type
        .iter()
        .find(|t| !matches!(t.as_str(), "md5" | "sha1" | "sha256" | "sha512"))
    {
        return Err(inv.usage_error(&format!("unknown hash algorithm '{t}'")));
    }
    Ok(HashArgs {
        op,
        items: c.items,
        hash_type: c.hash_type.last().cloned(),
        flat: c.flat,
        base32: c.base32,
        truncate: c.truncate,
        common: p.common,
    })
}

/// Entry point of `nix-hash`.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    match parse_args(inv, args) {
        Ok(a) => run(&a),
        Err(code) => code,
    }
}

fn hash_one(path: &str, algo: HashAlgo, flat: bool, case_hack: bool) -> Result<Hash, String> {
    let mut h = Hasher::new(algo);
    if flat {
        let mut f = std::fs::File::open(path)
            .map_err(|e| format!("opening file '{path}': {}", ferrix_store::io_reason(&e)))?;
        io::copy(&mut f, &mut h)
            .map_err(|e| format!("reading from file: {}", ferrix_store::io_reason(&e)))?;
    } else {
        nar::dump_with(Path::new(path), &mut h, &mut |_| Ok(true), case_hack)
            .map_err(|e| e.to_string())?;
    }
    Ok(h.finish())
}

/// Runs `nix-hash` with parsed arguments; returns the exit status.
pub fn run(a: &HashArgs) -> i32 {
    let algo = a
        .hash_type
        .as_deref()
        .and_then(HashAlgo::parse)
        .unwrap_or(HashAlgo::Md5);
    let mut out = io::stdout().lock();
    for item in &a.items {
        let line = match a.op {
            HashOp::Hash => {
                hash_one(item, algo, a.flat, a.common.config.use_case_hack).map(|mut h| {
                    if a.truncate && h.bytes.len() > 20 {
                        h.bytes = h.fold(20);
                    }
                    if a.base32 {
                        ferrix_store::nix32::encode(&h.bytes)
                    } else {
                        ferrix_store::hash::base16(&h.bytes)
                    }
                })
            }
            HashOp::ToBase16 | HashOp::ToBase32 => Hash::parse_any(item, Some(algo))
                .map(|h| {
                    h.encode(
                        if a.op == HashOp::ToBase16 {
                            Encoding::Base16
                        } else {
                            Encoding::Nix32
                        },
                        false,
                    )
                })
                .map_err(|e| e.to_string()),
        };
        match line {
            Ok(l) => {
                let _ = writeln!(out, "{l}");
            }
            Err(e) => {
                let _ = out.flush();
                let _ = writeln!(io::stderr(), "error: {e}");
                return 1;
            }
        }
    }
    0
}
