//! `fetchGit` through the `git` command, as Nix 2.8 does it: a local repository is read
//! in place (its working tree when no `ref` or `rev` is asked for and it is dirty); a
//! remote one is fetched into a bare repository under `$XDG_CACHE_HOME/nix/gitv3`. The
//! tree of the revision is exported with `git archive` (or checked out with its
//! submodules) and added to the store recursively.

use crate::cache::{attrs, cache_dir, int_attr, str_attr, Attrs};
use crate::fetchers::{FetchError, Fetcher};
use crate::unpack::unpack_tar_stream;
use ferrix_store::path::Ingestion;
use ferrix_store::{Hash, HashAlgo, StorePath};
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `fetchGit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct GitInput {
    /// With a scheme: `file:///…`, `https://…`, `ssh://…`.
    pub url: String,
    pub git_ref: Option<String>,
    /// 40 hexadecimal digits.
    pub rev: Option<String>,
    pub name: String,
    pub submodules: bool,
    pub shallow: bool,
    pub all_refs: bool,
}

/// What it gave.
#[derive(Debug, Clone)]
pub struct GitTree {
    pub path: StorePath,
    /// `None` for a dirty working tree.
    pub rev: Option<String>,
    /// `None` for a dirty working tree and for shallow fetches.
    pub rev_count: Option<u64>,
    pub last_modified: u64,
}

/// The settings Nix keeps for dirty trees (`allow-dirty`, `warn-dirty`).
#[derive(Debug, Clone, Copy)]
pub struct DirtyPolicy {
    pub allow: bool,
    pub warn: bool,
}

/// A revision in any of Nix's hash notations, as 40 hexadecimal digits.
pub fn parse_rev(text: &str) -> Result<String, FetchError> {
    Hash::parse_any(text, Some(HashAlgo::Sha1))
        .map(|h| h.to_base16())
        .map_err(|e| FetchError::Git(e.to_string()))
}

/// `scheme://authority/path?query` split as Nix's `parseURL` needs it here: the scheme,
/// the path (for `file`), and the URL without query and fragment.
struct Url {
    scheme: String,
    path: String,
    base: String,
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(FetchError::Git(format!("'{url}' is not a valid URL")));
    };
    let base_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..base_end];
    let path = match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => String::new(),
    };
    Ok(Url {
        scheme: scheme.to_string(),
        path,
        base: format!("{scheme}://{rest}"),
    })
}

pub(crate) fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("failed with exit code {c}"),
        (None, Some(s)) => format!("failed due to signal {s}"),
        _ => "failed".to_string(),
    }
}

/// Runs `git ARGS` and returns its standard output; standard error goes to ours, as
/// Nix leaves it.
fn git(args: &[&str]) -> Result<String, FetchError> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            FetchError::Git(format!("executing 'git': {}", ferrix_store::io_reason(&e)))
        })?;
    if !out.status.success() {
        return Err(FetchError::Git(format!(
            "program 'git' {}",
            exit_text(out.status)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `git ARGS` with its standard error merged into the output, in the C locale;
/// returns the exit code and the text.
fn git_merged(args: &[&str]) -> Result<(i32, String), FetchError> {
    let out = Command::new("git")
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            FetchError::Git(format!("executing 'git': {}", ferrix_store::io_reason(&e)))
        })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code().unwrap_or(-1), text))
}

/// Locks the bare repository `dir` as Nix's `PathLocks` does, until the file is dropped.
fn lock_repo(dir: &Path) -> Result<std::fs::File, FetchError> {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| {
            FetchError::Io(format!(
                "opening lock file '{}': {}",
                Path::new(&name).display(),
                ferrix_store::io_reason(&e)
            ))
        })?;
    f.lock().map_err(|e| {
        FetchError::Io(format!(
            "acquiring lock on '{}': {}",
            Path::new(&name).display(),
            ferrix_store::io_reason(&e)
        ))
    })?;
    Ok(f)
}

fn chomp(s: &str) -> &str {
    s.trim_end_matches(['\n', '\r', ' ', '\t'])
}

fn parse_u64(s: &str, what: &str) -> Result<u64, FetchError> {
    chomp(s)
        .trim()
        .parse()
        .map_err(|_| FetchError::Git(format!("git gave an unexpected {what}: '{}'", chomp(s))))
}

