//! The fetchers of the evaluator: `fetchurl`, `fetchTarball`, `fetchGit` and
//! `fetchMercurial`. The work (HTTP, the download cache, unpacking, `git`, `hg`) is the
//! `fetch` crate's; these builtins
//! read the arguments, apply the pure and restricted rules, and name the results.

use crate::builtin::{self, prefixed, Builtin};
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

pub static BUILTINS: &[Builtin] = &[
    prefixed(PrimOp {
        name: "fetchurl",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: fetchurl,
        doc: "fetchurl url

Downloads a file into the Nix store and returns its path. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    }),
    builtin::plain(PrimOp {
        name: "fetchTarball",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: fetch_tarball,
        doc: "fetchTarball args

Downloads a tarball (a URL, or a set with `url` and optionally `sha256`), unpacks it into
the Nix store and returns the path. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    }),
    builtin::plain(PrimOp {
        name: "fetchTree",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: fetch_tree_primop,
        doc: "fetchTree input

Fetches a source tree described by a flake-style input into the Nix store. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    }),
    builtin::plain(PrimOp {
        name: "fetchMercurial",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: fetch_mercurial,
        doc: "fetchMercurial args

Fetches a Mercurial repository into the Nix store. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    }),
    builtin::plain(PrimOp {
        name: "fetchGit",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: fetch_git,
        doc: "fetchGit args

Fetches a Git repository (a URL, or a set with `url`, `rev`, `ref`, ...) into the Nix
store and returns a set describing the checkout. Not available in Ferrix yet: it needs network access, which arrives with its own issue.",
    }),
];

/// Nix's log level for warnings.
const LVL_WARN: u8 = 1;
/// Nix's `lvlTalkative` (`-v`).
const LVL_TALKATIVE: u8 = 4;

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
    f.on_event(move |e| match e {
        FetchEvent::Warn(m) => warn(ev, &m),
        // Nix's activity line for a transfer, shown from `-v` on.
        FetchEvent::Downloading(url) => {
            ev.log(LVL_TALKATIVE, format!("downloading '{url}'...").as_bytes())
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
fn hash_allow_empty(ev: &Evaluator<'_>, text: &str) -> R<Hash> {
    if text.is_empty() {
        let h = Hash::zero(HashAlgo::Sha256);
        warn(ev, &format!("found empty hash, assuming '{}'", h.to_sri()));
        return Ok(h);
    }
    // Nix reports a bad hash without a position.
    Hash::parse_any(text, Some(HashAlgo::Sha256)).map_err(|e| plain(e.to_string()))
}

/// A store path as a string that depends on it; restricted evaluation may read it from
/// now on.
fn store_path_result<'a>(ev: &Evaluator<'a>, full: &str) -> Value<'a> {
    ev.allow_path(full.as_bytes());
    let s: &'a [u8] = ev.bump().alloc_slice_copy(full.as_bytes());
    ev.string_with_context(s, ev.bump().alloc_slice_copy(&[s]))
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
                let key = ev.symbols().name(a.name).to_vec();
                match &key[..] {
                    b"url" => url = Some(string_no_ctx(ev, a.value, a.pos)?),
                    b"sha256" => {
                        let text = string_no_ctx(ev, a.value, a.pos)?;
                        expected = Some(hash_allow_empty(ev, &text)?);
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
            ))
            .with_exit_status(102));
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
    fetch_tree(ev, args[0], pos, Some("git"), true, true)
}

