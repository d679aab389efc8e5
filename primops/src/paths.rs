//! Builtins on files and paths: `import`, the search path, reading files and directories.

use crate::builtin::{plain, prefixed, Builtin};
use crate::store_session::StoreSession;
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{io_reason, Evaluator, Pos};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub static BUILTINS: &[Builtin] = &[
    plain(PrimOp {
        name: "import",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: import,
        doc: "import path

Reads the Nix file at `path` (or `path/default.nix` for a directory), evaluates it and
returns its value. A file is parsed and evaluated once; later imports share the result.",
    }),
    plain(PrimOp {
        name: "scopedImport",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: scoped_import,
        doc: "scopedImport scope path

Like `import`, but evaluates the file with the attributes of the set `scope` as extra
variables in scope (they can also override builtins). The result is not cached.",
    }),
    prefixed(PrimOp {
        name: "findFile",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: find_file,
        doc: "findFile searchPath name

Looks `name` up in a search path (a list of `{ prefix; path; }` sets, like `nixPath`) and
returns the path found. `<nixpkgs/lib>` is shorthand for
`findFile nixPath \"nixpkgs/lib\"`.",
    }),
    prefixed(PrimOp {
        name: "pathExists",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: path_exists,
        doc: "pathExists path

True if the file or directory `path` exists.",
    }),
    prefixed(PrimOp {
        name: "readFile",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: read_file,
        doc: "readFile path

The contents of the file at `path`, as a string.",
    }),
    prefixed(PrimOp {
        name: "readDir",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: read_dir,
        doc: "readDir path

The entries of the directory `path`, as a set from each name to its type: \"regular\",
\"directory\", \"symlink\" or \"unknown\".",
    }),
    plain(PrimOp {
        name: "baseNameOf",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: base_name_of,
        doc: "baseNameOf s

The last component of a path or string: everything after the final `/` (a trailing `/` is
ignored).

  baseNameOf \"/a/b/c.nix\"   # \"c.nix\"",
    }),
    plain(PrimOp {
        name: "dirOf",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: dir_of,
        doc: "dirOf s

Everything before the last `/` of a path or string: its directory. A path gives a path,
a string gives a string.

  dirOf /a/b/c.nix   # /a/b",
    }),
    prefixed(PrimOp {
        name: "toPath",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: to_path,
        doc: "toPath s

Deprecated: converts an absolute path given as a string into a string, after normalising
it. Use `/. + s` to get a real path.",
    }),
];

/// The path an argument names: a path value, or a string holding an absolute path.
pub fn real_path<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<PathBuf> {
    let (bytes, _) = coerce(ev, t, pos, false, false)?;
    if !bytes.starts_with(b"/") {
        return Err(throw(
            format!(
                "string '{}' doesn't represent an absolute path",
                String::from_utf8_lossy(&bytes)
            ),
            pos,
        ));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
        &ferrix_parser::actions::canon_path(&bytes),
    )))
}

/// Nix's `realisePath`: the path an argument names, after building the derivation
/// outputs its context names (import from derivation), mapped to where the store keeps
/// its bytes, and checked against restricted or pure evaluation when `check`.
pub fn realise_path<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos, check: bool) -> R<PathBuf> {
    let (bytes, ctx) = coerce(ev, t, pos, false, false)?;
    if !bytes.starts_with(b"/") {
        return Err(throw(
            format!(
                "string '{}' doesn't represent an absolute path",
                String::from_utf8_lossy(&bytes)
            ),
            pos,
        ));
    }
    // As given, as Nix 2.8 uses it: `"${./file}/"` or `"${./file}/.."` does not exist,
    // since the file is no directory.
    let mut path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    let frame = || {
        format!(
            "while realising the context of path '{}'",
            String::from_utf8_lossy(&bytes)
        )
    };
    if !ctx.is_empty() {
        let session = StoreSession::of(ev, pos)?;
        let readable = session
            .realise_context(&ctx)
            .map_err(|m| EvalError::new(ErrorKind::Eval, m, None).with_frame(frame(), Some(pos)))?;
        let dir = session.dir();
        for p in readable {
            ev.allow_path(&p);
            if let Ok(sp) = dir.parse(&String::from_utf8_lossy(&p)) {
                ev.allow_path(session.store.real_path(&sp).as_os_str().as_bytes());
            }
        }
        // Nix's `toRealPath`: a store path with context is read where the store keeps it.
        let canon = ferrix_parser::actions::canon_path(&bytes);
        let text = String::from_utf8_lossy(&canon);
        if let Ok((sp, rest)) = dir.split(&text) {
            let mut real = session.store.real_path(&sp).into_os_string().into_vec();
            real.extend_from_slice(rest.as_bytes());
            path = PathBuf::from(std::ffi::OsString::from_vec(real));
        }
    }
    if check {
        path = ev
            .check_source_path(&path)
            .map_err(|e| e.with_frame(frame(), Some(pos)))?;
    }
    Ok(path)
}

