//! Profiles and their generations: a profile `P` is a symlink to `P-N-link`, which links
//! into the store. `nix-collect-garbage -d` deletes the generations that are not current,
//! and `--delete-older-than Nd` those older than N days except the one that was current
//! then. The profile is locked (`P.lock`) while its generations change.

use crate::local::io_at;
use crate::lock::PathLock;
use crate::StoreError;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One generation of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    pub path: PathBuf,
    /// The link's modification time, in seconds since the epoch.
    pub created: i64,
}

/// The number in a generation link's name (`NAME-N-link`) for profile `NAME`.
fn generation_number(profile_name: &str, link_name: &str) -> Option<u64> {
    let rest = link_name.strip_prefix(profile_name)?.strip_prefix('-')?;
    let end = rest.find("-link")?;
    let n = &rest[..end];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u32>().ok().map(u64::from)
}

/// The generations of `profile`, oldest first, and the current one's number.
pub fn generations(profile: &Path) -> Result<(Vec<Generation>, Option<u64>), StoreError> {
    let dir = profile.parent().unwrap_or(Path::new("/"));
    let name = profile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut gens = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| io_at(&e, "reading directory", dir))? {
        let e = e.map_err(|e| io_at(&e, "reading directory", dir))?;
        let entry = e.file_name().to_string_lossy().into_owned();
        if let Some(number) = generation_number(&name, &entry) {
            let path = e.path();
            let created = fs::symlink_metadata(&path)
                .map_err(|e| io_at(&e, "getting status of", &path))?
                .mtime();
            gens.push(Generation {
                number,
                path,
                created,
            });
        }
    }
    gens.sort_by_key(|g| g.number);
    let current = fs::read_link(profile).ok().and_then(|t| {
        let t = t.to_string_lossy().into_owned();
        let base = t.rsplit('/').next().unwrap_or(&t).to_string();
        generation_number(&name, &base)
    });
    Ok((gens, current))
}

/// Which generations go: all but the current one, or with `older_than` (a time), those
/// created before it except the newest such one (it was current at that time) and the
/// current one.
pub fn generations_to_delete(
    gens: &[Generation],
    current: Option<u64>,
    older_than: Option<i64>,
) -> Vec<u64> {
    match older_than {
        None => gens
            .iter()
            .filter(|g| Some(g.number) != current)
            .map(|g| g.number)
            .collect(),
        Some(t) => {
            let mut out = Vec::new();
            let mut can_delete = false;
            for g in gens.iter().rev() {
                if can_delete {
                    if Some(g.number) != current {
                        out.push(g.number);
                    }
                } else if g.created < t {
                    can_delete = true;
                }
            }
            out.reverse();
            out
        }
    }
}

/// Deletes the old generations of `profile` (see [`generations_to_delete`]), telling
/// `note` about each (`removing profile version N`, or `would remove ...` in a dry run).
pub fn delete_old_generations(
    profile: &Path,
    older_than: Option<i64>,
    dry_run: bool,
    note: &mut dyn FnMut(String),
) -> Result<(), StoreError> {
    let _lock = PathLock::lock(profile)?;
    let (gens, current) = generations(profile)?;
    for n in generations_to_delete(&gens, current, older_than) {
        if dry_run {
            note(format!("would remove profile version {n}"));
        } else {
            note(format!("removing profile version {n}"));
            let g = gens.iter().find(|g| g.number == n).map(|g| g.path.clone());
            if let Some(p) = g {
                fs::remove_file(&p).map_err(|e| io_at(&e, "removing", &p))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(number: u64, created: i64) -> Generation {
        Generation {
            number,
            path: PathBuf::new(),
            created,
        }
    }

    #[test]
    fn names() {
        assert_eq!(generation_number("p", "p-12-link"), Some(12));
        assert_eq!(generation_number("p", "p-x-link"), None);
        assert_eq!(generation_number("p", "q-1-link"), None);
        assert_eq!(generation_number("p", "p-1"), None);
        assert_eq!(generation_number("p-1", "p-1-2-link"), Some(2));
    }

    #[test]
    fn which_go() {
        let gens = [g(1, 10), g(2, 20), g(3, 30), g(4, 40)];
        assert_eq!(generations_to_delete(&gens, Some(3), None), vec![1, 2, 4]);
        // Older than 35: 3 was current at that time and stays; 1 and 2 go.
        assert_eq!(generations_to_delete(&gens, Some(4), Some(35)), vec![1, 2]);
        // The current generation never goes.
        assert_eq!(generations_to_delete(&gens, Some(1), Some(35)), vec![2]);
        assert!(generations_to_delete(&gens, Some(4), Some(5)).is_empty());
    }
}
