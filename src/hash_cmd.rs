//! `ferrix hash` / `nix-hash`, with Nix 2.8's output byte for byte.

use crate::cli::hash::{HashArgs, HashOp};
use ferrix_store::hash::{Encoding, Hash, HashAlgo, Hasher};
use ferrix_store::nar;
use std::io::{self, Write};
use std::path::Path;

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
