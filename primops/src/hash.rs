//! `hashString` and `hashFile`: MD5, SHA-1, SHA-256 and SHA-512 digests in base 16.

use crate::json::{c_str, string_no_context};
use crate::paths::real_path;
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{io_reason, Evaluator, Pos};
use sha2::Digest;
use std::io::Read;

pub static PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "hashString", arity: 2, func: hash_string, doc: "`hashString type s`: the base-16 hash of the string `s`, with `type` one of \"md5\", \"sha1\", \"sha256\" or \"sha512\"." },
    PrimOp { name: "hashFile", arity: 2, func: hash_file, doc: "`hashFile type p`: the base-16 hash of the file at path `p`, with `type` one of \"md5\", \"sha1\", \"sha256\" or \"sha512\"." },
];

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashType {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashType {
    /// The algorithm of a name as Nix spells it (lower case).
    pub fn parse(name: &[u8]) -> Option<HashType> {
        match name {
            b"md5" => Some(HashType::Md5),
            b"sha1" => Some(HashType::Sha1),
            b"sha256" => Some(HashType::Sha256),
            b"sha512" => Some(HashType::Sha512),
            _ => None,
        }
    }
}

/// A running hash of one of Nix's algorithms.
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(t: HashType) -> Self {
        match t {
            HashType::Md5 => Hasher::Md5(md5::Md5::new()),
            HashType::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashType::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashType::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// The digest of `data` in one go.
pub fn hash_bytes(t: HashType, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(t);
    h.update(data);
    h.finish()
}

/// Lower-case base 16.
pub fn base16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digest.len() * 2);
    for &b in digest {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// The hash type argument. An unknown name is a usage error in Nix 2.8, without a position.
fn hash_type<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<HashType> {
    let name = string_no_context(ev, t, pos)?;
    HashType::parse(name).ok_or_else(|| {
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
    Ok(ev.string(base16(&hash_bytes(t, c_str(s.bytes))).as_bytes()))
}

fn hash_file<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let t = hash_type(ev, args[0], pos)?;
    let path = real_path(ev, args[1], pos)?;
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
    Ok(ev.string(base16(&h.finish()).as_bytes()))
}
