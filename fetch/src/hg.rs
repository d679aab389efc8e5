//! `fetchMercurial` through the `hg` command, as Nix 2.8's Mercurial fetcher does: a local
//! repository with uncommitted changes, asked for without a revision, gives its tracked
//! files as they are; anything else is cloned (or pulled) into `$XDG_CACHE_HOME/nix/hg`
//! and the revision exported with `hg archive`. Every `hg` runs with `HGPLAIN` set, so the
//! user's configuration cannot change its output.

use crate::cache::{attrs, cache_dir, int_attr, str_attr, Attrs};
use crate::fetchers::{FetchError, Fetcher};
use crate::git::DirtyPolicy;
use ferrix_store::path::Ingestion;
use ferrix_store::{Hash, HashAlgo, StorePath};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

/// What `fetchMercurial` is asked for.
#[derive(Debug, Clone, Default)]
pub struct HgInput {
    /// With a scheme: `file:///…`, `https://…`, `ssh://…`.
    pub url: String,
    /// A branch, tag or bookmark.
    pub hg_ref: Option<String>,
    /// 40 hexadecimal digits.
    pub rev: Option<String>,
    pub name: String,
}

/// What it gave.
#[derive(Debug, Clone)]
pub struct HgTree {
    pub path: StorePath,
    /// `None` for a working tree with uncommitted changes.
    pub rev: Option<String>,
    pub rev_count: Option<u64>,
    /// The branch of the revision (of the working tree, when that was taken).
    pub branch: Option<String>,
}

fn hg_command(args: &[&str]) -> Command {
    let mut c = Command::new("hg");
    c.args(args).env("HGPLAIN", "").stdin(Stdio::null());
    c
}