fn import<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let path = realise_path(ev, args[0], pos, true)?;
    let t = ev.import_file(&path, Some(pos))?;
    ev.force(t, pos)
}

fn scoped_import<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let scope = attrs(ev, args[0], pos)?;
    let path = realise_path(ev, args[1], pos, true)?;
    ev.scoped_import(scope, &path, pos)
}

fn find_file<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let search = list(ev, args[0], pos)?;
    let name = string(ev, args[1], pos)?.bytes;
    let prefix_sym = ev.intern(b"prefix");
    for t in search.items {
        let entry = attrs(ev, t, pos)?;
        let prefix = match entry.get(prefix_sym) {
            Some(p) => string(ev, p.value, pos)?.bytes,
            None => b"",
        };
        let p = required_attr(ev, "findFile", entry, b"path", pos)?;
        let (mut base, ctx) = coerce(ev, p.value, pos, false, false)?;
        if !ctx.is_empty() {
            let session = StoreSession::of(ev, pos)?;
            match session.realise_context(&ctx) {
                Ok(readable) => readable.iter().for_each(|p| ev.allow_path(p)),
                Err(m) if m.ends_with("is not valid") => {
                    let bad = m
                        .strip_prefix("path '")
                        .and_then(|r| r.strip_suffix("' is not valid"))
                        .unwrap_or_default();
                    return Err(EvalError::eval(
                        format!(
                            "cannot find '{}', since path '{bad}' is not valid",
                            String::from_utf8_lossy(&base)
                        ),
                        pos,
                    ));
                }
                Err(m) => return Err(EvalError::new(ErrorKind::Eval, m, None)),
            }
        }
        let uri = std::str::from_utf8(&base)
            .ok()
            .filter(|b| ferrix_store::settings::is_uri(b))
            .map(str::to_string);
        // Relative entries (`-I dir`) are relative to the working directory.
        if uri.is_none() && !base.starts_with(b"/") {
            let mut abs = std::env::current_dir()
                .map(|d| d.into_os_string().into_vec())
                .unwrap_or_else(|_| b"/".to_vec());
            abs.push(b'/');
            abs.extend_from_slice(&base);
            base = abs;
        }
        let rest: &[u8] = if prefix.is_empty() {
            name
        } else if name == prefix {
            b""
        } else if name.starts_with(prefix) && name.get(prefix.len()) == Some(&b'/') {
            &name[prefix.len() + 1..]
        } else {
            continue;
        };
        // A URI is downloaded (once) when a lookup first reaches it.
        if let Some(u) = &uri {
            match crate::fetch::resolve_search_uri(ev, u)? {
                Some(tree) => base = tree,
                None => continue,
            }
        }
        let mut candidate = base.clone();
        if !rest.is_empty() {
            candidate.push(b'/');
            candidate.extend_from_slice(rest);
        }
        let candidate = ferrix_parser::actions::canon_path(&candidate);
        if Path::new(std::ffi::OsStr::from_bytes(&candidate)).exists() {
            let found = Path::new(std::ffi::OsStr::from_bytes(&candidate));
            let checked = ev.check_source_path(found)?;
            return Ok(ev.path_value(checked.as_os_str().as_bytes()));
        }
    }
    // Nix's own files (`<nix/fetchurl.nix>`) live under a virtual prefix.
    if let Some(rest) = name.strip_prefix(b"nix/") {
        let mut p = b"/__corepkgs__/".to_vec();
        p.extend_from_slice(rest);
        return Ok(ev.path_value(&p));
    }
    // A thrown error, so `tryEval` catches it.
    Err(EvalError::new(
        ErrorKind::Throw,
        format!(
            "file '{}' was not found in the Nix search path (add it using $NIX_PATH or -I)",
            String::from_utf8_lossy(name)
        ),
        Some(pos),
    ))
}