/// Nix 2.8's `fetchMercurial`: `rev` may name a revision (40 hexadecimal digits) or a
/// branch, tag or bookmark.
fn fetch_mercurial<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let mut input = ferrix_fetch::hg::HgInput {
        name: "source".into(),
        ..Default::default()
    };
    let url = match ev.force(args[0], pos)? {
        Value::Attrs(set) => {
            let mut url = String::new();
            for a in set.attrs() {
                let key = lossy(ev.symbols().name(a.name));
                match key.as_str() {
                    "url" => url = lossy(&coerce(ev, a.value, a.pos, false, false)?.0),
                    "rev" => {
                        let v = string_no_ctx(ev, a.value, a.pos)?;
                        if v.len() == 40 && v.bytes().all(|c| c.is_ascii_hexdigit()) {
                            input.rev = Some(v.to_ascii_lowercase());
                        } else {
                            input.hg_ref = Some(v);
                        }
                    }
                    "name" => input.name = string_no_ctx(ev, a.value, a.pos)?,
                    _ => {
                        return Err(throw(
                            format!("unsupported argument '{key}' to 'fetchMercurial'"),
                            a.pos,
                        ))
                    }
                }
            }
            if url.is_empty() {
                return Err(throw("'url' argument required", pos));
            }
            url
        }
        _ => lossy(&coerce(ev, args[0], pos, false, false)?.0),
    };
    input.url = fix_uri(ev, &url)?;
    if ev.access_mode() == Mode::Pure && input.rev.is_none() {
        return Err(plain(
            "in pure evaluation mode, 'fetchMercurial' requires a Mercurial revision",
        ));
    }
    let session = StoreSession::of(ev, pos)?;
    let f = fetcher(ev, session);
    let dirty = *session.git_dirty.borrow();
    // The input as Nix names it in the trace: `hg+<url>` with `rev` and `ref`.
    let mut shown = format!("hg+{}", input.url);
    let mut query = Vec::new();
    if let Some(r) = &input.hg_ref {
        query.push(format!("ref={r}"));
    }
    if let Some(r) = &input.rev {
        query.push(format!("rev={r}"));
    }
    if !query.is_empty() {
        shown.push('?');
        shown.push_str(&query.join("&"));
    }
    let tree = f.fetch_hg(&input, dirty).map_err(|e| {
        plain(e.to_string()).with_frame(format!("while fetching the input '{shown}'"), None)
    })?;
    let full = session.dir().display(&tree.path);
    // A working tree with changes has the all-zero revision, as in Nix.
    let rev = tree.rev.clone().unwrap_or_else(|| "0".repeat(40));
    let mut out: Vec<(&str, Value<'a>)> = vec![
        ("outPath", store_path_result(ev, &full)),
        ("shortRev", ev.string(&rev.as_bytes()[..12])),
        ("rev", ev.string(rev.as_bytes())),
    ];
    if let Some(b) = &tree.branch {
        out.push(("branch", ev.string(b.as_bytes())));
    }
    if let Some(n) = tree.rev_count {
        out.push(("revCount", Value::Int(n as i64)));
    }
    Ok(tree_attrs(ev, out))
}

fn fetch_tree_primop<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let session = StoreSession::of(ev, pos)?;
    if !session.experimental_flakes.get() {
        return Err(plain(
            "experimental Nix feature 'flakes' is disabled; use '--extra-experimental-features flakes' to override",
        ));
    }
    fetch_tree(ev, args[0], pos, None, false, false)
}

/// An input of `fetchTree`, as its attributes.
type InputAttrs = ferrix_fetch::cache::Attrs;
use ferrix_fetch::cache::AttrValue;

fn str_of<'i>(a: &'i InputAttrs, k: &str) -> Option<&'i str> {
    match a.get(k) {
        Some(AttrValue::Str(s)) => Some(s),
        _ => None,
    }
}

fn wrong_type(key: &str, what: &str) -> Box<EvalError> {
    plain(format!("attribute '{key}' should be {what}"))
}

