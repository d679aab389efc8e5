//! An example Ferrix plugin written with the safe SDK (no `unsafe` here).
//!
//! - `levenshtein a b`: the edit distance between two strings (in Unicode scalar values);
//! - `wordCounts s`: how often each word occurs (`{ the = 2; cat = 1; }`);
//! - `fileInfo path`: `{ type; size; mode; mtime; }` of a file, without following a final
//!   symbolic link (`type` is "regular", "directory", "symlink" or "unknown");
//! - `findIndex pred list`: the index of the first element for which `pred` holds, or null
//!   (calls back into Nix);
//! - `initialize`, for `builtins.importNative ./libferrix_plugin_textutil.so "initialize"`:
//!   a set of all four.

use ferrix_plugin_sdk::{bail, plugin, Ctx, Result, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Edit distance between `a` and `b`, by the two-row dynamic programme.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn levenshtein(_ctx: &Ctx, a: &str, b: &str) -> Result<usize> {
    Ok(edit_distance(a, b))
}

fn word_counts(_ctx: &Ctx, s: &str) -> Result<BTreeMap<String, i64>> {
    let mut m = BTreeMap::new();
    for w in s
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| !w.is_empty())
    {
        *m.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    Ok(m)
}

fn file_info<'c>(ctx: &Ctx<'c>, path: PathBuf) -> Result<Value<'c>> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) => bail!("getting status of '{}': {e}", path.display()),
    };
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        "regular"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "unknown"
    };
    ctx.attrs([
        ("type", ctx.string(kind)?),
        ("size", ctx.make(meta.size())?),
        ("mode", ctx.make(meta.mode() & 0o7777)?),
        ("mtime", ctx.int(meta.mtime())?),
    ])
}

fn find_index<'c>(ctx: &Ctx<'c>, pred: Value<'c>, list: Vec<Value<'c>>) -> Result<Option<usize>> {
    for (i, x) in list.into_iter().enumerate() {
        let r = ctx.call(pred, &[x])?;
        if ctx.get_bool(r)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn initialize<'c>(ctx: &Ctx<'c>) -> Result<Value<'c>> {
    let names = ["levenshtein", "wordCounts", "fileInfo", "findIndex"];
    let mut attrs = Vec::new();
    for n in names {
        attrs.push((n, ctx.primop(n)?));
    }
    ctx.attrs(attrs)
}

plugin! {
    name: "textutil",
    primops: [
        /// Return the Levenshtein edit distance between strings *a* and *b*, counted in
        /// Unicode characters: `levenshtein "kitten" "sitting"` is 3.
        "levenshtein" => levenshtein(a, b),
        /// Count the words of a string (case-insensitively) into a set from word to count.
        "wordCounts" => word_counts(s),
        /// Return `{ type; size; mode; mtime; }` for *path*, not following a final symlink.
        "fileInfo" => file_info(path),
        /// Return the index of the first element of *list* for which *pred* returns true,
        /// or null.
        "findIndex" => find_index(pred, list),
    ],
    init: [
        initialize => initialize,
    ],
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }
}
