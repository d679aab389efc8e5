//! Builtins that put things into the store or name store paths: `toFile`, `path`,
//! `filterSource`, `storePath` and `placeholder`.

use crate::builtin::{plain, prefixed, Builtin};
use crate::paths::base_name;
use crate::store_session::StoreSession;
use crate::util::*;
use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::policy::Mode;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use ferrix_store::path::Ingestion;
use ferrix_store::{Hash, HashAlgo, StorePath};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "toFile",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: to_file,
        doc: "toFile name contents

Writes `contents` to a file called `name` in the Nix store and returns its path.
`contents` may refer to other store paths (they become references of the file) but not
to derivation outputs.",
    }),
    plain(PrimOp {
        name: "placeholder",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: placeholder,
        doc: "placeholder output

A string that stands for the store path of output `output` of the derivation being
defined; the builder sees the real path in its place.",
    }),
    prefixed(PrimOp {
        name: "storePath",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: store_path,
        doc: "storePath path

Turns a store path given as a string into a string that depends on that path, checking
that it exists in the store.",
    }),
    prefixed(PrimOp {
        name: "path",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: path,
        doc: "path { path; name ? ...; filter ? ...; sha256 ? ...; recursive ? true; }

Copies a path into the Nix store, like `filterSource` but with a chosen name and an
optional expected hash.",
    }),
    prefixed(PrimOp {
        name: "filterSource",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: filter_source,
        doc: "filterSource pred path

Copies `path` into the Nix store, keeping only the files and directories for which
`pred fullPath type` returns true.",
    }),
];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store path string that refers to itself.
fn store_path_value<'a>(ev: &Evaluator<'a>, full: &[u8]) -> Value<'a> {
    let s: &'a [u8] = ev.bump().alloc_slice_copy(full);
    ev.string_with_context(s, ev.bump().alloc_slice_copy(&[s]))
}

fn to_file<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let name = string(ev, args[0], pos)?;
    if let Some(c) = name.context.first() {
        return Err(throw(
            format!(
                "the string '{}' is not allowed to refer to a store path (such as '{}')",
                lossy(name.bytes),
                lossy(c)
            ),
            pos,
        ));
    }
    let contents = string(ev, args[1], pos)?;
    let session = StoreSession::of(ev, pos)?;
    let mut refs = BTreeSet::new();
    for c in contents.context {
        if !c.starts_with(b"/") {
            return Err(throw(
                format!(
                    "in 'toFile': the file named '{}' must not contain a reference to a derivation but contains ({})",
                    lossy(name.bytes),
                    lossy(c)
                ),
                pos,
            ));
        }
        refs.insert(parse_store_path(session, c, pos)?);
    }
    let p = session
        .add_text(&lossy(name.bytes), contents.bytes, refs)
        .map_err(|e| throw(e.to_string(), pos))?;
    Ok(store_path_value(ev, session.dir().display(&p).as_bytes()))
}

fn parse_store_path(session: &StoreSession, p: &[u8], pos: Pos) -> R<StorePath> {
    session
        .dir()
        .parse(&lossy(p))
        .map_err(|e| throw(e.to_string(), pos))
}

/// `/` and the Nix32 of sha256 of `nix-output:<name>`.
pub use ferrix_store::derivation::hash_placeholder;

fn placeholder<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (name, _) = coerce(ev, args[0], pos, false, false)?;
    Ok(ev.string(hash_placeholder(&name).as_bytes()))
}

fn store_path<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    if ev.access_mode() == Mode::Pure {
        return Err(EvalError::eval(
            "'builtins.storePath' is not allowed in pure evaluation mode",
            pos,
        ));
    }
    let (p, mut ctx) = coerce_path(ev, args[0], pos)?;
    ev.check_source_path(Path::new(OsStr::from_bytes(&p)))?;
    let session = StoreSession::of(ev, pos)?;
    let dir = session.dir();
    let text = lossy(&p);
    // A symlink directly in the store stays as it is; other paths are resolved.
    let path = if dir.parse(&text).is_ok() {
        text
    } else {
        match std::fs::canonicalize(&text) {
            Ok(c) => c.to_string_lossy().into_owned(),
            Err(_) => text,
        }
    };
    let (sp, _) = dir
        .split(&path)
        .map_err(|_| throw(format!("path '{path}' is not in the Nix store"), pos))?;
    let full: &'a [u8] = ev.bump().alloc_slice_copy(dir.display(&sp).as_bytes());
    ctx.push(full);
    Ok(string_value(ev, path.as_bytes(), ctx))
}

/// `coerceToPath`: a string or path that must be absolute.
fn coerce_path<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<(Vec<u8>, Vec<&'a [u8]>)> {
    let (p, ctx) = coerce(ev, t, pos, false, false)?;
    if !p.starts_with(b"/") {
        return Err(throw(
            format!("string '{}' doesn't represent an absolute path", lossy(&p)),
            pos,
        ));
    }
    Ok((p, ctx))
}

fn filter_source<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (p, _) = coerce_path(ev, args[1], pos)?;
    let f = ev.force(args[0], pos)?;
    if !matches!(f, Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)) && !is_functor(ev, f)
    {
        return Err(throw(
            format!(
                "first argument in call to 'filterSource' is not a function but {}",
                f.show_type()
            ),
            pos,
        ));
    }
    let name = lossy(base_name(&p));
    add_path(ev, pos, &name, &p, Some(f), Ingestion::Recursive, None)
}

