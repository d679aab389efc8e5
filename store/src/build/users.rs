//! Build users: when running as root, each build runs as one member of the
//! `build-users-group`, held through a lock file under `<state>/userpool/<uid>` so that no
//! two builds (of this process or another) share a user.

use crate::lock::{lock_file, open_lock_file};
use nix::fcntl::Flock;
use nix::unistd::{Group, User};
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// A build user, reserved while this value lives.
pub struct BuildUser {
    pub uid: u32,
    pub gid: u32,
    _lock: Flock<File>,
}

/// Reserves a free member of `group`, waiting while all of them are busy. The errors are
/// Nix's.
pub fn acquire(group: &str, state_dir: &Path) -> Result<BuildUser, String> {
    let pool = state_dir.join("userpool");
    std::fs::create_dir_all(&pool).map_err(|e| {
        format!(
            "creating directory '{}': {}",
            pool.display(),
            crate::io_reason(&e)
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
