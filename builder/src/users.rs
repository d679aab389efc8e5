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

/// Why no build user could be taken. The texts are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum BuildUserError {
    /// The pool directory could not be made.
    #[error(transparent)]
    Io(#[from] crate::IoError),
    /// Looking up the group failed.
    #[error("getting the group '{group}': {errno}")]
    GetGroup {
        group: String,
        errno: nix::errno::Errno,
    },
    #[error("the group '{group}' specified in 'build-users-group' does not exist")]
    NoSuchGroup { group: String },
    #[error("the build users group '{group}' has no members")]
    NoMembers { group: String },
    #[error("the user '{user}' in the group '{group}' does not exist")]
    NoSuchUser { user: String, group: String },
    /// The user running the build is a build user itself.
    #[error("the Nix user should not be a member of '{group}'")]
    NixUserIsMember { group: String },
    /// A lock file of the pool could not be opened or locked.
    #[error(transparent)]
    Lock(#[from] ferrix_store::store::StoreError),
}

/// Reserves a free member of `group`, with its lock in `pool` (see [`pool_dir`]), waiting
/// while all of them are busy.
pub fn acquire(group: &str, pool: &Path) -> Result<BuildUser, BuildUserError> {
    std::fs::create_dir_all(pool)
        .map_err(|e| crate::IoError::new("creating directory", pool, e))?;
    let gr = Group::from_name(group)
        .map_err(|errno| BuildUserError::GetGroup {
            group: group.to_string(),
            errno,
        })?
        .ok_or_else(|| BuildUserError::NoSuchGroup {
            group: group.to_string(),
        })?;
    if gr.mem.is_empty() {
        return Err(BuildUserError::NoMembers {
            group: group.to_string(),
        });
    }
    let mut members = Vec::new();
    for name in &gr.mem {
        let u = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| BuildUserError::NoSuchUser {
                user: name.clone(),
                group: group.to_string(),
            })?;
        if u.uid == nix::unistd::getuid() || u.uid == nix::unistd::geteuid() {
            return Err(BuildUserError::NixUserIsMember {
                group: group.to_string(),
            });
        }
        members.push(u.uid.as_raw());
    }
    let mut warned = false;
    loop {
        for &uid in &members {
            let f = open_lock_file(&pool.join(uid.to_string()))?;
            if let Some(l) = lock_file(f, true, false)? {
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