/// Runs `hg ARGS`; its standard output, or Nix's error.
fn hg(args: &[&str]) -> Result<String, FetchError> {
    let out = hg_command(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| FetchError::Git(format!("executing 'hg': {}", ferrix_store::io_reason(&e))))?;
    if !out.status.success() {
        return Err(FetchError::Git(format!(
            "hg {}",
            crate::git::exit_text(out.status)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The local path of a `file://` URL, or the URL without query and fragment.
fn actual_url(url: &str) -> Result<(bool, String), FetchError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(FetchError::Git(format!("'{url}' is not a valid URL")));
    };
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    if scheme == "file" {
        let path = match rest.find('/') {
            Some(i) => &rest[i..],
            None => "",
        };
        return Ok((true, path.to_string()));
    }
    Ok((false, format!("{scheme}://{rest}")))
}

impl Fetcher<'_> {
    /// Fetches a Mercurial input as Nix 2.8 does.
    pub fn fetch_hg(&self, input: &HgInput, dirty: DirtyPolicy) -> Result<HgTree, FetchError> {
        let (is_local, url) = actual_url(&input.url)?;
        if input.hg_ref.is_none()
            && input.rev.is_none()
            && is_local
            && Path::new(&url).join(".hg").exists()
        {
            if let Some(tree) = self.hg_working_tree(input, &url, dirty)? {
                return Ok(tree);
            }
        }
        let hg_ref = input.hg_ref.clone().unwrap_or_else(|| "default".into());
        let locked = |rev: &str| -> Attrs {
            attrs([
                ("type", "hg".into()),
                ("name", input.name.as_str().into()),
                ("rev", rev.into()),
            ])
        };
        let result = |info: &Attrs, path: StorePath, rev: String, branch: String| HgTree {
            path,
            rev: Some(rev),
            rev_count: int_attr(info, "revCount"),
            branch: Some(branch),
        };
        let cache = self.cache()?;
        if let Some(rev) = &input.rev {
            if let Some(e) = cache.lookup(self.store, &locked(rev))? {
                return Ok(result(&e.info, e.path, rev.clone(), hg_ref));
            }
        }
        let unlocked = attrs([
            ("type", "hg".into()),
            ("name", input.name.as_str().into()),
            ("url", url.as_str().into()),
            ("ref", hg_ref.as_str().into()),
        ]);
        if let Some(e) = cache.lookup(self.store, &unlocked)? {
            let cached = crate::git::parse_rev(str_attr(&e.info, "rev"))?;
            if input.rev.as_deref().is_none_or(|r| r == cached) {
                return Ok(result(&e.info, e.path, cached, hg_ref));
            }
        }

        let dir = cache_dir()
            .join("nix")
            .join("hg")
            .join(Hash::sha256(url.as_bytes()).to_nix32());
        let dir_s = dir.to_string_lossy().into_owned();
        // A revision the clone has already needs no pull.
        let have = match &input.rev {
            Some(rev) if dir.exists() => {
                hg_command(&["log", "-R", &dir_s, "-r", rev, "--template", "1"])
                    .stderr(Stdio::null())
                    .output()
                    .is_ok_and(|o| o.status.success() && o.stdout == b"1")
            }
            _ => false,
        };
        if !have {
            if dir.exists() {
                if let Err(e) = hg(&["pull", "-R", &dir_s, "--", &url]) {
                    // An interrupted earlier pull leaves a journal; recover, then retry.
                    if dir.join(".hg/store/journal").exists() {
                        hg(&["recover", "-R", &dir_s])?;
                        hg(&["pull", "-R", &dir_s, "--", &url])?;
                    } else {
                        return Err(FetchError::Git(format!(
                            "'hg pull' {}",
                            e.to_string().trim_start_matches("hg ")
                        )));
                    }
                }
            } else {
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        FetchError::Io(format!(
                            "creating directory '{}': {}",
                            parent.display(),
                            ferrix_store::io_reason(&e)
                        ))
                    })?;
                }
                hg(&["clone", "--noupdate", "--", &url, &dir_s])?;
            }
        }
        let rev_or_ref = input.rev.clone().unwrap_or_else(|| hg_ref.clone());
        let log = hg(&[
            "log",
            "-R",
            &dir_s,
            "-r",
            &rev_or_ref,
            "--template",
            "{node} {rev} {branch}",
        ])?;
        let tokens: Vec<&str> = log.split_whitespace().collect();
        let [node, count, branch] = tokens[..] else {
            return Err(FetchError::Git(format!(
                "hg gave an unexpected revision line: '{}'",
                log.trim()
            )));
        };
        let rev = crate::git::parse_rev(node)?;
        let rev_count: u64 = count.parse().map_err(|_| {
            FetchError::Git(format!("hg gave an unexpected revision number: '{count}'"))
        })?;
        let branch = branch.to_string();
        if let Some(e) = cache.lookup(self.store, &locked(&rev))? {
            return Ok(result(&e.info, e.path, rev, branch));
        }
        let tmp = tempfile::Builder::new()
            .prefix("nix-hg-")
            .tempdir()
            .map_err(|e| FetchError::Io(ferrix_store::io_reason(&e)))?;
        let out = tmp.path().join("out");
        let out_s = out.to_string_lossy().into_owned();
        hg(&["archive", "-R", &dir_s, "-r", &rev, &out_s])?;
        let _ = std::fs::remove_file(out.join(".hg_archival.txt"));
        let path = self.store.add_path(
            &input.name,
            &out,
            Ingestion::Recursive,
            HashAlgo::Sha256,
            &mut |_| Ok(true),
        )?;
        let info = attrs([("rev", rev.as_str().into()), ("revCount", rev_count.into())]);
        if input.rev.is_none() {
            cache.add(self.store, &unlocked, &info, &path, false)?;
        }
        cache.add(self.store, &locked(&rev), &info, &path, true)?;
        Ok(result(&info, path, rev, branch))
    }

    /// A local repository asked for without `ref` or `rev`: `None` when it has no
    /// uncommitted changes (the caller then takes `default`), else its tracked files as
    /// they are.
    fn hg_working_tree(
        &self,
        input: &HgInput,
        dir: &str,
        dirty: DirtyPolicy,
    ) -> Result<Option<HgTree>, FetchError> {
        let changes = hg(&["status", "-R", dir, "--modified", "--added", "--removed"])?;
        if changes.is_empty() {
            return Ok(None);
        }
        if !dirty.allow {
            return Err(FetchError::Git(format!(
                "Mercurial tree '{dir}' is unclean"
            )));
        }
        if dirty.warn {
            self.warn(format!("Mercurial tree '{dir}' is unclean"));
        }
        let branch = hg(&["branch", "-R", dir])?
            .trim_end_matches('\n')
            .to_string();
        let listing = hg(&[
            "status",
            "-R",
            dir,
            "--clean",
            "--modified",
            "--added",
            "--no-status",
            "--print0",
        ])?;
        let files: BTreeSet<&str> = listing.split('\0').filter(|s| !s.is_empty()).collect();
        let path = self.add_tracked(&input.name, dir, &files)?;
        Ok(Some(HgTree {
            path,
            rev: None,
            rev_count: None,
            branch: Some(branch),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            actual_url("file:///tmp/repo?x=1").unwrap(),
            (true, "/tmp/repo".to_string())
        );
        assert_eq!(
            actual_url("https://example.org/r#f").unwrap(),
            (false, "https://example.org/r".to_string())
        );
        assert!(actual_url("nope").is_err());
    }
}