/// Nix's `Input::fromURL`, for the schemes Ferrix fetches: `git+…` and archives over
/// `file`, `http` and `https`.
fn input_from_url(url: &str) -> R<InputAttrs> {
    let (scheme, _) = url.split_once("://").unwrap_or(("", url));
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let base = base.split('#').next().unwrap_or(base);
    let query = query.split('#').next().unwrap_or(query);
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let mut a = InputAttrs::new();
    if let Some(inner) = scheme.strip_prefix("git+") {
        a.insert("type".into(), "git".into());
        let mut rest = Vec::new();
        for (k, v) in params {
            match k {
                "rev" | "ref" => {
                    a.insert(k.into(), v.into());
                }
                "shallow" | "submodules" => {
                    a.insert(k.into(), (v == "1").into());
                }
                _ => rest.push(format!("{k}={v}")),
            }
        }
        let mut u = format!("{inner}{}", &base[scheme.len()..]);
        if !rest.is_empty() {
            u.push('?');
            u.push_str(&rest.join("&"));
        }
        a.insert("url".into(), u.into());
        return Ok(a);
    }
    let archive = [
        ".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst",
    ];
    if matches!(scheme, "file" | "http" | "https") && archive.iter().any(|s| base.ends_with(s)) {
        a.insert("type".into(), "tarball".into());
        a.insert("url".into(), url.into());
        if let Some((_, h)) = params.iter().find(|(k, _)| *k == "narHash") {
            a.insert("narHash".into(), percent_decode(h).into());
        }
        return Ok(a);
    }
    Err(plain(format!("input '{url}' is unsupported")))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(n) = u8::from_str_radix(hex, 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `narHash`: SRI (or any notation) SHA-256; empty is the zero hash.
fn parse_nar_hash(s: &str) -> R<Hash> {
    if s.is_empty() {
        return Ok(Hash::zero(HashAlgo::Sha256));
    }
    Hash::parse_any(s, Some(HashAlgo::Sha256)).map_err(|e| plain(e.to_string()))
}

/// Nix's `fetchTree` (and `fetchGit`, which is `fetchTree` of type `git` that accepts a
/// `name` and reports an all-zero revision for a dirty tree).
fn fetch_tree<'a>(
    ev: &Evaluator<'a>,
    arg: &'a Thunk<'a>,
    pos: Pos,
    fixed_type: Option<&str>,
    empty_rev_fallback: bool,
    allow_name: bool,
) -> EvalResult<'a> {
    let mut input = InputAttrs::new();
    match ev.force(arg, pos)? {
        Value::Attrs(set) => {
            let type_sym = ev.intern(b"type");
            let ty = match (set.get(type_sym), fixed_type) {
                (Some(_), Some(_)) => return Err(throw("unexpected attribute 'type'", pos)),
                (Some(a), None) => string_no_ctx(ev, a.value, a.pos)?,
                (None, Some(t)) => t.to_string(),
                (None, None) => {
                    return Err(throw(
                        "attribute 'type' is missing in call to 'fetchTree'",
                        pos,
                    ))
                }
            };
            input.insert("type".into(), ty.as_str().into());
            for a in set.attrs() {
                if a.name == type_sym {
                    continue;
                }
                let key = lossy(ev.symbols().name(a.name));
                let v = match ev.force(a.value, a.pos)? {
                    Value::Str(_) | Value::Path(_) => {
                        let (s, _) = coerce(ev, a.value, a.pos, false, false)?;
                        let s = lossy(&s);
                        AttrValue::Str(match (key.as_str(), ty.as_str()) {
                            ("url", "git") => fix_uri_for_git(ev, &s)?,
                            ("url", _) => fix_uri(ev, &s)?,
                            _ => s,
                        })
                    }
                    Value::Bool(b) => AttrValue::Bool(b),
                    Value::Int(n) => AttrValue::Int(n as u64),
                    other => {
                        return Err(plain(format!(
                            "fetchTree argument '{key}' is {} while a string, Boolean or integer is expected",
                            other.show_type()
                        )))
                    }
                };
                input.insert(key, v);
            }
            if !allow_name && input.contains_key("name") {
                return Err(throw(
                    "attribute 'name' isn't supported in call to 'fetchTree'",
                    pos,
                ));
            }
        }
        _ => {
            let (s, _) = coerce(ev, arg, pos, false, false)?;
            let s = lossy(&s);
            if fixed_type == Some("git") {
                input.insert("type".into(), "git".into());
                input.insert("url".into(), fix_uri_for_git(ev, &s)?.into());
            } else {
                input = input_from_url(&fix_uri(ev, &s)?)?;
            }
        }
    }
    match str_of(&input, "type") {
        Some("git") => fetch_git_input(ev, pos, &input, empty_rev_fallback),
        Some("tarball") => fetch_tarball_input(ev, pos, &input),
        _ => Err(plain(format!(
            "cannot fetch unsupported input '{}'",
            ferrix_fetch::cache::to_json(&input)
        ))),
    }
}

fn pure_refusal(ev: &Evaluator<'_>, pos: Pos) -> Box<EvalError> {
    plain(format!(
        "in pure evaluation mode, 'fetchTree' requires a locked input, at {}",
        ev.show_pos(pos)
    ))
}