impl Fetcher<'_> {
    /// Adds the working tree `dir` to the store with only `files` (paths relative to it)
    /// and the directories that lead to them, as a dirty tree is added.
    pub(crate) fn add_tracked(
        &self,
        name: &str,
        dir: &str,
        files: &BTreeSet<&str>,
    ) -> Result<StorePath, FetchError> {
        let root = std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
        let root_bytes = root.as_os_str().as_bytes().to_vec();
        let mut filter = |p: &Path| -> std::io::Result<bool> {
            let b = p.as_os_str().as_bytes();
            let Some(rel) = b
                .strip_prefix(&root_bytes[..])
                .and_then(|r| r.strip_prefix(b"/"))
            else {
                return Ok(true);
            };
            let rel = String::from_utf8_lossy(rel);
            if std::fs::symlink_metadata(p)?.is_dir() {
                let prefix = format!("{rel}/");
                return Ok(files
                    .range(prefix.as_str()..)
                    .next()
                    .is_some_and(|f| f.starts_with(&prefix)));
            }
            Ok(files.contains(rel.as_ref()))
        };
        Ok(self.store.add_path(
            name,
            &root,
            Ingestion::Recursive,
            HashAlgo::Sha256,
            &mut filter,
        )?)
    }

    /// Fetches a Git input as Nix 2.8's Git fetcher does.
    pub fn fetch_git(&self, input: &GitInput, dirty: DirtyPolicy) -> Result<GitTree, FetchError> {
        let mut cache_type = "git".to_string();
        if input.shallow {
            cache_type.push_str("-shallow");
        }
        if input.submodules {
            cache_type.push_str("-submodules");
        }
        if input.all_refs {
            cache_type.push_str("-all-refs");
        }
        let locked_attrs = |rev: &str| -> Attrs {
            attrs([
                ("type", cache_type.as_str().into()),
                ("name", input.name.as_str().into()),
                ("rev", rev.into()),
            ])
        };
        let make_result = |info: &Attrs, path: StorePath, rev: String| GitTree {
            path,
            rev: Some(rev),
            rev_count: if input.shallow {
                None
            } else {
                int_attr(info, "revCount")
            },
            last_modified: int_attr(info, "lastModified").unwrap_or(0),
        };
        let cache = self.cache()?;
        if let Some(rev) = &input.rev {
            if let Some(e) = cache.lookup(self.store, &locked_attrs(rev))? {
                return Ok(make_result(&e.info, e.path, rev.clone()));
            }
        }

        let url = parse_url(&input.url)?;
        let force_http = std::env::var("_NIX_FORCE_HTTP").is_ok_and(|v| v == "1");
        let bare = url.scheme == "file" && !Path::new(&url.path).join(".git").exists();
        let is_local = url.scheme == "file" && !force_http && !bare;
        let actual_url = if is_local {
            url.path.clone()
        } else {
            url.base.clone()
        };

        if input.git_ref.is_none() && input.rev.is_none() && is_local {
            if let Some(tree) = self.working_tree(input, &actual_url, dirty)? {
                return Ok(tree);
            }
        }

        let git_ref = match &input.git_ref {
            Some(r) => r.clone(),
            None if is_local => chomp(&git(&[
                "-C",
                &actual_url,
                "rev-parse",
                "--abbrev-ref",
                "HEAD",
            ])?)
            .to_string(),
            None => "master".to_string(),
        };
        let unlocked = attrs([
            ("type", cache_type.as_str().into()),
            ("name", input.name.as_str().into()),
            ("url", actual_url.as_str().into()),
            ("ref", git_ref.as_str().into()),
        ]);

        let mut rev = input.rev.clone();
        let repo_dir: String;
        if is_local {
            if rev.is_none() {
                rev = Some(parse_rev(chomp(&git(&[
                    "-C",
                    &actual_url,
                    "rev-parse",
                    &git_ref,
                ])?))?);
            }
            repo_dir = actual_url.clone();
        } else {
            if let Some(e) = cache.lookup(self.store, &unlocked)? {
                let cached_rev = parse_rev(str_attr(&e.info, "rev"))?;
                if rev.as_deref().is_none_or(|r| r == cached_rev) {
                    return Ok(make_result(&e.info, e.path, cached_rev));
                }
            }
            let dir = cache_dir()
                .join("nix")
                .join("gitv3")
                .join(Hash::sha256(actual_url.as_bytes()).to_nix32());
            repo_dir = dir.to_string_lossy().into_owned();
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    FetchError::Io(format!(
                        "creating directory '{}': {}",
                        parent.display(),
                        ferrix_store::io_reason(&e)
                    ))
                })?;
            }
            // The lock Nix takes on the bare repository (`<dir>.lock`, whose lock file is
            // `<dir>.lock.lock`), held while the repository is updated.
            let _lock = lock_repo(&dir)?;
            if !dir.exists() {
                git(&[
                    "-c",
                    "init.defaultBranch=__nix_dummy_branch",
                    "init",
                    "--bare",
                    &repo_dir,
                ])?;
            }
            let local_ref_file = if git_ref.starts_with("refs/") {
                dir.join(&git_ref)
            } else {
                dir.join("refs/heads").join(&git_ref)
            };
            let now = std::time::SystemTime::now();
            let do_fetch = if let Some(r) = &rev {
                git_merged(&["-C", &repo_dir, "cat-file", "-e", r])?.0 != 0
            } else if input.all_refs {
                true
            } else {
                match std::fs::metadata(&local_ref_file).and_then(|m| m.modified()) {
                    Ok(t) => t + std::time::Duration::from_secs(self.opts.tarball_ttl) <= now,
                    Err(_) => true,
                }
            };
            if do_fetch {
                let fetch_ref = if input.all_refs {
                    "refs/*".to_string()
                } else if git_ref.starts_with("refs/") || git_ref == "HEAD" {
                    git_ref.clone()
                } else {
                    format!("refs/heads/{git_ref}")
                };
                let spec = format!("{fetch_ref}:{fetch_ref}");
                if let Err(e) = git(&[
                    "-C",
                    &repo_dir,
                    "fetch",
                    "--quiet",
                    "--force",
                    "--",
                    &actual_url,
                    &spec,
                ]) {
                    if !local_ref_file.exists() {
                        return Err(e);
                    }
                    self.warn(format!("could not update local clone of Git repository '{actual_url}'; continuing with the most recent version"));
                }
                if let Ok(f) = std::fs::File::options().write(true).open(&local_ref_file) {
                    let _ = f.set_modified(now);
                }
            }
            if rev.is_none() {
                let text = std::fs::read_to_string(&local_ref_file).map_err(|e| {
                    FetchError::Io(format!(
                        "reading file '{}': {}",
                        local_ref_file.display(),
                        ferrix_store::io_reason(&e)
                    ))
                })?;
                rev = Some(parse_rev(chomp(&text))?);
            }
        }
        let Some(rev) = rev else {
            return Err(FetchError::Git(format!(
                "cannot find the revision of '{actual_url}'"
            )));
        };

        let shallow_repo = chomp(&git(&[
            "-C",
            &repo_dir,
            "rev-parse",
            "--is-shallow-repository",
        ])?) == "true";
        if shallow_repo && !input.shallow {
            return Err(FetchError::Git(format!(
                "'{actual_url}' is a shallow Git repository, but a non-shallow repository is needed"
            )));
        }
        if let Some(e) = cache.lookup(self.store, &locked_attrs(&rev))? {
            return Ok(make_result(&e.info, e.path, rev));
        }

        let (code, text) = git_merged(&["-C", &repo_dir, "cat-file", "commit", &rev])?;
        if code == 128 && text.contains("bad file") {
            return Err(FetchError::Git(format!(
                "Cannot find Git revision '{rev}' in ref '{git_ref}' of repository '{actual_url}'! Please make sure that the \x1b[1mrev\x1b[0m exists on the \x1b[1mref\x1b[0m you've specified or add \x1b[1mallRefs = true;\x1b[0m to \x1b[1mfetchGit\x1b[0m."
            )));
        }

        let tmp = tempfile::tempdir().map_err(|e| FetchError::Io(ferrix_store::io_reason(&e)))?;
        let tree_dir = tmp.path().join("tree");
        std::fs::create_dir(&tree_dir).map_err(|e| FetchError::Io(ferrix_store::io_reason(&e)))?;
        let tree = tree_dir.to_string_lossy().into_owned();
        let path = if input.submodules {
            let git_dir = tmp.path().join("git");
            let git_dir = git_dir.to_string_lossy().into_owned();
            git(&[
                "-c",
                "init.defaultBranch=__nix_dummy_branch",
                "init",
                &tree,
                "--separate-git-dir",
                &git_dir,
            ])?;
            git(&[
                "-C",
                &tree,
                "fetch",
                "--quiet",
                "--force",
                "--update-head-ok",
                "--",
                &repo_dir,
                "refs/*:refs/*",
            ])?;
            git(&["-C", &tree, "checkout", "--quiet", &rev])?;
            git(&["-C", &tree, "remote", "add", "origin", &actual_url])?;
            git(&[
                "-C",
                &tree,
                "submodule",
                "--quiet",
                "update",
                "--init",
                "--recursive",
            ])?;
            self.store.add_path(
                &input.name,
                &tree_dir,
                Ingestion::Recursive,
                HashAlgo::Sha256,
                &mut |p: &Path| Ok(p.file_name().is_none_or(|n| n != ".git")),
            )?
        } else {
            let mut child = Command::new("git")
                .args(["-C", &repo_dir, "archive", &rev])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| {
                    FetchError::Git(format!("executing 'git': {}", ferrix_store::io_reason(&e)))
                })?;
            let out = child.stdout.take().expect("piped");
            let unpacked = unpack_tar_stream(out, &tree_dir);
            let status = child
                .wait()
                .map_err(|e| FetchError::Git(ferrix_store::io_reason(&e)))?;
            if !status.success() {
                return Err(FetchError::Git(format!(
                    "program 'git' {}",
                    exit_text(status)
                )));
            }
            unpacked?;
            self.store.add_path(
                &input.name,
                &tree_dir,
                Ingestion::Recursive,
                HashAlgo::Sha256,
                &mut |_| Ok(true),
            )?
        };

        let last_modified = parse_u64(
            &git(&[
                "-C",
                &repo_dir,
                "log",
                "-1",
                "--format=%ct",
                "--no-show-signature",
                &rev,
            ])?,
            "commit time",
        )?;
        let mut info = attrs([
            ("rev", rev.as_str().into()),
            ("lastModified", last_modified.into()),
        ]);
        if !input.shallow {
            let count = parse_u64(
                &git(&["-C", &repo_dir, "rev-list", "--count", &rev])?,
                "revision count",
            )?;
            info.insert("revCount".into(), count.into());
        }
        if input.rev.is_none() {
            cache.add(self.store, &unlocked, &info, &path, false)?;
        }
        cache.add(self.store, &locked_attrs(&rev), &info, &path, true)?;
        Ok(make_result(&info, path, rev))
    }

    /// A local repository asked for without `ref` or `rev`: `None` when its working
    /// tree is clean (the caller then takes `HEAD`), else the tracked files as they are.
    fn working_tree(
        &self,
        input: &GitInput,
        dir: &str,
        dirty: DirtyPolicy,
    ) -> Result<Option<GitTree>, FetchError> {
        let (code, text) = git_merged(&[
            "-C",
            dir,
            "--git-dir=.git",
            "rev-parse",
            "--verify",
            "--no-revs",
            "HEAD^{commit}",
        ])?;
        if text.contains("fatal: not a git repository") {
            return Err(FetchError::Git(format!("'{dir}' is not a Git repository")));
        }
        let has_head = code == 0;
        if !has_head && !text.contains("fatal: Needed a single revision") {
            return Err(FetchError::Git(format!(
                "getting the HEAD of the Git tree '{dir}' failed with exit code {code}:\n{text}"
            )));
        }
        if has_head {
            let mut args = vec!["-C", dir, "diff", "HEAD", "--quiet"];
            if !input.submodules {
                args.push("--ignore-submodules");
            }
            args.push("--");
            let status = Command::new("git")
                .args(&args)
                .stdin(Stdio::null())
                .status()
                .map_err(|e| {
                    FetchError::Git(format!("executing 'git': {}", ferrix_store::io_reason(&e)))
                })?;
            match status.code() {
                Some(0) => return Ok(None),
                Some(1) => {}
                _ => {
                    return Err(FetchError::Git(format!(
                        "program 'git' {}",
                        exit_text(status)
                    )))
                }
            }
        }
        if !dirty.allow {
            return Err(FetchError::Git(format!("Git tree '{dir}' is dirty")));
        }
        if dirty.warn {
            self.warn(format!("Git tree '{dir}' is dirty"));
        }
        let mut args = vec!["-C", dir, "ls-files", "-z"];
        if input.submodules {
            args.push("--recurse-submodules");
        }
        let listing = git(&args)?;
        let files: BTreeSet<&str> = listing.split('\0').filter(|s| !s.is_empty()).collect();
        let path = self.add_tracked(&input.name, dir, &files)?;
        let last_modified = if has_head {
            parse_u64(
                &git(&[
                    "-C",
                    dir,
                    "log",
                    "-1",
                    "--format=%ct",
                    "--no-show-signature",
                    "HEAD",
                ])?,
                "commit time",
            )?
        } else {
            0
        };
        Ok(Some(GitTree {
            path,
            rev: None,
            rev_count: None,
            last_modified,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("file:///tmp/repo?x=1").unwrap();
        assert_eq!((u.scheme.as_str(), u.path.as_str()), ("file", "/tmp/repo"));
        assert_eq!(u.base, "file:///tmp/repo");
        let u = parse_url("https://example.org/a/b.git#frag").unwrap();
        assert_eq!(u.base, "https://example.org/a/b.git");
        assert!(parse_url("nope").is_err());
        assert_eq!(
            parse_rev("0123456789ABCDEF0123456789abcdef01234567").unwrap(),
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert!(parse_rev("123").is_err());
    }
}
