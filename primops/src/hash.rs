//! `hashString` and `hashFile`: MD5, SHA-1, SHA-256 and SHA-512 digests in base 16 (the
//! hashing itself is the store crate's).

use crate::builtin::{prefixed, Builtin};
use crate::json::{c_str, string_no_context};
use crate::paths::realise_path;
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{io_reason, Evaluator, Pos};
use ferrix_store::hash::{Hash, HashAlgo, Hasher};
use std::io::Read;

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "hashString",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: hash_string,
        doc: "hashString type s

The hash of the string `s`, in base-16. `type` is one of \"md5\", \"sha1\", \"sha256\"
and \"sha512\".

  hashString \"sha1\" \"\"   # \"da39a3ee5e6b4b0d3255bfef95601890afd80709\"",
    }),
    prefixed(PrimOp {
        name: "hashFile",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: hash_file,
        doc: "hashFile type path

The hash of the file at `path`, in base-16. `type` is one of \"md5\", \"sha1\",
\"sha256\" and \"sha512\".",
    }),
];

/// The hash type argument. An unknown name is a usage error in Nix 2.8, without a position.
fn hash_type<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<HashAlgo> {
    let name = string_no_context(ev, t, pos)?;
    HashAlgo::parse(&String::from_utf8_lossy(name)).ok_or_else(|| {
        EvalError::new(
            ErrorKind::Eval,
            format!("unknown hash algorithm '{}'", String::from_utf8_lossy(name)),
            None,
        )
    })
}

fn hash_string<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let t = hash_type(ev, args[0], pos)?;
    // The string's context is discarded.
    let s = string(ev, args[1], pos)?;
    Ok(ev.string(Hash::of(t, c_str(s.bytes)).to_base16().as_bytes()))
}

fn hash_file<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let t = hash_type(ev, args[0], pos)?;
    let path = realise_path(ev, args[1], pos, true)?;
    let fail = |m: String| EvalError::new(ErrorKind::Eval, m, None);
    let mut file = std::fs::File::open(&path).map_err(|e| {
        fail(format!(
            "opening file '{}': {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let mut h = Hasher::new(t);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(format!("reading from file: {}", io_reason(&e)))),
        }
    }
    Ok(ev.string(h.finish().to_base16().as_bytes()))
}
