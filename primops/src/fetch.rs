//! The fetchers of the evaluator: `fetchurl`, `fetchTarball` and `fetchGit`. The work
//! (HTTP, the download cache, unpacking, `git`) is the `fetch` crate's; these builtins
//! read the arguments, apply the pure and restricted rules, and name the results.

use crate::store_session::StoreSession;
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::policy::Mode;
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use ferrix_fetch::git::{parse_rev, GitInput, GitTree};
use ferrix_fetch::{FetchEvent, Fetcher};
use ferrix_store::path::Ingestion;
use ferrix_store::{Hash, HashAlgo};
use std::collections::BTreeSet;

pub static PRIMOPS: &[PrimOp] = &[
    PrimOp { name: "fetchurl", arity: 1, transient: 0, func: fetchurl, doc: "`fetchurl url` or `fetchurl { url, sha256 ? null, name ? baseNameOf url }`: downloads a file into the store and returns its path." },
    PrimOp { name: "fetchTarball", arity: 1, transient: 0, func: fetch_tarball, doc: "`fetchTarball url` or `fetchTarball { url, sha256 ? null, name ? \"source\" }`: downloads and unpacks an archive, and returns the path of its single top-level directory in the store." },
    PrimOp { name: "fetchGit", arity: 1, transient: 0, func: fetch_git, doc: "`fetchGit url` or `fetchGit { url, ref ? null, rev ? null, name ? \"source\", submodules ? false, shallow ? false, allRefs ? false }`: a revision of a Git repository in the store, with `rev`, `shortRev`, `revCount`, `lastModified`, `lastModifiedDate`, `narHash` and `submodules`." },
];

/// Nix's log level for warnings.
const LVL_WARN: u8 = 1;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An error that Nix raises without a position (`throw Error(…)`).
fn plain(msg: impl Into<String>) -> Box<EvalError> {
    EvalError::new(ErrorKind::Eval, msg, None)
}

fn warn(ev: &Evaluator<'_>, msg: &str) {
    ev.log(LVL_WARN, format!("warning: {msg}").as_bytes());
}

/// The fetchers over the session's store, with its settings, reporting warnings
/// through the evaluator's log.
fn fetcher<'s>(ev: &'s Evaluator<'_>, session: &'s StoreSession) -> Fetcher<'s> {
    let mut f = Fetcher::new(
        session.fetch_store(),
        session.fetch_options.borrow().clone(),
    );
    f.on_event(move |e| {
        if let FetchEvent::Warn(m) = e {
            warn(ev, &m)
        }
    });
    f
}

/// `forceStringNoCtx`: a string that may not refer to store paths.
fn string_no_ctx<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<String> {
    let s = string(ev, t, pos)?;
    if let Some(c) = s.context.first() {
        return Err(throw(
            format!(
                "the string '{}' is not allowed to refer to a store path (such as '{}')",
                lossy(s.bytes),
                lossy(c)
            ),
            pos,
        ));
    }
    Ok(lossy(s.bytes))
}

/// Nix's `resolveUri`: `channel:NAME` is a channel tarball on nixos.org.
fn resolve_uri(url: &str) -> String {
    match url.strip_prefix("channel:") {
        Some(c) => format!("https://nixos.org/channels/{c}/nixexprs.tar.xz"),
        None => url.to_string(),
    }
}

/// A SHA-256 hash argument; an empty one is the all-zero hash, with Nix's warning.
fn hash_allow_empty(ev: &Evaluator<'_>, text: &str, pos: Pos) -> R<Hash> {
    if text.is_empty() {
        let h = Hash::zero(HashAlgo::Sha256);
        warn(ev, &format!("found empty hash, assuming '{}'", h.to_sri()));
        return Ok(h);
    }
    Hash::parse_any(text, Some(HashAlgo::Sha256)).map_err(|e| throw(e.to_string(), pos))
}

/// A store path as a string that depends on it; restricted evaluation may read it from
/// now on.
fn store_path_result<'a>(ev: &Evaluator<'a>, full: &str) -> Value<'a> {
    ev.allow_path(full.as_bytes());
    let s: &'a [u8] = ev.bump.alloc_slice_copy(full.as_bytes());
    ev.string_with_context(s, ev.bump.alloc_slice_copy(&[s]))
}

