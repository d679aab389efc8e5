//! Build users: when running as root, each build runs as one member of the
//! `build-users-group`, held through an exclusive `flock` on `<pool>/<uid>` so that no two
//! builds (of this process or another) share a user.
//!
//! The pool is the one Nix 2.8 uses: `userpool` under the global state directory
//! (`NIX_STATE_DIR`, else `/nix/var/nix`), whatever store the build is for. A chroot
//! store's own state directory would not do: Nix building into another store would pick
//! the same user, and Nix kills every process of its build user before it starts.

use ferrix_store::lock::{lock_file, open_lock_file};
use nix::fcntl::Flock;
use nix::unistd::{Group, User};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A build user, reserved while this value lives.
pub struct BuildUser {
    pub uid: u32,
    pub gid: u32,
    _lock: Flock<File>,
}

/// The directory of the build users' lock files: `userpool` in `NIX_STATE_DIR` (else
/// `/nix/var/nix`), as Nix 2.8 has it. It does not depend on the store.
pub fn pool_dir() -> PathBuf {
    let state = std::env::var("NIX_STATE_DIR")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/nix/var/nix".into());
    Path::new(&state).join("userpool")
}

/// Reserves a free member of `group`, with its lock in `pool` (see [`pool_dir`]), waiting
/// while all of them are busy. The errors are Nix's.
pub fn acquire(group: &str, pool: &Path) -> Result<BuildUser, String> {
    std::fs::create_dir_all(pool).map_err(|e| {
        format!(
            "creating directory '{}': {}",
            pool.display(),
            ferrix_store::io_reason(&e)
        )
    })?;
    let gr = Group::from_name(group)
        .map_err(|e| format!("getting the group '{group}': {e}"))?
        .ok_or_else(|| {
            format!("the group '{group}' specified in 'build-users-group' does not exist")
        })?;
    if gr.mem.is_empty() {
        return Err(format!("the build users group '{group}' has no members"));
    }
    let mut members = Vec::new();
    for name in &gr.mem {
        let u = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("the user '{name}' in the group '{group}' does not exist"))?;
        if u.uid == nix::unistd::getuid() || u.uid == nix::unistd::geteuid() {
            return Err(format!("the Nix user should not be a member of '{group}'"));
        }
        members.push(u.uid.as_raw());
    }
    let mut warned = false;
    loop {
        for &uid in &members {
            let f = open_lock_file(&pool.join(uid.to_string())).map_err(|e| e.to_string())?;
            if let Some(l) = lock_file(f, true, false).map_err(|e| e.to_string())? {
                return Ok(BuildUser {
                    uid,
                    gid: gr.gid.as_raw(),
                    _lock: l,
                });
            }
        }
        if !warned {
            super::eprint_line("waiting for a free build user ID...");
            warned = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