fn path_exists<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    // A path restricted evaluation may not see does not exist, rather than being an
    // error (but evaluating the argument still may fail).
    let path = realise_path(ev, args[0], pos, false)?;
    match ev.check_source_path(&path) {
        Ok(p) => Ok(Value::Bool(std::fs::symlink_metadata(p).is_ok())),
        Err(_) => Ok(Value::Bool(false)),
    }
}

fn read_file<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let logical = real_path(ev, args[0], pos)?;
    let path = realise_path(ev, args[0], pos, true)?;
    match std::fs::read(&path) {
        Ok(bytes) => {
            // A file in the store depends on what its store path refers to.
            let mut context: Vec<&'a [u8]> = Vec::new();
            if let Some(session) = ev
                .store()
                .and_then(|h| h.as_any().downcast_ref::<StoreSession>())
            {
                let dir = session.dir();
                if let Ok((sp, _)) = dir.split(&logical.to_string_lossy()) {
                    if let Ok(refs) = session.references(&sp) {
                        for r in refs {
                            context.push(ev.bump().alloc_slice_copy(dir.display(&r).as_bytes()));
                        }
                    }
                }
            }
            if context.is_empty() {
                Ok(ev.string(&bytes))
            } else {
                Ok(ev.string_with_context(&bytes, ev.bump().alloc_slice_copy(&context)))
            }
        }
        Err(e) => Err(throw(
            format!("opening file '{}': {}", path.display(), io_reason(&e)),
            pos,
        )),
    }
}

fn read_dir<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let path = realise_path(ev, args[0], pos, true)?;
    let entries = std::fs::read_dir(&path).map_err(|e| {
        throw(
            format!("opening directory '{}': {}", path.display(), io_reason(&e)),
            pos,
        )
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            throw(
                format!("reading directory '{}': {}", path.display(), io_reason(&e)),
                pos,
            )
        })?;
        let kind: &[u8] = match entry.file_type() {
            Ok(t) if t.is_symlink() => b"symlink",
            Ok(t) if t.is_dir() => b"directory",
            Ok(t) if t.is_file() => b"regular",
            _ => b"unknown",
        };
        out.push(Attr {
            name: ev.intern(entry.file_name().as_bytes()),
            value: ev.alloc_thunk(ev.string(kind)),
            pos,
        });
    }
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

/// Nix's `baseNameOf`: the part after the last slash, ignoring one trailing slash.
pub fn base_name(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"/").unwrap_or(s);
    match s.iter().rposition(|&c| c == b'/') {
        Some(i) => &s[i + 1..],
        None => s,
    }
}

/// Nix's `dirOf`: everything before the last slash, `/` for the root, `.` with no slash.
pub fn dir_name(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/",
        Some(i) => &s[..i],
        None => b".",
    }
}

fn base_name_of<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let (s, ctx) = coerce(ev, args[0], pos, false, false)?;
    Ok(string_value(ev, base_name(&s), ctx))
}

fn dir_of<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    match ev.force(args[0], pos)? {
        Value::Path(p) => Ok(ev.path_value(dir_name(p.bytes))),
        _ => {
            let (s, ctx) = coerce(ev, args[0], pos, false, false)?;
            Ok(string_value(ev, dir_name(&s), ctx))
        }
    }
}

fn to_path<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let path = real_path(ev, args[0], pos)?;
    Ok(ev.string(path.as_os_str().as_bytes()))
}