fn is_functor<'a>(ev: &Evaluator<'a>, v: Value<'a>) -> bool {
    matches!(v, Value::Attrs(s) if s.get(ev.syms().functor).is_some())
}

fn path<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[0], pos)?;
    let mut src = None;
    let mut name = Vec::new();
    let mut filter = None;
    let mut method = Ingestion::Recursive;
    let mut expected = None;
    for a in set.attrs() {
        let key = ev.symbols().name(a.name).to_vec();
        match &key[..] {
            b"path" => src = Some(coerce_path(ev, a.value, a.pos)?.0),
            b"name" => {
                let s = string(ev, a.value, a.pos)?;
                if let Some(c) = s.context.first() {
                    return Err(throw(
                        format!(
                            "the string '{}' is not allowed to refer to a store path (such as '{}')",
                            lossy(s.bytes),
                            lossy(c)
                        ),
                        a.pos,
                    ));
                }
                name = s.bytes.to_vec();
            }
            b"filter" => filter = Some(ev.force(a.value, pos)?),
            b"recursive" => {
                method = if bool(ev, a.value, a.pos)? {
                    Ingestion::Recursive
                } else {
                    Ingestion::Flat
                }
            }
            b"sha256" => {
                let s = string(ev, a.value, a.pos)?;
                let text = lossy(s.bytes);
                expected = Some(if text.is_empty() {
                    Hash::zero(HashAlgo::Sha256)
                } else {
                    Hash::parse_any(&text, Some(HashAlgo::Sha256))
                        .map_err(|e| throw(e.to_string(), a.pos))?
                });
            }
            _ => {
                return Err(throw(
                    format!("unsupported argument '{}' to 'addPath'", lossy(&key)),
                    a.pos,
                ))
            }
        }
    }
    let Some(src) = src else {
        return Err(throw("'path' required", pos));
    };
    if name.is_empty() {
        name = base_name(&src).to_vec();
    }
    add_path(ev, pos, &lossy(&name), &src, filter, method, expected)
}

fn add_path<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    name: &str,
    src: &[u8],
    filter: Option<Value<'a>>,
    method: Ingestion,
    expected: Option<Hash>,
) -> EvalResult<'a> {
    let session = StoreSession::of(ev, pos)?;
    let dir = session.dir();
    let frame =
        |e: Box<EvalError>| e.with_frame(format!("while adding path '{}'", lossy(src)), Some(pos));
    let expected_path = match &expected {
        Some(h) => Some(
            dir.make_fixed_output_path(method, h, name, &BTreeSet::new(), false)
                .map_err(|e| frame(throw(e.to_string(), pos)))?,
        ),
        None => None,
    };
    if let Some(p) = &expected_path {
        if session.store.is_valid(p).unwrap_or(false) {
            return Ok(store_path_value(ev, dir.display(p).as_bytes()));
        }
    }
    // Pure evaluation may add a path whose hash it is given; otherwise the policy decides.
    let checked;
    let src: &[u8] = if ev.access_mode() == Mode::Pure && expected.is_some() {
        src
    } else {
        checked = ev
            .check_source_path(Path::new(OsStr::from_bytes(src)))
            .map_err(frame)?;
        checked.as_os_str().as_bytes()
    };
    // The filter's own errors are kept here while the store sees a plain failure.
    let failure: RefCell<Option<Box<EvalError>>> = RefCell::new(None);
    let mut call_filter = |p: &Path| -> std::io::Result<bool> {
        let Some(f) = filter else { return Ok(true) };
        let kind: &[u8] = match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_file() => b"regular",
            Ok(m) if m.is_dir() => b"directory",
            Ok(m) if m.file_type().is_symlink() => b"symlink",
            _ => b"unknown",
        };
        let a = ev.alloc_thunk(ev.string(p.as_os_str().as_bytes()));
        let b = ev.alloc_thunk(ev.string(kind));
        match call2(ev, f, a, b, pos).and_then(|r| match r {
            Value::Bool(x) => Ok(x),
            other => type_error(other, "a Boolean", pos),
        }) {
            Ok(keep) => Ok(keep),
            Err(e) => {
                *failure.borrow_mut() = Some(e);
                Err(std::io::Error::other("the filter failed"))
            }
        }
    };
    let added = session.store.add_path(
        name,
        Path::new(OsStr::from_bytes(src)),
        method,
        HashAlgo::Sha256,
        &mut call_filter,
    );
    if let Some(e) = failure.into_inner() {
        return Err(frame(e));
    }
    let p = added.map_err(|e| frame(throw(e.to_string(), pos)))?;
    if let Some(want) = expected_path {
        if want != p {
            // A plain error in Nix, without a position.
            return Err(frame(EvalError::new(
                ferrix_eval::error::ErrorKind::Eval,
                format!(
                    "store path mismatch in (possibly filtered) path added from '{}'",
                    lossy(src)
                ),
                None,
            )));
        }
    }
    let full = dir.display(&p);
    ev.allow_path(full.as_bytes());
    Ok(store_path_value(ev, full.as_bytes()))
}