/// The attribute set `fetchTree` returns.
fn tree_attrs<'a>(ev: &Evaluator<'a>, attrs: Vec<(&str, Value<'a>)>) -> Value<'a> {
    let mut out: Vec<Attr<'a>> = attrs
        .into_iter()
        .map(|(k, v)| Attr {
            name: ev.intern(k.as_bytes()),
            value: ev.alloc_thunk(v),
            pos: Pos::NONE,
        })
        .collect();
    out.sort_by_key(|a| a.name);
    ev.make_attrs(out)
}

/// How Nix shows a URL with a query value: `/` is escaped, as its `percentEncode` does.
fn query_value(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2f")
}

fn fetch_tarball_input<'a>(ev: &Evaluator<'a>, pos: Pos, input: &InputAttrs) -> EvalResult<'a> {
    for k in input.keys() {
        if !matches!(k.as_str(), "type" | "url" | "narHash" | "name") {
            return Err(plain(format!("unsupported tarball input attribute '{k}'")));
        }
    }
    let url = str_of(input, "url")
        .ok_or_else(|| plain("attribute 'url' is missing"))?
        .to_string();
    let name = str_of(input, "name").unwrap_or("source").to_string();
    let nar_hash = match input.get("narHash") {
        Some(AttrValue::Str(s)) => Some(parse_nar_hash(s)?),
        Some(_) => return Err(wrong_type("narHash", "a string")),
        None => None,
    };
    if ev.access_mode() == Mode::Pure {
        return Err(pure_refusal(ev, pos));
    }
    let session = StoreSession::of(ev, pos)?;
    let store = session.fetch_store();
    let dir = session.dir();
    let shown = match &nar_hash {
        Some(h) => format!("{url}?narHash={}", query_value(&h.to_sri())),
        None => url.clone(),
    };
    // With its NAR hash, the tree may be in the store already.
    if let Some(h) = &nar_hash {
        let p = dir
            .make_fixed_output_path(Ingestion::Recursive, h, &name, &BTreeSet::new(), false)
            .map_err(|e| plain(e.to_string()))?;
        if store.ensure_path(&p).is_ok() && store.is_valid(&p).unwrap_or(false) {
            let full = dir.display(&p);
            return Ok(tree_attrs(
                ev,
                vec![
                    ("outPath", store_path_result(ev, &full)),
                    ("narHash", ev.string(h.to_sri().as_bytes())),
                ],
            ));
        }
    }
    let f = fetcher(ev, session);
    let tree = f.download_tarball(&url, &name, false).map_err(|e| {
        plain(e.to_string()).with_frame(format!("while fetching the input '{shown}'"), None)
    })?;
    let info = store
        .query_path_info(&tree.path)
        .map_err(|e| plain(e.to_string()))?;
    if let Some(want) = &nar_hash {
        if *want != info.nar_hash {
            return Err(plain(format!(
                "NAR hash mismatch in input '{shown}' ({}), expected '{}', got '{}'",
                store.real_path(&tree.path).display(),
                want.to_sri(),
                info.nar_hash.to_sri()
            ))
            .with_exit_status(102));
        }
    }
    let full = dir.display(&tree.path);
    Ok(tree_attrs(
        ev,
        vec![
            ("outPath", store_path_result(ev, &full)),
            ("narHash", ev.string(info.nar_hash.to_sri().as_bytes())),
        ],
    ))
}