fn fetchurl<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    fetch(ev, args[0], pos, "fetchurl", false, "")
}

fn fetch_tarball<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    fetch(ev, args[0], pos, "fetchTarball", true, "source")
}

/// `fetchurl` and `fetchTarball`, as Nix 2.8's `fetch` does them.
fn fetch<'a>(
    ev: &Evaluator<'a>,
    arg: &'a Thunk<'a>,
    pos: Pos,
    who: &str,
    unpack: bool,
    default_name: &str,
) -> EvalResult<'a> {
    let mut url = None;
    let mut expected = None;
    let mut name = default_name.to_string();
    match ev.force(arg, pos)? {
        Value::Attrs(set) => {
            for a in set.attrs() {
                let key = ev.symbols.borrow().name(a.name).to_vec();
                match &key[..] {
                    b"url" => url = Some(string_no_ctx(ev, a.value, a.pos)?),
                    b"sha256" => {
                        let text = string_no_ctx(ev, a.value, a.pos)?;
                        expected = Some(hash_allow_empty(ev, &text, a.pos)?);
                    }
                    b"name" => name = string_no_ctx(ev, a.value, a.pos)?,
                    _ => {
                        return Err(throw(
                            format!("unsupported argument '{}' to '{who}'", lossy(&key)),
                            a.pos,
                        ))
                    }
                }
            }
            if url.is_none() {
                return Err(throw("'url' argument required", pos));
            }
        }
        _ => url = Some(string_no_ctx(ev, arg, pos)?),
    }
    let url = resolve_uri(&url.unwrap_or_default());
    ev.check_uri(&url)?;
    if name.is_empty() {
        name = lossy(crate::paths::base_name(url.as_bytes()));
    }
    if ev.access_mode() == Mode::Pure && expected.is_none() {
        return Err(plain(format!(
            "in pure evaluation mode, '{who}' requires a 'sha256' argument"
        )));
    }
    let session = StoreSession::of(ev, pos)?;
    let dir = session.dir();
    let method = if unpack {
        Ingestion::Recursive
    } else {
        Ingestion::Flat
    };
    // A path pinned by its hash that is already there is not fetched again.
    if let Some(h) = &expected {
        let p = dir
            .make_fixed_output_path(method, h, &name, &BTreeSet::new(), false)
            .map_err(|e| throw(e.to_string(), pos))?;
        if session.fetch_store().is_valid(&p).unwrap_or(false) {
            return Ok(store_path_result(ev, &dir.display(&p)));
        }
    }
    let f = fetcher(ev, session);
    let locked = expected.is_some();
    let fetched = if unpack {
        f.download_tarball(&url, &name, locked).map(|t| t.path)
    } else {
        f.download_file(&url, &name, locked).map(|d| d.path)
    };
    let path = fetched.map_err(|e| plain(e.to_string()))?;
    if let Some(want) = &expected {
        let got = if unpack {
            session
                .fetch_store()
                .query_path_info(&path)
                .map_err(|e| plain(e.to_string()))?
                .nar_hash
        } else {
            let real = session.fetch_store().real_path(&path);
            hash_file(&real).map_err(plain)?
        };
        if &got != want {
            return Err(plain(format!(
                "hash mismatch in file downloaded from '{url}':\n  specified: sha256:{}\n  got:       sha256:{}",
                want.to_nix32(),
                got.to_nix32()
            )));
        }
    }
    Ok(store_path_result(ev, &dir.display(&path)))
}

