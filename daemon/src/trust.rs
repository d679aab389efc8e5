//! Who a client is, and what `allowed-users` and `trusted-users` let it do.

use std::os::fd::AsFd;

/// The peer of a daemon connection, as `SO_PEERCRED` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// The user's name, or the uid as text when it has none.
    pub user: String,
    /// The names of the user's groups (primary and supplementary).
    pub groups: Vec<String>,
}

impl Peer {
    /// The credentials of the process on the other end of `sock`.
    pub fn of<F: AsFd>(sock: &F) -> std::io::Result<Peer> {
        let cred = nix::sys::socket::getsockopt(sock, nix::sys::socket::sockopt::PeerCredentials)
            .map_err(std::io::Error::from)?;
        Ok(Peer::from_ids(cred.pid(), cred.uid(), cred.gid()))
    }

    /// The peer with these ids, with its user and group names looked up.
    pub fn from_ids(pid: i32, uid: u32, gid: u32) -> Peer {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten();
        let name = user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| uid.to_string());
        let mut gids = vec![nix::unistd::Gid::from_raw(gid)];
        if let Some(u) = &user {
            if let Ok(c) = std::ffi::CString::new(u.name.clone()) {
                if let Ok(list) = nix::unistd::getgrouplist(&c, u.gid) {
                    gids.extend(list);
                }
            }
        }
        let mut groups = Vec::new();
        for g in gids {
            if let Ok(Some(gr)) = nix::unistd::Group::from_gid(g) {
                if !groups.contains(&gr.name) {
                    groups.push(gr.name);
                }
            }
        }
        Peer {
            pid,
            uid,
            gid,
            user: name,
            groups,
        }
    }

    /// Whether one of `patterns` (user names, `@group`, `*`) names this peer.
    pub fn matches(&self, patterns: &[String]) -> bool {
        patterns.iter().any(|p| {
            p == "*"
                || *p == self.user
                || p.strip_prefix('@')
                    .is_some_and(|g| self.groups.iter().any(|n| n == g))
        })
    }
}

/// Whether `peer` is trusted, and whether it may connect at all (a trusted user always may).
pub fn classify(peer: &Peer, trusted_users: &[String], allowed_users: &[String]) -> (bool, bool) {
    let trusted = peer.matches(trusted_users);
    (trusted, trusted || peer.matches(allowed_users))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            pid: 1,
            uid: 1000,
            gid: 100,
            user: "alice".into(),
            groups: vec!["users".into(), "wheel".into()],
        }
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_groups_and_star() {
        let p = peer();
        assert!(p.matches(&v(&["alice"])));
        assert!(p.matches(&v(&["@wheel"])));
        assert!(p.matches(&v(&["*"])));
        assert!(!p.matches(&v(&["root", "@nixbld", "bob"])));
        assert!(!p.matches(&v(&["@alice"])));
        assert_eq!(classify(&p, &v(&["root"]), &v(&["*"])), (false, true));
        assert_eq!(classify(&p, &v(&["root"]), &v(&["root"])), (false, false));
        assert_eq!(classify(&p, &v(&["@wheel"]), &v(&["root"])), (true, true));
    }

    #[test]
    fn root_is_found_by_id() {
        let p = Peer::from_ids(1, 0, 0);
        assert_eq!(p.user, "root");
        assert!(p.matches(&v(&["root"])));
    }
}