fn fetch_git_input<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    attrs: &InputAttrs,
    empty_rev_fallback: bool,
) -> EvalResult<'a> {
    let mut input = GitInput {
        name: "source".into(),
        ..Default::default()
    };
    let mut nar_hash = None;
    let mut want_last_modified = None;
    let mut want_rev_count = None;
    for (key, v) in attrs {
        match (key.as_str(), v) {
            ("type", _) => {}
            ("url", AttrValue::Str(s)) => input.url = s.clone(),
            ("ref", AttrValue::Str(s)) => input.git_ref = Some(s.clone()),
            ("rev", AttrValue::Str(s)) => {
                input.rev = Some(parse_rev(s).map_err(|e| plain(e.to_string()))?)
            }
            ("name", AttrValue::Str(s)) => input.name = s.clone(),
            ("narHash", AttrValue::Str(s)) => nar_hash = Some(parse_nar_hash(s)?),
            ("submodules", AttrValue::Bool(b)) => input.submodules = *b,
            ("shallow", AttrValue::Bool(b)) => input.shallow = *b,
            ("allRefs", AttrValue::Bool(b)) => input.all_refs = *b,
            ("lastModified", AttrValue::Int(n)) => want_last_modified = Some(*n),
            ("revCount", AttrValue::Int(n)) => want_rev_count = Some(*n),
            ("url" | "ref" | "rev" | "name" | "narHash", _) => {
                return Err(wrong_type(key, "a string"))
            }
            ("submodules" | "shallow" | "allRefs", _) => return Err(wrong_type(key, "a Boolean")),
            ("lastModified" | "revCount", _) => return Err(wrong_type(key, "an integer")),
            _ => return Err(plain(format!("unsupported Git input attribute '{key}'"))),
        }
    }
    if input.url.is_empty() {
        return Err(plain("attribute 'url' is missing"));
    }
    if ev.access_mode() == Mode::Pure && input.rev.is_none() {
        return Err(pure_refusal(ev, pos));
    }
    let session = StoreSession::of(ev, pos)?;
    let store = session.fetch_store();
    let dir = session.dir();
    let f = fetcher(ev, session);
    let dirty = *session.git_dirty.borrow();
    let shown = git_input_url(&input);
    let tree: GitTree = f.fetch_git(&input, dirty).map_err(|e| {
        plain(e.to_string()).with_frame(format!("while fetching the input '{shown}'"), None)
    })?;
    let info = store
        .query_path_info(&tree.path)
        .map_err(|e| plain(e.to_string()))?;
    if let Some(want) = &nar_hash {
        if *want != info.nar_hash {
            return Err(plain(format!(
                "NAR hash mismatch in input '{shown}' ({}), expected '{}', got '{}'",
                store.real_path(&tree.path).display(),
                want.to_sri(),
                info.nar_hash.to_sri()
            ))
            .with_exit_status(102));
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
    let mut out: Vec<(&str, Value<'a>)> = vec![
        ("outPath", store_path_result(ev, &full)),
        ("narHash", ev.string(info.nar_hash.to_sri().as_bytes())),
        ("submodules", Value::Bool(input.submodules)),
        ("lastModified", Value::Int(tree.last_modified as i64)),
        (
            "lastModifiedDate",
            ev.string(format_date(tree.last_modified).as_bytes()),
        ),
    ];
    // A dirty tree has the all-zero revision in `fetchGit`, as it has always said.
    let rev = match (&tree.rev, empty_rev_fallback) {
        (Some(r), _) => Some(r.clone()),
        (None, true) => Some("0".repeat(40)),
        (None, false) => None,
    };
    if let Some(rev) = rev {
        out.push((
            "shortRev",
            ev.string(rev.as_bytes().get(..7).unwrap_or(rev.as_bytes())),
        ));
        out.push(("rev", ev.string(rev.as_bytes())));
    }
    match (tree.rev_count, empty_rev_fallback) {
        (Some(n), _) => out.push(("revCount", Value::Int(n as i64))),
        (None, true) => out.push(("revCount", Value::Int(0))),
        (None, false) => {}
    }
    Ok(tree_attrs(ev, out))
}

/// A URI given where Nix expects a file or search-path entry (`nix-build URL`,
/// `-I name=URL`): the tarball it names, downloaded and unpacked (Nix's
/// `downloadTarball` with the name `source`), as the path to read. Each URI is fetched
/// once per evaluation.
fn download_uri(ev: &Evaluator<'_>, uri: &str) -> Result<Vec<u8>, ferrix_fetch::FetchError> {
    let session = match StoreSession::of(ev, Pos::NONE) {
        Ok(s) => s,
        Err(e) => return Err(ferrix_fetch::FetchError::Io(e.message.clone())),
    };
    if let Some(p) = session.uri_trees.borrow().get(uri) {
        return Ok(p.clone());
    }
    let f = fetcher(ev, session);
    let tree = f.download_tarball(&resolve_uri(uri), "source", false)?;
    let store = session.fetch_store();
    let full = session.dir().display(&tree.path);
    ev.allow_path(full.as_bytes());
    let real = store.real_path(&tree.path);
    let real = std::os::unix::ffi::OsStrExt::as_bytes(real.as_os_str()).to_vec();
    ev.allow_path(&real);
    session
        .uri_trees
        .borrow_mut()
        .insert(uri.to_string(), real.clone());
    Ok(real)
}

/// Nix's `lookupFileArg` for a URI: the unpacked tree to evaluate, or the error.
pub fn lookup_uri_arg(ev: &Evaluator<'_>, uri: &str) -> Result<Vec<u8>, Box<EvalError>> {
    download_uri(ev, uri).map_err(|e| plain(e.to_string()))
}

/// A search-path entry that is a URI: its unpacked tree, or `None` (with Nix's warning)
/// when it cannot be downloaded.
pub fn resolve_search_uri(
    ev: &Evaluator<'_>,
    uri: &str,
) -> Result<Option<Vec<u8>>, Box<EvalError>> {
    match download_uri(ev, uri) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.is_transfer() => {
            warn(
                ev,
                &format!("Nix search path entry '{uri}' cannot be downloaded, ignoring"),
            );
            Ok(None)
        }
        Err(e) => Err(plain(e.to_string())),
    }
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