/// SHA-256 of a file's bytes, read in pieces.
fn hash_file(p: &std::path::Path) -> Result<Hash, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).map_err(|e| {
        format!(
            "opening file '{}': {}",
            p.display(),
            ferrix_store::io_reason(&e)
        )
    })?;
    let mut h = ferrix_store::hash::Hasher::new(HashAlgo::Sha256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| {
            format!(
                "reading file '{}': {}",
                p.display(),
                ferrix_store::io_reason(&e)
            )
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// Nix's `fixURI`: a URL without a scheme is a local file.
fn fix_uri(ev: &Evaluator<'_>, uri: &str) -> R<String> {
    ev.check_uri(uri)?;
    Ok(if uri.contains("://") {
        uri.to_string()
    } else {
        format!("file://{uri}")
    })
}

/// Nix's `fixURIForGit`: `user@host:path` (scp style) becomes `ssh://user@host/path`.
fn fix_uri_for_git(ev: &Evaluator<'_>, uri: &str) -> R<String> {
    if !uri.starts_with('/') {
        if let Some(at) = uri.find('@') {
            let user = &uri[..at];
            let rest = &uri[at + 1..];
            // The last ':' after the '@', as a greedy match finds it.
            if !user.contains('/') {
                if let Some(colon) = rest.rfind(':') {
                    let fixed = format!("{user}@{}/{}", &rest[..colon], &rest[colon + 1..]);
                    ev.check_uri(&fixed)?;
                    return Ok(if fixed.contains("://") {
                        fixed
                    } else {
                        format!("ssh://{fixed}")
                    });
                }
            }
        }
    }
    fix_uri(ev, uri)
}

fn fetch_git<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let mut input = GitInput {
        name: "source".into(),
        ..Default::default()
    };
    let mut nar_hash: Option<String> = None;
    let mut want_last_modified = None;
    let mut want_rev_count = None;
    match ev.force(args[0], pos)? {
        Value::Attrs(set) => {
            let mut url = None;
            for a in set.attrs() {
                let key = lossy(ev.symbols.borrow().name(a.name));
                if key == "type" {
                    return Err(throw("unexpected attribute 'type'", pos));
                }
                let v = ev.force(a.value, a.pos)?;
                enum Arg {
                    S(String),
                    B(bool),
                    I(i64),
                }
                let arg = match v {
                    Value::Str(_) | Value::Path(_) => {
                        let (s, _) = coerce(ev, a.value, a.pos, false, false)?;
                        let s = lossy(&s);
                        Arg::S(if key == "url" {
                            fix_uri_for_git(ev, &s)?
                        } else {
                            s
                        })
                    }
                    Value::Bool(b) => Arg::B(b),
                    Value::Int(n) => Arg::I(n),
                    other => {
                        return Err(plain(format!(
                            "fetchTree argument '{key}' is {} while a string, Boolean or integer is expected",
                            other.show_type()
                        )))
                    }
                };
                let wrong = |what: &str| plain(format!("attribute '{key}' should be {what}"));
                match (key.as_str(), arg) {
                    ("url", Arg::S(s)) => url = Some(s),
                    ("ref", Arg::S(s)) => input.git_ref = Some(s),
                    ("rev", Arg::S(s)) => {
                        input.rev = Some(parse_rev(&s).map_err(|e| plain(e.to_string()))?)
                    }
                    ("name", Arg::S(s)) => input.name = s,
                    ("narHash", Arg::S(s)) => nar_hash = Some(s),
                    ("submodules", Arg::B(b)) => input.submodules = b,
                    ("shallow", Arg::B(b)) => input.shallow = b,
                    ("allRefs", Arg::B(b)) => input.all_refs = b,
                    ("lastModified", Arg::I(n)) => want_last_modified = Some(n as u64),
                    ("revCount", Arg::I(n)) => want_rev_count = Some(n as u64),
                    ("url" | "ref" | "rev" | "name" | "narHash", _) => {
                        return Err(wrong("a string"))
                    }
                    ("submodules" | "shallow" | "allRefs", _) => return Err(wrong("a Boolean")),
                    ("lastModified" | "revCount", _) => return Err(wrong("an integer")),
                    _ => return Err(plain(format!("unsupported Git input attribute '{key}'"))),
                }
            }
            input.url = url.ok_or_else(|| plain("attribute 'url' is missing"))?;
        }
        _ => {
            let (s, _) = coerce(ev, args[0], pos, false, false)?;
            input.url = fix_uri_for_git(ev, &lossy(&s))?;
        }
    }
    if ev.access_mode() == Mode::Pure && input.rev.is_none() {
        return Err(plain(format!(
            "in pure evaluation mode, 'fetchTree' requires a locked input, at {}",
            ev.show_pos(pos)
        )));
    }
    let session = StoreSession::of(ev, pos)?;
    let dir = session.dir();
    let f = fetcher(ev, session);
    let dirty = *session.git_dirty.borrow();
    let shown = git_input_url(&input);
    let tree: GitTree = f.fetch_git(&input, dirty).map_err(|e| {
        plain(e.to_string()).with_frame(format!("while fetching the input '{shown}'"), None)
    })?;
    let info = session
        .fetch_store()
        .query_path_info(&tree.path)
        .map_err(|e| plain(e.to_string()))?;
    if let Some(want) = &nar_hash {
        let want_hash = if want.is_empty() {
            Hash::zero(HashAlgo::Sha256)
        } else {
            Hash::parse_any(want, Some(HashAlgo::Sha256)).map_err(|e| plain(e.to_string()))?
        };
        if want_hash != info.nar_hash {
            return Err(plain(format!(
                "NAR hash mismatch in input '{shown}' ({}), expected '{}', got '{}'",
                session.fetch_store().real_path(&tree.path).display(),
                want_hash.to_sri(),
                info.nar_hash.to_sri()
            )));
        }
    }
    if let Some(want) = want_last_modified {
        if want != tree.last_modified {
            return Err(plain(format!(
                "'lastModified' attribute mismatch in input '{shown}', expected {want}"
            )));
        }
    }
    if let Some(want) = want_rev_count {
        if Some(want) != tree.rev_count {
            return Err(plain(format!(
                "'revCount' attribute mismatch in input '{shown}', expected {want}"
            )));
        }
    }
    let full = dir.display(&tree.path);
    ev.allow_path(full.as_bytes());
    let out_path = store_path_result(ev, &full);
    // A dirty tree has the all-zero revision, as `fetchGit` has always said.
    let rev = tree.rev.clone().unwrap_or_else(|| "0".repeat(40));
    let attrs: Vec<(&str, Value<'a>)> = vec![
        ("outPath", out_path),
        ("narHash", ev.string(info.nar_hash.to_sri().as_bytes())),
        ("submodules", Value::Bool(input.submodules)),
        ("rev", ev.string(rev.as_bytes())),
        ("shortRev", ev.string(rev[..7].as_bytes())),
        ("revCount", Value::Int(tree.rev_count.unwrap_or(0) as i64)),
        ("lastModified", Value::Int(tree.last_modified as i64)),
        (
            "lastModifiedDate",
            ev.string(format_date(tree.last_modified).as_bytes()),
        ),
    ];
    let mut out: Vec<Attr<'a>> = attrs
        .into_iter()
        .map(|(k, v)| Attr {
            name: ev.intern(k.as_bytes()),
            value: ev.alloc_thunk(v),
            pos: Pos::NONE,
        })
        .collect();
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

/// How Nix shows a Git input in messages: `git+URL?ref=…&rev=…`.
fn git_input_url(input: &GitInput) -> String {
    let mut url = if input.url.starts_with("git://") {
        input.url.clone()
    } else {
        format!("git+{}", input.url)
    };
    let mut query = Vec::new();
    if let Some(r) = &input.git_ref {
        query.push(format!("ref={r}"));
    }
    if let Some(r) = &input.rev {
        query.push(format!("rev={r}"));
    }
    if input.shallow {
        query.push("shallow=1".into());
    }
    query.sort();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

/// `%Y%m%d%H%M%S` in UTC.
fn format_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "19700101000000");
        assert_eq!(format_date(1_700_000_000), "20231114221320");
        assert_eq!(format_date(951_782_400), "20000229000000");
    }

    #[test]
    fn channel_uris() {
        assert_eq!(
            resolve_uri("channel:nixos-21.11"),
            "https://nixos.org/channels/nixos-21.11/nixexprs.tar.xz"
        );
        assert_eq!(resolve_uri("https://x/y"), "https://x/y");
    }
}
